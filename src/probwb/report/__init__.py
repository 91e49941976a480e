"""Scripted posterior reports: a model spec (``models/*.yaml``) in, a self-contained HTML and JSON report out.

>>> from probwb.report import run_report, render_html, report_to_json
>>> rep = run_report("models/coupon_ab_test.yaml", quick=True)      # doctest: +SKIP
>>> html = render_html(rep); numbers = report_to_json(rep)          # doctest: +SKIP

:func:`validate_spec` checks a spec completely before any work (unknown keys are named with their key path
and the nearest valid key); :func:`write_report` runs a spec and writes the HTML (and JSON) atomically.
The ``probwb report / run / validate / models`` commands live in :mod:`probwb.report.commands`.
"""

from __future__ import annotations

from probwb.report.data import check_data_section, data_hash, load_data
from probwb.report.html import render_html
from probwb.report.registry import KINDS, family_module, register_family, unregister_family
from probwb.report.runner import Report, report_to_json, run_report
from probwb.report.schema import SECTIONS, ValidatedSpec, load_spec, validate_spec
from probwb.report.writer import list_specs, write_report

__all__ = [
    "KINDS",
    "SECTIONS",
    "Report",
    "ValidatedSpec",
    "check_data_section",
    "data_hash",
    "family_module",
    "list_specs",
    "load_data",
    "load_spec",
    "register_family",
    "render_html",
    "report_to_json",
    "run_report",
    "unregister_family",
    "validate_spec",
    "write_report",
]
