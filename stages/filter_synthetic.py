"""DVC stage `filter_synthetic` for one pool: `python stages/filter_synthetic.py POOL`."""

import sys

from synthaug.pipeline import filter_synthetic
from synthaug.stage import run_stage

if __name__ == "__main__":
    run_stage(filter_synthetic, sys.argv[1:], nargs=1)
