"""Pictures (plots.py) and the report stage (report.py) on tiny arrays and a fake project folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthaug import plots
from synthaug.core.io import save_arrays, write_csv, write_json
from synthaug.core.params import parse_params
from synthaug.data.dataset import Dataset, save_split
from synthaug.filters import audit_rows, select_subsets
from synthaug.metrics import METRICS
from synthaug.models.classifier import ClassifierConfig, ResNetClassifier, save_classifier
from synthaug.models.generators import build_generator
from synthaug.pipeline import report
from synthaug.tables import build_report_md

NAMES = ["cat", "dog", "a rather long class name"]


def images(n: int, channels: int = 1, side: int = 8, seed: int = 0) -> np.ndarray:
    """Random images in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, channels, side, side)).astype(np.float32)


def opened(path: Path) -> Image.Image:
    """The PNG at ``path``, fully decoded."""
    img = Image.open(path)
    img.load()
    assert img.format == "PNG"
    return img


# --------------------------------------------------------------------------- plots


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB")])
def test_image_grid_exact_size_and_values(channels, mode):
    x = images(5, channels)
    x[0] = -1.0
    grid = plots.image_grid(x, ncol=3, pad=1, upscale=4)
    assert grid.mode == mode
    assert grid.size == (3 * 32 + 4, 2 * 32 + 3)
    a = np.asarray(grid)
    assert (a[0] == 255).all()  # padding is white
    assert (a[1:33, 1:33] == 0).all()  # the all -1 tile is black, upscaled 4x
    assert (a[34:, 67:] == 255).all()  # the missing sixth tile stays white


def test_image_grid_empty_and_bad_shape():
    assert plots.image_grid(images(0), ncol=4, pad=0, upscale=2).size == (64, 16)
    with pytest.raises(ValueError):
        plots.image_grid(np.zeros((2, 2, 8, 8)), ncol=2)


def test_fid_curve_png(tmp_path):
    epochs = np.arange(5, 55, 5)
    fid = np.geomspace(300, 2, len(epochs))
    fid[3] = np.nan
    path = tmp_path / "fid.png"
    plots.fid_curve_png(epochs, fid, fid * 1.1, 40, path, "cgan")
    w, h = opened(path).size
    assert w > 500 and h > 300
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary left behind


def test_real_vs_generated_and_kept_vs_rejected(tmp_path):
    real = {"cat": images(3), "dog": images(8), NAMES[2]: images(1)}
    fake = {k: images(8, seed=1) for k in real}
    plots.real_vs_generated_png(real, fake, tmp_path / "rg.png", n=8)
    kept = {"cat": images(2), "dog": images(0), NAMES[2]: images(6)}
    plots.kept_vs_rejected_png(kept, {k: images(7) for k in kept}, tmp_path / "kr.png", n=6)
    for name in ("rg.png", "kr.png"):
        w, h = opened(tmp_path / name).size
        assert w > 500 and h > 250


def test_tsne_png_tiny_inputs(tmp_path):
    rng = np.random.default_rng(0)
    real_labels, pool_labels = np.arange(8) % 3, np.arange(12) % 3
    mask = np.arange(12) < 5
    plots.tsne_png(rng.normal(size=(8, 6)), real_labels, rng.normal(size=(12, 6)), pool_labels,
                   {"selective": mask}, tmp_path / "tsne.png", seed=0, class_names=NAMES)
    w, h = opened(tmp_path / "tsne.png").size
    assert w > 800 and h > 400
    assert plots.tsne_embed(np.zeros((2, 1)), 0).shape == (2, 2)
    plots.tsne_png(rng.normal(size=(8, 6)), real_labels, rng.normal(size=(12, 6)), pool_labels,
                   {"selective": mask}, tmp_path / "sub.png", seed=0, class_names=NAMES,
                   max_points=10)
    assert opened(tmp_path / "sub.png").size[0] > 800
    masks = {"random": mask, "covariance": ~mask, "informative": np.arange(12) % 2 == 0,
             "selective": mask}  # four filters + all candidates: a 2 x 3 grid, one panel hidden
    plots.tsne_png(rng.normal(size=(8, 6)), real_labels, rng.normal(size=(12, 6)), pool_labels,
                   masks, tmp_path / "panels.png", seed=0, class_names=NAMES, max_points=15)
    w, h = opened(tmp_path / "panels.png").size
    assert w > 1500 and h > 900


