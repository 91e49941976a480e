"""Classical hypothesis tests returning :class:`~probwb.stats.results.TestResult`.

t-tests (one-sample, paired, Welch, pooled), Mann-Whitney, two-proportion tests (z, chi-square, Fisher
exact), chi-square test of independence with a :class:`~probwb.errors.SmallSampleWarning` when expected
counts fall below 5, Levene / Brown-Forsythe and Shapiro-Wilk.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from probwb.core.validation import check_columns, check_dataframe
from probwb.errors import DataError, SmallSampleWarning, SpecError
from probwb.stats.effects import _check_confidence, cohens_d, cramers_v, rank_biserial
from probwb.stats.results import TestResult

__all__ = [
    "ttest",
    "mannwhitney",
    "proportions_test",
    "chi2_independence",
    "fisher_exact",
    "levene",
    "shapiro",
]

_ALTERNATIVES = ("two-sided", "less", "greater")


def _alt(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise SpecError(f"alternative must be one of {_ALTERNATIVES}, found {alternative!r}")
    return alternative


def _sample(values, name: str, min_n: int = 2) -> np.ndarray:
    if isinstance(values, pd.Series) and not (pd.api.types.is_numeric_dtype(values)
                                              and not pd.api.types.is_bool_dtype(values)):
        raise DataError(f"{name} must be numeric, found dtype {values.dtype}")
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numeric values") from None
    if np.isnan(arr).any():
        raise DataError(f"{name} contains {int(np.isnan(arr).sum())} NaN value(s) (first at position "
                        f"{int(np.flatnonzero(np.isnan(arr))[0])}); drop or impute them first")
    if np.isinf(arr).any():
        raise DataError(f"{name} contains an infinite value")
    if arr.size < min_n:
        raise DataError(f"{name} needs at least {min_n} observations, found {arr.size}")
    return arr


def _two_groups(data: pd.DataFrame, value: str, group: str) -> tuple[np.ndarray, np.ndarray, list]:
    check_dataframe(data)
    check_columns(data, [value, group])
    levels = list(pd.unique(data[group].dropna()))
    try:
        levels = sorted(levels)
    except TypeError:
        pass
    if len(levels) != 2:
        raise DataError(f"column {group!r} must have exactly 2 groups for a two-sample test, found {len(levels)}: "
                        f"{levels[:10]}")
    return (data.loc[data[group] == levels[0], value], data.loc[data[group] == levels[1], value], levels)


def ttest(x, y=None, *, value: str | None = None, group: str | None = None, mu: float = 0.0,
          paired: bool = False, equal_var: bool = False, alternative: str = "two-sided",
          confidence: float = 0.95) -> TestResult:
    """Return a t-test: one-sample (``y`` None), paired (``paired=True``), Welch (default) or pooled
    (``equal_var=True``). ``x`` may be a DataFrame with ``value`` and a two-level ``group`` column.

    The estimate is the mean (difference) with its confidence interval; the effect size is Cohen's d with a
    noncentral-t interval (d_z for paired data; for two samples d uses the pooled sd, and its interval assumes
    equal variances even in Welch's test). The test never depends on the d interval: should it fail, the
    result keeps d without an interval and a warning.
    """
    alternative = _alt(alternative)
    _check_confidence(confidence)
    labels = None
    if isinstance(x, pd.DataFrame):
        if value is None or group is None:
            raise SpecError("ttest on a DataFrame needs value= and group= column names")
        if paired:
            raise SpecError("paired ttest on a DataFrame is ambiguous: pass the two aligned columns as x and y")
        x, y, labels = _two_groups(x, value, group)
    xa = _sample(x, "x")
    alpha = 1 - confidence
    if y is None or paired:
        if paired:
            if y is None:
                raise SpecError("paired=True needs y")
            ya = _sample(y, "y")
            if ya.size != xa.size:
                raise DataError(f"paired samples must have the same length, found {xa.size} and {ya.size}")
            d = xa - ya
            method, est_name = "paired t-test", "mean difference"
        else:
            d = xa
            method, est_name = "one-sample t-test", "mean"
        n = d.size
        sd = d.std(ddof=1)
        if sd == 0:
            raise DataError(f"{method}: the {'differences' if paired else 'values'} are constant (sd 0); "
                            "the t statistic is undefined")
        se = sd / math.sqrt(n)
        est = float(d.mean())
        t = (est - mu) / se
        df = float(n - 1)
        d_point = (est - mu) / sd
        es_args = ((d,), {"mu": mu}) if not paired else ((xa, ya), {"paired": True, "mu": mu})
        n_total = n
    else:
        ya = _sample(y, "y")
        n1, n2 = xa.size, ya.size
        v1, v2 = xa.var(ddof=1), ya.var(ddof=1)
        est = float(xa.mean() - ya.mean())
        if equal_var:
            sp2 = ((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2)
            se = math.sqrt(sp2 * (1 / n1 + 1 / n2))
            df = float(n1 + n2 - 2)
            method = "two-sample t-test (pooled variance)"
        else:
            a, b = v1 / n1, v2 / n2
            se = math.sqrt(a + b)
            df = float((a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))) if se > 0 else float("nan")
            method = "Welch two-sample t-test"
        if se == 0:
            raise DataError(f"{method}: both samples are constant (sd 0); the t statistic is undefined")
        t = (est - mu) / se
        est_name = "mean difference" + (f" ({labels[0]} - {labels[1]})" if labels else " (x - y)")
        sp = math.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2)) if n1 + n2 > 2 else 0.0
        d_point = est / sp if sp > 0 else math.nan
        es_args = ((xa, ya), {})
        n_total = n1 + n2
    if alternative == "two-sided":
        p = 2 * stats.t.sf(abs(t), df)
        q = stats.t.ppf(1 - alpha / 2, df)
        ci = (est - q * se, est + q * se)
    elif alternative == "less":
        p = stats.t.cdf(t, df)
        ci = (-math.inf, est + stats.t.ppf(confidence, df) * se)
    else:
        p = stats.t.sf(t, df)
        ci = (est - stats.t.ppf(confidence, df) * se, math.inf)
    es_name, es_value, es_ci, warn = _effect_size_of_t(es_args, d_point, confidence)
    return TestResult(method=method, statistic_name="t", statistic=float(t), pvalue=float(p), df=df,
                      alternative=alternative, estimate_name=est_name, estimate=est,
                      estimate_ci=(float(ci[0]), float(ci[1])), effect_size_name=es_name, effect_size=es_value,
                      effect_size_ci=es_ci, confidence=confidence, n=int(n_total), warnings=warn)


def _effect_size_of_t(es_args, d_point: float, confidence: float):
    """Return ``(name, d, ci, warnings)`` for a t-test: the test never depends on the d interval succeeding."""
    args, kwargs = es_args
    try:
        es = cohens_d(*args, confidence=confidence, **kwargs)
    except (ValueError, ArithmeticError) as exc:
        # the t statistic, p-value and mean interval stand on their own; only d's interval is lost
        value = float(d_point) if math.isfinite(d_point) else None
        msg = f"no confidence interval for Cohen's d ({exc}); the test itself is unaffected"
        warnings.warn(msg, SmallSampleWarning, stacklevel=3)
        return "Cohen's d", value, None, (msg,)
    warn = (f"Cohen's d interval by {es.method}",) if es.method.startswith("normal approximation") else ()
    return es.name, es.value, es.ci, warn


def mannwhitney(x, y=None, *, value: str | None = None, group: str | None = None,
                alternative: str = "two-sided", confidence: float = 0.95, n_boot: int = 2000,
                random_state=None) -> TestResult:
    """Return the Mann-Whitney U test (scipy's exact or tie-corrected normal method) of x against y.

    The effect size is the rank-biserial correlation ``2 U / (n1 n2) - 1``: positive when x tends to be larger.
    Its ``confidence`` interval is a percentile bootstrap (``n_boot`` resamples within each sample, drawn with
    ``random_state``; see :func:`~probwb.stats.effects.rank_biserial`).
    """
    alternative = _alt(alternative)
    _check_confidence(confidence)
    if isinstance(x, pd.DataFrame):
        if value is None or group is None:
            raise SpecError("mannwhitney on a DataFrame needs value= and group= column names")
        x, y, _ = _two_groups(x, value, group)
    if y is None:
        raise SpecError("mannwhitney needs two samples")
    xa, ya = _sample(x, "x", 1), _sample(y, "y", 1)
    res = stats.mannwhitneyu(xa, ya, alternative=alternative)
    es = rank_biserial(xa, ya, confidence=confidence, n_boot=n_boot, random_state=random_state)
    return TestResult(method="Mann-Whitney U test", statistic_name="U", statistic=float(res.statistic),
                      pvalue=float(res.pvalue), alternative=alternative,
                      effect_size_name=es.name, effect_size=es.value, effect_size_ci=es.ci, confidence=confidence,
                      n=xa.size + ya.size,
                      details={"effect_size_method": es.method, **({"effect_size_note": es.note} if es.note else {})})


def _counts(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(successes, dtype=float).ravel()
    n = np.asarray(trials, dtype=float).ravel()
    if s.shape != n.shape or s.size != 2:
        raise DataError(f"expected 2 success counts and 2 trial counts, found {s.size} and {n.size}")
    for arr, nm in ((s, "successes"), (n, "trials")):
        if np.isnan(arr).any():
            raise DataError(f"{nm} contains NaN")
        if (arr < 0).any():
            raise DataError(f"{nm} must be non-negative counts, found {arr.tolist()}")
        if not np.all(arr == np.round(arr)):
            raise DataError(f"{nm} must be whole counts, found {arr.tolist()}")
    if (s > n).any():
        raise DataError(f"successes {s.tolist()} exceed trials {n.tolist()}")
    if (n == 0).any():
        raise DataError(f"every group needs at least one trial, found trials {n.tolist()}")
    return s, n


def proportions_test(successes, trials, *, method: str = "z", alternative: str = "two-sided",
                     confidence: float = 0.95, correction: bool = False) -> TestResult:
    """Return a test of equal proportions in two groups (e.g. redemption rates of two coupon arms).

    ``method``: ``"z"`` (pooled two-proportion z test), ``"chi2"`` (Pearson chi-square on the 2x2 table, with
    Yates' ``correction`` optional; two-sided only) or ``"fisher"`` (exact; the estimate is the odds ratio).
    The estimate is ``p1 - p2`` with a Wald interval; the effect size is Cohen's h.
    """
    alternative = _alt(alternative)
    _check_confidence(confidence)
    s, n = _counts(successes, trials)
    p1, p2 = s / n
    diff = float(p1 - p2)
    z_ci = stats.norm.ppf(1 - (1 - confidence) / 2)
    se_unpooled = math.sqrt(p1 * (1 - p1) / n[0] + p2 * (1 - p2) / n[1])
    ci = (diff - z_ci * se_unpooled, diff + z_ci * se_unpooled)
    h = float(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2)))
    table = np.array([[s[0], n[0] - s[0]], [s[1], n[1] - s[1]]])
    warn: list[str] = []
    if method == "z":
        pooled = s.sum() / n.sum()
        se = math.sqrt(pooled * (1 - pooled) * (1 / n[0] + 1 / n[1]))
        if se == 0:
            raise DataError("proportions_test: both groups have proportion 0 or both 1; the z test is undefined "
                            "(use method='fisher')")
        z = diff / se
        p = {"two-sided": 2 * stats.norm.sf(abs(z)), "less": stats.norm.cdf(z), "greater": stats.norm.sf(z)}[
            alternative]
        return TestResult(method="two-proportion z test", statistic_name="z", statistic=float(z), pvalue=float(p),
                          alternative=alternative, estimate_name="difference in proportions", estimate=diff,
                          estimate_ci=ci, effect_size_name="Cohen's h", effect_size=h, confidence=confidence,
                          n=int(n.sum()), details={"proportions": (float(p1), float(p2))})
    if method == "chi2":
        if alternative != "two-sided":
            raise SpecError("the chi-square test is two-sided only; use method='z' for a one-sided test")
        res = stats.chi2_contingency(table, correction=correction)
        if (res.expected_freq < 5).any():
            warn.append(f"expected counts below 5 ({res.expected_freq.min():.2f}); prefer method='fisher'")
            warnings.warn(warn[-1], SmallSampleWarning, stacklevel=2)
        return TestResult(method="chi-square test of two proportions" + (" (Yates)" if correction else ""),
                          statistic_name="chi2", statistic=float(res.statistic), pvalue=float(res.pvalue),
                          df=float(res.dof), estimate_name="difference in proportions", estimate=diff,
                          estimate_ci=ci, effect_size_name="Cohen's h", effect_size=h, confidence=confidence,
                          n=int(n.sum()), warnings=tuple(warn))
    if method == "fisher":
        return fisher_exact(table, alternative=alternative, confidence=confidence)
    raise SpecError(f"method must be 'z', 'chi2' or 'fisher', found {method!r}")


def fisher_exact(table, *, alternative: str = "two-sided", confidence: float = 0.95) -> TestResult:
    """Return Fisher's exact test of a 2x2 table; the estimate is the conditional MLE odds ratio with its
    exact interval (scipy), the sample odds ratio is in ``details``."""
    alternative = _alt(alternative)
    t = _table(table)
    if t.shape != (2, 2):
        raise DataError(f"fisher_exact needs a 2x2 table, found shape {t.shape}")
    res = stats.fisher_exact(t.astype(np.int64), alternative=alternative)
    ci = stats.contingency.odds_ratio(t.astype(np.int64)).confidence_interval(confidence, alternative)
    cond = stats.contingency.odds_ratio(t.astype(np.int64)).statistic
    return TestResult(method="Fisher's exact test", statistic_name="odds ratio", statistic=float(res.statistic),
                      pvalue=float(res.pvalue), alternative=alternative, estimate_name="odds ratio (conditional MLE)",
                      estimate=float(cond), estimate_ci=(float(ci.low), float(ci.high)), confidence=confidence,
                      n=int(t.sum()))


def _table(table) -> np.ndarray:
    t = np.asarray(table.to_numpy() if isinstance(table, pd.DataFrame) else table, dtype=float)
    if t.ndim != 2:
        raise DataError(f"a contingency table must be 2-dimensional, found {t.ndim} dimension(s)")
    if np.isnan(t).any():
        raise DataError("the contingency table contains NaN")
    if (t < 0).any():
        idx = np.argwhere(t < 0)[0].tolist()
        raise DataError(f"counts must be non-negative, found {t[tuple(idx)]:g} at cell {idx}")
    if not np.all(t == np.round(t)):
        raise DataError("counts must be whole numbers")
    return t


def chi2_independence(data, row: str | None = None, col: str | None = None, *, correction: bool = False,
                      confidence: float = 0.95) -> TestResult:
    """Return Pearson's chi-square test of independence with Cramér's V and its interval.

    ``data`` is a contingency table (DataFrame or 2-D array of counts) or, with ``row`` and ``col``, a DataFrame of
    observations to cross-tabulate. Warns :class:`SmallSampleWarning` when an expected count is below 5 (the
    warning is also stored on the result). Rows or columns with zero total are refused.
    """
    if row is not None or col is not None:
        check_dataframe(data)
        check_columns(data, [c for c in (row, col) if c is not None])
        if row is None or col is None:
            raise SpecError("chi2_independence needs both row= and col= when given observations")
        if data[[row, col]].isna().any().any():
            raise DataError(f"columns {row!r}/{col!r} contain missing values; drop them first")
        table = pd.crosstab(data[row], data[col])
    else:
        table = data
    t = _table(table)
    if t.shape[0] < 2 or t.shape[1] < 2:
        raise DataError(f"a chi-square test of independence needs at least a 2x2 table, found {t.shape}")
    if (t.sum(axis=0) == 0).any() or (t.sum(axis=1) == 0).any():
        raise DataError("the contingency table has a row or column with zero total; remove it")
    res = stats.chi2_contingency(t, correction=correction)
    warn = []
    low = res.expected_freq < 5
    if low.any():
        warn.append(f"{int(low.sum())} of {low.size} expected counts are below 5 (smallest "
                    f"{res.expected_freq.min():.2f}); the chi-square approximation may be poor "
                    "(consider fisher_exact or merging categories)")
        warnings.warn(warn[-1], SmallSampleWarning, stacklevel=2)
    n = int(t.sum())
    v = cramers_v(float(res.statistic), n, t.shape, confidence)
    return TestResult(method="Pearson chi-square test of independence", statistic_name="chi2",
                      statistic=float(res.statistic), pvalue=float(res.pvalue), df=float(res.dof),
                      effect_size_name=v.name, effect_size=v.value, effect_size_ci=v.ci, confidence=confidence,
                      n=n, warnings=tuple(warn),
                      details={"expected": res.expected_freq, **({"effect_size_note": v.note} if v.note else {})})


def levene(data: pd.DataFrame, value: str, group: str, *, center: str = "median") -> TestResult:
    """Return Levene's test of equal variances; ``center="median"`` is the Brown-Forsythe variant (robust),
    ``"mean"`` the original."""
    if center not in ("mean", "median"):
        raise SpecError(f"center must be 'mean' or 'median', found {center!r}")
    check_dataframe(data)
    check_columns(data, [value, group])
    groups = [_sample(g, f"{value} in group {k!r}", 2) for k, g in data.groupby(group, observed=True)[value]]
    if len(groups) < 2:
        raise DataError(f"levene needs at least 2 groups in {group!r}, found {len(groups)}")
    w, p = stats.levene(*groups, center=center)
    if not np.isfinite(w):
        raise DataError("levene: every group is constant; the test is undefined")
    name = "Brown-Forsythe test" if center == "median" else "Levene test"
    n = sum(g.size for g in groups)
    return TestResult(method=f"{name} of equal variances", statistic_name="W", statistic=float(w),
                      pvalue=float(p), df=(float(len(groups) - 1), float(n - len(groups))), n=n)


def shapiro(x) -> TestResult:
    """Return the Shapiro-Wilk test of normality (3 to 5000 observations)."""
    xa = _sample(x, "x", 3)
    if np.all(xa == xa[0]):
        raise DataError("shapiro: the values are constant; normality cannot be tested")
    warn = []
    if xa.size > 5000:
        warn.append(f"n = {xa.size} > 5000: the p-value may be inaccurate and tiny departures become significant")
    w, p = stats.shapiro(xa)
    return TestResult(method="Shapiro-Wilk normality test", statistic_name="W", statistic=float(w),
                      pvalue=float(p), n=int(xa.size), warnings=tuple(warn))
