"""probwb's on-disk cache of nutpie's numba compilations: keys, and a round trip through a fresh process."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pymc as pm
import pytest

from probwb.hier import backend
from probwb.hier.glm import meta_analysis_model

pytest.importorskip("nutpie")
pytest.importorskip("numba")

from nutpie.compile_pymc import _compute_shapes  # noqa: E402

from probwb.hier import compile_cache  # noqa: E402

Y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]
SE = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]


def _key(model):
    return compile_cache.model_key(model, _compute_shapes(model))[0]


def test_key_follows_structure_not_data_values():
    base = _key(meta_analysis_model(Y, SE))
    # pm.Data values are read at call time: a refit to new outcomes shares the compiled code
    assert _key(meta_analysis_model([v + 1.5 for v in Y], SE)) == base
    # the standard errors are constants of the graph, the prior scales op inputs, the length a shape
    assert _key(meta_analysis_model(Y, [s + 1 for s in SE])) != base
    assert _key(meta_analysis_model(Y, SE, tau_scale=2.5)) != base
    assert _key(meta_analysis_model(Y[:7], SE[:7])) != base
    assert _key(meta_analysis_model(Y, SE, noncentered=False)) != base
    with pm.Model() as other:
        pm.Normal("mu", 0.0, 5.0)
    assert _key(other) != base


def test_unnamed_shared_variables_are_not_cached():
    import pytensor

    with pm.Model() as model:
        s = pytensor.shared(np.ones(3))
        mu = pm.Normal("mu")
        pm.Normal("obs", mu + s, 1.0, observed=np.zeros(3))
    with pytest.raises(compile_cache.Uncacheable, match="shared variable"):
        _key(model)


_CHILD = textwrap.dedent("""
    import ctypes, json, sys, warnings
    warnings.filterwarnings("ignore")
    import numpy as np
    from probwb.hier import backend
    from probwb.hier.glm import meta_analysis_model

    y, se, seed = json.loads(sys.argv[1])
    model = meta_analysis_model(y, se)
    compiled = backend._nutpie_numba_model(model)
    out = {"from_cache": bool(getattr(compiled, "_from_compile_cache", False))}
    # Call the loaded C callback directly and compare with PyMC's own log density and gradient.
    fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.POINTER(ctypes.c_double),
                          ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                          ctypes.c_void_p)(compiled.compiled_logp_func.address)
    logp_pm = model.compile_logp()
    dlogp_pm = model.compile_dlogp()
    names, slices, shapes = compiled.shape_info
    n_free = len(model.free_RVs)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(5):
        x = rng.normal(size=compiled.n_dim)
        grad = np.empty(compiled.n_dim)
        lp = np.zeros(1)
        ptr = ctypes.POINTER(ctypes.c_double)
        rc = fn(compiled.n_dim, x.ctypes.data_as(ptr), grad.ctypes.data_as(ptr), lp.ctypes.data_as(ptr),
                compiled.user_data.ctypes.data)
        assert rc == 0, rc
        point = {names[i]: x[slices[i]].reshape(shapes[i]) for i in range(n_free)}
        worst = max(worst, abs(lp[0] - float(logp_pm(point))),
                    float(np.max(np.abs(grad - np.asarray(dlogp_pm(point))))))
    out["max_abs_diff"] = worst
    idata = backend.sample(model, draws=200, tune=200, chains=2, random_state=seed, progressbar=False,
                           compile_backend="numba")
    out["backend"] = idata.posterior.attrs["compile_backend"]
    out["mu"] = np.asarray(idata.posterior["mu"]).ravel()[:50].tolist()
    print("RESULT" + json.dumps(out))
