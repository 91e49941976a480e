"""Parameter learning: closed forms, priors, EM with missing cells and latent nodes, intervals."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from probwb.bn import BayesNet
from probwb.errors import ConvergenceWarning, DataError, NotFittedError, SpecError, StateError


def _assert_within_binomial_error(est: np.ndarray, truth: np.ndarray, n_cfg: np.ndarray, z: float = 5.0,
                                  cap: float = 1.0) -> None:
    """Each CPT cell within ``z`` binomial standard errors of the truth (at most ``cap``), given ``n_cfg``
    rows per parent configuration (a floor of 1/n on the variance keeps p near 0 or 1 testable)."""
    n = np.asarray(n_cfg, dtype=float)[..., None]
    tol = np.minimum(z * np.sqrt(np.maximum(truth * (1 - truth), 1.0 / n) / n), cap)
    assert (np.abs(est - truth) <= tol).all(), (est, truth, tol)


@pytest.fixture(scope="module")
def asia_data(asia):
    return asia.sample(4000, random_state=0)


def test_mle_equals_relative_frequencies(asia, asia_data):
    net = BayesNet(asia.edges).fit(asia_data)
    sub = asia_data[asia_data["smoke"] == "yes"]
    want = (sub["lung"] == "yes").mean()
    assert net.cpt("lung").loc["yes", "yes"] == pytest.approx(want, abs=1e-12)
    # states taken from the categorical columns, in the network's order
    assert net.node_states["smoke"] == ["yes", "no"]
    # recovers the generating CPTs within sampling error: 5 binomial standard errors per cell (a flat
    # 0.05 would accept P(lung | no smoking) = 0.05 for the true 0.01)
    for node in ["smoke", "lung", "bronc"]:
        _assert_within_binomial_error(net.cpts_[node], asia.cpts_[node], net.counts_[node].sum(axis=-1))


def test_bayes_bdeu_and_k2_pseudo_counts(asia_data):
    small = asia_data.iloc[:30]
    structure = {"smoke": [], "lung": ["smoke"]}
    states = {"smoke": ["yes", "no"], "lung": ["yes", "no"]}
    net = BayesNet(structure, states, method="bayes", prior="K2").fit(small[["smoke", "lung"]])
    n_yes = (small["smoke"] == "yes").sum()
    assert net.cpt("smoke").iloc[0, 0] == pytest.approx((n_yes + 1) / (30 + 2))
    ess = 6.0
    net = BayesNet(structure, states, method="bayes", equivalent_sample_size=ess).fit(small[["smoke", "lung"]])
    # BDeu: alpha = ess / (q r) per cell; lung has q=2 parent configurations, r=2 states
    sub = small[small["smoke"] == "no"]
    k = (sub["lung"] == "yes").sum()
    assert net.cpt("lung").loc["no", "yes"] == pytest.approx((k + ess / 4) / (len(sub) + ess / 2))
    np.testing.assert_allclose(net.dirichlet_["lung"][1], [k + ess / 4, len(sub) - k + ess / 4])


def test_credible_intervals_cover_and_shrink(asia):
    structure = {"smoke": [], "lung": ["smoke"], "xray": ["lung"]}
    states = {n: ["yes", "no"] for n in structure}
    truth = asia.query("lung", {"smoke": "yes"})["yes"]
    widths = []
    for n in (200, 5000):
        data = asia.sample(n, random_state=n)[list(structure)]
        net = BayesNet(structure, states, method="bayes", prior="K2").fit(data)
        res = net.query("lung", {"smoke": "yes", "xray": "yes"}, interval=0.9, n_samples=400, random_state=1)
        assert list(res.columns) == ["probability", "lower", "upper"]
        assert (res["lower"] <= res["probability"]).all() and (res["probability"] <= res["upper"]).all()
        one = net.query("lung", {"smoke": "yes"}, interval=0.99, n_samples=400, random_state=2)
        assert one.loc["yes", "lower"] < truth < one.loc["yes", "upper"]
        widths.append(float(res.loc["yes", "upper"] - res.loc["yes", "lower"]))
        ev = data.drop(columns="lung").iloc[:40]
        post = net.posterior(ev, "lung", interval=0.9, n_samples=200, random_state=3)
        assert post.columns.names == ["statistic", "lung"]
        np.testing.assert_allclose(post["probability"].to_numpy(), net.posterior(ev, "lung").to_numpy())
        assert (post["lower"].to_numpy() <= post["upper"].to_numpy()).all()
    assert widths[1] < widths[0] / 2


def test_interval_needs_bayes(asia, asia_data):
    with pytest.raises(NotFittedError, match="method='bayes'"):
        asia.query("lung", interval=0.9)


def test_em_missing_cells_recovers_parameters_and_beats_available_case(asia, asia_data):
    rng = np.random.default_rng(1)
    data = asia_data.astype(object).copy()
    # lung is hidden more often when the person smokes: missing at random given smoke
    hide = (rng.random(len(data)) < np.where(data["smoke"] == "yes", 0.9, 0.05))
    data.loc[hide, "lung"] = np.nan
    data = data.mask(rng.random(data.shape) < 0.05)
    net = BayesNet(asia.edges, asia.node_states, max_iter=200, tol=1e-8).fit(data)
    assert net.converged_
    hist = net.em_.history
    assert all(b >= a - 1e-7 * abs(a) for a, b in zip(hist, hist[1:], strict=False)), "EM log-likelihood fell"
    marg = asia.query("lung")["yes"]
    assert net.query("lung")["yes"] == pytest.approx(marg, abs=0.02)
    assert abs(data["lung"].eq("yes").sum() / data["lung"].notna().sum() - marg) > 0.02
    # the rows observing smoke and lung together bound the information about each CPT row from below
    both = data[["smoke", "lung"]].dropna()
    n_cfg = [int((both["smoke"] == s).sum()) for s in net.node_states["smoke"]]
    _assert_within_binomial_error(net.cpts_["lung"], asia.cpts_["lung"], np.array(n_cfg), cap=0.05)


def test_em_latent_node_with_restarts():
    # latent class model: H -> A, B, C with well separated classes
    truth = BayesNet.from_spec({"nodes": {
        "H": {"states": ["h0", "h1"], "parents": [], "cpt": [0.35, 0.65]},
        "A": {"states": ["a", "b"], "parents": ["H"], "cpt": [[0.9, 0.1], [0.15, 0.85]]},
        "B": {"states": ["a", "b"], "parents": ["H"], "cpt": [[0.8, 0.2], [0.1, 0.9]]},
        "C": {"states": ["a", "b", "c"], "parents": ["H"], "cpt": [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]},
    }})
    data = truth.sample(3000, random_state=4).drop(columns="H")
    net = BayesNet({"H": [], "A": ["H"], "B": ["H"], "C": ["H"]}, {"H": ["h0", "h1"]}, latent=["H"],
                   n_init=4, max_iter=300, tol=1e-9, random_state=0).fit(data)
    assert len(net.em_.all_log_likelihoods) == 4
    assert net.em_.log_likelihood == pytest.approx(max(net.em_.all_log_likelihoods))
    # the latent labels are arbitrary: align by P(A=a | H)
    cpt_a = net.cpts_["A"]
    flip = cpt_a[0, 0] < cpt_a[1, 0]
    prior = net.cpts_["H"][::-1] if flip else net.cpts_["H"]
    np.testing.assert_allclose(prior, [0.35, 0.65], atol=0.05)
    c = net.cpts_["C"][::-1] if flip else net.cpts_["C"]
    np.testing.assert_allclose(c, truth.cpts_["C"], atol=0.06)
    # the fitted model's log-likelihood is at least the generating model's (it maximises it)
    assert net.log_likelihood(data) >= truth.log_likelihood(data) - 1e-6


def test_em_convergence_warning():
    data = pd.DataFrame({"A": ["a", "b", np.nan, "a", "b", "b"] * 20, "B": ["x", np.nan, "y", "y", "x", "y"] * 20})
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        BayesNet({"A": [], "B": ["A"]}, max_iter=2, tol=1e-12).fit(data)


def test_learning_errors(asia_data):
    with pytest.raises(NotFittedError, match="structure"):
        BayesNet().fit(asia_data)
    with pytest.raises(DataError, match="did you mean 'smoke'"):
        BayesNet({"smok": [], "lung": ["smok"]}).fit(asia_data)
    with pytest.raises(SpecError, match="method"):
        BayesNet({"smoke": []}, method="mpe").fit(asia_data)
    with pytest.raises(StateError, match="not a state"):
        BayesNet({"smoke": []}, {"smoke": ["yes", "no"]}).fit(pd.DataFrame({"smoke": ["yes", "often"]}))
    with pytest.raises(SpecError, match="needs its states"):
        BayesNet({"H": [], "smoke": ["H"]}, latent=["H"]).fit(asia_data)


def test_unseen_parent_configuration_warns():
    data = pd.DataFrame({"A": ["a"] * 10, "B": ["x", "y"] * 5})
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        net = BayesNet({"A": [], "B": ["A"]}, {"A": ["a", "b"], "B": ["x", "y"]}).fit(data)
    assert any("never occur" in str(w.message) for w in rec)
    np.testing.assert_allclose(net.cpts_["B"][1], [0.5, 0.5])


def test_numeric_columns_match_string_states():
    data = pd.DataFrame({"treat": [0, 1, 1, 0] * 10, "out": [1.0, 0.0, 1.0, np.nan] * 10})
    net = BayesNet({"treat": [], "out": ["treat"]}).fit(data)
    assert net.node_states == {"treat": ["0", "1"], "out": ["0", "1"]}
    p = net.predict_proba(data.iloc[:4], "out")
    assert list(p.columns) == ["0", "1"]
