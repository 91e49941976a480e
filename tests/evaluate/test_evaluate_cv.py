"""cross_validate with tiny models defined here, and the leakage a random split on time-ordered data hides."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from probwb.errors import DataError, ModelError, SpecError
from probwb.evaluate import (
    METRICS,
    CVResult,
    GroupKFold,
    KFold,
    SequentialSplit,
    brier_score,
    cross_validate,
    log_loss,
    roc_auc,
)


class SegmentRate:
    """Predicts the outcome's class frequencies within each segment (add-one smoothing)."""

    def __init__(self, target: str = "outcome", by: str = "segment", classes=("no", "yes")):
        self.target = target
        self.by = by
        self.classes = list(classes)

    def fit(self, data: pd.DataFrame, smoothing: float = 1.0) -> SegmentRate:
        counts = pd.crosstab(data[self.by], data[self.target]).reindex(columns=self.classes, fill_value=0)
        counts = counts + smoothing
        self.table_ = counts.div(counts.sum(axis=1), axis=0)
        self.smoothing_ = smoothing
        return self

    def predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        if self.target in data.columns:
            raise AssertionError("the target column was passed to predict_proba")
        out = self.table_.reindex(data[self.by]).fillna(1.0 / len(self.classes))
        out.index = data.index
        out.columns = list(out.columns)
        return out

    def score(self, data: pd.DataFrame) -> float:
        probs = self.predict_proba(data.drop(columns=[self.target]))
        picked = probs.to_numpy()[np.arange(len(data)), probs.columns.get_indexer(data[self.target])]
        return float(np.mean(np.log(picked)))


@pytest.fixture(scope="module")
def outcomes():
    rng = np.random.default_rng(21)
    n = 400
    segment = rng.choice(["value", "regular", "premium"], size=n)
    rate = pd.Series({"value": 0.2, "regular": 0.45, "premium": 0.7})[segment].to_numpy()
    outcome = np.where(rng.uniform(size=n) < rate, "yes", "no")
    store = rng.choice([f"S{i:02d}" for i in range(12)], size=n)
    return pd.DataFrame({"segment": segment, "store": store, "outcome": outcome})


def test_cross_validate_matches_manual_folds(outcomes):
    model = SegmentRate()
    splitter = KFold(4, random_state=0)
    res = cross_validate(model, outcomes, splitter, ["score", "log_loss", "brier", "roc_auc"], target="outcome")
    assert isinstance(res, CVResult)
    assert list(res.scores.columns) == ["fold", "metric", "value", "n_train", "n_test"]
    assert len(res.scores) == 16
    assert not hasattr(model, "table_"), "the model passed in must stay unfitted"
    for fold, (train, test) in enumerate(splitter.split(outcomes)):
        fitted = SegmentRate().fit(outcomes.iloc[train])
        te = outcomes.iloc[test]
        probs = fitted.predict_proba(te.drop(columns=["outcome"]))
        expected = {
            "score": fitted.score(te),
            "log_loss": log_loss(te["outcome"], probs),
            "brier": brier_score(te["outcome"], probs),
            "roc_auc": roc_auc(te["outcome"], probs),
        }
        got = res.scores[res.scores["fold"] == fold].set_index("metric")["value"]
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-12)
        # log-likelihood per row and log-loss are the same number with opposite signs
        assert got["score"] == pytest.approx(-got["log_loss"], abs=1e-12)
    for name in ("score", "log_loss"):
        v = res.scores.loc[res.scores["metric"] == name, "value"]
        assert res.summary.loc[name, "mean"] == pytest.approx(v.mean())
        assert res.summary.loc[name, "sd"] == pytest.approx(v.std(ddof=1))
        assert res.summary.loc[name, "n_folds"] == 4
    # out-of-fold predictions cover every row once, named by state
    assert sorted(res.predictions.index) == sorted(outcomes.index)
    assert list(res.predictions.columns) == ["no", "yes", "fold"]


def test_grouped_cv_with_mapping_metrics_and_fit_kwargs(outcomes):
    seen = []

    def share_yes(y_true, y_prob):
        seen.append(len(y_true))
        return float(np.mean(np.asarray(y_true) == "yes"))

    res = cross_validate(
        SegmentRate(), outcomes, GroupKFold(3, group="store"),
        {"auc": "roc_auc", "yes_rate": share_yes, "brier_half": functools.partial(brier_score, scale_by_half=True)},
        target="outcome", fit_kwargs={"smoothing": 5.0}, return_models=True,
    )
    assert list(res.summary.index) == ["auc", "yes_rate", "brier_half"]
    assert len(res.models) == 3 and all(m.smoothing_ == 5.0 for m in res.models)
    assert sum(seen) == len(outcomes)
    for fold, (train, test) in enumerate(GroupKFold(3, group="store").split(outcomes)):
        stores_train = set(outcomes["store"].iloc[train])
        assert not stores_train & set(outcomes["store"].iloc[test])
        assert (res.scores.loc[res.scores["fold"] == fold, "n_test"] == len(test)).all()


