"""Per-epoch training curves in dvclive's file layout, so `dvc plots show` draws them.

``<folder>/plots/metrics/<name>.tsv`` with a ``step`` column (0-based epoch index) and
one value column: the files dvclive writes, without importing dvclive (its start-up
cost about 0.5 s per stage process). The files are rewritten atomically at most every
``flush_seconds`` while training runs and once at the end, so a live `dvc plots show`
sees progress and an interrupted run never leaves a half-written row.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..core.io import write_text

EpochCallback = Callable[[Mapping[str, Any]], None]
SKIPPED = ("epoch", "seconds")


@contextlib.contextmanager
def epoch_logger(folder: str | Path, flush_seconds: float = 5.0) -> Iterator[EpochCallback]:
    """Yield a callback that records every numeric field of a row (except epoch) as one step."""
    curves: dict[str, list[float]] = {}
    last_flush = time.monotonic()

    def flush() -> None:
        for name, values in curves.items():
            rows = "".join(f"{step}\t{v!r}\n" for step, v in enumerate(values))
            write_text(Path(folder, "plots", "metrics", f"{name}.tsv"), f"step\t{name}\n{rows}")

    def on_epoch(row: Mapping[str, Any]) -> None:
        nonlocal last_flush
        for key, value in row.items():
            if key not in SKIPPED and isinstance(value, int | float):
                curves.setdefault(key, []).append(float(value))
        if time.monotonic() - last_flush > flush_seconds:
            flush()
            last_flush = time.monotonic()

    try:
        yield on_epoch
    finally:
        flush()
