"""DVC stage `filter_synthetic@POOL`: `python stages/filter_synthetic.py POOL`."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main(nargs=1)  # runs synthaug.pipeline.filter_synthetic.run
