"""Classification metrics (accuracy, AUC, sensitivity, specificity, macro-F1) and seed summaries."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

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


def paired_test(diffs: np.ndarray) -> tuple[float, float, float, float]:
    """Return (mean, lo, hi, p): 95% t-interval and two-sided paired t-test p of the differences.

    n < 2 gives NaN bounds and p (and no differences a NaN mean). Identical differences (sd 0) give p = 1 when they are all 0,
    else p = 0 (the t statistic is infinite), and a zero-width interval.
    """
    diffs = np.asarray(diffs, dtype=np.float64)
    n = diffs.size
    mean = float(diffs.mean()) if n else float("nan")
    if n < 2 or not np.isfinite(diffs).all():
        return mean, float("nan"), float("nan"), float("nan")
    sd = float(diffs.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n))
    if sd == 0.0:
        p = 1.0 if mean == 0.0 else 0.0
    else:
        p = float(2.0 * stats.t.sf(abs(mean) / (sd / np.sqrt(n)), n - 1))
    return mean, mean - half, mean + half, p


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1); NaN entries stay NaN, uncounted."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def comparison_pairs(methods: Sequence[str], baseline: str,
                     extra: Sequence[Sequence[str]] = ()) -> list[tuple[str, str]]:
    """Every method against ``baseline`` (in ``methods`` order), then the ``extra`` [A, B] pairs."""
    pairs = [(m, baseline) for m in methods if m != baseline] if baseline in methods else []
    return pairs + [(a, b) for a, b in extra]  # params reject repeats and pairs with the baseline


def compare(per_seed: Mapping[str, Mapping[int, Mapping[str, float]]],
            pairs: Sequence[tuple[str, str]], metrics: Sequence[str] = METRICS,
            ) -> dict[str, dict[str, Any]]:
    """Paired tests of A - B over the seeds both share, Holm-adjusted per metric across ``pairs``.

    Returns ``{"A_vs_B": {"a", "b", "n_paired", "{m}_diff", "{m}_diff_lo", "{m}_diff_hi",
    "{m}_p", "{m}_p_holm"}}`` in the order of ``pairs``.
    """
    out: dict[str, dict[str, Any]] = {}
    for a, b in pairs:
        for name in (a, b):
            if name not in per_seed:
                raise ConfigError(f"comparison {a} vs {b}: no results of method '{name}' "
                                  f"(methods: {sorted(per_seed)})")
        common = sorted(set(per_seed[a]) & set(per_seed[b]))
        row: dict[str, Any] = {"a": a, "b": b, "n_paired": len(common)}
        for m in metrics:
            diffs = np.array([per_seed[a][s].get(m, np.nan) - per_seed[b][s].get(m, np.nan)
                              for s in common])
            mean, lo, hi, p = paired_test(diffs)
            row |= {f"{m}_diff": mean, f"{m}_diff_lo": lo, f"{m}_diff_hi": hi, f"{m}_p": p}
        out[f"{a}_vs_{b}"] = row
    for m in metrics:
        adjusted = holm([row[f"{m}_p"] for row in out.values()])
        for row, q in zip(out.values(), adjusted, strict=True):
            row[f"{m}_p_holm"] = q
    return out


def summarize(
    per_seed: Mapping[str, Mapping[int, Mapping[str, float]]], baseline: str = "baseline",
    comparisons: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, float]]:
    """Return per method and metric mean, std (ddof=1) and paired 95% t-interval diff to ``baseline``.

    Keys: ``{m}_mean``, ``{m}_std`` (0.0 with one seed), ``n_seeds``; when the baseline shares
    seeds also ``{m}_diff``, ``{m}_diff_lo``, ``{m}_diff_hi`` over the common seeds and ``n_paired``.
    With ``comparisons`` (from :func:`compare`) also ``{m}_p`` and ``{m}_p_holm`` of the
    comparison with the baseline (the baseline's own row: p = 1).
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
        test = (comparisons or {}).get(f"{method}_vs_{baseline}", {})
        pvalues: dict[str, float] = {}  # listed after n_paired
        for m in metrics:
            vals = np.array([runs[s].get(m, np.nan) for s in seeds], dtype=np.float64)
            row[f"{m}_mean"] = float(vals.mean())
            row[f"{m}_std"] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
            if not common:
                continue
            diff, p = [f"{m}_diff", f"{m}_diff_lo", f"{m}_diff_hi"], [f"{m}_p", f"{m}_p_holm"]
            if method == baseline:
                row |= dict.fromkeys(diff, 0.0)
                pvalues |= dict.fromkeys(p, 1.0) if comparisons is not None else {}
            elif f"{m}_p" in test:  # compare() ran the same paired test over the same seeds
                row |= {k: test[k] for k in diff}
                pvalues |= {k: test[k] for k in p}
            else:
                diffs = np.array([runs[s].get(m, np.nan) - base[s].get(m, np.nan) for s in common])
                row |= dict(zip(diff, paired_test(diffs)[:3], strict=True))
        if common:
            row["n_paired"] = float(len(common))
            row |= pvalues
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


def headline(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each method's mean test accuracy and AUC and their paired difference to the baseline.

    ``metrics/evaluate/headline.json``: the few numbers a person compares first, with the
    key names of the full summary (``metrics/evaluate.json``), small enough for a terminal.
    """
    keys = ("accuracy_mean", "accuracy_diff", "auc_mean", "auc_diff")
    return {method: {k: row.get(k) for k in keys} for method, row in summary.items()}
