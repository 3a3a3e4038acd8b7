"""MC-dropout scores of synthetic candidates and the filters that select from them (Algorithm 1, eq. 3-4).

Conventions (paper, sec. 3.3 and 4.2):

* Activations are unit-normalised along channels at every pixel; D_f (eq. 3) is the mean over
  pixels of the squared L2 difference to the class centroid, i.e. 2 - 2 cos, an estimated cosine
  distance. We average over blocks instead of summing (a constant factor, same ranking).
* Centroids (eq. 4) average the channel-normalised activations of a class's real images from one
  deterministic pass and are then re-normalised along channels, so that both sides of eq. 3 are
  unit vectors and D_f stays a cosine distance (the raw mean of unit vectors is shorter than 1).
* The dropout layer sits between ``model.trunk`` and ``model.head``, so the trunk activations
  are identical across MC passes: the fast path runs the trunk once per batch and only the head
  K times (``mc_scores``); ``mc_scores_naive`` runs K full passes and serves as the reference.

Beyond the paper (issue 10), every filter keeps the same per-class budget from the same pool:

* ``covariance`` (Rezaei et al. 2025): per class, greedy forward selection of the candidate whose
  addition brings the subset's sample covariance closest (Frobenius) to the real class
  covariance, both in the PCA of that class's real features (``pca_dim`` axes), then best
  single exchanges while they lower the mismatch; see :func:`greedy_covariance`.
* ``selective_covariance``: Algorithm 1's entropy step (the lower-entropy half), then covariance
  matching instead of nearest-to-centroid.
* ``informative``: among the candidates whose MC-dropout prediction agrees with the class they
  were generated for, the highest-entropy ones. When fewer than the budget agree, all agreeing
  candidates are kept and no disagreeing one fills the gap: the subset is then smaller than the
  budget (logged, and visible as ``n`` in the filter metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from .core.errors import ConfigError, DataError

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------- scores


def predictive_entropy(probs: Tensor) -> Tensor:
    """Return the (N,) natural-log entropy -sum p log p of (N, C) probabilities, with 0 log 0 = 0."""
    return -torch.special.xlogy(probs, probs).sum(dim=-1)


def normalize_channels(act: Tensor, eps: float = 1e-8) -> Tensor:
    """Return ``act`` (N, C, H, W) unit-normalised along channels at every spatial position."""
    return act / act.norm(dim=1, keepdim=True).clamp_min(eps)


def centroid_distance(act_normed: Tensor, centroid: Tensor) -> Tensor:
    """Return (N,) mean over pixels of the squared channel L2 difference to a (C,H,W)/(N,C,H,W) centroid."""
    return (act_normed - centroid).pow(2).sum(dim=1).flatten(1).mean(dim=1)


def _distance_to_all(act_normed: Tensor, centroids: Tensor) -> Tensor:
    """Return (N, K) eq.-3 distances of every image to each of K centroids (K, C, H, W)."""
    hw = act_normed.shape[2] * act_normed.shape[3]
    sq_a = act_normed.pow(2).sum(dim=(1, 2, 3)) / hw
    sq_c = centroids.pow(2).sum(dim=(1, 2, 3)) / hw
    dot = torch.einsum("nchw,kchw->nk", act_normed, centroids) / hw
    return sq_a[:, None] + sq_c[None, :] - 2.0 * dot


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[torch.device]:
    """Put ``model`` in eval mode without grad, yield its device, restore the previous mode."""
    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    try:
        with torch.no_grad():
            yield param.device if param is not None else torch.device("cpu")
    finally:
        model.train(was_training)


def _as_labels(labels: object, n: int, num_classes: int | None, what: str) -> Tensor:
    """Return ``labels`` as a (n,) long tensor, checking length and range."""
    t = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
    if t.numel() != n:
        raise DataError(f"{what}: {t.numel()} labels for {n} images")
    if n and (t.min() < 0 or (num_classes is not None and t.max() >= num_classes)):
        raise DataError(f"{what}: labels must lie in [0, {num_classes}), got {t.min()}..{t.max()}")
    return t


def class_centroids(
    model: nn.Module, images: Tensor, labels: object, num_classes: int, batch_size: int = 256
) -> list[Tensor]:
    """Return eq.-4 centroids: per block a (num_classes, C_l, H_l, W_l) channel-renormalised mean."""
    y_all = _as_labels(labels, len(images), num_classes, "class_centroids")
    counts = torch.bincount(y_all, minlength=num_classes)
    missing = [c for c in range(num_classes) if counts[c] == 0]
    if missing:
        raise DataError(f"class(es) {missing} have no real training image to build a centroid from")
    sums: list[Tensor] = []
    with _eval_mode(model) as device:
        for i in range(0, len(images), batch_size):
            h, acts = model.trunk(images[i : i + batch_size].to(device))
            last = model.head(h)[2]
            y = y_all[i : i + batch_size].to(device)
            for b, act in enumerate([*acts, last]):
                normed = normalize_channels(act).double()
                if b == len(sums):
                    sums.append(normed.new_zeros((num_classes, *normed.shape[1:])))
                sums[b].index_add_(0, y, normed)
    denom = counts.to(torch.float64).view(-1, 1, 1, 1)
    return [normalize_channels(s.cpu() / denom).float() for s in sums]


def _score_batch(
    model: nn.Module,
    x: Tensor,
    cls: Tensor,
    centroids: list[Tensor],
    passes: int,
    generator: torch.Generator,
    reuse_trunk: bool,
) -> dict[str, Tensor]:
    """Score one batch; ``reuse_trunk`` runs the trunk once (fast) instead of once per pass."""
    h, acts = model.trunk(x)
    n_blocks = len(acts) + 1
    if len(centroids) != n_blocks:
        raise DataError(
            f"model yields {n_blocks} blocks but {len(centroids)} centroid blocks were given"
        )

    def trunk_sum(blocks: list[Tensor]) -> Tensor:
        pairs = zip(blocks, centroids[:-1], strict=True)
        return sum(
            (centroid_distance(normalize_channels(a), c[cls]) for a, c in pairs),
            x.new_zeros(len(x)),
        )

    # deterministic pass: distance_single, nearest centroid and the pass-invariant trunk distances
    det = [normalize_channels(a) for a in [*acts, model.head(h)[2]]]
    per_block = [centroid_distance(a, c[cls]) for a, c in zip(det, centroids, strict=True)]
    to_all = sum(_distance_to_all(a, c) for a, c in zip(det, centroids, strict=True)) / n_blocks
    single = sum(per_block) / n_blocks
    fixed = sum(per_block[:-1], x.new_zeros(len(x)))
    entropy = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    distance = torch.zeros_like(entropy)
    probs_sum: Tensor | float = 0.0
    for _ in range(passes):
        if not reuse_trunk:
            h, acts = model.trunk(x)
            fixed = trunk_sum(acts)
        logits, _, last = model.head(h, mc_generator=generator)
        probs = torch.softmax(logits.double(), dim=1)
        entropy += predictive_entropy(probs)
        probs_sum = probs_sum + probs
        distance += (
            fixed + centroid_distance(normalize_channels(last), centroids[-1][cls])
        ).double()
    mean_probs = probs_sum / passes
    return {
        "entropy": entropy / passes,
        "distance": distance / (passes * n_blocks),
        "distance_single": single,
        "nearest": to_all.argmin(dim=1),
        "prob_assigned": mean_probs.gather(1, cls[:, None]).squeeze(1),
        "pred": mean_probs.argmax(dim=1),
    }


def mc_scores(
    model: nn.Module,
    images: Tensor,
    classes: object,
    centroids: list[Tensor],
    passes: int = 5,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    *,
    reuse_trunk: bool = True,
) -> dict[str, np.ndarray]:
    """Return per-image MC-dropout scores, running the trunk once and the head K times per batch.

    Keys (numpy, length N): entropy, distance (eq. 3, mean over K passes and blocks),
    distance_single (one deterministic pass), nearest (class of the closest centroid,
    deterministic), prob_assigned (mean softmax prob of the assigned class), pred (argmax of the
    mean probs). Masks come from ``generator`` (default: seeded 0 on the model's device), one
    head call per pass and batch, in batch order; BN stays in eval mode, the mode is restored.
    ``reuse_trunk=False`` runs K full forward passes with the same masks (the reference).
    """
    if int(passes) < 1:
        raise ConfigError(f"passes (MC-dropout samples K) must be >= 1, got {passes}")
    num_classes = centroids[0].shape[0] if centroids else None
    cls_all = _as_labels(classes, len(images), num_classes, "mc_scores")
    parts: dict[str, list[np.ndarray]] = {}
    with _eval_mode(model) as device:
        gen = generator if generator is not None else torch.Generator(device).manual_seed(0)
        cents = [c.to(device) for c in centroids]
        for i in range(0, len(images), batch_size):
            out = _score_batch(
                model,
                images[i : i + batch_size].to(device),
                cls_all[i : i + batch_size].to(device),
                cents,
                int(passes),
                gen,
                reuse_trunk,
            )
            for key, val in out.items():
                val = val.cpu()
                parts.setdefault(key, []).append(
                    val.numpy() if key in ("nearest", "pred") else val.double().numpy()
                )
    if not parts:
        raise DataError("mc_scores got no images")
    return {key: np.concatenate(vals) for key, vals in parts.items()}


def mc_scores_naive(*args, **kwargs) -> dict[str, np.ndarray]:
    """Reference for ``mc_scores``: K full forward passes (trunk + head) with the same mask order."""
    return mc_scores(*args, **kwargs, reuse_trunk=False)


# --------------------------------------------------------------------------- filters


def keep_lowest(
    scores: np.ndarray,
    classes: np.ndarray,
    n_keep: Mapping[int, int],
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Return a bool mask of the n_keep[c] lowest-score eligible items per class c (ties: lower index)."""
    scores = np.asarray(scores, dtype=np.float64)
    classes = np.asarray(classes)
    if scores.shape != classes.shape or scores.ndim != 1:
        raise DataError(
            f"scores {scores.shape} and classes {classes.shape} must be equal 1-D shapes"
        )
    eligible = np.ones(len(classes), bool) if candidates is None else np.asarray(candidates, bool)
    if eligible.shape != classes.shape:
        raise DataError(f"candidates mask {eligible.shape} does not match classes {classes.shape}")
    keep = np.zeros(len(classes), bool)
    for _, idx, k in _per_class(eligible, classes, n_keep):
        # NaN scores sort last, so they are kept only when nothing else is left
        keep[idx[np.argsort(scores[idx], kind="stable")[:k]]] = True
    return keep


def _per_class(
    eligible: np.ndarray, classes: np.ndarray, n_keep: Mapping[int, int]
) -> Iterator[tuple[int, np.ndarray, int]]:
    """Yield (class, its eligible indices, number to keep) per class of ``n_keep``; warn when a
    class has fewer eligible candidates than wanted (all of them are kept then)."""
    for c, k in n_keep.items():
        if k < 0:
            raise ConfigError(f"number to keep for class {c} must be >= 0, got {k}")
        idx = np.flatnonzero(eligible & (classes == c))
        if len(idx) < k:
            log.warning(
                "class %s: only %d eligible candidates for %d wanted; keeping all", c, len(idx), k
            )
        yield c, idx, k


def _score(scores: Mapping[str, np.ndarray], key: str, n: int) -> np.ndarray:
    """Return ``scores[key]`` as a 1-D array of length n."""
    if key not in scores:
        raise DataError(f"scores lack the key {key!r} (have {sorted(scores)})")
    arr = np.asarray(scores[key])
    if arr.shape != (n,):
        raise DataError(f"scores[{key!r}] has shape {arr.shape}, expected ({n},)")
    return arr


def greedy_covariance(cand: np.ndarray, target: np.ndarray, k: int,
                      max_swaps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Covariance matching: return (chosen rows, mismatch after each greedy step and each swap).

    ``cand`` (m, d) and ``target`` (d, d) live in one space (a class PCA); the mismatch is
    ||cov(S) - target||_F with the sample covariance (ddof = 1) of the subset about its own mean.

    1. Greedy (Rezaei et al. 2025): step 1 takes the row nearest the origin (the real class
       mean); each later step adds the row x minimising ||cov(S + x) - target||_F (ties: lower
       row). Scoring is vectorised over the rows with rank-one updates: cov(S + x) =
       (k-1)/k cov(S) + w w^T / (k+1), w = x - mean(S), so ||cov(S + x) - T||^2 = ||E||^2 +
       2 w^T E w / (k+1) + |w|^4 / (k+1)^2 with E = (k-1)/k cov(S) - T, and the quadratic forms
       x^T cov(S) x of all rows are updated in O(m d) per step.
    2. Swaps: a forward greedy is myopic (its first picks fix the subset's shape from a handful
       of points), so the best single exchange of a chosen row for an unchosen one is applied
       while it lowers the mismatch, at most ``max_swaps`` times (default k). All k x (m - k)
       exchanges are scored at once (a rank-three update of cov(S)), O(k (m - k) d) per swap.
       The reported mismatch never increases during this phase.
    """
    z = np.asarray(cand, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    m, d = z.shape
    if t.shape != (d, d):
        raise DataError(f"target covariance {t.shape} does not match candidates of dimension {d}")
    k = min(int(k), m)
    chosen = np.empty(k, dtype=np.int64)
    trace = []
    if k == 0:
        return chosen, np.zeros(0)
    zz = (z * z).sum(1)
    zt = ((z @ t) * z).sum(1)  # x^T T x of every row, fixed
    g = np.zeros(m)  # x^T cov(S) x of every row, updated
    taken = np.zeros(m, dtype=bool)
    first = int(np.argmin(zz))
    chosen[0], taken[first] = first, True
    trace.append(float(np.linalg.norm(t)))
    mean, cov = z[first].copy(), np.zeros((d, d))
    for step in range(1, k):
        a = (step - 1) / step  # step = |S|
        e = a * cov - t
        em = e @ mean
        wew = (a * g - zt) - 2.0 * (z @ em) + mean @ em
        ww = zz - 2.0 * (z @ mean) + mean @ mean
        f = float((e * e).sum()) + 2.0 * wew / (step + 1) + ww**2 / (step + 1) ** 2
        f[taken] = np.inf
        s = int(np.argmin(f))
        w = z[s] - mean
        cov = a * cov + np.outer(w, w) / (step + 1)
        g = a * g + (z @ w) ** 2 / (step + 1)
        mean += w / (step + 1)
        chosen[step], taken[s] = s, True
        trace.append(float(np.sqrt(max(f[s], 0.0))))
    if k >= 2 and k < m:
        chosen, swaps = _swap_refine(z, t, chosen, k if max_swaps is None else int(max_swaps))
        trace += swaps
    return chosen, np.asarray(trace)


def _swap_refine(z: np.ndarray, t: np.ndarray, chosen: np.ndarray,
                 max_swaps: int) -> tuple[np.ndarray, list[float]]:
    """Best-improvement exchanges for :func:`greedy_covariance`; returns (rows, mismatch per swap)."""
    b = len(chosen)
    alpha, beta, gamma = 1.0 / b, -(b + 1.0) / (b * (b - 1.0)), 1.0 / (b * (b - 1.0))
    inside = np.zeros(len(z), dtype=bool)
    inside[chosen] = True
    chosen = chosen.copy()
    trace: list[float] = []
    for _ in range(max_swaps):
        rest = np.flatnonzero(~inside)
        mean = z[chosen].mean(0)
        ws, wr = z[chosen] - mean, z[rest] - mean  # v (out), u (in)
        dm = ws.T @ ws / (b - 1) - t
        now = float((dm * dm).sum())
        ds = ws @ dm
        vdv, udu = (ds * ws).sum(1), ((wr @ dm) * wr).sum(1)
        udv, uv = ds @ wr.T, ws @ wr.T  # (b, r)
        nv, nu = (ws * ws).sum(1)[:, None], (wr * wr).sum(1)[None, :]
        # cov(S - v + u) - T = D + alpha' u u^T + beta' v v^T + gamma' (u v^T + v u^T), primes / (b-1)
        inner = ((1 - 1 / b) * udu[None, :] - (1 + 1 / b) * vdv[:, None] + 2 * udv / b) / (b - 1)
        delta = (alpha**2 * nu**2 + beta**2 * nv**2 + 2 * gamma**2 * (nu * nv + uv**2)
                 + 2 * alpha * beta * uv**2 + 4 * alpha * gamma * nu * uv + 4 * beta * gamma * nv * uv)
        f = now + 2 * inner + delta
        i, j = np.unravel_index(int(np.argmin(f)), f.shape)
        if not f[i, j] < now - 1e-12 * max(now, float((t * t).sum()), 1e-300):
            break
        inside[chosen[i]], inside[rest[j]] = False, True
        chosen[i] = rest[j]
        trace.append(float(np.sqrt(max(f[i, j], 0.0))))
    return chosen, trace


def covariance_select(
    features: np.ndarray,
    classes: np.ndarray,
    pca: Mapping[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
    n_keep: Mapping[int, int],
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Return a bool mask of the n_keep[c] candidates per class chosen by :func:`greedy_covariance`.

    ``pca[c]`` = (mean, basis, target covariance) of class c's real features in its PCA (see
    :func:`synthaug.diversity.real_class_pca`); candidates are projected into that space.
    """
    features, classes = np.asarray(features, dtype=np.float64), np.asarray(classes)
    eligible = np.ones(len(classes), bool) if candidates is None else np.asarray(candidates, bool)
    keep = np.zeros(len(classes), bool)
    for c, idx, k in _per_class(eligible, classes, n_keep):
        if not len(idx) or not k:
            continue
        mean, basis, target = pca[c]
        order, mismatch = greedy_covariance((features[idx] - mean) @ basis, target, k)
        keep[idx[order]] = True
        log.debug("class %s: covariance mismatch %.4g after %d picks", c, mismatch[-1], len(order))
    return keep


def select_subsets(
    scores: Mapping[str, np.ndarray],
    classes: np.ndarray,
    budget: Mapping[int, int],
    seed: int,
    drop_foreign: bool = False,
    features: np.ndarray | None = None,
    pca: Mapping[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Return sorted candidate indices per filter, plus ``entropy_stage`` (Algorithm 1's first step).

    Filters: random, entropy, distance, distance_single, selective, informative and all, budget[c]
    per class; with ``features`` (candidates' penultimate features) and ``pca`` (the real
    classes' PCAs, :func:`synthaug.diversity.real_class_pca`) also covariance and
    selective_covariance (see the module docstring).

    ``selective`` is Algorithm 1: per class keep the 2*budget[c] lowest-entropy candidates (the
    half below the class median of a 4*budget pool), then the budget[c] of those closest to the
    class centroid. With ``drop_foreign`` candidates whose nearest centroid is another class's
    are removed before every filter, ``random`` and ``all`` included.
    """
    classes = np.asarray(classes)
    n = len(classes)
    eligible = np.ones(n, bool)
    if drop_foreign:
        eligible = _score(scores, "nearest", n) == classes
        log.info(
            "drop_foreign: %d of %d candidates are nearer another class's centroid",
            n - eligible.sum(),
            n,
        )
    rng = np.random.default_rng(seed)
    random = np.zeros(n, bool)
    for c in sorted(budget):
        idx = np.flatnonzero(eligible & (classes == c))
        k = budget[c]
        if len(idx) < k:
            log.warning("class %s: only %d eligible candidates for %d random picks", c, len(idx), k)
        random[rng.choice(idx, size=min(k, len(idx)), replace=False)] = True
    entropy = _score(scores, "entropy", n)
    distance = _score(scores, "distance", n)
    agree = eligible & (_score(scores, "pred", n) == classes)
    stage = keep_lowest(entropy, classes, {c: 2 * k for c, k in budget.items()}, eligible)
    masks = {
        "random": random,
        "entropy": keep_lowest(entropy, classes, budget, eligible),
        "distance": keep_lowest(distance, classes, budget, eligible),
        "distance_single": keep_lowest(
            _score(scores, "distance_single", n), classes, budget, eligible
        ),
        "selective": keep_lowest(distance, classes, budget, stage),
        "informative": keep_lowest(-entropy, classes, budget, agree),
    }
    if features is not None:
        if pca is None:
            raise DataError("covariance filters need the real classes' PCAs (pca)")
        features = np.asarray(features, dtype=np.float64)
        if features.shape[0] != n:
            raise DataError(f"{features.shape[0]} feature rows for {n} candidates")
        masks["covariance"] = covariance_select(features, classes, pca, budget, eligible)
        masks["selective_covariance"] = covariance_select(features, classes, pca, budget, stage)
    masks |= {"all": eligible, "entropy_stage": stage}
    return {name: np.flatnonzero(mask) for name, mask in masks.items()}


def audit_rows(
    scores: Mapping[str, np.ndarray], classes: np.ndarray, subsets: Mapping[str, np.ndarray]
) -> list[dict]:
    """Return one audit row per candidate: index, class, scores, kept_entropy, kept, in_<filter>."""
    classes = np.asarray(classes)
    n = len(classes)
    cols = {k: _score(scores, k, n) for k in ("entropy", "distance", "distance_single", "nearest")}

    def member(name: str) -> np.ndarray:
        mask = np.zeros(n, bool)
        mask[np.asarray(subsets.get(name, []), dtype=np.int64)] = True
        return mask

    flags = {"kept_entropy": member("entropy_stage"), "kept": member("selective")}
    flags |= {
        f"in_{name}": member(name)
        for name in subsets
        if name not in ("entropy_stage", "selective", "all")
    }
    rows = []
    for i in range(n):
        row: dict = {"index": i, "class": int(classes[i])}
        row |= {k: float(v[i]) for k, v in cols.items() if k != "nearest"}
        row["nearest"] = int(cols["nearest"][i])
        row |= {k: bool(v[i]) for k, v in flags.items()}
        rows.append(row)
    return rows
