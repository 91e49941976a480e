"""Render a :class:`~probwb.report.runner.Report` as one self-contained HTML page.

The page needs nothing but itself: CSS is inline, figures are base64 PNGs in ``data:`` URIs, there is no
JavaScript and no external asset, so it opens offline and can be mailed as one file. It is written for a
reader who did not build the model: each section says in a sentence what it shows, the diagnostics banner
says plainly whether the numbers can be trusted, and warnings sit at the top, not in a log.
"""

from __future__ import annotations

import base64
import html
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from probwb.report.runner import Report
from probwb.report.tables import constant_columns

__all__ = ["render_html", "format_number", "KIND_NAMES"]

KIND_NAMES = {
    "bn": "discrete Bayesian network",
    "hmm": "hidden Markov model",
    "mdp": "Markov decision process",
    "hier": "hierarchical Bayesian model",
    "clv": "customer-lifetime-value model",
    "stats": "statistical tests",
}

_BANNERS = {
    "ok": ("ok", "Diagnostics: OK",
           "The sampler passed every check (R-hat, effective sample size, divergences, BFMI): "
           "the posterior summaries below can be used."),
    "warn": ("warn", "Diagnostics: WARNING",
             "Some sampler checks are borderline. Read the reasons below before relying on the intervals."),
    "fail": ("fail", "Diagnostics: FAILING - do not trust these estimates",
             "The sampler did not explore the posterior reliably. The numbers below may be biased; "
             "fix the model or the sampler settings and run again."),
    "none": ("na", "Diagnostics: not checked", ""),
    "not applicable": ("na", "Diagnostics: not applicable", ""),
}

#: a quick run's sampler checks describe its few draws, not the model: no red FAILING banner for them
_QUICK_BANNER = ("na", "Diagnostics: quick run - not meaningful (this short run's checks: {verdict})",
                 "These diagnostics come from a quick run (--quick: fewer rows, chains and draws than the spec "
                 "asks for), too short for R-hat, effective sample size or divergences to say whether the "
                 "sampler can be trusted. Run without --quick before relying on the intervals.")

_CSS = """
:root { --ok:#1b7f3b; --ok-bg:#e6f4ea; --warn:#8a5a00; --warn-bg:#fff4d6; --fail:#b3261e; --fail-bg:#fde7e6;
        --na:#4a5560; --na-bg:#eef1f4; --line:#d9dee3; --ink:#1d2329; --muted:#5b6670; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink);
       margin: 0; background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; min-height: 100vh; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
p.lead { color: var(--muted); margin: 4px 0 12px; }
.kind { display: inline-block; font-size: 13px; padding: 2px 10px; border-radius: 12px; background: var(--na-bg);
        color: var(--na); margin-right: 6px; }
.banner { border-radius: 8px; padding: 14px 18px; margin: 18px 0; border-left: 8px solid; }
.banner h2 { border: 0; margin: 0 0 4px; padding: 0; font-size: 20px; }
.banner.ok { background: var(--ok-bg); border-color: var(--ok); color: var(--ok); }
.banner.warn { background: var(--warn-bg); border-color: var(--warn); color: var(--warn); }
.banner.fail { background: var(--fail-bg); border-color: var(--fail); color: var(--fail); }
.banner.na { background: var(--na-bg); border-color: var(--na); color: var(--na); }
.banner p, .banner li { color: var(--ink); margin: 2px 0; }
.warnings { background: var(--warn-bg); border: 1px solid #f0d48a; border-radius: 8px; padding: 10px 18px;
            margin: 12px 0; }
.warnings h2 { border: 0; margin: 0 0 4px; color: var(--warn); font-size: 18px; }
nav { font-size: 14px; margin: 8px 0 0; color: var(--muted); }
nav a { color: #1f5fa8; margin-right: 12px; text-decoration: none; }
ul.findings li { margin: 4px 0; }
.scroll { overflow-x: auto; max-width: 100%; margin: 6px 0 12px; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; }
td.num, th.num { text-align: right; }
tr:nth-child(even) td { background: #fafbfc; }
.note { color: var(--muted); font-size: 13px; }
figure { margin: 12px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { font-size: 14px; color: var(--muted); margin-top: 4px; }
.test { border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; margin: 10px 0; }
.test p.sentence { font-size: 15px; margin: 4px 0 8px; }
footer { margin-top: 40px; padding-top: 12px; border-top: 2px solid var(--line); font-size: 13px;
         color: var(--muted); }
footer table { font-size: 12px; }
code { background: #f0f3f6; padding: 1px 4px; border-radius: 3px; }
"""

# columns that only earn their place when they differ between rows
_PER_ROW_ONLY = ("verdict", "flag", "top_tier", "method", "confidence", "alternative")

