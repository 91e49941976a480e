"""Domain models against the simulators' known truth, and the model specs in models/*.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from probwb.datasets import simulate_coupon_campaign, simulate_patient_cohort
from probwb.hmm import HMM

MODELS = Path(__file__).resolve().parents[2] / "models"


def _assert_truth_inside(table: pd.DataFrame, truth: dict[tuple[str, str, str], float], max_width: float) -> None:
    """Every true value lies inside its (99.9%) interval; probability intervals are narrower than max_width."""
    t = table.set_index(["block", "state", "name"]).loc[list(truth)]
    true = np.array(list(truth.values()))
    missed = t.assign(true=true)[(t["lower"] > true) | (true > t["upper"])]
    assert missed.empty, missed
    probs = t.index.get_level_values("block").str.contains("transmat|startprob|emissionprob")
    assert (t["upper"] - t["lower"])[probs].max() < max_width, t


def _effects(base: np.ndarray, level: np.ndarray, names: list[str], feature: str) -> dict:
    """True input effects: log-odds of each move against staying put, level minus baseline."""
    out = {}
    for i in range(len(names)):
        for j in range(len(names)):
            if i != j and base[i, j] > 0 and level[i, j] > 0 and base[i, i] < 1:
                out[(f"logit:{feature}", names[i], names[j])] = float(
                    np.log(level[i, j] / level[i, i]) - np.log(base[i, j] / base[i, i]))
    return out


def test_customer_lifecycle_recovers_the_no_coupon_chain() -> None:
    # the control arm never gets coupons, so a plain HMM's matrix is the simulator's "none" matrix
    camp = simulate_coupon_campaign(n_customers=2400, n_weeks=20, random_state=3)
    control = camp.customers.loc[camp.customers["arm"] == "control", "customer_id"]
    panel = camp.panel[camp.panel["customer_id"].isin(control)]
    truth = camp.truth
    model = HMM(state_names=truth["states"], emission={"purchases": "poisson"}, id_col="customer_id",
                time_col="week", absorbing=["churned"], order_by=("purchases", "mean", "descending"),
                n_init=2, random_state=0).fit(panel)
    names, A = truth["states"], truth["transmat"]["none"]
    expected = {("transmat", names[i], names[j]): A[i, j] for i in range(2) for j in range(3)}
    expected |= {("purchases:rates", names[s], ""): truth["purchase_rate"][s] for s in range(3)}
    _assert_truth_inside(model.intervals(panel, confidence=0.999), expected, max_width=0.2)
    decoded = model.predict(panel).astype(str).to_numpy()
    assert (decoded == panel["state"].astype(str).to_numpy()).mean() > 0.8


def test_input_driven_hmm_recovers_coupon_effects_on_the_whole_campaign() -> None:
    # offers do not depend on the hidden state, so the coupon is an external input and every arm's
    # transition matrix is identified
    camp = simulate_coupon_campaign(n_customers=2400, n_weeks=20, random_state=8)
    truth = camp.truth
    model = HMM(state_names=truth["states"], emission={"purchases": "poisson"}, id_col="customer_id",
                time_col="week", absorbing=["churned"], inputs=["coupon"], input_baseline={"coupon": "none"},
                order_by=("purchases", "mean", "descending"), n_init=1, random_state=1).fit(camp.panel)
    names, base = truth["states"], truth["transmat"]["none"]
    expected = {("transmat", names[i], names[j]): base[i, j] for i in range(2) for j in range(3) if i != j}
    for coupon in ("10%", "20%"):
        expected |= _effects(base, truth["transmat"][coupon], names, f"coupon[{coupon}]")
    # (the coupons' effects on the rare at_risk -> churned move are weakly identified at this size: se ~0.6)
    _assert_truth_inside(model.intervals(camp.panel, confidence=0.999), expected, max_width=0.15)
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
    names, base = truth["states"], truth["transmat"]["standard"]
    expected = {("transmat", names[i], names[j]): base[i, j] for i in range(3) for j in range(3)
                if mask[i, j] and i != j and base[i, j] > 0}
    for level, mat in truth["transmat"].items():
        if level != "standard":
            expected |= _effects(base, mat, names, f"treatment[{level}]")
    for s in range(3):
        for k, sym in enumerate(truth["test_levels"]):
            expected[("test_result:emissionprob", names[s], str(sym))] = truth["emission_probs"][s][k]
        expected[("biomarker:means", names[s], "")] = truth["biomarker_mean"][s]
        expected[("biomarker:covars", names[s], "")] = truth["biomarker_sd"][s] ** 2
    table = model.intervals(visits, confidence=0.999)
    _assert_truth_inside(table, expected, max_width=0.2)
    # moves the standard treatment never makes (but intensive does) are estimated near zero
    t = table.set_index(["block", "state", "name"])
    for i, j in zip(*np.nonzero(mask & (base == 0)), strict=True):
        assert t.loc[("transmat", names[i], names[j]), "value"] < 0.02
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
