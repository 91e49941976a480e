"""A small mixed-model formula parser (lme4 / brms syntax subset) and the design it produces.

Grammar (whitespace is ignored)::

    formula   := response "~" terms
    response  := column | column "|" "trials(" column ")"     # binomial successes out of trials
    terms     := term (("+" | "-") term)*
    term      := "1" | "0" | column | "C(" column ")" | "(" group_lhs ("|" | "||") group_rhs ")"
    group_lhs := ("1" | "0" | column | "C(" column ")") ("+" ...)*   # varying intercept and/or slopes
    group_rhs := column | column ":" column | column "/" column     # "a/b" = "(.|a) + (.|a:b)" (nested)

``- 1`` or ``+ 0`` removes the population intercept. ``C(x)`` treats a numeric column as categorical.
Several group terms give crossed effects; ``a/b`` gives nested ones (``b`` within ``a``). As in lme4 and
brms, the varying effects of one term, ``(1 + x | g)``, are correlated (their correlation is estimated);
``(1 + x || g)`` makes them independent. Interactions
of fixed effects are not supported (make a column); a syntax error raises :class:`SpecError` and a
column missing from the data raises :class:`DataError` naming the nearest column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from probwb.core.validation import check_columns, short_repr
from probwb.errors import DataError, SpecError

__all__ = ["GroupTerm", "ParsedFormula", "parse_formula", "Design", "DesignInfo", "build_design"]

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_CAT = re.compile(r"^C\(\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*\)$")
_TRIALS = re.compile(r"^trials\(\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*\)$")


@dataclass(frozen=True)
class GroupTerm:
    """One varying-effects term: ``intercept`` and ``slopes`` vary across the levels of ``factors``.

    ``factors`` is one column, or several joined by ":" (their combination defines the groups).
    """

    factors: tuple[str, ...]
    intercept: bool
    slopes: tuple[str, ...]
    forced_categorical: tuple[str, ...] = ()
    correlated: bool = True

    @property
    def name(self) -> str:
        """The grouping label, e.g. ``"hospital"`` or ``"region:store"``."""
        return ":".join(self.factors)


@dataclass(frozen=True)
class ParsedFormula:
    """The parsed formula: response, population-level terms and group terms."""

    response: str
    trials: str | None
    intercept: bool
    fixed: tuple[str, ...]
    groups: tuple[GroupTerm, ...]
    forced_categorical: tuple[str, ...] = ()
    text: str = ""

    @property
    def columns(self) -> list[str]:
        """Every data column the formula uses (response first)."""
        cols = [self.response] + ([self.trials] if self.trials else []) + list(self.fixed)
        for g in self.groups:
            cols += list(g.factors) + list(g.slopes)
        return list(dict.fromkeys(cols))


def _split_top(text: str, seps: str) -> list[tuple[str, str]]:
    """Split ``text`` at separators outside parentheses; return (sign, piece) pairs."""
    out: list[tuple[str, str]] = []
    depth = 0
    sign = "+"
    buf = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SpecError(f"unbalanced ')' in formula term {text!r}")
        if ch in seps and depth == 0:
            out.append((sign, buf.strip()))
            sign, buf = ch, ""
        else:
            buf += ch
    if depth != 0:
        raise SpecError(f"unbalanced '(' in formula term {text!r}")
    out.append((sign, buf.strip()))
    return out


def _column(token: str, where: str) -> tuple[str, bool]:
    """Return (column, forced_categorical) for a column token, else raise SpecError."""
    m = _CAT.match(token)
    if m:
        return m.group(1), True
    if not _NAME.match(token):
        hint = " (fixed-effect interactions are not supported: make a column)" if ":" in token or "*" in token \
            else ""
        raise SpecError(f"cannot read {token!r} in {where} as a column name{hint}")
    return token, False


def parse_formula(formula: str) -> ParsedFormula:
    """Parse a mixed-model formula string into a :class:`ParsedFormula`; raise SpecError on bad syntax."""
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise SpecError(f"a formula needs exactly one '~' (response ~ predictors), found {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not lhs or not rhs:
        raise SpecError(f"formula {formula!r} needs a response and at least one term (e.g. 'y ~ 1')")
    trials = None
    if "|" in lhs:
        resp, _, tr = (s.strip() for s in lhs.partition("|"))
        m = _TRIALS.match(tr)
        if not m:
            raise SpecError(f"response {lhs!r}: expected 'successes | trials(n_column)'")
        trials = m.group(1)
        lhs = resp
    response, forced = _column(lhs, "the response")
    if forced:
        raise SpecError("the response cannot be wrapped in C()")

    intercept = True
    fixed: list[str] = []
    groups: list[GroupTerm] = []
    forced_cat: list[str] = []
    pieces = _split_top(rhs, "+-")
    for i, (sign, piece) in enumerate(pieces):
        if piece == "" and i == 0 and sign == "+" and len(pieces) > 1 and pieces[1][0] == "-":
            continue  # formula starting with "- 1"
        if piece == "":
            raise SpecError(f"empty term in formula {formula!r}")
        if piece in ("0", "1"):
            intercept = (piece == "1") if sign == "+" else (piece == "0")
            continue
        if sign == "-":
            raise SpecError(f"only '- 1' can be removed in formula {formula!r}, found '- {piece}'")
        if piece.startswith("(") and piece.endswith(")") and "|" in piece:
            groups.extend(_parse_group(piece[1:-1], formula))
            continue
        col, forced = _column(piece, f"formula {formula!r}")
        if col in fixed:
            raise SpecError(f"predictor {col!r} appears twice in formula {formula!r}")
        fixed.append(col)
        if forced:
            forced_cat.append(col)
    names = [g.name for g in groups]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SpecError(f"grouping {sorted(dup)} appears in more than one group term of {formula!r}; "
                        "put all its varying effects in one term")
    for g in groups:
        forced_cat += [c for c in g.forced_categorical if c not in forced_cat]
    return ParsedFormula(response=response, trials=trials, intercept=intercept, fixed=tuple(fixed),
                         groups=tuple(groups), forced_categorical=tuple(forced_cat), text=formula)


def _parse_group(inner: str, formula: str) -> list[GroupTerm]:
    correlated = "||" not in inner
    parts = _split_top(inner.replace("||", "|"), "|")
    if len(parts) != 2:
        raise SpecError(f"group term ({inner}) in {formula!r} needs exactly one '|' (or '||' for "
                        "uncorrelated effects)")
    expr, grp = parts[0][1], parts[1][1]
    intercept = True
    slopes: list[str] = []
    forced: list[str] = []
    for sign, piece in _split_top(expr, "+-"):
        if piece in ("0", "1"):
            intercept = (piece == "1") if sign == "+" else (piece == "0")
            continue
        if sign == "-" or not piece:
            raise SpecError(f"cannot read group term ({inner}) in {formula!r}")
        col, f = _column(piece, f"group term ({inner})")
        slopes.append(col)
        if f:
            forced.append(col)
    if not intercept and not slopes:
        raise SpecError(f"group term ({inner}) in {formula!r} varies nothing")
    if "/" in grp:
        outer, _, inner_g = (s.strip() for s in grp.partition("/"))
        a, _ = _column(outer, f"group term ({inner})")
        b, _ = _column(inner_g, f"group term ({inner})")
        factor_sets = [(a,), (a, b)]
    else:
        factor_sets = [tuple(_column(s.strip(), f"group term ({inner})")[0] for s in grp.split(":"))]
    return [GroupTerm(factors=fs, intercept=intercept, slopes=tuple(slopes), forced_categorical=tuple(forced),
                      correlated=correlated) for fs in factor_sets]


# ----------------------------------------------------------------------------------------------
# Design matrices


@dataclass
class DesignInfo:
    """Everything learned from the training data that is needed to encode new rows the same way.

    ``numeric`` maps each numeric predictor to its (mean, sd) used for standardisation; ``levels``
    maps each categorical predictor to its levels (the first is the reference); ``coef_names`` are
    the population-level columns (dummies named like ``"age_band[70+]"``); ``group_levels`` maps
    each grouping label to its training levels; ``group_columns`` maps it to the names of its
    varying components (``"Intercept"`` and slope columns).
    """

    formula: ParsedFormula
    numeric: dict[str, tuple[float, float]] = field(default_factory=dict)
    levels: dict[str, list] = field(default_factory=dict)
    coef_names: list[str] = field(default_factory=list)
    group_levels: dict[str, list[str]] = field(default_factory=dict)
    group_columns: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Design:
    """Encoded data: response, standardised population design ``X`` and per-group index and design."""

    y: np.ndarray
    trials: np.ndarray | None
    X: np.ndarray
    group_idx: dict[str, np.ndarray]
    group_Z: dict[str, np.ndarray]
    info: DesignInfo


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def _group_key(df: pd.DataFrame, factors: tuple[str, ...]) -> np.ndarray:
    if len(factors) == 1:
        return df[factors[0]].astype(str).to_numpy(dtype=object)
    parts = [df[f].astype(str).to_numpy(dtype=object) for f in factors]
    out = parts[0]
    for p in parts[1:]:
        out = out + ":" + p
    return out


#: a text predictor whose values are all numbers and has more distinct values than this is refused
MAX_NUMERIC_TEXT_LEVELS = 20


def _encode_column(df: pd.DataFrame, col: str, info: DesignInfo, where: str) -> tuple[list[str], np.ndarray]:
    """Return (names, matrix) for one predictor, using (and on first call filling) ``info``."""
    s = df[col]
    if s.isna().any():
        rows = list(df.index[s.isna().to_numpy()][:5])
        raise DataError(f"predictor {col!r} has {int(s.isna().sum())} missing value(s) {where} "
                        f"(first rows {rows}); remove or impute them first")
    if col in info.numeric:
        mean, sd = info.numeric[col]
        x = np.asarray(s, dtype=float)
        if not np.isfinite(x).all():
            raise DataError(f"predictor {col!r} has infinite values {where}")
        return [col], ((x - mean) / sd)[:, None]
    if col in info.levels:
        levels = info.levels[col]
        vals_s = s.astype(str).to_numpy(dtype=object)
        unknown = sorted(set(vals_s) - set(levels))
        if unknown:
            raise DataError(f"predictor {col!r} has level(s) {unknown} {where} not seen in training; "
                            f"known levels: {levels}")
        names = [f"{col}[{lv}]" for lv in levels[1:]]
        mat = np.column_stack([(vals_s == str(lv)).astype(float) for lv in levels[1:]]) if names \
            else np.empty((len(df), 0))
        return names, mat
    # First sight (training): decide the coding and remember it.
    if col in info.formula.forced_categorical or _is_categorical(s):
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels = [str(lv) for lv in s.cat.categories if (s == lv).any()]
        else:
            levels = sorted({str(v) for v in s})
        if len(levels) < 2:
            raise DataError(f"categorical predictor {col!r} has a single level {levels} {where}; "
                            "it carries no information, drop it from the formula")
        if col not in info.formula.forced_categorical and len(levels) > MAX_NUMERIC_TEXT_LEVELS \
                and not isinstance(s.dtype, pd.CategoricalDtype) \
                and pd.to_numeric(pd.Series(levels), errors="coerce").notna().all():
            # numbers read as text (a CSV column with a stray quote, a "1,5" locale...) would silently
            # become one coefficient per distinct value
            raise DataError(f"predictor {col!r} holds numbers stored as text ({len(levels)} distinct values "
                            f"such as {short_repr(levels[:3])}) {where}: expected a numeric column or a "
                            f"factor with few levels; convert it with pandas.to_numeric, or write C({col}) "
                            "in the formula to keep it as a factor")
        info.levels[col] = levels
    else:
        x = np.asarray(s, dtype=float)
        if not np.isfinite(x).all():
            raise DataError(f"predictor {col!r} has infinite values {where}")
        sd = float(x.std())
        if sd == 0:
            raise DataError(f"numeric predictor {col!r} is constant ({x[0]!r}) {where}; drop it")
        info.numeric[col] = (float(x.mean()), sd)
    return _encode_column(df, col, info, where)


def build_design(df: pd.DataFrame, formula: ParsedFormula | str, info: DesignInfo | None = None, *,
                 require_response: bool = True, where: str = "in the data") -> Design:
    """Encode ``df`` for ``formula``; with ``info`` from training, encode new rows the same way.

    Numeric predictors are standardised ((x - mean) / sd, training mean and sd); categorical ones
    become treatment-coded dummies (reference = first level). Group indices of levels unseen in
    training are -1. Raises DataError for missing columns (naming the nearest), NaN, single-level
    categorical predictors and group columns with a single level (training only).
    """
    parsed = parse_formula(formula) if isinstance(formula, str) else formula
    training = info is None
    info = info or DesignInfo(formula=parsed)
    needed = [c for c in parsed.columns if require_response or c not in (parsed.response, parsed.trials)]
    check_columns(df, needed, name="data")
    n = len(df)
    if n == 0:
        raise DataError(f"data is empty {where}: expected at least one row")

    names: list[str] = []
    blocks: list[np.ndarray] = []
    for col in parsed.fixed:
        nm, mat = _encode_column(df, col, info, where)
        names += nm
        blocks.append(mat)
    X = np.hstack(blocks) if blocks else np.empty((n, 0))
    if training:
        info.coef_names = names
        if len(set(names)) != len(names):
            raise SpecError(f"duplicate population-level columns {names}")

    group_idx: dict[str, np.ndarray] = {}
    group_Z: dict[str, np.ndarray] = {}
    for g in parsed.groups:
        for f in g.factors:
            if df[f].isna().any():
                raise DataError(f"group column {f!r} has {int(df[f].isna().sum())} missing value(s) {where}")
        key = _group_key(df, g.factors)
        if training:
            levels = sorted(set(key))
            if len(levels) < 2:
                raise DataError(f"group column {g.name!r} has a single level {levels} {where}: varying "
                                "effects need at least 2 groups; drop the term or use a fixed effect")
            info.group_levels[g.name] = levels
        lookup = {lv: i for i, lv in enumerate(info.group_levels[g.name])}
        group_idx[g.name] = np.fromiter((lookup.get(k, -1) for k in key), dtype=np.int64, count=n)
        zcols = [np.ones(n)] if g.intercept else []
        znames = ["Intercept"] if g.intercept else []
        for col in g.slopes:
            nm, mat = _encode_column(df, col, info, where)
            znames += nm
            zcols += [mat[:, j] for j in range(mat.shape[1])]
        group_Z[g.name] = np.column_stack(zcols)
        if training:
            info.group_columns[g.name] = znames

    y = trials = None
    if require_response or parsed.response in df.columns:
        ys = df[parsed.response]
        if ys.isna().any():
            rows = list(df.index[ys.isna().to_numpy()][:5])
            raise DataError(f"response {parsed.response!r} has {int(ys.isna().sum())} missing value(s) "
                            f"{where} (first rows {rows}); expected none")
        if not (pd.api.types.is_numeric_dtype(ys) or pd.api.types.is_bool_dtype(ys)):
            raise DataError(f"response {parsed.response!r} must be numeric (0/1 for bernoulli), found dtype "
                            f"{ys.dtype} with values like {list(ys.unique()[:3])}")
        y = np.asarray(ys, dtype=float)
        if parsed.trials:
            tr = df[parsed.trials]
            if tr.isna().any():
                raise DataError(f"trials column {parsed.trials!r} has missing values {where}")
            trials = np.asarray(tr, dtype=float)
    return Design(y=y, trials=trials, X=X, group_idx=group_idx, group_Z=group_Z, info=info)
