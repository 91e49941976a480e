"""Small helpers shared by the simulators."""

from __future__ import annotations

import numpy as np
import pandas as pd

from probwb.errors import DataError


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Return the logistic function of ``x`` (numerically safe for large |x|)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Return row-wise softmax of ``logits`` (``-inf`` entries become exact zeros)."""
    m = np.max(logits, axis=-1, keepdims=True)
    e = np.exp(logits - m)
    return e / e.sum(axis=-1, keepdims=True)


def categorical_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Draw one category index per row of ``probs`` (shape (n, k)) by inverse-CDF sampling."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None]
    # the last column is forced to 1 so rounding never yields an index past the end
    cdf[:, -1] = 1.0
    return (u > cdf).sum(axis=1)


def ids(prefix: str, n: int, width: int) -> pd.Categorical:
    """Return identifiers like ``C00001`` as a Categorical (cheap to repeat over many rows)."""
    return pd.Categorical([f"{prefix}{i + 1:0{width}d}" for i in range(n)])


#: the largest count a simulator accepts (larger ones would exhaust memory rather than run)
MAX_COUNT = 10_000_000


def check_count(name: str, value: int, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """Return ``value`` as int, raising DataError unless it is an integer in [``minimum``, ``maximum``]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not minimum <= value <= maximum:
        shown = value.item() if isinstance(value, np.generic) else value
        raise DataError(f"{name} must be an integer >= {minimum} and <= {maximum:,}, found {shown!r}")
    return int(value)


def labelled(codes: np.ndarray, levels: list[str]) -> pd.Categorical:
    """Return integer codes as a Categorical with the given level names (missing codes are -1)."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=levels)
