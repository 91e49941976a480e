"""Cross-validation splitters: randomized K-fold, grouped K-fold and sequential (time-series) splits.

Each splitter's ``split(data)`` yields ``(train_index, test_index)`` pairs of *positional* integer
arrays (use them with ``data.iloc``), and ``get_n_splits()`` says how many pairs it yields. The
signature ``split(data, y=None, groups=None)`` matches scikit-learn's, so either library's
splitters can be used with either library's tools.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from probwb.core.random import RandomState, check_random_state
from probwb.core.validation import check_columns
from probwb.errors import DataError, SpecError
from probwb.evaluate._inputs import check_int

__all__ = ["GroupKFold", "KFold", "SequentialSplit", "TimeSeriesSplit"]

Split = tuple[np.ndarray, np.ndarray]


def _n_rows(data: object) -> int:
    if isinstance(data, int | np.integer) and not isinstance(data, bool):
        n = int(data)
    else:
        try:
            n = len(data)  # type: ignore[arg-type]
        except TypeError:
            raise DataError(f"data must be a DataFrame, an array or a row count, found {type(data).__name__}") from None
    if n == 0:
        raise DataError("data is empty: expected at least one row to split, found 0 rows")
    return n


def _fold_sizes(n: int, k: int) -> np.ndarray:
    # the first n % k folds get one extra row, as scikit-learn does
    sizes = np.full(k, n // k, dtype=int)
    sizes[: n % k] += 1
    return sizes


class KFold:
    """Randomized K-fold: every row is in exactly one test fold.

    Parameters
    ----------
    n_splits : number of folds (>= 2).
    shuffle : shuffle the rows before cutting them into consecutive folds (default True). With
        ``shuffle=False`` the folds are consecutive blocks of rows, as scikit-learn's KFold.
    random_state : int or Generator. An int gives the same folds on every call to ``split``.
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = True, random_state: RandomState = None) -> None:
        self.n_splits = check_int(n_splits, name="n_splits", minimum=2)
        self.shuffle = bool(shuffle)
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"KFold(n_splits={self.n_splits}, shuffle={self.shuffle}, random_state={self.random_state!r})"

    def get_n_splits(self, data: object = None, y: object = None, groups: object = None) -> int:
        """Return the number of (train, test) pairs ``split`` yields."""
        return self.n_splits

    def split(self, data: object, y: object = None, groups: object = None) -> Iterator[Split]:
        """Yield (train_index, test_index) positional arrays for each fold."""
        n = _n_rows(data)
        if n < self.n_splits:
            raise DataError(f"cannot make {self.n_splits} folds from {n} rows: expected at least {self.n_splits}")
        order = np.arange(n)
        if self.shuffle:
            order = check_random_state(self.random_state).permutation(n)
        start = 0
        for size in _fold_sizes(n, self.n_splits):
            test = np.sort(order[start:start + size])
            mask = np.ones(n, dtype=bool)
            mask[test] = False
            yield np.flatnonzero(mask), test
            start += size


def _as_keys(values: object, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"{what} must have one value per row ({n}), found shape {arr.shape}")
    missing = pd.isna(arr)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise DataError(f"{what} has {int(missing.sum())} missing value(s) (first at row {first})")
    return arr


def _column_or_array(data: object, column: str | None, explicit: object, what: str, n: int) -> np.ndarray | None:
    if explicit is not None:
        return _as_keys(explicit, n, what)
    if column is None:
        return None
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{what} column {column!r} was named but data is a {type(data).__name__}, not a DataFrame")
    check_columns(data, [column], name="data")
    return _as_keys(data[column].to_numpy(), n, f"column {column!r}")


