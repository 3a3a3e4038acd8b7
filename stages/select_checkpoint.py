"""DVC stage `select_checkpoint@KIND`: `python stages/select_checkpoint.py KIND`."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main(nargs=1)  # runs synthaug.pipeline.select_checkpoint.run
