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


def _wrap_label(name: str, width: int = 10) -> str:
    """Break a long node name at underscores (or spaces) into lines of about ``width`` characters."""
    if len(name) <= width:
        return name
    parts = [p for p in name.replace(" ", "_ ").replace("_", "_\0").split("\0") if p]
    lines, line = [], ""
    for part in parts:
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = part.lstrip()
        else:
            line += part
    lines.append(line)
    return "\n".join(lines)


def _label_diameter(label: str, font_size: float) -> float:
    """Diameter in points of the smallest circle that holds ``label`` at ``font_size`` (with a margin)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    lines = label.split("\n")
    prop = FontProperties(size=font_size)
    width = max(TextPath((0, 0), line or " ", prop=prop).get_extents().width for line in lines)
    height = 1.25 * font_size * len(lines)  # matplotlib's default line spacing
    return float(np.hypot(width, height)) + 0.6 * font_size


def plot_network(net: BayesNet, ax: Any = None, *, highlight: dict[str, str] | None = None,
                 layout: str = "layered", node_size: int = 1600, font_size: int = 8) -> Any:
    """Draw the network's nodes and directed edges and return the matplotlib Axes.

    ``layout`` is ``"layered"`` (parents above children) or ``"spring"`` (networkx spring layout,
    seeded). ``highlight`` maps node names to colours (e.g. evidence in one colour, target in another).
    ``node_size`` (points squared) is the smallest node; a node grows until its name, broken at underscores
    when long, fits inside its circle.
    """
    import matplotlib.pyplot as plt
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(net.nodes)
    g.add_edges_from(net.edges)
    if layout == "layered":
        pos = _layered_positions(net)
    elif layout == "spring":
        pos = nx.spring_layout(g, seed=0)
    else:
        raise ValueError(f"layout must be 'layered' or 'spring', found {layout!r}")
    labels = {n: _wrap_label(str(n)) for n in g.nodes}
    sizes = [max(float(node_size), _label_diameter(labels[n], font_size) ** 2) for n in g.nodes]
    if ax is None:
        widest = max(np.sqrt(sizes)) / 72  # inches
        per_row = max(sum(1 for p in pos.values() if p[1] == y) for y in {p[1] for p in pos.values()})
        depth = len({p[1] for p in pos.values()})
        _, ax = plt.subplots(figsize=(max(4.0, 1.6 * widest * per_row + 1), max(3.0, 1.8 * widest * depth + 1)))
    colours = [(highlight or {}).get(n, "#cfe2f3") for n in g.nodes]
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowstyle="-|>", arrowsize=12,
                           node_size=sizes, edge_color="#555555")
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colours, node_size=sizes, edgecolors="#333333")
    nx.draw_networkx_labels(g, pos, labels=labels, ax=ax, font_size=font_size)
    ax.set_axis_off()
    ax.margins(0.12)
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
    top = p.to_numpy() if err is None else p.to_numpy() + err[1]
    low = p.to_numpy() if err is None else p.to_numpy() - err[0]
    for i, v in enumerate(p.to_numpy()):
        # above the error bar's cap when there is room, else beside the error bar, offset in points past the
        # caps' half-width (capsize): a value label never sits under an error bar
        if top[i] + 0.09 <= 1.0:
            ax.text(i, top[i] + 0.02, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
        else:
            ax.annotate(f"{v:.3f}", (i, v if err is None else (v + low[i]) / 2), xytext=(6, 0),
                        textcoords="offset points", ha="left", va="center", fontsize=8,
                        bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0, "pad": 1})
    if err is not None and isinstance(posterior, pd.DataFrame):
        level = posterior.attrs.get("interval")
        ax.set_ylabel("probability" + (f" ({100 * float(level):g}% CrI)" if level else " (with credible interval)"))
    return ax
