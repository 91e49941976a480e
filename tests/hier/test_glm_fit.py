"""HierarchicalGLM fitted to the simulators with known truth: coverage, predictions, risk outputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from probwb.datasets import simulate_coupon_campaign, simulate_patient_cohort
from probwb.errors import DataError, SamplingWarning
from probwb.hier import HierarchicalGLM

READMIT = ("readmitted ~ age_band + diabetes + heart_failure + copd + prior_admissions + treatment"
           " + (1 | hospital_id)")


def _fit(glm, df, **kw):
    with warnings.catch_warnings():
        # Short test chains may give a "warn" verdict (ESS); the verdict itself is asserted below.
        warnings.simplefilter("ignore", SamplingWarning)
        return glm.fit(df, draws=kw.pop("draws", 500), tune=kw.pop("tune", 500), chains=2,
                       progressbar=False, **kw)


@pytest.fixture(scope="module")
def cohort():
    return simulate_patient_cohort(n_patients=3000, n_hospitals=15, random_state=3)


@pytest.fixture(scope="module")
def readmit(cohort):
    return _fit(HierarchicalGLM(READMIT), cohort.patients, random_state=11)


def _coverage(summary, truth):
    s = summary.loc[list(truth)]
    t = pd.Series(truth)
    return ((s["lower"] <= t) & (t <= s["upper"])).to_numpy()


def test_readmission_intervals_cover_truth(readmit, cohort):
    tr = cohort.truth["readmission"]
    truth = {"Intercept": tr["intercept"], **tr["coef"], "sd(hospital_id: Intercept)": tr["hospital_sd"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        summ = readmit.summary(interval=0.9)
    cover = _coverage(summ, truth)
    # 10 nominal-90% intervals: P(7 or more cover) = 0.987 when calibrated.
    assert cover.sum() >= 7, summ.assign(truth=pd.Series(truth))
    league = readmit.group_league_table()
    true_eff = pd.Series(tr["hospital_effect"]).loc[league.index]
    hosp_cover = (league["effect_lower"] <= true_eff) & (true_eff <= league["effect_upper"])
    assert hosp_cover.mean() >= 0.7
    assert np.corrcoef(league["effect_mean"], true_eff)[0, 1] > 0.8
    # Pooled identical covariate rows: far fewer likelihood terms than patients.
    assert readmit.n_cells_ < 0.5 * readmit.n_obs_


def test_summary_carries_the_verdict(readmit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        summ = readmit.summary()
    assert set(summ["verdict"]) == {readmit.diagnostics_.verdict}
    assert summ.attrs["diagnostics"]["verdict"] == readmit.diagnostics_.verdict
    assert {"mean", "lower", "upper", "mean_std", "r_hat", "ess_bulk", "flag"} <= set(summ.columns)
    assert summ["r_hat"].notna().all()
    assert readmit.diagnostics_.n_divergent == 0


def test_risk_table_tracks_true_risk(readmit, cohort):
    df = cohort.patients
    risk = readmit.risk_table(df, interval=0.9)
    assert list(risk.columns) == ["risk_mean", "risk_sd", "risk_lower", "risk_upper"]
    assert risk.index.equals(df.index)
    assert ((risk["risk_lower"] <= risk["risk_mean"]) & (risk["risk_mean"] <= risk["risk_upper"])).all()
    p = cohort.truth["p_readmit"]
    assert np.corrcoef(risk["risk_mean"], p)[0, 1] > 0.9
    inside = (risk["risk_lower"] <= p) & (p <= risk["risk_upper"])
    assert inside.mean() > 0.75


def test_risk_tiers(readmit, cohort):
    df = cohort.patients.iloc[:400]
    tiers = readmit.risk_tiers(df, quantile=0.9, n_draws=300, random_state=0)
    assert tiers["p_top_tier"].between(0, 1).all()
    # In every draw about 10% of rows are in the top tier, so the probabilities average about 0.1.
    assert abs(tiers["p_top_tier"].mean() - 0.1) < 0.01
    assert tiers["top_tier"].sum() == pytest.approx(40, abs=2)
    top = tiers["top_tier"]
    assert tiers.loc[top, "p_top_tier"].mean() > tiers.loc[~top, "p_top_tier"].mean() + 0.3


def test_unseen_hospital_draws_from_population(readmit, cohort):
    row = cohort.patients.iloc[[0]]
    seen = readmit.predict(row, random_state=1)
    new = readmit.predict(row.assign(hospital_id="H99"), random_state=1)
    assert (new["upper"] - new["lower"]).iloc[0] > (seen["upper"] - seen["lower"]).iloc[0]
    samples = readmit.predict(pd.concat([row, row.assign(hospital_id="H99")]), kind="samples", n_draws=200)
    assert samples.shape == (200, 2) and ((samples > 0) & (samples < 1)).all()
    draws = readmit.predict(row, kind="predictive", n_draws=100, random_state=2)
    assert set(np.unique(draws)) <= {0.0, 1.0}
    with pytest.raises(DataError, match="not seen in training"):
        readmit.predict(row.assign(treatment="experimental"))
    with pytest.raises(DataError, match="did you mean 'hospital_id'"):
        readmit.group_league_table("hospital")


def test_league_table_structure(readmit):
    lt = readmit.group_league_table(interval=0.9)
    assert lt["effect_mean"].is_monotonic_decreasing
    assert lt["rank_mean"].between(1, len(lt)).all()
    assert (lt["rank_lower"] <= lt["rank_upper"]).all()
    assert lt["n_rows"].sum() == readmit.n_obs_
    # The worst-ranked hospital is more likely worse than average than the best-ranked one.
    assert lt["p_worse_than_average"].iloc[0] > lt["p_worse_than_average"].iloc[-1]


def test_save_load_roundtrip(readmit, cohort, tmp_path):
    path = readmit.save(tmp_path / "glm.pwb")
    loaded = HierarchicalGLM.load(path)
    row = cohort.patients.iloc[:3]
    pd.testing.assert_frame_equal(loaded.predict(row, random_state=0), readmit.predict(row, random_state=0))


def test_coupon_redemption_across_stores():
    camp = simulate_coupon_campaign(n_customers=1500, n_stores=12, n_weeks=12, random_state=4)
    # Default tuning length: with 12 stores the store-sd funnel occasionally diverges after only 500 steps.
    glm = _fit(HierarchicalGLM("redeemed ~ coupon + segment + state + (1 | store_id)"), camp.coupons,
               tune=1000, random_state=5)
    red = camp.truth["redemption"]
    # Treatment coding with references coupon 10%, segment "value", state "active".
    truth = {
        "Intercept": red["intercept"] + red["coupon"]["10%"] + red["segment"]["value"] + red["state"]["active"],
        "coupon[20%]": red["coupon"]["20%"] - red["coupon"]["10%"],
        "segment[regular]": red["segment"]["regular"] - red["segment"]["value"],
        "segment[premium]": red["segment"]["premium"] - red["segment"]["value"],
        "state[at_risk]": red["state"]["at_risk"] - red["state"]["active"],
        "state[churned]": red["state"]["churned"] - red["state"]["active"],
        "sd(store_id: Intercept)": red["store_sd"],
    }
    summ = glm.coefficients(interval=0.9)
    assert _coverage(summ, truth).sum() >= 5, summ.assign(truth=pd.Series(truth))
    league = glm.group_league_table()
    true_eff = pd.Series(red["store_effect"]).loc[league.index]
    assert np.corrcoef(league["effect_mean"], true_eff)[0, 1] > 0.8
    assert glm.diagnostics_.n_divergent == 0


def test_normal_family_varying_slope_matches_statsmodels():
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(7)
    n, g = 400, 8
    grp = rng.integers(0, g, n)
    x = rng.normal(50, 10, n)
    a = rng.normal(0, 2.0, g)
    b = rng.normal(0, 0.05, g)
    y = 10 + 0.3 * x + a[grp] + b[grp] * (x - 50) + rng.normal(0, 1.5, n)
    df = pd.DataFrame({"y": y, "x": x, "grp": [f"g{i}" for i in grp]})
    glm = _fit(HierarchicalGLM("y ~ x + (1 + x | grp)", family="normal"), df, random_state=8)
    coefs = glm.coefficients()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' optimiser retries are not what is tested here
        mixed = smf.mixedlm("y ~ x", df, groups=df["grp"], re_formula="~x").fit()
    assert abs(coefs.loc["x", "mean"] - mixed.fe_params["x"]) < 2 * coefs.loc["x", "sd"]
    assert abs(coefs.loc["x", "mean"] - 0.3) < 3 * coefs.loc["x", "sd"]
    assert abs(coefs.loc["sigma", "mean"] - 1.5) < 0.25
    assert {"sd(grp: Intercept)", "sd(grp: x)"} <= set(coefs.index)
    pred = glm.predict(df.iloc[:5])
    assert np.all(np.abs(pred["mean"] - df["y"].iloc[:5]) < 6)


def test_poisson_with_crossed_groups():
    rng = np.random.default_rng(21)
    n_store, n_week = 6, 5
    rows = 360
    store = rng.integers(0, n_store, rows)
    week = rng.integers(0, n_week, rows)
    x = rng.normal(size=rows)
    a = rng.normal(0, 0.4, n_store)
    b = rng.normal(0, 0.3, n_week)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + a[store] + b[week]))
    df = pd.DataFrame({"purchases": y, "x": x, "store": [f"S{i}" for i in store],
                       "week": [f"W{i}" for i in week]})
    glm = _fit(HierarchicalGLM("purchases ~ x + (1 | store) + (1 | week)", family="poisson"), df,
               random_state=22)
    coefs = glm.coefficients()
    assert abs(coefs.loc["x", "mean"] - 0.3) < 3 * coefs.loc["x", "sd"]
    assert abs(coefs.loc["Intercept", "mean"] - 0.5) < 3 * coefs.loc["Intercept", "sd"] + 0.1
    assert {"sd(store: Intercept)", "sd(week: Intercept)"} <= set(coefs.index)
    stores = glm.group_league_table("store")
    assert np.corrcoef(stores.loc[[f"S{i}" for i in range(n_store)], "effect_mean"], a)[0, 1] > 0.7
    ppc = glm.ppc(df, n_draws=200, random_state=0)
    assert not ppc.loc["mean", "flag"]


def test_pooled_loo_is_per_patient_and_equals_the_unpooled_model(readmit, cohort):
    # Issue #14: the pooled fit's PSIS-LOO was computed over its binomial cells (n_obs = n_cells).
    import arviz as az

    from probwb import diagnostics
    from probwb.hier import backend

    assert readmit.n_cells_ < 0.5 * readmit.n_obs_
    assert readmit.loo().n_obs == readmit.n_obs_ == len(cohort.patients)  # before the fix: n_cells_
    res = readmit.loo(pointwise=True)
    assert res.n_units < res.n_obs and "per observation" in res.note and f"{readmit.n_obs_:,} rows" in res.note
    # The same model fitted unpooled, its per-row log-likelihood evaluated by PyMC on the pooled fit's
    # draws: LOO on the same draws must agree to rounding.
    flat = HierarchicalGLM(READMIT, aggregate=False).build_model(cohort.patients)
    # the whole posterior, as PSIS's relative efficiency is the mean ESS over all its variables
    idata = az.InferenceData(posterior=readmit.idata_.posterior)
    backend.add_log_likelihood(flat, idata)
    assert idata.log_likelihood["obs_y"].shape[-1] == len(cohort.patients)
    ref = diagnostics.loo(idata, pointwise=True, warn=False)
    assert res.n_obs == ref.n_obs
    np.testing.assert_allclose([res.elpd_loo, res.se, res.p_loo], [ref.elpd_loo, ref.se, ref.p_loo], rtol=1e-8)
    np.testing.assert_allclose(res.loo_i, ref.loo_i, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.pareto_k, ref.pareto_k, rtol=1e-6, atol=1e-8)
    assert res.pareto_k_counts == ref.pareto_k_counts


def test_pooled_fit_stores_row_log_likelihood_for_compare(readmit):
    # fit(log_likelihood=True) stores what this helper adds: one column per row, so compare() between a
    # pooled and an unpooled model scores the same observations.
    import arviz as az

    from probwb import diagnostics

    idata = az.InferenceData(posterior=readmit.idata_.posterior)
    readmit._store_log_likelihood(idata)
    assert idata.log_likelihood["obs_y"].shape == (2, 500, readmit.n_obs_)
    direct = diagnostics.loo(idata, warn=False)
    res = readmit.loo()
    assert direct.n_obs == res.n_obs
    np.testing.assert_allclose([direct.elpd_loo, direct.se, direct.p_loo], [res.elpd_loo, res.se, res.p_loo],
                               rtol=1e-10)
