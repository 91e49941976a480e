"""The sampler backend: argument checks, samplers, data replacement without recompiling."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from probwb.errors import DataError, ModelError
from probwb.hier import backend


def _model():
    with pm.Model() as m:
        y = pm.Data("y", np.array([0.1, -0.3, 0.5, 0.2]))
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("obs", mu, 1.0, observed=y)
    return m


def test_argument_checks():
    m = _model()
    with pytest.raises(DataError, match="sampler must be one of"):
        backend.sample(m, sampler="stan")
    with pytest.raises(DataError, match="draws"):
        backend.sample(m, draws=0)
    with pytest.raises(DataError, match="target_accept"):
        backend.sample(m, target_accept=1.2)
    with pytest.raises(DataError, match="mass_matrix"):
        backend.sample(m, mass_matrix="dense")
    assert "pymc" in backend.available_samplers()


def test_numpyro_missing_is_a_clear_error():
    if "numpyro" in backend.available_samplers():
        pytest.skip("numpyro is installed here")
    with pytest.raises(ModelError, match="numpyro"):
        backend.sample(_model(), sampler="numpyro")


@pytest.mark.skipif("nutpie" not in backend.available_samplers(), reason="nutpie not installed")
def test_nutpie_conjugate_posterior_and_new_data_reuse_compilation():
    m = _model()
    idata = backend.sample(m, draws=500, tune=300, chains=2, random_state=1, progressbar=False)
    assert idata.posterior.attrs["sampler"] == "nutpie" and idata.posterior.attrs["compile_time"] > 0
    assert "observed_data" in idata.groups() and "diverging" in idata.sample_stats
    # Conjugate: mu | y ~ Normal(sum(y) / (n + 1), 1 / sqrt(n + 1)).
    post = np.asarray(idata.posterior["mu"]).ravel()
    assert abs(post.mean() - 0.5 / 5) < 0.08 and abs(post.std() - np.sqrt(1 / 5)) < 0.05
    backend.set_data(m, {"y": np.full(9, 2.0)})
    again = backend.sample(m, draws=500, tune=300, chains=2, random_state=1, progressbar=False)
    assert again.posterior.attrs["compile_time"] == 0.0
    assert abs(float(again.posterior["mu"].mean()) - 18 / 10) < 0.08
    same = backend.sample(m, draws=500, tune=300, chains=2, random_state=1, progressbar=False)
    np.testing.assert_array_equal(np.asarray(again.posterior["mu"]), np.asarray(same.posterior["mu"]))
    assert backend.observed_data_names(m) == {"obs": "y"}


def test_observed_constants_are_rejected_for_data_replacement():
    with pm.Model() as m:
        mu = pm.Normal("mu")
        pm.Normal("obs", mu, 1.0, observed=np.zeros(3))
    with pytest.raises(ModelError, match="pm.Data"):
        backend.observed_data_names(m)


@pytest.mark.skipif("nutpie" not in backend.available_samplers(), reason="nutpie not installed")
def test_numba_route_and_fallback_follow_new_data(monkeypatch):
    def broken(model):
        raise AttributeError("nutpie internals changed")

    monkeypatch.setattr(backend, "_nutpie_c_model", broken)
    m = _model()
    idata = backend.sample(m, draws=300, tune=300, chains=2, random_state=4, progressbar=False,
                           compile_backend="c")
    assert abs(float(idata.posterior["mu"].mean()) - 0.1) < 0.1
    assert idata.posterior.attrs["compile_backend"] == "numba"
    backend.set_data(m, {"y": np.full(9, 2.0)})
    again = backend.sample(m, draws=300, tune=300, chains=2, random_state=4, progressbar=False,
                           compile_backend="c")
    assert again.posterior.attrs["compile_time"] == 0.0
    assert abs(float(again.posterior["mu"].mean()) - 1.8) < 0.1


def test_numpyro_sampler_on_eight_schools():
    if "numpyro" not in backend.available_samplers():
        pytest.skip("numpyro/jax not installed (the 'jax' extra)")
    from probwb import diagnostics
    from probwb.hier.glm import meta_analysis_model

    model = meta_analysis_model([28, 8, -3, 7, -1, 1, 18, 12], [15, 10, 16, 11, 9, 11, 10, 18])
    idata = backend.sample(model, draws=400, tune=400, chains=2, sampler="numpyro", random_state=3,
                           progressbar=False)
    assert idata.posterior.attrs["sampler"] == "numpyro"
    assert {"posterior", "sample_stats"} <= set(idata.groups()) and "diverging" in idata.sample_stats
    # Reference posterior (posteriordb eight_schools_noncentered): mu ~ 4.4, tau ~ 3.6; sd of the
    # posterior means over 800 draws is well under 0.5 for both.
    assert abs(float(idata.posterior["mu"].mean()) - 4.4) < 1.2
    assert abs(float(idata.posterior["tau"].mean()) - 3.6) < 1.2
    res = diagnostics.check(idata, var_names=["mu", "tau"], warn=False)
    assert res.n_divergent == int(idata.sample_stats["diverging"].sum())
