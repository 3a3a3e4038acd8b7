"""Tests of the Fréchet distance layers against closed forms and a scipy.linalg.sqrtm reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg
from torch import nn

from synthaug.core.errors import DataError
from synthaug.fid import feature_statistics, features_of, fid_from_features, frechet_distance


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def _reference(mu1, s1, mu2, s2) -> float:
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real))


def test_identical_statistics_give_zero() -> None:
    mu, sigma = feature_statistics(np.random.default_rng(0).normal(size=(200, 6)))
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_equal_covariances_give_squared_mean_distance() -> None:
    sigma = _spd(np.random.default_rng(1), 5)
    mu1, mu2 = np.zeros(5), np.arange(5.0)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(30.0, abs=1e-8)


@pytest.mark.parametrize("seed", range(5))
def test_matches_sqrtm_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mu1, mu2, s1, s2 = rng.normal(size=8), rng.normal(size=8), _spd(rng, 8), _spd(rng, 8)
    got = frechet_distance(mu1, s1, mu2, s2, eps=0.0)
    assert got == pytest.approx(_reference(mu1, s1, mu2, s2), rel=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_symmetric(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mu1, mu2, s1, s2 = rng.normal(size=8), rng.normal(size=8), _spd(rng, 8), _spd(rng, 8)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        frechet_distance(mu2, s2, mu1, s1), rel=1e-8
    )


def test_singular_covariance_is_finite() -> None:
    rng = np.random.default_rng(3)
    mu1, s1 = feature_statistics(rng.normal(size=(5, 10)))
    mu2, s2 = feature_statistics(rng.normal(size=(5, 10)) + 1.0)
    assert np.linalg.matrix_rank(s1) < 10
    value = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(value) and value > 0


def test_non_finite_input_gives_nan() -> None:
    feats = np.random.default_rng(4).normal(size=(20, 3))
    bad = feats.copy()
    bad[2, 1] = np.nan
    assert np.isnan(fid_from_features(feats, bad))
    mu, sigma = feature_statistics(feats)
    assert np.isnan(frechet_distance(mu, sigma, mu + np.inf, sigma))


def test_shape_mismatch_and_too_few_rows() -> None:
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(DataError):
        feature_statistics(np.zeros((1, 3)))


class _Stub(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.drop = nn.Dropout(0.5)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.lin(x.flatten(1)))


def test_features_of_is_batched_deterministic_and_restores_mode() -> None:
    model = _Stub().train()
    images = torch.randn(7, 1, 2, 2)
    feats = features_of(model, images, batch_size=3)
    assert feats.shape == (7, 3) and feats.dtype == np.float64
    np.testing.assert_allclose(
        feats, model.lin(images.flatten(1)).detach().double().numpy(), rtol=1e-6
    )
    assert model.training
