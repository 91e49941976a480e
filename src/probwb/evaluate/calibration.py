"""Calibration and clinical usefulness of binary risk predictions.

- :func:`calibration_table` and :func:`expected_calibration_error`: binned observed vs predicted risk.
- :func:`calibration_slope_intercept`: logistic recalibration (Cox 1958; Steyerberg, *Clinical
  Prediction Models*, ch. 15): the slope ``b`` of ``logit P(y=1) = a + b logit(p)`` and the
  calibration-in-the-large intercept of ``logit P(y=1) = a0 + offset(logit(p))``; the values R's
  ``rms::val.prob`` reports as "Slope" and "Intercept".
- :func:`smoothed_calibration_curve`: LOWESS of the outcome on the predicted risk (statsmodels).
- :func:`net_benefit` and :func:`decision_curve`: decision-curve analysis (Vickers & Elkin 2006).

All take ``(y_true, y_prob)`` where ``y_prob`` is the probability of the positive class (or a
two-column table of class probabilities) and ``y_true`` holds two classes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

from probwb.core.validation import check_probabilities
from probwb.errors import ConvergenceWarning, DataError, ProbabilityError, SpecError
from probwb.evaluate._inputs import binary_inputs, check_choice, check_int, multiclass_inputs

__all__ = [
    "calibration_intercept",
    "calibration_slope",
    "calibration_slope_intercept",
    "calibration_table",
    "decision_curve",
    "expected_calibration_error",
    "net_benefit",
    "smoothed_calibration_curve",
]


def _bin_edges(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    return np.percentile(p, np.linspace(0.0, 100.0, n_bins + 1))


def calibration_table(
    y_true: object,
    y_prob: object,
    *,
    n_bins: int = 10,
    strategy: str = "uniform",
    sample_weight: object = None,
    pos_label: object = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Return one row per non-empty bin of predicted risk with the observed event rate.

    Columns: ``bin`` (0-based), ``lower``/``upper`` (bin edges), ``count`` (observations),
    ``weight`` (sum of sample weights; equals count without weights), ``mean_predicted``,
    ``observed_rate``, and ``ci_lower``/``ci_upper``: a Wilson score interval at ``confidence``
    for the observed rate (with weights, on Kish's effective sample size).

    ``strategy="uniform"`` cuts [0, 1] into equal widths; ``"quantile"`` puts about the same number
    of observations in each bin (tied predictions can leave some bins empty; they are dropped).
    A prediction equal to an inner edge goes to the lower bin. The binning matches scikit-learn's
    ``calibration_curve``, so ``observed_rate`` and ``mean_predicted`` equal its two outputs.
    """
    y, p, w, _ = binary_inputs(y_true, y_prob, pos_label=pos_label, sample_weight=sample_weight)
    n_bins = check_int(n_bins, name="n_bins", minimum=1)
    strategy = check_choice(strategy, ["uniform", "quantile"], name="strategy")
    if not 0.0 < float(confidence) < 1.0:
        raise SpecError(f"confidence must lie strictly between 0 and 1, found {confidence!r}")
    edges = _bin_edges(p, n_bins, strategy)
    ids = np.searchsorted(edges[1:-1], p)
    wt = np.ones_like(p) if w is None else w
    count = np.bincount(ids, minlength=n_bins)
    weight = np.bincount(ids, weights=wt, minlength=n_bins)
    sum_p = np.bincount(ids, weights=wt * p, minlength=n_bins)
    sum_y = np.bincount(ids, weights=wt * y, minlength=n_bins)
    sum_w2 = np.bincount(ids, weights=wt**2, minlength=n_bins)
    keep = weight > 0
    rate = sum_y[keep] / weight[keep]
    n_eff = weight[keep] ** 2 / sum_w2[keep]
    z = float(ndtri(1.0 - (1.0 - float(confidence)) / 2.0))
    centre = (rate + z**2 / (2 * n_eff)) / (1 + z**2 / n_eff)
    half = z / (1 + z**2 / n_eff) * np.sqrt(rate * (1 - rate) / n_eff + z**2 / (4 * n_eff**2))
    bins = np.flatnonzero(keep)
    return pd.DataFrame({
        "bin": bins,
        "lower": edges[bins],
        "upper": edges[bins + 1],
        "count": count[keep],
        "weight": weight[keep],
        "mean_predicted": sum_p[keep] / weight[keep],
        "observed_rate": rate,
        "ci_lower": np.clip(centre - half, 0.0, 1.0),
        "ci_upper": np.clip(centre + half, 0.0, 1.0),
    })


