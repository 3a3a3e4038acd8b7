"""DVC stage `train_gan` for one generator kind: `python stages/train_gan.py KIND`."""

import sys

from synthaug.pipeline import train_gan
from synthaug.stage import run_stage

if __name__ == "__main__":
    run_stage(train_gan, sys.argv[1:], nargs=1)
