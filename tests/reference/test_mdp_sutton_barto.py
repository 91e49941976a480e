"""Sutton & Barto, Reinforcement Learning: An Introduction, 2nd ed. (2018): published gridworld values."""

from __future__ import annotations

import numpy as np
import pytest

from probwb.mdp import solve
from probwb.mdp.examples import small_gridworld, sutton_barto_gridworld
from probwb.mdp.policy import evaluate_policy

# Figure 3.5 (Example 3.8, "Solving the Gridworld"), middle panel v*, gamma = 0.9, rounded to 0.1 in the book.
BOOK_V_STAR = np.array([
    [22.0, 24.4, 22.0, 19.4, 17.5],
    [19.8, 22.0, 19.8, 17.8, 16.0],
    [17.8, 19.8, 17.8, 16.0, 14.4],
    [16.0, 17.8, 16.0, 14.4, 13.0],
    [14.4, 16.0, 14.4, 13.0, 11.7],
])

# Figure 3.2 (Example 3.5), right panel: v_pi of the equiprobable random policy, gamma = 0.9.
BOOK_V_RANDOM = np.array([
    [3.3, 8.8, 4.4, 5.3, 1.5],
    [1.5, 3.0, 2.3, 1.9, 0.5],
    [0.1, 0.7, 0.7, 0.4, -0.4],
    [-1.0, -0.4, -0.4, -0.6, -1.2],
    [-1.9, -1.3, -1.2, -1.4, -2.0],
])

# Figure 4.1 (Example 4.1), left column, k = infinity: v_pi of the random policy, undiscounted, 4x4 grid.
BOOK_V_41 = np.array([
    [0.0, -14.0, -20.0, -22.0],
    [-14.0, -18.0, -20.0, -20.0],
    [-20.0, -20.0, -18.0, -14.0],
    [-22.0, -20.0, -14.0, 0.0],
])


@pytest.mark.parametrize("method", ["value_iteration", "gauss_seidel", "policy_iteration",
                                    "modified_policy_iteration", "linear_programming"])
def test_example_3_8_optimal_values(method):
    res = solve(sutton_barto_gridworld(0.9), method, epsilon=1e-6)
    np.testing.assert_allclose(res.V.reshape(5, 5), BOOK_V_STAR, atol=0.051)


def test_example_3_8_optimal_policy_from_a():
    res = solve(sutton_barto_gridworld(0.9), "policy_iteration")
    # Figure 3.5, right panel: in the cell left of A (0,0) the optimal move is east, towards A
    assert res.policy["0,0"] == "east"
    # below B' (3,3) the book's arrows point north or west (tied); both give 14.4
    assert res.Q.loc["3,3", "north"] == pytest.approx(res.Q.loc["3,3", "west"], abs=1e-9)


def test_example_3_5_random_policy_values():
    mdp = sutton_barto_gridworld(0.9)
    uniform = np.full((25, 4), 0.25)
    v = evaluate_policy(mdp, uniform).to_numpy().reshape(5, 5)
    np.testing.assert_allclose(v, BOOK_V_RANDOM, atol=0.051)


def test_example_4_1_random_policy_values():
    mdp = small_gridworld()
    v = evaluate_policy(mdp, np.full((16, 4), 0.25)).to_numpy().reshape(4, 4)
    np.testing.assert_allclose(v, BOOK_V_41, atol=0.051)


# Example 4.1 (Sutton & Barto 2nd ed. 2018, pp. 76-77): undiscounted, reward -1 per step, terminal corners.
# Figure 4.1 (right column, k >= 3) shows that the greedy policy w.r.t. the random policy's values is optimal;
# under it every move takes one step towards the nearer corner, so v* is minus the grid distance to it.
V_STAR_41 = -np.array([
    [0.0, 1.0, 2.0, 3.0],
    [1.0, 2.0, 3.0, 2.0],
    [2.0, 3.0, 2.0, 1.0],
    [3.0, 2.0, 1.0, 0.0],
])


@pytest.mark.parametrize("method", ["value_iteration", "gauss_seidel", "policy_iteration",
                                    "modified_policy_iteration", "linear_programming"])
def test_example_4_1_optimal_values_at_discount_one(method):
    # moving into a wall keeps the agent in place at -1 per step: some policies never terminate, but each
    # of those earns -inf, so discount 1 is well posed (Bertsekas' stochastic shortest path conditions)
    mdp = small_gridworld()
    res = solve(mdp, method, epsilon=1e-8)
    assert res.converged
    np.testing.assert_allclose(res.V.reshape(4, 4), V_STAR_41, atol=1e-9)
    v_pol = evaluate_policy(mdp, res.policy_index).to_numpy().reshape(4, 4)
    np.testing.assert_allclose(v_pol, V_STAR_41, atol=1e-9)


def test_example_4_1_greedy_on_random_policy_values_is_optimal():
    # Figure 4.1: one greedy step on v_random (k = infinity) already gives an optimal policy
    mdp = small_gridworld()
    v_rand = evaluate_policy(mdp, np.full((16, 4), 0.25)).to_numpy()
    q = mdp.R + (mdp.P @ v_rand).reshape(4, 16)
    greedy = q.argmax(axis=0)
    v = evaluate_policy(mdp, greedy).to_numpy().reshape(4, 4)
    np.testing.assert_allclose(v, V_STAR_41, atol=1e-9)
