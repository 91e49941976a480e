"""Plots for evaluation: calibration plot, decision curve, ROC curve.

Each function draws on ``ax`` (a new figure when None) and returns the Axes; none calls ``show()``.
``y_prob`` may be one model's predictions or a mapping ``{name: y_prob}`` to overlay several.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from probwb.evaluate.calibration import calibration_table, decision_curve, smoothed_calibration_curve
from probwb.evaluate.metrics import roc_auc, roc_curve

__all__ = ["plot_calibration", "plot_decision_curve", "plot_roc"]


def _models(y_prob: Any, default: str = "model") -> dict[str, Any]:
    return {str(k): v for k, v in y_prob.items()} if isinstance(y_prob, Mapping) else {default: y_prob}


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    return ax


def plot_calibration(
    y_true: Any,
    y_prob: Any,
    *,
    n_bins: int = 10,
    strategy: str = "uniform",
    smooth: bool = True,
    pos_label: Any = None,
    confidence: float = 0.95,
    ax: Axes | None = None,
) -> Axes:
    """Draw observed vs predicted risk: binned points with Wilson intervals, a LOWESS curve, the diagonal.

    Returns the Axes.
    """
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    for i, (name, probs) in enumerate(_models(y_prob).items()):
        color = f"C{i}"
        table = calibration_table(y_true, probs, n_bins=n_bins, strategy=strategy, pos_label=pos_label,
                                  confidence=confidence)
        x = table["mean_predicted"].to_numpy()
        yv = table["observed_rate"].to_numpy()
        err = np.vstack([yv - table["ci_lower"].to_numpy(), table["ci_upper"].to_numpy() - yv])
        ax.errorbar(x, yv, yerr=err, fmt="o", color=color, capsize=3, label=f"{name} (binned)")
        if smooth:
            curve = smoothed_calibration_curve(y_true, probs, pos_label=pos_label)
            ax.plot(curve["predicted"], curve["observed"], color=color, label=f"{name} (LOWESS)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_decision_curve(
    y_true: Any,
    y_prob: Any,
    thresholds: Sequence[float] | np.ndarray | None = None,
    *,
    pos_label: Any = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw net benefit against threshold probability for each model, treat-all and treat-none.

    The y-axis is cut a little below zero (treat-all falls steeply at high thresholds). Returns the Axes.
    """
    ax = _axes(ax)
    curve = decision_curve(y_true, _models(y_prob), thresholds, pos_label=pos_label)
    t = curve["threshold"].to_numpy()
    ax.plot(t, curve["treat_all"], color="grey", linewidth=1, label="treat all")
    ax.plot(t, curve["treat_none"], color="black", linewidth=1, linestyle=":", label="treat none")
    names = [c for c in curve.columns if c not in ("threshold", "treat_all", "treat_none")]
    for i, name in enumerate(names):
        ax.plot(t, curve[name], color=f"C{i}", label=name)
    top = float(np.nanmax(curve[["treat_all", *names]].to_numpy()))
    ax.set_ylim(-0.05 * max(top, 0.01) - 0.01, max(top, 0.01) * 1.1)
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.set_title("Decision curve")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_roc(y_true: Any, y_score: Any, *, pos_label: Any = None, ax: Axes | None = None) -> Axes:
    """Draw the ROC curve of each model with its AUC in the legend. Returns the Axes."""
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    for i, (name, scores) in enumerate(_models(y_score).items()):
        curve = roc_curve(y_true, scores, pos_label=pos_label)
        auc = roc_auc(y_true, scores, pos_label=pos_label)
        ax.plot(curve["fpr"], curve["tpr"], color=f"C{i}", label=f"{name} (AUC {auc:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right", fontsize="small")
    return ax
