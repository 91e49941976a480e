"""MDP construction and validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from probwb.errors import DataError, ModelError, ProbabilityError, StateError
from probwb.mdp import MDP
from probwb.mdp.examples import forest, random_sparse_arrays
from probwb.mdp.model import check_transition_rows, stack_transitions


def _dense_example():
    T = np.array([[[0.5, 0.5], [0.2, 0.8]], [[1.0, 0.0], [0.0, 1.0]]])
    R = np.array([[1.0, 0.0], [0.0, 2.0]])
    return T, R


def test_dense_list_and_stacked_inputs_agree():
    T, R = _dense_example()
    m1 = MDP(T, R, 0.9, states=["x", "y"], actions=["go", "stay"])
    m2 = MDP([sp.csr_matrix(T[0]), T[1]], R, 0.9, states=["x", "y"], actions=["go", "stay"])
    m3 = MDP(sp.csr_matrix(T.reshape(4, 2)), R, 0.9)
    for m in (m2, m3):
        np.testing.assert_array_equal(m.to_dense(), T)
        np.testing.assert_array_equal(m.R, m1.R)
    assert m1.P.shape == (4, 2)
    assert m3.states == ["s0", "s1"] and m3.actions == ["a0", "a1"]
    assert m1.rewards_frame().loc["y", "stay"] == 2.0


def test_row_sum_error_names_state_action_and_sum():
    T, R = _dense_example()
    T[1, 0] = [0.7, 0.2]
    with pytest.raises(ProbabilityError, match=r"state 'x', action 'stay'.*sums to 0\.9"):
        MDP(T, R, 0.9, states=["x", "y"], actions=["go", "stay"])


def test_negative_and_nan_probabilities_rejected():
    T, R = _dense_example()
    T[0, 1] = [-0.2, 1.2]
    with pytest.raises(ProbabilityError, match="negative probability"):
        MDP(T, R, 0.9)
    T, R = _dense_example()
    T[0, 1, 0] = np.nan
    with pytest.raises(ProbabilityError, match="non-finite"):
        MDP(T, R, 0.9)


def test_empty_rows_and_trailing_empty_rows_are_reported():
    P = sp.csr_matrix((np.array([1.0, 1.0, 1.0]), np.array([0, 1, 0]), np.array([0, 1, 2, 3, 3])), shape=(4, 2))
    with pytest.raises(ProbabilityError, match=r"\(state 1, action 1\) sums to 0"):
        check_transition_rows(P, 2)


def test_nan_reward_is_named():
    T, R = _dense_example()
    R[1, 0] = np.nan
    with pytest.raises(DataError, match="state 's1'"):
        MDP(T, R, 0.9)


def test_reward_shapes():
    T, R = _dense_example()
    with pytest.raises(ModelError, match=r"\(S, A\)"):
        MDP(T, np.zeros((3, 2)), 0.9)
    m = MDP(T, np.array([1.0, 2.0]), 0.9)  # R(s)
    np.testing.assert_array_equal(m.reward_matrix, [[1, 1], [2, 2]])
    Rsas = np.zeros((2, 2, 2))
    Rsas[0, 0, 1] = 10.0  # from x via go, landing in y
    m = MDP(T, Rsas, 0.9)
    assert m.reward_matrix[0, 0] == pytest.approx(5.0)


def test_discount_and_names_checked():
    T, R = _dense_example()
    with pytest.raises(ModelError, match="discount"):
        MDP(T, R, 1.5)
    with pytest.raises(ModelError, match="unique"):
        MDP(T, R, 0.9, states=["x", "x"])
    m = MDP(T, R, 0.9, states=["active", "churned"], actions=["go", "stay"])
    with pytest.raises(StateError, match="did you mean 'active'"):
        m.state_index("actve")


def test_from_dataframe_roundtrip_and_unknown_name():
    T, R = _dense_example()
    m = MDP(T, R, 0.9, states=["x", "y"], actions=["go", "stay"])
    df = m.to_dataframe()
    m2 = MDP.from_dataframe(df, 0.9, states=["x", "y"], actions=["go", "stay"])
    np.testing.assert_allclose(m2.to_dense(), T)
    np.testing.assert_allclose(m2.R, m.R)
    bad = df.copy()
    bad.loc[0, "next_state"] = "z"
    with pytest.raises(StateError, match="'z'"):
        MDP.from_dataframe(bad, 0.9, states=["x", "y"], actions=["go", "stay"])
    missing = df[~((df.state == "y") & (df.action == "go"))]
    with pytest.raises(ProbabilityError, match="state 'y', action 'go'"):
        MDP.from_dataframe(missing, 0.9, states=["x", "y"], actions=["go", "stay"])


def test_from_simulator():
    def step(s, a):
        if a == "stay":
            return [(s, 1.0, 0.0)]
        return [("x", 0.5, 1.0), ("y", 0.5, 3.0)]

    m = MDP.from_simulator(step, ["x", "y"], ["go", "stay"], 0.8)
    assert m.reward_matrix[0, 0] == pytest.approx(2.0)
    assert m.transition_matrix("stay").toarray().tolist() == [[1, 0], [0, 1]]


def test_stack_transitions_int32_and_forest_is_valid():
    P, _ = random_sparse_arrays(50, random_state=1)
    assert stack_transitions(P).indices.dtype == np.int32
    f = forest(7)
    assert f.P.nnz == 3 * 7
    assert isinstance(f.to_dataframe(), pd.DataFrame)


def test_transposed_rewards_hint():
    T = np.zeros((2, 3, 3))
    T[:, :, 0] = 1.0
    with pytest.raises(ModelError, match="transposed"):
        MDP(T, np.zeros((2, 3)), 0.9)


def test_save_load_roundtrip(tmp_path):
    from probwb.errors import ModelFileError

    m = forest(5)
    path = m.save(tmp_path / "forest.pwb")
    back = MDP.load(path)
    np.testing.assert_array_equal(back.to_dense(), m.to_dense())
    assert back.actions == ["wait", "cut"]
    (tmp_path / "junk.pwb").write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        MDP.load(tmp_path / "junk.pwb")
