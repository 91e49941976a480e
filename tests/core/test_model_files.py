"""Model files (.pwb) load without running code from the file, are checked, and round-trip exactly.

Covers every loader (each family's ``load`` and ``probwb.load``): old pickle files that would run code,
zips naming other classes or modules, path-traversal and zip-bomb members, edited numbers with and
without a recomputed content hash, format versions, interrupted writes; and exact round trips of every
family (predictions, queries and scores bit-identical, parameters equal).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import probwb
from probwb.bn import BayesNet
from probwb.core import io as pio
from probwb.errors import ModelFileError
from probwb.hier.clv import BetaGeoModel, GammaGammaModel, ParetoNBDModel, simulate_bgnbd
from probwb.hier.glm import HierarchicalGLM
from probwb.hmm import HMM
from probwb.mdp import MDP, solve

ALL_LOADERS = [BayesNet.load, HMM.load, MDP.load, HierarchicalGLM.load, BetaGeoModel.load, ParetoNBDModel.load,
               GammaGammaModel.load, probwb.load]
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------------------- helpers
class _Marker:
    """Unpickling this creates a file: proof that the pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path: Path, members: dict[str, bytes], *, rehash: bool) -> Path:
    """Write ``members`` as a zip; with ``rehash`` the checksum is recomputed as a careful forger would."""
    members = dict(members)
    if rehash:
        body = {k: v for k, v in members.items() if k != "checksum.json"}
        members["checksum.json"] = json.dumps({"algorithm": "sha256", "content": pio._digest(body)}).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _edit_meta(path: Path, out: Path, edit, *, rehash: bool = True) -> Path:
    m = _members(path)
    meta = json.loads(m["probwb.json"])
    edit(meta)
    m["probwb.json"] = json.dumps(meta).encode()
    return _write(out, m, rehash=rehash)


def _edit_array(path: Path, out: Path, ref: dict, edit, *, rehash: bool) -> Path:
    m = _members(path)
    name = f"arrays/{ref['__array__']}.npy"
    arr = np.load(io.BytesIO(m[name]), allow_pickle=False)
    arr = edit(arr.copy())
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    m[name] = buf.getvalue()
    if rehash:  # a careful forger also updates the array table
        meta = json.loads(m["probwb.json"])
        meta["arrays"][ref["__array__"]] = {"dtype": arr.dtype.str, "shape": list(arr.shape)}
        m["probwb.json"] = json.dumps(meta).encode()
    return _write(out, m, rehash=rehash)


def _meta(path: Path) -> dict:
    return json.loads(_members(path)["probwb.json"])


def _asia_like() -> BayesNet:
    return BayesNet.from_spec({"nodes": {
        "smoke": {"states": ["no", "yes"], "parents": [], "cpt": [0.5, 0.5]},
        "lung": {"states": ["no", "yes"], "parents": ["smoke"], "cpt": [[0.99, 0.01], [0.9, 0.1]]},
        "xray": {"states": ["normal", "abnormal", "unclear"], "parents": ["lung"],
                 "cpt": [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]}}})


@pytest.fixture(scope="module")
def glm_fit():
    rng = np.random.default_rng(4)
    n = 160
    df = pd.DataFrame({"hospital": rng.choice(["h1", "h2", "h3", "h4"], n), "age": rng.normal(60, 10, n),
                       "smoker": rng.choice(["no", "yes"], n)})
    df["readmitted"] = (rng.random(n) < 1 / (1 + np.exp(-0.04 * (df["age"] - 60)))).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = HierarchicalGLM("readmitted ~ age + smoker + (1 | hospital)").fit(
            df, draws=60, tune=60, chains=2, random_state=3, progressbar=False)
    return model, df


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory, glm_fit):
    """One saved file per family: class name -> path."""
    d = tmp_path_factory.mktemp("models")
    df = simulate_bgnbd(300, T=39.0, spend={"p": 6.0, "q": 4.0, "v": 15.0}, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "BayesNet": _asia_like(),
            "HMM": HMM.from_params([0.6, 0.4], [[0.9, 0.1], [0.2, 0.8]], {"y": ("poisson", {"rates": [3.0, 0.5]})},
                                   state_names=["active", "idle"]),
            "MDP": MDP(np.array([[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.3, 0.7]]]),
                       np.array([[1.0, 0.0], [0.0, 2.0]]), 0.9, states=["low", "high"], actions=["wait", "act"]),
            "HierarchicalGLM": glm_fit[0],
            "BetaGeoModel": BetaGeoModel().fit(df, method="mle", random_state=0),
            "ParetoNBDModel": ParetoNBDModel().fit(df, method="mle", random_state=0),
            "GammaGammaModel": GammaGammaModel().fit(df, method="mle", random_state=0),
        }
    return {name: m.save(d / f"{name}.pwb") for name, m in models.items()}


