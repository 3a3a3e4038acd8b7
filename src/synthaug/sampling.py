"""Sampling from generator checkpoints: seeded images, per-class budgets and synthetic pools.

Sampling is seeded per purpose and per class (never from the global RNG), so a pool
is reproducible and the images of one class do not depend on the counts of another.
Generators run on batches of about :data:`PIXELS_PER_BATCH` pixels (512 images at 16 px
on a CPU, 8 at 128 px), so memory stays bounded at any image size; a pool is written
batch by batch into one preallocated array (no concatenated copies).
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


PIXELS_PER_BATCH = {"cpu": 2**17, "cuda": 2**20}  # image pixels per generator call


def sample_batch_size(image_size: int, device: torch.device | str = "cpu") -> int:
    """Images per generator call at ``image_size``: about PIXELS_PER_BATCH pixels, 8 to 512.

    The widest activations of the generators scale with the image's area (channel
    schedules keep channels x area about constant per layer), so a fixed pixel budget
    bounds their memory: about 8 MiB per 128-px image in the cGAN's last layers.
    """
    budget = PIXELS_PER_BATCH.get(torch.device(device).type, PIXELS_PER_BATCH["cpu"])
    return int(min(512, max(8, budget // image_size**2)))


@torch.no_grad()
def sample_images(model: nn.Module, y: Tensor, seed: int, batch_size: int | None = None,
                  device: torch.device | str = "cpu", out: np.ndarray | None = None) -> Tensor:
    """Images for label vectors ``y`` (N, C) with one seeded generator, on the CPU.

    ``batch_size`` None picks :func:`sample_batch_size`. With ``out`` (a float32 array of
    N images) the batches are written into it and a tensor sharing its memory is returned.
    """
    g = torch.Generator().manual_seed(seed)
    size = model.config["image_size"]
    batch_size = batch_size or sample_batch_size(size, device)
    if out is None:
        out = np.empty((len(y), model.config["channels"], size, size), np.float32)
    for i in range(0, len(y), batch_size):
        batch = model.sample(y[i:i + batch_size].to(device, non_blocking=True), g)
        out[i:i + len(batch)] = batch.float().cpu().numpy()
    return torch.from_numpy(out)


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
    counts = [int(4 * b) for b in budget[:num_classes]]
    size, channels = model.config["image_size"], model.config["channels"]
    images = np.empty((sum(counts), channels, size, size), np.float32)
    targets, classes, bad, start = [], [], [], 0
    for c, n in enumerate(counts):
        cls = torch.full((n,), c, dtype=torch.long)
        if labels == "gemix":
            g = torch.Generator().manual_seed(class_seed(seed, 2, c))
            y, _ = gemix_labels(cls, num_classes, generator=g, **(gemix or {}))
        else:
            y = one_hot(cls, num_classes)
        block = images[start:start + n]
        sample_images(model, y, class_seed(seed, 1, c), device=device, out=block)
        bad += [c] * int((~np.isfinite(block.reshape(n, -1)).all(1)).sum())
        targets.append(y)
        classes.append(cls)
        start += n
    if bad:
        raise TrainingError(
            f"the generator produced {len(bad)} non-finite image(s), the first of class "
            f"{bad[0]}; choose another checkpoint or retrain the generator")
    return {
        "images": images,
        "targets": torch.cat(targets).numpy().astype(np.float32),
        "classes": torch.cat(classes).numpy().astype(np.int64),
        "budget": np.asarray(budget, dtype=np.int64),
    }
