"""Policies and values agree with pymdptoolbox 4.0b3 (the reference implementation) on its own examples."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("mdptoolbox")
import mdptoolbox.example  # noqa: E402
import mdptoolbox.mdp  # noqa: E402

from probwb.mdp import MDP, solve  # noqa: E402
from probwb.mdp.examples import forest, random_sparse_arrays  # noqa: E402


@pytest.mark.parametrize("S", [3, 10, 200])
def test_forest_policy_iteration_and_value_iteration(S):
    P, R = mdptoolbox.example.forest(S=S)
    ref = mdptoolbox.mdp.PolicyIteration(P, R, 0.96)
    ref.run()
    ours = MDP(P, R, 0.96, actions=["wait", "cut"])
    res = solve(ours, "policy_iteration")
    np.testing.assert_array_equal(res.policy_index, ref.policy)
    np.testing.assert_allclose(res.V, ref.V, rtol=1e-9, atol=1e-9)
    # our O(S) sparse builder makes the same model
    np.testing.assert_allclose(forest(S).to_dense(), P)
    vi = solve(forest(S), "value_iteration", epsilon=1e-4)
    np.testing.assert_array_equal(vi.policy_index, ref.policy)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_mdps_pymdptoolbox_rand(seed):
    np.random.seed(seed)  # noqa: NPY002 - pymdptoolbox's rand() draws from the legacy global generator
    P, R = mdptoolbox.example.rand(30, 4)
    ref = mdptoolbox.mdp.PolicyIteration(P, R, 0.9)
    ref.run()
    res = solve(MDP(P, R, 0.9), "policy_iteration")
    np.testing.assert_array_equal(res.policy_index, ref.policy)
    np.testing.assert_allclose(res.V, ref.V, atol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lp_ref = mdptoolbox.mdp.ValueIteration(P, R, 0.9, epsilon=1e-6)
        lp_ref.run()
    np.testing.assert_array_equal(solve(MDP(P, R, 0.9), "vi", epsilon=1e-6).policy_index, lp_ref.policy)


@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")
def test_random_sparse_and_mpi_and_rvi():
    Ps, R = random_sparse_arrays(300, random_state=4)
    S = 300
    Plist = [Ps[a * S:(a + 1) * S] for a in range(4)]
    ref = mdptoolbox.mdp.PolicyIteration(Plist, R, 0.95)
    ref.run()
    ours = MDP(Ps, R, 0.95)
    np.testing.assert_array_equal(solve(ours, "pi").policy_index, ref.policy)
    np.testing.assert_allclose(solve(ours, "mpi", epsilon=1e-8).V, ref.V, atol=1e-6)
    rvi = mdptoolbox.mdp.RelativeValueIteration(Plist, R, epsilon=1e-8, max_iter=10_000)
    rvi.run()
    mine = solve(ours.with_discount(1.0), "rvi", epsilon=1e-8)
    assert mine.gain == pytest.approx(rvi.average_reward, abs=1e-6)


@pytest.mark.parametrize("problem", ["rand", "forest"])
def test_span_stopping_matches_pymdptoolbox_value_iteration(problem):
    # pymdptoolbox 4.0b3 ValueIteration stops when span(V_k - V_{k-1}) < eps (1-g)/g (its mdp.py, run()),
    # the rule of Puterman (1994) Section 6.6.3; its sweep count and policy are the reference answer here.
    if problem == "rand":
        np.random.seed(3)  # noqa: NPY002 - pymdptoolbox's rand() draws from the legacy global generator
        P, R = mdptoolbox.example.rand(40, 3)
        g = 0.9
    else:
        # S = 10: at S >= 60 pymdptoolbox stops one sweep early on its own iteration bound instead
        P, R = mdptoolbox.example.forest(S=10)
        g = 0.96
    eps = 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = mdptoolbox.mdp.ValueIteration(P, R, g, epsilon=eps)
        ref.run()
    assert ref.iter < ref.max_iter  # it stopped on the span rule
    mdp = MDP(P, R, g)
    res = solve(mdp, "vi", epsilon=eps, stopping="span")
    assert res.iterations == ref.iter
    np.testing.assert_array_equal(res.policy_index, ref.policy)
    # the same last iterate up to the constant midpoint correction probwb adds
    shift = res.V - np.asarray(ref.V)
    assert np.ptp(shift) < 1e-9
    exact = solve(mdp, "pi")
    assert np.abs(res.V - exact.V).max() < eps / 2
    # the span rule is the default; the sup-norm rule has no pymdptoolbox counterpart and needs more sweeps
    assert solve(mdp, "vi", epsilon=eps).iterations == res.iterations
    assert solve(mdp, "vi", epsilon=eps, stopping="sup").iterations > res.iterations
