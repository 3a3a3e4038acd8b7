"""Stratified splits and the limited-data regime (training fraction and per-class caps).

All index helpers are deterministic for a seed and return sorted int64 indices. Within a
class, images are taken in the order of one seeded permutation, so for a fixed seed a
smaller fraction or cap keeps a subset of what a larger one keeps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ..core.errors import ConfigError, DataError
from .dataset import SplitData, validate_dataset

log = logging.getLogger(__name__)

def _sub_seed(seed: int, stream: int) -> int:
    """Independent integer seed for one random stream of ``seed``."""
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1)[0])


def _class_name(c: int, class_names: Sequence[str] | None) -> str:
    return str(class_names[c]) if class_names is not None and c < len(class_names) else str(c)


def _is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _permuted_by_class(labels: np.ndarray, num_classes: int, seed: int) -> list[np.ndarray]:
    """Indices of every class 0..num_classes-1, each in a seeded random order."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]


def _as_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}"
        )
    if labels.size and labels.min() < 0:
        raise DataError(f"labels must be non-negative, got {labels.min()}")
    return labels.astype(np.int64)


def _split_result(by_class: list[np.ndarray], take: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    taken = [idx[:k] for idx, k in zip(by_class, take, strict=True)]
    rest = [idx[k:] for idx, k in zip(by_class, take, strict=True)]
    return _sorted_concat(rest), _sorted_concat(taken)


def _sorted_concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.sort(np.concatenate([*parts, np.zeros(0, np.int64)])).astype(np.int64)


def stratified_split(
    labels: np.ndarray, n_or_fraction: int | float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Take a stratified sample of ``n`` images (int) or a fraction (float in (0, 1)); return (rest, taken)."""
    labels = _as_labels(labels)
    total = len(labels)
    if _is_int(n_or_fraction):
        n = int(n_or_fraction)
    elif isinstance(n_or_fraction, (float, np.floating)) and 0.0 < n_or_fraction < 1.0:
        n = max(1, round(float(n_or_fraction) * total))
    else:
        raise ConfigError(
            f"split size must be an int count or a fraction in (0, 1), got {n_or_fraction!r}"
        )
    counts = np.bincount(labels, minlength=1) if total else np.zeros(1, np.int64)
    present = counts > 0
    cap = np.maximum(counts - 1, 0)  # leave at least one image of every class in the rest
    if not 1 <= n <= cap.sum():
        raise DataError(
            f"cannot take a stratified sample of {n} from {total} images: it must be between 1 and "
            f"{int(cap.sum())} (every class keeps at least one image)"
        )
    quota = n * counts / total
    take = np.minimum(np.floor(quota).astype(np.int64), cap)
    if n >= present.sum():  # room for every class: give each at least one
        take = np.maximum(take, np.minimum(1, cap))
    while take.sum() > n:  # only after the minimum-one rule: drop from the most over-served class
        over = np.where(take > 1, take - quota, -np.inf)
        take[int(np.argmax(over))] -= 1
    while take.sum() < n:  # largest remainder first
        under = np.where(take < cap, quota - take, -np.inf)
        take[int(np.argmax(under))] += 1
    return _split_result(_permuted_by_class(labels, len(counts), seed), take.tolist())


def take_per_class(
    labels: np.ndarray,
    per_class: int,
    seed: int,
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Take exactly ``per_class`` images of every class; return (rest, taken)."""
    labels = _as_labels(labels)
    if not _is_int(per_class) or per_class < 1:
        raise ConfigError(f"per-class count must be a positive integer, got {per_class!r}")
    k = num_classes if num_classes is not None else (int(labels.max()) + 1 if labels.size else 0)
    counts = np.bincount(labels, minlength=k)
    for c in range(k):
        if counts[c] < per_class:
            raise DataError(
                f"class '{_class_name(c, class_names)}' has {counts[c]} image(s); "
                f"{per_class} are needed to take {per_class} per class"
            )
    return _split_result(_permuted_by_class(labels, k, seed), [int(per_class)] * k)


def limit_training(
    labels: np.ndarray,
    fraction: float = 1.0,
    cap: int | Sequence[int] | None = None,
    seed: int = 0,
    *,
    num_classes: int | None = None,
) -> np.ndarray:
    """Sorted indices kept: per class round(fraction * n_c) (at least 1), then at most ``cap`` (int or one per class)."""
    labels = _as_labels(labels)
    k = num_classes if num_classes is not None else (int(labels.max()) + 1 if labels.size else 0)
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float, np.number))
        or not 0 < fraction <= 1
    ):
        raise ConfigError(f"prepare_data.train_fraction must be in (0, 1], got {fraction!r}")
    if cap is None:
        caps = [None] * k
    elif _is_int(cap):
        caps = [int(cap)] * k
    elif isinstance(cap, Sequence) and not isinstance(cap, str):
        if len(cap) != k:
            raise ConfigError(
                f"prepare_data.train_cap: a list needs one cap per class ({k} classes), got {len(cap)} values"
            )
        caps = list(cap)
    else:
        raise ConfigError(
            f"prepare_data.train_cap must be null, an int or a list of ints, got {cap!r}"
        )
    for c in caps:
        if c is not None and (not _is_int(c) or c < 1):
            raise ConfigError(f"prepare_data.train_cap: caps must be positive integers, got {c!r}")
    by_class = _permuted_by_class(labels, k, seed)
    take = []
    for idx, c in zip(by_class, caps, strict=True):
        n = max(1, round(fraction * len(idx))) if len(idx) else 0
        take.append(n if c is None else min(n, int(c)))
    return _split_result(by_class, take)[1]


