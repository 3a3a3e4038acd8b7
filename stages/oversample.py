"""DVC stage `oversample`: `python stages/oversample.py`."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main()  # runs synthaug.pipeline.oversample.run
