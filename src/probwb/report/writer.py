"""Write reports to disk atomically, and list the specs of a models folder."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from probwb.core.io import atomic_write_text
from probwb.errors import ProbwbError, SpecError
from probwb.report.html import render_html
from probwb.report.runner import Report, report_to_json, run_report
from probwb.report.schema import load_spec, validate_spec

__all__ = ["write_report", "list_specs"]


def write_report(spec: dict[str, Any] | str | os.PathLike, html_path: str | os.PathLike, *,
                 json_path: str | os.PathLike | None = None, seed: int | None = None, quick: bool = False,
                 on_step: Callable[[str], None] | None = None) -> Report:
    """Run ``spec`` and write its HTML report (and JSON numbers) atomically; return the Report.

    Both documents are rendered in memory before either file is touched, and each is written through a
    temporary file and a rename, so a failed run never leaves a half-written report behind.
    """
    rep = run_report(spec, seed=seed, quick=quick, on_step=on_step)
    if on_step:
        on_step("rendering HTML")
    page = render_html(rep)
    payload = json.dumps(report_to_json(rep), indent=1, allow_nan=False) if json_path is not None else None
    if payload is not None:
        atomic_write_text(json_path, payload + "\n")
    atomic_write_text(html_path, page)
    return rep


def list_specs(folder: str | os.PathLike = "models") -> list[dict[str, str]]:
    """Return one entry per ``*.yaml`` / ``*.yml`` spec in ``folder``: file, name, kind, title, status.

    ``status`` is ``"ok"`` or the validation error (a spec whose family is not installed shows why).
    """
    root = Path(folder)
    if not root.is_dir():
        raise SpecError(f"models folder {str(root)!r} not found")
    rows = []
    for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        row = {"file": str(path), "name": path.stem, "kind": "?", "title": ""}
        try:
            raw = load_spec(path)
            row["name"] = str(raw.get("name", path.stem))
            row["title"] = str(raw.get("title", ""))
            model = raw.get("model")
            row["kind"] = str(model.get("kind", "?")) if isinstance(model, dict) else "?"
            validate_spec(path)
            row["status"] = "ok"
        except ProbwbError as exc:
            row["status"] = str(exc)
        rows.append(row)
    return rows
