"""Stage ``train_classifier@METHOD``: every seed's classifier of one method, trained together.

The seeds of ``train_classifier.seeds`` are the members of one grouped network (see
:mod:`synthaug.training.classifier`): each keeps its own initialisation, data order,
augmentation, dropout masks, best epoch and early stop, so they stay independent runs.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import torch

from ..augment import TraditionalAugment, check_zeta_gamma, mixup, one_hot, zeta_mixup
from ..core import paths
from ..core.errors import ConfigError
from ..core.io import load_arrays, write_json
from ..core.params import Params, TrainClassifier
from ..core.runtime import resolve_device, resolve_precision, write_timing
from ..data.dataset import load_split
from ..models.classifier import build_classifier, save_classifier
from ..training.classifier import Mixing, fit_classifiers
from ..training.tracking import epoch_logger


def synthetic_set(pool: str, subset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and soft targets of one filter's subset of a pool (``none``: the empty set)."""
    sel = load_arrays(paths.selected(pool), ("images", "targets", f"subset_{subset}"))
    idx = sel[f"subset_{subset}"]
    return torch.from_numpy(sel["images"][idx]).float(), torch.from_numpy(sel["targets"][idx]).float()


def mixing_of(tc: TrainClassifier, name: str) -> Mixing | None:
    """The in-batch mixing of a recipe (``none``, ``mixup`` or ``zeta_mixup``)."""
    if name == "mixup":
        return lambda a, b, g: mixup(a, b, tc.mixup_alpha, g)
    if name == "zeta_mixup":
        check_zeta_gamma(tc.zeta_gamma)
        return lambda a, b, g: zeta_mixup(a, b, tc.zeta_gamma, g)
    return None


def run(params: Params, method: str) -> dict[str, Any]:
    """Write ``models/train_classifier/METHOD/seed_S.pt`` for every seed and the method's metrics."""
    tc, base = params.train_classifier, params.base
    if method not in tc.methods:
        raise ConfigError(f"method '{method}' is not in train_classifier.methods {sorted(tc.methods)}")
    recipe = tc.methods[method]
    device = resolve_device(base.device)
    precision = resolve_precision(base.precision, device)
    train, val = load_split(paths.prepared("train")), load_split(paths.prepared("val"))
    (tx, ty), (vx, vy) = train.tensors(), val.tensors()
    sx, sy = synthetic_set(recipe.pool, recipe.filter)
    x = torch.cat([tx, sx])
    y = torch.cat([one_hot(ty, train.num_classes), sy])
    transform = TraditionalAugment(**tc.traditional.model_dump()) if recipe.transform == "traditional" else None
    models = []
    for seed in tc.seeds:
        torch.manual_seed(seed)  # each seed's initialisation, as if trained alone
        models.append(build_classifier(train.channels, train.num_classes, tc.net, train.image_size))
    generators = [torch.Generator().manual_seed(seed) for seed in tc.seeds]
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        curves = [stack.enter_context(epoch_logger(paths.live("train_classifier", method, f"seed_{s}")))
                  for s in tc.seeds]
        fits = fit_classifiers(models, generators, x, y, vx, vy, tc.schedule, device=device,
                               precision=precision, transform=transform,
                               mixing=mixing_of(tc, recipe.mixing),
                               on_epoch=lambda member, row: curves[member](row),
                               desc=f"train_classifier {method}")
    summary: dict[str, Any] = {"method": method, "n_real": len(tx), "n_synthetic": len(sx),
                               "precision": precision}
    for seed, model, fit in zip(tc.seeds, models, fits, strict=True):
        save_classifier(model.cpu(), paths.classifier(method, seed), method=method, seed=seed,
                        best_epoch=fit.best_epoch, history=fit.history, n_synthetic=len(sx))
        summary[f"seed_{seed}"] = {"best_epoch": fit.best_epoch, "epochs": fit.stopped_epoch,
                                   "val_loss": fit.best["val_loss"],
                                   "val_accuracy": fit.best["val_accuracy"]}
    write_json(paths.metrics("train_classifier", method), summary)
    write_timing("train_classifier", method, seconds=time.perf_counter() - t0,
                 epochs=sum(f.stopped_epoch for f in fits))
    return summary

