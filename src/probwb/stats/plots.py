"""Plots for :mod:`probwb.stats`: a normal QQ plot for assumption checks, the posterior of a Bayesian A/B
test and regression diagnostics. Every function returns the matplotlib Axes it drew on and never calls ``show()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from probwb.errors import DataError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["qq_plot", "ab_posterior_plot", "regress_plot", "group_means_plot", "interaction_plot",
           "anova_residuals", "residuals_plot"]


def qq_plot(x: Any, ax: Axes | None = None, *, standardize: bool = True, title: str | None = None) -> Axes:
    """Draw a normal QQ plot of ``x`` (with the y = x reference line when standardised); return the Axes."""
    import matplotlib.pyplot as plt

    arr = np.asarray(x, dtype=float).ravel()
    if arr.size < 3 or np.isnan(arr).any():
        raise DataError(f"qq_plot needs at least 3 values and no NaN, found {arr.size} value(s)")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    y = np.sort(arr)
    if standardize:
        sd = y.std(ddof=1)
        if sd == 0:
            raise DataError("qq_plot: the values are constant")
        y = (y - y.mean()) / sd
    q = stats.norm.ppf((np.arange(1, y.size + 1) - 0.375) / (y.size + 0.25))  # Blom plotting positions
    ax.scatter(q, y, s=12, alpha=0.8)
    lo, hi = min(q.min(), y.min()), max(q.max(), y.max())
    if standardize:
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("theoretical normal quantile")
    ax.set_ylabel("standardised sample quantile" if standardize else "sample quantile")
    ax.set_title(title or "Normal QQ plot")
    return ax


def ab_posterior_plot(result: Any, ax: Axes | None = None, *, kind: str = "metric", bins: int = 80) -> Axes:
    """Draw posterior histograms of each arm's metric (``kind="metric"``) or of the lift over the control
    (``kind="lift"``) from an :class:`~probwb.stats.results.ABResult`; return the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    draws = result.draws
    if kind == "metric":
        for arm in draws.columns:
            ax.hist(draws[arm], bins=bins, density=True, alpha=0.45, label=str(arm), histtype="stepfilled")
        ax.set_xlabel(f"posterior {result.metric}")
    elif kind == "lift":
        c = draws[result.control].to_numpy()
        for arm in draws.columns:
            if arm == result.control:
                continue
            ax.hist(draws[arm].to_numpy() / c - 1, bins=bins, density=True, alpha=0.45, label=str(arm),
                    histtype="stepfilled")
        ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(f"relative lift over {result.control!r}")
    else:
        raise DataError(f"kind must be 'metric' or 'lift', found {kind!r}")
    ax.set_ylabel("density")
    ax.legend(title="arm")
    ax.set_title(result.method)
    return ax


def regress_plot(result: Any, ax: Axes | None = None, *, kind: str = "residuals") -> Axes:
    """Draw one diagnostic of a :class:`~probwb.stats.regress.RegressionResult`; return the Axes.

    ``kind``: ``"residuals"`` (residuals against fitted values: curvature or a funnel shows a wrong form or
    unequal variance), ``"qq"`` (normal QQ plot of the studentised or deviance residuals), ``"leverage"``
    (residuals against leverage, point area by Cook's distance) or ``"coef"`` (estimates with their intervals,
    intercept left out).
    """
    import matplotlib.pyplot as plt

    kinds = ("residuals", "qq", "leverage", "coef")
    if kind not in kinds:
        raise DataError(f"kind must be one of {', '.join(kinds)}, found {kind!r}")
    res = result.residuals
    resid_col = "studentized" if "studentized" in res.columns else "deviance"
    if kind == "qq":
        return qq_plot(res[resid_col].to_numpy(), ax=ax, standardize=True,
                       title=f"QQ plot of {resid_col} residuals")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    if kind == "residuals":
        ax.scatter(res["fitted"], res[resid_col], s=12, alpha=0.7)
        ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("fitted value")
        ax.set_ylabel(f"{resid_col} residual")
        ax.set_title("Residuals against fitted values")
    elif kind == "leverage":
        cooks = res["cooks_d"].to_numpy()
        size = 10 + 200 * cooks / max(float(np.nanmax(cooks)), 1e-12)
        ax.scatter(res["leverage"], res[resid_col], s=size, alpha=0.6)
        ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("leverage")
        ax.set_ylabel(f"{resid_col} residual")
        ax.set_title("Residuals against leverage (area: Cook's distance)")
    else:
        table = result.table.drop(index=[i for i in ("Intercept",) if i in result.table.index])
        pos = np.arange(len(table))[::-1]
        est = table["estimate"].to_numpy()
        ax.errorbar(est, pos, xerr=[est - table["ci_low"].to_numpy(), table["ci_high"].to_numpy() - est],
                    fmt="o", capsize=3)
        ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(pos)
        ax.set_yticklabels(list(table.index))
        ax.set_xlabel(f"estimate ({100 * result.confidence:g}% interval, {result.se_type} SE)")
        ax.set_title(result.method)
    return ax


def _levels(series: Any) -> list[Any]:
    """The levels of a factor in reading order: a categorical's own order, else numeric-aware (``<50``,
    ``50-69``, ``70+``), else as first seen."""
    import pandas as pd

    from probwb.report.tables import natural_order

    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.dropna().unique())
        cats = [c for c in series.cat.categories if c in present]
        return cats if series.dtype.ordered else natural_order(cats)
    return natural_order(sorted(series.dropna().unique(), key=str))


