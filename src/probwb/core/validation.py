"""Input checks shared by every family; each raises a :mod:`probwb.errors` error naming what and where."""

from __future__ import annotations

import difflib
import logging
import reprlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from probwb.errors import DataError, ProbabilityError, ProbwbError, SpecError

PROB_ATOL = 1e-9


def closest_match(name: str, valid: Iterable[str]) -> str | None:
    """Return the valid name nearest to ``name`` (for 'did you mean' hints), or None."""
    hits = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.5)
    return hits[0] if hits else None


def _did_you_mean(name: str, valid: Iterable[str]) -> str:
    hit = closest_match(name, valid)
    return f" (did you mean {hit!r}?)" if hit else ""


def check_dataframe(data: object, *, name: str = "data", allow_empty: bool = False) -> pd.DataFrame:
    """Return ``data`` as a DataFrame, raising DataError if it is not one or is empty."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame, found {type(data).__name__}")
    if not allow_empty and len(data) == 0:
        raise DataError(f"{name} is empty: expected at least one row, found 0 rows")
    return data


def check_columns(data: pd.DataFrame, columns: Iterable[str], *, name: str = "data") -> None:
    """Raise DataError naming each requested column missing from ``data`` and the nearest existing one."""
    present = [str(c) for c in data.columns]
    missing = [c for c in columns if c not in data.columns]
    if missing:
        parts = [f"{c!r}{_did_you_mean(c, present)}" for c in missing]
        raise DataError(
            f"{name} has no column {', '.join(parts)}; columns found: {present}"
        )


def check_finite(values: object, *, name: str = "values", allow_nan: bool = False) -> np.ndarray:
    """Return ``values`` as a float array, raising DataError on NaN (unless allowed) or infinities."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric, found values that are not numbers ({exc})") from None
    if np.isinf(arr).any():
        idx = np.argwhere(np.isinf(arr))[0].tolist()
        raise DataError(f"{name} contains an infinite value at position {idx}")
    if not allow_nan and np.isnan(arr).any():
        idx = np.argwhere(np.isnan(arr))
        raise DataError(
            f"{name} contains {len(idx)} NaN value(s) (first at position {idx[0].tolist()}); "
            "expected no missing values"
        )
    return arr


def check_nonnegative(values: object, *, name: str = "values") -> np.ndarray:
    """Return ``values`` as a float array, raising DataError on negatives, NaN or infinities."""
    arr = check_finite(values, name=name)
    if (arr < 0).any():
        idx = np.argwhere(arr < 0)[0].tolist()
        raise DataError(f"{name} must be non-negative, found {float(arr[tuple(idx)]):g} at position {idx}")
    return arr


def check_probabilities(values: object, *, name: str = "probabilities") -> np.ndarray:
    """Return ``values`` as a float array in [0, 1], raising ProbabilityError otherwise."""
    arr = check_finite(values, name=name)
    bad = (arr < 0) | (arr > 1)
    if bad.any():
        idx = np.argwhere(bad)[0].tolist()
        raise ProbabilityError(
            f"{name} must lie in [0, 1], found {float(arr[tuple(idx)]):g} at position {idx} "
            f"({int(bad.sum())} value(s) out of range)"
        )
    return arr


