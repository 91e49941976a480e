"""Effect sizes with confidence intervals.

Intervals for eta squared, Cohen's d and Cramér's V come from inverting the noncentral F, t and chi-square
distributions in their noncentrality parameter (Steiger 2004, "Beyond the F test", Psychological Methods 9).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from probwb.errors import DataError

__all__ = [
    "EffectSize",
    "cohens_d",
    "eta_squared",
    "partial_eta_squared",
    "omega_squared",
    "cramers_v",
    "ncp_interval",
    "anova_effect_sizes",
]


@dataclass(frozen=True)
class EffectSize:
    """An effect size with its confidence interval."""

    name: str
    value: float
    ci: tuple[float, float] | None
    confidence: float = 0.95
    method: str = ""

    def to_frame(self) -> pd.DataFrame:
        """Return a one-row DataFrame: name, value, ci_low, ci_high, confidence, method."""
        lo, hi = self.ci if self.ci else (None, None)
        return pd.DataFrame([{"name": self.name, "value": self.value, "ci_low": lo, "ci_high": hi,
                              "confidence": self.confidence, "method": self.method}])

    def __repr__(self) -> str:
        ci = f", {100 * self.confidence:g}% CI ({self.ci[0]:.4g}, {self.ci[1]:.4g})" if self.ci else ""
        return f"{self.name} = {self.value:.4g}{ci}" + (f"  [{self.method}]" if self.method else "")

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>"

    def interpret(self) -> str:
        """Return one plain sentence with the size, its interval and Cohen's verbal label."""
        return f"The {self.name} is {self.value:.3g} ({_label(self.name, self.value)})" + (
            f", {100 * self.confidence:g}% CI {self.ci[0]:.3g} to {self.ci[1]:.3g}." if self.ci else ".")


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


def ncp_interval(cdf, observed: float, confidence: float = 0.95, upper_start: float = 10.0,
                 scale: float = 1.0) -> tuple[float, float]:
    """Return the ``(low, high)`` confidence interval for a noncentrality parameter ``lam >= 0``.

    ``cdf(observed, lam)`` must decrease in ``lam``; the bounds solve ``cdf = 1 - a/2`` and ``cdf = a/2``
    (a bound is 0 when even ``lam = 0`` makes the observed value typical). ``observed * scale`` is a rough
    guess of the noncentrality, where the search for the upper end starts.
    """
    alpha = 1.0 - confidence

    def bound(target: float) -> float:
        if cdf(observed, 0.0) <= target:
            return 0.0
        hi = max(upper_start, 2.0 * abs(observed) * scale)
        while True:
            c = cdf(observed, hi)
            if not c > target:  # also stops on NaN (the distribution's code gives up far in the tail)
                break
            hi *= 2.0
        if not np.isfinite(c) or hi > 1e12:
            # the bound lies beyond where the noncentral distribution can be evaluated: effectively infinite
            return math.inf
        return float(optimize.brentq(lambda lam: cdf(observed, lam) - target, 0.0, hi, xtol=1e-12))

    return bound(1.0 - alpha / 2.0), bound(alpha / 2.0)


def _signed_ncp_interval(cdf, observed: float, confidence: float) -> tuple[float, float]:
    # noncentral t: the noncentrality may be negative; the cdf decreases in it
    alpha = 1.0 - confidence

    def solve(target: float) -> float:
        lo, hi = observed - 10.0, observed + 10.0
        while cdf(observed, lo) < target:
            lo -= 10.0
        while cdf(observed, hi) > target:
            hi += 10.0
        return float(optimize.brentq(lambda d: cdf(observed, d) - target, lo, hi, xtol=1e-12))

    return solve(1.0 - alpha / 2.0), solve(alpha / 2.0)


def partial_eta_squared(f_value: float, df1: float, df2: float, confidence: float = 0.95) -> EffectSize:
    """Return partial eta squared ``F df1 / (F df1 + df2)`` with a noncentral-F interval.

    The interval maps the noncentrality bounds ``lam`` to ``lam / (lam + df1 + df2 + 1)`` (Steiger 2004).
    """
    value = f_value * df1 / (f_value * df1 + df2)
    lo, hi = ncp_interval(lambda f, lam: stats.ncf.cdf(f, df1, df2, lam) if lam > 0 else stats.f.cdf(f, df1, df2),
                          f_value, confidence, scale=df1)
    n = df1 + df2 + 1
    ci = tuple(lam / (lam + n) if math.isfinite(lam) else 1.0 for lam in (lo, hi))
    return EffectSize("partial eta squared", float(value), (float(ci[0]), float(ci[1])), confidence,
                      "noncentral F inversion")


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
    """Return omega squared ``(SS_effect - df_effect MS_error) / (SS_total + MS_error)`` (less biased than eta^2)."""
    return float((ss_effect - df_effect * ms_error) / (ss_total + ms_error))


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
    lo, hi = _signed_ncp_interval(lambda t, nc: stats.nct.cdf(t, df, nc), t_obs, confidence)
    lo, hi = lo / scale, hi / scale
    name = "Cohen's d"
    if hedges:
        j = math.exp(math.lgamma(df / 2) - math.log(math.sqrt(df / 2)) - math.lgamma((df - 1) / 2))
        d, lo, hi = d * j, lo * j, hi * j
        name = "Hedges' g"
    return EffectSize(name, float(d), (float(lo), float(hi)), confidence, "noncentral t inversion")


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
    return EffectSize("Cramér's V", float(v), (conv(lo), conv(hi)), confidence, "noncentral chi-square inversion")


def anova_effect_sizes(result, confidence: float = 0.95) -> pd.DataFrame:
    """Return a DataFrame per term of an ANOVA table: eta^2, partial eta^2 with its interval, omega^2."""
    table = result.table if hasattr(result, "table") else result
    rows = []
    for name, r in table.iterrows():
        if name in ("Residual", "Intercept") or not np.isfinite(r.get("F", np.nan)):
            continue
        pe = partial_eta_squared(r["F"], r["df"], table.loc["Residual", "df"], confidence)
        rows.append({"term": name, "eta_sq": r.get("eta_sq"), "partial_eta_sq": pe.value,
                     "partial_eta_sq_ci_low": pe.ci[0], "partial_eta_sq_ci_high": pe.ci[1],
                     "omega_sq": r.get("omega_sq")})
    return pd.DataFrame(rows).set_index("term")
