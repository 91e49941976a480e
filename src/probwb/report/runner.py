"""Run a validated spec through its family and collect everything a report shows.

:func:`run_report` validates the spec, loads and summarises its data, calls the family's
``run_spec(spec, quick=, random_state=)``, and turns the returned dict (see docs/CONTRACTS.md, "What
run_spec returns") into a :class:`Report`: tables as DataFrames, figures as PNG bytes (the matplotlib
figures are closed), test results as sentences plus tables, a diagnostics verdict, warnings (the family's
own plus every probwb / user warning raised during the run) and a reproducibility footer.
:func:`report_to_json` gives the same numbers as plain JSON types.
"""

from __future__ import annotations

import datetime as _dt
import io
import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.logcontext import get_logger, log_context
from probwb.core.validation import plain_number, short_repr
from probwb.errors import DataError, ModelError, ProbwbWarning
from probwb.report.data import LoadedData, data_hash, load_data, summarise_table
from probwb.report.registry import BAYESIAN_KINDS
from probwb.report.schema import SECTIONS, ValidatedSpec, formula_column_problems, spec_error, validate_spec
from probwb.report.tables import add_units, result_frame, units_for

__all__ = ["Report", "run_report", "check_seed", "report_to_json", "DEFAULT_SEED", "package_versions", "jsonable"]

logger = get_logger("probwb.report")

#: seed used when neither --seed nor the spec's fit.random_state / fit.seed gives one
DEFAULT_SEED = 2026

_PACKAGES = ("probwb", "numpy", "scipy", "pandas", "matplotlib", "pymc", "pytensor", "arviz", "nutpie",
             "pgmpy", "hmmlearn", "statsmodels", "pyyaml")

_VERDICT_ORDER = {"ok": 0, "warn": 1, "fail": 2}

#: warnings about the machine rather than the model; the report moves them to the footer
_ENVIRONMENT_NOTICES = ("PyTensor could not link to a BLAS",)


@dataclass
class Report:
    """Everything one report shows; :mod:`probwb.report.html` renders it, :func:`report_to_json` exports it."""

    name: str
    title: str
    description: str
    kind: str
    spec: dict[str, Any]
    sections: tuple[str, ...]
    max_rows: int
    model_class: str | None = None
    data: dict[str, Any] | None = None
    summary: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    tests: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    footer: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict, repr=False)


def package_versions() -> dict[str, str]:
    """Return the installed versions of probwb and the libraries its results depend on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def check_seed(value: Any, where: str = "seed") -> int:
    """Return ``value`` as a seed (a non-negative int), else raise DataError naming ``where`` and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 0:
        raise DataError(f"{where} must be a non-negative integer, found {type(plain_number(value)).__name__} "
                        f"{short_repr(value)}")
    return int(value)


def _default_seed(spec: Mapping[str, Any]) -> int:
    fit = spec.get("fit") or {}
    for key in ("random_state", "seed"):
        value = fit.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return DEFAULT_SEED


def _figure_png(fig: Any, title: str) -> bytes:
    if isinstance(fig, (bytes, bytearray)):
        if not bytes(fig).startswith(b"\x89PNG"):
            raise ModelError(f"figure {title!r} was given as bytes that are not a PNG image")
        return bytes(fig)
    if isinstance(fig, np.ndarray) and fig.size:
        fig = fig.flat[0]  # ArviZ plots return an array of Axes that share one Figure
    figure = getattr(fig, "figure", None) if not hasattr(fig, "savefig") else fig
    if figure is None or not hasattr(figure, "savefig"):
        raise ModelError(f"figure {title!r} is a {type(fig).__name__}, expected a matplotlib Figure or Axes")
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=96, bbox_inches="tight", facecolor="white")
    plt.close(figure)
    return buf.getvalue()


def _as_frame(obj: Any, what: str) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, pd.Series):
        return obj.to_frame()
    raise ModelError(f"{what} is a {type(obj).__name__}, expected a pandas DataFrame")


