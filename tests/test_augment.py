"""Tests for synthaug.augment: soft CE, traditional jitter, mixup, zeta-mixup, GeMix labels."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from synthaug import augment
from synthaug.augment import (
    ZETA_DOMINANCE_GAMMA,
    TraditionalAugment,
    check_zeta_gamma,
    gemix_labels,
    mixup,
    one_hot,
    soft_cross_entropy,
    zeta_mixup,
    zeta_weights,
)
from synthaug.core.errors import ConfigError


def gen(seed: int = 0) -> torch.Generator:
    """Return a seeded CPU generator."""
    return torch.Generator().manual_seed(seed)


def batch(n: int = 8, c: int = 1, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    """Return a random image batch in [-1, 1]."""
    return torch.rand(n, c, h, w, generator=gen(seed)) * 2 - 1


def test_soft_cross_entropy_matches_cross_entropy_on_one_hot() -> None:
    logits = torch.randn(6, 4, generator=gen())
    labels = torch.tensor([0, 1, 2, 3, 1, 0])
    targets = one_hot(labels, 4)
    assert targets.dtype == torch.float32 and targets.sum(1).eq(1).all()
    torch.testing.assert_close(soft_cross_entropy(logits, targets), F.cross_entropy(logits, labels))


def test_traditional_zero_params_is_identity() -> None:
    x = batch()
    assert torch.equal(TraditionalAugment()(x, gen()), x)


def test_traditional_range_and_determinism() -> None:
    aug = TraditionalAugment(flip_h=True, flip_v=True, rotate=30, shift=0.1, scale=0.2,
                             brightness=0.5, contrast=0.5)
    x = batch(c=3, h=12, w=20)
    out = aug(x, gen(3))
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, aug(x, gen(3)))
    assert not torch.equal(out, aug(x, gen(4)))


def test_flip_h_flips_exactly() -> None:
    x = batch(n=32, c=3)
    out = TraditionalAugment(flip_h=True)(x, gen(1))
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped | kept).all() and flipped.any() and kept.any()


def test_shift_moves_content() -> None:
    x = -torch.ones(16, 1, 32, 32)
    x[:, :, 12:20, 12:20] = 1.0
    out = TraditionalAugment(shift=0.2)(x, gen(2))
    cols = torch.arange(32.0)
    mass = (out + 1).sum(dim=(1, 2))  # (N, W) column mass
    centre = (mass * cols).sum(1) / mass.sum(1)
    moved = (centre - 15.5).abs()
    assert moved.max() > 1.0 and moved.max() <= 0.2 * 32 + 0.5
    torch.testing.assert_close((out + 1).sum(dim=(1, 2, 3)), (x + 1).sum(dim=(1, 2, 3)),
                               rtol=0.02, atol=0.5)


@pytest.mark.parametrize("field,value", [("shift", 1.0), ("rotate", 181.0), ("scale", -0.1),
                                         ("contrast", 1.0), ("brightness", float("nan"))])
def test_traditional_validation_names_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"train_classifier.traditional.{field}"):
        TraditionalAugment(**{field: value})


def test_mixup_convex_labels() -> None:
    x, y = batch(), one_hot(torch.arange(8) % 3, 3)
    xm, ym = mixup(x, y, 0.4, gen())
    torch.testing.assert_close(ym.sum(1), torch.ones(8))
    assert ym.min() >= 0 and xm.min() >= -1 and xm.max() <= 1
    with pytest.raises(ConfigError, match="mixup_alpha"):
        mixup(x, y, 0.0, gen())


def test_zeta_weights_rows() -> None:
    gamma, n = 2.4, 6
    w = zeta_weights(n, gamma, gen())
    top = 1 / sum(j ** -gamma for j in range(1, n + 1))
    torch.testing.assert_close(w.sum(1), torch.ones(n))
    torch.testing.assert_close(w.diagonal(), torch.full((n,), top))
    assert torch.equal(w.argmax(1), torch.arange(n))
    expected = torch.tensor([j ** -gamma * top for j in range(1, n + 1)])
    torch.testing.assert_close(w.sort(1, descending=True).values, expected.expand(n, n))


@pytest.mark.parametrize("c", [1, 3])
def test_zeta_mixup_grey_and_rgb(c: int) -> None:
    x, y = batch(c=c), one_hot(torch.arange(8) % 4, 4)
    xm, ym = zeta_mixup(x, y, 2.8, gen())
    assert xm.shape == x.shape and ym.shape == y.shape
    torch.testing.assert_close(ym.sum(1), torch.ones(8))
    w = zeta_weights(8, 2.8, gen())
    torch.testing.assert_close(xm[2], torch.einsum("n,nchw->chw", w[2], x))


def test_zeta_n2_is_mixup() -> None:
    gamma = 2.0
    lam = 1 / (1 + 2 ** -gamma)
    w = zeta_weights(2, gamma, gen())
    torch.testing.assert_close(w, torch.tensor([[lam, 1 - lam], [1 - lam, lam]]))
    x, y = batch(n=2), one_hot(torch.tensor([0, 1]), 2)
    xm, ym = zeta_mixup(x, y, gamma, gen())
    torch.testing.assert_close(xm, lam * x + (1 - lam) * x.flip(0))
    torch.testing.assert_close(ym, lam * y + (1 - lam) * y.flip(0))


def test_zeta_gamma_warning_once(caplog: pytest.LogCaptureFixture,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(augment, "_warned_gammas", set())
    with caplog.at_level(logging.WARNING, logger="synthaug.augment"):
        check_zeta_gamma(ZETA_DOMINANCE_GAMMA)
        assert not caplog.records
        check_zeta_gamma(1.0)
        check_zeta_gamma(1.0)
    assert len(caplog.records) == 1 and "no sample dominates" in caplog.text
    with pytest.raises(ConfigError, match="train_classifier.zeta_gamma"):
        check_zeta_gamma(0.0)


def test_gemix_labels_valid_and_paired() -> None:
    classes = torch.arange(200) % 5
    y, partner = gemix_labels(classes, 5, generator=gen(7))
    assert y.shape == (200, 5) and y.dtype == torch.float32 and y.min() >= 0
    torch.testing.assert_close(y.sum(1), torch.ones(200))
    assert (partner != classes).all() and partner.min() >= 0 and partner.max() < 5
    top2 = y.topk(2, dim=1).indices
    assert torch.equal(top2[:, 0], classes) and torch.equal(top2[:, 1], partner)
    assert len(set(partner[classes == 0].tolist())) == 4  # every other class gets paired
    y2, partner2 = gemix_labels(classes, 5, generator=gen(7))
    assert torch.equal(y, y2) and torch.equal(partner, partner2)


def test_gemix_validation_and_failure() -> None:
    classes = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ConfigError, match="generate.gemix.alpha"):
        gemix_labels(classes, 3, alpha=0.0, generator=gen())
    with pytest.raises(ConfigError, match="generate.gemix.num_classes"):
        gemix_labels(classes, 1, generator=gen())
    with pytest.raises(ConfigError, match="generate.gemix.concentration_minor"):
        gemix_labels(classes, 3, concentration_minor=-1.0, generator=gen())
    with pytest.raises(RuntimeError, match="concentration_major"):
        gemix_labels(torch.zeros(200, dtype=torch.long), 50, concentration_major=1.2,
                     concentration_minor=1.0, generator=gen(), max_tries=2)
