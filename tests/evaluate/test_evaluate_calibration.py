"""Calibration table, ECE, logistic recalibration, smoothed curve and decision curves."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit
from sklearn.calibration import calibration_curve
from statsmodels.nonparametric.smoothers_lowess import lowess
from statsmodels.stats.proportion import proportion_confint

from probwb.errors import ConvergenceWarning, DataError, ProbabilityError, SpecError
from probwb.evaluate import (
    calibration_intercept,
    calibration_slope,
    calibration_slope_intercept,
    calibration_table,
    decision_curve,
    expected_calibration_error,
    net_benefit,
    smoothed_calibration_curve,
)

TOL = 1e-12


@pytest.fixture(scope="module")
def risk():
    rng = np.random.default_rng(5)
    n = 600
    p = rng.beta(2, 5, size=n)
    y = (rng.uniform(size=n) < p).astype(int)
    w = rng.uniform(0.2, 3.0, size=n)
    return y, p, w


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [5, 10, 17])
def test_calibration_table_matches_sklearn(risk, strategy, n_bins):
    y, p, _ = risk
    p = np.round(p, 2)  # ties and values sitting exactly on uniform edges
    table = calibration_table(y, p, n_bins=n_bins, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    np.testing.assert_allclose(table["observed_rate"], prob_true, atol=TOL, rtol=0)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred, atol=TOL, rtol=0)
    assert table["count"].sum() == len(y)


def test_calibration_table_wilson_interval_matches_statsmodels(risk):
    y, p, _ = risk
    table = calibration_table(y, p, n_bins=8, confidence=0.9)
    successes = np.round(table["observed_rate"] * table["count"]).astype(int)
    lo, hi = proportion_confint(successes, table["count"], alpha=0.1, method="wilson")
    np.testing.assert_allclose(table["ci_lower"], lo, atol=1e-12)
    np.testing.assert_allclose(table["ci_upper"], hi, atol=1e-12)
    assert (table["ci_lower"] <= table["observed_rate"]).all()
    assert (table["observed_rate"] <= table["ci_upper"]).all()


def test_weighted_table_and_ece_by_brute_force(risk):
    y, p, w = risk
    table = calibration_table(y, p, n_bins=10, sample_weight=w)
    edges = np.linspace(0, 1, 11)
    ece_l1, ece_l2, ece_max = 0.0, 0.0, 0.0
    for b in range(10):
        lo, hi = edges[b], edges[b + 1]
        inside = ((p > lo) | (b == 0)) & (p <= hi)
        if not inside.any():
            continue
        obs = np.sum(w[inside] * y[inside]) / w[inside].sum()
        pred = np.sum(w[inside] * p[inside]) / w[inside].sum()
        row = table.loc[table["bin"] == b].iloc[0]
        assert row["observed_rate"] == pytest.approx(obs, abs=TOL)
        assert row["mean_predicted"] == pytest.approx(pred, abs=TOL)
        share = w[inside].sum() / w.sum()
        ece_l1 += share * abs(obs - pred)
        ece_l2 += share * (obs - pred) ** 2
        ece_max = max(ece_max, abs(obs - pred))
    assert expected_calibration_error(y, p, sample_weight=w) == pytest.approx(ece_l1, abs=TOL)
    assert expected_calibration_error(y, p, sample_weight=w, norm="l2") == pytest.approx(np.sqrt(ece_l2), abs=TOL)
    assert expected_calibration_error(y, p, sample_weight=w, norm="max") == pytest.approx(ece_max, abs=TOL)


def test_multiclass_ece_is_top_label():
    rng = np.random.default_rng(6)
    prob = rng.dirichlet([1.0, 2.0, 3.0], size=300)
    names = np.array(["mild", "moderate", "severe"])
    y = names[[rng.choice(3, p=row) for row in prob]]
    frame = pd.DataFrame(prob, columns=names)
    conf = prob.max(axis=1)
    correct = (names[prob.argmax(axis=1)] == y).astype(float)
    edges = np.linspace(0, 1, 6)
    ids = np.searchsorted(edges[1:-1], conf)
    brute = sum(np.mean(ids == b) * abs(correct[ids == b].mean() - conf[ids == b].mean())
                for b in range(5) if (ids == b).any())
    assert expected_calibration_error(y, frame, n_bins=5) == pytest.approx(brute, abs=TOL)


def test_ece_detects_miscalibration(risk):
    y, p, _ = risk
    assert expected_calibration_error(y, p) < 0.06
    assert expected_calibration_error(y, np.sqrt(p)) > 0.15


def test_slope_intercept_match_statsmodels_glm(risk):
    y, p, w = risk
    lp = logit(p)
    for weights in (None, w):
        fit = calibration_slope_intercept(y, p, sample_weight=weights)
        fw = None if weights is None else weights
        slope_glm = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial(),
                           freq_weights=fw).fit(tol=1e-14)
        citl_glm = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp,
                          freq_weights=fw).fit(tol=1e-14)
        assert fit["slope"] == pytest.approx(slope_glm.params[1], abs=1e-10)
        assert fit["slope_model_intercept"] == pytest.approx(slope_glm.params[0], abs=1e-10)
        assert fit["slope_se"] == pytest.approx(slope_glm.bse[1], rel=1e-9)
        assert fit["intercept"] == pytest.approx(citl_glm.params[0], abs=1e-10)
        assert fit["intercept_se"] == pytest.approx(citl_glm.bse[0], rel=1e-9)


def test_slope_intercept_recover_known_miscalibration():
    rng = np.random.default_rng(7)
    p = rng.uniform(0.02, 0.98, size=20000)
    # the truth is logit P(y) = -0.5 + 0.6 logit(p): predictions too extreme and too high
    y = (rng.uniform(size=p.size) < expit(-0.5 + 0.6 * logit(p))).astype(int)
    fit = calibration_slope_intercept(y, p)
    assert abs(fit["slope"] - 0.6) < 4 * fit["slope_se"]
    assert abs(fit["slope_model_intercept"] + 0.5) < 0.1
    assert fit["intercept"] < -0.3
    assert calibration_slope(y, p) == fit["slope"]
    assert calibration_intercept(y, p) == fit["intercept"]
    y_ok = (rng.uniform(size=p.size) < p).astype(int)
    good = calibration_slope_intercept(y_ok, p)
    assert abs(good["slope"] - 1) < 4 * good["slope_se"]
    assert abs(good["intercept"]) < 4 * good["intercept_se"]


def test_slope_needs_open_interval_and_warns_on_separation():
    with pytest.raises(ProbabilityError, match="strictly inside.*position 1"):
        calibration_slope_intercept([0, 1, 1], [0.2, 1.0, 0.6])
    with pytest.raises(DataError, match="both outcomes"):
        calibration_slope_intercept([1, 1, 1], [0.2, 0.5, 0.6])
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        calibration_slope_intercept([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])


def test_smoothed_curve_follows_truth():
    rng = np.random.default_rng(8)
    p = rng.uniform(0.05, 0.95, size=3000)
    y_ok = (rng.uniform(size=p.size) < p).astype(int)
    y_bad = (rng.uniform(size=p.size) < p**2).astype(int)
    curve = smoothed_calibration_curve(y_ok, p, n_points=21)
    assert list(curve.columns) == ["predicted", "observed"]
    assert curve["predicted"].iloc[0] == p.min() and curve["predicted"].iloc[-1] == p.max()
    mid = curve.iloc[3:-3]
    assert np.max(np.abs(mid["observed"] - mid["predicted"])) < 0.06
    bad = smoothed_calibration_curve(y_bad, p, n_points=21).iloc[3:-3]
    assert np.max(np.abs(bad["observed"] - bad["predicted"] ** 2)) < 0.06
    assert np.max(np.abs(bad["observed"] - bad["predicted"])) > 0.15
    # it is statsmodels' LOWESS without robustness iterations, evaluated on the grid
    direct = lowess(y_ok, p, frac=0.5, it=0, xvals=curve["predicted"].to_numpy())
    np.testing.assert_allclose(smoothed_calibration_curve(y_ok, p, frac=0.5, n_points=21)["observed"], direct)


def test_smoothed_curve_bad_input():
    with pytest.raises(DataError, match="distinct predictions"):
        smoothed_calibration_curve([0, 1, 1], [0.5, 0.5, 0.5])
    with pytest.raises(SpecError, match="frac"):
        smoothed_calibration_curve([0, 1, 1], [0.1, 0.5, 0.6], frac=0)


def test_net_benefit_by_hand():
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.7, 0.6, 0.4, 0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    # threshold 0.3: treated = first five (p >= 0.3): TP = 2, FP = 3, n = 10
    assert net_benefit(y, p, 0.3) == pytest.approx(2 / 10 - 3 / 10 * 0.3 / 0.7, abs=TOL)
    curve = decision_curve(y, {"a": p, "b": 1 - p}, [0.1, 0.3, 0.5])
    assert list(curve.columns) == ["threshold", "treat_none", "treat_all", "a", "b"]
    t = curve["threshold"].to_numpy()
    np.testing.assert_allclose(curve["treat_all"], 0.3 - 0.7 * t / (1 - t), atol=TOL)
    assert (curve["treat_none"] == 0).all()
    for name, probs in (("a", p), ("b", 1 - p)):
        brute = [np.mean((probs >= tt) & (y == 1)) - np.mean((probs >= tt) & (y == 0)) * tt / (1 - tt)
                 for tt in t]
        np.testing.assert_allclose(curve[name], brute, atol=TOL)


def test_decision_curve_weighted_and_defaults(risk):
    y, p, w = risk
    curve = decision_curve(y, p, sample_weight=w)
    assert len(curve) == 99 and curve["threshold"].iloc[0] == pytest.approx(0.01)
    for tt in (0.05, 0.2, 0.5):
        treated = p >= tt
        brute = (np.sum(w * treated * y) - np.sum(w * treated * (1 - y)) * tt / (1 - tt)) / w.sum()
        row = curve.loc[np.isclose(curve["threshold"], tt)].iloc[0]
        assert row["model"] == pytest.approx(brute, abs=TOL)
        assert net_benefit(y, p, tt, sample_weight=w) == pytest.approx(brute, abs=TOL)


def test_decision_curve_bad_input(risk):
    y, p, _ = risk
    with pytest.raises(DataError, match="strictly between 0 and 1"):
        decision_curve(y, p, [0.0, 0.5])
    with pytest.raises(ProbabilityError, match=r"\[0, 1\]"):
        decision_curve(y, p, [0.5, 1.5])
    with pytest.raises(DataError, match="clash"):
        decision_curve(y, {"treat_all": p})
    with pytest.raises(DataError, match="same length"):
        decision_curve(y, {"m": p[:-1]})


def test_calibration_bad_options(risk):
    y, p, _ = risk
    with pytest.raises(SpecError, match="did you mean 'quantile'"):
        calibration_table(y, p, strategy="quantiles")
    with pytest.raises(SpecError, match="n_bins"):
        calibration_table(y, p, n_bins=0)
    with pytest.raises(SpecError, match="norm"):
        expected_calibration_error(y, p, norm="l3")
    frame = pd.DataFrame({"no": 1 - p, "yes": p})
    labels = np.where(y == 1, "yes", "no")
    pd.testing.assert_frame_equal(calibration_table(labels, frame), calibration_table(y, p))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calibration_slope_intercept(labels, frame)
