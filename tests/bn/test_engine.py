"""Exact inference against brute-force enumeration of the joint distribution."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.bn import BayesNet, kernels
from probwb.errors import ImpossibleEvidenceError, StateError


def brute_posterior(net: BayesNet, targets, evidence=None, do=None):
    """P(targets | evidence) (under do) from the full joint table, axes in ``targets`` order."""
    parents = list(net._parents)
    cpts = list(net._cpts)
    for name, state in (do or {}).items():
        v = net._index[name]
        parents[v] = ()
        one = np.zeros(net._cards[v])
        one[net._state_index[v][state]] = 1.0
        cpts[v] = one
    joint = kernels.enumerate_joint(parents, cpts)
    for name, state in (evidence or {}).items():
        v = net._index[name]
        keep = np.zeros(net._cards[v])
        keep[net._state_index[v][state]] = 1.0
        shape = [1] * joint.ndim
        shape[v] = -1
        joint = joint * keep.reshape(shape)
    ids = [net._index[t] for t in targets]
    rest = tuple(k for k in range(joint.ndim) if k not in ids)
    table = joint.sum(axis=rest)
    # sum keeps the remaining axes in increasing id order; reorder to the requested order
    table = np.transpose(table, np.argsort(np.argsort(ids)))
    return table / table.sum(), float(joint.sum())


def test_asia_every_single_query_matches_enumeration(asia):
    nodes = asia.nodes
    for target in nodes:
        for ev_node in nodes:
            if ev_node == target:
                continue
            for state in asia.node_states[ev_node]:
                got = asia.query(target, {ev_node: state})
                want, _ = brute_posterior(asia, [target], {ev_node: state})
                np.testing.assert_allclose(got.to_numpy(), want, atol=1e-12)


def test_asia_joint_query_map_and_evidence_probability(asia):
    ev = {"xray": "yes", "dysp": "yes", "asia": "no"}
    got = asia.query(["lung", "tub", "bronc"], ev)
    want, pe = brute_posterior(asia, ["lung", "tub", "bronc"], ev)
    np.testing.assert_allclose(got.to_numpy().reshape(want.shape), want, atol=1e-12)
    assert list(got.index.names) == ["lung", "tub", "bronc"]
    assert asia.probability_of_evidence(ev) == pytest.approx(pe, abs=1e-14)
    best = asia.map_query(["lung", "tub", "bronc"], ev)
    idx = np.unravel_index(np.argmax(want), want.shape)
    assert best == {n: asia.node_states[n][int(k)] for n, k in zip(["lung", "tub", "bronc"], idx, strict=True)}


def test_asia_do_differs_from_conditioning_and_matches_surgery(asia):
    cond = asia.query("smoke", {"lung": "yes"})
    do = asia.query("smoke", do={"lung": "yes"})
    # intervening on lung says nothing about smoking; observing it does
    np.testing.assert_allclose(do.to_numpy(), asia.query("smoke").to_numpy(), atol=1e-14)
    assert abs(cond["yes"] - do["yes"]) > 0.1
    got = asia.query("dysp", {"smoke": "no"}, do={"either": "yes"})
    want, _ = brute_posterior(asia, ["dysp"], {"smoke": "no"}, {"either": "yes"})
    np.testing.assert_allclose(got.to_numpy(), want, atol=1e-12)
    ace = asia.average_causal_effect("either", "xray", "yes", treated="yes", control="no")
    want1, _ = brute_posterior(asia, ["xray"], do={"either": "yes"})
    want0, _ = brute_posterior(asia, ["xray"], do={"either": "no"})
    assert ace == pytest.approx(want1[0] - want0[0], abs=1e-12)


def test_posterior_batched_rows_match_single_queries(asia):
    rng = np.random.default_rng(3)
    data = asia.sample(300, random_state=5).astype(object)
    cols = [c for c in asia.nodes if c != "lung"]
    ev = data[cols].where(rng.random((300, len(cols))) < 0.5)
    post = asia.posterior(ev, "lung")
    assert list(post.columns) == asia.node_states["lung"]
    assert post.index.equals(ev.index)
    for i in range(0, 300, 23):
        e = {k: v for k, v in ev.iloc[i].items() if pd.notna(v)}
        want, _ = brute_posterior(asia, ["lung"], e)
        np.testing.assert_allclose(post.iloc[i].to_numpy(), want, atol=1e-12)


def test_posterior_single_pattern_and_do(asia):
    data = asia.sample(50, random_state=1)
    ev = data[["xray", "dysp"]]
    post = asia.posterior(ev, "tub", do={"smoke": "yes"})
    for i in range(0, 50, 7):
        e = {k: str(v) for k, v in ev.iloc[i].items()}
        want, _ = brute_posterior(asia, ["tub"], e, {"smoke": "yes"})
        np.testing.assert_allclose(post.iloc[i].to_numpy(), want, atol=1e-12)


def test_many_patterns_use_soft_evidence_and_agree(asia):
    # every row its own pattern of observed columns: answered in one pass with likelihood vectors
    patterns = [c for r in range(1, 4) for c in itertools.combinations(asia.nodes[:-1], r)]
    rows = []
    data = asia.sample(len(patterns), random_state=11)
    for i, pat in enumerate(patterns):
        rows.append({c: (str(data.iloc[i][c]) if c in pat else np.nan) for c in asia.nodes[:-1]})
    ev = pd.DataFrame(rows)
    post = asia.posterior(ev, "xray")
    for i in range(0, len(rows), 9):
        e = {k: v for k, v in rows[i].items() if pd.notna(v)}
        want, _ = brute_posterior(asia, ["xray"], e)
        np.testing.assert_allclose(post.iloc[i].to_numpy(), want, atol=1e-12)


def test_impossible_evidence_and_unknown_names_raise(asia):
    # either is a deterministic OR of tub and lung
    with pytest.raises(ImpossibleEvidenceError, match="probability zero"):
        asia.query("dysp", {"tub": "yes", "either": "no"})
    ev = pd.DataFrame({"tub": ["no", "yes"], "either": ["no", "no"]}, index=["a", "b"])
    with pytest.raises(ImpossibleEvidenceError, match="'b'"):
        asia.posterior(ev, "dysp")
    with pytest.raises(StateError, match="did you mean 'xray'"):
        asia.query("xrya")
    with pytest.raises(StateError, match=r"states: \['yes', 'no'\]"):
        asia.query("xray", {"smoke": "maybe"})
    with pytest.raises(StateError, match="row 1"):
        asia.posterior(pd.DataFrame({"smoke": ["yes", "sometimes"]}), "xray")


def test_target_fixed_by_evidence_is_point_mass(asia):
    got = asia.query(["lung", "smoke"], {"lung": "no"})
    assert got[("no", "yes")] + got[("no", "no")] == pytest.approx(1.0)
    assert got[("yes", "yes")] == 0.0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(2, 12))
def test_random_networks_match_enumeration(make_network, seed, n_nodes):
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes, zeros=bool(seed % 2))
    nodes = net.nodes
    k = int(rng.integers(0, min(4, n_nodes - 1) + 1))
    chosen = rng.permutation(nodes)
    target, ev_nodes = str(chosen[0]), [str(x) for x in chosen[1:1 + k]]
    sample = net.sample(1, random_state=seed)
    ev = {n: str(sample[n].iloc[0]) for n in ev_nodes}
    do_node = str(chosen[-1]) if n_nodes > k + 2 and seed % 3 == 0 else None
    do = {do_node: net.node_states[do_node][0]} if do_node else None
    if do_node:
        # the sampled evidence may be impossible under the intervention; skip those draws
        _, pe = brute_posterior(net, [target], ev, do)
        if pe == 0:
            return
    want, pe = brute_posterior(net, [target], ev, do)
    got = net.query(target, ev, do=do)
    np.testing.assert_allclose(got.to_numpy(), want, atol=1e-10)
    if not do:
        assert net.probability_of_evidence(ev) == pytest.approx(pe, rel=1e-10, abs=1e-300)
    # batched: several rows, some cells hidden
    rows = net.sample(20, random_state=seed + 1).astype(object)
    cols = [c for c in nodes if c != target]
    hidden = rows[cols].where(rng.random((20, len(cols))) < 0.6)
    post = net.posterior(hidden, target)
    for i in range(0, 20, 5):
        e = {c: v for c, v in hidden.iloc[i].items() if pd.notna(v)}
        w, _ = brute_posterior(net, [target], e)
        np.testing.assert_allclose(post.iloc[i].to_numpy(), w, atol=1e-10)


def test_kernel_plan_prunes_and_reports_tables():
    # chain 0 -> 1 -> 2 -> 3; query 1 given 0: nodes 2, 3 are barren
    parents = [(), (0,), (1,), (2,)]
    cards = [2, 2, 2, 2]
    plan = kernels.compile_plan(parents, cards, (1,), (0,))
    assert plan.relevant == frozenset({0, 1})
    # d-separation: P(3 | 2) does not need 0 or 1
    plan = kernels.compile_plan(parents, cards, (3,), (2,))
    assert plan.relevant == frozenset({2, 3})
    order = kernels.elimination_order([(0, 1), (1, 2), (2, 3)], {0, 1, 2, 3}, cards)
    assert sorted(order) == [0, 1, 2, 3]


def test_unique_rows_packs_wide_rows_without_overflow():
    from probwb.bn.learning import _unique_masks, _unique_rows

    rng = np.random.default_rng(0)
    cards = [4] * 40  # 5**40 > 2**62: needs several packed groups
    base = rng.integers(-1, 4, size=(30, 40))
    codes = base[rng.integers(0, 30, size=500)]
    uniq, inv = _unique_rows(codes, cards)
    np.testing.assert_array_equal(uniq[inv], codes)
    assert len(uniq) == len(np.unique(codes, axis=0))
    pats, pinv = _unique_masks(codes >= 0)
    np.testing.assert_array_equal(pats[pinv], codes >= 0)
    assert pats.dtype == bool
