"""Atomic file output and small array/JSON helpers.

Every file the pipeline writes goes through :func:`atomic_path`: the content is
written to a temporary name in the same folder and renamed into place only when
complete, so an interrupted stage never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import math
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

TMP_TAG = ".tmp"  # every temporary name is ".<target name>.<random><TMP_TAG>[<suffix>]"


def temp_files(folder: str | os.PathLike, name: str = "*") -> list[Path]:
    """Temporary files left in ``folder`` by writes to ``name`` (all targets by default)."""
    pattern = f".{glob.escape(name) if name != '*' else '*'}.*{TMP_TAG}*"
    return sorted(Path(folder).glob(pattern))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name is hidden (dot-prefixed) and tagged ``.tmp``. Leftovers of an
    earlier write to the same target that was killed midway (SIGKILL skips the clean-up
    below) are removed first, so a rerun never accumulates them. The file is created
    with the usual permissions (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in temp_files(path.parent, path.name):
        stale.unlink(missing_ok=True)
    while True:
        tmp_path = path.parent / (f".{path.name}.{secrets.token_hex(4)}"
                                  f"{suffix or path.suffix + TMP_TAG}")
        try:
            os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _json_safe(value: Any) -> Any:
    """Turn numpy scalars/arrays into plain Python; non-finite floats become None."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON atomically (NaN/inf are written as null)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON file, with an error that names it when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (run the stage that writes it first)")
    return json.loads(path.read_text())


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write rows (dicts) as CSV with the given column order, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _format_cell(row.get(c)) for c in columns})


def _format_cell(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return f"{value:.6g}" if math.isfinite(value) else "nan"
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Read a CSV written by :func:`write_csv` into a list of string dicts."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save named arrays to an ``.npz`` file atomically (uncompressed, fast to load)."""
    with atomic_path(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, **arrays)


def load_arrays(path: str | os.PathLike, keys: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Load an ``.npz`` into a dict; an error names the file and any missing key."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in keys if k not in data.files]
        if missing:
            raise DataError(
                f"{path}: missing key(s) {missing}; the file has {sorted(data.files)}"
            )
        return {k: data[k] for k in data.files}
