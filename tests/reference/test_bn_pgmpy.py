"""Exact inference agrees with pgmpy 1.x VariableElimination on the ALARM network to 1e-10.

Reference: pgmpy (https://github.com/pgmpy/pgmpy) VariableElimination, run in the same process on the
same CPTs (the bundled bnlearn ALARM network, Beinlich et al. 1989, rows renormalised from the file's
rounded decimals before both engines see them). Also checked against published marginals of the
asia network (Lauritzen & Spiegelhalter 1988, as tabulated by bnlearn: P(either=yes)=0.064828,
P(dysp=yes)=0.43597). The most probable explanations (MPE) are checked against pgmpy's
VariableElimination.map_query over all non-evidence nodes, on asia only: pgmpy builds the joint
table of the named variables, which exhausts memory on ALARM (24 GB when tried).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from probwb.bn import BayesNet, junction
from probwb.bn import network as bn_network

pytest.importorskip("pgmpy")


@pytest.fixture(scope="module")
def alarm():
    return BayesNet.from_bundled("alarm")


@pytest.fixture(scope="module")
def alarm_ve(alarm):
    from pgmpy.inference import VariableElimination

    return VariableElimination(alarm.to_pgmpy())


def _pgmpy_marginal(ve, target, evidence, states):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = ve.query([target], evidence=evidence, show_progress=False)
    return np.array([f.get_value(**{target: s}) for s in states])


def test_single_queries_match_pgmpy(alarm, alarm_ve):
    rng = np.random.default_rng(2024)
    data = alarm.sample(30, random_state=7)
    nodes = alarm.nodes
    for i in range(30):
        pick = rng.choice(len(nodes), 4, replace=False)
        target = nodes[pick[0]]
        ev = {nodes[k]: str(data.iloc[i][nodes[k]]) for k in pick[1:]}
        got = alarm.query(target, ev)
        want = _pgmpy_marginal(alarm_ve, target, ev, list(got.index))
        np.testing.assert_allclose(got.to_numpy(), want, atol=1e-10, rtol=0)


def test_batched_posterior_matches_pgmpy(alarm, alarm_ve):
    rng = np.random.default_rng(5)
    target = "HYPOVOLEMIA"
    others = [n for n in alarm.nodes if n != target]
    data = alarm.sample(400, random_state=3)[others].astype(object)
    fixed = list(rng.choice(others, 5, replace=False))
    post = alarm.posterior(data[fixed], target)
    mask = np.zeros(data.shape, dtype=bool)
    for i in range(len(data)):
        mask[i, rng.choice(len(others), 5, replace=False)] = True
    mixed = data.where(mask)
    post_mixed = alarm.posterior(mixed, target)
    for i in range(0, 400, 40):
        ev = {c: str(data.iloc[i][c]) for c in fixed}
        np.testing.assert_allclose(post.iloc[i].to_numpy(),
                                   _pgmpy_marginal(alarm_ve, target, ev, list(post.columns)), atol=1e-10)
        ev = {c: v for c, v in mixed.iloc[i].items() if pd.notna(v)}
        np.testing.assert_allclose(post_mixed.iloc[i].to_numpy(),
                                   _pgmpy_marginal(alarm_ve, target, ev, list(post.columns)), atol=1e-10)


def test_map_and_joint_query_match_pgmpy(alarm, alarm_ve):
    ev = {"HRBP": "HIGH", "CO": "LOW", "BP": "LOW"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = alarm_ve.map_query(["HYPOVOLEMIA", "LVFAILURE", "STROKEVOLUME"], evidence=ev, show_progress=False)
        joint = alarm_ve.query(["HYPOVOLEMIA", "LVFAILURE"], evidence=ev, show_progress=False)
    got = alarm.map_query(["HYPOVOLEMIA", "LVFAILURE", "STROKEVOLUME"], ev)
    assert got == {k: str(v) for k, v in want.items()}
    ours = alarm.query(["HYPOVOLEMIA", "LVFAILURE"], ev)
    for (a, b), p in ours.items():
        assert p == pytest.approx(joint.get_value(HYPOVOLEMIA=a, LVFAILURE=b), abs=1e-10)


def test_roundtrip_through_pgmpy_keeps_states(alarm):
    back = BayesNet.from_pgmpy(alarm.to_pgmpy())
    assert back.node_states == alarm.node_states
    for n in alarm.nodes:
        np.testing.assert_array_equal(back.cpts_[n], alarm.cpts_[n])


def test_asia_published_marginals():
    asia = BayesNet.from_bundled("asia")
    # bnlearn asia network: marginals from exact inference (bnlearn / gRain documentation)
    assert asia.query("either")["yes"] == pytest.approx(0.064828, abs=5e-6)
    assert asia.query("dysp")["yes"] == pytest.approx(0.43597, abs=5e-6)


@pytest.mark.skipif(not junction.HAVE_NUMBA, reason="numba (the 'fast' extra) is absent")
def test_junction_tree_posterior_matches_pgmpy(alarm, alarm_ve, monkeypatch):
    # the junction-tree engine on rows that each observe their own columns (mixed patterns), plus an
    # all-missing row, a fully observed row and an intervention
    monkeypatch.setattr(bn_network, "_ENGINE", "junction")
    rng = np.random.default_rng(17)
    target = "HYPOVOLEMIA"
    others = [n for n in alarm.nodes if n != target]
    data = alarm.sample(24, random_state=4)[others].astype(object)
    mask = np.zeros(data.shape, dtype=bool)
    for i in range(len(data)):
        mask[i, rng.choice(len(others), int(rng.integers(1, 9)), replace=False)] = True
    mask[0] = False
    mask[1] = True
    mixed = data.where(mask)
    post = alarm.posterior(mixed, target)
    states = list(post.columns)
    for i in range(len(mixed)):
        ev = {c: v for c, v in mixed.iloc[i].items() if pd.notna(v)}
        np.testing.assert_allclose(post.iloc[i].to_numpy(), _pgmpy_marginal(alarm_ve, target, ev, states),
                                   atol=1e-10, rtol=0)
    # do(LVFAILURE=TRUE): pgmpy's CausalInference.query does the same graph surgery
    from pgmpy.inference import CausalInference

    ci = CausalInference(alarm.to_pgmpy())
    sub = mixed.drop(columns=["LVFAILURE"]).iloc[2:8]
    post_do = alarm.posterior(sub, target, do={"LVFAILURE": "TRUE"})
    for i in range(len(sub)):
        ev = {c: v for c, v in sub.iloc[i].items() if pd.notna(v)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = ci.query([target], do={"LVFAILURE": "TRUE"}, evidence=ev, show_progress=False)
        want = np.array([f.get_value(**{target: s}) for s in states])
        np.testing.assert_allclose(post_do.iloc[i].to_numpy(), want, atol=1e-10, rtol=0)


@pytest.fixture(scope="module")
def asia_ve():
    from pgmpy.inference import VariableElimination

    asia = BayesNet.from_bundled("asia")
    return asia, VariableElimination(asia.to_pgmpy())


@pytest.mark.parametrize("evidence", [{"dysp": "yes"}, {"xray": "yes", "smoke": "no"},
                                      {"either": "yes", "asia": "yes"}, {}])
def test_mpe_matches_pgmpy_on_asia(asia_ve, evidence):
    asia, ve = asia_ve
    rest = [n for n in asia.nodes if n not in evidence]
    # pgmpy 1.1.2's map_query(variables=None, evidence=...) drops the evidence (it returned
    # dysp='no' given dysp='yes'), so every non-evidence node is named explicitly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = ve.map_query(rest, evidence=evidence or None, show_progress=False)
    assert asia.map_query(evidence=evidence) == {k: str(v) for k, v in want.items()}



def test_munin1_queries_above_the_old_table_limit_match_pgmpy():
    # munin1 patterns whose min-fill elimination needs a 34-45 million entry table (above the
    # 20 million limit: ModelError before); a pairwise contraction path needs under 2.1 million
    from pgmpy.inference import VariableElimination

    from probwb.bn import kernels

    net = BayesNet.from_bundled("munin1")
    ve = VariableElimination(net.to_pgmpy())
    target = net.nodes[len(net.nodes) // 2]
    row = net.sample(1, random_state=1).iloc[0]
    for ids in [(58, 73, 76, 107, 165), (53, 59, 122, 154, 159)]:
        ev = {net.nodes[k]: str(row[net.nodes[k]]) for k in ids}
        by_order = kernels.compile_plan(net._parents, net._cards, (net._index[target],), ids,
                                        children=net._children, path_above=10**12)
        assert by_order.max_table > bn_network._MAX_TABLE
        path = kernels.compile_plan(net._parents, net._cards, (net._index[target],), ids,
                                    children=net._children)
        assert path.pairwise and path.max_table <= 2_100_000
        got = net.query(target, ev)
        want = _pgmpy_marginal(ve, target, ev, list(got.index))
        np.testing.assert_allclose(got.to_numpy(), want, atol=1e-12, rtol=0)
