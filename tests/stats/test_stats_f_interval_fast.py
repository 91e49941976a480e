"""The noncentral-F interval through scipy.special (issue #22) equals the one through scipy.stats.ncf.

The reference below is the implementation as it was before the change: the same bracketing root search in
``effects.ncp_interval``, with the cdf evaluated by ``scipy.stats.ncf.cdf`` / ``scipy.stats.f.cdf``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from probwb.stats import oneway
from probwb.stats.effects import _LARGE_NCP_F, f_ncp_interval, ncp_interval, omega_squared_from_f


def reference_f_ncp_interval(f_value: float, df1: float, df2: float, confidence: float = 0.95):
    """The pre-#22 interval: stats.ncf.cdf inside the same root search (only the region below 1e8)."""
    def cdf(f: float, lam: float) -> float:
        return stats.ncf.cdf(f, df1, df2, lam) if lam > 0 else stats.f.cdf(f, df1, df2)

    return ncp_interval(cdf, f_value, confidence, scale=df1)


def same(a: float, b: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-8 * max(abs(b), 1e-300)


# F spans below 1 (lower bound 0, often both bounds 0), around the critical values, and very large (F df1 up to
# just below the 1e8 closed-form switch); integer and fractional (Welch) degrees of freedom
f_values = st.one_of(st.floats(0.0, 1.0), st.floats(1.0, 10.0), st.floats(10.0, 1e3),
                     st.floats(1e3, 1e6))
df1s = st.one_of(st.integers(1, 60).map(float), st.floats(0.5, 60.0))
df2s = st.one_of(st.integers(1, 100_000).map(float), st.floats(1.0, 5e4))
levels = st.sampled_from([0.8, 0.9, 0.95, 0.99])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=f_values, df1=df1s, df2=df2s, confidence=levels)
def test_interval_equals_the_stats_ncf_reference(f, df1, df2, confidence):
    if f * df1 > _LARGE_NCP_F:
        return  # the closed-form branch did not change
    new = f_ncp_interval(f, df1, df2, confidence)
    old = reference_f_ncp_interval(f, df1, df2, confidence)
    assert same(new[0], old[0]) and same(new[1], old[1]), (f, df1, df2, confidence, new, old)


@pytest.mark.parametrize("f, df1, df2", [
    (0.0, 3.0, 20.0), (0.2, 1.0, 5.0), (1.0, 9.0, 9990.0), (14.697694112034764, 9.0, 9990.0),
    (3.5, 2.0, 12.0), (250.0, 4.0, 40.0), (9.9e6, 10.0, 1000.0), (1e5, 1.0, 3.0), (6.0, 2.7, 17.3)])
def test_interval_equals_reference_at_fixed_points(f, df1, df2):
    new = f_ncp_interval(f, df1, df2, 0.95)
    old = reference_f_ncp_interval(f, df1, df2, 0.95)
    assert same(new[0], old[0]) and same(new[1], old[1]), (new, old)


def test_interval_bounds_solve_the_noncentral_f_equations():
    # independent of either implementation: the bounds are the roots that define the interval
    f, df1, df2 = 4.2, 3.0, 40.0
    lo, hi = f_ncp_interval(f, df1, df2, 0.9)
    assert 0 < lo < hi
    assert stats.ncf.cdf(f, df1, df2, lo) == pytest.approx(0.95, abs=1e-9)
    assert stats.ncf.cdf(f, df1, df2, hi) == pytest.approx(0.05, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 8), n=st.integers(20, 400),
       shift=st.floats(0.0, 2.0))
def test_oneway_result_matches_reference_path(seed, k, n, shift):
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = rng.integers(0, k, n)
    g[:k] = np.arange(k)
    y = rng.normal(0, 1, n) + shift * (g == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a random split may leave a single-observation group; not tested here
        res = oneway(pd.DataFrame({"y": y, "g": g}), "y", "g")
    assert res.pvalue == stats.f.sf(res.statistic, *res.df)
    lo, hi = reference_f_ncp_interval(res.statistic, *res.df)
    ref = omega_squared_from_f(res.statistic, *res.df, float(n))
    share = [lam / (lam + n) if math.isfinite(lam) else 1.0 for lam in (lo, hi)]
    assert res.effect_size == ref.value
    assert same(res.effect_size_ci[0], share[0]) and same(res.effect_size_ci[1], share[1])


def test_interval_does_not_go_through_the_distribution_wrappers(monkeypatch):
    # the wrappers cost ~40 us a call against ~2 us for scipy.special, ~95% of a 10k-row one-way ANOVA (#22)
    def refuse(*args, **kwargs):
        raise AssertionError("stats.ncf.cdf / stats.f.cdf called in the interval's root search")

    monkeypatch.setattr(stats.ncf, "cdf", refuse)
    monkeypatch.setattr(stats.f, "cdf", refuse)
    lo, hi = f_ncp_interval(14.7, 9.0, 9990.0)
    assert 0 < lo < hi < math.inf


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), where=st.sampled_from(["y", "g"]),
       kind=st.sampled_from(["category", "str", "Float64"]))
def test_oneway_missing_check_without_isna_series(seed, where, kind):
    """The one-way missing-value check (NaN scan / code -1 instead of Series.isna) refuses and drops as before."""
    import pandas as pd

    from probwb.errors import DataError

    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 200))
    g = rng.integers(0, 3, n)
    g[:3] = np.arange(3)
    y = rng.normal(0, 1, n) + 0.5 * g
    bad = int(rng.integers(3, n))
    labels = np.array(["a", "b", "c"], dtype=object)[g]
    df = pd.DataFrame({"y": y, "g": labels})
    if kind == "category":
        df["g"] = pd.Categorical(labels, categories=["c", "a", "b"])
    elif kind == "Float64":
        df["y"] = df["y"].astype("Float64")
    df.loc[bad, where] = None
    with pytest.raises(DataError, match=f"column '{where}' has 1 missing"):
        oneway(df, "y", "g")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = oneway(df, "y", "g", missing="drop")
    want = oneway(df.drop(index=bad), "y", "g")
    assert (got.statistic, got.pvalue, got.n) == (want.statistic, want.pvalue, n - 1)
