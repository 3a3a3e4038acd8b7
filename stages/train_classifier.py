"""DVC stage `train_classifier@METHOD`: `python stages/train_classifier.py METHOD` (every seed)."""

import sys

from synthaug.core.runtime import run_stage
from synthaug.pipeline.train_classifier import run

if __name__ == "__main__":
    run_stage(run, sys.argv[1:], nargs=1)
