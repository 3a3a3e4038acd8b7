"""Tests of FID smoothing, MC-dropout scores and the selection filters on tiny closed-form inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from synthaug.core.errors import ConfigError, DataError, TrainingError
from synthaug.fid import ema_smooth, pick_checkpoint
from synthaug.filters import (
    audit_rows,
    centroid_distance,
    class_centroids,
    keep_lowest,
    mc_scores,
    mc_scores_naive,
    normalize_channels,
    predictive_entropy,
    select_subsets,
)

# --------------------------------------------------------------------------- smoothing


def test_ema_matches_eq2_by_hand() -> None:
    # d1 = 10; d2 = .3*10 + .7*4 = 5.8; d3 = .3*5.8 + .7*6 = 5.94; d4 = .3*5.94 + .7*1 = 2.482
    np.testing.assert_allclose(ema_smooth([10, 4, 6, 1], 0.3), [10, 5.8, 5.94, 2.482], rtol=1e-12)
    np.testing.assert_allclose(ema_smooth([3, 1, 2], 0.0), [3, 1, 2])


@pytest.mark.parametrize("alpha", [-0.1, 1.0, 1.5, float("nan")])
def test_alpha_outside_range_raises(alpha: float) -> None:
    with pytest.raises(ConfigError, match="alpha"):
        ema_smooth([1.0, 2.0], alpha)


def test_nan_entries_skipped_and_never_chosen() -> None:
    smooth = ema_smooth([float("nan"), 8, float("inf"), 2], 0.5)
    assert np.isnan(smooth[0]) and np.isnan(smooth[2])
    np.testing.assert_allclose(smooth[[1, 3]], [8, 5])
    idx, curve = pick_checkpoint([5, 10, 15, 20], [0.0, 8, float("nan"), 2], 0.5)
    # 0.0 starts the curve: [0, 4, nan, 3] -> index 0; NaN never wins
    assert idx == 0 and np.isnan(curve[2])
    idx, _ = pick_checkpoint([5, 10, 15], [float("nan"), 3, 3], 0.0)
    assert idx == 1  # tie -> earliest, NaN skipped


def test_all_nan_raises_training_error() -> None:
    with pytest.raises(TrainingError, match="no checkpoint has a finite FID"):
        pick_checkpoint([5, 10], [float("nan"), float("nan")], 0.3)


# --------------------------------------------------------------------------- scores


def test_entropy_closed_forms() -> None:
    probs = torch.tensor([[0.25] * 4, [0.0, 1.0, 0.0, 0.0]])
    np.testing.assert_allclose(predictive_entropy(probs).numpy(), [math.log(4), 0.0], atol=1e-7)


def test_centroid_distance_closed_forms() -> None:
    act = normalize_channels(torch.randn(3, 4, 2, 5))
    np.testing.assert_allclose(act.norm(dim=1).numpy(), 1.0, rtol=1e-6)
    assert torch.allclose(centroid_distance(act, act), torch.zeros(3))
    e0 = torch.zeros(1, 3, 2, 2)
    e0[:, 0] = 1
    e1 = torch.zeros(3, 2, 2)
    e1[1] = 1
    assert torch.allclose(centroid_distance(e0, e1), torch.tensor([2.0]))


class _Tiny(nn.Module):
    """Stand-in with the feature-extractor interface: trunk -> dropout -> last block -> fc."""

    def __init__(self, num_classes: int = 3, p: float = 0.5) -> None:
        super().__init__()
        self.p = p
        self.b1 = nn.Conv2d(2, 4, 3, padding=1)
        self.b2 = nn.Sequential(
            nn.Conv2d(4, 5, 3, stride=2, padding=1), nn.BatchNorm2d(5), nn.ReLU()
        )
        self.b3 = nn.Sequential(nn.Conv2d(5, 6, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(6, num_classes)

    def trunk(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        a1 = torch.relu(self.b1(x))
        a2 = self.b2(a1)
        return a2, [a1, a2]

    def head(
        self, h: Tensor, mc_generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        if mc_generator is not None:
            h = h * (torch.rand(h.shape, generator=mc_generator) >= self.p) / (1 - self.p)
        last = self.b3(h)
        feats = last.mean(dim=(2, 3))
        return self.fc(feats), feats, last

    def penultimate(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x)[0])[1]


@pytest.fixture
def tiny() -> tuple[_Tiny, Tensor, Tensor]:
    torch.manual_seed(0)
    model = _Tiny()
    model.train()
    with torch.no_grad():  # give BN non-trivial running statistics
        model.trunk(torch.randn(16, 2, 6, 6) * 2)
    images = torch.randn(11, 2, 6, 6)
    labels = torch.tensor([0, 1, 2] * 3 + [0, 1])
    return model, images, labels


def test_class_centroids_shapes_unit_norm_and_missing_class(tiny) -> None:
    model, images, labels = tiny
    cents = class_centroids(model, images, labels, 3, batch_size=4)
    assert [tuple(c.shape) for c in cents] == [(3, 4, 6, 6), (3, 5, 3, 3), (3, 6, 3, 3)]
    norms = cents[1].norm(dim=1)
    assert torch.allclose(norms[norms > 0], torch.ones(()), atol=1e-5)
    assert model.training
    with pytest.raises(DataError, match=r"\[3\]"):
        class_centroids(model, images, labels, 4)


def test_fast_mc_scores_match_naive(tiny) -> None:
    model, images, labels = tiny
    cents = class_centroids(model, images, labels, 3)
    classes = np.array([2, 0, 1, 1, 0, 2, 0, 1, 2, 2, 1])
    fast, slow = (
        score(model, images, classes, cents, passes=4,
              generator=torch.Generator().manual_seed(7), batch_size=4)
        for score in (mc_scores, mc_scores_naive)
    )
    assert set(fast) == {
        "entropy",
        "distance",
        "distance_single",
        "nearest",
        "prob_assigned",
        "pred",
    }
    for key in fast:
        assert fast[key].shape == (11,)
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert not np.allclose(fast["distance"], fast["distance_single"])  # dropout had an effect
    assert model.training


def test_single_pass_without_dropout_equals_deterministic(tiny) -> None:
    _, images, labels = tiny
    torch.manual_seed(1)
    model = _Tiny(p=0.0).eval()
    cents = class_centroids(model, images, labels, 3)
    out = mc_scores(model, images, labels.numpy(), cents, passes=1)
    np.testing.assert_allclose(out["distance"], out["distance_single"], rtol=1e-5)
    assert set(np.unique(out["nearest"])) <= {0, 1, 2}
    with pytest.raises(ConfigError, match="passes"):
        mc_scores(model, images, labels, cents, passes=0)


# --------------------------------------------------------------------------- filters


def test_keep_lowest_counts_median_and_ties() -> None:
    rng = np.random.default_rng(0)
    classes = np.repeat([0, 1], [8, 12])
    scores = rng.permutation(20).astype(float)
    mask = keep_lowest(scores, classes, {0: 4, 1: 6})
    for c, k in ((0, 4), (1, 6)):
        sel = classes == c
        assert mask[sel].sum() == k
        np.testing.assert_array_equal(mask[sel], scores[sel] < np.median(scores[sel]))
    ties = keep_lowest(np.zeros(4), np.zeros(4, int), {0: 2})
    np.testing.assert_array_equal(ties, [True, True, False, False])
    only = keep_lowest(
        np.arange(4.0), np.zeros(4, int), {0: 2}, candidates=np.array([0, 1, 0, 1], bool)
    )
    np.testing.assert_array_equal(only, [False, True, False, True])


def test_keep_lowest_short_class_warns(caplog) -> None:
    mask = keep_lowest(np.arange(3.0), np.array([0, 0, 1]), {0: 1, 1: 2})
    assert mask.tolist() == [True, False, True]
    assert "class 1" in caplog.text


def _pool(budget: dict[int, int], seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    classes = np.concatenate([np.full(4 * b, c) for c, b in budget.items()])
    n = len(classes)
    scores = {
        "entropy": rng.random(n),
        "distance": rng.random(n),
        "distance_single": rng.random(n),
        "nearest": np.where(rng.random(n) < 0.7, classes, (classes + 1) % len(budget)),
        "pred": np.where(rng.random(n) < 0.7, classes, (classes + 1) % len(budget)),
    }
    return scores, classes


def test_select_subsets_sizes_and_algorithm1() -> None:
    budget = {0: 3, 1: 5, 2: 2}
    scores, classes = _pool(budget)
    subsets = select_subsets(scores, classes, budget, seed=1)
    for name in ("random", "entropy", "distance", "distance_single", "selective"):
        idx = subsets[name]  # informative may keep fewer: test_diversity_filters.py
        assert np.all(np.diff(idx) > 0), name
        assert all((classes[idx] == c).sum() == b for c, b in budget.items()), name
    assert len(subsets["all"]) == len(classes)
    stage, sel = subsets["entropy_stage"], subsets["selective"]
    assert set(sel) <= set(stage)
    for c in budget:
        pool = classes == c
        in_stage = stage[classes[stage] == c]
        for i in sel[classes[sel] == c]:
            assert scores["entropy"][i] < np.median(scores["entropy"][pool])
            assert scores["distance"][i] < np.median(scores["distance"][in_stage])
    again = select_subsets(scores, classes, budget, seed=1)
    np.testing.assert_array_equal(again["random"], subsets["random"])


def test_drop_foreign_removes_foreign_candidates() -> None:
    budget = {0: 2, 1: 2}
    scores, classes = _pool(budget, seed=3)
    subsets = select_subsets(scores, classes, budget, seed=0, drop_foreign=True)
    foreign = set(np.flatnonzero(scores["nearest"] != classes))
    assert foreign
    for name, idx in subsets.items():
        assert not foreign & set(idx), name
    assert len(subsets["all"]) == len(classes) - len(foreign)


def test_audit_rows_columns() -> None:
    budget = {0: 1, 1: 1}
    scores, classes = _pool(budget)
    subsets = select_subsets(scores, classes, budget, seed=0)
    rows = audit_rows(scores, classes, subsets)
    assert len(rows) == len(classes)
    assert set(rows[0]) == {
        "index", "class", "entropy", "distance", "distance_single", "nearest", "kept_entropy", "kept",
        "in_random", "in_entropy", "in_distance", "in_distance_single", "in_informative",
    }  # fmt: skip
    assert sum(r["kept"] for r in rows) == 2 and sum(r["kept_entropy"] for r in rows) == 4
    assert all(r["kept_entropy"] for r in rows if r["kept"])
