"""The array kernels alone, against dense numpy."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from probwb.mdp import kernels as K
from probwb.mdp.examples import random_sparse_arrays


def _model(S=30, A=3, seed=0):
    P, R = random_sparse_arrays(S, A, 4, random_state=seed)
    return P, np.ascontiguousarray(R.T), P.toarray().reshape(A, S, S)


def test_q_values_and_matvec_add_match_dense():
    P, R, T = _model()
    V = np.random.default_rng(1).normal(size=30)
    np.testing.assert_allclose(K.q_values(P, R, V, 0.9), R + 0.9 * T @ V, atol=1e-12)
    out = np.ones(90)
    K.matvec_add(P, V, out)
    np.testing.assert_allclose(out, 1 + P @ V)


def test_policy_matrix_and_reward_deterministic_and_stochastic():
    P, R, T = _model()
    pol = np.random.default_rng(2).integers(0, 3, 30)
    np.testing.assert_allclose(K.policy_matrix(P, pol, 30).toarray(), T[pol, np.arange(30)])
    np.testing.assert_allclose(K.policy_reward(R, pol), R[pol, np.arange(30)])
    pi = np.random.default_rng(3).dirichlet(np.ones(3), 30)
    np.testing.assert_allclose(K.policy_matrix(P, pi, 30).toarray(), np.einsum("sa,ast->st", pi, T), atol=1e-12)


def test_iterative_evaluation_matches_dense_solve():
    P, R, T = _model(S=800, seed=4)
    pol = R.argmax(0)
    Ppi = K.policy_matrix(P, pol, 800)
    r = K.policy_reward(R, pol)
    want = np.linalg.solve(np.eye(800) - 0.97 * Ppi.toarray(), r)
    V, it = K.evaluate_policy_iterative(Ppi, r, 0.97)
    assert it > 0
    np.testing.assert_allclose(V, want, atol=1e-8)
    V2, it2 = K.evaluate_policy_iterative(Ppi, r, 0.97, x0=want)
    assert it2 <= 1
    np.testing.assert_allclose(K.evaluate_policy(P, R, pol, 0.97, method="direct"), want, atol=1e-9)


def test_value_iteration_kernel_stopping_rule_and_gauss_seidel():
    P, R, T = _model(S=50, seed=5)
    V, pol, k, change, conv = K.value_iteration(P, R, 0.9, epsilon=1e-3)
    assert conv and change < K.vi_threshold(1e-3, 0.9)
    assert K.bellman_residual(P, R, V, 0.9) < 1e-3
    # Gauss-Seidel sweep: one state at a time, each using values already updated (pure-python reference)
    V0 = np.zeros(50)
    ref = V0.copy()
    for s in range(50):
        ref[s] = max(R[a, s] + 0.9 * T[a, s] @ ref for a in range(3))
    K.gauss_seidel_sweeps(P, R, V0, 0.9, 1)
    np.testing.assert_allclose(V0, ref, atol=1e-12)


def test_greedy_keeps_current_action_on_ties():
    Q = np.array([[1.0, 2.0], [1.0 + 1e-13, 3.0]])
    assert K.greedy(Q).tolist() == [1, 1]
    assert K.greedy(Q, np.array([0, 0]), tol=1e-10).tolist() == [0, 1]
    assert sp.issparse(K.policy_matrix(sp.csr_matrix(np.eye(2)), np.array([0, 0]), 2))
