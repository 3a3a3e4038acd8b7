"""How diverse a set of synthetic images is, measured against the real images of each class.

All functions take feature matrices (the extractor's penultimate features) and work per
class; a summary averages the classes (macro, classes where a measure is undefined left out).

* ``class_pca``: the PCA of one class's real features, the space the covariance filters match in.
* covariance mismatch: ||cov(S) - cov(R)||_F / ||cov(R)||_F (sample covariances, ddof = 1, each
  set about its own mean): 0 when S has the real covariance, 1 when S has none (a single point
  repeated), above 1 when S spreads more or in other directions.
* spread: sqrt(tr cov(S) / tr cov(R)), the RMS distance to the set's own class mean relative to
  the real images' (1: as spread out as the real images; 0.3: a third).
* precision and recall (Kynkaanniemi et al. 2019): the real manifold is the union of balls around
  each real feature with radius its distance to its k-th nearest real neighbour; precision is the
  share of synthetic features inside it; recall is the share of real features inside the
  synthetic manifold (built the same way from the synthetic features). Per class, with
  k = min(knn, n - 1) for a set of n features: the paper's k = 3 where a class has 4 or more
  images, fewer for the 2-3 images of the smallest classes (a set of one image has no manifold:
  undefined, left out). Recall grows with the size of the synthetic set, so compare subsets of
  equal size (every filter keeps the same budget; ``all`` holds four times as many).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .core.errors import ConfigError, DataError


def covariance(x: np.ndarray) -> np.ndarray:
    """Return the (D, D) sample covariance (ddof = 1) of (n, D) rows; NaN when n < 2."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return np.full((x.shape[1], x.shape[1]), np.nan)
    c = x - x.mean(axis=0)
    return c.T @ c / (len(x) - 1)


def class_pca(real: np.ndarray, dim: int, what: str = "a class") -> tuple[np.ndarray, np.ndarray]:
    """Return (mean (D,), orthonormal basis (D, dim)) of the PCA of one class's real features.

    A PCA of n images has at most n - 1 components: a larger ``dim`` raises a ConfigError that
    names ``filter_synthetic.pca_dim``. Signs are fixed (largest entry of each axis positive).
    """
    real = np.asarray(real, dtype=np.float64)
    if real.ndim != 2:
        raise DataError(f"features must be (n, D), got shape {real.shape}")
    n, d = real.shape
    allowed = min(n - 1, d)
    if not 1 <= dim <= allowed:
        raise ConfigError(
            f"params key 'filter_synthetic.pca_dim' = {dim} is not allowed: at most {allowed} for "
            f"{what} ({n} real training images, {d} features; a PCA of n images has at most n - 1 "
            "components)")
    mean = real.mean(axis=0)
    _, _, vt = np.linalg.svd(real - mean, full_matrices=False)
    basis = vt[:dim].T
    flip = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(dim)])
    return mean, basis * np.where(flip == 0, 1.0, flip)


def real_class_pca(
    real_features: np.ndarray, real_labels: np.ndarray, classes: object, dim: int
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per class: (mean, basis, covariance of the real features in that basis) of a ``dim``-axis
    PCA (:func:`class_pca`): the space and target of the covariance filters."""
    real_features, real_labels = np.asarray(real_features, np.float64), np.asarray(real_labels)
    out = {}
    for c in classes:
        r = real_features[real_labels == c]
        mean, basis = class_pca(r, dim, what=f"class {c}")
        out[int(c)] = (mean, basis, covariance((r - mean) @ basis))
    return out


def relative_mismatch(cov_syn: np.ndarray, cov_real: np.ndarray) -> float:
    """Return ||cov_syn - cov_real||_F / ||cov_real||_F (NaN if either is undefined or cov_real is 0)."""
    ref = float(np.linalg.norm(cov_real))
    if not np.isfinite(ref) or ref == 0 or not np.isfinite(cov_syn).all():
        return float("nan")
    return float(np.linalg.norm(cov_syn - cov_real) / ref)


def spread_ratio(syn: np.ndarray, real: np.ndarray) -> float:
    """Return sqrt(tr cov(syn) / tr cov(real)); NaN when undefined."""
    ts, tr = np.trace(covariance(syn)), np.trace(covariance(real))
    if not (np.isfinite(ts) and np.isfinite(tr)) or tr <= 0:
        return float("nan")
    return float(np.sqrt(ts / tr))


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(sq, 0.0, None))


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Return each row's distance to its k-th nearest other row (k = min(k, n - 1); NaN if n < 2)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return np.full(len(x), np.nan)
    d = _pairwise(x, x)
    np.fill_diagonal(d, np.inf)
    kk = min(int(k), len(x) - 1)
    return np.partition(d, kk - 1, axis=1)[:, kk - 1]


def precision_recall(real: np.ndarray, syn: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Return (precision, recall) of ``syn`` against ``real`` with k-NN manifolds (see module doc)."""
    if k < 1:
        raise ConfigError(f"params key 'filter_synthetic.knn' = {k} is not allowed: >= 1")
    real, syn = np.asarray(real, np.float64), np.asarray(syn, np.float64)
    if len(real) < 2 or len(syn) < 1:
        precision = float("nan")
    else:
        precision = float((_pairwise(syn, real) <= knn_radii(real, k)[None, :]).any(1).mean())
    if len(syn) < 2 or len(real) < 1:
        recall = float("nan")
    else:
        recall = float((_pairwise(real, syn) <= knn_radii(syn, k)[None, :]).any(1).mean())
    return precision, recall


def _macro(values: list[float]) -> float | None:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else None


def diversity_summary(real: np.ndarray, real_labels: np.ndarray, syn: np.ndarray,
                      syn_labels: np.ndarray, knn: int = 3,
                      pca: Mapping[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
                      ) -> dict[str, float | None]:
    """Macro averages over the classes of ``syn``: cov_mismatch, spread, precision, recall.

    With ``pca`` (class -> (mean, basis, real covariance in that basis), from
    :func:`real_class_pca`) also ``cov_mismatch_pca``: the mismatch in the space the covariance
    filters match in. None where no class defines a measure.
    """
    real, syn = np.asarray(real, np.float64), np.asarray(syn, np.float64)
    real_labels, syn_labels = np.asarray(real_labels), np.asarray(syn_labels)
    out: dict[str, list[float]] = {k: [] for k in ("cov_mismatch", "cov_mismatch_pca", "spread",
                                                   "precision", "recall")}
    for c in np.unique(syn_labels):
        r, s = real[real_labels == c], syn[syn_labels == c]
        out["cov_mismatch"].append(relative_mismatch(covariance(s), covariance(r)))
        out["spread"].append(spread_ratio(s, r))
        p, q = precision_recall(r, s, knn)
        out["precision"].append(p)
        out["recall"].append(q)
        if pca is not None and int(c) in pca:
            mean, basis, target = pca[int(c)]
            out["cov_mismatch_pca"].append(relative_mismatch(covariance((s - mean) @ basis), target))
    summary = {k: _macro(v) for k, v in out.items()}
    if pca is None:
        del summary["cov_mismatch_pca"]
    return summary
