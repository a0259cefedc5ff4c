"""Module 20, the capstone: an optimized TinyGPT submission and the checker that scores it.

A submission is a folder with ``submission.json`` (a versioned report: model config, baseline and
optimized measurements, the optimizations applied, the machine) and two safetensors model files.
The pieces, each in its own file:

* ``corpus``    the fixed training and held-out texts (generated, never downloaded);
* ``measure``   quality, stored size, interleaved generation timing, peak engine memory, machine;
* ``model_io``  the baseline checkpoint and the optimized model file (int8, sparse encodings);
* ``schema``    the report's fields and their validation;
* ``pipeline``  train a small GPT, prune / quantize / cache it, measure, write the submission;
* ``checker``   re-measure a submission, apply the rules, print the scorecard
                (``tinytorch capstone check SUBMISSION``).

It lives at ``tinytorch.capstone`` beside ``tinytorch.benchmarking`` (module 19) rather than in
``tinytorch.course``: it is what a student builds and ships, usable without Jupyter or the
grading machinery, while ``tinytorch.course`` grades notebooks.
"""
from .checker import Scorecard, check_submission, format_scorecard
from .corpus import corpus_text
from .pipeline import make_tokenizer, train_gpt, write_submission
from .schema import SCHEMA_VERSION, validate

__all__ = ["Scorecard", "check_submission", "format_scorecard", "corpus_text", "make_tokenizer", "train_gpt",
           "write_submission", "SCHEMA_VERSION", "validate"]
