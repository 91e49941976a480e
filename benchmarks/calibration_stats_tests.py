"""Calibration of probwb.stats tests and intervals by simulation (issue #13).

Every interval is run at a nominal 90% and must cover the truth that generated the data at a rate inside the
99% binomial band around 0.90; every test is run at alpha = 0.05 under its null and must reject at a rate
inside the band around 0.05. Data include skewed (lognormal, exponential) and zero-inflated (a point mass at
zero mixed with a gamma) samples, unequal variances and unbalanced groups.

``claim`` says what each method promises: ``valid`` rows are asserted (by tests/calibration/test_stats_tests.py
at 200 replications, by this script's table at the full size); ``conservative`` rows (exact conditional
methods) promise at least the nominal coverage / at most alpha, so only that side is checked; ``not claimed``
rows show a method outside its assumptions (pooled t with unequal variances and unequal n) and are reported,
never asserted.

Run: ``python benchmarks/calibration_stats_tests.py [n_reps]`` (default 1000) writes
``benchmarks/calibration_stats_tests.md``.
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from probwb.errors import SmallSampleWarning
from probwb.evaluate import coverage_row
from probwb.evaluate.coverage import to_markdown
from probwb.stats import anova, chi2_independence, fisher_exact, oneway, proportions_test, ttest, welch_anova

LEVEL = 0.90  # nominal interval coverage
ALPHA = 0.05  # nominal test size
SEED = 20261203


@dataclass(frozen=True)
class Scenario:
    """One calibration check: ``draw(rng) -> bool`` is one replication's hit (covered / rejected)."""

    name: str
    kind: str  # "coverage" or "size"
    data: str
    claim: str  # "valid", "conservative" or "not claimed: <why>"
    draw: Callable[[np.random.Generator], bool]

    @property
    def nominal(self) -> float:
        return LEVEL if self.kind == "coverage" else ALPHA


# ----------------------------------------------------------------------------- data generators with known means

def _normal(mean: float, sd: float) -> Callable:
    return lambda rng, n: rng.normal(mean, sd, n), mean


def _lognormal(sigma: float, shift: float = 0.0) -> Callable:
    # lognormal(0, sigma) has mean exp(sigma^2 / 2): strongly right-skewed for sigma >= 0.75
    return lambda rng, n: rng.lognormal(0.0, sigma, n) + shift, math.exp(sigma * sigma / 2) + shift


def _exponential(scale: float) -> Callable:
    return lambda rng, n: rng.exponential(scale, n), scale


def _zero_inflated(p_zero: float, shape: float, scale: float) -> Callable:
    # spend-like data: no purchase with probability p_zero, else a gamma amount
    def draw(rng, n):
        return np.where(rng.random(n) < p_zero, 0.0, rng.gamma(shape, scale, n))
    return draw, (1 - p_zero) * shape * scale


def _covered(ci, truth: float) -> bool:
    return bool(ci[0] <= truth <= ci[1])


def _t_interval(gen_x, gen_y, nx: int, ny: int, equal_var: bool) -> Callable:
    (fx, mx), (fy, my) = gen_x, gen_y

    def draw(rng):
        r = ttest(fx(rng, nx), fy(rng, ny), equal_var=equal_var, confidence=LEVEL)
        return _covered(r.estimate_ci, mx - my)
    return draw


def _t_size(gen_x, gen_y, nx: int, ny: int, equal_var: bool) -> Callable:
    (fx, mx), (fy, my) = gen_x, gen_y

    def draw(rng):
        return ttest(fx(rng, nx), fy(rng, ny), equal_var=equal_var, mu=mx - my).pvalue < ALPHA
    return draw


def _paired(gen_base, gen_diff, n: int, size: bool) -> Callable:
    (fb, _), (fd, md) = gen_base, gen_diff

    def draw(rng):
        base = fb(rng, n)
        after = base + fd(rng, n)  # differences after - base follow gen_diff; base adds correlation
        r = ttest(after, base, paired=True, mu=md if size else 0.0, confidence=LEVEL)
        return r.pvalue < ALPHA if size else _covered(r.estimate_ci, md)
    return draw


def _cohens_d(nx: int, ny: int, delta: float) -> Callable:
    def draw(rng):
        r = ttest(rng.normal(delta, 2.0, nx), rng.normal(0.0, 2.0, ny), equal_var=True, confidence=LEVEL)
        return _covered(r.effect_size_ci, delta / 2.0)
    return draw


def _paired_dz(n: int, mean_diff: float, sd_diff: float) -> Callable:
    def draw(rng):
        base = rng.normal(10.0, 3.0, n)
        r = ttest(base + rng.normal(mean_diff, sd_diff, n), base, paired=True, confidence=LEVEL)
        return _covered(r.effect_size_ci, mean_diff / sd_diff)
    return draw


