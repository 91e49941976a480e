"""Linear and generalised linear regression with a tidy coefficient table, robust and cluster-robust standard
errors, fit statistics, residual diagnostics and a plain-sentence interpretation.

statsmodels does the fitting (``OLS`` for the gaussian family, ``GLM`` for binomial, poisson and negative
binomial; the negative binomial's dispersion is its maximum-likelihood estimate, as in R's ``MASS::glm.nb``).
probwb adds the formula syntax shared with :func:`~probwb.stats.anova` (``y ~ A * B + x``, ``C(x)`` for a
factor; factors use treatment coding with the first level -- or the first category of a Categorical -- as
reference, named like patsy: ``tension[T.M]``), the input checks, the result object and the interpretation.

Numbers follow R: AIC and BIC count every estimated parameter (the residual variance of a linear model and the
negative binomial's theta included), gaussian models use t statistics, the other families z (Wald) statistics.
Standard errors: ``se="classical"``, ``"HC0"``..``"HC3"`` (heteroscedasticity-consistent; HC3 by default when
asked for "robust"), or ``cluster="column"`` for cluster-robust (CR1, as Stata and R's ``sandwich::vcovCL``;
t with G - 1 degrees of freedom for a linear model).
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from probwb.errors import ConvergenceWarning, DataError, ModelError, SpecError
from probwb.stats.anova import _factorize, _numeric, _select, parse_formula
from probwb.stats.kernels import coding_matrix
from probwb.stats.results import format_p

__all__ = ["regress", "RegressionResult", "FAMILIES", "SE_TYPES", "glm_sandwich"]

#: family -> (link, what exp(coefficient) is called, or None)
FAMILIES: dict[str, tuple[str, str | None]] = {
    "gaussian": ("identity", None),
    "binomial": ("logit", "odds_ratio"),
    "poisson": ("log", "rate_ratio"),
    "negative_binomial": ("log", "rate_ratio"),
}
SE_TYPES = ("classical", "HC0", "HC1", "HC2", "HC3")
_ALIASES = {"normal": "gaussian", "logistic": "binomial", "nb": "negative_binomial",
            "negativebinomial": "negative_binomial", "negbin": "negative_binomial"}


@dataclass(frozen=True, repr=False)
class RegressionResult:
    """A fitted linear or generalised linear model.

    ``table``: one row per coefficient (index = term names such as ``Intercept``, ``dose``, ``supp[T.VC]``) with
    ``estimate, se, statistic, pvalue, ci_low, ci_high`` and, for binomial / poisson / negative binomial, the
    exponentiated estimate and interval (``odds_ratio`` / ``rate_ratio`` with ``_ci_low`` / ``_ci_high``).
    ``fit``: fit statistics (R², adjusted R², residual SE, overall F for a linear model; deviance, null deviance,
    likelihood-ratio chi2, Pearson dispersion for a GLM; log-likelihood, AIC, BIC, n for both).
    ``residuals``: per row fitted value, response / Pearson / deviance / studentised residuals, leverage and
    Cook's distance. ``diagnostics``: one row per residual check with its statistic, p-value and a flag.
    ``model_``: the statsmodels results object.
    """

    method: str
    formula: str
    family: str
    table: pd.DataFrame
    fit: pd.Series
    residuals: pd.DataFrame
    diagnostics: pd.DataFrame
    se_type: str = "classical"
    statistic_name: str = "t"
    confidence: float = 0.95
    response: str = ""
    reference_levels: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    model_: Any = None

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the coefficient table."""
        return self.table.copy()

    def coef(self, term: str) -> pd.Series:
        """Return the table row of one coefficient (``"Intercept"``, ``"dose"``, ``"supp[T.VC]"``)."""
        if term not in self.table.index:
            from probwb.core.validation import closest_match

            hit = closest_match(term, list(self.table.index))
            hint = f" (did you mean {hit!r}?)" if hit else ""
            raise DataError(f"no coefficient {term!r}{hint}; coefficients: {list(self.table.index)}")
        return self.table.loc[term]

    def __repr__(self) -> str:
        with pd.option_context("display.width", 120, "display.max_columns", 20, "display.precision", 5):
            text = f"{self.method}\n{self.formula}  (n = {int(self.fit['n'])}, {self.se_type} SE)\n" \
                   f"{self.table.to_string()}\n{self.fit.to_string()}"
        return text + "".join(f"\nwarning: {w}" for w in self.warnings)

    def _repr_html_(self) -> str:
        warn = "".join(f"<p><b>warning:</b> {html.escape(w)}</p>" for w in self.warnings)
        return (f"<div><p><b>{html.escape(self.method)}</b>: {html.escape(self.formula)}</p>"
                f"{self.table.to_html()}{self.fit.to_frame('value').to_html()}{warn}</div>")

    def _effect_text(self, term: str, row: pd.Series) -> str:
        pct = f"{100 * self.confidence:g}%"
        ratio = FAMILIES[self.family][1]
        if ratio is not None:
            name = ratio.replace("_", " ")
            what = (f"multiplies the {'odds' if ratio == 'odds_ratio' else 'expected count'} of "
                    f"{self.response} by {row[ratio]:.3g} ({pct} CI {row[ratio + '_ci_low']:.3g} to "
                    f"{row[ratio + '_ci_high']:.3g}; {name})")
        else:
            what = (f"changes {self.response} by {row['estimate']:.4g} ({pct} CI {row['ci_low']:.4g} to "
                    f"{row['ci_high']:.4g})")
        if "[T." in term:
            parts = []
            for piece in term.split(":"):
                if "[T." in piece:
                    var, level = piece.split("[T.", 1)
                    parts.append(f"{var} = {level[:-1]} (vs {self.reference_levels.get(var)!s})")
                else:
                    parts.append(f"{piece} (per unit)")
            subject = " with ".join(parts)
        else:
            subject = " x ".join(term.split(":")) + " (per unit increase)"
        return f"{subject} {what}, {format_p(row['pvalue'])}"

    def interpret(self, alpha: float = 0.05) -> str:
        """Return plain sentences: the model's overall fit, each coefficient significant at ``alpha`` with its
        effect (odds or rate ratio where the family has one), the standard errors used, flagged diagnostics
        and warnings."""
        f = self.fit
        n = int(f["n"])
        if self.family == "gaussian":
            head = (f"A linear regression of {self.response} ({self.formula}, n = {n}) explains "
                    f"{100 * f['r_squared']:.1f}% of its variance (adjusted R² = {f['adj_r_squared']:.3f}); "
                    f"the overall F({_num(f['F_df1'])}, {_num(f['F_df2'])}) = {f['F']:.3g}, "
                    f"{format_p(f['F_pvalue'])}.")
        else:
            head = (f"A {self.family.replace('_', ' ')} GLM with {FAMILIES[self.family][0]} link for "
                    f"{self.response} ({self.formula}, n = {n}) reduces the deviance from "
                    f"{f['null_deviance']:.4g} to {f['deviance']:.4g} (likelihood-ratio chi2({_num(f['df_model'])}) "
                    f"= {f['LR_chi2']:.3g}, {format_p(f['LR_pvalue'])}).")
        rows = self.table.drop(index=[i for i in ("Intercept",) if i in self.table.index])
        sig = [self._effect_text(t, r) for t, r in rows.iterrows() if r["pvalue"] < alpha]
        if sig:
            body = f" Significant at the {alpha:g} level: " + "; ".join(sig) + "."
        else:
            body = f" No coefficient is significant at the {alpha:g} level."
        se_text = {"classical": " Standard errors are classical (model-based).",
                   "cluster": f" Standard errors are cluster-robust over {self.details.get('n_clusters')} "
                              f"clusters of {self.details.get('cluster')!r}."}.get(
            self.se_type, f" Standard errors are heteroscedasticity-robust ({self.se_type}).")
        flags = [str(r["check"]) + ": " + str(r["note"]) for _, r in self.diagnostics.iterrows() if r["flag"]]
        diag = (" Diagnostics to look at: " + "; ".join(flags) + ".") if flags else ""
        warn = f" Caution: {'; '.join(self.warnings)}." if self.warnings else ""
        return head + body + se_text + diag + warn


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


