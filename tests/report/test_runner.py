"""The pieces between a family's run_spec dict and the rendered page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probwb.errors import ModelError
from probwb.report.html import format_number
from probwb.report.runner import _diagnostics, _figure_png, _metrics, jsonable


def test_format_number():
    assert format_number(0.123456) == "0.1235"
    assert format_number(123456.7) == "123,457"
    assert format_number(12) == "12" and format_number(12.0) == "12"
    assert format_number(float("nan")) == "-" and format_number(None) == "-"
    assert format_number(1.5e-7) == "1.500e-07"
    assert format_number(np.float32(2.5)) == "2.5"
    assert format_number("20%") == "20%"


def test_jsonable_records_and_missing_values():
    frame = pd.DataFrame({"mean": [0.5, np.nan], "n": np.array([3, 4], dtype=np.int64)},
                         index=pd.Index(["a", "b"], name="arm"))
    out = jsonable({"t": frame, "x": np.float64(np.inf), "arr": np.arange(2)})
    assert out["t"] == [{"arm": "a", "mean": 0.5, "n": 3}, {"arm": "b", "mean": None, "n": 4}]
    assert out["x"] is None and out["arr"] == [0, 1]
    assert isinstance(out["t"][0]["n"], int)


def test_metrics_are_flattened_and_checked():
    assert _metrics({"log_loss": np.float64(0.5), "cv": {"brier": 0.1}}) == {"log_loss": 0.5, "cv.brier": 0.1}
    with pytest.raises(ModelError, match="metric 'bad' is a str"):
        _metrics({"bad": "high"})


def test_figures_accept_figure_axes_and_axes_arrays():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(2, 1))
    png = _figure_png(axes, "two panels")
    assert png.startswith(b"\x89PNG") and not plt.fignum_exists(fig.number)  # closed after embedding
    fig2, ax = plt.subplots(figsize=(2, 1))
    assert _figure_png(ax, "one").startswith(b"\x89PNG")
    with pytest.raises(ModelError, match="figure 'x' is a str"):
        _figure_png("not a figure", "x")


def test_diagnostics_normalisation():
    assert _diagnostics(None, "bn")["verdict"] == "not applicable"
    assert _diagnostics(None, "hier")["verdict"] == "none"
    combined = _diagnostics({"hmm": {"verdict": "ok", "reasons": []},
                             "glm": {"verdict": "fail", "reasons": ["R-hat 1.3"], "n_divergent": 2}}, "hier")
    assert combined["verdict"] == "fail" and combined["reasons"] == ["glm: R-hat 1.3"]
    assert combined["n_divergent"] == 2
    with pytest.raises(ModelError, match="verdict must be"):
        _diagnostics({"verdict": "fine"}, "hier")


def test_report_rejects_a_result_that_is_not_a_dict(fake_spec, fake_family):
    from probwb.report import run_report

    fake_family.run_spec = lambda spec, **kw: [1, 2]
    with pytest.raises(ModelError, match="returned a list, expected a dict"):
        run_report(fake_spec("none"))


def test_repeated_sampler_warnings_and_machine_notices(fake_spec, fake_family):
    from probwb.report import render_html, run_report

    inner = fake_family.run_spec

    def run_spec(spec, **kw):
        out = inner(spec, **kw)
        reasons = "; ".join(out["diagnostics"].reasons)
        out["warnings"] = [f"SamplingWarning: MCMC diagnostics verdict 'fail': {reasons}",
                           "UserWarning: PyTensor could not link to a BLAS installation.\nlong advice",
                           "ConvergenceWarning: something else"]
        out["diagnostics"] = {"fit": out["diagnostics"]}  # a family with several fits
        return out

    fake_family.run_spec = run_spec
    rep = run_report(fake_spec("disagree"))
    assert rep.warnings == ["ConvergenceWarning: something else"]
    assert rep.footer["environment_notes"] == ["UserWarning: PyTensor could not link to a BLAS installation."]
    assert rep.diagnostics["verdict"] == "fail" and rep.diagnostics["reasons"][0].startswith("fit: ")
    assert "PyTensor could not link" in render_html(rep)


def test_text_as_one_string_is_one_sentence():
    from probwb.report.runner import _lines

    assert _lines("One paragraph. Two sentences.") == ["One paragraph. Two sentences."]
    assert _lines(["a", "b"]) == ["a", "b"] and _lines(None) == [] and _lines("  ") == []
