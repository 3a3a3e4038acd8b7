"""Errors that name what the user got wrong (a key, a file, a class)."""


class SynthaugError(Exception):
    """Base class of every error raised for bad input; stage scripts print it and exit 2."""


class ConfigError(SynthaugError, ValueError):
    """A params key is unknown, of the wrong type or out of its allowed range."""


class DataError(SynthaugError, ValueError):
    """Input data is missing, malformed or insufficient (names the file, key or class)."""


class TrainingError(SynthaugError, RuntimeError):
    """Training diverged or produced no usable result (e.g. NaN losses, no finite FID)."""
