"""Numerical kernels for MDPs: plain functions on numpy arrays and one stacked CSR matrix.

Every function takes ``P`` as a CSR matrix of shape ``(A*S, S)`` (row ``a*S + s`` is
``P(. | s, a)``) and rewards ``R`` as an ``(A, S)`` array. Nothing here knows about names, DataFrames
or the :class:`~probwb.mdp.model.MDP` class, so each kernel can be tested alone.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from probwb.errors import ConvergenceWarning, ModelError

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
    "TiledLayout",
    "build_tiled_layout",
    "choose_layout",
    "has_numba",
    "default_parallel",
    "auto_candidates",
    "kernel_signature",
    "kernel_choices",
    "clear_kernel_choices",
    "warm_up",
    "gauss_seidel_sweeps",
    "Termination",
    "terminal_states",
    "termination_check",
    "policy_terminates",
    "solve_episodic_system",
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

    At ``gamma = 1`` (episodic problems that pass :func:`termination_check`) there is no contraction modulus
    to turn a change into a distance, so the rule is simply a change below ``eps / 2``; the distance to
    ``V*`` is then of the order of that change times the expected number of steps to termination.
    """
    if gamma >= 1.0:
        return epsilon / 2.0
    return epsilon * (1.0 - gamma) / (2.0 * gamma)


STOPPING = ("sup", "span")
KERNELS = ("auto", "scipy", "csr", "tiled")

# The numba sweeps may run in parallel from this many states up, where a sweep takes milliseconds: below it
# waking the partner thread costs too much (at 100,000 states a 2 ms sweep ran 3-4x slower in parallel than
# serially while another job ran). The tiled layout is considered once V exceeds 1 MiB, half an L2.
PARALLEL_MIN_STATES = 250_000
TILE_MIN_STATES = 1 << 17
NUMBA_MIN_NNZ = 100_000
CSR_BLOCK = 2048
_NUMBA_WARM = False  # set once a numba sweep has run in this process

_FUSED: Any = None


def _fused() -> Any:
    """Return the compiled-kernel module :mod:`probwb.mdp._fused`, or None when numba is not installed."""
    global _FUSED
    if _FUSED is None:
        try:
            from probwb.mdp import _fused as mod
        except ImportError:  # pragma: no cover - numba is optional (the ``fast`` extra)
            mod = False
        _FUSED = mod
    return _FUSED or None


def default_parallel(n_states: int) -> bool:
    """Return whether ``parallel=None`` lets the numba sweeps use more than one thread for ``n_states``.

    True from :data:`PARALLEL_MIN_STATES` states up, with numba installed and more than one numba thread.
    The sweeps then choose between the serial and the parallel kernel as they go (see :func:`value_iteration`).
    """
    if n_states < PARALLEL_MIN_STATES:  # before _fused(): importing numba costs a second or more
        return False
    mod = _fused()
    return mod is not None and mod.numba.get_num_threads() >= 2


def _adaptive_step(serial: Callable[..., tuple[float, float]], parallel: Callable[..., tuple[float, float]],
                   probe_every: int = 16,
                   known: tuple[float, float] | None = None) -> Callable[..., tuple[float, float]]:
    """A sweep that runs whichever of two identical-result kernels took less time at its last run.

    Every sweep ends at a barrier, so on a shared, over-subscribed machine a partner thread descheduled by
    another process stalls the parallel sweep (measured on the 2-core VM, forest S = 1,000,000: 4.7 ms per
    sweep serial vs 8.3 ms parallel while another job ran; random S = 1,000,000: 48.8 vs 24.6 ms when a core
    was free). Load changes within a solve, so the slower choice is re-timed every ``probe_every`` sweeps.
    ``known`` (serial, parallel) seconds per sweep, from the kernel trial, skips the two opening probes.
    """
    times = [np.inf, np.inf] if known is None else list(known)
    count = [0 if known is None else 2]

    def step(V: np.ndarray, Vn: np.ndarray) -> tuple[float, float]:
        k = count[0]
        count[0] = k + 1
        if k < 2:
            mode = k
        else:
            best = 0 if times[0] <= times[1] else 1
            mode = 1 - best if k % probe_every == 0 else best
        t = time.perf_counter()
        out = (serial, parallel)[mode](V, Vn)
        times[mode] = time.perf_counter() - t
        return out

    return step


def has_numba() -> bool:
    """Return True when the compiled (numba) value-iteration kernels are available."""
    return _fused() is not None