def _groups_frame(rng, sizes, means, sds, gen=None) -> pd.DataFrame:
    ys = [rng.normal(m, s, n) if gen is None else gen(rng, n, m, s) for n, m, s in zip(sizes, means, sds,
                                                                                           strict=True)]
    return pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(len(sizes))], sizes), "y": np.concatenate(ys)})


def _omega_truth(sizes, means, sds, welch: bool) -> float:
    n = np.asarray(sizes, float)
    mu = np.asarray(means, float)
    var = np.asarray(sds, float) ** 2
    if welch:
        w = n / var
        lam = float(np.sum(w * (mu - np.sum(w * mu) / w.sum()) ** 2))
    else:
        lam = float(np.sum(n * (mu - np.sum(n * mu) / n.sum()) ** 2) / var[0])
    return lam / (lam + n.sum())


def _oneway_interval(sizes, means, sds, welch: bool) -> Callable:
    truth = _omega_truth(sizes, means, sds, welch)

    def draw(rng):
        r = oneway(_groups_frame(rng, sizes, means, sds), "y", "g", welch=welch, confidence=LEVEL)
        return _covered(r.effect_size_ci, truth)
    return draw


def _skew_gen(rng, n, mean, sd):
    # centred exponential scaled to the requested mean and sd
    return mean + sd * (rng.exponential(1.0, n) - 1.0)


def _oneway_size(sizes, sds, welch: bool, gen=None) -> Callable:
    def draw(rng):
        df = _groups_frame(rng, sizes, [0.0] * len(sizes), sds, gen)
        r = welch_anova(df, "y", "g") if welch else oneway(df, "y", "g")
        return r.pvalue < ALPHA
    return draw


def _two_way_partial(n_cell: int, delta: float, partial: bool) -> Callable:
    # 2 x 3 balanced design, sigma = 1; A effects +/- delta, B effects (0, 0.3, -0.3), no interaction
    a_eff, b_eff = np.array([delta, -delta]), np.array([0.0, 0.3, -0.3])
    n = 6 * n_cell
    lam_a = n * delta * delta
    lam_b = n * float(np.mean(b_eff ** 2))
    # population shares: partial = lam_A / (lam_A + N); omega^2 = lam_A / (lam_A + lam_B + N)
    truth = lam_a / (lam_a + n) if partial else lam_a / (lam_a + lam_b + n)
    a = np.repeat(np.arange(2), 3 * n_cell)
    b = np.tile(np.repeat(np.arange(3), n_cell), 2)

    def draw(rng):
        df = pd.DataFrame({"a": a.astype(str), "b": b.astype(str),
                           "y": a_eff[a] + b_eff[b] + rng.normal(0.0, 1.0, n)})
        row = anova(df, "y ~ a * b", confidence=LEVEL).table.loc["a"]
        col = "partial_omega_sq" if partial else "omega_sq"
        return _covered((row[f"{col}_ci_low"], row[f"{col}_ci_high"]), truth)
    return draw


def _prop_interval(p1: float, p2: float, n1: int, n2: int) -> Callable:
    def draw(rng):
        s = [rng.binomial(n1, p1), rng.binomial(n2, p2)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallSampleWarning)
            r = proportions_test(s, [n1, n2], confidence=LEVEL)
        return _covered(r.estimate_ci, p1 - p2)
    return draw


def _prop_size(p: float, n1: int, n2: int, method: str) -> Callable:
    def draw(rng):
        s = [rng.binomial(n1, p), rng.binomial(n2, p)]
        if s[0] + s[1] in (0, n1 + n2):
            return False  # no test is possible on an all-zero/all-one table; it cannot reject
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallSampleWarning)
            return proportions_test(s, [n1, n2], method=method).pvalue < ALPHA
    return draw


def _fisher_or_interval(p1: float, p2: float, n1: int, n2: int) -> Callable:
    truth = (p1 / (1 - p1)) / (p2 / (1 - p2))

    def draw(rng):
        s1, s2 = rng.binomial(n1, p1), rng.binomial(n2, p2)
        r = fisher_exact([[s1, n1 - s1], [s2, n2 - s2]], confidence=LEVEL)
        return _covered(r.estimate_ci, truth)
    return draw


def _cramers_v_interval(p: np.ndarray, n: int) -> Callable:
    # population V = sqrt(phi^2 / (min(r, c) - 1)), phi^2 = sum (p_ij - p_i p_j)^2 / (p_i p_j); the test's
    # noncentrality is n phi^2
    pr, pc = p.sum(axis=1), p.sum(axis=0)
    phi2 = float(((p - np.outer(pr, pc)) ** 2 / np.outer(pr, pc)).sum())
    truth = math.sqrt(phi2 / (min(p.shape) - 1))

    def draw(rng):
        table = rng.multinomial(n, p.ravel()).reshape(p.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallSampleWarning)
            r = chi2_independence(table, confidence=LEVEL)
        return _covered(r.effect_size_ci, truth)
    return draw


