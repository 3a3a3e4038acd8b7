"""DVC stage `generate` for one pool: `python stages/generate.py POOL`."""

import sys

from synthaug.pipeline import generate
from synthaug.stage import run_stage

if __name__ == "__main__":
    run_stage(generate, sys.argv[1:], nargs=1)
