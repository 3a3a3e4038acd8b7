"""The in-memory data set and its split files (what every stage after prepare_data reads).

Kept apart from the loaders (:mod:`synthaug.data.sources`) and the split rules
(:mod:`synthaug.data.splits`), so a stage that only reads prepared splits does not
depend on their code.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import DataError
from ..core.io import load_arrays, save_arrays

if TYPE_CHECKING:
    import torch

SPLIT_KEYS = ("images", "labels", "class_names")


@dataclass
class Dataset:
    """Images (float32 N x C x H x W in [-1, 1]), int64 labels and class names."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]

    @property
    def num_classes(self) -> int:
        """Number of classes (length of ``class_names``)."""
        return len(self.class_names)

    @property
    def channels(self) -> int:
        """Number of image channels (1 grey, 3 RGB)."""
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        """Side length of the (square) images."""
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, idx: np.ndarray) -> Dataset:
        """Return the images and labels at ``idx`` (same class names)."""
        idx = np.asarray(idx, dtype=np.int64)
        return Dataset(self.images[idx], self.labels[idx], list(self.class_names))

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (float32) and integer labels as torch tensors (sharing memory)."""
        import torch

        return torch.from_numpy(self.images).float(), torch.from_numpy(self.labels).long()

    def class_counts(self) -> np.ndarray:
        """Number of images of every class, shape (num_classes,)."""
        return np.bincount(self.labels, minlength=self.num_classes)


@dataclass
class SplitData:
    """Train/val/test data; ``val``/``test`` are None when the source has no official split.

    ``unused``: after :func:`~synthaug.data.splits.make_splits`, the images of the training pool
    that the training limit left out (no split holds them; benchmarks tune on them).
    """

    train: Dataset
    val: Dataset | None = None
    test: Dataset | None = None
    unused: Dataset | None = None


def validate_dataset(ds: Dataset, where: str) -> None:
    """Check shapes, label range and finiteness of ``ds``; DataError names ``where`` and the culprit."""
    images, labels = ds.images, ds.labels
    if images.ndim != 4:
        raise DataError(f"{where}: images must be N x C x H x W, got shape {images.shape}")
    if images.shape[1] not in (1, 3):
        raise DataError(f"{where}: images must have 1 or 3 channels, got {images.shape[1]}")
    if labels.ndim != 1:
        raise DataError(f"{where}: labels must be a 1-D array, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{where}: {len(images)} images but {len(labels)} labels")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    if ds.num_classes < 1:
        raise DataError(f"{where}: no class names")
    bad = np.flatnonzero((labels < 0) | (labels >= ds.num_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{where}: label {int(labels[i])} at index {i} is outside 0..{ds.num_classes - 1} "
            f"({bad.size} bad label(s))"
        )
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        i = int(np.flatnonzero(~np.isfinite(images).reshape(len(images), -1).all(axis=1))[0])
        raise DataError(f"{where}: image {i} contains NaN or inf values")


def save_split(path: str | os.PathLike, ds: Dataset) -> None:
    """Save one split to an ``.npz`` (images, labels, class_names as a unicode array)."""
    save_arrays(
        path,
        images=np.asarray(ds.images, np.float32),
        labels=np.asarray(ds.labels, np.int64),
        class_names=np.asarray(ds.class_names, dtype=np.str_),
    )


def load_split(path: str | os.PathLike) -> Dataset:
    """Load and validate a split written by :func:`save_split`."""
    try:
        arrays = load_arrays(path, SPLIT_KEYS)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable split file ({exc})") from exc
    images, labels = arrays["images"], arrays["labels"]
    if not np.issubdtype(images.dtype, np.floating):
        raise DataError(f"{path}: key 'images' must be float, got dtype {images.dtype}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: key 'labels' must be integers, got dtype {labels.dtype}")
    names = arrays["class_names"]
    if names.ndim != 1 or names.dtype.kind != "U":
        raise DataError(
            f"{path}: key 'class_names' must be a 1-D unicode array, got {names.dtype} {names.shape}"
        )
    ds = Dataset(
        images.astype(np.float32, copy=False), labels.astype(np.int64, copy=False), names.tolist()
    )
    validate_dataset(ds, str(path))
    return ds
