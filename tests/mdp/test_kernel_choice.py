"""kernel="auto": the sweep kernel is measured on the machine at run time, cached per process, inspectable and
overridable, and every kernel gives the same answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.mdp import MDP, solve
from probwb.mdp import kernels as K
from probwb.mdp.examples import forest, random_sparse_arrays

needs_numba = pytest.mark.skipif(not K.has_numba(), reason="numba (the 'fast' extra) is not installed")


@pytest.fixture(autouse=True)
def _fresh_choices():
    K.clear_kernel_choices()
    yield
    K.clear_kernel_choices()


def _fake_steps(monkeypatch, cost):
    """Replace the sweeps by the scipy sweep plus a per-kernel sleep, so which one is fastest is known."""
    import time

    real = K._scipy_sweep

    def scipy_sweep(P, Rg, gamma):
        inner = real(P, Rg, gamma)

        def step(V, Vn):
            time.sleep(cost["scipy"])
            return inner(V, Vn)

        return step

    def numba_step(kernel, P, Rg, gamma, parallel, layout):
        inner = real(P, Rg, gamma)

        def step(V, Vn):
            time.sleep(cost[kernel + ("-parallel" if parallel else "")])
            return inner(V, Vn)

        return step

    monkeypatch.setattr(K, "_scipy_sweep", scipy_sweep)
    monkeypatch.setattr(K, "_numba_step", numba_step)
    monkeypatch.setattr(K, "_fused", lambda: object())  # candidates as with numba, whatever is installed
    monkeypatch.setattr(K, "_NUMBA_WARM", True)
    monkeypatch.setattr(K, "default_parallel", lambda S: False)


@pytest.mark.parametrize("winner", ["scipy", "csr"])
def test_auto_measures_keeps_the_fastest_and_caches_it_per_size_class(monkeypatch, winner):
    cost = {"scipy": 0.004, "csr": 0.004}
    cost[winner] = 0.0
    _fake_steps(monkeypatch, cost)
    P, R = random_sparse_arrays(2_000, 3, 4, random_state=1)
    mdp = MDP(P, R, 0.9)
    res = solve(mdp, "vi", epsilon=1e-3)
    assert res.info["kernel"] == winner and res.info["kernel_choice"] == "measured"
    assert set(res.info["kernel_timings"]) == {"scipy", "csr"}
    (sig, rec), = K.kernel_choices().items()
    assert rec["kernel"] == winner and rec["S"] == 2_000 and rec["nnz"] == P.nnz
    # a model of the same size class reuses the choice without measuring; another class measures again
    P2, R2 = random_sparse_arrays(1_500, 3, 4, random_state=2)
    again = solve(MDP(P2, R2, 0.9), "vi", epsilon=1e-3)
    assert again.info["kernel"] == winner and again.info["kernel_choice"] == "cached"
    P3, R3 = random_sparse_arrays(9_000, 3, 4, random_state=3)
    assert solve(MDP(P3, R3, 0.9), "vi", epsilon=1e-3).info["kernel_choice"] == "measured"
    assert len(K.kernel_choices()) == 2
    # forcing a kernel overrides the choice
    forced = solve(mdp, "vi", epsilon=1e-3, kernel="scipy")
    assert forced.info["kernel"] == "scipy" and forced.info["kernel_choice"] == "forced"
    K.clear_kernel_choices()
    assert K.kernel_choices() == {}


def test_signature_separates_local_from_scattered_successors():
    loc = forest(50_000).P
    P, _ = random_sparse_arrays(50_000, 2, 1, random_state=0)  # one successor per row, forest 1.5 on average
    a = K.kernel_signature(loc, 2, ("scipy", "csr"))
    b = K.kernel_signature(P, 2, ("scipy", "csr"))
    assert a[:3] == b[:3] and a[3] != b[3]


@needs_numba
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(S=st.integers(2, 5_000), A=st.integers(1, 5), k=st.integers(1, 6), seed=st.integers(0, 2**31 - 1),
       stopping=st.sampled_from(["auto", "sup"]))
def test_forcing_each_kernel_gives_identical_values(S, A, k, seed, stopping):
    P, R = random_sparse_arrays(S, A, min(k, S), random_state=seed)
    mdp = MDP(P, R, 0.93)
    res = {kern: solve(mdp, "vi", epsilon=1e-4, stopping=stopping, kernel=kern)
           for kern in ("scipy", "csr", "tiled", "auto")}
    ref = res["scipy"]
    for kern, r in res.items():
        np.testing.assert_array_equal(r.V, ref.V, err_msg=kern)
        np.testing.assert_array_equal(r.policy_index, ref.policy_index, err_msg=kern)
        assert r.iterations == ref.iterations and r.info["last_change"] == ref.info["last_change"]


@needs_numba
def test_measured_choice_on_a_real_model_gives_the_scipy_answer(monkeypatch):
    # above NUMBA_MIN_NNZ the numba kernels are candidates: the first solve times them all on its first sweeps
    P, R = random_sparse_arrays(40_000, 4, 3, random_state=5)
    mdp = MDP(P, R, 0.95)
    res = solve(mdp, "vi", epsilon=1e-3)
    assert res.info["kernel_choice"] == "measured" and res.info["kernel"] in ("scipy", "csr")
    assert {"scipy", "csr"} <= set(res.info["kernel_timings"])
    ref = solve(mdp, "vi", epsilon=1e-3, kernel="scipy")
    np.testing.assert_array_equal(res.V, ref.V)
    assert solve(mdp, "vi", epsilon=1e-3).info["kernel_choice"] == "cached"


def test_a_small_solve_does_not_import_numba():
    # loading numba costs 1-2 s, more than a whole solve of a small model; it used to be imported by the
    # thread-count check of every first value-iteration solve
    import subprocess
    import sys

    code = ("import sys\nfrom probwb.mdp import solve\nfrom probwb.mdp.examples import random_sparse\n"
            "r = solve(random_sparse(500, random_state=1), 'vi', epsilon=0.01)\n"
            "assert r.converged and r.info['kernel'] == 'scipy', r.info\n"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


@needs_numba
def test_trial_times_serial_and_parallel_variants_where_threads_may_be_used(monkeypatch):
    monkeypatch.setattr(K, "PARALLEL_MIN_STATES", 1_000)
    monkeypatch.setattr(K._fused().numba, "get_num_threads", lambda: 2)
    monkeypatch.setattr(K, "_NUMBA_WARM", True)
    P, R = random_sparse_arrays(5_000, 3, 4, random_state=9)
    mdp = MDP(P, R, 0.95)
    res = solve(mdp, "vi", epsilon=1e-3, stopping="sup")
    assert set(res.info["kernel_timings"]) == {"scipy", "csr", "csr-parallel"}
    again = solve(mdp, "vi", epsilon=1e-3, stopping="sup")  # cached: adaptive threads seeded by the trial
    ref = solve(mdp, "vi", epsilon=1e-3, stopping="sup", kernel="scipy")
    for r in (res, again):
        np.testing.assert_array_equal(r.V, ref.V)
        assert r.iterations == ref.iterations
