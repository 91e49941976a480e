"""KFold, GroupKFold and SequentialSplit: partitions, agreement with scikit-learn, no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import model_selection as skms

from probwb.errors import DataError, SpecError
from probwb.evaluate import GroupKFold, KFold, SequentialSplit, TimeSeriesSplit


def _assert_partition(splits, n):
    tested = np.concatenate([test for _, test in splits])
    assert np.array_equal(np.sort(tested), np.arange(n)), "every row is tested exactly once"
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0
        assert np.array_equal(np.union1d(train, test), np.arange(n))


@pytest.mark.parametrize("n", [10, 23, 101])
@pytest.mark.parametrize("k", [2, 3, 7])
def test_kfold_without_shuffle_equals_sklearn(n, k):
    ours = list(KFold(k, shuffle=False).split(np.zeros(n)))
    theirs = list(skms.KFold(k).split(np.zeros(n)))
    assert len(ours) == len(theirs) == k
    for (tr, te), (str_, ste) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(tr, str_)
        np.testing.assert_array_equal(te, ste)


def test_kfold_shuffle_is_seeded_partition():
    data = pd.DataFrame({"x": np.arange(53)})
    a = list(KFold(5, random_state=3).split(data))
    b = list(KFold(5, random_state=3).split(data))
    c = list(KFold(5, random_state=4).split(data))
    _assert_partition(a, 53)
    assert [len(te) for _, te in a] == [11, 11, 11, 10, 10]
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))
    # shuffled, not consecutive blocks
    assert not np.array_equal(a[0][1], np.arange(11))
    assert KFold(5).get_n_splits() == 5
    _assert_partition(list(KFold(4, random_state=np.random.default_rng(1)).split(20)), 20)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 60), k=st.integers(2, 8), seed=st.integers(0, 1000))
def test_kfold_partition_property(n, k, seed):
    if n < k:
        with pytest.raises(DataError, match=f"cannot make {k} folds from {n} rows"):
            list(KFold(k, random_state=seed).split(n))
        return
    splits = list(KFold(k, random_state=seed).split(n))
    _assert_partition(splits, n)
    sizes = sorted(len(te) for _, te in splits)
    assert sizes[-1] - sizes[0] <= 1


@pytest.fixture(scope="module")
def panel():
    rng = np.random.default_rng(9)
    sizes = rng.integers(1, 15, size=30)
    ids = np.repeat([f"C{i:03d}" for i in range(30)], sizes)
    order = rng.permutation(ids.size)
    return pd.DataFrame({"customer_id": ids[order], "x": rng.normal(size=ids.size)})


def test_group_kfold_never_splits_a_group(panel):
    cv = GroupKFold(4, group="customer_id")
    splits = list(cv.split(panel))
    assert len(splits) == cv.get_n_splits() == 4
    _assert_partition(splits, len(panel))
    groups = panel["customer_id"].to_numpy()
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
    sizes = [len(te) for _, te in splits]
    largest_group = panel["customer_id"].value_counts().max()
    assert max(sizes) - min(sizes) <= largest_group
    # groups passed as an array give the same folds as the column
    explicit = list(GroupKFold(4).split(panel, groups=groups))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, explicit, strict=True))
    # a shuffled assignment still keeps every group whole
    shuffled = list(GroupKFold(4, group="customer_id", shuffle=True, random_state=2).split(panel))
    _assert_partition(shuffled, len(panel))
    for train, test in shuffled:
        assert not set(groups[train]) & set(groups[test])


def test_group_kfold_bad_input(panel):
    with pytest.raises(DataError, match="customer_id"):
        list(GroupKFold(3, group="customerid").split(panel))
    with pytest.raises(SpecError, match="needs groups"):
        list(GroupKFold(3).split(panel))
    with pytest.raises(DataError, match="5 group folds from 2 distinct"):
        list(GroupKFold(5).split(np.zeros(4), groups=["a", "a", "b", "b"]))
    with pytest.raises(DataError, match="missing"):
        list(GroupKFold(2).split(np.zeros(4), groups=["a", None, "b", "b"]))
    with pytest.raises(SpecError, match="n_splits"):
        GroupKFold(1)


@pytest.mark.parametrize(
    ("n", "k", "gap", "test_size", "max_train"),
    [(20, 3, 0, None, None), (37, 4, 2, None, None), (50, 5, 1, 6, None), (40, 3, 0, 5, 10)],
)
def test_sequential_row_order_equals_sklearn_time_series_split(n, k, gap, test_size, max_train):
    ours = list(SequentialSplit(k, gap=gap, test_size=test_size, max_train_size=max_train).split(np.zeros(n)))
    theirs = list(skms.TimeSeriesSplit(k, gap=gap, test_size=test_size, max_train_size=max_train)
                  .split(np.zeros(n)))
    assert len(ours) == len(theirs)
    for (tr, te), (str_, ste) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(tr, str_)
        np.testing.assert_array_equal(te, ste)


def test_sequential_on_time_column_never_trains_on_the_future():
    rng = np.random.default_rng(4)
    weeks = np.repeat(np.arange(20), 7)
    data = pd.DataFrame({"week": weeks, "customer": np.tile(np.arange(7), 20)}).iloc[rng.permutation(140)]
    cv = TimeSeriesSplit(4, time="week", gap=1)
    splits = list(cv.split(data))
    assert len(splits) == 4
    w = data["week"].to_numpy()
    previous_train = -1
    for train, test in splits:
        assert w[train].max() < w[test].min()
        assert w[test].min() - w[train].max() == 2  # one week of gap between
        assert np.unique(w[test]).size == 4  # test_size = 20 // 5 time points
        # a week is never split across train and test
        assert not set(w[train]) & set(w[test])
        assert (np.bincount(w[test], minlength=20)[np.unique(w[test])] == 7).all()
        assert len(train) > previous_train  # expanding window
        previous_train = len(train)
    assert np.unique(w[splits[-1][1]]).max() == 19


def test_sequential_bad_input():
    with pytest.raises(DataError, match="from 5 distinct time points"):
        list(SequentialSplit(5, time="t").split(pd.DataFrame({"t": [1, 2, 3, 4, 5] * 3})))
    with pytest.raises(DataError, match="missing"):
        list(SequentialSplit(2, time="t").split(pd.DataFrame({"t": [1.0, np.nan, 3, 4, 5, 6]})))
    with pytest.raises(DataError, match="did you mean 'week'"):
        list(SequentialSplit(2, time="weak").split(pd.DataFrame({"week": range(9)})))
    with pytest.raises(SpecError, match="gap"):
        SequentialSplit(3, gap=-1)
    with pytest.raises(DataError, match="empty"):
        list(SequentialSplit(3).split(pd.DataFrame({"t": []})))
