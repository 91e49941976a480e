"""Calibration by simulation: intervals for MDP policy values learned from logged transitions.

Truth: a 4-state, 2-action MDP whose transition rows have structural zeros, discount 0.9, logged rewards
``N(R(s, a), 2^2)``. Logs: a balanced design of ``m`` transitions per (state, action) pair (every pair is
seen; ``8 m`` rows). Fitted with ``MDPEstimator(prior=1)`` (flat Dirichlet prior on each transition row).
Two intervals, both equal-tailed posterior quantiles:

- ``V_pi``: ``policy_value_posterior(policy)`` for the fixed policy ``(b, a, b, a)``; target: its value under
  the true MDP;
- ``V*``: ``policy_posterior().values`` (the optimal value of each posterior draw); target: the true MDP's
  optimal value.

Each is checked per state and for the start value (uniform initial state). ``replicate`` and
``coverage_rows`` are shared with ``benchmarks/calibration_mdp.py`` (full study, 1,000 replications per
size, and the small-log sizes where the flat prior's pull shows).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from probwb.evaluate import coverage_row
from probwb.mdp import MDP, MDPEstimator, solve
from probwb.mdp.policy import evaluate_policy

STATES = ["s0", "s1", "s2", "s3"]
ACTIONS = ["a", "b"]
TRUE_T = np.array([[[0.7, 0.3, 0.0, 0.0], [0.0, 0.6, 0.4, 0.0], [0.0, 0.0, 0.5, 0.5], [0.2, 0.0, 0.0, 0.8]],
                   [[0.1, 0.0, 0.9, 0.0], [0.5, 0.0, 0.0, 0.5], [0.0, 0.3, 0.3, 0.4], [0.0, 0.0, 0.6, 0.4]]])
TRUE_R = np.array([[0.0, 1.0], [2.0, -1.0], [-1.0, 3.0], [1.0, 0.0]])  # (S, A) mean rewards
REWARD_SD = 2.0
DISCOUNT = 0.9
POLICY = np.array([1, 0, 1, 0])
QUANTITIES = [*(f"V_pi({s})" for s in STATES), "V_pi(start)", *(f"V*({s})" for s in STATES), "V*(start)"]


def simulate_logs(T: np.ndarray, R: np.ndarray, m: int, rng: np.random.Generator,
                  reward_sd: float = REWARD_SD) -> pd.DataFrame:
    """``m`` logged transitions per (state, action): state, action, reward ``N(R, reward_sd^2)``, next_state."""
    A, S, _ = T.shape
    s = np.repeat(np.arange(S), A * m)
    a = np.tile(np.repeat(np.arange(A), m), S)
    ns = (rng.random(s.size)[:, None] > T[a, s].cumsum(axis=1)).sum(axis=1)
    ns = np.minimum(ns, S - 1)
    r = R[s, a] + reward_sd * rng.standard_normal(s.size)
    st, ac = np.asarray(STATES, dtype=object), np.asarray(ACTIONS, dtype=object)
    return pd.DataFrame({"state": st[s], "action": ac[a], "reward": r, "next_state": st[ns]})


def _truth(T: np.ndarray, R: np.ndarray) -> np.ndarray:
    mdp = MDP(T, R, DISCOUNT, states=STATES, actions=ACTIONS)
    v_pi = evaluate_policy(mdp, POLICY).to_numpy()
    v_star = solve(mdp, "policy_iteration").V
    return np.concatenate([v_pi, [v_pi.mean()], v_star, [v_star.mean()]])


def replicate(n_reps: int, m: int, seed: int, *, n_draws: int = 400, prior: float = 1.0,
              truth: str = "fixed", reward_sd: float = REWARD_SD, optimal: bool = True) -> pd.DataFrame:
    """One row per (replication, quantity): truth, posterior mean, 50% and 90% equal-tailed limits.

    ``truth="fixed"``: every replication logs the MDP above; ``"prior"``: each draws its transition rows from
    the flat Dirichlet prior and its mean rewards from N(0, 20^2), so a correct Bayesian interval covers at
    the nominal rate on average over replications. (The estimator puts no prior on mean rewards; a reward
    spread of 20, against a standard error near 0.6, makes that immaterial. With a narrow spread such as 2,
    posterior draws of the rewards spread more than the truths do, and ``V*``, a maximum over actions,
    comes out optimistic on average: +1.2 at m = 10 in a trial run, while ``V_pi`` stayed unbiased.)
    ``optimal=False`` skips the V* posterior (its rows are then NaN).
    """
    rng = np.random.default_rng(seed)
    q = [0.05, 0.25, 0.75, 0.95]
    rows = []
    for rep in range(n_reps):
        if truth == "prior":
            T = rng.dirichlet(np.ones(len(STATES)), size=(len(ACTIONS), len(STATES)))
            R = 20.0 * rng.standard_normal((len(STATES), len(ACTIONS)))
        else:
            T, R = TRUE_T, TRUE_R
        target = _truth(T, R)
        est = MDPEstimator(DISCOUNT, prior=prior, states=STATES, actions=ACTIONS)
        est.fit(simulate_logs(T, R, m, rng, reward_sd))
        v_pi = est.policy_value_posterior(POLICY, n_draws, random_state=rng).values
        if optimal:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                v_star = est.policy_posterior(n_draws, random_state=rng).values
        else:
            v_star = np.full_like(v_pi, np.nan)
        draws = np.column_stack([v_pi, v_pi.mean(axis=1), v_star, v_star.mean(axis=1)])
        lim = np.quantile(draws, q, axis=0)
        for j, name in enumerate(QUANTITIES):
            rows.append((rep, name, target[j], draws[:, j].mean(), *lim[:, j]))
    return pd.DataFrame(rows, columns=["rep", "quantity", "truth", "mean", "q05", "q25", "q75", "q95"])


def coverage_rows(df: pd.DataFrame, **extra: object) -> list[dict[str, object]]:
    """Coverage of the 50% and 90% intervals per quantity, with bias of the posterior mean and its SE."""
    out = []
    for name in QUANTITIES:
        d = df[df["quantity"] == name]
        err = d["mean"] - d["truth"]
        for nominal, lo, hi in ((0.5, "q25", "q75"), (0.9, "q05", "q95")):
            hits = (d[lo] <= d["truth"]) & (d["truth"] <= d[hi])
            out.append(coverage_row(name, hits.to_numpy(), nominal, bias=float(err.mean()),
                                    bias_se=float(err.std(ddof=1) / np.sqrt(len(err))), **extra))
    return out


def test_policy_value_intervals_cover_at_two_log_sizes():
    # 200 replications at 30 and 120 logged transitions per (state, action): the start value's 50% and 90%
    # intervals, for the fixed policy and for the optimal value, inside the 99% binomial band
    for m, seed in ((30, 11), (120, 12)):
        rows = coverage_rows(replicate(200, m, seed, n_draws=300))
        for r in rows:
            if r["quantity"] in ("V_pi(start)", "V*(start)"):
                assert r["inside"], (m, r)
        # per state the fixed policy's 90% intervals too (four more checks per size)
        per_state = [r for r in rows if r["quantity"].startswith("V_pi(s") and r["nominal"] == 0.9]
        assert all(r["inside"] for r in per_state), (m, per_state)


def test_posterior_mean_bias_shrinks_with_log_size():
    # the flat Dirichlet prior pulls each row towards uniform: O(1/m) bias of the posterior mean. Rewards
    # are logged with sd 0.5 here so the replication noise does not swamp the transitions' bias.
    small = replicate(200, 10, 21, n_draws=100, reward_sd=0.5, optimal=False)
    large = replicate(200, 160, 22, n_draws=100, reward_sd=0.5, optimal=False)

    def bias(df: pd.DataFrame) -> tuple[float, float]:
        d = df[df["quantity"] == "V_pi(start)"]
        e = d["mean"] - d["truth"]
        return float(e.mean()), float(e.std(ddof=1) / np.sqrt(len(e)))

    (b_small, se_small), (b_large, se_large) = bias(small), bias(large)
    assert b_small > 3 * se_small  # a real bias with 10 transitions per pair
    assert abs(b_large) < b_small / 3 + 3 * se_large


def test_mean_reward_draws_cover_at_small_counts():
    # 5 logged rewards per (state, action): the posterior of each mean reward must carry the uncertainty of
    # the unknown sd (Student t, 4 df); a normal draw with the sample sd plugged in covers only about 82%
    from probwb.evaluate import binomial_band

    rng = np.random.default_rng(31)
    hits = {0.5: [], 0.9: []}
    for _ in range(200):
        logs = simulate_logs(TRUE_T, TRUE_R, 5, rng)
        est = MDPEstimator(DISCOUNT, states=STATES, actions=ACTIONS).fit(logs)
        draws = est.sample_rewards(500, random_state=rng)  # (n, A, S)
        for level in hits:
            lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
            hits[level].append(((lo <= TRUE_R.T) & (TRUE_R.T <= hi)).ravel())
    for level, h in hits.items():
        h = np.array(h)
        for j in range(h.shape[1]):  # each (action, state) mean on its own: 200 replications
            lo, hi = binomial_band(level, h.shape[0])
            assert lo <= h[:, j].mean() <= hi, (level, j, h[:, j].mean())
