"""Domain networks learned from the simulators recover the simulators' truth; the model specs run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from probwb.bn import BayesNet, structural_hamming_distance

datasets = pytest.importorskip("probwb.datasets")
MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def cohort():
    return datasets.simulate_patient_cohort(n_patients=8000, random_state=3)


def test_risk_factor_cpts_recover_truth(cohort):
    truth = BayesNet.from_spec(cohort.truth["bn"])
    cols = truth.nodes
    net = BayesNet({n: truth.parents(n) for n in cols}).fit(cohort.patients[cols])
    for n in cols:
        est = net.cpts_[n]
        true = truth.cpts_[n]
        # per parent configuration: n_config rows; binomial SE of each cell
        counts = net.counts_[n].sum(axis=-1, keepdims=True)
        se = np.sqrt(true * (1 - true) / np.maximum(counts, 1))
        z = np.abs(est - true) / np.maximum(se, 1e-12)
        assert (z < 4.5).all(), (n, est, true)


def test_structure_learning_recovers_true_skeleton(cohort):
    truth = BayesNet.from_spec(cohort.truth["bn"])
    data = cohort.patients[truth.nodes]
    tiers = [["age_band", "sex"], ["smoker", "diabetes"], ["heart_failure", "copd"], ["prior_admissions"]]
    net = BayesNet.learn_structure(data, score="bic", tiers=tiers, fit=False)
    assert structural_hamming_distance(net, truth, skeleton=True) <= 1
    assert structural_hamming_distance(net, truth) <= 2


def test_coupon_redemption_cpt_matches_truth():
    camp = datasets.simulate_coupon_campaign(n_customers=3000, random_state=5)
    coupons = camp.coupons
    cols = ["coupon", "segment", "state", "redeemed"]
    data = coupons[cols].astype(str)
    net = BayesNet({"coupon": [], "segment": [], "state": [], "redeemed": ["coupon", "segment", "state"]}
                   ).fit(data)
    # the truth for a cell is the mean true redemption probability of the offers in it (store
    # effects average out over the cell's offers)
    cell = coupons.assign(p=camp.truth["p_redeem"]).groupby(["coupon", "segment", "state"], observed=True)
    checked = 0
    for (c, s, st), grp in cell:
        if len(grp) < 30:
            continue
        est = net.query("redeemed", {"coupon": str(c), "segment": str(s), "state": str(st)})["1"]
        p = grp["p"].mean()
        se = np.sqrt(p * (1 - p) / len(grp))
        assert abs(est - p) < 4.5 * se + 0.01, (c, s, st, est, p)
        checked += 1
    assert checked >= 6


@pytest.mark.parametrize("name", ["readmission_risk_network", "coupon_redemption_network"])
def test_model_specs_run_quick(name):
    pytest.importorskip("probwb.report.data")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from probwb.bn.spec import SPEC_KEYS, run_spec

    spec = yaml.safe_load((MODELS / f"{name}.yaml").read_text())
    assert set(spec["model"]) <= set(SPEC_KEYS["model"])
    res = run_spec(spec, quick=True, random_state=1)
    assert isinstance(res["model"], BayesNet)
    assert {"network", "query"} <= set(res["figures"])
    q = res["tables"]["query"]
    assert q["probability"].sum() == pytest.approx(1.0)
    assert isinstance(res["summary"], pd.DataFrame)
    assert "causal effects" in res["tables"]
    plt.close("all")