def check_stochastic(
    matrix: object,
    *,
    name: str = "matrix",
    axis: int = -1,
    atol: float = PROB_ATOL,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """Return ``matrix`` as float array whose slices along ``axis`` are distributions, else ProbabilityError.

    The error names the offending row (by label when ``labels`` are given) and its sum; nothing is renormalised.
    """
    arr = np.asarray(matrix, dtype=float)
    if np.isnan(arr).any():
        raise ProbabilityError(f"{name} contains NaN")
    if (arr < 0).any():
        idx = np.argwhere(arr < 0)[0].tolist()
        raise ProbabilityError(f"{name} has a negative probability {float(arr[tuple(idx)]):g} at position {idx}")
    sums = arr.sum(axis=axis)
    bad = np.abs(sums - 1.0) > atol
    if bad.any():
        idx = np.argwhere(bad)[0]
        where = labels[int(idx[0])] if labels is not None and sums.ndim == 1 else idx.tolist()
        raise ProbabilityError(
            f"{name}: every row must sum to 1 (within {atol:g}); row {where} sums to {sums[tuple(idx)]:.12g}"
            f" ({int(bad.sum())} row(s) off)"
        )
    return arr


def check_same_length(**arrays: object) -> int:
    """Return the common length of the named arrays, raising DataError naming the lengths if they differ."""
    lengths = {k: len(v) for k, v in arrays.items()}  # type: ignore[arg-type]
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise DataError(f"inputs must have the same length: {desc}")
    return next(iter(lengths.values())) if lengths else 0


class _ShortRepr(reprlib.Repr):
    """A repr that stops after a few items per level and a few levels, so its cost is bounded whatever
    the value (a YAML alias bomb expands to billions of items, but only the first few are looked at)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxtuple = self.maxlist = self.maxarray = self.maxdeque = 6
        self.maxdict = self.maxset = self.maxfrozenset = 6
        self.maxstring = 60
        self.maxlong = 40
        self.maxother = 60

    def repr1(self, x: object, level: int) -> str:
        # numpy scalars print as plain numbers (-1.0, not np.float64(-1.0))
        if isinstance(x, np.generic):
            x = x.item()
        return super().repr1(x, level)

    def repr_float(self, x: float, level: int) -> str:
        return repr(x)


_SHORT = _ShortRepr()


def short_repr(value: object, limit: int = 80) -> str:
    """Return a repr of ``value`` for an error message, at most ``limit`` characters and cheap for any size.

    Numpy scalars show as plain numbers; long containers and strings are cut with ``...``.
    """
    text = _SHORT.repr(value)
    if len(text) > limit:
        text = text[: max(limit - 3, 1)] + "..."
    return text


def plain_number(value: object) -> object:
    """Return a numpy scalar as the matching Python scalar (for messages); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def check_known_keys(
    mapping: object,
    valid: Iterable[object],
    *,
    where: str,
    what: str = "key",
    default: object = None,
    error: type[ProbwbError] = SpecError,
    logger: logging.Logger | None = None,
    log_left: bool = True,
) -> list[str]:
    """Check that every key of ``mapping`` is one of ``valid``; return the valid keys it left out.

    ``valid`` are the states, actions, nodes, columns or levels a mapping may be keyed by (compared as
    text, so a YAML key ``1`` matches the state ``"1"``). An unknown key raises ``error`` naming ``where``,
    the key, the nearest valid one (did you mean ...?) and the valid keys; a misspelt state in a reward
    table therefore fails instead of silently keeping the default. The valid keys left out are logged
    (INFO, "left to the default ``default``") so a reader can see what was not set; ``log_left=False``
    skips that (for lists of names, such as the actions a reward term applies to, which have no default).
    A list, tuple or set of names is checked like the keys of a mapping.
    """
    if mapping is None:
        mapping = {}
    if isinstance(mapping, (list, tuple, set, frozenset)):
        try:
            mapping = dict.fromkeys(mapping)
        except TypeError:
            raise error(f"{where} must list {what} names, found {short_repr(mapping)}") from None
    if not isinstance(mapping, Mapping):
        raise error(f"{where} must be a mapping of {what} -> value, found {type(mapping).__name__} "
                    f"{short_repr(mapping)}")
    names = [str(v) for v in valid]
    known = set(names)
    unknown = [k for k in mapping if str(k) not in known]
    if unknown:
        parts = [f"{short_repr(k)}{_did_you_mean(str(k), names)}" for k in unknown[:5]]
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        shown = (", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "")) or "none"
        raise error(f"{where}: unknown {what} {', '.join(parts)}{more}; expected {what}s: {shown}")
    given = {str(k) for k in mapping}
    left = [n for n in names if n not in given]
    if left and mapping and log_left:
        log = logger or logging.getLogger("probwb")
        log.info("%s: no value for %s %s; left to the default %s", where, what,
                 ", ".join(repr(n) for n in left), short_repr(default))
    return left


def check_size(value: object, *, name: str, minimum: int = 1, maximum: int = 10**9,
               error: type[ProbwbError] = DataError) -> int:
    """Return ``value`` as an int in [minimum, maximum], else raise ``error`` saying what was found.

    Sizes (rows, customers, draws) must be whole numbers; a float such as 1e20 or 2.5, a bool or a
    string is refused, and so is a size beyond ``maximum`` (which would exhaust memory, not run).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer() and minimum <= value <= maximum:
            return int(value)
        raise error(f"{name} must be a whole number in [{minimum}, {maximum:,}], found "
                    f"{type(plain_number(value)).__name__} {short_repr(value)}")
    if not minimum <= int(value) <= maximum:
        raise error(f"{name} must be a whole number in [{minimum}, {maximum:,}], found {int(value)}")
    return int(value)


def as_float_array(values: object, *, name: str, error: type[ProbwbError] = DataError) -> np.ndarray:
    """Return ``values`` as a float array, raising ``error`` for ragged nesting, text, booleans or other
    non-numbers (``numpy.asarray(..., dtype=float)`` would read the text "0.5" as 0.5, and raise a bare
    ValueError on ragged rows)."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        raise error(f"{name} must be a rectangular array of numbers, found ragged rows {short_repr(values)}") \
            from None
    if arr.dtype.kind in "iuf":
        return arr.astype(float)
    flat = arr.reshape(-1)
    bad = next((x for x in flat if isinstance(x, (bool, np.bool_))
                or not isinstance(x, (int, float, np.integer, np.floating))), None)
    if bad is None and flat.size:
        return arr.astype(float)
    shown = bad if bad is not None else values
    raise error(f"{name} must hold numbers, found {type(plain_number(shown)).__name__} {short_repr(shown)}")


def check_number(value: object, *, name: str, error: type[ProbwbError] = DataError) -> float:
    """Return ``value`` as a float if it is a real number (not a bool or text), else raise ``error``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise error(f"{name} must be a number, found {type(plain_number(value)).__name__} {short_repr(value)}")
    return float(value)
