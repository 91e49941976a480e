from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probwb.core import (
    check_columns,
    check_dataframe,
    check_finite,
    check_nonnegative,
    check_probabilities,
    check_random_state,
    check_same_length,
    check_stochastic,
    load_model,
    save_model,
)
from probwb.core.io import atomic_write_text
from probwb.errors import DataError, ModelFileError, ProbabilityError


def test_random_state_same_seed_same_numbers():
    a = check_random_state(3).random(5)
    b = check_random_state(3).random(5)
    np.testing.assert_array_equal(a, b)
    g = np.random.default_rng(1)
    assert check_random_state(g) is g
    with pytest.raises(DataError, match="random_state"):
        check_random_state("seed")
    with pytest.raises(DataError, match="non-negative"):
        check_random_state(-1)


def test_check_dataframe_and_columns():
    with pytest.raises(DataError, match="must be a pandas DataFrame, found list"):
        check_dataframe([1, 2])
    with pytest.raises(DataError, match="empty"):
        check_dataframe(pd.DataFrame({"a": []}))
    df = pd.DataFrame({"spend": [1.0], "store_id": ["S1"]})
    with pytest.raises(DataError, match=r"'spnd' \(did you mean 'spend'\?\)"):
        check_columns(df, ["spnd"])
    check_columns(df, ["spend"])


def test_numeric_checks_name_the_position():
    with pytest.raises(DataError, match="NaN value.*position \\[1\\]"):
        check_finite([1.0, np.nan])
    with pytest.raises(DataError, match="infinite"):
        check_finite([np.inf])
    with pytest.raises(DataError, match="non-negative, found -2 at position \\[1\\]"):
        check_nonnegative([1, -2])
    with pytest.raises(ProbabilityError, match=r"\[0, 1\], found 1.5"):
        check_probabilities([0.2, 1.5])
    with pytest.raises(DataError, match="y_true has 2, y_prob has 3"):
        check_same_length(y_true=[1, 2], y_prob=[1, 2, 3])


def test_check_stochastic_names_the_row_and_does_not_renormalise():
    m = np.array([[0.5, 0.5], [0.3, 0.6]])
    with pytest.raises(ProbabilityError, match="row at_risk sums to 0.9"):
        check_stochastic(m, labels=["active", "at_risk"])
    with pytest.raises(ProbabilityError, match="negative"):
        check_stochastic([[1.2, -0.2]])
    ok = check_stochastic([[1.0, 0.0], [0.25, 0.75]])
    assert ok.shape == (2, 2)


class _Thing:
    def __init__(self, x):
        self.x = x


def test_save_load_roundtrip_and_foreign_files(tmp_path):
    from probwb.mdp import MDP

    model = MDP(np.array([[[0.5, 0.5], [0.0, 1.0]]]), np.array([[1.0], [0.0]]), 0.9)
    path = save_model(tmp_path / "m.pwb", model, config={"x": 4})
    assert load_model(path, MDP).R.tolist() == model.R.tolist()
    with pytest.raises(ModelFileError, match="expected 'BayesNet'"):
        from probwb.bn import BayesNet

        load_model(path, BayesNet)
    with pytest.raises(ModelFileError, match="cannot save a .*_Thing: expected one of probwb's model classes"):
        save_model(tmp_path / "t.pwb", _Thing(4), config={})
    bad = tmp_path / "bad.pwb"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a probwb model file"):
        load_model(bad, MDP)
    truncated = tmp_path / "trunc.pwb"
    truncated.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ModelFileError, match="damaged|not a probwb model file"):
        load_model(truncated, MDP)
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "missing.pwb", MDP)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "second")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_import_probwb_is_light():
    import subprocess
    import sys

    code = "import sys, probwb, probwb.datasets; print(sorted(m for m in ('pymc','arviz','matplotlib','pgmpy','statsmodels') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_atomic_write_uses_umask_mode(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "r.html", "x")
        assert (path.stat().st_mode & 0o777) == 0o644
    finally:
        os.umask(umask)
