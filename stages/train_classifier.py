"""DVC stage `train_classifier@METHOD`: `python stages/train_classifier.py METHOD` (every seed)."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main(nargs=1)  # runs synthaug.pipeline.train_classifier.run
