"""Analysis of variance: n-way with types I/II/III sums of squares, ANCOVA, one-way (classic and Welch),
repeated measures (also split-plot: between x within) with sphericity corrections, linear mixed models for
incomplete repeated measures, and the non-parametric Kruskal-Wallis and Friedman tests.

Fully categorical models are reduced to cell-level sufficient statistics (count, centred mean, centred
within-cell sum of squares) in one pass over the rows; every sum of squares is then an exact weighted
least-squares fit on the cells, O(cells) instead of O(rows). Models with covariates fit on the rows.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from probwb.core.validation import check_columns, check_dataframe, closest_match
from probwb.errors import DataError, ProbwbWarning, SmallSampleWarning, SpecError
from probwb.stats.effects import (
    _check_confidence,
    epsilon_squared,
    kendalls_w,
    omega_squared_from_f,
    term_effect_sizes,
)
from probwb.stats.kernels import centre, combine_codes, group_stats, term_columns, weighted_rss
from probwb.stats.results import AnovaResult, TestResult

__all__ = ["anova", "oneway", "welch_anova", "rm_anova", "mixed_anova", "kruskal", "friedman", "parse_formula"]

# A residual sum of squares below this share of the total is rounding residue, not data: residuals carry
# errors of about eps * |y| (times the design's conditioning), so their squares sit near eps^2 of the total.
# Data whose genuine within-cell spread is that small are constant to double precision.
_EXACT_FIT = (1e4 * np.finfo(float).eps) ** 2

_VAR = re.compile(r"^\s*(?:C\(\s*([^,()]+?)\s*(?:,[^()]*(?:\([^()]*\))?[^()]*)?\)|`([^`]+)`|([^\s()]+))\s*$")


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed ANOVA formula: the response, the terms (tuples of variable names) and forced factors."""

    response: str
    terms: tuple[tuple[str, ...], ...]
    forced_categorical: frozenset[str]


def _parse_var(text: str, formula: str) -> tuple[str, bool]:
    m = _VAR.match(text)
    if not m or not text.strip():
        raise SpecError(f"cannot read the variable {text.strip()!r} in formula {formula!r}: expected a column "
                        "name, `column name` or C(column)")
    if m.group(1) is not None:
        return m.group(1).strip(), True
    return (m.group(2) or m.group(3)).strip(), False


