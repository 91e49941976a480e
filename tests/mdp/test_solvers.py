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
    from probwb.mdp.policy import evaluate_policy

    for stopping in ("sup", "auto"):
        res = solve(mdp, "vi", epsilon=eps, stopping=stopping)
        # Puterman Thm 6.3.1 (sup) and 6.6.6 (span, the default): ||V - V*|| < eps/2, greedy policy eps-optimal
        assert np.abs(res.V - exact.V).max() < eps / 2
        v_greedy = evaluate_policy(mdp, res.policy_index).to_numpy()
        assert (exact.V - v_greedy).max() < eps
        rule = K.vi_threshold(eps, 0.95) if stopping == "sup" else eps * 0.05 / 0.95
        assert res.info["last_change"] < rule == pytest.approx(res.info["threshold"])


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


# ----------------------------------------------------------------------------- discount 1 (episodic problems)

def _ssp(n: int, n_actions: int, rng: np.random.Generator, *, p_edge: float = 0.5, p_exit: float = 0.5,
         rewards: tuple[float, float] = (-2.0, -0.1)) -> MDP:
    """A random episodic MDP: states 0..n-1 plus an absorbing zero-reward terminal state n.

    Each (state, action) row reaches a random subset of states and, with probability ``p_exit``, the terminal
    state; rows without the terminal can make some policies circle for ever.
    """
    S = n + 1
    T = np.zeros((n_actions, S, S))
    for a in range(n_actions):
        for s in range(n):
            succ = rng.random(S) < p_edge
            succ[n] = rng.random() < p_exit
            if not succ.any():
                succ[rng.integers(S)] = True
            T[a, s, succ] = rng.random(succ.sum()) + 0.05
            T[a, s] /= T[a, s].sum()
        T[a, n, n] = 1.0
    R = rng.uniform(*rewards, size=(S, n_actions))
    R[n] = 0.0
    return MDP(T, R, 1.0)


def _brute_force_episodic(mdp: MDP):
    """Over all deterministic policies: (does one terminate from every state?, best values over those)."""
    S, A = mdp.n_states, mdp.n_actions
    T = mdp.to_dense()
    term = K.terminal_states(mdp.P, mdp.R)
    keep = ~term
    best = None
    for pol in itertools.product(range(A), repeat=S):
        pol = np.array(pol)
        Ppi = T[pol, np.arange(S)]
        reach = term.copy()
        for _ in range(S):  # states with a path to a terminal state
            reach = reach | (Ppi[:, reach].sum(axis=1) > 0)
        if not reach.all():
            continue
        v = np.zeros(S)
        v[keep] = np.linalg.solve(np.eye(keep.sum()) - Ppi[np.ix_(keep, keep)], mdp.R[pol, np.arange(S)][keep])
        best = v if best is None else np.maximum(best, v)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["value_iteration", "gauss_seidel", "policy_iteration",
                                    "modified_policy_iteration", "linear_programming"])
def test_discount_one_solvers_match_brute_force_on_random_episodic_mdps(method, seed):
    rng = np.random.default_rng(seed)
    mdp = _ssp(4 + seed, 2, rng, p_exit=0.4)
    from probwb.mdp.solvers import check_termination

    assert check_termination(mdp).problem is None
    best = _brute_force_episodic(mdp)
    res = solve(mdp, method, epsilon=1e-10)
    assert res.converged and res.info["termination"]["terminal_states"] == 1
    np.testing.assert_allclose(res.V, best, atol=1e-7)
    from probwb.mdp.policy import evaluate_policy

    np.testing.assert_allclose(evaluate_policy(mdp, res.policy_index).to_numpy(), best, atol=1e-7)


def test_discount_one_check_agrees_with_enumeration():
    """Refusal for 'no terminating policy' happens exactly when no deterministic policy terminates everywhere."""
    from probwb.mdp.solvers import check_termination

    rng = np.random.default_rng(42)
    seen = {"accepted": 0, "no_proper": 0}
    for _ in range(60):
        mdp = _ssp(int(rng.integers(2, 5)), int(rng.integers(1, 3)), rng, p_edge=0.4, p_exit=0.3)
        term = check_termination(mdp)
        best = _brute_force_episodic(mdp)
        if best is None:
            assert term.problem is not None and "no policy reaches a terminal state" in term.problem
            seen["no_proper"] += 1
        else:
            assert term.problem is None
            seen["accepted"] += 1
            for method in ("pi", "vi", "lp"):
                np.testing.assert_allclose(solve(mdp, method, epsilon=1e-10).V, best, atol=1e-7)
    assert min(seen.values()) >= 5