# ------------------------------------------------------------------------------------------- nothing runs
@pytest.mark.parametrize("loader", ALL_LOADERS, ids=lambda f: getattr(f, "__qualname__", str(f)))
def test_old_pickle_files_are_refused_without_running_them(tmp_path, loader):
    # A v1 file with a valid header naming the loader's own class and a pickle that creates a file: the
    # old loader unpickled it (and so created the file) before checking anything.
    marker = tmp_path / "ran"
    owner = getattr(loader, "__self__", BayesNet)
    header = {"class": f"{owner.__module__}.{owner.__qualname__}", "config_hash": "0", "probwb_version": "0.1.0"}
    path = tmp_path / "old.pwb"
    path.write_bytes(b"PROBWB-MODEL\x00v1\n" + json.dumps(header).encode() + b"\n" + pickle.dumps(_Marker(str(marker))))
    with pytest.raises(ModelFileError, match="old pickle format .* no longer loaded .* save it again"):
        loader(path)
    assert not marker.exists()


def test_a_file_naming_another_class_or_module_is_refused_and_nothing_is_imported(saved_models, tmp_path):
    # a module on sys.path that would leave a marker if anything imported it
    pkg = tmp_path / "site"
    pkg.mkdir()
    marker = tmp_path / "imported"
    (pkg / "probwb_evil_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Evil: pass\n")
    sys.path.insert(0, str(pkg))
    try:
        for name in ("probwb_evil_mod.Evil", "probwb_evil_mod:Evil", "os.system", "subprocess.Popen",
                     "probwb.bn.network.BayesNet", "builtins.eval", "__import__"):
            bad = _edit_meta(saved_models["MDP"], tmp_path / "other.pwb", lambda m, n=name: m.update({"class": n}))
            for loader in (probwb.load, MDP.load):
                with pytest.raises(ModelFileError, match="names model class .* expected one of"):
                    loader(bad)
        assert not marker.exists() and "probwb_evil_mod" not in sys.modules
    finally:
        sys.path.remove(str(pkg))
    # a registered class of another family is refused by a family loader (probwb.load returns it)
    with pytest.raises(ModelFileError, match="holds a 'MDP' model, expected 'BayesNet'"):
        BayesNet.load(saved_models["MDP"])
    assert isinstance(probwb.load(saved_models["MDP"]), MDP)


@pytest.mark.parametrize("member", ["../escaped.npy", "/tmp/abs.npy", "arrays/../../escaped.npy",
                                    "arrays/a0.npy/../x", "arrays\\..\\x.npy", "extras/x.pkl", "code.py"])
def test_unexpected_member_names_are_refused_and_nothing_is_written(saved_models, tmp_path, member):
    m = _members(saved_models["BayesNet"])
    m[member] = b"payload"
    bad = _write(tmp_path / "trav.pwb", m, rehash=True)
    before = set(tmp_path.parent.rglob("*escaped*"))
    for loader in (probwb.load, BayesNet.load):
        with pytest.raises(ModelFileError, match="unexpected member name"):
            loader(bad)
    assert set(tmp_path.parent.rglob("*escaped*")) == before