def _design(sub: pd.DataFrame, parsed, where: str) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """Return the model matrix (intercept, then terms in formula order, treatment coding), names, references."""
    n = len(sub)
    variables = list(dict.fromkeys(v for t in parsed.terms for v in t))
    blocks_of: dict[str, tuple[np.ndarray, list[str]]] = {}
    refs: dict[str, Any] = {}
    for v in variables:
        s = sub[v]
        if v in parsed.forced_categorical or not _numeric(s):
            codes, levels = _factorize(s)
            if len(levels) < 2:
                raise DataError(f"{where}: factor {v!r} has a single level ({levels[0]!r}); it cannot explain "
                                "any variation")
            # plain Python scalars keep the result easy to save and print
            refs[v] = levels[0].item() if isinstance(levels[0], np.generic) else levels[0]
            blocks_of[v] = (coding_matrix(len(levels), "treatment")[codes],
                            [f"{v}[T.{lev}]" for lev in levels[1:]])
        else:
            x = s.to_numpy(dtype=float)
            if np.isinf(x).any():
                raise DataError(f"{where}: column {v!r} has an infinite value at row "
                                f"{sub.index[int(np.flatnonzero(np.isinf(x))[0])]!r}")
            blocks_of[v] = (x.reshape(-1, 1), [v])
    cols, names = [np.ones((n, 1))], ["Intercept"]
    for term in parsed.terms:
        block, bnames = np.ones((n, 1)), [""]
        for v in term:
            vb, vn = blocks_of[v]
            block = (block[:, :, None] * vb[:, None, :]).reshape(n, -1)
            bnames = [f"{a}:{b}" if a else b for a in bnames for b in vn]
        cols.append(block)
        names += bnames
    x = np.hstack(cols)
    rank = np.linalg.matrix_rank(x)
    if rank < x.shape[1]:
        # name the first column that the earlier ones already explain (R would report it as NA)
        for j in range(1, x.shape[1] + 1):
            if np.linalg.matrix_rank(x[:, :j]) < j:
                raise DataError(f"{where}: the model matrix is rank deficient: column {names[j - 1]!r} is a linear "
                                "combination of earlier columns (collinear covariates or an empty factor cell); "
                                "drop a term or merge levels")
    return x, names, refs


