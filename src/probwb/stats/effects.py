"""Effect sizes with confidence intervals.

Intervals for eta and omega squared, Cohen's d and Cramér's V come from inverting the noncentral F, t and
chi-square distributions in their noncentrality parameter (Steiger 2004, "Beyond the F test", Psychological
Methods 9). Every inversion brackets its root outwards from a large-sample guess in growing steps and solves
it with Brent's method, so it never evaluates the far tails where scipy's noncentral distributions give NaN;
Cohen's d falls back to the large-sample normal bounds ``t -/+ z sqrt(1 + t^2 / (2 df))`` (and says so in the
``method``) only where the noncentral t cannot be evaluated at the root. For ANOVA effects, the point estimate
and the interval go through one mapping of the noncentrality, ``lam / (lam + n)``, with the point at
``df1 (F - 1)`` clipped at 0 (omega squared), so the estimate always lies inside its interval.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from probwb.core.random import check_random_state
from probwb.errors import DataError, SpecError

__all__ = [
    "EffectSize",
    "cohens_d",
    "eta_squared",
    "partial_eta_squared",
    "omega_squared",
    "cramers_v",
    "ncp_interval",
    "f_ncp_interval",
    "nct_ncp_interval",
    "omega_squared_from_f",
    "term_effect_sizes",
    "anova_effect_sizes",
    "rank_biserial",
    "epsilon_squared",
    "kendalls_w",
]


@dataclass(frozen=True)
class EffectSize:
    """An effect size with its confidence interval."""

    name: str
    value: float
    ci: tuple[float, float] | None
    confidence: float = 0.95
    method: str = ""
    note: str = ""

    def to_frame(self) -> pd.DataFrame:
        """Return a one-row DataFrame: name, value, ci_low, ci_high, confidence, method, note."""
        lo, hi = self.ci if self.ci else (None, None)
        return pd.DataFrame([{"name": self.name, "value": self.value, "ci_low": lo, "ci_high": hi,
                              "confidence": self.confidence, "method": self.method, "note": self.note}])

    def __repr__(self) -> str:
        ci = f", {100 * self.confidence:g}% CI ({self.ci[0]:.4g}, {self.ci[1]:.4g})" if self.ci else ""
        return f"{self.name} = {self.value:.4g}{ci}" + (f"  [{self.method}]" if self.method else "")

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>"

    def interpret(self) -> str:
        """Return one plain sentence with the size, its interval and Cohen's verbal label."""
        return f"The {self.name} is {self.value:.3g} ({_label(self.name, self.value)})" + (
            f", {100 * self.confidence:g}% CI {self.ci[0]:.3g} to {self.ci[1]:.3g}" if self.ci else "") + (
            f" ({self.note})." if self.note else ".")


def _label(name: str, value: float) -> str:
    # Cohen (1988) benchmarks; labels are conventions, not laws
    v = abs(value)
    if "d" in name.split() or name.startswith("Cohen") or name.startswith("Hedges"):
        cuts = (0.2, 0.5, 0.8)
    elif "V" in name:
        cuts = (0.1, 0.3, 0.5)
    else:
        cuts = (0.01, 0.06, 0.14)
    return "negligible" if v < cuts[0] else "small" if v < cuts[1] else "medium" if v < cuts[2] else "large"


# beyond these, scipy's noncentral t / F slow down and return NaN; closed-form large-noncentrality limits apply
_LARGE_NCP_T = 1e4
_LARGE_NCP_F = 1e8