def _diagnostics(diag: Any, kind: str) -> dict[str, Any]:
    """Normalise a DiagnosticsResult (or a dict of them, or its to_dict()) into a banner dict."""
    if diag is None:
        if kind in BAYESIAN_KINDS:
            return {"verdict": "none", "reasons": [
                "This fit produced no MCMC diagnostics (it did not sample, e.g. a MAP or optimisation fit), "
                "so its intervals are not checked by R-hat, ESS or divergences."]}
        return {"verdict": "not applicable", "reasons": [
            f"The {kind!r} family is not fitted by MCMC, so sampler diagnostics do not apply."]}
    if isinstance(diag, Mapping) and "verdict" not in diag:
        parts = {str(k): _diagnostics(v, kind) for k, v in diag.items()}
        verdicts = [p["verdict"] for p in parts.values() if p["verdict"] in _VERDICT_ORDER]
        worst = max(verdicts, key=_VERDICT_ORDER.__getitem__) if verdicts else "not applicable"
        reasons = [f"{k}: {r}" for k, p in parts.items() for r in p["reasons"]]
        tables = [p["table"].assign(fit=k) for k, p in parts.items() if isinstance(p.get("table"), pd.DataFrame)]
        out: dict[str, Any] = {"verdict": worst, "reasons": reasons,
                               "n_divergent": sum(int(p.get("n_divergent") or 0) for p in parts.values())}
        if tables:
            out["table"] = pd.concat(tables)
        return out
    if isinstance(diag, Mapping):
        verdict = diag.get("verdict")
        reasons = list(diag.get("reasons", []))
        table = diag.get("table")
        if isinstance(table, list):
            table = pd.DataFrame(table)
        extra = {k: diag.get(k) for k in ("n_divergent", "n_draws", "n_chains")}
    else:
        verdict = getattr(diag, "verdict", None)
        reasons = list(getattr(diag, "reasons", []) or [])
        table = getattr(diag, "table", None)
        extra = {k: getattr(diag, k, None) for k in ("n_divergent", "n_draws", "n_chains")}
    if verdict not in _VERDICT_ORDER:
        raise ModelError(f"diagnostics verdict must be 'ok', 'warn' or 'fail', found {verdict!r}")
    out = {"verdict": verdict, "reasons": [str(r) for r in reasons]}
    out.update({k: int(v) for k, v in extra.items() if v is not None})
    if isinstance(table, pd.DataFrame):
        out["table"] = table
    return out


