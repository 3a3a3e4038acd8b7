"""Markdown tables and the report, generated from metrics files only."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import paths, plots
from .augment import one_hot
from .config import Params
from .data import Dataset, load_split
from .errors import DataError
from .fid import features_of
from .generation import class_seed, load_generator, sample_images
from .io import load_arrays, read_csv, read_json, write_text
from .metrics import METRICS
from .pipeline import load_classifier

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


# --------------------------------------------------------------------------- the report stage

FIGURES = paths.REPORTS / "figures"
REPORT_MD = paths.REPORTS / "report.md"
REPORT_PURPOSE = 3  # class_seed purpose of the report's sample images (1, 2: generate)
N_REAL_VS_FAKE = 8
N_KEPT_VS_REJECTED = 6


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


def filter_table(summary: Mapping[str, Any]) -> str:
    """Per filter: n, label agreement, mean entropy and distance (``metrics/filter_synthetic``)."""
    rows = [[f"`{name}`", s["n"], _num(s.get("label_agreement")), _num(s.get("mean_entropy")),
             _num(s.get("mean_distance"))]
            for name, s in summary.items() if isinstance(s, Mapping)]
    return _md_table(["Filter", "n", "Label agreement", "Mean entropy", "Mean distance"], rows)


AUDIT_COUNTS = {"kept_entropy": "Entropy stage", "kept": "Selective", "in_random": "Random",
                "in_entropy": "Entropy", "in_distance": "Distance",
                "in_distance_single": "Distance (single)"}


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
    "tsne": ("t-SNE before/after selection, {0}",
             "One t-SNE of the extractor's penultimate features: real training images (o) with "
             "all candidates (x, left) and with the selected ones only (x, right); colour = class "
             "(cf. paper figs. 5-6)."),
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
                    pictures: Mapping[str, Path] | None = None) -> str:
    """The whole ``reports/report.md`` from the metrics (and audit) contents and picture paths.

    ``pictures`` maps '<fid|real_vs_generated|kept_vs_rejected|tsne>_<kind or pool>' to a path.
    """
    pics = dict(pictures or {})
    names = list(prepare["classes"])
    out = ["# Selective synthetic augmentation: report",
           "Generated by the `report` stage: every number is copied from `metrics/` "
           "(per-class selection counts from `data/selected/<pool>_audit.csv`).",
           "## Data", data_section(prepare),
           "## Generators: checkpoint selection", checkpoint_section(checkpoints)]
    out += [_picture(f"{p}_{kind}", pics[f"{p}_{kind}"], kind) for kind in checkpoints
            for p in ("fid", "real_vs_generated") if f"{p}_{kind}" in pics]
    out.append("## Synthetic pools and selection")
    for pool, summary in filters.items():
        out += [f"### Pool `{pool}`",
                f"{summary.get('candidates', 'n/a')} candidates, {summary.get('passes', 'n/a')} "
                "MC-dropout passes. Label agreement = share of the kept images that the extractor "
                "classifies as their assigned class.", filter_table(summary)]
        if pool in audits:
            out += ["Kept per class and filter:", audit_class_table(audits[pool], names)]
        out += [_picture(f"{p}_{pool}", pics[f"{p}_{pool}"], pool)
                for p in ("kept_vs_rejected", "tsne") if f"{p}_{pool}" in pics]
    out.append("## Results")
    if methods:
        keys = ("pool", "filter", "transform", "mixing")
        out.append("Methods compared (from `train_classifier.methods`):\n\n" + _md_table(["Method", *[k.capitalize() for k in keys]],
                             [[f"`{m}`", *[r.get(k, "") for k in keys]] for m, r in methods.items()]))
    out.append(results_table(evaluation, baseline=baseline, n_test=prepare["test"], seeds=seeds,
                             split=True))
    if pics:
        out += ["## Pictures", "\n".join(
            f"- [{k}]({Path(os.path.relpath(v, paths.REPORTS)).as_posix()})" for k, v in pics.items())]
    return "\n\n".join(block.strip("\n") for block in out) + "\n"


# --------------------------------------------------------------------------- pictures


def _by_class(images: np.ndarray, labels: np.ndarray, names: Sequence[str],
              order: np.ndarray | None = None) -> dict[str, np.ndarray]:
    order = np.arange(len(labels)) if order is None else np.asarray(order)
    return {name: images[order[labels[order] == c]] for c, name in enumerate(names)}


def generator_pictures(kind: str, train: Dataset, seed: int) -> dict[str, Path]:
    """FID curve and real-vs-generated grid of one generator kind."""
    csv_path = paths.METRICS / "select_checkpoint" / f"{kind}_fid.csv"
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: file not found (run select_checkpoint first)")
    rows = read_csv(csv_path)
    chosen = read_json(paths.metrics("select_checkpoint", kind))
    fid_png = FIGURES / f"fid_{kind}.png"
    plots.fid_curve_png([float(r["epoch"]) for r in rows], [float(r["fid"]) for r in rows],
                        [float(r["fid_ema"]) for r in rows], float(chosen["chosen_epoch"]), fid_png,
                        title=f"{kind}: FID per checkpoint (α = {chosen.get('alpha')})")
    model, ckpt = load_generator(paths.chosen_generator(kind))
    rng = np.random.default_rng(seed)
    real, fake = {}, {}
    for c, name in enumerate(train.class_names):
        idx = np.flatnonzero(train.labels == c)
        label = f"{name} ({len(idx)} real)"
        real[label] = train.images[np.sort(rng.permutation(idx)[:N_REAL_VS_FAKE])]
        y = one_hot(torch.full((N_REAL_VS_FAKE,), c, dtype=torch.long), train.num_classes)
        fake[label] = sample_images(model, y, class_seed(seed, REPORT_PURPOSE, c)).numpy()
    grid_png = FIGURES / f"real_vs_generated_{kind}.png"
    plots.real_vs_generated_png(real, fake, grid_png, n=N_REAL_VS_FAKE,
                                title=f"{kind} (epoch {ckpt.get('epoch', '?')}): "
                                      "real training images vs generated")
    return {f"fid_{kind}": fid_png, f"real_vs_generated_{kind}": grid_png}


def pool_pictures(pool: str, train: Dataset, real_feats: np.ndarray, extractor: torch.nn.Module,
                  seed: int) -> dict[str, Path]:
    """Kept-vs-rejected grid and before/after t-SNE of one pool's selective filter."""
    sel = load_arrays(paths.selected(pool), ("images", "classes", "score_entropy",
                                             "score_distance", "subset_selective"))
    images, classes = sel["images"], sel["classes"]
    kept = np.zeros(len(classes), bool)
    kept[sel["subset_selective"]] = True
    kept_order = np.flatnonzero(kept)[np.argsort(sel["score_distance"][kept], kind="stable")]
    rej_order = np.flatnonzero(~kept)[np.argsort(-sel["score_entropy"][~kept], kind="stable")]
    labels = {name: f"{name} ({(kept & (classes == c)).sum()} of {(classes == c).sum()} kept)"
              for c, name in enumerate(train.class_names)}
    kept_by = {labels[k]: v for k, v in _by_class(images, classes, train.class_names, kept_order).items()}
    rej_by = {labels[k]: v for k, v in _by_class(images, classes, train.class_names, rej_order).items()}
    grid_png = FIGURES / f"kept_vs_rejected_{pool}.png"
    plots.kept_vs_rejected_png(
        kept_by, rej_by, grid_png, n=N_KEPT_VS_REJECTED,
        title=f"Pool {pool}, selective filter: kept and rejected candidates",
        headers=("kept (closest to class centroid first)", "rejected (highest entropy first)"))
    pool_feats = features_of(extractor, torch.from_numpy(images).float())
    tsne = FIGURES / f"tsne_{pool}.png"
    plots.tsne_png(real_feats, train.labels, pool_feats, classes, kept, tsne, seed=seed,
                   class_names=train.class_names,
                   title=f"Pool {pool}: t-SNE of extractor features before and after selection")
    return {f"kept_vs_rejected_{pool}": grid_png, f"tsne_{pool}": tsne}


