"""``solve(mdp, method=...)``: every exact MDP solver behind one call, one result type."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from probwb.core.progress import Progress
from probwb.errors import ConvergenceWarning, ModelError
from probwb.mdp import kernels as K
from probwb.mdp.model import MDP

logger = logging.getLogger("probwb.mdp")

__all__ = ["SolveResult", "solve", "METHODS", "check_termination"]

METHODS = (
    "value_iteration",
    "gauss_seidel",
    "policy_iteration",
    "modified_policy_iteration",
    "linear_programming",
    "finite_horizon",
    "relative_value_iteration",
)
_ALIASES = {"vi": "value_iteration", "gs": "gauss_seidel", "gauss_seidel_vi": "gauss_seidel",
            "pi": "policy_iteration", "mpi": "modified_policy_iteration", "lp": "linear_programming",
            "backward_induction": "finite_horizon", "fh": "finite_horizon",
            "rvi": "relative_value_iteration", "average_reward": "relative_value_iteration"}


@dataclass
class SolveResult:
    """What every solver returns.

    Attributes
    ----------
    policy_index : (S,) int array of action indices (for a finite horizon, ``(T, S)``).
    V : (S,) values (finite horizon: ``(T+1, S)``; average reward: the bias ``h``).
    Q_array : (A, S) action values at the solution (finite horizon: at t = 0).
    iterations : outer iterations (sweeps for value iteration, improvement steps for policy iteration).
    sweeps : Bellman sweeps / mat-vecs with the full model, including policy-evaluation work.
    converged, residual : whether the stopping rule was met and ``||T V - V||_inf`` at the end
        (for relative value iteration: the span of ``T h - h``).
    timings : seconds per phase (``setup``, ``solve``, ``total``).
    gain : long-run average reward (relative value iteration only).
    """

    mdp: MDP
    method: str
    policy_index: np.ndarray
    V: np.ndarray
    Q_array: np.ndarray
    iterations: int
    sweeps: int
    converged: bool
    residual: float
    timings: dict[str, float] = field(default_factory=dict)
    gain: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def policy(self) -> pd.Series | pd.DataFrame:
        """The policy with names: Series state -> action (finite horizon: DataFrame time x state)."""
        acts = np.asarray(self.mdp.actions, dtype=object)
        idx = pd.Index(self.mdp.states, name="state")
        if self.policy_index.ndim == 2:
            return pd.DataFrame(acts[self.policy_index], index=pd.RangeIndex(len(self.policy_index), name="t"),
                                columns=idx)
        return pd.Series(acts[self.policy_index], index=idx, name="action")

    @property
    def values(self) -> pd.Series | pd.DataFrame:
        """State values with names (finite horizon: DataFrame time x state, last row = terminal)."""
        idx = pd.Index(self.mdp.states, name="state")
        if self.V.ndim == 2:
            return pd.DataFrame(self.V, index=pd.RangeIndex(len(self.V), name="t"), columns=idx)
        return pd.Series(self.V, index=idx, name="value")

    @property
    def Q(self) -> pd.DataFrame:
        """Action values ``Q(s, a)`` (index = states, columns = actions)."""
        return pd.DataFrame(self.Q_array.T, index=pd.Index(self.mdp.states, name="state"),
                            columns=pd.Index(self.mdp.actions, name="action"))

    def value_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(lower, upper)`` (S,) arrays that bracket ``V*``: ``V -/+ info["value_error_bound"]``.

        Value iteration only (with the span rule these are the MacQueen bounds, ``V`` their midpoint); other
        methods raise ModelError.
        """
        half = self.info.get("value_error_bound")
        if half is None:
            raise ModelError(f"value bounds come from value iteration; this result is from {self.method!r}")
        return self.V - half, self.V + half

    def summary(self) -> pd.DataFrame:
        """One-row DataFrame: method, iterations, sweeps, converged, residual, timings."""
        row = {"method": self.method, "iterations": self.iterations, "sweeps": self.sweeps,
               "converged": self.converged, "residual": self.residual, **{f"{k}_s": v for k, v in
                                                                          self.timings.items()}}
        if self.gain is not None:
            row["gain"] = self.gain
        return pd.DataFrame([row])

    def __repr__(self) -> str:
        return (f"SolveResult(method={self.method!r}, iterations={self.iterations}, sweeps={self.sweeps}, "
                f"converged={self.converged}, residual={self.residual:.3g})")


