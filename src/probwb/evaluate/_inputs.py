"""Turn the many shapes of (y_true, y_prob, sample_weight) into checked numpy arrays.

Every public metric goes through these helpers so that each bad input gets the same clear
:mod:`probwb.errors` message, whichever metric the caller happened to use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from probwb.core.validation import (
    check_finite,
    check_nonnegative,
    check_probabilities,
    check_stochastic,
    closest_match,
)
from probwb.errors import DataError, SpecError, StateError

# Rows of a multiclass probability table may be off one by rounding; more than this is an error
# (nothing is renormalised behind the caller's back).
ROW_SUM_ATOL = 1e-6


def as_labels(y_true: object, *, name: str = "y_true") -> np.ndarray:
    """Return ``y_true`` as a 1-D array of labels, raising DataError if empty, 2-D or holding NaN."""
    if isinstance(y_true, pd.DataFrame):
        if y_true.shape[1] != 1:
            raise DataError(f"{name} must be one column of labels, found a DataFrame with {y_true.shape[1]} columns")
        y_true = y_true.iloc[:, 0]
    arr = np.asarray(y_true)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, found an array of shape {arr.shape}")
    if arr.shape[0] == 0:
        raise DataError(f"{name} is empty: expected at least one observation, found 0")
    missing = pd.isna(arr)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{name} contains {int(missing.sum())} missing value(s) (first at position {first}); "
            "expected a label for every observation"
        )
    return arr


def as_weights(sample_weight: object, n: int) -> np.ndarray | None:
    """Return checked non-negative weights of length ``n`` (None stays None)."""
    if sample_weight is None:
        return None
    w = check_nonnegative(np.ravel(np.asarray(sample_weight, dtype=float)), name="sample_weight")
    if w.shape[0] != n:
        raise DataError(f"inputs must have the same length: y_true has {n}, sample_weight has {w.shape[0]}")
    if not w.sum() > 0:
        raise DataError("sample_weight sums to 0: expected at least one positive weight")
    return w


def _check_length(n_true: int, n_prob: int, prob_name: str) -> None:
    if n_true != n_prob:
        raise DataError(f"inputs must have the same length: y_true has {n_true}, {prob_name} has {n_prob}")


def _is_binary_numeric(uniq: Sequence[object]) -> bool:
    try:
        vals = {float(v) for v in uniq}
    except (TypeError, ValueError):
        return False
    return vals <= {0.0, 1.0} or vals <= {-1.0, 1.0}


def _unique(arr: np.ndarray) -> list[object]:
    return list(pd.unique(pd.Series(arr, dtype=object)))


def binary_target(
    y_true: object, pos_label: object = None, *, columns: Sequence[object] | None = None
) -> tuple[np.ndarray, object]:
    """Return (``y_true == positive`` as 0/1 floats, the positive label).

    The positive label is ``pos_label`` when given; otherwise 1 for labels in {0, 1}, {-1, 1} or
    booleans; otherwise the last of ``columns`` (the state names of a two-column probability table).
    """
    y = as_labels(y_true)
    uniq = _unique(y)
    if len(uniq) > 2:
        shown = sorted(map(str, uniq))[:10]
        raise DataError(
            f"y_true must hold at most two classes for a binary metric, found {len(uniq)}: {shown}"
        )
    if pos_label is None:
        if columns is not None:
            pos_label = columns[-1]
        elif _is_binary_numeric(uniq):
            pos_label = 1
        else:
            raise DataError(
                f"y_true has labels {sorted(map(str, uniq))}: pass pos_label= to say which one is the "
                "positive class (only 0/1, -1/1 and True/False labels are understood without it)"
            )
    if columns is not None:
        unknown = [u for u in uniq if u not in set(columns)]
        if unknown:
            raise StateError(_unknown_label_message(unknown, columns))
    elif len(uniq) == 2 and pos_label not in uniq:
        raise StateError(f"pos_label {pos_label!r} is not one of the labels in y_true: {sorted(map(str, uniq))}")
    return (y == pos_label).astype(float), pos_label


def _unknown_label_message(unknown: Sequence[object], columns: Sequence[object]) -> str:
    first = unknown[0]
    hit = closest_match(str(first), [str(c) for c in columns])
    hint = f" (did you mean {hit!r}?)" if hit else ""
    return (
        f"y_true holds {len(unknown)} label(s) that are not columns of y_prob, e.g. {first!r}{hint}; "
        f"y_prob columns are {[str(c) for c in columns]}"
    )


def binary_inputs(
    y_true: object,
    y_prob: object,
    *,
    pos_label: object = None,
    sample_weight: object = None,
    prob_name: str = "y_prob",
    check_range: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, object]:
    """Return (y as 0/1 floats, P(positive), weights or None, positive label) for a binary metric.

    ``y_prob`` may be the probability of the positive class (1-D), a one-column table, or a
    two-column table of class probabilities; a DataFrame's columns are matched to the labels by
    name, and without ``pos_label`` its last column is the positive class.
    """
    columns: list[object] | None = None
    if isinstance(y_prob, pd.DataFrame):
        if y_prob.shape[1] == 2:
            columns = list(y_prob.columns)
            pos = columns[-1] if pos_label is None else pos_label
            if pos not in columns:
                raise StateError(
                    f"pos_label {pos!r} is not a column of {prob_name}; columns are {[str(c) for c in columns]}"
                )
            check_stochastic(
                check_probabilities(y_prob.to_numpy(dtype=float), name=prob_name),
                name=prob_name, atol=ROW_SUM_ATOL,
            )
            p_raw: object = y_prob[pos].to_numpy(dtype=float)
            pos_label = pos
        elif y_prob.shape[1] == 1:
            p_raw = y_prob.iloc[:, 0]
        else:
            raise DataError(
                f"a binary metric needs one probability per row, found {prob_name} with "
                f"{y_prob.shape[1]} columns {[str(c) for c in y_prob.columns]}; use a multiclass metric "
                "or pass the positive class's column"
            )
    else:
        arr = np.asarray(y_prob)
        if arr.ndim == 2 and arr.shape[1] == 2:
            # sklearn's convention for a two-column array: column 1 is the positive class
            check_stochastic(check_probabilities(arr, name=prob_name), name=prob_name, atol=ROW_SUM_ATOL)
            p_raw = arr[:, 1]
        elif arr.ndim == 2 and arr.shape[1] == 1:
            p_raw = arr[:, 0]
        elif arr.ndim == 1:
            p_raw = arr
        else:
            raise DataError(
                f"a binary metric needs one probability per row, found {prob_name} of shape {arr.shape}"
            )
    p = check_probabilities(p_raw, name=prob_name) if check_range else check_finite(p_raw, name=prob_name)
    y_labels = as_labels(y_true)
    _check_length(y_labels.shape[0], p.shape[0], prob_name)
    y, pos_label = binary_target(y_labels, pos_label, columns=columns)
    w = as_weights(sample_weight, y.shape[0])
    return y, p, w, pos_label


def multiclass_inputs(
    y_true: object,
    y_prob: object,
    *,
    labels: Sequence[object] | None = None,
    pos_label: object = None,
    sample_weight: object = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[object]]:
    """Return (one-hot Y, probability table P, weights or None, class names), both tables (n, K).

    A 1-D ``y_prob`` is the positive-class probability of a binary problem. A DataFrame's columns
    are class names matched to ``y_true`` by name. A 2-D array's columns are ``labels`` when given,
    else the sorted labels of ``y_true`` (as in scikit-learn), or 0..K-1 when ``y_true`` holds
    integer codes below K. Rows must sum to one (within 1e-6).
    """
    if isinstance(y_prob, pd.Series) or (not isinstance(y_prob, pd.DataFrame) and np.ndim(y_prob) == 1):
        y, p, w, pos = binary_inputs(y_true, y_prob, pos_label=pos_label, sample_weight=sample_weight)
        return np.column_stack([1.0 - y, y]), np.column_stack([1.0 - p, p]), w, ["not " + str(pos), pos]
    y_labels = as_labels(y_true)
    if isinstance(y_prob, pd.DataFrame):
        if y_prob.columns.has_duplicates:
            dup = [str(c) for c in y_prob.columns[y_prob.columns.duplicated()]]
            raise DataError(f"y_prob has duplicated class columns {dup}")
        if labels is not None:
            missing = [lab for lab in labels if lab not in set(y_prob.columns)]
            if missing:
                raise StateError(
                    f"labels {missing} are not columns of y_prob; columns are {[str(c) for c in y_prob.columns]}"
                )
            extra = [c for c in y_prob.columns if c not in set(labels)]
            if extra:
                raise DataError(f"y_prob has columns {[str(c) for c in extra]} that are not in labels")
            y_prob = y_prob[list(labels)]
        classes = list(y_prob.columns)
        table = y_prob.to_numpy(dtype=float)
    else:
        table = np.asarray(y_prob, dtype=float)
        if table.ndim != 2:
            raise DataError(f"y_prob must be a (n, n_classes) table, found shape {table.shape}")
        k = table.shape[1]
        if labels is not None:
            classes = list(labels)
            if len(classes) != k:
                raise DataError(f"labels has {len(classes)} classes but y_prob has {k} columns")
        else:
            uniq = _unique(y_labels)
            if len(uniq) == k:
                classes = sorted(uniq)  # type: ignore[type-var]
            elif _integer_codes_below(uniq, k):
                classes = list(range(k))
            else:
                raise DataError(
                    f"y_prob has {k} columns but y_true holds {len(uniq)} distinct labels "
                    f"{sorted(map(str, uniq))[:10]}; pass labels= to name the columns, or a DataFrame "
                    "whose columns are the class names"
                )
    if len(classes) < 2:
        raise DataError(f"y_prob must have at least two class columns, found {len(classes)}")
    _check_length(y_labels.shape[0], table.shape[0], "y_prob")
    table = check_probabilities(table, name="y_prob")
    check_stochastic(table, name="y_prob", atol=ROW_SUM_ATOL)
    codes = pd.Index(classes).get_indexer(pd.Index(y_labels))
    if (codes < 0).any():
        unknown = _unique(y_labels[codes < 0])
        raise StateError(_unknown_label_message(unknown, classes))
    onehot = np.zeros_like(table)
    onehot[np.arange(table.shape[0]), codes] = 1.0
    w = as_weights(sample_weight, table.shape[0])
    return onehot, table, w, classes


def _integer_codes_below(uniq: Sequence[object], k: int) -> bool:
    try:
        vals = np.asarray(uniq, dtype=float)
    except (TypeError, ValueError):
        return False
    return bool(np.all(vals == np.round(vals)) and vals.min() >= 0 and vals.max() < k)


def numeric_pair(
    y_true: object, y_pred: object, *, sample_weight: object = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return (y_true, y_pred, weights) as checked 1-D float arrays of equal, non-zero length."""
    out = []
    for value, name in ((y_true, "y_true"), (y_pred, "y_pred")):
        if isinstance(value, pd.DataFrame):
            if value.shape[1] != 1:
                raise DataError(f"{name} must be one column, found a DataFrame with {value.shape[1]} columns")
            value = value.iloc[:, 0]
        arr = check_finite(value, name=name)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise DataError(f"{name} must be one-dimensional, found shape {arr.shape}")
        if arr.shape[0] == 0:
            raise DataError(f"{name} is empty: expected at least one value, found 0")
        out.append(arr)
    _check_length(out[0].shape[0], out[1].shape[0], "y_pred")
    return out[0], out[1], as_weights(sample_weight, out[0].shape[0])


def weighted_mean(values: np.ndarray, w: np.ndarray | None) -> float:
    """Mean of ``values`` (weighted by ``w`` when given)."""
    if w is None:
        return float(np.mean(values))
    return float(np.sum(values * w) / np.sum(w))


def check_choice(value: object, choices: Sequence[str], *, name: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise SpecError with the nearest choice."""
    if value not in choices:
        hit = closest_match(str(value), choices)
        hint = f" (did you mean {hit!r}?)" if hit else ""
        raise SpecError(f"{name} must be one of {list(choices)}, found {value!r}{hint}")
    return str(value)


def check_int(value: object, *, name: str, minimum: int) -> int:
    """Return ``value`` as an int >= ``minimum``, else raise SpecError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise SpecError(f"{name} must be an integer >= {minimum}, found {value!r}")
    return int(value)
