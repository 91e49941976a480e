from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from probwb.errors import DataError, ModelError, SpecError  # noqa: E402
from probwb.evaluate import KFold, cross_validate  # noqa: E402
from probwb.scale import cluster, cross_validate_parallel, fit_many, score_in_chunks  # noqa: E402


class RateModel:
    """Per-group Bernoulli rate with add-one smoothing: small, deterministic, has fit/score/predict_proba."""

    def __init__(self, group: str = "g", target: str = "y") -> None:
        self.group, self.target = group, target

    def fit(self, data: pd.DataFrame) -> RateModel:
        g = data.groupby(self.group)[self.target]
        self.rate_ = (g.sum() + 1) / (g.count() + 2)
        return self

    def predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        p = data[self.group].map(self.rate_).fillna(0.5).to_numpy()
        return pd.DataFrame({0: 1 - p, 1: p}, index=data.index)

    def score(self, data: pd.DataFrame) -> float:
        p = self.predict_proba(data)[1].to_numpy()
        y = data[self.target].to_numpy()
        return float(np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


@pytest.fixture(scope="module")
def client():
    with cluster(n_workers=2, processes=False) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 5, 3000)
    y = (rng.random(3000) < np.array([0.1, 0.3, 0.5, 0.7, 0.9])[g]).astype(int)
    return pd.DataFrame({"g": g, "y": y})


def test_score_in_chunks_equals_one_call(client, data):
    model = RateModel().fit(data)
    chunked = score_in_chunks(model, data, chunk_rows=700, client=client)
    pd.testing.assert_frame_equal(chunked, model.predict_proba(data))


def test_cross_validate_parallel_equals_serial(client, data):
    split = KFold(4, random_state=3)
    serial = cross_validate(RateModel(), data, split, metrics=["score", "log_loss"], target="y")
    parallel = cross_validate_parallel(RateModel(), data, split, metrics=["score", "log_loss"], target="y",
                                       client=client)
    pd.testing.assert_frame_equal(serial.scores, parallel.scores)
    pd.testing.assert_frame_equal(serial.summary, parallel.summary)


def test_fit_many_named_and_per_model_data(client, data):
    fitted = fit_many({"a": RateModel(), "b": RateModel()}, {"a": data.iloc[:1000], "b": data.iloc[1000:]},
                      client=client)
    assert set(fitted) == {"a", "b"}
    assert not fitted["a"].rate_.equals(fitted["b"].rate_)
    as_list = fit_many([RateModel(), RateModel()], data, client=client)
    pd.testing.assert_series_equal(as_list[0].rate_, as_list[1].rate_)


def test_bad_input(client, data):
    with pytest.raises(ModelError, match="no method 'predict'"):
        score_in_chunks(object(), data, method="predict", client=client)
    with pytest.raises(SpecError, match="chunk_rows"):
        score_in_chunks(RateModel().fit(data), data, chunk_rows=0, client=client)
    with pytest.raises(DataError, match="no entry for model"):
        fit_many({"a": RateModel()}, {"b": data}, client=client)
