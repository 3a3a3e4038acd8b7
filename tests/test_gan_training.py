"""Generator training internals: batch-invariant noise, per-epoch draws, resume, precision.

Fast, in-process tests on 8-px toy data (the `dvc repro` resume test is in test_interrupt.py).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch

from synthaug.models.generators import build_generator, row_normals
from synthaug.sampling import generate_pool, sample_batch_size, sample_images
from synthaug.training.generators import (
    GeneratorRun,
    _epoch_draws,
    _pack,
    _unpack,
    train_generator,
)

CLASSES, SIZE = 3, 8


def data(n: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, SIZE, SIZE, generator=g) * 2 - 1
    return x, torch.eye(CLASSES)[torch.arange(n) % CLASSES]


def spec(kind: str, epochs: int = 4, **kw) -> GeneratorRun:
    common = {"num_classes": CLASSES, "channels": 1, "image_size": SIZE}
    model, optim = {
        "cgan": ({"z_dim": 16, "width": 4}, {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0,
                                              "beta2": 0.9, "ema": 0.9, "diffaug": True}),
        "cvae": ({"z_dim": 4, "hidden": 16}, {"lr": 1e-3, "beta": 1.0}),
        "ae": ({"z_dim": 4, "hidden": 16, "noise": 0.5}, {"lr": 1e-3}),
    }[kind]
    return GeneratorRun(kind, {**common, **model}, optim, epochs=epochs, checkpoint_every=2,
                        batch_size=8, seed=0, **kw)


@pytest.mark.parametrize("dim", [4, 8, 16, 20, 64])
def test_row_normals_equal_row_by_row_draws(dim: int) -> None:
    g = torch.Generator().manual_seed(3)
    rows = torch.stack([torch.randn(dim, generator=g) for _ in range(7)])
    g2 = torch.Generator().manual_seed(3)
    assert torch.equal(row_normals(7, dim, g2, torch.device("cpu")), rows)
    assert torch.equal(g.get_state(), g2.get_state())  # the stream continues identically


def test_pack_unpack_round_trip() -> None:
    x, _ = data()
    run = spec("cgan")
    model = build_generator("cgan", **run.model_kwargs)
    perm, draws = _epoch_draws(run, model, len(x), torch.Generator().manual_seed(1))
    assert [len(d["z_d"]) for d in draws] == [8, 8, 4]
    assert draws[0]["aug_d"].shape == (16, 3) and draws[0]["aug_g"].shape == (8, 3)
    packed, layout = _pack(perm, draws)
    perm2, draws2 = _unpack(packed, layout)
    assert torch.equal(perm2, perm)
    for a, b in zip(draws, draws2, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k].float(), b[k]) for k in a)


def test_trailing_batch_of_one_is_skipped() -> None:
    run = spec("cvae")
    model = build_generator("cvae", **run.model_kwargs)
    _, draws = _epoch_draws(run, model, 17, torch.Generator().manual_seed(0))  # 8 + 8 + 1
    assert [len(d["eps"]) for d in draws] == [8, 8]


@pytest.mark.parametrize("kind", ["cgan", "cvae", "ae"])
def test_resume_equals_an_uninterrupted_run(tmp_path, kind: str) -> None:
    x, y = data()
    whole = train_generator(spec(kind, epochs=4), x, y, tmp_path / "whole")
    train_generator(spec(kind, epochs=2), x, y, tmp_path / "parts")
    parts = train_generator(spec(kind, epochs=4), x, y, tmp_path / "parts")
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in whole] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in parts]
    for name in ("epoch_002.pt", "epoch_004.pt"):
        a = torch.load(tmp_path / "whole" / name, weights_only=False)
        b = torch.load(tmp_path / "parts" / name, weights_only=False)
        for key, t in a["state_dict"].items():
            assert torch.equal(t, b["state_dict"][key]), (name, key)
    names = {"cgan": {"loss_d", "loss_g"}, "cvae": {"loss", "recon", "kl"}, "ae": {"loss"}}[kind]
    assert set(whole[-1]) == {"epoch", "seconds", *names}
    assert all(np.isfinite(v) for r in whole for v in r.values())


def test_resume_file_of_another_format_is_not_misread(tmp_path, caplog) -> None:
    x, y = data()
    out = tmp_path / "cgan"
    train_generator(spec("cgan", epochs=2), x, y, out)
    state = torch.load(out / "resume.pt", weights_only=False)
    state["fingerprint"] = "0123456789abcdef"  # e.g. written by an earlier version
    torch.save(state, out / "resume.pt")
    with caplog.at_level(logging.INFO):
        history = train_generator(spec("cgan", epochs=4), x, y, out)
    assert "starting anew" in caplog.text and len(history) == 4


def test_fingerprint_covers_precision_and_format() -> None:
    x, y = data()
    a = spec("cgan").fingerprint(x, y)
    assert a != spec("cgan", precision="bf16").fingerprint(x, y)
    assert a == dataclasses.replace(spec("cgan"), epochs=99).fingerprint(x, y)


@pytest.mark.parametrize("kind", ["cgan", "cvae", "ae"])
def test_bf16_autocast_trains_on_the_cpu(tmp_path, kind: str) -> None:
    """The mixed-precision path (on CUDA by default) runs and stays finite."""
    x, y = data()
    history = train_generator(spec(kind, epochs=2, precision="bf16"), x, y, tmp_path / kind)
    assert len(history) == 2 and all(np.isfinite(v) for r in history for v in r.values())


def test_convolutional_vae_trains(tmp_path) -> None:
    x, y = data()
    run = spec("cvae", epochs=2)
    run = dataclasses.replace(run, model_kwargs={**run.model_kwargs, "arch": "conv"})
    assert len(train_generator(run, x, y, tmp_path / "cvae")) == 2


def test_sample_batch_size_bounds_pixels() -> None:
    assert [sample_batch_size(s) for s in (8, 16, 28, 64, 128, 224)] == [512, 512, 167, 32, 8, 8]
    assert sample_batch_size(128, "cuda") == 64


@pytest.mark.parametrize("kind", ["cgan", "cvae"])
def test_sampling_in_any_batch_size_gives_the_same_pool(kind: str) -> None:
    torch.manual_seed(0)
    model = build_generator(kind, **spec(kind).model_kwargs).eval()
    y = torch.eye(CLASSES)[torch.arange(11) % CLASSES]
    big = sample_images(model, y, seed=4)
    out = np.full((11, 1, SIZE, SIZE), np.nan, np.float32)
    small = sample_images(model, y, seed=4, batch_size=3, out=out)
    torch.testing.assert_close(small, big)
    assert np.shares_memory(small.numpy(), out)
    pool = generate_pool(model, np.array([1, 2, 1]), CLASSES, seed=0)
    assert pool["images"].shape == (16, 1, SIZE, SIZE) and pool["images"].dtype == np.float32
    assert np.bincount(pool["classes"]).tolist() == [4, 8, 4]
