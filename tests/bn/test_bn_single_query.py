"""Single queries by a scheduled elimination (einsum sublists): exact against the full joint from the
first query on, impossible evidence still raised, and the general plan where the schedule declines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.bn import BayesNet, kernels
from probwb.bn import network as bn_network
from probwb.errors import ImpossibleEvidenceError


def _brute(net: BayesNet, targets: list[str], evidence: dict[str, str]) -> tuple[np.ndarray, float]:
    """P(targets | evidence) (axes in ``targets`` order) and P(evidence), from the full joint."""
    joint = kernels.enumerate_joint(net._parents, net._cpts)
    for name, state in evidence.items():
        v = net._index[name]
        joint = np.take(joint, [net._state_index[v][state]], axis=v)
    ids = [net._index[t] for t in targets]
    table = joint.sum(axis=tuple(k for k in range(joint.ndim) if k not in ids))
    table = np.transpose(table, np.argsort(np.argsort(ids)))
    pe = float(joint.sum())
    return (table / pe if pe > 0 else table), pe


def _spy(monkeypatch, net: BayesNet) -> list:
    """Record what the scheduled elimination returned for each query of ``net``."""
    seen: list = []
    orig = BayesNet._fast_table

    def spy(self, t, ev):
        out = orig(self, t, ev)
        if self is net:
            seen.append(out is not None)
        return out

    monkeypatch.setattr(BayesNet, "_fast_table", spy)
    return seen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(2, 10), n_targets=st.integers(1, 3),
       n_ev=st.integers(0, 5))
def test_scheduled_queries_match_enumeration(make_network, monkeypatch, seed, n_nodes, n_targets, n_ev):
    rng = np.random.default_rng(seed)
    zeros = bool(seed % 2)
    net = make_network(rng, n_nodes, zeros=zeros)
    seen = _spy(monkeypatch, net)
    nodes = list(rng.permutation(net.nodes))
    targets = nodes[:min(n_targets, len(nodes) - 1)]
    row = net.sample(1, random_state=int(rng.integers(1 << 30))).iloc[0]
    ev = {c: str(row[c]) for c in nodes[len(targets):len(targets) + n_ev]}
    want, _ = _brute(net, targets, ev)
    got = net.query(targets if len(targets) > 1 else targets[0], ev)
    assert seen == [True]  # the first query of a new network, answered by the schedule
    np.testing.assert_allclose(got.to_numpy(), want.ravel(), atol=1e-12, rtol=0)
    assert not net._jt  # no junction tree was built for it
    if not zeros:
        return
    # evidence made impossible by a zero, also where that node's CPT is d-separated from the
    # targets (Bayes-ball prunes it: the schedule then keeps every ancestor and checks the sum)
    for node in nodes[len(targets):]:
        for state in net.node_states[node]:
            bad = {**ev, node: state}
            if _brute(net, targets, bad)[1] > 0:
                continue
            with pytest.raises(ImpossibleEvidenceError):
                net.query(targets[0], bad)


def test_alarm_queries_by_schedule_match_the_general_plan(monkeypatch):
    net = BayesNet.from_bundled("alarm")
    seen = _spy(monkeypatch, net)
    rng = np.random.default_rng(17)
    data = net.sample(60, random_state=11)
    queries = []
    for i in range(60):
        pick = [net.nodes[k] for k in rng.choice(len(net.nodes), 6, replace=False)]
        queries.append((pick[:1 + i % 2], {c: str(data.iloc[i][c]) for c in pick[2:2 + i % 5]}))
    got = [net.query(t, e) for t, e in queries]
    assert all(seen) and len(seen) == 60 and not net._jt
    # the schedule declines (every table "too large"): the general plan answers, the same numbers
    monkeypatch.setattr(bn_network, "_SCHEDULE_TABLE", 0)
    net._schedules = None
    seen.clear()
    for (t, e), a in zip(queries, got, strict=True):
        b = net.query(t, e)
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-14, rtol=0)
        assert a.index.equals(b.index)
    assert not any(seen)


def test_new_cpts_reschedule_the_zero_check(asia):
    # the schedule of a pattern depends on which CPTs hold zeros: new CPTs start a new cache
    net = BayesNet.from_spec(asia.to_spec())
    ev = {"xray": "yes", "smoke": "no"}
    before = net.query("bronc", ev)
    cpts = net.cpts_
    xray = cpts["xray"].copy()
    xray[..., 0] = [0.0, 0.0]  # xray=yes now impossible: P(xray | either) puts all mass on "no"
    xray[..., 1] = [1.0, 1.0]
    cpts["xray"] = xray
    net._set_cpts(cpts)
    with pytest.raises(ImpossibleEvidenceError):
        net.query("bronc", ev)
    net._set_cpts(asia.cpts_)
    np.testing.assert_array_equal(net.query("bronc", ev).to_numpy(), before.to_numpy())


def test_many_observed_children_fall_back_to_the_plan():
    # a naive-Bayes network with 40 observed children: the final product has more operands than one
    # einsum takes, so the schedule declines and the general plan answers (exactly)
    k = 40
    nodes = {"T": {"states": ["a", "b"], "parents": [], "cpt": [0.3, 0.7]}}
    rng = np.random.default_rng(2)
    for i in range(k):
        nodes[f"C{i}"] = {"states": ["x", "y"], "parents": ["T"],
                          "cpt": rng.dirichlet([1.0, 1.0], size=2).tolist()}
    net = BayesNet.from_spec({"nodes": nodes})
    ev = {f"C{i}": "x" if i % 3 else "y" for i in range(k)}
    ids = {net._index[c]: net._state_index[net._index[c]][s] for c, s in ev.items()}
    assert net._fast_table([net._index["T"]], ids) is None
    like = np.array([0.3, 0.7])
    for i in range(k):
        like = like * net.cpts_[f"C{i}"][:, 0 if i % 3 else 1]
    np.testing.assert_allclose(net.query("T", ev).to_numpy(), like / like.sum(), rtol=1e-12)


@pytest.fixture(scope="module")
def pairwise():
    """Whether each example's plan was a contraction path; most must be (checked at the end)."""
    seen: list[bool] = []
    yield seen
    assert sum(seen) >= len(seen) // 2, seen


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(3, 9), n_ev=st.integers(0, 4))
def test_contraction_paths_match_enumeration(make_network, monkeypatch, seed, n_nodes, n_ev, pairwise):
    # every plan by a pairwise contraction path (what munin1's hard patterns get): single queries
    # and batched rows, each row its own observed columns, agree with the full joint
    import functools

    monkeypatch.setattr(kernels, "compile_plan", functools.partial(kernels.compile_plan, path_above=0))
    monkeypatch.setattr(bn_network, "_SCHEDULE_TABLE", 0)
    monkeypatch.setattr(bn_network, "_ENGINE", "einsum")
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes)
    nodes = list(rng.permutation(net.nodes))
    target = nodes[0]
    data = net.sample(6, random_state=int(rng.integers(1 << 30)))
    rows = []
    for i in range(6):
        cols = list(rng.choice(nodes[1:], size=min(n_ev, len(nodes) - 1), replace=False))
        rows.append({c: str(data.iloc[i][c]) for c in cols})
    plan = net._plan((net._index[target],), tuple(sorted(net._index[c] for c in rows[0])), (), (),
                     False, False)
    pairwise.append(plan.pairwise)
    import pandas as pd

    post = net.posterior(pd.DataFrame(rows, columns=nodes[1:]), target)
    for i, ev in enumerate(rows):
        want = _brute(net, [target], ev)[0]
        np.testing.assert_allclose(net.query(target, ev).to_numpy(), want, atol=1e-12, rtol=0)
        np.testing.assert_allclose(post.iloc[i].to_numpy(), want, atol=1e-12, rtol=0)