_INTERVAL = re.compile(r"(lower|upper|hdi|low$|high$|^q\d|%$|ci_|_ci)", re.IGNORECASE)

_SECTION_TITLES = {
    "findings": "Key findings",
    "data": "Data",
    "diagnostics": "Sampler diagnostics",
    "parameters": "Parameter estimates",
    "tables": "Tables",
    "figures": "Figures",
    "tests": "Statistical tests",
    "metrics": "Evaluation metrics",
}

_METRIC_NOTES = {
    "log_loss": "lower is better", "logloss": "lower is better", "brier": "lower is better",
    "brier_score": "lower is better", "rmse": "lower is better", "sse": "lower is better",
    "mae": "lower is better", "accuracy": "higher is better", "auc": "higher is better",
    "roc_auc": "higher is better", "loglik": "higher is better", "log_likelihood": "higher is better",
    "heldout_loglik": "higher is better", "elpd_loo": "higher is better", "ece": "lower is better",
}


def _metric_note(name: str) -> str:
    # cross-validated metrics are often prefixed ("cv_log_loss", "cv.brier")
    key = name.lower()
    for prefix in ("cv_", "cv.", "test_", "heldout_"):
        if key.startswith(prefix) and key[len(prefix):] in _METRIC_NOTES:
            key = key[len(prefix):]
    return _METRIC_NOTES.get(key, "")


def format_number(x: Any) -> str:
    """Return a number formatted for reading: 4 significant digits, thousands separators, '-' for missing."""
    if x is None or x is pd.NA:
        return "-"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}" if abs(int(x)) >= 10000 else str(int(x))
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if math.isnan(v):
            return "-"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0:
            return "0"
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}" if abs(v) >= 10000 else str(int(v))
        if 1e-4 <= abs(v) < 1e4:
            return f"{v:.4g}"
        if 1e4 <= abs(v) < 1e9:
            return f"{v:,.0f}"
        return f"{v:.3e}"
    return str(x)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(frame: pd.DataFrame, max_rows: int) -> str:
    shown = frame if len(frame) <= max_rows else frame.head(max_rows)
    shown = shown.copy()
    if isinstance(shown.columns, pd.MultiIndex):
        shown.columns = [" / ".join(map(str, c)) for c in shown.columns]
    shown.columns = [str(c) for c in shown.columns]
    if not (isinstance(shown.index, pd.RangeIndex) and shown.index.name is None):
        # the index becomes an ordinary first column, so its name sits in the header row
        names = [n if n is not None else "" for n in shown.index.names]
        names = [n if n not in shown.columns else f"{n} (index)" for n in names]
        shown = shown.reset_index(names=names)
    # a verdict that is the same on every row is said once under the table, not repeated in a column
    same = constant_columns(frame, _PER_ROW_ONLY)
    shown = shown.drop(columns=[c for c in same if c in shown.columns])
    said_once = "".join(f'<p class="note">No row has a {_e(c)}.</p>' if _blank(v) else
                        f'<p class="note">{_e(c)}: <b>{_e(format_number(v))}</b> for every row.</p>'
                        for c, v in same.items())
    if len(shown) == 1 and shown.shape[1] > 6:
        # one wide row (a test result) reads better as a two-column list
        row = shown.iloc[0]
        keep = [c for c in shown.columns if not _blank(row[c])]
        return _kv_table([(c, row[c]) for c in keep])
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
               for c in shown.columns]
    head = "".join(f'<th{" class=num" if num else ""}>{_e(c)}</th>' for c, num in zip(shown.columns, numeric,
                                                                                      strict=True))
    rows = []
    for values in shown.itertuples(index=False, name=None):
        cells = "".join(f'<td{" class=num" if num else ""}>{_e(format_number(v))}</td>'
                        for v, num in zip(values, numeric, strict=True))
        rows.append(f"<tr>{cells}</tr>")
    body = f'<table class="dataframe"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    note = ""
    if len(frame) > max_rows:
        note = (f'<p class="note">Showing the first {max_rows} of {len(frame):,} rows; '
                "the JSON output holds every row.</p>")
    return f'<div class="scroll">{body}</div>{said_once}{note}'


