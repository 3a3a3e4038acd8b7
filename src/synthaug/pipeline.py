"""One function per DVC stage: read inputs, call the library, write outputs atomically.

Stage scripts in ``stages/`` only load the validated params and call these; tests
call them directly. Every function takes the params object (or its sections)
explicitly and reads/writes the paths of :mod:`synthaug.paths`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from . import paths
from .augment import TraditionalAugment, check_zeta_gamma, mixup, one_hot, zeta_mixup
from .config import Params, resolve_device, seed_everything
from .data import Dataset, class_count_table, load_source, load_split, make_splits, save_split
from .errors import ConfigError, DataError
from .fid import features_of
from .generation import (
    budget_per_class,
    fid_labels,
    generate_pool,
    load_generator,
    score_checkpoints,
)
from .io import load_arrays, save_arrays, write_csv, write_json, write_text
from .models import ClassifierConfig, ResNetClassifier
from .selection import audit_rows, class_centroids, mc_scores, pick_checkpoint, select_subsets
from .tracking import epoch_logger
from .training.checkpoints import atomic_torch_save, list_checkpoints, load_checkpoint
from .training.classifier import fit_classifier, predict_proba
from .training.generators import GeneratorRun, train_generator

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers


def tensors(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (float32) and integer labels of a prepared split as tensors."""
    return torch.from_numpy(ds.images).float(), torch.from_numpy(ds.labels).long()


def build_classifier(ds: Dataset, net: Any) -> ResNetClassifier:
    """A ResNet classifier sized for the data set from a ``Net`` params section."""
    cfg = ClassifierConfig(in_channels=ds.channels, num_classes=ds.num_classes,
                           blocks=tuple(net.blocks), widths=tuple(net.widths), dropout=net.dropout)
    return ResNetClassifier(cfg)


def save_classifier(model: ResNetClassifier, path: Any, **meta: Any) -> None:
    """Self-describing classifier checkpoint: config, weights and metadata."""
    atomic_torch_save({"config": asdict(model.cfg), "state_dict": model.state_dict(), **meta}, path)