@np.errstate(all="ignore")  # once per solve, not per cdf call (~1 us each, ~30 calls); the tails may warn
def _solve_decreasing(cdf, target: float, guess: float, step: float, floor: float = -math.inf) -> float:
    """Return ``x`` with ``cdf(x) = target`` for a ``cdf`` that decreases in ``x``; NaN when it cannot be found.

    The bracket grows outwards from ``guess`` in steps that double, so it stays within a few steps of the root,
    where the noncentral distributions are well computed. A NaN from the distribution code far in a tail is read
    as the monotone limit on that side (1 below ``guess``, 0 above), which only moves the bracket; a root is
    accepted only where the cdf itself is finite and equal to ``target``. ``floor`` bounds ``x`` from below
    (``floor`` is returned when even there the cdf is not above ``target``).
    """
    def g(x: float) -> float:
        c = float(cdf(x))
        if not math.isfinite(c):
            c = 1.0 if x < guess else 0.0
        return c - target

    step = max(float(step), 1e-8)
    a = b = max(float(guess), floor)
    ga = g(a)
    if ga > 0:
        gb, width = ga, step
        for _ in range(200):
            b = a + width
            gb = g(b)
            if gb <= 0:
                break
            a, width = b, 2.0 * width
        else:
            return math.nan
    else:
        width = step
        for _ in range(200):
            if a <= floor:
                return floor
            b, gb = a, ga
            a = max(a - width, floor)
            ga = g(a)
            if ga > 0:
                break
            width *= 2.0
        else:
            return math.nan
        if ga <= 0:
            return floor
    if gb == 0:
        return float(b)
    try:
        root = float(optimize.brentq(g, a, b, xtol=1e-12, rtol=4 * np.finfo(float).eps, maxiter=500))
    except (ValueError, RuntimeError):
        return math.nan
    c = float(cdf(root))
    if not math.isfinite(c) or abs(c - target) > 1e-6:
        return math.nan
    return root


def ncp_interval(cdf, observed: float, confidence: float = 0.95, upper_start: float = 10.0,
                 scale: float = 1.0) -> tuple[float, float]:
    """Return the ``(low, high)`` confidence interval for a noncentrality parameter ``lam >= 0``.

    ``cdf(observed, lam)`` must decrease in ``lam``; the bounds solve ``cdf = 1 - a/2`` and ``cdf = a/2``
    (a bound is 0 when even ``lam = 0`` makes the observed value typical). ``observed * scale`` is a rough
    guess of the noncentrality, where the bracketing starts (steps of about ``sqrt(guess)``, at least
    ``upper_start / 10``). A bound that lies where the distribution code cannot evaluate the cdf is returned
    as ``0`` (low) or ``inf`` (high): the interval is then wider, never narrower, than the exact one.
    """
    _check_confidence(confidence)
    alpha = 1.0 - confidence
    guess = max(0.0, float(observed) * scale)
    step = max(upper_start / 10.0, 2.0 * math.sqrt(guess + 1.0))
    lo = _solve_decreasing(lambda lam: cdf(observed, lam), 1.0 - alpha / 2.0, guess, step, floor=0.0)
    hi = _solve_decreasing(lambda lam: cdf(observed, lam), alpha / 2.0, guess, step, floor=0.0)
    return (0.0 if math.isnan(lo) else lo), (math.inf if math.isnan(hi) else hi)


def _check_confidence(confidence: float) -> None:
    if not (isinstance(confidence, (int, float, np.floating)) and 0.0 < float(confidence) < 1.0):
        raise SpecError(f"confidence must be a level strictly between 0 and 1 (e.g. 0.95), found {confidence!r}")


