"""Policy evaluation, simulation, comparison and constrained MDPs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probwb.errors import ModelError, ProbabilityError
from probwb.mdp import solve
from probwb.mdp.constrained import solve_constrained
from probwb.mdp.examples import forest, random_sparse
from probwb.mdp.policy import compare_policies, evaluate_policy, returns_distribution, sample_rows, simulate


def test_stochastic_policy_value_is_mixture_of_linear_system():
    mdp = random_sparse(8, n_actions=3, n_successors=3, discount=0.9, random_state=1)
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(3), size=8)
    T = mdp.to_dense()
    Ppi = np.einsum("sa,ast->st", pi, T)
    rpi = np.einsum("sa,as->s", pi, mdp.R)
    want = np.linalg.solve(np.eye(8) - 0.9 * Ppi, rpi)
    np.testing.assert_allclose(evaluate_policy(mdp, pi).to_numpy(), want, atol=1e-10)
    df = pd.DataFrame(pi, index=mdp.states, columns=mdp.actions)
    np.testing.assert_allclose(evaluate_policy(mdp, df).to_numpy(), want, atol=1e-10)
    bad = pi.copy()
    bad[0, 0] += 0.1
    with pytest.raises(ProbabilityError, match="'s0'"):
        evaluate_policy(mdp, bad)


def test_policy_names_and_errors():
    mdp = forest(4)
    v = evaluate_policy(mdp, pd.Series(["wait"] * 4, index=mdp.states))
    assert v.index.tolist() == mdp.states
    with pytest.raises(ModelError, match="s3"):
        evaluate_policy(mdp, {"s0": "wait", "s1": "cut", "s2": "cut"})


def test_sample_rows_frequencies():
    mdp = random_sparse(5, n_actions=2, n_successors=3, random_state=2)
    rng = np.random.default_rng(1)
    rows = np.full(40_000, 7)
    draws = sample_rows(mdp.P, rows, rng)
    freq = np.bincount(draws, minlength=5) / len(draws)
    np.testing.assert_allclose(freq, mdp.P[7].toarray()[0], atol=0.01)


def test_simulated_returns_match_exact_value():
    mdp = forest(5, discount=0.8)
    res = solve(mdp, "pi")
    sim = simulate(mdp, res, n_episodes=4000, n_steps=60, start="s2", random_state=3)
    exact = res.values["s2"]
    se = sim.summary()["se"].iloc[0]
    assert abs(sim.returns.mean() - exact) < 4 * se + 1e-3
    traj = sim.trajectories
    assert list(traj.columns) == ["episode", "t", "state", "action", "reward", "next_state"]
    assert (traj.groupby("episode").size() == 60).all()
    r = returns_distribution(mdp, res, start="s2", n_episodes=200, random_state=0)
    assert len(r) == 200


def test_compare_policies():
    mdp = forest(5, discount=0.9)
    best = solve(mdp, "pi")
    always_cut = ["cut"] * 5
    cmp = compare_policies(mdp, always_cut, best, names=("cut", "best"), start="s0", n_episodes=300,
                           random_state=1)
    assert (cmp["difference"] >= -1e-9).all()
    assert cmp.attrs["monte_carlo"]["mean_difference"] > 0


def test_cmdp_without_binding_budget_equals_unconstrained():
    mdp = random_sparse(6, n_actions=3, n_successors=3, discount=0.9, random_state=4)
    exact = solve(mdp, "pi")
    res = solve_constrained(mdp, {"c": np.zeros((6, 3))}, {"c": 1.0})
    assert res.value == pytest.approx(exact.V.mean(), abs=1e-7)
    assert not res.constraints["binding"].any()
    assert res.randomised_states == []


def test_cmdp_binding_budget_randomises_and_meets_budget():
    mdp = forest(6, discount=0.9)
    # cutting costs 1 per use; the unconstrained optimum from s0 never cuts -> require cutting by cost on waiting
    cost = {"wait": 1.0, "cut": 0.0}
    free = solve_constrained(mdp, {"waits": cost}, {"waits": 100.0}, initial="s0")
    tight = solve_constrained(mdp, {"waits": cost}, {"waits": 5.0}, initial="s0")
    assert tight.value < free.value
    row = tight.constraints.loc["waits"]
    assert row["binding"] and row["expected_cost"] == pytest.approx(5.0, abs=1e-6)
    assert row["shadow_price"] > 0
    assert len(tight.randomised_states) >= 1
    # the returned policy's exact value from s0 is the LP optimum
    assert tight.values["s0"] == pytest.approx(tight.value, abs=1e-6)
    np.testing.assert_allclose(tight.policy.sum(axis=1), 1.0)
    with pytest.raises(ModelError, match="infeasible"):
        solve_constrained(mdp, {"waits": cost}, {"waits": -1.0}, initial="s0")
    per_step = solve_constrained(mdp, {"waits": cost}, {"waits": 0.5}, initial="s0", per_step=True)
    assert per_step.constraints.loc["waits", "expected_cost"] == pytest.approx(0.5, abs=1e-6)
