"""Issue 10: covariance, selective_covariance and informative filters, diversity measures and
budgets, on tiny closed-form inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthaug.budgets import budget_per_class, oversample_indices
from synthaug.core.errors import ConfigError
from synthaug.diversity import (
    class_pca,
    covariance,
    diversity_summary,
    knn_radii,
    precision_recall,
    real_class_pca,
    relative_mismatch,
    spread_ratio,
)
from synthaug.filters import covariance_select, greedy_covariance, select_subsets


def _mismatch(z: np.ndarray, target: np.ndarray) -> float:
    """||cov(z) - target||_F from scratch (cov of one row: 0)."""
    c = np.cov(z, rowvar=False, ddof=1) if len(z) > 1 else np.zeros_like(target)
    return float(np.linalg.norm(np.atleast_2d(c) - target))


# --------------------------------------------------------------------------- greedy covariance


@pytest.mark.parametrize("seed", [2, 3, 5])  # seeds whose swap phase makes 2, 1 and 3 swaps
def test_greedy_step_is_the_brute_force_minimum_and_reports_it(seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(25, 3)) * [2.0, 1.0, 0.5]
    target = covariance(rng.normal(size=(6, 3)))
    k = 12
    order, reported = greedy_covariance(z, target, k, max_swaps=0)  # the greedy phase alone
    assert len(set(order.tolist())) == k and len(reported) == k
    assert order[0] == np.argmin((z * z).sum(1))  # step 1: nearest the real class mean
    for step in range(1, k):
        chosen = list(order[:step])
        rest = [j for j in range(len(z)) if j not in chosen]
        scores = {j: _mismatch(z[chosen + [j]], target) for j in rest}
        # the step never takes a candidate that leaves a larger mismatch than another would ...
        assert scores[order[step]] <= min(scores.values()) + 1e-9
        # ... and the mismatch it reports (rank-one bookkeeping) is the true one
        assert reported[step] == pytest.approx(scores[order[step]], rel=1e-9, abs=1e-12)
    assert reported[0] == pytest.approx(np.linalg.norm(target))
    # the swap phase: each exchange is the best one, never raises the mismatch, reports it truly
    final, trace = greedy_covariance(z, target, k)
    np.testing.assert_array_equal(trace[:k], reported)
    swaps = trace[k:]
    assert len(swaps) >= 1  # the swap phase is exercised, not skipped
    assert np.all(np.diff(np.r_[reported[-1], swaps]) < 0)
    assert trace[-1] == pytest.approx(_mismatch(z[final], target), rel=1e-9)
    rest = [j for j in range(len(z)) if j not in final]
    best = min(_mismatch(z[np.r_[np.delete(final, i), j]], target)
               for i in range(k) for j in rest)
    assert best >= trace[-1] - 1e-9  # no single exchange improves on the result


def test_one_swap_is_scored_exactly() -> None:
    rng = np.random.default_rng(0)  # an input where one swap improves on the greedy phase
    z = rng.normal(size=(9, 2))
    target = covariance(rng.normal(size=(5, 2)))
    greedy, _ = greedy_covariance(z, target, 4, max_swaps=0)
    one, trace = greedy_covariance(z, target, 4, max_swaps=1)
    assert len(trace) == 5  # 4 greedy steps, then the swap
    assert trace[-1] == pytest.approx(_mismatch(z[one], target), rel=1e-9)
    assert trace[-1] < trace[-2]
    assert len(set(one) - set(greedy)) == 1


def test_greedy_handles_few_candidates_and_zero() -> None:
    z = np.eye(3)
    order, reported = greedy_covariance(z, np.eye(3), 5)
    assert sorted(order.tolist()) == [0, 1, 2] and len(reported) == 3
    assert len(greedy_covariance(z, np.eye(3), 0)[0]) == 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_covariance_rule_picks_the_copy_of_the_real_set(seed: int) -> None:
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(6, 10)) + 5.0
    outliers = 5.0 + rng.normal(size=(18, 10)) * 6.0
    shrunk = real.mean(0) + 0.2 * (real - real.mean(0))  # too prototypical: covariance too small
    pool = np.concatenate([outliers[:9], real[::-1], shrunk, outliers[9:]])
    copy = set(range(9, 15))
    classes = np.zeros(len(pool), np.int64)
    pca = real_class_pca(real, np.zeros(6, np.int64), [0], dim=4)
    kept = covariance_select(pool, classes, pca, {0: 6})
    assert set(np.flatnonzero(kept)) == copy
    # the same through select_subsets; the nearest-to-mean rule would take the shrunk copies
    n = len(pool)
    scores = {"entropy": np.zeros(n), "distance": np.linalg.norm(pool - real.mean(0), axis=1),
              "distance_single": np.zeros(n), "nearest": classes, "pred": classes}
    subsets = select_subsets(scores, classes, {0: 6}, seed=0, features=pool, pca=pca)
    assert set(subsets["covariance"]) == copy
    assert set(subsets["distance"]) == set(range(15, 21))
    mismatch = diversity_summary(real, np.zeros(6), pool[subsets["covariance"]], np.zeros(6))
    assert mismatch["cov_mismatch"] == pytest.approx(0.0, abs=1e-9)


def test_selective_covariance_matches_within_the_entropy_stage() -> None:
    rng = np.random.default_rng(5)
    budget = {0: 3, 1: 2}
    classes = np.repeat([0, 1], [12, 8])
    feats = rng.normal(size=(20, 6))
    real = rng.normal(size=(10, 6))
    real_labels = np.repeat([0, 1], 5)
    scores = {"entropy": rng.random(20), "distance": rng.random(20),
              "distance_single": rng.random(20), "nearest": classes, "pred": classes}
    pca = real_class_pca(real, real_labels, [0, 1], 3)
    subsets = select_subsets(scores, classes, budget, seed=0, features=feats, pca=pca)
    for name in ("covariance", "selective_covariance"):
        idx = subsets[name]
        assert all((classes[idx] == c).sum() == b for c, b in budget.items()), name
    # the entropy stage is the lower-entropy half of each class's 4 * budget pool, by hand
    stage = [i for c, b in budget.items()
             for i in np.flatnonzero(classes == c)[np.argsort(scores["entropy"][classes == c])[:2 * b]]]
    assert sorted(stage) == subsets["entropy_stage"].tolist()
    # within it, each class's greedy covariance match, projected by hand into the class PCA
    expect = []
    for c, b in budget.items():
        idx = np.array(sorted(i for i in stage if classes[i] == c))
        r = real[real_labels == c]
        centred = r - r.mean(0)
        basis = np.linalg.svd(centred, full_matrices=False)[2][:3].T
        basis *= np.where(np.sign(basis[np.abs(basis).argmax(0), range(3)]) < 0, -1.0, 1.0)
        order, _ = greedy_covariance((feats[idx] - r.mean(0)) @ basis,
                                     np.cov(centred @ basis, rowvar=False), b)
        expect += idx[order].tolist()
    assert subsets["selective_covariance"].tolist() == sorted(expect)
    assert subsets["selective_covariance"].tolist() != subsets["covariance"].tolist()


def test_pca_dim_larger_than_the_class_allows_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"filter_synthetic.pca_dim' = 5 .*at most 4"):
        class_pca(np.random.default_rng(0).normal(size=(5, 8)), 5)
    mean, basis = class_pca(np.random.default_rng(0).normal(size=(5, 8)), 4)
    np.testing.assert_allclose(basis.T @ basis, np.eye(4), atol=1e-12)


# --------------------------------------------------------------------------- informative


def test_informative_never_keeps_a_disagreeing_image(caplog) -> None:
    classes = np.repeat([0, 1], 8)
    entropy = np.linspace(0, 1, 16)
    pred = classes.copy()
    pred[[6, 7, 15, 14, 13, 12, 11]] = 1 - classes[[6, 7, 15, 14, 13, 12, 11]]  # the top entropies
    scores = {"entropy": entropy, "distance": entropy, "distance_single": entropy,
              "nearest": classes, "pred": pred}
    subsets = select_subsets(scores, classes, {0: 2, 1: 2}, seed=0)
    kept = subsets["informative"]
    assert (pred[kept] == classes[kept]).all()
    # class 0: highest-entropy agreeing are 5 and 4; class 1: only 8, 9, 10 agree -> 10, 9
    assert kept.tolist() == [4, 5, 9, 10]
    pred[9:] = 0  # class 1: one agreeing candidate (8) for a budget of 2: kept alone, no filler
    scores["pred"] = pred
    kept = select_subsets(scores, classes, {0: 2, 1: 2}, seed=0)["informative"]
    assert kept.tolist() == [4, 5, 8] and "class 1" in caplog.text


# --------------------------------------------------------------------------- diversity


def test_diversity_closed_forms() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(7, 5))
    c = covariance(real)
    scaled = real.mean(0) + 2.0 * (real - real.mean(0))
    assert relative_mismatch(covariance(scaled), c) == pytest.approx(3.0)  # ||4C - C|| / ||C||
    assert spread_ratio(scaled, real) == pytest.approx(2.0)
    same = np.repeat(real[:1], 4, axis=0)
    assert relative_mismatch(covariance(same), c) == pytest.approx(1.0)
    assert spread_ratio(same, real) == 0.0
    assert math.isnan(relative_mismatch(covariance(real[:1]), c))
    np.testing.assert_allclose(knn_radii(np.array([[0.0], [1.0], [3.0]]), 1), [1, 1, 2])
    np.testing.assert_allclose(knn_radii(np.array([[0.0], [1.0], [3.0]]), 5), [3, 2, 3])  # k = n-1
    line = np.array([[0.0], [1.0], [2.0], [3.0]])  # radii 1 (k = 1)
    p, r = precision_recall(line, np.array([[0.5], [10.0]]), k=1)
    assert p == 0.5 and r == 1.0  # two far-apart synthetic points: radius 9.5 covers everything
    p, r = precision_recall(line, line.copy(), k=3)
    assert (p, r) == (1.0, 1.0)
    s = diversity_summary(np.r_[real, real + 100], np.repeat([0, 1], 7), np.r_[real, same],
                          np.repeat([0, 1], [7, 4]))
    assert s["cov_mismatch"] == pytest.approx(0.5)  # mean of 0 (copy) and 1 (one point)
    assert s["spread"] == pytest.approx(0.5) and "cov_mismatch_pca" not in s
    # in the class PCA too: 0 for the copy, ||4C - C|| / ||C|| = 3 for the doubled spread
    pca = real_class_pca(real, np.zeros(7), [0], 3)
    for syn, expect in ((real, 0.0), (scaled, 3.0)):
        s = diversity_summary(real, np.zeros(7), syn, np.zeros(7), pca=pca)
        assert s["cov_mismatch_pca"] == pytest.approx(expect, abs=1e-9)


# --------------------------------------------------------------------------- budgets


def test_budgets_closed_forms() -> None:
    assert budget_per_class([5, 8, 30, 1], 0.5).tolist() == [3, 4, 15, 1]  # halves up, >= 1
    balanced = budget_per_class([5, 8, 30], 0.5, "balanced")
    assert balanced.tolist() == [40, 37, 15]  # T = 30 + round(15) = 45
    assert (np.array([5, 8, 30]) + balanced == 45).all()
    assert budget_per_class([4, 7], 0.3, "balanced").tolist() == [5, 2]  # round(2.1) = 2: T = 9
    with pytest.raises(ConfigError, match=r"generate.budget' = 'balanced'.*budget of zero"):
        budget_per_class([10, 10], 0.01, "balanced")
    with pytest.raises(ConfigError, match="generate.budget"):
        budget_per_class([10, 10], 0.5, "equal")


def test_oversample_indices_repeat_each_class_to_its_budget() -> None:
    labels = np.array([0, 1, 0, 1, 1, 0, 0])  # class 0: 0, 2, 5, 6; class 1: 1, 3, 4
    idx = oversample_indices(labels, [6, 3], seed=0)
    assert np.bincount(labels[idx]).tolist() == [6, 3]
    counts = np.bincount(idx, minlength=7)
    assert sorted(counts[[0, 2, 5, 6]].tolist()) == [1, 1, 2, 2]  # 6 = 4 + 2: evenly spread
    assert counts[[1, 3, 4]].tolist() == [1, 1, 1]
    np.testing.assert_array_equal(idx, oversample_indices(labels, [6, 3], seed=0))
