"""probwb.stats.regress: equal to statsmodels' formula API (its own design matrix via patsy) to 1e-10 over
varied data, families and standard-error types; bad input; warnings; interpretation and plots."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probwb.errors import ConvergenceWarning, DataError, SpecError
from probwb.stats import regress
from probwb.stats.regress import glm_sandwich

sm = pytest.importorskip("statsmodels.api")
smf = pytest.importorskip("statsmodels.formula.api")

TOL = dict(rtol=1e-10, atol=1e-12)


def _data(seed: int, n: int, family: str, n_clusters: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], n)
    g[:3] = ["a", "b", "c"]
    h = rng.choice(["u", "v"], n)
    h[:2] = ["u", "v"]
    x = rng.normal(size=n) * rng.uniform(0.5, 3)
    z = rng.normal(size=n)
    eta = 0.3 + 0.5 * (g == "b") - 0.4 * (g == "c") + 0.3 * x + 0.2 * z * (h == "v")
    if family == "gaussian":
        y = 2.0 + 3 * eta + rng.normal(size=n) * (1 + np.abs(x))
    elif family == "binomial":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    elif family == "poisson":
        y = rng.poisson(np.exp(0.5 + 0.5 * eta)).astype(float)
    else:
        y = rng.negative_binomial(3, 3 / (3 + np.exp(1 + 0.5 * eta))).astype(float)
    df = pd.DataFrame({"y": y, "g": g, "h": h, "x": x, "z": z})
    if n_clusters:
        df["site"] = [f"s{i:02d}" for i in rng.integers(0, n_clusters, n)]
    return df


FORMULAS = ["y ~ g + x", "y ~ g * x", "y ~ g * h + z", "y ~ x + h * z"]


def _compare_table(ours, params, bse, stat, pvalues, ci):
    names = list(params.index)
    t = ours.table.loc[names]
    np.testing.assert_allclose(t["estimate"], params, **TOL)
    np.testing.assert_allclose(t["se"], bse, **TOL)
    np.testing.assert_allclose(t["statistic"], stat, **TOL)
    np.testing.assert_allclose(t["pvalue"], pvalues, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(t[["ci_low", "ci_high"]].to_numpy(), np.asarray(ci), **TOL)
    assert set(ours.table.index) == set(names)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(40, 300), formula=st.sampled_from(FORMULAS),
       se=st.sampled_from(["classical", "HC0", "HC1", "HC2", "HC3"]), confidence=st.sampled_from([0.9, 0.95]))
def test_ols_matches_statsmodels(seed, n, formula, se, confidence):
    df = _data(seed, n, "gaussian")
    ours = regress(df, formula, se=se, confidence=confidence)
    ref = smf.ols(formula, df).fit(cov_type="nonrobust" if se == "classical" else se, use_t=True)
    _compare_table(ours, ref.params, ref.bse, ref.tvalues, ref.pvalues, ref.conf_int(1 - confidence))
    f = ours.fit
    for ours_key, value in [("r_squared", ref.rsquared), ("adj_r_squared", ref.rsquared_adj),
                            ("residual_se", np.sqrt(ref.scale)), ("F", ref.fvalue), ("F_pvalue", ref.f_pvalue),
                            ("loglik", ref.llf), ("AIC", ref.aic + 2), ("BIC", ref.bic + np.log(n))]:
        np.testing.assert_allclose(f[ours_key], value, rtol=1e-10, atol=1e-300, err_msg=ours_key)
    assert f["df_resid"] == ref.df_resid and f["n"] == n
    infl = ref.get_influence()
    np.testing.assert_allclose(ours.residuals["cooks_d"], infl.cooks_distance[0], **TOL)
    np.testing.assert_allclose(ours.residuals["leverage"], infl.hat_matrix_diag, **TOL)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(80, 300), formula=st.sampled_from(FORMULAS),
       family=st.sampled_from(["binomial", "poisson"]), se=st.sampled_from(["classical", "HC0"]))
def test_glm_matches_statsmodels(seed, n, formula, family, se):
    df = _data(seed, n, family)
    fam = sm.families.Binomial() if family == "binomial" else sm.families.Poisson()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rare separation in small draws: both fits see it alike
        ours = regress(df, formula, family, se=se)
        ref = smf.glm(formula, df, family=fam).fit(cov_type="nonrobust" if se == "classical" else se)
    _compare_table(ours, ref.params, ref.bse, ref.tvalues, ref.pvalues, ref.conf_int(0.05))
    ratio = "odds_ratio" if family == "binomial" else "rate_ratio"
    np.testing.assert_allclose(ours.table.loc[ref.params.index, ratio], np.exp(ref.params), **TOL)
    f = ours.fit
    for key, value in [("deviance", ref.deviance), ("null_deviance", ref.null_deviance), ("loglik", ref.llf),
                       ("pearson_chi2", ref.pearson_chi2), ("AIC", ref.aic),
                       ("BIC", -2 * ref.llf + np.log(n) * len(ref.params))]:
        np.testing.assert_allclose(f[key], value, rtol=1e-10, err_msg=key)


def test_negative_binomial_matches_statsmodels_ml_dispersion():
    for seed in (1, 2, 3):
        df = _data(seed, 400, "negative_binomial")
        ours = regress(df, "y ~ g + x", "negative_binomial")
        nb_model = smf.negativebinomial("y ~ g + x", df)
        nb = nb_model.fit(disp=0, maxiter=200)
        # statsmodels' joint optimiser stops at ~1e-5; ours is refined to the joint maximum (as R's glm.nb)
        assert ours.fit["theta"] == pytest.approx(1 / nb.params["alpha"], rel=1e-3)
        ours_params = np.r_[ours.table.loc[nb.params.index[:-1], "estimate"], ours.details["alpha"]]
        assert nb_model.loglike(ours_params) >= nb_model.loglike(nb.params.to_numpy()) - 1e-9
        score = nb_model.score(ours_params)
        # a stationary point: every score component of a 400-row log-likelihood below 1e-4 (statsmodels: ~1e-3)
        assert np.max(np.abs(score)) < 1e-4
        ref = smf.glm("y ~ g + x", df, family=sm.families.NegativeBinomial(alpha=ours.details["alpha"])).fit()
        _compare_table(ours, ref.params, ref.bse, ref.tvalues, ref.pvalues, ref.conf_int(0.05))
        assert ours.fit["AIC"] == pytest.approx(-2 * ref.llf + 2 * (len(ref.params) + 1), rel=1e-12)
        se_alpha = np.sqrt(np.diag(np.linalg.inv(-nb_model.hessian(ours_params))))[-1]
        assert ours.fit["theta_se"] == pytest.approx(se_alpha / ours.details["alpha"] ** 2, rel=1e-10)


@pytest.mark.parametrize("family", ["gaussian", "binomial", "poisson"])
def test_cluster_robust_matches_statsmodels(family):
    df = _data(17, 500, family, n_clusters=25)
    ours = regress(df, "y ~ g + x", family, cluster="site")
    groups = pd.factorize(df["site"], sort=True)[0]
    if family == "gaussian":
        ref = smf.ols("y ~ g + x", df).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
        assert ours.fit["F_df2"] == 24  # t and F with G - 1 degrees of freedom
    else:
        fam = sm.families.Binomial() if family == "binomial" else sm.families.Poisson()
        ref = smf.glm("y ~ g + x", df, family=fam).fit(cov_type="cluster", cov_kwds={"groups": groups})
    _compare_table(ours, ref.params, ref.bse, ref.tvalues, ref.pvalues, ref.conf_int(0.05))
    assert ours.se_type == "cluster" and ours.details["n_clusters"] == 25
    assert "cluster-robust over 25 clusters of 'site'" in ours.interpret()


def test_glm_sandwich_reduces_to_ols_hc_and_matches_statsmodels_hc0():
    df = _data(5, 120, "gaussian")
    ols = smf.ols("y ~ g * x", df)
    x, y = ols.exog, ols.endog
    mu = ols.fit().fittedvalues.to_numpy()
    for kind in ("HC0", "HC1", "HC2", "HC3"):
        cov = glm_sandwich(x, y, mu, np.ones_like(y), np.ones_like(y), kind)
        np.testing.assert_allclose(cov, ols.fit(cov_type=kind).cov_params().to_numpy(), rtol=1e-10, atol=1e-14)
    dfp = _data(6, 150, "poisson")
    ours = regress(dfp, "y ~ g + x", "poisson", se="HC3")
    hc0 = regress(dfp, "y ~ g + x", "poisson", se="HC0")
    # HC3 inflates each squared score by 1 / (1 - h)^2 > 1: every SE is larger than HC0's
    assert (ours.table["se"] > hc0.table["se"]).all()
    assert ours.interpret().count("HC3") == 1


def test_exposure_and_trials():
    rng = np.random.default_rng(3)
    n = 300
    t = rng.uniform(0.5, 5, n)
    g = rng.choice(["a", "b"], n)
    y = rng.poisson(t * np.exp(0.2 + 0.7 * (g == "b")))
    df = pd.DataFrame({"y": y, "g": g, "t": t})
    ours = regress(df, "y ~ g", "poisson", exposure="t")
    ref = smf.glm("y ~ g", df, family=sm.families.Poisson(), exposure=df["t"]).fit()
    _compare_table(ours, ref.params, ref.bse, ref.tvalues, ref.pvalues, ref.conf_int(0.05))
    k = rng.integers(1, 30, n)
    s = rng.binomial(k, 1 / (1 + np.exp(-(0.3 - 0.8 * (g == "b")))))
    dfb = pd.DataFrame({"s": s, "k": k, "g": g})
    ours = regress(dfb, "s ~ g", "binomial", trials="k")
    endog = np.column_stack([s, k - s])
    ref = sm.GLM(endog, sm.add_constant((g == "b").astype(float)), family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(ours.table["estimate"], ref.params, **TOL)
    np.testing.assert_allclose(ours.table["se"], ref.bse, **TOL)
    np.testing.assert_allclose(ours.fit["deviance"], ref.deviance, rtol=1e-10)


def test_bad_input_raises_clear_errors():
    df = _data(0, 60, "gaussian")
    with pytest.raises(DataError, match="no column 'xx'.*did you mean 'x'"):
        regress(df, "y ~ g + xx")
    with pytest.raises(DataError, match="response 'g' must hold numeric values.*found dtype"):
        regress(df, "g ~ x")
    with pytest.raises(DataError, match=r"must be 0/1 for the binomial family.*found 2 at row 5"):
        regress(df.assign(b=np.where(np.arange(60) == 5, 2.0, 1.0) * (np.arange(60) % 2)), "b ~ x", "binomial")
    with pytest.raises(DataError, match="column 'x' has 1 missing value.*index 7.*missing='drop'"):
        regress(df.assign(x=df.x.where(df.index != 7)), "y ~ x")
    with pytest.warns(UserWarning, match="dropped 1 row"):
        assert regress(df.assign(x=df.x.where(df.index != 7)), "y ~ x", missing="drop").fit["n"] == 59
    with pytest.raises(DataError, match="non-negative whole counts.*found -1"):
        regress(df.assign(c=-1.0), "c ~ x", "poisson")
    with pytest.raises(DataError, match="between 0 and the trials"):
        regress(df.assign(s=5, k=3), "s ~ x", "binomial", trials="k")
    with pytest.raises(DataError, match="'x2' is a linear combination"):
        regress(df.assign(x2=2 * df.x), "y ~ x + x2")
    with pytest.raises(DataError, match="infinite"):
        regress(df.assign(x=df.x.where(df.index != 3, np.inf)), "y ~ x")
    with pytest.raises(SpecError, match="family must be one of"):
        regress(df, "y ~ x", "gamma")
    with pytest.raises(SpecError, match="se must be one of"):
        regress(df, "y ~ x", se="HC9")
    with pytest.raises(SpecError, match="formula"):
        regress(df, "y x")
    with pytest.raises(DataError, match="no coefficient 'dos'"):
        regress(df, "y ~ x").coef("dos")


def test_separation_and_nonconvergence_warn():
    x = np.r_[np.arange(10.0), np.arange(10.0) + 10]
    df = pd.DataFrame({"y": (x >= 10).astype(float), "x": x})
    with pytest.warns(ConvergenceWarning, match="separation"):
        res = regress(df, "y ~ x", "binomial")
    assert any("separation" in w for w in res.warnings) and "Caution" in res.interpret()
    rng = np.random.default_rng(0)
    ok = pd.DataFrame({"y": rng.integers(0, 2, 200).astype(float), "x": rng.normal(size=200)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert regress(ok, "y ~ x", "binomial").warnings == ()


def test_interpretation_and_plots():
    import matplotlib.pyplot as plt

    from probwb.stats.plots import regress_plot

    df = _data(9, 200, "gaussian")
    res = regress(df, "y ~ g + x")
    text = res.interpret()
    assert text.startswith("A linear regression of y") and "g = c (vs a)" in text and "x (per unit" in text
    assert "constant variance" in text  # the simulated noise grows with |x|: Breusch-Pagan flags it
    logit = regress(_data(9, 400, "binomial"), "y ~ g + x", "binomial")
    assert "multiplies the odds of y" in logit.interpret()
    for kind in ("residuals", "qq", "leverage", "coef"):
        ax = regress_plot(res, kind=kind)
        assert len(ax.collections) + len(ax.lines) > 0
    ax = regress_plot(logit, kind="coef")
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["g[T.b]", "g[T.c]", "x"]
    plt.close("all")
    with pytest.raises(DataError):
        regress_plot(res, kind="pie")
    assert "<table" in res._repr_html_() and "Intercept" in repr(res)


def test_regress_runs_from_a_stats_spec():
    from probwb.stats.spec import run_spec, validate_spec

    spec = {"data": {"source": "simulate_patient_cohort", "args": {"n_patients": 600, "random_state": 3},
                     "table": "patients"},
            "model": {"kind": "stats"},
            "tests": [{"test": "regress", "title": "Readmission (logistic, cluster-robust)",
                       "args": {"formula": "readmitted ~ age_band + treatment", "family": "binomial",
                                "cluster": "hospital_id"}}]}
    validate_spec(spec)
    out = run_spec(spec, quick=True, random_state=0)
    res = out["tests"][0]
    assert res.se_type == "cluster" and "odds_ratio" in out["tables"]["Readmission (logistic, cluster-robust)"]
    assert out["text"][0].startswith("A binomial GLM with logit link for readmitted")
    with pytest.raises(SpecError, match="did you mean 'family'"):
        validate_spec({"tests": [{"test": "regress", "args": {"formula": "y ~ x", "famly": "poisson"}}]})
