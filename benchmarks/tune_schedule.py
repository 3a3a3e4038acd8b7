"""Accuracy versus training time of classifier schedules, to choose `train_classifier.schedule`.

    python benchmarks/tune_schedule.py [--params params.yaml] [--seeds 0 1 2 3 4]

Trains the real-only recipes `baseline` (no transform) and `traditional` (the transform
needs more epochs) with every seed of each candidate schedule, on the prepared training
split of the params' data, and scores the chosen epoch's weights on images that no
split uses: the source's images left out of train, val and test (digits has about a
thousand). The test split is never read, so choosing defaults here does not tune on it.
Prints one row per schedule: seconds for all seeds, epochs trained, held-out accuracy
and loss (mean over seeds and both recipes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from synthaug.augment import TraditionalAugment, one_hot
from synthaug.core.params import Schedule, load_params
from synthaug.core.runtime import resolve_precision
from synthaug.data.sources import load_source
from synthaug.data.splits import make_splits
from synthaug.models.classifier import build_classifier
from synthaug.training.classifier import fit_classifiers, predict_proba


def cosine(epochs: int, lr: float, **more) -> dict:
    """A cosine schedule with a 3-epoch warm-up (2 below 30 epochs)."""
    return {"epochs": epochs, "lr_schedule": "cosine", "warmup_epochs": 3 if epochs >= 30 else 2,
            "lr": lr, **more}


CANDIDATES = {
    "constant 60 (old default)": {},
    "constant 60, patience 10": {"patience": 10},
    "constant 60, lr 3e-3, patience 10": {"lr": 3e-3, "patience": 10},
    "cosine 60, lr 2e-3": cosine(60, 2e-3),
    "cosine 60, lr 2e-3, patience 10": cosine(60, 2e-3, patience=10),
    "cosine 60, lr 3e-3, patience 15": cosine(60, 3e-3, patience=15),
    "cosine 60, lr 5e-3": cosine(60, 5e-3),
    "cosine 60, lr 5e-3, patience 15 (the default)": cosine(60, 5e-3, patience=15),
    "cosine 50, lr 5e-3": cosine(50, 5e-3),
    "cosine 50, lr 5e-3, patience 15": cosine(50, 5e-3, patience=15),
    "cosine 40, lr 3e-3": cosine(40, 3e-3),
    "cosine 40, lr 3e-3, patience 10": cosine(40, 3e-3, patience=10),
    "cosine 40, lr 5e-3": cosine(40, 5e-3),
    "cosine 40, lr 1e-2": cosine(40, 1e-2),
    "cosine 40, lr 1e-2, patience 10 (the default before)": cosine(40, 1e-2, patience=10),
    "cosine 30, lr 1e-2": cosine(30, 1e-2),
    "cosine 40, lr 5e-3, batch 16": cosine(40, 5e-3, batch_size=16),
    "cosine 30, lr 5e-3, batch 16": cosine(30, 5e-3, batch_size=16),
    "cosine 20, lr 5e-3, batch 16": cosine(20, 5e-3, batch_size=16),
}


def held_out(params):
    """(train, val, held-out images, held-out labels) exactly as prepare_data carves them; the
    held-out images are those the training limit left out (the test split is never read)."""
    cfg = params.prepare_data
    data = load_source(cfg.source, cfg.path, params.base.image_size, cfg.resize)
    if data.test is not None:
        raise SystemExit("this tuning script needs a source without official splits (digits, folder)")
    splits = make_splits(data, val_per_class=cfg.val_per_class,
                         test_size=int(cfg.test_size) if cfg.test_size >= 1 else cfg.test_size,
                         train_fraction=cfg.train_fraction, train_cap=cfg.train_cap,
                         seed=params.base.seed)
    return splits.train, splits.val, *splits.unused.tensors()


def main() -> None:
    """Print the accuracy-versus-time table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run")
    args = parser.parse_args()
    params = load_params(args.params)
    tc = params.train_classifier
    seeds = args.seeds or list(tc.seeds)
    precision = resolve_precision(params.base.precision, "cpu")
    train, val, hx, hy = held_out(params)
    (tx, ty), (vx, vy) = train.tensors(), val.tensors()
    y = one_hot(ty, train.num_classes)
    base = Schedule(**{**tc.schedule.model_dump(), "lr_schedule": "constant", "warmup_epochs": 0,
                       "patience": None, "epochs": 60, "lr": 1e-3, "batch_size": 32})
    print(f"train {len(train)}, val {len(val)}, held-out {len(hx)} images; seeds {seeds}; "
          f"precision {precision}; {torch.get_num_threads()} threads")
    print("| schedule | seconds | epochs | held-out acc | held-out loss | "
          "baseline acc | traditional acc |")
    print("|---|---|---|---|---|---|---|")
    for name, change in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        schedule = Schedule(**{**base.model_dump(), **change})
        accs, losses, per, seconds, epochs = [], [], {}, 0.0, 0
        for recipe in ("baseline", "traditional"):
            transform = TraditionalAugment(**tc.traditional.model_dump()) if recipe == "traditional" else None
            models = []
            for s in seeds:
                torch.manual_seed(s)
                models.append(build_classifier(train.channels, train.num_classes, tc.net,
                                                train.image_size))
            t0 = time.perf_counter()
            fits = fit_classifiers(models, [torch.Generator().manual_seed(s) for s in seeds], tx, y,
                                   vx, vy, schedule, precision=precision, transform=transform)
            seconds += time.perf_counter() - t0
            epochs += sum(f.stopped_epoch for f in fits)
            for model in models:
                probs = predict_proba(model, hx)
                accs.append((probs.argmax(1) == hy).float().mean().item())
                losses.append(F.nll_loss(probs.clamp_min(1e-12).log(), hy).item())
            per[recipe] = np.mean(accs[-len(seeds):])
        print(f"| {name} | {seconds:.1f} | {epochs / (2 * len(seeds)):.0f} | {np.mean(accs):.4f} | "
              f"{np.mean(losses):.4f} | {per['baseline']:.4f} | {per['traditional']:.4f} |",
              flush=True)


if __name__ == "__main__":
    main()
