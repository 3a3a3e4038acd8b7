"""DVC stage `train_gan@KIND`: `python stages/train_gan.py KIND`."""

import sys

from synthaug.core.runtime import run_stage
from synthaug.pipeline.train_gan import run

if __name__ == "__main__":
    run_stage(run, sys.argv[1:], nargs=1)