def _blank(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(float(value))
    return isinstance(value, str) and value == ""


def _kv_table(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td class=text>{_e(format_number(v) if not isinstance(v, str) else v)}"
                   "</td></tr>" for k, v in pairs)
    return f'<div class="scroll"><table class="kv">{rows}</table></div>'


def _banner(rep: Report) -> str:
    diag = rep.diagnostics or {"verdict": "not applicable", "reasons": []}
    verdict = diag.get("verdict", "not applicable")
    css, head, text = _BANNERS.get(verdict, _BANNERS["not applicable"])
    quick = bool(rep.footer.get("quick")) and verdict in ("ok", "warn", "fail")
    if quick:
        css, head, text = _QUICK_BANNER[0], _QUICK_BANNER[1].format(verdict=verdict), _QUICK_BANNER[2]
    reasons = diag.get("reasons") or []
    items = "".join(f"<li>{_e(r)}</li>" for r in reasons)
    extra = []
    for key, label in (("n_chains", "chains"), ("n_draws", "draws per chain"), ("n_divergent", "divergent transitions")):
        if diag.get(key) is not None:
            extra.append(f"{label}: {format_number(diag[key])}")
    counts = f'<p class="note">{_e("; ".join(extra))}</p>' if extra else ""
    return (f'<section class="banner {css}" id="banner" data-verdict="{_e(verdict)}"'
            f'{" data-quick=yes" if quick else ""}><h2>{_e(head)}</h2>'
            f"{f'<p>{_e(text)}</p>' if text else ''}{f'<ul>{items}</ul>' if items else ''}{counts}</section>")


def _section(key: str, lead: str, body: str) -> str:
    return (f'<section id="{key}"><h2>{_e(_SECTION_TITLES[key])}</h2>'
            f'{f"<p class=lead>{_e(lead)}</p>" if lead else ""}{body}</section>')


def _data_html(rep: Report) -> str:
    data = rep.data
    if not data:
        return ""
    parts = []
    args = ", ".join(f"{k}={v!r}" for k, v in data.get("args", {}).items())
    src = data["source"]
    where = f"{_e(src)} file <code>{_e(data['path'])}</code> (resolved path)" if data.get("path") else f"<code>probwb.datasets.{_e(src)}({_e(args)})</code>"
    parts.append(f"<p>Source: {where}. Data hash <code>{_e(data['hash'])}</code>.</p>")
    tables = data.get("tables", {})
    if len(tables) > 1:
        rows = pd.DataFrame([{"table": k, "rows": v["rows"], "columns": v["columns"],
                              "used by the model": "yes" if k == data.get("selected") else ""}
                             for k, v in tables.items()])
        parts.append("<p>The source holds several tables:</p>" + _table(rows, rep.max_rows))
    for name, summ in tables.items():
        if "dtypes" not in summ:
            continue
        parts.append(f"<h3>Table <code>{_e(name)}</code>: {summ['rows']:,} rows, {summ['columns']} columns</h3>")
        parts.append(_table(summ["dtypes"], rep.max_rows))
        parts.append("<p class=note>First rows:</p>" + _table(summ["head"], rep.max_rows))
    used = data.get("used")
    if used is not None:
        parts.append(f"<h3>Data as used by the model: {used['rows']:,} rows, {used['columns']} columns</h3>")
        parts.append(_table(used["dtypes"], rep.max_rows))
    if data.get("other"):
        other = ", ".join(f"{k} ({v})" for k, v in data["other"].items())
        parts.append(f"<p class=note>The source also returned, not shown here: {_e(other)}.</p>")
    return _section("data", "Where the data come from and what they look like.", "".join(parts))


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    try:
        return a.shape == b.shape and bool(a.equals(b))
    except (TypeError, ValueError):
        return False


def _test_title(test: dict[str, Any], tables: dict[str, pd.DataFrame]) -> str:
    # a family that also put the test's table under a heading of its own gave it a better title
    for title, frame in tables.items():
        if _same(frame, test["table"]):
            return title if title == test["title"] else f"{title} ({test['title']})"
    return test["title"]


def _figure(title: str, png: bytes) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{b64}" alt="{_e(title)}">'
            f"<figcaption>{_e(title)}</figcaption></figure>")


