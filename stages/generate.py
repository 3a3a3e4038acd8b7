"""DVC stage `generate@POOL`: `python stages/generate.py POOL`."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main(nargs=1)  # runs synthaug.pipeline.generate.run
