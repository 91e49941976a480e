"""Domain models against the simulators' known truth, and the model specs in models/*.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from probwb.datasets import simulate_coupon_campaign, simulate_patient_cohort
from probwb.hmm import HMM

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_customer_lifecycle_recovers_the_no_coupon_chain() -> None:
    # the control arm never gets coupons, so a plain HMM's matrix is the simulator's "none" matrix
    camp = simulate_coupon_campaign(n_customers=2400, n_weeks=20, random_state=3)
    control = camp.customers.loc[camp.customers["arm"] == "control", "customer_id"]
    panel = camp.panel[camp.panel["customer_id"].isin(control)]
    truth = camp.truth
    model = HMM(state_names=truth["states"], emission={"purchases": "poisson"}, id_col="customer_id",
                time_col="week", absorbing=["churned"], order_by=("purchases", "mean", "descending"),
                n_init=2, random_state=0).fit(panel)
    np.testing.assert_allclose(model.transmat_, truth["transmat"]["none"], atol=0.06)
    np.testing.assert_allclose(model.rates_["purchases"].to_numpy(), truth["purchase_rate"], rtol=0.1, atol=0.03)
    decoded = model.predict(panel).astype(str).to_numpy()
    assert (decoded == panel["state"].astype(str).to_numpy()).mean() > 0.8


def test_input_driven_hmm_recovers_coupon_effects_on_the_whole_campaign() -> None:
    # offers do not depend on the hidden state, so the coupon is an external input and every arm's
    # transition matrix is identified
    camp = simulate_coupon_campaign(n_customers=3000, n_weeks=20, random_state=8)
    truth = camp.truth
    model = HMM(state_names=truth["states"], emission={"purchases": "poisson"}, id_col="customer_id",
                time_col="week", absorbing=["churned"], inputs=["coupon"], input_baseline={"coupon": "none"},
                order_by=("purchases", "mean", "descending"), n_init=2, tol=1e-5, random_state=1).fit(camp.panel)
    for coupon, mat in truth["transmat"].items():
        np.testing.assert_allclose(model.transmat_for({"coupon": coupon}), mat, atol=0.08, err_msg=coupon)
    # the 20% coupon raises P(at_risk -> active) over no coupon, as in the truth
    at_risk = truth["states"].index("at_risk")
    assert (model.transmat_for({"coupon": "20%"})[at_risk, 0]
            > model.transmat_for({"coupon": "none"})[at_risk, 0] + 0.1)


def test_disease_progression_recovers_treatment_specific_chains() -> None:
    cohort = simulate_patient_cohort(n_patients=1500, n_visits=8, random_state=5)
    visits, truth = cohort.visits, cohort.truth["hmm"]
    assert visits["biomarker"].isna().mean() > 0.05  # missed visits are kept as NaN rows
    mask = np.array([[1, 1, 1], [1, 1, 1], [0, 1, 1]], dtype=bool)
    model = HMM(state_names=truth["states"], emission={"test_result": "categorical", "biomarker": "gaussian"},
                id_col="patient_id", time_col="visit", inputs=["treatment"],
                input_baseline={"treatment": "standard"}, transmat_mask=mask, order_by=("biomarker", "mean"),
                n_init=2, random_state=0).fit(visits)
    for level, true in truth["transmat"].items():
        np.testing.assert_allclose(model.transmat_for({"treatment": level}), true, atol=0.08)
    probs = model.emission_probs_["test_result"][truth["test_levels"]].to_numpy()
    np.testing.assert_allclose(probs, truth["emission_probs"], atol=0.05)
    np.testing.assert_allclose(model.means_["biomarker"].to_numpy(), truth["biomarker_mean"], atol=0.1)
    np.testing.assert_allclose(np.sqrt(model.covars_["biomarker"].to_numpy()), truth["biomarker_sd"], atol=0.1)
    post = model.predict_proba(visits)
    assert len(post) == len(visits) and list(post.columns) == truth["states"]
    assert model.transmat_[2, 0] == 0.0


@pytest.mark.parametrize("name", ["customer_lifecycle_hmm", "disease_progression_hmm"])
def test_model_specs_run_quick(name: str) -> None:
    import matplotlib.pyplot as plt

    from probwb.hmm.spec import SPEC_KEYS, run_spec
    from probwb.report.schema import validate_spec

    spec = yaml.safe_load((MODELS / f"{name}.yaml").read_text())
    validate_spec(spec)
    spec["evaluate"].pop("bayesian", None)  # the Bayesian part is tested in test_hmm_bayes.py
    out = run_spec(spec, quick=True, random_state=0)
    assert set(SPEC_KEYS) == {"model", "fit", "evaluate"}
    assert out["model"].state_names_ == spec["model"]["states"]
    assert any("vs truth" in t for t in out["tables"])
    assert {"State diagram"} <= set(out["figures"])
    assert np.isfinite(out["metrics"]["loglik"])
    assert any("within" in s for s in out["text"])
    plt.close("all")