def render_html(rep: Report) -> str:
    """Return the report as a complete, self-contained HTML document (a string)."""
    kind_name = KIND_NAMES.get(rep.kind, rep.kind)
    out: list[str] = []
    shown = set(rep.sections)
    body: list[str] = []

    if "findings" in shown and rep.text:
        items = "".join(f"<li>{_e(t)}</li>" for t in rep.text)
        body.append(_section("findings", "What the fitted model says, in plain sentences.",
                             f'<ul class="findings">{items}</ul>'))
    if "data" in shown and rep.data:
        body.append(_data_html(rep))
    if "diagnostics" in shown and isinstance(rep.diagnostics.get("table"), pd.DataFrame):
        table = rep.diagnostics["table"]
        if "flag" in table.columns:
            flagged = table["flag"].fillna("").astype(str) != ""
            table = pd.concat([table[flagged], table[~flagged]])
        body.append(_section("diagnostics", "Per parameter: R-hat should be below 1.01 and the effective "
                             "sample sizes (ess_bulk, ess_tail) large; flagged parameters come first.",
                             _table(table, rep.max_rows)))
    if "parameters" in shown and rep.summary is not None:
        interval = [str(c) for c in rep.summary.columns if _INTERVAL.search(str(c))]
        lead = ("The model's main parameters with their uncertainty: " + ", ".join(interval[:4])
                + " give the interval bounds." if interval else "The model's main parameters.")
        body.append(_section("parameters", lead, _table(rep.summary, rep.max_rows)))
    tables = {t: f for t, f in rep.tables.items() if not any(_same(f, test["table"]) for test in rep.tests)}
    if "tables" in shown and tables:
        parts = "".join(f"<h3>{_e(title)}</h3>{_table(frame, rep.max_rows)}" for title, frame in tables.items())
        body.append(_section("tables", "", parts))
    if "figures" in shown and rep.figures:
        body.append(_section("figures", "", "".join(_figure(t, png) for t, png in rep.figures.items())))
    if "tests" in shown and rep.tests:
        parts = "".join(f'<div class="test"><h3>{_e(_test_title(t, rep.tables))}</h3>'
                        f'<p class="sentence">{_e(t["sentence"])}</p>'
                        f'{_table(t["table"].dropna(axis=1, how="all"), rep.max_rows)}</div>' for t in rep.tests)
        body.append(_section("tests", "Each test in one sentence, then its numbers.", parts))
    if "metrics" in shown and rep.metrics:
        frame = pd.DataFrame([{"metric": k, "value": v, "reading": _metric_note(k)} for k, v in rep.metrics.items()])
        if not frame["reading"].astype(bool).any():
            frame = frame.drop(columns="reading")
        body.append(_section("metrics", "How well the model predicts data it was scored on.",
                             _table(frame, rep.max_rows)))
    # the spec's report.sections order wins; chunks are tagged with their section id
    chunks = {c.split('id="', 1)[1].split('"', 1)[0]: c for c in body}
    body = [chunks[key] for key in rep.sections if key in chunks]
    nav = [f'<a href="#{sid}">{_e(_SECTION_TITLES[sid])}</a>' for sid in rep.sections if sid in chunks]

    out.append("<!DOCTYPE html>")
    out.append('<html lang="en"><head><meta charset="utf-8">')
    out.append('<meta name="viewport" content="width=device-width, initial-scale=1">')
    out.append(f"<title>{_e(rep.title)} - probwb report</title>")
    out.append('<meta name="generator" content="probwb report">')
    out.append(f"<style>{_CSS}</style></head><body><main>")
    out.append(f'<header id="overview"><h1>{_e(rep.title)}</h1>')
    badges = f'<span class="kind">{_e(kind_name)}</span><span class="kind">spec: {_e(rep.name)}</span>'
    if rep.footer.get("quick"):
        badges += '<span class="kind">quick run: fewer rows / draws than the full spec</span>'
    out.append(f"<p>{badges}</p>")
    if rep.description and "overview" in shown:
        out.append(f"<p>{_e(rep.description)}</p>")
    if rep.model_class and "overview" in shown:
        out.append(f'<p class="note">Fitted model: <code>{_e(rep.model_class)}</code></p>')
    if nav:
        out.append(f"<nav>Contents: {''.join(nav)}</nav>")
    out.append("</header>")
    out.append(_banner(rep))
    if rep.warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in rep.warnings)
        out.append(f'<section class="warnings" id="warnings"><h2>Warnings ({len(rep.warnings)})</h2>'
                   f"<ul>{items}</ul></section>")
    out.extend(body)
    f = rep.footer
    versions = ", ".join(f"{k} {v}" for k, v in f.get("versions", {}).items())
    pairs = [("seed", str(f.get("seed"))), ("data hash", f.get("data_hash") or "no data section"),
             ("quick run", "yes" if f.get("quick") else "no"), ("started", f.get("started_utc", "")),
             ("fit time", f"{f.get('fit_seconds', 0):.1f} s"), ("total run time", f"{f.get('run_seconds', 0):.1f} s"),
             ("spec file", f.get("spec_file") or "(given as a dict)"), ("machine", f.get("platform", "")),
             ("package versions", versions)]
    pairs += [("environment note", n) for n in f.get("environment_notes", [])]
    out.append('<footer id="footer"><h3>Reproducibility</h3>'
               f"<p>Run again with <code>probwb report {_e(f.get('spec_file') or rep.name + '.yaml')} "
               f"--seed {_e(f.get('seed'))}{' --quick' if f.get('quick') else ''}</code> "
               "and the same package versions to get the same numbers.</p>"
               f"{_kv_table(pairs)}</footer>")
    out.append("</main></body></html>")
    return "\n".join(out)
