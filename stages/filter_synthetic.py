"""DVC stage `filter_synthetic@POOL`: `python stages/filter_synthetic.py POOL`."""

import sys

from synthaug.core.runtime import run_stage
from synthaug.pipeline.filter_synthetic import run

if __name__ == "__main__":
    run_stage(run, sys.argv[1:], nargs=1)