def _mean_ci(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Mean and its t interval (NaN half-width for a single value)."""
    n = values.size
    m = float(values.mean())
    if n < 2:
        return m, np.nan, np.nan
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return m, m - half, m + half


def _check_columns(data: Any, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"{where}: expected column(s) {missing} in the data, found {list(map(str, data.columns))}")


def group_means_plot(data: Any, value: str, group: str, ax: Axes | None = None, *, confidence: float = 0.95,
                     unit: str | None = None) -> Axes:
    """Draw each group's mean of ``value`` with its ``confidence`` t interval (groups in their natural order,
    the level stated on the axis); return the Axes."""
    import matplotlib.pyplot as plt

    _check_columns(data, [value, group], "group_means_plot")
    if not 0 < confidence < 1:
        raise DataError(f"group_means_plot: confidence must lie in (0, 1), found {confidence!r}")
    levels = _levels(data[group])
    rows = [_mean_ci(data.loc[data[group] == lv, value].dropna().to_numpy(float), confidence) for lv in levels]
    mean, lo, hi = (np.array(c) for c in zip(*rows, strict=True))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(levels) + 2), 3.5))
    x = np.arange(len(levels))
    ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o", capsize=4, color="tab:blue")
    ax.set_xticks(x, [str(v) for v in levels], rotation=30 if len(levels) > 6 else 0)
    ax.set_xlabel(group)
    ax.set_ylabel(f"mean {value}" + (f" ({unit})" if unit else "") + f" with {100 * confidence:g}% CI")
    ax.set_title(f"{value} by {group}: means and {100 * confidence:g}% confidence intervals")
    return ax


def interaction_plot(data: Any, value: str, x: str, trace: str, ax: Axes | None = None, *,
                     confidence: float = 0.95, unit: str | None = None) -> Axes:
    """Draw the cell means of ``value`` against the levels of ``x``, one line per level of ``trace``, with
    ``confidence`` t intervals (non-parallel lines show an interaction); return the Axes."""
    import matplotlib.pyplot as plt

    _check_columns(data, [value, x, trace], "interaction_plot")
    if not 0 < confidence < 1:
        raise DataError(f"interaction_plot: confidence must lie in (0, 1), found {confidence!r}")
    xs, ts = _levels(data[x]), _levels(data[trace])
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.5, 0.8 * len(xs) + 3), 3.8))
    pos = np.arange(len(xs))
    width = 0.08 * (len(ts) - 1)
    for k, t in enumerate(ts):
        sub = data[data[trace] == t]
        cells = [_mean_ci(sub.loc[sub[x] == lv, value].dropna().to_numpy(float), confidence)
                 if (sub[x] == lv).any() else (np.nan, np.nan, np.nan) for lv in xs]
        mean, lo, hi = (np.array(c) for c in zip(*cells, strict=True))
        # side by side, so the intervals of different lines do not hide each other
        shift = pos + (k / max(len(ts) - 1, 1) - 0.5) * width
        ax.errorbar(shift, mean, yerr=[mean - lo, hi - mean], fmt="o-", capsize=3, label=str(t))
    ax.set_xticks(pos, [str(v) for v in xs])
    ax.set_xlabel(x)
    ax.set_ylabel(f"mean {value}" + (f" ({unit})" if unit else "") + f" with {100 * confidence:g}% CI")
    ax.legend(title=trace, fontsize=8)
    ax.set_title(f"Interaction of {x} and {trace}")
    return ax


def anova_residuals(data: Any, formula: str) -> Any:
    """Return a DataFrame (``fitted``, ``residual``, in the rows of ``data`` used) of the least-squares fit of an
    ANOVA/ANCOVA ``formula`` (the model :func:`~probwb.stats.anova.anova` tests; rows with missing values left
    out)."""
    import pandas as pd

    from probwb.stats.anova import parse_formula

    parsed = parse_formula(formula)
    variables = list(dict.fromkeys(v for t in parsed.terms for v in t))
    _check_columns(data, [parsed.response, *variables], "anova_residuals")
    sub = data[[parsed.response, *variables]].dropna()
    blocks: dict[str, np.ndarray] = {}
    for v in variables:
        s = sub[v]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if v in parsed.forced_categorical or not numeric:
            codes, uniques = pd.factorize(s.astype(str), sort=True)
            blocks[v] = np.eye(len(uniques))[codes][:, 1:]  # treatment coding: first level is the baseline
        else:
            blocks[v] = s.to_numpy(float)[:, None]
    cols = [np.ones((len(sub), 1))]
    for term in parsed.terms:
        block = blocks[term[0]]
        for v in term[1:]:
            block = (block[:, :, None] * blocks[v][:, None, :]).reshape(len(sub), -1)
        cols.append(block)
    X = np.hstack(cols)
    y = sub[parsed.response].to_numpy(float)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    fitted = X @ beta
    return pd.DataFrame({"fitted": fitted, "residual": y - fitted}, index=sub.index)


def residuals_plot(fitted: Any, residuals: Any, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """Draw residuals against fitted values with a zero line (a funnel or curve shows unequal variance or a
    wrong form); return the Axes."""
    import matplotlib.pyplot as plt

    f, r = np.asarray(fitted, float).ravel(), np.asarray(residuals, float).ravel()
    if f.size != r.size or f.size < 2:
        raise DataError(f"residuals_plot: expected as many fitted values as residuals (at least 2), found "
                        f"{f.size} and {r.size}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    # many rows share one fitted value (cell means): jitter sideways so the spread within a cell shows
    span = float(np.ptp(f)) or 1.0
    jitter = np.random.default_rng(0).uniform(-0.005, 0.005, f.size) * span
    ax.scatter(f + jitter, r, s=8, alpha=0.4)
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("fitted value")
    ax.set_ylabel("residual")
    ax.set_title(title or "Residuals against fitted values")
    return ax
