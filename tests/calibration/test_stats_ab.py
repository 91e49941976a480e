"""Calibration of the Bayesian A/B tests and regress' intervals: 200 replications of each study in
benchmarks/calibration_stats_ab.py (which runs 1,000 and writes the table). Every nominal-90% interval must
cover at a rate inside the 99% binomial band, every false-positive rate (nominal 0.10) likewise; the rows
where classical SEs are known to be wrong must fall below the band, which shows the check has power."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
N_REPS = 200


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("calibration_stats_ab",
                                                  ROOT / "benchmarks" / "calibration_stats_ab.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _report(rows: list[dict]) -> str:
    return pd.DataFrame(rows)[["scenario", "quantity", "observed", "band_lo", "band_hi"]].to_string()


def test_rate_ab_calibrated(study):
    rows = study.study_rates(N_REPS, alternative=False)
    assert len(rows) == 4 and all(r["n_reps"] == N_REPS for r in rows)
    assert all(r["inside"] for r in rows), _report(rows)


def test_spend_ab_bootstrap_calibrated_on_skewed_spend(study):
    # arms of 4,000 and 2,500 customers; the benchmark adds normal spend and uses 1,000 draws per fit
    kinds = ("lognormal", "zero-inflated", "heavy-tailed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = study.study_spend(N_REPS, n_draws=400, kinds=kinds)
    assert {r["scenario"] for r in rows} == set(kinds) and len(rows) == 12
    assert all(r["inside"] for r in rows), _report(rows)


def test_regress_intervals_calibrated_and_classical_failures_detected(study):
    cases = ("hetero_classical", "hetero_hc3", "logit", "poisson", "cluster_robust")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = study.study_regress(N_REPS, cases=cases)
    by = {(r["scenario"], r["n"]): r for r in rows}
    failing = by[("gaussian n=200, sd grows with x^2", "classical (expected to fail)")]
    assert failing["observed"] < failing["band_lo"], _report(rows)
    good = [r for k, r in by.items() if "expected to fail" not in k[1]]
    assert len(good) == 4 and all(r["inside"] for r in good), _report(rows)