def check_termination(mdp: MDP) -> K.Termination:
    """Return the :class:`~probwb.mdp.kernels.Termination` of ``mdp`` read as an undiscounted problem.

    Its ``problem`` is None when the infinite-horizon solvers accept ``mdp`` at discount 1 (see
    :func:`probwb.mdp.kernels.termination_check` for the conditions). Cached on ``mdp``.
    """
    key = (id(mdp.P), id(mdp.P.data), mdp.P.nnz, id(mdp.R))
    cached = mdp.__dict__.get("_termination")
    if cached is not None and cached[0] == key:
        return cached[1]
    term = K.termination_check(mdp.P, mdp.R, state_names=mdp.states, action_names=mdp.actions)
    mdp._termination = (key, term)
    return term


def _check_discounted(mdp: MDP, method: str) -> K.Termination | None:
    """None for a discount below 1; at discount 1 the termination check, or ModelError with its reason."""
    if mdp.discount < 1.0:
        return None
    term = check_termination(mdp)
    if term.problem is not None:
        raise ModelError(
            f"{method} at discount 1 needs certain termination (every policy either terminates with "
            f"probability 1 or earns -inf); found: {term.problem}. Use a discount in (0, 1), "
            "method='finite_horizon' with a horizon, or method='relative_value_iteration' for average reward"
        )
    return term


def _start_values(mdp: MDP, V0: np.ndarray | None, term: K.Termination | None) -> np.ndarray:
    V = np.zeros(mdp.n_states) if V0 is None else np.array(V0, dtype=float)
    if V.shape != (mdp.n_states,):
        raise ModelError(f"V0 must have one value per state ({mdp.n_states}); found shape {V.shape}")
    if term is not None:
        # undiscounted: terminal values are 0 by definition (a start elsewhere would persist for ever)
        V[term.terminal] = 0.0
    return V


def _evaluate(mdp: MDP, pol: np.ndarray, term: K.Termination | None, evaluation: str,
              x0: np.ndarray | None) -> tuple[np.ndarray, int]:
    P_pi = K.policy_matrix(mdp.P, pol, mdp.n_states)
    r_pi = K.policy_reward(mdp.R, pol)
    if term is None:
        return K.solve_policy_system(P_pi, r_pi, mdp.discount, method=evaluation, x0=x0)
    ok = K.policy_terminates(P_pi, term.terminal)
    if not ok.all():
        s = int(np.flatnonzero(~ok)[0])
        raise ModelError(f"at discount 1 policy iteration needs a policy that terminates with probability 1; "
                         f"from state {mdp.states[s]!r} the policy taking {mdp.actions[int(pol[s])]!r} there "
                         "never reaches a terminal state")
    return K.solve_episodic_system(P_pi, r_pi, term.terminal, method=evaluation, x0=x0)


def _policy0(mdp: MDP, policy0: Any) -> np.ndarray:
    if policy0 is None:
        # the myopic policy: a sensible start and what pymdptoolbox uses too
        return mdp.R.argmax(axis=0)
    if isinstance(policy0, pd.Series):
        return np.array([mdp.action_index(policy0[s]) for s in mdp.states])
    arr = np.asarray(policy0)
    if arr.dtype.kind in "iu":
        if arr.shape != (mdp.n_states,) or arr.min() < 0 or arr.max() >= mdp.n_actions:
            raise ModelError(f"policy0 must be {mdp.n_states} action indices in [0, {mdp.n_actions}); "
                             f"found shape {arr.shape}")
        return arr.astype(np.int64)
    return np.array([mdp.action_index(a) for a in arr])