def glm_sandwich(x: np.ndarray, y: np.ndarray, mu: np.ndarray, variance: np.ndarray, dmu_deta: np.ndarray,
                 kind: str = "HC3") -> np.ndarray:
    """Return the heteroscedasticity-consistent covariance of GLM coefficients (as R's ``sandwich::vcovHC``).

    ``variance`` is V(mu) (times the dispersion), ``dmu_deta`` the inverse link's derivative; the working
    weights are ``w = dmu_deta**2 / variance`` and the score of row i is ``x_i (y_i - mu_i) dmu_deta / variance``.
    HC0 is the plain sandwich; HC1 scales it by n / (n - k); HC2 and HC3 divide each squared score by
    ``1 - h_i`` and ``(1 - h_i)**2`` with ``h`` the leverages of the weighted fit. For a linear model these are
    the usual White / MacKinnon-White estimators.
    """
    n, k = x.shape
    w = dmu_deta ** 2 / variance
    xw = x * np.sqrt(w)[:, None]
    q, r = np.linalg.qr(xw)
    h = np.einsum("ij,ij->i", q, q)
    rinv = np.linalg.solve(r, np.eye(k))
    bread = rinv @ rinv.T  # (X'WX)^-1
    u = (y - mu) * dmu_deta / variance
    if kind == "HC0":
        omega = u ** 2
    elif kind == "HC1":
        omega = u ** 2 * n / (n - k)
    elif kind == "HC2":
        omega = u ** 2 / (1.0 - h)
    elif kind == "HC3":
        omega = u ** 2 / (1.0 - h) ** 2
    else:
        raise SpecError(f"glm_sandwich: kind must be one of HC0, HC1, HC2, HC3, found {kind!r}")
    meat = (x * omega[:, None]).T @ x
    return bread @ meat @ bread


def _family_obj(family: str, alpha: float | None = None):
    import statsmodels.api as sm

    if family == "binomial":
        return sm.families.Binomial()
    if family == "poisson":
        return sm.families.Poisson()
    return sm.families.NegativeBinomial(alpha=float(alpha))