def _tests(items: Any, units: Mapping[str, str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    out, warns = [], []
    for i, item in enumerate(items or []):
        if not (hasattr(item, "interpret") and hasattr(item, "to_frame")):
            raise ModelError(f"tests[{i}] is a {type(item).__name__}: expected a probwb.stats result "
                             "with interpret() and to_frame()")
        title = str(getattr(item, "method", None) or type(item).__name__)
        # interval columns carry the result's own level ("estimate 95% CI low"), arms in natural order
        out.append({"title": title, "sentence": str(item.interpret()), "table": _as_frame(result_frame(item, units),
                                                                                        f"tests[{i}]")})
        warns += [f"{title}: {w}" for w in getattr(item, "warnings", ()) or ()]
    return out, warns


def _lines(value: Any) -> list[str]:
    """A list of sentences; one string is one sentence (the contract asks for a list, but be forgiving)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(v) for v in value]


def _metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten ``{name: number | {sub: number}}`` into ``{"name" or "name.sub": float}``."""
    out: dict[str, float] = {}
    items = metrics.items() if isinstance(metrics, Mapping) else metrics.to_dict().items()
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (Mapping, pd.Series)):
            out.update(_metrics(value, prefix=f"{name}."))
            continue
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise ModelError(f"metric {name!r} is a {type(value).__name__}, expected a number") from None
    return out


def _warning_text(w: warnings.WarningMessage) -> str | None:
    if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
        return None
    if not (issubclass(w.category, ProbwbWarning) or issubclass(w.category, (UserWarning, RuntimeWarning))):
        return None
    return f"{w.category.__name__}: {w.message}"


def _repeats(message: str, reasons: str) -> bool:
    if not reasons or "verdict" not in message:
        return False
    parts = [p.strip() for p in message.split("verdict", 1)[-1].split(":", 1)[-1].split(";") if p.strip()]
    return bool(parts) and all(p in reasons for p in parts)


def _data_section(spec: dict[str, Any], base_dir: Path | None) -> tuple[dict[str, Any] | None, LoadedData | None]:
    if "data" not in spec:
        return None, None
    loaded = load_data(spec["data"], base_dir=base_dir)
    tables = {}
    for name, frame in loaded.tables.items():
        if loaded.selected is not None and name != loaded.selected:
            tables[name] = {"rows": int(len(frame)), "columns": int(frame.shape[1])}
        else:
            tables[name] = summarise_table(frame)
    out = {"source": spec["data"]["source"], "args": dict(spec["data"].get("args") or {}),
           "selected": loaded.selected, "tables": tables, "other": dict(loaded.other),
           "hash": data_hash(loaded)}
    if "path" in spec["data"]:
        out["path"] = spec["data"]["path"]
    return out, loaded


def run_report(spec: dict[str, Any] | str | os.PathLike, *, seed: int | None = None, quick: bool = False,
               on_step: Callable[[str], None] | None = None) -> Report:
    """Validate and run ``spec`` (a dict or a YAML path); return the :class:`Report` to render.

    ``seed`` (default: the spec's ``fit.random_state`` / ``fit.seed``, else ``DEFAULT_SEED``) is passed to
    the family's ``run_spec`` as ``random_state``; ``quick`` asks the family for a fast, smaller run.
    ``on_step`` receives a short line before each stage (the CLI prints it as progress). Raises
    SpecError before any work when the spec is invalid.
    """
    step = on_step or (lambda msg: logger.info(msg))
    started = _dt.datetime.now(_dt.UTC)
    t0 = time.perf_counter()
    step("validating spec")
    validated: ValidatedSpec = spec if isinstance(spec, ValidatedSpec) else validate_spec(spec)
    # every log line and progress bar of the run (EM restarts, cross-validation folds) names the model
    with log_context(model=validated.name):
        return _run_validated(validated, seed=seed, quick=quick, step=step, started=started, t0=t0)


def _run_validated(validated: ValidatedSpec, *, seed: int | None, quick: bool, step: Callable[[str], None],
                   started: _dt.datetime, t0: float) -> Report:
    spec_dict = validated.spec
    base_dir = validated.path.parent if validated.path is not None else None
    seed = _default_seed(spec_dict) if seed is None else check_seed(seed, "seed")
    report_opts = spec_dict.get("report", {})
    rep = Report(name=validated.name, title=validated.title, description=spec_dict.get("description", ""),
                 kind=validated.kind, spec=spec_dict,
                 sections=tuple(report_opts.get("sections") or SECTIONS),
                 max_rows=int(report_opts.get("max_rows", 60)))
    loaded = None
    if "data" in spec_dict:
        step(f"loading data ({spec_dict['data']['source']})")
        rep.data, loaded = _data_section(spec_dict, base_dir)
        # a formula naming a column the data lack fails here, before the fit, with every such column
        missing = formula_column_problems(spec_dict, loaded=loaded)
        if missing:
            raise spec_error(missing)
    step(f"fitting the {validated.kind!r} model{' (quick run)' if quick else ''}")
    t_fit = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = validated.module.run_spec(spec_dict, quick=quick, random_state=seed)
    fit_seconds = time.perf_counter() - t_fit
    if not isinstance(result, dict):
        raise ModelError(f"{validated.module.__name__}.run_spec returned a {type(result).__name__}, "
                         "expected a dict (see docs/CONTRACTS.md)")
    step("collecting results")
    rep.result = result
    used = result.get("data")
    if rep.data is not None and isinstance(used, pd.DataFrame):
        # show the table the family actually fitted only when it differs (a quick run may subsample)
        same = loaded is not None and loaded.frame is not None and (used is loaded.frame or used.equals(loaded.frame))
        if not same:
            rep.data["used"] = summarise_table(used)
    model = result.get("model")
    rep.model_class = None if model is None else f"{type(model).__module__}.{type(model).__qualname__}"
    if result.get("summary") is not None:
        rep.summary = _as_frame(result["summary"], "summary")
    rep.tables = {str(k): _as_frame(v, f"tables[{k!r}]") for k, v in (result.get("tables") or {}).items()}
    # every number that has a unit says it in its header: the bundled data's units, then the spec's report.units
    units = units_for(spec_dict.get("data"), report_opts.get("units"))
    rep.tables = {k: add_units(v, units) for k, v in rep.tables.items()}
    if rep.summary is not None:
        rep.summary = add_units(rep.summary, units)
    rep.figures = {str(k): _figure_png(v, str(k)) for k, v in (result.get("figures") or {}).items()}
    rep.diagnostics = _diagnostics(result.get("diagnostics"), validated.kind)
    rep.tests, test_warnings = _tests(result.get("tests"), units)
    for test in rep.tests:
        test["table"] = add_units(test["table"], units)
    rep.metrics = _metrics(result.get("metrics") or {})
    rep.text = _lines(result.get("text"))
    found = _lines(result.get("warnings")) + test_warnings
    found += [t for t in (_warning_text(w) for w in caught) if t]
    banner = " ".join(rep.diagnostics.get("reasons", []))
    notes: list[str] = []
    kept: list[str] = []
    for text in found:
        if _repeats(text, banner):
            continue  # a sampler warning that only repeats the banner's reasons would say it twice
        if any(marker in text for marker in _ENVIRONMENT_NOTICES):
            notes.append(text.split("\n", 1)[0])  # about this machine, not the model: footer
            continue
        kept.append(text)
    rep.warnings = list(dict.fromkeys(kept))
    rep.footer = {
        "versions": package_versions(),
        "seed": seed,
        "quick": bool(quick),
        "data_hash": rep.data["hash"] if rep.data else None,
        "started_utc": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "fit_seconds": round(fit_seconds, 3),
        "run_seconds": round(time.perf_counter() - t0, 3),
        "spec_file": str(validated.path) if validated.path is not None else None,
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s)",
        "environment_notes": list(dict.fromkeys(notes)),
    }
    return rep


