"""Bayesian A/B tests, result objects, plots, kernels and the spec runner."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from probwb.errors import DataError, SpecError
from probwb.stats import anova, beta_binomial_ab, coupon_ab, hdi, oneway, spend_ab, ttest
from probwb.stats.kernels import centre, combine_codes, group_stats, weighted_rss

ROOT = Path(__file__).resolve().parents[2]


def test_beta_binomial_posterior_and_prob_better_exact():
    res = beta_binomial_ab({"A": 40, "B": 55}, {"A": 400, "B": 410}, n_draws=200_000, random_state=3)
    a1, b1, a2, b2 = 41, 361, 56, 356
    assert res.table.loc["A", "mean"] == pytest.approx(a1 / (a1 + b1), abs=3e-4)
    # P(B > A) by numerical integration of the two Beta posteriors
    exact, _ = integrate.quad(lambda x: stats.beta.pdf(x, a1, b1) * stats.beta.sf(x, a2, b2), 0, 1)
    assert res.lift.loc["B", "prob_better"] == pytest.approx(exact, abs=4e-3)
    assert res.prob_better("B") == pytest.approx(exact, abs=4e-3)
    assert res.table.prob_best.sum() == pytest.approx(1.0)
    assert res.table.loc["B", "expected_loss"] < res.table.loc["A", "expected_loss"]
    lo, hi = res.table.loc["A", ["hdi_low", "hdi_high"]]
    assert stats.beta.cdf(hi, a1, b1) - stats.beta.cdf(lo, a1, b1) == pytest.approx(0.95, abs=5e-3)


def test_ab_reproducible_and_three_arms():
    kw = dict(successes=[10, 20, 30], trials=[100, 100, 100], arms=["x", "y", "z"], n_draws=5000)
    r1, r2 = beta_binomial_ab(**kw, random_state=5), beta_binomial_ab(**kw, random_state=5)
    pd.testing.assert_frame_equal(r1.table, r2.table)
    assert r1.table.prob_best.idxmax() == "z" and list(r1.lift.index) == ["y", "z"]
    assert "'z'" in r1.interpret()


def test_ab_bad_input():
    with pytest.raises(DataError, match="non-negative"):
        beta_binomial_ab([-1, 2], [10, 10])
    with pytest.raises(DataError, match="exceed"):
        beta_binomial_ab([11, 2], [10, 10])
    with pytest.raises(DataError, match="at least 2 arms"):
        beta_binomial_ab([1], [10])
    with pytest.raises(DataError, match="control"):
        beta_binomial_ab([1, 2], [10, 10], control="Q")
    with pytest.raises(SpecError):
        beta_binomial_ab([1, 2], [10, 10], prior=(0, 1))


def test_hdi_of_normal_draws():
    draws = np.random.default_rng(0).normal(size=200_000)
    lo, hi = hdi(draws, 0.95)
    assert lo == pytest.approx(-1.96, abs=0.03) and hi == pytest.approx(1.96, abs=0.03)


def test_spend_models_recover_known_means():
    rng = np.random.default_rng(8)
    n = 4000
    arm = np.repeat(["control", "treat"], n)
    mu = np.where(arm == "control", 3.0, 3.2)
    spend = np.where(rng.random(2 * n) < 0.7, rng.lognormal(mu, 0.8), 0.0)
    df = pd.DataFrame({"arm": arm, "spend": spend})
    res = spend_ab(df, "spend", "arm", control="control", n_draws=20_000, random_state=1)
    true = {a: 0.7 * np.exp(m + 0.32) for a, m in (("control", 3.0), ("treat", 3.2))}
    for a, t in true.items():
        assert res.table.loc[a, "hdi_low"] < t < res.table.loc[a, "hdi_high"]
    assert res.lift.loc["treat", "prob_better"] > 0.95
    normal = spend_ab(df, "spend", "arm", model="normal", n_draws=20_000, random_state=1)
    assert normal.table.loc["control", "mean"] == pytest.approx(spend[:n].mean(), rel=0.01)
    with pytest.raises(DataError, match="non-negative"):
        spend_ab(df.assign(spend=-df.spend), "spend", "arm")


def test_coupon_ab_on_simulated_campaign(small_campaign):
    res = coupon_ab(small_campaign, "redemption", n_draws=20_000, random_state=2)
    coupons = small_campaign.coupons
    truth = pd.Series(small_campaign.truth["p_redeem"], index=coupons.index).groupby(
        coupons["coupon"].astype(str)).mean()
    for arm in res.table.index:
        lo, hi = hdi(res.draws[arm], 0.999)
        assert lo < truth[arm] < hi  # the average true redemption probability of the offers made
    best_true = truth.idxmax()
    assert res.table.prob_best.idxmax() == best_true
    spend = coupon_ab(small_campaign, "spend", n_draws=5000, random_state=2)
    assert spend.control == "control" and set(spend.table.index) == {"control", "10%", "20%"}
    with pytest.raises(SpecError):
        coupon_ab(small_campaign, "clicks")


def test_result_objects_are_frozen_and_readable():
    r = ttest([1.0, 2.0, 3.5, 4.0], [0.5, 0.7, 1.1, 0.2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.statistic = 0.0  # type: ignore[misc]
    frame = r.to_frame()
    assert frame.loc[0, "statistic"] == r.statistic and frame.loc[0, "pvalue"] == r.pvalue
    assert "Welch" in repr(r) and "<table" in r._repr_html_()
    sentence = r.interpret()
    assert sentence.endswith(".") and sentence.count("\n") == 0 and "t(" in sentence
    a = anova(pd.DataFrame({"g": list("aabbcc"), "y": [1.0, 1.1, 2.0, 2.2, 3.0, 3.3]}), "y ~ g")
    assert "Residual" in repr(a) and "<table" in a._repr_html_()
    assert "g (F(2, 3)" in a.interpret()
    ab = beta_binomial_ab([5, 9], [50, 50], n_draws=2000, random_state=0)
    assert "lift over" in repr(ab) and ab.to_frame().shape[0] == 2


def test_plots_return_axes(small_campaign):
    import matplotlib.pyplot as plt

    from probwb.stats.plots import ab_posterior_plot, qq_plot

    ax = qq_plot(np.random.default_rng(0).normal(size=50))
    assert ax.get_xlabel().startswith("theoretical")
    res = beta_binomial_ab([5, 9, 7], [50, 50, 50], n_draws=2000, random_state=0)
    ax2 = ab_posterior_plot(res, kind="lift")
    assert len(ax2.patches) > 0
    plt.close("all")
    with pytest.raises(DataError):
        qq_plot([1.0, np.nan, 2.0, 3.0])


def test_kernels_huge_offset_and_cell_fit():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, 1000)
    small = rng.integers(-5, 6, 1000).astype(float)
    y = 1e12 + small
    yc, m = centre(y)
    n, means, css = group_stats(yc, codes, 3)
    for g in range(3):
        assert means[g] + m == pytest.approx(y[codes == g].mean(), rel=1e-15)
        ref = small[codes == g]
        assert css[g] == pytest.approx(((ref - ref.mean()) ** 2).sum(), rel=1e-12)
    cell, levels, k = combine_codes([codes, codes % 2], [3, 2])
    assert k == 3 and levels.shape == (3, 2)  # only the observed combinations
    # the weighted cell fit equals the row-level fit's between part
    x = np.column_stack([np.ones(3), [0, 1, 0], [0, 0, 1]]).astype(float)
    rss, rank = weighted_rss(x, n, means)
    assert rank == 3 and rss == pytest.approx(0.0, abs=1e-18)


def test_oneway_on_float_noise_is_an_exact_fit():
    # within-group spread of a few ulps is rounding-level: oneway and anova both call it an exact fit (issue #13)
    df = pd.DataFrame({"g": ["a", "a", "b", "b"], "y": [1.0, 1.0 + 1e-15, 2.0, 2.0]})
    with pytest.raises(DataError, match="constant"):
        oneway(df, "y", "g")
    with pytest.raises(DataError, match="exactly"):
        anova(df, "y ~ g")
    tiny = pd.DataFrame({"g": ["a", "a", "b", "b"], "y": [1.0, 1.0 + 1e-6, 2.0, 2.0 + 1e-6]})
    assert np.isfinite(oneway(tiny, "y", "g").statistic)


@pytest.mark.parametrize("name", ["site_anova", "coupon_ab_test"])
def test_model_specs_run_quick(name):
    from probwb.report.schema import validate_spec
    from probwb.stats.spec import run_spec

    spec = validate_spec(ROOT / "models" / f"{name}.yaml").spec
    spec["data"]["args"] = {**spec["data"]["args"], **({"n_patients": 800} if name == "site_anova"
                                                        else {"n_customers": 600})}
    out = run_spec(spec, quick=True, random_state=0)
    assert len(out["tests"]) == len(spec["tests"]) == len(out["text"])
    assert all(isinstance(t, pd.DataFrame) for t in out["tables"].values())
    saved = out["model"]
    assert len(saved.summary()) == len(spec["tests"]) and saved[saved.titles[0]] is out["tests"][0]
    import matplotlib.pyplot as plt

    plt.close("all")


def test_spec_errors():
    from probwb.stats.spec import validate_spec

    with pytest.raises(SpecError, match="did you mean 'anova'"):
        validate_spec({"tests": [{"test": "anvoa"}]})
    with pytest.raises(SpecError, match="did you mean 'formula'"):
        validate_spec({"tests": [{"test": "anova", "args": {"fromula": "y ~ g"}}]})
    with pytest.raises(SpecError, match="missing or empty"):
        validate_spec({"tests": []})


def test_rate_ab_from_rows_matches_counts(small_campaign):
    from probwb.stats import rate_ab

    coupons = small_campaign.coupons
    r1 = rate_ab(coupons, "redeemed", "coupon", n_draws=3000, random_state=4)
    r2 = coupon_ab(small_campaign, "redemption", n_draws=3000, random_state=4)
    pd.testing.assert_frame_equal(r1.table, r2.table)
    with pytest.raises(DataError, match="0/1"):
        rate_ab(coupons.assign(redeemed=coupons.redeemed * 2), "redeemed", "coupon")
    with pytest.raises(DataError, match="missing"):
        rate_ab(small_campaign.panel, "redeemed", "coupon")  # NaN where no coupon was offered
