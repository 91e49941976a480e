"""Simulation-based calibration on a tiny model: calibrated when right, detected when wrong."""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest

from probwb.errors import DataError
from probwb.hier.sbc import rank_uniformity, sbc


def _normal_model(scale_bug: float = 1.0):
    def build():
        with pm.Model() as m:
            y = pm.Data("y", np.zeros(8))
            mu = pm.Normal("mu", 0.0, 1.0)
            sigma = pm.HalfNormal("sigma", 1.0)
            # scale_bug != 1 mimics a coding error in the likelihood (the wrong scale).
            pm.Normal("obs", mu, sigma * scale_bug, observed=y)
        return m
    return build


def test_rank_uniformity_test():
    rng = np.random.default_rng(0)
    _, df, p = rank_uniformity(rng.integers(0, 100, 500), 100, 10)
    assert df == 9 and p > 0.01
    _, _, p_bad = rank_uniformity(rng.integers(0, 30, 500), 100, 10)
    assert p_bad < 1e-10
    with pytest.raises(DataError, match="multiple"):
        rank_uniformity([1, 2], 100, 7)


def test_sbc_calibrated_model_passes_and_plot():
    res = sbc(_normal_model(), n_sims=60, draws=150, tune=150, chains=1, n_ranks=100, n_bins=5,
              random_state=1, progressbar=False)
    assert res.ranks.shape == (60, 2) and list(res.ranks.columns) == ["mu", "sigma"]
    assert res.ranks.to_numpy().min() >= 0 and res.ranks.to_numpy().max() <= 99
    assert res.calibrated, res.tests
    assert res.to_dict()["n_sims"] == 60

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from probwb.hier.plots import plot_sbc_ranks

    ax = plot_sbc_ranks(res, "sigma")
    assert "sigma" in ax.get_title()
    plt.close("all")


def test_sbc_detects_a_likelihood_bug():
    # Data simulated from the correct model, posterior computed with the likelihood scale doubled:
    # the posterior of sigma sits at about half the truth, so its ranks pile up at the top.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = sbc(_normal_model(scale_bug=2.0), generator=_normal_model(), n_sims=60, draws=150, tune=150,
                  chains=1, n_ranks=100, n_bins=5, random_state=1, progressbar=False)
    assert not res.calibrated
    assert res.tests.loc["sigma", "p_value"] < 1e-6
    assert res.ranks["sigma"].mean() > 80


def test_sbc_argument_checks():
    with pytest.raises(DataError, match="n_ranks"):
        sbc(_normal_model(), n_sims=5, n_ranks=100, n_bins=7)
    with pytest.raises(DataError, match="no variable"):
        sbc(_normal_model(), n_sims=5, var_names=["tau"])
