"""Stage ``select_checkpoint@KIND``: FID of every checkpoint in the extractor's space, EMA, argmin."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..core import paths
from ..core.checkpoints import (
    atomic_torch_save,
    checkpoint_epoch,
    list_checkpoints,
    load_checkpoint,
)
from ..core.errors import DataError
from ..core.io import write_csv, write_json
from ..core.params import Params
from ..core.progress import progress
from ..core.runtime import resolve_device, seed_everything, write_timing
from ..data.dataset import load_split
from ..fid import feature_statistics, features_of, frechet_distance, pick_checkpoint
from ..models.classifier import load_classifier
from ..sampling import fid_labels, load_generator, sample_images

log = logging.getLogger(__name__)


def score_checkpoints(
    paths: Sequence[Path],
    extractor: nn.Module,
    real_features: np.ndarray,
    labels: Tensor,
    seed: int,
    eps: float = 1e-6,
    device: torch.device | str = "cpu",
) -> list[dict[str, Any]]:
    """FID of every checkpoint against the real features, with the same labels and noise.

    Real statistics are computed once; a checkpoint whose images or FID are not
    finite gets FID NaN (reported, never chosen).

    With fewer images (real or generated) than feature dimensions the covariances are
    singular: :func:`~synthaug.fid.frechet_distance` then relies on its symmetric PSD
    square root and the ``eps`` ridge (``select_checkpoint.eps``), which keep the FID
    finite and comparable between checkpoints (all use the same labels and noise), but
    it is a noisier estimate; this case is logged.
    """
    mu_r, sigma_r = feature_statistics(real_features)
    dims = int(np.asarray(real_features).shape[1])
    if min(len(real_features), len(labels)) <= dims:
        log.warning("FID with %d real and %d generated images in %d feature dimensions: the "
                    "covariances are singular; the FID uses the eps=%g ridge and stays finite, "
                    "but raise select_checkpoint.n_images (or use more real images) for a "
                    "stabler estimate", len(real_features), len(labels), dims, eps)
    rows = []
    for path in progress(paths, desc="select_checkpoint"):
        t0 = time.perf_counter()
        model, ckpt = load_generator(path, device)
        images = sample_images(model, labels, seed, device=device)
        if torch.isfinite(images).all():
            fid = frechet_distance(mu_r, sigma_r, *feature_statistics(
                features_of(extractor, images, device=device)), eps=eps)
        else:
            fid = float("nan")
        if not math.isfinite(fid):
            log.warning("%s: FID is not finite; this checkpoint is skipped", path)
        rows.append({"epoch": ckpt.get("epoch", checkpoint_epoch(path)), "fid": fid,
                     "seconds": time.perf_counter() - t0})
    return rows


def run(params: Params, kind: str) -> dict[str, Any]:
    """Write the chosen checkpoint, the FID curve (raw, smoothed, chosen) and its summary."""
    base, cfg = params.base, params.select_checkpoint
    seed_everything(base.seed)
    device = resolve_device(base.device)
    ckpts = list_checkpoints(paths.gan_dir(kind))
    if not ckpts:
        raise DataError(f"{paths.gan_dir(kind)}: no checkpoints (epoch_NNN.pt); run train_gan first")
    train = load_split(paths.prepared("train"))
    tx, _ = train.tensors()
    extractor = load_classifier(paths.extractor(), device)
    t0 = time.perf_counter()
    real = features_of(extractor, tx, device=device)
    labels = fid_labels(train.labels, train.num_classes, cfg.n_images, base.seed)
    rows = score_checkpoints(ckpts, extractor, real, labels, seed=base.seed, eps=cfg.eps,
                             device=device)
    best, smoothed = pick_checkpoint([r["epoch"] for r in rows], [r["fid"] for r in rows], cfg.alpha)
    for row, s in zip(rows, smoothed, strict=True):
        row["fid_ema"] = float(s)
    rows[best]["chosen"] = rows[best]["fid_ema"]  # marks the chosen checkpoint in `dvc plots`
    score_seconds = time.perf_counter() - t0
    atomic_torch_save(load_checkpoint(ckpts[best]), paths.chosen_generator(kind))
    write_csv(paths.METRICS / "select_checkpoint" / f"{kind}_fid.csv", rows,
              ["epoch", "fid", "fid_ema", "chosen"])
    summary = {
        "kind": kind, "chosen_epoch": rows[best]["epoch"], "fid": rows[best]["fid"],
        "fid_ema": rows[best]["fid_ema"], "alpha": cfg.alpha, "n_images": cfg.n_images,
        "checkpoints": len(rows), "nonfinite": sum(not np.isfinite(r["fid"]) for r in rows),
    }
    write_json(paths.metrics("select_checkpoint", kind), summary)
    write_timing("select_checkpoint", kind, seconds=score_seconds,
                 seconds_per_checkpoint=score_seconds / len(rows))
    return summary
