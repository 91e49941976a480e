"""BayesNet construction, validation, persistence, sampling, structure learning, plots, specs."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from probwb.bn import BayesNet, structural_hamming_distance
from probwb.errors import ImpossibleEvidenceError, ModelError, ModelFileError, ProbabilityError, SpecError

SPEC = {"nodes": {
    "age_band": {"states": ["<50", "50-69", "70+"], "parents": [], "cpt": [0.45, 0.35, 0.20]},
    "diabetes": {"states": ["no", "yes"], "parents": ["age_band"],
                 "cpt": [[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]]},
}}


def test_from_spec_roundtrip_and_tables():
    net = BayesNet.from_spec(SPEC)
    assert net.to_spec() == SPEC
    assert net.nodes == ["age_band", "diabetes"]
    assert net.cpt("diabetes").loc["70+", "yes"] == pytest.approx(0.3)
    assert net.summary().loc["diabetes", "n_parameters"] == 3
    # P(age | diabetes=yes) by Bayes' rule
    p = net.query("age_band", {"diabetes": "yes"})
    joint = np.array([0.45 * 0.1, 0.35 * 0.2, 0.2 * 0.3])
    np.testing.assert_allclose(p.to_numpy(), joint / joint.sum())


def test_spec_validation_names_the_node(tmp_path):
    bad = copy.deepcopy(SPEC)
    bad["nodes"]["diabetes"]["cpt"][1] = [0.8, 0.25]
    with pytest.raises(ProbabilityError, match=r"'diabetes'.*\{'age_band': '50-69'\}.*1.05"):
        BayesNet.from_spec(bad)
    bad = copy.deepcopy(SPEC)
    bad["nodes"]["diabetes"]["cpt"] = [[0.9, 0.1], [0.8, 0.2]]
    with pytest.raises(ModelError, match=r"'diabetes' must have shape \(3, 2\)"):
        BayesNet.from_spec(bad)
    bad = copy.deepcopy(SPEC)
    bad["nodes"]["age_band"]["parents"] = ["diabetes"]
    bad["nodes"]["age_band"]["cpt"] = [[0.4, 0.4, 0.2], [0.4, 0.4, 0.2]]
    with pytest.raises(ModelError, match="cycle"):
        BayesNet.from_spec(bad)
    bad = copy.deepcopy(SPEC)
    bad["nodes"]["diabetes"]["states"] = ["no", "no"]
    with pytest.raises(ModelError, match="duplicate states"):
        BayesNet.from_spec(bad)
    bad = copy.deepcopy(SPEC)
    bad["nodes"]["diabetes"]["parents"] = ["age"]
    with pytest.raises(SpecError, match="did you mean 'age_band'"):
        BayesNet.from_spec(bad)
    with pytest.raises(SpecError, match="unknown key"):
        BayesNet.from_spec({"nodes": {"a": {"states": ["x"], "cpt": [1.0], "parent": []}}})
    import yaml

    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    assert BayesNet.from_spec(path).to_spec() == SPEC


def test_save_load_and_foreign_file(tmp_path, asia):
    path = asia.save(tmp_path / "asia.pwb")
    back = BayesNet.load(path)
    ev = {"xray": "yes"}
    for node in asia.nodes:
        np.testing.assert_array_equal(back.cpts_[node], asia.cpts_[node])
    # the same CPTs; a network that has answered several queries may answer from its junction tree,
    # a fresh one by elimination: equal up to rounding in the last bit
    np.testing.assert_allclose(back.query("lung", ev).to_numpy(), asia.query("lung", ev).to_numpy(),
                               rtol=1e-13, atol=0)
    (tmp_path / "junk.pwb").write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        BayesNet.load(tmp_path / "junk.pwb")


def test_sampling_matches_marginals_and_lw_has_honest_se(asia):
    data = asia.sample(20000, random_state=0)
    assert list(data.columns) == asia.nodes
    assert isinstance(data["lung"].dtype, pd.CategoricalDtype)
    freq = (data["either"] == "yes").mean()
    p = asia.query("either")["yes"]
    assert abs(freq - p) < 4 * np.sqrt(p * (1 - p) / 20000)
    same = asia.sample(5, random_state=3)
    pd.testing.assert_frame_equal(same, asia.sample(5, random_state=3))
    ev = {"xray": "yes", "smoke": "no"}
    exact = asia.query("lung", ev)
    for method in ("likelihood_weighting", "forward"):
        est = asia.approximate_query("lung", ev, n_samples=20000, method=method, random_state=1)
        z = np.abs(est["probability"] - exact) / est["se"]
        assert (z < 4.5).all(), (method, est, exact)
        assert est.attrs["effective_sample_size"] > 100
    do_sample = asia.sample(2000, random_state=2, do={"lung": "yes"})
    assert (do_sample["lung"] == "yes").all()
    assert (do_sample["either"] == "yes").all()
    with pytest.raises(ImpossibleEvidenceError):
        asia.approximate_query("dysp", {"tub": "yes", "either": "no"}, n_samples=500, random_state=0)


def test_log_likelihood_complete_and_missing(asia):
    data = asia.sample(200, random_state=4)
    ll = asia.log_likelihood(data, per_row=True)
    row = data.iloc[0]
    cpts = asia.cpts_
    idx = {n: asia.node_states[n].index(row[n]) for n in asia.nodes}
    want = sum(np.log(cpts[n][tuple(idx[p] for p in asia.parents(n)) + (idx[n],)]) for n in asia.nodes)
    assert ll[0] == pytest.approx(want)
    # hiding a column sums it out exactly
    part = data.drop(columns=["either"]).astype(object)
    part.iloc[0, 0] = np.nan
    ll2 = asia.log_likelihood(part.iloc[:1], per_row=True)[0]
    e = {k: v for k, v in part.iloc[0].items() if pd.notna(v)}
    assert ll2 == pytest.approx(np.log(asia.probability_of_evidence(e)))
    assert asia.score(data) == pytest.approx(ll.sum())


def test_predict_proba_with_evaluate(asia):
    pytest.importorskip("probwb.evaluate")
    from probwb.evaluate import KFold, cross_validate

    data = asia.sample(1500, random_state=9).astype(str)
    model = BayesNet(asia.edges, target="lung")
    res = cross_validate(model, data, KFold(3, random_state=0), metrics=["log_loss", "brier"], target="lung")
    assert set(res.summary.index) == {"log_loss", "brier"}
    # lung is informative through either/xray: better than the marginal's log-loss
    p = (data["lung"] == "yes").mean()
    base = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    assert res.summary.loc["log_loss", "mean"] < base
    pred = asia.predict(data.iloc[:5].drop(columns="lung"), "lung")
    assert set(pred) <= {"yes", "no"}


def test_structure_learning_recovers_skeleton_with_constraints(asia):
    data = asia.sample(5000, random_state=21)[["smoke", "lung", "bronc", "dysp"]]
    truth = [("smoke", "lung"), ("smoke", "bronc"), ("bronc", "dysp")]
    net = BayesNet.learn_structure(data, score="bic", tiers=[["smoke"], ["lung", "bronc"], ["dysp"]])
    assert structural_hamming_distance(net, truth, skeleton=True) <= 1
    for a, b in net.edges:
        assert not (a == "dysp" or b == "smoke"), "tiers were violated"
    net2 = BayesNet.learn_structure(data, required=[("lung", "dysp")], forbidden=[("smoke", "bronc")], fit=False)
    assert "lung" in net2.structure["dysp"]
    assert "smoke" not in net2.structure["bronc"]
    pc = BayesNet.learn_structure(data, method="pc", tiers=[["smoke"], ["lung", "bronc"], ["dysp"]])
    assert structural_hamming_distance(pc, truth, skeleton=True) <= 1
    assert structural_hamming_distance([("a", "b")], [("b", "a")]) == 1
    assert structural_hamming_distance([("a", "b")], [("b", "a")], skeleton=True) == 0
    assert structural_hamming_distance([("a", "b"), ("b", "c")], [("a", "b")]) == 1


def test_plots_return_axes(asia):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from probwb.bn import plots

    ax = plots.plot_network(asia, highlight={"lung": "orange"})
    assert len(ax.collections) >= 1
    ax2 = plots.plot_posterior(asia.query("lung", {"xray": "yes"}), title="lung")
    assert len(ax2.patches) == 2
    frame = pd.DataFrame({"probability": [0.3, 0.7], "lower": [0.2, 0.6], "upper": [0.4, 0.8]},
                         index=pd.Index(["yes", "no"], name="lung"))
    assert plots.plot_posterior(frame).get_ylim() == (0, 1)
    plt.close("all")


def test_import_does_not_pull_matplotlib():
    import subprocess
    import sys

    code = "import sys, probwb.bn; print('matplotlib' in sys.modules, 'pgmpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_xmlbif_and_plain_bif_files(tmp_path, asia):
    pytest.importorskip("pgmpy")
    import gzip

    from pgmpy.readwrite import XMLBIFWriter

    from probwb.datasets import load_network

    XMLBIFWriter(asia.to_pgmpy()).write(str(tmp_path / "asia.xml"))
    back = BayesNet.from_bif(tmp_path / "asia.xml")
    assert back.node_states == asia.node_states
    np.testing.assert_allclose(back.query("lung", {"xray": "yes"}).to_numpy(),
                               asia.query("lung", {"xray": "yes"}).to_numpy(), atol=1e-12)
    plain = tmp_path / "asia.bif"
    plain.write_text(gzip.open(load_network("asia"), "rt").read())
    assert BayesNet.from_bif(plain).edges == asia.edges


def test_interval_with_do_and_fixed_targets():
    net = BayesNet({"t": [], "y": ["t"]}, method="bayes", prior="K2").fit(
        pd.DataFrame({"t": ["a", "b"] * 50, "y": ["n", "y", "y", "y"] * 25}))
    res = net.query(["t", "y"], do={"t": "b"}, interval=0.9, n_samples=300, random_state=0)
    assert res.loc[("a", "y"), "upper"] == 0.0
    assert res.loc[("b", "y"), "lower"] < res.loc[("b", "y"), "probability"] < res.loc[("b", "y"), "upper"]
    post = net.posterior(pd.DataFrame({"t": ["a", np.nan]}), "y", interval=0.9, n_samples=200, random_state=0)
    assert post.shape == (2, 6)
    with pytest.raises(ImpossibleEvidenceError, match="contradicts"):
        net.query("y", {"t": "a"}, do={"t": "b"})
