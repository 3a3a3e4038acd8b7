"""DVC stage `evaluate`: `python stages/evaluate.py`."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main()  # runs synthaug.pipeline.evaluate.run