def _check_response(y_raw: pd.Series, family: str, trials: np.ndarray | None, where: str) -> np.ndarray:
    name = y_raw.name
    if family == "binomial" and pd.api.types.is_bool_dtype(y_raw):
        return y_raw.to_numpy(dtype=float)
    if not _numeric(y_raw):
        expected = {"gaussian": "numeric values", "binomial": "0/1 (or True/False) outcomes",
                    }.get(family, "non-negative whole counts")
        example = y_raw.iloc[0]
        raise DataError(f"{where}: the response {name!r} must hold {expected} for the {family} family, found dtype "
                        f"{y_raw.dtype} (e.g. {example!r})")
    y = y_raw.to_numpy(dtype=float)
    bad_inf = np.flatnonzero(np.isinf(y))
    if bad_inf.size:
        raise DataError(f"{where}: the response {name!r} has an infinite value at row {y_raw.index[bad_inf[0]]!r}")
    if family == "binomial":
        if trials is None:
            bad = np.flatnonzero(~np.isin(y, (0.0, 1.0)))
            if bad.size:
                raise DataError(f"{where}: the response {name!r} must be 0/1 for the binomial family (or pass "
                                f"trials= for counts of successes), found {y[bad[0]]:g} at row "
                                f"{y_raw.index[bad[0]]!r}")
        else:
            bad = np.flatnonzero((y < 0) | (y > trials) | (y != np.round(y)) | (trials != np.round(trials)))
            if bad.size:
                i = bad[0]
                raise DataError(f"{where}: with trials= the response {name!r} must be whole successes between 0 "
                                f"and the trials, found {y[i]:g} of {trials[i]:g} at row {y_raw.index[i]!r}")
    elif family in ("poisson", "negative_binomial"):
        bad = np.flatnonzero((y < 0) | (y != np.round(y)))
        if bad.size:
            raise DataError(f"{where}: the response {name!r} must be non-negative whole counts for the {family} "
                            f"family, found {y[bad[0]]:g} at row {y_raw.index[bad[0]]!r}")
    elif y.size and np.all(y == y[0]):
        raise DataError(f"{where}: the response {name!r} is constant (every value is {y[0]:g})")
    return y


def _capture(record: list, out: list[str]) -> None:
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SmConvergence
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    for w in record:
        if issubclass(w.category, PerfectSeparationWarning):
            msg = "perfect separation: some outcome is predicted exactly, so its coefficients and SEs are not " \
                  "identified (their size is meaningless)"
        elif issubclass(w.category, SmConvergence):
            msg = f"the fit did not converge ({str(w.message).splitlines()[0]})"
        else:
            continue
        if msg not in out:
            out.append(msg)


