"""Classification metrics (accuracy, AUC, sensitivity, specificity, macro-F1) and seed summaries."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

from .core.errors import ConfigError, DataError

log = logging.getLogger(__name__)

METRICS = ("accuracy", "auc", "sensitivity", "specificity", "f1_macro")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Return the (C, C) count matrix, rows = true class, columns = predicted class."""
    t, p = np.asarray(y_true, np.int64).ravel(), np.asarray(y_pred, np.int64).ravel()
    if t.shape != p.shape:
        raise DataError(f"y_true has {t.size} labels but y_pred {p.size}")
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise DataError(
                f"{name} labels must lie in [0, {num_classes}), got {arr.min()}..{arr.max()}"
            )
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Return num/den elementwise with NaN where den is 0."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, positive_class: int | None = None
) -> dict[str, float]:
    """Return accuracy, auc, sensitivity, specificity and f1_macro of (N, C) class probabilities.

    Multi-class: one-vs-rest macro AUC and macro-averaged per-class sensitivity/specificity.
    Binary (C == 2): ``positive_class`` (default 1) defines sensitivity, specificity and AUC.
    Per-class ratios with an empty denominator (a class absent from y_true, or for F1 absent from
    both y_true and predictions) are left out of the macro averages; AUC is NaN then, with a warning.
    """
    y = np.asarray(y_true).ravel()
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != y.size or y.size == 0:
        raise DataError(f"need (N,) labels and (N, C) probabilities, got {y.shape} and {p.shape}")
    n_cls = p.shape[1]
    if positive_class is not None and not 0 <= positive_class < n_cls:
        raise ConfigError(f"positive_class must be in [0, {n_cls}), got {positive_class}")
    if positive_class is not None and n_cls != 2:
        log.warning(
            "positive_class=%s ignored: %d classes (macro averages are used)", positive_class, n_cls
        )
    cm = confusion_matrix(y, p.argmax(axis=1), n_cls)
    tp = np.diag(cm)
    fn, fp = cm.sum(axis=1) - tp, cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    sens, spec = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    absent = [c for c in range(n_cls) if tp[c] + fn[c] == 0]
    auc = float("nan")
    if n_cls == 2:
        pos = 1 if positive_class is None else positive_class
        sensitivity, specificity = sens[pos], spec[pos]
        if not absent:
            auc = roc_auc_score(y == pos, p[:, pos])
    else:
        sensitivity, specificity = np.nanmean(sens), np.nanmean(spec)
        if not absent:
            auc = roc_auc_score(
                y,
                p / p.sum(axis=1, keepdims=True),
                multi_class="ovr",
                average="macro",
                labels=list(range(n_cls)),
            )
    if absent:
        log.warning("class(es) %s absent from y_true: AUC undefined (NaN)", absent)
    return {
        "accuracy": float(tp.sum() / y.size),
        "auc": float(auc),
        "sensitivity": float(sensitivity),
        "specificity": float(specificity),
        "f1_macro": float(np.nanmean(f1)),
    }


def _paired(diffs: np.ndarray) -> tuple[float, float, float]:
    """Return (mean, lo, hi) of a 95% t-interval of paired differences (NaN bounds when n < 2)."""
    n = diffs.size
    mean = float(diffs.mean())
    if n < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * diffs.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half


def summarize(
    per_seed: Mapping[str, Mapping[int, Mapping[str, float]]], baseline: str = "baseline"
) -> dict[str, dict[str, float]]:
    """Return per method and metric mean, std (ddof=1) and paired 95% t-interval diff to ``baseline``.

    Keys: ``{m}_mean``, ``{m}_std`` (0.0 with one seed), ``n_seeds``; when the baseline shares
    seeds also ``{m}_diff``, ``{m}_diff_lo``, ``{m}_diff_hi`` over the common seeds and ``n_paired``.
    """
    base = per_seed.get(baseline)
    out: dict[str, dict[str, float]] = {}
    for method, runs in per_seed.items():
        if not runs:
            raise DataError(f"method {method!r} has no seed results")
        seeds = sorted(runs)
        metrics = sorted({k for r in runs.values() for k in r})
        row: dict[str, float] = {"n_seeds": float(len(seeds))}
        common = [s for s in seeds if base is not None and s in base]
        for m in metrics:
            vals = np.array([runs[s].get(m, np.nan) for s in seeds], dtype=np.float64)
            row[f"{m}_mean"] = float(vals.mean())
            row[f"{m}_std"] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
            if not common:
                continue
            if method == baseline:
                row[f"{m}_diff"], row[f"{m}_diff_lo"], row[f"{m}_diff_hi"] = 0.0, 0.0, 0.0
            else:
                diffs = np.array([runs[s].get(m, np.nan) - base[s].get(m, np.nan) for s in common])
                row[f"{m}_diff"], row[f"{m}_diff_lo"], row[f"{m}_diff_hi"] = _paired(diffs)
        if common:
            row["n_paired"] = float(len(common))
        out[method] = row
    if base is None:
        log.warning(
            "baseline %r not among methods %s: no paired differences", baseline, sorted(per_seed)
        )
    return out


def roc_points(y_true: np.ndarray, probs: np.ndarray, positive_class: int | None = None,
               max_points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve (fpr, tpr): of the positive class for two classes, else micro-averaged OvR.

    Thinned to at most ``max_points`` points (always keeping both ends) for plotting.
    """
    from sklearn.metrics import roc_curve

    n_classes = probs.shape[1]
    if n_classes == 2:
        pos = 1 if positive_class is None else positive_class
        fpr, tpr, _ = roc_curve(y_true == pos, probs[:, pos])
    else:
        onehot = np.eye(n_classes, dtype=bool)[y_true]
        fpr, tpr, _ = roc_curve(onehot.ravel(), probs.ravel())
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr, tpr
