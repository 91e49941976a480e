"""BayesianHMM: exact gradient of the marginalised likelihood, and 90% intervals that cover the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc")

from probwb.errors import DataError, NotFittedError  # noqa: E402
from probwb.hmm import HMM  # noqa: E402
from probwb.hmm.bayes import BayesianHMM  # noqa: E402
from probwb.hmm.kernels import forward_backward  # noqa: E402


def test_compiled_loglik_and_gradient_match_numpy_kernels() -> None:
    from probwb.hmm._nb import loglik_and_grad

    rng = np.random.default_rng(0)
    N, T, S, L = 40, 7, 3, 2
    ll = rng.normal(size=(N, T, S))
    lengths = rng.integers(1, T + 1, N)
    start = rng.dirichlet(np.ones(S))
    trans = rng.dirichlet(np.ones(S), size=(L, S))
    trans[:, 2] = [0.0, 0.0, 1.0]
    pattern = rng.integers(0, L, (N, T))
    w = rng.integers(1, 4, N).astype(float)
    total, g_start, g_trans, g_ll = loglik_and_grad(ll, lengths, start, trans, pattern, w)
    ref = forward_backward(ll, lengths, start, trans, pattern, xi=True, weights=w)
    assert total == pytest.approx(float(ref.log_prob @ w), rel=1e-12)
    np.testing.assert_allclose(g_start, ref.start_sum / start, rtol=1e-10)
    np.testing.assert_allclose(g_trans, np.divide(ref.xi_sum, trans, out=np.zeros_like(trans), where=trans > 0),
                               rtol=1e-10)
    np.testing.assert_allclose(g_ll, ref.posteriors * w[:, None, None], atol=1e-12)
    # finite differences of the total in one emission entry and one transition entry
    eps = 1e-6
    ll2 = ll.copy()
    ll2[3, 0, 1] += eps
    assert (loglik_and_grad(ll2, lengths, start, trans, pattern, w)[0] - total) / eps == pytest.approx(
        g_ll[3, 0, 1], rel=1e-4)
    t2 = trans.copy()
    t2[1, 0, 1] += eps
    assert (loglik_and_grad(ll, lengths, start, t2, pattern, w)[0] - total) / eps == pytest.approx(
        g_trans[1, 0, 1], rel=1e-4)


def test_bayesian_intervals_cover_a_known_two_state_chain() -> None:
    trans = np.array([[0.85, 0.15], [0.25, 0.75]])
    truth = HMM.from_params([0.5, 0.5], trans, {"y": ("poisson", {"rates": [0.5, 4.0]})},
                            state_names=["quiet", "busy"])
    data = truth.sample(150, 10, random_state=3)
    data.loc[data.index[::7], "y"] = np.nan  # missing steps are marginalised, not dropped
    model = BayesianHMM(state_names=["quiet", "busy"], emission={"y": "poisson"}, draws=200, tune=250,
                        chains=2, random_state=1).fit(data)
    summ = model.transmat_summary(0.9)
    assert list(summ.columns) == ["input_level", "from_state", "to_state", "mean", "lower", "upper"]
    true = summ.apply(lambda r: trans[["quiet", "busy"].index(r["from_state"]),
                                      ["quiet", "busy"].index(r["to_state"])], axis=1)
    assert ((summ["lower"] <= true) & (true <= summ["upper"])).all()
    rates = model.idata_.posterior["y_rates"].values.reshape(-1, 2)
    assert (rates[:, 0] < rates[:, 1]).all()  # the ordering constraint holds in every draw
    assert model.diagnostics_ is not None and model.diagnostics_.verdict in ("ok", "warn"), model.diagnostics_.reasons
    assert model.transmat_for().shape == (2, 2)
    with pytest.raises(DataError, match="unknown input level"):
        model.transmat_for("x")
    with pytest.raises(NotFittedError):
        BayesianHMM(2).transmat_summary()


@pytest.mark.slow
def test_coupon_control_arm_intervals_cover_the_truth() -> None:
    from probwb.datasets import simulate_coupon_campaign

    camp = simulate_coupon_campaign(n_customers=1500, n_weeks=16, random_state=4)
    control = camp.customers.loc[camp.customers["arm"] == "control", "customer_id"]
    panel = camp.panel[camp.panel["customer_id"].isin(control)]
    model = BayesianHMM(state_names=camp.truth["states"], emission={"purchases": "poisson"},
                        id_col="customer_id", time_col="week", absorbing=["churned"],
                        order_by=("purchases", "mean", "descending"), draws=150, tune=250, chains=2,
                        target_accept=0.8, random_state=1).fit(panel)
    summ = model.transmat_summary(0.9)
    true = camp.truth["transmat"]["none"]
    names = camp.truth["states"]
    moves = summ[summ["from_state"] != "churned"]
    covered = [r["lower"] <= true[names.index(r["from_state"]), names.index(r["to_state"])] <= r["upper"]
               for _, r in moves.iterrows()]
    # six free probabilities with 90% intervals: allow one miss (P(>= 2 misses) is about 0.11 if independent)
    assert sum(covered) >= len(covered) - 1
    assert isinstance(summ, pd.DataFrame) and len(summ) == 7
