"""Jumps in the time column: a jump of k grid steps is k steps of the chain, not one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from probwb.errors import DataError, ModelError
from probwb.hmm import HMM

NAMES = ["active", "at_risk", "churned"]
START = np.array([0.7, 0.3, 0.0])
TRANS = np.array([[0.85, 0.12, 0.03], [0.15, 0.70, 0.15], [0.0, 0.0, 1.0]])
RATES = np.array([2.5, 0.7, 0.05])


@pytest.fixture(scope="module")
def truth() -> HMM:
    return HMM.from_params(START, TRANS, {"purchases": ("poisson", {"rates": RATES})}, state_names=NAMES,
                           id_col="customer_id", time_col="week")


def _with_jumps(panel: pd.DataFrame, rng: np.random.Generator, frac: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop a fraction of non-first rows: return (rows kept, same rows plus NaN rows where rows were dropped)."""
    first = panel["week"] == panel.groupby("customer_id")["week"].transform("min")
    drop = (rng.random(len(panel)) < frac) & ~first
    # a dropped last row is no jump: keep each sequence's last row
    last = panel["week"] == panel.groupby("customer_id")["week"].transform("max")
    drop &= ~last
    gapped = panel.loc[~drop].reset_index(drop=True)
    filled = panel.copy()
    filled.loc[drop, "purchases"] = np.nan
    return gapped, filled


def test_a_jump_scores_as_the_matrix_power(truth: HMM) -> None:
    one = pd.DataFrame({"customer_id": "a", "week": [0, 1, 2, 3, 1001], "purchases": [3, 2, 0, 1, 0]})
    A = truth.transmat_
    e = poisson.pmf(np.array([3, 2, 0, 1, 0])[:, None], RATES[None, :])
    alpha = START * e[0]
    for t, M in enumerate([A, A, A, np.linalg.matrix_power(A, 998)], start=1):
        alpha = (alpha @ M) * e[t]
    assert truth.score(one) == pytest.approx(np.log(alpha.sum()), rel=1e-12)
    # the consecutive reading differs: after 998 weeks the customer has almost surely churned
    consecutive = truth.score(one.assign(week=np.arange(5)))
    assert abs(truth.score(one) - consecutive) > 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jumps_equal_unobserved_rows_in_scoring_posteriors_and_decoding(truth: HMM, seed: int) -> None:
    rng = np.random.default_rng(seed)
    panel = truth.sample(60, int(rng.integers(6, 14)), random_state=seed)
    gapped, filled = _with_jumps(panel, rng, frac=float(rng.uniform(0.1, 0.5)))
    assert len(gapped) < len(panel)
    np.testing.assert_allclose(truth.score(gapped, per_sequence=True), truth.score(filled, per_sequence=True),
                               rtol=1e-10)
    keys = ["customer_id", "week"]
    post_gap = truth.predict_proba(gapped).set_index(pd.MultiIndex.from_frame(gapped[keys]))
    post_fill = truth.predict_proba(filled).set_index(pd.MultiIndex.from_frame(filled[keys]))
    np.testing.assert_allclose(post_gap.to_numpy(), post_fill.loc[post_gap.index].to_numpy(), atol=1e-10)
    fc_gap, fc_fill = truth.forecast(gapped, steps=3), truth.forecast(filled, steps=3)
    np.testing.assert_allclose(fc_gap[NAMES].to_numpy(), fc_fill[NAMES].to_numpy(), atol=1e-10)


def test_decoding_across_a_jump_uses_the_matrix_power() -> None:
    # two sticky states: across a long jump the chain forgets, so the decoded state after the jump follows
    # that step's observation and not the long run of the other state before it
    model = HMM.from_params([0.5, 0.5], [[0.98, 0.02], [0.10, 0.90]],
                            {"y": ("poisson", {"rates": [0.2, 3.0]})}, state_names=["low", "high"])
    one = pd.DataFrame({"id": 1, "time": [0, 1, 2, 3, 4, 200], "y": [5, 4, 6, 3, 5, 1]})
    path = model.predict(one).astype(str).tolist()
    assert path == ["high"] * 5 + ["low"]
    assert model.predict(one.assign(time=np.arange(6))).astype(str).tolist() == ["high"] * 6


@pytest.mark.parametrize("seed", [3, 4])
def test_fitting_with_jumps_equals_fitting_with_unobserved_rows(truth: HMM, seed: int) -> None:
    rng = np.random.default_rng(seed)
    panel = truth.sample(300, 10, random_state=seed)
    gapped, filled = _with_jumps(panel, rng, frac=0.3)
    kw = dict(state_names=NAMES, emission={"purchases": "poisson"}, id_col="customer_id", time_col="week",
              absorbing=["churned"], order_by=("purchases", "mean", "descending"), n_init=1, n_iter=40,
              random_state=seed)
    with pytest.warns(Warning):  # 40 iterations are too few to converge: both stop at the same point
        a = HMM(**kw).fit(gapped)
    with pytest.warns(Warning):
        b = HMM(**kw).fit(filled)
    np.testing.assert_allclose(a.history_, b.history_, rtol=1e-10)
    np.testing.assert_allclose(a.transmat_, b.transmat_, atol=1e-10)
    np.testing.assert_allclose(a.rates_["purchases"], b.rates_["purchases"], rtol=1e-10)
    assert a.time_step_ == 1.0


