"""Stage ``train_extractor``: the domain classifier used as feature extractor by all later stages."""

from __future__ import annotations

import time
from typing import Any

import torch

from ..augment import one_hot
from ..core import paths
from ..core.io import write_json
from ..core.params import Params
from ..core.runtime import resolve_device, resolve_precision, seed_everything, write_timing
from ..data.dataset import load_split
from ..models.classifier import build_classifier, save_classifier
from ..training.classifier import fit_classifier
from ..training.tracking import epoch_logger


def run(params: Params) -> dict[str, Any]:
    """Train on the training split, choose the epoch on the validation split; ``models/extractor.pt``."""
    base, cfg = params.base, params.train_extractor
    seed_everything(base.seed)
    device = resolve_device(base.device)
    train, val = load_split(paths.prepared("train")), load_split(paths.prepared("val"))
    (tx, ty), (vx, vy) = train.tensors(), val.tensors()
    model = build_classifier(train.channels, train.num_classes, cfg.net, train.image_size)
    t0 = time.perf_counter()
    with epoch_logger(paths.live("train_extractor")) as on_epoch:
        fit = fit_classifier(model, tx, one_hot(ty, train.num_classes), vx, vy, cfg.schedule,
                             generator=torch.Generator().manual_seed(base.seed), device=device,
                             precision=resolve_precision(base.precision, device),
                             on_epoch=on_epoch, desc="train_extractor")
    save_classifier(model.cpu(), paths.extractor(), best_epoch=fit.best_epoch, history=fit.history)
    summary = {"best_epoch": fit.best_epoch, "epochs": fit.stopped_epoch, "val_loss": fit.best["val_loss"],
               "val_accuracy": fit.best["val_accuracy"]}
    write_json(paths.metrics("train_extractor"), summary)
    write_timing("train_extractor", seconds=time.perf_counter() - t0)
    return summary
