"""Numerical faults (issue item 3): NaN losses, non-finite FIDs, singular covariances.

A diverging generator stops with a TrainingError naming its epoch and keeps the
checkpoints before it; a checkpoint whose FID is not finite is reported (log, CSV,
summary) and never chosen; if none is finite select_checkpoint fails and writes
nothing; FIDs from fewer images than feature dimensions stay finite and exact.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import torch
import yaml
from minimal import mini_params

from synthaug.core import paths
from synthaug.core.checkpoints import atomic_torch_save, list_checkpoints
from synthaug.core.errors import TrainingError
from synthaug.core.io import read_csv, read_json
from synthaug.core.params import parse_params
from synthaug.core.runtime import run_stage
from synthaug.data.dataset import Dataset, save_split
from synthaug.fid import feature_statistics, features_of, frechet_distance, pick_checkpoint
from synthaug.models.classifier import ClassifierConfig, ResNetClassifier, save_classifier
from synthaug.models.generators import build_generator
from synthaug.pipeline import select_checkpoint, train_gan
from synthaug.pipeline.select_checkpoint import score_checkpoints
from synthaug.sampling import fid_labels, generate_pool
from synthaug.training.generators import GeneratorRun, train_generator

CLASSES, SIZE = 4, 8


def images_and_labels(n: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, SIZE, SIZE, generator=g) * 2 - 1
    return x, torch.arange(n) % CLASSES


def ae_run(epochs: int, lr: float = 1e-3) -> GeneratorRun:
    return GeneratorRun("ae", {"num_classes": CLASSES, "channels": 1, "image_size": SIZE,
                               "z_dim": 4, "hidden": 16, "noise": 0.5},
                        {"lr": lr}, epochs=epochs, checkpoint_every=2, batch_size=8, seed=0)


def poison(module: torch.nn.Module) -> torch.nn.Module:
    """Set every weight to NaN (what a diverged generator looks like)."""
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(float("nan"))
    return module


# ------------------------------------------------------------------ NaN losses


def test_diverging_learning_rate_stops_at_the_first_epoch(tmp_path):
    x, y = images_and_labels()
    run = GeneratorRun("cvae", {"num_classes": CLASSES, "channels": 1, "image_size": SIZE,
                                "z_dim": 4, "hidden": 16},
                       {"lr": 1e8, "beta": 1.0}, epochs=6, checkpoint_every=2, batch_size=8, seed=0)
    with pytest.raises(TrainingError) as err:
        train_generator(run, x, torch.eye(CLASSES)[y], tmp_path / "cvae")
    msg = str(err.value)
    assert "cvae losses became non-finite at epoch 1" in msg and "train_gan.cvae" in msg
    assert list_checkpoints(tmp_path / "cvae") == []


def test_nan_midway_names_the_epoch_and_keeps_earlier_checkpoints(tmp_path):
    x, y = images_and_labels()
    out = tmp_path / "ae"
    train_generator(ae_run(epochs=4), x, torch.eye(CLASSES)[y], out)
    kept = {p.name: p.read_bytes() for p in list_checkpoints(out)}
    assert sorted(kept) == ["epoch_002.pt", "epoch_004.pt"]
    state = torch.load(out / "resume.pt", weights_only=False)  # the weights blow up after epoch 4
    state["trainer"]["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                                 for k, v in state["trainer"]["model"].items()}
    torch.save(state, out / "resume.pt")
    with pytest.raises(TrainingError, match=r"ae losses became non-finite at epoch 5 \({'loss': nan}\)"):
        train_generator(ae_run(epochs=8), x, torch.eye(CLASSES)[y], out)
    assert {p.name: p.read_bytes() for p in list_checkpoints(out)} == kept


def test_train_gan_stage_exits_2_naming_the_epoch(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    x, y = images_and_labels()
    save_split(paths.prepared("train"), Dataset(x.numpy(), y.numpy(), list("abcd")))
    params = mini_params(train_gan={"kinds": ["cvae"], "cvae": {"z_dim": 4, "hidden": 16,
                                                                "lr": 1e8, "beta": 1.0}},
                         generate={"pools": {"cgan": {"generator": "cvae", "labels": "onehot"}}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv("SYNTHAUG_PARAMS", str(tmp_path / "params.yaml"))
    with pytest.raises(SystemExit) as exc:
        run_stage(train_gan.run, ["cvae"], nargs=1)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert re.match(r"error: cvae losses became non-finite at epoch \d+ .*train_gan.cvae", err)
    assert not paths.metrics("train_gan", "cvae").exists()


# ------------------------------------------------------------------ non-finite FID


def extractor() -> ResNetClassifier:
    torch.manual_seed(0)
    cfg = ClassifierConfig(in_channels=1, num_classes=CLASSES, blocks=(1, 1), widths=(8, 16),
                           dropout=0.5)
    return ResNetClassifier(cfg).eval()


def save_cgan(path, epoch: int, nan: bool = False) -> None:
    torch.manual_seed(epoch)
    gen = build_generator("cgan", num_classes=CLASSES, channels=1, image_size=SIZE, z_dim=8,
                          width=8)
    if nan:
        poison(gen)
    atomic_torch_save({"kind": "cgan", "epoch": epoch, "config": gen.config,
                       "state_dict": gen.state_dict(), "fingerprint": "test"}, path)


def test_nonfinite_fid_is_reported_and_skipped(tmp_path, caplog):
    for epoch in (2, 4, 6):
        save_cgan(tmp_path / f"epoch_{epoch:03d}.pt", epoch, nan=epoch == 4)
    x, y = images_and_labels(40)
    net = extractor()
    real = features_of(net, x)
    labels = fid_labels(y.numpy(), CLASSES, 32, seed=0)
    with caplog.at_level(logging.WARNING):
        rows = score_checkpoints(list_checkpoints(tmp_path), net, real, labels, seed=0)
    assert [r["epoch"] for r in rows] == [2, 4, 6]
    fids = [r["fid"] for r in rows]
    assert np.isfinite(fids[0]) and np.isnan(fids[1]) and np.isfinite(fids[2])
    assert "epoch_004.pt: FID is not finite; this checkpoint is skipped" in caplog.text
    best, smooth = pick_checkpoint([2, 4, 6], fids, alpha=0.3)
    assert best in (0, 2) and np.isnan(smooth[1])


def test_no_finite_fid_fails_clearly():
    with pytest.raises(TrainingError) as err:
        pick_checkpoint([5, 10], [float("nan"), float("inf")], 0.3)
    assert "no checkpoint has a finite FID: epochs [5, 10]" in str(err.value)
    assert "learning rate" in str(err.value)


@pytest.fixture
def select_project(tmp_path, monkeypatch):
    """A folder with a prepared training split and an extractor, as select_checkpoint reads them."""
    monkeypatch.chdir(tmp_path)
    x, y = images_and_labels(40)
    save_split(paths.prepared("train"), Dataset(x.numpy(), y.numpy(), list("abcd")))
    save_classifier(extractor(), paths.extractor())
    return tmp_path


def test_select_checkpoint_skips_and_reports_a_nan_checkpoint(select_project):
    save_cgan(paths.gan_dir("cgan") / "epoch_005.pt", 5, nan=True)
    save_cgan(paths.gan_dir("cgan") / "epoch_010.pt", 10)
    summary = select_checkpoint.run(parse_params(mini_params()), "cgan")
    assert summary["chosen_epoch"] == 10 and summary["nonfinite"] == 1
    rows = read_csv(paths.METRICS / "select_checkpoint" / "cgan_fid.csv")
    assert [(r["epoch"], r["fid"], r["fid_ema"]) for r in rows][0] == ("5", "nan", "nan")
    assert read_json(paths.metrics("select_checkpoint", "cgan"))["nonfinite"] == 1


def test_select_checkpoint_with_no_finite_fid_writes_nothing(select_project):
    for epoch in (5, 10):
        save_cgan(paths.gan_dir("cgan") / f"epoch_{epoch:03d}.pt", epoch, nan=True)
    with pytest.raises(TrainingError, match=r"no checkpoint has a finite FID: epochs \[5, 10\]"):
        select_checkpoint.run(parse_params(mini_params()), "cgan")
    assert not paths.chosen_generator("cgan").exists()
    assert not (paths.METRICS / "select_checkpoint").exists()


def test_nan_generator_cannot_make_a_pool():
    gen = poison(build_generator("cgan", num_classes=CLASSES, channels=1, image_size=SIZE,
                                 z_dim=8, width=8)).eval()
    with pytest.raises(TrainingError, match="non-finite image.*first of class 0"):
        generate_pool(gen, np.array([1, 1, 1, 1]), CLASSES, seed=0)


# ------------------------------------------------------------------ singular covariances


def nuclear_reference(f1: np.ndarray, f2: np.ndarray) -> float:
    """Exact FID for n < d: tr((S1 S2)^1/2) is the nuclear norm of X1c X2c^T / (n - 1)."""
    c1, c2 = f1 - f1.mean(0), f2 - f2.mean(0)
    s1, s2 = c1.T @ c1 / (len(f1) - 1), c2.T @ c2 / (len(f2) - 1)
    cross = np.linalg.svd(c1 @ c2.T / (len(f1) - 1), compute_uv=False).sum()
    diff = f1.mean(0) - f2.mean(0)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * cross)


@pytest.mark.parametrize(("n", "d"), [(6, 40), (16, 16), (3, 128)])
def test_fewer_images_than_dimensions_gives_the_exact_finite_fid(n, d):
    rng = np.random.default_rng(n)
    f1, f2 = rng.normal(size=(n, d)), rng.normal(0.5, 2.0, size=(n, d))
    s1 = feature_statistics(f1)[1]
    assert np.linalg.matrix_rank(s1) < d  # singular: sqrtm of S1 S2 is ill-conditioned here
    exact = frechet_distance(*feature_statistics(f1), *feature_statistics(f2), eps=0.0)
    assert np.isfinite(exact) and exact == pytest.approx(nuclear_reference(f1, f2), rel=1e-6)
    ridged = frechet_distance(*feature_statistics(f1), *feature_statistics(f2), eps=1e-6)
    assert ridged == pytest.approx(exact, rel=1e-4)
    same = frechet_distance(*feature_statistics(f1), *feature_statistics(f1), eps=1e-6)
    assert 0.0 <= same < 1e-6 * exact


def test_singular_covariance_is_logged_when_scoring(tmp_path, caplog):
    save_cgan(tmp_path / "epoch_002.pt", 2)
    x, y = images_and_labels(12)  # 12 real and 8 generated images, 16 feature dimensions
    net = extractor()
    with caplog.at_level(logging.WARNING):
        rows = score_checkpoints([tmp_path / "epoch_002.pt"], net, features_of(net, x),
                                 fid_labels(y.numpy(), CLASSES, 8, seed=0), seed=0)
    assert np.isfinite(rows[0]["fid"])
    assert "12 real and 8 generated images in 16 feature dimensions" in caplog.text
