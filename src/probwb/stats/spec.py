"""Run the ``tests:`` list of a ``kind: stats`` model spec (see docs/CONTRACTS.md).

A spec looks like::

    data: {source: simulate_patient_cohort, args: {n_patients: 3000, random_state: 7}, table: patients}
    model: {kind: stats}
    tests:
      - {test: anova, args: {formula: "length_of_stay ~ age_band * treatment", typ: 2}}
      - {test: ab, args: {metric: redemption}, title: Redemption by coupon}

Each test names a function of :mod:`probwb.stats` (see ``TESTS``); its first argument is the selected data
table (``table:`` in a test picks another table of the data object), ``args`` are its keyword arguments.
``test: ab`` works on the whole coupon-campaign object (:func:`~probwb.stats.ab.coupon_ab`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from probwb.core.api import renamed_arguments
from probwb.core.validation import closest_match
from probwb.errors import SpecError
from probwb.report.tables import result_frame, units_for
from probwb.stats import ab, htests, posthoc
from probwb.stats.regress import regress as _regress

# the package re-exports the function ``anova``, which hides the module of the same name
anova = importlib.import_module("probwb.stats.anova")

__all__ = ["SPEC_KEYS", "TESTS", "SpecResults", "run_spec", "validate_spec"]


@dataclass(frozen=True)
class SpecResults:
    """What a stats spec produces (saved by ``probwb run``): the titles and result objects of its tests."""

    titles: tuple[str, ...]
    results: tuple[Any, ...]

    def __getitem__(self, title: str) -> Any:
        """Return the result of the test with this title."""
        return self.results[self.titles.index(title)]

    def summary(self) -> pd.DataFrame:
        """Return one row per test: title, method and the one-sentence interpretation."""
        return pd.DataFrame({"title": list(self.titles), "method": [r.method for r in self.results],
                             "interpretation": [r.interpret() for r in self.results]})

    def save(self, path: Any) -> Any:
        """Save the results atomically as a ``.pwb`` model file (each result's fields as data; a regression's
        statsmodels object is not stored); return the path."""
        from probwb.core.io import save_model

        return save_model(path, self, config={})

    @classmethod
    def load(cls, path: Any) -> SpecResults:
        """Load results saved by :meth:`save` and return them; a foreign, damaged or edited file raises
        ModelFileError."""
        from probwb.core.io import load_model

        return load_model(path, cls)

    def _to_file_state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """Return ``(state, extras)`` for probwb.core.io.save_model: per result its class name and fields."""
        import dataclasses

        classes = _result_classes()
        out = []
        for r in self.results:
            name = type(r).__name__
            if classes.get(name) is not type(r):
                raise SpecError(f"cannot save a {name} result: expected one of {sorted(classes)}")
            fields = {f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "model_"}
            out.append({"class": name, "fields": fields})
        return {"titles": list(self.titles), "results": out}, {}

    @classmethod
    def _from_file_state(cls, state: dict[str, Any], extras: dict[str, bytes], config: dict[str, Any]) -> SpecResults:
        """Rebuild saved results through the result classes' constructors; return them."""
        import dataclasses

        from probwb.errors import ModelFileError

        classes = _result_classes()
        results = []
        for item in state["results"]:
            rc = classes.get(item["class"]) if isinstance(item.get("class"), str) else None
            if rc is None:
                raise ModelFileError(f"stats results file: unknown result class {item.get('class')!r}; expected "
                                     f"one of {sorted(classes)}")
            allowed = {f.name for f in dataclasses.fields(rc) if f.init and f.name != "model_"}
            fields = dict(item["fields"])
            if "hdi_prob" in fields and "interval" in allowed and "interval" not in fields:
                # files saved before ABResult's hdi_prob became interval (#20)
                fields["interval"] = fields.pop("hdi_prob")
            unknown = sorted(set(fields) - allowed)
            if unknown:
                raise ModelFileError(f"stats results file: {item['class']} has no field(s) {unknown}")
            results.append(rc(**fields))
        titles = tuple(str(t) for t in state["titles"])
        if len(titles) != len(results):
            raise ModelFileError(f"stats results file: {len(titles)} titles for {len(results)} results")
        return cls(titles, tuple(results))


