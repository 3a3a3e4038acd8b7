"""Stage ``oversample``: the control set of real copies, ``data/selected/oversample.npz``.

A recipe with ``pool: oversample`` adds exactly as many images per class as a synthetic
recipe (the same budget, ``generate.ratio`` and ``generate.budget``), but they are copies of
the real training images. With the same transform as a synthetic recipe, it is the control a
synthetic set must beat: more copies of the real data, not only fewer images. The file has
the layout of a filtered pool (images, targets, classes, ``subset_all``), so the classifier
stage reads it like any other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..budgets import budget_per_class, oversample_indices
from ..core import paths
from ..core.io import save_arrays, write_json
from ..core.params import Params
from ..data.dataset import load_split


def run(params: Params) -> dict[str, Any]:
    """Write ``data/selected/oversample.npz`` and ``metrics/oversample.json``."""
    cfg = params.generate
    train = load_split(paths.prepared("train"))
    budget = budget_per_class(train.class_counts(), cfg.ratio, cfg.budget)
    idx = oversample_indices(train.labels, budget, params.base.seed)
    classes = train.labels[idx].astype(np.int64)
    save_arrays(paths.selected("oversample"), images=train.images[idx].astype(np.float32),
                targets=np.eye(train.num_classes, dtype=np.float32)[classes], classes=classes,
                source_index=idx, budget=budget, subset_all=np.arange(len(idx), dtype=np.int64))
    summary = {"copies": len(idx), "budget": cfg.budget, "ratio": cfg.ratio,
               "per_class": dict(zip(train.class_names, budget.tolist(), strict=True))}
    write_json(paths.metrics("oversample"), summary)
    return summary