def test_cross_validate_bad_input(outcomes):
    with pytest.raises(SpecError, match="did you mean 'log_loss'"):
        cross_validate(SegmentRate(), outcomes, KFold(3), ["logloss"], target="outcome")
    with pytest.raises(SpecError, match="target= is required"):
        cross_validate(SegmentRate(), outcomes, KFold(3), "brier")
    with pytest.raises(DataError, match="did you mean 'outcome'"):
        cross_validate(SegmentRate(), outcomes, KFold(3), "brier", target="outcomes")
    with pytest.raises(DataError, match="empty"):
        cross_validate(SegmentRate(), outcomes.iloc[:0], KFold(3), "score")
    with pytest.raises(ModelError, match="no method 'predict'"):
        cross_validate(SegmentRate(), outcomes, KFold(3), "rmse", target="outcome", predict="predict")
    with pytest.raises(SpecError, match="split"):
        cross_validate(SegmentRate(), outcomes, "kfold", "score")
    assert "log_loss" in METRICS

    class BadSplitter:
        def split(self, data):
            yield np.arange(10), np.arange(len(data) - 5, len(data) + 5)

    with pytest.raises(DataError, match=r"fold 0: test positions must lie in \[0, 399\].*found \[395, 404\]"):
        cross_validate(SegmentRate(), outcomes, BadSplitter(), "score")


def test_error_score_records_and_warns(outcomes):
    # each fold's test set holds one class only, so neither has an AUC
    data = pd.concat([outcomes[outcomes["outcome"] == "no"].head(100),
                      outcomes[outcomes["outcome"] == "yes"].head(100)], ignore_index=True)
    with pytest.raises(DataError, match="both classes"):
        cross_validate(SegmentRate(), data, KFold(2, shuffle=False), "roc_auc", target="outcome")
    with pytest.warns(UserWarning, match="metric 'roc_auc' failed"):
        res = cross_validate(SegmentRate(), data, KFold(2, shuffle=False), ["roc_auc", "brier"],
                             target="outcome", error_score=float("nan"))
    assert res.scores["value"].isna().sum() == 2
    assert res.summary.loc["roc_auc", "n_folds"] == 0
    assert res.summary.loc["brier", "n_folds"] == 2


class NearestInTime:
    """Predicts each row's value by the training value nearest in time: it memorises the series."""

    def fit(self, data: pd.DataFrame) -> NearestInTime:
        order = np.argsort(data["t"].to_numpy())
        self.t_ = data["t"].to_numpy()[order]
        self.y_ = data["y"].to_numpy()[order]
        return self

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        t = data["t"].to_numpy()
        right = np.clip(np.searchsorted(self.t_, t), 1, len(self.t_) - 1)
        left = right - 1
        nearest = np.where(np.abs(self.t_[left] - t) <= np.abs(self.t_[right] - t), left, right)
        return self.y_[nearest]


def test_sequential_split_exposes_leakage_random_kfold_hides():
    rng = np.random.default_rng(33)
    n = 600
    series = pd.DataFrame({"t": np.arange(n), "y": np.cumsum(rng.normal(size=n))})
    random_cv = cross_validate(NearestInTime(), series, KFold(5, random_state=1), "rmse",
                               target="y", predict="predict")
    seq_cv = cross_validate(NearestInTime(), series, SequentialSplit(5, time="t"), "rmse",
                            target="y", predict="predict")
    random_rmse = random_cv.summary.loc["rmse", "mean"]
    seq_rmse = seq_cv.summary.loc["rmse", "mean"]
    # a random split lets the model look up the neighbours of every test point on both sides, so
    # its error is about one step of the walk; forecasting forward, the error grows with the horizon
    assert random_rmse < 1.5
    assert seq_rmse > 4 * random_rmse
    for train, test in SequentialSplit(5, time="t").split(series):
        assert series["t"].iloc[train].max() < series["t"].iloc[test].min()


def test_accepts_scikit_learn_splitters(outcomes):
    from sklearn.model_selection import KFold as SkKFold

    ours = cross_validate(SegmentRate(), outcomes, KFold(3, shuffle=False), ["log_loss"], target="outcome")
    theirs = cross_validate(SegmentRate(), outcomes, SkKFold(3), ["log_loss"], target="outcome")
    pd.testing.assert_frame_equal(ours.scores, theirs.scores)
