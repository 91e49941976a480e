"""Numerical kernels for MDPs: plain functions on numpy arrays and one stacked CSR matrix.

Every function takes ``P`` as a CSR matrix of shape ``(A*S, S)`` (row ``a*S + s`` is
``P(. | s, a)``) and rewards ``R`` as an ``(A, S)`` array. Nothing here knows about names, DataFrames
or the :class:`~probwb.mdp.model.MDP` class, so each kernel can be tested alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from probwb.errors import ConvergenceWarning

try:  # scipy's C++ kernel accumulates into a caller-owned buffer: no allocation per sweep
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - private API moved
    _csr_matvec = None

__all__ = [
    "matvec_add",
    "q_values",
    "greedy",
    "policy_matrix",
    "policy_reward",
    "evaluate_policy",
    "evaluate_policy_iterative",
    "bellman_residual",
    "vi_threshold",
    "value_iteration",
    "gauss_seidel_sweeps",
]


def matvec_add(P: sp.csr_matrix, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Add ``P @ x`` into ``out`` in place and return ``out``."""
    if _csr_matvec is not None:
        n_row, n_col = P.shape
        _csr_matvec(n_row, n_col, P.indptr, P.indices, P.data, x, out)
    else:  # pragma: no cover
        out += P @ x
    return out


def q_values(P: sp.csr_matrix, R: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """Return ``Q = R + gamma * P V`` as an ``(A, S)`` array."""
    A, S = R.shape
    Q = R.copy() if gamma == 0 else R / gamma
    matvec_add(P, np.ascontiguousarray(V, dtype=float), Q.reshape(-1))
    Q *= gamma
    return Q


def greedy(Q: np.ndarray, current: np.ndarray | None = None, tol: float = 0.0) -> np.ndarray:
    """Return the greedy action per state of an ``(A, S)`` Q array.

    With ``current`` given, a state keeps its current action unless another is better by more than
    ``tol`` (so policy iteration does not cycle between ties on rounding noise).
    """
    best = Q.argmax(axis=0)
    if current is None:
        return best
    S = Q.shape[1]
    cols = np.arange(S)
    keep = Q[current, cols] >= Q[best, cols] - tol
    return np.where(keep, current, best)


def policy_matrix(P: sp.csr_matrix, policy: np.ndarray, n_states: int) -> sp.csr_matrix:
    """Return ``P_pi`` (S, S) for a deterministic ``(S,)`` or stochastic ``(S, A)`` policy."""
    S = n_states
    pol = np.asarray(policy)
    if pol.ndim == 1:
        return P[pol.astype(np.int64) * S + np.arange(S)]
    A = pol.shape[1]
    out = None
    for a in range(A):
        w = pol[:, a]
        if not np.any(w):
            continue
        term = sp.diags(w) @ P[a * S:(a + 1) * S]
        out = term if out is None else out + term
    return sp.csr_matrix(out)


def policy_reward(R: np.ndarray, policy: np.ndarray) -> np.ndarray:
    """Return ``r_pi`` (S,) for a deterministic ``(S,)`` or stochastic ``(S, A)`` policy."""
    pol = np.asarray(policy)
    if pol.ndim == 1:
        return R[pol, np.arange(R.shape[1])]
    return np.einsum("as,sa->s", R, pol)


def _dot(a: np.ndarray, b: np.ndarray, tmp: np.ndarray) -> float:
    # not BLAS ddot: on a shared machine BLAS threads spin against other processes (100x slower here)
    np.multiply(a, b, out=tmp)
    return float(tmp.sum())


def _bicgstab(P_pi: sp.csr_matrix, b: np.ndarray, gamma: float, x0: np.ndarray | None, target: float,
              max_iter: int) -> tuple[np.ndarray, int]:
    """BiCGSTAB (van der Vorst 1992) for ``(I - gamma P_pi) x = b``; stops at ``||r||_inf <= target``."""

    def op(v: np.ndarray) -> np.ndarray:
        return v - gamma * (P_pi @ v)

    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=float)
    r = b - op(x)
    tmp = np.empty_like(b)
    r_hat = r.copy()
    rho = alpha = omega = 1.0
    v = np.zeros_like(b)
    p = np.zeros_like(b)
    for k in range(1, max_iter + 1):
        if float(np.abs(r).max()) <= target:
            return x, k - 1
        rho_new = _dot(r_hat, r, tmp)
        if rho_new == 0.0 or omega == 0.0:
            return x, k - 1  # breakdown: the caller's successive approximation finishes
        beta = (rho_new / rho) * (alpha / omega)
        p = r + beta * (p - omega * v)
        v = op(p)
        denom = _dot(r_hat, v, tmp)
        if denom == 0.0:
            return x, k
        alpha = rho_new / denom
        s_ = r - alpha * v
        if float(np.abs(s_).max()) <= target:
            x += alpha * p
            return x, k
        t = op(s_)
        tt = _dot(t, t, tmp)
        omega = _dot(t, s_, tmp) / tt if tt > 0 else 0.0
        x += alpha * p + omega * s_
        r = s_ - omega * t
        rho = rho_new
    return x, max_iter


