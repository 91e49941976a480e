"""Run a ``kind: hmm`` model spec: fit an HMM to a long panel, decode, forecast, compare with the truth.

::

    model:
      kind: hmm
      states: [active, at_risk, churned]
      emission: {purchases: poisson}
      id_col: customer_id
      time_col: week
      absorbing: [churned]
      inputs: [coupon]                 # optional: input-driven transitions
      input_baseline: {coupon: none}
      order_by: [purchases, mean, descending]
    fit: {n_init: 3, n_iter: 200, tol: 1.0e-6, random_state: 1}
    evaluate:
      forecast_steps: 8                # P(state within 8 steps) per entity
      forecast_state: churned
      selection: [2, 3, 4]             # number of states by BIC / held-out log-lik
      bayesian: {draws: 300, tune: 300, chains: 2, subsample: 300}
      truth: true                      # compare with the simulator's generating parameters
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.random import check_random_state, seed_from
from probwb.core.validation import check_columns, check_known_keys, check_size, short_repr
from probwb.errors import ConvergenceWarning, SpecError
from probwb.report.tables import label_intervals, order_rows

__all__ = ["SPEC_KEYS", "run_spec", "validate_spec"]

logger = logging.getLogger("probwb.hmm")

SPEC_KEYS: dict[str, dict[str, Any]] = {
    "model": {
        "kind": (str, "hmm"),
        "states": (list, "hidden state names, in the order order_by gives them"),
        "n_states": (int, "number of hidden states when they have no names"),
        "emission": ((str, dict), "{column: type}, type poisson | gaussian | categorical"),
        "columns": (list, "deprecated (warns): write emission: {column: type}"),
        "id_col": (str, "entity column of the long table"),
        "time_col": (str, "time column of the long table"),
        "inputs": ((str, list), "columns whose value at step t drives the move t -> t+1"),
        "input_baseline": (dict, "input column -> baseline level"),
        "absorbing": (list, "states that are never left"),
        "transmat_mask": (list, "S x S allowed moves (true/false)"),
        "order_by": (list, "[column, stat] or [column, stat, descending]: fixes state labels"),
    },
    "fit": {
        "n_init": (int, "EM restarts"),
        "n_iter": (int, "EM iterations per restart"),
        "tol": ((int, float), "relative tolerance: stop when the last gain and the estimated gain still to come are below tol x |total log-likelihood|"),
        "random_state": (int, "seed"),
    },
    "evaluate": {
        "forecast_steps": (int, "steps ahead for the per-entity forecast"),
        "forecast_state": (str, "state whose forecast probability is summarised (e.g. churned)"),
        "selection": (list, "candidate numbers of states for BIC / held-out comparison"),
        "bayesian": (dict, "BayesianHMM settings: draws, tune, chains, subsample (entities), init"),
        "truth": (bool, "compare fitted parameters with the simulator's truth when the data carry one"),
        "example_entity": (str, "entity whose posterior state path is plotted (default: the first)"),
    },
}


def validate_spec(spec: Mapping[str, Any]) -> None:
    """Check what key names and types cannot: states vs n_states, order_by shape, forecast_state."""
    model = spec.get("model") or {}
    if "states" not in model and "n_states" not in model:
        raise SpecError("model: give states (names) or n_states")
    ob = model.get("order_by")
    if ob is not None and len(ob) not in (2, 3):
        raise SpecError(f"model.order_by: expected [column, stat] or [column, stat, descending], found {ob!r}")
    ev = spec.get("evaluate") or {}
    states = [str(x) for x in model["states"]] if "states" in model else None
    if "n_states" in model:
        n = check_size(model["n_states"], name="model.n_states", maximum=100, error=SpecError)
        if states is not None and n != len(states):
            raise SpecError(f"model.n_states is {n} but model.states names {len(states)} states")
    n_states = len(states) if states is not None else int(model["n_states"])
    fs = ev.get("forecast_state")
    if fs is not None and states is not None:
        check_known_keys([fs], states, where="evaluate.forecast_state", what="state", log_left=False)
    if states is not None:
        check_known_keys(model.get("absorbing"), states, where="model.absorbing", what="state", log_left=False)
    inputs = model.get("inputs")
    inputs = [inputs] if isinstance(inputs, str) else [str(x) for x in inputs or []]
    check_known_keys(model.get("input_baseline"), inputs, where="model.input_baseline", what="input column",
                     default="the most common level", logger=logger)
    emission = model.get("emission")
    if isinstance(emission, Mapping):
        from probwb.hmm.emissions import EMISSIONS

        for col, kind in emission.items():
            check_known_keys([kind], list(EMISSIONS), where=f"model.emission.{col}", what="emission type",
                             log_left=False)
        if ob is not None:
            check_known_keys([ob[0]], [str(c) for c in emission], where="model.order_by[0]",
                             what="emission column", log_left=False)
    elif isinstance(emission, str):
        from probwb.hmm.emissions import EMISSIONS

        check_known_keys([emission], list(EMISSIONS), where="model.emission", what="emission type",
                         log_left=False)
    if "transmat_mask" in model:
        _check_mask(model["transmat_mask"], n_states)
    for key in ("n_init", "n_iter"):
        if key in (spec.get("fit") or {}):
            check_size(spec["fit"][key], name=f"fit.{key}", maximum=100_000, error=SpecError)
    if "forecast_steps" in ev:
        check_size(ev["forecast_steps"], name="evaluate.forecast_steps", maximum=10_000, error=SpecError)


def _check_mask(mask: Any, n_states: int) -> None:
    """A transmat_mask must be an S x S table of true/false (a ragged or wrongly sized one is refused)."""
    rows = mask if isinstance(mask, list) else None
    if rows is None or len(rows) != n_states or any(not isinstance(r, list) or len(r) != n_states for r in rows):
        shape = [len(r) if isinstance(r, list) else short_repr(r) for r in rows] if rows is not None else None
        raise SpecError(f"model.transmat_mask must be {n_states} rows of {n_states} true/false values (one row "
                        f"per state), found {len(rows) if rows is not None else short_repr(mask)} rows of "
                        f"lengths {shape}")
    for i, r in enumerate(rows):
        for j, x in enumerate(r):
            if not isinstance(x, bool) and x not in (0, 1):
                raise SpecError(f"model.transmat_mask[{i}][{j}] must be true or false, found {short_repr(x)}")


def _build(model: Mapping[str, Any], fit: Mapping[str, Any], random_state: Any) -> Any:
    from probwb.hmm import HMM

    kw: dict[str, Any] = {k: v for k, v in model.items() if k not in ("kind", "states", "order_by")}
    if "states" in model:
        kw["state_names"] = list(model["states"])
    if model.get("order_by") is not None:
        kw["order_by"] = tuple(model["order_by"])
    if "transmat_mask" in kw:
        kw["transmat_mask"] = np.asarray(kw["transmat_mask"], dtype=bool)
    for k in ("n_init", "n_iter", "tol"):
        if k in fit:
            kw[k] = fit[k]
    kw["random_state"] = random_state
    return HMM(**kw)


def _truth_tables(truth: Mapping[str, Any], est: Any, model: Mapping[str, Any]) -> tuple[dict[str, pd.DataFrame],
                                                                                      list[str]]:
    """Side-by-side fitted vs true transition matrices for the simulators' known HMMs."""
    hm = truth.get("hmm", truth)
    if "transmat" not in hm or "states" not in hm:
        return {}, []
    states = list(hm["states"])
    if states != list(est.state_names_):
        return {}, [f"truth comparison skipped: true states {states} differ from the model's {est.state_names_}"]
    tables: dict[str, pd.DataFrame] = {}
    text: list[str] = []
    mats = hm["transmat"] if isinstance(hm["transmat"], Mapping) else {"all": hm["transmat"]}
    inputs = model.get("inputs")
    col = (inputs if isinstance(inputs, str) else inputs[0]) if inputs else None
    worst = 0.0
    for level, true in mats.items():
        if col is None and len(mats) > 1:
            continue
        fitted = est.transmat_for({col: level}) if col else est.transmat_
        rows = []
        for i, a in enumerate(states):
            for j, b in enumerate(states):
                rows.append({"from": a, "to": b, "fitted": fitted[i, j], "true": float(true[i, j]),
                             "difference": fitted[i, j] - float(true[i, j])})
        frame = pd.DataFrame(rows)
        worst = max(worst, float(frame["difference"].abs().max()))
        tables[f"Transitions vs truth ({col}={level})" if col else "Transitions vs truth"] = frame
    if tables:
        text.append(f"The largest gap between a fitted and a true transition probability is {worst:.3f}.")
    return tables, text


