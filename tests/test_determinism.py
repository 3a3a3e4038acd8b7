"""Determinism (issue item 5): same params and seed, two CPU runs, identical metrics.

Two fresh projects run the full `dvc repro` side by side; every file under metrics/
and reports/ (results.md, the report and its figures) must match byte for byte
(wall-clock timings go to logs/, which is not compared). DVC's recorded hashes of the
models and data must match too: checkpoints are written through a file object (torch
names the archive after the file otherwise) and resume.pt keeps no timings.

The methods are cut to four that between them use every random path (one-hot and
GeMix pools, the random and selective filters, traditional augmentation, mixup and
zeta-mixup); one CPU thread as in test_interrupt (the same in both runs).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import make_project, project_env
from minimal import ONEHOT, mini_params

pytestmark = pytest.mark.slow

METHODS = {
    "baseline": {"pool": "none", "filter": "all", "transform": "none", "mixing": "none"},
    "gan_selective": {"pool": "cgan", "filter": "selective", "transform": "none",
                      "mixing": "none"},
    "mixed": {"pool": "cgan", "filter": "random", "transform": "traditional",
              "mixing": "zeta_mixup"},
    "gemix": {"pool": "cgan_gemix", "filter": "selective", "transform": "none", "mixing": "mixup"},
}
POOLS = {"cgan": ONEHOT, "cgan_gemix": {**ONEHOT, "labels": "gemix"}}


def files(root: Path, folder: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted((root / folder).rglob("*")) if p.is_file()}


def out_hashes(root: Path) -> dict[str, str]:
    """md5 of every stage output under data/ and models/ as recorded in dvc.lock."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for stage in lock["stages"].values() for o in stage.get("outs", [])
            if o["path"].startswith(("data/", "models/"))}


def test_two_runs_give_identical_metrics(tmp_path):
    params = mini_params(train_classifier={"seeds": [0], "methods": METHODS},
                         generate={"pools": POOLS})
    projects = [make_project(tmp_path / f"run{i}", params) for i in (1, 2)]
    env = {**project_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=p, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for p in projects]
    for proc in procs:
        out, _ = proc.communicate(timeout=500)
        assert proc.returncode == 0, out

    a, b = projects
    metrics_a, metrics_b = files(a, "metrics"), files(b, "metrics")
    assert len(metrics_a) >= 8 and "metrics/evaluate.json" in metrics_a
    assert sorted(metrics_a) == sorted(metrics_b)
    differ = [name for name in metrics_a if metrics_a[name] != metrics_b[name]]
    assert differ == [], f"metrics differ between two runs: {differ}"
    reports_a, reports_b = files(a, "reports"), files(b, "reports")
    assert "reports/results.md" in reports_a  # and the report stage's text and figures
    differ = [name for name in reports_a if reports_a[name] != reports_b.get(name)]
    assert sorted(reports_a) == sorted(reports_b) and differ == [], differ
    assert not any(b"seconds" in content for content in metrics_a.values())  # timings: logs/

    hashes = out_hashes(a)
    assert "models/train_gan/cgan" in hashes and "data/selected/cgan.npz" in hashes
    assert hashes == out_hashes(b)