@dataclass(frozen=True)
class TiledLayout:
    """A cache-blocked copy of the stacked transition matrix for :func:`value_iteration` (``kernel="tiled"``).

    The non-zeros are grouped into tiles of (block of ``2**16`` state-action rows) x (segment of ``2**14``
    columns): a sweep accumulates one row block at a time while gathering from one 128 KiB slice of ``V`` at
    a time, so the gathers hit L2 instead of missing on a value vector far larger than the cache. Each
    non-zero costs 12 bytes, as in CSR (a packed uint32 row/column key and the float64 probability); build
    it once per matrix with :func:`build_tiled_layout` (O(non-zeros)) and reuse it across solves.
    """

    n_states: int
    n_actions: int
    tptr: np.ndarray
    keys: np.ndarray
    vals: np.ndarray
    build_seconds: float

    @property
    def n_row_blocks(self) -> int:
        """Number of row blocks (the unit of parallel work)."""
        sb = (1 << _fused().ROW_BITS) // self.n_actions
        return -(-self.n_states // sb)

    @property
    def nbytes(self) -> int:
        """Memory held by the layout in bytes."""
        return int(self.tptr.nbytes + self.keys.nbytes + self.vals.nbytes)


def _need_numba(what: str) -> Any:
    mod = _fused()
    if mod is None:
        raise ModelError(f"{what} needs numba (install the 'fast' extra: pip install probwb[fast]); "
                         "found numba not installed. Use kernel='scipy' or kernel='auto'")
    return mod


def _tiling_fits(n_states: int, n_actions: int) -> bool:
    mod = _fused()
    # a row block must hold a useful number of states, and local indices must fit the 32-bit keys
    return mod is not None and (1 << mod.ROW_BITS) // max(1, n_actions) >= 64 and n_states < 2**31


def build_tiled_layout(P: sp.csr_matrix, n_actions: int, *, counts: np.ndarray | None = None) -> TiledLayout:
    """Return the :class:`TiledLayout` of the stacked CSR ``P`` (``(A*S, S)``), built in O(non-zeros).

    Needs numba. ``counts`` (entries per tile, from the same matrix) skips the counting pass.
    """
    mod = _need_numba("the tiled value-iteration layout")
    S = P.shape[1]
    A = int(n_actions)
    if not _tiling_fits(S, A):
        raise ModelError(f"the tiled layout needs at most {(1 << mod.ROW_BITS) // 64} actions and fewer than "
                         f"2**31 states; found A={A}, S={S}")
    t = time.perf_counter()
    if counts is None:
        counts = mod.tile_counts(P.indptr, P.indices, S, A)
    tptr, keys, vals = mod.tiled_fill(P.indptr, P.indices, P.data, counts, S, A)
    return TiledLayout(S, A, tptr, keys, vals, time.perf_counter() - t)


def choose_layout(P: sp.csr_matrix, n_actions: int) -> TiledLayout | None:
    """Return a :class:`TiledLayout` when it should beat the plain CSR sweep, else None.

    Only for large state spaces (``V`` over 1 MiB) with scattered successors: the layout is built when a row
    block of states reaches, on average, more than 8 column segments. Local successors (the forest example,
    banded chains) already gather from a cache-resident window of ``V``, so they keep the CSR sweep. The
    decision costs one pass over the column indices.
    """
    S = P.shape[1]
    A = int(n_actions)
    if S < TILE_MIN_STATES or not _tiling_fits(S, A):
        return None
    mod = _fused()
    counts = mod.tile_counts(P.indptr, P.indices, S, A)
    n_rb = -(-S // ((1 << mod.ROW_BITS) // A))
    if np.count_nonzero(counts[1:]) <= 8 * n_rb:
        return None
    return build_tiled_layout(P, A, counts=counts)


def auto_candidates(P: sp.csr_matrix, layout: TiledLayout | None = None) -> tuple[str, ...]:
    """Return the sweep kernels ``kernel="auto"`` times against each other for ``P``, the layout decided.

    ``("scipy",)`` without numba, or below :data:`NUMBA_MIN_NNZ` non-zeros while the numba kernels are not yet
    loaded in this process (a whole solve takes milliseconds there, less than loading numba and the compiled
    kernels: 0.3 s from numba's on-disk cache, seconds to compile them cold); else ``("scipy", "csr")``, plus
    ``"tiled"`` when ``layout`` (from :func:`choose_layout`) is given.
    """
    # the size test first: asking for the compiled module imports numba (a second or more)
    if (P.nnz < NUMBA_MIN_NNZ and not _NUMBA_WARM) or _fused() is None:
        return ("scipy",)
    return ("scipy", "csr", "tiled") if layout is not None else ("scipy", "csr")


def kernel_signature(P: sp.csr_matrix, n_actions: int, candidates: tuple[str, ...]) -> tuple[Any, ...]:
    """Return the size class under which a measured kernel choice for ``P`` is remembered in this process.

    Models with the same number of states to within a factor of 2, the same actions, non-zeros per row to
    within a factor of 2, a similar share of successors near their state (what decides whether gathers from
    ``V`` hit the cache) and the same candidates share one choice.
    """
    A = int(n_actions)
    n_rows, S = P.shape
    per_row = P.nnz / max(1, n_rows)
    rows = np.unique(np.linspace(0, n_rows - 1, min(n_rows, 512)).astype(np.int64))
    starts, ends = P.indptr[rows].astype(np.int64), P.indptr[rows + 1].astype(np.int64)
    lens = ends - starts
    # positions of the sampled rows' entries: each row's start, then a running offset within the row
    take = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
    own = np.repeat(rows % S, lens)
    near = float(np.mean(np.abs(P.indices[take].astype(np.int64) - own) <= 2048)) if take.size else 1.0
    return (int(S).bit_length(), A, int(max(1.0, per_row)).bit_length(), int(near * 4), candidates)


# kernel="auto": one measured choice per size class and process (kernel_signature -> record)
_KERNEL_CHOICES: dict[tuple[Any, ...], dict[str, Any]] = {}
TRIAL_ROUNDS = 2


def kernel_choices() -> dict[tuple[Any, ...], dict[str, Any]]:
    """Return the kernel choices ``kernel="auto"`` has measured in this process.

    Keys are :func:`kernel_signature` size classes; each value holds ``kernel`` (the choice), ``timings``
    (best seconds per sweep of every variant tried, ``"-parallel"`` marking the multi-threaded one), ``S``
    and ``nnz`` of the model it was measured on. A copy: changing it changes nothing.
    """
    return {k: {**v, "timings": dict(v["timings"])} for k, v in _KERNEL_CHOICES.items()}


def clear_kernel_choices() -> None:
    """Forget every measured kernel choice, so the next ``kernel="auto"`` solve measures again."""
    _KERNEL_CHOICES.clear()


def value_iteration(
    P: sp.csr_matrix, R: np.ndarray, gamma: float, *, epsilon: float = 1e-6,
    max_iter: int = 100_000, V0: np.ndarray | None = None,
    callback: Callable[[int, float], None] | None = None,
    stopping: str = "sup", kernel: str = "auto", parallel: bool | None = None,
    layout: TiledLayout | None = None, report: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, int, float, bool]:
    """Jacobi value iteration with an epsilon-optimal stopping rule.

    Returns ``(V, policy, sweeps, last_change, converged)``; ``last_change`` is the statistic the stopping
    rule tests (sup norm or span of ``V_{k+1} - V_k``), ``policy`` is greedy with respect to ``V_{k+1}``.

    ``stopping``:

    - ``"sup"`` (default): stop when ``||V_{k+1} - V_k||_inf < eps (1-g) / (2g)``; then the greedy policy is
      eps-optimal and ``||V_{k+1} - V*|| < eps / 2`` (Puterman 1994, Theorem 6.3.1). Returns ``V_{k+1}``.
    - ``"span"``: stop when ``sp(V_{k+1} - V_k) = max - min < eps (1-g) / g`` (Puterman Section 6.6.3, the
      rule pymdptoolbox uses); then the greedy policy is eps-optimal and the midpoint-corrected values
      ``V_{k+1} + g / (1-g) * (max + min) / 2`` returned here are within ``eps / 2`` of ``V*`` (Puterman
      Theorem 6.6.6 and the bounds of Proposition 6.6.1). Never needs more sweeps than ``"sup"``, often far
      fewer when the values drift by a near-constant amount.

    ``kernel``: ``"scipy"`` (scipy's ``csr_matvec`` into a preallocated ``(A, S)`` buffer, then numpy passes
    for the max and the change), ``"csr"`` (one fused numba pass per sweep: row dots, max over actions,
    change, no temporaries), ``"tiled"`` (the fused pass over a cache-blocked :class:`TiledLayout`, given as
    ``layout`` or built here) or ``"auto"``. All give the same values to rounding (bit-identical when every
    row of ``P`` has sorted column indices). ``"auto"`` runs the first ``TRIAL_ROUNDS`` rounds of sweeps
    with each of :func:`auto_candidates` in turn (serial and, where ``parallel`` allows, parallel; the order
    reversed every round), keeps the kernel with the fastest sweep, and remembers it for the size class
    (:func:`kernel_signature`) for the rest of the process: later ``"auto"`` solves of that class skip the
    trial (:func:`kernel_choices` lists the choices, :func:`clear_kernel_choices` forgets them). The trial
    sweeps are real sweeps, so the values do not depend on the choice; the choice is measured on the machine
    the solve runs on, never fixed from another CPU. ``parallel`` runs the numba sweeps over blocks of
    states on all cores (None: from :data:`PARALLEL_MIN_STATES` states up, where each sweep runs whichever
    of the serial and parallel variant was faster at its last run); values do not depend on it. ``report``,
    a dict, receives ``kernel`` (the one used after any trial), ``how`` (``"forced"``, ``"only
    candidate"``, ``"cached"`` or ``"measured"``), ``timings`` (best seconds per sweep by variant) and ``Q``
    (the ``(A, S)`` action values at the returned ``V``, so a caller needs no extra sweep for them).
    """
    if stopping not in STOPPING:
        raise ModelError(f"stopping must be one of {list(STOPPING)}; found {stopping!r}")
    if kernel not in KERNELS:
        raise ModelError(f"kernel must be one of {list(KERNELS)}; found {kernel!r}")
    A, S = R.shape
    if stopping == "span" and gamma >= 1.0:
        raise ModelError(f"stopping='span' needs a discount below 1 (its midpoint correction scales by "
                         f"g / (1 - g)); found {gamma}. Use stopping='sup'")
    if stopping == "sup":
        thresh = vi_threshold(epsilon, gamma)
    else:
        thresh = epsilon * (1.0 - gamma) / gamma
    V = np.zeros(S) if V0 is None else np.array(V0, dtype=float)
    Vn = np.empty(S)
    Rg = np.ascontiguousarray(R / gamma)
    if layout is not None and (layout.n_states, layout.n_actions) != (S, A):
        raise ModelError(f"layout was built for S={layout.n_states}, A={layout.n_actions}; found S={S}, A={A}")
    trial: list[tuple[str, Callable[..., tuple[float, float]]]] = []
    timings: dict[str, float] = {}
    how = "forced"
    sig = None
    if kernel == "auto":
        if layout is None and P.nnz >= NUMBA_MIN_NNZ:
            layout = choose_layout(P, A)
        cands = auto_candidates(P, layout)
        if len(cands) == 1:
            kernel, how = cands[0], "only candidate"
        else:
            sig = kernel_signature(P, A, cands)
            known = _KERNEL_CHOICES.get(sig)
            if known is not None:
                kernel, how, timings = known["kernel"], "cached", dict(known["timings"])
            else:
                # every trial sweep is a real sweep (the kernels give the same values), so measuring costs only
                # the difference between the slower kernels and the fastest on these few sweeps
                how = "measured"
                pars = (False, True) if parallel is None and default_parallel(S) else (bool(parallel),)
                variants = [("scipy", _scipy_sweep(P, Rg, gamma))]
                for kern in cands[1:]:
                    for par in pars:
                        variants.append((kern + ("-parallel" if par else ""),
                                         _numba_step(kern, P, Rg, gamma, par, layout)))
                for r in range(TRIAL_ROUNDS):
                    trial.extend(variants if r % 2 == 0 else variants[::-1])
                kernel = ""
    # a cached choice's timings may be stale (the load changes between solves): its threads are re-probed
    step = None if kernel == "" else _kernel_step(kernel, P, Rg, gamma, parallel, layout)
    change = np.inf
    converged = False
    k = 0
    dmax = dmin = 0.0
    for k in range(1, max_iter + 1):
        if k <= len(trial):
            label, fn = trial[k - 1]
            t = time.perf_counter()
            dmax, dmin = fn(V, Vn)
            timings[label] = min(timings.get(label, np.inf), time.perf_counter() - t)
        else:
            if step is None:
                kernel = _record_choice(sig, timings, S, P.nnz)
                step = _kernel_step(kernel, P, Rg, gamma, parallel, layout, timings)
            dmax, dmin = step(V, Vn)
        change = max(dmax, -dmin) if stopping == "sup" else dmax - dmin
        V, Vn = Vn, V
        if callback is not None:
            callback(k, change)
        if change < thresh:
            converged = True
            break
    if kernel == "":  # stopped during the trial: keep the choice if every variant was timed
        labels = {label for label, _ in trial}
        kernel = _record_choice(sig, timings, S, P.nnz, complete=len(timings) == len(labels)) if timings \
            else "scipy"
    Q = q_values(P, R, V, gamma)
    pol = Q.argmax(axis=0)
    shift = 0.0
    if stopping == "span" and k > 0:
        shift = gamma / (1.0 - gamma) * 0.5 * (dmax + dmin)
        V = V + shift
    if report is not None:
        # Q at the returned values: adding a constant c to V adds gamma c to every Q (rows of P sum to 1)
        Q += gamma * shift
        report.update(kernel=kernel, how=how, timings=timings, Q=Q)
    return V, pol, k, float(change), converged


def _record_choice(sig: tuple[Any, ...] | None, timings: dict[str, float], S: int, nnz: int,
                   complete: bool = True) -> str:
    """The kernel whose variant had the fastest sweep; remembered under ``sig`` when every variant ran."""
    best = min(timings, key=timings.__getitem__).removesuffix("-parallel")
    if sig is not None and complete:
        _KERNEL_CHOICES[sig] = {"kernel": best, "timings": dict(timings), "S": int(S), "nnz": int(nnz)}
    return best


def _numba_step(kernel: str, P: sp.csr_matrix, Rg: np.ndarray, gamma: float, parallel: bool,
                layout: TiledLayout | None) -> Callable[..., tuple[float, float]]:
    global _NUMBA_WARM
    mod = _need_numba(f"kernel={kernel!r}")
    _NUMBA_WARM = True
    if kernel == "tiled":
        return _tiled_step(mod, layout, Rg, gamma, parallel)
    return _csr_step(mod, P, Rg, gamma, parallel)


def _kernel_step(kernel: str, P: sp.csr_matrix, Rg: np.ndarray, gamma: float, parallel: bool | None,
                 layout: TiledLayout | None,
                 timings: dict[str, float] | None = None) -> Callable[..., tuple[float, float]]:
    """One sweep of ``kernel``; numba kernels with ``parallel=None`` adapt their threads from
    :data:`PARALLEL_MIN_STATES` states up (see :func:`_adaptive_step`), starting from the trial's
    ``timings`` of both variants when it has them."""
    if kernel == "scipy":
        return _scipy_sweep(P, Rg, gamma)
    _need_numba(f"kernel={kernel!r}")
    if kernel == "tiled" and layout is None:
        layout = build_tiled_layout(P, Rg.shape[0])
    if parallel is None:
        if default_parallel(Rg.shape[1]):
            both = (timings or {}).get(kernel), (timings or {}).get(kernel + "-parallel")
            return _adaptive_step(_numba_step(kernel, P, Rg, gamma, False, layout),
                                  _numba_step(kernel, P, Rg, gamma, True, layout),
                                  known=None if None in both else both)
        return _numba_step(kernel, P, Rg, gamma, False, layout)
    return _numba_step(kernel, P, Rg, gamma, bool(parallel), layout)


def _scipy_sweep(P: sp.csr_matrix, Rg: np.ndarray, gamma: float) -> Callable[..., tuple[float, float]]:
    A, S = Rg.shape
    buf = np.empty(A * S)
    Q = buf.reshape(A, S)
    diff = np.empty(S)
    indptr, indices, data = P.indptr, P.indices, P.data
    flat = Rg.reshape(-1)

    def step(V: np.ndarray, Vn: np.ndarray) -> tuple[float, float]:
        np.copyto(buf, flat)
        if _csr_matvec is not None:
            _csr_matvec(A * S, S, indptr, indices, data, V, buf)
        else:  # pragma: no cover
            np.add(buf, P @ V, out=buf)
        np.max(Q, axis=0, out=Vn)
        Vn *= gamma
        np.subtract(Vn, V, out=diff)
        return float(diff.max()), float(diff.min())

    return step


def _csr_step(mod: Any, P: sp.csr_matrix, Rg: np.ndarray, gamma: float,
              parallel: bool) -> Callable[..., tuple[float, float]]:
    A, S = Rg.shape
    # blocks of 2,048 states: the per-block max-over-actions buffer (16 KiB) stays in L1
    block = min(S, CSR_BLOCK)
    nblk = -(-S // block)
    bmax, bmin = np.empty(nblk), np.empty(nblk)
    fn = mod.csr_sweep_parallel if parallel else mod.csr_sweep_serial
    nchunk = min(nblk, mod.numba.get_num_threads()) if parallel else 1
    work = np.empty((nchunk, block))
    indptr, indices, data = P.indptr, P.indices, P.data
    g = float(gamma)

    def step(V: np.ndarray, Vn: np.ndarray) -> tuple[float, float]:
        return fn(indptr, indices, data, Rg, g, V, Vn, bmax, bmin, work, block)

    return step


def _tiled_step(mod: Any, layout: TiledLayout, Rg: np.ndarray, gamma: float,
                parallel: bool) -> Callable[..., tuple[float, float]]:
    nrb = layout.n_row_blocks
    bmax, bmin = np.empty(nrb), np.empty(nrb)
    fn = mod.tiled_sweep_parallel if parallel else mod.tiled_sweep_serial
    tptr, keys, vals = layout.tptr, layout.keys, layout.vals
    g = float(gamma)
    A = layout.n_actions
    nchunk = min(nrb, mod.numba.get_num_threads()) if parallel else 1
    work = np.empty((nchunk, ((1 << mod.ROW_BITS) // A) * A))

    def step(V: np.ndarray, Vn: np.ndarray) -> tuple[float, float]:
        return fn(tptr, keys, vals, Rg, g, V, Vn, bmax, bmin, work)

    return step


def warm_up(kernel: str | None = None, parallel: bool | None = None) -> float:
    """Compile (or load from numba's on-disk cache) the numba sweeps; return the seconds it took.

    ``kernel`` ``"csr"`` / ``"tiled"`` (None: both) and ``parallel`` True / False (None: both) pick the
    variants. Returns 0 without numba or for ``kernel="scipy"``; near 0 once compiled in this process.
    """
    if kernel == "scipy" or _fused() is None:
        return 0.0
    todo = [(kern, par) for par in ((False, True) if parallel is None else (bool(parallel),))
            for kern in (("csr", "tiled") if kernel in (None, "auto") else (kernel,)) if (kern, par) not in _WARMED]
    if not todo:
        return 0.0
    t = time.perf_counter()
    P = sp.csr_matrix(np.array([[0.5, 0.5], [1.0, 0.0]]))
    R = np.zeros((1, 2))
    for kern, par in todo:
        value_iteration(P, R, 0.5, max_iter=1, kernel=kern, parallel=par)
        _WARMED.add((kern, par))
    return time.perf_counter() - t


_WARMED: set[tuple[str, bool]] = set()  # numba variants already compiled or loaded in this process


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


# ---------------------------------------------------------------------------------------------------------
# Discount 1: certain termination (stochastic shortest path conditions)


@dataclass(frozen=True)
class Termination:
    """What :func:`termination_check` found about an MDP solved without discounting.

    ``terminal`` (S,) bool: states absorbing under every action with reward 0. ``trap`` (S,) bool: the
    largest set of non-terminal states that some policy can stay in forever (empty when every policy
    terminates with probability 1). ``proper_policy`` (S,) action indices of a policy that terminates with
    probability 1 from every state (None when there is none). ``problem``: None when the undiscounted
    problem is well posed by the check, else the reason, naming a state (and an action where one is at fault).
    """

    terminal: np.ndarray
    trap: np.ndarray
    proper_policy: np.ndarray | None
    problem: str | None

    @property
    def all_proper(self) -> bool:
        """True when every policy terminates with probability 1 (no trap states)."""
        return not bool(self.trap.any())

    def summary(self) -> dict[str, Any]:
        """Counts for a result's ``info``: terminal states, trap states, whether every policy is proper."""
        return {"terminal_states": int(self.terminal.sum()), "trap_states": int(self.trap.sum()),
                "all_policies_proper": self.all_proper}


def _support(P: sp.csr_matrix) -> sp.csr_matrix:
    B = sp.csr_matrix(P, copy=True)
    B.sum_duplicates()
    B.data = (B.data > 0).astype(float)
    B.eliminate_zeros()
    return B


def terminal_states(P: sp.csr_matrix, R: np.ndarray) -> np.ndarray:
    """Return an (S,) bool mask of states that every action keeps in place with reward 0."""
    A, S = R.shape
    B = _support(P)
    cnt = np.diff(B.indptr).reshape(A, S)
    first = B.indices[np.minimum(B.indptr[:-1], max(B.nnz - 1, 0))].reshape(A, S) if B.nnz else \
        np.full((A, S), -1)
    return ((cnt == 1) & (first == np.arange(S)) & (R == 0)).all(axis=0)


def _reach_backward(edges_from: np.ndarray, edges_to: np.ndarray, targets: np.ndarray,
                    S: int) -> tuple[np.ndarray, np.ndarray]:
    """States with a path to ``targets`` along edges ``from -> to``; return (mask, next hop towards targets)."""
    from scipy.sparse.csgraph import breadth_first_order

    # reversed graph with a super source S linked to every target: a BFS from S finds who can reach them
    src = np.concatenate([edges_to, np.full(targets.size, S)])
    dst = np.concatenate([edges_from, targets])
    G = sp.csr_matrix((np.ones(src.size), (src, dst)), shape=(S + 1, S + 1))
    order, pred = breadth_first_order(G, S, directed=True, return_predecessors=True)
    mask = np.zeros(S, dtype=bool)
    mask[order[order < S]] = True
    return mask, pred[:S]


def policy_terminates(P_pi: sp.csr_matrix, terminal: np.ndarray) -> np.ndarray:
    """Return an (S,) bool mask of the states from which the policy chain reaches ``terminal`` w.p. 1.

    In a finite Markov chain absorption in a set is certain from a state exactly when every state it can
    reach has a path to the set; with absorbing targets that is the same as having a path to them.
    """
    S = P_pi.shape[0]
    C = _support(P_pi).tocoo()
    mask, _ = _reach_backward(C.row, C.col, np.flatnonzero(terminal), S)
    return mask


def _trap_sweep(t_indptr, t_rows, removed, S, A):  # pragma: no cover - run compiled
    # greatest set C of states each having an action whose successors all lie in C, seeded by removing
    # the terminal states; bad[r] counts row r's successors outside C (exact for rows of states in C)
    n_rows = A * S
    bad = np.zeros(n_rows, np.int64)
    ok = np.full(S, A, np.int64)
    in_c = np.ones(S, np.bool_)
    queue = np.empty(S, np.int64)
    tail = 0
    for v in range(S):
        if removed[v]:
            in_c[v] = False
            queue[tail] = v
            tail += 1
    head = 0
    while head < tail:
        v = queue[head]
        head += 1
        for k in range(t_indptr[v], t_indptr[v + 1]):
            r = t_rows[k]
            bad[r] += 1
            if bad[r] == 1:
                s = r % S
                ok[s] -= 1
                if ok[s] == 0 and in_c[s]:
                    in_c[s] = False
                    queue[tail] = s
                    tail += 1
    return in_c, bad


_TRAP_KERNEL = None


def _trap_kernel(nnz: int):
    # compiling costs seconds on a busy machine (0.1 s from numba's disk cache); the interpreted loop takes
    # about a microsecond per non-zero, so small models never pay for the compiler
    global _TRAP_KERNEL
    if nnz < NUMBA_MIN_NNZ and _TRAP_KERNEL is None:
        return _trap_sweep
    if _TRAP_KERNEL is None:
        try:
            import numba
        except ImportError:  # pragma: no cover
            _TRAP_KERNEL = _trap_sweep
        else:
            _TRAP_KERNEL = numba.njit(nogil=True, cache=True)(_trap_sweep)
    return _TRAP_KERNEL


def termination_check(P: sp.csr_matrix, R: np.ndarray, *, state_names: list[str] | None = None,
                      action_names: list[str] | None = None) -> Termination:
    """Check that an MDP is a well-posed stochastic shortest path problem at discount 1; return a Termination.

    Terminal states are those every action keeps in place with reward 0. The check accepts when

    (a) from every state some policy reaches a terminal state with probability 1 (a *proper* policy exists:
        the largest state set from which the terminal states can be reached with certainty, computed by the
        usual almost-sure reachability fixpoint, is everything), and
    (b) every action that can keep the process away from the terminal states forever has a strictly
        negative reward: in the largest set ``C`` of non-terminal states that some policy never leaves, each
        action whose successors all lie in ``C`` earns ``R(s, a) < 0``. Then every policy that does not
        terminate with certainty collects -inf from some state (its closed classes earn negative reward
        every step), which is sufficient for Bertsekas & Tsitsiklis (1991), "An analysis of stochastic
        shortest path problems", Math. Oper. Res. 16: V* is finite and the unique solution of the Bellman
        equation with V = 0 on terminal states, value iteration converges to it from any start, policy
        iteration from a proper policy stays proper and converges, and the LP gives it.

    (b) is sufficient, not necessary (a loop mixing positive and larger negative rewards is refused); when
    ``C`` is empty every policy terminates and (b) holds trivially. O(non-zeros) apart from the (a) fixpoint,
    which repeats one graph search per round of pruning (rarely more than two).
    """
    A, S = R.shape

    def sname(i: int) -> str:
        return repr(state_names[i]) if state_names is not None else repr(f"s{i}")

    def aname(i: int) -> str:
        return repr(action_names[i]) if action_names is not None else repr(f"a{i}")

    B = _support(P)
    terminal = terminal_states(P, R)
    if not terminal.any():
        return Termination(terminal, ~terminal, None,
                           "no state is terminal (absorbing under every action with reward 0), so from "
                           f"state {sname(0)} termination is not certain")
    row_state = np.tile(np.arange(S), A)
    U = np.ones(S, dtype=bool)
    while True:
        leaves = (B @ (~U).astype(float)) > 0
        allowed = np.flatnonzero(~leaves & U[row_state])
        sub = B[allowed].tocoo()
        mask, nxt = _reach_backward(row_state[allowed][sub.row], sub.col, np.flatnonzero(terminal), S)
        if (mask == U).all():
            break
        U = mask
    if not U.all():
        s = int(np.flatnonzero(~U)[0])
        return Termination(terminal, ~U & ~terminal, None,
                           f"from state {sname(s)} no policy reaches a terminal state (absorbing under every "
                           f"action with reward 0) with probability 1 ({int((~U).sum())} such state(s))")
    # a proper policy: from each state an allowed action with positive probability of the next BFS hop
    pol = np.zeros(S, dtype=np.int64)
    todo = ~terminal
    idx = np.flatnonzero(todo)
    hop = nxt[idx]
    found = np.zeros(idx.size, dtype=bool)
    leaves = (B @ (~U).astype(float)) > 0
    for a in range(A):
        rows = a * S + idx
        hit = np.asarray(B[rows, hop]).ravel() > 0
        take = hit & ~found & ~leaves[rows]
        pol[idx[take]] = a
        found |= take
    t = B.T.tocsr()
    in_c, bad = _trap_kernel(B.nnz)(t.indptr.astype(np.int64), t.indices.astype(np.int64), terminal, S, A)
    staying = np.flatnonzero((bad == 0) & in_c[row_state])
    r_flat = R.reshape(-1)
    wrong = staying[r_flat[staying] >= 0]
    if wrong.size:
        a, s = divmod(int(wrong[0]), S)
        return Termination(terminal, in_c, pol,
                           f"action {aname(a)} in state {sname(s)} earns {r_flat[wrong[0]]:g} >= 0 per step and "
                           f"can keep the process among the {int(in_c.sum())} non-terminal state(s) that some "
                           "policy never leaves, so a policy that never terminates need not earn -inf and the "
                           "undiscounted values are not determined")
    return Termination(terminal, in_c, pol, None if found.all() else "internal: no proper action found")


def solve_episodic_system(P_pi: sp.csr_matrix, r_pi: np.ndarray, terminal: np.ndarray, *, method: str = "auto",
                          x0: np.ndarray | None = None, tol: float = 1e-10) -> tuple[np.ndarray, int]:
    """Solve ``V = r_pi + P_pi V`` with ``V = 0`` on ``terminal`` states; return ``(V, inner iterations)``.

    The system restricted to the non-terminal states is non-singular when the policy terminates with
    probability 1 from every state (check with :func:`policy_terminates` first). ``method="auto"`` factorises
    it (sparse LU) whatever its size: without discounting the system can be as badly conditioned as the
    expected time to termination is long, where BiCGSTAB stalls; ``"iterative"`` tries BiCGSTAB and falls
    back to the factorisation when it misses its tolerance.
    """
    S = P_pi.shape[0]
    keep = np.flatnonzero(~terminal)
    V = np.zeros(S)
    if keep.size == 0:
        return V, 0
    sub = sp.csr_matrix(P_pi[keep][:, keep])
    r = np.asarray(r_pi, dtype=float)[keep]
    if method not in ("auto", "direct", "iterative"):
        raise ModelError(f"evaluation method must be 'auto', 'direct' or 'iterative', found {method!r}")
    it = 0
    if method == "iterative":
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            x, it = evaluate_policy_iterative(sub, r, 1.0, x0=None if x0 is None else
                                              np.asarray(x0, dtype=float)[keep], tol=tol)
        scale = max(1.0, float(np.abs(x).max(initial=0.0))) if np.isfinite(x).all() else np.inf
        if np.isfinite(scale) and float(np.abs(r + sub @ x - x).max()) <= tol * scale:
            V[keep] = x
            return V, it
    x, _ = solve_policy_system(sub, r, 1.0, method="direct")
    V[keep] = x
    return V, it