class GroupKFold:
    """K-fold over groups: all rows of a group (a customer, a hospital) land in the same fold.

    Groups are assigned largest first to the fold with the fewest rows so far, which balances
    fold sizes. With ``shuffle=True`` the groups are taken in a random order instead.

    Parameters
    ----------
    n_splits : number of folds (>= 2); there must be at least this many groups.
    group : name of the column of ``data`` holding the group; or pass ``groups=`` to ``split``.
    shuffle, random_state : randomize the assignment of groups to folds.
    """

    def __init__(self, n_splits: int = 5, *, group: str | None = None, shuffle: bool = False,
                 random_state: RandomState = None) -> None:
        self.n_splits = check_int(n_splits, name="n_splits", minimum=2)
        self.group = group
        self.shuffle = bool(shuffle)
        self.random_state = random_state

    def __repr__(self) -> str:
        return (f"GroupKFold(n_splits={self.n_splits}, group={self.group!r}, shuffle={self.shuffle}, "
                f"random_state={self.random_state!r})")

    def get_n_splits(self, data: object = None, y: object = None, groups: object = None) -> int:
        """Return the number of (train, test) pairs ``split`` yields."""
        return self.n_splits

    def split(self, data: object, y: object = None, groups: object = None) -> Iterator[Split]:
        """Yield (train_index, test_index) positional arrays; no group is on both sides."""
        n = _n_rows(data)
        keys = _column_or_array(data, self.group, groups, "groups", n)
        if keys is None:
            raise SpecError("GroupKFold needs groups: set group='column' or pass groups= to split()")
        uniq, codes = np.unique(keys.astype(str) if keys.dtype == object else keys, return_inverse=True)
        n_groups = uniq.shape[0]
        if n_groups < self.n_splits:
            raise DataError(
                f"cannot make {self.n_splits} group folds from {n_groups} distinct group(s): "
                f"expected at least {self.n_splits}"
            )
        sizes = np.bincount(codes, minlength=n_groups)
        if self.shuffle:
            order = check_random_state(self.random_state).permutation(n_groups)
        else:
            order = np.argsort(-sizes, kind="stable")
        fold_of_group = np.empty(n_groups, dtype=int)
        load = np.zeros(self.n_splits, dtype=int)
        for g in order:
            f = int(np.argmin(load))
            fold_of_group[g] = f
            load[f] += sizes[g]
        fold_of_row = fold_of_group[codes]
        for f in range(self.n_splits):
            yield np.flatnonzero(fold_of_row != f), np.flatnonzero(fold_of_row == f)


class SequentialSplit:
    """Expanding-window splits for time-ordered data: each fold trains on the past and tests on what follows.

    The distinct values of the time column (or the rows themselves, in order, when ``time`` is
    None) are cut as scikit-learn's ``TimeSeriesSplit`` cuts rows: the last ``n_splits *
    test_size`` time points form ``n_splits`` consecutive test blocks, and each fold trains on every
    time point before its test block, less ``gap`` time points just before it. All rows that share
    a time value (e.g. all customers in week 12) fall on the same side, so a model never trains
    on the future: every training time is strictly earlier than every test time.

    Parameters
    ----------
    n_splits : number of folds (>= 2).
    time : name of the time column of ``data`` (numbers, dates, or sortable labels); None = row order.
    gap : number of time points left out between the end of training and the test block.
    test_size : time points per test block; default ``n_times // (n_splits + 1)``.
    max_train_size : keep only the latest this many time points for training (a sliding window).
    """

    def __init__(self, n_splits: int = 5, *, time: str | None = None, gap: int = 0,
                 test_size: int | None = None, max_train_size: int | None = None) -> None:
        self.n_splits = check_int(n_splits, name="n_splits", minimum=2)
        self.time = time
        self.gap = check_int(gap, name="gap", minimum=0)
        self.test_size = None if test_size is None else check_int(test_size, name="test_size", minimum=1)
        self.max_train_size = (None if max_train_size is None
                               else check_int(max_train_size, name="max_train_size", minimum=1))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_splits={self.n_splits}, time={self.time!r}, gap={self.gap}, "
                f"test_size={self.test_size}, max_train_size={self.max_train_size})")

    def get_n_splits(self, data: object = None, y: object = None, groups: object = None) -> int:
        """Return the number of (train, test) pairs ``split`` yields."""
        return self.n_splits

    def split(self, data: object, y: object = None, groups: object = None, *, times: object = None) -> Iterator[Split]:
        """Yield (train_index, test_index) positional arrays, training strictly before testing.

        ``times`` gives the time of each row directly, instead of the ``time`` column.
        """
        n = _n_rows(data)
        keys = _column_or_array(data, self.time, times, "times", n)
        if keys is None:
            codes = np.arange(n)
            n_times = n
        else:
            try:
                uniq, codes = np.unique(keys, return_inverse=True)
            except TypeError:
                raise DataError("time values must be mutually comparable (numbers, dates or strings)") from None
            n_times = uniq.shape[0]
        test_size = self.test_size if self.test_size is not None else n_times // (self.n_splits + 1)
        unit = "rows" if keys is None else "distinct time points"
        if test_size < 1 or n_times - self.gap - self.n_splits * test_size <= 0:
            raise DataError(
                f"cannot make {self.n_splits} sequential folds (test_size={test_size}, gap={self.gap}) "
                f"from {n_times} {unit}: expected more than gap + n_splits * test_size "
                f"= {self.gap + self.n_splits * test_size}"
            )
        first_test = n_times - self.n_splits * test_size
        for start in range(first_test, n_times, test_size):
            train_end = start - self.gap
            train_start = 0 if self.max_train_size is None else max(0, train_end - self.max_train_size)
            train = np.flatnonzero((codes >= train_start) & (codes < train_end))
            test = np.flatnonzero((codes >= start) & (codes < start + test_size))
            yield train, test


#: scikit-learn's name for the same splitter.
TimeSeriesSplit = SequentialSplit
