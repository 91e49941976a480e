"""End to end: spec -> report (HTML + JSON) through the CLI, with the stand-in family and one real one."""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest

from probwb.cli import main
from probwb.errors import SpecError
from probwb.report import render_html, report_to_json, run_report
from probwb.report.html import format_number


def _html_numbers(page: str) -> str:
    return re.sub(r"\s+", " ", page)


def test_report_end_to_end_with_failing_diagnostics(fake_spec, fake_family, tmp_path, capsys):
    spec = fake_spec("disagree")
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["report", str(spec), "-o", str(out), "--json", str(js), "--seed", "5"]) == 0
    captured = capsys.readouterr()
    assert "report written to" in captured.out and "diagnostics: fail" in captured.out
    assert "fitting the 'fake' model" in captured.err  # progress goes to stderr
    assert fake_family.RUNS == [{"quick": False, "random_state": 5}]

    page = out.read_text()
    # a failing verdict shows as the red failing banner, not a clean one
    assert 'class="banner fail"' in page and "FAILING" in page
    assert 'class="banner ok"' not in page
    assert "R-hat" in page or "r_hat" in page
    # self-contained: embedded PNG figure, inline CSS, no external assets, no scripts
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', page)
    assert "<style>" in page and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page

    numbers = json.loads(js.read_text())
    assert numbers["diagnostics"]["verdict"] == "fail"
    assert numbers["diagnostics"]["n_divergent"] > 0
    assert numbers["footer"]["seed"] == 5 and len(numbers["footer"]["data_hash"]) == 16
    assert numbers["footer"]["versions"]["probwb"]
    # the JSON holds the same numbers as the HTML
    for row in numbers["summary"]:
        for key in ("mean", "low", "high"):
            assert format_number(row[key]) in page
    for name, value in numbers["metrics"].items():
        assert name in page and format_number(value) in page
    assert numbers["figures"] == ["Redemption rate by coupon"]
    assert numbers["tables"]["Offers per segment"][0]["segment"] in page
    # warnings: the family's own; the SamplingWarning of diagnostics.check only repeats the banner's reasons
    assert "stand-in warning from the family" in numbers["warnings"]
    assert not any(w.startswith("SamplingWarning") for w in numbers["warnings"])
    assert all(html.escape(r) in page for r in numbers["diagnostics"]["reasons"])
    assert "stand-in warning from the family" in page


def test_ok_and_not_applicable_banners(fake_spec, fake_family):
    ok = render_html(run_report(fake_spec("agree")))
    assert 'class="banner ok"' in ok and "FAILING" not in ok
    none = run_report(fake_spec("none"))
    assert none.diagnostics["verdict"] == "not applicable"
    assert 'class="banner na"' in render_html(none)


def test_report_numbers_follow_the_data_and_seed(fake_spec, fake_family):
    rep = run_report(fake_spec("none"), seed=9, quick=True)
    assert fake_family.RUNS[-1] == {"quick": True, "random_state": 9}
    from probwb.datasets import simulate_coupon_campaign

    coupons = simulate_coupon_campaign(n_customers=300, n_stores=4, n_weeks=8, random_state=3).coupons.head(2000)
    k = coupons.groupby("coupon", observed=True)["redeemed"].agg(["sum", "count"])
    expected = (1 + k["sum"]) / (2 + k["count"])
    pd.testing.assert_series_equal(rep.summary["mean"], expected, check_names=False)
    assert rep.footer["quick"] and rep.footer["seed"] == 9
    # the JSON export round-trips through json with no NaN and the same records
    numbers = json.loads(json.dumps(report_to_json(rep), allow_nan=False))
    assert [r["mean"] for r in numbers["summary"]] == pytest.approx(list(expected))


def test_captured_warnings_reach_the_report(fake_spec, fake_family):
    rep = run_report(fake_spec("none", model_extra="  warn: true\n"))
    assert "ConvergenceWarning: EM stopped after 3 iterations" in rep.warnings
    assert "EM stopped after 3 iterations" in render_html(rep)


def test_failed_run_leaves_no_report(fake_spec, fake_family, tmp_path):
    spec = fake_spec("none", model_extra="  explode: true\n")
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    with pytest.raises(RuntimeError, match="failed half way"):
        main(["report", str(spec), "-o", str(out), "--json", str(js)])
    assert not out.exists() and not js.exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix in (".html", ".json", ".tmp")] == []


