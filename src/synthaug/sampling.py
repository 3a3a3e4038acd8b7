"""Sampling from generator checkpoints: seeded images, per-class budgets and synthetic pools.

Sampling is seeded per purpose and per class (never from the global RNG), so a pool
is reproducible and the images of one class do not depend on the counts of another.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .augment import gemix_labels, one_hot
from .core.checkpoints import load_checkpoint
from .core.errors import TrainingError
from .models.generators import build_generator

log = logging.getLogger(__name__)


def load_generator(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a sampling generator from a self-describing checkpoint (eval mode)."""
    ckpt = load_checkpoint(path)
    model = build_generator(ckpt["kind"], **ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt


def class_seed(seed: int, purpose: int, cls: int) -> int:
    """A distinct, reproducible seed for (run seed, purpose, class)."""
    return (seed * 1_000_003 + purpose * 10_007 + cls) % 2**63


@torch.no_grad()
def sample_images(model: nn.Module, y: Tensor, seed: int, batch_size: int = 512,
                  device: torch.device | str = "cpu") -> Tensor:
    """Images for label vectors ``y`` (N, C) with one seeded generator, on the CPU."""
    g = torch.Generator().manual_seed(seed)
    out = [model.sample(y[i:i + batch_size].to(device), g).float().cpu()
           for i in range(0, len(y), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def fid_labels(train_labels: np.ndarray, num_classes: int, n: int, seed: int) -> Tensor:
    """``n`` one-hot labels drawn from the training label distribution (fixed per seed)."""
    freq = np.bincount(train_labels, minlength=num_classes) / len(train_labels)
    rng = np.random.default_rng(seed)
    return one_hot(torch.from_numpy(rng.choice(num_classes, size=n, p=freq)), num_classes)


def generate_pool(
    model: nn.Module,
    budget: np.ndarray,
    num_classes: int,
    seed: int,
    labels: str = "onehot",
    gemix: dict[str, float] | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, np.ndarray]:
    """4 * budget[c] candidates for every class c from a per-class seeded generator.

    ``budget`` comes from :func:`synthaug.budgets.budget_per_class` (proportional or balanced).

    ``labels='onehot'`` conditions on class c; ``labels='gemix'`` conditions on a
    GeMix soft label whose major class is c (the soft label is the training target).
    Returns arrays images (N, C, H, W), targets (N, classes), classes (N,), budget.
    """
    images, targets, classes = [], [], []
    for c in range(num_classes):
        n = int(4 * budget[c])
        cls = torch.full((n,), c, dtype=torch.long)
        if labels == "gemix":
            g = torch.Generator().manual_seed(class_seed(seed, 2, c))
            y, _ = gemix_labels(cls, num_classes, generator=g, **(gemix or {}))
        else:
            y = one_hot(cls, num_classes)
        images.append(sample_images(model, y, class_seed(seed, 1, c), device=device))
        targets.append(y)
        classes.append(cls)
    pool = {
        "images": torch.cat(images).numpy().astype(np.float32),
        "targets": torch.cat(targets).numpy().astype(np.float32),
        "classes": torch.cat(classes).numpy().astype(np.int64),
        "budget": np.asarray(budget, dtype=np.int64),
    }
    bad = np.flatnonzero(~np.isfinite(pool["images"]).reshape(len(pool["images"]), -1).all(1))
    if bad.size:
        raise TrainingError(
            f"the generator produced {bad.size} non-finite image(s), the first of class "
            f"{int(pool['classes'][bad[0]])}; choose another checkpoint or retrain the generator")
    return pool
