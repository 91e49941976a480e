"""EM runs to convergence: a converged fit is at the maximum a much longer run finds, and a short run says so."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from probwb.datasets import simulate_coupon_campaign
from probwb.errors import ConvergenceWarning
from probwb.hmm import HMM
from probwb.hmm import model as _model


def _coupon_hmm(inputs: bool = False, **kw) -> HMM:
    extra = {"inputs": ["coupon"], "input_baseline": {"coupon": "none"}} if inputs else {}
    return HMM(state_names=["active", "at_risk", "churned"], emission={"purchases": "poisson"},
               id_col="customer_id", time_col="week", absorbing=["churned"],
               order_by=("purchases", "mean", "descending"), n_init=1, **extra, **kw)


def test_converged_fit_is_at_the_maximum_a_long_run_reaches() -> None:
    # the at_risk state is weakly identified: EM's gains shrink slowly, so a small gain per row is no sign
    # of being near the top (the old per-row rule stopped here about 0.4 log-likelihood units short)
    panel = simulate_coupon_campaign(n_customers=1000, n_weeks=12, random_state=2).panel
    fit = _coupon_hmm(random_state=2).fit(panel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the long run's tolerance is unreachable
        long = _coupon_hmm(random_state=2, tol=1e-15, n_iter=1500).fit(panel)
    top = long.history_[-1]
    assert top - fit.history_[-1] < 0.01
    assert fit.history_[-1] <= top + 1e-6
    assert fit.converged_
    # the extrapolated gap it stopped on is what the long run then gained
    assert fit.convergence_gap_ <= 1e-8 * abs(fit.history_[-1])
    assert top - fit.history_[-1] == pytest.approx(fit.convergence_gap_, rel=0.5, abs=1e-5)


def test_short_run_warns_with_the_remaining_gap() -> None:
    panel = simulate_coupon_campaign(n_customers=300, n_weeks=12, random_state=1).panel
    with pytest.warns(ConvergenceWarning, match=r"n_iter=5 iterations.*still rising by .* more to gain") as rec:
        m = _coupon_hmm(inputs=True, random_state=0, n_iter=5).fit(panel)
    assert not m.converged_ and m.convergence_gap_ > 0
    assert str(m.convergence_gap_)[:3] in str(rec[0].message) or np.isinf(m.convergence_gap_)


def test_gap_estimate_is_exact_for_geometric_gains() -> None:
    r, g0 = 0.9, 5.0
    history = list(np.cumsum([-1000.0] + [g0 * r**k for k in range(30)]))
    gain, gap = _model._em_gap(history)
    assert gain == pytest.approx(g0 * r**29)
    assert gap == pytest.approx(g0 * r**30 / (1 - r), rel=1e-9)
    # gains not shrinking yet: no estimate; no gain at all: nothing left
    assert _model._em_gap([-10.0, -9.0, -7.0, -4.0])[1] == np.inf
    assert _model._em_gap([-10.0, -9.0, -9.0])[1] == 0.0