def parse_formula(formula: str) -> ParsedFormula:
    """Parse ``"y ~ A * B + C + A:C"`` into a :class:`ParsedFormula` (terms ordered by degree, as patsy does).

    ``*`` expands to all main effects and interactions, ``:`` is an interaction, ``C(x)`` forces ``x`` to be a
    factor (any contrast argument is ignored: each SS type picks its own coding).
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise SpecError(f"formula must look like 'response ~ terms', found {formula!r}")
    lhs, rhs = formula.split("~")
    response, _ = _parse_var(lhs, formula)
    forced: set[str] = set()
    terms: list[tuple[str, ...]] = []
    for part in re.split(r"\+(?![^()]*\))", rhs):
        part = part.strip()
        if part in ("", "1"):
            continue
        if part in ("0", "-1") or part.startswith("-"):
            raise SpecError(f"formula {formula!r}: removing the intercept is not supported in an ANOVA")
        crossed = "*" in part
        names = []
        for p in part.split("*" if crossed else ":"):
            name, f = _parse_var(p, formula)
            names.append(name)
            if f:
                forced.add(name)
        if crossed:
            for k in range(1, len(names) + 1):
                terms.extend(itertools.combinations(names, k))
        else:
            terms.append(tuple(names))
    seen: dict[frozenset[str], tuple[str, ...]] = {}
    for t in terms:
        if len(set(t)) != len(t):
            raise SpecError(f"formula {formula!r}: term {':'.join(t)!r} repeats a variable")
        seen.setdefault(frozenset(t), t)
    if not seen:
        raise SpecError(f"formula {formula!r} has no terms on the right-hand side")
    ordered = sorted(seen.values(), key=len)
    present = set(seen)
    for t in ordered:
        for k in range(1, len(t)):
            for sub in itertools.combinations(t, k):
                if frozenset(sub) not in present:
                    raise SpecError(
                        f"formula {formula!r}: term {':'.join(t)!r} needs its marginal term {':'.join(sub)!r} "
                        "in the model (nested or non-hierarchical models are not supported; write "
                        f"{'*'.join(t)!r} to include every lower-order term)")
    return ParsedFormula(response, tuple(ordered), frozenset(forced))


def _term_name(term: tuple[str, ...]) -> str:
    return ":".join(term)


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _check_response(y: np.ndarray, name: str) -> None:
    if np.isinf(y).any():
        raise DataError(f"column {name!r} contains an infinite value at row {int(np.flatnonzero(np.isinf(y))[0])}")
    if y.size and np.all(y == y[0]):
        raise DataError(f"column {name!r} is constant (every value is {y[0]!r}): an ANOVA of a constant "
                        "response is undefined")


def _select(data: pd.DataFrame, columns: list[str], missing: str, where: str) -> pd.DataFrame:
    check_dataframe(data)
    check_columns(data, columns)
    sub = data[columns]
    na = sub.isna().to_numpy()
    if na.any():
        if missing == "drop":
            keep = ~na.any(axis=1)
            warnings.warn(f"{where}: dropped {int((~keep).sum())} row(s) with missing values", ProbwbWarning,
                          stacklevel=3)
            sub = sub.loc[keep]
        elif missing == "raise":
            col = sub.columns[na.any(axis=0)][0]
            row = sub.index[na[:, list(sub.columns).index(col)]][0]
            raise DataError(f"{where}: column {col!r} has {int(na[:, list(sub.columns).index(col)].sum())} missing "
                            f"value(s) (first at index {row!r}); pass missing='drop' to drop those rows")
        else:
            raise SpecError(f"missing must be 'raise' or 'drop', found {missing!r}")
    if len(sub) == 0:
        raise DataError(f"{where}: no rows left to analyse")
    return sub


def _factorize(series: pd.Series) -> tuple[np.ndarray, list]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        cat = series.cat.remove_unused_categories()
        return cat.cat.codes.to_numpy(np.int64), list(cat.cat.categories)
    codes, uniques = pd.factorize(series, sort=True)
    return codes.astype(np.int64, copy=False), list(uniques)


class _Design:
    """Cell-level (or row-level, with covariates) sufficient statistics of one model."""

    def __init__(self, data: pd.DataFrame, parsed: ParsedFormula):
        y = data[parsed.response]
        if not _numeric(y):
            raise DataError(f"the response {parsed.response!r} must be numeric, found dtype {y.dtype}")
        y = y.to_numpy(dtype=float)
        _check_response(y, parsed.response)
        self.n = y.size
        variables = sorted({v for t in parsed.terms for v in t}, key=[v for t in parsed.terms for v in t].index)
        self.factors: list[str] = []
        self.covariates: list[str] = []
        codes, sizes, self.levels = {}, {}, {}
        for v in variables:
            s = data[v]
            if v in parsed.forced_categorical or not _numeric(s):
                c, lev = _factorize(s)
                if len(lev) < 2:
                    raise DataError(f"factor {v!r} has a single level ({lev[0]!r}): it cannot explain any variation")
                codes[v], sizes[v], self.levels[v] = c, len(lev), lev
                self.factors.append(v)
            else:
                x = s.to_numpy(dtype=float)
                if np.all(x == x[0]):
                    raise DataError(f"covariate {v!r} is constant (every value is {x[0]!r})")
                self.covariates.append(v)
                codes[v] = x
        self.sizes = sizes
        self.row_codes = {f: codes[f] for f in self.factors}
        yc, self.shift = centre(y)
        if not self.covariates:
            fcodes = [codes[f] for f in self.factors]
            cell, cell_levels, m = combine_codes(fcodes, [sizes[f] for f in self.factors])
            w, means, css = group_stats(yc, cell, m)
            self.w = w
            self.ybar = means
            self.within = float(css.sum())
            self.cell_codes = {f: cell_levels[:, i] for i, f in enumerate(self.factors)}
            self.cov_values: dict[str, np.ndarray] = {}
            self.rows = m
        else:
            # with covariates every row is its own "cell"; centring y keeps huge offsets harmless
            self.w = np.ones(self.n)
            self.ybar = yc
            self.within = 0.0
            self.cell_codes = {f: codes[f] for f in self.factors}
            self.cov_values = {c: codes[c] for c in self.covariates}
            self.rows = self.n
        gm = float(np.sum(self.w * self.ybar) / self.n)
        self.ss_total = self.within + float(np.sum(self.w * (self.ybar - gm) ** 2))

    def term_cells(self, term: tuple[str, ...]) -> tuple[int, int, int]:
        """Return ``(possible, empty, single)``: cells of the cross of the term's factors, how many are never
        observed and how many are observed once."""
        factors = [f for f in term if f in self.row_codes]
        sizes = [self.sizes[f] for f in factors]
        cell, _, m = combine_codes([self.row_codes[f] for f in factors], sizes)
        counts = np.bincount(cell, minlength=m)
        possible = int(np.prod(sizes, dtype=np.int64))
        return possible, possible - m, int((counts == 1).sum())

    def columns(self, term: tuple[str, ...], coding: str) -> np.ndarray:
        return term_columns(term, self.cell_codes, self.sizes, self.cov_values, self.rows, coding)

    def rss(self, blocks: list[np.ndarray], uncentred: bool = False) -> tuple[float, int]:
        x = np.hstack(blocks) if blocks else np.zeros((self.rows, 0))
        ybar = self.ybar + self.shift if uncentred else self.ybar
        between, rank = weighted_rss(x, self.w, ybar)
        return self.within + between, rank


def _contains(big: tuple[str, ...], small: tuple[str, ...]) -> bool:
    return set(small) < set(big)


def anova(data: pd.DataFrame, formula: str, typ: int | str = 2, *, missing: str = "raise",
          confidence: float = 0.95) -> AnovaResult:
    """Return the ANOVA table of a linear model given by ``formula`` (``"y ~ A * B + x"``).

    ``typ`` 1 (sequential), 2 (each term adjusted for all terms that do not contain it; statsmodels' and
    car's type II) or 3 (each term adjusted for all others, with sum-to-zero contrasts so that main effects
    are meaningful in the presence of interactions; an ``Intercept`` row is included as in car::Anova).
    Numeric columns are covariates (ANCOVA) unless wrapped in ``C()``. Unbalanced designs are handled exactly;
    empty cells reduce the degrees of freedom of the terms that need them. ``missing="drop"`` drops rows with
    missing values (with a warning); the default raises :class:`~probwb.errors.DataError`.

    Effect sizes per term: ``eta_sq`` and ``partial_eta_sq`` are the sample shares of the sums of squares
    (descriptive, biased upwards, no interval); ``omega_sq`` and ``partial_omega_sq`` estimate the population
    shares and come with ``confidence`` intervals from the noncentral F of the term (see
    :func:`~probwb.stats.effects.term_effect_sizes`); estimate and interval share one mapping, so the estimate
    always lies inside, and when ``F <= 1`` it is clipped at 0 (``details["effect_size_notes"]`` says so). A
    response that the model fits exactly (constant within its cells) raises :class:`~probwb.errors.DataError`.
    """
    typ = {"I": 1, "II": 2, "III": 3}.get(typ, typ) if isinstance(typ, str) else typ
    if typ not in (1, 2, 3):
        raise SpecError(f"typ must be 1, 2 or 3 (or 'I', 'II', 'III'), found {typ!r}")
    parsed = parse_formula(formula)
    cols = [parsed.response] + sorted({v for t in parsed.terms for v in t})
    check_dataframe(data)
    missing_cols = [c for c in cols if c not in data.columns]
    if missing_cols:
        hints = [f"{c!r}" + (f" (did you mean {closest_match(c, data.columns)!r}?)"
                              if closest_match(c, data.columns) else "") for c in missing_cols]
        raise DataError(f"formula {formula!r} names column(s) {', '.join(hints)} not in the data; columns found: "
                        f"{[str(c) for c in data.columns]}")
    sub = _select(data, cols, missing, "anova")
    design = _Design(sub, parsed)
    warn_list: list[str] = []
    coding = "sum" if typ == 3 else "treatment"
    terms = list(parsed.terms)
    blocks = {t: design.columns(t, coding) for t in terms}
    intercept = np.ones((design.rows, 1))
    full_rss, full_rank = design.rss([intercept] + [blocks[t] for t in terms])
    df_resid = design.n - (full_rank)
    if df_resid <= 0:
        raise DataError(f"anova: the model {formula!r} has no residual degrees of freedom ({design.n} rows, "
                        f"{full_rank} parameters); every cell needs more than one observation")
    # a groups-constant response fits exactly: F would be a ratio of rounding errors (1e64, p = 0)
    if full_rss <= _EXACT_FIT * design.ss_total:
        raise DataError(f"anova: the model {formula!r} fits {parsed.response!r} exactly (residual sum of squares "
                        f"{full_rss:.3g} against a total of {design.ss_total:.3g}): the response is constant within "
                        "the model's cells, so F ratios and p-values are undefined")
    # cells are counted for the terms the model has, not for the full cross of every factor: an additive or
    # blocked design (npk: block + N*P*K) legitimately leaves most of that cross empty or single
    maximal = [t for t in terms if not any(_contains(u, t) for u in terms)]
    for t in terms:
        factor_only = all(v in design.row_codes for v in t)
        check_empty = typ == 3 and factor_only and len(t) > 1
        check_single = factor_only and t in maximal
        if not (check_empty or check_single):
            continue
        possible, empty, single = design.term_cells(t)
        if check_empty and empty:
            warn_list.append(f"term {_term_name(t)!r}: {empty} of {possible} cell(s) are empty; type III sums of "
                             "squares then depend on the contrasts chosen; prefer type II")
        if check_single and single:
            warn_list.append(f"term {_term_name(t)!r}: {single} cell(s) have a single observation, which the "
                             "model fits exactly (they contribute no residual degrees of freedom)")
    ss, dfs = {}, {}
    if typ == 1:
        prev_rss, prev_rank = design.rss([intercept])
        acc = [intercept]
        for t in terms:
            acc = acc + [blocks[t]]
            r, k = design.rss(acc)
            ss[t], dfs[t] = prev_rss - r, k - prev_rank
            prev_rss, prev_rank = r, k
    elif typ == 2:
        for t in terms:
            base = [intercept] + [blocks[u] for u in terms if u != t and not _contains(u, t)]
            r0, k0 = design.rss(base)
            r1, k1 = design.rss(base + [blocks[t]])
            ss[t], dfs[t] = r0 - r1, k1 - k0
    else:
        r0, k0 = design.rss([blocks[t] for t in terms], uncentred=True)
        ss[()] = r0 - full_rss
        dfs[()] = full_rank - k0
        for t in terms:
            r0, k0 = design.rss([intercept] + [blocks[u] for u in terms if u != t])
            ss[t], dfs[t] = r0 - full_rss, full_rank - k0
    ms_resid = full_rss / df_resid
    rows = []
    notes: list[str] = []
    blank = (np.nan,) * 8
    for t in ([()] if typ == 3 else []) + terms:
        name = "Intercept" if t == () else _term_name(t)
        s, d = max(ss[t], 0.0), dfs[t]
        if d == 0:
            warn_list.append(f"term {name!r} is not estimable (0 degrees of freedom: empty cells or aliasing)")
            rows.append((name, s, 0.0, np.nan, np.nan, np.nan) + blank)
            continue
        f = (s / d) / ms_resid
        p = float(stats.f.sf(f, d, df_resid))
        if t == ():
            rows.append((name, s, float(d), s / d, f, p) + blank)
            continue
        om, pom = term_effect_sizes(f, d, df_resid, design.n, design.ss_total, ms_resid, confidence)
        if om.note:
            notes.append(f"term {name!r}: {om.note} (omega squared and partial omega squared)")
        rows.append((name, s, float(d), s / d, f, p, s / design.ss_total, s / (s + full_rss), om.value, *om.ci,
                     pom.value, *pom.ci))
    rows.append(("Residual", full_rss, float(df_resid), ms_resid, np.nan, np.nan) + blank)
    table = pd.DataFrame(rows, columns=["term", "sum_sq", "df", "mean_sq", "F", "PR(>F)", "eta_sq",
                                        "partial_eta_sq", "omega_sq", "omega_sq_ci_low", "omega_sq_ci_high",
                                        "partial_omega_sq", "partial_omega_sq_ci_low", "partial_omega_sq_ci_high"]
                         ).set_index("term")
    kind = "ANCOVA" if design.covariates else "ANOVA"
    for w in warn_list:
        warnings.warn(w, SmallSampleWarning, stacklevel=2)
    return AnovaResult(method=f"type {'I' * typ if typ < 3 else 'III'} {kind} of {formula}", table=table,
                       warnings=tuple(warn_list),
                       details={"levels": design.levels, "covariates": design.covariates,
                                "ss_total": design.ss_total, "confidence": confidence, "effect_size_notes": notes},
                       typ=typ, formula=formula, n=design.n)


def _group_codes(series: pd.Series) -> tuple[np.ndarray, list]:
    """Return (codes 0..k-1, levels) like :func:`_factorize`, without sorting the rows of a categorical.

    Dropping unused categories through pandas sorts every code (np.unique); counting the codes finds the used
    ones in one pass, which is most of a one-way ANOVA's cost on a categorical column.
    """
    if not isinstance(series.dtype, pd.CategoricalDtype):
        return _factorize(series)
    codes = series.cat.codes.to_numpy()
    cats = series.cat.categories
    # missing rows were refused or dropped by _select, so every code is >= 0
    used = np.bincount(codes, minlength=len(cats)) > 0
    if used.all():
        return codes.astype(np.int64, copy=False), list(cats)
    remap = np.cumsum(used) - 1
    return remap[codes], list(cats[used])


def _has_missing(series: pd.Series) -> bool:
    """Return whether ``series`` has a missing value (``Series.isna().any()`` without building a mask Series).

    A numpy float column's only missing value is NaN and a categorical's is code -1; other dtypes go through
    pandas.
    """
    if series.dtype == np.float64:
        return bool(np.isnan(series.to_numpy()).any())
    if isinstance(series.dtype, pd.CategoricalDtype):
        return bool((series.cat.codes.to_numpy() < 0).any())
    return bool(series.isna().any())


def _groups(data: pd.DataFrame, value: str, group: str, missing: str, where: str):
    check_dataframe(data)
    check_columns(data, [value, group])
    y, g = data[value], data[group]
    if len(data) == 0 or _has_missing(y) or _has_missing(g):
        # copying the two columns out is only needed to drop (or report) missing rows
        sub = _select(data, [value, group], missing, where)
        y, g = sub[value], sub[group]
    if not _numeric(y):
        raise DataError(f"{where}: column {value!r} must be numeric, found dtype {y.dtype}")
    y = y.to_numpy(dtype=float)
    codes, levels = _group_codes(g)
    if len(levels) < 2:
        raise DataError(f"{where}: column {group!r} has {len(levels)} group(s); at least 2 are needed")
    return y, codes, levels


def _oneway_stats(y: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Return ``(counts, centred means, centred within SS, shift)`` per group: ``kernels.group_stats`` on
    ``y - mean(y)`` with the row-sized temporaries reused in place (two instead of five arrays of n)."""
    shift = float(np.mean(y))
    yc = y - shift
    counts = np.bincount(codes, minlength=k).astype(float)
    safe = np.where(counts > 0, counts, 1.0)
    means = np.bincount(codes, weights=yc, minlength=k) / safe
    resid = means[codes]
    np.subtract(yc, resid, out=resid)
    del yc
    # the mean of the first-pass residuals corrects each mean to a few ulps even under a huge common offset
    corr = np.bincount(codes, weights=resid, minlength=k) / safe
    np.multiply(resid, resid, out=resid)
    css = np.bincount(codes, weights=resid, minlength=k) - counts * corr * corr
    return counts, means + corr, np.maximum(css, 0.0), shift


