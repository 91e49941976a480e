"""Cross-validation of any probwb model with ``fit`` and ``score`` / ``predict_proba``."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.logcontext import current_context, get_logger, log_context
from probwb.core.progress import progress
from probwb.core.validation import check_columns, check_dataframe, closest_match
from probwb.errors import DataError, ModelError, SpecError
from probwb.evaluate.calibration import (
    calibration_intercept,
    calibration_slope,
    expected_calibration_error,
)
from probwb.evaluate.metrics import brier_score, log_loss, mae, mse, rmse, roc_auc, sse

__all__ = ["CVResult", "METRICS", "cross_validate"]

logger = get_logger("probwb.evaluate")

MetricFn = Callable[[Any, Any], float]

#: Metric names understood by :func:`cross_validate`; ``"score"`` calls the fitted model's ``score``.
METRICS: dict[str, MetricFn] = {
    "log_loss": log_loss,
    "brier": brier_score,
    "brier_score": brier_score,
    "sse": sse,
    "mse": mse,
    "rmse": rmse,
    "mae": mae,
    "roc_auc": roc_auc,
    "ece": expected_calibration_error,
    "expected_calibration_error": expected_calibration_error,
    "calibration_slope": calibration_slope,
    "calibration_intercept": calibration_intercept,
}


@dataclass
class CVResult:
    """What :func:`cross_validate` returns.

    Attributes
    ----------
    scores : tidy DataFrame, one row per fold and metric: ``fold``, ``metric``, ``value``,
        ``n_train``, ``n_test``.
    summary : one row per metric (index ``metric``): ``mean``, ``sd`` (across folds, ddof=1),
        ``n_folds`` (folds with a finite value).
    predictions : out-of-fold predictions (index = the rows of ``data`` that were tested, plus a
        ``fold`` column), or None when only ``score`` was asked for.
    models : the fitted model of each fold when ``return_models=True``, else an empty list.
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    predictions: pd.DataFrame | None = None
    models: list[Any] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"CVResult({len(self.scores['fold'].unique())} folds)\n{self.summary.to_string()}"


def _resolve_metrics(metrics: str | MetricFn | Sequence[str | MetricFn] | Mapping[str, str | MetricFn]
                     ) -> dict[str, MetricFn | str]:
    if isinstance(metrics, str) or callable(metrics):
        items: Iterable[tuple[str, str | MetricFn]] = [(_name_of(metrics), metrics)]
    elif isinstance(metrics, Mapping):
        items = [(str(k), v) for k, v in metrics.items()]
    else:
        items = [(_name_of(m), m) for m in metrics]
    resolved: dict[str, MetricFn | str] = {}
    for name, m in items:
        if name in resolved:
            raise SpecError(f"metric {name!r} is listed twice")
        if isinstance(m, str):
            if m == "score":
                resolved[name] = "score"
                continue
            if m not in METRICS:
                valid = [*METRICS, "score"]
                hit = closest_match(m, valid)
                hint = f" (did you mean {hit!r}?)" if hit else ""
                raise SpecError(f"unknown metric {m!r}{hint}; known metrics: {valid}")
            resolved[name] = METRICS[m]
        elif callable(m):
            resolved[name] = m
        else:
            raise SpecError(f"metric {name!r} must be a name or a function (y_true, y_prob) -> float, found {m!r}")
    if not resolved:
        raise SpecError("metrics is empty: expected at least one metric")
    return resolved


def _name_of(metric: object) -> str:
    if isinstance(metric, str):
        return metric
    return str(getattr(metric, "__name__", None) or getattr(getattr(metric, "func", None), "__name__", "metric"))


def _predict(model: Any, test: pd.DataFrame, target: str, predict: str | Callable | None) -> Any:
    if callable(predict):
        return predict(model, test)
    method_name = "predict_proba" if predict is None else predict
    method = getattr(model, method_name, None)
    if not callable(method):
        raise ModelError(
            f"{type(model).__name__} has no method {method_name!r}; pass predict= (a method name or a "
            "function (model, data) -> predictions)"
        )
    # the target column is dropped so that a model cannot read the answer as evidence
    return method(test.drop(columns=[target]))


def _as_frame(pred: Any, index: pd.Index) -> pd.DataFrame:
    if isinstance(pred, pd.DataFrame):
        out = pred.copy()
        out.index = index
        return out
    if isinstance(pred, pd.Series):
        return pd.DataFrame({pred.name if pred.name is not None else "prediction": pred.to_numpy()}, index=index)
    arr = np.asarray(pred)
    if arr.ndim == 1:
        return pd.DataFrame({"prediction": arr}, index=index)
    return pd.DataFrame(arr, index=index)


