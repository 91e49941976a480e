"""EM parameter intervals: the exact gradient behind the observed information, and the interval table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from probwb.errors import DataError
from probwb.hmm import HMM
from probwb.hmm.kernels import forward_backward
from probwb.hmm.uncertainty import ParameterLayout, interval_bounds


def _loglik(model: HMM, layout: ParameterLayout, seq, theta: np.ndarray) -> float:
    start, trans, ems = layout.unpack(theta)
    A, idx, _ = model._transitions(seq, trans)
    ll = forward_backward(seq.pad(model._emission_loglik(seq, ems)), seq.lengths, start, A, idx, posteriors=False)
    prior = trans.log_prior() if hasattr(trans, "log_prior") else 0.0
    return float(ll.log_prob.sum()) + prior


def _mixed_data(seed: int) -> pd.DataFrame:
    truth = HMM.from_params(
        [0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]],
        {"test": ("categorical", {"emissionprob": [[0.8, 0.15, 0.05], [0.1, 0.3, 0.6]],
                                  "symbols": ["normal", "abnormal", "critical"]}),
         "marker": ("gaussian", {"means": [0.0, 3.0], "covars": [1.0, 2.0]})}, state_names=["mild", "severe"])
    data = truth.sample(120, 6, random_state=seed)
    rng = np.random.default_rng(seed)
    data.loc[rng.random(len(data)) < 0.1, "marker"] = np.nan
    data["x"] = rng.choice(["a", "b", "c"], len(data))
    keep = (rng.random(len(data)) > 0.15) | (data["time"] == 0)  # time jumps as well
    return data.loc[keep].reset_index(drop=True)


@pytest.mark.parametrize("inputs", [None, ["x"]])
@pytest.mark.parametrize("seed", [0, 1])
def test_score_is_the_gradient_of_the_log_likelihood(inputs, seed: int) -> None:
    data = _mixed_data(seed)
    model = HMM(state_names=["mild", "severe"], emission={"test": "categorical", "marker": "gaussian"}, inputs=inputs,
                order_by=("marker", "mean"), n_init=1, n_iter=20, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # any point will do for a gradient check: 20 iterations may not converge
        model.fit(data)
    layout = ParameterLayout(model)
    seq = model._to_sequences(data, fitting=False)
    assert seq.gaps is not None
    theta = layout.theta0 + np.random.default_rng(seed).normal(0.0, 0.2, layout.theta0.shape)
    g = layout.score(theta, seq)
    h = 1e-5
    fd = np.array([(_loglik(model, layout, seq, theta + e) - _loglik(model, layout, seq, theta - e)) / (2 * h)
                   for e in np.eye(theta.shape[0]) * h])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)
    # the vector round-trips through the parameters
    start, trans, ems = layout.unpack(layout.theta0)
    np.testing.assert_allclose(start, model.startprob_, atol=1e-12)
    np.testing.assert_allclose(ems["test"].emissionprob_, model.emissions_["test"].emissionprob_, atol=1e-12)


def test_interval_table_structure_and_levels() -> None:
    truth = HMM.from_params([0.7, 0.3, 0.0], [[0.85, 0.12, 0.03], [0.15, 0.70, 0.15], [0.0, 0.0, 1.0]],
                            {"y": ("poisson", {"rates": [2.5, 0.7, 0.05]})}, state_names=["a", "r", "c"])
    data = truth.sample(400, 10, random_state=5)
    model = HMM(state_names=["a", "r", "c"], emission={"y": "poisson"}, absorbing=["c"], order_by=("y", "mean", "desc"),
                n_init=1, random_state=0).fit(data)
    t90 = model.intervals(data, confidence=0.9)
    t50 = model.intervals(data, confidence=0.5)
    assert list(t90.columns) == ["block", "state", "name", "value", "se", "lower", "upper", "link"]
    pd.testing.assert_frame_equal(t90[["block", "state", "name", "value"]], model.summary()[["block", "state", "name",
                                                                                            "value"]])
    free = t90["link"].isin(["logit", "log"])
    assert ((t90.loc[free, "lower"] < t90.loc[free, "value"]) & (t90.loc[free, "value"] < t90.loc[free, "upper"])).all()
    # nested: the 50% interval lies inside the 90% one; probabilities stay inside (0, 1)
    assert ((t50.loc[free, "lower"] > t90.loc[free, "lower"]) & (t50.loc[free, "upper"] < t90.loc[free, "upper"])).all()
    probs = t90["block"].isin(["transmat", "startprob"]) & free
    assert ((t90.loc[probs, "lower"] > 0) & (t90.loc[probs, "upper"] < 1)).all()
    lo, hi = interval_bounds(t90["value"], t90["se"], t90["link"], 0.5)
    np.testing.assert_allclose(lo[free], t50.loc[free, "lower"], rtol=1e-12)
    # the absorbing row is structural: zero width
    fixed = t90[(t90["block"] == "transmat") & (t90["state"] == "c")]
    assert (fixed["se"] == 0).all() and (fixed["lower"] == fixed["value"]).all()
    # the fit is at a maximum: the score there is ~0 (an unconverged fit has gradients of several units)
    assert t90.attrs["max_abs_score"] < 0.1
    with pytest.raises(DataError, match="confidence"):
        model.intervals(data, confidence=1.5)