V_TABLE = np.array([[0.10, 0.08, 0.07], [0.08, 0.12, 0.10], [0.05, 0.10, 0.30]])
NORMAL, NORMAL_WIDE = _normal(0.0, 1.0), _normal(0.5, 3.0)
LOGN = _lognormal(0.75)
EXPO = _exponential(1.2)
ZINF_A, ZINF_B = _zero_inflated(0.4, 2.0, 1.5), _zero_inflated(0.55, 2.0, 2.0)


def scenarios() -> list[Scenario]:
    """Return every calibration check, in table order."""
    s = Scenario
    return [
        # t intervals for the mean difference
        s("Welch t CI, mean difference", "coverage", "normal, sd 1 vs 3, n 15 vs 40", "valid",
          _t_interval(NORMAL, NORMAL_WIDE, 15, 40, False)),
        s("Welch t CI, mean difference", "coverage", "lognormal(0.75) n 60 vs exponential n 80", "valid",
          _t_interval(LOGN, EXPO, 60, 80, False)),
        s("Welch t CI, mean difference", "coverage", "zero-inflated gamma, 40% vs 55% zeros, n 70 vs 50",
          "valid", _t_interval(ZINF_A, ZINF_B, 70, 50, False)),
        s("pooled t CI, mean difference", "coverage", "normal, equal sd, n 12 vs 35", "valid",
          _t_interval(_normal(0.3, 2.0), _normal(0.0, 2.0), 12, 35, True)),
        s("pooled t CI, mean difference", "coverage", "exponential, equal sd, n 50 vs 50", "valid",
          _t_interval(_exponential(1.0), _exponential(1.0), 50, 50, True)),
        s("pooled t CI, mean difference", "coverage", "normal, sd 1 vs 3, n 40 vs 12",
          "not claimed: pooled t assumes equal variances", _t_interval(NORMAL, NORMAL_WIDE, 40, 12, True)),
        s("paired t CI, mean difference", "coverage", "normal base + normal differences, n 20", "valid",
          _paired(_normal(10.0, 3.0), _normal(0.4, 1.0), 20, size=False)),
        s("paired t CI, mean difference", "coverage", "lognormal base + zero-inflated differences, n 60",
          "valid", _paired(LOGN, ZINF_A, 60, size=False)),
        # t-test sizes
        s("Welch t size", "size", "normal, sd 1 vs 3, n 15 vs 40", "valid",
          _t_size(NORMAL, NORMAL_WIDE, 15, 40, False)),
        s("Welch t size", "size", "zero-inflated gamma, 40% vs 55% zeros, n 70 vs 50", "valid",
          _t_size(ZINF_A, ZINF_B, 70, 50, False)),
        s("pooled t size", "size", "normal, equal sd, n 12 vs 35", "valid",
          _t_size(_normal(0.3, 2.0), _normal(0.0, 2.0), 12, 35, True)),
        s("pooled t size", "size", "normal, sd 1 vs 3, n 40 vs 12",
          "not claimed: pooled t assumes equal variances", _t_size(NORMAL, NORMAL_WIDE, 40, 12, True)),
        s("paired t size", "size", "lognormal base + exponential differences, n 50", "valid",
          _paired(LOGN, EXPO, 50, size=True)),
        # standardised effects
        s("Cohen's d CI (noncentral t)", "coverage", "normal, equal sd, n 20 vs 45, d = 0.5", "valid",
          _cohens_d(20, 45, 1.0)),
        s("Cohen's d CI (noncentral t)", "coverage", "normal, equal sd, n 300 vs 300, d = 0.15", "valid",
          _cohens_d(300, 300, 0.3)),
        s("paired d_z CI (noncentral t)", "coverage", "normal differences, n 25, d_z = 0.6", "valid",
          _paired_dz(25, 0.6, 1.0)),
        s("one-way omega^2 CI (noncentral F)", "coverage", "normal, equal sd, n 10/25/40", "valid",
          _oneway_interval([10, 25, 40], [0.0, 0.5, 0.8], [1.0, 1.0, 1.0], welch=False)),
        s("Welch omega^2 CI (noncentral F)", "coverage", "normal, sd 1/2/4, n 30/20/40", "valid",
          _oneway_interval([30, 20, 40], [0.0, 1.0, 2.0], [1.0, 2.0, 4.0], welch=True)),
        s("two-way partial omega^2 CI, term a", "coverage", "normal, balanced 2 x 3, 10 per cell", "valid",
          _two_way_partial(10, 0.3, partial=True)),
        s("two-way omega^2 CI, term a", "coverage", "normal, balanced 2 x 3, 10 per cell", "valid",
          _two_way_partial(10, 0.3, partial=False)),
        # ANOVA sizes
        s("one-way F size", "size", "normal, equal sd, n 10/25/40", "valid",
          _oneway_size([10, 25, 40], [1.0, 1.0, 1.0], welch=False)),
        s("one-way F size", "size", "centred exponential, equal sd, n 30/30/30", "valid",
          _oneway_size([30, 30, 30], [1.0, 1.0, 1.0], welch=False, gen=_skew_gen)),
        s("Welch F size", "size", "normal, sd 1/2/4, n 30/20/40", "valid",
          _oneway_size([30, 20, 40], [1.0, 2.0, 4.0], welch=True)),
        s("Welch F size", "size", "centred exponential, sd 1/2/3, n 60/40/50", "valid",
          _oneway_size([60, 40, 50], [1.0, 2.0, 3.0], welch=True, gen=_skew_gen)),
        # proportions
        s("difference of proportions CI", "coverage", "p 0.30 vs 0.20, n 200 vs 150", "valid",
          _prop_interval(0.30, 0.20, 200, 150)),
        s("difference of proportions CI", "coverage", "p 0.06 vs 0.03, n 150 vs 120 (rare events)",
          "valid", _prop_interval(0.06, 0.03, 150, 120)),
        s("two-proportion z size", "size", "p 0.25, n 120 vs 80", "valid", _prop_size(0.25, 120, 80, "z")),
        s("two-proportion chi-square size", "size", "p 0.25, n 120 vs 80", "valid",
          _prop_size(0.25, 120, 80, "chi2")),
        s("Fisher exact size", "size", "p 0.10, n 40 vs 30", "conservative", _prop_size(0.10, 40, 30, "fisher")),
        s("Fisher exact odds-ratio CI", "coverage", "p 0.30 vs 0.15, n 60 vs 60", "conservative",
          _fisher_or_interval(0.30, 0.15, 60, 60)),
        s("Cramér's V CI (noncentral chi-square)", "coverage", "3 x 3 multinomial, n 300, V = 0.27", "valid",
          _cramers_v_interval(V_TABLE, 300)),
    ]


