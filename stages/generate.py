"""DVC stage `generate@POOL`: `python stages/generate.py POOL`."""

import sys

from synthaug.core.runtime import run_stage
from synthaug.pipeline.generate import run

if __name__ == "__main__":
    run_stage(run, sys.argv[1:], nargs=1)
