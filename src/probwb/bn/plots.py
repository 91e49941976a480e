"""Plots for Bayesian networks: the network drawing and posterior bar charts (matplotlib, no graphviz)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from probwb.bn.network import BayesNet

__all__ = ["plot_network", "plot_posterior"]


def _layered_positions(net: BayesNet) -> dict[str, tuple[float, float]]:
    """Nodes in rows by longest path from a root (parents above children), spread evenly per row."""
    depth: dict[str, int] = {}
    for n in net.nodes:  # topological order: parents are placed first
        pas = net.parents(n)
        depth[n] = 1 + max(depth[p] for p in pas) if pas else 0
    rows: dict[int, list[str]] = {}
    for n, d in depth.items():
        rows.setdefault(d, []).append(n)
    pos = {}
    for d, names in rows.items():
        # order within a row by the mean position of parents, to reduce crossings
        if d > 0:
            names.sort(key=lambda n: np.mean([pos[p][0] for p in net.parents(n)]))
        k = len(names)
        for i, n in enumerate(names):
            pos[n] = ((i + 0.5) / k, -float(d))
    return pos


def plot_network(net: BayesNet, ax: Any = None, *, highlight: dict[str, str] | None = None,
                 layout: str = "layered", node_size: int = 1600, font_size: int = 8) -> Any:
    """Draw the network's nodes and directed edges and return the matplotlib Axes.

    ``layout`` is ``"layered"`` (parents above children) or ``"spring"`` (networkx spring layout,
    seeded). ``highlight`` maps node names to colours (e.g. evidence in one colour, target in another).
    """
    import matplotlib.pyplot as plt
    import networkx as nx

    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(net.nodes) ** 0.9 + 3), 5))
    g = nx.DiGraph()
    g.add_nodes_from(net.nodes)
    g.add_edges_from(net.edges)
    if layout == "layered":
        pos = _layered_positions(net)
    elif layout == "spring":
        pos = nx.spring_layout(g, seed=0)
    else:
        raise ValueError(f"layout must be 'layered' or 'spring', found {layout!r}")
    colours = [(highlight or {}).get(n, "#cfe2f3") for n in g.nodes]
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowstyle="-|>", arrowsize=12,
                           node_size=node_size, edge_color="#555555")
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colours, node_size=node_size, edgecolors="#333333")
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=font_size)
    ax.set_axis_off()
    ax.margins(0.08)
    return ax


def plot_posterior(posterior: pd.Series | pd.DataFrame, ax: Any = None, *, title: str | None = None,
                   color: str = "#3d85c6") -> Any:
    """Bar chart of a posterior from :meth:`BayesNet.query`; return the Axes.

    A Series gives bars; a DataFrame with ``probability``, ``lower``, ``upper`` columns (a query with
    ``interval=``) adds credible-interval error bars.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    if isinstance(posterior, pd.DataFrame):
        p = posterior["probability"]
        err = np.vstack([p - posterior["lower"], posterior["upper"] - p])
    else:
        p, err = posterior, None
    labels = [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in p.index]
    # numeric positions: state names such as "0"/"1" must stay labels, not become numbers
    x = np.arange(len(labels))
    ax.bar(x, p.to_numpy(), yerr=err, color=color, capsize=4)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    name = p.index.name if p.index.name else ", ".join(str(n) for n in p.index.names if n)
    ax.set_xlabel(name or "")
    if title:
        ax.set_title(title)
    for i, v in enumerate(p.to_numpy()):
        ax.text(i, min(v + 0.03, 0.95), f"{v:.3f}", ha="center", fontsize=8)
    return ax