def test_invalid_spec_exit_code_and_message(fake_spec, tmp_path, capsys):
    spec = fake_spec(model_extra="  n_state: 2\n")
    out = tmp_path / "r.html"
    assert main(["report", str(spec), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.n_state: unknown key (did you mean model.n_states?)" in err
    assert not out.exists()


def test_validate_models_and_run_commands(fake_spec, fake_family, tmp_path, capsys, monkeypatch):
    spec = fake_spec("none")
    assert main(["validate", str(spec)]) == 0
    assert "ok (fake via" in capsys.readouterr().out
    (tmp_path / "broken.yaml").write_text("name: broken\nmodel: {kind: hmn}\n")
    assert main(["models", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines.pop(0) == f"2 spec(s) in {tmp_path.resolve()}:"  # says which folder it read
    assert len(lines) == 2
    assert lines[0].startswith("broken") and "did you mean 'hmm'" in lines[0]
    assert lines[1].startswith("fake_redemption") and "invalid" not in lines[1]
    assert main(["validate", str(tmp_path / "broken.yaml")]) == 2

    monkeypatch.chdir(tmp_path)
    assert main(["run", str(spec), "--seed", "1"]) == 0
    assert "saved to" in capsys.readouterr().out
    from probwb.core.io import load_model

    model = load_model(tmp_path / "fake_redemption.pwb", fake_family.run_spec.__globals__["FakeModel"])
    assert list(model.posterior_.columns) == ["offers", "redeemed", "mean", "low", "high"]


def test_models_folder_missing(capsys, tmp_path):
    assert main(["models", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err


def test_sections_option_hides_sections_but_never_the_banner(fake_spec, fake_family):
    spec = fake_spec("disagree", extra="report: {sections: [parameters]}\n")
    page = render_html(run_report(spec))
    assert 'id="parameters"' in page and 'id="figures"' not in page and 'id="data"' not in page
    assert 'class="banner fail"' in page and 'id="warnings"' in page


def test_long_tables_are_truncated_in_html_only(fake_spec, fake_family):
    rep = run_report(fake_spec("none", extra="report: {max_rows: 2}\n"))
    rep.tables["long"] = pd.DataFrame({"x": range(10)})
    page = render_html(rep)
    assert "Showing the first 2 of 10 rows" in page
    assert len(report_to_json(rep)["tables"]["long"]) == 10


def test_real_stats_family_quick(tmp_path):
    pytest.importorskip("probwb.stats.spec")
    from pathlib import Path

    spec = Path(__file__).resolve().parents[2] / "models" / "site_anova.yaml"
    if not spec.exists():
        pytest.skip("models/site_anova.yaml is not present")
    try:
        rep = run_report(spec, quick=True)
    except SpecError as exc:  # pragma: no cover - family present but spec drifted
        pytest.fail(f"site_anova spec does not validate: {exc}")
    page = render_html(rep)
    assert rep.kind == "stats" and rep.tests
    for test in rep.tests:
        assert html.escape(test["sentence"]) in page
    assert 'class="banner na"' in page


DIVERGING_HIER = """\
name: diverging_hier
title: A deliberately badly sampled hierarchical model
description: Centred group effects, almost no warm-up and a low target acceptance, so NUTS diverges.
data:
  source: simulate_patient_cohort
  args: {n_patients: 300, n_hospitals: 8, random_state: 1}
  table: patients
model:
  kind: hier
  formula: "readmitted ~ 1 + (1 | hospital_id)"
  family: bernoulli
  noncentered: false
fit: {draws: 100, tune: 5, chains: 2, sampler: pymc, target_accept: 0.5, random_state: 3}
evaluate: {loo: false, ppc: false}
"""


def test_real_diverging_sampler_shows_failing_banner(tmp_path):
    """A real PyMC run that diverges (centred funnel, 5 warm-up steps) must give the red banner."""
    pytest.importorskip("probwb.hier.spec")
    spec = tmp_path / "diverging_hier.yaml"
    spec.write_text(DIVERGING_HIER)
    out, js = tmp_path / "d.html", tmp_path / "d.json"
    assert main(["--quiet", "report", str(spec), "-o", str(out), "--json", str(js)]) == 0
    numbers = json.loads(js.read_text())
    assert numbers["diagnostics"]["verdict"] == "fail"
    assert numbers["diagnostics"]["n_divergent"] > 0
    page = out.read_text()
    assert 'class="banner fail"' in page and "FAILING" in page and 'class="banner ok"' not in page
    assert "divergent" in page
