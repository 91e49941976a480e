"""Constrained MDPs: maximise discounted reward subject to expected-cost budgets, exactly, by one LP.

Altman (1999), Constrained Markov Decision Processes, ch. 3: over discounted occupancy measures
``x(s, a) = sum_t g^t P(s_t = s, a_t = a)`` the problem is the linear program

    max  sum R(s,a) x(s,a)
    s.t. sum_a x(s',a) - g sum_{s,a} P(s'|s,a) x(s,a) = mu0(s')     for every s'
         sum C_k(s,a) x(s,a) <= budget_k                          for every cost k
         x >= 0,

and the optimal policy is ``pi(a|s) = x(s,a) / sum_a x(s,a)``, randomised in at most as many states as
there are binding constraints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from probwb.errors import ModelError, ProbabilityError
from probwb.mdp.model import MDP

__all__ = ["ConstrainedResult", "solve_constrained"]


@dataclass
class ConstrainedResult:
    """Solution of a constrained MDP.

    ``policy``: DataFrame (index = states, columns = actions) of action probabilities;
    ``occupancy``: the same shape, discounted state-action occupancy ``x(s, a)``;
    ``value``: expected discounted reward from the initial distribution;
    ``constraints``: DataFrame per cost: expected cost, budget, slack, binding, shadow price
    (reward lost per unit less budget); ``randomised_states``: states where the policy mixes actions;
    ``values``: ``V_pi(s)`` per state of the returned policy.
    """

    policy: pd.DataFrame
    occupancy: pd.DataFrame
    value: float
    constraints: pd.DataFrame
    randomised_states: list[str]
    values: pd.Series
    info: dict[str, Any] = field(default_factory=dict)


def _as_cost(mdp: MDP, cost: Any, name: str) -> np.ndarray:
    S, A = mdp.n_states, mdp.n_actions
    if isinstance(cost, pd.DataFrame):
        cost = cost.reindex(index=mdp.states, columns=mdp.actions)
        if cost.isna().any().any():
            raise ModelError(f"cost {name!r} has no entry for some (state, action) pairs")
        arr = cost.to_numpy(dtype=float)
    elif isinstance(cost, dict):
        # {action: cost} -> same cost in every state
        arr = np.zeros((S, A))
        for a, c in cost.items():
            arr[:, mdp.action_index(a)] = c
    else:
        arr = np.asarray(cost, dtype=float)
        if arr.shape == (S,):
            arr = np.repeat(arr[:, None], A, axis=1)
        if arr.shape != (S, A):
            raise ModelError(f"cost {name!r} must have shape (S, A) = ({S}, {A}); found {arr.shape}")
    if not np.isfinite(arr).all():
        raise ModelError(f"cost {name!r} contains NaN or infinite values")
    return arr


def solve_constrained(
    mdp: MDP,
    costs: dict[str, Any],
    budgets: dict[str, float],
    *,
    initial: Any = None,
    per_step: bool = False,
    tol: float = 1e-7,
) -> ConstrainedResult:
    """Maximise expected discounted reward from ``initial`` subject to expected discounted cost budgets.

    ``costs`` maps a name to ``C(s, a)`` (``(S, A)`` array, DataFrame, ``(S,)`` array, or ``{action: cost}``);
    ``budgets`` maps the same names to upper bounds on ``E[sum_t g^t C(s_t, a_t)]``, or, with
    ``per_step=True``, on the normalised average ``(1 - g) E[sum_t g^t C]`` (e.g. coupons per customer per
    week). ``initial`` is a state name, a distribution (array/Series), or None (uniform). Returns a
    :class:`ConstrainedResult`; an infeasible budget raises ModelError naming the budgets.
    """
    from scipy.optimize import linprog

    g = mdp.discount
    if g >= 1:
        raise ModelError(f"the constrained MDP LP needs a discount in (0, 1); found {g}")
    S, A = mdp.n_states, mdp.n_actions
    missing = sorted(set(costs) ^ set(budgets))
    if missing:
        raise ModelError(f"costs and budgets must name the same constraints; unmatched: {missing}")
    if initial is None:
        mu0 = np.full(S, 1.0 / S)
    elif isinstance(initial, str):
        mu0 = np.zeros(S)
        mu0[mdp.state_index(initial)] = 1.0
    else:
        mu0 = initial.reindex(mdp.states).to_numpy(float) if isinstance(initial, pd.Series) else \
            np.asarray(initial, float)
        if mu0.shape != (S,) or (mu0 < 0).any() or abs(mu0.sum() - 1) > 1e-9:
            raise ProbabilityError(f"initial must be a distribution over the {S} states")
    names = list(costs)
    C = np.stack([_as_cost(mdp, costs[k], k) for k in names]) if names else np.zeros((0, S, A))
    scale = (1 - g) if per_step else 1.0
    # variables ordered like the stacked transition rows: x[a*S + s]
    E = sp.csr_matrix((np.ones(A * S), (np.arange(A * S), np.tile(np.arange(S), A))), shape=(A * S, S))
    A_eq = (E - g * mdp.P).T.tocsr()
    c = -mdp.R.reshape(-1)
    A_ub = C.transpose(0, 2, 1).reshape(len(names), A * S) * scale if names else None
    b_ub = np.array([float(budgets[k]) for k in names]) if names else None
    out = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=mu0, bounds=(0, None), method="highs")
    if out.status == 2:
        raise ModelError(f"the budgets {dict(budgets)} cannot all be met by any policy from this initial "
                         "distribution (the LP is infeasible)")
    if out.status != 0:
        raise ModelError(f"the constrained MDP LP did not solve: {out.message}")
    x = np.maximum(out.x, 0.0).reshape(A, S).T  # (S, A)
    occ = x.sum(axis=1)
    pi = np.zeros((S, A))
    visited = occ > tol * max(1.0, occ.max())
    pi[visited] = x[visited] / occ[visited, None]
    # states the optimal occupancy never reaches: any action is optimal for the objective; use the
    # unconstrained greedy one so the policy is defined everywhere
    pi[~visited, :] = 0.0
    pi[~visited, mdp.R[:, ~visited].argmax(axis=0)] = 1.0
    pi[pi < tol] = 0.0
    pi /= pi.sum(axis=1, keepdims=True)
    from probwb.mdp.policy import evaluate_policy

    values = evaluate_policy(mdp, pi)
    exp_cost = (A_ub @ out.x) if names else np.zeros(0)
    slack = b_ub - exp_cost if names else np.zeros(0)
    marg = -np.asarray(out.ineqlin.marginals) if names else np.zeros(0)
    ctab = pd.DataFrame({"expected_cost": exp_cost, "budget": b_ub if names else [], "slack": slack,
                         "binding": np.abs(slack) <= 1e-7 * np.maximum(1, np.abs(b_ub if names else [])),
                         "shadow_price": marg}, index=pd.Index(names, name="constraint"))
    st = pd.Index(mdp.states, name="state")
    ac = pd.Index(mdp.actions, name="action")
    mixed = [mdp.states[s] for s in np.flatnonzero((pi > 0).sum(axis=1) > 1)]
    return ConstrainedResult(pd.DataFrame(pi, index=st, columns=ac), pd.DataFrame(x, index=st, columns=ac),
                             float(-out.fun), ctab, mixed, values,
                             info={"lp_message": out.message, "initial": mu0, "per_step": per_step})
