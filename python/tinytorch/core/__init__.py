"""The course modules, one file each: tensor, activations, layers, losses, autograd, ..."""