def cross_validate(
    model: Any,
    data: pd.DataFrame,
    splitter: Any,
    metrics: str | MetricFn | Sequence[str | MetricFn] | Mapping[str, str | MetricFn] = "score",
    target: str | None = None,
    predict: str | Callable[[Any, pd.DataFrame], Any] | None = None,
    fit_kwargs: Mapping[str, Any] | None = None,
    *,
    return_models: bool = False,
    error_score: str | float = "raise",
    quiet: bool = True,
) -> CVResult:
    """Fit a fresh copy of ``model`` on each training fold and score it on the matching test fold.

    Parameters
    ----------
    model : an unfitted estimator with ``fit(data, **fit_kwargs)``; it is deep-copied for every fold
        so the object passed in is never fitted.
    data : DataFrame; folds are taken with ``data.iloc``.
    splitter : anything with ``split(data)`` yielding (train, test) positional indices
        (:class:`~probwb.evaluate.KFold`, :class:`~probwb.evaluate.GroupKFold`,
        :class:`~probwb.evaluate.SequentialSplit`, or a scikit-learn splitter).
    metrics : one or several of: ``"score"`` (the fitted model's ``score(test_data)``, e.g. the
        held-out log-likelihood); a name in :data:`METRICS`; a function ``(y_true, y_pred) -> float``;
        or a mapping ``{label: metric}``.
    target : the column holding the outcome; needed by every metric except ``"score"``.
    predict : how to get predictions for the test fold: None calls ``model.predict_proba`` and a
        string names another method (``"predict"``), both given the test fold *without* the target
        column; a function ``(model, test_data) -> predictions`` gets the whole test fold and must
        not use the target itself.
    fit_kwargs : extra keyword arguments for every ``fit`` call.
    return_models : keep each fold's fitted model in the result.
    error_score : ``"raise"`` (default) lets a failing fit or metric raise; a number (e.g.
        ``float("nan")``) records that value instead and warns.
    quiet : hide the progress bar.

    Returns
    -------
    CVResult with ``scores`` (tidy: fold, metric, value, n_train, n_test), ``summary`` (mean and
    sd of each metric across folds), out-of-fold ``predictions`` and, if asked, the fitted models.
    """
    data = check_dataframe(data)
    resolved = _resolve_metrics(metrics)
    needs_predictions = any(m != "score" for m in resolved.values())
    if needs_predictions:
        if target is None:
            raise SpecError("target= is required: metrics other than 'score' compare predictions with a column")
        check_columns(data, [target], name="data")
    if isinstance(splitter, str) or not callable(getattr(splitter, "split", None)):
        raise SpecError(f"splitter must have a split(data) method, found {type(splitter).__name__}")
    if not callable(getattr(model, "fit", None)):
        raise ModelError(f"{type(model).__name__} has no fit method")
    if not (error_score == "raise" or isinstance(error_score, int | float)):
        raise SpecError(f"error_score must be 'raise' or a number, found {error_score!r}")
    fit_kwargs = dict(fit_kwargs or {})

    rows: list[dict[str, Any]] = []
    predictions: list[pd.DataFrame] = []
    models: list[Any] = []
    n_rows = len(data)
    folds = list(splitter.split(data))
    if not folds:
        raise DataError("the splitter produced no folds")
    model_name = current_context().get("model") or type(model).__name__
    for fold, (train_idx, test_idx) in enumerate(progress(folds, desc="cross-validation", disable=quiet)):
        train_idx, test_idx = np.asarray(train_idx, dtype=int), np.asarray(test_idx, dtype=int)
        for what, idx in (("training", train_idx), ("test", test_idx)):
            if idx.size == 0:
                raise DataError(f"fold {fold} has an empty {what} set")
            if idx.min() < 0 or idx.max() >= n_rows:
                raise DataError(
                    f"fold {fold}: {what} positions must lie in [0, {n_rows - 1}] for data with {n_rows} rows, "
                    f"found [{idx.min()}, {idx.max()}]"
                )
        # every log line and progress bar of this fold's fit names the model and the fold
        with log_context(model=model_name, fold=fold):
            train, test = data.iloc[train_idx], data.iloc[test_idx]
            fitted = copy.deepcopy(model)
            values: dict[str, float] = {}
            try:
                fitted.fit(train, **fit_kwargs)
                pred = _predict(fitted, test, target, predict) if needs_predictions else None  # type: ignore[arg-type]
            except Exception as exc:
                if error_score == "raise":
                    raise
                _warn_failure(fold, "fit/predict", exc)
                values = {name: float(error_score) for name in resolved}
                pred = None
            else:
                if pred is not None:
                    frame = _as_frame(pred, test.index)
                    frame["fold"] = fold
                    predictions.append(frame)
                for name, metric in resolved.items():
                    try:
                        if metric == "score":
                            score = getattr(fitted, "score", None)
                            if not callable(score):
                                raise ModelError(f"{type(fitted).__name__} has no score method; choose another metric")
                            values[name] = float(score(test))
                        else:
                            values[name] = float(metric(test[target], pred))  # type: ignore[operator, index]
                    except Exception as exc:
                        if error_score == "raise":
                            raise
                        _warn_failure(fold, f"metric {name!r}", exc)
                        values[name] = float(error_score)
            for name, value in values.items():
                rows.append({"fold": fold, "metric": name, "value": value,
                             "n_train": int(train_idx.size), "n_test": int(test_idx.size)})
            if return_models:
                models.append(fitted)
            logger.info("fold scored: %s", ", ".join(f"{k} {v:.6g}" for k, v in values.items()))

    scores = pd.DataFrame(rows)
    summary = _summarize(scores, list(resolved))
    oof = pd.concat(predictions) if predictions else None
    return CVResult(scores=scores, summary=summary, predictions=oof, models=models)


def _warn_failure(fold: int, what: str, exc: Exception) -> None:
    warnings.warn(f"cross-validation fold {fold}: {what} failed ({type(exc).__name__}: {exc}); "
                  "recorded error_score instead", UserWarning, stacklevel=3)


def _summarize(scores: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    out = []
    for name in order:
        v = scores.loc[scores["metric"] == name, "value"].to_numpy(dtype=float)
        finite = v[np.isfinite(v)]
        out.append({
            "metric": name,
            "mean": float(finite.mean()) if finite.size else math.nan,
            "sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
            "n_folds": int(finite.size),
        })
    return pd.DataFrame(out).set_index("metric")