def regress(data: pd.DataFrame, formula: str, family: str = "gaussian", *, se: str = "classical",
            cluster: str | None = None, trials: str | None = None, exposure: str | None = None,
            confidence: float = 0.95, missing: str = "raise") -> RegressionResult:
    """Fit a linear (``family="gaussian"``) or generalised linear model; return a :class:`RegressionResult`.

    ``formula`` uses the syntax of :func:`~probwb.stats.anova` (``"y ~ A * B + x"``, ``C(x)`` forces a factor).
    ``family``: gaussian, binomial (0/1 response, or successes with ``trials=`` naming the column of trials),
    poisson or negative_binomial (counts; ``exposure=`` names a column of exposure times, entered as a log
    offset). ``se``: "classical" or "HC0".."HC3" ("robust" means HC3); ``cluster=`` a column whose groups
    (e.g. hospitals) get cluster-robust SEs. Missing values raise unless ``missing="drop"``. Perfect separation
    and non-convergence warn (:class:`~probwb.errors.ConvergenceWarning`) and are kept in ``.warnings``.
    """
    where = "regress"
    fam = _ALIASES.get(str(family).lower(), str(family).lower())
    if fam not in FAMILIES:
        raise SpecError(f"{where}: family must be one of {', '.join(FAMILIES)}, found {family!r}")
    se_kind = "HC3" if str(se).lower() == "robust" else str(se)
    if se_kind not in SE_TYPES:
        raise SpecError(f"{where}: se must be one of {', '.join(SE_TYPES)} or 'robust', found {se!r}")
    if cluster is not None and se_kind != "classical":
        raise SpecError(f"{where}: pass either se={se!r} or cluster={cluster!r}; cluster-robust SEs are already "
                        "heteroscedasticity-robust")
    if not 0 < confidence < 1:
        raise SpecError(f"{where}: confidence must be between 0 and 1, found {confidence}")
    if trials is not None and fam != "binomial":
        raise SpecError(f"{where}: trials= is for the binomial family, found family {fam!r}")
    if exposure is not None and fam not in ("poisson", "negative_binomial"):
        raise SpecError(f"{where}: exposure= is for the poisson and negative_binomial families, found {fam!r}")
    parsed = parse_formula(formula)
    extra = [c for c in (cluster, trials, exposure) if c is not None]
    columns = list(dict.fromkeys([parsed.response, *[v for t in parsed.terms for v in t], *extra]))
    sub = _select(data, columns, missing, where)
    n_trials = None
    if trials is not None:
        if not _numeric(sub[trials]):
            raise DataError(f"{where}: trials column {trials!r} must be numeric, found dtype {sub[trials].dtype}")
        n_trials = sub[trials].to_numpy(dtype=float)
        if (n_trials <= 0).any():
            i = int(np.flatnonzero(n_trials <= 0)[0])
            raise DataError(f"{where}: trials column {trials!r} must be positive, found {n_trials[i]:g} at row "
                            f"{sub.index[i]!r}")
    y = _check_response(sub[parsed.response], fam, n_trials, where)
    offset = None
    if exposure is not None:
        e = sub[exposure].to_numpy(dtype=float) if _numeric(sub[exposure]) else None
        if e is None or not np.all(np.isfinite(e)) or (e <= 0).any():
            raise DataError(f"{where}: exposure column {exposure!r} must hold positive finite numbers")
        offset = np.log(e)
    x, names, refs = _design(sub, parsed, where)
    n, k = x.shape
    if n <= k:
        raise DataError(f"{where}: {n} row(s) for {k} coefficients; a regression needs more rows than "
                        "coefficients")
    groups = None
    if cluster is not None:
        groups = pd.factorize(sub[cluster], sort=True)[0]
        if groups.max() + 1 < 2:
            raise DataError(f"{where}: cluster column {cluster!r} has a single group; cluster-robust SEs need "
                            "several")
    alpha_ci = 1.0 - confidence
    warn: list[str] = []
    details: dict[str, Any] = {"n_coefficients": k}
    if groups is not None:
        details.update(cluster=cluster, n_clusters=int(groups.max() + 1))
    if fam == "gaussian":
        res, table, fit = _fit_ols(x, y, names, se_kind, groups, alpha_ci, warn)
        stat_name = "t"
    else:
        res, table, fit = _fit_glm(x, y, names, fam, se_kind, groups, alpha_ci, n_trials, offset, warn, details)
        stat_name = "z"
    resid, diag = _residual_checks(res, x, fam, n_trials)
    for w in warn:
        warnings.warn(f"{where}: {w}", ConvergenceWarning, stacklevel=2)
    se_type = "cluster" if groups is not None else se_kind
    method = ("linear regression (OLS)" if fam == "gaussian"
              else f"{fam.replace('_', ' ')} GLM ({FAMILIES[fam][0]} link)")
    return RegressionResult(method=method, formula=formula, family=fam, table=table, fit=fit, residuals=resid,
                            diagnostics=diag, se_type=se_type, statistic_name=stat_name, confidence=confidence,
                            response=parsed.response, reference_levels=refs, warnings=tuple(warn),
                            details=details, model_=res)


