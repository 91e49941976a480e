"""Input-driven transitions: the M-step's estimates are consistent, the prior on inputs is fixed and settable."""

from __future__ import annotations

import numpy as np
import pytest

from probwb.errors import ModelError
from probwb.hmm import HMM
from probwb.hmm.iohmm import LogitTransitions

MASK = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 1]], dtype=bool)


def _saturated_counts(rng: np.random.Generator, n: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected counts for a 0/1 input (two patterns) and the closed-form maximum-likelihood coefficient."""
    intercept = np.array([[0.0, -2.3, -4.6], [-1.3, 0.0, -1.6], [-np.inf, -np.inf, 0.0]])
    coef = np.where(MASK, rng.normal(0.0, 1.0, (3, 3)), 0.0)
    coef[[0, 1, 2], [0, 1, 2]] = 0.0
    X = np.array([[0.0], [1.0]])
    logits = intercept[None] + X[:, :, None] * coef[None]
    P = np.exp(logits - np.logaddexp.reduce(logits, axis=2, keepdims=True))
    visits = np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1]]) * n
    xi = visits[:, :, None] * P
    # saturated model: coef[i, j] = log-odds ratio of j against staying put between the two patterns
    with np.errstate(divide="ignore", invalid="ignore"):
        mle = np.log(xi[1] / np.diagonal(xi[1])[:, None]) - np.log(xi[0] / np.diagonal(xi[0])[:, None])
    return xi, X, np.where(MASK, mle, 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_input_effect_error_vanishes_as_counts_grow(seed: int) -> None:
    errors = []
    for n in (1e3, 1e5, 1e7):
        xi, X, mle = _saturated_counts(np.random.default_rng(seed), n)
        trans = LogitTransitions(MASK, 1)
        trans.init_from(np.where(MASK, 1.0 / MASK.sum(axis=1, keepdims=True), 0.0))
        for _ in range(20):
            trans.mstep(xi, X)
        errors.append(float(np.abs(trans.coef_[0] - mle)[MASK & ~np.eye(3, dtype=bool)].max()))
    # a prior of fixed strength pulls like 1/n: the error falls about 100-fold per 100-fold more data
    assert errors[1] < errors[0] / 20 and errors[2] < errors[1] / 20, errors
    assert errors[2] < 1e-4, errors


def test_prior_strength_is_fixed_and_settable() -> None:
    xi, X, mle = _saturated_counts(np.random.default_rng(5), 50.0)
    fits = {}
    for sd in (None, 10.0, 0.5):
        trans = LogitTransitions(MASK, 1, prior_sd=sd)
        trans.init_from(np.where(MASK, 1.0 / MASK.sum(axis=1, keepdims=True), 0.0))
        for _ in range(30):
            trans.mstep(xi, X)
        fits[sd] = trans.coef_[0][MASK & ~np.eye(3, dtype=bool)]
    free = mle[MASK & ~np.eye(3, dtype=bool)]
    np.testing.assert_allclose(fits[None], free, atol=1e-6)  # no prior: the exact maximum-likelihood answer
    # a tighter prior pulls every coefficient further towards zero
    assert (np.abs(fits[0.5]) < np.abs(fits[10.0])).all() and (np.abs(fits[10.0]) <= np.abs(free) + 1e-9).all()
    assert trans.log_prior() == pytest.approx(-0.5 * float((fits[0.5] ** 2).sum()) / 0.25)
    with pytest.raises(ModelError, match="input_prior_sd"):
        HMM(2, inputs=["x"], input_prior_sd=-1.0)._check_input_prior()
