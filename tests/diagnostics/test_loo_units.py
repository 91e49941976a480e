"""PSIS-LOO per observation when observations share one pointwise log-likelihood (pooled cells)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from probwb import diagnostics as dg
from probwb.errors import DataError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az


def _bernoulli_cells(rng, n_cells, chains, draws):
    """Posterior draws of cell logits and, per cell, rows with y = 1 and y = 0."""
    mu = rng.normal(0.0, 1.0, size=n_cells)
    eta = mu + rng.normal(0.0, 0.3, size=(chains, draws, n_cells))  # a posterior per cell
    n = rng.integers(1, 6, size=n_cells)
    k = rng.binomial(n, special.expit(mu))
    return eta, n, k


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_cells=st.integers(2, 12), chains=st.integers(1, 3),
       draws=st.integers(30, 120))
def test_unit_expansion_equals_loo_on_the_expanded_rows(seed, n_cells, chains, draws):
    rng = np.random.default_rng(seed)
    eta, n, k = _bernoulli_cells(rng, n_cells, chains, draws)
    # distinct (cell, y) log-likelihoods, and the rows they stand for (rows in a shuffled order)
    units_cell = np.repeat(np.arange(n_cells), 2)
    units_y = np.tile([1, 0], n_cells)
    ll_units = np.where(units_y == 1, -np.logaddexp(0, -eta[..., units_cell]), -np.logaddexp(0, eta[..., units_cell]))
    rows_unit = np.concatenate([np.repeat(2 * c, k[c]) for c in range(n_cells)]
                               + [np.repeat(2 * c + 1, n[c] - k[c]) for c in range(n_cells)])
    rows_unit = rng.permutation(rows_unit)
    post = {"theta": rng.normal(size=(chains, draws)), "eta": eta}
    pooled = az.from_dict(posterior=post, log_likelihood={"y": ll_units})
    rows = az.from_dict(posterior=post, log_likelihood={"y": ll_units[..., rows_unit]})
    a = dg.loo(pooled, unit_of_obs=rows_unit, pointwise=True, warn=False)
    b = dg.loo(rows, pointwise=True, warn=False)
    assert a.n_obs == b.n_obs == n.sum()
    assert a.n_units == 2 * n_cells and b.n_units == n.sum()
    np.testing.assert_allclose([a.elpd_loo, a.se, a.p_loo], [b.elpd_loo, b.se, b.p_loo], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(a.loo_i, b.loo_i, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(a.pareto_k, b.pareto_k)
    assert a.pareto_k_counts == b.pareto_k_counts
    assert "per observation" in a.note and "per log-likelihood term" in b.note


def test_unit_of_obs_is_checked():
    rng = np.random.default_rng(1)
    eta, _, _ = _bernoulli_cells(rng, 3, 2, 50)
    idata = az.from_dict(posterior={"eta": eta}, log_likelihood={"y": -np.logaddexp(0, -eta)})
    with pytest.raises(DataError, match="unit_of_obs must be .* 0..2"):
        dg.loo(idata, unit_of_obs=np.array([0, 1, 3]))
    with pytest.raises(DataError, match="integer"):
        dg.loo(idata, unit_of_obs=np.array([0.0, 1.0]))
