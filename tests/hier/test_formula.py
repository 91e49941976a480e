"""The formula parser and design encoding (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probwb.errors import DataError, SpecError
from probwb.hier.formula import build_design, parse_formula


def test_parse_fixed_and_varying_terms():
    f = parse_formula("readmitted ~ age + comorbidities + (1 + age | hospital)")
    assert f.response == "readmitted" and f.trials is None and f.intercept
    assert f.fixed == ("age", "comorbidities")
    assert len(f.groups) == 1
    g = f.groups[0]
    assert g.factors == ("hospital",) and g.intercept and g.slopes == ("age",)
    assert f.columns == ["readmitted", "age", "comorbidities", "hospital"]


def test_parse_nested_crossed_and_no_intercept():
    f = parse_formula("y ~ x - 1 + (1 | region/store) + (0 + x | week)")
    assert not f.intercept and f.fixed == ("x",)
    assert [g.name for g in f.groups] == ["region", "region:store", "week"]
    assert f.groups[2].intercept is False and f.groups[2].slopes == ("x",)
    f2 = parse_formula("y ~ 0 + x + (1 | a:b)")
    assert not f2.intercept and f2.groups[0].factors == ("a", "b")
    f3 = parse_formula("y ~ 1")
    assert f3.fixed == () and f3.groups == () and f3.intercept


def test_parse_binomial_and_forced_categorical():
    f = parse_formula("redeemed | trials(offers) ~ C(week) + (1 | store)")
    assert f.response == "redeemed" and f.trials == "offers"
    assert f.fixed == ("week",) and f.forced_categorical == ("week",)


@pytest.mark.parametrize("bad, match", [
    ("y x", "exactly one '~'"),
    ("y ~ ", "needs a response"),
    ("y ~ x + (1 | g", "unbalanced"),
    ("y ~ x:z", "interactions are not supported"),
    ("y ~ x + x", "appears twice"),
    ("y ~ (1 | g) + (x | g)", "more than one group term"),
    ("y ~ (0 | g)", "varies nothing"),
    ("y | n ~ x", "trials"),
    ("y ~ x - z", "only '- 1'"),
    ("y ~ (1 | g | h)", "exactly one '|'"),
])
def test_parse_errors(bad, match):
    with pytest.raises(SpecError, match=match):
        parse_formula(bad)


def _df():
    return pd.DataFrame({
        "y": [0, 1, 1, 0, 1, 0],
        "age": [40.0, 50.0, 60.0, 70.0, 80.0, 90.0],
        "band": pd.Categorical(["<50", "50-69", "70+", "70+", "<50", "50-69"], categories=["<50", "50-69", "70+"]),
        "sex": ["F", "M", "F", "M", "F", "M"],
        "hospital": ["A", "A", "B", "B", "C", "C"],
        "ward": ["w1", "w2", "w1", "w2", "w1", "w1"],
    })


def test_design_standardises_numeric_and_codes_categorical():
    df = _df()
    d = build_design(df, "y ~ age + band + sex + (1 + age | ward) + (1 | hospital/ward)")
    info = d.info
    assert info.coef_names == ["age", "band[50-69]", "band[70+]", "sex[M]"]
    np.testing.assert_allclose(d.X[:, 0], (df["age"] - 65.0) / df["age"].std(ddof=0))
    np.testing.assert_array_equal(d.X[:, 1], [0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(d.X[:, 3], [0, 1, 0, 1, 0, 1])
    assert info.group_levels["ward"] == ["w1", "w2"]
    assert info.group_levels["hospital:ward"] == ["A:w1", "A:w2", "B:w1", "B:w2", "C:w1"]
    np.testing.assert_array_equal(d.group_idx["hospital:ward"], [0, 1, 2, 3, 4, 4])
    assert info.group_columns["ward"] == ["Intercept", "age"]
    assert d.group_Z["ward"].shape == (6, 2)


def test_new_rows_use_training_encoding_and_flag_unseen_groups():
    df = _df()
    train = build_design(df, "y ~ age + sex + (1 | hospital)")
    new = pd.DataFrame({"age": [65.0], "sex": ["M"], "hospital": ["Z"]})
    d = build_design(new, train.info.formula, train.info, require_response=False)
    np.testing.assert_allclose(d.X, [[0.0, 1.0]])
    assert d.group_idx["hospital"].tolist() == [-1]
    with pytest.raises(DataError, match="not seen in training"):
        build_design(new.assign(sex="X"), train.info.formula, train.info, require_response=False)


def test_design_errors_name_the_problem():
    df = _df()
    with pytest.raises(DataError, match="did you mean 'hospital'"):
        build_design(df, "y ~ age + (1 | hospitl)")
    with pytest.raises(DataError, match="single level"):
        build_design(df.assign(hospital="A"), "y ~ age + (1 | hospital)")
    with pytest.raises(DataError, match="missing value"):
        build_design(df.assign(age=[1.0, np.nan, 3, 4, 5, 6]), "y ~ age")
    with pytest.raises(DataError, match="response 'y' has 1 missing"):
        build_design(df.assign(y=[0, 1, np.nan, 0, 1, 0]), "y ~ age")
    with pytest.raises(DataError, match="constant"):
        build_design(df.assign(age=5.0), "y ~ age")
    with pytest.raises(DataError, match="single level"):
        build_design(df.assign(sex="F"), "y ~ sex")
    with pytest.raises(DataError, match="must be numeric"):
        build_design(df.assign(y=["a"] * 6), "y ~ age")
