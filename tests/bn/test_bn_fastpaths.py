"""The junction-tree kernel's precomputed shortcuts (one observation per subtree from a table,
pass-through paths as one matrix) and the one-pass coding of wide string frames, against the
kernel without shortcuts, the plain-Python kernel, brute force and the per-column coder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.bn import BayesNet, encoding, junction
from probwb.bn import network as bn_network
from probwb.errors import ImpossibleEvidenceError, StateError

needs_numba = pytest.mark.skipif(not junction.HAVE_NUMBA, reason="numba (the 'fast' extra) is absent")


def _rows(net: BayesNet, target: str, n: int, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """Sampled rows (so every row is possible), each observing its own ``k`` random columns."""
    cols = [c for c in net.nodes if c != target]
    data = net.sample(n, random_state=int(rng.integers(1 << 30)))[cols].astype(str)
    mask = np.zeros(data.shape, dtype=bool)
    for i in range(n):
        mask[i, rng.choice(len(cols), min(k, len(cols)), replace=False)] = True
    return data.where(mask)


def _both(net: BayesNet, target: str, ev: pd.DataFrame, monkeypatch, compiled: bool | None = None):
    """``tree_rows`` on fresh trees with and without the shortcut tables."""
    codes = net._encode(ev, list(ev.columns))
    ids = [net._index[c] for c in ev.columns]
    tv = net._index[target]
    out = []
    for cap in (None, 0):
        for name in ("_MAX_SINGLE", "_MAX_JUMP", "_MAX_SORTED", "_MAX_SLICE", "_MAX_PAIR"):
            monkeypatch.setattr(junction, name, getattr(junction, name) if cap is None else cap)
        tree = junction.build_tree(net._parents, net._cards, net._cpts)
        rooted = junction.root_tree(tree, tv)
        out.append((rooted, *junction.tree_rows(tree, rooted, codes, ids, compiled=compiled)))
    return out


@needs_numba
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(3, 14), k=st.integers(1, 5))
def test_shortcuts_match_the_plain_kernel_on_random_networks(make_network, monkeypatch, seed, n_nodes, k):
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes, zeros=bool(seed % 2))
    target = str(rng.choice(net.nodes))
    ev = _rows(net, target, 40, k, rng)
    (fast, a, la), (slow, b, lb) = _both(net, target, ev, monkeypatch)
    assert (slow.sg_off < 0).all() and (slow.jo < 0).all() and (slow.s_off < 0).all()
    assert (slow.sl_off < 0).all() and (slow.pr_off < 0).all()
    np.testing.assert_allclose(a, b, atol=1e-13, rtol=0)
    np.testing.assert_allclose(la, lb, rtol=1e-12, atol=1e-12)
    # the plain-Python twin takes the same shortcuts
    pa_, pla = junction.tree_rows(*_fresh(net, target), net._encode(ev, list(ev.columns)),
                                  [net._index[c] for c in ev.columns], compiled=False)
    np.testing.assert_allclose(pa_, a, atol=1e-14, rtol=0)
    np.testing.assert_allclose(pla, la, rtol=1e-12, atol=1e-12)


@needs_numba
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(2, 14), k=st.integers(0, 6),
       bits=st.integers(1, 5))
def test_kernel_bit_sets_over_several_words(make_network, monkeypatch, seed, n_nodes, k, bits):
    # the kernel keeps a row's cliques as bits, 64 to a word; trees above 64 cliques need
    # several words: with a few cliques to a word, small trees take the same path
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes, zeros=bool(seed % 2))
    target = str(rng.choice(net.nodes))
    ev = _rows(net, target, 60, k, rng)
    codes = net._encode(ev, list(ev.columns))
    ids = [net._index[c] for c in ev.columns]
    for tv in (net._index[target], -1):
        out = []
        for nbits in (64, bits):
            monkeypatch.setattr(junction, "_WORD_BITS", nbits)
            tree = junction.build_tree(net._parents, net._cards, net._cpts)
            rooted = junction.root_tree(tree, tv)
            assert rooted.ancm.shape[1] == -(-len(tree.cliques) // nbits)
            out.append(junction.tree_rows(tree, rooted, codes, ids))
        (a, la), (b, lb) = out
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)


def _fresh(net: BayesNet, target: str):
    tree = junction.build_tree(net._parents, net._cards, net._cpts)
    return tree, junction.root_tree(tree, net._index[target])


@needs_numba
def test_shortcuts_are_used_and_exact_on_alarm(monkeypatch):
    net = BayesNet.from_bundled("alarm")
    rng = np.random.default_rng(5)
    ev = _rows(net, "HYPOVOLEMIA", 300, 5, rng)
    (fast, a, la), (_, b, lb) = _both(net, "HYPOVOLEMIA", ev, monkeypatch)
    # ALARM's tables are small: every non-root clique has one, and some paths have a matrix
    assert (fast.sg_off >= 0).sum() > len(fast.order)
    assert (fast.jo >= 0).sum() > 0
    np.testing.assert_allclose(a, b, atol=1e-14, rtol=0)
    np.testing.assert_allclose(la, lb, rtol=1e-12)
    # the sorted layout covers every clique, the pair table every pair meeting below the root
    assert (fast.sl_off[:, 0] >= 0).all() and (fast.s_off >= 0).any()
    assert (fast.pr_off >= 0).sum() > 300
    # and the public call agrees with elimination, one row at a time
    post = net.posterior(ev.iloc[:20], "HYPOVOLEMIA")
    for i in range(0, 20, 4):
        e = {c: v for c, v in ev.iloc[i].items() if pd.notna(v)}
        np.testing.assert_allclose(post.iloc[i].to_numpy(), net.query("HYPOVOLEMIA", e).to_numpy(),
                                   atol=1e-12)


def _zero_chain() -> BayesNet:
    """A -> C -> D -> T -> E with P(A = a1) = 0: observing a1 alone in a subtree is impossible."""
    two = {"states": ["x0", "x1"]}
    spec = {"nodes": {
        "A": {"states": ["a0", "a1"], "parents": [], "cpt": [1.0, 0.0]},
        "C": {**two, "parents": ["A"], "cpt": [[0.7, 0.3], [0.2, 0.8]]},
        "D": {**two, "parents": ["C"], "cpt": [[0.6, 0.4], [0.1, 0.9]]},
        "T": {**two, "parents": ["D"], "cpt": [[0.5, 0.5], [0.3, 0.7]]},
        "E": {**two, "parents": ["T"], "cpt": [[0.9, 0.1], [0.4, 0.6]]},
    }}
    return BayesNet.from_spec(spec)


@needs_numba
def test_impossible_evidence_through_the_tables(monkeypatch):
    net = _zero_chain()
    ev = pd.DataFrame({"A": ["a1", "a0", "a1", None], "C": [None, "x1", "x0", "x1"],
                       "D": [None, None, None, "x0"], "E": ["x1", None, None, "x0"]})
    (fast, a, la), (_, b, lb) = _both(net, "T", ev, monkeypatch)
    assert (fast.sg_off >= 0).any()
    np.testing.assert_array_equal(np.isinf(la), [True, False, True, False])
    np.testing.assert_allclose(la[[1, 3]], lb[[1, 3]], rtol=1e-12)
    assert np.isnan(a[[0, 2]]).all() and np.isnan(b[[0, 2]]).all()
    np.testing.assert_allclose(a[[1, 3]], b[[1, 3]], atol=1e-15)
    monkeypatch.setattr(bn_network, "_ENGINE", "junction")
    with pytest.raises(ImpossibleEvidenceError, match=r"evidence row 0 .*A='a1'"):
        net.posterior(ev, "T")


# ------------------------------------------------------------------ wide string frames


def _wide(net: BayesNet, n: int, rng: np.random.Generator) -> pd.DataFrame:
    frame = net.sample(n, random_state=int(rng.integers(1 << 30))).astype(str)
    return frame.where(rng.random(frame.shape) < 0.3)


@needs_numba
def test_wide_frames_code_like_the_per_column_path(asia, monkeypatch):
    rng = np.random.default_rng(11)
    frame = _wide(asia, 400, rng)
    frame["smoke"] = asia.sample(400, random_state=2)["smoke"].astype(str)  # a column without NaN
    cols = list(frame.columns)
    monkeypatch.setattr(bn_network, "_WIDE_CELLS", 10 ** 12)
    want = asia._encode(frame, cols)
    for part in (frame, frame.iloc[37:301], frame.iloc[::3]):  # sliced arrow chunks too
        exp = want[part.index.to_numpy()] if part is not frame else want
        out = np.full((len(part), len(cols)), 99, dtype=np.int64)
        arrays = [pa.array(part[c].array) for c in cols]
        states = [asia.node_states[c] for c in cols]
        assert encoding.arrow_state_codes(arrays, states, out, range(len(cols)))
        np.testing.assert_array_equal(out, exp)
        # columns in several chunks, 4-byte offsets, rows split over threads, columns reordered
        monkeypatch.setattr(encoding, "_CELLS_PER_THREAD", 10)
        chunked = [pa.chunked_array([a[:len(a) // 3], a[len(a) // 3:]]) for a in arrays]
        narrow = [a.cast(pa.string()) for a in arrays]
        for arrs in (chunked, narrow):
            out = np.full((len(part), len(cols)), 99, dtype=np.int8)
            dest = list(range(len(cols)))[::-1]
            assert encoding.arrow_state_codes(arrs, states, out, dest)
            np.testing.assert_array_equal(out[:, ::-1], exp)
        monkeypatch.setattr(encoding, "_CELLS_PER_THREAD", 100_000)
    monkeypatch.setattr(bn_network, "_WIDE_CELLS", 1)
    np.testing.assert_array_equal(asia._encode(frame, cols), want)
    np.testing.assert_array_equal(asia._encode(frame.iloc[37:301], cols), want[37:301])


def test_wide_frames_name_a_bad_value(asia, monkeypatch):
    monkeypatch.setattr(bn_network, "_WIDE_CELLS", 1)
    frame = _wide(asia, 50, np.random.default_rng(3))
    frame.loc[17, "dysp"] = "maybe"
    with pytest.raises(StateError, match=r"column 'dysp', row 17: value 'maybe'"):
        asia._encode(frame, list(frame.columns))
    # a state name that is a prefix of the value, or the value a prefix of a state, is no match
    frame.loc[17, "dysp"] = "ye"
    with pytest.raises(StateError, match="value 'ye'"):
        asia._encode(frame, list(frame.columns))


def test_pattern_count_shortcut_decides_like_counting_all_rows():
    # _many_patterns may decide from the first 1,024 rows; it must agree with counting every row
    rng = np.random.default_rng(8)
    for _ in range(60):
        n, k, n_pat = int(rng.integers(1, 4000)), int(rng.integers(1, 70)), int(rng.integers(1, 300))
        pats = rng.random((n_pat, k)) < rng.random()
        mask = pats[rng.integers(0, n_pat, n)]
        distinct = len(np.unique(mask, axis=0))
        assert bn_network._many_patterns(mask) == (distinct > 8 and n / distinct < 64)


@needs_numba
def test_rows_stay_on_one_thread_while_the_other_cores_are_busy(monkeypatch):
    # parallel calls in a row whose workers finished well after this thread's share mark the
    # other cores busy; the next calls run on one thread (same answers) and count the mark down
    net = BayesNet.from_bundled("alarm")
    ev = _rows(net, "HYPOVOLEMIA", 2400, 5, np.random.default_rng(9))
    tree, rooted = _fresh(net, "HYPOVOLEMIA")
    codes = net._encode(ev, list(ev.columns))
    ids = [net._index[c] for c in ev.columns]
    one = junction.tree_rows(tree, rooted, codes, ids, threads=1)
    monkeypatch.setattr(junction.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(junction, "_BUSY", [2, 0])
    for left in (1, 0):
        got = junction.tree_rows(tree, rooted, codes, ids)
        assert junction._BUSY[0] == left
        np.testing.assert_array_equal(got[0], one[0])
    both = junction.tree_rows(tree, rooted, codes, ids)  # parallel again
    np.testing.assert_array_equal(both[0], one[0])
