"""DVC stage `oversample`: `python stages/oversample.py`."""

import sys

from synthaug.core.runtime import run_stage
from synthaug.pipeline.oversample import run

if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
