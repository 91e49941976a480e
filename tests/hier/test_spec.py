"""run_spec for kind: hier, and the shipped model specs validate."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from probwb.errors import SpecError
from probwb.hier import spec as hier_spec

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[2]


def _spec(**model):
    return {
        "name": "t", "title": "t",
        "data": {"source": "simulate_patient_cohort", "args": {"n_patients": 800, "n_hospitals": 8,
                                                               "random_state": 1}, "table": "patients"},
        "model": {"kind": "hier", "formula": "readmitted ~ age_band + heart_failure + (1 | hospital_id)",
                  "family": "bernoulli", **model},
        "fit": {"draws": 200, "tune": 200, "chains": 2, "random_state": 3},
        "evaluate": {"loo": True, "ppc": True},
    }


def test_run_spec_collects_report_parts():
    import matplotlib.pyplot as plt

    out = hier_spec.run_spec(_spec(), quick=True)
    assert out["model"].n_obs_ == 800
    assert out["diagnostics"].verdict in ("ok", "warn", "fail")
    assert {"coefficients", "league table (hospital_id)", "PSIS-LOO", "posterior predictive check"} <= set(
        out["tables"])
    assert any(k.startswith("highest-risk rows") for k in out["tables"])
    assert {"league table (hospital_id)", "coefficients", "trace", "risk tiers", "Pareto k"} <= set(out["figures"])
    assert out["metrics"]["n_divergent"] == out["diagnostics"].n_divergent
    assert "verdict" in out["summary"].columns
    assert any("Diagnostics verdict" in t for t in out["text"])
    # the figures a statistician looks for (#20), and readable tables
    from probwb.report.tables import internal_ids, unlabelled_intervals

    figs = out["figures"]
    assert any(k.startswith("calibration curve") for k in figs)
    assert any(k.startswith("posterior predictive check by hospital_id") for k in figs)
    assert any(k.startswith("rank plots of the worst-mixing") for k in figs)
    league_ax = figs["league table (hospital_id)"]
    assert {t.get_text() for t in league_ax.get_yticklabels()} == set(out["tables"]["league table (hospital_id)"]
                                                                      ["hospital_id"])
    assert "90% credible interval" in league_ax.get_xlabel()
    worst = out["diagnostics"].table.sort_values("r_hat", ascending=False).index[0]
    ranks = figs[next(k for k in figs if k.startswith("rank plots"))]
    assert worst in {a.get_ylabel() for a in np.asarray(ranks).ravel()}
    top = out["tables"][next(k for k in out["tables"] if k.startswith("highest-risk rows"))]
    assert "patient_id" in top.columns and "row" not in top.columns
    assert top["patient_id"].str.fullmatch(r"P\d{6}").all()
    for title, frame in {"summary": out["summary"], **out["tables"]}.items():
        assert unlabelled_intervals(frame) == [] and internal_ids(frame) == [], title
    plt.close("all")


@pytest.mark.parametrize("model, match", [
    ({"formula": "readmitted ~ (1 | hospital_id"}, "model.formula"),
    ({"family": "gaussian"}, "model.family"),
    ({"risk_quantile": 1.5}, "risk_quantile"),
])
def test_validate_spec_errors(model, match):
    with pytest.raises(SpecError, match=match):
        hier_spec.validate_spec(_spec(**model))


def test_shipped_specs_validate():
    from probwb.report.schema import validate_spec

    for name in ("hospital_risk_hier.yaml", "store_redemption_hier.yaml"):
        validated = validate_spec(ROOT / "models" / name)
        assert validated.kind == "hier"
        hier_spec.validate_spec(validated.spec)
