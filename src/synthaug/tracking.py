"""Live per-epoch logs with dvclive, so `dvc plots show` draws training curves.

Each training loop reports a row per epoch through a callback; this module turns
the rows into dvclive steps. dvclive is told not to edit dvc.yaml and not to make
experiments of its own: the pipeline's dvc.yaml declares the log folders.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EpochCallback = Callable[[Mapping[str, Any]], None]


@contextlib.contextmanager
def epoch_logger(folder: str | Path, prefix: str = "") -> Iterator[EpochCallback]:
    """Yield a callback that logs every numeric field of a row (except epoch) as one step."""
    from dvclive import Live

    with Live(dir=str(folder), save_dvc_exp=False, dvcyaml=False, report=None) as live:

        def on_epoch(row: Mapping[str, Any]) -> None:
            for key, value in row.items():
                if key in ("epoch", "seconds") or not isinstance(value, (int, float)):
                    continue
                live.log_metric(f"{prefix}{key}", float(value), plot=True)
            live.next_step()

        yield on_epoch
