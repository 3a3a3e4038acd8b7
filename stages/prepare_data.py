"""DVC stage `prepare_data`: `python stages/prepare_data.py`."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main()  # runs synthaug.pipeline.prepare_data.run
