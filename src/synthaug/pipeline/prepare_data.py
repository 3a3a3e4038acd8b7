"""Stage ``prepare_data``: load the source, carve seeded stratified splits, limit the training split."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..budgets import budget_per_class
from ..core import paths
from ..core.io import save_arrays, write_json
from ..core.params import Params, check_pca_dim, check_positive_class
from ..data.dataset import save_split
from ..data.sources import load_source, name_classes
from ..data.splits import class_count_table, make_splits


def run(params: Params) -> dict[str, Any]:
    """Write ``data/prepared/{train,val,test}.npz``, the empty set ``none`` and the class counts."""
    cfg, base = params.prepare_data, params.base
    raw = name_classes(load_source(cfg.source, cfg.path, base.image_size, cfg.resize),
                       cfg.class_names)
    test_size = int(cfg.test_size) if cfg.test_size >= 1 else cfg.test_size
    splits = make_splits(raw, val_per_class=cfg.val_per_class, test_size=test_size,
                         train_fraction=cfg.train_fraction, train_cap=cfg.train_cap, seed=base.seed)
    check_positive_class(params.evaluate.positive_class, splits.train.num_classes)
    # checks of later stages' params that need the class counts: here, before any training
    counts = splits.train.class_counts()
    budget_per_class(counts, params.generate.ratio, params.generate.budget)
    check_pca_dim(params.filter_synthetic.pca_dim, counts, splits.train.class_names)
    for name in ("train", "val", "test"):
        save_split(paths.prepared(name), getattr(splits, name))
    train = splits.train
    save_arrays(paths.selected("none"),  # the synthetic set of real-only recipes: empty
                images=np.zeros((0, train.channels, train.image_size, train.image_size), np.float32),
                targets=np.zeros((0, train.num_classes), np.float32),
                classes=np.zeros(0, np.int64), subset_all=np.zeros(0, np.int64))
    table = class_count_table(splits)
    summary = {
        "source": cfg.source, "num_classes": splits.train.num_classes,
        "channels": splits.train.channels, "image_size": splits.train.image_size,
        "train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
        "classes": {row["name"]: {k: row[k] for k in ("train", "val", "test")} for row in table},
    }
    write_json(paths.metrics("prepare_data"), summary)
    return summary
