"""Table conventions every report follows (#20): level names, natural order, interval levels, units.

Families call these on the tables they hand to the report so a reader sees ``70+`` after ``50-69`` (not in
text order), ``clv 90% CrI lower`` (not ``clv_lower``), ``length_of_stay (days)`` and no column that says the
same thing on every row. :func:`internal_ids` and :func:`unlabelled_intervals` are the checks the tests run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["result_frame", "natural_key", "natural_order", "order_rows", "label_intervals", "constant_columns", "add_units",
           "internal_ids", "unlabelled_intervals", "INTERVAL_COLUMN", "DATA_UNITS", "units_for"]

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")

#: a column whose header names an interval bound (and so must also name the interval's level)
INTERVAL_COLUMN = re.compile(r"(^|[_\s])(lower|upper|low|high)$|(^|_)(hdi|ci)(_|$)|^q\d|_q\d+$|^hdi", re.I)
_HAS_LEVEL = re.compile(r"\d+(\.\d+)?% (CI|CrI|HDI|interval)\b")
# ``q05`` / ``q3.0%`` / ``value_q95``: a quantile column (its pair with 100 - q makes an interval)
_QUANTILE = re.compile(r"^(?:(.*?)_)?q(\d+(?:\.\d+)?)(%?)$", re.I)

# ``name[...][0]`` / ``name[0, 1]``: positions of an array, which a reader cannot decode. A single number in
# brackets is left alone: ``prior_admissions[1]`` is the level "1", not a position
_INTERNAL = re.compile(r"\w\[[^\]]*\]\[\d+(?:,\s*\d+)*\]|\w\[\d+(?:,\s*\d+)+\]")

#: units of the columns of the bundled data sets (the spec's ``report.units`` adds to or overrides these)
DATA_UNITS: dict[str, dict[str, str]] = {
    "simulate_patient_cohort": {"length_of_stay": "days", "age": "years"},
    "simulate_coupon_campaign": {"spend": "currency units", "observed_mean": "currency units"},
    "load_cdnow": {"recency": "weeks", "T": "weeks", "monetary_value": "USD", "expected_spend": "USD",
                   "clv": "USD", "frequency": "repeat purchases"},
}


def natural_key(level: Any) -> tuple[float, float, str]:
    """Return a sort key that orders numeric bands by their numbers: ``<50`` < ``50-69`` < ``70+``,
    ``0`` < ``1`` < ``2+``, ``10%`` < ``20%``; a level without a number sorts first (``none``, ``control``)."""
    text = str(level).strip()
    m = _NUMBER.search(text.replace(",", ""))
    if m is None:
        return (float("-inf"), 0.0, "")
    value = float(m.group())
    # "<50" lies below 50 and "50+" / "50-69" start at 50: an open lower band sorts just before its bound
    tie = -1.0 if text.startswith(("<", "≤", "under", "below")) else 0.0
    return (value, tie, text)


def natural_order(levels: Iterable[Any], declared: Sequence[Any] | None = None) -> list[Any]:
    """Return ``levels`` in the order a reader expects: ``declared`` (a spec's or categorical's order) when given,
    else by :func:`natural_key` when some level holds a number, else as they came (first seen first)."""
    seen = list(dict.fromkeys(levels))
    if declared is not None:
        rank = {str(v): i for i, v in enumerate(declared)}
        return sorted(seen, key=lambda v: rank.get(str(v), len(rank)))
    if not any(_NUMBER.search(str(v)) for v in seen):
        return seen
    return sorted(seen, key=natural_key)  # stable: levels without numbers keep their order, first


def order_rows(frame: pd.DataFrame, column: str | None = None, declared: Sequence[Any] | None = None
               ) -> pd.DataFrame:
    """Return ``frame`` with its rows ordered by the levels of ``column`` (default: the index) in
    :func:`natural_order`; a categorical column's own category order is used when ``declared`` is None."""
    keys = frame.index if column is None else frame[column]
    if declared is None and isinstance(getattr(keys, "dtype", None), pd.CategoricalDtype) and keys.dtype.ordered:
        declared = list(keys.dtype.categories)
    order = natural_order(list(keys), declared)
    rank = {str(v): i for i, v in enumerate(order)}
    pos = sorted(range(len(frame)), key=lambda i: rank[str(keys[i])])
    return frame.iloc[pos]


def _pct(level: float) -> str:
    return f"{100 * float(level):g}%"


def label_intervals(frame: pd.DataFrame, level: float, kind: str = "CI") -> pd.DataFrame:
    """Return ``frame`` with every interval-bound column renamed to state the level: ``lower`` ->
    ``90% CrI lower``, ``clv_upper`` -> ``clv 90% CrI upper``, ``hdi_low`` -> ``95% HDI low``,
    ``estimate_ci_low`` -> ``estimate 95% CI low``. ``kind`` is ``"CI"`` (confidence) or ``"CrI"``
    (credible); columns that already hold a percentage are left alone."""
    pct = _pct(level)
    names = _quantile_names(frame.columns, kind)
    for col in frame.columns:
        if col in names:
            continue
        name = str(col)
        if _HAS_LEVEL.search(name) or not INTERVAL_COLUMN.search(name):
            continue
        m = (re.fullmatch(r"()(hdi|ci)_(lower|upper|low|high)", name, flags=re.I)
             or re.fullmatch(r"(.+?)_(hdi|ci)_(lower|upper|low|high)", name, flags=re.I)
             or re.fullmatch(r"(?:(.+?)_)?()(lower|upper|low|high)", name, flags=re.I))
        if m:
            stem, tag, side = m.group(1), m.group(2), m.group(3)
            label = "HDI" if (tag or "").lower() == "hdi" else kind
            names[col] = f"{stem.replace('_', ' ') + ' ' if stem else ''}{pct} {label} {side}"
    return frame.rename(columns=names)


