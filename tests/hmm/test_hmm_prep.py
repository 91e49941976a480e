"""Turning a long DataFrame into sequences in blocks of rows (#22): same sequences, bounded temporaries."""

from __future__ import annotations

import warnings
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.errors import DataError
from probwb.hmm import HMM, _chunks


def _model(time_gaps: str = "power", time_step=None) -> HMM:
    return HMM.from_params(
        np.array([0.6, 0.4]), np.array([[0.9, 0.1], [0.2, 0.8]]),
        {"count": ("poisson", {"rates": np.array([0.5, 3.0])}),
         "value": ("gaussian", {"means": np.array([-1.0, 1.5]), "covars": np.array([1.0, 1.0])})},
        id_col="id", time_col="week", time_gaps=time_gaps, time_step=time_step)


def _frame(rng: np.random.Generator, n_seq: int, missing: float, jumps: float, shuffle: bool,
           datetimes: bool, bad: str | None) -> pd.DataFrame:
    lengths = rng.integers(1, 12, n_seq)
    ids = np.repeat(rng.permutation(np.arange(100, 100 + n_seq)), lengths)
    steps = np.concatenate([np.r_[0, np.where(rng.random(k - 1) < jumps, rng.integers(2, 4, k - 1), 1)]
                            for k in lengths])
    week = np.concatenate([np.cumsum(s[:k]) for s, k in zip(np.split(steps, np.cumsum(lengths)[:-1]), lengths,
                                                                 strict=True)])
    count = rng.poisson(1.5, ids.shape[0]).astype(float)
    value = rng.normal(0.0, 1.0, ids.shape[0])
    for col in (count, value):
        col[rng.random(ids.shape[0]) < missing] = np.nan
    frame = pd.DataFrame({"id": ids, "week": week, "count": count, "value": value})
    if datetimes:
        frame["week"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(7 * frame["week"], unit="D")
    if bad == "negative":
        frame.loc[frame.index[-1], "count"] = -1.0
    elif bad == "duplicate" and (lengths > 1).any():
        k = int(np.flatnonzero(lengths > 1)[0])
        first = int(np.r_[0, np.cumsum(lengths)][k])
        frame.loc[first + 1, "week"] = frame.loc[first, "week"]
    elif bad == "off_grid" and not datetimes and (lengths > 1).any():
        frame["week"] = frame["week"].astype(float)
        frame.loc[frame.index[int(np.flatnonzero(np.repeat(lengths, lengths) > 1)[-1])], "week"] += 0.5
    if shuffle:
        frame = frame.iloc[rng.permutation(frame.shape[0])]
    return frame


def _prepare(model: HMM, frame: pd.DataFrame, budget: int):
    with mock.patch.object(_chunks, "CHUNK_BYTES", budget):
        try:
            return model._to_sequences(frame, fitting=False), model.score(frame, per_sequence=True)
        except (DataError, ValueError) as exc:
            return type(exc), str(exc)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_seq=st.integers(1, 40), missing=st.sampled_from([0.0, 0.3]),
       jumps=st.sampled_from([0.0, 0.2]), shuffle=st.booleans(), datetimes=st.booleans(),
       gaps=st.sampled_from(["power", "error", "consecutive"]),
       bad=st.sampled_from([None, None, "negative", "duplicate", "off_grid"]),
       budget=st.sampled_from([1, 700, 3_000]))
def test_preparation_in_blocks_gives_the_same_sequences_and_errors(seed, n_seq, missing, jumps, shuffle,
                                                                   datetimes, gaps, bad, budget):
    rng = np.random.default_rng(seed)
    frame = _frame(rng, n_seq, missing, jumps, shuffle, datetimes, bad)
    model = _model(gaps)
    # a budget of 1 byte makes every block one row; 10**12 one block for all rows (the unblocked computation)
    got, ref = _prepare(model, frame, budget), _prepare(model, frame, 10**12)
    if isinstance(ref[0], type):
        assert got == ref
        return
    (seq, ll), (seq0, ll0) = got, ref
    for name in ("ids", "lengths", "row_seq", "row_pos", "source_rows", "times"):
        np.testing.assert_array_equal(getattr(seq, name), getattr(seq0, name))
    assert (seq.gaps is None) == (seq0.gaps is None)
    if seq.gaps is not None:
        np.testing.assert_array_equal(seq.gaps, seq0.gaps)
    for c in seq0.obs:
        np.testing.assert_array_equal(seq.obs[c], seq0.obs[c])
    # the forward-backward chunks follow the same budget: per-sequence sums may differ in the last bits
    pd.testing.assert_series_equal(ll, ll0, check_exact=False, rtol=1e-12, atol=1e-12)
    # the sorted rows are the caller's rows, permuted: every value lands on its own entity and time
    src = frame.iloc[seq.source_rows]
    np.testing.assert_array_equal(src["id"].to_numpy(), seq.ids[seq.row_seq].astype(np.int64))
    np.testing.assert_array_equal(src["count"].to_numpy(), seq.obs["count"])


