"""`python -m tinytorch.capstone check SUBMISSION`: the capstone checker (see checker.py)."""
import sys

from .checker import main

sys.exit(main())
