"""Run a ``kind: clv`` model spec: a purchase model (BG/NBD or Pareto/NBD), a Gamma-Gamma spend model and
per-customer CLV with intervals.

The data table has one row per customer: ``frequency``, ``recency``, ``T`` (and ``monetary_value`` for the
spend model; ``customer_id`` when present labels the rows)::

    model:
      kind: clv
      purchase_model: bgnbd          # bgnbd | pareto_nbd
      spend_model: gamma_gamma       # gamma_gamma | none
      covariates: {purchase: [segment], dropout: [channel]}   # optional
      priors: {r: {dist: HalfNormal, sigma: 10}}             # optional, purchase model
      spend_priors: {}                                       # optional, spend model
    fit: {method: mcmc, draws: 1000, tune: 1000, chains: 4, sampler: nutpie, random_state: 1}
    evaluate: {horizon: 52, period: 4, discount_rate: 0.01, margin: 1.0, interval: 0.9, top_n: 25}
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from probwb.core.random import check_random_state
from probwb.core.validation import check_known_keys, closest_match
from probwb.errors import SpecError
from probwb.report.tables import label_intervals

__all__ = ["SPEC_KEYS", "run_spec", "validate_spec"]

logger = logging.getLogger("probwb.hier")

PURCHASE_MODELS = ("bgnbd", "pareto_nbd")
SPEND_MODELS = ("gamma_gamma", "none")
METHODS = ("mcmc", "mle", "map")

SPEC_KEYS: dict[str, dict[str, Any]] = {
    "model": {
        "kind": (str, "clv"),
        "purchase_model": (str, "bgnbd (BG/NBD, default) or pareto_nbd"),
        "spend_model": (str, "gamma_gamma (default when the data has monetary_value) or none"),
        "covariates": ((list, dict), "customer columns on purchase and dropout: a list, or {purchase, dropout}"),
        "priors": (dict, "purchase-model priors: parameter -> {dist: <pymc distribution>, ...arguments}"),
        "spend_priors": (dict, "Gamma-Gamma priors (p, q, v), same form"),
    },
    "fit": {
        "method": (str, "mcmc (default), mle or map"),
        "draws": (int, "posterior draws per chain"),
        "tune": (int, "tuning steps per chain"),
        "chains": (int, "number of chains"),
        "sampler": (str, "nutpie (default when installed), pymc or numpyro"),
        "target_accept": (float, "NUTS target acceptance rate"),
        "random_state": (int, "seed"),
    },
    "evaluate": {
        "horizon": ((int, float), "CLV and expected-purchase horizon in the data's time unit (default 52)"),
        "period": ((int, float), "discounting period in time units (default 4)"),
        "discount_rate": ((int, float), "discount rate per period (default 0)"),
        "margin": ((int, float), "profit margin applied to spend (default 1)"),
        "interval": (float, "credible interval width for per-customer outputs (default 0.9)"),
        "top_n": (int, "customers listed in the CLV table, highest first (default 25)"),
        "max_frequency": (int, "largest frequency shown in the fit plots (default 7)"),
    },
}

_QUICK = {"draws": 200, "tune": 300, "chains": 2}


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        hint = closest_match(str(value), allowed)
        extra = f" (did you mean {hint!r}?)" if hint else ""
        raise SpecError(f"{where}: unknown value {value!r}{extra}; expected one of {list(allowed)}")
    return str(value)


def validate_spec(spec: Mapping[str, Any]) -> None:
    """Check what key names and types cannot: model names, the fit method, sampler and evaluate ranges."""
    from probwb.hier.backend import SAMPLERS

    for section, keys in SPEC_KEYS.items():
        sub = spec.get(section) or {}
        if not isinstance(sub, Mapping):
            raise SpecError(f"{section} must be a mapping, found {type(sub).__name__}")
        for key in sub:
            if key not in keys:
                hint = closest_match(str(key), keys)
                extra = f" (did you mean {section}.{hint}?)" if hint else ""
                raise SpecError(f"{section}.{key}: unknown key{extra}; valid keys here: {', '.join(keys)}")
    model = spec.get("model") or {}
    if isinstance(model.get("covariates"), Mapping):
        check_known_keys(model["covariates"], ("purchase", "dropout"), where="model.covariates",
                         what="process", default="no covariates", logger=logger)
    _choice(model.get("purchase_model", "bgnbd"), PURCHASE_MODELS, "model.purchase_model")
    _choice(model.get("spend_model", "gamma_gamma"), SPEND_MODELS, "model.spend_model")
    fit = spec.get("fit") or {}
    _choice(fit.get("method", "mcmc"), METHODS, "fit.method")
    if "sampler" in fit:
        _choice(fit["sampler"], SAMPLERS, "fit.sampler")
    ev = spec.get("evaluate") or {}
    for key in ("horizon", "period"):
        if key in ev and not float(ev[key]) > 0:
            raise SpecError(f"evaluate.{key} must be > 0, found {ev[key]!r}")
    if "interval" in ev and not 0 < float(ev["interval"]) < 1:
        raise SpecError(f"evaluate.interval must lie in (0, 1), found {ev['interval']!r}")
    if "discount_rate" in ev and not float(ev["discount_rate"]) > -1:
        raise SpecError(f"evaluate.discount_rate must be > -1, found {ev['discount_rate']!r}")


def _build(model: Mapping[str, Any]) -> tuple[Any, Any]:
    from probwb.hier.clv import BetaGeoModel, GammaGammaModel, ParetoNBDModel

    cls = BetaGeoModel if model.get("purchase_model", "bgnbd") == "bgnbd" else ParetoNBDModel
    purchase = cls(priors=model.get("priors"), covariates=model.get("covariates"))
    spend = None
    if model.get("spend_model", "gamma_gamma") == "gamma_gamma":
        spend = GammaGammaModel(priors=model.get("spend_priors"))
    return purchase, spend


def run_spec(spec: dict[str, Any], *, quick: bool = False, random_state: Any = None) -> dict[str, Any]:
    """Fit the spec's purchase (and spend) model and compute per-customer outputs.

    Returns the dict the report reads: ``model`` (the fitted purchase model), ``spend_model``,
    ``summary`` (parameters with the diagnostics verdict), ``tables`` (``spend_parameters``,
    ``customers`` = the ``top_n`` customers by expected CLV with intervals, ``frequency_counts``),
    ``figures`` (``p_alive_matrix``, ``frequency_counts``), ``diagnostics`` (per fitted model, MCMC
    only), ``text``, ``warnings`` and ``data``. ``quick`` runs 2 chains x 200 draws and uses 200 posterior
    draws (instead of 1,000) for the per-customer outputs.
    """
    from probwb.hier import clv_plots
    from probwb.report.data import load_data

    validate_spec(spec)
    if "data" not in spec:
        raise SpecError("data is missing: a clv spec needs a data: section (e.g. source: load_cdnow)")
    frame = load_data(spec["data"]).frame
    model_spec = spec.get("model") or {}
    fit = dict(spec.get("fit") or {})
    ev = spec.get("evaluate") or {}
    seed = random_state if random_state is not None else fit.pop("random_state", None)
    fit.pop("random_state", None)
    rng = check_random_state(seed)
    method = fit.pop("method", "mcmc")
    if quick and method == "mcmc":
        fit.update({k: min(int(fit.get(k, v)), v) for k, v in _QUICK.items()})
    purchase, spend = _build(model_spec)
    if spend is not None and "monetary_value" not in frame.columns:
        raise SpecError("model.spend_model is gamma_gamma but the data has no monetary_value column; "
                        "set spend_model: none or add the column")
    kwargs = {"method": method, "random_state": rng, "progressbar": False}
    if method == "mcmc":
        kwargs.update(fit)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        purchase.fit(frame, **kwargs)
        if spend is not None:
            spend.fit(frame, **kwargs)
        horizon = float(ev.get("horizon", 52.0))
        interval = float(ev.get("interval", 0.9))
        md = 200 if quick else 1000  # posterior draws used for per-customer outputs
        exp_p = purchase.expected_purchases(frame, horizon, interval=interval, max_draws=md)
        alive = purchase.probability_alive(frame, interval=interval, max_draws=md)
        customers = pd.DataFrame({
            "frequency": frame["frequency"].to_numpy(), "recency": frame["recency"].to_numpy(),
            "T": frame["T"].to_numpy(), "p_alive": alive["mean"].to_numpy(),
            "expected_purchases": exp_p["mean"].to_numpy(), "expected_purchases_lower": exp_p["lower"].to_numpy(),
            "expected_purchases_upper": exp_p["upper"].to_numpy()}, index=exp_p.index)
        sort_col = "expected_purchases"
        if spend is not None:
            value = purchase.clv(frame, spend, horizon=horizon, period=float(ev.get("period", 4.0)),
                                 discount_rate=float(ev.get("discount_rate", 0.0)),
                                 margin=float(ev.get("margin", 1.0)), interval=interval, max_draws=md,
                                 random_state=rng)
            spend_out = spend.expected_spend(frame, interval=interval, max_draws=md, random_state=rng)
            customers["expected_spend"] = spend_out["mean"].to_numpy()
            customers["clv"] = value["mean"].to_numpy()
            customers["clv_lower"] = value["lower"].to_numpy()
            customers["clv_upper"] = value["upper"].to_numpy()
            sort_col = "clv"
        max_f = int(ev.get("max_frequency", 7))
        counts = purchase.expected_frequency_counts(frame, max_frequency=max_f, random_state=rng)
        figures = {
            "p_alive_matrix": clv_plots.plot_probability_alive_matrix(purchase, float(frame["T"].max())).figure,
            "frequency_counts": clv_plots.plot_frequency_counts(purchase, frame, max_frequency=max_f).figure,
        }
    # the report lists them under their own category; logging them as probwb.hier would relabel another
    # library's warning (PyTensor's BLAS advice, say) as probwb's
    caught = [f"{w.category.__name__}: {w.message}" for w in record]
    top = customers.sort_values(sort_col, ascending=False).head(int(ev.get("top_n", 25)))
    # interval headers state their level: the spec's for per-customer outputs, the summary's quantile pair;
    # MCMC gives credible intervals, MLE confidence intervals
    kind = "CrI" if method == "mcmc" else "CI"
    tables = {"customers": label_intervals(top, interval, kind), "frequency_counts": counts}
    if spend is not None:
        tables["spend_parameters"] = label_intervals(spend.summary(), interval, kind)
    diagnostics = None
    if method == "mcmc":
        diagnostics = {"purchase": purchase.diagnostics_}
        if spend is not None:
            diagnostics["spend"] = spend.diagnostics_
    total = customers["clv"].sum() if spend is not None else None
    text = [
        f"{type(purchase).__name__} fitted by {method.upper()} on {purchase.n_customers_} customers.",
        f"Expected repeat purchases in the next {horizon:g} time units: "
        f"{customers['expected_purchases'].sum():,.0f} in total; mean P(alive) {customers['p_alive'].mean():.2f}.",
    ]
    if total is not None:
        text.append(f"Expected total value over the horizon (margin {float(ev.get('margin', 1.0)):g}, discount "
                    f"{float(ev.get('discount_rate', 0.0)):g} per period): {total:,.2f}.")
    return {"model": purchase, "spend_model": spend, "summary": label_intervals(purchase.summary(), interval, kind),
            "tables": tables,
            "figures": figures, "diagnostics": diagnostics, "text": text, "warnings": caught, "data": frame}