def _cov_kwargs(se_kind: str, groups: np.ndarray | None) -> dict[str, Any]:
    if groups is not None:
        return {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
    if se_kind == "classical":
        return {"cov_type": "nonrobust"}
    return {"cov_type": se_kind}


def _coef_table(names: list[str], params, bse, stat, pvalues, ci: np.ndarray, ratio: str | None) -> pd.DataFrame:
    table = pd.DataFrame({"estimate": np.asarray(params, float), "se": np.asarray(bse, float),
                          "statistic": np.asarray(stat, float), "pvalue": np.asarray(pvalues, float),
                          "ci_low": ci[:, 0], "ci_high": ci[:, 1]}, index=pd.Index(names, name="term"))
    if ratio is not None:
        with np.errstate(over="ignore"):
            table[ratio] = np.exp(table["estimate"])
            table[f"{ratio}_ci_low"] = np.exp(table["ci_low"])
            table[f"{ratio}_ci_high"] = np.exp(table["ci_high"])
    return table


def _fit_ols(x, y, names, se_kind, groups, alpha_ci, warn):
    import statsmodels.api as sm

    res = sm.OLS(y, x).fit(use_t=True, **_cov_kwargs(se_kind, groups))
    table = _coef_table(names, res.params, res.bse, res.tvalues, res.pvalues, np.asarray(res.conf_int(alpha_ci)),
                        None)
    n, k = x.shape
    df2 = float(getattr(res, "df_resid_inference", None) or res.df_resid) if groups is not None \
        else float(res.df_resid)
    fvalue = float(np.squeeze(res.fvalue)) if k > 1 else np.nan
    fp = float(np.squeeze(res.f_pvalue)) if k > 1 else np.nan
    llf = float(res.llf)
    n_par = k + 1  # coefficients and the residual variance, as R's AIC(lm) counts them
    fit = pd.Series({"n": float(n), "df_model": float(res.df_model), "df_resid": float(res.df_resid),
                     "r_squared": float(res.rsquared), "adj_r_squared": float(res.rsquared_adj),
                     "residual_se": float(np.sqrt(res.scale)), "F": fvalue, "F_df1": float(res.df_model),
                     "F_df2": df2, "F_pvalue": fp, "loglik": llf, "AIC": -2 * llf + 2 * n_par,
                     "BIC": -2 * llf + math.log(n) * n_par})
    return res, table, fit


def _nb_loglik_theta(theta: float, y: np.ndarray, mu: np.ndarray) -> float:
    from scipy.special import gammaln

    return float(np.sum(gammaln(y + theta) - gammaln(theta) + theta * np.log(theta / (theta + mu))
                        + y * np.log(mu / (theta + mu))))


def _nb_dispersion(y: np.ndarray, x: np.ndarray, offset, warn: list[str]) -> tuple[float, float]:
    """Return the maximum-likelihood NB2 dispersion ``alpha = 1 / theta`` and its standard error.

    statsmodels' joint fit gives the start; as in R's ``glm.nb``, theta (given the fitted means) and the
    coefficients (IRLS given theta) then alternate until theta changes by less than 1e-10 relative, so the
    result is the joint maximum to full precision rather than to the joint optimiser's tolerance.
    """
    import statsmodels.api as sm
    from scipy.optimize import minimize_scalar
    from statsmodels.discrete.discrete_model import NegativeBinomial

    model = NegativeBinomial(y, x, loglike_method="nb2", offset=offset)
    with warnings.catch_warnings():
        # only a start: whether theta converged is judged by the alternation below
        warnings.simplefilter("ignore")
        start = model.fit(disp=0, maxiter=200)
    alpha = float(start.params[-1])
    if not (np.isfinite(alpha) and alpha > 1e-8):
        raise ModelError(f"regress: the negative binomial dispersion estimate is {alpha!r}; the counts show no "
                         "overdispersion, so use family='poisson'")
    theta = 1.0 / alpha
    converged = False
    for _ in range(100):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            glm = sm.GLM(y, x, family=sm.families.NegativeBinomial(alpha=1.0 / theta), offset=offset).fit()
        _capture(rec, warn)
        mu = np.asarray(glm.fittedvalues, float)
        opt = minimize_scalar(lambda lt, m=mu: -_nb_loglik_theta(math.exp(lt), y, m),
                              bounds=(math.log(theta) - 5, math.log(theta) + 5), method="bounded",
                              options={"xatol": 1e-12})
        new = math.exp(float(opt.x))
        if abs(new - theta) <= 1e-10 * theta:
            theta, converged = new, True
            break
        theta = new
    if not converged:
        warn.append("the negative binomial dispersion (theta) did not converge in 100 alternations")
    params = np.r_[np.asarray(glm.params, float), 1.0 / theta]
    cov = np.linalg.inv(-model.hessian(params))
    return 1.0 / theta, float(np.sqrt(cov[-1, -1]))


def _fit_glm(x, y, names, fam, se_kind, groups, alpha_ci, n_trials, offset, warn, details):
    import statsmodels.api as sm

    n, k = x.shape
    endog = np.column_stack([y, n_trials - y]) if n_trials is not None else y
    alpha = None
    if fam == "negative_binomial":
        alpha, alpha_se = _nb_dispersion(y, x, offset, warn)
        details.update(alpha=alpha, theta=1.0 / alpha, theta_se=alpha_se / alpha ** 2)
    family_obj = _family_obj(fam, alpha)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        model = sm.GLM(endog, x, family=family_obj, offset=offset)
        # HC kinds are formed below (statsmodels' GLM has no leverage-adjusted HC2/HC3)
        res = model.fit(**_cov_kwargs("classical", groups))
    _capture(rec, warn)
    if not getattr(res, "converged", True):
        msg = "the fit did not converge (IRLS stopped at its iteration limit)"
        if msg not in warn:
            warn.append(msg)
    mu = np.asarray(res.fittedvalues, float)  # mean of the response (a probability with trials)
    if fam == "binomial" and (np.any(mu < 1e-8) or np.any(mu > 1 - 1e-8)):
        msg = "fitted probabilities numerically 0 or 1 occurred: (quasi-)complete separation is likely; " \
              "the affected coefficients and their SEs are not reliable"
        if not any("separation" in w for w in warn):
            warn.append(msg)
    ratio = FAMILIES[fam][1]
    if se_kind != "classical" and groups is None:
        # statsmodels' GLM has no leverage-adjusted HC2/HC3, so the sandwich is formed here
        yy = y / n_trials if n_trials is not None else y
        var = family_obj.variance(mu) / (n_trials if n_trials is not None else 1.0)
        dmu = 1.0 / family_obj.link.deriv(mu)
        cov = glm_sandwich(x, yy, mu, var, dmu, se_kind)
        bse = np.sqrt(np.diag(cov))
        params = np.asarray(res.params, float)
        z = params / bse
        p = 2 * stats.norm.sf(np.abs(z))
        q = stats.norm.isf(alpha_ci / 2)
        ci = np.column_stack([params - q * bse, params + q * bse])
        table = _coef_table(names, params, bse, z, p, ci, ratio)
    else:
        table = _coef_table(names, res.params, res.bse, res.tvalues, res.pvalues,
                            np.asarray(res.conf_int(alpha_ci)), ratio)
    llf = float(res.llf)
    n_par = k + (1 if fam == "negative_binomial" else 0)  # R's glm.nb AIC counts theta
    lr = float(res.null_deviance - res.deviance)
    df_model = float(res.df_model)
    fit = {"n": float(n), "df_model": df_model, "df_resid": float(res.df_resid),
           "deviance": float(res.deviance), "null_deviance": float(res.null_deviance),
           "df_null": float(n - 1), "LR_chi2": lr, "LR_pvalue": float(stats.chi2.sf(lr, df_model)),
           "pearson_chi2": float(res.pearson_chi2), "dispersion": float(res.pearson_chi2 / res.df_resid),
           "pseudo_r2_mcfadden": float(1.0 - llf / res.llnull), "loglik": llf, "AIC": -2 * llf + 2 * n_par,
           "BIC": -2 * llf + math.log(n) * n_par}
    if alpha is not None:
        fit.update(theta=1.0 / alpha, theta_se=details["theta_se"])
    return res, table, pd.Series(fit)


def _white_special(resid: np.ndarray, fitted: np.ndarray) -> tuple[float, float]:
    """Return White's test in Wooldridge's special form: n R^2 of e^2 on (1, fitted, fitted^2), chi2 with 2 df.

    Unlike Breusch-Pagan (linear in the predictors) it also sees a variance that grows with |x| or with the mean.
    """
    z = (fitted - fitted.mean()) / (fitted.std() or 1.0)
    a = np.column_stack([np.ones_like(z), z, z * z])
    e2 = resid * resid
    coef = np.linalg.lstsq(a, e2, rcond=None)[0]
    ss_res = float(np.sum((e2 - a @ coef) ** 2))
    ss_tot = float(np.sum((e2 - e2.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    lm = resid.size * r2
    return lm, float(stats.chi2.sf(lm, 2))


def _residual_checks(res, x: np.ndarray, fam: str, n_trials) -> tuple[pd.DataFrame, pd.DataFrame]:
    n, k = x.shape
    infl = None
    h = cooks = np.full(n, np.nan)
    # under perfect separation the IRLS weights underflow to 0 and the hat matrix is undefined: report NaN
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            infl = res.get_influence()
            h = np.asarray(infl.hat_matrix_diag, float)
            cooks = np.asarray(infl.cooks_distance[0], float)
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            infl = None
    rows = []
    if fam == "gaussian":
        resid = np.asarray(res.resid, float)
        student = np.asarray(infl.resid_studentized_internal, float) if infl is not None else np.full(n, np.nan)
        frame = pd.DataFrame({"fitted": np.asarray(res.fittedvalues, float), "residual": resid,
                              "studentized": student, "leverage": h, "cooks_d": cooks})
        if n >= 3 and n <= 5000:
            w, p = stats.shapiro(resid)
            rows.append({"check": "normality of residuals", "test": "Shapiro-Wilk", "statistic": float(w),
                         "pvalue": float(p), "flag": bool(p < 0.01),
                         "note": "residuals look non-normal (Shapiro-Wilk p < 0.01); t intervals lean on the "
                                 "sample size" if p < 0.01 else "no evidence against normal residuals"})
        else:
            jb, p = stats.jarque_bera(resid)
            rows.append({"check": "normality of residuals", "test": "Jarque-Bera", "statistic": float(jb),
                         "pvalue": float(p), "flag": bool(p < 0.01),
                         "note": "residuals look non-normal (Jarque-Bera p < 0.01)" if p < 0.01
                         else "no evidence against normal residuals"})
        if k > 1:
            lm, p = _white_special(resid, np.asarray(res.fittedvalues, float))
            rows.append({"check": "constant variance", "test": "White (fitted, fitted^2)", "statistic": lm,
                         "pvalue": p, "flag": bool(p < 0.01),
                         "note": "residual variance changes with the fitted values (White test p < 0.01); "
                                 "consider se='HC3'" if p < 0.01 else "no evidence of heteroscedasticity"})
    else:
        frame = pd.DataFrame({"fitted": np.asarray(res.fittedvalues, float),
                              "residual": np.asarray(res.resid_response, float),
                              "pearson": np.asarray(res.resid_pearson, float),
                              "deviance": np.asarray(res.resid_deviance, float),
                              "leverage": h, "cooks_d": cooks})
        grouped = fam != "binomial" or n_trials is not None
        if grouped and res.df_resid > 0:
            disp = float(res.pearson_chi2 / res.df_resid)
            p = float(stats.chi2.sf(res.pearson_chi2, res.df_resid))
            over = fam != "negative_binomial" and p < 0.01 and disp > 1.2
            rows.append({"check": "overdispersion", "test": "Pearson chi2 / df", "statistic": disp, "pvalue": p,
                         "flag": bool(over),
                         "note": f"Pearson dispersion {disp:.2f} (> 1): SEs are too small; consider "
                                 "family='negative_binomial' or se='HC3'" if over
                         else f"Pearson dispersion {disp:.2f}"})
    big = int(np.sum(cooks > 4.0 / n))
    worst = float(np.nanmax(cooks)) if np.isfinite(cooks).any() else np.nan
    rows.append({"check": "influential rows", "test": "Cook's distance > 4/n", "statistic": worst,
                 "pvalue": np.nan, "flag": bool(worst > 1.0),
                 "note": f"{big} row(s) above 4/n, largest Cook's distance {worst:.3g}"
                         + (" (one row moves the fit a lot)" if worst > 1.0 else "")})
    lev = int(np.sum(h > 3.0 * k / n))
    rows.append({"check": "high leverage", "test": "leverage > 3k/n", "statistic": float(lev), "pvalue": np.nan,
                 "flag": False, "note": f"{lev} row(s) with leverage above {3.0 * k / n:.3g}"})
    return frame, pd.DataFrame(rows)