def test_zip_bombs_and_deep_nesting_are_refused(saved_models, tmp_path, monkeypatch):
    m = _members(saved_models["MDP"])
    many = dict(m)
    for i in range(30):
        many[f"extras/x{i}.bin"] = b""
    bad = _write(tmp_path / "many.pwb", many, rehash=True)
    monkeypatch.setattr(pio, "MAX_MEMBERS", 20)
    with pytest.raises(ModelFileError, match="members, expected at most 20"):
        probwb.load(bad)
    monkeypatch.undo()
    # a member that expands far beyond its compressed size
    big = dict(m)
    big["extras/bomb.bin"] = b"\0" * (8 << 20)
    path = tmp_path / "bomb.pwb"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        body = {k: v for k, v in big.items() if k != "checksum.json"}
        for k, v in body.items():
            zf.writestr(k, v)
        zf.writestr("checksum.json", json.dumps({"algorithm": "sha256", "content": pio._digest(body)}))
    assert path.stat().st_size < 200_000
    monkeypatch.setattr(pio, "MAX_MEMBER_BYTES", 1 << 20)
    with pytest.raises(ModelFileError, match="expands beyond|declares more than"):
        probwb.load(path)
    monkeypatch.undo()
    # JSON nested thousands deep: a clear error, not a RecursionError
    deep = _edit_meta(saved_models["MDP"], tmp_path / "deep.pwb",
                      lambda meta: meta["state"].update({"horizon": json.loads("[" * 3000 + "]" * 3000)}))
    with pytest.raises(ModelFileError):
        probwb.load(deep)
    # tags the format does not know are refused (no generic object construction)
    tag = _edit_meta(saved_models["MDP"], tmp_path / "tag.pwb",
                     lambda meta: meta["state"].update({"horizon": {"__object__": "os.system", "args": ["id"]}}))
    with pytest.raises(ModelFileError, match="unknown or malformed tagged value"):
        probwb.load(tag)


def test_a_posterior_blob_that_is_not_netcdf_is_refused(saved_models, tmp_path):
    m = _members(saved_models["HierarchicalGLM"])
    m["extras/posterior.bin"] = pickle.dumps(_Marker(str(tmp_path / "ran")))
    bad = _write(tmp_path / "glm.pwb", m, rehash=True)
    with pytest.raises(ModelFileError, match="not a netCDF-4"):
        HierarchicalGLM.load(bad)
    assert not (tmp_path / "ran").exists()


# ------------------------------------------------------------------------------------------- integrity
def _cpt_ref(path: Path, node: str) -> dict:
    meta = _meta(path)
    return meta["state"]["cpts"][meta["state"]["names"].index(node)]


def test_an_edited_number_fails_the_content_hash(saved_models, tmp_path):
    path = saved_models["BayesNet"]
    ref = _cpt_ref(path, "smoke")

    def edit(a):
        assert a[0] == 0.5
        a[0] = 0.9
        return a

    bad = _edit_array(path, tmp_path / "edited.pwb", ref, edit, rehash=False)
    for loader in (BayesNet.load, probwb.load):
        with pytest.raises(ModelFileError, match="failed its content check .* edited or damaged"):
            loader(bad)
    # the same for a number inside the JSON (the MDP's discount) and a flipped byte anywhere
    bad = _edit_meta(saved_models["MDP"], tmp_path / "disc.pwb",
                     lambda meta: meta["state"].update({"discount": 0.5}), rehash=False)
    with pytest.raises(ModelFileError, match="content check"):
        MDP.load(bad)