_TRANS_FROM = re.compile(r"^trans_from_(?P<state>.+?)(?:\[(?P<level>[^\]]*)\])?\[(?P<k>\d+)\]$")


def readable_diagnostics(bayes: Any, input_col: str | None = None) -> Any:
    """Return ``bayes.diagnostics_`` with parameters named by their states: ``trans_from_active[20%][0]`` (the
    first allowed move out of ``active`` under input level ``20%``) becomes ``P(active -> active | coupon=20%)``.
    The reasons are rewritten with the same names."""
    import dataclasses

    diag = bayes.diagnostics_
    trans = bayes.idata_.posterior["transmat"]
    levels = [str(v) for v in trans.coords["input_level"].values]
    states = [str(v) for v in trans.coords["from_state"].values]
    # allowed moves of each row: the destinations whose probability is not fixed at zero in every draw
    allowed = np.asarray((trans != 0).any(("chain", "draw")))
    names: dict[str, str] = {}
    for label in map(str, diag.table.index):
        m = _TRANS_FROM.match(label)
        if m is None or m["state"] not in states:
            continue
        i, lv = states.index(m["state"]), levels.index(m["level"]) if m["level"] in levels else 0
        dest = np.flatnonzero(allowed[lv, i])
        k = int(m["k"])
        if k >= dest.size:
            continue
        given = f" | {input_col}={m['level']}" if m["level"] is not None and input_col else ""
        names[label] = f"P({m['state']} -> {states[dest[k]]}{given})"
    if not names:
        return diag
    table = diag.table.rename(index=names)
    reasons = list(diag.reasons)
    for old, new in sorted(names.items(), key=lambda kv: -len(kv[0])):
        reasons = [r.replace(old, new) for r in reasons]
    return dataclasses.replace(diag, table=table, reasons=reasons)