def test_columns_png_one_panel_per_filter(tmp_path):
    cols = {f: {"cat": images(4), "dog": images(1), NAMES[2]: images(0)}
            for f in ("random", "selective", "covariance")}
    plots.columns_png(cols, tmp_path / "cols.png", n=4, title="kept by filter")
    w, h = opened(tmp_path / "cols.png").size
    assert w > 3 * 300 and h > 200


# --------------------------------------------------------------------------- report


def summary_row(rng: np.random.Generator, n_synthetic: int) -> dict:
    """One method's evaluate.json entry with random numbers."""
    row = {"n_seeds": 3.0, "n_paired": 3.0, "n_synthetic": n_synthetic}
    for m in METRICS:
        d = rng.uniform(-0.05, 0.05)
        row |= {f"{m}_mean": rng.uniform(0.5, 1), f"{m}_std": rng.uniform(0, 0.1), f"{m}_diff": d,
                f"{m}_diff_lo": d - 0.01, f"{m}_diff_hi": d + 0.01}
    return row


def fake_metrics() -> dict:
    """Contents of the metrics files build_report_md needs."""
    rng = np.random.default_rng(1)
    classes = {n: {"train": 2 + i, "val": 1, "test": 4} for i, n in enumerate(NAMES)}
    filt = {"candidates": 36, "passes": 2}
    for f in ("random", "entropy", "distance", "distance_single", "selective", "all", "entropy_stage",
              "covariance", "selective_covariance", "informative"):
        filt[f] = {"n": 9, "label_agreement": 0.5, "mean_entropy": 0.25, "mean_distance": 0.125,
                   "cov_mismatch": 0.75, "cov_mismatch_pca": 0.5, "spread": 0.375,
                   "precision": 1.0, "recall": None}
    return {
        "prepare": {"source": "digits", "num_classes": 3, "channels": 1, "image_size": 8,
                    "train": 9, "val": 3, "test": 12, "classes": classes},
        "checkpoints": {"cgan": {"kind": "cgan", "chosen_epoch": 10, "fid": 4.56789,
                                 "fid_ema": 5.0, "alpha": 0.3, "n_images": 16, "checkpoints": 2,
                                 "nonfinite": 0}},
        "filters": {"cgan": filt},
        "evaluation": {"baseline": summary_row(rng, 0), "gan_selective": summary_row(rng, 9),
                       "gan_unfiltered": summary_row(rng, 9)},
    }


