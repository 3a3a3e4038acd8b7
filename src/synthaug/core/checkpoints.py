"""Checkpoint files: atomic saves and ``epoch_NNN.pt`` naming."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from .errors import DataError
from .io import atomic_path

_EPOCH = re.compile(r"^epoch_(\d+)\.pt$")


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary name, renamed into place when complete.

    It writes through a file object: given a path, torch names the archive's top folder
    after the (random) temporary name, so equal checkpoints would differ byte for byte.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def checkpoint_epoch(path: str | Path) -> int:
    """The epoch encoded in a checkpoint name (``epoch_015.pt`` -> 15)."""
    m = _EPOCH.match(Path(path).name)
    if m is None:
        raise ValueError(f"{path}: not a checkpoint name (epoch_NNN.pt)")
    return int(m.group(1))


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint files in ``folder`` sorted by epoch."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _EPOCH.match(p.name)), key=checkpoint_epoch)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict on the CPU, with an error naming a missing or broken file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: checkpoint not found (run the stage that writes it first)")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # truncated or foreign file
        raise DataError(f"{path}: cannot be read as a checkpoint ({exc})") from exc
