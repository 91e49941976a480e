"""Calibration by simulation of HMM parameter intervals, and consistency of the input effects.

EM's observed-information Wald intervals (``HMM.intervals``) for a transition probability, an emission
rate and an input effect of a small input-driven HMM: over 200 replications the share of 50% and 90%
intervals that cover the truth must lie inside the 99% binomial band. The input effect's bias must shrink
as the number of sequences grows. ``benchmarks/calibration_hmm.py`` runs the same code at full size.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from probwb.evaluate import coverage_row
from probwb.hmm import HMM
from probwb.hmm.uncertainty import interval_bounds

# two states (engaged, lapsing), Poisson visits, a 0/1 weekly reminder that moves the transitions
NAMES = ["engaged", "lapsing"]
START = np.array([0.6, 0.4])
INTERCEPT = np.array([[0.0, -1.8], [-1.2, 0.0]])  # logits against staying put
EFFECT = np.array([[0.0, -0.8], [1.0, 0.0]])  # reminder's effect on each move's logit
RATES = np.array([3.0, 0.6])
TARGETS = {  # (block, from/state, to/name) -> true value
    ("transmat", "engaged", "lapsing"): 1.0 / (1.0 + np.exp(1.8)),
    ("transmat", "lapsing", "engaged"): 1.0 / (1.0 + np.exp(1.2)),
    ("visits:rates", "lapsing", ""): RATES[1],
    ("logit:reminder", "lapsing", "engaged"): EFFECT[1, 0],
    ("logit:reminder", "engaged", "lapsing"): EFFECT[0, 1],
}


def simulate(n_seq: int, length: int, rng: np.random.Generator) -> pd.DataFrame:
    """Return a long panel of ``n_seq`` sequences from the two-state input-driven chain."""
    reminder = (rng.random((n_seq, length)) < 0.5).astype(float)
    state = np.empty((n_seq, length), dtype=np.int64)
    state[:, 0] = rng.random(n_seq) < START[1]
    for t in range(1, length):
        logits = INTERCEPT[state[:, t - 1]] + reminder[:, t - 1, None] * EFFECT[state[:, t - 1]]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        state[:, t] = rng.random(n_seq) > p[:, 0]
    visits = rng.poisson(RATES[state])
    return pd.DataFrame({"id": np.repeat(np.arange(n_seq), length), "time": np.tile(np.arange(length), n_seq),
                         "reminder": reminder.ravel(), "visits": visits.ravel()})


def fit(data: pd.DataFrame, input_prior_sd: float | None = 2.5) -> HMM:
    """Fit the two-state input-driven HMM from the true starting matrix (one restart, no label search)."""
    p01, p10 = TARGETS[("transmat", "engaged", "lapsing")], TARGETS[("transmat", "lapsing", "engaged")]
    return HMM(state_names=NAMES, emission={"visits": "poisson"}, inputs=["reminder"], order_by=("visits", "mean",
               "descending"), transmat=[[1 - p01, p01], [p10, 1 - p10]], n_init=1, input_prior_sd=input_prior_sd,
               random_state=0).fit(data)


def replicate(n_reps: int, n_seq: int, length: int, seed: int, levels: tuple[float, ...] = (0.5, 0.9),
              input_prior_sd: float | None = 2.5) -> dict[str, Any]:
    """Run ``n_reps`` simulate-fit-interval replications; return hits per (target, level) and estimates."""
    rng = np.random.default_rng(seed)
    hits = {(t, lv): [] for t in TARGETS for lv in levels}
    est = {t: [] for t in TARGETS}
    for _ in range(n_reps):
        data = simulate(n_seq, length, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a fit that does not converge must not count silently
            model = fit(data, input_prior_sd=input_prior_sd)
            table = model.intervals(data, confidence=levels[-1]).set_index(["block", "state", "name"])
        table = table.loc[list(TARGETS)]
        truth = np.array(list(TARGETS.values()))
        est_now = table["value"].to_numpy()
        for lv in levels:
            # the table's own interval at its level; the others from its link-scale standard errors
            lower, upper = ((table["lower"].to_numpy(), table["upper"].to_numpy()) if lv == levels[-1] else
                            interval_bounds(est_now, table["se"], table["link"], lv))
            for k, t in enumerate(TARGETS):
                hits[(t, lv)].append(bool(lower[k] <= truth[k] <= upper[k]))
        for k, t in enumerate(TARGETS):
            est[t].append(float(est_now[k]))
    return {"hits": {k: np.array(v) for k, v in hits.items()}, "estimates": {k: np.array(v) for k, v in est.items()}}


def coverage_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one coverage row (observed share, 99% band, inside) per target and level."""
    return [coverage_row(f"{t[0]} {t[1]}->{t[2]}" if t[2] else f"{t[0]} {t[1]}", hits, lv)
            for (t, lv), hits in result["hits"].items()]


def test_em_wald_intervals_cover_at_the_nominal_rate() -> None:
    result = replicate(200, n_seq=100, length=10, seed=20261203)
    rows = coverage_rows(result)
    bad = [r for r in rows if not r["inside"]]
    assert not bad, bad


def test_input_effect_bias_shrinks_with_the_number_of_sequences() -> None:
    # a deliberately tight prior (sd 0.5) makes the small-sample pull towards zero large; a prior of fixed
    # strength must then lose its grip as the sequences multiply (a penalty that grew with the counts,
    # as before, kept the same shrinkage factor at every n)
    target = ("logit:reminder", "lapsing", "engaged")
    bias = {}
    for n_seq, reps in ((100, 16), (1600, 4)):
        est = replicate(reps, n_seq=n_seq, length=10, seed=n_seq, input_prior_sd=0.5)["estimates"][target]
        bias[n_seq] = float(est.mean() - EFFECT[1, 0])
    assert bias[100] < -0.3, bias  # the prior's pull is visible with few sequences
    assert abs(bias[1600]) < abs(bias[100]) / 3 and abs(bias[1600]) < 0.2, bias
