"""Progress bars on a terminal, silence in CI logs and pipes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def show_progress() -> bool:
    """True when stderr is a terminal and neither CI nor SYNTHAUG_NO_PROGRESS is set."""
    if os.environ.get("CI") or os.environ.get("SYNTHAUG_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


def progress(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Wrap a loop in a tqdm bar when :func:`show_progress` allows it."""
    if not show_progress():
        yield from iterable
        return
    yield from tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)
