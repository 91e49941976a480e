"""Solvers agree with each other, with brute force, and keep their stopping-rule promises."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from probwb.errors import ConvergenceWarning, ModelError
from probwb.mdp import MDP, solve
from probwb.mdp import kernels as K
from probwb.mdp.examples import forest, random_sparse


def _brute_force(mdp: MDP):
    """Best deterministic stationary policy by enumerating all A^S policies (dense solve each)."""
    S, A = mdp.n_states, mdp.n_actions
    T = mdp.to_dense()
    best, best_v = None, None
    for pol in itertools.product(range(A), repeat=S):
        pol = np.array(pol)
        Ppi = T[pol, np.arange(S)]
        v = np.linalg.solve(np.eye(S) - mdp.discount * Ppi, mdp.R[pol, np.arange(S)])
        if best_v is None or (v >= best_v - 1e-12).all() and (v > best_v + 1e-12).any():
            best, best_v = pol, v
    return best, best_v


@pytest.mark.parametrize("method", ["value_iteration", "gauss_seidel", "policy_iteration",
                                    "modified_policy_iteration", "linear_programming"])
def test_discounted_solvers_match_brute_force(method):
    mdp = random_sparse(6, n_actions=3, n_successors=3, discount=0.9, random_state=3)
    pol, v = _brute_force(mdp)
    res = solve(mdp, method, epsilon=1e-8)
    assert res.converged
    np.testing.assert_array_equal(res.policy_index, pol)
    np.testing.assert_allclose(res.V, v, atol=1e-6)
    assert list(res.policy.index) == mdp.states
    assert res.Q.shape == (6, 3)


def test_value_iteration_is_epsilon_optimal():
    mdp = random_sparse(200, discount=0.95, random_state=5)
    exact = solve(mdp, "pi")
    eps = 0.5
    res = solve(mdp, "vi", epsilon=eps)
    # Puterman Thm 6.3.1: ||V_k+1 - V*|| < eps/2 and the greedy policy is eps-optimal
    assert np.abs(res.V - exact.V).max() < eps / 2
    from probwb.mdp.policy import evaluate_policy

    v_greedy = evaluate_policy(mdp, res.policy_index).to_numpy()
    assert (exact.V - v_greedy).max() < eps
    assert res.info["last_change"] < K.vi_threshold(eps, 0.95)


def test_policy_iteration_iterative_evaluation_matches_direct():
    mdp = random_sparse(400, discount=0.95, random_state=2)
    a = solve(mdp, "pi", evaluation="direct")
    b = solve(mdp, "pi", evaluation="iterative")
    np.testing.assert_array_equal(a.policy_index, b.policy_index)
    np.testing.assert_allclose(a.V, b.V, atol=1e-7)


def test_forest_known_policy():
    # pymdptoolbox docs (mdptoolbox.mdp.PolicyIteration, forest() with S=3, discount 0.9): policy (0, 0, 0)
    res = solve(forest(3, discount=0.9), "pi")
    assert list(res.policy) == ["wait", "wait", "wait"]
    np.testing.assert_allclose(res.V, [26.244, 29.484, 33.484], atol=1e-3)


def test_finite_horizon_matches_enumeration():
    mdp = random_sparse(4, n_actions=2, n_successors=2, discount=1.0, random_state=7)
    res = solve(mdp, "finite_horizon", horizon=3)
    T = mdp.to_dense()
    # expectimax by recursion, independent of the vectorised backward induction
    def value(s, t):
        if t == 3:
            return 0.0
        return max(mdp.R[a, s] + sum(T[a, s, n] * value(n, t + 1) for n in range(4) if T[a, s, n] > 0)
                   for a in range(2))
    np.testing.assert_allclose(res.V[0], [value(s, 0) for s in range(4)], atol=1e-12)
    assert res.policy.shape == (3, 4)
    with pytest.raises(ModelError, match="horizon"):
        solve(mdp, "finite_horizon")


def test_relative_value_iteration_gain_matches_stationary_distribution():
    mdp = random_sparse(5, n_actions=2, n_successors=3, discount=1.0, random_state=11)
    res = solve(mdp, "rvi", epsilon=1e-10)
    T = mdp.to_dense()
    best = -np.inf
    for pol in itertools.product(range(2), repeat=5):
        Ppi = T[list(pol), np.arange(5)]
        w, vec = np.linalg.eig(Ppi.T)
        pi = np.real(vec[:, np.argmin(np.abs(w - 1))])
        pi /= pi.sum()
        best = max(best, float(pi @ mdp.R[list(pol), np.arange(5)]))
    assert res.gain == pytest.approx(best, abs=1e-8)


def test_discount_one_rejected_for_discounted_methods_and_unknown_method():
    mdp = random_sparse(5, discount=1.0, random_state=0)
    with pytest.raises(ModelError, match="relative_value_iteration"):
        solve(mdp, "vi")
    with pytest.raises(ModelError, match="did you mean 'value_iteration'"):
        solve(mdp.with_discount(0.9), "value_iteraton")


def test_nonconvergence_warns():
    mdp = random_sparse(50, discount=0.99, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        res = solve(mdp, "vi", max_iter=3)
    assert not res.converged and res.iterations == 3


def test_summary_and_timings():
    res = solve(forest(10), "vi")
    row = res.summary().iloc[0]
    assert row["iterations"] == res.iterations and row["total_s"] >= 0
    assert res.sweeps >= res.iterations


@pytest.mark.parametrize("method", ["vi", "gs", "pi", "mpi", "rvi"])
def test_progress_enabled_path_runs(method):
    mdp = forest(20, discount=0.9)
    res = solve(mdp if method != "rvi" else mdp.with_discount(1.0), method, quiet=False)
    assert res.converged


def test_finite_horizon_from_model_horizon_and_terminal_reward():
    base = forest(4)
    mdp = MDP(base.P, base.reward_matrix, 1.0, horizon=2, terminal_reward=np.arange(4.0))
    res = solve(mdp, "fh")
    np.testing.assert_allclose(res.V[2], np.arange(4.0))
    assert res.values.shape == (3, 4)