def expected_calibration_error(
    y_true: object,
    y_prob: object,
    *,
    n_bins: int = 10,
    strategy: str = "uniform",
    sample_weight: object = None,
    pos_label: object = None,
    norm: str = "l1",
) -> float:
    """Return the expected calibration error over the bins of :func:`calibration_table`.

    For a table of three or more class probabilities this is the top-label ECE (Guo et al. 2017):
    the confidence of each row's most probable class against whether that class occurred.

    ``norm="l1"``: sum over bins of (bin weight / total weight) * |observed - mean predicted|;
    ``"l2"``: the square root of the weighted mean squared gap; ``"max"``: the largest gap in any
    non-empty bin (maximum calibration error).
    """
    norm = check_choice(norm, ["l1", "l2", "max"], name="norm")
    n_cols = np.shape(y_prob)[1] if np.ndim(y_prob) == 2 else 1
    if n_cols >= 3:
        # top-label calibration (Guo et al. 2017): confidence of the predicted class vs. its accuracy
        y, p, w, _ = multiclass_inputs(y_true, y_prob, sample_weight=sample_weight)
        top = np.argmax(p, axis=1)
        rows = np.arange(p.shape[0])
        y_true, y_prob, sample_weight, pos_label = y[rows, top], p[rows, top], w, None
    table = calibration_table(
        y_true, y_prob, n_bins=n_bins, strategy=strategy, sample_weight=sample_weight, pos_label=pos_label
    )
    gap = np.abs(table["observed_rate"].to_numpy() - table["mean_predicted"].to_numpy())
    share = table["weight"].to_numpy() / table["weight"].sum()
    if norm == "l1":
        return float(np.sum(share * gap))
    if norm == "l2":
        return float(np.sqrt(np.sum(share * gap**2)))
    return float(gap.max())


