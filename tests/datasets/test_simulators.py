"""The simulators' outputs agree with the truth that generated them, within sampling error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probwb.datasets import (
    list_datasets,
    load_cdnow,
    load_network,
    simulate_coupon_campaign,
    simulate_patient_cohort,
)
from probwb.errors import DataError

Z = 4.0  # a 4-sigma band: a false failure about once in 15,000 checks


def _within(observed: float, expected: float, se: float) -> bool:
    return abs(observed - expected) <= Z * se


def test_cdnow_matches_shared_source(shared_dir):
    df = load_cdnow()
    assert list(df.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    assert len(df) == 2357
    src = pd.read_csv(shared_dir / "data/cdnow/cdnow_customers_summary.csv")
    np.testing.assert_array_equal(df["frequency"].to_numpy(), src["frequency"].to_numpy())
    np.testing.assert_allclose(df["recency"].to_numpy(), src["recency"].to_numpy())
    assert (df["recency"] <= df["T"]).all()
    assert (df.loc[df["frequency"] == 0, "monetary_value"] == 0).all()


def test_networks_and_listing():
    path = load_network("asia")
    assert path.exists() and path.name == "asia.bif.gz"
    with pytest.raises(DataError, match="did you mean 'alarm'"):
        load_network("alarn")
    listing = list_datasets()
    assert {"cdnow", "coupon_campaign", "patient_cohort", "alarm"} <= set(listing["name"])


def test_coupon_campaign_is_deterministic():
    a = simulate_coupon_campaign(300, n_stores=5, n_weeks=6, random_state=4)
    b = simulate_coupon_campaign(300, n_stores=5, n_weeks=6, random_state=4)
    pd.testing.assert_frame_equal(a.panel, b.panel)
    pd.testing.assert_frame_equal(a.coupons, b.coupons)
    np.testing.assert_array_equal(a.truth["p_redeem"], b.truth["p_redeem"])


def test_coupon_redemption_by_arm_matches_truth(small_campaign):
    offers = small_campaign.coupons.assign(p=small_campaign.truth["p_redeem"])
    assert len(offers) > 1000
    for coupon, grp in offers.groupby("coupon", observed=True):
        se = np.sqrt((grp["p"] * (1 - grp["p"])).sum()) / len(grp)
        assert _within(grp["redeemed"].mean(), grp["p"].mean(), se), coupon
    # the 20% coupon is redeemed more often, as the truth says
    rates = offers.groupby("coupon", observed=True)["redeemed"].mean()
    assert rates["20%"] > rates["10%"]


def test_coupon_panel_structure_and_purchase_rates(small_campaign):
    camp, truth = small_campaign, small_campaign.truth
    panel = camp.panel
    assert len(panel) == 1500 * 20
    assert panel.groupby("customer_id", observed=True).size().eq(20).all()
    # offers only in coupon arms, at the same rate whatever the hidden state; redeemed NaN exactly when no offer
    arm = panel.merge(camp.customers[["customer_id", "arm"]], on="customer_id")["arm"]
    assert (panel.loc[arm.to_numpy() == "control", "coupon"] == "none").all()
    offered = panel["coupon"] != "none"
    in_arm = arm.to_numpy() != "control"
    for state in truth["states"]:
        sel = in_arm & (panel["state"] == state).to_numpy()
        rate = offered[sel].mean()
        assert _within(rate, truth["offer_rate"], np.sqrt(0.25 / sel.sum())), state
    assert panel["redeemed"].isna().eq(panel["coupon"] == "none").all()
    for k, state in enumerate(truth["states"]):
        x = panel.loc[panel["state"] == state, "purchases"]
        rate = truth["purchase_rate"][k]
        assert _within(x.mean(), rate, np.sqrt(rate / len(x))), state
    assert (panel["spend"][panel["purchases"] == 0] == 0).all()
    assert (panel["spend"] >= 0).all()


def test_coupon_transitions_match_truth():
    camp = simulate_coupon_campaign(4000, n_stores=10, n_weeks=15, random_state=5)
    p = camp.panel
    nxt = p.groupby("customer_id", observed=True)["state"].shift(-1)
    steps = pd.DataFrame({"coupon": p["coupon"], "frm": p["state"], "to": nxt}).dropna()
    states = camp.truth["states"]
    for coupon, mat in camp.truth["transmat"].items():
        sub = steps[steps["coupon"] == coupon]
        for i, s in enumerate(states):
            rows = sub[sub["frm"] == s]
            if len(rows) < 200:
                continue
            freq = rows["to"].value_counts(normalize=True).reindex(states, fill_value=0).to_numpy()
            se = np.sqrt(mat[i] * (1 - mat[i]) / len(rows)) + 1e-12
            assert np.all(np.abs(freq - mat[i]) <= Z * se + 1e-9), (coupon, s, freq, mat[i])
    assert np.allclose(camp.truth["transmat"]["none"][2], [0, 0, 1])


def test_coupon_spend_per_purchase_matches_segment_mean(small_campaign):
    panel = small_campaign.panel.merge(small_campaign.customers[["customer_id", "segment"]], on="customer_id")
    truth = small_campaign.truth
    for seg, grp in panel.groupby("segment", observed=True):
        k = grp["purchases"].sum()
        mean = truth["spend_mean"][seg]
        sd_per = mean / np.sqrt(truth["spend_shape"])
        assert _within(grp["spend"].sum() / k, mean, sd_per / np.sqrt(k)), seg


def test_patient_cohort_deterministic_and_structured():
    a = simulate_patient_cohort(200, n_hospitals=4, n_visits=4, random_state=9)
    b = simulate_patient_cohort(200, n_hospitals=4, n_visits=4, random_state=9)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(a.visits, b.visits)
    assert len(a.visits) == 800
    comorb = (a.patients[["diabetes", "heart_failure", "copd"]] == "yes").sum(axis=1)
    assert (comorb == a.patients["comorbidities"]).all()


def test_patient_bn_marginals_match_truth(small_cohort):
    pats, bn = small_cohort.patients, small_cohort.truth["bn"]["nodes"]
    age = pats["age_band"].value_counts(normalize=True).reindex(bn["age_band"]["states"]).to_numpy()
    want = np.asarray(bn["age_band"]["cpt"])
    assert np.all(np.abs(age - want) <= Z * np.sqrt(want * (1 - want) / len(pats)))
    # P(diabetes = yes | age band) per band
    for i, band in enumerate(bn["age_band"]["states"]):
        sub = pats[pats["age_band"] == band]
        p = bn["diabetes"]["cpt"][i][1]
        assert _within((sub["diabetes"] == "yes").mean(), p, np.sqrt(p * (1 - p) / len(sub))), band


def test_patient_readmission_matches_truth(small_cohort):
    pats, p = small_cohort.patients, small_cohort.truth["p_readmit"]
    assert _within(pats["readmitted"].mean(), p.mean(), np.sqrt((p * (1 - p)).sum()) / len(p))
    # the model's risk factors move risk in the stated direction
    hf = pats["heart_failure"] == "yes"
    assert p[hf.to_numpy()].mean() > p[~hf.to_numpy()].mean()


def test_patient_visits_missingness_and_emissions(small_cohort):
    v, hm = small_cohort.visits, small_cohort.truth["hmm"]
    miss = v["test_result"].isna()
    assert miss.eq(v["biomarker"].isna()).all()
    assert _within(miss.mean(), hm["missing_rate"], np.sqrt(0.1 * 0.9 / len(v)))
    seen = v[~miss]
    for i, stage in enumerate(hm["states"]):
        sub = seen[seen["stage"] == stage]
        assert _within(sub["biomarker"].mean(), hm["biomarker_mean"][i], hm["biomarker_sd"][i] / np.sqrt(len(sub)))
        freq = sub["test_result"].value_counts(normalize=True).reindex(hm["test_levels"]).to_numpy()
        want = hm["emission_probs"][i]
        assert np.all(np.abs(freq - want) <= Z * np.sqrt(want * (1 - want) / len(sub)))
    # standard care never moves a patient to a milder stage
    nxt = v.groupby("patient_id", observed=True)["stage"].shift(-1)
    order = {s: k for k, s in enumerate(hm["states"])}
    std = (v["treatment"] == "standard") & nxt.notna()
    assert (v.loc[std, "stage"].map(order).astype(int) <= nxt[std].map(order).astype(int)).all()


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_simulators_reject_bad_sizes(bad):
    with pytest.raises(DataError, match="n_customers must be an integer >= 1"):
        simulate_coupon_campaign(bad)
    with pytest.raises(DataError, match="n_patients must be an integer >= 1"):
        simulate_patient_cohort(bad)


def test_simulators_scale():
    camp = simulate_coupon_campaign(100_000, n_weeks=4, random_state=1)
    assert len(camp.customers) == 100_000
    cohort = simulate_patient_cohort(100_000, n_visits=4, random_state=1)
    assert len(cohort.patients) == 100_000
