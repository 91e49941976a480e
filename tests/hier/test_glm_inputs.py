"""Bad input to HierarchicalGLM fails early with clear errors (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probwb.errors import DataError, NotFittedError, SpecError
from probwb.hier import HierarchicalGLM


def _df(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.integers(0, 2, n),
        "count": rng.poisson(2.0, n),
        "x": rng.normal(size=n),
        "grp": rng.choice(["a", "b", "c"], n),
        "n": np.full(n, 5),
    })


def test_non_binary_outcome_for_bernoulli():
    df = _df().assign(y=lambda d: d["count"])
    with pytest.raises(DataError, match="coded 0/1"):
        HierarchicalGLM("y ~ x + (1 | grp)").build_model(df)


def test_negative_and_fractional_counts():
    df = _df()
    df.loc[3, "count"] = -1
    with pytest.raises(DataError, match="non-negative counts.*position 3"):
        HierarchicalGLM("count ~ x + (1 | grp)", family="poisson").build_model(df)
    df = _df().assign(count=lambda d: d["count"] + 0.5)
    with pytest.raises(DataError, match="whole counts"):
        HierarchicalGLM("count ~ x + (1 | grp)", family="negbinomial").build_model(df)


def test_binomial_successes_above_trials():
    df = _df().assign(n=1, count=2)
    with pytest.raises(DataError, match="exceeds trials"):
        HierarchicalGLM("count | trials(n) ~ x + (1 | grp)", family="binomial").build_model(df)
    with pytest.raises(SpecError, match="trials"):
        HierarchicalGLM("count ~ x", family="binomial")
    with pytest.raises(SpecError, match="only for family='binomial'"):
        HierarchicalGLM("count | trials(n) ~ x", family="poisson")


def test_nan_unknown_column_and_single_level_group():
    df = _df()
    df.loc[5, "y"] = np.nan
    with pytest.raises(DataError, match="missing value"):
        HierarchicalGLM("y ~ x + (1 | grp)").build_model(df)
    df = _df()
    df.loc[7, "x"] = np.nan
    with pytest.raises(DataError, match="predictor 'x'"):
        HierarchicalGLM("y ~ x + (1 | grp)").build_model(df)
    with pytest.raises(DataError, match="did you mean 'grp'"):
        HierarchicalGLM("y ~ x + (1 | group)").build_model(_df())
    with pytest.raises(DataError, match="single level"):
        HierarchicalGLM("y ~ x + (1 | grp)").build_model(_df().assign(grp="a"))
    with pytest.raises(DataError, match="DataFrame"):
        HierarchicalGLM("y ~ x").build_model(np.zeros((3, 2)))


def test_family_and_prior_validation():
    with pytest.raises(SpecError, match="did you mean 'poisson'"):
        HierarchicalGLM("y ~ x", family="poison")
    with pytest.raises(SpecError, match="unknown prior key 'betta'"):
        HierarchicalGLM("y ~ x + (1 | grp)", priors={"betta": {"dist": "normal", "sigma": 1}}).build_model(_df())
    with pytest.raises(SpecError, match="unknown distribution"):
        HierarchicalGLM("y ~ x", priors={"beta": {"dist": "wibble"}}).build_model(_df())
    with pytest.raises(SpecError, match="must be 'normal'"):
        HierarchicalGLM("y ~ x", priors={"beta[x]": {"dist": "cauchy", "beta": 1}}).build_model(_df())
    with pytest.raises(SpecError, match="aggregate"):
        HierarchicalGLM("y ~ x", aggregate="sometimes")


def test_prior_overrides_reach_the_model():
    m = HierarchicalGLM("y ~ x + (1 | grp)", priors={
        "beta[x]": {"dist": "normal", "mu": 1.0, "sigma": 0.1},
        "sd[grp]": {"dist": "halfnormal", "sigma": 0.2},
    }).build_model(_df())
    beta = m["beta"].owner.inputs
    mu = np.asarray(beta[2].eval()) if beta[2].ndim else None
    assert mu is not None and mu.tolist() == [1.0]
    assert "sd_grp" in m.named_vars


def test_pooling_of_identical_bernoulli_rows_keeps_counts():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"y": rng.integers(0, 2, 300), "sex": rng.choice(["F", "M"], 300),
                       "grp": rng.choice(["a", "b", "c"], 300)})
    glm = HierarchicalGLM("y ~ sex + (1 | grp)")
    model = glm.build_model(df)
    assert glm.n_cells_ == 6
    assert model["trials"].get_value().sum() == 300
    assert model["y"].get_value().sum() == df["y"].sum()
    unpooled = HierarchicalGLM("y ~ sex + (1 | grp)", aggregate=False)
    unpooled.build_model(df)
    assert unpooled.n_cells_ == 300


def test_methods_before_fit_raise():
    glm = HierarchicalGLM("y ~ x + (1 | grp)")
    for call in (lambda: glm.predict(_df()), glm.summary, lambda: glm.group_league_table(),
                 lambda: glm.risk_table(_df())):
        with pytest.raises(NotFittedError):
            call()


def test_prior_predictive_for_each_family():
    df = _df()
    for family, formula in [("negbinomial", "count ~ x + (1 | grp)"), ("studentt", "x ~ count + (1 | grp)"),
                            ("binomial", "count | trials(n) ~ x + (1 | grp)")]:
        pp = HierarchicalGLM(formula, family=family).prior_predictive(
            df.assign(n=lambda d: np.maximum(d["n"], d["count"])), draws=50, random_state=1)
        ypp = np.asarray(pp.prior_predictive["obs_y"])
        assert ypp.shape[:2] == (1, 50)
        if family != "studentt":
            assert (ypp >= 0).all() and np.allclose(ypp, np.round(ypp))


def test_pooled_binomial_loo_counts_rows_with_their_own_trials():
    # Binomial rows with different trials pooled into cells: each row keeps its own log C(n_i, y_i) +
    # y_i log p + (n_i - y_i) log(1 - p) in LOO, as in the unpooled model (same draws, PyMC's logp).
    import warnings

    import arviz as az

    from probwb import diagnostics
    from probwb.errors import SamplingWarning
    from probwb.hier import backend

    rng = np.random.default_rng(4)
    n = rng.integers(1, 6, 240)
    df = pd.DataFrame({"n": n, "sex": rng.choice(["F", "M"], 240), "grp": rng.choice(["a", "b", "c", "d"], 240)})
    df["k"] = rng.binomial(n, 0.3 + 0.2 * (df["sex"] == "M"))
    formula = "k | trials(n) ~ sex + (1 | grp)"
    glm = HierarchicalGLM(formula, family="binomial", aggregate=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        glm.fit(df, draws=60, tune=100, chains=2, random_state=3, progressbar=False)
    assert glm.n_cells_ == 8
    res = glm.loo(pointwise=True)
    flat = HierarchicalGLM(formula, family="binomial", aggregate=False).build_model(df)
    idata = az.InferenceData(posterior=glm.idata_.posterior)
    backend.add_log_likelihood(flat, idata)
    ref = diagnostics.loo(idata, pointwise=True, warn=False)
    assert res.n_obs == ref.n_obs == 240 and res.n_units < 240
    np.testing.assert_allclose([res.elpd_loo, res.se, res.p_loo], [ref.elpd_loo, ref.se, ref.p_loo], rtol=1e-8)
    np.testing.assert_allclose(res.loo_i, ref.loo_i, rtol=1e-8, atol=1e-10)
