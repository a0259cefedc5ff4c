"""Text import paths of the TinyTorch course edition that uses tinytorch.text.*."""