def test_a_rehashed_edit_that_breaks_a_constraint_is_refused_by_validation(saved_models, tmp_path):
    path = saved_models["BayesNet"]
    bad = _edit_array(path, tmp_path / "x5.pwb", _cpt_ref(path, "lung"), lambda a: a * 5, rehash=True)
    with pytest.raises(ModelFileError, match="does not pass validation: CPT of node 'lung'.*sums to 5"):
        BayesNet.load(bad)
    half = _edit_array(path, tmp_path / "half.pwb", _cpt_ref(path, "smoke"),
                       lambda a: np.array([0.9, 0.5]), rehash=True)
    with pytest.raises(ModelFileError, match="CPT of node 'smoke'.*sums to 1.4"):
        probwb.load(half)
    shape = _edit_array(path, tmp_path / "shape.pwb", _cpt_ref(path, "xray"), lambda a: a[:, :2], rehash=True)
    with pytest.raises(ModelFileError, match="CPT of node 'xray' must have shape"):
        probwb.load(shape)
    m = _members(shape)  # an array whose shape disagrees with the table in probwb.json
    meta = json.loads(m["probwb.json"])
    meta["arrays"][_cpt_ref(path, "xray")["__array__"]]["shape"] = [2, 3]
    m["probwb.json"] = json.dumps(meta).encode()
    with pytest.raises(ModelFileError, match="disagrees with probwb.json"):
        probwb.load(_write(tmp_path / "table.pwb", m, rehash=True))
    # a rehashed edit that keeps every row a distribution is a valid (different) model
    ok = _edit_array(path, tmp_path / "ok.pwb", _cpt_ref(path, "smoke"), lambda a: a[::-1] * 0 + [0.3, 0.7],
                     rehash=True)
    assert probwb.load(ok).cpts_["smoke"].tolist() == [0.3, 0.7]
    # the other families: a transition row x5, negative rates, a renamed parent
    meta = _meta(saved_models["MDP"])
    bad = _edit_array(saved_models["MDP"], tmp_path / "mdp.pwb", meta["state"]["P_data"], lambda a: a * 5,
                      rehash=True)
    with pytest.raises(ModelFileError, match="transition row .* sums to 5"):
        MDP.load(bad)
    meta = _meta(saved_models["HMM"])
    bad = _edit_array(saved_models["HMM"], tmp_path / "hmm.pwb", meta["state"]["transitions"]["matrix"],
                      lambda a: a * 5, rehash=True)
    with pytest.raises(ModelFileError, match="transmat.*sums to 5"):
        HMM.load(bad)
    bad = _edit_array(saved_models["HMM"], tmp_path / "rates.pwb",
                      meta["state"]["emissions"][0]["params"]["rates"], lambda a: -a, rehash=True)
    with pytest.raises(ModelFileError, match="Poisson rates must be finite and >= 0"):
        probwb.load(bad)
    bad = _edit_meta(saved_models["BayesNet"], tmp_path / "par.pwb",
                     lambda m: m["state"]["parents"].__setitem__(2, ["nonexistent"]))
    with pytest.raises(ModelFileError, match="parent 'nonexistent', which is not a node"):
        probwb.load(bad)
    meta = _meta(saved_models["BetaGeoModel"])
    bad = _edit_array(saved_models["BetaGeoModel"], tmp_path / "clv.pwb", meta["state"]["learned"]["draws_"]["r"],
                      lambda a: -a, rehash=True)
    with pytest.raises(ModelFileError, match="draws of 'r' must be positive"):
        probwb.load(bad)


def test_format_and_version_checks(saved_models, tmp_path, caplog):
    newer = _edit_meta(saved_models["MDP"], tmp_path / "newer.pwb",
                       lambda m: m.update({"format_version": pio.FORMAT_VERSION + 1, "probwb_version": "9.0"}))
    with pytest.raises(ModelFileError, match=r"written by a newer probwb \('9.0'\) .* upgrade probwb"):
        probwb.load(newer)
    older = _edit_meta(saved_models["MDP"], tmp_path / "older.pwb", lambda m: m.update({"probwb_version": "0.0.9"}))
    with caplog.at_level("WARNING", logger="probwb.core"):
        back = probwb.load(older)
    assert isinstance(back, MDP)
    assert "saved by probwb 0.0.9 and is loaded by probwb" in caplog.text
    foreign = _edit_meta(saved_models["MDP"], tmp_path / "foreign.pwb", lambda m: m.update({"format": "other"}))
    with pytest.raises(ModelFileError, match="not a probwb model file"):
        probwb.load(foreign)
    (tmp_path / "junk.pwb").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFileError, match="not a probwb model file|damaged"):
        probwb.load(tmp_path / "junk.pwb")


def test_probwb_load_returns_each_family_without_naming_it(saved_models):
    for name, path in saved_models.items():
        model = probwb.load(path)
        assert type(model).__name__ == name
        assert _meta(path)["class"] == name
        # every array member is plain numeric .npy data
        for member, data in _members(path).items():
            if member.startswith("arrays/"):
                assert np.load(io.BytesIO(data), allow_pickle=False).dtype.kind in "biufc"


# ------------------------------------------------------------------------------------------- interrupted writes
_WRITER = textwrap.dedent("""
    import os, sys, time
    from probwb.core import io as pio
    def stall(fd):  # the temporary file is written, the rename never happens
        open(sys.argv[2], "w").close()
        time.sleep(600)
    os.fsync = stall
    pio.atomic_write_bytes(sys.argv[1], b"x" * 100000)
""")