def run(n_reps: int, seed: int = SEED, only: list[str] | None = None) -> pd.DataFrame:
    """Return the calibration table: one :func:`probwb.evaluate.coverage_row` per scenario plus ``kind``,
    ``data``, ``claim`` and ``ok`` (inside the band; for conservative rows, on the safe side of it)."""
    rows = []
    for i, sc in enumerate(scenarios()):
        key = f"{sc.name} | {sc.data}"
        if only is not None and key not in only:
            continue
        rng = np.random.default_rng([seed, i])
        hits = np.array([sc.draw(rng) for _ in range(n_reps)])
        row = coverage_row(sc.name, hits, sc.nominal, kind=sc.kind, data=sc.data, claim=sc.claim)
        if sc.claim == "conservative":
            row["ok"] = row["observed"] >= row["band_lo"] if sc.kind == "coverage" else \
                row["observed"] <= row["band_hi"]
        else:
            row["ok"] = row["inside"]
        rows.append(row)
    return pd.DataFrame(rows)


def main(n_reps: int = 1000) -> pd.DataFrame:
    """Run the full study and write ``benchmarks/calibration_stats_tests.md``."""
    start = time.time()
    table = run(n_reps)
    took = time.time() - start
    cols = ["quantity", "data", "kind", "nominal", "observed", "band_lo", "band_hi", "n_reps", "inside", "claim",
            "ok"]
    asserted = table[~table["claim"].str.startswith("not claimed")]
    lines = [
        "# Calibration of probwb.stats tests and intervals",
        "",
        f"Generated by `benchmarks/calibration_stats_tests.py` on {_dt.date.today().isoformat()}: "
        f"{n_reps} replications per row, seed {SEED} (row i uses `default_rng([{SEED}, i])`), {took:.0f} s "
        "wall clock on a shared 2-core machine.",
        "",
        f"Intervals are run at a nominal {LEVEL:.0%} and tests at alpha = {ALPHA}; the band is the central 99% of "
        f"Binomial({n_reps}, nominal) / {n_reps}. `claim`: `valid` rows must lie inside the band; `conservative` "
        "(exact conditional) rows only on the safe side of it (coverage at least the band's low end, size at "
        "most its high end); `not claimed` rows show a method outside its assumptions and are not asserted. "
        "`ok` is the verdict under the claim. tests/calibration/test_stats_tests.py repeats every row at 200 "
        "replications (the not-claimed rows there must fall outside the band).",
        "",
        f"Valid / conservative rows on the right side of their band: {int(asserted['ok'].sum())} of "
        f"{len(asserted)}.",
        "",
        to_markdown(table[cols]),
    ]
    out = Path(__file__).with_suffix(".md")
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(out)
    return table


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
