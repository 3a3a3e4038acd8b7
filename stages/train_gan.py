"""DVC stage `train_gan@KIND`: `python stages/train_gan.py KIND`."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main(nargs=1)  # runs synthaug.pipeline.train_gan.run
