"""probwb.evaluate.metrics against scikit-learn / scipy, bad input, and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu
from sklearn import metrics as skm

from probwb.errors import DataError, ProbabilityError, SpecError, StateError
from probwb.evaluate import (
    LOG_LOSS_EPS,
    brier_score,
    calibration_table,
    log_loss,
    mae,
    mse,
    rmse,
    roc_auc,
    roc_curve,
    sse,
)

TOL = 1e-12


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(1)
    n = 300
    p = rng.uniform(size=n)
    y = (rng.uniform(size=n) < p).astype(int)
    w = rng.uniform(0.2, 3.0, size=n)
    return y, p, w


@pytest.fixture(scope="module")
def multiclass():
    rng = np.random.default_rng(2)
    n, k = 250, 4
    prob = rng.dirichlet(np.ones(k), size=n)
    codes = np.array([rng.choice(k, p=row) for row in prob])
    names = np.array(["active", "at_risk", "churned", "dormant"])
    w = rng.uniform(0.5, 2.0, size=n)
    return names[codes], prob, w, names


# ---------------------------------------------------------------- agreement with scikit-learn / scipy

def test_binary_metrics_match_sklearn(binary):
    y, p, w = binary
    assert abs(log_loss(y, p) - skm.log_loss(y, p)) < TOL
    assert abs(log_loss(y, p, sample_weight=w) - skm.log_loss(y, p, sample_weight=w)) < TOL
    assert abs(log_loss(y, p, normalize=False) - skm.log_loss(y, p, normalize=False)) < 1e-9
    assert abs(brier_score(y, p) - skm.brier_score_loss(y, p)) < TOL
    assert abs(brier_score(y, p, sample_weight=w) - skm.brier_score_loss(y, p, sample_weight=w)) < TOL
    assert abs(roc_auc(y, p) - skm.roc_auc_score(y, p)) < TOL
    assert abs(roc_auc(y, p, sample_weight=w) - skm.roc_auc_score(y, p, sample_weight=w)) < TOL


def test_two_column_array_and_frame_match_sklearn(binary):
    y, p, _ = binary
    table = np.column_stack([1 - p, p])
    assert abs(log_loss(y, table) - skm.log_loss(y, table)) < TOL
    frame = pd.DataFrame({"no": 1 - p, "yes": p})
    labels = np.where(y == 1, "yes", "no")
    # the last column is the positive class when pos_label is not given
    assert abs(roc_auc(labels, frame) - skm.roc_auc_score(y, p)) < TOL
    assert abs(brier_score(labels, frame) - skm.brier_score_loss(y, p)) < TOL
    assert abs(roc_auc(labels, frame, pos_label="no") - skm.roc_auc_score(1 - y, 1 - p)) < TOL


def test_roc_auc_with_ties_matches_sklearn_and_mann_whitney(binary):
    y, p, w = binary
    s = np.round(p * 5) / 5  # six distinct scores: many ties
    assert abs(roc_auc(y, s) - skm.roc_auc_score(y, s)) < TOL
    assert abs(roc_auc(y, s, sample_weight=w) - skm.roc_auc_score(y, s, sample_weight=w)) < TOL
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert abs(roc_auc(y, s) - u / ((y == 1).sum() * (y == 0).sum())) < TOL
    # scores need not be probabilities
    assert abs(roc_auc(y, 10 * s - 3) - roc_auc(y, s)) < TOL


def test_roc_curve_matches_sklearn(binary):
    y, p, w = binary
    s = np.round(p * 20) / 20
    ours = roc_curve(y, s, sample_weight=w)
    fpr, tpr, thr = skm.roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    np.testing.assert_allclose(ours["fpr"], fpr, atol=TOL, rtol=0)
    np.testing.assert_allclose(ours["tpr"], tpr, atol=TOL, rtol=0)
    np.testing.assert_array_equal(ours["threshold"].to_numpy()[1:], thr[1:])


def test_multiclass_frame_matched_by_name(multiclass):
    y, prob, w, names = multiclass
    # columns in a different order than sklearn's sorted labels: matching must be by name
    perm = [2, 0, 3, 1]
    frame = pd.DataFrame(prob[:, perm], columns=names[perm])
    assert abs(log_loss(y, frame) - skm.log_loss(y, prob, labels=names)) < TOL
    assert abs(log_loss(y, frame, sample_weight=w) - skm.log_loss(y, prob, labels=names, sample_weight=w)) < TOL
    assert abs(brier_score(y, frame) - skm.brier_score_loss(y, prob, labels=names)) < TOL
    assert abs(brier_score(y, frame, sample_weight=w)
               - skm.brier_score_loss(y, prob, labels=names, sample_weight=w)) < TOL
    assert abs(roc_auc(y, frame) - skm.roc_auc_score(y, prob, multi_class="ovr", labels=names)) < TOL
    # a plain array uses sklearn's convention: columns = sorted labels
    assert abs(log_loss(y, prob) - skm.log_loss(y, prob)) < TOL
    assert abs(brier_score(y, prob, scale_by_half=True)
               - skm.brier_score_loss(y, prob, scale_by_half=True)) < TOL


def test_multiclass_integer_codes_with_absent_class():
    prob = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    y = np.array([0, 1, 1, 0])  # class 2 never occurs: columns are still 0..2
    expected = -np.mean(np.log([0.7, 0.8, 0.3, 0.6]))
    assert abs(log_loss(y, prob) - expected) < TOL
    assert abs(log_loss(y, prob) - skm.log_loss(y, prob, labels=[0, 1, 2])) < TOL


def test_regression_errors_match_sklearn(binary):
    rng = np.random.default_rng(3)
    y = rng.normal(size=100)
    f = y + rng.normal(scale=0.5, size=100)
    w = rng.uniform(0.1, 2, size=100)
    assert abs(mse(y, f) - skm.mean_squared_error(y, f)) < TOL
    assert abs(mse(y, f, sample_weight=w) - skm.mean_squared_error(y, f, sample_weight=w)) < TOL
    assert abs(rmse(y, f) - skm.root_mean_squared_error(y, f)) < TOL
    assert abs(mae(y, f, sample_weight=w) - skm.mean_absolute_error(y, f, sample_weight=w)) < TOL
    assert abs(sse(y, f) - 100 * skm.mean_squared_error(y, f)) < 1e-10
    assert abs(sse(y, f, sample_weight=w) - np.sum(w * (y - f) ** 2)) < 1e-10


def test_log_loss_clipping_mirrors_sklearn():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.0, 0.0, 1.0, 0.3])  # first observation: the true class got probability 0
    assert abs(log_loss(y, p) - skm.log_loss(y, p)) < TOL
    assert log_loss(y, p) == pytest.approx((-np.log(LOG_LOSS_EPS) + 2 * -np.log1p(-LOG_LOSS_EPS)
                                            - np.log(0.7)) / 4, rel=1e-12)
    with pytest.raises(ProbabilityError, match="observation 0"):
        log_loss(y, p, eps=0)
    assert log_loss([1, 0], [0.5, 0.5], eps=0) == pytest.approx(np.log(2))


def test_string_labels_need_pos_label():
    y = ["yes", "no", "yes"]
    with pytest.raises(DataError, match="pos_label"):
        brier_score(y, [0.8, 0.1, 0.6])
    assert brier_score(y, [0.8, 0.1, 0.6], pos_label="yes") == pytest.approx((0.04 + 0.01 + 0.16) / 3)
    with pytest.raises(StateError, match="maybe"):
        brier_score(y, [0.8, 0.1, 0.6], pos_label="maybe")


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("metric", [log_loss, brier_score])
def test_probabilities_outside_unit_interval(metric):
    with pytest.raises(ProbabilityError, match=r"\[0, 1\].*1\.2.*position \[1\]"):
        metric([0, 1, 1], [0.2, 1.2, 0.5])
    with pytest.raises(ProbabilityError, match="-0.1"):
        metric([0, 1, 1], [-0.1, 0.2, 0.5])


@pytest.mark.parametrize("metric", [log_loss, brier_score, roc_auc, mse, mae, sse, rmse])
def test_mismatched_lengths(metric):
    with pytest.raises(DataError, match="same length.*y_true has 3.*has 2"):
        metric([0, 1, 1], [0.2, 0.5])


@pytest.mark.parametrize("metric", [log_loss, brier_score, roc_auc, mse])
def test_nan_and_empty(metric):
    with pytest.raises(DataError, match="NaN"):
        metric([0, 1, 1], [0.2, np.nan, 0.5])
    with pytest.raises(DataError, match="missing"):
        metric([0, np.nan, 1], [0.2, 0.3, 0.5])
    with pytest.raises(DataError, match="empty"):
        metric([], [])


def test_unknown_class_column_named():
    frame = pd.DataFrame({"active": [0.5, 0.2], "churned": [0.5, 0.8]})
    with pytest.raises(StateError, match=r"'churnd'.*did you mean 'churned'"):
        log_loss(["active", "churnd"], frame)
    with pytest.raises(StateError, match="not columns of y_prob"):
        log_loss(["active", "churned"], frame, labels=["active", "lapsed"])


def test_rows_not_summing_to_one_are_not_renormalised():
    frame = pd.DataFrame({"a": [0.5, 0.2], "b": [0.3, 0.8]})
    with pytest.raises(ProbabilityError, match="sum to 1.*row \\[0\\]"):
        log_loss(["a", "b"], frame)


def test_non_binary_target_for_binary_metric():
    with pytest.raises(DataError, match="at most two classes.*found 3"):
        roc_auc([0, 1, 2, 1], [0.1, 0.2, 0.3, 0.4])
    frame = pd.DataFrame({"a": [0.5, 0.2], "b": [0.3, 0.4], "c": [0.2, 0.4]})
    with pytest.raises(DataError, match="one probability per row.*3 columns"):
        calibration_table(["a", "b"], frame)


def test_single_class_auc():
    with pytest.raises(DataError, match="both classes.*only positive"):
        roc_auc([1, 1, 1], [0.2, 0.4, 0.9])


def test_bad_weights_and_options():
    with pytest.raises(DataError, match="sample_weight must be non-negative"):
        brier_score([0, 1], [0.2, 0.4], sample_weight=[1, -1])
    with pytest.raises(DataError, match="sample_weight has 3"):
        brier_score([0, 1], [0.2, 0.4], sample_weight=[1, 1, 1])
    with pytest.raises(DataError, match="sums to 0"):
        brier_score([0, 1], [0.2, 0.4], sample_weight=[0, 0])
    with pytest.raises(SpecError, match="eps"):
        log_loss([0, 1], [0.2, 0.4], eps="tiny")
    with pytest.raises(DataError, match="4 columns but y_true holds 2"):
        log_loss(["a", "b"], np.full((2, 4), 0.25))


# ---------------------------------------------------------------- properties

probs = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=30)


@settings(max_examples=30, deadline=None)
@given(p=probs, data=st.data())
def test_integer_weights_equal_repeated_rows(p, data):
    p = np.asarray(p)
    y = np.asarray(data.draw(st.lists(st.integers(0, 1), min_size=len(p), max_size=len(p))))
    w = np.asarray(data.draw(st.lists(st.integers(1, 4), min_size=len(p), max_size=len(p))))
    rep_y, rep_p = np.repeat(y, w), np.repeat(p, w)
    assert log_loss(y, p, sample_weight=w) == pytest.approx(log_loss(rep_y, rep_p), rel=1e-12, abs=1e-12)
    assert brier_score(y, p, sample_weight=w) == pytest.approx(brier_score(rep_y, rep_p), rel=1e-12, abs=1e-12)
    assert 0.0 <= brier_score(y, p) <= 1.0
    assert log_loss(y, p) >= 0.0
    if 0 < y.sum() < len(y):
        assert roc_auc(y, p, sample_weight=w) == pytest.approx(roc_auc(rep_y, rep_p), abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(s=st.lists(st.integers(-5, 5), min_size=4, max_size=40), data=st.data())
def test_auc_symmetry_and_monotone_invariance(s, data):
    s = np.asarray(s, dtype=float)
    y = np.asarray(data.draw(st.lists(st.integers(0, 1), min_size=len(s), max_size=len(s))))
    if not 0 < y.sum() < len(y):
        with pytest.raises(DataError):
            roc_auc(y, s)
        return
    auc = roc_auc(y, s)
    assert 0.0 <= auc <= 1.0
    assert auc + roc_auc(y, -s) == pytest.approx(1.0, abs=1e-12)
    assert roc_auc(y, np.exp(s / 3)) == pytest.approx(auc, abs=1e-12)
    assert auc == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
