"""Stage ``filter_synthetic@POOL``: MC-dropout scores of a pool, the subsets of every filter and
how diverse each subset is (covariance mismatch, spread, precision and recall per class)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ..core import paths
from ..core.io import load_arrays, save_arrays, write_csv, write_json
from ..core.params import Params, check_pca_dim
from ..core.runtime import resolve_device, seed_everything, write_timing
from ..data.dataset import load_split
from ..diversity import diversity_summary, real_class_pca
from ..fid import features_of
from ..filters import audit_rows, class_centroids, mc_scores, select_subsets
from ..models.classifier import load_classifier


def run(params: Params, pool_name: str) -> dict[str, Any]:
    """Write ``data/selected/POOL.npz`` (scores and subsets), the audit CSV and filter statistics."""
    base, cfg = params.base, params.filter_synthetic
    seed_everything(base.seed)
    device = resolve_device(base.device)
    pool = load_arrays(paths.pool(pool_name), ("images", "targets", "classes", "budget"))
    train = load_split(paths.prepared("train"))
    check_pca_dim(cfg.pca_dim, train.class_counts(), train.class_names)
    tx, ty = train.tensors()
    extractor = load_classifier(paths.extractor(), device)
    t0 = time.perf_counter()
    centroids = class_centroids(extractor, tx, ty, train.num_classes, batch_size=cfg.batch_size)
    classes = pool["classes"]
    images = torch.from_numpy(pool["images"])
    scores = mc_scores(extractor, images, torch.from_numpy(classes),
                       centroids, passes=cfg.passes,
                       generator=torch.Generator().manual_seed(base.seed),
                       batch_size=cfg.batch_size)
    real_feats = features_of(extractor, tx, cfg.batch_size, device)
    feats = features_of(extractor, images, cfg.batch_size, device)
    budget = {c: int(b) for c, b in enumerate(pool["budget"])}
    pca = real_class_pca(real_feats, train.labels, sorted(budget), cfg.pca_dim)
    subsets = select_subsets(scores, classes, budget, seed=base.seed, drop_foreign=cfg.drop_foreign,
                             features=feats, pca=pca)
    seconds = time.perf_counter() - t0
    save_arrays(paths.selected(pool_name), images=pool["images"], targets=pool["targets"],
                classes=classes, **{f"score_{k}": np.asarray(v) for k, v in scores.items()},
                **{f"subset_{k}": np.asarray(v, dtype=np.int64) for k, v in subsets.items()})
    rows = audit_rows(scores, classes, subsets)
    write_csv(paths.audit(pool_name), rows, list(rows[0].keys()))
    summary: dict[str, Any] = {"candidates": len(classes), "passes": cfg.passes,
                               "pca_dim": cfg.pca_dim, "knn": cfg.knn,
                               "budget": int(sum(budget.values()))}
    for name, idx in subsets.items():
        idx = np.asarray(idx, dtype=np.int64)
        summary[name] = {
            "n": len(idx),
            "label_agreement": float(np.mean(scores["pred"][idx] == classes[idx])) if len(idx) else None,
            "mean_entropy": float(np.mean(scores["entropy"][idx])) if len(idx) else None,
            "mean_distance": float(np.mean(scores["distance"][idx])) if len(idx) else None,
            **diversity_summary(real_feats, train.labels, feats[idx], classes[idx], knn=cfg.knn,
                                pca=pca),
        }
    write_timing("filter_synthetic", pool_name, seconds=seconds,
                 images_per_second=len(classes) / seconds)
    write_json(paths.metrics("filter_synthetic", pool_name), summary)
    return summary
