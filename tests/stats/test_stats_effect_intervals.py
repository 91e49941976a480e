"""Intervals for the effect sizes of rm_anova, kruskal, friedman and mannwhitney (issue #13)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from probwb.evaluate import binomial_band
from probwb.stats import friedman, kruskal, mannwhitney, rm_anova
from probwb.stats.effects import f_ncp_interval


def _long(wide: np.ndarray) -> pd.DataFrame:
    n, k = wide.shape
    return pd.DataFrame({"s": np.repeat(np.arange(n), k), "c": np.tile([f"c{j}" for j in range(k)], n),
                         "y": wide.ravel()})


def _groups(samples) -> pd.DataFrame:
    return pd.DataFrame({"y": np.concatenate(samples),
                         "g": np.repeat([f"g{i}" for i in range(len(samples))], [len(s) for s in samples])})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rm_anova_partial_omega_interval_on_one_mapping(seed):
    rng = np.random.default_rng(seed)
    n, k = 8 + 4 * seed, 3 + seed % 2
    wide = rng.normal(0, 1, (n, 1)) + rng.normal(0, 1, (n, k)) + np.linspace(0, 0.6 * seed, k)
    res = rm_anova(_long(wide), "y", "s", "c", confidence=0.9)
    r = res.table.loc["c"]
    lo, hi = f_ncp_interval(r["F"], r["df"], r["df_error"], 0.9)
    big_n = n * k

    def share(lam):
        return lam / (lam + big_n)

    assert r["partial_omega_sq"] == pytest.approx(share(max(r["df"] * (r["F"] - 1), 0.0)), rel=1e-12)
    assert r["partial_omega_sq_ci_low"] == pytest.approx(share(lo), rel=1e-12, abs=1e-15)
    assert r["partial_omega_sq_ci_high"] == pytest.approx(share(hi), rel=1e-12)
    assert r["partial_omega_sq_ci_low"] <= r["partial_omega_sq"] <= r["partial_omega_sq_ci_high"]
    assert r["partial_eta_sq"] == pytest.approx(r["sum_sq"] / (r["sum_sq"] + r["sum_sq_error"]))
    assert res.details["confidence"] == 0.9
    if r["F"] <= 1:
        assert r["partial_omega_sq"] == 0 and res.details["effect_size_notes"]


def test_rm_anova_between_terms_get_intervals_too():
    rng = np.random.default_rng(5)
    wide = rng.normal(0, 1, (12, 3)) + np.array([0, 0.5, 1.0])
    df = _long(wide).assign(g=lambda d: np.where(d.s < 6, "a", "b"))
    t = rm_anova(df, "y", "s", "c", between="g").table
    assert set(t.index) == {"g", "c", "c:g"}
    assert (t["partial_omega_sq_ci_low"] <= t["partial_omega_sq"]).all()
    assert (t["partial_omega_sq"] <= t["partial_omega_sq_ci_high"]).all()


@pytest.mark.parametrize("seed", [3, 4])
def test_rank_effects_contain_their_point_and_are_reproducible(seed):
    rng = np.random.default_rng(seed)
    x, y = np.round(rng.normal(0.4, 1, 15 + seed), 1), np.round(rng.normal(0, 1, 20), 1)  # ties on purpose
    samples = [np.round(rng.normal(m, 1, 12 + seed), 1) for m in (0, 0.5, 1.0)]
    wide = np.round(rng.normal(0, 1, (10 + seed, 4)) + np.array([0, 0.3, 0.6, 0.9]), 1)
    calls = [
        (lambda rs: mannwhitney(x, y, confidence=0.9, n_boot=500, random_state=rs),
         2 * stats.mannwhitneyu(x, y).statistic / (x.size * y.size) - 1, (-1, 1)),
        (lambda rs: kruskal(_groups(samples), "y", "g", confidence=0.9, n_boot=500, random_state=rs),
         stats.kruskal(*samples).statistic / (sum(map(len, samples)) - 1), (0, 1)),
        (lambda rs: friedman(_long(wide), "y", "s", "c", confidence=0.9, n_boot=500, random_state=rs),
         stats.friedmanchisquare(*wide.T).statistic / (wide.shape[0] * 3), (0, 1)),
    ]
    for call, expected, (a, b) in calls:
        r1, r2, r3 = call(seed), call(seed), call(seed + 100)
        assert r1.effect_size == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert r1.effect_size_ci is not None and r1.confidence == 0.9
        assert a <= r1.effect_size_ci[0] <= r1.effect_size <= r1.effect_size_ci[1] <= b
        assert r1.effect_size_ci[0] < r1.effect_size_ci[1]
        assert r1.effect_size_ci == r2.effect_size_ci
        assert r1.effect_size_ci != r3.effect_size_ci
        assert "bootstrap" in r1.details["effect_size_method"]
        assert r1.to_frame()["effect_size_ci_low"].iloc[0] == r1.effect_size_ci[0]


def _coverage(hits: np.ndarray) -> None:
    lo, hi = binomial_band(0.9, hits.size)
    assert lo <= hits.mean() <= hi, f"coverage {hits.mean():.3f} outside [{lo:.3f}, {hi:.3f}]"


def test_rank_biserial_interval_coverage():
    delta, reps = 0.6, 200
    truth = 2 * stats.norm.cdf(delta / math.sqrt(2)) - 1  # P(X > Y) - P(X < Y) for N(delta,1) vs N(0,1)
    rng = np.random.default_rng(20261203)
    hits = np.empty(reps, bool)
    for i in range(reps):
        r = mannwhitney(rng.normal(delta, 1, 30), rng.normal(0, 1, 25), confidence=0.9, n_boot=500,
                        random_state=rng)
        hits[i] = r.effect_size_ci[0] <= truth <= r.effect_size_ci[1]
    _coverage(hits)


def test_kendalls_w_interval_coverage():
    # at 25 subjects the percentile interval covered only 0.83-0.885 over four seeds (W is biased upwards);
    # from about 100 subjects it is calibrated (0.875-0.90 over four seeds)
    shifts, n, reps = np.array([0.0, 0.5, 1.0]), 100, 200
    k = shifts.size
    # expected within-subject rank of each condition; W's population value uses it in place of mean ranks
    mu = 1 + np.array([sum(stats.norm.cdf((shifts[j] - shifts[m]) / math.sqrt(2)) for m in range(k) if m != j)
                       for j in range(k)])
    truth = 12 * np.sum((mu - (k + 1) / 2) ** 2) / (k * (k * k - 1))
    rng = np.random.default_rng(7)
    hits = np.empty(reps, bool)
    for i in range(reps):
        wide = rng.normal(0, 2, (n, 1)) + rng.normal(0, 1, (n, k)) + shifts
        r = friedman(_long(wide), "y", "s", "c", confidence=0.9, n_boot=500, random_state=rng)
        hits[i] = r.effect_size_ci[0] <= truth <= r.effect_size_ci[1]
    _coverage(hits)


def test_friedman_with_every_subject_tied_has_no_interval():
    res = friedman(_long(np.ones((6, 3))), "y", "s", "c", n_boot=200, random_state=0)
    assert res.effect_size_ci is None and "no interval" in res.details["effect_size_note"]
