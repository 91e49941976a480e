"""BayesianHMM: every prior settable, parameters fixable, and time jumps refused rather than ignored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc")

from probwb.errors import DataError, ProbabilityError, SpecError  # noqa: E402
from probwb.hmm import HMM  # noqa: E402
from probwb.hmm.bayes import BayesianHMM  # noqa: E402


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    truth = HMM.from_params([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]],
                            {"marker": ("gaussian", {"means": [0.0, 3.0], "covars": [1.0, 1.0]}),
                             "test": ("categorical", {"emissionprob": [[0.8, 0.2], [0.3, 0.7]], "symbols": ["n", "a"]})},
                            state_names=["mild", "severe"])
    return truth.sample(40, 6, random_state=0)


def _model(**kw) -> BayesianHMM:
    return BayesianHMM(state_names=["mild", "severe"], emission={"marker": "gaussian", "test": "categorical"},
                       order_by=("marker", "mean"), **kw)


def test_fixed_parameters_are_constants_not_sampled(data: pd.DataFrame) -> None:
    model = _model(fixed={"startprob": [0.25, 0.75], "marker_sd": 1.0,
                          "transmat": [[0.9, 0.1], [0.2, 0.8]]}).build_model(data)
    free = {rv.name for rv in model.free_RVs}
    assert "startprob" not in free and "marker_sd" not in free
    assert not any(n.startswith("trans_from_") for n in free)
    assert {"marker_means_sorted", "test_probs"} <= free
    np.testing.assert_allclose(model["startprob"].eval(), [0.25, 0.75])
    np.testing.assert_allclose(model["marker_sd"].eval(), [1.0, 1.0])
    np.testing.assert_allclose(model["transmat"].eval()[0], [[0.9, 0.1], [0.2, 0.8]])
    # fixing the ordered column's means names the states: no ordering constraint is needed then
    m2 = _model(fixed={"marker_means": [0.0, 3.0]}).build_model(data)
    assert not any(rv.name.startswith("marker_means") for rv in m2.free_RVs)
    np.testing.assert_allclose(m2["marker_means"].eval(), [0.0, 3.0])


def test_priors_reach_the_model(data: pd.DataFrame) -> None:
    import pymc as pm

    model = _model(priors={"marker_means": {"dist": "normal", "mu": [-5.0, 20.0], "sigma": 0.5},
                           "marker_sd": {"dist": "halfnormal", "sigma": 0.1},
                           "transmat": {"dist": "dirichlet", "a": [[9.0, 1.0], [1.0, 3.0]]},
                           "startprob": {"dist": "dirichlet", "a": [2.0, 6.0]},
                           "test_probs": {"dist": "dirichlet", "a": [[1.0, 9.0], [9.0, 1.0]]}}).build_model(data)
    means = pm.draw(model["marker_means_sorted"], draws=4000, random_seed=1)
    np.testing.assert_allclose(means.mean(axis=0), [-5.0, 20.0], atol=0.03)  # 4 Monte Carlo se
    np.testing.assert_allclose(means.std(axis=0), [0.5, 0.5], rtol=0.06)
    sd = pm.draw(model["marker_sd"], draws=4000, random_seed=2)
    np.testing.assert_allclose(sd.mean(axis=0), 0.1 * np.sqrt(2 / np.pi), rtol=0.06)
    row = pm.draw(model["trans_from_mild"], draws=4000, random_seed=3)
    np.testing.assert_allclose(row.mean(axis=0), [0.9, 0.1], atol=0.006)
    start = pm.draw(model["startprob"], draws=4000, random_seed=4)
    np.testing.assert_allclose(start.mean(axis=0), [0.25, 0.75], atol=0.01)
    probs = pm.draw(model["test_probs"], draws=4000, random_seed=5)
    np.testing.assert_allclose(probs.mean(axis=0), [[0.1, 0.9], [0.9, 0.1]], atol=0.006)


def test_bad_priors_and_fixed_values_are_refused(data: pd.DataFrame) -> None:
    with pytest.raises(SpecError, match=r"unknown prior key 'marker_mean' \(did you mean 'marker_means'\?\)"):
        _model(priors={"marker_mean": {"dist": "normal", "mu": 0, "sigma": 1}}).build_model(data)
    with pytest.raises(SpecError, match=r"prior 'marker_sd': expected a dict like \{'dist': 'halfnormal'"):
        _model(priors={"marker_sd": {"dist": "normal", "sigma": 1}}).build_model(data)
    with pytest.raises(SpecError, match=r"shape \(2,\)"):
        _model(priors={"marker_means": {"mu": [0.0, 1.0, 2.0]}}).build_model(data)
    with pytest.raises(SpecError, match="positive"):
        _model(fixed={"marker_sd": [1.0, -1.0]}).build_model(data)
    with pytest.raises(ProbabilityError):
        _model(fixed={"startprob": [0.5, 0.6]}).build_model(data)
    with pytest.raises(SpecError, match="unknown fixed key 'marker_lograte'"):
        _model(fixed={"marker_lograte": [0.0, 1.0]}).build_model(data)


def test_time_jumps_are_refused_unless_asked(data: pd.DataFrame) -> None:
    jumped = data[data["time"] != 3].reset_index(drop=True)
    with pytest.raises(DataError, match=r"entity 0 jumps from time=2 to 4"):
        _model().build_model(jumped)
    model = _model(time_gaps="consecutive").build_model(jumped)
    assert model is not None
