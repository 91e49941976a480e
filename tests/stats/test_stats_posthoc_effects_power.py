"""Post-hoc comparisons, effect sizes with intervals, and power."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from probwb.errors import DataError, SpecError
from probwb.stats import (
    adjust_pvalues,
    anova,
    anova_effect_sizes,
    cohens_d,
    cohens_h,
    cramers_v,
    games_howell,
    pairwise_tests,
    partial_eta_squared,
    power_anova,
    power_ttest,
    power_two_proportions,
    tukey_hsd,
)


@pytest.fixture(scope="module")
def groups() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    sizes = {"a": 12, "b": 15, "c": 9, "d": 14}
    shift = {"a": 0.0, "b": 0.8, "c": 0.3, "d": 1.2}
    scale = {"a": 1.0, "b": 1.5, "c": 0.7, "d": 2.0}
    rows = [(g, shift[g] + scale[g] * rng.normal()) for g, n in sizes.items() for _ in range(n)]
    return pd.DataFrame(rows, columns=["g", "y"])


def test_tukey_matches_scipy(groups):
    res = tukey_hsd(groups, "y", "g")
    samples = [groups.y[groups.g == k].to_numpy() for k in "abcd"]
    peer = stats.tukey_hsd(*samples)
    ci = peer.confidence_interval(0.95)
    for (i, j) in [(0, 1), (0, 3), (1, 2), (2, 3)]:
        row = res.table.loc[f"{'abcd'[i]} - {'abcd'[j]}"]
        assert row["p_adj"] == pytest.approx(peer.pvalue[i, j], rel=1e-6, abs=1e-9)
        assert row["ci_low"] == pytest.approx(ci.low[i, j], rel=1e-6)
        assert row["ci_high"] == pytest.approx(ci.high[i, j], rel=1e-6)


def test_games_howell_pairs(groups):
    res = games_howell(groups, "y", "g").table
    a, d = groups.y[groups.g == "a"], groups.y[groups.g == "d"]
    welch = stats.ttest_ind(a, d, equal_var=False)
    row = res.loc["a - d"]
    assert row["df"] == pytest.approx(welch.df, rel=1e-12)
    assert row["q"] == pytest.approx(abs(welch.statistic) * math.sqrt(2), rel=1e-12)
    # the studentized-range p-value for 4 groups is more conservative than the unadjusted Welch p-value
    assert row["p_adj"] > welch.pvalue
    assert ((res.p_adj >= 0) & (res.p_adj <= 1)).all()
    assert (res.ci_low < res.mean_diff).all() and (res.mean_diff < res.ci_high).all()


def test_pairwise_tests_holm_and_bh(groups):
    from statsmodels.stats.multitest import multipletests

    res = pairwise_tests(groups, "y", "g", adjust="holm").table
    assert len(res) == 6
    np.testing.assert_allclose(res.p_adj, multipletests(res.pvalue, method="holm")[1])
    bh = pairwise_tests(groups, "y", "g", test="mannwhitney", adjust="bh").table
    np.testing.assert_allclose(bh.p_adj, multipletests(bh.pvalue, method="fdr_bh")[1])
    with pytest.raises(SpecError):
        adjust_pvalues([0.1, 0.2], "sidak2")
    with pytest.raises(DataError):
        adjust_pvalues([0.1, 1.2])


def test_posthoc_refuses_singleton_group(groups):
    with pytest.raises(DataError, match="fewer than 2"):
        tukey_hsd(pd.concat([groups, pd.DataFrame({"g": ["e"], "y": [0.0]})]), "y", "g")


def test_partial_eta_squared_interval_inverts_noncentral_f():
    es = partial_eta_squared(4.846, 2, 27, 0.95)
    assert es.value == pytest.approx(4.846 * 2 / (4.846 * 2 + 27))
    n = 2 + 27 + 1
    lam_lo = es.ci[0] * n / (1 - es.ci[0])
    lam_hi = es.ci[1] * n / (1 - es.ci[1])
    assert stats.ncf.cdf(4.846, 2, 27, lam_lo) == pytest.approx(0.975, abs=1e-8)
    assert stats.ncf.cdf(4.846, 2, 27, lam_hi) == pytest.approx(0.025, abs=1e-8)
    assert partial_eta_squared(0.2, 2, 27).ci[0] == 0.0  # a small F cannot exclude zero


def test_cohens_d_interval_and_hedges():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.5, 1, 30), rng.normal(0, 1, 30)
    d = cohens_d(x, y)
    t = stats.ttest_ind(x, y).statistic
    scale = math.sqrt(30 * 30 / 60)
    assert d.value == pytest.approx(t / scale)
    assert stats.nct.cdf(t, 58, d.ci[0] * scale) == pytest.approx(0.975, abs=1e-8)
    g = cohens_d(x, y, hedges=True)
    assert abs(g.value) < abs(d.value) and g.value == pytest.approx(d.value * (1 - 3 / (4 * 58 - 1)), rel=1e-3)
    assert "d" in d.interpret()


def test_cramers_v_and_anova_effect_sizes(groups):
    v = cramers_v(30.0, 200, (3, 4))
    assert v.value == pytest.approx(math.sqrt(30 / (200 * 2)))
    assert v.ci[0] < v.value < v.ci[1]
    eff = anova_effect_sizes(anova(groups, "y ~ g"))
    assert list(eff.index) == ["g"]
    for col in ("omega_sq", "partial_omega_sq"):  # estimates on their intervals' own scale (issue #13)
        assert eff.loc["g", f"{col}_ci_low"] <= eff.loc["g", col] <= eff.loc["g", f"{col}_ci_high"]


def test_power_round_trips_and_closed_forms():
    n = power_ttest(0.5, power=0.8)
    assert power_ttest(0.5, n=n) == pytest.approx(0.8, abs=1e-6)
    assert power_ttest(n=n, power=0.8) == pytest.approx(0.5, rel=1e-5)
    assert power_ttest(0.5, power=0.8, kind="paired") < n
    # two proportions: normal approximation on Cohen's h, n = ((z_{1-a/2} + z_{power}) / h)^2 * 2 when the
    # far tail is negligible
    h = cohens_h(0.30, 0.20)
    n2 = power_two_proportions(0.30, 0.20, power=0.9)
    closed = 2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.9)) / h) ** 2
    assert n2 == pytest.approx(closed, rel=1e-4)
    p = power_anova(0.25, n=30, k_groups=4)
    lam = 0.25**2 * 120
    crit = stats.f.ppf(0.95, 3, 116)
    assert p == pytest.approx(stats.ncf.sf(crit, 3, 116, lam), rel=1e-8)
    with pytest.raises(SpecError):
        power_ttest(0.5)
    with pytest.raises(SpecError):
        power_two_proportions(0.3, 0.3, power=0.8)