def _quantile_names(columns: Iterable[Any], kind: str) -> dict[Any, str]:
    """Rename quantile pairs (``q05``/``q95``, ``q3.0%``/``q97.0%``) to the interval they bound; ``q50`` is the
    median. A quantile without its partner keeps its name (it is a quantile, not an interval bound)."""
    found: dict[tuple[str, float], Any] = {}
    for col in columns:
        m = _QUANTILE.match(str(col))
        if m:
            q = float(m.group(2))  # "q05" and "q3.0%" both name a percentage
            found[(m.group(1) or "", q)] = col
    out: dict[Any, str] = {}
    for (stem, q), col in found.items():
        prefix = f"{stem.replace('_', ' ')} " if stem else ""
        if q == 50:
            out[col] = f"{prefix}median"
        elif q < 50 and (stem, 100 - q) in found:
            pct = f"{100 - 2 * q:g}%"
            out[col] = f"{prefix}{pct} {kind} lower"
            out[found[(stem, 100 - q)]] = f"{prefix}{pct} {kind} upper"
    return out


def constant_columns(frame: pd.DataFrame, names: Iterable[str] = ("verdict",)) -> dict[str, Any]:
    """Return ``{column: value}`` for the columns of ``names`` that hold one value on every row (two rows or
    more): a report drops them and states the value once."""
    out = {}
    if len(frame) < 2:
        return out
    for col in frame.columns:
        if str(col) in names and frame[col].nunique(dropna=False) == 1:
            out[str(col)] = frame[col].iloc[0]
    return out


def units_for(data_section: Mapping[str, Any] | None, spec_units: Mapping[str, str] | None = None
              ) -> dict[str, str]:
    """Return the column units of a spec: the bundled data set's (:data:`DATA_UNITS`) then ``report.units``."""
    units = dict(DATA_UNITS.get(str((data_section or {}).get("source")), {}))
    units.update({str(k): str(v) for k, v in (spec_units or {}).items()})
    return units


def add_units(frame: pd.DataFrame, units: Mapping[str, str]) -> pd.DataFrame:
    """Return ``frame`` with ``(unit)`` after each column whose name, or the stem before an interval label
    (``clv 90% CrI lower``), has a unit; an index named like a unit column is labelled too."""
    if not units:
        return frame

    def label(name: Any) -> Any:
        if not isinstance(name, str) or name.endswith(")"):
            return name
        stem = name.split(" ", 1)[0] if " " in name else name
        unit = units.get(name) or units.get(stem)
        return f"{name} ({unit})" if unit else name

    out = frame.rename(columns=label)
    if isinstance(out.index, pd.Index) and not isinstance(out.index, pd.MultiIndex) and out.index.name:
        out.index = out.index.rename(label(out.index.name))
    return out


def internal_ids(frame: pd.DataFrame) -> list[str]:
    """Return the labels (headers, index and text cells) that look like internal array positions,
    e.g. ``trans_from_active[20%][0]`` or ``z[0, 3]``; a readable table returns ``[]``."""
    texts = [str(c) for c in frame.columns] + [str(i) for i in frame.index]
    for col in frame.columns:
        if frame[col].dtype == object or isinstance(frame[col].dtype, (pd.CategoricalDtype, pd.StringDtype)):
            texts += [str(v) for v in frame[col].dropna().unique()]
    return [t for t in dict.fromkeys(texts) if _INTERNAL.search(t)]


def unlabelled_intervals(frame: pd.DataFrame) -> list[str]:
    """Return the interval-bound column headers that do not state their level (no ``NN%`` in the header)."""
    return [str(c) for c in frame.columns if INTERVAL_COLUMN.search(str(c)) and not _HAS_LEVEL.search(str(c))]


# columns of an A/B table that are in the unit of the metric itself (not rates, counts or probabilities)
_METRIC_VALUED = re.compile(r"^(mean|observed_mean|expected_loss|\d+(\.\d+)?% (HDI|CrI|CI) (low|high|lower|upper))$")


def result_frame(result: Any, units: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Return ``result.to_frame()`` of a :mod:`probwb.stats` result with its interval columns labelled by the
    result's own level (``confidence``, an A/B result's ``interval`` or ``details["confidence"]``), rows of a table indexed
    by an arm or group in natural order (``control``, ``10%``, ``20%``) and, for an A/B result whose metric
    has a unit in ``units`` (``mean spend`` -> ``spend``), that unit on its value columns."""
    frame = result.to_frame()
    from probwb.stats.results import ABResult

    level = result.interval if isinstance(result, ABResult) else None
    kind = "CrI" if level is not None else "CI"
    if level is None:
        level = getattr(result, "confidence", None)
    if level is None:
        level = (getattr(result, "details", None) or {}).get("confidence")
    if level is not None:
        frame = label_intervals(frame, float(level), kind)
    if frame.index.name in ("arm", "group", "level") and len(frame) > 1:
        frame = order_rows(frame)
    metric = str(getattr(result, "metric", "") or "")
    unit = next((u for col, u in (units or {}).items() if re.search(rf"\b{re.escape(col)}\b", metric)), None)
    if unit:
        frame = frame.rename(columns={c: f"{c} ({unit})" for c in frame.columns if _METRIC_VALUED.match(str(c))})
    return frame
