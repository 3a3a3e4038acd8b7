"""DVC stage `select_checkpoint@KIND`: `python stages/select_checkpoint.py KIND`."""

import sys

from synthaug.core.runtime import run_stage
from synthaug.pipeline.select_checkpoint import run

if __name__ == "__main__":
    run_stage(run, sys.argv[1:], nargs=1)
