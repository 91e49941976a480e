"""Plots for fitted HMMs: the state diagram and one entity's posterior state probabilities over time.

matplotlib is imported here only; every function takes ``ax=None`` and returns the Axes, never shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_state_diagram", "plot_state_posteriors"]


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _wrap(name: str, width: int = 12) -> str:
    """Break a long state name at underscores into lines of about ``width`` characters."""
    if len(name) <= width or "_" not in name:
        return name
    lines, line = [], ""
    for part in name.split("_"):
        piece = part if not line else "_" + part
        if line and len(line) + len(piece) > width:
            lines.append(line + "_")
            line = part
        else:
            line += piece
    return "\n".join([*lines, line])


def _half_diagonal(ax: Any, text: Any, renderer: Any) -> float:
    """Half the diagonal of ``text``'s box in data units of ``ax`` (equal aspect)."""
    box = text.get_window_extent(renderer)
    (x0, y0), (x1, y1) = ax.transData.inverted().transform([[box.x0, box.y0], [box.x1, box.y1]])
    return 0.5 * float(np.hypot(x1 - x0, y1 - y0))


def plot_state_diagram(model: Any, *, inputs: dict[str, Any] | None = None, threshold: float = 0.005,
                       ax: Any = None) -> Any:
    """Draw states on a circle with arrows labelled by transition probabilities; return the Axes.

    ``model`` is a fitted :class:`probwb.hmm.HMM` (at ``inputs`` for an input-driven one) or a
    :class:`probwb.hmm.BayesianHMM` (posterior means; ``inputs={"level": ...}`` picks an input level).
    Moves below ``threshold`` are not drawn; self-transitions are written under each state's name.
    """
    from matplotlib.patches import Circle, FancyArrowPatch

    if hasattr(model, "transmat_frame"):
        A = model.transmat_for(inputs)
    else:
        A = model.transmat_for((inputs or {}).get("level"))
    names = list(model.state_names_)
    S = len(names)
    ax = _axes(ax, (5.5, 5.0))
    angles = np.pi / 2 - 2 * np.pi * np.arange(S) / S
    pos = np.c_[np.cos(angles), np.sin(angles)] * (0.0 if S == 1 else 1.0)
    colors = [f"C{k % 10}" for k in range(S)]
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
    ax.set_aspect("equal")
    texts = [ax.text(*pos[k], f"{_wrap(str(names[k]))}\n(stay {A[k, k]:.2f})", ha="center", va="center",
                     fontsize=9, zorder=3) for k in range(S)]
    # each circle is as large as the largest label needs (half its diagonal in data units, plus a margin), at
    # least the former fixed 0.28; where that would make neighbouring circles touch, the labels' font shrinks
    ax.apply_aspect()
    renderer = ax.figure.canvas.get_renderer()
    cap = 0.42 * 2 * np.sin(np.pi / S) if S > 1 else 1.2
    for _ in range(8):
        half = max(_half_diagonal(ax, t, renderer) for t in texts)
        if 1.08 * half <= cap:
            break
        for t in texts:
            t.set_fontsize(t.get_fontsize() * 0.97 * cap / (1.08 * half))
    radius = max(0.28, 1.08 * half)
    for k in range(S):
        ax.add_patch(Circle(pos[k], radius, facecolor=colors[k], alpha=0.25, edgecolor=colors[k], lw=2))
    for i in range(S):
        for j in range(S):
            if i == j or A[i, j] < threshold:
                continue
            d = pos[j] - pos[i]
            u = d / np.linalg.norm(d)
            start, end = pos[i] + u * radius, pos[j] - u * radius
            arrow = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=0.8 + 4 * A[i, j],
                                    color=colors[i], connectionstyle="arc3,rad=0.18")
            ax.add_patch(arrow)
            normal = np.array([u[1], -u[0]])
            mid = (start + end) / 2 + normal * 0.16
            ax.text(*mid, f"{A[i, j]:.3f}", ha="center", va="center", fontsize=8, color=colors[i])
    ax.axis("off")
    title = "Transition probabilities"
    if inputs:
        title += " at " + ", ".join(f"{k}={v}" for k, v in inputs.items())
    ax.set_title(title)
    return ax


def plot_state_posteriors(model: Any, data: pd.DataFrame, entity: Any, *, observed: str | None = None,
                          ax: Any = None) -> Any:
    """Stacked posterior state probabilities over time for one entity of a long DataFrame; return the Axes.

    With ``observed`` (an observed column), its values are drawn on a second axis (missing steps are gaps).
    """
    id_col, time_col = model.id_col, model.time_col
    rows = data[data[id_col] == entity]
    if rows.empty:
        from probwb.errors import StateError

        raise StateError(f"no rows for {id_col}={entity!r} in the data")
    rows = rows.sort_values(time_col)
    post = model.predict_proba(rows)
    ax = _axes(ax, (7.0, 3.5))
    t = rows[time_col].to_numpy()
    ax.stackplot(t, post.to_numpy().T, labels=list(post.columns), alpha=0.8, step="mid")
    ax.set_ylim(0, 1)
    ax.set_xlabel(time_col)
    ax.set_ylabel("P(state | data)")
    ax.set_title(f"Posterior state probabilities: {id_col} {entity}")
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.0 if observed is None else 1.08, 1.0))
    if observed is not None:
        ax2 = ax.twinx()
        y = pd.to_numeric(rows[observed], errors="coerce").to_numpy(dtype=float)
        ax2.plot(t, y, "k.-", lw=1, label=observed)
        ax2.set_ylabel(observed)
    return ax
