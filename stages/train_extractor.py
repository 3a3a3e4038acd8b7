"""DVC stage `train_extractor`: `python stages/train_extractor.py`."""

import sys

from synthaug.core.runtime import run_stage
from synthaug.pipeline.train_extractor import run

if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
