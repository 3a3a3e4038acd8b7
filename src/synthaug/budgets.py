"""Per-class synthetic budgets: how many selected images (or real copies) each class gets.

Two rules (``generate.budget``):

* ``proportional`` (the paper): b_i = round(r * N_i), halves rounded up, at least 1.
* ``balanced``: real + synthetic become equal across classes. The target per class is
  T = N_max + round(r * N_max) (halves rounded up), so the largest class gets round(r * N_max)
  synthetic images, exactly as under ``proportional``, and every other class gets
  b_i = T - N_i, more the smaller it is. Integers throughout: N_i + b_i = T exactly.
  A ratio so small that round(r * N_max) = 0 is refused (the largest class would get no
  synthetic image, so no pool could serve it).

Every pool holds 4 * b_i candidates of class i, so both halving steps of Algorithm 1 are exact.
Pure NumPy, so prepare_data can check a budget before any training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .core.errors import ConfigError, DataError

BUDGETS = ("proportional", "balanced")


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def budget_per_class(train_counts: Sequence[int], ratio: float,
                     mode: str = "proportional") -> np.ndarray:
    """Return the (C,) int64 budget b_i of each class under ``mode`` (see the module docstring)."""
    counts = [int(n) for n in train_counts]
    if not counts or min(counts) < 1:
        raise ConfigError(f"every class needs at least one training image, got counts {counts}")
    if mode == "proportional":
        return np.array([max(1, _round_half_up(ratio * n)) for n in counts], dtype=np.int64)
    if mode == "balanced":
        n_max = max(counts)
        top = _round_half_up(ratio * n_max)
        if top < 1:
            raise ConfigError(
                f"params key 'generate.budget' = 'balanced' with 'generate.ratio' = {ratio!r} gives "
                f"a pool budget of zero: round({ratio} * {n_max}) = 0 synthetic images for the "
                f"largest class ({n_max} training images); use generate.ratio >= {0.5 / n_max:.3g} "
                "or generate.budget: proportional")
        return np.array([n_max + top - n for n in counts], dtype=np.int64)
    raise ConfigError(f"params key 'generate.budget' = {mode!r} is not allowed: one of {list(BUDGETS)}")


def oversample_indices(labels: np.ndarray, budget: Sequence[int], seed: int) -> np.ndarray:
    """Return indices of real images that repeat class c's images to exactly budget[c] copies.

    Each of class c's N_c images is copied floor(b_c / N_c) times, then b_c mod N_c of them
    (drawn without replacement, seeded) once more: copies are spread as evenly as possible.
    Sorted by class, then by index.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for c, b in enumerate(budget):
        if not b:
            continue
        idx = np.flatnonzero(labels == c)
        if not len(idx):
            raise DataError(f"class {c} has no real training image to copy")
        full, rest = divmod(int(b), len(idx))
        extra = rng.choice(idx, size=rest, replace=False)
        out.append(np.sort(np.concatenate([np.tile(idx, full), extra])))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)