def f_ncp_interval(f_value: float, df1: float, df2: float, confidence: float = 0.95) -> tuple[float, float]:
    """Return the ``(low, high)`` confidence bounds of the noncentrality ``lam`` of an observed ``F(df1, df2)``.

    Inverts the noncentral F cdf in ``lam`` (Steiger 2004) with a bracketing root finder that starts near the
    observed ``F df1``; a bound is 0 when ``lam = 0`` already makes ``F`` typical. Beyond ``F df1 = 1e8``, where
    scipy's noncentral F turns slow and then NaN, the bounds come in closed form from the large-``lam`` limit
    ``P(F <= f) = chi2.sf(df2 (lam + df1) / (df1 f), df2)`` (relative error about ``2 / sqrt(lam)``).
    """
    if not (math.isfinite(f_value) and f_value >= 0):
        raise DataError(f"an F statistic must be finite and >= 0, found {f_value!r}")
    if not (df1 > 0 and df2 > 0):
        raise DataError(f"F degrees of freedom must be positive, found df1 = {df1!r}, df2 = {df2!r}")

    _check_confidence(confidence)
    if f_value * df1 > _LARGE_NCP_F:
        # F * df1 ~ chi2(df1, lam) / (chi2_df2 / df2); the numerator's relative spread 2 / sqrt(lam) < 2e-4 is
        # dropped, leaving P(F <= f) = chi2.sf(df2 (lam + df1) / (df1 f), df2): closed-form bounds
        alpha = 1.0 - confidence
        q = stats.chi2.isf([1.0 - alpha / 2.0, alpha / 2.0], df2)
        lo, hi = (max(0.0, float(df1 * f_value * qi / df2 - df1)) for qi in q)
        return lo, hi

    dfn, dfd = float(df1), float(df2)

    def cdf(f: float, lam: float) -> float:
        # the C functions behind stats.ncf.cdf / stats.f.cdf (same values for f > 0, df > 0, lam > 0), called
        # directly: the distribution wrappers' argument checks cost ~40 us a call, ~95% of the interval's time
        if f <= 0.0:
            return 0.0
        return special.ncfdtr(dfn, dfd, lam, f) if lam > 0 else special.fdtr(dfn, dfd, f)

    return ncp_interval(cdf, f_value, confidence, scale=df1)


def nct_ncp_interval(t_obs: float, df: float, confidence: float = 0.95) -> tuple[float, float, str]:
    """Return ``(low, high, method)``: confidence bounds of the noncentrality of an observed ``t`` on ``df``.

    The bounds solve ``nct.cdf(t_obs; df, delta) = 1 - a/2`` and ``= a/2`` with a bracketing root finder that
    starts at the large-sample bounds ``t -/+ z sqrt(1 + t^2 / (2 df))`` and grows in steps of that standard
    error, so it stays out of the far tails where scipy's noncentral t returns NaN. Beyond ``|t| = 1e4``, where
    scipy's noncentral t turns slow and then NaN, the bounds come in closed form from the limit
    ``t ~ delta sqrt(df / chi2_df)`` (relative error about ``1 / |delta|``). Where the noncentral t still cannot
    be evaluated at a root, the large-sample normal bounds are returned and ``method`` says so.
    """
    _check_confidence(confidence)
    alpha = 1.0 - confidence
    if abs(t_obs) > _LARGE_NCP_T:
        # t = (Z + delta) / sqrt(chi2_df / df) -> delta sqrt(df / chi2_df): the Z term is a relative 1/|delta|
        # < 1e-4, so P(T <= t) = chi2.sf(df delta^2 / t^2, df) for t > 0 (mirrored for t < 0), solved exactly
        if t_obs > 0:
            q = stats.chi2.isf([1.0 - alpha / 2.0, alpha / 2.0], df)
        else:
            q = stats.chi2.ppf([1.0 - alpha / 2.0, alpha / 2.0], df)
        lo, hi = (float(t_obs * math.sqrt(qi / df)) for qi in q)
        return lo, hi, "noncentral t, large-noncentrality limit"
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    se = math.sqrt(1.0 + t_obs * t_obs / (2.0 * df))
    approx = (t_obs - z * se, t_obs + z * se)

    def cdf(nc: float) -> float:
        return stats.nct.cdf(t_obs, df, nc)

    lo = _solve_decreasing(cdf, 1.0 - alpha / 2.0, approx[0], se)
    hi = _solve_decreasing(cdf, alpha / 2.0, approx[1], se)
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi, "noncentral t inversion"
    return approx[0], approx[1], "normal approximation to the noncentral t (exact inversion not computable here)"