def _check_counts(split: SplitData, min_train_per_class: int) -> None:
    """Every class needs >= min_train_per_class training and >= 1 val and test image."""
    names = split.train.class_names
    need = {
        "training": (split.train, min_train_per_class),
        "validation": (split.val, 1),
        "test": (split.test, 1),
    }
    for what, (ds, minimum) in need.items():
        counts = ds.class_counts()
        for c, n in enumerate(counts):
            if n < minimum:
                raise DataError(
                    f"class '{names[c]}' has {n} {what} image{'' if n == 1 else 's'}; at least {minimum} "
                    f"{'is' if minimum == 1 else 'are'} needed (class sizes: train {split.train.class_counts().tolist()}"
                    f", val {split.val.class_counts().tolist()}, test {split.test.class_counts().tolist()}); "
                    "add images or lower prepare_data.val_per_class / prepare_data.test_size, "
                    "or raise prepare_data.train_fraction / prepare_data.train_cap"
                )


def make_splits(
    data: SplitData,
    *,
    val_per_class: int,
    test_size: int | float,
    train_fraction: float,
    train_cap: int | Sequence[int] | None,
    seed: int,
    min_train_per_class: int = 2,
) -> SplitData:
    """Carve missing test (first, from all images) and val splits, then limit the training split."""
    if not _is_int(val_per_class) or val_per_class < 1:
        raise ConfigError(
            f"prepare_data.val_per_class must be a positive integer, got {val_per_class!r}"
        )
    if not (
        (_is_int(test_size) and test_size >= 1)
        or (isinstance(test_size, (float, np.floating)) and 0 < test_size < 1)
    ):
        raise ConfigError(
            f"prepare_data.test_size must be a positive int count or a fraction in (0, 1), got {test_size!r}"
        )
    if not _is_int(min_train_per_class) or min_train_per_class < 1:
        raise ConfigError(
            f"min_train_per_class must be a positive integer, got {min_train_per_class!r}"
        )
    names = list(data.train.class_names)
    k = len(names)
    pool, val, test = data.train, data.val, data.test
    if test is None:
        try:
            rest, taken = stratified_split(pool.labels, test_size, _sub_seed(seed, 0))
        except DataError as exc:
            raise DataError(f"test split (prepare_data.test_size = {test_size!r}): {exc}") from exc
        pool, test = pool.subset(rest), pool.subset(taken)
    if val is None:
        try:
            rest, taken = take_per_class(
                pool.labels, val_per_class, _sub_seed(seed, 1), num_classes=k, class_names=names
            )
        except DataError as exc:
            raise DataError(
                f"validation split (prepare_data.val_per_class = {val_per_class}): {exc}"
            ) from exc
        pool, val = pool.subset(rest), pool.subset(taken)
    kept = limit_training(pool.labels, train_fraction, train_cap, _sub_seed(seed, 2), num_classes=k)
    train = pool.subset(kept)
    out = SplitData(train, val, test, unused=pool.subset(np.setdiff1d(np.arange(len(pool)), kept)))
    for split in ("train", "val", "test"):
        ds = getattr(out, split)
        if ds.class_names != names:
            raise DataError(f"{split} split has class names {ds.class_names}, expected {names}")
        validate_dataset(ds, f"{split} split")
    _check_counts(out, min_train_per_class)
    log.info(
        "splits: train %s, val %s, test %s images per class",
        train.class_counts().tolist(),
        val.class_counts().tolist(),
        test.class_counts().tolist(),
    )
    return out


def class_count_table(data: SplitData) -> list[dict]:
    """One row per class: {class, name, train, val, test} image counts (0 for a missing split)."""
    names = data.train.class_names
    counts = {
        s: (ds.class_counts() if ds is not None else np.zeros(len(names), np.int64))
        for s, ds in (("train", data.train), ("val", data.val), ("test", data.test))
    }
    return [
        {"class": c, "name": name, **{s: int(counts[s][c]) for s in counts}}
        for c, name in enumerate(names)
    ]