def classifier_from_checkpoint(ckpt: dict[str, Any], device: torch.device | str = "cpu") -> ResNetClassifier:
    """Rebuild a classifier from a checkpoint dict written by :func:`save_classifier` (eval mode)."""
    model = ResNetClassifier(ClassifierConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()


def load_classifier(path: Any, device: torch.device | str = "cpu") -> ResNetClassifier:
    """Rebuild a classifier saved by :func:`save_classifier` (eval mode)."""
    return classifier_from_checkpoint(load_checkpoint(path), device)


def write_timing(stage: str, *parts: str, **seconds: float) -> None:
    """Wall-clock figures go to ``logs/`` (git-ignored), never into metrics files.

    Metrics must be identical between two runs with the same params and seed;
    timings never are.
    """
    write_json(paths.timing(stage, *parts), seconds)


def check_positive_class(positive_class: int | None, num_classes: int) -> None:
    """The binary positive class must exist (and is only meaningful for two classes)."""
    if positive_class is not None and not 0 <= positive_class < num_classes:
        raise ConfigError(f"params key 'evaluate.positive_class' = {positive_class} is not a class "
                          f"of this data set (classes 0..{num_classes - 1})")


# --------------------------------------------------------------------------- stages


def prepare_data(params: Params) -> dict[str, Any]:
    """Load the source, carve seeded stratified splits, limit the training split."""
    cfg, base = params.prepare_data, params.base
    raw = load_source(cfg.source, cfg.path, base.image_size)
    test_size = int(cfg.test_size) if cfg.test_size >= 1 else cfg.test_size
    splits = make_splits(raw, val_per_class=cfg.val_per_class, test_size=test_size,
                         train_fraction=cfg.train_fraction, train_cap=cfg.train_cap, seed=base.seed)
    check_positive_class(params.evaluate.positive_class, splits.train.num_classes)
    for name in ("train", "val", "test"):
        save_split(paths.prepared(name), getattr(splits, name))
    table = class_count_table(splits)
    summary = {
        "source": cfg.source, "num_classes": splits.train.num_classes,
        "channels": splits.train.channels, "image_size": splits.train.image_size,
        "train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
        "classes": {row["name"]: {k: row[k] for k in ("train", "val", "test")} for row in table},
    }
    write_json(paths.metrics("prepare_data"), summary)
    return summary


def train_extractor(params: Params) -> dict[str, Any]:
    """Train the domain classifier used as feature extractor by all later stages."""
    base, cfg = params.base, params.train_extractor
    seed_everything(base.seed)
    device = resolve_device(base.device)
    train, val = load_split(paths.prepared("train")), load_split(paths.prepared("val"))
    (tx, ty), (vx, vy) = tensors(train), tensors(val)
    model = build_classifier(train, cfg.net)
    t0 = time.perf_counter()
    s = cfg.schedule
    with epoch_logger(paths.live("train_extractor")) as on_epoch:
        fit = fit_classifier(model, tx, one_hot(ty, train.num_classes), vx, vy, epochs=s.epochs,
                             batch_size=s.batch_size, lr=s.lr, weight_decay=s.weight_decay,
                             generator=torch.Generator().manual_seed(base.seed), device=device,
                             on_epoch=on_epoch, desc="train_extractor")
    save_classifier(model.cpu(), paths.extractor(), best_epoch=fit.best_epoch, history=fit.history)
    summary = {"best_epoch": fit.best_epoch, "val_loss": fit.best["val_loss"],
               "val_accuracy": fit.best["val_accuracy"]}
    write_json(paths.metrics("train_extractor"), summary)
    write_timing("train_extractor", seconds=time.perf_counter() - t0)
    return summary


def generator_run(params: Params, kind: str, train: Dataset) -> GeneratorRun:
    """The training specification of one generator kind from the params."""
    tg, base = params.train_gan, params.base
    sub = asdict(getattr(tg, kind))
    common = {"num_classes": train.num_classes, "channels": train.channels,
              "image_size": train.image_size}
    arch_keys = {"cgan": ("z_dim", "width"), "cvae": ("z_dim", "hidden"),
                 "ae": ("z_dim", "hidden", "noise")}[kind]
    model_kwargs = {**common, **{k: sub[k] for k in arch_keys}}
    optim = {k: v for k, v in sub.items() if k not in arch_keys}
    return GeneratorRun(kind=kind, model_kwargs=model_kwargs, optim=optim, epochs=tg.epochs,
                        checkpoint_every=tg.checkpoint_every, batch_size=tg.batch_size,
                        seed=base.seed)


def train_gan(params: Params, kind: str) -> dict[str, Any]:
    """Train (or resume) one generator kind, with a checkpoint every few epochs."""
    if kind not in params.train_gan.kinds:
        raise ConfigError(f"generator kind '{kind}' is not in train_gan.kinds {params.train_gan.kinds}")
    base = params.base
    seed_everything(base.seed)
    train = load_split(paths.prepared("train"))
    x, y = tensors(train)
    run = generator_run(params, kind, train)
    t0 = time.perf_counter()
    with epoch_logger(paths.live("train_gan", kind)) as on_epoch:
        history = train_generator(run, x, one_hot(y, train.num_classes), paths.gan_dir(kind),
                                  device=resolve_device(base.device), on_epoch=on_epoch)
    last = history[-1] if history else {}
    summary = {"kind": kind, "epochs": len(history),
               "checkpoints": len(list_checkpoints(paths.gan_dir(kind))),
               **{f"final_{k}": v for k, v in last.items() if k not in ("epoch", "seconds")}}
    write_json(paths.metrics("train_gan", kind), summary)
    write_timing("train_gan", kind, seconds=time.perf_counter() - t0,
                 train_seconds=sum(r["seconds"] for r in history),
                 seconds_per_epoch=sum(r["seconds"] for r in history) / max(len(history), 1))
    return summary


def select_checkpoint(params: Params, kind: str) -> dict[str, Any]:
    """Score every checkpoint by FID in the extractor's space, smooth (eq. 2), pick argmin."""
    base, cfg = params.base, params.select_checkpoint
    seed_everything(base.seed)
    device = resolve_device(base.device)
    ckpts = list_checkpoints(paths.gan_dir(kind))
    if not ckpts:
        raise DataError(f"{paths.gan_dir(kind)}: no checkpoints (epoch_NNN.pt); run train_gan first")
    train = load_split(paths.prepared("train"))
    tx, _ = tensors(train)
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
    ckpt = load_checkpoint(ckpts[best])
    atomic_torch_save(ckpt, paths.chosen_generator(kind))
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


def generate(params: Params, pool_name: str) -> dict[str, Any]:
    """4 * round(r * N_i) candidates per class from the chosen checkpoint."""
    base, cfg = params.base, params.generate
    if pool_name not in cfg.pools:
        raise ConfigError(f"pool '{pool_name}' is not in generate.pools {sorted(cfg.pools)}")
    spec = cfg.pools[pool_name]
    seed_everything(base.seed)
    device = resolve_device(base.device)
    train = load_split(paths.prepared("train"))
    model, ckpt = load_generator(paths.chosen_generator(spec.generator), device)
    budget = budget_per_class(train.class_counts(), cfg.ratio)
    pool = generate_pool(model, budget, train.num_classes, base.seed, labels=spec.labels,
                         gemix=asdict(cfg.gemix), device=device)
    save_arrays(paths.pool(pool_name), **pool)
    log.info("%s: %d candidates from %s epoch %d", pool_name, len(pool["classes"]),
             spec.generator, ckpt["epoch"])
    return {"candidates": len(pool["classes"]), "budget": budget.tolist()}


def filter_synthetic(params: Params, pool_name: str) -> dict[str, Any]:
    """MC-dropout entropy and centroid distances of a pool; the subsets of every filter."""
    base, cfg = params.base, params.filter_synthetic
    seed_everything(base.seed)
    device = resolve_device(base.device)
    pool = load_arrays(paths.pool(pool_name), ("images", "targets", "classes", "budget"))
    train = load_split(paths.prepared("train"))
    tx, ty = tensors(train)
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


def synthetic_set(params: Params, method: str, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The synthetic images and soft targets a method trains on (empty for real-only methods)."""
    recipe = params.train_classifier.methods[method]
    if recipe.pool == "none":
        return torch.empty(0), torch.empty(0, num_classes)
    sel = load_arrays(paths.selected(recipe.pool), ("images", "targets", f"subset_{recipe.filter}"))
    idx = sel[f"subset_{recipe.filter}"]
    return torch.from_numpy(sel["images"][idx]).float(), torch.from_numpy(sel["targets"][idx]).float()


def train_classifier(params: Params, method: str, seed: int) -> dict[str, Any]:
    """Train one classifier of a method on real + its synthetic images; epoch chosen on val."""
    tc, base = params.train_classifier, params.base
    if method not in tc.methods:
        raise ConfigError(f"method '{method}' is not in train_classifier.methods {sorted(tc.methods)}")
    recipe = tc.methods[method]
    seed_everything(seed)
    device = resolve_device(base.device)
    train, val = load_split(paths.prepared("train")), load_split(paths.prepared("val"))
    (tx, ty), (vx, vy) = tensors(train), tensors(val)
    sx, sy = synthetic_set(params, method, train.num_classes)
    x = torch.cat([tx, sx]) if len(sx) else tx
    y = torch.cat([one_hot(ty, train.num_classes), sy]) if len(sx) else one_hot(ty, train.num_classes)
    transform = TraditionalAugment(**asdict(tc.traditional)) if recipe.transform == "traditional" else None
    mixing = None
    if recipe.mixing == "mixup":
        mixing = lambda a, b, g: mixup(a, b, tc.mixup_alpha, g)  # noqa: E731
    elif recipe.mixing == "zeta_mixup":
        check_zeta_gamma(tc.zeta_gamma)
        mixing = lambda a, b, g: zeta_mixup(a, b, tc.zeta_gamma, g)  # noqa: E731
    model = build_classifier(train, tc.net)
    s = tc.schedule
    t0 = time.perf_counter()
    with epoch_logger(paths.live("train_classifier", method, f"seed_{seed}")) as on_epoch:
        fit = fit_classifier(model, x, y, vx, vy, epochs=s.epochs, batch_size=s.batch_size,
                             lr=s.lr, weight_decay=s.weight_decay,
                             generator=torch.Generator().manual_seed(seed), device=device,
                             transform=transform, mixing=mixing, on_epoch=on_epoch,
                             desc=f"train_classifier {method} seed {seed}")
    save_classifier(model.cpu(), paths.classifier(method, seed), method=method, seed=seed,
                    best_epoch=fit.best_epoch, history=fit.history, n_synthetic=len(sx))
    summary = {"method": method, "seed": seed, "best_epoch": fit.best_epoch,
               "val_loss": fit.best["val_loss"], "val_accuracy": fit.best["val_accuracy"],
               "n_real": len(tx), "n_synthetic": len(sx)}
    write_json(paths.metrics("train_classifier", method, f"seed_{seed}"), summary)
    write_timing("train_classifier", method, f"seed_{seed}", seconds=time.perf_counter() - t0)
    return summary


def evaluate(params: Params) -> dict[str, Any]:
    """Test metrics of every method x seed; mean, std and paired difference to the baseline."""
    from .metrics import classification_metrics, roc_points, summarize
    from .report import results_table

    tc, cfg = params.train_classifier, params.evaluate
    test = load_split(paths.prepared("test"))
    check_positive_class(cfg.positive_class, test.num_classes)
    missing = [str(paths.classifier(m, s)) for m in tc.methods for s in tc.seeds
               if not paths.classifier(m, s).is_file()]
    if missing:
        raise DataError(f"classifiers missing (run train_classifier first): {', '.join(missing[:5])}")
    x, y = tensors(test)
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    n_synthetic: dict[str, int] = {}
    names = np.asarray(test.class_names)
    for method in tc.methods:
        per_seed[method] = {}
        pooled = []
        for seed in tc.seeds:
            ckpt = load_checkpoint(paths.classifier(method, seed))
            model = classifier_from_checkpoint(ckpt)
            probs = predict_proba(model, x).numpy()
            per_seed[method][seed] = classification_metrics(y.numpy(), probs, cfg.positive_class)
            n_synthetic[method] = int(ckpt.get("n_synthetic", 0))
            pooled.append(probs)
        probs = np.concatenate(pooled)  # every seed's predictions of the test split
        truth = np.tile(y.numpy(), len(tc.seeds))
        write_csv(paths.evaluate_plot("confusion", method),
                  [{"actual": a, "predicted": p} for a, p in
                   zip(names[truth], names[probs.argmax(1)], strict=True)], ["actual", "predicted"])
        fpr, tpr = roc_points(truth, probs, cfg.positive_class)
        write_csv(paths.evaluate_plot("roc", method),
                  [{"fpr": f, "tpr": t} for f, t in zip(fpr, tpr, strict=True)], ["fpr", "tpr"])
    summary = summarize(per_seed, baseline=cfg.baseline)
    for method in summary:
        summary[method]["n_synthetic"] = n_synthetic[method]
    write_json(paths.metrics("evaluate"), summary)
    write_json(paths.METRICS / "evaluate_per_seed.json",
               {m: {f"seed_{s}": v for s, v in d.items()} for m, d in per_seed.items()})
    write_text(paths.REPORTS / "results.md",
               results_table(summary, baseline=cfg.baseline, n_test=len(test), seeds=list(tc.seeds)))
    return summary
