"""Regression tests for issue #13 (stats part): t tests and effect-size intervals that never crash, effect
sizes inside their own intervals, one exact-fit behaviour for anova/oneway, term-based cell warnings (npk),
and power arguments validated by name."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from probwb.errors import DataError, SmallSampleWarning, SpecError
from probwb.stats import (
    anova,
    anova_effect_sizes,
    cohens_d,
    oneway,
    pairwise_tests,
    power_anova,
    power_ttest,
    power_two_proportions,
    ttest,
    welch_anova,
)

# ---------------------------------------------------------------- t test and Cohen's d interval


@pytest.mark.parametrize("n", [30, 100, 1000])
def test_ttest_never_raises_on_ordinary_two_sample_data(n):
    # issue #13: 14% (n = 30) to 48% (n >= 100) of these samples raised ValueError from the d-interval solver
    rng = np.random.default_rng(1300 + n)
    for _ in range(40):
        x, y = rng.normal(0, 1, n), rng.normal(0.3, 1, n)
        for equal_var in (False, True):
            r = ttest(x, y, equal_var=equal_var)
            peer = stats.ttest_ind(x, y, equal_var=equal_var)
            assert r.statistic == pytest.approx(peer.statistic, rel=1e-10)
            assert r.pvalue == pytest.approx(peer.pvalue, rel=1e-8, abs=1e-300)
            lo, hi = r.effect_size_ci
            assert lo < r.effect_size < hi
            # the bounds solve the noncentral-t equations exactly (not a loose approximation)
            scale = math.sqrt(n * n / (2 * n))
            t_pooled = r.effect_size * scale
            assert stats.nct.cdf(t_pooled, 2 * n - 2, lo * scale) == pytest.approx(0.975, abs=1e-7)
            assert stats.nct.cdf(t_pooled, 2 * n - 2, hi * scale) == pytest.approx(0.025, abs=1e-7)


def test_pairwise_tests_survive_large_noncentrality():
    rng = np.random.default_rng(5)
    for n in (100, 400):
        for _ in range(8):
            df = pd.DataFrame({"g": np.repeat(["a", "b", "c"], n),
                               "y": np.concatenate([rng.normal(m, 1, n) for m in (0.0, 0.3, 0.6)])})
            for test in ("welch", "pooled"):
                tab = pairwise_tests(df, "y", "g", test=test).table
                assert tab["pvalue"].between(0, 1).all() and np.isfinite(tab["effect_size"]).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=st.floats(-300, 300), df=st.sampled_from([2, 3, 5, 9, 30, 120, 1000, 10**4, 10**5, 10**6]),
       confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_nct_interval_is_exact_or_says_it_is_not(t, df, confidence):
    from probwb.stats.effects import nct_ncp_interval

    lo, hi, method = nct_ncp_interval(t, float(df), confidence)
    assert lo < t < hi
    a = 1 - confidence
    if method == "noncentral t inversion":
        assert stats.nct.cdf(t, df, lo) == pytest.approx(1 - a / 2, abs=1e-6)
        assert stats.nct.cdf(t, df, hi) == pytest.approx(a / 2, abs=1e-6)
    else:
        assert method.startswith("normal approximation")


def test_ttest_does_not_depend_on_the_d_interval(monkeypatch):
    import probwb.stats.htests as htests

    def broken(*args, **kwargs):
        raise ValueError("The function value at x=7.7 is NaN; solver cannot continue.")

    monkeypatch.setattr(htests, "cohens_d", broken)
    x, y = np.arange(10.0), np.arange(10.0) ** 1.2
    with pytest.warns(SmallSampleWarning, match="no confidence interval for Cohen's d"):
        r = ttest(x, y)
    peer = stats.ttest_ind(x, y, equal_var=False)
    assert r.statistic == pytest.approx(peer.statistic) and r.pvalue == pytest.approx(peer.pvalue)
    assert r.effect_size_ci is None and r.warnings
    sp = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
    assert r.effect_size == pytest.approx((x.mean() - y.mean()) / sp)


def test_paired_d_uses_mu_like_the_t_statistic():
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 1.0, 25)
    y = x - rng.normal(0.5, 1.0, 25)
    r = ttest(x, y, paired=True, mu=0.5)
    diff = x - y
    assert r.effect_size == pytest.approx((diff.mean() - 0.5) / diff.std(ddof=1))
    assert r.effect_size == pytest.approx(r.statistic / math.sqrt(25))


# ---------------------------------------------------------------- ANOVA effect sizes and their intervals


def _welch_frame(rng, sizes, sds, means):
    return pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(len(sizes))], sizes),
                         "y": np.concatenate([rng.normal(m, s, n) for n, s, m in zip(sizes, sds, means,
                                                                                        strict=True)])})


def test_welch_effect_size_inside_its_interval_site_case():
    # the site report: a large site and two small noisy ones give Welch df2 far below N; eta^2 was printed
    # from F df1 / (F df1 + df2) and the interval on lam / (lam + df1 + df2 + 1): 0.018 outside [0, 0.0149]
    rng = np.random.default_rng(0)
    results = [welch_anova(_welch_frame(rng, [800, 12, 9], [1.0, 4.0, 6.0], [0.0, 0.0, 0.0]), "y", "g")
               for _ in range(100)]
    outside = [r.statistic for r in results if not r.effect_size_ci[0] <= r.effect_size <= r.effect_size_ci[1]]
    assert outside == []
    for r in results:
        if r.statistic <= 1:
            assert r.effect_size == 0.0 and "indistinguishable from zero" in r.details["effect_size_note"]
            assert "indistinguishable from zero" in r.interpret()
        else:
            assert r.effect_size > 0 and "effect_size_note" not in r.details


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), k=st.integers(2, 5), n_small=st.integers(2, 12),
       shift=st.sampled_from([0.0, 0.2, 1.0]), welch=st.booleans())
def test_oneway_effect_sizes_share_one_scale(seed, k, n_small, shift, welch):
    from probwb.stats.effects import f_ncp_interval

    rng = np.random.default_rng(seed)
    sizes = [n_small] + list(rng.integers(2, 60, k - 1))
    sds = list(rng.uniform(0.5, 3.0, k))
    df = _welch_frame(rng, sizes, sds, [shift * i for i in range(k)])
    r = oneway(df, "y", "g", welch=welch)
    lo, hi = r.effect_size_ci
    assert 0.0 <= lo <= r.effect_size <= hi <= 1.0
    f, (df1, df2), n = r.statistic, r.df, r.n
    # the point estimate maps df1 (F - 1), clipped at 0, through lam / (lam + N)
    lam = max(0.0, df1 * (f - 1))
    assert r.effect_size == pytest.approx(lam / (lam + n), rel=1e-12, abs=1e-15)
    lam_lo, lam_hi = f_ncp_interval(f, df1, df2, 0.95)
    assert lo == pytest.approx(lam_lo / (lam_lo + n), rel=1e-9, abs=1e-15)
    assert hi == pytest.approx(lam_hi / (lam_hi + n), rel=1e-9, abs=1e-15)
    if not welch:
        ss_b, ss_w = r.details["sum_sq_between"], r.details["sum_sq_within"]
        omega_textbook = (ss_b - df1 * ss_w / df2) / (ss_b + ss_w + ss_w / df2)
        assert r.effect_size == pytest.approx(max(0.0, omega_textbook), abs=1e-12)


def test_omega_from_f_interval_inverts_noncentral_f_and_clips():
    from probwb.stats.effects import omega_squared_from_f

    es = omega_squared_from_f(4.846, 2, 27, 30, 0.95)
    lam_lo, lam_hi = (c * 30 / (1 - c) for c in es.ci)
    assert stats.ncf.cdf(4.846, 2, 27, lam_lo) == pytest.approx(0.975, abs=1e-8)
    assert stats.ncf.cdf(4.846, 2, 27, lam_hi) == pytest.approx(0.025, abs=1e-8)
    assert es.value == pytest.approx(2 * 3.846 / (2 * 3.846 + 30))
    small = omega_squared_from_f(0.4, 3, 40, 44)
    assert small.value == 0.0 and small.ci[0] == 0.0 and small.ci[1] > 0
    assert "clipped at 0" in small.note and "indistinguishable" in small.interpret()
    with pytest.raises(SpecError, match="confidence"):
        omega_squared_from_f(2.0, 2, 20, 23, confidence=95)


def test_nway_anova_reports_intervals_for_omega_and_partial_omega():
    from probwb.stats.effects import f_ncp_interval

    rng = np.random.default_rng(4)
    n = 180
    df = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n), "b": rng.choice(["p", "q"], n)})
    df["y"] = rng.normal(size=n) + (df.a == "x") * 0.7 + (df.b == "q") * 0.1
    res = anova(df, "y ~ a * b", confidence=0.9)
    t = res.table
    for term in ("a", "b", "a:b"):
        r = t.loc[term]
        assert r["omega_sq_ci_low"] <= r["omega_sq"] <= r["omega_sq_ci_high"]
        assert r["partial_omega_sq_ci_low"] <= r["partial_omega_sq"] <= r["partial_omega_sq_ci_high"]
        lam_lo, lam_hi = f_ncp_interval(r["F"], r["df"], t.loc["Residual", "df"], 0.9)
        assert r["partial_omega_sq_ci_low"] == pytest.approx(lam_lo / (lam_lo + n), abs=1e-12)
        assert r["partial_omega_sq_ci_high"] == pytest.approx(lam_hi / (lam_hi + n), abs=1e-12)
        ms_e = t.loc["Residual", "mean_sq"]
        textbook = (r["sum_sq"] - r["df"] * ms_e) / (res.details["ss_total"] + ms_e)
        assert r["omega_sq"] == pytest.approx(max(0.0, textbook), abs=1e-12)
    eff = anova_effect_sizes(res, confidence=0.9)
    np.testing.assert_allclose(eff["omega_sq_ci_high"].to_numpy(), t.loc[["a", "b", "a:b"], "omega_sq_ci_high"])
    clipped = [n for n in ("a", "b", "a:b") if t.loc[n, "F"] <= 1]
    assert all(any(n in s for s in res.details["effect_size_notes"]) for n in clipped)


# ---------------------------------------------------------------- exact fits: one behaviour


def test_anova_and_oneway_agree_on_groups_constant_within():
    df = pd.DataFrame({"g": np.repeat(["a", "b", "c"], 5), "h": np.tile(["u", "v", "u", "v", "u"], 3),
                       "y": np.repeat([0.1, 0.7, 1.3], 5)})
    with pytest.raises(DataError, match="constant") as e1:
        oneway(df, "y", "g")
    with pytest.raises(DataError, match="exactly") as e2:
        anova(df, "y ~ g")
    with pytest.raises(DataError, match="exactly"):
        anova(df, "y ~ g + h")
    with pytest.raises(DataError, match="constant"):
        welch_anova(df, "y", "g")
    assert "'g'" in str(e1.value) and "'y'" in str(e2.value)


# ---------------------------------------------------------------- npk: cells counted per model term

# R's `npk` data (package datasets; Yates 1935, also in Venables & Ripley, MASS, 4th ed., section 6.7):
# a 2^3 factorial in N, P, K on 24 plots in 6 blocks, with N:P:K confounded with blocks.
NPK = pd.DataFrame(
    [(1, 0, 1, 1, 49.5), (1, 1, 1, 0, 62.8), (1, 0, 0, 0, 46.8), (1, 1, 0, 1, 57.0),
     (2, 1, 0, 0, 59.8), (2, 1, 1, 1, 58.5), (2, 0, 0, 1, 55.5), (2, 0, 1, 0, 56.0),
     (3, 0, 1, 0, 62.8), (3, 1, 1, 1, 55.8), (3, 1, 0, 0, 69.5), (3, 0, 0, 1, 55.0),
     (4, 1, 0, 0, 62.0), (4, 1, 1, 1, 48.8), (4, 0, 0, 1, 45.5), (4, 0, 1, 0, 44.2),
     (5, 1, 1, 0, 52.0), (5, 0, 0, 0, 51.5), (5, 1, 0, 1, 49.8), (5, 0, 1, 1, 48.8),
     (6, 1, 0, 1, 57.2), (6, 1, 1, 0, 59.0), (6, 0, 1, 1, 53.2), (6, 0, 0, 0, 56.0)],
    columns=["block", "N", "P", "K", "yield"])


@pytest.mark.parametrize("typ", [1, 2, 3])
def test_npk_has_no_false_cell_warnings(typ):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = anova(NPK, "yield ~ C(block) + C(N) * C(P) * C(K)", typ=typ)
    text = " ".join(res.warnings) + " ".join(str(w.message) for w in caught)
    assert "single observation" not in text and "depend on the contrasts" not in text
    # the one true problem: N:P:K is confounded with blocks
    assert any("N:P:K" in w and "not estimable" in w for w in res.warnings)
    if typ == 1:
        # summary(aov(yield ~ block + N*P*K, npk)) in R
        r_ss = {"block": 343.295, "N": 189.282, "P": 8.402, "K": 95.202, "N:P": 21.282, "N:K": 33.135,
                "P:K": 0.482, "Residual": 185.287}
        for term, ss in r_ss.items():
            assert res.table.loc[term, "sum_sq"] == pytest.approx(ss, abs=6e-4)
        assert res.table.loc["Residual", "df"] == 12


def test_real_cell_problems_still_warn():
    rng = np.random.default_rng(2)
    # A*B with some cells observed once: those give no within-cell degrees of freedom
    df = pd.DataFrame({"a": list("xxxyyyzz") * 3, "b": list("pqpqpqpq") * 3})
    df = df.iloc[:-3].assign(y=rng.normal(size=21))
    counts = df.groupby(["a", "b"]).size()
    with pytest.warns(SmallSampleWarning):
        res = anova(pd.concat([df, pd.DataFrame({"a": ["w"], "b": ["p"], "y": [0.3]})]), "y ~ a * b", typ=3)
    assert any("single observation" in w and "'a:b'" in w for w in res.warnings)
    assert any("are empty" in w and "'a:b'" in w for w in res.warnings)
    assert (counts > 1).all()


# ---------------------------------------------------------------- power: every argument validated by name


@pytest.mark.parametrize("call, name", [
    (lambda: power_ttest(0.5, n=30, alpha=1.5), "alpha"),
    (lambda: power_ttest(0.5, power=0.8, alpha=0.0), "alpha"),
    (lambda: power_ttest(0.5, power=1.2), "power"),
    (lambda: power_ttest(0.5, n=-3), "n"),
    (lambda: power_ttest(0.5, n=30, ratio=0), "ratio"),
    (lambda: power_ttest(float("nan"), n=30), "effect_size"),
    (lambda: power_ttest(0.0, power=0.8), "effect_size"),
    (lambda: power_anova(0.25, n=20, k_groups=3, alpha=2.0), "alpha"),
    (lambda: power_anova(-0.25, n=20, k_groups=3), "effect_size"),
    (lambda: power_anova(0.25, n=20, k_groups=2.5), "k_groups"),
    (lambda: power_two_proportions(0.3, 0.2, n=100, alpha=1.5), "alpha"),
    (lambda: power_two_proportions(0.3, 0.2, power=0.02, alpha=0.05), "power"),
    (lambda: power_two_proportions(0.3, 1.2, n=100), "p2"),
])
def test_power_arguments_are_validated_by_name(call, name):
    with pytest.raises(SpecError, match=rf"\b{name}\b") as e:
        call()
    assert "could not solve" not in str(e.value) and "found" in str(e.value)


def test_cohens_d_interval_for_huge_t():
    x = np.linspace(0, 1, 500)
    d = cohens_d(x + 10.0, x)
    assert d.ci[0] < d.value < d.ci[1] and np.isfinite(d.ci).all()


@pytest.mark.parametrize("noise", [1e-3, 1e-6, 1e-9])
def test_near_exact_fits_get_informative_intervals(noise):
    # F of 1e7 to 1e19: the noncentral F is NaN (and slow) out there; the large-lam limit takes over
    rng = np.random.default_rng(8)
    df = pd.DataFrame({"g": np.repeat(list("abc"), 10)})
    df["y"] = np.repeat([0.0, 1.0, 2.0], 10) + rng.normal(0, noise, 30)
    for r in (oneway(df, "y", "g"), welch_anova(df, "y", "g")):
        lo, hi = r.effect_size_ci
        assert 0.99999 < lo <= r.effect_size <= hi <= 1.0
    row = anova(df, "y ~ g").table.loc["g"]
    assert 0.99999 < row["partial_omega_sq_ci_low"] <= row["partial_omega_sq"] <= row["partial_omega_sq_ci_high"]
    x, y = rng.normal(0, noise, 10), 1 + rng.normal(0, noise, 12)
    t = ttest(x, y)
    lo, hi = t.effect_size_ci
    assert lo < t.effect_size < hi < 0 and not t.warnings
    # the large-noncentrality bounds are the chi-square limit, and join the exact inversion smoothly
    from probwb.stats.effects import nct_ncp_interval

    below, above = nct_ncp_interval(-9_999.0, 20.0, 0.9), nct_ncp_interval(-10_001.0, 20.0, 0.9)
    assert below[2] == "noncentral t inversion" and above[2].endswith("large-noncentrality limit")
    np.testing.assert_allclose(np.array(above[:2]) / -10_001.0, np.array(below[:2]) / -9_999.0, rtol=1e-4)


def test_cramers_v_says_when_the_sample_value_is_outside_its_interval():
    from probwb.stats import chi2_independence, cramers_v

    tiny = cramers_v(0.01, 200, (3, 3))
    assert tiny.ci == (0.0, 0.0) and tiny.value > 0 and "indistinguishable from zero" in tiny.note
    table = np.array([[50, 50, 50], [50, 50, 51], [50, 50, 50]])  # chi2 far below its df
    r = chi2_independence(table)
    assert "indistinguishable from zero" in r.details["effect_size_note"] and "indistinguishable" in r.interpret()
    clear = cramers_v(30.0, 200, (3, 4))
    assert clear.note == "" and clear.ci[0] < clear.value < clear.ci[1]


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95, -0.5])
def test_bad_confidence_is_refused_by_name(confidence):
    x, y = np.arange(8.0), np.arange(8.0) ** 1.3
    with pytest.raises(SpecError, match="confidence"):
        ttest(x, y, confidence=confidence)
    from probwb.stats import proportions_test

    with pytest.raises(SpecError, match="confidence"):
        proportions_test([10, 20], [50, 60], confidence=confidence)