""")


def _child(env: dict, y: list, seed: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([y, SE, seed])], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


@pytest.fixture(autouse=True)
def _private_key_dir(tmp_path, monkeypatch):
    # never the user's own signing key
    monkeypatch.setenv("PROBWB_CACHE_KEY_DIR", str(tmp_path / "keys"))


def test_cached_code_in_a_fresh_process_matches_pymc_and_fresh_compilation(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBWB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PROBWB_COMPILE_CACHE", "1")
    model = meta_analysis_model(Y, SE)
    fresh = backend.sample(model, draws=200, tune=200, chains=2, random_state=5, progressbar=False,
                           compile_backend="numba")
    assert len(list((tmp_path / "nutpie-numba").glob("*.pwbc"))) == 1
    env = dict(os.environ)
    out = _child(env, Y, 5)
    assert out["from_cache"] and out["backend"] == "numba"  # the numba backend loads the cached code
    assert out["max_abs_diff"] < 1e-9
    # same code, same initial-point function, same seed: the same draws as the freshly compiled model
    np.testing.assert_allclose(out["mu"], np.asarray(fresh.posterior["mu"]).ravel()[:50], rtol=0, atol=1e-12)
    # new outcomes, same structure: still served from the cache, and the density follows the new data
    shifted = _child(env, [v + 3.0 for v in Y], 5)
    assert shifted["from_cache"] and shifted["max_abs_diff"] < 1e-9
    assert np.mean(shifted["mu"]) > np.mean(out["mu"])


def test_disabled_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBWB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PROBWB_COMPILE_CACHE", "0")
    assert not compile_cache.enabled()
    with pm.Model() as model:
        y = pm.Data("y", np.array([0.3, -0.1]))
        mu = pm.Normal("mu", 0.0, 3.0)
        pm.Normal("obs", mu, 2.0, observed=y)
    backend.sample(model, draws=50, tune=50, chains=1, random_state=1, progressbar=False, compile_backend="numba")
    assert not (tmp_path / "nutpie-numba").exists()
    assert compile_cache.clear() == 0


def test_prune_keeps_the_most_recent(tmp_path):
    import time

    for i in range(5):
        (tmp_path / f"{i}.pwbc").write_bytes(b"x")
        t = time.time() - 100 + i
        os.utime(tmp_path / f"{i}.pwbc", (t, t))
    (tmp_path / "old.pkl").write_bytes(b"x")
    compile_cache._prune(tmp_path, keep=2)
    assert sorted(f.name for f in tmp_path.iterdir() if f.is_file()) == ["3.pwbc", "4.pwbc"]


class _Marker:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _tiny_model():
    with pm.Model() as model:
        y = pm.Data("y", np.array([0.3, -0.1, 0.8]))
        mu = pm.Normal("mu", 0.0, 3.0)
        pm.Normal("obs", mu, 2.0, observed=y)
    return model


def test_unsigned_or_tampered_entries_are_never_unpickled(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PROBWB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PROBWB_COMPILE_CACHE", "1")
    monkeypatch.setattr(compile_cache, "_LOADED", {})
    folder = compile_cache.cache_dir()
    folder.mkdir(parents=True)
    key = "ab" * 32
    marker = tmp_path / "ran"
    evil = pickle.dumps(_Marker(str(marker)))
    # the old unsigned format, a signed-looking entry with a made-up tag, and one signed with another key
    (folder / f"{key}.pkl").write_bytes(evil)
    assert compile_cache.lookup(key) is None
    (folder / f"{key}.pwbc").write_bytes(compile_cache._MAGIC + b"\0" * 32 + evil)
    assert compile_cache.lookup(key) is None
    (folder / f"{key}.pwbc").write_bytes(compile_cache._MAGIC + compile_cache._tag(b"k" * 32, key, evil) + evil)
    with caplog.at_level("WARNING", logger="probwb.hier"):
        assert compile_cache.lookup(key) is None
    assert not marker.exists()
    assert not list(folder.iterdir())  # every bad entry was deleted
    assert "HMAC does not match" in caplog.text
    # the key lives outside the cache folder, readable by its owner only
    kp = compile_cache.key_path()
    assert kp.is_file() and (kp.stat().st_mode & 0o777) == 0o600 and folder not in kp.parents
    # a correctly signed entry is trusted: proof that the check, not a blanket refusal, stopped the others
    (folder / f"{key}.pwbc").write_bytes(compile_cache._MAGIC
                                         + compile_cache._tag(compile_cache._secret(), key, evil) + evil)
    compile_cache.lookup(key)
    assert marker.exists()


def test_a_key_file_others_can_read_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBWB_CACHE_DIR", str(tmp_path))
    kp = compile_cache.key_path()
    assert compile_cache._secret() is not None
    kp.chmod(0o644)
    assert compile_cache._secret() is None
    monkeypatch.setenv("PROBWB_CACHE_KEY_DIR", str(compile_cache.cache_dir()))
    assert compile_cache._secret() is None


def test_a_damaged_entry_is_rebuilt_and_the_fit_succeeds(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBWB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PROBWB_COMPILE_CACHE", "1")
    monkeypatch.setattr(compile_cache, "_LOADED", {})  # as a fresh process would start
    model = _tiny_model()
    key = _key(model)
    entry = compile_cache.cache_dir() / f"{key}.pwbc"
    entry.parent.mkdir(parents=True)
    # an entry for this very model whose bytes were damaged after signing (a flipped byte in the code)
    payload = pickle.dumps({"key": key, "meta": {}, "logp": (b"\x7fELF" + bytes(range(256)) * 4, "f", b""),
                            "expand": (b"", "g", b"")})
    tag = compile_cache._tag(compile_cache._secret(), key, payload)
    damaged = bytearray(payload)
    damaged[len(damaged) // 2] ^= 0xFF
    entry.write_bytes(compile_cache._MAGIC + tag + bytes(damaged))
    compiled = backend._nutpie_numba_model(model)
    assert not getattr(compiled, "_from_compile_cache", False)  # detected, compiled again, not loaded
    idata = backend.sample(model, draws=30, tune=30, chains=1, random_state=1, progressbar=False,
                           compile_backend="numba")
    assert np.isfinite(np.asarray(idata.posterior["mu"])).all()
    # the damaged entry was replaced by a valid one that a fresh process loads
    monkeypatch.setattr(compile_cache, "_LOADED", {})
    assert compile_cache.lookup(key) is not None


def _glm_model(n: int, seed: int):
    from probwb.hier import HierarchicalGLM

    rng = np.random.default_rng(seed)
    import pandas as pd

    df = pd.DataFrame({"y": rng.integers(0, 2, n), "x": rng.normal(size=n),
                       "g": rng.choice(list("abcdef"), n), "c": rng.choice(["u", "v"], n)})
    return HierarchicalGLM("y ~ x + c + (1 + x | g)").build_model(df)


@pytest.mark.parametrize("which", ["eight_schools", "glm_correlated"])
def test_trace_shapes_equal_nutpies_and_keep_the_key(which):
    model = {"eight_schools": lambda: meta_analysis_model(Y, SE), "glm_correlated": lambda: _glm_model(40, 1)}[which]()
    from pymc.initial_point import make_initial_point_fn

    point = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)(3)
    ours = compile_cache.trace_shapes(model, point)
    theirs = {k: tuple(int(s) for s in v) for k, v in _compute_shapes(model).items()}
    assert ours == theirs
    assert compile_cache.model_key(model, ours)[0] == _key(model)


def test_loading_a_cached_model_compiles_one_initial_point_function(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBWB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PROBWB_COMPILE_CACHE", "1")
    monkeypatch.setattr(compile_cache, "_LOADED", {})  # compiled and written to this test's cache folder
    fresh = backend.sample(meta_analysis_model(Y, SE), draws=30, tune=30, chains=1, random_state=2,
                           progressbar=False, compile_backend="numba")
    assert len(list((tmp_path / "nutpie-numba").glob("*.pwbc"))) == 1
    import pymc.initial_point as ip

    calls = []
    real = ip.make_initial_point_fn

    def counting(*args, **kwargs):
        calls.append(kwargs.get("jitter_rvs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ip, "make_initial_point_fn", counting)
    monkeypatch.setattr(compile_cache, "_LOADED", {})  # read from disk, as a new process would
    again = backend.sample(meta_analysis_model(Y, SE), draws=30, tune=30, chains=1, random_state=2,
                           progressbar=False, compile_backend="numba")
    assert len(calls) == 1
    np.testing.assert_array_equal(np.asarray(again.posterior["mu"]), np.asarray(fresh.posterior["mu"]))
