"""Run a ``kind: mdp`` model spec: learn an MDP from logged panel data, solve it, and quantify how sure we are.

The data table is a long panel (one row per entity and time step) with a state column and an action column;
each row with a following row of the same entity becomes one logged transition. The reward of a row is

    sum of reward_terms  +  state_reward[state]  -  action_cost[action]

where each reward term is ``scale * column`` (times another column with ``times``; only on rows whose action
is in ``actions`` when given; missing values count as 0)::

    model:
      kind: mdp
      entity: customer_id
      time: week
      state: state
      action: coupon
      states: [active, at_risk, churned]
      actions: ["none", "10%", "20%"]
      discount: 0.95
      reward_terms:
        - {column: spend, scale: 0.3}
        - {column: spend, times: redeemed, scale: -0.10, actions: ["10%"]}
      constraints: {coupons: {cost: {"10%": 1, "20%": 1}, budget: 0.3, per_step: true}}
    fit: {method: bayes, prior: 1.0, solver: policy_iteration, n_posterior: 400, random_state: 1}
    evaluate: {n_episodes: 2000, n_steps: 52, baselines: ["none", "20%"], start: active}
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.random import check_random_state
from probwb.core.validation import check_columns, check_known_keys, short_repr
from probwb.errors import SpecError
from probwb.report.tables import label_intervals

__all__ = ["SPEC_KEYS", "run_spec", "validate_spec", "panel_to_transitions", "check_names"]

logger = logging.getLogger("probwb.mdp")

SPEC_KEYS: dict[str, dict[str, Any]] = {
    "model": {
        "kind": (str, "mdp"),
        "entity": (str, "column identifying the entity (customer, patient) of each panel row"),
        "time": (str, "column ordering the rows of one entity"),
        "state": (str, "column with the state name"),
        "action": (str, "column with the action name"),
        "states": (list, "state names in order (default: from the data)"),
        "actions": (list, "action names in order (default: from the data)"),
        "discount": (float, "discount factor in (0, 1)"),
        "reward_terms": (list, "terms {column, scale, times, actions} summed into the reward"),
        "state_reward": (dict, "state -> reward added in that state"),
        "action_cost": (dict, "action -> cost subtracted when it is taken"),
        "constraints": (dict, "name -> {cost: {action: cost} or {state: {action: cost}}, budget, per_step}"),
    },
    "fit": {
        "method": (str, "ml or bayes (Dirichlet posterior mean)"),
        "prior": ((int, float), "Dirichlet concentration per next state"),
        "unseen": (str, "never-logged (state, action) pairs: stay, prior or error"),
        "solver": (str, "a probwb.mdp.solve method (default policy_iteration)"),
        "n_posterior": (int, "MDPs sampled from the posterior to get P(action optimal)"),
        "random_state": (int, "seed"),
    },
    "evaluate": {
        "n_episodes": (int, "Monte Carlo episodes per policy"),
        "n_steps": (int, "steps per episode"),
        "baselines": (list, "actions whose always-take-it policy is compared with the optimal one"),
        "start": (str, "start state for simulations and the headline value (default: empirical first states)"),
    },
}


def validate_spec(spec: Mapping[str, Any]) -> None:
    """Check what key names and types cannot: required columns, the discount, the method names."""
    model = spec.get("model") or {}
    for key in ("entity", "time", "state", "action"):
        if key not in model:
            raise SpecError(f"model.{key} is missing: an mdp spec needs entity, time, state and action columns")
    g = model.get("discount", 0.95)
    if not isinstance(g, (int, float)) or not 0 < float(g) < 1:
        raise SpecError(f"model.discount must be a number in (0, 1), found {g!r}")
    for i, term in enumerate(model.get("reward_terms") or []):
        if not isinstance(term, Mapping) or "column" not in term:
            raise SpecError(f"model.reward_terms[{i}] must be a mapping with a column, found {term!r}")
        unknown = set(term) - {"column", "scale", "times", "actions"}
        if unknown:
            raise SpecError(f"model.reward_terms[{i}]: unknown key(s) {sorted(unknown)}; "
                            "valid: column, scale, times, actions")
    for name, c in (model.get("constraints") or {}).items():
        if not isinstance(c, Mapping) or "cost" not in c or "budget" not in c:
            raise SpecError(f"model.constraints.{name} needs cost and budget, found {short_repr(c)}")
        check_known_keys(c, ("cost", "budget", "per_step"), where=f"model.constraints.{name}", log_left=False)
    # with the state and action names in the spec, every name-keyed setting is checked before any data load
    if model.get("states") or model.get("actions"):
        check_names(model, spec.get("evaluate") or {},
                    [str(x) for x in model["states"]] if model.get("states") else None,
                    [str(x) for x in model["actions"]] if model.get("actions") else None)
    fit = spec.get("fit") or {}
    if fit.get("method", "bayes") not in ("ml", "bayes"):
        raise SpecError(f"fit.method must be 'ml' or 'bayes', found {fit.get('method')!r}")
    from probwb.mdp.solvers import _ALIASES, METHODS

    solver = fit.get("solver", "policy_iteration")
    if solver not in METHODS and solver not in _ALIASES:
        raise SpecError(f"fit.solver: unknown method {solver!r}; choose one of {list(METHODS)}")


def check_names(model: Mapping[str, Any], evaluate: Mapping[str, Any], states: list[str] | None,
                actions: list[str] | None) -> None:
    """Check every state- or action-keyed setting of an mdp spec against the known names.

    ``state_reward`` keys must be states, ``action_cost`` keys actions, a reward term's ``actions`` and
    ``evaluate.baselines`` actions, ``evaluate.start`` a state, and a constraint's ``cost`` is keyed by
    action or by state then action. An unknown name raises SpecError with the nearest valid one (a
    misspelt state would otherwise get reward 0 and can flip the policy); names left out are logged.
    ``None`` skips the checks of that kind (names not known yet).
    """
    if states is not None:
        check_known_keys(model.get("state_reward"), states, where="model.state_reward", what="state",
                         default=0.0, logger=logger)
        if evaluate.get("start") is not None:
            check_known_keys([str(evaluate["start"])], states, where="evaluate.start", what="state",
                             log_left=False)
    if actions is not None:
        check_known_keys(model.get("action_cost"), actions, where="model.action_cost", what="action",
                         default=0.0, logger=logger)
        for i, term in enumerate(model.get("reward_terms") or []):
            if isinstance(term, Mapping) and "actions" in term:
                check_known_keys([str(a) for a in term["actions"]], actions,
                                 where=f"model.reward_terms[{i}].actions", what="action", log_left=False)
        check_known_keys([str(b) for b in evaluate.get("baselines") or []], actions,
                         where="evaluate.baselines", what="action", log_left=False)
    for name, c in (model.get("constraints") or {}).items():
        cost = c.get("cost") if isinstance(c, Mapping) else None
        if not isinstance(cost, Mapping):
            raise SpecError(f"model.constraints.{name}.cost must be a mapping action -> cost or "
                            f"state -> {{action: cost}}, found {short_repr(cost)}")
        nested = [k for k, v in cost.items() if isinstance(v, Mapping)]
        if nested:
            if states is not None:
                check_known_keys(nested, states, where=f"model.constraints.{name}.cost", what="state",
                                 log_left=False)
            if actions is not None:
                for k in nested:
                    check_known_keys(cost[k], actions, where=f"model.constraints.{name}.cost.{k}",
                                     what="action", default=0.0, logger=logger)
        elif actions is not None:
            check_known_keys(cost, actions, where=f"model.constraints.{name}.cost", what="action",
                             default=0.0, logger=logger)


def panel_to_transitions(frame: pd.DataFrame, model: Mapping[str, Any]) -> pd.DataFrame:
    """Turn a long panel into logged transitions: DataFrame state, action, reward, next_state (+ entity, time)."""
    ent, time_, st, act = model["entity"], model["time"], model["state"], model["action"]
    terms = list(model.get("reward_terms") or [])
    needed = [ent, time_, st, act] + [t["column"] for t in terms] + [t["times"] for t in terms if "times" in t]
    check_columns(frame, list(dict.fromkeys(needed)), name="data")
    df = frame.sort_values([ent, time_], kind="stable").reset_index(drop=True)
    action = df[act].astype(str)
    state = df[st].astype(str)
    states = [str(x) for x in model["states"]] if model.get("states") else sorted(pd.unique(state.dropna()))
    actions = [str(x) for x in model["actions"]] if model.get("actions") else sorted(pd.unique(action.dropna()))
    check_names(model, {}, states, actions)
    reward = np.zeros(len(df))
    for t in terms:
        val = df[t["column"]].to_numpy(dtype=float)
        if "times" in t:
            val = val * df[t["times"]].to_numpy(dtype=float)
        val = np.nan_to_num(val, nan=0.0) * float(t.get("scale", 1.0))
        if "actions" in t:
            val = np.where(action.isin([str(a) for a in t["actions"]]).to_numpy(), val, 0.0)
        reward += val
    if model.get("state_reward"):
        reward += state.map({str(k): float(v) for k, v in model["state_reward"].items()}).fillna(0.0).to_numpy()
    if model.get("action_cost"):
        reward -= action.map({str(k): float(v) for k, v in model["action_cost"].items()}).fillna(0.0).to_numpy()
    ents = df[ent].astype(str).to_numpy()
    same = np.r_[ents[1:] == ents[:-1], False]
    out = pd.DataFrame({"entity": ents, "time": df[time_].to_numpy(), "state": state.to_numpy(),
                        "action": action.to_numpy(), "reward": reward,
                        "next_state": np.r_[state.to_numpy()[1:], [""]]})
    return out[same].reset_index(drop=True)


def _constraint_costs(mdp: Any, cost: Mapping[str, Any]) -> np.ndarray:
    C = np.zeros((mdp.n_states, mdp.n_actions))
    for k, v in cost.items():
        if isinstance(v, Mapping):  # state -> {action: cost}
            for a, c in v.items():
                C[mdp.state_index(k), mdp.action_index(a)] = float(c)
        else:
            C[:, mdp.action_index(k)] = float(v)
    return C


def run_spec(spec: dict[str, Any], *, quick: bool = False, random_state: Any = None) -> dict[str, Any]:
    """Learn, solve and evaluate the spec's MDP; return the report dict.

    Keys: ``model`` (the fitted :class:`~probwb.mdp.learn.MDPEstimator`; its ``mdp_`` is the point
    estimate), ``data`` (the logged transitions), ``summary`` (per state: optimal action, value, posterior
    P(optimal), credible interval), ``tables`` (transitions, rewards, posterior action probabilities, value
    posterior, policy comparison, constraints), ``figures``, ``metrics``, ``text``, ``warnings``.
    ``quick`` uses at most 500 entities and fewer posterior samples and episodes.
    """
    import matplotlib.pyplot as plt

    from probwb.mdp import plots
    from probwb.mdp.constrained import solve_constrained
    from probwb.mdp.learn import MDPEstimator
    from probwb.mdp.policy import compare_policies, simulate
    from probwb.mdp.solvers import solve
    from probwb.report.data import load_data

    validate_spec(spec)
    if "data" not in spec:
        raise SpecError("data is missing: an mdp spec needs a data: section")
    model = dict(spec.get("model") or {})
    fit = dict(spec.get("fit") or {})
    ev = dict(spec.get("evaluate") or {})
    rng = check_random_state(fit.get("random_state", random_state))
    loaded = load_data(spec["data"])
    frame = loaded.frame
    if frame is None:
        raise SpecError(f"data: choose a table with data.table ({', '.join(loaded.tables)})")
    if quick:
        ents = pd.unique(frame[model["entity"]])
        if len(ents) > 500:
            keep = rng.choice(ents, 500, replace=False)
            frame = frame[frame[model["entity"]].isin(keep)]
    logs = panel_to_transitions(frame, model)
    g = float(model.get("discount", 0.95))
    n_post = int(fit.get("n_posterior", 400))
    n_post = min(n_post, 100) if quick else n_post
    n_ep = int(ev.get("n_episodes", 2000))
    n_ep = min(n_ep, 300) if quick else n_ep
    n_steps = int(ev.get("n_steps", 52))
    figures: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = MDPEstimator(g, method=fit.get("method", "bayes"), prior=float(fit.get("prior", 1.0)),
                           unseen=fit.get("unseen", "stay"), states=model.get("states"),
                           actions=model.get("actions")).fit(logs)
        mdp = est.mdp_
        check_names({}, ev, [str(x) for x in mdp.states], [str(x) for x in mdp.actions])
        res = solve(mdp, fit.get("solver", "policy_iteration"))
        post = est.policy_posterior(n_post, random_state=rng)
        probs = post.action_probabilities()
        vs = post.value_summary()
        summary = pd.DataFrame({"state": mdp.states, "optimal_action": res.policy.to_numpy(),
                                "value": res.values.to_numpy(),
                                "p_optimal": [probs.loc[s, a] for s, a in zip(mdp.states, res.policy, strict=True)],
                                "value_q05": vs["q05"].to_numpy(), "value_q95": vs["q95"].to_numpy(),
                                "visits": est.n_.sum(axis=0)})
        tables["transitions (point estimate)"] = est.transition_table()
        tables["expected reward R(s, a)"] = mdp.rewards_frame().reset_index()
        tables["Q(s, a) at the optimum"] = res.Q.reset_index()
        tables["P(action is optimal) over the posterior"] = probs.reset_index()
        tables["posterior of the optimal value"] = label_intervals(vs.reset_index(), 0.9, "CrI")
        start = ev.get("start")
        if start is None:
            first = frame.sort_values([model["entity"], model["time"]]).groupby(model["entity"], observed=True)
            counts = first[model["state"]].first().astype(str).value_counts()
            init = counts.reindex(mdp.states, fill_value=0).to_numpy(float)
            init = init / init.sum()
        else:
            init = str(start)
        sims = {"optimal": simulate(mdp, res, n_episodes=n_ep, n_steps=n_steps, start=init,
                                    keep_trajectories=False, random_state=rng).returns}
        metrics: dict[str, float] = {"mean_return_optimal": float(sims["optimal"].mean())}
        for b in ev.get("baselines") or []:
            b = str(b)
            cmp = compare_policies(mdp, [b] * mdp.n_states, res, names=(f"always_{b}", "optimal"))
            tables[f"optimal vs always {b!r}"] = cmp.reset_index()
            sims[f"always {b}"] = simulate(mdp, [b] * mdp.n_states, n_episodes=n_ep, n_steps=n_steps,
                                           start=init, keep_trajectories=False, random_state=rng).returns
            metrics[f"mean_return_always_{b}"] = float(sims[f"always {b}"].mean())
        for name, c in (model.get("constraints") or {}).items():
            cres = solve_constrained(mdp, {name: _constraint_costs(mdp, c["cost"])}, {name: float(c["budget"])},
                                     initial=init, per_step=bool(c.get("per_step", False)))
            tables[f"constrained policy ({name})"] = cres.policy.reset_index()
            tables[f"constraint {name}"] = cres.constraints.reset_index()
            metrics[f"constrained_value_{name}"] = cres.value
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        plots.plot_policy_posterior(post, ax=ax)
        fig.tight_layout()
        figures["P(action optimal) per state"] = fig
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        plots.plot_value_posterior(post, ax=ax)
        fig.tight_layout()
        figures["posterior of the optimal value"] = fig
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        plots.plot_returns(sims, ax=ax)
        ax.set_title("simulated discounted returns")
        fig.tight_layout()
        figures["return distributions"] = fig
    warns = [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
    unsure = summary[summary["p_optimal"] < 0.8]
    text = (f"Learned a {mdp.n_states}-state, {mdp.n_actions}-action MDP from {len(logs):,} logged transitions "
            f"(discount {g}). Optimal policy: " + ", ".join(f"{s} -> {a}" for s, a in res.policy.items()) + ". "
            + (f"Less than 80% posterior certainty in: {', '.join(unsure['state'])}." if len(unsure) else
               "Every state's optimal action has at least 80% posterior probability."))
    metrics["n_transitions"] = float(len(logs))
    # value_q05 / value_q95 bound the 90% credible interval of the value over the posterior of MDPs
    return {"model": est, "data": logs, "summary": label_intervals(summary, 0.9, "CrI"), "tables": tables, "figures": figures,
            "metrics": metrics, "text": text, "warnings": warns}
