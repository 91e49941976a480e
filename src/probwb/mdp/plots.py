"""Plots for MDPs: values, policy posteriors, return distributions, convergence, belief policies.

Every function takes ``ax=None`` (a new figure is made) and returns the matplotlib Axes; none calls show().
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_values", "plot_policy_posterior", "plot_value_posterior", "plot_returns",
           "plot_belief_policy"]


def _ax(ax: Any, figsize: tuple[float, float] = (6, 3.5)) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_values(result: Any, ax: Any = None, *, max_states: int = 40) -> Any:
    """Bar chart of state values labelled with the chosen action (a SolveResult); return the Axes."""
    ax = _ax(ax)
    v = result.values
    pol = result.policy
    if isinstance(v, pd.DataFrame):  # finite horizon: values at t = 0
        v, pol = v.iloc[0], pol.iloc[0]
    v, pol = v.iloc[:max_states], pol.iloc[:max_states]
    x = np.arange(len(v))
    bars = ax.bar(x, v.to_numpy(), color="#4C72B0")
    for b, a in zip(bars, pol.to_numpy(), strict=True):
        ax.annotate(str(a), (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [str(s) for s in v.index], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("value")
    ax.set_title(f"optimal values ({result.method})")
    return ax


def plot_policy_posterior(posterior: Any, ax: Any = None) -> Any:
    """Stacked bars: per state, the posterior probability that each action is optimal; return the Axes."""
    ax = _ax(ax)
    probs = posterior.action_probabilities()
    bottom = np.zeros(len(probs))
    x = np.arange(len(probs))
    for a in probs.columns:
        ax.bar(x, probs[a].to_numpy(), bottom=bottom, label=str(a))
        bottom += probs[a].to_numpy()
    ax.set_xticks(x, [str(s) for s in probs.index], rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("P(action is optimal)")
    ax.set_title(f"posterior over optimal policies ({posterior.policies.shape[0]} sampled MDPs)")
    ax.legend(title="action", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_value_posterior(posterior: Any, ax: Any = None) -> Any:
    """Violin plot of the posterior distribution of the optimal value per state; return the Axes."""
    ax = _ax(ax)
    vals = posterior.values
    ax.violinplot([vals[:, i] for i in range(vals.shape[1])], showmedians=True)
    ax.scatter(np.arange(1, vals.shape[1] + 1), posterior.point.V, marker="x", color="k", zorder=3,
               label="posterior-mean MDP")
    ax.set_xticks(np.arange(1, vals.shape[1] + 1), [str(s) for s in posterior.states], rotation=30, ha="right")
    ax.set_ylabel("optimal value")
    ax.set_title("posterior of the optimal value")
    ax.legend(fontsize=8)
    return ax


def plot_returns(returns: Any, ax: Any = None, *, label: str | None = None, bins: int = 40) -> Any:
    """Histogram of Monte Carlo returns (array, Series or dict name -> returns); return the Axes."""
    ax = _ax(ax)
    series = returns if isinstance(returns, dict) else {label or "returns": returns}
    for name, r in series.items():
        r = np.asarray(r, float)
        ax.hist(r, bins=bins, alpha=0.5, label=f"{name} (mean {r.mean():.3g})")
    ax.set_xlabel("discounted return")
    ax.set_ylabel("episodes")
    ax.legend(fontsize=8)
    return ax


def plot_belief_policy(policy: Any, ax: Any = None, n: int = 201) -> Any:
    """For a two-state POMDP: value and action against P(first state); return the Axes."""
    ax = _ax(ax)
    tab = policy.table(n=n)
    x = tab.iloc[:, 0].to_numpy()
    ax.plot(x, tab["value"].to_numpy(), color="k")
    for a in pd.unique(tab["action"]):
        m = (tab["action"] == a).to_numpy()
        ax.scatter(x[m], tab["value"].to_numpy()[m], s=8, label=str(a))
    ax.set_xlabel(tab.columns[0])
    ax.set_ylabel("value")
    ax.legend(fontsize=8)
    return ax
