"""Post-hoc comparisons after an ANOVA: Tukey HSD, Games-Howell, and pairwise tests with Holm or
Benjamini-Hochberg corrections."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from probwb.errors import DataError, SpecError
from probwb.stats.anova import _groups
from probwb.stats.kernels import centre, group_stats
from probwb.stats.results import TableResult

__all__ = ["tukey_hsd", "games_howell", "pairwise_tests", "adjust_pvalues"]

_ADJUST = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh", "bonferroni": "bonferroni", "none": None}


def adjust_pvalues(pvalues, method: str = "holm") -> np.ndarray:
    """Return p-values adjusted for multiple testing: ``"holm"``, ``"bh"`` (Benjamini-Hochberg),
    ``"bonferroni"`` or ``"none"``."""
    if method not in _ADJUST:
        raise SpecError(f"adjust must be one of {sorted(_ADJUST)}, found {method!r}")
    p = np.asarray(pvalues, dtype=float)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise DataError("p-values must lie in [0, 1] and not be NaN")
    if _ADJUST[method] is None:
        return p.copy()
    from statsmodels.stats.multitest import multipletests

    return multipletests(p, method=_ADJUST[method])[1]


def _stats(data, value, group, where):
    y, codes, levels = _groups(data, value, group, "raise", where)
    n, means, css = group_stats(centre(y)[0], codes, len(levels))
    if (n < 2).any():
        bad = [str(levels[i]) for i in np.flatnonzero(n < 2)]
        raise DataError(f"{where}: group(s) {bad} of {group!r} have fewer than 2 observations")
    return n, means, css, levels


def tukey_hsd(data: pd.DataFrame, value: str, group: str, *, confidence: float = 0.95) -> TableResult:
    """Return Tukey's HSD (Tukey-Kramer for unequal sizes): one row per pair with the mean difference
    (``group1 - group2``), its simultaneous interval and the studentized-range p-value."""
    n, means, css, levels = _stats(data, value, group, "tukey_hsd")
    k = len(levels)
    df = float(n.sum() - k)
    mse = css.sum() / df
    if mse == 0:
        raise DataError("tukey_hsd: every group is constant; the within-group variance is 0")
    qcrit = stats.studentized_range.ppf(confidence, k, df)
    rows = []
    for i, j in itertools.combinations(range(k), 2):
        diff = means[i] - means[j]
        se = math.sqrt(mse / 2 * (1 / n[i] + 1 / n[j]))
        q = abs(diff) / se
        p = float(stats.studentized_range.sf(q, k, df))
        rows.append((levels[i], levels[j], diff, diff - qcrit * se, diff + qcrit * se, q, df, min(p, 1.0)))
    table = pd.DataFrame(rows, columns=["group1", "group2", "mean_diff", "ci_low", "ci_high", "q", "df", "p_adj"])
    table.index = [f"{a} - {b}" for a, b in zip(table.group1, table.group2, strict=True)]
    return TableResult(method="Tukey HSD", table=table, details={"mse": mse, "confidence": confidence})


def games_howell(data: pd.DataFrame, value: str, group: str, *, confidence: float = 0.95) -> TableResult:
    """Return Games-Howell comparisons (unequal variances, Welch degrees of freedom per pair)."""
    n, means, css, levels = _stats(data, value, group, "games_howell")
    k = len(levels)
    var = css / (n - 1)
    if (var == 0).any():
        raise DataError(f"games_howell: group(s) {[str(levels[i]) for i in np.flatnonzero(var == 0)]} are constant")
    rows = []
    for i, j in itertools.combinations(range(k), 2):
        a, b = var[i] / n[i], var[j] / n[j]
        diff = means[i] - means[j]
        se = math.sqrt((a + b) / 2)
        df = (a + b) ** 2 / (a * a / (n[i] - 1) + b * b / (n[j] - 1))
        q = abs(diff) / se
        p = float(stats.studentized_range.sf(q, k, df))
        qcrit = stats.studentized_range.ppf(confidence, k, df)
        rows.append((levels[i], levels[j], diff, diff - qcrit * se, diff + qcrit * se, q, df, min(p, 1.0)))
    table = pd.DataFrame(rows, columns=["group1", "group2", "mean_diff", "ci_low", "ci_high", "q", "df", "p_adj"])
    table.index = [f"{a} - {b}" for a, b in zip(table.group1, table.group2, strict=True)]
    return TableResult(method="Games-Howell", table=table, details={"confidence": confidence})


def pairwise_tests(data: pd.DataFrame, value: str, group: str, *, test: str = "welch",
                   adjust: str = "holm") -> TableResult:
    """Return all pairwise two-sample tests between the groups with adjusted p-values.

    ``test``: ``"welch"``, ``"pooled"`` (t-tests) or ``"mannwhitney"``; ``adjust``: ``"holm"``, ``"bh"``,
    ``"bonferroni"`` or ``"none"``. Columns: statistic, pvalue, p_adj, effect_size.
    """
    from probwb.stats.htests import mannwhitney, ttest

    if test not in ("welch", "pooled", "mannwhitney"):
        raise SpecError(f"test must be 'welch', 'pooled' or 'mannwhitney', found {test!r}")
    y, codes, levels = _groups(data, value, group, "raise", "pairwise_tests")
    rows = []
    for i, j in itertools.combinations(range(len(levels)), 2):
        xi, xj = y[codes == i], y[codes == j]
        r = mannwhitney(xi, xj) if test == "mannwhitney" else ttest(xi, xj, equal_var=test == "pooled")
        rows.append((levels[i], levels[j], r.statistic, r.pvalue, r.effect_size))
    table = pd.DataFrame(rows, columns=["group1", "group2", "statistic", "pvalue", "effect_size"])
    table.insert(4, "p_adj", adjust_pvalues(table["pvalue"].to_numpy(), adjust))
    table.index = [f"{a} - {b}" for a, b in zip(table.group1, table.group2, strict=True)]
    return TableResult(method=f"pairwise {test} tests ({adjust} adjusted)", table=table)