def oneway(data: pd.DataFrame, value: str, group: str, *, welch: bool = False, confidence: float = 0.95,
           missing: str = "raise") -> TestResult:
    """Return the one-way ANOVA F test of ``value`` across the levels of ``group``.

    ``welch=True`` gives Welch's heteroscedastic F test (no equal-variance assumption; every group needs at
    least 2 observations and a positive variance). For Welch, the effect size's interval and point value use
    Welch's F and its degrees of freedom. A group with a single
    observation is allowed in the classic test (with a SmallSampleWarning) and refused in Welch's.

    The effect size is omega squared: the population share ``lam / (lam + N)`` of the group effect, estimated
    at ``lam = df1 (F - 1)`` and bounded by inverting the noncentral F in ``lam`` (the same mapping for both, so
    the estimate lies inside its interval). When ``F <= 1`` the estimate is 0 and ``details["effect_size_note"]``
    says the effect is indistinguishable from zero. The sample eta squared is in ``details["eta_sq"]``.
    """
    if welch:
        return welch_anova(data, value, group, confidence=confidence, missing=missing)
    y, codes, levels = _groups(data, value, group, missing, "oneway")
    _check_response(y, value)
    k = len(levels)
    n, means, css, shift = _oneway_stats(y, codes, k)
    warn_list = []
    ones = [str(levels[i]) for i in np.flatnonzero(n == 1)]
    if ones:
        warn_list.append(f"group(s) {ones} of {group!r} have a single observation")
    grand = float(np.sum(n * means) / n.sum())
    ss_b = float(np.sum(n * (means - grand) ** 2))
    ss_w = float(css.sum())
    df_b, df_w = k - 1, int(n.sum()) - k
    if df_w <= 0:
        raise DataError(f"oneway: no within-group degrees of freedom ({int(n.sum())} rows in {k} groups)")
    # same exact-fit rule as anova(): a within SS at rounding level means every group is constant
    if ss_w <= _EXACT_FIT * (ss_b + ss_w):
        raise DataError(f"oneway: every group of {group!r} is constant in {value!r} (within-group variance 0): "
                        "the model fits exactly and the F ratio is undefined")
    f = (ss_b / df_b) / (ss_w / df_w)
    # stats.f.sf's own C function (identical values, f >= 0), without the ~40 us of wrapper checks per call
    p = float(special.fdtrc(float(df_b), float(df_w), f))
    es = omega_squared_from_f(f, df_b, df_w, float(n.sum()), confidence)
    for w in warn_list:
        warnings.warn(w, SmallSampleWarning, stacklevel=2)
    details = {"groups": pd.DataFrame({"n": n.astype(int), "mean": means + shift,
                                       "sd": np.sqrt(css / np.maximum(n - 1, 1))}, index=pd.Index(levels, name=group)),
               "sum_sq_between": ss_b, "sum_sq_within": ss_w, "eta_sq": ss_b / (ss_b + ss_w),
               "omega_sq": es.value, "effect_size_method": es.method}
    if es.note:
        details["effect_size_note"] = es.note
    return TestResult(method="one-way ANOVA", statistic_name="F", statistic=float(f), pvalue=p,
                      df=(float(df_b), float(df_w)), effect_size_name=es.name, effect_size=es.value,
                      effect_size_ci=es.ci, confidence=confidence, n=int(n.sum()), warnings=tuple(warn_list),
                      details=details)