def test_a_killed_writer_leaves_no_orphan_after_the_next_save(tmp_path):
    target = tmp_path / "model.pwb"
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), str(ready)])
    try:
        t0 = time.time()
        while not ready.exists() and time.time() - t0 < 60:
            time.sleep(0.05)
        assert ready.exists()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    orphans = [p for p in tmp_path.iterdir() if p.name.startswith(".model.pwb.")]
    assert len(orphans) == 1 and f".{proc.pid}." in orphans[0].name and not target.exists()
    # a live writer's fresh temporary file is left alone; an old one of a live pid is stale too
    live = tmp_path / f".model.pwb.{os.getpid()}.abc123.pwbtmp"
    live.write_bytes(b"y")
    other = tmp_path / ".other.pwb.1.abc.pwbtmp"
    other.write_bytes(b"z")
    MDP(np.array([[[1.0]]]), np.array([[0.0]]), 0.5).save(target)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert left == sorted([other.name, live.name])
    old = time.time() - 2 * pio.STALE_TEMP_SECONDS
    os.utime(live, (old, old))
    pio.atomic_write_bytes(target, target.read_bytes())
    assert not live.exists() and other.exists()
    assert isinstance(probwb.load(target), MDP)


# ------------------------------------------------------------------------------------------- round trips
def _random_network(rng: np.random.Generator, n_nodes: int) -> BayesNet:
    nodes = {}
    for i in range(n_nodes):
        k = int(rng.integers(2, 4))
        parents = [f"v{j}" for j in range(i) if rng.random() < 0.4][:3]
        cards = [len(nodes[p]["states"]) for p in parents]
        cpt = rng.dirichlet(np.full(k, 0.7), size=int(np.prod(cards)) if cards else 1).reshape(*cards, k)
        nodes[f"v{i}"] = {"states": [f"s{i}_{j}" for j in range(k)], "parents": parents, "cpt": cpt.tolist()}
    return BayesNet.from_spec({"nodes": nodes})


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(2, 7), missing=st.floats(0.0, 0.4))
def test_bayes_net_round_trip_is_exact(tmp_path, seed, n_nodes, missing):
    rng = np.random.default_rng(seed)
    truth = _random_network(rng, n_nodes)
    data = truth.sample(200, random_state=seed)
    mask = rng.random(data.shape) < missing
    mask[:, 0] = False
    data = data.mask(mask)
    method = "bayes" if seed % 2 else "mle"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = BayesNet({n: truth.parents(n) for n in truth.nodes}, method=method, states=truth.node_states,
                       random_state=seed % 1000, max_iter=20).fit(data)
    path = net.save(tmp_path / f"bn{seed}.pwb")
    back = probwb.load(path)
    assert back.nodes == net.nodes and back.edges == net.edges and back.node_states == net.node_states
    for n in net.nodes:
        assert np.array_equal(back.cpts_[n], net.cpts_[n]) and np.array_equal(back.counts_[n], net.counts_[n])
    assert (back.dirichlet_ is None) == (net.dirichlet_ is None)
    target = net.nodes[-1]
    evidence = data.drop(columns=[target])
    assert np.array_equal(back.predict_proba(evidence, target=target).to_numpy(),
                          net.predict_proba(evidence, target=target).to_numpy())
    assert np.array_equal(back.log_likelihood(data.dropna(), per_row=True),
                          net.log_likelihood(data.dropna(), per_row=True))
    ev = {net.nodes[0]: str(data[net.nodes[0]].iloc[0])}  # an observed state: possible under the fit
    assert back.query(target, evidence=ev).equals(net.query(target, evidence=ev))
    assert back.sample(50, random_state=1).equals(net.sample(50, random_state=1))
    assert back.get_config() == net.get_config()


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), n_states=st.integers(1, 4),
       kinds=st.lists(st.sampled_from(["poisson", "gaussian", "categorical"]), min_size=1, max_size=3))