def run_spec(spec: Mapping[str, Any], *, quick: bool = False, random_state: Any = None) -> dict[str, Any]:
    """Fit the spec's HMM and return the report dict (model, summary, tables, figures, metrics, text)."""
    from probwb.hmm.plots import plot_state_diagram, plot_state_posteriors
    from probwb.report.data import load_data

    validate_spec(spec)
    if "data" not in spec:
        raise SpecError("data is missing: an hmm spec needs a data: section")
    model = dict(spec.get("model") or {})
    fit = dict(spec.get("fit") or {})
    ev = dict(spec.get("evaluate") or {})
    rng = check_random_state(fit.get("random_state", random_state))
    loaded = load_data(spec["data"])
    frame = loaded.frame
    if frame is None:
        raise SpecError(f"data: choose a table with data.table ({', '.join(loaded.tables)})")
    id_col = model.get("id_col", "id")
    inputs = model.get("inputs")
    needed = [id_col, model.get("time_col", "time")] + ([inputs] if isinstance(inputs, str) else list(inputs or []))
    needed += list(model["emission"]) if isinstance(model.get("emission"), Mapping) else list(model.get("columns") or [])
    check_columns(frame, list(dict.fromkeys(needed)), name="data")
    if ev.get("example_entity") is not None:
        check_known_keys([str(ev["example_entity"])], pd.unique(frame[id_col].astype(str)),
                         where="evaluate.example_entity", what="entity", log_left=False)
    if quick:
        ents = pd.unique(frame[id_col])
        if len(ents) > 400:
            keep = rng.choice(ents, 400, replace=False)
            frame = frame[frame[id_col].isin(keep)]
        fit["n_init"] = min(int(fit.get("n_init", 5)), 2)
        fit["n_iter"] = min(int(fit.get("n_iter", 100)), 60)

    warns: list[str] = []
    est = _build(model, fit, seed_from(rng))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        est.fit(frame)
    warns += [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]

    names = list(est.state_names_)
    tables: dict[str, pd.DataFrame] = {"Transition matrix" + (" (baseline input)" if model.get("inputs") else ""):
                                       est.transmat_frame().reset_index()}
    inputs = model.get("inputs")
    if inputs:
        col = inputs if isinstance(inputs, str) else inputs[0]
        for level in est._encoder.levels_.get(col) or []:
            if level != est._encoder.baseline_.get(col):
                tables[f"Transition matrix ({col}={level})"] = est.transmat_frame({col: level}).reset_index()
    for col, probs in est.emission_probs_.items():
        tables[f"Emission probabilities: {col}"] = probs.reset_index(names="state")
    for col, rates in est.rates_.items():
        tables[f"Poisson rates: {col}"] = pd.DataFrame({"state": names, "rate": rates.to_numpy()})
    for col, means in est.means_.items():
        tables[f"Gaussian emission: {col}"] = pd.DataFrame({"state": names, "mean": means.to_numpy(),
                                                            "sd": np.sqrt(est.covars_[col].to_numpy())})

    text: list[str] = []
    metrics: dict[str, float] = {"loglik": est.loglik_, "loglik_per_observation": est.loglik_ / est.n_obs_,
                                 "aic": est.aic(), "bic": est.bic(), "em_iterations": float(est.n_iter_)}

    steps = int(ev.get("forecast_steps", 8))
    target = ev.get("forecast_state", names[-1])
    fc = est.forecast(frame, steps=steps)
    horizon = fc[fc["step"] == steps].set_index(id_col)
    decoded = est.predict(frame)
    last_rows = frame.assign(_state=decoded.astype(str).to_numpy()).sort_values([id_col, est.time_col])
    last_state = last_rows.groupby(id_col, observed=True)["_state"].last()
    by_state = horizon[target].groupby(last_state.reindex(horizon.index).to_numpy()).agg(["mean", "count"])
    # the model's state order (mild, moderate, severe), not the text order groupby gives
    by_state = by_state.reindex([n for n in names if n in by_state.index])
    by_state.index.name = "current state (Viterbi)"
    tables[f"P({target} within {steps} steps) by current state"] = by_state.reset_index()
    share = last_state.value_counts(normalize=True).reindex(names).fillna(0.0)
    tables["Current state of entities (Viterbi, last step)"] = pd.DataFrame({"state": names, "share": share.to_numpy()})
    if "at_risk" in by_state.index or len(by_state) > 1:
        for s, row in by_state.iterrows():
            text.append(f"P({target} within {steps} steps) for entities now {s} is {row['mean']:.2f} "
                        f"({int(row['count'])} entities).")
    metrics[f"mean_P_{target}_within_{steps}"] = float(horizon[target].mean())

    if ev.get("truth", True) and hasattr(loaded.obj, "truth"):
        t_tables, t_text = _truth_tables(loaded.obj.truth, est, model)
        tables.update(t_tables)
        text += t_text

    if ev.get("selection"):
        from probwb.hmm.selection import select_n_states

        opts = {k: v for k, v in _build(model, fit, 0).__dict__.items()
                if k not in ("n_states", "state_names", "absorbing", "transmat_mask", "startprob", "transmat")}
        opts["order_by"] = opts.get("order_by")
        cands = [int(k) for k in ev["selection"]][: 2 if quick else None]
        sel = select_n_states(frame, cands, **opts)
        tables["Number of states: BIC and held-out log-likelihood"] = sel.reset_index()
        text.append(f"BIC prefers {int(sel['bic'].idxmin())} states; held-out log-likelihood per step prefers "
                    f"{int(sel['heldout_loglik_per_step'].idxmax())}.")

    figures: dict[str, Any] = {}
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    plot_state_diagram(est, ax=ax)
    figures["State diagram"] = fig
    entity = ev.get("example_entity", frame[id_col].iloc[0])
    fig2, ax2 = plt.subplots(figsize=(8, 3.5))
    first_col = next(iter(est._emissions))
    plot_state_posteriors(est, frame, entity, observed=first_col if est._emissions[first_col].kind != "categorical"
                          else None, ax=ax2)
    fig2.tight_layout()
    figures[f"Posterior states of {entity}"] = fig2

    out: dict[str, Any] = {"model": est, "summary": est.summary(), "tables": tables, "figures": figures,
                           "metrics": metrics, "text": text, "warnings": warns}

    if ev.get("bayesian"):
        from probwb.hmm.bayes import BayesianHMM

        b = dict(ev["bayesian"])
        sub = frame
        n_sub = int(b.pop("subsample", 300))
        if quick:
            # PyMC's NUTS on this Op costs ~1 ms a gradient and an untuned chain uses hundreds per draw: a quick
            # run samples a few entities briefly so the section renders (its diagnostics are marked quick)
            n_sub = min(n_sub, 40)
            b["draws"], b["tune"] = min(int(b.get("draws", 300)), 40), min(int(b.get("tune", 300)), 40)
            b["target_accept"] = min(float(b.get("target_accept", 0.9)), 0.8)
        ents = pd.unique(frame[id_col])
        if len(ents) > n_sub:
            sub = frame[frame[id_col].isin(rng.choice(ents, n_sub, replace=False))]
        inp = model.get("inputs")
        bayes = BayesianHMM(state_names=names, emission=model.get("emission", "poisson"),
                            columns=model.get("columns"), id_col=id_col, time_col=est.time_col,
                            inputs=(inp if isinstance(inp, str) or inp is None else inp[0]),
                            absorbing=model.get("absorbing"), order_by=model.get("order_by"),
                            random_state=seed_from(rng), **b)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bayes.fit(sub)
        sampler_warns = [str(w.message) for w in caught if w.category.__module__.startswith("probwb")]
        summ = bayes.transmat_summary(0.9)
        tables["Bayesian transition probabilities (90% intervals)"] = label_intervals(
            order_rows(summ, "input_level"), 0.9, "CrI")
        out["bayes_model"] = bayes
        if bayes.diagnostics_ is not None:
            readable = readable_diagnostics(bayes, bayes.inputs if isinstance(bayes.inputs, str)
                                            or bayes.inputs is None else bayes.inputs[0])
            out["diagnostics"] = readable
            # the sampler's own warning names parameters by their array positions; restate it with the state
            # names the banner uses, so the report neither shows internal ids nor says the same thing twice
            verdict_msg = f"MCMC diagnostics verdict {readable.verdict!r}: " + "; ".join(readable.reasons)
            sampler_warns = [verdict_msg if w.startswith("MCMC diagnostics verdict") else w for w in sampler_warns]
        warns += sampler_warns
        movable = summ[summ["from_state"] != summ["to_state"]]
        if len(movable):
            top = movable.sort_values("mean", ascending=False).iloc[0]
            text.append(f"Posterior P({top['from_state']} -> {top['to_state']}) = {top['mean']:.3f} "
                        f"(90% interval {top['lower']:.3f} to {top['upper']:.3f}, {len(pd.unique(sub[id_col]))} "
                        "entities).")
    return out
