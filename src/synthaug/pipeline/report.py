"""Stage ``report``: pictures under ``reports/figures/`` and ``reports/report.md`` from metrics files."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import plots
from ..augment import one_hot
from ..core import paths
from ..core.errors import DataError
from ..core.io import load_arrays, read_csv, read_json, write_text
from ..core.params import Params
from ..data.dataset import Dataset, load_split
from ..fid import features_of
from ..models.classifier import load_classifier
from ..sampling import class_seed, load_generator, sample_images
from ..tables import build_report_md

log = logging.getLogger(__name__)

FIGURES = paths.REPORTS / "figures"
REPORT_MD = paths.REPORTS / "report.md"
REPORT_PURPOSE = 3  # class_seed purpose of the report's sample images (1, 2: generate)
N_REAL_VS_FAKE = 8
N_KEPT_VS_REJECTED = 6
N_KEPT_BY_FILTER = 4
# the filters shown side by side (t-SNE panels, kept-by-filter grid): the unfiltered reference,
# the paper's selection and the three of issue 10; the ablations entropy/distance/
# distance_single are in the tables only, to keep the pictures readable
SHOWN_FILTERS = ("random", "selective", "covariance", "selective_covariance", "informative")


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
    """Kept-vs-rejected grid of the selective filter, the kept-by-filter grid and one t-SNE with a
    panel per shown filter, of one pool."""
    sel = load_arrays(paths.selected(pool), ("images", "classes", "score_entropy",
                                             "score_distance", "subset_selective"))
    shown = [f for f in SHOWN_FILTERS if f"subset_{f}" in sel]
    images, classes = sel["images"], sel["classes"]
    masks = {}
    for f in shown:
        masks[f] = np.zeros(len(classes), bool)
        masks[f][sel[f"subset_{f}"]] = True
    kept = masks["selective"]
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
    rows = {name: f"{name} ({(classes == c).sum()} candidates)"
            for c, name in enumerate(train.class_names)}
    by_filter = {f: _by_class(images, classes, train.class_names, sel[f"subset_{f}"])
                 for f in shown}
    by_filter_png = FIGURES / f"kept_by_filter_{pool}.png"
    plots.columns_png({f"{f} ({len(sel[f'subset_{f}'])})": {rows[k]: v for k, v in by.items()}
                       for f, by in by_filter.items()}, by_filter_png, n=N_KEPT_BY_FILTER,
                      title=f"Pool {pool}: the first candidates each filter keeps, per class")
    pool_feats = features_of(extractor, torch.from_numpy(images).float())
    tsne = FIGURES / f"tsne_{pool}.png"
    plots.tsne_png(real_feats, train.labels, pool_feats, classes, masks, tsne, seed=seed,
                   class_names=train.class_names,
                   title=f"Pool {pool}: t-SNE of extractor features, all candidates and each "
                         "filter's subset")
    return {f"kept_vs_rejected_{pool}": grid_png, f"kept_by_filter_{pool}": by_filter_png,
            f"tsne_{pool}": tsne}


def run(params: Params) -> dict[str, Any]:
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
        methods={m: r.model_dump() for m, r in params.train_classifier.methods.items()},
        pictures=pictures,
        comparisons=read_json(paths.metrics("evaluate_comparisons")),
        alpha=params.evaluate.alpha, verdict_metric=params.evaluate.verdict_metric)
    write_text(REPORT_MD, text)
    log.info("wrote %s and %d pictures in %.1f s", REPORT_MD, len(pictures), time.perf_counter() - t0)
    return {"report": str(REPORT_MD), "pictures": {k: str(v) for k, v in pictures.items()}}
