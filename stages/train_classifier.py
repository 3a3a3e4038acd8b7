"""DVC stage `train_classifier` for one method and seed: `python stages/train_classifier.py METHOD SEED`."""

import sys

from synthaug.pipeline import train_classifier
from synthaug.stage import run_stage


def main(params, method: str, seed: str) -> None:
    """Parse the seed and train."""
    train_classifier(params, method, int(seed))


if __name__ == "__main__":
    run_stage(main, sys.argv[1:], nargs=2)