def test_time_step_learned_in_blocks_is_the_smallest_step():
    rng = np.random.default_rng(5)
    frame = _frame(rng, 50, 0.0, 0.3, False, False, None)
    frame["week"] = frame["week"] * 5.0
    # only the last entity with two rows or more has the smallest step: the last block must find it
    last = frame.groupby("id", sort=False)["week"].size()
    last = last[last > 1].index[-1]
    rows = frame.index[frame["id"] == last]
    frame.loc[rows[0], "week"] = frame.loc[rows[1], "week"] - 2.5
    frame = frame.iloc[rng.permutation(frame.shape[0])]
    steps = []
    for budget in (1, 10**12):
        with mock.patch.object(_chunks, "CHUNK_BYTES", budget), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = HMM(2, emission={"count": "poisson"}, id_col="id", time_col="week", n_init=1, n_iter=2,
                    random_state=0).fit(frame)
            steps.append(m.time_step_)
    assert steps[0] == steps[1]
    s = frame.sort_values(["id", "week"])
    d = s.groupby("id")["week"].diff().dropna()
    assert steps[0] == d.min() == 2.5


@pytest.mark.parametrize("shuffle", [False, True])
def test_preparation_peak_is_the_kept_arrays_not_full_size_temporaries(shuffle, peak_bytes):
    """The sequences keep 3 int64/float arrays (24 B/obs) for sorted input; the unblocked preparation peaked at ~91
    B/obs, and storing the identity row order as an array cost 8 B/obs more (42.4 B/obs measured, #22)."""
    rng = np.random.default_rng(1)
    n_seq, L = 20_000, 20
    frame = pd.DataFrame({"id": np.repeat(np.arange(n_seq), L), "week": np.tile(np.arange(L), n_seq),
                          "count": rng.poisson(1.0, n_seq * L)})
    if shuffle:
        frame = frame.iloc[rng.permutation(frame.shape[0])]
    model = HMM.from_params(np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.1, 0.9]]),
                            {"count": ("poisson", {"rates": np.array([0.5, 2.0])})}, id_col="id", time_col="week")
    per_obs = peak_bytes(lambda: model.score(frame)) / frame.shape[0]
    # kept: row codes, row positions, encoded counts (+ source rows and sorted times when the rows were shuffled)
    limit = 60.0 if shuffle else 38.0
    assert per_obs < limit, f"{per_obs:.1f} bytes per observation"


@pytest.mark.parametrize("shuffle", [False, True])
def test_predict_proba_peak_has_no_gather_or_frame_copy(shuffle, peak_bytes):
    """predict_proba keeps the posteriors once: no row-order gather of them, no copy into the DataFrame (#22).

    Kept for the call: the sequences (32 B/obs, + sorted times when shuffled) and the posteriors (8 S B/obs,
    S = 3 here); a gather copy and pandas' copy into the frame each added another 8 S B/obs.
    """
    rng = np.random.default_rng(2)
    n_seq, L = 20_000, 20
    frame = pd.DataFrame({"id": np.repeat(np.arange(n_seq), L), "week": np.tile(np.arange(L), n_seq),
                          "count": rng.poisson(1.0, n_seq * L)})
    if shuffle:
        frame = frame.iloc[rng.permutation(frame.shape[0])]
    model = HMM.from_params(np.array([0.4, 0.3, 0.3]), np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1],
                                                                  [0.1, 0.1, 0.8]]),
                            {"count": ("poisson", {"rates": np.array([0.3, 1.0, 3.0])})},
                            id_col="id", time_col="week")
    out = {}
    per_obs = peak_bytes(lambda: out.setdefault("p", model.predict_proba(frame))) / frame.shape[0]
    # the result is still the caller's rows in the caller's order, each row a distribution
    assert out["p"].index.equals(frame.index)
    np.testing.assert_allclose(out["p"].to_numpy().sum(axis=1), 1.0, rtol=0, atol=1e-12)
    limit = 90.0 if shuffle else 70.0
    assert per_obs < limit, f"{per_obs:.1f} bytes per observation"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_seq=st.integers(1, 30), missing=st.sampled_from([0.0, 0.3]),
       jumps=st.sampled_from([0.0, 0.2]), shuffle=st.booleans(), budget=st.sampled_from([1, 700, 10**12]))
def test_predict_proba_written_per_chunk_equals_the_gathered_posteriors(seed, n_seq, missing, jumps, shuffle,
                                                                        budget):
    """Posteriors written straight to the caller's rows are exactly the kept ones gathered and reordered."""
    rng = np.random.default_rng(seed)
    frame = _frame(rng, n_seq, missing, jumps, shuffle, False, None)
    frame.index = rng.permutation(np.arange(10, 10 + frame.shape[0]))
    model = _model()
    with mock.patch.object(_chunks, "CHUNK_BYTES", budget):
        got = model.predict_proba(frame)
        seq, res = model._forward(frame, posteriors=True)
    ref = np.empty_like(res.gamma)
    ref[seq.source_rows] = res.rows(seq.row_seq, seq.row_pos)
    assert got.index.equals(frame.index) and list(got.columns) == list(model.state_names_)
    np.testing.assert_array_equal(got.to_numpy(), ref)
    # a list of arrays keeps its (sequence, step) index
    arrays = [np.c_[rng.poisson(1.5, int(k)), rng.normal(size=int(k))] for k in rng.integers(1, 9, 1 + n_seq % 5)]
    lst = model.predict_proba(arrays)
    seq, res = model._forward(arrays, posteriors=True)
    np.testing.assert_array_equal(lst.to_numpy(), res.rows(seq.row_seq, seq.row_pos))
    assert list(lst.index.names) == ["sequence", "step"] and lst.shape[0] == sum(a.shape[0] for a in arrays)
