"""Markdown tables and the report document, generated from metrics files only."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .core import paths
from .metrics import METRICS

log = logging.getLogger(__name__)

LABELS = {"accuracy": "Accuracy", "auc": "AUC", "sensitivity": "Sensitivity",
          "specificity": "Specificity", "f1_macro": "Macro-F1"}


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def format_diff(row: Mapping[str, Any], metric: str) -> str:
    """'+0.012 [-0.004, +0.028]': paired difference to the baseline with its 95% interval."""
    diff = row.get(f"{metric}_diff")
    if diff is None:
        return "n/a"
    lo, hi = row.get(f"{metric}_diff_lo"), row.get(f"{metric}_diff_hi")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{diff:+.3f}"
    return f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _md_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, head)) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def results_table(summary: Mapping[str, Mapping[str, Any]], baseline: str, n_test: int,
                  seeds: Sequence[int], metrics: Sequence[str] = METRICS, split: bool = False) -> str:
    """Markdown table: mean ± std per method and metric, and the paired difference to baseline.

    The best mean of each metric column is marked in bold. ``split`` puts the paired
    differences in a second table (narrower, easier to read).
    """
    best = {m: max((r.get(f"{m}_mean") for r in summary.values()
                    if r.get(f"{m}_mean") is not None), default=None) for m in metrics}
    labels = [LABELS.get(m, m) for m in metrics]
    means, diffs = [], []
    for method, row in summary.items():
        cells = [f"`{method}`", str(row.get("n_synthetic", 0))]
        for m in metrics:
            mean, std = row.get(f"{m}_mean"), row.get(f"{m}_std")
            cell = f"{_num(mean)} ± {_num(std)}"
            if mean is not None and best[m] is not None and math.isclose(mean, best[m]):
                cell = f"**{cell}**"
            cells.append(cell)
        means.append(cells)
        diffs.append([format_diff(row, m) for m in metrics])
    caption = (f"Test split: {n_test} images; seeds: {', '.join(map(str, seeds))}. "
               f"Mean ± std over seeds; Δ = mean paired difference to `{baseline}` over the same "
               "seeds with a 95% t-interval. Best mean per column in bold.\n\n")
    if not split:
        head = ["Method", "Synthetic", *labels, *[f"Δ {lb} vs {baseline} [95% CI]" for lb in labels]]
        return caption + _md_table(head, [m + d for m, d in zip(means, diffs, strict=True)])
    return (caption + _md_table(["Method", "Synthetic", *labels], means)
            + f"\nPaired difference to `{baseline}` (Δ [95% CI]):\n\n"
            + _md_table(["Method", *[f"Δ {lb}" for lb in labels]],
                        [[m[0], *d] for m, d in zip(means, diffs, strict=True)]))


# --------------------------------------------------------------------------- comparisons and verdict


def _p(value: Any) -> str:
    text = _num(value)
    return "< 0.001" if text != "n/a" and value < 0.001 else text


def _p_phrase(value: Any) -> str:
    """'p = 0.012' or 'p < 0.001'."""
    text = _p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _significant(row: Mapping[str, Any], metric: str, alpha: float) -> int:
    """+1 if A beat B after adjustment, -1 if A did worse, 0 otherwise."""
    q, d = row.get(f"{metric}_p_holm"), row.get(f"{metric}_diff")
    if q is None or d is None or not (math.isfinite(q) and math.isfinite(d)) or q >= alpha:
        return 0
    return 1 if d > 0 else -1 if d < 0 else 0


def comparisons_table(comparisons: Mapping[str, Mapping[str, Any]], metric: str,
                      alpha: float) -> str:
    """Markdown table of every comparison of one metric: Δ [95% CI], p and Holm-adjusted p."""
    marks = {1: "better", -1: "worse", 0: ""}
    rows = [[f"`{r['a']}` vs `{r['b']}`", format_diff(r, metric), _p(r.get(f"{metric}_p")),
             _p(r.get(f"{metric}_p_holm")), marks[_significant(r, metric, alpha)]]
            for r in comparisons.values()]
    label = LABELS.get(metric, metric)
    return _md_table(["Comparison (A vs B)", f"Δ {label} (A − B) [95% CI]", "p",
                      "p (Holm)", f"at α = {alpha:g}"], rows)


def verdict(comparisons: Mapping[str, Mapping[str, Any]], baseline: str, metric: str,
            alpha: float, n_seeds: int) -> str:
    """A short verdict generated from the comparisons: per reference B, which A beat it and which
    did worse after Holm adjustment (``baseline`` first, then the others in order of appearance)."""
    label = LABELS.get(metric, metric).lower() if metric != "auc" else "AUC"
    refs = list(dict.fromkeys([baseline, *(r["b"] for r in comparisons.values())]))
    seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
    head = (f"**Verdict** ({label}; paired t-tests over {seeds}, Holm-adjusted across all "
            f"{len(comparisons)} comparisons, α = {alpha:g}):")
    lines = [head, ""]
    for ref in refs:
        rows = [r for r in comparisons.values() if r["b"] == ref]
        if not rows:
            continue
        better = [r for r in rows if _significant(r, metric, alpha) > 0]
        worse = [r for r in rows if _significant(r, metric, alpha) < 0]

        def names(group: list[Mapping[str, Any]]) -> str:
            return ", ".join(f"`{r['a']}` ({r[f'{metric}_diff']:+.3f}, adjusted "
                             f"{_p_phrase(r[f'{metric}_p_holm'])})" for r in group)
        text = (f"- Beat `{ref}`: {names(better)}" if better
                else f"- Beat `{ref}`: none of the {len(rows)} recipe(s) compared with it")
        if worse:
            text += f"; worse than `{ref}`: {names(worse)}"
        rest = len(rows) - len(better) - len(worse)
        if (better or worse) and rest:
            text += f"; no clear difference for the other {rest}"
        lines.append(text + ".")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the report document

def data_section(prepare: Mapping[str, Any]) -> str:
    """Data set summary and per-class counts from ``metrics/prepare_data.json``."""
    rows = [[f"`{name}`", c["train"], c["val"], c["test"]] for name, c in prepare["classes"].items()]
    rows.append(["**total**", prepare["train"], prepare["val"], prepare["test"]])
    return (f"Source `{prepare['source']}`: {prepare['num_classes']} classes, "
            f"{prepare['channels']} channel(s), {prepare['image_size']}x{prepare['image_size']} px.\n\n"
            + _md_table(["Class", "Train", "Val", "Test"], rows))


def checkpoint_section(checkpoints: Mapping[str, Mapping[str, Any]]) -> str:
    """Chosen generator checkpoint per kind from ``metrics/select_checkpoint/<kind>.json``."""
    rows = [[f"`{kind}`", s["chosen_epoch"], _num(s.get("fid"), 2), _num(s.get("fid_ema"), 2),
             s.get("alpha"), s.get("checkpoints"), s.get("nonfinite"), s.get("n_images")]
            for kind, s in checkpoints.items()]
    return ("FID in the extractor's feature space for every checkpoint, EMA-smoothed (paper eq. 2); "
            "the checkpoint with the lowest smoothed FID is used.\n\n"
            + _md_table(["Generator", "Chosen epoch", "FID", "FID (EMA)", "α", "Checkpoints",
                         "Non-finite", "Images per FID"], rows))


DIVERSITY = {"cov_mismatch": "Cov. mismatch", "cov_mismatch_pca": "Cov. mismatch (PCA)",
             "spread": "Spread", "precision": "Precision", "recall": "Recall"}


def filter_table(summary: Mapping[str, Any]) -> str:
    """Per filter: n, label agreement, mean entropy and distance, and the diversity measures."""
    rows = [[f"`{name}`", s["n"], _num(s.get("label_agreement")), _num(s.get("mean_entropy")),
             _num(s.get("mean_distance")), *[_num(s.get(k)) for k in DIVERSITY]]
            for name, s in summary.items() if isinstance(s, Mapping)]
    return _md_table(["Filter", "n", "Label agreement", "Mean entropy", "Mean distance",
                      *DIVERSITY.values()], rows)


DIVERSITY_NOTE = (
    "Diversity, per class against that class's real training images in the extractor's "
    "penultimate features, averaged over the classes: covariance mismatch = ‖cov(S) − cov(R)‖_F "
    "/ ‖cov(R)‖_F (0 = the real covariance; 1 = no spread), in all features and in the class PCA "
    "the covariance filters match in; spread = √(tr cov(S) / tr cov(R)) (1 = as spread out as "
    "the real images); precision / recall = share of the kept images inside the real images' "
    "k-NN manifold / share of the real images inside the kept images' (Kynkäänniemi et al. 2019, "
    "k = min({knn}, n − 1) per class). `all` keeps four times as many images, so its recall is "
    "not comparable with the filters'.")

AUDIT_COUNTS = {"kept_entropy": "Entropy stage", "kept": "Selective", "in_random": "Random",
                "in_entropy": "Entropy", "in_distance": "Distance",
                "in_distance_single": "Distance (single)", "in_covariance": "Covariance",
                "in_selective_covariance": "Selective covariance",
                "in_informative": "Informative"}


def audit_class_table(audit: Sequence[Mapping[str, str]], class_names: Sequence[str]) -> str:
    """Per class: candidates, those nearest their own centroid, and the kept count of each filter."""
    cols = [c for c in AUDIT_COUNTS if audit and c in audit[0]]
    rows, total = [], np.zeros(len(cols) + 2, dtype=np.int64)
    for c, name in enumerate(class_names):
        mine = [r for r in audit if int(r["class"]) == c]
        counts = [len(mine), sum(int(r["nearest"]) == c for r in mine)] + \
            [sum(r[k] == "True" for r in mine) for k in cols]
        total += counts
        rows.append([f"`{name}`", *counts])
    rows.append(["**total**", *total.tolist()])
    return _md_table(["Class", "Candidates", "Nearest own centroid",
                      *[AUDIT_COUNTS[k] for k in cols]], rows)


CAPTIONS = {
    "fid": ("FID per checkpoint, {0}",
            "Raw and EMA-smoothed FID of every checkpoint; the star marks the chosen one."),
    "real_vs_generated": ("Real vs generated, {0}",
                          "Per class: real training images (left) and images generated by the "
                          "chosen checkpoint (right)."),
    "kept_vs_rejected": ("Kept vs rejected, {0}",
                         "Per class, selective filter: kept candidates closest to the class "
                         "centroid first (left); rejected candidates, highest MC-dropout entropy "
                         "first (right)."),
    "kept_by_filter": ("Kept by each filter, {0}",
                       "Per class (rows): the first candidates each filter keeps (columns), in "
                       "pool order, so the filters can be compared side by side."),
    "tsne": ("t-SNE before/after selection, {0}",
             "One t-SNE of the extractor's penultimate features shared by all panels: real "
             "training images (o) with all candidates (x, first panel) and with the subset each "
             "filter keeps (x, other panels); colour = class (cf. paper figs. 5-6)."),
}


def _picture(key: str, path: Path, name: str) -> str:
    kind = key[: -len(name) - 1]
    alt, caption = CAPTIONS[kind]
    rel = Path(os.path.relpath(path, paths.REPORTS)).as_posix()
    return f"**{alt.format(name)}.** {caption}\n\n![{alt.format(name)}]({rel})"


def build_report_md(prepare: Mapping[str, Any], checkpoints: Mapping[str, Mapping[str, Any]],
                    filters: Mapping[str, Mapping[str, Any]],
                    audits: Mapping[str, Sequence[Mapping[str, str]]],
                    evaluation: Mapping[str, Mapping[str, Any]], baseline: str, seeds: Sequence[int],
                    methods: Mapping[str, Mapping[str, Any]] | None = None,
                    pictures: Mapping[str, Path] | None = None,
                    comparisons: Mapping[str, Mapping[str, Any]] | None = None,
                    alpha: float = 0.05, verdict_metric: str = "accuracy") -> str:
    """The whole ``reports/report.md`` from the metrics (and audit) contents and picture paths.

    ``pictures`` maps '<fid|real_vs_generated|kept_vs_rejected|kept_by_filter|tsne>_<kind or
    pool>' to a path; ``comparisons`` is ``metrics/evaluate_comparisons.json``: with it the report
    opens with the verdict and lists every comparison of ``verdict_metric``.
    """
    pics = dict(pictures or {})
    names = list(prepare["classes"])
    out = ["# Selective synthetic augmentation: report",
           "Generated by the `report` stage: every number is copied from `metrics/` "
           "(per-class selection counts from `data/selected/<pool>_audit.csv`)."]
    if comparisons:
        out.append(verdict(comparisons, baseline, verdict_metric, alpha, len(seeds)))
    out += ["## Data", data_section(prepare),
           "## Generators: checkpoint selection", checkpoint_section(checkpoints)]
    out += [_picture(f"{p}_{kind}", pics[f"{p}_{kind}"], kind) for kind in checkpoints
            for p in ("fid", "real_vs_generated") if f"{p}_{kind}" in pics]
    out.append("## Synthetic pools and selection")
    knn = next((s["knn"] for s in filters.values() if s.get("knn")), "n/a")
    out.append(DIVERSITY_NOTE.format(knn=knn))
    for pool, summary in filters.items():
        out += [f"### Pool `{pool}`",
                f"{summary.get('candidates', 'n/a')} candidates, {summary.get('passes', 'n/a')} "
                f"MC-dropout passes, class PCA of {summary.get('pca_dim', 'n/a')} axes. Label "
                "agreement = share of the kept images that the extractor classifies as their "
                "assigned class.", filter_table(summary)]
        if pool in audits:
            out += ["Kept per class and filter:", audit_class_table(audits[pool], names)]
        out += [_picture(f"{p}_{pool}", pics[f"{p}_{pool}"], pool)
                for p in ("kept_vs_rejected", "kept_by_filter", "tsne") if f"{p}_{pool}" in pics]
    out.append("## Results")
    if methods:
        keys = ("pool", "filter", "transform", "mixing")
        out.append("Methods compared (from `train_classifier.methods`):\n\n" + _md_table(["Method", *[k.capitalize() for k in keys]],
                             [[f"`{m}`", *[r.get(k, "") for k in keys]] for m, r in methods.items()]))
    out.append(results_table(evaluation, baseline=baseline, n_test=prepare["test"], seeds=seeds,
                             split=True))
    if comparisons:
        out += [f"### Comparisons ({LABELS.get(verdict_metric, verdict_metric)})",
                "Every method against the baseline, then the pairs of `evaluate.comparisons`: "
                "paired mean difference over the seeds with its 95% t-interval, the paired t-test "
                "p-value and the Holm-adjusted p-value across all comparisons of the metric "
                "(all metrics: `metrics/evaluate_comparisons.json`).",
                comparisons_table(comparisons, verdict_metric, alpha)]
    if pics:
        out += ["## Pictures", "\n".join(
            f"- [{k}]({Path(os.path.relpath(v, paths.REPORTS)).as_posix()})" for k, v in pics.items())]
    return "\n\n".join(block.strip("\n") for block in out) + "\n"
