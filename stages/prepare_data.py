"""DVC stage `prepare_data`: `python stages/prepare_data.py`."""

import sys

from synthaug.core.runtime import run_stage
from synthaug.pipeline.prepare_data import run

if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