def evaluate_policy_iterative(
    P_pi: sp.csr_matrix, r_pi: np.ndarray, gamma: float, *, x0: np.ndarray | None = None,
    tol: float = 1e-10, max_iter: int = 10_000,
) -> tuple[np.ndarray, int]:
    """Solve ``V = r + gamma P_pi V`` iteratively; return ``(V, iterations)``.

    BiCGSTAB (warm-started from ``x0``, which policy iteration sets to the previous policy's values) does
    the bulk of the work; if it stalls, plain successive approximation ``V <- r + gamma P_pi V`` finishes,
    which always converges for ``gamma < 1``. Stops when the sup-norm error bound
    ``||r + gamma P V - V|| / (1 - gamma)`` is below ``tol`` times the scale of the values.
    """
    scale = max(1.0, float(np.abs(r_pi).max(initial=0.0)) / max(1e-12, 1 - gamma))
    target = tol * scale * max(1e-12, 1 - gamma)
    V, it = _bicgstab(P_pi, r_pi, gamma, x0, target, max_iter)
    res = r_pi + gamma * (P_pi @ V) - V
    n = 0
    while float(np.abs(res).max()) > target and n < max_iter and gamma < 1:
        V = V + res
        res = r_pi + gamma * (P_pi @ V) - V
        n += 1
    err = float(np.abs(res).max())
    if err > target:
        warnings.warn(f"iterative policy evaluation stopped after {it + n} iterations with residual "
                      f"{err:.3g} (target {target:.3g})", ConvergenceWarning, stacklevel=3)
    return V, it + n


def evaluate_policy(
    P: sp.csr_matrix, R: np.ndarray, policy: np.ndarray, gamma: float, *, method: str = "auto",
    x0: np.ndarray | None = None, tol: float = 1e-10,
) -> np.ndarray:
    """Return ``V_pi`` (S,) solving ``(I - gamma P_pi) V = r_pi``.

    ``method`` is ``"direct"`` (sparse LU, scipy spsolve), ``"iterative"`` (GMRES) or ``"auto"``
    (direct up to 500 states; above that LU fill-in on random transition graphs costs more than
    BiCGSTAB, which converges in tens of mat-vecs because ``I - gamma P`` is well conditioned).
    """
    A, S = R.shape
    P_pi = policy_matrix(P, policy, S)
    r_pi = policy_reward(R, policy)
    return solve_policy_system(P_pi, r_pi, gamma, method=method, x0=x0, tol=tol)[0]


def solve_policy_system(
    P_pi: sp.csr_matrix, r_pi: np.ndarray, gamma: float, *, method: str = "auto",
    x0: np.ndarray | None = None, tol: float = 1e-10,
) -> tuple[np.ndarray, int]:
    """Solve ``(I - gamma P_pi) V = r_pi``; return ``(V, inner iterations)`` (0 for a direct solve)."""
    S = P_pi.shape[0]
    if method not in ("auto", "direct", "iterative"):
        raise ValueError(f"evaluation method must be 'auto', 'direct' or 'iterative', found {method!r}")
    if method == "direct" or (method == "auto" and S <= 500):
        M = (sp.identity(S, format="csc") - gamma * P_pi).tocsc()
        V = spla.spsolve(M, r_pi)
        if not np.isfinite(V).all():
            raise ValueError("policy evaluation failed: the linear system is singular "
                             "(discount 1 with a policy that never terminates?)")
        return V, 0
    return evaluate_policy_iterative(P_pi, r_pi, gamma, x0=x0, tol=tol)


