"""DVC stage `prepare_data`: see synthaug.pipeline.prepare_data."""

import sys

from synthaug.pipeline import prepare_data
from synthaug.stage import run_stage

if __name__ == "__main__":
    run_stage(prepare_data, sys.argv[1:])
