"""End to end at 64 px on the CPU: the real `dvc repro` of a tiny configuration.

At 64 px the cGAN starts from a 4x4 map and doubles four times, the cVAE is
convolutional and the classifiers' stem halves the image twice; the tiny widths and
epochs keep the run short (about a minute).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import dvc, make_project
from minimal import METHODS, mini_params

pytestmark = pytest.mark.slow


def params_64() -> dict:
    methods = {**METHODS, "cvae_selective": {"pool": "cvae", "filter": "selective",
                                             "transform": "none", "mixing": "none"}}
    params = mini_params(base={"image_size": 64},
                         train_gan={"kinds": ["cgan", "cvae"], "epochs": 5},
                         generate={"pools": {"cgan": {"generator": "cgan", "labels": "onehot"},
                                             "cvae": {"generator": "cvae", "labels": "onehot"}}},
                         train_classifier={"methods": methods})
    params["prepare_data"]["train_cap"] = 4
    params["filter_synthetic"]["pca_dim"] = 3  # at most 4 - 1 with 4 images per class
    params["prepare_data"]["class_names"] = [f"digit {i}" for i in range(10)]
    return params


def test_repro_at_64_px(tmp_path):
    project = make_project(tmp_path / "proj", params_64())
    dvc("repro", cwd=project)
    with np.load(project / "data/prepared/train.npz") as d:
        assert d["images"].shape[1:] == (1, 64, 64)
        assert d["class_names"].tolist()[:2] == ["digit 0", "digit 1"]
    for pool in ("cgan", "cvae"):
        with np.load(project / f"data/pools/{pool}.npz") as d:
            assert d["images"].shape[1:] == (1, 64, 64) and np.isfinite(d["images"]).all()
    gan = torch.load(project / "models/select_checkpoint/cgan.pt", weights_only=False)
    assert gan["config"]["image_size"] == 64
    assert gan["state_dict"]["fc.weight"].shape[0] == 8 * 16 * 4 * 4  # width 8 x 2^4 at 4x4
    cvae = torch.load(project / "models/select_checkpoint/cvae.pt", weights_only=False)
    assert any(k.startswith("features.") for k in cvae["state_dict"])  # convolutional
    extractor = torch.load(project / "models/extractor.pt", weights_only=False)
    assert extractor["config"]["stem_down"] == 2  # 64 -> 16 -> 8 px (two stages)
    results = json.loads((project / "metrics/evaluate.json").read_text())
    assert set(results) == {"baseline", "traditional", "gan_selective", "cvae_selective"}
    prepared = json.loads((project / "metrics/prepare_data.json").read_text())
    assert prepared["image_size"] == 64 and "digit 9" in prepared["classes"]
    assert "digit 3" in (project / "reports/report.md").read_text()