def bellman_residual(P: sp.csr_matrix, R: np.ndarray, V: np.ndarray, gamma: float) -> float:
    """Return ``||T V - V||_inf`` where ``T`` is the Bellman optimality operator."""
    return float(np.abs(q_values(P, R, V, gamma).max(axis=0) - V).max())


def vi_threshold(epsilon: float, gamma: float) -> float:
    """Sup-norm change below which the greedy policy is epsilon-optimal: ``eps (1 - g) / (2 g)``.

    Puterman (1994), Markov Decision Processes, Theorem 6.3.1: if ``||V_{k+1} - V_k|| < eps (1-g)/(2g)``
    then the greedy policy w.r.t. ``V_{k+1}`` is eps-optimal and ``||V_{k+1} - V*|| < eps / 2``.
    """
    return epsilon * (1.0 - gamma) / (2.0 * gamma)


def value_iteration(
    P: sp.csr_matrix, R: np.ndarray, gamma: float, *, epsilon: float = 1e-6,
    max_iter: int = 100_000, V0: np.ndarray | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, int, float, bool]:
    """Jacobi value iteration with the epsilon-optimal stopping rule.

    Returns ``(V, policy, sweeps, last_change, converged)``. Each sweep is one scipy sparse mat-vec into a
    preallocated ``(A, S)`` buffer that already holds ``R / gamma``, one max over actions and one sup-norm
    (``V = gamma * max_a (R/gamma + P V)``): no allocation per sweep. (A fused numba sweep, serial or
    parallel, measured slower than this on the shared 2-core benchmark machine, so it is not used.)
    """
    A, S = R.shape
    thresh = vi_threshold(epsilon, gamma)
    V = np.zeros(S) if V0 is None else np.array(V0, dtype=float)
    Vn = np.empty(S)
    change = np.inf
    converged = False
    k = 0
    Rg = np.ascontiguousarray(R / gamma)
    buf = np.empty(A * S)
    Q = buf.reshape(A, S)
    diff = np.empty(S)
    indptr, indices, data = P.indptr, P.indices, P.data
    fast = _csr_matvec is not None
    for k in range(1, max_iter + 1):
        np.copyto(buf, Rg.reshape(-1))
        if fast:
            _csr_matvec(A * S, S, indptr, indices, data, V, buf)
        else:  # pragma: no cover
            buf += P @ V
        np.max(Q, axis=0, out=Vn)
        Vn *= gamma
        np.subtract(Vn, V, out=diff)
        np.abs(diff, out=diff)
        change = float(diff.max())
        V, Vn = Vn, V
        if callback is not None:
            callback(k, change)
        if change < thresh:
            converged = True
            break
    Qf = q_values(P, R, V, gamma)
    return V, Qf.argmax(axis=0), k, change, converged


_GS_KERNEL = None


def _gs_kernel():
    global _GS_KERNEL
    if _GS_KERNEL is None:
        try:
            import numba
        except ImportError:  # pragma: no cover
            # the same loop, interpreted: correct but slow
            _GS_KERNEL = _gs_sweeps
        else:
            _GS_KERNEL = numba.njit(nogil=True)(_gs_sweeps)
    return _GS_KERNEL


def _gs_sweeps(indptr, indices, data, R, V, gamma, n_sweeps):  # pragma: no cover - run compiled
    A, S = R.shape
    change = 0.0
    for _ in range(n_sweeps):
        change = 0.0
        for s in range(S):
            best = -np.inf
            for a in range(A):
                row = a * S + s
                acc = 0.0
                for k in range(indptr[row], indptr[row + 1]):
                    acc += data[k] * V[indices[k]]
                q = R[a, s] + gamma * acc
                if q > best:
                    best = q
            d = abs(best - V[s])
            if d > change:
                change = d
            V[s] = best
    return change


def gauss_seidel_sweeps(P: sp.csr_matrix, R: np.ndarray, V: np.ndarray, gamma: float,
                        n_sweeps: int = 1) -> float:
    """Run ``n_sweeps`` in-place Gauss–Seidel Bellman sweeps over ``V``; return the last sup-norm change.

    States are updated in index order and each update uses the values already updated in this sweep.
    Compiled with numba when it is installed; otherwise a (slow) Python loop.
    """
    kern = _gs_kernel()
    return float(kern(P.indptr, P.indices, P.data, np.ascontiguousarray(R), V, float(gamma), int(n_sweeps)))