def test_hmm_round_trip_is_exact(tmp_path, seed, n_states, kinds):
    rng = np.random.default_rng(seed)
    emissions = {}
    for j, kind in enumerate(kinds):
        if kind == "poisson":
            emissions[f"c{j}"] = (kind, {"rates": rng.gamma(2.0, 1.0, n_states)})
        elif kind == "gaussian":
            emissions[f"c{j}"] = (kind, {"means": rng.normal(size=n_states), "covars": rng.gamma(2.0, 1.0, n_states)})
        else:
            emissions[f"c{j}"] = (kind, {"emissionprob": rng.dirichlet(np.ones(3), n_states),
                                         "symbols": ["lo", "mid", "hi"] if j % 2 else [0, 1, 2]})
    model = HMM.from_params(rng.dirichlet(np.ones(n_states)), rng.dirichlet(np.ones(n_states), n_states),
                            emissions, state_names=[f"st{k}" for k in range(n_states)])
    data = model.sample(20, 6, random_state=seed)
    for col in emissions:
        data.loc[rng.random(len(data)) < 0.15, col] = np.nan
    back = probwb.load(model.save(tmp_path / f"hmm{seed}.pwb"))
    assert np.array_equal(back.startprob_, model.startprob_) and np.array_equal(back.transmat_, model.transmat_)
    for col, em in model.emissions_.items():
        for k, v in em.params().items():
            assert np.array_equal(back.emissions_[col].params()[k], v)
    assert back.score(data) == model.score(data)
    assert np.array_equal(back.predict_proba(data).to_numpy(), model.predict_proba(data).to_numpy())
    assert back.predict(data).equals(model.predict(data))
    assert back.sample(5, 4, random_state=3).equals(model.sample(5, 4, random_state=3))


def test_fitted_input_driven_hmm_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(8)
    n, length = 150, 8
    df = pd.DataFrame({"id": np.repeat(np.arange(n), length), "time": np.tile(np.arange(length), n),
                       "coupon": rng.choice(["none", "10%", "20%"], n * length), "y": rng.poisson(1.2, n * length),
                       "sym": rng.choice(["a", "b", "c"], n * length)})
    df.loc[rng.random(len(df)) < 0.1, "sym"] = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = HMM(2, emission={"y": "poisson", "sym": "categorical"}, inputs=["coupon"],
                    input_baseline={"coupon": "none"}, absorbing=["s1"], n_init=1, n_iter=15,
                    random_state=0).fit(df)
    back = HMM.load(model.save(tmp_path / "io.pwb"))
    assert back.score(df) == model.score(df)
    assert np.array_equal(back.predict_proba(df).to_numpy(), model.predict_proba(df).to_numpy())
    for level in ("none", "10%", "20%"):
        assert np.array_equal(back.transmat_for({"coupon": level}), model.transmat_for({"coupon": level}))
    assert back.forecast(df[df["id"] < 3], steps=3, inputs={"coupon": "20%"}).equals(
        model.forecast(df[df["id"] < 3], steps=3, inputs={"coupon": "20%"}))
    assert back.history_ == model.history_ and back.n_iter_ == model.n_iter_


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), n_states=st.integers(1, 12), n_actions=st.integers(1, 4),
       horizon=st.one_of(st.none(), st.integers(1, 5)))
def test_mdp_round_trip_is_exact(tmp_path, seed, n_states, n_actions, horizon):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(n_states, 0.3), size=(n_actions, n_states))
    P[P < 0.1] = 0.0
    P[..., 0] += 1.0 - P.sum(axis=-1)
    m = MDP(P, rng.normal(size=(n_states, n_actions)), float(rng.uniform(0.5, 0.99)), horizon=horizon,
            terminal_reward=rng.normal(size=n_states), states=[f"x{i}" for i in range(n_states)])
    back = probwb.load(m.save(tmp_path / f"mdp{seed}.pwb"))
    assert (back.P != m.P).nnz == 0 and np.array_equal(back.P.data, m.P.data)
    assert np.array_equal(back.R, m.R) and np.array_equal(back.terminal_reward, m.terminal_reward)
    assert (back.discount, back.horizon, back.states, back.actions) == (m.discount, m.horizon, m.states, m.actions)
    a, b = solve(m, "value_iteration"), solve(back, "value_iteration")
    assert np.array_equal(a.V, b.V) and np.array_equal(a.policy_index, b.policy_index)


def test_glm_round_trip_is_exact(glm_fit, tmp_path):
    model, df = glm_fit
    back = probwb.load(model.save(tmp_path / "glm.pwb"))
    assert back.get_params() == model.get_params()
    assert back.idata_.posterior.equals(model.idata_.posterior)
    assert back.idata_.sample_stats.equals(model.idata_.sample_stats)
    new = df.head(30).assign(hospital=["h1", "zz"] * 15)  # an unseen hospital draws new effects
    assert np.array_equal(back.predict(new, random_state=1).to_numpy(), model.predict(new, random_state=1).to_numpy())
    assert back.summary(warn=False).equals(model.summary(warn=False))
    assert back.group_league_table().equals(model.group_league_table())
    assert back.diagnostics_.verdict == model.diagnostics_.verdict
    assert back.diagnostics_.table.equals(model.diagnostics_.table)


