"""Every recipe of the default params, in the tiny configuration, through the real pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_tiny_config_has_every_default_recipe():
    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    tiny = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    for key in ("methods",):
        assert tiny["train_classifier"][key] == default["train_classifier"][key]
    assert tiny["evaluate"]["comparisons"] == default["evaluate"]["comparisons"]
    assert tiny["generate"]["pools"] == default["generate"]["pools"]
    assert tiny["train_gan"]["kinds"] == default["train_gan"]["kinds"]


def test_every_recipe_runs(full_tiny_run):
    proj = full_tiny_run
    params = yaml.safe_load((proj / "params.yaml").read_text())
    methods = params["train_classifier"]["methods"]
    pools = params["generate"]["pools"]
    results = json.loads((proj / "metrics/evaluate.json").read_text())
    assert set(results) == set(methods)

    budget = 3 * 10  # round(0.5 * 6) per class, 10 classes
    for name, recipe in methods.items():
        expected = 0 if recipe["pool"] == "none" else budget
        if recipe["filter"] == "informative":  # only candidates the extractor agrees with
            assert 0 < results[name]["n_synthetic"] <= expected, name
        else:
            assert results[name]["n_synthetic"] == expected, name
        for seed in params["train_classifier"]["seeds"]:
            assert (proj / f"models/train_classifier/{name}/seed_{seed}.pt").is_file()

    for kind in params["train_gan"]["kinds"]:
        assert sorted(p.name for p in (proj / f"models/train_gan/{kind}").glob("epoch_*.pt")) == \
            ["epoch_005.pt", "epoch_010.pt"]
        chosen = json.loads((proj / f"metrics/select_checkpoint/{kind}.json").read_text())
        assert chosen["chosen_epoch"] in (5, 10)

    for name, spec in pools.items():
        with np.load(proj / f"data/selected/{name}.npz") as d:
            targets, classes = d["targets"], d["classes"]
            assert np.allclose(targets.sum(1), 1, atol=1e-5)
            if spec["labels"] == "gemix":
                top2 = np.argsort(-targets, axis=1)[:, :2]
                assert (top2[:, 0] == classes).all()  # the major class is the assigned class
                assert (top2[:, 1] != classes).all() and (targets.max(1) < 1).all()
            else:
                assert (targets.argmax(1) == classes).all() and (targets.max(1) == 1).all()
            assert len(d["subset_selective"]) == budget
            for subset in ("covariance", "selective_covariance"):
                kept = classes[d[f"subset_{subset}"]]
                assert (np.bincount(kept, minlength=10) == 3).all(), subset
            assert set(d["subset_selective_covariance"]) <= set(d["subset_entropy_stage"])
            agree = d["score_pred"] == classes
            assert agree[d["subset_informative"]].all()
        filt = json.loads((proj / f"metrics/filter_synthetic/{name}.json").read_text())
        # 3 per class against the real images of every class: each measure is defined
        for subset in ("random", "selective", "covariance"):
            row = filt[subset]
            for key in ("cov_mismatch", "cov_mismatch_pca", "spread"):
                assert row[key] is not None and row[key] >= 0, (name, subset, key)
            for key in ("precision", "recall"):
                assert row[key] is not None and 0 <= row[key] <= 1, (name, subset, key)
        for key in ("cov_mismatch", "spread", "precision", "recall"):  # may keep too few
            assert filt["informative"][key] is None or filt["informative"][key] >= 0, key
    with np.load(proj / "data/selected/oversample.npz") as d:  # copies of the real images
        assert len(d["subset_all"]) == budget and (np.bincount(d["classes"]) == 3).all()
    comparisons = json.loads((proj / "metrics/evaluate_comparisons.json").read_text())
    pairs = [[r["a"], r["b"]] for r in comparisons.values()]
    assert pairs == [[m, "baseline"] for m in methods if m != "baseline"] + \
        params["evaluate"]["comparisons"]
    assert all("accuracy_p_holm" in r for r in comparisons.values())


def test_report_and_pictures(full_tiny_run):
    from PIL import Image

    proj = full_tiny_run
    params = yaml.safe_load((proj / "params.yaml").read_text())
    figures = proj / "reports/figures"
    expected = [f"fid_{k}.png" for k in params["train_gan"]["kinds"]]
    expected += [f"real_vs_generated_{k}.png" for k in params["train_gan"]["kinds"]]
    expected += [f"kept_vs_rejected_{p}.png" for p in params["generate"]["pools"]]
    expected += [f"kept_by_filter_{p}.png" for p in params["generate"]["pools"]]
    expected += [f"tsne_{p}.png" for p in params["generate"]["pools"]]
    for name in expected:
        with Image.open(figures / name) as im:
            im.verify()
        with Image.open(figures / name) as im:
            assert im.size[0] >= 400 and im.size[1] >= 200, name
    report = (proj / "reports/report.md").read_text()
    assert "**Verdict**" in report.split("## Data")[0]
    for name in expected:
        assert f"figures/{name}" in report
    results = json.loads((proj / "metrics/evaluate.json").read_text())
    for method, row in results.items():
        line = next(ln for ln in report.splitlines() if ln.startswith(f"| `{method}` |")
                    and "±" in ln)
        assert f"{row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}" in line, method
