"""Property tests: the cell-level ANOVA equals least squares on the raw rows for random unbalanced designs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probwb.stats import anova


def _rss(x: np.ndarray, y: np.ndarray) -> float:
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    r = y - x @ coef
    return float(r @ r)


def _dummies(codes: np.ndarray, k: int, kind: str) -> np.ndarray:
    eye = np.eye(k)
    m = eye[:, 1:] if kind == "treatment" else np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])
    return m[codes]


@pytest.mark.filterwarnings("ignore::probwb.errors.SmallSampleWarning")  # random designs may have empty cells
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), ka=st.integers(2, 4), kb=st.integers(2, 3), n=st.integers(30, 80),
       typ=st.sampled_from([2, 3]))
def test_anova_equals_row_level_least_squares(seed, ka, kb, n, typ):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, ka, n)
    b = rng.integers(0, kb, n)
    a[:ka] = np.arange(ka)  # every level present
    b[:kb] = np.arange(kb)
    y = rng.normal(size=n) + 0.5 * a - 0.3 * b
    df = pd.DataFrame({"a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b], "y": y})
    table = anova(df, "y ~ a * b", typ=typ).table
    kind = "sum" if typ == 3 else "treatment"
    one = np.ones((n, 1))
    xa, xb = _dummies(a, ka, kind), _dummies(b, kb, kind)
    xab = (xa[:, :, None] * xb[:, None, :]).reshape(n, -1)
    full = _rss(np.hstack([one, xa, xb, xab]), y)
    assert np.isclose(table.loc["Residual", "sum_sq"], full, rtol=1e-9)
    if typ == 2:
        ss_a = _rss(np.hstack([one, xb]), y) - _rss(np.hstack([one, xa, xb]), y)
    else:
        ss_a = _rss(np.hstack([one, xb, xab]), y) - full
    ss_ab = _rss(np.hstack([one, xa, xb]), y) - full
    assert np.isclose(table.loc["a", "sum_sq"], ss_a, rtol=1e-8, atol=1e-10)
    assert np.isclose(table.loc["a:b", "sum_sq"], ss_ab, rtol=1e-8, atol=1e-10)