def partial_eta_squared(f_value: float, df1: float, df2: float, confidence: float = 0.95) -> EffectSize:
    """Return partial eta squared ``F df1 / (F df1 + df2)`` with a noncentral-F interval.

    The interval is for the population value and maps the noncentrality bounds ``lam`` to
    ``lam / (lam + df1 + df2 + 1)`` (Steiger 2004). The sample value is biased upwards and, for small ``F``, can
    lie above that interval (the note then says so); the estimate on the interval's own scale is
    :func:`omega_squared_from_f`, which is what the tests and ANOVA tables of this package report.
    """
    value = f_value * df1 / (f_value * df1 + df2)
    lo, hi = f_ncp_interval(f_value, df1, df2, confidence)
    n = df1 + df2 + 1
    ci = tuple(lam / (lam + n) if math.isfinite(lam) else 1.0 for lam in (lo, hi))
    note = ""
    if not ci[0] <= value <= ci[1]:
        note = ("the sample value lies outside the interval for the population value (it is biased upwards); "
                "report omega squared, whose estimate and interval share one scale")
    return EffectSize("partial eta squared", float(value), (float(ci[0]), float(ci[1])), confidence,
                      "noncentral F inversion", note)


def eta_squared(ss_effect: float, ss_total: float, f_value: float | None = None, df1: float | None = None,
                df2: float | None = None, confidence: float = 0.95) -> EffectSize:
    """Return eta squared ``SS_effect / SS_total``; with ``F, df1, df2`` of a one-factor design also its interval.

    (In a one-factor design eta squared equals partial eta squared, so the interval is the noncentral-F one.)
    """
    value = ss_effect / ss_total
    ci = None
    if f_value is not None and df1 is not None and df2 is not None:
        ci = partial_eta_squared(f_value, df1, df2, confidence).ci
    return EffectSize("eta squared", float(value), ci, confidence, "SS_effect / SS_total")


def omega_squared(ss_effect: float, df_effect: float, ms_error: float, ss_total: float) -> float:
    """Return omega squared ``(SS_effect - df_effect MS_error) / (SS_total + MS_error)`` (less biased than eta^2).

    This is the raw formula (negative when ``F < 1``); :func:`omega_squared_from_f` gives the estimate clipped
    at 0 together with its confidence interval.
    """
    return float((ss_effect - df_effect * ms_error) / (ss_total + ms_error))


def omega_squared_from_f(f_value: float, df1: float, df2: float, n: float, confidence: float = 0.95, *,
                         name: str = "omega squared") -> EffectSize:
    """Return omega squared of one term from its ``F(df1, df2)`` with a noncentral-F confidence interval.

    The population effect is ``lam / (lam + n)``, where ``lam`` is the noncentrality of the term's F and ``n``
    the total sample size (this is the population eta squared, or partial eta squared in a factorial design;
    for a non-partial omega squared in a factorial design pass ``n = (SS_total + MS_error) / MS_error -
    df1 (F - 1)``, which adds the other terms' estimated noncentralities). The interval maps the noncentral-F
    bounds of ``lam`` through that function, and the point estimate maps ``df1 (F - 1)`` through the same one:
    for a one-way design that is exactly omega squared ``(SS_b - df1 MS_w) / (SS_t + MS_w)``, for a factorial
    term the partial omega squared. When ``F <= 1`` the estimate is clipped at 0 and ``note`` says the effect
    is indistinguishable from zero, rather than reporting the value expected with no effect at all.
    """
    if not n > 0:
        raise DataError(f"omega squared needs a positive sample size n, found {n!r}")
    lo, hi = f_ncp_interval(f_value, df1, df2, confidence)
    lam_hat = df1 * (f_value - 1.0)
    note = ""
    if lam_hat <= 0:
        note = (f"F = {f_value:.3g} <= 1: the effect is indistinguishable from zero; the estimate is clipped "
                "at 0")
        lam_hat = 0.0

    def share(lam: float) -> float:
        return float(lam / (lam + n)) if math.isfinite(lam) else 1.0

    return EffectSize(name, share(lam_hat), (share(lo), share(hi)), confidence,
                      "noncentral F inversion; estimate df1 (F - 1) on the same scale", note)