def solve(
    mdp: MDP,
    method: str = "policy_iteration",
    *,
    epsilon: float = 1e-6,
    max_iter: int | None = None,
    policy0: Any = None,
    V0: np.ndarray | None = None,
    evaluation: str = "auto",
    m: int = 20,
    horizon: int | None = None,
    aperiodicity: float = 0.0,
    stopping: str = "auto",
    kernel: str = "auto",
    quiet: bool = True,
) -> SolveResult:
    """Solve ``mdp`` and return a :class:`SolveResult`.

    Methods: ``value_iteration`` (see below), ``gauss_seidel``, ``policy_iteration`` (exact evaluation: sparse LU or GMRES, see
    ``evaluation``), ``modified_policy_iteration`` (``m`` partial-evaluation sweeps per step),
    ``linear_programming`` (scipy HiGHS), ``finite_horizon`` (backward induction over ``horizon`` or
    ``mdp.horizon`` epochs; time-dependent policy), ``relative_value_iteration`` (average reward; stops when
    the span of ``T h - h`` is below ``epsilon``; ``aperiodicity`` in [0, 1) mixes in a self-loop so periodic
    chains converge). ``quiet=False`` shows progress on an interactive stderr.

    Value iteration stopping (``stopping``; ``"auto"``, the default, is ``"span"`` for a discount ``g < 1``
    and ``"sup"`` at ``g = 1``):

    - ``"span"``: stop after the first sweep with ``sp(V_{k+1} - V_k) = max - min < epsilon (1-g)/g``
      (Puterman 1994, Section 6.6.3; pymdptoolbox's rule, so the same ``epsilon`` gives the same sweeps).
      Guarantee: with ``m, M`` the smallest and largest change of that sweep, the MacQueen bounds
      ``V_{k+1} + g m/(1-g) <= V* <= V_{k+1} + g M/(1-g)`` hold, and the policy greedy w.r.t. ``V_{k+1}``
      has ``V_pi >= V_{k+1} + g m/(1-g)``, so ``V* - V_pi <= g (M - m)/(1-g) < epsilon``: the policy is
      epsilon-optimal. ``V`` is the midpoint of the bounds, within ``g (M - m) / (2 (1-g)) < epsilon / 2`` of
      ``V*`` (as accurate as the sup rule's values), and ``info`` gives that half-width
      (``value_error_bound``), the policy-loss bound (``policy_loss_bound``, ``< epsilon``) and
      :meth:`SolveResult.value_bounds` the bounds themselves.
    - ``"sup"``: stop when ``||V_{k+1} - V_k||_inf < epsilon (1-g)/(2g)`` (Puterman Theorem 6.3.1: the greedy
      policy is epsilon-optimal and ``||V_{k+1} - V*|| < epsilon / 2``); typically many more sweeps, since it
      waits for the near-constant drift of the values to die out that the span rule corrects for.

    ``kernel`` picks the sweep implementation (``"auto"``, ``"scipy"``, ``"csr"``, ``"tiled"``; see
    :func:`probwb.mdp.kernels.value_iteration`). ``"auto"`` times the candidate kernels on the first sweeps
    of a solve and keeps the fastest, remembering the choice for models of that size class for the rest of
    the process (:func:`probwb.mdp.kernels.kernel_choices` lists the choices and their timings;
    ``info["kernel"]`` names the kernel a solve used). Every kernel gives the same values. The tiled layout
    ``"auto"`` may build for large scattered models is cached on ``mdp`` and reused by later solves.

    Discount 1 (episodic problems) is accepted by every infinite-horizon method when termination is certain
    in the sense of :func:`probwb.mdp.kernels.termination_check` (from every state some policy terminates with
    probability 1, and every action that can keep the process from terminating for ever earns a negative
    reward); otherwise ModelError names a state (and action) at fault. Terminal states (absorbing under every
    action, reward 0) have value 0; value iteration, Gauss-Seidel and modified policy iteration then stop when
    the sup-norm change is below ``epsilon / 2``; policy iteration starts from a policy that terminates
    (``policy0`` must terminate too) and solves on the non-terminal states; the LP fixes terminal values at 0.
    ``info["termination"]`` reports the counts.
    """
    name = _ALIASES.get(method, method)
    if name not in METHODS:
        from probwb.core.validation import closest_match

        hit = closest_match(method, [*METHODS, *_ALIASES])
        hint = f" (did you mean {hit!r}?)" if hit else ""
        raise ModelError(f"unknown method {method!r}{hint}; choose one of {list(METHODS)}")
    if not (epsilon > 0):
        raise ModelError(f"epsilon must be positive, found {epsilon}")
    if stopping not in ("auto", *K.STOPPING):
        raise ModelError(f"stopping must be one of {['auto', *K.STOPPING]}; found {stopping!r}")
    if kernel not in K.KERNELS:
        raise ModelError(f"kernel must be one of {list(K.KERNELS)}; found {kernel!r}")
    if stopping == "span" and mdp.discount >= 1.0:
        raise ModelError(f"stopping='span' needs a discount below 1 (its midpoint correction scales by g / (1 - g)); "
                         f"found {mdp.discount}. Use stopping='sup'")
    if name != "value_iteration" and (stopping not in ("auto", "sup") or kernel != "auto"):
        raise ModelError(f"stopping= and kernel= apply to method='value_iteration' only; found method={name!r} "
                         f"with stopping={stopping!r}, kernel={kernel!r}")
    t0 = time.perf_counter()
    fn = _SOLVERS[name]
    res = fn(mdp, epsilon=epsilon, max_iter=max_iter, policy0=policy0, V0=V0, evaluation=evaluation,
             m=m, horizon=horizon, aperiodicity=aperiodicity, stopping=stopping, kernel=kernel, quiet=quiet)
    res.timings["total"] = time.perf_counter() - t0
    if not res.converged:
        warnings.warn(f"{name} stopped after {res.iterations} iterations without meeting its stopping rule "
                      f"(residual {res.residual:.3g}); raise max_iter or epsilon", ConvergenceWarning,
                      stacklevel=2)
    logger.info("solved %r with %s: %d iterations, %d sweeps, %.3fs", mdp, name, res.iterations, res.sweeps,
                res.timings["total"])
    return res


