"""TinyTorch's import path for the data loader: `from tinytorch.data.loader import DataLoader`."""
from ..core.dataloader import DataLoader, Dataset, TensorDataset, default_collate

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate"]
