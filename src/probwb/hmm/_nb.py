"""A numba forward–backward for the Bayesian HMM's log-density (small batches, evaluated thousands of times).

NUTS calls the log-likelihood and its gradient at every leapfrog step; for a few hundred short sequences the
numpy kernels spend most of their time in per-step Python overhead, so this compiled loop does the same
scaled recursions (same results as :func:`probwb.hmm.kernels.forward_backward`) in one call. numba comes
with PyTensor, so it is present wherever PyMC is; it is imported only by :mod:`probwb.hmm.bayes`.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def loglik_and_grad(loglik, lengths, start, trans, pattern, weights):  # noqa: ANN001, ANN201
    """Return (sum_n w_n log p(x_n), d/dstart, d/dtrans (L, S, S), d/dloglik (N, T, S))."""
    N, T, S = loglik.shape
    L = trans.shape[0]
    total = 0.0
    g_start = np.zeros(S)
    xi = np.zeros((L, S, S))
    g_ll = np.zeros((N, T, S))
    alpha = np.zeros((T, S))
    frame = np.zeros((T, S))
    scale = np.zeros(T)
    beta = np.zeros(S)
    nb = np.zeros(S)
    for n in range(N):
        Ln = lengths[n]
        w = weights[n]
        lp = 0.0
        for t in range(Ln):
            m = -np.inf
            for s in range(S):
                if loglik[n, t, s] > m:
                    m = loglik[n, t, s]
            if not np.isfinite(m):
                m = 0.0
            for s in range(S):
                frame[t, s] = np.exp(loglik[n, t, s] - m)
            lp += m
        c = 0.0
        for s in range(S):
            alpha[0, s] = start[s] * frame[0, s]
            c += alpha[0, s]
        if c <= 0:
            return -np.inf, g_start, xi, g_ll
        scale[0] = c
        for s in range(S):
            alpha[0, s] /= c
        for t in range(1, Ln):
            lv = pattern[n, t - 1]
            c = 0.0
            for j in range(S):
                acc = 0.0
                for i in range(S):
                    acc += alpha[t - 1, i] * trans[lv, i, j]
                alpha[t, j] = acc * frame[t, j]
                c += alpha[t, j]
            if c <= 0:
                return -np.inf, g_start, xi, g_ll
            scale[t] = c
            for j in range(S):
                alpha[t, j] /= c
        for t in range(Ln):
            lp += np.log(scale[t])
        total += w * lp
        for s in range(S):
            beta[s] = 1.0
        for t in range(Ln - 1, -1, -1):
            tot = 0.0
            for s in range(S):
                tot += alpha[t, s] * beta[s]
            for s in range(S):
                g_ll[n, t, s] = w * alpha[t, s] * beta[s] / tot
            if t == 0:
                break
            lv = pattern[n, t - 1]
            for j in range(S):
                nb[j] = frame[t, j] * beta[j] / scale[t]
            for i in range(S):
                acc = 0.0
                for j in range(S):
                    xi[lv, i, j] += w * alpha[t - 1, i] * trans[lv, i, j] * nb[j]
                    acc += trans[lv, i, j] * nb[j]
                beta[i] = acc
        for s in range(S):
            g_start[s] += g_ll[n, 0, s]
    for s in range(S):
        g_start[s] = g_start[s] / start[s] if start[s] > 0 else 0.0
    for lv in range(L):
        for i in range(S):
            for j in range(S):
                xi[lv, i, j] = xi[lv, i, j] / trans[lv, i, j] if trans[lv, i, j] > 0 else 0.0
    return total, g_start, xi, g_ll