def _bar(total: int | None, desc: str, quiet: bool) -> Progress:
    return Progress(total=total, desc=desc, disable=quiet)


def _vi_layout(mdp: MDP, kernel: str) -> K.TiledLayout | None:
    """The tiled layout for ``mdp`` (built at most once per transition matrix and cached on it), or None."""
    if kernel not in ("auto", "tiled") or (kernel == "auto" and mdp.P.nnz < K.NUMBA_MIN_NNZ) or not K.has_numba():
        return None
    key = (id(mdp.P), id(mdp.P.data), mdp.P.nnz)
    cached = mdp.__dict__.get("_vi_layout")
    if cached is not None and cached[0] == key and (cached[1] is not None or kernel == "auto"):
        return cached[1]
    if kernel == "auto":
        layout = K.choose_layout(mdp.P, mdp.n_actions)
    else:
        layout = K.build_tiled_layout(mdp.P, mdp.n_actions)
    mdp._vi_layout = (key, layout)
    return layout


def _vi(mdp: MDP, *, epsilon, max_iter, V0, stopping, kernel, quiet, **_: Any) -> SolveResult:
    term = _check_discounted(mdp, "value iteration")
    if term is not None:
        V0 = _start_values(mdp, V0, term)
    g = mdp.discount
    if stopping == "auto":
        stopping = "span" if g < 1.0 else "sup"
    max_iter = max_iter or 100_000
    t0 = time.perf_counter()
    layout = _vi_layout(mdp, kernel)
    kernels = K.auto_candidates(mdp.P, layout) if kernel == "auto" else (kernel,)
    # compile before the timed loop, so timings["solve"] is the sweeps alone
    compile_s = sum(K.warm_up(kern, None if K.default_parallel(mdp.n_states) else False)
                    for kern in kernels if kern != "scipy")
    t1 = time.perf_counter()
    report: dict[str, Any] = {}
    with _bar(None, "value iteration", quiet) as bar:
        # the bar decides (quiet=True by default, yet the probwb command shows progress of long solves)
        cb = None if bar.disable else (lambda k, c: bar.update(1, f"change {c:.3g}"))
        V, pol, k, change, conv = K.value_iteration(mdp.P, mdp.R, g, epsilon=epsilon, max_iter=max_iter,
                                                    V0=V0, callback=cb, stopping=stopping, kernel=kernel,
                                                    layout=layout, report=report)
    t2 = time.perf_counter()
    kernel = report["kernel"]
    Q = report["Q"]
    thresh = K.vi_threshold(epsilon, g) if stopping == "sup" else epsilon * (1 - g) / g
    bounds = _vi_bounds(change, g, stopping)
    return SolveResult(mdp, "value_iteration", pol, V, Q, k, k + 1, conv, float(np.abs(Q.max(0) - V).max()),
                       {"setup": t1 - t0, "solve": t2 - t1},
                       info={"last_change": change, "threshold": thresh, "stopping": stopping, "kernel": kernel,
                             "kernel_choice": report["how"], "kernel_timings": report["timings"], **bounds,
                             "compile_s": compile_s,
                             "layout_build_s": layout.build_seconds if layout is not None else 0.0,
                             **_term_info(term)})


