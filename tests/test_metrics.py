"""Tests of classification metrics and seed summaries against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthaug.metrics import classification_metrics, confusion_matrix, summarize


def _onehot(pred: list[int], n_cls: int) -> np.ndarray:
    """Confident probabilities (0.8 on the predicted class) that still rank for AUC."""
    p = np.full((len(pred), n_cls), 0.2 / (n_cls - 1))
    p[np.arange(len(pred)), pred] = 0.8
    return p


def test_perfect_predictions_give_ones() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    m = classification_metrics(y, _onehot(y.tolist(), 3))
    assert m == pytest.approx(
        dict.fromkeys(("accuracy", "auc", "sensitivity", "specificity", "f1_macro"), 1.0)
    )


def test_three_class_hand_example() -> None:
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = [0, 0, 1, 1, 2, 2]
    np.testing.assert_array_equal(
        confusion_matrix(y, np.array(pred), 3), [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    )
    m = classification_metrics(y, _onehot(pred, 3))
    # per class sens: 2/3, 1/2, 1/1; spec: 3/3, 3/4, 4/5; F1: 4/5, 1/2, 2/3
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["sensitivity"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["specificity"] == pytest.approx((1 + 3 / 4 + 4 / 5) / 3)
    assert m["f1_macro"] == pytest.approx((4 / 5 + 1 / 2 + 2 / 3) / 3)
    assert 0 < m["auc"] < 1


def test_binary_positive_class_swaps_sensitivity_and_specificity() -> None:
    y = np.array([1, 1, 1, 0, 0])
    probs = np.array([[0.1, 0.9], [0.3, 0.7], [0.6, 0.4], [0.8, 0.2], [0.4, 0.6]])
    m1 = classification_metrics(y, probs)
    m0 = classification_metrics(y, probs, positive_class=0)
    assert m1["sensitivity"] == pytest.approx(2 / 3) and m1["specificity"] == pytest.approx(1 / 2)
    assert m0["sensitivity"] == pytest.approx(m1["specificity"])
    assert m0["specificity"] == pytest.approx(m1["sensitivity"])
    assert m0["auc"] == pytest.approx(m1["auc"]) == pytest.approx(5 / 6)


def test_absent_class_gives_nan_auc(caplog) -> None:
    y = np.array([0, 1, 0, 1])
    m = classification_metrics(y, _onehot([0, 1, 0, 2], 3))
    assert math.isnan(m["auc"]) and "absent" in caplog.text
    assert m["accuracy"] == pytest.approx(0.75)


def test_paired_ci_closed_form() -> None:
    per_seed = {
        "baseline": {0: {"accuracy": 0.5}, 1: {"accuracy": 0.5}, 2: {"accuracy": 0.5}},
        "selective": {
            0: {"accuracy": 1.5},
            1: {"accuracy": 2.5},
            2: {"accuracy": 3.5},
            9: {"accuracy": 9.0},
        },
    }
    s = summarize(per_seed)
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3) = 2.4842...
    assert s["selective"]["accuracy_diff"] == pytest.approx(2.0)
    assert s["selective"]["accuracy_diff_lo"] == pytest.approx(2.0 - half)
    assert s["selective"]["accuracy_diff_hi"] == pytest.approx(2.0 + half)
    assert s["selective"]["n_seeds"] == 4 and s["selective"]["n_paired"] == 3
    assert s["selective"]["accuracy_mean"] == pytest.approx(4.125)
    base = s["baseline"]
    assert (base["accuracy_diff"], base["accuracy_diff_lo"], base["accuracy_diff_hi"]) == (
        0.0,
        0.0,
        0.0,
    )
    assert base["accuracy_std"] == 0.0


def test_single_seed_std_zero_and_ci_nan() -> None:
    s = summarize({"baseline": {3: {"auc": 0.7}}, "all": {3: {"auc": 0.9}}})
    assert s["all"]["auc_std"] == 0.0
    assert s["all"]["auc_diff"] == pytest.approx(0.2)
    assert math.isnan(s["all"]["auc_diff_lo"]) and math.isnan(s["all"]["auc_diff_hi"])
    assert "auc_diff" not in summarize({"all": {3: {"auc": 0.9}}})["all"]