def welch_anova(data: pd.DataFrame, value: str, group: str, *, confidence: float = 0.95,
                missing: str = "raise") -> TestResult:
    """Return Welch's heteroscedastic one-way ANOVA (Welch 1951) of ``value`` across ``group``.

    The effect size is omega squared from Welch's F, ``(k-1)(F-1) / ((k-1)(F-1) + N)`` clipped at 0, with the
    interval that maps the noncentral-F bounds of ``lam`` on ``(k-1, df2_Welch)`` through ``lam / (lam + N)``;
    it estimates the variance-weighted share ``f^2 / (1 + f^2)``, ``f^2 = sum_j (n_j/N) (mu_j - mu_w)^2 /
    sigma_j^2`` with ``mu_w`` the precision-weighted mean.
    """
    y, codes, levels = _groups(data, value, group, missing, "welch_anova")
    _check_response(y, value)
    k = len(levels)
    yc, shift = centre(y)
    n, means, css = group_stats(yc, codes, k)
    small = [str(levels[i]) for i in np.flatnonzero(n < 2)]
    if small:
        raise DataError(f"welch_anova: group(s) {small} of {group!r} have fewer than 2 observations; Welch's test "
                        "needs a variance estimate in every group")
    var = css / (n - 1)
    zero = [str(levels[i]) for i in np.flatnonzero(var == 0)]
    if zero:
        raise DataError(f"welch_anova: group(s) {zero} of {group!r} are constant (variance 0); Welch weights "
                        "would be infinite")
    w = n / var
    mw = float(np.sum(w * means) / w.sum())
    a = float(np.sum(w * (means - mw) ** 2) / (k - 1))
    lam = float(np.sum((1 - w / w.sum()) ** 2 / (n - 1)))
    b = 1 + 2 * (k - 2) / (k * k - 1) * lam
    f = a / b
    df2 = (k * k - 1) / (3 * lam)
    p = float(stats.f.sf(f, k - 1, df2))
    es = omega_squared_from_f(f, k - 1, df2, float(n.sum()), confidence, name="omega squared (from Welch F)")
    details = {"groups": pd.DataFrame({"n": n.astype(int), "mean": means + shift, "sd": np.sqrt(var)},
                                      index=pd.Index(levels, name=group)), "effect_size_method": es.method}
    if es.note:
        details["effect_size_note"] = es.note
    return TestResult(method="Welch one-way ANOVA", statistic_name="F", statistic=f, pvalue=p,
                      df=(float(k - 1), float(df2)), effect_size_name=es.name,
                      effect_size=es.value, effect_size_ci=es.ci, confidence=confidence, n=int(n.sum()),
                      details=details)