def test_discount_one_refusals_name_the_state_and_action():
    # s0 reaches the terminal; s1 only loops on itself: no policy terminates from s1
    T = np.zeros((1, 3, 3))
    T[0, 0, 2] = T[0, 2, 2] = T[0, 1, 1] = 1.0
    mdp = MDP(T, np.array([[-1.0], [-1.0], [0.0]]), 1.0, states=["s0", "s1", "end"], actions=["go"])
    with pytest.raises(ModelError, match="from state 's1' no policy reaches a terminal state"):
        solve(mdp, "vi")
    # 'wait' keeps s0 in place at reward 0: a never-terminating policy earns 0, not -inf
    T = np.zeros((2, 2, 2))
    T[0, 0, 0] = T[0, 1, 1] = T[1, 0, 1] = T[1, 1, 1] = 1.0
    mdp = MDP(T, np.array([[0.0, -1.0], [0.0, 0.0]]), 1.0, states=["s0", "end"], actions=["wait", "go"])
    for method in ("vi", "gs", "pi", "mpi", "lp"):
        with pytest.raises(ModelError, match="action 'wait' in state 's0' earns 0 >= 0"):
            solve(mdp, method)
    # a positive-reward loop: values would be +inf
    R = np.array([[1.0, -1.0], [0.0, 0.0]])
    with pytest.raises(ModelError, match="action 'wait' in state 's0' earns 1 >= 0"):
        solve(MDP(T, R, 1.0, states=["s0", "end"], actions=["wait", "go"]), "pi")
    # the same loop with a cost per step is fine: waiting for ever earns -inf
    res = solve(MDP(T, np.array([[-0.5, -1.0], [0.0, 0.0]]), 1.0, actions=["wait", "go"]), "pi")
    np.testing.assert_allclose(res.V, [-1.0, 0.0])
    assert res.policy.iloc[0] == "go"


def test_discount_one_policy_iteration_start_and_options():
    from probwb.mdp.examples import small_gridworld

    mdp = small_gridworld()
    # "north" everywhere bumps into the top wall for ever
    with pytest.raises(ModelError, match="from state '0,1' the policy taking 'north' there never reaches"):
        solve(mdp, "pi", policy0=np.zeros(16, dtype=int))
    with pytest.raises(ModelError, match="stopping='span' needs a discount below 1"):
        solve(mdp, "vi", stopping="span")
    # a start with non-zero terminal values still converges to V* (terminal values are 0 by definition)
    res = solve(mdp, "vi", V0=np.full(16, 5.0), epsilon=1e-9)
    assert res.V[0] == 0.0 and res.V[5] == -2.0
    res = solve(mdp, "mpi", V0=np.full(16, -50.0), epsilon=1e-9)
    assert res.V[5] == pytest.approx(-2.0)


def test_undiscounted_evaluation_names_a_state_that_never_terminates():
    from probwb.mdp.examples import small_gridworld
    from probwb.mdp.policy import evaluate_policy

    with pytest.raises(ModelError, match="from state '0,1' it never reaches a terminal state"):
        evaluate_policy(small_gridworld(), np.zeros(16, dtype=int))


@pytest.mark.parametrize("evaluation", ["auto", "iterative"])
def test_discount_one_long_episodes(evaluation):
    # 2,500 states, episodes up to 98 steps: the undiscounted evaluation system is badly conditioned
    from probwb.mdp.examples import gridworld

    mdp = gridworld(50, 50, discount=1.0, step_reward=-1.0, wall_reward=-1.0, terminals=((0, 0),))
    dist = np.add.outer(np.arange(50), np.arange(50)).ravel()
    for method in ("pi", "mpi", "vi"):
        res = solve(mdp, method, evaluation=evaluation) if method == "pi" else solve(mdp, method)
        np.testing.assert_allclose(res.V, -dist, atol=1e-6)
