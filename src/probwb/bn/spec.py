"""Run a ``kind: bn`` model spec: learn a network from the spec's data and collect what the report shows.

A spec (see docs/CONTRACTS.md and models/README.md) gives the data and, under ``model:``, either a fixed
``structure`` (node -> parents) or ``learn_structure`` settings; ``fit:`` sets parameter learning and
``evaluate:`` a held-out evaluation of one target::

    model:
      kind: bn
      structure: {age_band: [], diabetes: [age_band], readmitted: [age_band, diabetes]}
      query: {variables: readmitted, evidence: {age_band: "70+"}}
      effects: [{treatment: treatment, outcome: readmitted, outcome_state: "1",
                 treated: intensive, control: standard}]
    fit: {method: bayes, prior: BDeu, equivalent_sample_size: 10}
    evaluate: {target: readmitted, n_splits: 5}
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from probwb.bn.network import BayesNet
from probwb.bn.structure import structural_hamming_distance
from probwb.core.random import check_random_state
from probwb.core.validation import check_known_keys, short_repr
from probwb.errors import SpecError
from probwb.report.tables import label_intervals

__all__ = ["SPEC_KEYS", "run_spec", "validate_spec", "check_node_names"]

logger = logging.getLogger("probwb.bn")

SPEC_KEYS: dict[str, dict[str, Any]] = {
    "model": {
        "kind": (str, "bn"),
        "nodes": (list, "data columns that become nodes (default: the nodes of structure)"),
        "structure": (dict, "fixed structure: node -> list of parents"),
        "learn_structure": (dict, "structure learning: method (hill_climb|pc), score (bic|bdeu|k2|aic), "
                                  "required, forbidden (lists of [parent, child]), tiers, max_indegree"),
        "reference": (dict, "a structure (node -> parents) to compare a learned one with"),
        "states": (dict, "node -> list of state names (default: from the data)"),
        "latent": (list, "nodes absent from the data, learned by EM (give their states)"),
        "query": (dict, "an example query: variables, evidence, do"),
        "effects": (list, "average causal effects: treatment, outcome, outcome_state, treated, control"),
    },
    "fit": {
        "method": (str, "mle or bayes"),
        "prior": ((str, int, float), "BDeu, K2 or a pseudo-count per cell"),
        "equivalent_sample_size": ((int, float), "BDeu equivalent sample size"),
        "max_iter": (int, "EM iterations"),
        "tol": (float, "EM relative tolerance"),
        "n_init": (int, "EM restarts"),
        "n_posterior_draws": (int, "with method bayes and missing cells or latent nodes: CPT draws of the "
                                   "data-augmentation sampler kept for credible intervals (default 1000)"),
        "interval": (float, "credible-interval mass for the example query (method: bayes)"),
        "random_state": (int, "seed"),
    },
    "evaluate": {
        "target": (str, "node to predict"),
        "n_splits": (int, "cross-validation folds"),
        "metrics": (list, "probwb.evaluate metric names (default log_loss, brier)"),
    },
}


def validate_spec(spec: Mapping[str, Any]) -> None:
    """Check the parts of a bn spec that key names and types cannot: a structure source, known nodes."""
    model = spec.get("model") or {}
    if "structure" in model and "learn_structure" in model:
        raise SpecError("model: give either structure or learn_structure, not both")
    if "structure" not in model and "learn_structure" not in model:
        raise SpecError("model: a bn spec needs structure (node -> parents) or learn_structure")
    if "structure" in model:
        for node, pas in model["structure"].items():
            if not isinstance(pas, list):
                raise SpecError(f"model.structure.{node} must be a list of parents, found {pas!r}")
    method = (spec.get("fit") or {}).get("method", "mle")
    if method not in ("mle", "bayes"):
        raise SpecError(f"fit.method must be 'mle' or 'bayes', found {short_repr(method)}")
    if "learn_structure" in model:
        check_known_keys(model["learn_structure"], _LEARN_KEYS, where="model.learn_structure", log_left=False)
    query = model.get("query")
    if query is not None:
        check_known_keys(query, ("variables", "evidence", "do"), where="model.query", log_left=False)
        if "variables" not in query:
            raise SpecError("model.query.variables is missing: name the node(s) to query")
    for i, eff in enumerate(model.get("effects") or []):
        check_known_keys(eff, _EFFECT_KEYS, where=f"model.effects[{i}]", log_left=False)
        missing = [k for k in _EFFECT_KEYS if k not in eff]
        if missing:
            raise SpecError(f"model.effects[{i}] is missing {', '.join(missing)}; an effect needs "
                            f"{', '.join(_EFFECT_KEYS)}")
    check_node_names(spec)


_LEARN_KEYS = ("method", "score", "required", "forbidden", "tiers", "max_indegree")
_EFFECT_KEYS = ("treatment", "outcome", "outcome_state", "treated", "control")


def check_node_names(spec: Mapping[str, Any]) -> None:
    """Check every node-keyed or node-naming setting of a bn spec against the spec's nodes.

    The nodes are ``model.nodes`` and, with a fixed ``structure``, its keys and parents, plus ``latent``.
    ``states``, ``reference``, ``query.evidence`` / ``query.do`` keys, ``query.variables``, effects'
    treatment and outcome, ``evaluate.target`` and structure-learning edges and tiers must name nodes;
    an unknown one raises SpecError with the nearest node (a misspelt node would otherwise be ignored or
    fail deep inside the fit).
    """
    model = spec.get("model") or {}
    nodes = [str(n) for n in model.get("nodes") or []]
    structure = model.get("structure") or {}
    for node, pas in structure.items():
        nodes += [str(node)] + [str(p) for p in pas or []]
    nodes += [str(n) for n in model.get("latent") or []]
    nodes = list(dict.fromkeys(nodes))
    if not nodes:
        return
    check_known_keys(model.get("states"), nodes, where="model.states", what="node",
                     default="the states found in the data", logger=logger)
    ref = model.get("reference") or {}
    check_known_keys(ref, nodes, where="model.reference", what="node", log_left=False)
    for child, pas in ref.items():
        check_known_keys(list(pas or []), nodes, where=f"model.reference.{child}", what="node", log_left=False)
    query = model.get("query") or {}
    for key in ("evidence", "do"):
        check_known_keys(query.get(key), nodes, where=f"model.query.{key}", what="node", log_left=False)
    variables = query.get("variables")
    if variables is not None:
        check_known_keys([variables] if isinstance(variables, str) else list(variables), nodes,
                         where="model.query.variables", what="node", log_left=False)
    for i, eff in enumerate(model.get("effects") or []):
        check_known_keys([eff.get("treatment"), eff.get("outcome")], nodes, where=f"model.effects[{i}]",
                         what="node", log_left=False)
    target = (spec.get("evaluate") or {}).get("target")
    if target is not None:
        check_known_keys([target], nodes, where="evaluate.target", what="node", log_left=False)
    ls = model.get("learn_structure") or {}
    for key in ("required", "forbidden"):
        for j, edge in enumerate(ls.get(key) or []):
            if not isinstance(edge, (list, tuple)) or len(edge) != 2:
                raise SpecError(f"model.learn_structure.{key}[{j}] must be a [parent, child] pair, found "
                                f"{short_repr(edge)}")
            check_known_keys(list(edge), nodes, where=f"model.learn_structure.{key}[{j}]", what="node",
                             log_left=False)
    for j, tier in enumerate(ls.get("tiers") or []):
        check_known_keys(list(tier), nodes, where=f"model.learn_structure.tiers[{j}]", what="node",
                         log_left=False)


def _prepare(frame: pd.DataFrame, nodes: list[str]) -> pd.DataFrame:
    """Node columns as state-name strings (NaN kept), so outcomes such as 0/1 read as states '0'/'1'."""
    from probwb.bn.network import _state_text

    missing = [n for n in nodes if n not in frame.columns]
    if missing:
        from probwb.core.validation import check_columns

        check_columns(frame, missing, name="data")
    out = {}
    for n in nodes:
        col = frame[n]
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[n] = col.astype(object).map(_state_text, na_action="ignore")
        else:
            out[n] = col.map(_state_text, na_action="ignore")
    return pd.DataFrame(out, index=frame.index)


def _state_orders(frame: pd.DataFrame, data: pd.DataFrame, declared: Any, latent: list[str]
                  ) -> dict[str, list[str]] | None:
    """States of every observed node in reading order: the spec's ``model.states`` where given, else the data's
    categorical order (``<50, 50-69, 70+``), else numeric-aware order of the values (``0, 1, 2+``), so CPTs,
    queries and figures list ``70+`` after ``50-69`` rather than in text order."""
    from probwb.bn.network import _state_text
    from probwb.report.tables import natural_order

    out: dict[str, list[str]] = {}
    for n in data.columns:
        present = set(data[n].dropna().unique())
        if not present:
            continue
        col = frame[n]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = [_state_text(c) for c in col.cat.categories]
            out[n] = [c for c in cats if c in present] if col.dtype.ordered else natural_order(
                [c for c in cats if c in present])
        else:
            out[n] = natural_order(sorted(present, key=str))
    out.update({str(k): [str(v) for v in vs] for k, vs in (declared or {}).items()})
    return {k: v for k, v in out.items() if k not in latent or k in (declared or {})} or None


def run_spec(spec: dict[str, Any], *, quick: bool = False, random_state: Any = None) -> dict[str, Any]:
    """Learn the spec's network and return the report dict.

    Keys: ``model`` (the fitted BayesNet), ``data`` (the frame used), ``summary`` (one row per node),
    ``tables`` (every CPT, the example query, causal effects, structure comparison, cross-validated
    metrics), ``figures`` (network drawing, query bar chart), ``metrics``, ``text`` and ``warnings``.
    ``quick`` uses at most 2,000 rows and fewer EM restarts / interval draws.
    """
    from probwb.bn import plots
    from probwb.report.data import load_data

    validate_spec(spec)
    if "data" not in spec:
        raise SpecError("data is missing: a bn spec needs a data: section")
    model_spec = dict(spec.get("model") or {})
    fit_spec = dict(spec.get("fit") or {})
    eval_spec = dict(spec.get("evaluate") or {})
    seed = fit_spec.get("random_state", random_state)
    rng = check_random_state(seed)
    loaded = load_data(spec["data"])
    frame = loaded.frame
    if frame is None:
        raise SpecError(f"data: choose a table with data.table ({', '.join(loaded.tables)})")
    if quick and len(frame) > 2000:
        frame = frame.sample(2000, random_state=np.random.RandomState(rng.integers(1 << 31)))

    latent = [str(x) for x in model_spec.get("latent") or []]
    if "structure" in model_spec:
        structure = {str(k): [str(p) for p in v] for k, v in model_spec["structure"].items()}
        nodes = [str(n) for n in model_spec.get("nodes") or structure]
        for n in nodes:
            structure.setdefault(n, [])
    else:
        nodes = [str(n) for n in model_spec.get("nodes") or []]
        if not nodes:
            raise SpecError("model.nodes: structure learning needs the list of data columns to use")
        structure = None
    observed = [n for n in (structure or nodes) if n not in latent]
    data = _prepare(frame, observed)

    text: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    common = dict(
        states=_state_orders(frame, data, model_spec.get("states"), latent), latent=latent or None,
        method=fit_spec.get("method", "mle"), prior=fit_spec.get("prior", "BDeu"),
        equivalent_sample_size=float(fit_spec.get("equivalent_sample_size", 10.0)),
        max_iter=int(fit_spec.get("max_iter", 100)), tol=float(fit_spec.get("tol", 1e-6)),
        n_init=1 if quick else int(fit_spec.get("n_init", 1)),
        n_posterior_draws=fit_spec.get("n_posterior_draws", 1000), random_state=rng,
        target=eval_spec.get("target"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if structure is None:
            ls = dict(model_spec["learn_structure"])
            kwargs = {k: v for k, v in common.items() if k != "method"}
            net = BayesNet.learn_structure(
                data, method=ls.get("method", "hill_climb"), score=ls.get("score", "bic"),
                required=[tuple(e) for e in ls.get("required") or []],
                forbidden=[tuple(e) for e in ls.get("forbidden") or []],
                tiers=ls.get("tiers"), max_indegree=ls.get("max_indegree"), fit_method=common["method"],
                **kwargs)
            text.append(f"Structure learned with {ls.get('method', 'hill_climb')} "
                        f"({ls.get('score', 'bic')}): {len(net.edges)} edges.")
            if "reference" in model_spec:
                ref = [(str(p), str(c)) for c, ps in model_spec["reference"].items() for p in ps]
                shd = structural_hamming_distance(net, ref)
                sk = structural_hamming_distance(net, ref, skeleton=True)
                tables["structure vs reference"] = pd.DataFrame(
                    {"value": [shd, sk, len(ref), len(net.edges)]},
                    index=["structural Hamming distance", "skeleton differences", "reference edges",
                           "learned edges"])
                text.append(f"Structural Hamming distance to the reference structure: {shd} "
                            f"(skeleton differences: {sk}).")
        else:
            net = BayesNet(structure, **common).fit(data)
        text.append(f"Network of {len(net.nodes)} nodes and {len(net.edges)} edges learned from "
                    f"{len(data):,} rows ({'Bayesian, ' + str(common['prior']) if common['method'] == 'bayes' else 'maximum likelihood'}).")
        if net.em_ is not None:
            text.append(f"EM: log-likelihood {net.em_.log_likelihood:.2f} after {net.em_.n_iter} iterations "
                        f"(converged: {net.em_.converged}).")

        for n in net.nodes:
            tables[f"CPT {n}"] = net.cpt(n).reset_index()
        figures: dict[str, Any] = {"network": plots.plot_network(net).figure}

        if "query" in model_spec:
            q = model_spec["query"]
            interval = fit_spec.get("interval") if common["method"] == "bayes" else None
            res = net.query(q["variables"], q.get("evidence"), q.get("do"), interval=interval,
                            n_samples=200 if quick else 1000, random_state=rng)
            if isinstance(res, pd.DataFrame) and interval is not None:
                res.attrs["interval"] = float(interval)
                tables["query"] = label_intervals(res.reset_index(), float(interval), "CrI")
            else:
                tables["query"] = res.reset_index() if isinstance(res, pd.DataFrame) else res.to_frame().reset_index()
            ev = ", ".join(f"{k}={v}" for k, v in (q.get("evidence") or {}).items()) or "no evidence"
            figures["query"] = plots.plot_posterior(res, title=f"P({q['variables']} | {ev})").figure

        rows = []
        for eff in model_spec.get("effects") or []:
            ace = net.average_causal_effect(eff["treatment"], eff["outcome"], str(eff["outcome_state"]),
                                            str(eff["treated"]), str(eff["control"]))
            rows.append({**{k: str(v) for k, v in eff.items()}, "average_causal_effect": ace})
        if rows:
            tables["causal effects"] = pd.DataFrame(rows)

        metrics: dict[str, float] = {}
        target = eval_spec.get("target")
        if target:
            try:
                from probwb.evaluate import KFold, cross_validate
            except ImportError:  # evaluation is optional
                cross_validate = None
            if cross_validate is not None:
                names = eval_spec.get("metrics") or ["log_loss", "brier"]
                unfit = BayesNet(net.edges if structure is None else structure,
                                 **{**common, "random_state": int(rng.integers(1 << 31))})
                cv_data = data.dropna(subset=[target])
                cv = cross_validate(unfit, cv_data, KFold(2 if quick else int(eval_spec.get("n_splits", 5)),
                                                          random_state=int(rng.integers(1 << 31))),
                                    metrics=names, target=target)
                tables["cross-validation"] = cv.summary.reset_index()
                metrics = {f"cv_{m}": float(v) for m, v in cv.summary["mean"].items()}
    warns = [f"{w.category.__name__}: {w.message}" for w in caught
             if issubclass(w.category, UserWarning)]
    return {"model": net, "data": data, "summary": net.summary().reset_index(), "tables": tables,
            "figures": figures, "metrics": metrics, "text": text, "warnings": warns}
