"""Correlated varying intercepts and slopes (LKJ prior), as lme4's ``(1 + x | g)``; ``||`` keeps them apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probwb.errors import SpecError
from probwb.hier import HierarchicalGLM
from probwb.hier.formula import parse_formula
from probwb.hier.glm import _covariance, _pair_labels

RHO, SD_INT, SD_SLOPE = 0.7, 1.0, 0.6


@pytest.fixture(scope="module")
def correlated_data():
    """40 hospitals with intercepts and slopes drawn with correlation RHO (known truth)."""
    rng = np.random.default_rng(2026)
    n_groups, per = 40, 25
    cov = np.array([[SD_INT**2, RHO * SD_INT * SD_SLOPE], [RHO * SD_INT * SD_SLOPE, SD_SLOPE**2]])
    eff = rng.multivariate_normal([0.0, 0.0], cov, size=n_groups)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    y = 1.0 + 0.5 * x + eff[g, 0] + eff[g, 1] * x + rng.normal(scale=0.5, size=g.size)
    return pd.DataFrame({"y": y, "x": x, "hospital": [f"h{i:02d}" for i in g]})


def test_formula_bars():
    assert parse_formula("y ~ x + (1 + x | g)").groups[0].correlated
    assert not parse_formula("y ~ x + (1 + x || g)").groups[0].correlated
    with pytest.raises(SpecError, match="exactly one"):
        parse_formula("y ~ x + (1 | x | g)")


def test_pair_labels_and_covariance():
    assert _pair_labels(["Intercept", "x", "z"]) == ["Intercept:x", "Intercept:z", "x:z"]
    cov = _covariance(np.array([[2.0, 3.0]]), np.array([[0.5]]))
    np.testing.assert_allclose(cov[0], [[4.0, 3.0], [3.0, 9.0]])


def test_correlation_is_recovered_and_reported(correlated_data):
    df = correlated_data
    glm = HierarchicalGLM("y ~ x + (1 + x | hospital)", family="normal").fit(
        df, draws=400, tune=400, chains=2, random_state=3, progressbar=False)
    assert "corr_hospital" in glm.param_names()
    rho = np.asarray(glm.idata_.posterior["corr_hospital"]).reshape(-1)
    lo, hi = np.quantile(rho, [0.05, 0.95])
    assert lo < RHO < hi and lo > 0.1  # covers the truth and is clearly positive
    coefs = glm.summary(warn=False)
    row = coefs.loc["corr(hospital: Intercept, x)"]
    assert np.isfinite(row["r_hat"]) and -1 < row["mean"] < 1
    # unseen hospitals draw correlated (intercept, slope) pairs from the population distribution
    new = pd.DataFrame({"x": [-2.0, 2.0], "hospital": ["new", "new"]})
    pred = glm.predict(new, kind="mean")
    assert len(pred) == 2 and np.isfinite(np.asarray(pred.select_dtypes("number"))).all()


def test_double_bar_keeps_effects_independent(correlated_data):
    df = correlated_data.iloc[:500]
    glm = HierarchicalGLM("y ~ x + (1 + x || hospital)", family="normal").fit(
        df, draws=150, tune=150, chains=2, random_state=4, progressbar=False)
    assert "corr_hospital" not in glm.idata_.posterior and "corr_hospital" not in glm.param_names()
    assert not any(i.startswith("corr(") for i in glm.coefficients().index)


def test_corr_prior_override_is_checked():
    with pytest.raises(SpecError, match="lkj"):
        HierarchicalGLM("y ~ x + (1 + x | g)", family="normal", priors={"corr": {"dist": "normal"}})._resolved_priors(
            np.array([1.0, 2.0, 4.0]), _info_for(["Intercept", "x"]))


def _info_for(cols):
    from probwb.hier.formula import DesignInfo

    return DesignInfo(formula=parse_formula("y ~ x + (1 + x | g)"), coef_names=["x"],
                      group_levels={"g": ["a", "b"]}, group_columns={"g": cols})
