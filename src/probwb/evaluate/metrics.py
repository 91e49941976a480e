"""Scores for probabilistic predictions: log-loss, Brier, squared/absolute error, ROC AUC.

Every metric takes ``(y_true, y_prob)`` (or ``(y_true, y_pred)`` for numeric predictions) and an
optional ``sample_weight``. Probability tables may be DataFrames whose columns are the class names
(as every probwb ``predict_proba`` returns); ``y_true`` is then matched to the columns by name.
Bad input raises a :mod:`probwb.errors` error naming what was wrong.

The definitions follow scikit-learn's where both have the metric, and the tests check agreement
to 1e-12.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from probwb.errors import DataError, ProbabilityError, SpecError
from probwb.evaluate._inputs import (
    binary_inputs,
    check_choice,
    multiclass_inputs,
    numeric_pair,
    weighted_mean,
)

__all__ = [
    "brier_score",
    "log_loss",
    "mae",
    "mse",
    "rmse",
    "roc_auc",
    "roc_curve",
    "sse",
]

#: Default clipping for :func:`log_loss`: the machine epsilon of float64, as scikit-learn uses.
LOG_LOSS_EPS = float(np.finfo(np.float64).eps)


def log_loss(
    y_true: object,
    y_prob: object,
    *,
    sample_weight: object = None,
    labels: Sequence[object] | None = None,
    pos_label: object = None,
    eps: float | str = "auto",
    normalize: bool = True,
) -> float:
    """Return the mean (or, with ``normalize=False``, total) negative log-likelihood in nats.

    ``y_prob`` is either the positive-class probability of a binary problem (1-D) or an
    ``(n, n_classes)`` table, preferably a DataFrame whose columns are the class names.

    Probabilities are clipped to ``[eps, 1 - eps]`` before taking logs, so a prediction of exactly 0
    for the class that occurred costs ``-log(eps)`` (about 36 nats) instead of infinity.
    ``eps="auto"`` uses the float64 machine epsilon (2.22e-16), which is what scikit-learn >= 1.5
    does; the clipped table is not renormalised (also as scikit-learn). ``eps=0`` disables
    clipping and raises :class:`~probwb.errors.ProbabilityError` naming the first observation whose
    true class was given probability 0.

    Unlike scikit-learn, which only warns, rows of a probability table that do not sum to one
    (within 1e-6) raise ProbabilityError.
    """
    y, p, w, classes = multiclass_inputs(
        y_true, y_prob, labels=labels, pos_label=pos_label, sample_weight=sample_weight
    )
    if isinstance(eps, str):
        check_choice(eps, ["auto"], name="eps")
        eps_value = LOG_LOSS_EPS
    else:
        eps_value = float(eps)
        if not 0.0 <= eps_value < 0.5:
            raise SpecError(f"eps must lie in [0, 0.5), found {eps!r}")
    if eps_value == 0.0:
        p_true = np.sum(y * p, axis=1)
        zero = p_true == 0.0
        if zero.any():
            first = int(np.flatnonzero(zero)[0])
            label = classes[int(np.argmax(y[first]))]
            raise ProbabilityError(
                f"log-loss is infinite: observation {first} has class {label!r} but y_prob gave it "
                f"probability 0 ({int(zero.sum())} such observation(s)); pass eps > 0 to clip"
            )
        clipped = p
    else:
        clipped = np.clip(p, eps_value, 1.0 - eps_value)
    # 0 * log(p) is taken as 0 for the classes that did not occur, exactly as xlogy does
    per_obs = -np.sum(np.where(y > 0, y * np.log(np.where(y > 0, clipped, 1.0)), 0.0), axis=1)
    if not normalize:
        return float(np.sum(per_obs if w is None else per_obs * w))
    return weighted_mean(per_obs, w)


def brier_score(
    y_true: object,
    y_prob: object,
    *,
    sample_weight: object = None,
    labels: Sequence[object] | None = None,
    pos_label: object = None,
    scale_by_half: bool | str = "auto",
) -> float:
    """Return the Brier score: the mean squared distance between predicted and observed one-hot vectors.

    For a binary problem (1-D ``y_prob`` or a two-column table) the default is the traditional
    ``mean((y - p)**2)`` in [0, 1]; for three or more classes it is the sum over classes, in [0, 2]
    (the definition of Brier 1950). ``scale_by_half`` forces either scaling; ``"auto"`` is
    scikit-learn's ``brier_score_loss`` convention.
    """
    y, p, w, _ = multiclass_inputs(y_true, y_prob, labels=labels, pos_label=pos_label, sample_weight=sample_weight)
    if isinstance(scale_by_half, str):
        check_choice(scale_by_half, ["auto"], name="scale_by_half")
        half = p.shape[1] < 3
    else:
        half = bool(scale_by_half)
    per_obs = np.sum((y - p) ** 2, axis=1)
    if half:
        per_obs = per_obs / 2.0
    return weighted_mean(per_obs, w)


def sse(y_true: object, y_pred: object, *, sample_weight: object = None) -> float:
    """Return the (weighted) sum of squared errors ``sum(w * (y_true - y_pred)**2)``."""
    y, f, w = numeric_pair(y_true, y_pred, sample_weight=sample_weight)
    sq = (y - f) ** 2
    return float(np.sum(sq if w is None else w * sq))


def mse(y_true: object, y_pred: object, *, sample_weight: object = None) -> float:
    """Return the (weighted) mean squared error."""
    y, f, w = numeric_pair(y_true, y_pred, sample_weight=sample_weight)
    return weighted_mean((y - f) ** 2, w)


def rmse(y_true: object, y_pred: object, *, sample_weight: object = None) -> float:
    """Return the root of the (weighted) mean squared error."""
    return float(np.sqrt(mse(y_true, y_pred, sample_weight=sample_weight)))


def mae(y_true: object, y_pred: object, *, sample_weight: object = None) -> float:
    """Return the (weighted) mean absolute error."""
    y, f, w = numeric_pair(y_true, y_pred, sample_weight=sample_weight)
    return weighted_mean(np.abs(y - f), w)


def _binary_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None, what: str = "y_true") -> float:
    """Mann–Whitney AUC: P(score of a positive > score of a negative) + 0.5 P(tie), weighted."""
    w = np.ones_like(s) if w is None else w
    w_pos = float(np.sum(w * y))
    w_neg = float(np.sum(w * (1.0 - y)))
    if w_pos == 0.0 or w_neg == 0.0:
        present = "positive" if w_neg == 0.0 else "negative"
        raise DataError(
            f"ROC AUC needs both classes in {what}, found only {present} observations "
            f"({y.shape[0]} observations)"
        )
    _, inverse = np.unique(s, return_inverse=True)
    pos_in = np.bincount(inverse, weights=w * y)
    neg_in = np.bincount(inverse, weights=w * (1.0 - y))
    neg_below = np.cumsum(neg_in) - neg_in
    return float(np.sum(pos_in * (neg_below + 0.5 * neg_in)) / (w_pos * w_neg))


def roc_auc(
    y_true: object,
    y_score: object,
    *,
    sample_weight: object = None,
    pos_label: object = None,
    labels: Sequence[object] | None = None,
) -> float:
    """Return the area under the ROC curve, computed as the Mann–Whitney statistic with ties counted half.

    Binary: ``y_score`` is a score or probability for the positive class (any real numbers), or a
    two-column probability table. Multiclass (a table with three or more columns): the unweighted
    mean of the one-vs-rest AUCs (scikit-learn's ``multi_class="ovr", average="macro"``).
    A single class in ``y_true`` raises DataError, since the AUC is undefined.
    """
    table_like = isinstance(y_score, pd.DataFrame) or np.ndim(y_score) == 2
    n_cols = np.shape(y_score)[1] if table_like else 1
    if n_cols >= 3:
        y, p, w, classes = multiclass_inputs(y_true, y_score, labels=labels, sample_weight=sample_weight)
        return float(np.mean([
            _binary_auc(y[:, k], p[:, k], w, what=f"y_true (class {classes[k]!r} vs rest)")
            for k in range(len(classes))
        ]))
    y, s, w, _ = binary_inputs(
        y_true, y_score, pos_label=pos_label, sample_weight=sample_weight, prob_name="y_score",
        check_range=isinstance(y_score, pd.DataFrame) and n_cols == 2,
    )
    return _binary_auc(y, s, w)


def roc_curve(
    y_true: object, y_score: object, *, sample_weight: object = None, pos_label: object = None
) -> pd.DataFrame:
    """Return the ROC curve as a DataFrame with columns ``threshold``, ``fpr``, ``tpr``.

    One row per distinct score (highest first), preceded by the point (0, 0) at threshold +inf;
    an observation is called positive when its score is >= the threshold.
    """
    n_cols = np.shape(y_score)[1] if np.ndim(y_score) == 2 else 1
    y, s, w, _ = binary_inputs(
        y_true, y_score, pos_label=pos_label, sample_weight=sample_weight, prob_name="y_score",
        check_range=isinstance(y_score, pd.DataFrame) and n_cols == 2,
    )
    w = np.ones_like(s) if w is None else w
    if np.sum(w * y) == 0 or np.sum(w * (1 - y)) == 0:
        raise DataError("the ROC curve needs both classes in y_true, found only one")
    order = np.argsort(-s, kind="mergesort")
    s, y, w = s[order], y[order], w[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(s)), s.shape[0] - 1]
    tps = np.cumsum(w * y)[last_of_group]
    fps = np.cumsum(w * (1 - y))[last_of_group]
    return pd.DataFrame({
        "threshold": np.r_[np.inf, s[last_of_group]],
        "fpr": np.r_[0.0, fps / fps[-1]],
        "tpr": np.r_[0.0, tps / tps[-1]],
    })
