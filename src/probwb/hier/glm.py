"""Hierarchical (multilevel) generalised linear models with varying intercepts and slopes.

:class:`HierarchicalGLM` takes an lme4-style formula (see :mod:`probwb.hier.formula`), builds a
vectorised PyMC model (index arrays, no Python loop over groups), samples it through
:mod:`probwb.hier.backend` (nutpie by default) and gates every result on
:func:`probwb.diagnostics.check`.

Model, for row i with population design x_i and grouping terms g::

    eta_i = Intercept + x_i' beta + sum_g sum_k r_g[level_g(i), k] * z_gik
    r_g[l, k] = sd_g[k] * u_g[l, k],   u_g[l, k] ~ Normal(0, 1)   (non-centred; centred if asked)

The varying effects of one group term, ``(1 + x | g)``, are correlated, as in lme4 and brms: their
covariance is ``diag(sd_g) Omega_g diag(sd_g)`` with an LKJ prior on the correlation matrix ``Omega_g``
(``r_g = z_g L_g'`` with ``L_g`` its Cholesky factor, non-centred), and the posterior reports the
correlations as ``corr_g`` (one entry per pair, e.g. ``"Intercept:age"``). ``(1 + x || g)`` keeps them
independent (diagonal covariance), as does any term with a single component. Numeric predictors
are standardised internally ((x - mean) / sd of the training data) so one set of default priors fits
every scale; :meth:`HierarchicalGLM.summary` reports coefficients on the original scale (per unit of
the predictor) next to the standardised ones. Categorical predictors are treatment-coded with the first
level (sorted, or the pandas categorical order) as reference; dummies are named like
``"age_band[70+]"``.

Default priors (weakly informative; on the internal scale; after Gelman et al. 2008 and the rstanarm
defaults). With ``s_y`` the standard deviation of the response (normal / student-t only):

- ``Intercept``: Normal(0, 2.5) for bernoulli / binomial (logit scale); Normal(log mean(y), 2.5) for
  poisson / negbinomial; Normal(mean(y), 2.5 s_y) for normal / studentt.
- ``beta`` (each coefficient): Normal(0, 2.5); Normal(0, 2.5 s_y) for normal / studentt.
- ``sd`` (each group standard deviation): HalfNormal(1); HalfNormal(s_y) for normal / studentt.
- ``corr`` (correlated group terms): LKJ(eta = 2) on each correlation matrix (brms' default is 1; 2
  gently favours weaker correlations, which keeps small-group fits away from the +-1 boundary).
- ``sigma`` (normal / studentt): Exponential(1 / s_y).
- ``nu`` (studentt): Gamma(2, 0.1) (Juárez & Steel 2010).
- ``overdispersion`` (negbinomial): HalfNormal(1) on 1 / sqrt(alpha), where var = mu + mu^2 / alpha.

Override with ``priors={"beta": {"dist": "normal", "mu": 0, "sigma": 1}, "beta[age]": {...},
"sd[hospital]": {"dist": "halfnormal", "sigma": 0.5}}``; unknown keys raise SpecError.

For bernoulli (and binomial) data whose rows repeat the same covariates and groups, rows are pooled
into binomial counts before sampling (``aggregate="auto"``): the likelihood is identical up to a
constant, so the posterior is the same, and sampling is much faster. PSIS-LOO (:meth:`HierarchicalGLM.loo`)
is still leave-one-row-out: each row's log-likelihood is recovered from its cell, so elpd, p_loo,
Pareto k and ``n_obs`` count rows and match the same model fitted with ``aggregate=False``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.random import RandomState, check_random_state
from probwb.core.validation import check_dataframe, closest_match
from probwb.errors import DataError, NotFittedError, SamplingWarning, SpecError
from probwb.hier.formula import Design, DesignInfo, ParsedFormula, build_design, parse_formula

__all__ = ["HierarchicalGLM", "FAMILIES", "meta_analysis_model"]

logger = logging.getLogger("probwb.hier")

FAMILIES = ("bernoulli", "binomial", "poisson", "negbinomial", "normal", "studentt")
_LINK = {"bernoulli": "logit", "binomial": "logit", "poisson": "log", "negbinomial": "log",
         "normal": "identity", "studentt": "identity"}
_DISTS = {
    "normal": "Normal", "studentt": "StudentT", "cauchy": "Cauchy", "halfnormal": "HalfNormal",
    "halfstudentt": "HalfStudentT", "halfcauchy": "HalfCauchy", "exponential": "Exponential",
    "gamma": "Gamma", "lognormal": "LogNormal", "uniform": "Uniform",
}


def _safe(name: str) -> str:
    """A PyMC-friendly variable suffix for a grouping label ("region:store" -> "region__store")."""
    return name.replace(":", "__")


def _inv_link(eta: np.ndarray, family: str) -> np.ndarray:
    link = _LINK[family]
    if link == "logit":
        return 1.0 / (1.0 + np.exp(-eta))
    if link == "log":
        return np.exp(eta)
    return eta


class HierarchicalGLM:
    """A multilevel GLM: ``HierarchicalGLM("y ~ x + (1 + x | group)", family="bernoulli").fit(df)``.

    Parameters
    ----------
    formula:
        lme4-style formula, e.g. ``"readmitted ~ age + comorbidities + (1 + age | hospital)"``; binomial
        responses as ``"redeemed | trials(offers) ~ ..."``; nested groups ``(1 | region/store)``.
    family:
        "bernoulli" | "binomial" (logit link) | "poisson" | "negbinomial" (log link) | "normal" |
        "studentt" (identity link).
    priors:
        Overrides of the default priors (see the module docstring), or None.
    noncentered:
        Non-centred group effects (default; better when groups carry little data each).
    aggregate:
        "auto" pools identical bernoulli/binomial rows into binomial counts when that shrinks the data
        by half or more; True always pools, False never.

    Attributes (after ``fit``)
    --------------------------
    idata_: arviz.InferenceData; diagnostics_: probwb.diagnostics.DiagnosticsResult;
    design_info_: how new rows are encoded; coef_names_: population-level coefficient names;
    group_levels_: {grouping: levels}; n_obs_: rows used; n_cells_: likelihood terms after pooling;
    cell_of_row_: each row's pooled cell (None when not pooled).
    """

    def __init__(self, formula: str, family: str = "bernoulli", priors: dict[str, Any] | None = None,
                 noncentered: bool = True, aggregate: bool | str = "auto") -> None:
        self.formula = formula
        self.family = family
        self.priors = priors
        self.noncentered = noncentered
        self.aggregate = aggregate
        self._parsed = parse_formula(formula)
        if family not in FAMILIES:
            hint = closest_match(str(family), FAMILIES)
            raise SpecError(f"family must be one of {list(FAMILIES)}, found {family!r}"
                            + (f" (did you mean {hint!r}?)" if hint else ""))
        if family == "binomial" and self._parsed.trials is None:
            raise SpecError(f"family 'binomial' needs the response written 'successes | trials(n_column)', "
                            f"found {self._parsed.response!r} in {formula!r}")
        if family != "binomial" and self._parsed.trials is not None:
            raise SpecError(f"'| trials(...)' in the response is only for family='binomial', found {family!r}")
        if aggregate not in (True, False, "auto"):
            raise SpecError(f"aggregate must be True, False or 'auto', found {aggregate!r}")
        if priors is not None and not isinstance(priors, dict):
            raise SpecError(f"priors must be a dict, found {type(priors).__name__}")

    # ------------------------------------------------------------------ configuration helpers
    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments (for cloning in cross-validation)."""
        return {"formula": self.formula, "family": self.family, "priors": self.priors,
                "noncentered": self.noncentered, "aggregate": self.aggregate}

    def set_params(self, **params: Any) -> HierarchicalGLM:
        """Set constructor arguments (checked as the constructor checks them); return self, unfitted (the
        posterior was drawn under the old settings, so call fit again)."""
        from probwb.core import api

        return api.set_params(self, params)

    def __repr__(self) -> str:
        from probwb.core import api

        return api.estimator_repr(self, always=("family",))

    def plot(self, kind: str = "coefficients", ax: Any = None, **kwargs: Any) -> Any:
        """Draw a figure of the fitted model and return its Axes.

        ``"coefficients"``: forest plot of :meth:`coefficients` (keywords ``interval``,
        ``exclude_intercept``); ``"league_table"``: :meth:`group_league_table` (keywords ``group``,
        ``interval``, ``higher_is_worse``); ``"trace"`` / ``"rank"``: MCMC diagnostics
        (:mod:`probwb.diagnostics.plots`; an array of Axes, ``ax`` is passed as ``axes=``).
        """
        from probwb.core import api
        from probwb.hier import plots

        self._check_fitted()

        def coefficients(interval: float = 0.9, **kw: Any) -> Any:
            return plots.plot_coefficients(self.coefficients(interval), ax=ax, **kw)

        def league_table(group: str | None = None, interval: float = 0.9, higher_is_worse: bool = True) -> Any:
            return plots.plot_league_table(self.group_league_table(group, interval, higher_is_worse), ax=ax)

        kinds = {"coefficients": coefficients, "league_table": league_table,
                 **api.posterior_plot_kinds(self.idata_, ax, self.param_names())}
        return api.plot_kind(self, kind, kinds, **kwargs)

    @property
    def parsed_formula(self) -> ParsedFormula:
        """The parsed formula."""
        return self._parsed

    def _check_fitted(self) -> None:
        if not hasattr(self, "idata_"):
            raise NotFittedError("this HierarchicalGLM is not fitted yet: call fit(df) first")

    # ------------------------------------------------------------------ data checks
    def _check_response(self, design: Design) -> None:
        y, name, fam = design.y, self._parsed.response, self.family
        if fam == "bernoulli":
            bad = ~np.isin(y, (0.0, 1.0))
            if bad.any():
                vals = sorted(set(np.unique(y[bad]).tolist()))[:5]
                raise DataError(f"family 'bernoulli' needs response {name!r} coded 0/1 (or True/False), found "
                                f"value(s) {vals} at {int(bad.sum())} row(s), first at position "
                                f"{int(np.flatnonzero(bad)[0])}")
        elif fam in ("binomial", "poisson", "negbinomial"):
            what = "successes" if fam == "binomial" else "counts"
            neg = y < 0
            if neg.any():
                raise DataError(f"response {name!r} must be non-negative {what}, found {y[neg][0]!r} at "
                                f"position {int(np.flatnonzero(neg)[0])} ({int(neg.sum())} negative row(s))")
            frac = y != np.round(y)
            if frac.any():
                raise DataError(f"response {name!r} must be whole {what}, found {y[frac][0]!r} at position "
                                f"{int(np.flatnonzero(frac)[0])}")
            if fam == "binomial":
                n = design.trials
                tname = self._parsed.trials
                if (n < 0).any() or (n != np.round(n)).any():
                    raise DataError(f"trials column {tname!r} must hold whole numbers >= 0")
                over = y > n
                if over.any():
                    i = int(np.flatnonzero(over)[0])
                    raise DataError(f"response {name!r} exceeds trials {tname!r} at position {i} "
                                    f"({y[i]:g} > {n[i]:g})")
        else:
            if not np.isfinite(y).all():
                raise DataError(f"response {name!r} has infinite values")
            if fam in ("normal", "studentt") and np.std(y) == 0:
                raise DataError(f"response {name!r} is constant ({y[0]!r}); nothing to model")

    # ------------------------------------------------------------------ priors
    def _default_priors(self, y: np.ndarray) -> dict[str, dict[str, Any]]:
        fam = self.family
        if fam in ("normal", "studentt"):
            sy = float(np.std(y))
            out = {"Intercept": {"dist": "normal", "mu": float(np.mean(y)), "sigma": 2.5 * sy},
                   "beta": {"dist": "normal", "mu": 0.0, "sigma": 2.5 * sy},
                   "sd": {"dist": "halfnormal", "sigma": sy},
                   "sigma": {"dist": "exponential", "lam": 1.0 / sy}}
            if fam == "studentt":
                out["nu"] = {"dist": "gamma", "alpha": 2.0, "beta": 0.1}
            return out
        loc = 0.0
        if fam in ("poisson", "negbinomial"):
            loc = float(np.log(max(np.mean(y), 1e-3)))
        out = {"Intercept": {"dist": "normal", "mu": loc, "sigma": 2.5},
               "beta": {"dist": "normal", "mu": 0.0, "sigma": 2.5},
               "sd": {"dist": "halfnormal", "sigma": 1.0}}
        if fam == "negbinomial":
            out["overdispersion"] = {"dist": "halfnormal", "sigma": 1.0}
        return out

    def _with_corr_prior(self, pri: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        pri.setdefault("corr", {"dist": "lkj", "eta": 2.0})
        return pri

    def _resolved_priors(self, y: np.ndarray, info: DesignInfo) -> dict[str, dict[str, Any]]:
        pri = self._with_corr_prior(self._default_priors(y))
        allowed = set(pri) | {f"beta[{c}]" for c in info.coef_names} | {f"sd[{g}]" for g in info.group_levels}
        for key, spec in (self.priors or {}).items():
            if key not in allowed:
                hint = closest_match(key, sorted(allowed))
                raise SpecError(f"unknown prior key {key!r} for this model" + (f" (did you mean {hint!r}?)"
                                if hint else "") + f"; allowed keys: {sorted(allowed)}")
            if not isinstance(spec, dict) or "dist" not in spec:
                raise SpecError(f"prior {key!r} must be a dict like {{'dist': 'normal', 'mu': 0, 'sigma': 1}}, "
                                f"found {spec!r}")
            if key == "corr":
                eta = spec.get("eta")
                if str(spec["dist"]).lower() != "lkj" or set(spec) - {"dist", "eta"} \
                        or not isinstance(eta, int | float) or not eta > 0:
                    raise SpecError(f"prior 'corr' must be {{'dist': 'lkj', 'eta': <positive number>}}, "
                                    f"found {spec!r}")
                pri[key] = dict(spec)
                continue
            if str(spec["dist"]).lower() not in _DISTS:
                raise SpecError(f"prior {key!r}: unknown distribution {spec['dist']!r}; expected one of "
                                f"{sorted(_DISTS)}")
            if key.startswith("beta[") and str(spec["dist"]).lower() != "normal":
                raise SpecError(f"per-coefficient prior {key!r} must be 'normal' (mu, sigma); set 'beta' for "
                                "another family of prior on all coefficients")
            pri[key] = dict(spec)
        return pri

    @staticmethod
    def _dist(pm: Any, name: str | None, spec: dict[str, Any], **kwargs: Any) -> Any:
        """A named model variable, or an unnamed ``.dist`` (for LKJCholeskyCov) when ``name`` is None."""
        params = {k: v for k, v in spec.items() if k != "dist"}
        cls = getattr(pm, _DISTS[str(spec["dist"]).lower()])
        try:
            return cls.dist(**params, **kwargs) if name is None else cls(name, **params, **kwargs)
        except TypeError as exc:
            raise SpecError(f"prior for {name!r}: bad parameters {params} for {spec['dist']!r} ({exc})") from None

    # ------------------------------------------------------------------ model building
    def _pool(self, design: Design) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray],
                                               dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
        """Return (X, y, idx, Z, trials, cell_of_row) after optional pooling of identical rows.

        ``cell_of_row`` maps each training row to its pooled cell (None when nothing is pooled).
        """
        X, y, idx, Z = design.X, design.y, design.group_idx, design.group_Z
        trials = design.trials if design.trials is not None else np.ones_like(y)
        if self.family not in ("bernoulli", "binomial") or self.aggregate is False:
            return X, y, idx, Z, trials, None
        names = list(idx)
        key = np.column_stack([X] + [idx[g][:, None].astype(float) for g in names] + [Z[g] for g in names])
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.ravel()
        if self.aggregate == "auto" and len(uniq) > 0.5 * len(y):
            return X, y, idx, Z, trials, None
        succ = np.bincount(inv, weights=y, minlength=len(uniq))
        n = np.bincount(inv, weights=trials, minlength=len(uniq))
        pX = uniq[:, :X.shape[1]]
        col = X.shape[1]
        p_idx = {}
        for g in names:
            p_idx[g] = uniq[:, col].astype(np.int64)
            col += 1
        p_Z = {}
        for g in names:
            k = Z[g].shape[1]
            p_Z[g] = uniq[:, col:col + k]
            col += k
        return pX, succ, p_idx, p_Z, n, inv.astype(np.int64)

    def _build_model(self, design: Design) -> Any:
        from probwb.core.deps import require_bayes

        require_bayes(f"{type(self).__name__} (a PyMC model)")
        import pymc as pm
        import pytensor.tensor as pt

        info = design.info
        priors = self._resolved_priors(design.y, info)
        X, y, idx, Z, trials, cells = self._pool(design)
        self.n_cells_ = len(y)
        self.cell_of_row_ = cells
        pooled = cells is not None
        coords: dict[str, list] = {"coef": list(info.coef_names), "obs": np.arange(len(y))}
        for g, levels in info.group_levels.items():
            coords[f"{_safe(g)}__level"] = list(levels)
            coords[f"{_safe(g)}__effect"] = list(info.group_columns[g])
            if self._correlated(g, info):
                coords[f"{_safe(g)}__pair"] = _pair_labels(info.group_columns[g])
        with pm.Model(coords=coords) as model:
            intercept = self._dist(pm, "Intercept", priors["Intercept"]) if self._parsed.intercept else 0.0
            eta = intercept
            if X.shape[1]:
                Xd = pm.Data("X", X, dims=("obs", "coef"))
                base = priors["beta"]
                per = {c: priors.get(f"beta[{c}]") for c in info.coef_names}
                if any(per.values()):
                    if str(base["dist"]).lower() != "normal":
                        raise SpecError("per-coefficient priors need 'beta' to be 'normal' as well")
                    mu = np.array([float((per[c] or base).get("mu", 0.0)) for c in info.coef_names])
                    sd = np.array([float((per[c] or base)["sigma"]) for c in info.coef_names])
                    beta = pm.Normal("beta", mu=mu, sigma=sd, dims="coef")
                else:
                    beta = self._dist(pm, "beta", base, dims="coef")
                eta = eta + pt.dot(Xd, beta)
            for g in info.group_levels:
                s = _safe(g)
                spec = priors.get(f"sd[{g}]", priors["sd"])
                dims = (f"{s}__level", f"{s}__effect")
                if self._correlated(g, info):
                    k = len(info.group_columns[g])
                    chol, corr, sds = pm.LKJCholeskyCov(
                        f"chol_{s}", n=k, eta=float(priors["corr"]["eta"]), compute_corr=True,
                        store_in_trace=False, sd_dist=self._dist(pm, None, spec, shape=k))
                    pm.Deterministic(f"sd_{s}", sds, dims=f"{s}__effect")
                    iu = np.triu_indices(k, 1)
                    pm.Deterministic(f"corr_{s}", corr[iu[0], iu[1]], dims=f"{s}__pair")
                    if self.noncentered:
                        u = pm.Normal(f"z_{s}", 0.0, 1.0, dims=dims)
                        r = pm.Deterministic(f"r_{s}", pt.dot(u, chol.T), dims=dims)
                    else:
                        r = pm.MvNormal(f"r_{s}", mu=pt.zeros(k), chol=chol, dims=dims)
                else:
                    sd_g = self._dist(pm, f"sd_{s}", spec, dims=f"{s}__effect")
                    if self.noncentered:
                        u = pm.Normal(f"z_{s}", 0.0, 1.0, dims=dims)
                        r = pm.Deterministic(f"r_{s}", u * sd_g, dims=dims)
                    else:
                        r = pm.Normal(f"r_{s}", 0.0, sd_g, dims=dims)
                idx_d = pm.Data(f"idx_{s}", idx[g], dims="obs")
                Z_d = pm.Data(f"Z_{s}", Z[g], dims=("obs", f"{s}__effect"))
                eta = eta + (r[idx_d] * Z_d).sum(axis=-1)
            fam = self.family
            discrete = fam in ("bernoulli", "binomial", "poisson", "negbinomial")
            # Integer data so forward sampling (prior/posterior predictive) of discrete families works.
            y_d = pm.Data("y", np.round(y).astype(np.int64) if discrete else y, dims="obs")
            if fam == "bernoulli" and not pooled:
                pm.Bernoulli("obs_y", logit_p=eta, observed=y_d, dims="obs")
            elif fam in ("bernoulli", "binomial"):
                n_d = pm.Data("trials", np.round(trials).astype(np.int64), dims="obs")
                pm.Binomial("obs_y", n=n_d, logit_p=eta, observed=y_d, dims="obs")
            elif fam == "poisson":
                pm.Poisson("obs_y", mu=pt.exp(eta), observed=y_d, dims="obs")
            elif fam == "negbinomial":
                od = self._dist(pm, "overdispersion", priors["overdispersion"])
                alpha = pm.Deterministic("alpha", 1.0 / od**2)
                pm.NegativeBinomial("obs_y", mu=pt.exp(eta), alpha=alpha, observed=y_d, dims="obs")
            else:
                sigma = self._dist(pm, "sigma", priors["sigma"])
                if fam == "normal":
                    pm.Normal("obs_y", mu=eta, sigma=sigma, observed=y_d, dims="obs")
                else:
                    nu = self._dist(pm, "nu", priors["nu"])
                    pm.StudentT("obs_y", nu=nu, mu=eta, sigma=sigma, observed=y_d, dims="obs")
        return model

    def _encode(self, df: pd.DataFrame) -> Design:
        check_dataframe(df, name="data")
        design = build_design(df, self._parsed, where="in the training data")
        self._check_response(design)
        return design

    def build_model(self, df: pd.DataFrame) -> Any:
        """Return the ``pymc.Model`` this GLM would fit to ``df`` (for inspection or custom sampling)."""
        return self._build_model(self._encode(df))

    def _correlated(self, g: str, info: DesignInfo | None = None) -> bool:
        """True when grouping ``g``'s varying effects get an estimated correlation ("|" and 2+ components)."""
        info = info if info is not None else self.design_info_
        term = next(t for t in self._parsed.groups if t.name == g)
        return term.correlated and len(info.group_columns[g]) > 1

    def param_names(self) -> list[str]:
        """Return the names of the model's parameters as they appear in the posterior (no z_ offsets)."""
        info = self.design_info_
        names = (["Intercept"] if self._parsed.intercept else []) + (["beta"] if info.coef_names else [])
        names += [f"sd_{_safe(g)}" for g in info.group_levels] + [f"r_{_safe(g)}" for g in info.group_levels]
        names += [f"corr_{_safe(g)}" for g in info.group_levels if self._correlated(g)]
        names += {"negbinomial": ["alpha"], "normal": ["sigma"], "studentt": ["sigma", "nu"]}.get(self.family, [])
        return names

    # ------------------------------------------------------------------ fitting
    def prior_predictive(self, df: pd.DataFrame, draws: int = 200, random_state: RandomState = None) -> Any:
        """Return an ``InferenceData`` with ``prior`` and ``prior_predictive`` groups for ``df``'s design.

        Use it to check that the priors give plausible outcomes before fitting (prior predictive check).
        """
        from probwb.hier import backend

        model = self.build_model(df)
        return backend.sample_prior_predictive(model, draws=draws, random_state=random_state)

    def fit(self, df: pd.DataFrame, draws: int = 1000, tune: int = 1000, chains: int = 4,
            sampler: str | None = None, random_state: RandomState = None, progressbar: bool = True,
            target_accept: float = 0.95, log_likelihood: bool = False,
            mass_matrix: str = "low_rank", compile_backend: str = "auto") -> HierarchicalGLM:
        """Sample the posterior given ``df`` and return ``self`` with ``idata_`` and ``diagnostics_`` set.

        ``sampler``: "nutpie" (default when installed), "pymc" or "numpyro" (see
        :func:`probwb.hier.backend.sample`). ``mass_matrix="low_rank"`` (nutpie) adapts to the strong
        correlation between the intercept and the group effects; on a simulated readmission cohort it
        doubled the minimum bulk ESS per second against a diagonal mass matrix. ``compile_backend``: see
        :func:`probwb.hier.backend.sample`.

        Emits :class:`probwb.errors.SamplingWarning` when the diagnostics verdict is not "ok".
        ``log_likelihood=True`` also stores pointwise log-likelihoods, one per training row even when
        rows were pooled (for :func:`probwb.diagnostics.compare` against other models).
        """
        from probwb import diagnostics
        from probwb.hier import backend

        design = self._encode(df)
        model = self._build_model(design)
        idata = backend.sample(model, draws=draws, tune=tune, chains=chains, sampler=sampler,
                               random_state=random_state, progressbar=progressbar, target_accept=target_accept,
                               mass_matrix=mass_matrix, compile_backend=compile_backend)
        self.model_ = model
        self.idata_ = idata
        self.design_info_ = design.info
        self.coef_names_ = list(design.info.coef_names)
        self.group_levels_ = {g: list(v) for g, v in design.info.group_levels.items()}
        self.n_obs_ = len(design.y)
        # per-row outcome and trials of a pooled fit, for leave-one-row-out (see loo)
        pooled = self.cell_of_row_ is not None
        self._rows_y_ = design.y if pooled else None
        self._rows_trials_ = (design.trials if design.trials is not None else np.ones_like(design.y)) \
            if pooled else None
        self.group_counts_ = {g: np.bincount(design.group_idx[g], minlength=len(v))
                              for g, v in design.info.group_levels.items()}
        if log_likelihood:
            self._store_log_likelihood(idata)
        self.diagnostics_ = diagnostics.check(idata, var_names=self.param_names(), warn=True)
        return self

    def _store_log_likelihood(self, idata: Any) -> None:
        """Add the per-row pointwise log-likelihood to ``idata`` (for :func:`probwb.diagnostics.compare`).

        A pooled fit stores one column per training row, not per cell, so that comparing it with an
        unpooled model compares like with like (this costs draws x rows doubles).
        """
        import xarray as xr

        from probwb.hier import backend

        if getattr(self, "cell_of_row_", None) is None:
            backend.add_log_likelihood(self._model(), idata)
            return
        units, unit_of_row, _ = self._row_loglik_units()
        rows = units.log_likelihood["obs_y"].isel(unit=xr.DataArray(unit_of_row, dims="obs"))
        if "log_likelihood" in idata.groups():
            del idata["log_likelihood"]
        idata.add_groups(log_likelihood=xr.Dataset({"obs_y": rows.drop_vars("unit", errors="ignore")}))

    def loo(self, pointwise: bool = False) -> Any:
        """Return PSIS-LOO (:class:`probwb.diagnostics.LooResult`) of the fitted model, per training row.

        When identical rows were pooled into binomial cells, leave-one-cell-out would count a cell of
        n rows as one observation (and score all n of them at once), which cannot be compared with an
        unpooled model's LOO. Instead each row's pointwise log-likelihood is computed from its cell's
        linear predictor draws: a bernoulli cell with k successes of n gives k rows with log p and
        n - k rows with log(1 - p) (binomial rows: log C(n_i, y_i) + y_i log p + (n_i - y_i) log(1 - p)),
        PSIS runs once per distinct (cell, y, trials) and the result is counted once per row. That
        equals PSIS-LOO of the same model fitted unpooled, evaluated on the same draws.
        ``result.note`` says which was done. ``pointwise=True`` keeps per-row elpd in ``loo_i``.
        """
        from probwb import diagnostics
        from probwb.hier import backend

        self._check_fitted()
        cells = getattr(self, "cell_of_row_", None)
        if cells is None:
            backend.add_log_likelihood(self._model(), self.idata_)
            return diagnostics.loo(self.idata_, pointwise=pointwise,
                                   note=f"PSIS-LOO per observation ({self.n_obs_:,} rows, none pooled)")
        units_idata, unit_of_row, n_units = self._row_loglik_units()
        note = (f"PSIS-LOO per observation: {self.n_obs_:,} rows (not the {self.n_cells_:,} pooled cells "
                f"sampled); {n_units:,} distinct (cell, outcome) log-likelihoods, each counted once per row")
        return diagnostics.loo(units_idata, pointwise=pointwise, unit_of_obs=unit_of_row, note=note)

    def _row_loglik_units(self) -> tuple[Any, np.ndarray, int]:
        """Pointwise log-likelihoods of the distinct (cell, y, trials) rows of a pooled fit.

        Returns an InferenceData (this fit's posterior plus a ``log_likelihood`` group over the units),
        the unit of each training row, and the number of units.
        """
        import xarray as xr

        model = self._model()
        cells = self.cell_of_row_
        y_row, n_row = self._rows_y_, self._rows_trials_
        key = np.column_stack([cells.astype(float), y_row, n_row])
        uniq, unit_of_row = np.unique(key, axis=0, return_inverse=True)
        unit_of_row = unit_of_row.ravel().astype(np.int64)
        u_cell, u_y, u_n = uniq[:, 0].astype(np.int64), uniq[:, 1], uniq[:, 2]
        post = self.idata_.posterior
        C, D = int(post.sizes["chain"]), int(post.sizes["draw"])
        eta = np.zeros((C * D, self.n_cells_))
        if self._parsed.intercept:
            eta += self._draws("Intercept")[:, None]
        if self.coef_names_:
            eta += self._draws("beta") @ np.asarray(model["X"].get_value()).T
        for g in self.design_info_.group_levels:
            s = _safe(g)
            r = self._draws(f"r_{s}")                                # (S, L, K)
            idx = np.asarray(model[f"idx_{s}"].get_value())
            Zg = np.asarray(model[f"Z_{s}"].get_value())
            eta += np.einsum("snk,nk->sn", r[:, idx, :], Zg)
        e = eta[:, u_cell]
        from scipy import special

        log_binom = special.gammaln(u_n + 1) - special.gammaln(u_y + 1) - special.gammaln(u_n - u_y + 1)
        # log p = -log(1 + exp(-eta)), log(1 - p) = -log(1 + exp(eta)), stable for large |eta|
        ll = log_binom - u_y * np.logaddexp(0.0, -e) - (u_n - u_y) * np.logaddexp(0.0, e)
        ll_da = xr.DataArray(ll.reshape(C, D, -1), dims=("chain", "draw", "unit"),
                             coords={"chain": post["chain"].values, "draw": post["draw"].values})
        # same posterior (so PSIS gets the same relative efficiency), unit log-likelihoods beside it
        idata = type(self.idata_)(posterior=post, log_likelihood=xr.Dataset({"obs_y": ll_da}))
        return idata, unit_of_row, len(uniq)

    def _model(self) -> Any:
        if getattr(self, "model_", None) is None:
            raise NotFittedError("the PyMC model is not kept in a loaded HierarchicalGLM; refit to use loo()")
        return self.model_

    # ------------------------------------------------------------------ posterior draws in numpy
    def _draws(self, name: str) -> np.ndarray:
        arr = np.asarray(self.idata_.posterior[name])
        return arr.reshape((-1,) + arr.shape[2:])

    def _draw_subset(self, n_draws: int | None) -> np.ndarray:
        post = self.idata_.posterior
        total = int(post.sizes["chain"] * post.sizes["draw"])
        if n_draws is None or n_draws >= total:
            return np.arange(total)
        return np.linspace(0, total - 1, int(n_draws)).astype(int)

    def _eta(self, df: pd.DataFrame, sel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Linear predictor draws (len(sel), n_rows); unseen group levels get new population draws."""
        design = build_design(df, self._parsed, self.design_info_, require_response=False,
                              where="in the new data")
        S = len(sel)
        eta = np.zeros((S, len(df)))
        if self._parsed.intercept:
            eta += self._draws("Intercept")[sel][:, None]
        if design.X.shape[1]:
            eta += self._draws("beta")[sel] @ design.X.T
        for g in self.design_info_.group_levels:
            s = _safe(g)
            r = self._draws(f"r_{s}")[sel]          # (S, L, K)
            sd = self._draws(f"sd_{s}")[sel]        # (S, K)
            idx = design.group_idx[g]
            seen = idx >= 0
            Zg = design.group_Z[g]
            if seen.any():
                eta[:, seen] += np.einsum("snk,nk->sn", r[:, idx[seen], :], Zg[seen])
            if (~seen).any():
                cols = np.flatnonzero(~seen)
                # One new effect per unseen level and draw, shared by all rows of that level.
                codes = pd.Index(self._unseen_keys(df, g)[~seen]).factorize()[0]
                z = rng.standard_normal((S, codes.max() + 1, sd.shape[1]))
                if f"corr_{s}" in self.idata_.posterior:
                    chol = np.linalg.cholesky(_covariance(sd, self._draws(f"corr_{s}")[sel]))
                    fresh = np.einsum("slk,sjk->slj", z, chol)
                else:
                    fresh = z * sd[:, None, :]
                eta[:, cols] += np.einsum("snk,nk->sn", fresh[:, codes, :], Zg[~seen])
        return eta

    def _unseen_keys(self, df: pd.DataFrame, g: str) -> np.ndarray:
        factors = next(t.factors for t in self._parsed.groups if t.name == g)
        from probwb.hier.formula import _group_key

        return _group_key(df, factors)

    def predict(self, new_df: pd.DataFrame, kind: str = "mean", interval: float = 0.9,
                n_draws: int | None = None, random_state: RandomState = None) -> pd.DataFrame | np.ndarray:
        """Predict the expected response (probability, rate or mean) for the rows of ``new_df``.

        ``kind="mean"`` returns a DataFrame (index of ``new_df``) with ``mean``, ``sd``, ``lower``,
        ``upper`` (equal-tailed ``interval``); ``kind="samples"`` returns the posterior draws of the
        expected response as an array (draws, rows); ``kind="predictive"`` returns draws of new
        outcomes (draws, rows). Rows from groups unseen in training get group effects drawn from the
        population distribution (per draw: Normal(0, sd), or for correlated effects a multivariate normal with
        that draw's standard deviations and correlations), so their intervals are wider.
        """
        self._check_fitted()
        if kind not in ("mean", "samples", "predictive"):
            raise DataError(f"kind must be 'mean', 'samples' or 'predictive', found {kind!r}")
        if not 0 < interval < 1:
            raise DataError(f"interval must lie in (0, 1), found {interval!r}")
        check_dataframe(new_df, name="new_df")
        rng = check_random_state(random_state)
        sel = self._draw_subset(n_draws)
        if kind == "mean":
            rows = []
            # Chunks bound memory at about 4M doubles per block for large tables.
            step = max(1, 4_000_000 // max(len(sel), 1))
            for start in range(0, len(new_df), step):
                mu = _inv_link(self._eta(new_df.iloc[start:start + step], sel, rng), self.family)
                q = np.quantile(mu, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
                rows.append(pd.DataFrame({"mean": mu.mean(0), "sd": mu.std(0), "lower": q[0], "upper": q[1]}))
            out = pd.concat(rows, ignore_index=True)
            out.index = new_df.index
            return out
        mu = _inv_link(self._eta(new_df, sel, rng), self.family)
        if kind == "samples":
            return mu
        return self._sample_outcome(mu, new_df, sel, rng)

    def _sample_outcome(self, mu: np.ndarray, df: pd.DataFrame, sel: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
        fam = self.family
        if fam == "bernoulli":
            return (rng.random(mu.shape) < mu).astype(float)
        if fam == "binomial":
            if self._parsed.trials not in df.columns:
                raise DataError(f"predictive draws for a binomial model need the trials column "
                                f"{self._parsed.trials!r} in new_df")
            n = np.asarray(df[self._parsed.trials], dtype=np.int64)
            return rng.binomial(n[None, :], mu).astype(float)
        if fam == "poisson":
            return rng.poisson(mu).astype(float)
        if fam == "negbinomial":
            alpha = self._draws("alpha")[sel][:, None]
            lam = rng.gamma(alpha, mu / alpha)
            return rng.poisson(lam).astype(float)
        sigma = self._draws("sigma")[sel][:, None]
        if fam == "normal":
            return mu + sigma * rng.standard_normal(mu.shape)
        nu = self._draws("nu")[sel][:, None]
        return mu + sigma * rng.standard_t(nu, size=mu.shape)

    def ppc(self, df: pd.DataFrame, stats: Any = ("mean", "sd", "min", "max"), n_draws: int = 500,
            random_state: RandomState = None) -> pd.DataFrame:
        """Posterior predictive check on ``df`` (with its response): return the p-value table of
        :func:`probwb.diagnostics.ppc_test` (p near 0 or 1 flags a statistic the model does not reproduce)."""
        from probwb import diagnostics

        self._check_fitted()
        design = build_design(df, self._parsed, self.design_info_, where="in the checked data")
        rep = self.predict(df, kind="predictive", n_draws=n_draws, random_state=random_state)
        return diagnostics.ppc_test(design.y, rep, stats)

    # ------------------------------------------------------------------ risk outputs
    def risk_table(self, df: pd.DataFrame, interval: float = 0.9, random_state: RandomState = None
                   ) -> pd.DataFrame:
        """Return per-row posterior risk (expected response) with ``risk_mean``, ``risk_sd``,
        ``risk_lower``, ``risk_upper`` (equal-tailed ``interval``), indexed like ``df``."""
        pred = self.predict(df, kind="mean", interval=interval, random_state=random_state)
        return pred.rename(columns={"mean": "risk_mean", "sd": "risk_sd", "lower": "risk_lower",
                                    "upper": "risk_upper"})

    def risk_tiers(self, df: pd.DataFrame, quantile: float = 0.9, n_draws: int = 500,
                   random_state: RandomState = None) -> pd.DataFrame:
        """Return each row's probability of being in the top tier (risk above the ``quantile``-th
        quantile of the rows' risks, per posterior draw), indexed like ``df``.

        Columns: ``risk_mean``, ``p_top_tier`` and ``top_tier`` (True when the posterior mean risk is in
        the top tier). Uses ``n_draws`` evenly spaced posterior draws.
        """
        self._check_fitted()
        if not 0 < quantile < 1:
            raise DataError(f"quantile must lie in (0, 1), found {quantile!r}")
        check_dataframe(df, name="df")
        rng = check_random_state(random_state)
        mu = _inv_link(self._eta(df, self._draw_subset(n_draws), rng), self.family)
        thresh = np.quantile(mu, quantile, axis=1, keepdims=True)
        p_top = (mu >= thresh).mean(axis=0)
        mean = mu.mean(axis=0)
        return pd.DataFrame({"risk_mean": mean, "p_top_tier": p_top,
                             "top_tier": mean >= np.quantile(mean, quantile)}, index=df.index)

    def group_league_table(self, group: str | None = None, interval: float = 0.9,
                           higher_is_worse: bool = True) -> pd.DataFrame:
        """Return a league table of the groups' varying intercepts (link scale), worst first.

        Columns: ``n_rows`` (training rows), ``effect_mean``, ``effect_lower``, ``effect_upper``,
        ``rank_mean``, ``rank_lower``, ``rank_upper`` (rank 1 = worst, per posterior draw, with an
        equal-tailed ``interval``) and ``p_worse_than_average`` (P(effect > 0), or < 0 when
        ``higher_is_worse`` is False). Index: the group levels.
        """
        self._check_fitted()
        levels = self.design_info_.group_levels
        if group is None:
            if len(levels) != 1:
                raise DataError(f"the model has several groupings {list(levels)}: pass group=")
            group = next(iter(levels))
        if group not in levels:
            hint = closest_match(group, list(levels))
            raise DataError(f"no grouping {group!r} in this model" + (f" (did you mean {hint!r}?)" if hint else "")
                            + f"; groupings: {list(levels)}")
        if "Intercept" not in self.design_info_.group_columns[group]:
            raise DataError(f"grouping {group!r} has no varying intercept to rank")
        k = self.design_info_.group_columns[group].index("Intercept")
        eff = self._draws(f"r_{_safe(group)}")[:, :, k]          # (S, L)
        sign = 1.0 if higher_is_worse else -1.0
        order = np.argsort(np.argsort(-sign * eff, axis=1), axis=1) + 1
        lo, hi = (1 - interval) / 2, (1 + interval) / 2
        q = np.quantile(eff, [lo, hi], axis=0)
        rq = np.quantile(order, [lo, hi], axis=0)
        table = pd.DataFrame({
            "n_rows": self.group_counts_[group],
            "effect_mean": eff.mean(0), "effect_lower": q[0], "effect_upper": q[1],
            "rank_mean": order.mean(0), "rank_lower": rq[0], "rank_upper": rq[1],
            "p_worse_than_average": (sign * eff > 0).mean(0),
        }, index=pd.Index(levels[group], name=group))
        return table.sort_values("effect_mean", ascending=not higher_is_worse)

    # ------------------------------------------------------------------ summaries
    def coefficients(self, interval: float = 0.9) -> pd.DataFrame:
        """Return population-level coefficients and group standard deviations on the original scale.

        Index: ``Intercept``, coefficient names, ``sd(group: component)``, family parameters. Columns:
        ``mean``, ``sd``, ``lower``, ``upper`` (original scale: per unit of a numeric predictor, and the
        intercept at zero of the numeric predictors) and ``mean_std`` (internal standardised scale).
        """
        self._check_fitted()
        info = self.design_info_
        S = int(self.idata_.posterior.sizes["chain"] * self.idata_.posterior.sizes["draw"])
        cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        beta = self._draws("beta") if info.coef_names else np.zeros((S, 0))
        scale = np.array([info.numeric[c][1] if c in info.numeric else 1.0 for c in info.coef_names])
        shift = np.array([info.numeric[c][0] if c in info.numeric else 0.0 for c in info.coef_names])
        if self._parsed.intercept:
            b0 = self._draws("Intercept")
            cols["Intercept"] = (b0 - (beta / scale) @ shift if beta.shape[1] else b0, b0)
        for j, c in enumerate(info.coef_names):
            cols[c] = (beta[:, j] / scale[j], beta[:, j])
        for g, comps in info.group_columns.items():
            sd = self._draws(f"sd_{_safe(g)}")
            for k, comp in enumerate(comps):
                sc = info.numeric[comp][1] if comp in info.numeric else 1.0
                cols[f"sd({g}: {comp})"] = (sd[:, k] / sc, sd[:, k])
        for g, comps in info.group_columns.items():
            if f"corr_{_safe(g)}" in self.idata_.posterior:
                rho = self._draws(f"corr_{_safe(g)}")
                for j, pair in enumerate(_pair_labels(comps)):
                    a, b = pair.split(":", 1)
                    cols[f"corr({g}: {a}, {b})"] = (rho[:, j], rho[:, j])
        for p in {"negbinomial": ["alpha"], "normal": ["sigma"], "studentt": ["sigma", "nu"]}.get(self.family, []):
            d = self._draws(p)
            cols[p] = (d, d)
        lo, hi = (1 - interval) / 2, (1 + interval) / 2
        rows = []
        for name, (orig, std) in cols.items():
            q = np.quantile(orig, [lo, hi])
            rows.append({"parameter": name, "mean": orig.mean(), "sd": orig.std(), "lower": q[0], "upper": q[1],
                         "mean_std": std.mean()})
        return pd.DataFrame(rows).set_index("parameter")

    def _diag_label(self, name: str) -> str | None:
        info = self.design_info_
        if name == "Intercept" or name in ("alpha", "sigma", "nu"):
            return name
        if name in info.coef_names:
            return f"beta[{name}]"
        if name.startswith("sd("):
            g, comp = name[3:-1].split(": ", 1)
            return f"sd_{_safe(g)}[{comp}]"
        if name.startswith("corr("):
            g, pair = name[5:-1].split(": ", 1)
            return f"corr_{_safe(g)}[{pair.replace(', ', ':')}]"
        return None

    def summary(self, interval: float = 0.9, warn: bool = True) -> pd.DataFrame:
        """Return :meth:`coefficients` joined with R-hat, bulk/tail ESS and a per-parameter flag, plus a
        ``verdict`` column carrying the overall diagnostics verdict (also in ``.attrs["diagnostics"]``).

        A non-ok verdict is repeated as a :class:`~probwb.errors.SamplingWarning` (unless ``warn=False``,
        for callers that already reported the fit's warning), so it is never missed.
        """
        coefs = self.coefficients(interval)
        table = self.diagnostics_.table
        diag_cols = ["r_hat", "ess_bulk", "ess_tail", "flag"]
        extra = []
        for name in coefs.index:
            lab = self._diag_label(name)
            if lab is not None and lab in table.index:
                extra.append(table.loc[lab, diag_cols].to_dict())
            else:
                extra.append({c: (np.nan if c != "flag" else "") for c in diag_cols})
        out = pd.concat([coefs, pd.DataFrame(extra, index=coefs.index)], axis=1)
        out["verdict"] = self.diagnostics_.verdict
        out.attrs["diagnostics"] = self.diagnostics_.to_dict()
        if warn and self.diagnostics_.verdict != "ok":
            warnings.warn(f"diagnostics verdict {self.diagnostics_.verdict!r}: "
                          + "; ".join(self.diagnostics_.reasons), SamplingWarning, stacklevel=2)
        return out

    # ------------------------------------------------------------------ persistence
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["model_"] = None  # PyMC models hold compiled graphs; rebuild by refitting when needed
        return state

    def save(self, path: str) -> Any:
        """Save the fitted model atomically as a ``.pwb`` model file (posterior as netCDF, PyMC graph
        excluded; see probwb.core.io); return the path."""
        from probwb.core.io import save_model

        self._check_fitted()
        return save_model(path, self, config=self.get_params())

    @classmethod
    def load(cls, path: str) -> HierarchicalGLM:
        """Load a model saved with :meth:`save` and return it; a foreign, damaged or edited file, or one
        that fails validation, raises ModelFileError. ``loo()`` needs a refit (the PyMC graph is not kept)."""
        from probwb.core.io import load_model

        return load_model(path, cls)

    def _to_file_state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """Return ``(state, extras)`` for probwb.core.io.save_model (see probwb.hier._files)."""
        from probwb.hier._files import glm_to_file_state

        return glm_to_file_state(self)

    @classmethod
    def _from_file_state(cls, state: dict[str, Any], extras: dict[str, bytes],
                         config: dict[str, Any]) -> HierarchicalGLM:
        """Rebuild a saved model through its constructor and checks; return it."""
        from probwb.hier._files import glm_from_file_state

        return glm_from_file_state(cls, state, extras, config)


def _pair_labels(components: Any) -> list[str]:
    """Labels of the upper-triangle pairs of a group's components, in np.triu_indices order."""
    comps = list(components)
    return [f"{comps[i]}:{comps[j]}" for i, j in zip(*np.triu_indices(len(comps), 1), strict=True)]


def _covariance(sd: np.ndarray, corr_pairs: np.ndarray) -> np.ndarray:
    """Covariance matrices (S, K, K) from sd draws (S, K) and upper-triangle correlation draws (S, P)."""
    S, K = sd.shape
    iu = np.triu_indices(K, 1)
    corr = np.broadcast_to(np.eye(K), (S, K, K)).copy()
    corr[:, iu[0], iu[1]] = corr_pairs
    corr[:, iu[1], iu[0]] = corr_pairs
    return sd[:, :, None] * corr * sd[:, None, :]


def meta_analysis_model(y: Any, se: Any, *, noncentered: bool = True, mu_sd: float = 5.0,
                        tau_scale: float = 5.0, names: list[str] | None = None) -> Any:
    """Return a random-effects meta-analysis ``pymc.Model`` (the "eight schools" model).

    ``y[j] ~ Normal(theta[j], se[j])`` with known standard errors, ``theta[j] = mu + tau * eta[j]``
    (non-centred; centred ``theta ~ Normal(mu, tau)`` if ``noncentered=False``),
    ``mu ~ Normal(0, mu_sd)``, ``tau ~ HalfCauchy(tau_scale)``, ``eta ~ Normal(0, 1)``: the priors of
    posteriordb's ``eight_schools_noncentered``. ``y`` is a ``pm.Data`` container named "y" so the model
    can be refitted to new data (e.g. by :func:`probwb.hier.sbc.sbc`).
    """
    from probwb.core.deps import require_bayes

    require_bayes("meta_analysis_model (a PyMC model)")
    import pymc as pm

    y = check_finite_1d(y, "y")
    se = check_finite_1d(se, "se")
    if len(y) != len(se):
        raise DataError(f"y and se must have the same length, found {len(y)} and {len(se)}")
    if (se <= 0).any():
        raise DataError(f"se must be positive, found {se[se <= 0][0]!r} at position {int(np.flatnonzero(se <= 0)[0])}")
    names = names or [str(i) for i in range(len(y))]
    with pm.Model(coords={"study": names}) as model:
        y_d = pm.Data("y", y, dims="study")
        mu = pm.Normal("mu", 0.0, mu_sd)
        tau = pm.HalfCauchy("tau", tau_scale)
        if noncentered:
            eta = pm.Normal("eta", 0.0, 1.0, dims="study")
            theta = pm.Deterministic("theta", mu + tau * eta, dims="study")
        else:
            theta = pm.Normal("theta", mu, tau, dims="study")
        pm.Normal("obs_y", theta, se, observed=y_d, dims="study")
    return model


def check_finite_1d(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a finite 1-d float array, else raise DataError naming ``name``."""
    from probwb.core.validation import check_finite

    arr = check_finite(values, name=name)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{name} must be a non-empty 1-d array, found shape {arr.shape}")
    return arr
