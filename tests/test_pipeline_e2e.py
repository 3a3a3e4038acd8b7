"""End to end: the real `dvc repro` and `dvc exp run -S` on the tiny configuration."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml
from conftest import dvc, make_project, run, stages_run, tiny_params
from minimal import METHODS, mini_params

pytestmark = pytest.mark.slow


ISSUE2_METHODS = ("baseline", "traditional", "gan_unfiltered", "gan_single_filter", "gan_selective")


@pytest.fixture
def project(tmp_path):
    """The selective-augmentation core only: one generator kind, the paper's baselines."""
    params = tiny_params()
    params["train_gan"]["kinds"] = ["cgan"]
    params["generate"]["pools"] = {"cgan": {"generator": "cgan", "labels": "onehot"}}
    params["train_classifier"]["methods"] = {
        m: r for m, r in params["train_classifier"]["methods"].items() if m in ISSUE2_METHODS}
    params["evaluate"]["comparisons"] = [
        p for p in params["evaluate"]["comparisons"] if set(p) <= set(ISSUE2_METHODS)]
    return make_project(tmp_path / "proj", params)


def test_repro_then_exp_run(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    methods = list(params["train_classifier"]["methods"])
    seeds = params["train_classifier"]["seeds"]

    out = dvc("repro", cwd=project).stdout
    ran = stages_run(out)
    assert "prepare_data" in ran and "evaluate" in ran

    # prepared splits: capped, imbalanced-capable training split; held-out test split
    with np.load(project / "data/prepared/train.npz") as d:
        train_labels = d["labels"]
        assert d["images"].shape[1:] == (1, 8, 8)
        assert d["images"].min() >= -1 and d["images"].max() <= 1
    counts = np.bincount(train_labels)
    assert (counts == 6).all()
    with np.load(project / "data/prepared/test.npz") as d:
        assert len(d["labels"]) == 100

    # generator checkpoints every 5 epochs; FID curve with raw and smoothed values
    ckpts = sorted(p.name for p in (project / "models/train_gan/cgan").glob("epoch_*.pt"))
    assert ckpts == ["epoch_005.pt", "epoch_010.pt"]
    fid_rows = (project / "metrics/select_checkpoint/cgan_fid.csv").read_text().splitlines()
    assert fid_rows[0] == "epoch,fid,fid_ema,chosen" and len(fid_rows) == 3
    chosen = json.loads((project / "metrics/select_checkpoint/cgan.json").read_text())
    assert chosen["chosen_epoch"] in (5, 10) and chosen["alpha"] == 0.3
    marked = [r.split(",")[0] for r in fid_rows[1:] if r.split(",")[3]]
    assert marked == [str(chosen["chosen_epoch"])]

    # pool of 4 * round(r * N_i) per class; every filter keeps round(r * N_i) per class
    budget = 3  # round(0.5 * 6)
    with np.load(project / "data/pools/cgan.npz") as d:
        assert (np.bincount(d["classes"]) == 4 * budget).all()
        assert d["images"].shape[1:] == (1, 8, 8)
    with np.load(project / "data/selected/cgan.npz") as d:
        for name in ("random", "distance_single", "selective", "entropy", "distance"):
            kept = d["classes"][d[f"subset_{name}"]]
            assert (np.bincount(kept, minlength=10) == budget).all(), name
        assert set(d["subset_selective"]) <= set(d["subset_entropy_stage"])
    audit = (project / "data/selected/cgan_audit.csv").read_text().splitlines()
    assert audit[0].startswith("index,class,entropy,distance")
    assert len(audit) == 1 + 10 * 4 * budget

    # one stage per method; one classifier and one metrics entry per seed
    assert sorted(s for s in ran if s.startswith("train_classifier")) == \
        sorted(f"train_classifier@{m}" for m in methods)
    for m in methods:
        summary = json.loads((project / f"metrics/train_classifier/{m}.json").read_text())
        for s in seeds:
            assert (project / f"models/train_classifier/{m}/seed_{s}.pt").is_file()
            assert 1 <= summary[f"seed_{s}"]["best_epoch"] <= summary[f"seed_{s}"]["epochs"]
    results = json.loads((project / "metrics/evaluate.json").read_text())
    assert set(results) == set(methods)
    for m in methods:
        assert 0 <= results[m]["accuracy_mean"] <= 1
    assert results["baseline"]["accuracy_diff"] == 0
    table = (project / "reports/results.md").read_text()
    assert all(f"`{m}`" in table for m in methods)

    # nothing changed -> nothing runs
    again = dvc("repro", cwd=project).stdout
    assert stages_run(again) == [] and "up to date" in again

    # metrics/plots commands work on it
    assert "accuracy_mean" in dvc("metrics", "show", cwd=project).stdout
    dvc("plots", "show", "-o", str(project / "plots_html"), cwd=project)

    # a ratio experiment reruns generate and what follows, never the generators/extractor
    run(["git", "add", "-A"], cwd=project)
    run(["git", "commit", "-qm", "tiny run"], cwd=project)
    exp = dvc("exp", "run", "-S", "generate.ratio=1.0", cwd=project).stdout
    ran = stages_run(exp)
    assert "generate@cgan" in ran and "filter_synthetic@cgan" in ran and "evaluate" in ran
    assert not [s for s in ran if s.startswith(("train_gan", "train_extractor",
                                                "select_checkpoint", "prepare_data"))]
    with np.load(project / "data/pools/cgan.npz") as d:
        assert (np.bincount(d["classes"]) == 4 * 6).all()
    diff = dvc("metrics", "diff", cwd=project).stdout
    assert "gan_selective" in diff


def test_pool_only_change_reruns_only_that_pool(full_tiny_run, tmp_path):
    """`generate.gemix.alpha` concerns the GeMix pool: nothing that does not use it trains again."""
    project = tmp_path / "proj"
    shutil.copytree(full_tiny_run, project, symlinks=True)
    run(["git", "add", "-A"], cwd=project)
    run(["git", "commit", "-qm", "tiny run"], cwd=project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    exp = dvc("exp", "run", "-S", "generate.gemix.alpha=0.7", cwd=project).stdout
    ran = stages_run(exp)
    gemix_methods = {m for m, r in params["train_classifier"]["methods"].items()
                     if r["pool"] == "cgan_gemix"}
    assert {"generate@cgan_gemix", "filter_synthetic@cgan_gemix", "evaluate", "report"} <= set(ran)
    trained = {s.split("@")[1] for s in ran if s.startswith("train_classifier@")}
    assert trained == gemix_methods, trained  # baseline, traditional, mixup, zeta_mixup, gan_*...
    # one-hot pools may regenerate (the gemix params are a dep of every pool) but identically
    assert not [s for s in ran if s.startswith(("filter_synthetic@", "train_gan",
                                                "select_checkpoint", "train_extractor",
                                                "prepare_data")) and s != "filter_synthetic@cgan_gemix"]


def toy_medmnist(path, flip: bool = False) -> None:
    """A MedMNIST-shaped .npz: 3 classes of 8x8 grey images in official splits."""
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in (("train", 30), ("val", 9), ("test", 12)):
        labels = np.arange(n) % 3
        images = (rng.random((n, 8, 8)) * 60 + labels[:, None, None] * 60).astype(np.uint8)
        arrays[f"{split}_images"] = images[:, ::-1] if flip else images
        arrays[f"{split}_labels"] = labels[:, None]
    np.savez(path, **arrays)


def test_new_data_at_the_same_path_makes_everything_stale(tmp_path):
    params = mini_params(prepare_data={"source": "medmnist", "path": "data/raw/toy.npz",
                                       "train_cap": None},
                         train_classifier={"methods": {k: METHODS[k] for k in ("baseline",
                                                                               "gan_selective")}})
    project = make_project(tmp_path / "proj", params)
    toy_medmnist(project / "data/raw/toy.npz")
    first = stages_run(dvc("repro", cwd=project).stdout)
    assert "prepare_data" in first and "report" in first
    assert "up to date" in dvc("status", cwd=project).stdout
    toy_medmnist(project / "data/raw/toy.npz", flip=True)  # new content, same path
    status = dvc("status", cwd=project).stdout
    assert "prepare_data" in status and "data/raw/toy.npz" in status
    again = stages_run(dvc("repro", cwd=project).stdout)
    assert again == first, "every stage depends on the data, so every stage must run again"