def table_row(md: str, first_cell: str, nth: int = 0) -> list[str]:
    """The cells of the ``nth`` markdown table row whose first cell is ``first_cell``."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in md.splitlines() if line.startswith("|")]
    found = [cells for cells in rows if cells[0] == first_cell]
    assert found, f"no table row {first_cell!r}"
    return found[nth]


def test_report_md_numbers_match_metrics():
    m = fake_metrics()
    md = build_report_md(m["prepare"], m["checkpoints"], m["filters"], {}, m["evaluation"],
                         baseline="baseline", seeds=[0, 1, 2],
                         pictures={"tsne_cgan": Path("reports/figures/tsne_cgan.png")})
    ev = m["evaluation"]
    assert "**Verdict**" not in md  # no comparisons given: no verdict
    for method, row in ev.items():
        cells = table_row(md, f"`{method}`")
        assert cells[1] == str(row["n_synthetic"])
        for i, metric in enumerate(METRICS):
            text = f"{row[f'{metric}_mean']:.3f} ± {row[f'{metric}_std']:.3f}"
            best = max(r[f"{metric}_mean"] for r in ev.values())
            assert cells[2 + i] == (f"**{text}**" if row[f"{metric}_mean"] == best else text)
            d = row[f"{metric}_diff"]
            assert table_row(md, f"`{method}`", 1)[1 + i] == \
                f"{d:+.3f} [{row[f'{metric}_diff_lo']:+.3f}, {row[f'{metric}_diff_hi']:+.3f}]"
    for metric in METRICS:  # exactly one bold cell per metric column
        col = 2 + METRICS.index(metric)
        assert sum(table_row(md, f"`{k}`")[col].startswith("**") for k in ev) == 1
    assert table_row(md, "`cgan`")[1:4] == ["10", "4.57", "5.00"]
    assert table_row(md, "`selective`")[1:] == ["9", "0.500", "0.250", "0.125", "0.750", "0.500",
                                                "0.375", "1.000", "n/a"]
    assert table_row(md, "`covariance`")[1] == "9"
    assert table_row(md, "**total**")[1:] == ["9", "3", "12"]  # the data table
    assert "![t-SNE before/after selection, cgan](figures/tsne_cgan.png)" in md
    assert "- [tsne_cgan](figures/tsne_cgan.png)" in md


def write_fake_project(root: Path) -> None:
    """Prepared train split, extractor, chosen generator, selection and metrics: all tiny."""
    m = fake_metrics()
    labels = np.repeat(np.arange(3), [2, 3, 4])
    save_split(root / "data/prepared/train.npz", Dataset(images(9), labels, NAMES))
    torch.manual_seed(0)
    extractor = ResNetClassifier(ClassifierConfig(in_channels=1, num_classes=3, blocks=(1,),
                                                  widths=(4,)))
    save_classifier(extractor, root / "models/extractor.pt")
    gen = build_generator("cgan", num_classes=3, channels=1, image_size=8, z_dim=4, width=4)
    (root / "models/select_checkpoint").mkdir(parents=True)
    torch.save({"kind": "cgan", "epoch": 10, "config": gen.config, "state_dict": gen.state_dict()},
               root / "models/select_checkpoint/cgan.pt")
    classes = np.repeat(np.arange(3), 12)
    rng = np.random.default_rng(0)
    scores = {"entropy": rng.uniform(0, 1, 36), "distance": rng.uniform(0, 1, 36),
              "distance_single": rng.uniform(0, 1, 36), "nearest": classes.copy(),
              "pred": classes.copy(), "prob_assigned": rng.uniform(0, 1, 36)}
    subsets = select_subsets(scores, classes, {0: 3, 1: 3, 2: 3}, seed=0)
    save_arrays(root / "data/selected/cgan.npz", images=images(36, seed=2),
                targets=np.eye(3, dtype=np.float32)[classes], classes=classes,
                **{f"score_{k}": v for k, v in scores.items()},
                **{f"subset_{k}": v for k, v in subsets.items()})
    rows = audit_rows(scores, classes, subsets)
    write_csv(root / "data/selected/cgan_audit.csv", rows, list(rows[0]))
    write_json(root / "metrics/prepare_data.json", m["prepare"])
    write_json(root / "metrics/select_checkpoint/cgan.json", m["checkpoints"]["cgan"])
    write_csv(root / "metrics/select_checkpoint/cgan_fid.csv",
              [{"epoch": 5, "fid": 9.0, "fid_ema": 9.0}, {"epoch": 10, "fid": 4.56789, "fid_ema": 5.0}],
              ["epoch", "fid", "fid_ema"])
    write_json(root / "metrics/filter_synthetic/cgan.json", m["filters"]["cgan"])
    write_json(root / "metrics/evaluate.json", m["evaluation"])
    write_json(root / "metrics/evaluate_comparisons.json", {
        "gan_selective_vs_baseline": {"a": "gan_selective", "b": "baseline", "accuracy_diff": 0.02,
                                      "accuracy_diff_lo": 0.01, "accuracy_diff_hi": 0.03,
                                      "accuracy_p": 0.004, "accuracy_p_holm": 0.008}})


def test_report_stage_writes_pictures_and_markdown(tmp_path, monkeypatch):
    write_fake_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    params = parse_params({
        "train_gan": {"kinds": ["cgan"]},
        "generate": {"pools": {"cgan": {"generator": "cgan", "labels": "onehot"}}},
        "train_classifier": {"seeds": [0, 1, 2], "methods": {
            "baseline": {}, "gan_selective": {"pool": "cgan", "filter": "selective"},
            "gan_unfiltered": {"pool": "cgan", "filter": "random"}}},
        "evaluate": {"comparisons": []},  # the default study's pairs name methods left out here
    })
    out = report.run(params)
    assert set(out["pictures"]) == {"fid_cgan", "real_vs_generated_cgan", "kept_vs_rejected_cgan",
                                    "kept_by_filter_cgan", "tsne_cgan"}
    for path in out["pictures"].values():
        w, h = opened(Path(path)).size
        assert w > 400 and h > 200
    md = Path(out["report"]).read_text()
    assert md.startswith("**Verdict**") or "**Verdict**" in md.split("## Data")[0]
    assert "Beat `baseline`: `gan_selective` (+0.020, adjusted p = 0.008)" in md
    for path in out["pictures"].values():
        assert f"({Path(path).relative_to('reports').as_posix()})" in md
    ev = json.loads(Path("metrics/evaluate.json").read_text())
    acc = ev["gan_selective"]
    assert f"{acc['accuracy_mean']:.3f} ± {acc['accuracy_std']:.3f}" in table_row(md, "`gan_selective`", -2)[2]
    with open("data/selected/cgan_audit.csv") as fh:
        kept = sum(r["kept"] == "True" for r in csv.DictReader(fh))
    head = next(ln for ln in md.splitlines() if ln.startswith("| Class | Candidates"))
    col = [c.strip() for c in head.strip().strip("|").split("|")].index("Selective")
    assert table_row(md, "**total**", -1)[col] == str(kept)  # 'Selective' column of the audit table
    assert table_row(md, "`gan_selective`")[1:3] == ["cgan", "selective"]


def test_report_opens_with_the_verdict_and_lists_the_comparisons():
    m = fake_metrics()
    comparisons = {
        "gan_selective_vs_baseline": {"a": "gan_selective", "b": "baseline", "accuracy_diff": 0.02,
                                      "accuracy_diff_lo": 0.01, "accuracy_diff_hi": 0.03,
                                      "accuracy_p": 0.004, "accuracy_p_holm": 0.008},
        "gan_selective_vs_gan_unfiltered": {"a": "gan_selective", "b": "gan_unfiltered",
                                            "accuracy_diff": -0.01, "accuracy_diff_lo": -0.03,
                                            "accuracy_diff_hi": 0.01, "accuracy_p": 0.2,
                                            "accuracy_p_holm": 0.2}}
    md = build_report_md(m["prepare"], m["checkpoints"], m["filters"], {}, m["evaluation"],
                         baseline="baseline", seeds=[0, 1, 2], comparisons=comparisons)
    first = md.split("## Data")[0]
    assert "**Verdict** (accuracy; paired t-tests over 3 seeds, Holm-adjusted across all 2" in first
    assert "Beat `baseline`: `gan_selective` (+0.020, adjusted p = 0.008)" in first
    assert "Beat `gan_unfiltered`: none of the 1 recipe(s)" in first
    assert table_row(md, "`gan_selective` vs `baseline`")[1:] == [
        "+0.020 [+0.010, +0.030]", "0.004", "0.008", "better"]
