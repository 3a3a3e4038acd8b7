"""DVC stage `select_checkpoint` for one generator kind: `python stages/select_checkpoint.py KIND`."""

import sys

from synthaug.pipeline import select_checkpoint
from synthaug.stage import run_stage

if __name__ == "__main__":
    run_stage(select_checkpoint, sys.argv[1:], nargs=1)