def test_clv_round_trips_are_exact(saved_models, tmp_path):
    df = simulate_bgnbd(200, T=39.0, spend={"p": 6.0, "q": 4.0, "v": 15.0}, random_state=5)
    df["segment"] = np.where(np.arange(len(df)) % 3, "web", "store")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [BetaGeoModel(covariates=["segment"]).fit(df, method="map", random_state=0),
                ParetoNBDModel().fit(df, method="mle", random_state=1),
                GammaGammaModel().fit(df, method="mle", random_state=2)]
    for m in fits:
        back = type(m).load(m.save(tmp_path / f"{type(m).__name__}.pwb"))
        assert back.summary().equals(m.summary())
        for k, v in m.draws_.items():
            assert np.array_equal(back.draws_[k], v)
        assert np.array_equal(back.theta_, m.theta_) and np.array_equal(back.cov_, m.cov_)
        if isinstance(m, GammaGammaModel):
            assert back.expected_spend(df.head(25)).equals(m.expected_spend(df.head(25)))
        else:
            assert back.probability_alive(df.head(25)).equals(m.probability_alive(df.head(25)))
            assert back.expected_purchases(df.head(25), 10.0).equals(m.expected_purchases(df.head(25), 10.0))


def test_mdp_estimator_round_trip_is_exact(tmp_path):
    from probwb.mdp.learn import MDPEstimator

    rng = np.random.default_rng(12)
    n = 400
    logs = pd.DataFrame({"state": rng.choice(["a", "b", "c"], n), "action": rng.choice(["wait", "act"], n),
                         "reward": rng.normal(size=n), "next_state": rng.choice(["a", "b", "c"], n)})
    est = MDPEstimator(0.9, method="bayes", prior=0.5).fit(logs)
    back = probwb.load(est.save(tmp_path / "est.pwb"))
    assert isinstance(back, MDPEstimator)
    assert np.array_equal(back.counts_, est.counts_) and np.array_equal(back.reward_sq_, est.reward_sq_)
    assert (back.mdp_.P != est.mdp_.P).nnz == 0 and np.array_equal(back.mdp_.R, est.mdp_.R)
    assert back.transition_table().equals(est.transition_table())
    a, b = est.policy_posterior(30, random_state=4), back.policy_posterior(30, random_state=4)
    assert a.action_probabilities().equals(b.action_probabilities())
    assert a.value_summary().equals(b.value_summary())
    # counts edited (and rehashed) to a fraction are refused
    meta = _meta(tmp_path / "est.pwb")
    bad = _edit_array(tmp_path / "est.pwb", tmp_path / "bad.pwb", meta["state"]["counts_"], lambda c: c + 0.5,
                      rehash=True)
    with pytest.raises(ModelFileError, match="counts must be whole numbers"):
        MDPEstimator.load(bad)


@pytest.mark.parametrize("spec_name", ["coupon_ab_test", "site_anova"])
def test_stats_spec_results_round_trip_is_exact(tmp_path, spec_name):
    import yaml

    from probwb.stats.spec import SpecResults, run_spec

    spec = yaml.safe_load((Path(__file__).parents[2] / "models" / f"{spec_name}.yaml").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = run_spec(spec, quick=True, random_state=3)["model"]
    back = SpecResults.load(saved.save(tmp_path / "stats.pwb"))
    assert back.titles == saved.titles and back.summary().equals(saved.summary())
    for r, s in zip(back.results, saved.results, strict=True):
        assert type(r) is type(s)
        assert r.to_frame().equals(s.to_frame())
        assert r.interpret() == s.interpret()


def test_probwb_run_says_how_to_load_what_it_wrote(tmp_path, monkeypatch, capsys):
    from probwb.cli import main
    from probwb.mdp.learn import MDPEstimator

    monkeypatch.chdir(tmp_path)
    spec = Path(__file__).parents[2] / "models" / "coupon_policy_mdp.yaml"
    out = tmp_path / "policy.pwb"
    assert main(["run", str(spec), "--quick", "--seed", "2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"model = probwb.load({str(out.resolve())!r})" in printed
    assert isinstance(probwb.load(out), MDPEstimator)
    assert _meta(out)["class"] == "MDPEstimator"
