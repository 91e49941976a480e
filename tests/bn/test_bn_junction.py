"""The junction-tree engine (batched single-target posteriors, log P(evidence)) and the MPE query,
against brute-force enumeration of the joint and against the einsum engine."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.bn import BayesNet, junction, kernels
from probwb.bn import network as bn_network
from probwb.errors import ImpossibleEvidenceError, StateError


def _mutilated(net: BayesNet, do=None):
    """Parents and CPTs after graph surgery for ``do`` (a point mass replaces each CPT)."""
    parents = list(net._parents)
    cpts = list(net._cpts)
    for name, state in (do or {}).items():
        v = net._index[name]
        parents[v] = ()
        one = np.zeros(net._cards[v])
        one[net._state_index[v][state]] = 1.0
        cpts[v] = one
    return parents, cpts


def brute_posterior(net: BayesNet, targets, evidence=None, do=None):
    """P(targets | evidence) (under do) and P(evidence) from the full joint table."""
    parents, cpts = _mutilated(net, do)
    joint = kernels.enumerate_joint(parents, cpts)
    for name, state in (evidence or {}).items():
        v = net._index[name]
        keep = np.zeros(net._cards[v])
        keep[net._state_index[v][state]] = 1.0
        shape = [1] * joint.ndim
        shape[v] = -1
        joint = joint * keep.reshape(shape)
    ids = [net._index[t] for t in targets]
    table = joint.sum(axis=tuple(k for k in range(joint.ndim) if k not in ids))
    table = np.transpose(table, np.argsort(np.argsort(ids)))
    return table / table.sum(), float(joint.sum())

_TREE_ROWS = junction.tree_rows
needs_numba = pytest.mark.skipif(not junction.HAVE_NUMBA, reason="numba (the 'fast' extra) is absent")


@pytest.fixture
def engine(monkeypatch):
    """Set which engine answers batched posteriors for one test."""
    def use(name: str) -> None:
        monkeypatch.setattr(bn_network, "_ENGINE", name)
    return use


def _hidden_rows(net: BayesNet, target: str, n: int, rng: np.random.Generator, p_obs: float
                 ) -> pd.DataFrame:
    """Sampled rows with each non-target cell observed with probability ``p_obs``; the first row is
    all missing and the second fully observed."""
    cols = [c for c in net.nodes if c != target]
    rows = net.sample(n, random_state=int(rng.integers(1 << 30)))[cols].astype(object)
    keep = rng.random((n, len(cols))) < p_obs
    keep[0] = False
    keep[1] = True
    return rows.where(keep)


def _check_rows(net, post, ev, target, do=None, atol=1e-12):
    for i in range(len(ev)):
        e = {c: v for c, v in ev.iloc[i].items() if pd.notna(v)}
        want, _ = brute_posterior(net, [target], e, do)
        np.testing.assert_allclose(post.iloc[i].to_numpy(), want, atol=atol, rtol=0)


@needs_numba
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(2, 11))
def test_tree_posterior_matches_enumeration_on_random_networks(make_network, engine, seed, n_nodes):
    engine("junction")
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes, zeros=bool(seed % 2))
    target = str(rng.choice(net.nodes))
    ev = _hidden_rows(net, target, 12, rng, 0.5)
    post = net.posterior(ev, target)
    _check_rows(net, post, ev, target)
    # the plain-Python kernel is the same algorithm, uncompiled
    tree = net._junction({})
    codes = net._encode(ev, list(ev.columns))
    ids = [net._index[c] for c in ev.columns]
    rooted = junction.root_tree(tree, net._index[target])
    a, la = junction.tree_rows(tree, rooted, codes, ids)
    b, lb = junction.tree_rows(tree, rooted, codes, ids, compiled=False)
    np.testing.assert_allclose(a, b, atol=1e-14)
    np.testing.assert_allclose(la, lb, rtol=1e-12, atol=1e-14)
    # log P(row) from the tree equals the enumerated P(row)
    for i in range(0, 12, 3):
        e = {c: v for c, v in ev.iloc[i].items() if pd.notna(v)}
        _, pe = brute_posterior(net, [target], e)
        got = net.log_likelihood(ev.iloc[[i]])
        assert got == pytest.approx(np.log(pe), rel=1e-10, abs=1e-12)


@needs_numba
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(2, 11), n_targets=st.integers(1, 2),
       n_ev=st.integers(0, 4))
def test_queries_on_the_tree_match_enumeration(make_network, monkeypatch, seed, n_nodes, n_targets,
                                              n_ev):
    # once the kernel is loaded (or cached on disk) a query is answered by tree rows, one per
    # joint target state; elimination answers otherwise. Both against the full joint
    monkeypatch.setattr(bn_network, "_TREE_QUERY_AFTER", 1)  # from the first query on
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes, zeros=bool(seed % 2))
    nodes = list(rng.permutation(net.nodes))
    targets = nodes[:min(n_targets, len(nodes) - 1)]
    row = net.sample(1, random_state=int(rng.integers(1 << 30))).iloc[0]
    ev = {c: str(row[c]) for c in nodes[len(targets):len(targets) + n_ev]}
    want, _ = brute_posterior(net, targets, ev)
    for cached in (True, False):
        monkeypatch.setattr(junction, "kernel_cached", lambda *a, c=cached: c)
        calls = []
        monkeypatch.setattr(junction, "tree_rows",
                            lambda *a, calls=calls, **k: calls.append(1) or _TREE_ROWS(*a, **k))
        got = net.query(targets if len(targets) > 1 else targets[0], ev)
        assert bool(calls) == cached
        np.testing.assert_allclose(got.to_numpy(), want.ravel(), atol=1e-12, rtol=0)
    # an impossible observation raises on every path, also where it is d-separated from the
    # target (elimination prunes that node's CPT, so P(evidence) is checked apart)
    if bool(seed % 2):
        for node in net.nodes:
            for state in net.node_states[node]:
                if node in targets or node in ev:
                    continue
                bad = {**ev, node: state}
                with np.errstate(invalid="ignore"):
                    if brute_posterior(net, targets, bad)[1] > 0:
                        continue
                for cached in (True, False):
                    monkeypatch.setattr(junction, "kernel_cached", lambda *a, c=cached: c)
                    with pytest.raises(ImpossibleEvidenceError):
                        net.query(targets[0], bad)
                for eng in ("einsum", "junction"):
                    monkeypatch.setattr(bn_network, "_ENGINE", eng)
                    with pytest.raises(ImpossibleEvidenceError):
                        net.posterior(pd.DataFrame([bad] * 3), targets[0])
                monkeypatch.setattr(bn_network, "_ENGINE", "auto")


@needs_numba
def test_alarm_queries_on_the_tree_match_elimination(monkeypatch):
    monkeypatch.setattr(bn_network, "_TREE_QUERY_AFTER", 1)
    net = BayesNet.from_bundled("alarm")
    rng = np.random.default_rng(11)
    data = net.sample(30, random_state=3)
    for i in range(30):
        pick = [net.nodes[k] for k in rng.choice(len(net.nodes), 5, replace=False)]
        targets = pick[:1 + i % 2]
        ev = {c: str(data.iloc[i][c]) for c in pick[2:]}
        monkeypatch.setattr(junction, "kernel_cached", lambda *a: True)
        a = net.query(targets, ev)
        monkeypatch.setattr(junction, "kernel_cached", lambda *a: False)
        b = net.query(targets, ev)
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-12, rtol=0)
        assert a.index.equals(b.index)


@needs_numba
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(3, 10))
def test_tree_posterior_under_intervention_matches_surgery(make_network, engine, seed, n_nodes):
    engine("junction")
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes)  # no zeros: every sampled row stays possible under do
    target, do_node = (str(x) for x in rng.choice(net.nodes, 2, replace=False))
    do = {do_node: net.node_states[do_node][-1]}
    ev = _hidden_rows(net, target, 10, rng, 0.4).drop(columns=[do_node])
    post = net.posterior(ev, target, do=do)
    _check_rows(net, post, ev, target, do)
    # a different intervention gets its own tree
    do2 = {do_node: net.node_states[do_node][0]}
    _check_rows(net, net.posterior(ev, target, do=do2), ev, target, do2)


@needs_numba
def test_engines_agree_and_impossible_rows_are_named(asia, engine):
    patterns = [c for r in range(0, 5) for c in itertools.combinations(asia.nodes[:-1], r)]
    data = asia.sample(len(patterns), random_state=3)
    ev = pd.DataFrame([{c: (str(data.iloc[i][c]) if c in pat else np.nan) for c in asia.nodes[:-1]}
                       for i, pat in enumerate(patterns)])
    engine("junction")
    tree_post = asia.posterior(ev, "xray")
    engine("einsum")
    ein_post = asia.posterior(ev, "xray")
    np.testing.assert_allclose(tree_post.to_numpy(), ein_post.to_numpy(), atol=1e-13)
    _check_rows(asia, tree_post.iloc[::17], ev.iloc[::17], "xray")
    # either is a deterministic OR of tub and lung: row 'c' is impossible, 'a' and 'b' are not
    bad = pd.DataFrame({"tub": ["no", "yes", "yes", "yes"], "either": ["no", "yes", "no", "no"]},
                       index=["a", "b", "c", "d"])
    engine("junction")
    with pytest.raises(ImpossibleEvidenceError, match=r"row 'c'.*tub='yes', either='no'"):
        asia.posterior(bad, "dysp")
    # threads split the rows without changing any answer
    big = ev.sample(2500, replace=True, random_state=1).reset_index(drop=True)
    tree = asia._junction({})
    codes = asia._encode(big, list(big.columns))
    ids = [asia._index[c] for c in big.columns]
    rooted = junction.root_tree(tree, asia._index["xray"])
    one, _ = junction.tree_rows(tree, rooted, codes, ids, threads=1)
    two, _ = junction.tree_rows(tree, rooted, codes, ids, threads=2)
    np.testing.assert_array_equal(one, two)


def test_without_numba_the_einsum_engine_answers(asia, monkeypatch):
    monkeypatch.setattr(junction, "HAVE_NUMBA", False)
    ev = pd.DataFrame({"smoke": ["yes", np.nan, "no"], "dysp": [np.nan, "yes", "no"]})
    assert not asia._use_junction(10**6)
    post = asia.posterior(ev, "lung")
    _check_rows(asia, post, ev, "lung")
    # tiny P(e) is still rescued, by the plain-Python tree kernel
    lp = asia.log_probability_of_evidence({"smoke": "yes", "dysp": "no"})
    _, pe = brute_posterior(asia, ["lung"], {"smoke": "yes", "dysp": "no"})
    assert lp == pytest.approx(np.log(pe), rel=1e-12)


@needs_numba
def test_tree_cache_follows_new_cpts(asia, engine):
    engine("junction")
    net = BayesNet.from_spec(asia.to_spec())
    ev = pd.DataFrame({"smoke": ["yes", np.nan], "xray": [np.nan, "yes"]})
    before = net.posterior(ev, "lung")
    data = asia.sample(3000, random_state=2)
    net.fit(data)
    after = net.posterior(ev, "lung")
    assert not np.allclose(before.to_numpy(), after.to_numpy(), atol=1e-4)
    _check_rows(net, after, ev, "lung")


def _chain(n: int, seed: int) -> BayesNet:
    """A binary chain X0 -> X1 -> ... with random transition tables."""
    rng = np.random.default_rng(seed)
    nodes = {"X0": {"states": ["a", "b"], "parents": [], "cpt": [0.3, 0.7]}}
    for i in range(1, n):
        cpt = rng.dirichlet([0.3, 0.3], size=2)
        nodes[f"X{i}"] = {"states": ["a", "b"], "parents": [f"X{i - 1}"], "cpt": cpt.tolist()}
    return BayesNet.from_spec({"nodes": nodes})


def _chain_log_evidence(net: BayesNet, ev: dict[str, str]) -> float:
    """Scaled forward recursion along the chain (an independent computation of log P(ev))."""
    n = len(net.nodes)
    cpts = net.cpts_
    alpha = cpts["X0"].copy()
    total = 0.0
    for i in range(n):
        if i:
            alpha = alpha @ cpts[f"X{i}"]
        if f"X{i}" in ev:
            keep = np.zeros(2)
            keep[net.node_states[f"X{i}"].index(ev[f"X{i}"])] = 1.0
            alpha = alpha * keep
        s = alpha.sum()
        total += np.log(s)
        alpha = alpha / s
    return total


@pytest.fixture(scope="module")
def long_chain() -> BayesNet:
    return _chain(1400, 4)


@pytest.mark.parametrize("compiled", [True, False])
def test_log_evidence_does_not_underflow(monkeypatch, long_chain, compiled):
    if compiled and not junction.HAVE_NUMBA:
        pytest.skip("numba (the 'fast' extra) is absent")
    if not compiled:
        monkeypatch.setattr(junction, "HAVE_NUMBA", False)
    net = long_chain
    n = len(net.nodes)
    # every second node observed in a random state: P(evidence) is far below the smallest double
    rng = np.random.default_rng(9)
    sample = pd.DataFrame(rng.choice(["a", "b"], size=(2, n)), columns=net.nodes)
    ev = {f"X{i}": str(sample[f"X{i}"].iloc[0]) for i in range(0, n, 2)}
    want = _chain_log_evidence(net, ev)
    assert want < -800
    assert net.probability_of_evidence(ev) == 0.0  # the plain product underflows
    assert net.log_probability_of_evidence(ev) == pytest.approx(want, rel=1e-10)
    rows = sample.astype(object)
    rows.loc[:, [f"X{i}" for i in range(1, n, 2)]] = np.nan
    ll = net.log_likelihood(rows, per_row=True)
    want_rows = [_chain_log_evidence(net, {c: v for c, v in rows.iloc[i].items() if pd.notna(v)})
                 for i in range(2)]
    np.testing.assert_allclose(ll, want_rows, rtol=1e-10)


def _brute_mpe(net: BayesNet, evidence: dict[str, str], do=None):
    """The largest joint probability of a full assignment agreeing with ``evidence``."""
    parents, cpts = _mutilated(net, do)
    joint = kernels.enumerate_joint(parents, cpts)
    for name, state in evidence.items():
        v = net._index[name]
        joint = np.take(joint, [net._state_index[v][state]], axis=v)
    return float(joint.max()), parents, cpts


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(1, 10))
def test_mpe_matches_enumeration(make_network, seed, n_nodes):
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes, zeros=bool(seed % 2))
    k = int(rng.integers(0, n_nodes))
    picked = [str(x) for x in rng.permutation(net.nodes)[:k]]
    sample = net.sample(1, random_state=seed)
    ev = {n: str(sample[n].iloc[0]) for n in picked}
    do = None
    if k and seed % 3 == 0:
        do = {picked[0]: ev.pop(picked[0])}
    best, parents, cpts = _brute_mpe(net, ev, do)
    got = net.map_query(None, ev, do=do)
    assert set(got) == set(net.nodes) - set(ev) - set(do or {})
    full = {**got, **ev, **(do or {})}
    value = np.prod([cpts[v][tuple(net._state_index[u][full[net._names[u]]]
                                   for u in (*parents[v], v))]
                     for v in range(n_nodes)])
    assert value == pytest.approx(best, rel=1e-10)


def test_mpe_asia_and_impossible_evidence(asia):
    got = asia.map_query(evidence={"dysp": "yes"})
    # the MPE given dyspnoea: a smoker with bronchitis (checked by enumeration in the test above and
    # against pgmpy in tests/reference/test_bn_pgmpy.py)
    assert got["smoke"] == "yes" and got["bronc"] == "yes" and got["lung"] == "no"
    assert "dysp" not in got
    with pytest.raises(ImpossibleEvidenceError, match="probability zero"):
        asia.map_query(evidence={"tub": "yes", "either": "no"})
    with pytest.raises(ImpossibleEvidenceError, match="contradicts"):
        asia.map_query(evidence={"smoke": "yes"}, do={"smoke": "no"})


def test_categorical_and_string_columns_encode_alike(asia):
    ev = pd.DataFrame({"smoke": ["yes", None, "no", "no"], "dysp": [None, "yes", "no", None]})
    want = asia.posterior(ev, "lung")
    got = asia.posterior(ev.astype("category"), "lung")
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    bad = pd.DataFrame({"smoke": pd.Categorical(["yes", "often"], categories=["yes", "no", "often"])})
    with pytest.raises(StateError, match=r"row 1: value 'often'"):
        asia.posterior(bad, "lung")
    # a category no row uses is no error; categories in another order map by name
    spare = pd.DataFrame({"smoke": pd.Categorical(["no", None, "yes"],
                                                  categories=["often", "yes", "no"])})
    np.testing.assert_array_equal(asia.posterior(spare, "lung").to_numpy(),
                                  asia.posterior(spare.astype(object), "lung").to_numpy())


@needs_numba
def test_single_queries_never_build_the_tree_but_use_a_rooted_one(monkeypatch):
    # loading the kernel and rooting the tree (0.1-2 s) would stall one query: single queries are
    # answered by elimination however many come, and by tree rows once something else (here
    # log_likelihood) has rooted the tree with the kernel loaded
    assert bn_network._TREE_QUERY_AFTER is None
    asia = BayesNet.from_bundled("asia")  # a fresh network: no tree built by other tests
    want = asia.query("lung", {"smoke": "yes"})
    calls = []
    monkeypatch.setattr(junction, "tree_rows", lambda *a, **k: calls.append(1) or _TREE_ROWS(*a, **k))
    for _ in range(10):
        asia.query("lung", {"smoke": "yes"})
    assert not calls and () not in asia._jt
    rows = asia.sample(5, random_state=0)
    rows["lung"] = None  # incomplete rows: log-likelihood on the tree (rooted without a target)
    monkeypatch.setattr(bn_network, "_ENGINE", "junction")
    asia.log_likelihood(rows)
    monkeypatch.setattr(bn_network, "_ENGINE", "auto")
    assert calls and -1 in asia._jt[()].rooted
    calls.clear()
    got = asia.query("lung", {"smoke": "yes"})
    assert calls == [1] or not junction.kernel_ready()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-14, rtol=0)


def test_many_patterns_without_the_tree_choose_soft_or_per_pattern_plans(asia, engine, monkeypatch):
    # without the kernel, rows observing different columns share one soft-evidence plan unless
    # it is large against a plan per pattern (or too large to build at all): same answers
    engine("einsum")
    rng = np.random.default_rng(4)
    ev = _hidden_rows(asia, "lung", 300, rng, 0.5)
    want = asia.posterior(ev, "lung")
    _check_rows(asia, want.iloc[:40], ev.iloc[:40], "lung")
    asia._plans.clear()
    monkeypatch.setattr(bn_network, "_SOFT_TABLE", 0)
    monkeypatch.setattr(bn_network, "_PLAN_ENTRIES", 0)
    got = asia.posterior(ev, "lung")
    assert sum(not key[2] for key in asia._plans) > 5  # a plan per observed-column pattern
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-14)
    asia._plans.clear()
    monkeypatch.setattr(bn_network, "_SOFT_TABLE", 65_536)
    real = bn_network.BayesNet._plan

    def no_soft(self, targets, hard, soft, *rest):
        if soft:
            raise bn_network.ModelError("too large")
        return real(self, targets, hard, soft, *rest)

    monkeypatch.setattr(bn_network.BayesNet, "_plan", no_soft)
    np.testing.assert_allclose(asia.posterior(ev, "lung").to_numpy(), want.to_numpy(), atol=1e-14)
