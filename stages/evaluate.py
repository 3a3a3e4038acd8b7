"""DVC stage `evaluate`: see synthaug.pipeline.evaluate."""

import sys

from synthaug.pipeline import evaluate
from synthaug.stage import run_stage

if __name__ == "__main__":
    run_stage(evaluate, sys.argv[1:])