def jsonable(obj: Any) -> Any:
    """Return ``obj`` as plain JSON types: DataFrames as records, numpy scalars as numbers, NaN/inf as None."""
    if isinstance(obj, pd.DataFrame):
        frame = obj
        if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
            names = [str(n) if n is not None else ("index" if frame.index.nlevels == 1 else f"level_{i}")
                     for i, n in enumerate(frame.index.names)]
            names = [n if n not in frame.columns else f"{n} (index)" for n in names]
            frame = frame.reset_index(names=names)
        frame = frame.copy()
        frame.columns = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
        return [jsonable(r) for r in frame.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return jsonable(obj.to_frame())
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (pd.Timestamp, _dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def report_to_json(rep: Report) -> dict[str, Any]:
    """Return the report's numbers as a JSON-serialisable dict (the same numbers the HTML shows)."""
    return jsonable({
        "name": rep.name,
        "title": rep.title,
        "description": rep.description,
        "kind": rep.kind,
        "model_class": rep.model_class,
        "spec": rep.spec,
        "data": rep.data,
        "diagnostics": rep.diagnostics,
        "summary": rep.summary,
        "tables": rep.tables,
        "figures": list(rep.figures),
        "tests": rep.tests,
        "metrics": rep.metrics,
        "text": rep.text,
        "warnings": rep.warnings,
        "footer": rep.footer,
    })
