"""Policies: exact evaluation (deterministic or stochastic), Monte Carlo simulation, comparison."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from probwb.core.random import RandomState, check_random_state
from probwb.errors import ModelError, ProbabilityError
from probwb.mdp import kernels as K
from probwb.mdp.model import MDP

__all__ = [
    "as_policy_array",
    "evaluate_policy",
    "simulate",
    "returns_distribution",
    "compare_policies",
    "SimulationResult",
    "sample_rows",
]


def as_policy_array(mdp: MDP, policy: Any) -> np.ndarray:
    """Return a policy as ``(S,)`` action indices or an ``(S, A)`` stochastic matrix.

    Accepts a :class:`~probwb.mdp.solvers.SolveResult`, a Series state -> action name, a DataFrame
    (index = states, columns = actions) of action probabilities, a dict, or arrays of indices / names /
    probabilities.
    """
    from probwb.mdp.solvers import SolveResult

    S, A = mdp.n_states, mdp.n_actions
    if isinstance(policy, SolveResult):
        if policy.policy_index.ndim != 1:
            raise ModelError("a finite-horizon (time-dependent) policy cannot be used as a stationary policy")
        return policy.policy_index
    if isinstance(policy, dict):
        policy = pd.Series(policy)
    if isinstance(policy, pd.Series):
        missing = [s for s in mdp.states if s not in policy.index]
        if missing:
            raise ModelError(f"the policy gives no action for state(s) {missing[:10]}")
        return np.array([mdp.action_index(policy[s]) for s in mdp.states], dtype=np.int64)
    if isinstance(policy, pd.DataFrame):
        df = policy.reindex(index=mdp.states)
        if df.isna().all(axis=1).any():
            bad = list(df.index[df.isna().all(axis=1)])[:10]
            raise ModelError(f"the stochastic policy has no row for state(s) {bad}")
        unknown = [c for c in df.columns if str(c) not in mdp.actions]
        if unknown:
            mdp.action_index(unknown[0])  # raises StateError with a suggestion
        df = df.reindex(columns=mdp.actions, fill_value=0.0).fillna(0.0)
        return _check_stochastic_policy(df.to_numpy(dtype=float), mdp)
    arr = np.asarray(policy)
    if arr.ndim == 2:
        if arr.shape != (S, A):
            raise ModelError(f"a stochastic policy must have shape (S, A) = ({S}, {A}); found {arr.shape}")
        return _check_stochastic_policy(arr.astype(float), mdp)
    if arr.shape != (S,):
        raise ModelError(f"a deterministic policy needs one action per state ({S}); found shape {arr.shape}")
    if arr.dtype.kind in "iu":
        if arr.min() < 0 or arr.max() >= A:
            raise ModelError(f"action indices must lie in [0, {A}); found {arr.min()}..{arr.max()}")
        return arr.astype(np.int64)
    return np.array([mdp.action_index(a) for a in arr], dtype=np.int64)


def _check_stochastic_policy(pi: np.ndarray, mdp: MDP) -> np.ndarray:
    if not np.isfinite(pi).all() or (pi < 0).any():
        raise ProbabilityError("a stochastic policy must have finite, non-negative action probabilities")
    sums = pi.sum(axis=1)
    bad = np.abs(sums - 1) > 1e-9
    if bad.any():
        s = int(np.argmax(bad))
        raise ProbabilityError(f"policy row for state {mdp.states[s]!r} sums to {sums[s]:.12g}; expected 1")
    return pi


def _policy_system(mdp: MDP, pol: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    return K.policy_matrix(mdp.P, pol, mdp.n_states), K.policy_reward(mdp.R, pol)


def evaluate_policy(mdp: MDP, policy: Any, *, method: str = "auto", discount: float | None = None) -> pd.Series:
    """Return the exact value ``V_pi(s)`` of a deterministic or stochastic stationary policy (Series).

    With discount 1 (episodic problems such as Sutton & Barto's Example 4.1) states that the policy
    keeps in place with zero reward are terminal (value 0) and the rest is solved on the remaining
    states; a policy that never reaches a terminal state makes the system singular and raises ModelError.
    """
    pol = as_policy_array(mdp, policy)
    g = mdp.discount if discount is None else float(discount)
    P_pi, r_pi = _policy_system(mdp, pol)
    if g < 1:
        V, _ = K.solve_policy_system(P_pi, r_pi, g, method=method)
    else:
        diag = P_pi.diagonal()
        term = (np.abs(diag - 1) < 1e-12) & (r_pi == 0)
        ok = K.policy_terminates(P_pi, term)
        if not ok.all():
            s = int(np.flatnonzero(~ok)[0])
            raise ModelError(f"undiscounted evaluation needs a policy that terminates with probability 1; from "
                             f"state {mdp.states[s]!r} it never reaches a terminal state (one the policy keeps "
                             f"in place with reward 0); {int((~ok).sum())} such state(s)")
        V, _ = K.solve_episodic_system(P_pi, r_pi, term)
    return pd.Series(V, index=pd.Index(mdp.states, name="state"), name="value")


def sample_rows(P: sp.csr_matrix, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample one column per requested row of a row-stochastic CSR matrix, vectorised; return column indices.

    Row ``r``'s cumulative probabilities are stored as ``r + cumsum`` so all rows form one sorted key and
    a single ``searchsorted`` samples every row at once.
    """
    rows = np.asarray(rows, dtype=np.int64)
    start = P.indptr[rows]
    stop = P.indptr[rows + 1]
    cum = _row_cumsum(P)
    idx = np.searchsorted(cum, rows + rng.random(len(rows)), side="right")
    idx = np.clip(idx, start, stop - 1)
    return P.indices[idx].astype(np.int64)


_CUM_CACHE: dict[int, tuple[Any, np.ndarray]] = {}


def _row_cumsum(P: sp.csr_matrix) -> np.ndarray:
    key = id(P)
    hit = _CUM_CACHE.get(key)
    if hit is not None and hit[0] is P.data:
        return hit[1]
    counts = np.diff(P.indptr)
    rowid = np.repeat(np.arange(P.shape[0]), counts)
    cs = np.cumsum(P.data)
    before = np.concatenate([[0.0], cs])[P.indptr[:-1]]
    cum = rowid + (cs - np.repeat(before, counts))
    if len(_CUM_CACHE) > 8:
        _CUM_CACHE.clear()
    _CUM_CACHE[key] = (P.data, cum)
    return cum


@dataclass
class SimulationResult:
    """Monte Carlo trajectories of a policy.

    ``trajectories``: DataFrame episode, t, state, action, reward, next_state (when ``keep_trajectories``);
    ``returns``: (n_episodes,) discounted returns; ``start_states``: (n_episodes,) state names.
    """

    trajectories: pd.DataFrame | None
    returns: np.ndarray
    start_states: np.ndarray

    def summary(self) -> pd.DataFrame:
        """Mean, standard error, quantiles of the returns (one row)."""
        r = self.returns
        q = np.quantile(r, [0.05, 0.25, 0.5, 0.75, 0.95])
        return pd.DataFrame([{"n_episodes": len(r), "mean": r.mean(), "se": r.std(ddof=1) / np.sqrt(len(r))
                              if len(r) > 1 else np.nan, "sd": r.std(ddof=1) if len(r) > 1 else np.nan,
                              "q05": q[0], "q25": q[1], "median": q[2], "q75": q[3], "q95": q[4]}])


def simulate(
    mdp: MDP,
    policy: Any,
    *,
    n_episodes: int = 1000,
    n_steps: int = 100,
    start: Any = None,
    keep_trajectories: bool = True,
    random_state: RandomState = None,
) -> SimulationResult:
    """Simulate ``n_episodes`` trajectories of ``n_steps`` under ``policy``; return a SimulationResult.

    ``start`` is a state name, a distribution over states (array or Series), or None (uniform). Rewards
    are the expected ``R(s, a)``; returns are discounted with the MDP's discount. All episodes advance
    together (vectorised).
    """
    rng = check_random_state(random_state)
    pol = as_policy_array(mdp, policy)
    S, A = mdp.n_states, mdp.n_actions
    if n_episodes < 1 or n_steps < 1:
        raise ModelError(f"n_episodes and n_steps must be positive; found {n_episodes}, {n_steps}")
    if start is None:
        s = rng.integers(0, S, size=n_episodes)
    elif isinstance(start, (str, np.str_)) or np.ndim(start) == 0:
        s = np.full(n_episodes, mdp.state_index(start))
    else:
        p0 = start.reindex(mdp.states).to_numpy(float) if isinstance(start, pd.Series) else np.asarray(start, float)
        if p0.shape != (S,) or (p0 < 0).any() or abs(p0.sum() - 1) > 1e-9:
            raise ProbabilityError(f"start must be a distribution over the {S} states")
        s = rng.choice(S, size=n_episodes, p=p0)
    s0 = s.copy()
    returns = np.zeros(n_episodes)
    disc = 1.0
    rec = [] if keep_trajectories else None
    cum_pi = np.cumsum(pol, axis=1) if pol.ndim == 2 else None
    for t in range(n_steps):
        if cum_pi is None:
            a = pol[s]
        else:
            a = (rng.random(n_episodes)[:, None] > cum_pi[s]).sum(axis=1)
            a = np.minimum(a, A - 1)
        r = mdp.R[a, s]
        ns = sample_rows(mdp.P, a * S + s, rng)
        returns += disc * r
        disc *= mdp.discount
        if rec is not None:
            rec.append((np.full(n_episodes, t), s, a, r, ns))
        s = ns
    traj = None
    if rec is not None:
        t_, s_, a_, r_, n_ = (np.concatenate(x) for x in zip(*rec, strict=True))
        ep = np.tile(np.arange(n_episodes), n_steps)
        st = np.asarray(mdp.states, dtype=object)
        ac = np.asarray(mdp.actions, dtype=object)
        traj = pd.DataFrame({"episode": ep, "t": t_, "state": st[s_], "action": ac[a_], "reward": r_,
                             "next_state": st[n_]}).sort_values(["episode", "t"], kind="stable")
        traj = traj.reset_index(drop=True)
    return SimulationResult(traj, returns, np.asarray(mdp.states, dtype=object)[s0])


def returns_distribution(mdp: MDP, policy: Any, *, start: Any = None, n_episodes: int = 2000,
                         n_steps: int | None = None, random_state: RandomState = None) -> pd.Series:
    """Return the Monte Carlo distribution of discounted returns (Series, one value per episode).

    ``n_steps`` defaults to the horizon after which the discounted tail is below 1e-6 of the reward scale.
    """
    if n_steps is None:
        n_steps = mdp.horizon or int(np.ceil(np.log(1e-6) / np.log(mdp.discount))) if mdp.discount < 1 else 100
    res = simulate(mdp, policy, n_episodes=n_episodes, n_steps=n_steps, start=start, keep_trajectories=False,
                   random_state=random_state)
    return pd.Series(res.returns, name="return")


def compare_policies(mdp: MDP, policy_a: Any, policy_b: Any, *, names: tuple[str, str] = ("a", "b"),
                     start: Any = None, n_episodes: int = 0, random_state: RandomState = None) -> pd.DataFrame:
    """Compare two policies state by state: exact values, difference, and the actions each takes.

    Returns a DataFrame indexed by state with ``value_<a>``, ``value_<b>``, ``difference`` (b - a) and
    ``action_<a>``, ``action_<b>`` (for stochastic policies, the most probable action). With
    ``n_episodes > 0`` the frame's ``attrs["monte_carlo"]`` holds a paired simulation summary from
    ``start`` (common random numbers: both policies see the same seed).
    """
    na, nb = names
    pa, pb = as_policy_array(mdp, policy_a), as_policy_array(mdp, policy_b)
    va, vb = evaluate_policy(mdp, pa), evaluate_policy(mdp, pb)
    acts = np.asarray(mdp.actions, dtype=object)

    def top(p: np.ndarray) -> np.ndarray:
        return acts[p] if p.ndim == 1 else acts[p.argmax(axis=1)]

    out = pd.DataFrame({f"value_{na}": va, f"value_{nb}": vb, "difference": vb - va,
                        f"action_{na}": top(pa), f"action_{nb}": top(pb)}, index=va.index)
    if n_episodes > 0:
        seed = int(check_random_state(random_state).integers(2**31 - 1))
        n_steps = int(np.ceil(np.log(1e-4) / np.log(mdp.discount))) if mdp.discount < 1 else 100
        ra = simulate(mdp, pa, n_episodes=n_episodes, n_steps=n_steps, start=start, keep_trajectories=False,
                      random_state=seed).returns
        rb = simulate(mdp, pb, n_episodes=n_episodes, n_steps=n_steps, start=start, keep_trajectories=False,
                      random_state=seed).returns
        d = rb - ra
        out.attrs["monte_carlo"] = {f"mean_{na}": ra.mean(), f"mean_{nb}": rb.mean(), "mean_difference": d.mean(),
                                    "se_difference": d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan,
                                    "p_b_better": float((d > 0).mean())}
    return out
