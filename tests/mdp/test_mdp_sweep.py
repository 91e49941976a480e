"""The fused (numba) value-iteration sweeps and the span stopping rule against the scipy reference sweep."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

from probwb.errors import ConvergenceWarning, ModelError
from probwb.mdp import MDP, solve
from probwb.mdp import kernels as K
from probwb.mdp.examples import forest, random_sparse_arrays

needs_numba = pytest.mark.skipif(not K.has_numba(), reason="numba (the 'fast' extra) is not installed")


def _random(S, A=4, k=5, seed=0):
    P, R = random_sparse_arrays(S, A, k, random_state=seed)
    return P, np.ascontiguousarray(R.T)


def _forest(S):
    m = forest(S, discount=0.95)
    return m.P, m.R


def _run(P, R, **kw):
    kw.setdefault("epsilon", 1e-3)
    return K.value_iteration(P, R, 0.95, **kw)


def _same(a, b):
    V1, pol1, k1, c1, conv1 = a
    V2, pol2, k2, c2, conv2 = b
    np.testing.assert_array_equal(V1, V2)
    np.testing.assert_array_equal(pol1, pol2)
    assert (k1, c1, conv1) == (k2, c2, conv2)


@needs_numba
@pytest.mark.parametrize("problem", ["random", "forest"])
@pytest.mark.parametrize("stopping", ["sup", "span"])
def test_fused_csr_and_tiled_match_scipy_sweep_bit_for_bit(problem, stopping):
    P, R = _random(700) if problem == "random" else _forest(500)
    ref = _run(P, R, kernel="scipy", stopping=stopping)
    assert ref[4] and ref[2] > 10
    for kernel in ("csr", "tiled"):
        for parallel in (False, True):
            _same(_run(P, R, kernel=kernel, parallel=parallel, stopping=stopping), ref)


@needs_numba
def test_tiled_layout_with_many_tiles_and_parallel_blocks_matches_scipy():
    # 40,000 states: 3 row blocks x 3 column segments of the tiled layout, 40 blocks of the parallel CSR sweep
    P, R = _random(40_000, A=4, k=3, seed=1)
    layout = K.build_tiled_layout(P, 4)
    assert layout.n_row_blocks == 3 and len(layout.tptr) == 3 * 3 + 1 and layout.tptr[-1] == P.nnz
    assert layout.nbytes >= 12 * P.nnz and layout.build_seconds >= 0
    ref = _run(P, R, kernel="scipy", max_iter=6)
    for parallel in (False, True):
        _same(_run(P, R, kernel="csr", parallel=parallel, max_iter=6), ref)
        _same(_run(P, R, kernel="tiled", parallel=parallel, layout=layout, max_iter=6), ref)


@needs_numba
def test_unsorted_rows_change_only_the_rounding_of_the_tiled_sweep():
    P, R = _random(20_000, A=2, k=6, seed=2)
    rng = np.random.default_rng(0)
    # reverse the column order inside some rows: the tiled layout then adds their terms in another order
    Pu = P.copy()
    rows = rng.choice(P.shape[0], 2000, replace=False)
    for r in rows:
        lo, hi = Pu.indptr[r], Pu.indptr[r + 1]
        Pu.indices[lo:hi] = Pu.indices[lo:hi][::-1].copy()
        Pu.data[lo:hi] = Pu.data[lo:hi][::-1].copy()
    r0 = rows[0]
    assert np.any(np.diff(Pu.indices[Pu.indptr[r0]:Pu.indptr[r0 + 1]]) < 0)
    ref = _run(Pu, R, kernel="scipy", max_iter=20)
    _same(_run(Pu, R, kernel="csr", max_iter=20), ref)
    tiled = _run(Pu, R, kernel="tiled", max_iter=20)
    np.testing.assert_allclose(tiled[0], ref[0], rtol=1e-13, atol=0)


def test_without_numba_auto_falls_back_to_scipy(monkeypatch):
    P, R = _random(300)
    with_numba = _run(P, R)
    monkeypatch.setattr(K, "_FUSED", False)
    assert not K.has_numba()
    _same(_run(P, R), with_numba)
    _same(_run(P, R, kernel="scipy"), with_numba)
    with pytest.raises(ModelError, match="needs numba"):
        _run(P, R, kernel="csr")
    with pytest.raises(ModelError, match="needs numba"):
        solve(MDP(P, R.T, 0.95), "vi", kernel="tiled")
    # a model that gets the tiled layout with numba keeps the scipy sweep without it
    Pbig, _ = random_sparse_arrays(140_000, 2, 3, random_state=3)
    assert K.choose_layout(Pbig, 2) is None
    res = solve(MDP(P, R.T, 0.95), "vi", epsilon=1e-3, stopping="sup")
    assert res.info["kernel"] == "scipy" and res.info["compile_s"] == 0.0
    np.testing.assert_array_equal(res.V, with_numba[0])


@needs_numba
def test_choose_layout_tiles_scattered_successors_only():
    # above TILE_MIN_STATES: random successors reach every column segment, forest successors two or three
    S = 140_000
    P, _ = random_sparse_arrays(S, 2, 3, random_state=3)
    layout = K.choose_layout(P, 2)
    assert isinstance(layout, K.TiledLayout) and layout.tptr[-1] == P.nnz
    assert K.choose_layout(forest(S).P, 2) is None
    assert K.choose_layout(P[: 2 * 1000, :1000], 2) is None  # small: V fits in cache


@needs_numba
def test_solve_caches_the_layout_on_the_mdp_and_does_not_pickle_it():
    P, R = random_sparse_arrays(140_000, 2, 3, random_state=3)
    mdp = MDP(P, R, 0.95)
    with pytest.warns(ConvergenceWarning):
        res = solve(mdp, "vi", max_iter=2)
    # the tiled layout is built for this scattered model; which kernel wins is measured (two trial sweeps here)
    assert res.info["layout_build_s"] > 0 and res.info["kernel_choice"] == "measured"
    assert res.info["kernel"] in ("scipy", "csr", "tiled") and len(res.info["kernel_timings"]) == 2
    layout = mdp._vi_layout[1]
    with pytest.warns(ConvergenceWarning):
        res2 = solve(mdp, "vi", max_iter=2)
    assert mdp._vi_layout[1] is layout
    np.testing.assert_array_equal(res.V, res2.V)
    with pytest.warns(ConvergenceWarning):
        ref = solve(mdp, "vi", max_iter=2, kernel="scipy")
    np.testing.assert_array_equal(res.V, ref.V)
    assert "_vi_layout" not in pickle.loads(pickle.dumps(mdp)).__dict__


def test_span_stopping_guarantees_on_a_random_mdp():
    P, R = _random(400, seed=6)
    eps = 0.01
    V_sup, pol_sup, k_sup, _, _ = K.value_iteration(P, R, 0.95, epsilon=eps)
    V, pol, k, span, conv = K.value_iteration(P, R, 0.95, epsilon=eps, stopping="span")
    assert conv and span < eps * 0.05 / 0.95 and k < k_sup
    exact = solve(MDP(P, R.T, 0.95), "pi")
    # Puterman Thm 6.6.6: corrected values within eps/2 of V*, greedy policy eps-optimal
    assert np.abs(V - exact.V).max() < eps / 2
    V_pol = K.evaluate_policy(P, R, pol, 0.95, method="direct")
    assert (exact.V - V_pol).max() < eps
    # the uncorrected iterate is far from V* (that is what the correction is for)
    V_raw, *_ = K.value_iteration(P, R, 0.95, epsilon=eps, stopping="sup", max_iter=k)
    assert np.abs(V_raw - exact.V).max() > 10 * eps
    np.testing.assert_allclose(np.ptp(V - V_raw), 0.0, atol=1e-9)


def test_solve_options_are_checked():
    mdp = forest(20)
    with pytest.raises(ModelError, match="stopping must be one of"):
        solve(mdp, "vi", stopping="mean")
    with pytest.raises(ModelError, match="kernel must be one of"):
        solve(mdp, "vi", kernel="gpu")
    with pytest.raises(ModelError, match="apply to method='value_iteration' only"):
        solve(mdp, "pi", stopping="span")
    res = solve(mdp, "vi", stopping="span", epsilon=1e-4)
    assert res.info["stopping"] == "span" and res.converged
    assert res.info["threshold"] == pytest.approx(1e-4 * 0.04 / 0.96)
    with pytest.raises(ModelError, match="stopping must be one of"):
        K.value_iteration(mdp.P, mdp.R, 0.9, stopping="Span")


@needs_numba
def test_layout_for_another_model_is_rejected():
    mdp = forest(20)
    with pytest.raises(ModelError, match="layout was built for S=30, A=2; found S=20, A=2"):
        K.value_iteration(mdp.P, mdp.R, 0.9, kernel="tiled", layout=K.build_tiled_layout(forest(30).P, 2))


def test_warm_start_gives_the_same_sweeps_on_every_kernel():
    P, R = _random(200)
    V0 = np.random.default_rng(7).normal(size=200)
    ref = _run(P, R, kernel="scipy", V0=V0)
    assert ref[2] > 5
    for kern in ["csr", "tiled"] if K.has_numba() else []:
        _same(_run(P, R, kernel=kern, V0=V0), ref)


@needs_numba
def test_auto_candidates_by_size_and_structure(monkeypatch):
    small, R_small = _random(300)
    monkeypatch.setattr(K, "_NUMBA_WARM", False)
    assert K.auto_candidates(small) == ("scipy",)  # a solve takes milliseconds: not worth loading numba
    monkeypatch.setattr(K, "_NUMBA_WARM", True)
    assert K.auto_candidates(small) == ("scipy", "csr")  # unless numba is loaded already: then measured
    P, R = _random(30_000, A=2, k=2, seed=4)  # 120,000 non-zeros, V fits in cache
    assert P.nnz >= K.NUMBA_MIN_NNZ and K.choose_layout(P, 2) is None
    assert K.auto_candidates(P) == ("scipy", "csr")
    ref = _run(P, R, kernel="scipy", max_iter=5)
    _same(_run(P, R, max_iter=5), ref)
    res = solve(MDP(P, R.T, 0.95), "vi", epsilon=1e-3, stopping="sup")
    assert res.info["kernel"] in ("scipy", "csr") and res.converged
    np.testing.assert_array_equal(res.V, _run(P, R, kernel="scipy")[0])


@needs_numba
def test_default_parallel_by_size(monkeypatch):
    monkeypatch.setattr(K._fused().numba, "get_num_threads", lambda: 2)
    assert K.default_parallel(K.PARALLEL_MIN_STATES) and not K.default_parallel(K.PARALLEL_MIN_STATES - 1)
    monkeypatch.setattr(K._fused().numba, "get_num_threads", lambda: 1)
    assert not K.default_parallel(K.PARALLEL_MIN_STATES)


def test_adaptive_step_runs_the_faster_kernel_and_reprobes_the_other():
    calls = []

    def slow(V, Vn):
        calls.append("slow")
        time.sleep(0.002)
        return 1.0, 0.0

    def fast(V, Vn):
        calls.append("fast")
        return 1.0, 0.0

    step = K._adaptive_step(slow, fast, probe_every=8)
    for _ in range(40):
        assert step(None, None) == (1.0, 0.0)
    # both timed once, then the fast one except one probe of the slow one every 8 sweeps
    assert calls[:2] == ["slow", "fast"] and calls.count("slow") == 1 + 4
    step = K._adaptive_step(fast, slow, probe_every=8)
    calls.clear()
    for _ in range(16):
        step(None, None)
    assert calls.count("slow") == 1 + 1
    # timings known from the kernel trial: no opening probes, the known-faster one first
    step = K._adaptive_step(slow, fast, probe_every=8, known=(0.002, 0.0))
    calls.clear()
    for _ in range(6):
        step(None, None)
    assert calls == ["fast"] * 6


@needs_numba
def test_adaptive_parallel_sweeps_give_the_serial_values(monkeypatch):
    monkeypatch.setattr(K, "PARALLEL_MIN_STATES", 1000)
    P, R = _random(5000, seed=8)
    ref = _run(P, R, kernel="scipy")
    for kern in ("csr", "tiled"):
        _same(_run(P, R, kernel=kern, parallel=None), ref)
