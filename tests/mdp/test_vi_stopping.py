"""Value iteration's default stopping rule: the span seminorm, epsilon-optimal, MacQueen bounds, pymdptoolbox's
sweep counts for the same epsilon."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.errors import ModelError
from probwb.mdp import MDP, solve
from probwb.mdp import kernels as K
from probwb.mdp.examples import forest, random_sparse_arrays


def _random_mdp(S, A, k, g, seed, scale=1.0, offset=0.0):
    P, R = random_sparse_arrays(S, A, k, random_state=seed)
    return MDP(P, scale * R + offset, g)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(S=st.integers(2, 80), A=st.integers(1, 4), k=st.integers(1, 5), g=st.floats(0.3, 0.995),
       log_eps=st.floats(-4, 0.5), log_scale=st.floats(-2, 3), offset=st.floats(-50, 50),
       seed=st.integers(0, 2**31 - 1))
def test_default_value_iteration_is_epsilon_optimal_with_macqueen_bounds(S, A, k, g, log_eps, log_scale, offset,
                                                                          seed):
    mdp = _random_mdp(S, A, min(k, S), g, seed, 10.0**log_scale, offset)
    eps = 10.0**log_eps
    res = solve(mdp, "value_iteration", epsilon=eps)
    exact = solve(mdp, "policy_iteration", evaluation="direct")
    assert res.converged and res.info["stopping"] == "span"
    # rounding in the exact solves grows with the size of the values (|R| / (1 - g))
    tol = 1e-9 * max(1.0, float(np.abs(exact.V).max()))
    # Puterman 6.6.3 / MacQueen: V* inside the bounds, V their midpoint within eps/2, the greedy policy eps-optimal
    lo, hi = res.value_bounds()
    assert (lo <= exact.V + tol).all() and (exact.V <= hi + tol).all()
    assert res.info["value_error_bound"] < eps / 2
    assert np.abs(res.V - exact.V).max() <= res.info["value_error_bound"] + tol
    V_pi = K.evaluate_policy(mdp.P, mdp.R, res.policy_index, g, method="direct")
    loss = float((exact.V - V_pi).max())
    assert loss <= res.info["policy_loss_bound"] + tol
    assert res.info["policy_loss_bound"] < eps
    assert (V_pi >= lo - tol).all()  # the lower MacQueen bound holds for the greedy policy too


def test_default_stops_on_the_span_and_needs_far_fewer_sweeps_than_the_sup_rule():
    mdp = _random_mdp(3_000, 4, 5, 0.95, 0)
    span = solve(mdp, "vi", epsilon=0.01)
    sup = solve(mdp, "vi", epsilon=0.01, stopping="sup")
    assert span.info["stopping"] == "span" and sup.info["stopping"] == "sup"
    # 12 against 158 sweeps on this family (pymdptoolbox: 12)
    assert span.iterations <= 15 and sup.iterations >= 10 * span.iterations
    exact = solve(mdp, "pi")
    for r in (span, sup):
        assert np.abs(r.V - exact.V).max() < 0.005
    assert span.info["threshold"] == pytest.approx(0.01 * 0.05 / 0.95)


def _toolbox_cases():
    import mdptoolbox.example

    cases = []
    for S, A, g, seed in [(30, 2, 0.9, 1), (60, 3, 0.95, 2), (150, 4, 0.99, 3), (400, 2, 0.8, 4)]:
        np.random.seed(seed)  # noqa: NPY002 - pymdptoolbox's rand() draws from the legacy global generator
        P, R = mdptoolbox.example.rand(S, A)
        cases.append((P, R, g))
    for S, g in [(10, 0.96), (40, 0.9), (200, 0.95)]:
        P, R = mdptoolbox.example.forest(S=S)
        cases.append((P, R, g))
    return cases


@pytest.mark.parametrize("eps", [0.1, 0.01, 1e-4])
def test_default_sweep_counts_match_pymdptoolbox_for_the_same_epsilon(eps):
    mdptoolbox = pytest.importorskip("mdptoolbox")
    for P, R, g in _toolbox_cases():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = mdptoolbox.mdp.ValueIteration(P, R, g, epsilon=eps)
            ref.run()
        res = solve(MDP(P, R, g), "vi", epsilon=eps)
        if ref.iter < ref.max_iter:
            # it stopped on the span rule: the same rule on the same iterates, the same sweep
            assert res.iterations == ref.iter
        else:
            # it stopped on its iteration bound (Puterman Thm 6.6.6) first; ours at most one sweep later
            assert ref.iter <= res.iterations <= ref.iter + 1


def test_stopping_auto_is_sup_at_discount_one_and_span_is_refused_there():
    # an episodic chain: 0 -> 1 -> 2 (terminal), reward -1 per step
    P = np.zeros((1, 3, 3))
    P[0, 0, 1] = P[0, 1, 2] = P[0, 2, 2] = 1.0
    R = np.array([[-1.0], [-1.0], [0.0]])
    mdp = MDP(P, R, 1.0)
    res = solve(mdp, "vi", epsilon=1e-6)
    assert res.info["stopping"] == "sup"
    np.testing.assert_allclose(res.V, [-2.0, -1.0, 0.0])
    assert res.info["value_error_bound"] == np.inf
    with pytest.raises(ModelError, match="stopping='span' needs a discount below 1"):
        solve(mdp, "vi", stopping="span")
    with pytest.raises(ModelError, match="value bounds come from value iteration"):
        solve(mdp, "pi").value_bounds()


def test_sup_rule_bound_and_unconverged_bounds_still_hold():
    mdp = forest(50, discount=0.9)
    exact = solve(mdp, "pi")
    for stopping in ("sup", "span"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            early = solve(mdp, "vi", stopping=stopping, max_iter=3)
        assert not early.converged
        lo, hi = early.value_bounds()
        assert (lo <= exact.V + 1e-9).all() and (exact.V <= hi + 1e-9).all()


@pytest.mark.parametrize("stopping", ["span", "sup"])
def test_q_values_returned_are_those_at_the_returned_values(stopping):
    # the Q of a value-iteration result comes from the sweep that picks the policy (no second mat-vec)
    mdp = _random_mdp(500, 3, 4, 0.97, 11, scale=20.0, offset=-3.0)
    res = solve(mdp, "vi", epsilon=1e-3, stopping=stopping)
    ref = K.q_values(mdp.P, mdp.R, res.V, mdp.discount)
    np.testing.assert_allclose(res.Q_array, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_array_equal(res.policy_index, res.Q_array.argmax(0))
