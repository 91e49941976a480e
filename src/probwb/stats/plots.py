"""Plots for :mod:`probwb.stats`: a normal QQ plot for assumption checks, the posterior of a Bayesian A/B
test and regression diagnostics. Every function returns the matplotlib Axes it drew on and never calls ``show()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from probwb.errors import DataError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["qq_plot", "ab_posterior_plot", "regress_plot"]


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