def _logit_of(p: np.ndarray) -> np.ndarray:
    bad = (p <= 0.0) | (p >= 1.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ProbabilityError(
            f"logistic recalibration needs predictions strictly inside (0, 1), found {p[first]!r} at "
            f"position {first} ({int(bad.sum())} such value(s)); clip the predictions first, e.g. "
            "numpy.clip(p, 1e-6, 1 - 1e-6), and say so when reporting"
        )
    return np.log(p) - np.log1p(-p)


def _logistic_newton(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray, start: np.ndarray,
    *, max_iter: int = 100, tol: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Weighted maximum-likelihood logistic regression by Newton–Raphson (= IRLS for the logit link).

    Returns (coefficients, covariance = inverse Fisher information, converged).
    """
    beta = start.astype(float).copy()
    converged = False
    info = np.eye(x.shape[1])
    for _ in range(max_iter):
        mu = expit(x @ beta + offset)
        grad = x.T @ (w * (y - mu))
        info = (x * (w * mu * (1.0 - mu))[:, None]).T @ x
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        beta = beta + step
        if np.max(np.abs(step)) < tol * (1.0 + np.max(np.abs(beta))):
            converged = True
            break
    mu = expit(x @ beta + offset)
    info = (x * (w * mu * (1.0 - mu))[:, None]).T @ x
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full_like(info, np.nan)
    return beta, cov, converged


def calibration_slope_intercept(
    y_true: object, y_prob: object, *, sample_weight: object = None, pos_label: object = None
) -> pd.Series:
    """Return the logistic-recalibration summary of binary risk predictions as a Series.

    Entries:

    - ``intercept``: calibration-in-the-large, ``a0`` in ``logit P(y=1) = a0 + logit(p)`` (the
      linear predictor as an offset); 0 when the average risk is right, > 0 when risks are too low.
    - ``intercept_se``: its standard error.
    - ``slope``: ``b`` in ``logit P(y=1) = a + b logit(p)``; 1 when well calibrated, < 1 when
      predictions are too extreme (overfitting), > 1 when too moderate.
    - ``slope_se``: its standard error; ``slope_model_intercept``: ``a`` of that model.
    - ``n``: the number of observations.

    Fitted by Newton–Raphson (the MLE of a logistic GLM, as statsmodels' ``GLM(Binomial)`` with
    ``offset`` and ``freq_weights`` would give). Predictions of exactly 0 or 1 have an infinite
    logit and raise ProbabilityError. A :class:`~probwb.errors.ConvergenceWarning` is raised
    when the fit does not converge (e.g. perfectly separated outcomes).
    """
    y, p, w, _ = binary_inputs(y_true, y_prob, pos_label=pos_label, sample_weight=sample_weight)
    if np.all(y == y[0]):
        raise DataError("calibration slope and intercept need both outcomes in y_true, found only one")
    lp = _logit_of(p)
    wt = np.ones_like(p) if w is None else w
    ones = np.ones((p.shape[0], 1))
    a0, cov0, ok0 = _logistic_newton(ones, y, wt, lp, np.zeros(1))
    beta, cov1, ok1 = _logistic_newton(np.column_stack([ones, lp]), y, wt, np.zeros_like(p), np.array([0.0, 1.0]))
    if not (ok0 and ok1):
        warnings.warn(
            "logistic recalibration did not converge (are the outcomes perfectly separated by the "
            "predictions?); the slope and intercept are unreliable",
            ConvergenceWarning,
            stacklevel=2,
        )
    return pd.Series({
        "intercept": float(a0[0]),
        "intercept_se": float(np.sqrt(cov0[0, 0])),
        "slope": float(beta[1]),
        "slope_se": float(np.sqrt(cov1[1, 1])),
        "slope_model_intercept": float(beta[0]),
        "n": float(p.shape[0]),
    })


def calibration_slope(y_true: object, y_prob: object, *, sample_weight: object = None,
                      pos_label: object = None) -> float:
    """Return the calibration slope of :func:`calibration_slope_intercept` (1 is ideal)."""
    return float(calibration_slope_intercept(y_true, y_prob, sample_weight=sample_weight,
                                             pos_label=pos_label)["slope"])


def calibration_intercept(y_true: object, y_prob: object, *, sample_weight: object = None,
                          pos_label: object = None) -> float:
    """Return the calibration-in-the-large intercept of :func:`calibration_slope_intercept` (0 is ideal)."""
    return float(calibration_slope_intercept(y_true, y_prob, sample_weight=sample_weight,
                                             pos_label=pos_label)["intercept"])


def smoothed_calibration_curve(
    y_true: object,
    y_prob: object,
    *,
    frac: float = 2.0 / 3.0,
    it: int = 0,
    n_points: int = 101,
    pos_label: object = None,
) -> pd.DataFrame:
    """Return a LOWESS-smoothed calibration curve as a DataFrame ``predicted``, ``observed``.

    The binary outcome is smoothed against the predicted risk with statsmodels' ``lowess``
    (``frac`` = share of points in each local fit; ``it=0`` robustness iterations, as R's
    ``rms::val.prob`` does, because robustness weights make no sense for 0/1 outcomes), and
    evaluated on ``n_points`` equally spaced risks between the smallest and largest prediction.
    Local linear fits can stray slightly outside [0, 1] at the ends; the values are not clipped.
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    y, p, _, _ = binary_inputs(y_true, y_prob, pos_label=pos_label)
    if not 0.0 < float(frac) <= 1.0:
        raise SpecError(f"frac must lie in (0, 1], found {frac!r}")
    it = check_int(it, name="it", minimum=0)
    n_points = check_int(n_points, name="n_points", minimum=2)
    if p.shape[0] < 3 or np.ptp(p) == 0.0:
        raise DataError(
            f"a smoothed calibration curve needs at least 3 observations with distinct predictions, "
            f"found {p.shape[0]} observation(s) spanning [{p.min():.6g}, {p.max():.6g}]"
        )
    grid = np.linspace(p.min(), p.max(), n_points)
    observed = lowess(y, p, frac=float(frac), it=it, xvals=grid)
    return pd.DataFrame({"predicted": grid, "observed": np.asarray(observed, dtype=float)})


def _check_thresholds(thresholds: object) -> np.ndarray:
    t = np.atleast_1d(check_probabilities(thresholds, name="thresholds")).astype(float)
    if t.ndim != 1 or t.shape[0] == 0:
        raise DataError(f"thresholds must be a non-empty 1-D sequence, found shape {t.shape}")
    bad = (t <= 0.0) | (t >= 1.0)
    if bad.any():
        raise DataError(
            f"threshold probabilities must lie strictly between 0 and 1 (net benefit weighs false "
            f"positives by t / (1 - t)), found {t[bad][0]!r}"
        )
    return t


def _net_benefit_curve(y: np.ndarray, p: np.ndarray, w: np.ndarray, t: np.ndarray) -> np.ndarray:
    # sort once and read treated totals off suffix sums, so many thresholds cost O(n log n)
    order = np.argsort(p, kind="mergesort")
    p_sorted = p[order]
    suffix_tp = np.r_[np.cumsum((w * y)[order][::-1])[::-1], 0.0]
    suffix_fp = np.r_[np.cumsum((w * (1.0 - y))[order][::-1])[::-1], 0.0]
    first_treated = np.searchsorted(p_sorted, t, side="left")
    total = w.sum()
    return suffix_tp[first_treated] / total - suffix_fp[first_treated] / total * t / (1.0 - t)


def net_benefit(
    y_true: object, y_prob: object, threshold: float, *, sample_weight: object = None, pos_label: object = None
) -> float:
    """Return the net benefit of treating everyone whose predicted risk is >= ``threshold``.

    ``NB = TP/n - FP/n * t / (1 - t)`` (Vickers & Elkin 2006): true positives per person, minus
    false positives weighted by the odds of the threshold probability ``t``.
    """
    y, p, w, _ = binary_inputs(y_true, y_prob, pos_label=pos_label, sample_weight=sample_weight)
    t = _check_thresholds([threshold])
    return float(_net_benefit_curve(y, p, np.ones_like(p) if w is None else w, t)[0])


def decision_curve(
    y_true: object,
    y_prob: object | Mapping[str, object],
    thresholds: Sequence[float] | np.ndarray | None = None,
    *,
    sample_weight: object = None,
    pos_label: object = None,
) -> pd.DataFrame:
    """Return the decision curve: net benefit across threshold probabilities, one row per threshold.

    Columns: ``threshold``, ``treat_none`` (always 0), ``treat_all`` (``prevalence - (1 -
    prevalence) t / (1 - t)``), and one column per model: ``model`` for a single prediction array,
    or the keys of a mapping ``{name: y_prob}`` to compare several models on the same patients.
    A patient is treated when the predicted risk is >= the threshold. ``thresholds`` defaults to
    0.01, 0.02, ..., 0.99.
    """
    t = _check_thresholds(np.linspace(0.01, 0.99, 99) if thresholds is None else thresholds)
    models = dict(y_prob) if isinstance(y_prob, Mapping) else {"model": y_prob}
    if not models:
        raise DataError("y_prob is an empty mapping: expected at least one model's predictions")
    reserved = {"threshold", "treat_none", "treat_all"} & set(models)
    if reserved:
        raise DataError(f"model names {sorted(reserved)} clash with the decision curve's own columns")
    out = {"threshold": t, "treat_none": np.zeros_like(t)}
    curves = {}
    for name, probs in models.items():
        y, p, w, _ = binary_inputs(y_true, probs, pos_label=pos_label, sample_weight=sample_weight)
        wt = np.ones_like(p) if w is None else w
        if "treat_all" not in out:
            out["treat_all"] = _net_benefit_curve(y, np.ones_like(p), wt, t)
        curves[str(name)] = _net_benefit_curve(y, p, wt, t)
    return pd.DataFrame({**out, **curves})
