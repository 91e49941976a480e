"""Calibration by simulation of the Bayesian A/B tests and of regress' coefficient intervals.

Every study draws fresh data from a known truth ``n_reps`` times, fits, and records whether the nominal 90%
interval covered the truth (or whether a test rejected a true null at nominal size 10%). The observed rate is
set against the 99% binomial band of a calibrated method (:func:`probwb.evaluate.binomial_band`).

- Bayesian A/B rates (``beta_binomial_ab``, uniform priors): arms of 2,000 and 1,200 trials, p = 0.10 in both
  (null) and 0.10 vs 0.14; 90% HDIs of each arm's rate and of the relative lift; "reject" = P(B > A) outside
  [0.05, 0.95]. (With 400 and 250 trials -- 40 and 25 events -- the discrete data made the rule conservative:
  7.0% false positives over 1,000 replications, below the band's 7.6%.)
- Bayesian A/B spend (``spend_ab``, default Bayesian bootstrap): unequal arms of 4,000 and 2,500 customers, both
  arms from the same distribution (so the difference is 0 and a rejection is a false positive): normal
  (mean 50, sd 12), log-normal (mu 3, sigma 1: skewness 6.2), zero-inflated (80% zeros, log-normal(3, 1)
  positives) and heavy-tailed (Lomax / Pareto II with tail index 4, scale 30: skewness 7.1). 90% HDIs of each
  arm's mean and of the difference of means (from the same joint draws). The claim is approximate frequentist
  coverage from about 2,500 customers per arm for spend this skewed; the table also shows arms of 1,000 and 600,
  where the skewed shapes cover 0.87 (the Bayesian bootstrap, like the percentile bootstrap, runs short when a
  sample that missed the large values also under-states the spread).
- regress, 90% CIs of a slope: gaussian n = 200 with classical SEs under constant variance, and classical vs
  HC3 SEs under variance growing with |x| (classical is expected to fall below the band: that is the failure
  HC3 mends); binomial (logit) n = 500; poisson n = 300; clustered data (50 clusters of 20, a cluster effect in
  both x and the errors) with classical and cluster-robust SEs (classical expected below the band).

Run ``python benchmarks/calibration_stats_ab.py`` (1,000 replications per row, a few minutes on 2 cores) or
``--reps 200``; it writes ``benchmarks/calibration_stats_ab.md``. tests/calibration/test_stats_ab.py runs the
same studies with 200 replications.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from probwb.evaluate import coverage_row, coverage_table
from probwb.evaluate.coverage import to_markdown
from probwb.stats import beta_binomial_ab, hdi, regress, spend_ab

NOMINAL = 0.90
SIZE = 0.10


def _rngs(seed: int, n_reps: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_reps)]


def study_rates(n_reps: int = 200, seed: int = 2026, n_draws: int = 4000, alternative: bool = True) -> list[dict]:
    """Return coverage rows for the Beta-Binomial A/B test (rates per arm, lift, size under the null; with
    ``alternative`` also the coverage when the rates differ)."""
    rows = []
    sizes = {"A": 2000, "B": 1200}
    scenarios = [("null p=0.10/0.10", {"A": 0.10, "B": 0.10}), ("alt p=0.10/0.14", {"A": 0.10, "B": 0.14})]
    for label, p in scenarios[: 2 if alternative else 1]:
        hits = {"A": [], "B": [], "lift": [], "reject": []}
        for rng in _rngs(seed, n_reps):
            s = {a: int(rng.binomial(sizes[a], p[a])) for a in sizes}
            res = beta_binomial_ab(s, sizes, control="A", n_draws=n_draws, interval=NOMINAL, random_state=rng)
            for a in sizes:
                lo, hi = res.table.loc[a, ["hdi_low", "hdi_high"]]
                hits[a].append(lo <= p[a] <= hi)
            lift = p["B"] / p["A"] - 1
            hits["lift"].append(res.lift.loc["B", "lift_hdi_low"] <= lift <= res.lift.loc["B", "lift_hdi_high"])
            pb = res.lift.loc["B", "prob_better"]
            hits["reject"].append(pb > 1 - SIZE / 2 or pb < SIZE / 2)
        extra = {"study": "rate A/B", "scenario": label, "n": "2000 / 1200"}
        rows += [coverage_row("rate A (90% HDI)", hits["A"], NOMINAL, **extra),
                 coverage_row("rate B (90% HDI)", hits["B"], NOMINAL, **extra),
                 coverage_row("lift B/A - 1 (90% HDI)", hits["lift"], NOMINAL, **extra)]
        if label.startswith("null"):
            rows.append(coverage_row("false positive P(B>A) outside [0.05, 0.95]", hits["reject"], SIZE, **extra))
    return rows


def _spend(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return np.maximum(rng.normal(50.0, 12.0, n), 0.0)  # P(< 0) = 1.5e-5: the mean moves by < 1e-6
    if kind == "lognormal":
        return rng.lognormal(3.0, 1.0, n)
    if kind == "zero-inflated":
        return np.where(rng.random(n) < 0.8, 0.0, rng.lognormal(3.0, 1.0, n))
    if kind == "heavy-tailed":
        return 30.0 * rng.pareto(4.0, n)  # Lomax: tail index 4
    raise ValueError(kind)


SPEND_MEANS = {"normal": 50.0, "lognormal": float(np.exp(3.5)), "zero-inflated": 0.2 * float(np.exp(3.5)),
               "heavy-tailed": 30.0 / 3.0}


def study_spend(n_reps: int = 200, seed: int = 2027, n_draws: int = 1000,
                sizes: tuple[int, int] = (4000, 2500), label: str = "",
                kinds: tuple[str, ...] = tuple(SPEND_MEANS)) -> list[dict]:
    """Return coverage rows for the default (Bayesian bootstrap) spend A/B test on the spend shapes ``kinds``."""
    rows = []
    for kind in kinds:
        truth = SPEND_MEANS[kind]
        hits = {"A": [], "B": [], "diff": [], "reject": []}
        for rng in _rngs(seed, n_reps):
            df = pd.DataFrame({"arm": np.repeat(["A", "B"], sizes),
                               "spend": np.r_[_spend(kind, sizes[0], rng), _spend(kind, sizes[1], rng)]})
            res = spend_ab(df, "spend", "arm", control="A", n_draws=n_draws, interval=NOMINAL, random_state=rng)
            for a in ("A", "B"):
                lo, hi = res.table.loc[a, ["hdi_low", "hdi_high"]]
                hits[a].append(lo <= truth <= hi)
            lo, hi = hdi(res.draws["B"] - res.draws["A"], NOMINAL)
            hits["diff"].append(lo <= 0.0 <= hi)
            pb = res.lift.loc["B", "prob_better"]
            hits["reject"].append(pb > 1 - SIZE / 2 or pb < SIZE / 2)
        extra = {"study": "spend A/B (bootstrap)", "scenario": kind + label, "n": f"{sizes[0]} / {sizes[1]}"}
        rows += [coverage_row("mean A (90% HDI)", hits["A"], NOMINAL, **extra),
                 coverage_row("mean B (90% HDI)", hits["B"], NOMINAL, **extra),
                 coverage_row("difference B - A (90% HDI)", hits["diff"], NOMINAL, **extra),
                 coverage_row("false positive P(B>A) outside [0.05, 0.95]", hits["reject"], SIZE, **extra)]
    return rows


def _covers(res, term: str, truth: float) -> bool:
    row = res.table.loc[term]
    return bool(row["ci_low"] <= truth <= row["ci_high"])


REGRESS_CASES = ("homo", "hetero_classical", "hetero_hc3", "logit", "poisson", "cluster_classical",
                 "cluster_robust")


def study_regress(n_reps: int = 200, seed: int = 2028, cases: tuple[str, ...] = REGRESS_CASES) -> list[dict]:
    """Return coverage rows of regress' 90% slope intervals (gaussian classical/HC3, binomial, poisson,
    clustered data with classical and cluster-robust SEs); ``cases`` picks a subset of ``REGRESS_CASES``."""
    hits: dict[str, list[bool]] = {k: [] for k in REGRESS_CASES}
    for rng in _rngs(seed, n_reps):
        n = 200
        x = rng.normal(size=n)
        df = pd.DataFrame({"x": x, "y": 1.0 + 2.0 * x + rng.normal(size=n)})
        if "homo" in cases:
            hits["homo"].append(_covers(regress(df, "y ~ x", confidence=NOMINAL), "x", 2.0))
        # the error sd grows with |x|: classical SEs of the slope are too small
        df = pd.DataFrame({"x": x, "y": 1.0 + 2.0 * x + rng.normal(size=n) * (0.3 + 1.5 * x ** 2)})
        if "hetero_classical" in cases:
            hits["hetero_classical"].append(_covers(regress(df, "y ~ x", confidence=NOMINAL), "x", 2.0))
        if "hetero_hc3" in cases:
            hits["hetero_hc3"].append(_covers(regress(df, "y ~ x", se="HC3", confidence=NOMINAL), "x", 2.0))
        n = 500
        x = rng.normal(size=n)
        y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 0.8 * x)))).astype(float)
        if "logit" in cases:
            res = regress(pd.DataFrame({"x": x, "y": y}), "y ~ x", "binomial", confidence=NOMINAL)
            hits["logit"].append(_covers(res, "x", 0.8))
        n = 300
        x = rng.normal(size=n)
        y = rng.poisson(np.exp(0.5 + 0.4 * x)).astype(float)
        if "poisson" in cases:
            res = regress(pd.DataFrame({"x": x, "y": y}), "y ~ x", "poisson", confidence=NOMINAL)
            hits["poisson"].append(_covers(res, "x", 0.4))
        g = np.repeat(np.arange(50), 20)
        x = rng.normal(size=50)[g] + rng.normal(size=g.size)
        y = 1.0 + 0.5 * x + rng.normal(size=50)[g] * 1.5 + rng.normal(size=g.size)
        df = pd.DataFrame({"x": x, "y": y, "site": g})
        if "cluster_classical" in cases:
            hits["cluster_classical"].append(_covers(regress(df, "y ~ x", confidence=NOMINAL), "x", 0.5))
        if "cluster_robust" in cases:
            res = regress(df, "y ~ x", cluster="site", confidence=NOMINAL)
            hits["cluster_robust"].append(_covers(res, "x", 0.5))
    spec = {"homo": ("gaussian n=200, constant variance", "classical"),
            "hetero_classical": ("gaussian n=200, sd grows with x^2", "classical (expected to fail)"),
            "hetero_hc3": ("gaussian n=200, sd grows with x^2", "HC3"),
            "logit": ("binomial (logit) n=500", "classical"),
            "poisson": ("poisson n=300", "classical"),
            "cluster_classical": ("gaussian, 50 clusters x 20", "classical (expected to fail)"),
            "cluster_robust": ("gaussian, 50 clusters x 20", "cluster-robust (CR1, t with 49 df)")}
    return [coverage_row("slope (90% CI)", hits[k], NOMINAL, study="regress", scenario=s, n=se)
            for k, (s, se) in spec.items() if k in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    args = parser.parse_args()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample notes are not the subject here
        rows = study_rates(args.reps) + study_spend(args.reps)
        rows += study_spend(args.reps, sizes=(1000, 600), label=" (n below the claim)")
        table = coverage_table(rows + study_regress(args.reps))
    secs = time.perf_counter() - t0
    cols = ["study", "scenario", "n", "quantity", "nominal", "observed", "band_lo", "band_hi", "n_reps", "inside"]
    table = table[cols].rename(columns={"n": "n / SE"})
    text = (f"# Calibration of Bayesian A/B tests and regress intervals\n\n"
            f"Generated by `benchmarks/calibration_stats_ab.py --reps {args.reps}` on "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC in {secs:.0f} s. {args.reps} replications per "
            "row; seeds 2026 (rates), 2027 (spend), 2028 (regress), one child seed per replication "
            "(`numpy.random.SeedSequence(seed).spawn`). Nominal 90% intervals (HDIs for the Bayesian tests); "
            "false-positive rows have nominal size 0.10. `band_lo`..`band_hi` is the 99% binomial band of a "
            "calibrated method; rows marked 'expected to fail' show what the robust SEs correct. Spend arms hold "
            "4,000 and 2,500 customers (Bayesian bootstrap, 1,000 draws), the n at which the claim is made; rows "
            "marked 'n below the claim' use 1,000 and 600 and show where it stops. Rate arms hold 2,000 and "
            "1,200 trials.\n\n"
            + to_markdown(table))
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
