"""Plots of fitted CLV models; each returns matplotlib Axes and never calls ``show()``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_frequency_counts", "plot_probability_alive_matrix"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(6.4, 4.2))
    return ax


def plot_probability_alive_matrix(model: Any, T: float, *, max_frequency: int = 20, n_recency: int = 40,
                                  ax: Any = None, cmap: str = "viridis") -> Any:
    """Draw P(alive) over frequency (rows) and recency (columns) for a customer observed for ``T``;
    return the Axes (with a colour bar)."""
    grid = model.probability_alive_matrix(T, max_frequency=max_frequency, n_recency=n_recency)
    ax = _axes(ax)
    rec = grid.columns.to_numpy(dtype=float)
    im = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", vmin=0.0, vmax=1.0, cmap=cmap,
                   extent=(rec[0], rec[-1], -0.5, grid.shape[0] - 0.5))
    ax.figure.colorbar(im, ax=ax, label="P(alive)")
    ax.set_xlabel("recency (time of last purchase)")
    ax.set_ylabel("frequency (repeat purchases)")
    ax.set_title(f"{type(model).__name__}: probability a customer is still active (T = {T:g})")
    return ax


def plot_frequency_counts(model: Any, data: pd.DataFrame, *, max_frequency: int = 7, ax: Any = None,
                          random_state: Any = 0) -> Any:
    """Draw observed vs model-expected numbers of customers by repeat purchases; return the Axes."""
    table = model.expected_frequency_counts(data, max_frequency=max_frequency, random_state=random_state)
    ax = _axes(ax)
    pos = np.arange(len(table))
    ax.bar(pos - 0.2, table["observed"], width=0.4, label="observed")
    ax.bar(pos + 0.2, table["expected"], width=0.4, label=f"{type(model).__name__} expected")
    ax.set_xticks(pos, table.index)
    ax.set_xlabel("repeat purchases in the observation window")
    ax.set_ylabel("customers")
    ax.set_title("Observed vs expected repeat purchases")
    ax.legend()
    return ax
