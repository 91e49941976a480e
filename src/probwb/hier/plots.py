"""Plots for hierarchical models and SBC (matplotlib only; each returns Axes and never calls ``show()``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from probwb.errors import DataError

__all__ = ["plot_sbc_ranks", "plot_league_table", "plot_coefficients", "plot_risk_tiers", "plot_ppc_groups"]


def _ax(ax: Any, figsize: tuple[float, float]) -> Any:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_sbc_ranks(result: Any, parameter: str | None = None, ax: Any = None) -> Any:
    """Return Axes with the binned SBC rank histogram of ``parameter`` (default the first) and the
    99% band of bin counts expected under uniformity."""
    from scipy import stats

    ranks = result.ranks
    parameter = parameter or ranks.columns[0]
    if parameter not in ranks.columns:
        raise DataError(f"no parameter {parameter!r} in the SBC result; parameters: {list(ranks.columns)}")
    ax = _ax(ax, (6, 3.5))
    width = result.n_ranks // result.n_bins
    counts = np.bincount(ranks[parameter].to_numpy() // width, minlength=result.n_bins)
    n = len(ranks)
    lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / result.n_bins)
    ax.axhspan(lo, hi, color="grey", alpha=0.25, label="99% band if uniform")
    ax.axhline(n / result.n_bins, color="grey", lw=1)
    ax.bar(np.arange(result.n_bins), counts, width=0.9, color="tab:blue")
    p = result.tests.loc[parameter, "p_value"]
    ax.set_title(f"SBC ranks of {parameter} (chi-square p = {p:.3f})")
    ax.set_xlabel("rank bin")
    ax.set_ylabel("simulations")
    ax.legend(loc="upper right")
    return ax


def plot_league_table(table: pd.DataFrame, ax: Any = None, *, interval: float | None = None) -> Any:
    """Return Axes with a caterpillar plot of a :meth:`HierarchicalGLM.group_league_table` (worst on top),
    each row labelled with its group's name (the table's index, or its first column when the index is a plain
    row number) and the interval's level on the axis when ``interval`` is given."""
    need = {"effect_mean", "effect_lower", "effect_upper"}
    if not need <= set(table.columns):
        raise DataError(f"expected a league table with columns {sorted(need)}, found {list(table.columns)}")
    if isinstance(table.index, pd.RangeIndex) and table.index.name is None and table.columns[0] not in need:
        table = table.set_index(table.columns[0])  # a reset league table: its group ids are the first column
    ax = _ax(ax, (6, max(2.5, 0.25 * len(table))))
    level = f"{100 * interval:g}% " if interval is not None else ""
    ax = _forest(ax, table, ("effect_mean", "effect_lower", "effect_upper"), "tab:blue",
                 f"group effect (link scale) with {level}credible interval")
    if table.index.name:
        ax.set_ylabel(str(table.index.name))
    return ax


def plot_coefficients(summary: pd.DataFrame, ax: Any = None, *, exclude_intercept: bool = True) -> Any:
    """Return Axes with a forest plot of coefficient means and intervals from ``summary()``."""
    need = {"mean", "lower", "upper"}
    if not need <= set(summary.columns):
        raise DataError(f"expected a summary with columns {sorted(need)}, found {list(summary.columns)}")
    tab = summary.drop(index="Intercept", errors="ignore") if exclude_intercept else summary
    ax = _ax(ax, (6, max(2.5, 0.3 * len(tab))))
    return _forest(ax, tab, ("mean", "lower", "upper"), "tab:green", "coefficient (original scale) with interval")


def _forest(ax: Any, table: pd.DataFrame, cols: tuple[str, str, str], color: str, xlabel: str) -> Any:
    """Draw one interval and point per row (first row on top) with a reference line at 0; return the Axes."""
    mean, lower, upper = cols
    y = np.arange(len(table))[::-1]
    ax.hlines(y, table[lower], table[upper], color=color)
    ax.plot(table[mean], y, "o", color=color)
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels([str(i) for i in table.index])
    ax.set_xlabel(xlabel)
    return ax


def plot_risk_tiers(tiers: pd.DataFrame, ax: Any = None) -> Any:
    """Return Axes plotting each row's posterior mean risk against its probability of being top tier."""
    need = {"risk_mean", "p_top_tier"}
    if not need <= set(tiers.columns):
        raise DataError(f"expected risk tiers with columns {sorted(need)}, found {list(tiers.columns)}")
    ax = _ax(ax, (6, 4))
    ax.scatter(tiers["risk_mean"], tiers["p_top_tier"], s=6, alpha=0.5)
    ax.set_xlabel("posterior mean risk")
    ax.set_ylabel("P(in top tier)")
    return ax


def plot_ppc_groups(observed: Any, replicated: Any, groups: Any, ax: Any = None, *, interval: float = 0.9,
                    group_name: str | None = None, response: str = "response") -> Any:
    """Return Axes comparing each group's observed mean response (black dot) with the ``interval`` of the same
    mean over replicated data sets drawn from the posterior predictive (bar): a dot outside its bar is a
    group the model does not reproduce. ``replicated`` has shape (draws, rows), ``groups`` one label per row."""
    y = np.asarray(observed, dtype=float).ravel()
    rep = np.asarray(replicated, dtype=float)
    labels = pd.Series(np.asarray(groups)).astype(str)
    if rep.ndim != 2 or rep.shape[1] != y.size or labels.size != y.size:
        raise DataError(f"plot_ppc_groups: expected replicated data of shape (draws, {y.size}) and {y.size} group "
                        f"labels, found shape {rep.shape} and {labels.size} labels")
    if not 0 < interval < 1:
        raise DataError(f"plot_ppc_groups: interval must lie in (0, 1), found {interval!r}")
    codes, names = pd.factorize(labels, sort=True)
    counts = np.bincount(codes, minlength=len(names))
    obs = np.bincount(codes, weights=y, minlength=len(names)) / counts
    onehot = np.zeros((y.size, len(names)))
    onehot[np.arange(y.size), codes] = 1.0
    rep_means = (rep @ onehot) / counts
    lo, hi = np.quantile(rep_means, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
    order = np.argsort(obs)
    ax = _ax(ax, (6, max(2.5, 0.25 * len(names))))
    ypos = np.arange(len(names))
    inside = (obs >= lo) & (obs <= hi)
    ax.hlines(ypos, lo[order], hi[order], color="tab:blue", lw=4, alpha=0.5,
              label=f"replicated {100 * interval:g}% interval")
    ax.plot(obs[order], ypos, "o", color="black", ms=4, label="observed")
    ax.set_yticks(ypos)
    ax.set_yticklabels([str(names[i]) for i in order])
    ax.set_ylabel(group_name or "group")
    ax.set_xlabel(f"mean {response} per {group_name or 'group'}")
    ax.set_title(f"Posterior predictive check by {group_name or 'group'}: "
                 f"{int(inside.sum())} of {len(names)} observed means inside")
    ax.legend(loc="lower right", fontsize=8)
    return ax