def _helmert(k: int) -> np.ndarray:
    # orthonormal contrasts: columns orthogonal to the constant and to each other
    h = np.zeros((k, k - 1))
    for j in range(1, k):
        h[:j, j - 1] = 1.0
        h[j, j - 1] = -float(j)
        h[:, j - 1] /= math.sqrt(j * (j + 1))
    return h


def rm_anova(data: pd.DataFrame, value: str, subject: str, within: str | list[str], *,
             between: str | list[str] | None = None, typ: int = 3, aggregate: str | None = None,
             missing: str = "raise", confidence: float = 0.95) -> AnovaResult:
    """Return a repeated-measures ANOVA with Mauchly's sphericity test and Greenhouse-Geisser / Huynh-Feldt
    corrections (columns ``eps_GG``, ``p_GG``, ``eps_HF``, ``p_HF``; ``sphericity`` has Mauchly's W).

    ``within`` names the repeated factors; ``between`` optional between-subject factors (a split-plot or
    "mixed" design: each within term is tested together with its interactions with the between terms against
    the pooled subject-by-condition error, and the between terms against the variation of subject means).
    Between-subject sums of squares use ``typ`` (2 or 3); within terms test the unweighted grand mean of their
    contrasts (as type III does). Every subject must be observed once in every within cell
    (``aggregate="mean"`` averages repeated cells); when subjects miss cells the design is analysed as a linear
    mixed model by :func:`mixed_anova` instead (the result's ``method`` says so).
    The Huynh-Feldt epsilon is Huynh & Feldt's (1976) original, capped at 1.

    Effect sizes per term: ``partial_eta_sq`` is the sample ``SS / (SS + SS_error)`` (descriptive, biased
    upwards, no interval); ``partial_omega_sq`` estimates the population partial share ``lam / (lam + N)`` (N the
    number of observations, as in :func:`anova`) at ``lam = df (F - 1)`` clipped at 0, with its ``confidence``
    interval from inverting the (sphericity-assuming) noncentral F in ``lam`` (``partial_omega_sq_ci_low``,
    ``partial_omega_sq_ci_high``; notes on clipping in ``details["effect_size_notes"]``).
    """
    _check_confidence(confidence)
    within = [within] if isinstance(within, str) else list(within)
    betw = [] if between is None else ([between] if isinstance(between, str) else list(between))
    if typ not in (2, 3):
        raise SpecError(f"rm_anova: typ must be 2 or 3, found {typ!r}")
    if not within:
        raise SpecError("rm_anova needs at least one within-subject factor")
    sub = _select(data, [value, subject] + within + betw, missing, "rm_anova")
    if not _numeric(sub[value]):
        raise DataError(f"rm_anova: column {value!r} must be numeric, found dtype {sub[value].dtype}")
    _check_response(sub[value].to_numpy(dtype=float), value)
    if betw:
        varies = sub.groupby(subject, observed=True)[betw].nunique()
        bad = varies[(varies > 1).any(axis=1)]
        if len(bad):
            col = bad.columns[(bad > 1).any()][0]
            raise DataError(f"rm_anova: between factor {col!r} changes within subject {bad.index[0]!r}; a "
                            "between-subject factor must be constant for each subject")
    counts = sub.groupby([subject] + within, observed=True).size()
    if (counts > 1).any():
        if aggregate != "mean":
            first = counts[counts > 1].index[0]
            raise DataError(f"rm_anova: subject/cell {first!r} has {int(counts[counts > 1].iloc[0])} rows; expected "
                            "one per subject and within cell (pass aggregate='mean' to average them)")
        sub = sub.groupby([subject] + within + betw, observed=True, as_index=False)[value].mean()
    levels = {w: _factorize(sub[w])[1] for w in within}
    n_cells = int(np.prod([len(v) for v in levels.values()]))
    per_subject = sub.groupby(subject, observed=True).size()
    if (per_subject != n_cells).any():
        res = mixed_anova(sub, value, subject, within, between=betw or None)
        return AnovaResult(method=res.method + " (used because of subjects with missing cells)", table=res.table,
                           warnings=res.warnings, details=res.details, typ=res.typ, formula=res.formula, n=res.n)
    wide = sub.pivot_table(index=subject, columns=within, values=value, observed=True)
    wide = wide.reindex(columns=pd.MultiIndex.from_product([levels[w] for w in within]) if len(within) > 1
                        else levels[within[0]])
    y = wide.to_numpy(dtype=float)
    y = y - float(np.mean(y))  # centring removes a huge common offset before any sum of squares
    n = y.shape[0]
    if betw:
        bframe = sub.groupby(subject, observed=True)[betw].first().reindex(wide.index).reset_index(drop=True)
        bcodes = [_factorize(bframe[b])[0] for b in betw]
        cell, _, n_groups = combine_codes(bcodes, [int(c.max()) + 1 for c in bcodes])
        bformula = "~ " + " * ".join(f"C({b})" for b in betw)
    else:
        bframe, cell, n_groups = None, np.zeros(n, dtype=np.int64), 1
    df_e = n - n_groups
    if df_e <= 0:
        raise DataError(f"rm_anova: {n} subject(s) in {n_groups} between-subject group(s) leave no error degrees "
                        "of freedom; every group needs at least 2 subjects")
    between_terms = parse_formula("z " + bformula).terms if betw else ()

    def stratum(z: np.ndarray) -> tuple[np.ndarray, float, dict]:
        """Residuals, intercept SS and between-term SS of each column of ``z`` (subjects x contrasts)."""
        resid = np.empty_like(z)
        ss_int, ss_terms = 0.0, {t: 0.0 for t in between_terms}
        for j in range(z.shape[1]):
            _, means_j, _ = group_stats(z[:, j], cell, n_groups)
            resid[:, j] = z[:, j] - means_j[cell]
            if not betw:
                ss_int += n * float(z[:, j].mean()) ** 2
                continue
            if np.ptp(z[:, j]) == 0:
                ss_int += n * float(z[0, j]) ** 2
                continue
            frame = bframe.assign(z=z[:, j])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SmallSampleWarning)
                t3 = anova(frame, "z " + bformula, typ=3).table
                tt = t3 if typ == 3 else anova(frame, "z " + bformula, typ=typ).table
            ss_int += float(t3.loc["Intercept", "sum_sq"])
            for t in between_terms:
                ss_terms[t] += float(tt.loc[_term_name(t), "sum_sq"])
        return resid, ss_int, ss_terms

    notes: list[str] = []

    def row(name, ss, df, ss_err, df_err, gg=np.nan, hf=np.nan):
        f = (ss / df) / (ss_err / df_err)
        p = float(stats.f.sf(f, df, df_err))
        p_gg = float(stats.f.sf(f, df * gg, df_err * gg)) if np.isfinite(gg) else np.nan
        p_hf = float(stats.f.sf(f, df * hf, df_err * hf)) if np.isfinite(hf) else np.nan
        pom = omega_squared_from_f(f, df, df_err, float(y.size), confidence, name="partial omega squared")
        if pom.note:
            notes.append(f"term {name!r}: {pom.note} (partial omega squared)")
        return (name, ss, float(df), ss / df, f, p, ss / (ss + ss_err), ss_err, float(df_err), gg, p_gg, hf, p_hf,
                pom.value, *pom.ci)

    ls = [len(levels[w]) for w in within]
    rows, sph = [], []
    warn_list: list[str] = []
    if betw:
        z0 = y.sum(axis=1, keepdims=True) / math.sqrt(y.shape[1])
        resid, _, ss_terms = stratum(z0)
        ss_err0 = float(np.sum(resid ** 2))
        if ss_err0 == 0:
            raise DataError("rm_anova: subject means do not vary within the between-subject groups")
        for t in between_terms:
            dft = int(np.prod([len(_factorize(bframe[b])[1]) - 1 for b in t]))
            rows.append(row(_term_name(t), ss_terms[t], dft, ss_err0, df_e))
    for k in range(1, len(within) + 1):
        for term in itertools.combinations(range(len(within)), k):
            c = np.ones((1, 1))
            for i, li in enumerate(ls):
                block = _helmert(li) if i in term else np.ones((li, 1)) / math.sqrt(li)
                c = np.kron(c, block)
            z = y @ c
            d = z.shape[1]
            resid, ss_eff, ss_terms = stratum(z)
            e = resid.T @ resid
            ss_err = float(np.trace(e))
            df_err = d * df_e
            name = ":".join(within[i] for i in term)
            if ss_err == 0:
                raise DataError(f"rm_anova: the error term of {name!r} is zero (no subject-by-condition variation)")
            s = e / df_e
            gg = float(np.trace(s) ** 2 / (d * np.trace(s @ s)))
            denom = d * (df_e - d * gg)
            hf = min(1.0, (n * d * gg - 2) / denom) if denom > 0 else 1.0
            rows.append(row(name, ss_eff, d, ss_err, df_err, gg, hf))
            for t in between_terms:
                dft = int(np.prod([len(_factorize(bframe[b])[1]) - 1 for b in t]))
                rows.append(row(f"{name}:{_term_name(t)}", ss_terms[t], d * dft, ss_err, df_err, gg, hf))
            if d > 1 and df_e >= d:
                det = np.linalg.det(s)
                w_stat = float(det / (np.trace(s) / d) ** d) if det > 0 else 0.0
                corr = (2 * d * d + d + 2) / (6 * d * df_e)
                chi2 = -df_e * (1 - corr) * math.log(w_stat) if w_stat > 0 else math.inf
                dfm = d * (d + 1) / 2 - 1
                pm = float(stats.chi2.sf(chi2, dfm))
                sph.append((name, w_stat, chi2, dfm, pm, gg, hf))
                if pm < 0.05:
                    warn_list.append(f"sphericity is doubtful for {name!r} (Mauchly W = {w_stat:.3f}, p = {pm:.3g});"
                                     " read the Greenhouse-Geisser corrected p-value")
            elif d > 1:
                warn_list.append(f"Mauchly's test for {name!r} needs more subjects than {d} contrasts")
                sph.append((name, np.nan, np.nan, d * (d + 1) / 2 - 1, np.nan, gg, hf))
    table = pd.DataFrame(rows, columns=["term", "sum_sq", "df", "mean_sq", "F", "PR(>F)", "partial_eta_sq",
                                        "sum_sq_error", "df_error", "eps_GG", "p_GG", "eps_HF", "p_HF",
                                        "partial_omega_sq", "partial_omega_sq_ci_low", "partial_omega_sq_ci_high"]
                         ).set_index("term")
    sphericity = pd.DataFrame(sph, columns=["term", "W", "chi2", "df", "pvalue", "eps_GG", "eps_HF"]
                              ).set_index("term")
    for w in warn_list:
        warnings.warn(w, SmallSampleWarning, stacklevel=2)
    design = " x ".join(within) + (f" with between {' x '.join(betw)}" if betw else "")
    return AnovaResult(method=f"repeated-measures ANOVA of {value} by {design}", table=table,
                       warnings=tuple(warn_list),
                       details={"n_subjects": n, "n_groups": n_groups, "confidence": confidence,
                                "effect_size_method": "noncentral F inversion; estimate df (F - 1) on the same scale",
                                "effect_size_notes": notes}, typ="rm",
                       formula=f"{value} ~ {'*'.join(within + betw)} + Error({subject}/{'*'.join(within)})",
                       n=int(y.size), sphericity=sphericity)