def cohens_d(x, y=None, *, paired: bool = False, mu: float = 0.0, hedges: bool = False,
             confidence: float = 0.95) -> EffectSize:
    """Return Cohen's d (or Hedges' g with ``hedges=True``) with a noncentral-t interval.

    One sample (``y`` None): ``(mean - mu) / sd``. Paired: d of the differences (``d_z``). Two samples:
    mean difference over the pooled standard deviation.
    """
    x = np.asarray(x, dtype=float)
    if y is None or paired:
        d_arr = x - mu if y is None else x - np.asarray(y, dtype=float)
        n = d_arr.size
        if n < 2:
            raise DataError(f"Cohen's d needs at least 2 observations, found {n}")
        sd = d_arr.std(ddof=1)
        if sd == 0:
            raise DataError("Cohen's d is undefined: the values are constant (standard deviation 0)")
        d = (d_arr.mean() - (mu if y is not None else 0.0)) / sd
        scale = math.sqrt(n)
        df = n - 1
    else:
        y = np.asarray(y, dtype=float)
        n1, n2 = x.size, y.size
        if n1 < 2 or n2 < 2:
            raise DataError(f"Cohen's d needs at least 2 observations per group, found {n1} and {n2}")
        sp = math.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
        if sp == 0:
            raise DataError("Cohen's d is undefined: both groups are constant (pooled sd 0)")
        d = (x.mean() - y.mean()) / sp
        scale = math.sqrt(n1 * n2 / (n1 + n2))
        df = n1 + n2 - 2
    t_obs = d * scale
    lo, hi, method = nct_ncp_interval(t_obs, df, confidence)
    lo, hi = lo / scale, hi / scale
    name = "Cohen's d"
    if hedges:
        j = math.exp(math.lgamma(df / 2) - math.log(math.sqrt(df / 2)) - math.lgamma((df - 1) / 2))
        d, lo, hi = d * j, lo * j, hi * j
        name = "Hedges' g"
    return EffectSize(name, float(d), (float(lo), float(hi)), confidence, method)


def cramers_v(chi2: float, n: int, shape: tuple[int, int], confidence: float = 0.95) -> EffectSize:
    """Return Cramér's V ``sqrt(chi2 / (n (min(r, c) - 1)))`` with a noncentral chi-square interval."""
    r, c = shape
    k = min(r, c) - 1
    if k < 1 or n <= 0:
        raise DataError(f"Cramér's V needs a table with at least 2 rows and 2 columns, found {r} x {c}")
    df = (r - 1) * (c - 1)
    v = math.sqrt(chi2 / (n * k))
    lo, hi = ncp_interval(lambda x, lam: stats.ncx2.cdf(x, df, lam) if lam > 0 else stats.chi2.cdf(x, df),
                          chi2, confidence)
    conv = lambda lam: min(1.0, math.sqrt(lam / (n * k))) if math.isfinite(lam) else 1.0  # noqa: E731
    ci = (conv(lo), conv(hi))
    note = ""
    if not ci[0] <= v <= ci[1]:
        # the sample V carries the chi-square's null expectation (df), the interval does not
        note = (f"the sample V lies outside the interval for the population V (chi2 = {chi2:.3g} is small for its "
                f"{df} df): the association is indistinguishable from zero")
    return EffectSize("Cramér's V", float(v), ci, confidence, "noncentral chi-square inversion", note)


def term_effect_sizes(f_value: float, df1: float, df_resid: float, n: float, ss_total: float, ms_resid: float,
                      confidence: float = 0.95) -> tuple[EffectSize, EffectSize]:
    """Return ``(omega squared, partial omega squared)`` of one ANOVA term, each with its noncentral-F interval.

    Partial: ``lam / (lam + n)``. Non-partial: ``lam / (lam + D)`` with ``D = (SS_total + MS_resid) / MS_resid
    - df1 (F - 1)`` (``n`` plus the other terms' estimated noncentralities), so that the point estimate is the
    textbook ``(SS_term - df1 MS_resid) / (SS_total + MS_resid)``, clipped at 0. Both intervals invert the same
    noncentral F; the non-partial one treats the other terms' share as known (an approximation).
    """
    partial = omega_squared_from_f(f_value, df1, df_resid, n, confidence, name="partial omega squared")
    denom = (ss_total + ms_resid) / ms_resid - df1 * (f_value - 1.0)
    omega = omega_squared_from_f(f_value, df1, df_resid, max(denom, 1.0), confidence)
    return omega, partial


