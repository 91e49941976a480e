"""The front door (#20): star import, __all__, one estimator surface (repr, get_params/set_params, summary,
plot(kind=...)) across families, and ax=None / return-the-Axes for every plot function."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

import probwb  # noqa: E402
from probwb.errors import ModelError, NotFittedError  # noqa: E402

PLOT_MODULES = ["probwb.bn.plots", "probwb.diagnostics.plots", "probwb.evaluate.plots", "probwb.hier.plots",
                "probwb.hier.clv_plots", "probwb.hmm.plots", "probwb.mdp.plots", "probwb.stats.plots"]
MULTI_PANEL = {"plot_trace", "plot_rank"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- imports and __all__
def test_star_import_works_in_a_fresh_process() -> None:
    code = ("from probwb import *\nimport probwb\n"
            "missing = [n for n in probwb.__all__ if n not in globals()]\n"
            "assert not missing, missing\nprint(len(probwb.__all__))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) == len(probwb.__all__)


def _all_modules() -> list[str]:
    names = ["probwb"]
    for name in names:
        mod = importlib.import_module(name)
        if hasattr(mod, "__path__"):
            names += [f"{name}.{m.name}" for m in pkgutil.iter_modules(mod.__path__)]
    return names


@pytest.mark.parametrize("module", _all_modules())
def test_every_name_in_all_exists(module: str) -> None:
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", [])
    assert len(set(names)) == len(names), f"{module}.__all__ repeats a name"
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{module}.__all__ lists names that do not exist: {missing}"


# ---------------------------------------------------------------- plot functions
def _plot_functions() -> list[tuple[str, str]]:
    """Every public function of a plots module that draws (its name says plot; helpers such as
    stats.plots.anova_residuals return data)."""
    out = []
    for m in PLOT_MODULES:
        mod = importlib.import_module(m)
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if not name.startswith("_") and fn.__module__ == m and "plot" in name:
                out.append((m, name))
    return out


def test_plot_functions_are_found() -> None:
    found = _plot_functions()
    assert len(found) >= 25 and ("probwb.diagnostics.plots", "plot_trace") in found


@pytest.mark.parametrize(("module", "name"), _plot_functions())
def test_every_plot_function_takes_ax_none(module: str, name: str) -> None:
    fn = getattr(importlib.import_module(module), name)
    params = inspect.signature(fn).parameters
    key = "axes" if name in MULTI_PANEL else "ax"
    assert key in params, f"{module}.{name} has no {key}= parameter"
    assert params[key].default is None, f"{module}.{name}: {key} must default to None"
    doc = (fn.__doc__ or "").lower()
    assert "return" in doc and "axes" in doc, f"{module}.{name}: docstring must say it returns the Axes"


# ---------------------------------------------------------------- small fitted estimators, one per family
def _poisson_panel(n_seq: int, seed: int) -> pd.DataFrame:
    from probwb.hmm import HMM

    truth = HMM.from_params([0.6, 0.4], [[0.9, 0.1], [0.2, 0.8]], {"y": ("poisson", {"rates": [0.5, 4.0]})},
                            state_names=["quiet", "busy"])
    return truth.sample(n_seq, 8, random_state=seed)


def _mdp_logs(seed: int) -> pd.DataFrame:
    from probwb.mdp.examples import forest

    mdp = forest(3)
    rng = np.random.default_rng(seed)
    T, R = mdp.to_dense(), mdp.reward_matrix
    rows = []
    for _ in range(300):
        s, a = int(rng.integers(3)), int(rng.integers(2))
        rows.append((mdp.states[s], mdp.actions[a], R[s, a] + rng.normal(0, 0.1),
                     mdp.states[int(rng.choice(3, p=T[a, s]))]))
    return pd.DataFrame(rows, columns=["state", "action", "reward", "next_state"])


def _bn_data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice(["lo", "hi"], 400)
    b = np.where(rng.random(400) < np.where(a == "hi", 0.8, 0.2), "yes", "no")
    return pd.DataFrame({"a": a, "b": b})


def _glm_data(seed: int) -> pd.DataFrame:
    from probwb.datasets import simulate_patient_cohort

    return simulate_patient_cohort(n_patients=400, n_hospitals=8, random_state=seed).patients


# the README example's GLM structure, so the compiled model is shared through the compile cache
GLM_FORMULA = "readmitted ~ age_band + heart_failure + (1 | hospital_id)"


def _cdnow() -> pd.DataFrame:
    from probwb.datasets import load_cdnow

    return load_cdnow()


# name -> unfitted instance factory, non-default settings, fit function (None: not fitted here, MCMC
# compilation of BayesianHMM alone costs ~25 s), keywords of the default plot, plot calls
def _cases() -> dict[str, dict]:
    from probwb.bn import BayesNet
    from probwb.hier import BetaGeoModel, GammaGammaModel, HierarchicalGLM, ParetoNBDModel
    from probwb.hmm import HMM, BayesianHMM
    from probwb.mdp import MDPEstimator

    return {
        "BayesNet": dict(make=lambda: BayesNet({"a": [], "b": ["a"]}, method="bayes"), change={"prior": "K2"},
                         fit=lambda m: m.fit(_bn_data(1)), default={},
                         plots=[("network", {}), ("posterior", {"variables": "b", "evidence": {"a": "hi"}})]),
        "HMM": dict(make=lambda: HMM(state_names=["quiet", "busy"], emission={"y": "poisson"}, n_init=1,
                                     order_by=("y", "mean"), random_state=0),
                    change={"n_init": 2}, fit=lambda m: m.fit(_poisson_panel(60, 2)), default={},
                    plots=[("state_diagram", {}), ("state_posteriors", {"data": _poisson_panel(3, 4), "entity": 1})]),
        "BayesianHMM": dict(make=lambda: BayesianHMM(state_names=["quiet", "busy"], emission={"y": "poisson"},
                                                     draws=50, tune=50, chains=1),
                            change={"draws": 80}, fit=None, plots=[]),
        "MDPEstimator": dict(make=lambda: MDPEstimator(0.9), change={"prior": 0.5},
                             fit=lambda m: m.fit(_mdp_logs(3)), default={"n_samples": 20},
                             plots=[("policy_posterior", {"n_samples": 20, "random_state": 1}),
                                    ("value_posterior", {"n_samples": 20, "random_state": 1})]),
        "HierarchicalGLM": dict(make=lambda: HierarchicalGLM(GLM_FORMULA), change={"family": "bernoulli",
                                                                                   "noncentered": False},
                                fit=lambda m: m.fit(_glm_data(5), draws=100, tune=100, chains=2, random_state=2,
                                                    progressbar=False), default={},
                                plots=[("league_table", {"group": "hospital_id"}), ("trace", {"max_params": 3}),
                                       ("rank", {"max_params": 2})]),
        "BetaGeoModel": dict(make=BetaGeoModel, change={"covariates": None, "priors": {"r": {"dist": "HalfNormal",
                                                                                              "sigma": 5.0}}},
                             fit=lambda m: m.fit(_cdnow(), method="mle", random_state=1), default={"T": 39.0},
                             plots=[("probability_alive_matrix", {"T": 39.0}),
                                    ("frequency_counts", {"data": _cdnow()})]),
        "ParetoNBDModel": dict(make=ParetoNBDModel, change={"priors": {"r": {"dist": "HalfNormal", "sigma": 5.0}}},
                               fit=None, plots=[]),
        "GammaGammaModel": dict(make=GammaGammaModel, change={"priors": {"p": {"dist": "HalfNormal", "sigma": 5.0}}},
                                fit=None, plots=[]),
    }


CASES = list(_cases())


@pytest.mark.parametrize("name", CASES)
def test_estimator_repr_shows_class_and_settings(name: str) -> None:
    case = _cases()[name]
    model = case["make"]()
    text = repr(model)
    assert text.startswith(f"{name}(") and text.endswith(")") and " at 0x" not in text
    assert len(text) <= 400
    key, value = next(iter(case["change"].items())) if len(case["change"]) == 1 else list(case["change"].items())[-1]
    model.set_params(**{key: value})
    assert f"{key}=" in repr(model), "a non-default setting must show in the repr"


@pytest.mark.parametrize("name", CASES)
def test_get_params_round_trips_through_the_constructor(name: str) -> None:
    case = _cases()[name]
    model = case["make"]()
    params = model.get_params()
    sig = inspect.signature(type(model).__init__).parameters
    assert set(params) == {p for p in sig if p != "self"}, "get_params gives every constructor argument"
    clone = type(model)(**params)
    assert repr(clone) == repr(model)
    # set_params changes what it names, keeps the rest, returns the model itself, and rejects typos
    assert model.set_params(**case["change"]) is model
    after = model.get_params()
    for k, v in case["change"].items():
        assert after[k] == v
    assert {k: repr(v) for k, v in after.items() if k not in case["change"]} == {
        k: repr(v) for k, v in params.items() if k not in case["change"]}
    typo = next(iter(params)) + "x"
    with pytest.raises(ModelError, match="did you mean"):
        model.set_params(**{typo: 1})


@pytest.mark.parametrize("name", CASES)
def test_unfitted_summary_and_plot_say_not_fitted(name: str) -> None:
    model = _cases()[name]["make"]()
    with pytest.raises(NotFittedError):
        model.summary()
    with pytest.raises(NotFittedError):
        model.plot()


@pytest.fixture(scope="module")
def fitted() -> dict:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny MCMC runs warn about ESS; that is not what is tested here
        for name, case in _cases().items():
            if case["fit"] is not None:
                out[name] = (case["fit"](case["make"]()), case["default"], case["plots"])
    return out


@pytest.mark.parametrize("name", [n for n in CASES if _cases()[n]["fit"] is not None])
def test_fitted_summary_and_every_plot_kind(name: str, fitted: dict) -> None:
    model, default, plots = fitted[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = model.summary()
    assert isinstance(table, pd.DataFrame) and len(table) > 0
    assert isinstance(model.plot(**default), Axes)
    for kind, kwargs in plots:
        _, ax = plt.subplots()
        if kind in MULTI_PANEL_KINDS:
            n = kwargs["max_params"]
            _, grid = plt.subplots(n, 2 if kind == "trace" else 1, squeeze=False)
            got = model.plot(kind, ax=grid, **kwargs)
            assert isinstance(got, np.ndarray) and got.shape == grid.shape
            assert all(a is b and (a.has_data() or len(a.patches) > 0) for a, b in zip(got.flat, grid.flat, strict=True))
        else:
            assert model.plot(kind, ax=ax, **kwargs) is ax, f"{name}.plot({kind!r}) must draw on the given Axes"
            assert ax.has_data() or ax.patches or ax.images or ax.texts, f"{name}.plot({kind!r}) drew nothing"
            assert isinstance(model.plot(kind, **kwargs), Axes)
    with pytest.raises(ModelError, match="plot kind"):
        model.plot("no_such_kind")


MULTI_PANEL_KINDS = {"trace", "rank"}


def test_mdp_and_pomdp_definitions_share_the_surface() -> None:
    from probwb.mdp import MDP, POMDP
    from probwb.mdp.examples import forest, tiger

    for mdp in (forest(5), forest(3, discount=0.5)):
        again = MDP(**mdp.get_params())
        assert repr(again) == repr(mdp)
        assert np.array_equal(again.to_dense(), mdp.to_dense()) and np.array_equal(again.R, mdp.R)
        table = mdp.summary()
        assert len(table) == mdp.n_states * mdp.n_actions
        dense = mdp.to_dense()
        for row in table.itertuples():
            s, a = mdp.state_index(row.state), mdp.action_index(row.action)
            assert row.reward == mdp.R[a, s]
            assert row.p_stay == dense[a, s, s] and row.n_next_states == np.count_nonzero(dense[a, s])
            assert row.p_most_likely == dense[a, s].max()
        _, ax = plt.subplots()
        assert mdp.plot(ax=ax) is ax
    pomdp = tiger()
    assert isinstance(pomdp, POMDP)
    rebuilt = POMDP(**pomdp.get_params())
    assert np.array_equal(rebuilt.O, pomdp.O) and repr(rebuilt) == repr(pomdp)
    table = pomdp.summary()
    obs_cols = [c for c in table.columns if c.startswith("P(")]
    assert np.allclose(table[obs_cols].sum(axis=1), 1.0) and len(table) == pomdp.n_states * pomdp.n_actions
    _, ax = plt.subplots()
    assert pomdp.plot(ax=ax, n_beliefs=30, random_state=0) is ax
    with pytest.raises(ModelError, match="did you mean 'values'"):
        forest(3).plot("value")


# ---------------------------------------------------------------- one spelling per concept
def test_hmm_columns_spelling_is_deprecated_and_fits_the_same_model() -> None:
    from probwb.hmm import HMM

    data = _poisson_panel(30, 6)
    with pytest.warns(FutureWarning, match=r"emission=\{'y': 'poisson'\}") as rec:
        old = HMM(2, emission="poisson", columns=["y"], n_init=1, random_state=0).fit(data)
    assert rec[0].filename == __file__, "the warning points at the caller's line"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = HMM(2, emission={"y": "poisson"}, n_init=1, random_state=0).fit(data)
    assert old.loglik_ == new.loglik_ and np.array_equal(old.transmat_, new.transmat_)
    with pytest.raises(ModelError, match="give the observed columns once"):
        HMM(2, emission={"y": "poisson"}, columns=["y"]).fit(data)


def _doc_sources() -> dict[str, str]:
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = {"README.md": (root / "README.md").read_text(encoding="utf-8")}
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        out[nb.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for spec in sorted((root / "models").glob("*.yaml")):
        out[spec.name] = spec.read_text(encoding="utf-8")
    return out


def test_readme_notebooks_and_specs_spell_hmm_emissions_one_way() -> None:
    import re

    sources = _doc_sources()
    assert any("emission={" in text or "emission: {" in text for text in sources.values())
    for name, text in sources.items():
        for call in re.findall(r"HMM\((.*?)\)\.fit", text, flags=re.S):
            assert "columns=" not in call, f"{name}: HMM(... columns=...) is the deprecated spelling"
        if name.endswith(".yaml") and re.search(r"^\s*kind:\s*hmm", text, flags=re.M):
            assert not re.search(r"^\s+columns:", text, flags=re.M), f"{name}: use emission: {{column: type}}"
