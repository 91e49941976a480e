"""Tests of probwb.diagnostics on synthetic draws whose problems are known by construction."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy import stats

from probwb import diagnostics as dg
from probwb.errors import DataError, ModelError, SamplingWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az


def _idata(posterior, sample_stats=None, **groups):
    return az.from_dict(posterior=posterior, sample_stats=sample_stats, **groups)


def _iid(rng, chains=4, draws=500, size=None):
    shape = (chains, draws) if size is None else (chains, draws, size)
    return rng.normal(size=shape)


def test_iid_draws_are_ok_and_table_is_complete():
    rng = np.random.default_rng(0)
    idata = _idata({"mu": _iid(rng), "beta": _iid(rng, size=3)},
                   {"diverging": np.zeros((4, 500), bool), "energy": _iid(rng)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        res = dg.check(idata)
    assert res.verdict == "ok" and res.ok and res.reasons == []
    assert list(res.table.index) == ["mu", "beta[0]", "beta[1]", "beta[2]"]
    for col in ("mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat", "flag"):
        assert col in res.table.columns
    assert (res.table["r_hat"] < 1.01).all()
    assert res.n_divergent == 0 and res.n_chains == 4 and res.n_draws == 500
    assert res.bfmi.shape == (4,) and (res.bfmi > 1.5).all()  # iid energy: BFMI near 2
    d = res.to_dict()
    json.dumps(d)
    assert d["verdict"] == "ok" and d["thresholds"]["r_hat"] == 1.01 and len(d["table"]) == 4


def test_disagreeing_chains_fail_on_rhat_and_warn():
    rng = np.random.default_rng(1)
    mu = _iid(rng)
    mu[0] += 3.0
    idata = _idata({"mu": mu, "ok": _iid(rng)})
    with pytest.warns(SamplingWarning, match="R-hat"):
        res = dg.check(idata)
    assert res.verdict == "fail"
    assert any("R-hat > 1.05" in r and "mu" in r for r in res.reasons)
    assert "r_hat" in res.table.loc["mu", "flag"] and res.table.loc["ok", "flag"] == ""


def test_divergences_fail_even_when_everything_else_is_fine():
    rng = np.random.default_rng(2)
    div = np.zeros((4, 500), bool)
    div[1, 10] = div[3, 77] = True
    idata = _idata({"mu": _iid(rng)}, {"diverging": div})
    with pytest.warns(SamplingWarning, match="2 divergent"):
        res = dg.check(idata)
    assert res.verdict == "fail" and res.n_divergent == 2
    relaxed = dg.check(idata, thresholds=dg.Thresholds(max_divergences=5), warn=False)
    assert relaxed.verdict == "ok"


def _ar1(rng, rho, chains=4, draws=500):
    x = np.zeros((chains, draws))
    eps = rng.normal(size=(chains, draws)) * np.sqrt(1 - rho**2)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + eps[:, t]
    return x


def test_low_ess_is_flagged_by_severity():
    rng = np.random.default_rng(3)
    idata = _idata({"sticky": _ar1(rng, 0.995), "mild": _ar1(rng, 0.6)})
    res = dg.check(idata, warn=False)
    assert res.verdict == "fail"
    assert res.table.loc["sticky", "ess_bulk"] < 100
    assert "ess_bulk<100" in res.table.loc["sticky", "flag"]
    # AR(1) with rho 0.6 has ESS about n(1-rho)/(1+rho) = 2000/4 = 500 >= 400.
    assert res.table.loc["mild", "flag"] == ""


def test_ess_requirement_scales_with_chains():
    th = dg.Thresholds()
    assert th.ess_required(4) == 400 and th.ess_required(2) == 200 and th.ess_required(8) == 400
    rng = np.random.default_rng(4)
    # 2 chains x 150 iid draws: ESS about 300 >= 200 needed for 2 chains, so no ESS complaint.
    res = dg.check(_idata({"mu": _iid(rng, chains=2, draws=150)}), warn=False)
    assert not any("ESS" in r for r in res.reasons)


def test_single_chain_warns():
    rng = np.random.default_rng(5)
    res = dg.check(_idata({"mu": _iid(rng, chains=1, draws=1000)}), warn=False)
    assert res.verdict == "warn" and "1 chain" in res.reasons[0]


def test_low_bfmi_warns():
    rng = np.random.default_rng(6)
    energy = np.cumsum(rng.normal(size=(4, 500)), axis=1)  # random-walk energy: BFMI near 0
    res = dg.check(_idata({"mu": _iid(rng)}, {"energy": energy}), warn=False)
    assert res.verdict == "warn" and any("E-BFMI" in r for r in res.reasons)
    assert (res.bfmi < 0.3).all()


def test_unknown_variable_and_bad_input():
    rng = np.random.default_rng(7)
    idata = _idata({"sigma": _iid(rng)})
    with pytest.raises(DataError, match="did you mean 'sigma'"):
        dg.check(idata, var_names=["sigmaa"])
    with pytest.raises(DataError, match="InferenceData"):
        dg.check({"mu": [1, 2]})
    assert dg.worst_verdict("ok", "fail", "warn") == "fail" and dg.worst_verdict() == "ok"


def _normal_model_idata(rng, y, n=2000, outlier_sd=None):
    mu = rng.normal(np.mean(y), 1 / np.sqrt(len(y)), size=(2, n // 2))
    loglik = stats.norm.logpdf(y[None, None, :], mu[..., None], 1.0)
    y_rep = rng.normal(mu[..., None], 1.0, size=mu.shape + (len(y),))
    return _idata({"mu": mu}, log_likelihood={"y": loglik}, observed_data={"y": y},
                  posterior_predictive={"y": y_rep})


def test_loo_pareto_k_flags_an_outlier():
    rng = np.random.default_rng(8)
    y = rng.normal(size=30)
    good = dg.loo(_normal_model_idata(rng, y), warn=False)
    assert good.verdict == "ok" and good.pareto_k_counts["bad"] + good.pareto_k_counts["very bad"] == 0
    assert good.n_obs == 30 and good.elpd_loo < 0 and 0 < good.p_loo < 3
    y_out = np.append(y[:9], 15.0)  # one point 15 sd away from 9 others: its PSIS weights are heavy-tailed
    with pytest.warns(SamplingWarning, match="Pareto k"):
        bad = dg.loo(_normal_model_idata(rng, y_out))
    assert bad.verdict in ("warn", "fail") and 9 in bad.bad_indices.tolist()
    json.dumps(bad.to_dict())


def test_loo_needs_log_likelihood():
    rng = np.random.default_rng(9)
    with pytest.raises(ModelError, match="log_likelihood"):
        dg.loo(_idata({"mu": _iid(rng)}))


def test_compare_prefers_the_true_model():
    rng = np.random.default_rng(10)
    y = rng.normal(size=50)
    right = _normal_model_idata(rng, y)
    mu = rng.normal(3.0, 0.1, size=(2, 1000))  # a model stuck at the wrong mean
    wrong = _idata({"mu": mu}, log_likelihood={"y": stats.norm.logpdf(y[None, None, :], mu[..., None], 1.0)})
    table = dg.compare({"right": right, "wrong": wrong})
    assert list(table.index) == ["right", "wrong"]
    assert table.loc["wrong", "elpd_diff"] > 50 and table.loc["right", "weight"] > 0.9
    with pytest.raises(DataError):
        dg.compare({"right": right})


def test_ppc_pvalues_detect_misfit():
    rng = np.random.default_rng(11)
    y = rng.normal(size=200)
    fits = dg.ppc_pvalues(_normal_model_idata(rng, y))
    assert not fits["flag"].any()
    wide = rng.normal(scale=3.0, size=200)  # data three times as spread as the model's predictions
    idata = _normal_model_idata(rng, wide)
    res = dg.ppc_pvalues(idata, stats=("sd", "max"))
    assert res.loc["sd", "p_value"] < 0.01 and res.loc["sd", "flag"]
    with pytest.raises(DataError, match="unknown statistic"):
        dg.ppc_pvalues(idata, stats=("kurtosis",))


def test_plots_return_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from probwb.diagnostics import plots

    rng = np.random.default_rng(12)
    idata = _normal_model_idata(rng, rng.normal(size=20))
    axes = plots.plot_trace(idata)
    assert axes.shape == (1, 2) and len(axes[0, 0].figure.axes) == 2
    axes2 = plots.plot_rank(idata)
    assert axes2.shape == (1, 1) and len(axes2[0, 0].figure.axes) == 1
    ax = plots.plot_pareto_k(dg.loo(idata, warn=False))
    assert ax.get_ylabel() == "Pareto k"
    ax2 = plots.plot_ppc(idata)
    assert ax2.get_xlabel() == "y"
    plt.close("all")


def test_unconstrained_copies_are_skipped_by_default():
    rng = np.random.default_rng(13)
    tau = np.abs(_iid(rng)) + 0.1
    res = dg.check(_idata({"tau": tau, "tau_log__": np.log(tau)}), warn=False)
    assert list(res.table.index) == ["tau"]
    assert list(dg.check(_idata({"tau": tau, "tau_log__": np.log(tau)}), var_names=["tau_log__"],
                         warn=False).table.index) == ["tau_log__"]
