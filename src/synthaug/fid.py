"""Fréchet distance between Gaussian fits of classifier features (FID with a task-specific network),
and the choice of a checkpoint at the minimum of the EMA-smoothed FID curve (eq. 2).

The layering follows pytorch-fid: features -> (mean, covariance) -> Fréchet distance, all in
numpy float64. The feature extractor is the classifier trained on the same data (paper, sec. 3.2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .core.errors import ConfigError, DataError, TrainingError

log = logging.getLogger(__name__)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean and covariance (rowvar=False, ddof=1) of an (N, D) feature matrix.

    Non-finite features do not raise: they yield NaN statistics, hence a NaN FID that the caller
    skips (a diverged generator checkpoint must not stop the sweep).
    """
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2:
        raise DataError(f"features must be a 2-D (N, D) array, got shape {feats.shape}")
    if feats.shape[0] < 2:
        raise DataError(f"need at least 2 feature rows for a covariance, got {feats.shape[0]}")
    with np.errstate(invalid="ignore", over="ignore"):
        mu = feats.mean(axis=0)
        sigma = np.atleast_2d(np.cov(feats, rowvar=False, ddof=1))
    return mu, sigma


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Return the symmetric square root of a symmetric PSD matrix (negative eigenvalues -> 0)."""
    w, v = np.linalg.eigh(matrix)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Return ||mu1-mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2), NaN for non-finite input.

    Covariances estimated from fewer images than feature dimensions (or with dead units) are
    singular. The symmetric eigenvalue form used here is stable for singular PSD matrices (unlike
    sqrtm of the non-symmetric S1 S2), and the ridge ``eps`` added to both diagonals makes the
    result well defined; eps=0 gives the plain formula.
    """
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    s1, s2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"shape mismatch: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}"
        )
    if not all(np.isfinite(a).all() for a in (mu1, mu2, s1, s2)):
        return float("nan")
    ridge = eps * np.eye(d)
    s1 = (s1 + s1.T) / 2 + ridge
    s2 = (s2 + s2.T) / 2 + ridge
    root1 = _sqrt_psd(s1)
    m = root1 @ s2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(value, 0.0)


@torch.no_grad()
def features_of(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Return (N, D) float64 penultimate features (eval mode, no grad, batched; model on ``device``)."""
    was_training = model.training
    model.eval()
    try:
        chunks = [
            model.penultimate(images[i : i + batch_size].to(device)).double().cpu()
            for i in range(0, len(images), batch_size)
        ]
    finally:
        model.train(was_training)
    if not chunks:
        raise DataError("cannot extract features from an empty image tensor")
    return torch.cat(chunks).numpy()


def fid_from_features(real: np.ndarray, fake: np.ndarray, eps: float = 1e-6) -> float:
    """Return the FID between two (N, D) feature matrices (NaN if either holds non-finite values)."""
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake), eps=eps)


# --------------------------------------------------------------------------- checkpoint choice


def ema_smooth(values: Sequence[float], alpha: float) -> np.ndarray:
    """Return the eq.-2 EMA d_t = alpha d_{t-1} + (1-alpha) v_t; non-finite v_t give NaN, state kept."""
    if not 0.0 <= alpha < 1.0:  # the range only: select_checkpoint.alpha arrives typed (params)
        raise ConfigError(f"alpha must be in [0, 1), got {alpha!r}")
    v = np.asarray(values, dtype=np.float64).ravel()
    out = np.full(v.shape, np.nan)
    state: float | None = None
    for t, x in enumerate(v):
        if np.isfinite(x):
            state = x if state is None else alpha * state + (1.0 - alpha) * x
            out[t] = state
    return out


def pick_checkpoint(
    epochs: Sequence[int], fids: Sequence[float], alpha: float
) -> tuple[int, np.ndarray]:
    """Return (index of the smoothed-FID minimum, earliest on ties; the smoothed curve)."""
    epochs = list(epochs)
    if len(epochs) != len(fids):
        raise DataError(f"{len(epochs)} epochs but {len(fids)} FID values")
    smooth = ema_smooth(fids, alpha)
    if not np.isfinite(smooth).any():
        raise TrainingError(
            f"no checkpoint has a finite FID: epochs {epochs} all produced non-finite images or "
            "features, so there is no checkpoint to choose; the generator diverged: lower its "
            "learning rate (train_gan.<kind>) and train it again")
    best = int(np.nanargmin(smooth))
    log.info("smoothed FID minimum %.4g at epoch %s (alpha=%s)", smooth[best], epochs[best], alpha)
    return best, smooth
