"""Calibration of BN credible intervals for CPT entries, with and without missing cells.

A small network (A -> B, A -> C, (B, C) -> D) is simulated, blanked completely at random, fitted with
``method="bayes"`` and asked for P(entry | parents) with 50% and 90% intervals. One entry per
replication is checked (the same entry in every replication), so the hits are independent Bernoulli
draws and the binomial band applies. The full study (asia too, two sample sizes, 0% and 40% missing)
is benchmarks/calibration_bn.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from probwb.bn import BayesNet
from probwb.evaluate import coverage_row

SPEC = {"nodes": {
    "A": {"states": ["a0", "a1"], "parents": [], "cpt": [0.6, 0.4]},
    "B": {"states": ["b0", "b1"], "parents": ["A"], "cpt": [[0.7, 0.3], [0.25, 0.75]]},
    "C": {"states": ["c0", "c1", "c2"], "parents": ["A"], "cpt": [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]]},
    "D": {"states": ["d0", "d1"], "parents": ["B", "C"],
          "cpt": [[[0.9, 0.1], [0.7, 0.3], [0.5, 0.5]], [[0.6, 0.4], [0.35, 0.65], [0.2, 0.8]]]},
}}
N_REPS = 200


def _coverage(rate: float, n_rows: int, seed: int, n_reps: int = N_REPS, intervals: bool = True
              ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Hits of the 50% and 90% intervals for P(B=b1 | A=a0) over ``n_reps`` replications, the
    mean 90% width and the errors of the point estimate."""
    truth = BayesNet.from_spec(SPEC)
    target = truth.cpts_["B"][0, 1]
    rng = np.random.default_rng(seed)
    hits = np.zeros((2, n_reps), dtype=bool)
    widths = []
    errors = np.empty(n_reps)
    for r in range(n_reps):
        data = truth.sample(n_rows, random_state=rng)
        if rate:
            data = data.astype(object).mask(rng.random(data.shape) < rate)
        net = BayesNet(truth.edges, truth.node_states, method="bayes", random_state=int(rng.integers(2**31)))
        # fewer kept draws than the default keeps the test fast; set after construction so the
        # same test runs on code without this setting
        net.n_posterior_draws = 400 if intervals else 1
        net.fit(data)
        errors[r] = net.cpts_["B"][0, 1] - target
        if not intervals:
            continue
        for i, level in enumerate((0.5, 0.9)):
            res = net.query("B", {"A": "a0"}, interval=level, n_samples=400, random_state=r)
            lo, hi = res.loc["b1", "lower"], res.loc["b1", "upper"]
            hits[i, r] = lo <= target <= hi
            if level == 0.9:
                widths.append(hi - lo)
    return hits[0], hits[1], float(np.mean(widths)) if widths else np.nan, errors


@pytest.fixture(scope="module")
def complete():
    return _coverage(0.0, 200, 101)


@pytest.fixture(scope="module")
def missing():
    return _coverage(0.4, 200, 202)


def test_cpt_intervals_calibrated_with_complete_data(complete):
    for hits, level in zip(complete[:2], (0.5, 0.9), strict=True):
        row = coverage_row(f"complete {level:.0%}", hits, level)
        assert row["inside"], row


def test_cpt_intervals_calibrated_with_40pct_missing_cells(complete, missing):
    for hits, level in zip(missing[:2], (0.5, 0.9), strict=True):
        row = coverage_row(f"40% missing {level:.0%}", hits, level)
        assert row["inside"], row
    # the data hold less information: intervals are wider than with every cell observed
    assert missing[2] > 1.1 * complete[2]


def test_point_estimate_bias_shrinks_with_n(missing):
    # BDeu pulls P(B=b1 | A=a0) = 0.3 towards 1/2 by O(1/n); with 40% of cells missing as well
    small = missing[3]
    large = _coverage(0.4, 2000, 303, n_reps=100, intervals=False)[3]
    se_small = small.std(ddof=1) / np.sqrt(len(small))
    se_large = large.std(ddof=1) / np.sqrt(len(large))
    assert small.mean() > 2 * se_small  # the shrinkage is visible at n = 200
    assert abs(large.mean()) < abs(small.mean()) - 2 * np.hypot(se_small, se_large)
    assert abs(large.mean()) < 3 * se_large + 0.003
    assert np.sqrt(np.mean(large ** 2)) < 0.5 * np.sqrt(np.mean(small ** 2))