def _result_classes() -> dict[str, type]:
    """The result classes a stats results file may hold, by name."""
    from probwb.stats.regress import RegressionResult
    from probwb.stats.results import ABResult, AnovaResult, TableResult, TestResult

    return {c.__name__: c for c in (TestResult, TableResult, AnovaResult, ABResult, RegressionResult)}


def _shapiro(frame: pd.DataFrame, column: str):
    return htests.shapiro(frame[column])


#: test name -> (function, how it takes the data: "frame", "object" or "column")
TESTS: dict[str, tuple[Callable[..., Any], str]] = {
    "anova": (anova.anova, "frame"),
    "oneway": (anova.oneway, "frame"),
    "welch": (anova.welch_anova, "frame"),
    "rm_anova": (anova.rm_anova, "frame"),
    "mixed_anova": (anova.mixed_anova, "frame"),
    "kruskal": (anova.kruskal, "frame"),
    "friedman": (anova.friedman, "frame"),
    "ttest": (htests.ttest, "frame"),
    "mannwhitney": (htests.mannwhitney, "frame"),
    "chi2": (htests.chi2_independence, "frame"),
    "levene": (htests.levene, "frame"),
    "shapiro": (_shapiro, "frame"),
    "tukey": (posthoc.tukey_hsd, "frame"),
    "games_howell": (posthoc.games_howell, "frame"),
    "pairwise": (posthoc.pairwise_tests, "frame"),
    "rate_ab": (ab.rate_ab, "frame"),
    "spend_ab": (ab.spend_ab, "frame"),
    "ab": (ab.coupon_ab, "object"),
    "regress": (_regress, "frame"),
}

SPEC_KEYS: dict[str, dict[str, Any]] = {
    "model": {},
    "tests": {
        "test": (str, f"which test: {', '.join(TESTS)}"),
        "args": (dict, "keyword arguments of the test function (column names, formula, ...)"),
        "title": (str, "a heading for this test in the report"),
        "table": (str, "run on this table of the data object instead of the selected one"),
    },
}

_RANDOM = {"ab", "rate_ab", "spend_ab"}


def validate_spec(spec: dict[str, Any]) -> None:
    """Check every test of ``spec["tests"]``: a known test name and argument names its function accepts."""
    tests = spec.get("tests")
    if not tests:
        raise SpecError("tests is missing or empty: a stats spec needs a list of tests (test: anova, args: ...)")
    for i, item in enumerate(tests):
        name = item.get("test")
        if name not in TESTS:
            hit = closest_match(str(name), TESTS)
            hint = f" (did you mean {hit!r}?)" if hit else ""
            raise SpecError(f"tests[{i}].test: unknown test {name!r}{hint}; tests: {', '.join(TESTS)}")
        func, _ = TESTS[name]
        params = list(inspect.signature(func).parameters)[1:]
        # an old spelling (hdi_prob=) still runs, warning from the call itself, for one release (#20)
        old_names = renamed_arguments(func)
        for key in item.get("args", {}) or {}:
            if key not in params and key not in old_names:
                hit = closest_match(str(key), params)
                hint = f" (did you mean {hit!r}?)" if hit else ""
                raise SpecError(f"tests[{i}].args.{key}: {name} has no argument {key!r}{hint}; "
                                f"arguments: {', '.join(params)}")