def test_jumps_with_inputs_hold_the_input_over_the_jump() -> None:
    rng = np.random.default_rng(7)
    n, T = 400, 8
    df = pd.DataFrame({"id": np.repeat(np.arange(n), T), "time": np.tile(np.arange(T), n),
                       "x": rng.choice(["a", "b"], n * T), "y": rng.poisson(1.0, n * T).astype(float)})
    kw = dict(n_states=2, emission={"y": "poisson"}, inputs=["x"], order_by=("y", "mean"), n_init=1, n_iter=15,
              random_state=0)
    drop = np.zeros(len(df), dtype=bool)
    drop[rng.choice(np.flatnonzero((df["time"] > 0) & (df["time"] < T - 1)), 500, replace=False)] = True
    gapped = df.loc[~drop].reset_index(drop=True)
    # the held-input reading, spelled out: the unseen rows repeat the input of the row before the jump
    filled = df.copy()
    filled.loc[drop, "y"] = np.nan
    x = filled["x"].to_numpy().copy()
    for i in np.flatnonzero(drop):
        x[i] = x[i - 1]
    filled["x"] = x
    with pytest.warns(Warning):
        a = HMM(**kw).fit(gapped)
    with pytest.warns(Warning):
        b = HMM(**kw).fit(filled)
    np.testing.assert_allclose(a.history_, b.history_, rtol=1e-10)
    for lv in ("a", "b"):
        np.testing.assert_allclose(a.transmat_for({"x": lv}), b.transmat_for({"x": lv}), atol=1e-9)


def test_datetime_times_and_error_options(truth: HMM) -> None:
    weeks = pd.to_datetime("2024-01-01") + pd.to_timedelta([0, 7, 14, 35], unit="D")
    dated = pd.DataFrame({"customer_id": "c", "week": weeks, "purchases": [2, 1, 0, 0]})
    filled = pd.DataFrame({"customer_id": "c", "week": np.arange(6), "purchases": [2, 1, 0, np.nan, np.nan, 0]})
    assert truth.score(dated) == pytest.approx(truth.score(filled), rel=1e-12)
    # a grid step given explicitly: 7 days on dates, 0.5 on numbers (each week then is two steps)
    daily = HMM(2, emission={"purchases": "poisson"}, id_col="customer_id", time_col="week", time_step="7D",
                n_init=1, random_state=0).fit(pd.concat([dated, dated.assign(customer_id="d")]))
    assert daily.time_step_ == pd.Timedelta("7D").value
    half = HMM(2, emission={"purchases": "poisson"}, id_col="customer_id", time_col="week", time_step=0.5, n_init=1,
               random_state=0).fit(filled.fillna(0))
    A = half.transmat_
    e = poisson.pmf(2, half.rates_["purchases"].to_numpy())
    first = pd.DataFrame({"customer_id": "z", "week": [0, 1], "purchases": [2, 2]})
    assert half.score(first) == pytest.approx(np.log((half.startprob_ * e) @ (A @ A) @ e), rel=1e-12)
    with pytest.raises(ModelError, match="duration such as '7D'"):
        HMM(2, emission={"purchases": "poisson"}, id_col="customer_id", time_col="week", time_step=7).fit(dated)

    base = pd.DataFrame({"id": [1, 1, 1, 2, 2], "time": [0, 1, 2, 0, 1], "y": [0, 1, 2, 1, 0]})
    with pytest.raises(DataError, match=r"entity 2 jumps from time=0.0 to 2.5: expected a whole number of grid steps"):
        HMM(2, emission="poisson").fit(base.assign(time=[0, 1, 2, 0, 1]).pipe(
            lambda d: d.assign(time=d["time"].where(d.index != 4, 2.5))))
    with pytest.raises(DataError, match=r"entity 1 jumps from time=1 to 7 \(6 grid steps of 1\).*time_gaps='error'"):
        HMM(2, emission="poisson", time_gaps="error").fit(base.assign(time=[0, 1, 7, 0, 1]))
    # 'consecutive' is the explicit opt-out: rows are steps whatever the times say
    m = HMM(2, emission="poisson", time_gaps="consecutive", n_init=1, random_state=0).fit(base)
    assert m.score(base.assign(time=[0, 1, 7, 0, 1])) == pytest.approx(m.score(base), rel=1e-12)
    # the grid step found at fit is used when scoring: a 2-step jump in new data is two steps
    fitted = HMM(2, emission="poisson", n_init=1, random_state=0).fit(base)
    A = fitted.transmat_
    two = pd.DataFrame({"id": [9, 9], "time": [0, 2], "y": [1, 1]})
    lam = fitted.rates_["y"].to_numpy()
    e = poisson.pmf(1, lam)
    assert fitted.score(two) == pytest.approx(np.log((fitted.startprob_ * e) @ (A @ A) @ e), rel=1e-12)
