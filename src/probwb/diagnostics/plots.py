"""Diagnostic plots (matplotlib only; never call ``show()``). Single-panel plots take ``ax=None`` and return
the Axes; the multi-panel ``plot_trace`` and ``plot_rank`` take ``axes=None`` and return the array of Axes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from probwb.diagnostics import LooResult, Thresholds, _check_idata, _resolve_var_names
from probwb.errors import DataError, ModelError

__all__ = ["plot_trace", "plot_rank", "plot_pareto_k", "plot_ppc"]


def _scalar_series(idata: Any, var_names: Sequence[str] | str | None, max_params: int) -> dict[str, np.ndarray]:
    """Map "name[i,j]" to its (chain, draw) array, for at most ``max_params`` scalar parameters."""
    names = _resolve_var_names(idata, var_names)
    out: dict[str, np.ndarray] = {}
    for name in names:
        arr = np.asarray(idata.posterior[name])
        flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
        shape = arr.shape[2:]
        for j in range(flat.shape[2]):
            label = name if not shape else f"{name}[{','.join(map(str, np.unravel_index(j, shape)))}]"
            out[label] = flat[:, :, j]
            if len(out) >= max_params:
                return out
    return out


def _panel_axes(axes: Any, shape: tuple[int, int], figsize: tuple[float, float], where: str) -> np.ndarray:
    """Return a (rows, cols) object array of Axes: ``axes`` reshaped after checking its size, else a new figure."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, grid = plt.subplots(*shape, figsize=figsize, squeeze=False)
        return grid
    grid = np.asarray(axes, dtype=object)
    if grid.size != shape[0] * shape[1]:
        raise DataError(f"{where}: axes must hold {shape[0]} x {shape[1]} = {shape[0] * shape[1]} Axes "
                        f"(one row per parameter), found {grid.size}")
    return grid.reshape(shape)


def plot_trace(idata: Any, var_names: Sequence[str] | str | None = None, *, max_params: int = 8,
               axes: Any = None) -> np.ndarray:
    """Draw one row per scalar parameter: trace per chain (left), density per chain (right); return the
    (n_params, 2) array of Axes. ``axes`` (any array of that many Axes) draws there instead of a new figure.

    Returned the Figure before; ``plot_trace(...).flat[0].figure`` is that Figure."""
    _check_idata(idata)
    series = _scalar_series(idata, var_names, max_params)
    axes = _panel_axes(axes, (len(series), 2), (9, 1.8 * len(series)), "plot_trace")
    for row, (label, arr) in zip(axes, series.items(), strict=True):
        for c in range(arr.shape[0]):
            row[0].plot(arr[c], lw=0.5, alpha=0.8, label=f"chain {c}")
            row[1].hist(arr[c], bins=40, density=True, histtype="step", lw=1)
        row[0].set_ylabel(label)
    axes[0, 0].set_title("trace")
    axes[0, 1].set_title("marginal density per chain")
    axes[0, 0].figure.tight_layout()
    return axes


def plot_rank(idata: Any, var_names: Sequence[str] | str | None = None, *, bins: int = 20,
              max_params: int = 8, axes: Any = None) -> np.ndarray:
    """Draw rank histograms per chain (Vehtari et al. 2021), one row per scalar parameter (flat bars mean
    good mixing); return the (n_params, 1) array of Axes. ``axes`` draws there instead of a new figure.

    Returned the Figure before; ``plot_rank(...).flat[0].figure`` is that Figure."""
    from scipy.stats import rankdata

    _check_idata(idata)
    series = _scalar_series(idata, var_names, max_params)
    axes = _panel_axes(axes, (len(series), 1), (6, 1.6 * len(series)), "plot_rank")
    for ax, (label, arr) in zip(axes[:, 0], series.items(), strict=True):
        ranks = rankdata(arr.ravel()).reshape(arr.shape)
        edges = np.linspace(0.5, arr.size + 0.5, bins + 1)
        width = 0.8 / arr.shape[0]
        for c in range(arr.shape[0]):
            counts, _ = np.histogram(ranks[c], bins=edges)
            ax.bar(np.arange(bins) + c * width, counts, width=width, label=f"chain {c}")
        ax.axhline(arr.shape[1] / bins, color="k", lw=0.8, ls="--")
        ax.set_ylabel(label)
    axes[-1, 0].set_xlabel("rank bin")
    axes[0, 0].figure.tight_layout()
    return axes


def plot_pareto_k(result: LooResult, ax: Any = None, thresholds: Thresholds | None = None) -> Any:
    """Return Axes with each observation's PSIS Pareto k and the 0.5 / threshold / 1 reference lines."""
    import matplotlib.pyplot as plt

    if not isinstance(result, LooResult):
        raise DataError(f"expected a LooResult from probwb.diagnostics.loo, found {type(result).__name__}")
    th = thresholds or Thresholds()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    k = result.pareto_k
    colors = np.where(k > th.pareto_k, "tab:red", np.where(k > 0.5, "tab:orange", "tab:blue"))
    ax.scatter(np.arange(k.size), k, c=colors, s=8)
    for level in (0.5, th.pareto_k, 1.0):
        ax.axhline(level, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("observation")
    ax.set_ylabel("Pareto k")
    ax.set_title("PSIS-LOO diagnostics")
    return ax


def plot_ppc(idata: Any, var_name: str | None = None, ax: Any = None, *, n_replicates: int = 50,
             bins: int = 30) -> Any:
    """Return Axes overlaying histograms of replicated datasets (grey) on the observed data (black)."""
    import matplotlib.pyplot as plt

    _check_idata(idata)
    for grp in ("observed_data", "posterior_predictive"):
        if grp not in idata.groups():
            raise ModelError(f"plot_ppc needs a {grp!r} group, found {list(idata.groups())}")
    if var_name is None:
        var_name = next(iter(idata.observed_data.data_vars))
    y = np.asarray(idata.observed_data[var_name], dtype=float).ravel()
    rep = np.asarray(idata.posterior_predictive[var_name], dtype=float).reshape(-1, y.size)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    lo = min(np.nanmin(y), np.nanmin(rep))
    hi = max(np.nanmax(y), np.nanmax(rep))
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    pick = np.linspace(0, rep.shape[0] - 1, min(n_replicates, rep.shape[0])).astype(int)
    for i in pick:
        ax.hist(rep[i], bins=edges, density=True, histtype="step", color="grey", alpha=0.3, lw=0.8)
    ax.hist(y, bins=edges, density=True, histtype="step", color="black", lw=2, label="observed")
    ax.set_xlabel(var_name)
    ax.set_ylabel("density")
    ax.legend()
    return ax