def _vi_bounds(change: float, g: float, stopping: str) -> dict[str, float]:
    """Half-width of the interval around the returned V that holds V*, and the policy-loss bound.

    Span rule: V is the midpoint of the MacQueen bounds ``V_{k+1} + g [m, M] / (1-g)``, whose half-width is
    ``g (M - m) / (2 (1-g))``; the greedy policy's loss is at most the full width. Sup rule (discount < 1):
    ``||V_{k+1} - V*|| <= g ||V_{k+1} - V_k|| / (1-g)`` and the greedy policy loses at most twice that.
    At discount 1 there is no contraction modulus and no bound.
    """
    if g >= 1.0 or not np.isfinite(change):
        return {"value_error_bound": float("inf"), "policy_loss_bound": float("inf")}
    width = g * change / (1.0 - g)
    half = 0.5 * width if stopping == "span" else width
    return {"value_error_bound": half, "policy_loss_bound": 2.0 * half}


def _term_info(term: K.Termination | None) -> dict[str, Any]:
    return {} if term is None else {"termination": term.summary()}


def _gs(mdp: MDP, *, epsilon, max_iter, V0, quiet, **_: Any) -> SolveResult:
    term = _check_discounted(mdp, "Gauss-Seidel value iteration")
    g = mdp.discount
    max_iter = max_iter or 100_000
    thresh = K.vi_threshold(epsilon, g)
    V = _start_values(mdp, V0, term)
    t0 = time.perf_counter()
    K._gs_kernel()  # compile outside the timed loop
    t1 = time.perf_counter()
    conv = False
    k = 0
    change = np.inf
    with _bar(None, "Gauss-Seidel VI", quiet) as bar:
        for k in range(1, max_iter + 1):  # noqa: B007 - k is reported after the loop
            change = K.gauss_seidel_sweeps(mdp.P, mdp.R, V, g, 1)
            bar.update(1, f"change {change:.3g}")
            if change < thresh:
                conv = True
                break
    t2 = time.perf_counter()
    Q = K.q_values(mdp.P, mdp.R, V, g)
    return SolveResult(mdp, "gauss_seidel", Q.argmax(0), V, Q, k, k + 1, conv,
                       float(np.abs(Q.max(0) - V).max()), {"setup": t1 - t0, "solve": t2 - t1},
                       info={"last_change": change, "threshold": thresh, **_term_info(term)})