def _anova_figures(name: str, title: str, frame: pd.DataFrame, args: dict[str, Any],
                   units: dict[str, str], drawn: set[tuple[str, str]]) -> dict[str, Any]:
    """The figures a statistician checks next to an ANOVA: group means with intervals, the interaction plot of
    a two-way model, residuals against fitted values and the QQ plot of the residuals (titles -> Figures).
    ``drawn`` holds the (value, group) pairs whose means an earlier test already showed."""
    from probwb.stats import plots

    out: dict[str, Any] = {}
    level = float(args.get("confidence", 0.95))
    if name in ("oneway", "welch", "kruskal") and {"value", "group"} <= set(args) \
            and (args["value"], args["group"]) not in drawn:
        value, group = args["value"], args["group"]
        drawn.add((value, group))
        ax = plots.group_means_plot(frame, value, group, confidence=level, unit=units.get(value))
        out[f"{title}: {value} by {group}, means with {100 * level:g}% CI"] = ax.figure
    if name != "anova":
        return out
    parsed = anova.parse_formula(args["formula"])
    factors = [v for t in parsed.terms if len(t) == 1 for v in t
               if v in parsed.forced_categorical or not pd.api.types.is_numeric_dtype(frame[v])]
    value, unit = parsed.response, units.get(parsed.response)
    for f in factors:
        if (value, f) in drawn:
            continue
        drawn.add((value, f))
        ax = plots.group_means_plot(frame, value, f, confidence=level, unit=unit)
        out[f"{title}: {value} by {f}, means with {100 * level:g}% CI"] = ax.figure
    pairs = [t for t in parsed.terms if len(t) == 2 and set(t) <= set(factors)]
    for x, trace in pairs:
        ax = plots.interaction_plot(frame, value, x, trace, confidence=level, unit=unit)
        out[f"{title}: interaction of {x} and {trace} ({100 * level:g}% CI)"] = ax.figure
    fit = plots.anova_residuals(frame, args["formula"])
    out[f"{title}: residuals against fitted values"] = plots.residuals_plot(fit["fitted"], fit["residual"]).figure
    out[f"{title}: normal QQ plot of the residuals"] = plots.qq_plot(
        fit["residual"].to_numpy(), title="Normal QQ plot of the residuals").figure
    return out


def run_spec(spec: dict[str, Any], *, quick: bool = False, random_state=None) -> dict[str, Any]:
    """Run every test of a ``kind: stats`` spec; return the dict the report reads (tests, tables, figures,
    text, warnings). ``quick`` uses fewer posterior draws for Bayesian A/B tests."""
    from probwb.report.data import load_data
    from probwb.stats import plots

    validate_spec(spec)
    if "data" not in spec:
        raise SpecError("data is missing: a stats spec needs a data: section")
    loaded = load_data(spec["data"])
    units = units_for(spec["data"], (spec.get("report") or {}).get("units"))
    drawn: set[tuple[str, str]] = set()
    results, titles, tables, figures, text, warns = [], [], {}, {}, [], []
    for i, item in enumerate(spec["tests"]):
        name = item["test"]
        func, how = TESTS[name]
        args = dict(item.get("args") or {})
        if name in _RANDOM:
            args.setdefault("random_state", random_state)
            if quick:
                args["n_draws"] = min(int(args.get("n_draws", 50_000)), 4_000)
        if how == "object":
            target = loaded.obj
        else:
            tname = item.get("table", loaded.selected)
            target = loaded.tables.get(tname) if tname is not None else loaded.frame
            if target is None:
                raise SpecError(f"tests[{i}]: no table to run {name!r} on; choose one with table: "
                                f"({', '.join(loaded.tables)})")
        res = func(target, **args)
        title = item.get("title") or f"{res.method}"
        results.append(res)
        titles.append(title)
        tables[title] = result_frame(res, units)
        text.append(res.interpret())
        warns += [f"{title}: {w}" for w in res.warnings]
        if name in _RANDOM:
            figures[title] = plots.ab_posterior_plot(res, kind="lift").figure
        if how == "frame":
            figures.update(_anova_figures(name, title, target, args, units, drawn))
    return {"model": SpecResults(tuple(titles), tuple(results)), "tests": results, "tables": tables,
            "figures": figures, "text": text, "warnings": warns, "data": loaded.frame}
