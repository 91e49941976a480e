"""Learning MDPs from logs, the posterior over policies, Q-learning."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from probwb.errors import NotFittedError, SmallSampleWarning
from probwb.mdp import solve
from probwb.mdp.examples import forest, random_sparse
from probwb.mdp.learn import MDPEstimator, batched_policy_iteration, q_learning
from probwb.mdp.policy import simulate


def _logs(mdp, n_episodes=400, n_steps=25, seed=0):
    rng = np.random.default_rng(seed)
    pi = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    tr = simulate(mdp, pi, n_episodes=n_episodes, n_steps=n_steps, random_state=rng).trajectories
    return tr[["state", "action", "reward", "next_state"]]


def test_ml_estimate_recovers_truth():
    mdp = random_sparse(4, n_actions=2, n_successors=3, discount=0.9, random_state=3)
    logs = _logs(mdp)
    est = MDPEstimator(0.9, method="ml", states=mdp.states, actions=mdp.actions).fit(logs)
    np.testing.assert_allclose(est.mdp_.to_dense(), mdp.to_dense(), atol=0.04)
    np.testing.assert_allclose(est.reward_mean(), mdp.reward_matrix, atol=1e-12)
    assert solve(est.mdp_, "pi").policy.equals(solve(mdp, "pi").policy)
    tab = est.transition_table()
    assert tab["count"].sum() == len(logs)


def test_bayes_posterior_mean_and_unseen_pairs():
    logs = pd.DataFrame({"state": ["a", "a", "b"], "action": ["x", "x", "x"], "reward": [1.0, 3.0, 0.0],
                         "next_state": ["a", "b", "b"]})
    with pytest.warns(SmallSampleWarning, match="never logged"):
        est = MDPEstimator(0.9, method="bayes", prior=1.0, actions=["x", "y"]).fit(logs)
    T = est.mdp_.to_dense()
    np.testing.assert_allclose(T[0, 0], [2 / 4, 2 / 4])  # counts (1,1) + prior 1
    np.testing.assert_allclose(T[1, 0], [1.0, 0.0])  # unseen -> stay
    assert est.mdp_.reward_matrix[0, 0] == 2.0
    with pytest.raises(NotFittedError):
        MDPEstimator().reward_mean()


def test_batched_policy_iteration_matches_solve():
    mdps = [random_sparse(5, n_actions=3, n_successors=3, discount=0.9, random_state=i) for i in range(6)]
    T = np.stack([m.to_dense() for m in mdps])
    R = np.stack([m.R for m in mdps])
    pol, V = batched_policy_iteration(T, R, 0.9)
    for i, m in enumerate(mdps):
        res = solve(m, "pi")
        np.testing.assert_array_equal(pol[i], res.policy_index)
        np.testing.assert_allclose(V[i], res.V, atol=1e-9)


def test_policy_posterior_concentrates_with_data():
    mdp = forest(4, discount=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)  # a short log may miss a (state, action) pair
        small = MDPEstimator(0.9, states=mdp.states, actions=mdp.actions).fit(_logs(mdp, 10, 5))
    big = MDPEstimator(0.9, states=mdp.states, actions=mdp.actions).fit(_logs(mdp, 800, 25))
    ps = small.policy_posterior(100, random_state=0)
    pb = big.policy_posterior(100, random_state=0)
    truth = solve(mdp, "pi").policy
    probs_big = pb.action_probabilities()
    assert all(probs_big.loc[s, truth[s]] > 0.9 for s in mdp.states)
    assert pb.value_summary()["sd"].mean() < ps.value_summary()["sd"].mean()
    np.testing.assert_allclose(probs_big.sum(axis=1), 1.0)
    assert set(pb.summary().columns) == {"point_action", "map_action", "p_map_action", "p_point_action"}


def test_q_learning_finds_optimal_policy():
    mdp = forest(3, discount=0.9)
    res = q_learning(mdp, n_episodes=300, n_steps=30, exploration=0.3, random_state=0)
    assert res.policy.equals(solve(mdp, "pi").policy)

    def step(s, a, rng):
        return ("s1" if a == "right" else "s0"), (1.0 if (s == "s1" and a == "right") else 0.0)

    res2 = q_learning(step, states=["s0", "s1"], actions=["left", "right"], discount=0.9, n_episodes=50,
                      n_steps=20, random_state=1)
    assert res2.policy["s1"] == "right"


def test_policy_value_posterior_matches_exact_evaluation_and_concentrates():
    from probwb.errors import ModelError
    from probwb.mdp.learn import batched_policy_values
    from probwb.mdp.policy import evaluate_policy

    mdps = [random_sparse(5, n_actions=3, n_successors=3, discount=0.9, random_state=i) for i in range(4)]
    T = np.stack([m.to_dense() for m in mdps])
    R = np.stack([m.R for m in mdps])
    rng = np.random.default_rng(0)
    det = rng.integers(0, 3, size=5)
    sto = rng.dirichlet(np.ones(3), size=5)
    for pol in (det, sto):
        V = batched_policy_values(T, R, 0.9, pol)
        for i, m in enumerate(mdps):
            np.testing.assert_allclose(V[i], evaluate_policy(m, pol).to_numpy(), atol=1e-10)
    truth = random_sparse(4, n_actions=2, n_successors=3, discount=0.9, random_state=3)
    policy = solve(truth, "pi").policy
    v_true = evaluate_policy(truth, policy).to_numpy()
    widths = []
    for n_ep in (40, 1600):
        est = MDPEstimator(0.9, states=truth.states, actions=truth.actions).fit(_logs(truth, n_episodes=n_ep))
        post = est.policy_value_posterior(policy, 300, random_state=1)
        iv = post.interval(0.9)
        assert list(iv.index) == truth.states and (iv["lower"] <= iv["upper"]).all()
        widths.append(float((iv["upper"] - iv["lower"]).mean()))
        np.testing.assert_allclose(post.point, evaluate_policy(est.mdp_, policy).to_numpy(), atol=1e-10)
    assert widths[1] < widths[0] / 4  # 40x the data: about 1/sqrt(40) of the width
    assert np.abs(iv["mean"].to_numpy() - v_true).max() < 3 * iv["sd"].max()
    with pytest.raises(ModelError, match="interval must lie strictly between 0 and 1"):
        post.interval(1.0)
    est.discount = 1.0
    with pytest.raises(ModelError, match="discount in \\(0, 1\\)"):
        est.policy_value_posterior(policy, 10)
