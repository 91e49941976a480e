"""A Bayesian fit with missing cells keeps its data-augmentation draws through a model file.

The draws behind credible intervals (``posterior_draws_``), the name of the interval method and
``n_posterior_draws`` are saved; loading checks the draws like user input (shape of the CPTs, finite,
non-negative, each distribution summing to one), so a loaded model gives the same intervals instead of
silently falling back to the narrower conjugate Dirichlet(prior + EM counts) ones.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import probwb
from probwb.bn import BayesNet
from probwb.core import io as pio
from probwb.errors import ModelFileError

from .conftest import random_network


def _fit(seed: int, n_nodes: int, n_rows: int, missing: float, n_draws: int) -> tuple[BayesNet, object]:
    rng = np.random.default_rng(seed)
    truth = random_network(rng, n_nodes, max_parents=2)
    data = truth.sample(n_rows, random_state=seed)
    data = data.mask(rng.random(data.shape) < missing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EM stopping early / empty parent rows are not the point here
        net = BayesNet({n: truth.parents(n) for n in truth.nodes}, truth.node_states, method="bayes",
                       n_posterior_draws=n_draws, max_iter=30, random_state=seed % 1000).fit(data)
    return net, data


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(3, 5), n_rows=st.integers(80, 250),
       missing=st.floats(0.2, 0.4), n_draws=st.integers(40, 160))
def test_bayes_fit_with_missing_cells_round_trips_its_posterior_draws(tmp_path, seed, n_nodes, n_rows, missing,
                                                                      n_draws):
    net, data = _fit(seed, n_nodes, n_rows, missing, n_draws)
    assert net.posterior_draws_ is not None  # the fit did take the data-augmentation path
    back = probwb.load(net.save(tmp_path / f"bn{seed}.pwb"))

    assert back.n_posterior_draws == n_draws and back.get_config() == net.get_config()
    assert back.get_config()["n_posterior_draws"] == n_draws
    assert back.interval_method_ == net.interval_method_
    assert back.interval_method_.startswith("data augmentation")
    assert sorted(back.posterior_draws_) == sorted(net.posterior_draws_)
    for n, d in net.posterior_draws_.items():
        got = back.posterior_draws_[n]
        assert got.dtype == d.dtype and got.shape == (n_draws,) + net.cpts_[n].shape
        assert got.tobytes() == d.tobytes()  # bit-identical

    target, first = net.nodes[-1], net.nodes[0]
    ev = {first: str(data[first].dropna().iloc[0])}  # an observed state: possible under the fit
    for interval in (0.5, 0.9):
        a = net.query(target, evidence=ev, interval=interval, n_samples=300, random_state=7)
        b = back.query(target, evidence=ev, interval=interval, n_samples=300, random_state=7)
        assert a.equals(b), (a, b)
    evidence = data.drop(columns=[target]).head(25)
    a = net.posterior(evidence, target, interval=0.9, n_samples=200, random_state=3)
    b = back.posterior(evidence, target, interval=0.9, n_samples=200, random_state=3)
    assert a.equals(b)


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rehashed_edit(path: Path, out: Path, node: str, edit) -> Path:
    """Edit the stored draws of ``node`` and recompute the array table and checksum, as a careful forger
    would (see tests/core/test_model_files.py)."""
    m = _members(path)
    meta = json.loads(m["probwb.json"])
    ref = meta["state"]["posterior_draws_"][meta["state"]["names"].index(node)]["__array__"]
    arr = edit(np.load(io.BytesIO(m[f"arrays/{ref}.npy"]), allow_pickle=False).copy())
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    m[f"arrays/{ref}.npy"] = buf.getvalue()
    meta["arrays"][ref] = {"dtype": arr.dtype.str, "shape": list(arr.shape)}
    m["probwb.json"] = json.dumps(meta).encode()
    body = {k: v for k, v in m.items() if k != "checksum.json"}
    m["checksum.json"] = json.dumps({"algorithm": "sha256", "content": pio._digest(body)}).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in m.items():
            zf.writestr(name, data)
    return out


@pytest.fixture(scope="module")
def saved_draws(tmp_path_factory):
    net, _ = _fit(11, 4, 150, 0.3, 60)
    return net, net.save(tmp_path_factory.mktemp("draws") / "bn.pwb")


def _scale_one_distribution(a: np.ndarray) -> np.ndarray:
    a[(3,) + (0,) * (a.ndim - 1)] *= 1.5  # one draw's first distribution no longer sums to 1
    return a


def _negative_but_summing_to_one(a: np.ndarray) -> np.ndarray:
    idx = (0,) * (a.ndim - 1)
    a[idx + (1,)] += a[idx + (0,)] + 0.25
    a[idx + (0,)] = -0.25
    return a


def _nan(a: np.ndarray) -> np.ndarray:
    a[(1,) + (0,) * (a.ndim - 1)] = np.nan
    return a


@pytest.mark.parametrize("edit, message", [
    (_scale_one_distribution, r"posterior_draws_ of node 'X\d'.*sum to 1.*sums to"),
    (_negative_but_summing_to_one, r"posterior_draws_ of node 'X\d'.*negative or non-finite"),
    (_nan, r"posterior_draws_ of node 'X\d'.*negative or non-finite"),
    (lambda a: a[..., :-1], r"posterior_draws_ of node 'X\d' must have shape \(60, .*found shape \(60, "),
    (lambda a: a[:-1], r"posterior_draws_ of node 'X\d' must have shape \((59|60), .*found shape \((60|59),"),
])
def test_tampered_posterior_draws_are_refused(saved_draws, tmp_path, edit, message):
    net, path = saved_draws
    for node in (net.nodes[0], net.nodes[-1]):
        bad = _rehashed_edit(path, tmp_path / f"bad_{node}.pwb", node, edit)
        with pytest.raises(ModelFileError, match=message):
            probwb.load(bad)
        with pytest.raises(ModelFileError, match=message):
            BayesNet.load(bad)


def test_a_rehashed_edit_that_keeps_every_draw_a_distribution_loads(saved_draws, tmp_path):
    net, path = saved_draws
    node = net.nodes[-1]
    ok = _rehashed_edit(path, tmp_path / "ok.pwb", node, lambda a: a[::-1].copy())
    back = probwb.load(ok)
    np.testing.assert_array_equal(back.posterior_draws_[node], net.posterior_draws_[node][::-1])


def test_spec_fit_section_sets_n_posterior_draws(tmp_path):
    pytest.importorskip("probwb.report.data")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from probwb.bn.spec import run_spec
    from probwb.errors import SpecError
    from probwb.report.schema import validate_spec

    rng = np.random.default_rng(5)
    truth = random_network(rng, 3, max_parents=2)
    data = truth.sample(150, random_state=5)
    data.mask(rng.random(data.shape) < 0.3).to_csv(tmp_path / "d.csv", index=False)
    structure = {n: truth.parents(n) for n in truth.nodes}
    spec = {"name": "draws", "model": {"kind": "bn", "structure": structure, "query": {"variables": "X2"}},
            "fit": {"method": "bayes", "n_posterior_draws": 37, "interval": 0.9, "max_iter": 20},
            "data": {"source": "csv", "path": str(tmp_path / "d.csv")}}
    validate_spec(spec)
    res = run_spec(spec, quick=True, random_state=1)
    net = res["model"]
    assert net.n_posterior_draws == 37 and net.get_config()["n_posterior_draws"] == 37
    assert {d.shape[0] for d in net.posterior_draws_.values()} == {37}
    # the report's headers state the interval's level (#20)
    assert list(res["tables"]["query"].columns[-2:]) == ["90% CrI lower", "90% CrI upper"]
    plt.close("all")
    for bad, msg in [(True, "fit.n_posterior_draws must be"), (2.5, "fit.n_posterior_draws must be")]:
        with pytest.raises(SpecError, match=msg):
            validate_spec({**spec, "fit": {**spec["fit"], "n_posterior_draws": bad}})
    with pytest.raises(SpecError, match="did you mean fit.n_posterior_draws"):
        validate_spec({**spec, "fit": {"method": "bayes", "n_posterior_draw": 10}})
    with pytest.raises(SpecError, match="n_posterior_draws must be a positive integer.*found 0"):
        run_spec({**spec, "fit": {**spec["fit"], "n_posterior_draws": 0}}, quick=True, random_state=1)
