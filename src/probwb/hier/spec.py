"""Run a ``kind: hier`` model spec: fit a :class:`~probwb.hier.glm.HierarchicalGLM` and collect the report.

::

    model:
      kind: hier
      formula: "readmitted ~ age_band + diabetes + heart_failure + (1 | hospital_id)"
      family: bernoulli
      league_table: hospital_id          # grouping to rank (default: the first)
      higher_is_worse: true
      risk_quantile: 0.9                 # top tier for the risk-tier table (bernoulli / binomial)
    fit: {draws: 1000, tune: 1000, chains: 4, sampler: nutpie, target_accept: 0.95, interval: 0.9}
    evaluate: {loo: true, ppc: true}
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.random import check_random_state, seed_from
from probwb.core.validation import check_known_keys
from probwb.errors import SpecError
from probwb.report.tables import label_intervals

__all__ = ["SPEC_KEYS", "run_spec", "validate_spec"]

logger = logging.getLogger("probwb.hier")

SPEC_KEYS: dict[str, dict[str, Any]] = {
    "model": {
        "kind": (str, "hier"),
        "formula": (str, "lme4-style formula, e.g. 'y ~ x + (1 | group)'"),
        "family": (str, "bernoulli | binomial | poisson | negbinomial | normal | studentt"),
        "priors": (dict, "prior overrides, e.g. {beta: {dist: normal, mu: 0, sigma: 1}}"),
        "noncentered": (bool, "non-centred group effects (default true)"),
        "aggregate": ((bool, str), "pool identical bernoulli rows into binomial counts: auto | true | false"),
        "league_table": (str, "grouping to rank in the league table (default: the first)"),
        "higher_is_worse": (bool, "a higher group effect is worse (default true)"),
        "risk_quantile": (float, "top-tier quantile for the risk-tier table (default 0.9)"),
        "id_col": ((str, list), "column(s) naming a row (patient_id) in the highest-risk table (default: *_id)"),
    },
    "fit": {
        "draws": (int, "posterior draws per chain"),
        "tune": (int, "warm-up draws per chain"),
        "chains": (int, "chains"),
        "sampler": (str, "nutpie | pymc | numpyro"),
        "target_accept": (float, "NUTS target acceptance (default 0.95)"),
        "mass_matrix": (str, "diag | low_rank (nutpie; default low_rank)"),
        "interval": (float, "credible-interval mass (default 0.9)"),
        "random_state": (int, "seed"),
    },
    "evaluate": {
        "loo": (bool, "PSIS-LOO with Pareto k diagnostics (default true)"),
        "ppc": (bool, "posterior predictive p-values (default true)"),
    },
}

QUICK_ROWS = 2000
QUICK_DRAWS = 300


def validate_spec(spec: Mapping[str, Any]) -> None:
    """Check what key names and types cannot: a parseable formula and a known family."""
    from probwb.hier.formula import parse_formula
    from probwb.hier.glm import FAMILIES

    model = spec.get("model") or {}
    if "formula" not in model:
        raise SpecError("model.formula is missing: a hier spec needs a formula like 'y ~ x + (1 | group)'")
    try:
        parsed = parse_formula(model["formula"])
    except SpecError as exc:
        raise SpecError(f"model.formula: {exc}") from None
    if "league_table" in model:
        check_known_keys([model["league_table"]], [g.name for g in parsed.groups], where="model.league_table",
                         what="grouping of the formula", log_left=False)
    family = model.get("family", "bernoulli")
    if family not in FAMILIES:
        raise SpecError(f"model.family must be one of {list(FAMILIES)}, found {family!r}")
    q = model.get("risk_quantile", 0.9)
    if not 0 < float(q) < 1:
        raise SpecError(f"model.risk_quantile must lie in (0, 1), found {q!r}")


def _id_columns(frame: pd.DataFrame, declared: Any, groups: list[str]) -> list[str]:
    """The columns that identify a row for a reader: ``model.id_col`` when given, else the ``*_id`` columns
    that are not a grouping of the model (patient_id, customer_id), plus a time column (week, visit) when the
    ids alone repeat."""
    if declared:
        cols = [declared] if isinstance(declared, str) else list(declared)
        check_known_keys(cols, list(map(str, frame.columns)), where="model.id_col", what="column", log_left=False)
        return cols
    cols = [c for c in frame.columns if str(c).endswith("_id") and c not in groups]
    if cols and frame.duplicated(cols).any():
        cols += [c for c in ("week", "visit", "time", "date") if c in frame.columns][:1]
    return cols


def _worst_parameters(idata: Any, table: pd.DataFrame, k: int = 4) -> Any:
    """Return an InferenceData holding the ``k`` scalar parameters with the highest R-hat and lowest bulk ESS
    (named as in the diagnostics table, e.g. ``beta[age_band[70+]]``), or None when none can be matched."""
    import arviz as az

    post = idata.posterior
    series: dict[str, np.ndarray] = {}
    for name in post.data_vars:
        if str(name).endswith("__"):
            continue
        arr = post[name]
        dims = [d for d in arr.dims if d not in ("chain", "draw")]
        if not dims:
            series[str(name)] = arr.transpose("chain", "draw", ...).values
            continue
        values = arr.transpose("chain", "draw", *dims).values
        for idx in np.ndindex(*values.shape[2:]):
            coords = ", ".join(str(arr.coords[d].values[i]) if d in arr.coords else str(i)
                               for d, i in zip(dims, idx, strict=True))
            series[f"{name}[{coords}]"] = values[(slice(None), slice(None), *idx)]
    ranked = table.assign(_r=table["r_hat"].fillna(np.inf)).sort_values(["_r", "ess_bulk"],
                                                                         ascending=[False, True])
    chosen = [str(i) for i in ranked.index if str(i) in series][:k]
    if not chosen:
        return None
    return az.from_dict(posterior={c: series[c] for c in chosen})


def run_spec(spec: dict[str, Any], *, quick: bool = False, random_state: Any = None) -> dict[str, Any]:
    """Fit the spec's hierarchical GLM and return the report dict.

    Keys: ``model`` (fitted HierarchicalGLM), ``data``, ``summary`` (coefficients on the original scale with
    R-hat / ESS and the verdict), ``tables`` (league table, risk tiers, PSIS-LOO, posterior predictive
    check), ``figures``, ``metrics``, ``diagnostics`` (the DiagnosticsResult), ``text``, ``warnings``.
    ``quick`` uses at most 2,000 rows, 2 chains and 300 draws.
    """
    from probwb.diagnostics import plots as dplots
    from probwb.hier import plots
    from probwb.hier.glm import HierarchicalGLM, _safe
    from probwb.report.data import load_data

    validate_spec(spec)
    if "data" not in spec:
        raise SpecError("data is missing: a hier spec needs a data: section")
    model_spec = dict(spec.get("model") or {})
    fit_spec = dict(spec.get("fit") or {})
    eval_spec = dict(spec.get("evaluate") or {})
    rng = check_random_state(fit_spec.get("random_state", random_state))
    loaded = load_data(spec["data"])
    frame = loaded.frame
    if frame is None:
        raise SpecError(f"data: choose a table with data.table ({', '.join(loaded.tables)})")
    if quick and len(frame) > QUICK_ROWS:
        frame = frame.sample(QUICK_ROWS, random_state=np.random.RandomState(seed_from(rng))).sort_index()
    draws = int(fit_spec.get("draws", 1000))
    tune = int(fit_spec.get("tune", 1000))
    chains = int(fit_spec.get("chains", 4))
    if quick:
        draws, tune, chains = min(draws, QUICK_DRAWS), min(tune, QUICK_DRAWS), min(chains, 2)
    interval = float(fit_spec.get("interval", 0.9))

    glm = HierarchicalGLM(model_spec["formula"], family=model_spec.get("family", "bernoulli"),
                          priors=model_spec.get("priors"), noncentered=bool(model_spec.get("noncentered", True)),
                          aggregate=model_spec.get("aggregate", "auto"))
    text: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    figures: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        glm.fit(frame, draws=draws, tune=tune, chains=chains, sampler=fit_spec.get("sampler"),
                random_state=rng, progressbar=False, target_accept=float(fit_spec.get("target_accept", 0.95)),
                mass_matrix=str(fit_spec.get("mass_matrix", "low_rank")))
        diag = glm.diagnostics_
        summary = glm.summary(interval=interval, warn=False)
        sampler = glm.idata_.posterior.attrs.get("sampler")
        text.append(f"{glm.family} GLM '{glm.formula}' fitted to {glm.n_obs_:,} rows"
                    + (f" (pooled into {glm.n_cells_:,} binomial cells)" if glm.n_cells_ < glm.n_obs_ else "")
                    + f" with {sampler}: {chains} chains x {draws} draws after {tune} warm-up.")
        text.append(f"Diagnostics verdict: {diag.verdict}" + (f" ({'; '.join(diag.reasons)})" if diag.reasons
                                                               else " (R-hat, ESS, divergences and BFMI all fine)."))
        metrics.update({"n_divergent": diag.n_divergent,
                        "max_r_hat": float(diag.table["r_hat"].max()),
                        "min_ess_bulk": float(diag.table["ess_bulk"].min()),
                        "sampling_seconds": float(glm.idata_.posterior.attrs.get("sampling_time", np.nan)),
                        "compile_seconds": float(glm.idata_.posterior.attrs.get("compile_time", np.nan))})
        tables["coefficients"] = label_intervals(summary.reset_index(), interval, "CrI")

        groups = list(glm.design_info_.group_levels)
        if groups:
            group = model_spec.get("league_table", groups[0])
            league = glm.group_league_table(group, interval=interval,
                                            higher_is_worse=bool(model_spec.get("higher_is_worse", True)))
            tables[f"league table ({group})"] = label_intervals(league.reset_index(), interval, "CrI")
            figures[f"league table ({group})"] = plots.plot_league_table(
                league, interval=interval)
            top = league.index[0]
            text.append(f"Highest {group} effect: {top} (P(worse than average) = "
                        f"{league['p_worse_than_average'].iloc[0]:.2f}, rank interval "
                        f"{league['rank_lower'].iloc[0]:.0f}-{league['rank_upper'].iloc[0]:.0f}).")
        figures["coefficients"] = plots.plot_coefficients(summary)
        trace_vars = [v for v in ["Intercept"] + [f"sd_{_safe(g)}" for g in groups] if v in glm.idata_.posterior]
        figures["trace"] = dplots.plot_trace(glm.idata_, trace_vars)
        worst = _worst_parameters(glm.idata_, diag.table)
        if worst is not None:
            figures["rank plots of the worst-mixing parameters (highest R-hat, lowest ESS)"] = \
                dplots.plot_rank(worst)

        if glm.family in ("bernoulli", "binomial"):
            q = float(model_spec.get("risk_quantile", 0.9))
            tiers = glm.risk_tiers(frame, quantile=q, n_draws=300, random_state=rng)
            risk = glm.risk_table(frame, interval=interval, random_state=rng)
            table = pd.concat([risk, tiers[["p_top_tier", "top_tier"]]], axis=1)
            top_rows = table.sort_values("p_top_tier", ascending=False).head(50)
            # a reader finds a patient or customer by the data's id column, not by a row number
            ids = _id_columns(frame, model_spec.get("id_col"), groups)
            top_rows = (pd.concat([frame.loc[top_rows.index, ids], top_rows], axis=1).reset_index(drop=True)
                        if ids else top_rows.reset_index(names="row"))
            tables[f"highest-risk rows (top {100 * (1 - q):.0f}%)"] = label_intervals(top_rows, interval, "CrI")
            figures["risk tiers"] = plots.plot_risk_tiers(tiers)
            if glm.family == "bernoulli":
                from probwb.evaluate.plots import plot_calibration

                y = frame[glm.parsed_formula.response].to_numpy(dtype=float)
                ax = plot_calibration(y, risk["risk_mean"].to_numpy(), n_bins=10, strategy="quantile",
                                      confidence=interval)
                ax.set_title(f"Calibration: observed rate by decile of posterior mean risk "
                             f"({100 * interval:g}% Wilson intervals)")
                figures[f"calibration curve (deciles of predicted risk, {100 * interval:g}% CI)"] = ax
            metrics["rows_certainly_top_tier"] = int((tiers["p_top_tier"] > 0.9).sum())

        if eval_spec.get("loo", True):
            res = glm.loo()
            tables["PSIS-LOO"] = pd.DataFrame({"value": [res.elpd_loo, res.se, res.p_loo, res.n_obs,
                                                         *res.pareto_k_counts.values()]},
                                              index=["elpd_loo", "se", "p_loo", "observations (rows)",
                                                     *[f"Pareto k {k}" for k in res.pareto_k_counts]])
            text.append(res.note + ".")
            metrics.update({"elpd_loo": res.elpd_loo, "p_loo": res.p_loo})
            figures["Pareto k"] = dplots.plot_pareto_k(res)
        if eval_spec.get("ppc", True):
            ppc = glm.ppc(frame, n_draws=300, random_state=rng)
            tables["posterior predictive check"] = ppc.reset_index()
            if groups:
                g0 = model_spec.get("league_table", groups[0])
                rep = glm.predict(frame, kind="predictive", n_draws=300, random_state=rng)
                figures[f"posterior predictive check by {g0} ({100 * interval:g}% interval)"] = \
                    plots.plot_ppc_groups(frame[glm.parsed_formula.response].to_numpy(dtype=float), rep,
                                          frame[g0], interval=interval, group_name=g0,
                                          response=glm.parsed_formula.response)
            flagged = list(ppc.index[ppc["flag"]])
            text.append("Posterior predictive check: " + (f"statistics {flagged} are not reproduced by the model."
                                                          if flagged else "the replicated data reproduce the "
                                                          "observed mean, sd, min and max."))
    warns = [f"{w.category.__name__}: {w.message}" for w in caught
             if not issubclass(w.category, (DeprecationWarning, FutureWarning, PendingDeprecationWarning))]
    return {"model": glm, "data": frame, "summary": label_intervals(summary.reset_index(), interval, "CrI"), "tables": tables, "figures": figures,
            "metrics": metrics, "diagnostics": diag, "text": text, "warnings": warns}