def _pi(mdp: MDP, *, max_iter, policy0, evaluation, quiet, **_: Any) -> SolveResult:
    term = _check_discounted(mdp, "policy iteration")
    g = mdp.discount
    max_iter = max_iter or 1_000
    # undiscounted: start from a policy that terminates (the myopic one may circle for ever)
    pol = term.proper_policy.copy() if term is not None and policy0 is None else _policy0(mdp, policy0)
    V = None
    conv = False
    inner = 0
    k = 0
    t0 = time.perf_counter()
    t_eval = 0.0
    with _bar(max_iter, "policy iteration", quiet) as bar:
        for k in range(1, max_iter + 1):  # noqa: B007 - k is reported after the loop
            te = time.perf_counter()
            V, it = _evaluate(mdp, pol, term, evaluation, V)
            t_eval += time.perf_counter() - te
            inner += it
            Q = K.q_values(mdp.P, mdp.R, V, g)
            # improvements below rounding noise must not flip the policy, or PI can cycle on ties
            tol = 1e-10 * max(1.0, float(np.abs(V).max()))
            new = K.greedy(Q, pol, tol)
            changed = int((new != pol).sum())
            bar.update(1, f"{changed} changed")
            if changed == 0:
                conv = True
                break
            pol = new
    t1 = time.perf_counter()
    res = float(np.abs(Q.max(0) - V).max())
    return SolveResult(mdp, "policy_iteration", pol, V, Q, k, k + inner, conv, res,
                       {"evaluation": t_eval, "solve": t1 - t0},
                       info={"evaluation_iterations": inner, **_term_info(term)})


def _mpi(mdp: MDP, *, epsilon, max_iter, V0, m, quiet, **_: Any) -> SolveResult:
    term = _check_discounted(mdp, "modified policy iteration")
    g = mdp.discount
    S = mdp.n_states
    max_iter = max_iter or 100_000
    thresh = K.vi_threshold(epsilon, g)
    # Puterman Thm 6.5.5: start below V* with T V0 >= V0 so the iterates increase monotonically; undiscounted,
    # the values of a terminating policy are such a start (T V_pi >= T_pi V_pi = V_pi)
    if V0 is not None:
        V = _start_values(mdp, V0, term)
    elif term is None:
        V = np.full(S, mdp.R.min() / (1 - g))
    else:
        V = _evaluate(mdp, term.proper_policy, term, "auto", None)[0]
    conv = False
    sweeps = 0
    k = 0
    t0 = time.perf_counter()
    with _bar(None, "modified policy iteration", quiet) as bar:
        for k in range(1, max_iter + 1):  # noqa: B007 - k is reported after the loop
            Q = K.q_values(mdp.P, mdp.R, V, g)
            sweeps += 1
            pol = Q.argmax(0)
            V1 = Q.max(0)
            change = float(np.abs(V1 - V).max())
            bar.update(1, f"change {change:.3g}")
            V = V1
            if change < thresh:
                conv = True
                break
            P_pi = K.policy_matrix(mdp.P, pol, S)
            r_pi = K.policy_reward(mdp.R, pol)
            for _ in range(m):
                V = r_pi + g * (P_pi @ V)
            sweeps += m
    t1 = time.perf_counter()
    Q = K.q_values(mdp.P, mdp.R, V, g)
    return SolveResult(mdp, "modified_policy_iteration", Q.argmax(0), V, Q, k, sweeps, conv,
                       float(np.abs(Q.max(0) - V).max()), {"solve": t1 - t0}, info={"m": m, **_term_info(term)})


