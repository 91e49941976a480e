"""The batched kernels alone: brute-force enumeration on tiny chains, padding, inputs, impossible data."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from probwb.hmm.kernels import forward_backward, viterbi


def _brute(loglik: np.ndarray, start: np.ndarray, trans: np.ndarray, pattern: np.ndarray | None = None):
    """Enumerate every path of one short sequence: return log p(x), posteriors, best path, xi sums."""
    T, S = loglik.shape
    paths = list(itertools.product(range(S), repeat=T))
    probs = []
    for p in paths:
        lp = np.log(start[p[0]]) + loglik[0, p[0]]
        for t in range(1, T):
            A = trans if pattern is None else trans[pattern[t - 1]]
            lp += np.log(A[p[t - 1], p[t]]) + loglik[t, p[t]]
        probs.append(lp)
    probs = np.array(probs)
    total = np.logaddexp.reduce(probs)
    w = np.exp(probs - total)
    post = np.zeros((T, S))
    xi = np.zeros((S, S) if pattern is None else trans.shape)
    for p, wi in zip(paths, w, strict=True):
        for t in range(T):
            post[t, p[t]] += wi
        for t in range(T - 1):
            if pattern is None:
                xi[p[t], p[t + 1]] += wi
            else:
                xi[pattern[t], p[t], p[t + 1]] += wi
    return total, post, paths[int(np.argmax(probs))], probs.max(), xi


@pytest.fixture
def batch():
    rng = np.random.default_rng(5)
    N, T, S = 7, 5, 3
    loglik = rng.normal(size=(N, T, S)) * 2
    lengths = np.array([5, 1, 3, 5, 2, 4, 3])
    loglik[np.arange(T)[None, :] >= lengths[:, None]] = 99.0  # padding must be ignored
    start = rng.dirichlet(np.ones(S))
    trans = rng.dirichlet(np.ones(S), size=S)
    return loglik, lengths, start, trans


def test_forward_backward_matches_enumeration(batch) -> None:
    loglik, lengths, start, trans = batch
    res = forward_backward(loglik, lengths, start, trans, xi=True)
    xi_total = np.zeros_like(trans)
    start_total = np.zeros(3)
    for n, L in enumerate(lengths):
        total, post, _, _, xi = _brute(loglik[n, :L], start, trans)
        assert res.log_prob[n] == pytest.approx(total, rel=1e-12)
        np.testing.assert_allclose(res.posteriors[n, :L], post, atol=1e-12)
        assert (res.posteriors[n, L:] == 0).all()
        xi_total += xi
        start_total += post[0]
    np.testing.assert_allclose(res.xi_sum, xi_total, atol=1e-10)
    np.testing.assert_allclose(res.start_sum, start_total, atol=1e-10)
    rows = res.rows(np.array([0, 3, 6]), np.array([4, 0, 2]))
    np.testing.assert_allclose(rows, res.posteriors[[0, 3, 6], [4, 0, 2]])


def test_viterbi_matches_enumeration(batch) -> None:
    loglik, lengths, start, trans = batch
    lp, paths = viterbi(loglik, lengths, start, trans)
    for n, L in enumerate(lengths):
        _, _, best, best_lp, _ = _brute(loglik[n, :L], start, trans)
        assert tuple(paths[n, :L]) == best
        assert lp[n] == pytest.approx(best_lp, rel=1e-12)
        assert (paths[n, L:] == -1).all()


def test_time_varying_transitions_match_enumeration(batch) -> None:
    loglik, lengths, start, _ = batch
    rng = np.random.default_rng(1)
    stack = rng.dirichlet(np.ones(3), size=(2, 3))
    pattern = rng.integers(0, 2, size=loglik.shape[:2])
    res = forward_backward(loglik, lengths, start, stack, pattern, xi=True)
    lp, paths = viterbi(loglik, lengths, start, stack, pattern)
    xi_total = np.zeros_like(stack)
    for n, L in enumerate(lengths):
        total, post, best, _, xi = _brute(loglik[n, :L], start, stack, pattern[n])
        assert res.log_prob[n] == pytest.approx(total, rel=1e-12)
        np.testing.assert_allclose(res.posteriors[n, :L], post, atol=1e-12)
        assert tuple(paths[n, :L]) == best
        xi_total += xi
    np.testing.assert_allclose(res.xi_sum, xi_total, atol=1e-10)


def test_compiled_and_batched_paths_agree(batch) -> None:
    loglik, lengths, start, trans = batch
    a = forward_backward(loglik, lengths, start, trans, xi=True, compiled=False)
    b = forward_backward(loglik, lengths, start, trans, xi=True, compiled=True)
    np.testing.assert_allclose(a.log_prob, b.log_prob, rtol=1e-12)
    np.testing.assert_allclose(a.posteriors, b.posteriors, atol=1e-12)
    np.testing.assert_allclose(a.xi_sum, b.xi_sum, atol=1e-10)
    va, vb = viterbi(loglik, lengths, start, trans, compiled=False), viterbi(loglik, lengths, start, trans, compiled=True)
    np.testing.assert_array_equal(va[1], vb[1])


def test_extreme_loglik_does_not_underflow() -> None:
    # emission log-likelihoods of -5000 would underflow exp(); the per-step shift keeps them exact
    loglik = np.full((2, 4, 2), -5000.0)
    loglik[:, :, 1] -= 1.0
    res = forward_backward(loglik, np.array([4, 2]), np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.1, 0.9]]))
    assert np.isfinite(res.log_prob).all()
    shifted = forward_backward(loglik + 5000.0, np.array([4, 2]), np.array([0.5, 0.5]),
                               np.array([[0.9, 0.1], [0.1, 0.9]]))
    np.testing.assert_allclose(res.log_prob, shifted.log_prob - 5000.0 * np.array([4, 2]), rtol=1e-12)


def test_impossible_sequence_gets_minus_infinity() -> None:
    # state 1 is unreachable and the only one that can emit the second observation
    loglik = np.array([[[0.0, 0.0], [-np.inf, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    res = forward_backward(loglik, np.array([2, 2]), np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert res.log_prob[0] == -np.inf
    assert np.isfinite(res.log_prob[1])
    assert not np.isnan(res.posteriors).any()
