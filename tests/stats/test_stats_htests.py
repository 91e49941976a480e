"""t, Mann-Whitney, proportion, chi-square, Fisher, Levene and Shapiro tests against scipy / statsmodels."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from probwb.errors import DataError, SmallSampleWarning, SpecError
from probwb.stats import (
    chi2_independence,
    fisher_exact,
    levene,
    mannwhitney,
    proportions_test,
    shapiro,
    ttest,
)

RNG = np.random.default_rng(7)
X = RNG.normal(1.0, 2.0, 25)
Y = RNG.normal(0.0, 1.0, 18)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_ttests_match_scipy(alternative):
    for kw, peer in [
        (dict(), stats.ttest_ind(X, Y, equal_var=False, alternative=alternative)),
        (dict(equal_var=True), stats.ttest_ind(X, Y, equal_var=True, alternative=alternative)),
    ]:
        r = ttest(X, Y, alternative=alternative, **kw)
        assert r.statistic == pytest.approx(peer.statistic, rel=1e-12)
        assert r.pvalue == pytest.approx(peer.pvalue, rel=1e-10)
        assert r.df == pytest.approx(peer.df, rel=1e-12)
        ci = peer.confidence_interval(0.95)
        assert r.estimate_ci[0] == pytest.approx(ci.low, rel=1e-10, abs=1e-12) or np.isinf(ci.low)
        assert r.estimate_ci[1] == pytest.approx(ci.high, rel=1e-10, abs=1e-12) or np.isinf(ci.high)
    r = ttest(X, mu=0.5, alternative=alternative)
    peer = stats.ttest_1samp(X, 0.5, alternative=alternative)
    assert r.statistic == pytest.approx(peer.statistic) and r.pvalue == pytest.approx(peer.pvalue)
    r = ttest(X[:18], Y, paired=True, alternative=alternative)
    peer = stats.ttest_rel(X[:18], Y, alternative=alternative)
    assert r.statistic == pytest.approx(peer.statistic) and r.pvalue == pytest.approx(peer.pvalue)


def test_ttest_effect_size_and_dataframe_input():
    df = pd.DataFrame({"v": np.r_[X, Y], "g": ["a"] * 25 + ["b"] * 18})
    r = ttest(df, value="v", group="g")
    assert r.estimate == pytest.approx(X.mean() - Y.mean())
    sp = np.sqrt((24 * X.var(ddof=1) + 17 * Y.var(ddof=1)) / 41)
    assert r.effect_size == pytest.approx((X.mean() - Y.mean()) / sp)
    assert r.effect_size_ci[0] < r.effect_size < r.effect_size_ci[1]
    assert "(a - b)" in r.estimate_name


def test_ttest_bad_input():
    with pytest.raises(DataError, match="NaN"):
        ttest([1.0, np.nan, 2.0])
    with pytest.raises(DataError, match="constant"):
        ttest([2.0, 2.0, 2.0])
    with pytest.raises(DataError, match="at least 2"):
        ttest([1.0], [1.0, 2.0])
    with pytest.raises(DataError, match="same length"):
        ttest([1.0, 2.0, 3.0], [1.0, 2.0], paired=True)
    with pytest.raises(SpecError):
        ttest(X, alternative="bigger")
    with pytest.raises(DataError, match="exactly 2 groups"):
        ttest(pd.DataFrame({"v": [1.0, 2, 3], "g": ["a", "b", "c"]}), value="v", group="g")


def test_mannwhitney_matches_scipy():
    r = mannwhitney(X, Y)
    peer = stats.mannwhitneyu(X, Y)
    assert r.statistic == peer.statistic and r.pvalue == pytest.approx(peer.pvalue)
    assert -1 <= r.effect_size <= 1 and r.effect_size > 0  # X is shifted up


def test_proportions_z_matches_statsmodels():
    from statsmodels.stats.proportion import proportions_ztest

    r = proportions_test([45, 30], [200, 210])
    z, p = proportions_ztest([45, 30], [200, 210])
    assert r.statistic == pytest.approx(z, rel=1e-12) and r.pvalue == pytest.approx(p, rel=1e-10)
    assert r.estimate == pytest.approx(45 / 200 - 30 / 210)
    c = proportions_test([45, 30], [200, 210], method="chi2")
    assert c.statistic == pytest.approx(z**2, rel=1e-10) and c.pvalue == pytest.approx(p, rel=1e-8)
    f = proportions_test([45, 30], [200, 210], method="fisher")
    assert f.pvalue == pytest.approx(stats.fisher_exact([[45, 155], [30, 180]]).pvalue)


def test_proportions_bad_counts():
    with pytest.raises(DataError, match="non-negative"):
        proportions_test([-1, 3], [10, 10])
    with pytest.raises(DataError, match="exceed"):
        proportions_test([11, 3], [10, 10])
    with pytest.raises(DataError, match="whole"):
        proportions_test([1.5, 3], [10, 10])
    with pytest.raises(DataError, match="undefined"):
        proportions_test([0, 0], [10, 10])


def test_chi2_independence_warns_on_small_expected_counts():
    table = np.array([[3, 1], [2, 8]])
    with pytest.warns(SmallSampleWarning, match="expected counts are below 5"):
        r = chi2_independence(table)
    assert r.warnings and "fisher_exact" in r.warnings[0]
    peer = stats.chi2_contingency(table, correction=False)
    assert r.statistic == pytest.approx(peer.statistic) and r.pvalue == pytest.approx(peer.pvalue)
    assert r.effect_size == pytest.approx(stats.contingency.association(table, method="cramer"))


def test_chi2_from_observations_and_bad_tables():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"r": rng.choice(list("abc"), 400), "c": rng.choice(list("xy"), 400)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = chi2_independence(df, "r", "c")
    assert r.df == 2 and not r.warnings
    lo, hi = r.effect_size_ci
    assert 0 <= lo <= r.effect_size <= hi <= 1
    with pytest.raises(DataError, match="non-negative"):
        chi2_independence([[1, -2], [3, 4]])
    with pytest.raises(DataError, match="zero total"):
        chi2_independence([[0, 0], [3, 4]])


def test_fisher_exact_odds_ratio_interval():
    r = fisher_exact([[8, 2], [1, 5]])
    peer = stats.fisher_exact([[8, 2], [1, 5]])
    assert r.pvalue == pytest.approx(peer.pvalue)
    assert r.estimate_ci[0] < r.estimate < r.estimate_ci[1]


def test_levene_and_shapiro_match_scipy():
    df = pd.DataFrame({"v": np.r_[X, Y], "g": ["a"] * 25 + ["b"] * 18})
    for center in ("mean", "median"):
        r = levene(df, "v", "g", center=center)
        peer = stats.levene(X, Y, center=center)
        assert r.statistic == pytest.approx(peer.statistic) and r.pvalue == pytest.approx(peer.pvalue)
    assert "Brown-Forsythe" in levene(df, "v", "g").method
    r = shapiro(X)
    peer = stats.shapiro(X)
    assert r.statistic == pytest.approx(peer.statistic) and r.pvalue == pytest.approx(peer.pvalue)
    with pytest.raises(DataError, match="constant"):
        shapiro([1.0, 1.0, 1.0, 1.0])