def mixed_anova(data: pd.DataFrame, value: str, subject: str, within: str | list[str] | None = None, *,
                between: str | list[str] | None = None, reml: bool = True, missing: str = "raise") -> AnovaResult:
    """Return Wald tests of every fixed term of a linear mixed model with a random intercept per subject.

    The fixed part is the full factorial of ``within`` and ``between`` factors in sum-to-zero coding; each
    term's coefficients are tested jointly (``chi2`` on ``df``, with ``F = chi2 / df``). Works for unbalanced
    data and subjects with missing cells, which the classic repeated-measures ANOVA cannot use. Fitted with
    statsmodels' MixedLM.
    """
    import statsmodels.api as sm

    within = [] if within is None else ([within] if isinstance(within, str) else list(within))
    betw = [] if between is None else ([between] if isinstance(between, str) else list(between))
    if not within and not betw:
        raise SpecError("mixed_anova needs at least one within or between factor")
    factors = within + betw
    sub = _select(data, [value, subject] + factors, missing, "mixed_anova")
    y = sub[value].to_numpy(dtype=float)
    _check_response(y, value)
    codes, sizes = {}, {}
    for f in factors:
        c, lev = _factorize(sub[f])
        if len(lev) < 2:
            raise DataError(f"mixed_anova: factor {f!r} has a single level")
        codes[f], sizes[f] = c, len(lev)
    terms = [t for k in range(1, len(factors) + 1) for t in itertools.combinations(factors, k)]
    blocks = [np.ones((len(y), 1))]
    spans, start = {}, 1
    for t in terms:
        b = term_columns(t, codes, sizes, {}, len(y), "sum")
        blocks.append(b)
        spans[t] = slice(start, start + b.shape[1])
        start += b.shape[1]
    x = np.hstack(blocks)
    groups = _factorize(sub[subject])[0]
    shift = float(y.mean())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sm.MixedLM(y - shift, x, groups=groups).fit(reml=reml)
    warn_list = [str(w.message).split("\n")[0] for w in caught if "converge" in str(w.message).lower()
                 or "boundary" in str(w.message).lower()]
    beta = np.asarray(fit.fe_params)
    cov = np.asarray(fit.cov_params())[: x.shape[1], : x.shape[1]]
    rows = []
    for t in terms:
        sl = spans[t]
        b, v = beta[sl], cov[sl, sl]
        chi2 = float(b @ np.linalg.solve(v, b))
        df = sl.stop - sl.start
        rows.append((":".join(t), chi2, float(df), chi2 / df, float(stats.chi2.sf(chi2, df))))
    table = pd.DataFrame(rows, columns=["term", "chi2", "df", "F", "pvalue"]).set_index("term")
    for w in warn_list:
        warnings.warn(w, SmallSampleWarning, stacklevel=2)
    return AnovaResult(method="linear mixed model (random intercept per subject) Wald tests", table=table,
                       warnings=tuple(warn_list),
                       details={"subject_variance": float(np.asarray(fit.cov_re).ravel()[0]),
                                "residual_variance": float(fit.scale), "converged": bool(fit.converged)},
                       typ="mixed", formula=f"{value} ~ {'*'.join(factors)} + (1|{subject})", n=len(y))


