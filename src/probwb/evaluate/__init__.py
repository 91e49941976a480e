"""Evaluation: scores for probabilistic predictions, calibration, decision curves, cross-validation.

Metrics take ``(y_true, y_prob)``; probability tables may be DataFrames whose columns are the class
names. Plots live in :mod:`probwb.evaluate.plots` (importing this package does not import
matplotlib; the smoothed calibration curve imports statsmodels only when called).
"""

from probwb.evaluate.calibration import (
    calibration_intercept,
    calibration_slope,
    calibration_slope_intercept,
    calibration_table,
    decision_curve,
    expected_calibration_error,
    net_benefit,
    smoothed_calibration_curve,
)
from probwb.evaluate.coverage import binomial_band, coverage_row, coverage_table
from probwb.evaluate.cv import METRICS, CVResult, cross_validate
from probwb.evaluate.metrics import (
    LOG_LOSS_EPS,
    brier_score,
    log_loss,
    mae,
    mse,
    rmse,
    roc_auc,
    roc_curve,
    sse,
)
from probwb.evaluate.splitters import GroupKFold, KFold, SequentialSplit, TimeSeriesSplit

__all__ = [
    "LOG_LOSS_EPS",
    "METRICS",
    "CVResult",
    "GroupKFold",
    "KFold",
    "SequentialSplit",
    "TimeSeriesSplit",
    "binomial_band",
    "brier_score",
    "calibration_intercept",
    "calibration_slope",
    "calibration_slope_intercept",
    "calibration_table",
    "coverage_row",
    "coverage_table",
    "cross_validate",
    "decision_curve",
    "expected_calibration_error",
    "log_loss",
    "mae",
    "mse",
    "net_benefit",
    "rmse",
    "roc_auc",
    "roc_curve",
    "smoothed_calibration_curve",
    "sse",
]
