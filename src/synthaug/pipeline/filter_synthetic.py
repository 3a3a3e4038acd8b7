"""Stage ``filter_synthetic@POOL``: MC-dropout scores of a pool and the subsets of every filter."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ..core import paths
from ..core.io import load_arrays, save_arrays, write_csv, write_json
from ..core.params import Params
from ..core.runtime import resolve_device, seed_everything, write_timing
from ..data.dataset import load_split
from ..filters import audit_rows, class_centroids, mc_scores, select_subsets
from ..models.classifier import load_classifier


def run(params: Params, pool_name: str) -> dict[str, Any]:
    """Write ``data/selected/POOL.npz`` (scores and subsets), the audit CSV and filter statistics."""
    base, cfg = params.base, params.filter_synthetic
    seed_everything(base.seed)
    device = resolve_device(base.device)
    pool = load_arrays(paths.pool(pool_name), ("images", "targets", "classes", "budget"))
    train = load_split(paths.prepared("train"))
    tx, ty = train.tensors()
    extractor = load_classifier(paths.extractor(), device)
    t0 = time.perf_counter()
    centroids = class_centroids(extractor, tx, ty, train.num_classes, batch_size=cfg.batch_size)
    classes = pool["classes"]
    scores = mc_scores(extractor, torch.from_numpy(pool["images"]), torch.from_numpy(classes),
                       centroids, passes=cfg.passes,
                       generator=torch.Generator().manual_seed(base.seed),
                       batch_size=cfg.batch_size)
    budget = {c: int(b) for c, b in enumerate(pool["budget"])}
    subsets = select_subsets(scores, classes, budget, seed=base.seed, drop_foreign=cfg.drop_foreign)
    seconds = time.perf_counter() - t0
    save_arrays(paths.selected(pool_name), images=pool["images"], targets=pool["targets"],
                classes=classes, **{f"score_{k}": np.asarray(v) for k, v in scores.items()},
                **{f"subset_{k}": np.asarray(v, dtype=np.int64) for k, v in subsets.items()})
    rows = audit_rows(scores, classes, subsets)
    write_csv(paths.audit(pool_name), rows, list(rows[0].keys()))
    write_timing("filter_synthetic", pool_name, seconds=seconds,
                 images_per_second=len(classes) / seconds)
    summary: dict[str, Any] = {"candidates": len(classes), "passes": cfg.passes}
    for name, idx in subsets.items():
        idx = np.asarray(idx, dtype=np.int64)
        summary[name] = {
            "n": len(idx),
            "label_agreement": float(np.mean(scores["pred"][idx] == classes[idx])) if len(idx) else None,
            "mean_entropy": float(np.mean(scores["entropy"][idx])) if len(idx) else None,
            "mean_distance": float(np.mean(scores["distance"][idx])) if len(idx) else None,
        }
    write_json(paths.metrics("filter_synthetic", pool_name), summary)
    return summary
