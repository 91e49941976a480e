"""The ``kind: clv`` spec runner and the CLV plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
import yaml

from probwb.errors import SpecError
from probwb.hier.clv_spec import SPEC_KEYS, run_spec, validate_spec

SPEC_FILE = Path(__file__).resolve().parents[2] / "models" / "cdnow_clv.yaml"


def _spec(**fit):
    spec = yaml.safe_load(SPEC_FILE.read_text())
    spec["fit"] = {"method": "mle", "random_state": 1, **fit}
    return spec


def test_cdnow_spec_runs_with_mle():
    out = run_spec(_spec(), quick=True)
    assert out["model"].params_["r"] == pytest.approx(0.243, rel=0.01)
    customers = out["tables"]["customers"]
    assert len(customers) == 25
    assert customers["clv"].is_monotonic_decreasing
    # headers state the interval's level (#20)
    lo, hi = customers["clv 90% CI lower"], customers["clv 90% CI upper"]
    assert (lo <= customers["clv"]).all() and (customers["clv"] <= hi).all()
    from probwb.report.tables import unlabelled_intervals

    assert all(unlabelled_intervals(f) == [] for f in [out["summary"], *out["tables"].values()])
    counts = out["tables"]["frequency_counts"]
    assert counts["observed"].sum() == 2357
    assert set(out["figures"]) == {"p_alive_matrix", "frequency_counts"}
    assert all(isinstance(f, matplotlib.figure.Figure) for f in out["figures"].values())
    assert out["diagnostics"] is None  # no MCMC: the report says the intervals are unchecked
    assert out["summary"].attrs["verdict"] == "laplace"


def test_spec_errors_name_the_key():
    spec = _spec()
    spec["model"]["purchase_model"] = "bgndb"
    with pytest.raises(SpecError, match="did you mean 'bgnbd'"):
        validate_spec(spec)
    spec = _spec()
    spec["evaluate"]["horizn"] = 10
    with pytest.raises(SpecError, match="did you mean evaluate.horizon"):
        validate_spec(spec)
    spec = _spec(sampler="stan")
    with pytest.raises(SpecError, match="fit.sampler"):
        validate_spec(spec)
    assert set(SPEC_KEYS) == {"model", "fit", "evaluate"}


def test_spec_file_validates_through_report_schema():
    from probwb.report.schema import validate_spec as validate_report_spec

    validated = validate_report_spec(SPEC_FILE)
    assert validated.kind == "clv"


def test_plots_draw_on_given_axes_and_p_alive_grows_with_recency():
    import matplotlib.pyplot as plt

    from probwb.datasets import load_cdnow
    from probwb.hier.clv import BetaGeoModel
    from probwb.hier.clv_plots import plot_frequency_counts, plot_probability_alive_matrix

    data = load_cdnow()
    model = BetaGeoModel().fit(data, method="mle", random_state=0)
    grid = model.probability_alive_matrix(39.0, max_frequency=10, n_recency=20)
    assert grid.shape == (11, 20)
    assert ((grid.to_numpy() >= 0) & (grid.to_numpy() <= 1)).all()
    # a more recent last purchase means more likely still active
    assert (grid.iloc[1:].diff(axis=1).iloc[:, 1:].to_numpy() > 0).all()
    fig, (ax1, ax2) = plt.subplots(1, 2)
    assert plot_probability_alive_matrix(model, 39.0, ax=ax1) is ax1
    assert plot_frequency_counts(model, data, ax=ax2) is ax2
    assert len(ax2.patches) == 2 * 8
    plt.close(fig)
