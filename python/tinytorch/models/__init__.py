"""Model import paths of the TinyTorch course: tinytorch.models.transformer."""
