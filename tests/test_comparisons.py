"""Issue 10: paired tests, Holm adjustment, the verdict, and the params they and the new
filters, budgets and the oversample control read (each bad value names its key)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from minimal import mini_params
from scipy import stats

from synthaug.core.errors import ConfigError
from synthaug.core.params import check_pca_dim, parse_params
from synthaug.metrics import compare, comparison_pairs, holm, paired_test, summarize
from synthaug.tables import comparisons_table, verdict

# --------------------------------------------------------------------------- statistics


def test_paired_test_matches_scipy_and_degenerate_cases() -> None:
    a, b = np.array([0.9, 0.85, 0.88, 0.91, 0.8]), np.array([0.86, 0.85, 0.84, 0.9, 0.79])
    mean, lo, hi, p = paired_test(a - b)
    assert p == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert mean == pytest.approx(0.02) and lo < mean < hi
    assert paired_test(np.zeros(4))[3] == 1.0  # identical results: no evidence of a difference
    assert paired_test(np.full(4, 0.01))[3] == 0.0  # the same gain on every seed
    assert math.isnan(paired_test(np.array([0.1]))[3])


def test_holm_closed_form() -> None:
    # sorted 0.01, 0.03, 0.04 of m = 3: 3 * 0.01, max(.03, 2 * 0.03), max(.06, 1 * 0.04)
    out = holm([0.04, 0.01, float("nan"), 0.03])
    assert out[1] == pytest.approx(0.03) and out[3] == pytest.approx(0.06)
    assert out[0] == pytest.approx(0.06) and math.isnan(out[2])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1


def _per_seed() -> dict:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.7, 0.8, 5)
    gains = {"baseline": 0.0, "traditional": 0.05, "trad_gan": 0.08, "gan": 0.0}
    return {m: {s: {"accuracy": float(base[s] + g + (0 if m == "baseline" else
                                                     rng.normal(0, 0.002)))}
                for s in range(5)} for m, g in gains.items()}


def test_compare_family_and_summarize_keys() -> None:
    per_seed = _per_seed()
    pairs = comparison_pairs(list(per_seed), "baseline", [["trad_gan", "traditional"]])
    assert pairs == [("traditional", "baseline"), ("trad_gan", "baseline"), ("gan", "baseline"),
                     ("trad_gan", "traditional")]
    comp = compare(per_seed, pairs, metrics=("accuracy",))
    row = comp["trad_gan_vs_traditional"]
    diffs = [per_seed["trad_gan"][s]["accuracy"] - per_seed["traditional"][s]["accuracy"]
             for s in range(5)]
    assert row["accuracy_diff"] == pytest.approx(np.mean(diffs))
    # p from scipy's paired t-test; Holm by hand: of the 4 raw p-values this pair's is the 3rd
    # smallest (x 2) and gan vs baseline's the largest (x 1, above every smaller adjusted one)
    acc = {m: [per_seed[m][s]["accuracy"] for s in range(5)] for m in per_seed}
    assert row["accuracy_p"] == pytest.approx(stats.ttest_rel(acc["trad_gan"],
                                                              acc["traditional"]).pvalue)
    raw = {k: r["accuracy_p"] for k, r in comp.items()}
    assert sorted(raw, key=raw.get).index("trad_gan_vs_traditional") == 2
    assert row["accuracy_p_holm"] == pytest.approx(2 * row["accuracy_p"])
    gan = comp["gan_vs_baseline"]
    assert max(raw.values()) == gan["accuracy_p"] == pytest.approx(gan["accuracy_p_holm"])
    assert [r["accuracy_p_holm"] for r in comp.values()] == pytest.approx(holm(list(raw.values())))
    s = summarize(per_seed, "baseline", comparisons=comp)
    assert s["gan"]["accuracy_p_holm"] == comp["gan_vs_baseline"]["accuracy_p_holm"]
    assert s["baseline"]["accuracy_p"] == 1.0 and s["baseline"]["accuracy_diff"] == 0.0
    d = np.subtract(acc["gan"], acc["baseline"])  # the t-interval, from scipy
    lo, hi = stats.t.interval(0.95, 4, loc=d.mean(), scale=stats.sem(d))
    assert (s["gan"]["accuracy_diff_lo"], s["gan"]["accuracy_diff_hi"]) == pytest.approx((lo, hi))
    assert summarize(per_seed, "baseline")["gan"]["accuracy_diff_lo"] == pytest.approx(lo)
    text = verdict(comp, "baseline", "accuracy", 0.05, 5)
    assert ("- Beat `baseline`: `traditional` (+0.050, adjusted p < 0.001), `trad_gan` (+0.078, "
            "adjusted p < 0.001); no clear difference for the other 1.") in text
    assert "Beat `traditional`: `trad_gan`" in text
    assert "across all 4 comparisons" in text
    table = comparisons_table(comp, "accuracy", 0.05)
    assert "| `gan` vs `baseline` |" in table


def test_verdict_says_when_nothing_beat_the_reference() -> None:
    per_seed = _per_seed()
    per_seed["trad_gan"] = copy.deepcopy(per_seed["traditional"])
    comp = compare(per_seed, [("trad_gan", "traditional"), ("gan", "traditional")],
                   metrics=("accuracy",))
    text = verdict(comp, "baseline", "accuracy", 0.05, 5)
    assert "Beat `traditional`: none of the 2 recipe(s) compared with it" in text
    assert "`gan` (" in text and "worse than `traditional`" in text


# --------------------------------------------------------------------------- params


def config_error(params: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_params(params)
    return str(err.value)


def with_comparisons(pairs: list) -> dict:
    return mini_params(evaluate={"comparisons": pairs})


@pytest.mark.parametrize(("pairs", "fragments"), [
    ([["gan_selective", "tradition"]], ["evaluate.comparisons[0]", "'tradition'",
                                        "a method in train_classifier.methods"]),
    ([["gan_selective", "gan_selective"]], ["evaluate.comparisons[0]", "two different methods"]),
    ([["traditional", "baseline"]], ["evaluate.comparisons[0]", "compared with evaluate.baseline"]),
    ([["gan_selective", "traditional"], ["traditional", "gan_selective"]],
     ["evaluate.comparisons[1]", "each pair once"]),
    ([["gan_selective"]], ["evaluate.comparisons[0]", "a pair [A, B]"]),
], ids=["unknown-name", "itself", "with-baseline", "twice", "not-a-pair"])
def test_bad_comparisons_name_the_key(pairs, fragments) -> None:
    msg = config_error(with_comparisons(pairs))
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_good_comparisons_parse() -> None:
    params = parse_params(with_comparisons([["gan_selective", "traditional"]]))
    assert params.evaluate.comparisons == [["gan_selective", "traditional"]]


@pytest.mark.parametrize(("section", "key", "value", "fragments"), [
    ("filter_synthetic", "pca_dim", 0, ["filter_synthetic.pca_dim", ">= 1"]),
    ("filter_synthetic", "pca_dim", 17, ["filter_synthetic.pca_dim", "17",
                                         "train_extractor.net.widths[-1] = 16"]),
    ("filter_synthetic", "knn", 0, ["filter_synthetic.knn", ">= 1"]),
    ("generate", "budget", "equal", ["generate.budget", "'equal'", "'balanced'"]),
    ("evaluate", "alpha", 1.5, ["evaluate.alpha", "in (0, 1)"]),
    ("evaluate", "verdict_metric", "loss", ["evaluate.verdict_metric", "'accuracy'"]),
], ids=["pca-zero", "pca-above-features", "knn", "budget", "alpha", "verdict-metric"])
def test_new_keys_are_validated(section, key, value, fragments) -> None:
    msg = config_error(mini_params(**{section: {key: value}}))
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_oversample_pool_is_reserved_and_unfiltered() -> None:
    params = copy.deepcopy(mini_params())  # minimal.METHODS is shared: never mutate it
    params["train_classifier"]["methods"]["oversample"] = {"pool": "oversample", "filter": "all"}
    assert parse_params(params).train_classifier.methods["oversample"].pool == "oversample"
    params["train_classifier"]["methods"]["oversample"]["filter"] = "random"
    assert "'all' when the method's pool is 'oversample'" in config_error(params)
    params = copy.deepcopy(mini_params())
    params["generate"]["pools"]["oversample"] = {"generator": "cgan"}
    assert "other than ['none', 'oversample']" in config_error(params)


def test_pca_dim_checked_against_the_smallest_class() -> None:
    check_pca_dim(4, [5, 9], ["a", "b"])
    with pytest.raises(ConfigError, match=r"pca_dim' = 5 .*at most 4 .*class 'a' has 5 real"):
        check_pca_dim(5, [5, 9], ["a", "b"])


def test_digits_hard_preset_differs_only_in_the_training_split() -> None:
    import yaml
    from conftest import ROOT

    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    hard = yaml.safe_load((ROOT / "configs" / "digits_hard.yaml").read_text())
    parse_params(hard)
    assert hard["prepare_data"].pop("train_cap") != default["prepare_data"].pop("train_cap")
    assert hard == default  # same study: only the data regime is harder
