"""POMDP: belief updates, PBVI / Perseus on the tiger problem, construction from an HMM."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probwb.errors import ImpossibleEvidenceError, ModelError, ProbabilityError
from probwb.mdp.examples import tiger
from probwb.mdp.pomdp import POMDP


@pytest.fixture(scope="module")
def tiger_pomdp():
    return tiger(0.95)


@pytest.fixture(scope="module")
def tiger_policy(tiger_pomdp):
    return tiger_pomdp.solve("pbvi", n_beliefs=60, random_state=0)


def _grid_backup(p: POMDP, x: np.ndarray, V: np.ndarray) -> np.ndarray:
    """One Bellman backup of the tiger value on the belief grid ``x`` (P(tiger-left)), interpolating V linearly."""
    n = len(x)
    B = np.column_stack([x, 1 - x])
    Q = np.empty((n, p.n_actions))
    for a in range(p.n_actions):
        pred = B @ p.T[a]
        q = B @ p.R[:, a]
        for o in range(p.n_obs):
            un = pred * p.O[a, :, o]
            z = un.sum(axis=1)
            nb = np.divide(un[:, 0], z, out=np.zeros(n), where=z > 0)
            q += p.discount * z * np.interp(nb, x, V)
        Q[:, a] = q
    return Q.max(axis=1)


def _grid_value(p: POMDP, n: int = 1001, iters: int = 420) -> float:
    """Independent check: value iteration on a fine grid of P(tiger-left) with linear interpolation."""
    x = np.linspace(0, 1, n)
    V = np.zeros(n)
    for _ in range(iters):
        V = _grid_backup(p, x, V)
    return float(np.interp(0.5, x, V))


def test_belief_update_by_hand(tiger_pomdp):
    b = tiger_pomdp.update_belief([0.5, 0.5], "listen", "hear-left")
    assert b["tiger-left"] == pytest.approx(0.85)
    b2 = tiger_pomdp.update_belief(b, "listen", "hear-left")
    assert b2["tiger-left"] == pytest.approx(0.85**2 / (0.85**2 + 0.15**2))
    reset = tiger_pomdp.update_belief(b2, "open-left", "hear-right")
    assert reset["tiger-left"] == pytest.approx(0.5)
    hist = tiger_pomdp.filter(["listen", "listen"], ["hear-left", "hear-right"])
    assert hist.iloc[-1]["tiger-left"] == pytest.approx(0.5)
    with pytest.raises(ProbabilityError):
        tiger_pomdp.update_belief([0.7, 0.7], "listen", "hear-left")


def test_impossible_observation():
    p = tiger(0.95, listen_accuracy=1.0)
    with pytest.raises(ImpossibleEvidenceError):
        p.update_belief([1.0, 0.0], "listen", "hear-right")


def test_tiger_optimal_behaviour(tiger_policy):
    # Kaelbling, Littman & Cassandra (1998), section 5.1 / Figure: listen when uncertain, open the door
    # opposite the growls once they agree by a margin of two (belief 0.97), listen after one growl (0.85)
    pol = tiger_policy
    assert pol.action([0.5, 0.5]) == "listen"
    assert pol.action([0.85, 0.15]) == "listen"
    b2 = 0.85**2 / (0.85**2 + 0.15**2)
    assert pol.action([b2, 1 - b2]) == "open-right"
    assert pol.action([1 - b2, b2]) == "open-left"


def test_tiger_value_near_optimum(tiger_pomdp, tiger_policy):
    grid = _grid_value(tiger_pomdp)
    assert tiger_policy.value([0.5, 0.5]) == pytest.approx(grid, abs=0.05)
    perseus = tiger_pomdp.solve("perseus", n_beliefs=60, random_state=1)
    assert perseus.value([0.5, 0.5]) == pytest.approx(grid, abs=0.05)
    ev = tiger_pomdp.evaluate(tiger_policy, n_episodes=400, random_state=2)
    assert abs(ev["monte_carlo_mean"] - ev["alpha_value"]) < 4 * ev["monte_carlo_se"] + 0.5


def test_simulate_trajectories(tiger_pomdp, tiger_policy):
    out = tiger_pomdp.simulate(tiger_policy, n_episodes=3, n_steps=5, keep_trajectories=True, random_state=0)
    tr = out["trajectories"]
    assert len(tr) == 15 and tr["action"].iloc[0] == "listen"
    assert {"belief_tiger-left", "observation"} <= set(tr.columns)


def test_from_hmm_with_standin():
    states = ["mild", "severe"]
    hmm = SimpleNamespace(
        state_names_=states,
        startprob_=np.array([0.7, 0.3]),
        transmat_=np.array([[0.9, 0.1], [0.0, 1.0]]),
        transmat_for=lambda inputs: (np.array([[0.97, 0.03], [0.3, 0.7]]) if inputs["treatment"] == "intensive"
                                     else np.array([[0.9, 0.1], [0.0, 1.0]])),
        emission_probs_={"test_result": pd.DataFrame([[0.8, 0.2], [0.25, 0.75]], index=states,
                                                     columns=["normal", "abnormal"])},
    )
    rewards = pd.DataFrame({"standard": [0.0, -10.0], "intensive": [-2.0, -11.0]}, index=states)
    p = POMDP.from_hmm(hmm, rewards, action_inputs={"standard": {"treatment": "standard"},
                                                   "intensive": {"treatment": "intensive"}}, discount=0.9)
    assert p.observations == ["normal", "abnormal"]
    np.testing.assert_allclose(p.initial_belief, [0.7, 0.3])
    np.testing.assert_allclose(p.T[1], [[0.97, 0.03], [0.3, 0.7]])
    pol = p.solve("perseus", n_beliefs=40, random_state=0)
    # sure of severe disease: intensive treatment (it can cure); sure of mild: standard (cheaper)
    assert pol.action([0.0, 1.0]) == "intensive"
    assert pol.action([1.0, 0.0]) == "standard"
    with pytest.raises(ModelError, match="state_names_"):
        POMDP.from_hmm(SimpleNamespace(), rewards)


def test_from_real_hmm():
    import warnings

    from probwb.datasets import simulate_patient_cohort
    from probwb.hmm import HMM

    cohort = simulate_patient_cohort(n_patients=200, n_visits=5, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hmm = HMM(state_names=["mild", "moderate", "severe"], emission={"test_result": "categorical"},
                  id_col="patient_id", time_col="visit", inputs="treatment", n_init=1, n_iter=20,
                  random_state=0).fit(cohort.visits)
    rewards = pd.DataFrame({"standard": [1.0, 0.6, 0.2], "intensive": [0.9, 0.5, 0.1]},
                           index=["mild", "moderate", "severe"])
    inputs = {a: {"treatment": a} for a in ("standard", "intensive")}
    p = POMDP.from_hmm(hmm, rewards, column="test_result", action_inputs=inputs, discount=0.9)
    np.testing.assert_allclose(p.T[1], hmm.transmat_for({"treatment": "intensive"}))
    np.testing.assert_allclose(p.O[0], hmm.emission_probs_["test_result"].to_numpy())
    assert p.observations == list(hmm.emission_probs_["test_result"].columns)
    pol = p.solve("perseus", n_beliefs=30, random_state=0)
    b = p.update_belief(p.initial_belief, "standard", p.observations[0])
    assert pol.action(b) in ("standard", "intensive")


# ----------------------------------------------------------------------------- belief sets spread over the simplex

@pytest.fixture(scope="module")
def tiger_upper_bound(tiger_pomdp):
    """An upper bound on the optimal tiger value over P(tiger-left): value iteration on a 2,001-point grid
    with linear interpolation, from the upper start max R / (1 - g). V* is convex in the belief, so the
    interpolation overestimates it and the operator keeps an upper bound (Lovejoy 1991, Operations Research
    39: 162-175; Hauskrecht 2000, JAIR 13: 33-94). Independent of the alpha-vector code under test."""
    p = tiger_pomdp
    n = 2001
    x = np.linspace(0, 1, n)
    V = np.full(n, p.R.max() / (1 - p.discount))
    for _ in range(3000):
        Vn = _grid_backup(p, x, V)
        done = np.abs(Vn - V).max() < 1e-9
        V = Vn
        if done:
            break
    return x, V


@pytest.mark.parametrize(("method", "seed", "n_beliefs"), [("pbvi", 0, 200), ("perseus", 1, 200),
                                                           ("pbvi", 5, 40)])
def test_tiger_values_across_all_beliefs_near_optimum(tiger_pomdp, tiger_upper_bound, method, seed, n_beliefs):
    # point-based values are lower bounds on V*; with a belief set spread over [0, 1] they must also be close
    # to the upper bound everywhere, not only at the few beliefs reachable from 0.5
    x, upper = tiger_upper_bound
    pol = tiger_pomdp.solve(method, n_beliefs=n_beliefs, random_state=seed)
    xs = np.linspace(0, 1, 201)
    v = pol.table(np.column_stack([xs, 1 - xs]))["value"].to_numpy()
    ub = np.interp(xs, x, upper)
    assert (v <= ub + 1e-6).all()
    assert (ub - v).max() < 0.01
    assert ub[100] == pytest.approx(19.3714, abs=1e-3)
    assert pol.info["n_beliefs"] == n_beliefs == len(pol.beliefs)
    assert pol.info["n_reachable"] >= 10


def test_tiger_reachable_beliefs_are_reported_when_fewer_than_requested(tiger_pomdp):
    pol = tiger_pomdp.solve("pbvi", n_beliefs=200, spread=False, random_state=0)
    info = pol.info
    # from 0.5 only the listening lattice b_k = 1 / (1 + (0.15/0.85)^k) is reachable (opening resets to 0.5);
    # at L1 resolution 1e-3 that is k = -4..4 plus the two corners
    assert info["n_beliefs"] == info["n_reachable"] == 11 and info["reachable_exhausted"]
    k = np.arange(-4, 5)
    lattice = np.sort(np.concatenate([1 / (1 + (0.15 / 0.85) ** k), [0.0, 1.0]]))
    np.testing.assert_allclose(np.sort(pol.beliefs[:, 0]), lattice, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(S=st.integers(2, 4), A=st.integers(1, 3), n_obs=st.integers(1, 3), n=st.integers(1, 80),
       min_distance=st.sampled_from([1e-3, 0.05, 0.3]), spread=st.booleans(), seed=st.integers(0, 10_000))
def test_sample_beliefs_are_distinct_distributions(S, A, n_obs, n, min_distance, spread, seed):
    from probwb.mdp import MDP

    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.full(S, 0.5), size=(A, S))
    Obs = rng.dirichlet(np.full(n_obs, 0.5), size=(A, S))
    p = POMDP(MDP(T, rng.normal(size=(S, A)), 0.9), Obs)
    B = p.sample_beliefs(n, min_distance=min_distance, spread=spread, random_state=seed)
    assert 1 <= len(B) <= n and B.shape[1] == S
    np.testing.assert_allclose(B.sum(axis=1), 1.0, atol=1e-9)
    assert (B >= 0).all()
    d = np.abs(B[:, None, :] - B[None, :, :]).sum(axis=2) + 10 * np.eye(len(B))
    assert d.min() >= min_distance
    if n >= S + 1:
        # the initial belief and every corner are in the set
        for e in [p.initial_belief, *np.eye(S)]:
            assert np.abs(B - e).sum(axis=1).min() < 1e-12 or np.abs(p.initial_belief - e).sum() < min_distance