def anova_effect_sizes(result, confidence: float = 0.95) -> pd.DataFrame:
    """Return a DataFrame per term of an ANOVA table: the sample eta^2 and partial eta^2 (descriptive, no
    interval), and omega^2 and partial omega^2, each with its ``confidence`` interval and a note when clipped at
    0 (see :func:`term_effect_sizes`)."""
    table = result.table if hasattr(result, "table") else result
    details = getattr(result, "details", {}) or {}
    if "Residual" not in table.index or "F" not in table.columns:
        raise DataError(f"anova_effect_sizes needs an ANOVA table with a 'Residual' row and an 'F' column, found "
                        f"rows {list(table.index)[:10]} and columns {list(table.columns)}")
    df_resid = float(table.loc["Residual", "df"])
    ms_resid = float(table.loc["Residual", "sum_sq"]) / df_resid
    terms = table.drop(index=[i for i in ("Residual", "Intercept") if i in table.index])
    n = float(getattr(result, "n", 0) or (df_resid + terms["df"].sum() + 1))
    ss_total = float(details.get("ss_total", terms["sum_sq"].sum() + table.loc["Residual", "sum_sq"]))
    rows = []
    for name, r in terms.iterrows():
        if not np.isfinite(r.get("F", np.nan)):
            continue
        om, pom = term_effect_sizes(float(r["F"]), float(r["df"]), df_resid, n, ss_total, ms_resid, confidence)
        rows.append({"term": name, "eta_sq": r.get("eta_sq"), "partial_eta_sq": r.get("partial_eta_sq"),
                     "omega_sq": om.value, "omega_sq_ci_low": om.ci[0], "omega_sq_ci_high": om.ci[1],
                     "partial_omega_sq": pom.value, "partial_omega_sq_ci_low": pom.ci[0],
                     "partial_omega_sq_ci_high": pom.ci[1], "note": om.note})
    return pd.DataFrame(rows).set_index("term")


# resamples are drawn in chunks so that one chunk holds at most this many values (memory stays bounded)
_BOOT_CELLS = 2_000_000


def _check_n_boot(n_boot: int) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise SpecError(f"n_boot must be an int >= 100 (bootstrap resamples), found {n_boot!r}")
    return int(n_boot)


def _percentile_ci(draws: np.ndarray, value: float, confidence: float, lo: float, hi: float,
                   name: str, method: str) -> EffectSize:
    """Percentile interval of ``draws`` clipped to ``[lo, hi]``, widened to contain the point ``value``; no
    interval (``ci`` None, with a note) when the resamples leave the statistic undefined."""
    draws = draws[np.isfinite(draws)]
    if not math.isfinite(value) or draws.size < 100:
        return EffectSize(name, float(value), None, confidence, method,
                          "no interval: the statistic is undefined for the data or most resamples (all values tied)")
    a = (1 - confidence) / 2
    q_lo, q_hi = np.quantile(draws, [a, 1 - a])
    # the point is the plug-in value; a skewed bootstrap can place it just outside, which would misreport it
    ci = (float(np.clip(min(q_lo, value), lo, hi)), float(np.clip(max(q_hi, value), lo, hi)))
    return EffectSize(name, float(value), ci, confidence, method)


