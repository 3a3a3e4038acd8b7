"""synthaug: selective synthetic augmentation for small, imbalanced image data sets."""

__version__ = "0.1.0"
