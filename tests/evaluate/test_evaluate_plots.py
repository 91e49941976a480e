"""Evaluation plots return Axes drawn from the same numbers as the tables; importing evaluate stays light."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.axes import Axes

from probwb.evaluate import calibration_table, decision_curve, roc_auc
from probwb.evaluate.plots import plot_calibration, plot_decision_curve, plot_roc

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def risk():
    rng = np.random.default_rng(14)
    p = rng.beta(2, 4, size=400)
    y = (rng.uniform(size=400) < p).astype(int)
    return y, p


def test_plot_calibration(risk):
    import matplotlib.pyplot as plt

    y, p = risk
    fig, ax = plt.subplots()
    out = plot_calibration(y, {"model": p, "shrunk": 0.5 * p + 0.1}, n_bins=5, ax=ax)
    assert out is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == ["model (LOWESS)", "model (binned)", "perfect calibration",
                              "shrunk (LOWESS)", "shrunk (binned)"]
    # the binned points are the calibration table's
    table = calibration_table(y, p, n_bins=5)
    points = ax.containers[0].lines[0].get_xydata()
    np.testing.assert_allclose(points[:, 0], table["mean_predicted"])
    np.testing.assert_allclose(points[:, 1], table["observed_rate"])
    plt.close(fig)


def test_plot_decision_curve_and_roc(risk):
    import matplotlib.pyplot as plt

    y, p = risk
    ax = plot_decision_curve(y, p, thresholds=np.linspace(0.05, 0.6, 12))
    assert isinstance(ax, Axes)
    curve = decision_curve(y, p, np.linspace(0.05, 0.6, 12))
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"treat all", "treat none", "model"}
    np.testing.assert_allclose(lines["model"].get_ydata(), curve["model"])
    plt.close(ax.figure)

    ax = plot_roc(y, {"a": p, "b": -p})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[1] == f"a (AUC {roc_auc(y, p):.3f})"
    assert labels[2] == f"b (AUC {1 - roc_auc(y, p):.3f})"
    plt.close(ax.figure)


def test_import_does_not_pull_plotting_or_statsmodels():
    code = ("import sys, probwb.evaluate; "
            "print(sorted(m for m in ('matplotlib', 'statsmodels', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