def _chunks(n_boot: int, width: int):
    size = max(1, _BOOT_CELLS // max(width, 1))
    for start in range(0, n_boot, size):
        yield min(size, n_boot - start)


def rank_biserial(x, y, *, confidence: float = 0.95, n_boot: int = 2000, random_state=None) -> EffectSize:
    """Return the rank-biserial correlation ``2 U / (n1 n2) - 1`` of x against y with a percentile bootstrap
    interval (each sample resampled with replacement on its own, ties ranked by their average, clipped to
    [-1, 1]). Positive when x tends to be larger; the population value is ``P(X > Y) - P(X < Y)``."""
    _check_confidence(confidence)
    n_boot = _check_n_boot(n_boot)
    rng = check_random_state(random_state)
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n1, n2 = xa.size, ya.size

    def rbc(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        ranks = stats.rankdata(np.concatenate([xs, ys], axis=-1), axis=-1)
        u = ranks[..., :n1].sum(axis=-1) - n1 * (n1 + 1) / 2
        return 2 * u / (n1 * n2) - 1

    value = float(rbc(xa, ya))
    draws = [rbc(xa[rng.integers(0, n1, (b, n1))], ya[rng.integers(0, n2, (b, n2))])
             for b in _chunks(n_boot, n1 + n2)]
    return _percentile_ci(np.concatenate(draws), value, confidence, -1.0, 1.0, "rank-biserial correlation",
                          f"percentile bootstrap ({n_boot} resamples within each sample)")


def epsilon_squared(samples, *, confidence: float = 0.95, n_boot: int = 2000, random_state=None) -> EffectSize:
    """Return Kruskal-Wallis epsilon squared ``H / (n - 1)`` (tie-corrected H) of the samples with a percentile
    bootstrap interval (each group resampled with replacement within itself, clipped to [0, 1]).

    ``H / (n - 1)`` equals the between-group share of the rank variance, which is how resamples are scored.
    """
    _check_confidence(confidence)
    n_boot = _check_n_boot(n_boot)
    rng = check_random_state(random_state)
    groups = [np.asarray(s, dtype=float) for s in samples]
    sizes = np.array([g.size for g in groups])
    bounds = np.concatenate([[0], np.cumsum(sizes)])

    def eps(values: np.ndarray) -> np.ndarray:
        r = stats.rankdata(values, axis=-1)
        r = r - r.mean(axis=-1, keepdims=True)
        between = sum(sizes[i] * r[..., bounds[i]:bounds[i + 1]].mean(axis=-1) ** 2 for i in range(len(groups)))
        total = np.sum(r ** 2, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return between / total  # every value tied: NaN, dropped from the resamples

    value = float(eps(np.concatenate(groups)))
    draws = []
    for b in _chunks(n_boot, int(sizes.sum())):
        draws.append(eps(np.concatenate([g[rng.integers(0, g.size, (b, g.size))] for g in groups], axis=1)))
    return _percentile_ci(np.concatenate(draws), value, confidence, 0.0, 1.0, "epsilon squared",
                          f"percentile bootstrap ({n_boot} resamples within each group)")


def kendalls_w(wide, *, confidence: float = 0.95, n_boot: int = 2000, random_state=None) -> EffectSize:
    """Return Kendall's W ``Q / (n (k - 1))`` (Friedman's tie-corrected Q) of a subjects x conditions array with
    a percentile bootstrap interval (subjects resampled with replacement, clipped to [0, 1])."""
    _check_confidence(confidence)
    n_boot = _check_n_boot(n_boot)
    rng = check_random_state(random_state)
    arr = np.asarray(wide, dtype=float)
    n, k = arr.shape
    ranks = stats.rankdata(arr, axis=1)
    # per-subject tie term sum(t^3 - t): ranks are scored once and resampled with their subject
    ties = np.array([np.sum(c ** 3 - c) for c in (np.unique(row, return_counts=True)[1] for row in arr)], float)

    def w_of(rank_sum: np.ndarray, tie_sum: np.ndarray) -> np.ndarray:
        q = 12 / (n * k * (k + 1)) * np.sum(rank_sum ** 2, axis=-1) - 3 * n * (k + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return q / (1 - tie_sum / (n * k * (k * k - 1))) / (n * (k - 1))

    value = float(w_of(ranks.sum(axis=0), ties.sum()))
    draws = []
    for b in _chunks(n_boot, n * k):
        idx = rng.integers(0, n, (b, n))
        draws.append(w_of(ranks[idx].sum(axis=1), ties[idx].sum(axis=1)))
    return _percentile_ci(np.concatenate(draws), value, confidence, 0.0, 1.0, "Kendall's W",
                          f"percentile bootstrap ({n_boot} resamples of subjects)")