def kruskal(data: pd.DataFrame, value: str, group: str, *, missing: str = "raise", confidence: float = 0.95,
            n_boot: int = 2000, random_state=None) -> TestResult:
    """Return the Kruskal-Wallis H test (tie-corrected) with epsilon squared ``H / (n - 1)`` as effect size.

    Its ``confidence`` interval is a percentile bootstrap (``n_boot`` resamples within each group, drawn with
    ``random_state``; see :func:`~probwb.stats.effects.epsilon_squared`).
    """
    _check_confidence(confidence)
    y, codes, levels = _groups(data, value, group, missing, "kruskal")
    _check_response(y, value)
    samples = [y[codes == i] for i in range(len(levels))]
    h, p = stats.kruskal(*samples)
    n = y.size
    es = epsilon_squared(samples, confidence=confidence, n_boot=n_boot, random_state=random_state)
    return TestResult(method="Kruskal-Wallis test", statistic_name="H", statistic=float(h), pvalue=float(p),
                      df=float(len(levels) - 1), effect_size_name=es.name, effect_size=es.value,
                      effect_size_ci=es.ci, confidence=confidence, n=n,
                      details={"effect_size_method": es.method, **({"effect_size_note": es.note} if es.note else {})})


def friedman(data: pd.DataFrame, value: str, subject: str, within: str, *, missing: str = "raise",
             confidence: float = 0.95, n_boot: int = 2000, random_state=None) -> TestResult:
    """Return Friedman's rank test of ``value`` across ``within`` conditions blocked by ``subject``, with
    Kendall's W as effect size. Every subject must have exactly one value per condition.

    W's ``confidence`` interval is a percentile bootstrap (``n_boot`` resamples of subjects, drawn with
    ``random_state``; see :func:`~probwb.stats.effects.kendalls_w`).
    """
    _check_confidence(confidence)
    sub = _select(data, [value, subject, within], missing, "friedman")
    wide = sub.pivot_table(index=subject, columns=within, values=value, aggfunc="count", observed=True)
    if wide.isna().any().any() or (wide != 1).any().any():
        raise DataError(f"friedman: every subject needs exactly one {value!r} per level of {within!r}; "
                        "some subjects miss a condition or repeat one")
    wide = sub.pivot_table(index=subject, columns=within, values=value, observed=True)
    if wide.shape[1] < 3:
        raise DataError(f"friedman needs at least 3 conditions, found {wide.shape[1]} (use a Wilcoxon test)")
    q, p = stats.friedmanchisquare(*[wide[c].to_numpy(float) for c in wide.columns])
    n, k = wide.shape
    es = kendalls_w(wide.to_numpy(float), confidence=confidence, n_boot=n_boot, random_state=random_state)
    return TestResult(method="Friedman test", statistic_name="Q", statistic=float(q), pvalue=float(p),
                      df=float(k - 1), effect_size_name=es.name, effect_size=es.value,
                      effect_size_ci=es.ci, confidence=confidence, n=int(n * k),
                      details={"effect_size_method": es.method, **({"effect_size_note": es.note} if es.note else {})})