def _lp(mdp: MDP, **_: Any) -> SolveResult:
    from scipy.optimize import linprog

    term = _check_discounted(mdp, "linear programming")
    g = mdp.discount
    A, S = mdp.n_actions, mdp.n_states
    t0 = time.perf_counter()
    # V(s) >= R(s,a) + g P(.|s,a) V  for every (s, a)  <=>  (g P - E) V <= -R, E picks column s per row
    E = sp.csr_matrix((np.ones(A * S), (np.arange(A * S), np.tile(np.arange(S), A))), shape=(A * S, S))
    A_ub = (g * mdp.P - E).tocsr()
    bounds = [(None, None)] * S
    if term is not None:
        # undiscounted: V(t) >= V(t) binds nothing at a terminal state, so its value is fixed at 0
        for t in np.flatnonzero(term.terminal):
            bounds[t] = (0.0, 0.0)
    out = linprog(np.ones(S), A_ub=A_ub, b_ub=-mdp.R.reshape(-1), bounds=bounds, method="highs")
    t1 = time.perf_counter()
    if out.status != 0:
        raise ModelError(f"the linear program did not solve: {out.message}")
    V = out.x
    Q = K.q_values(mdp.P, mdp.R, V, g)
    return SolveResult(mdp, "linear_programming", Q.argmax(0), V, Q, int(getattr(out, "nit", 0)), 0, True,
                       float(np.abs(Q.max(0) - V).max()), {"setup": 0.0, "solve": t1 - t0},
                       info={"lp_message": out.message, **_term_info(term)})


def _fh(mdp: MDP, *, horizon, quiet, **_: Any) -> SolveResult:
    T = horizon if horizon is not None else mdp.horizon
    if T is None:
        raise ModelError("finite_horizon needs a horizon: pass horizon= to solve() or set MDP(horizon=...)")
    T = int(T)
    if T < 1:
        raise ModelError(f"horizon must be a positive number of epochs, found {T}")
    g = mdp.discount
    A, S = mdp.n_actions, mdp.n_states
    V = np.empty((T + 1, S))
    pol = np.empty((T, S), dtype=np.int64)
    V[T] = mdp.terminal_reward
    t0 = time.perf_counter()
    Q = None
    with _bar(T, "backward induction", quiet) as bar:
        for t in range(T - 1, -1, -1):
            Q = mdp.R + g * (mdp.P @ V[t + 1]).reshape(A, S)
            pol[t] = Q.argmax(0)
            V[t] = Q.max(0)
            bar.update(1)
    t1 = time.perf_counter()
    return SolveResult(mdp, "finite_horizon", pol, V, Q, T, T, True, 0.0, {"solve": t1 - t0},
                       info={"horizon": T})


def _rvi(mdp: MDP, *, epsilon, max_iter, V0, aperiodicity, quiet, **_: Any) -> SolveResult:
    A, S = mdp.n_actions, mdp.n_states
    tau = float(aperiodicity)
    if not 0 <= tau < 1:
        raise ModelError(f"aperiodicity must lie in [0, 1), found {aperiodicity}")
    max_iter = max_iter or 100_000
    h = np.zeros(S) if V0 is None else np.array(V0, dtype=float)
    conv = False
    span = np.inf
    k = 0
    t0 = time.perf_counter()
    with _bar(None, "relative value iteration", quiet) as bar:
        for k in range(1, max_iter + 1):  # noqa: B007 - k is reported after the loop
            # aperiodicity transform (Puterman 8.5.4): P' = tau I + (1 - tau) P, same gain and policies
            Th = (mdp.R + (1 - tau) * (mdp.P @ h).reshape(A, S) + tau * h).max(0)
            d = Th - h
            span = float(d.max() - d.min())
            bar.update(1, f"span {span:.3g}")
            h = Th - Th[0]
            if span < epsilon:
                conv = True
                break
    t1 = time.perf_counter()
    gain = float((d.max() + d.min()) / 2)
    Q = mdp.R + (1 - tau) * (mdp.P @ h).reshape(A, S) + tau * h
    return SolveResult(mdp, "relative_value_iteration", Q.argmax(0), h, Q, k, k, conv, span,
                       {"solve": t1 - t0}, gain=gain, info={"aperiodicity": tau})


_SOLVERS = {
    "value_iteration": _vi,
    "gauss_seidel": _gs,
    "policy_iteration": _pi,
    "modified_policy_iteration": _mpi,
    "linear_programming": _lp,
    "finite_horizon": _fh,
    "relative_value_iteration": _rvi,
}
