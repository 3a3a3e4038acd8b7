"""DVC stage `train_extractor`: see synthaug.pipeline.train_extractor."""

import sys

from synthaug.pipeline import train_extractor
from synthaug.stage import run_stage

if __name__ == "__main__":
    run_stage(train_extractor, sys.argv[1:])
