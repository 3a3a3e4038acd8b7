"""DVC stage `train_extractor`: `python stages/train_extractor.py`."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main()  # runs synthaug.pipeline.train_extractor.run