def report(params: Params) -> dict[str, Any]:
    """DVC stage ``report``: pictures under ``reports/figures/`` and ``reports/report.md``."""
    t0 = time.perf_counter()
    seed = params.base.seed
    train = load_split(paths.prepared("train"))
    pictures: dict[str, Path] = {}
    for kind in params.train_gan.kinds:
        pictures.update(generator_pictures(kind, train, seed))
    extractor = load_classifier(paths.extractor())
    real_feats = features_of(extractor, torch.from_numpy(train.images).float())
    for pool in params.generate.pools:
        pictures.update(pool_pictures(pool, train, real_feats, extractor, seed))
    text = build_report_md(
        prepare=read_json(paths.metrics("prepare_data")),
        checkpoints={k: read_json(paths.metrics("select_checkpoint", k)) for k in params.train_gan.kinds},
        filters={p: read_json(paths.metrics("filter_synthetic", p)) for p in params.generate.pools},
        audits={p: read_csv(paths.audit(p)) for p in params.generate.pools
                if paths.audit(p).is_file()},
        evaluation=read_json(paths.metrics("evaluate")), baseline=params.evaluate.baseline,
        seeds=list(params.train_classifier.seeds),
        methods={m: asdict(r) for m, r in params.train_classifier.methods.items()},
        pictures=pictures)
    write_text(REPORT_MD, text)
    log.info("wrote %s and %d pictures in %.1f s", REPORT_MD, len(pictures), time.perf_counter() - t0)
    return {"report": str(REPORT_MD), "pictures": {k: str(v) for k, v in pictures.items()}}
