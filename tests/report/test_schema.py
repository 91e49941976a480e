"""Spec validation: every mistake fails before any work, naming the key path and the nearest valid key."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probwb.errors import SpecError
from probwb.report import validate_spec
from probwb.report.data import check_data_section, load_data


def _spec(**over):
    spec = {
        "name": "x",
        "data": {"source": "simulate_coupon_campaign", "args": {"n_customers": 200, "random_state": 1},
                 "table": "coupons"},
        "model": {"kind": "fake", "group": "coupon"},
    }
    spec.update(over)
    return spec


def test_valid_spec_passes_and_is_normalised(fake_family):
    v = validate_spec(_spec())
    assert v.kind == "fake" and v.module is fake_family and v.title == "x"
    assert v.spec["data"]["args"] == {"n_customers": 200, "random_state": 1}


def test_top_level_typo_names_nearest_key(fake_family):
    spec = _spec()
    spec["descripton"] = "oops"
    with pytest.raises(SpecError, match=r"descripton: unknown key \(did you mean description\?\)"):
        validate_spec(spec)


def test_family_key_typo_names_key_path_and_nearest(fake_family):
    spec = _spec(model={"kind": "fake", "n_state": 3})
    with pytest.raises(SpecError, match=r"model\.n_state: unknown key \(did you mean model\.n_states\?\)"):
        validate_spec(spec)


def test_wrong_type_names_expected_and_found(fake_family):
    with pytest.raises(SpecError, match=r"model\.n_states must be int .*found str 'three'"):
        validate_spec(_spec(model={"kind": "fake", "n_states": "three"}))
    with pytest.raises(SpecError, match=r"model\.n_states must be int .*found bool"):
        validate_spec(_spec(model={"kind": "fake", "n_states": True}))
    # an int is a valid float
    validate_spec(_spec(model={"kind": "fake", "prior_scale": 2}))
    with pytest.raises(SpecError, match=r"^fit\.draws must be int"):
        validate_spec(_spec(fit={"draws": 10.5}))
    with pytest.raises(SpecError, match=r"^fit\.drws: unknown key \(did you mean fit\.draws\?\)"):
        validate_spec(_spec(fit={"drws": 10}))
    with pytest.raises(SpecError, match=r"^model must be dict"):
        validate_spec(_spec(model=["kind", "fake"]))


def test_unknown_kind_names_nearest(fake_family):
    with pytest.raises(SpecError, match=r"model\.kind: unknown model kind 'hmn' \(did you mean 'hmm'\?\)"):
        validate_spec(_spec(model={"kind": "hmn"}))
    with pytest.raises(SpecError, match=r"model\.kind is missing"):
        validate_spec(_spec(model={}))
    with pytest.raises(SpecError, match=r"^model is missing"):
        spec = _spec()
        del spec["model"]
        validate_spec(spec)


def test_missing_family_fails_validation_clearly(fake_family):
    with pytest.raises(SpecError, match=r"'ghost' family is not available .*probwb\.no_such_family\.spec"):
        validate_spec(_spec(model={"kind": "ghost"}))


def test_family_validate_spec_hook_runs(fake_family):
    with pytest.raises(SpecError, match=r"model\.group must be 'coupon' or 'segment'"):
        validate_spec(_spec(model={"kind": "fake", "group": "store"}))


def test_data_section_errors():
    with pytest.raises(SpecError, match=r"data\.source: unknown data source 'simulate_coupon_campain' "
                                        r"\(did you mean 'simulate_coupon_campaign'\?\)"):
        check_data_section({"source": "simulate_coupon_campain"})
    with pytest.raises(SpecError, match=r"data\.args\.n_customer: .* \(did you mean data\.args\.n_customers\?\)"):
        check_data_section({"source": "simulate_coupon_campaign", "args": {"n_customer": 10}})
    with pytest.raises(SpecError, match=r"data\.args\.n_customers must be int.*found str"):
        check_data_section({"source": "simulate_coupon_campaign", "args": {"n_customers": "many"}})
    with pytest.raises(SpecError, match=r"data\.table: .*no table 'coupns' \(did you mean 'coupons'\?\)"):
        check_data_section({"source": "simulate_coupon_campaign", "table": "coupns"})
    with pytest.raises(SpecError, match=r"data\.table: load_cdnow\(\) returns a single object"):
        check_data_section({"source": "load_cdnow", "table": "x"})
    with pytest.raises(SpecError, match=r"data\.sorce: unknown key \(did you mean data\.source\?\)"):
        check_data_section({"sorce": "load_cdnow"})
    with pytest.raises(SpecError, match=r"data\.path is missing"):
        check_data_section({"source": "csv"})
    with pytest.raises(SpecError, match=r"data\.path: file 'nowhere\.csv' not found"):
        check_data_section({"source": "csv", "path": "nowhere.csv"})


def test_csv_path_is_relative_to_the_spec_folder(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("a,b\n1,x\n2,y\n")
    monkeypatch.chdir("/")
    data = check_data_section({"source": "csv", "path": "d.csv"}, base_dir=tmp_path)
    assert data["path"] == str(tmp_path / "d.csv")
    loaded = load_data(data)
    assert list(loaded.frame.columns) == ["a", "b"] and len(loaded.frame) == 2
    with pytest.raises(SpecError, match=r"data\.args\.sepp: pandas\.read_csv has no argument 'sepp' "
                                        r"\(did you mean data\.args\.sep\?\)"):
        check_data_section({"source": "csv", "path": "d.csv", "args": {"sepp": ";"}}, base_dir=tmp_path)


def test_report_section_typo(fake_family):
    with pytest.raises(SpecError, match=r"report\.sections\[1\]: unknown section 'figurs' "
                                        r"\(did you mean 'figures'\?\)"):
        validate_spec(_spec(report={"sections": ["data", "figurs"]}))
    with pytest.raises(SpecError, match=r"report\.max_row: unknown key \(did you mean report\.max_rows\?\)"):
        validate_spec(_spec(report={"max_row": 3}))


def test_yaml_problems_are_spec_errors(tmp_path, fake_family):
    dup = tmp_path / "dup.yaml"
    dup.write_text("name: a\nmodel: {kind: fake}\nname: b\n")
    with pytest.raises(SpecError, match=r"line 3: key 'name' appears twice"):
        validate_spec(dup)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        validate_spec(bad)
    listy = tmp_path / "listy.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="must hold a mapping"):
        validate_spec(listy)
    with pytest.raises(SpecError, match="cannot read spec file"):
        validate_spec(tmp_path / "absent.yaml")
    stem = tmp_path / "from_stem.yaml"
    stem.write_text("model: {kind: fake}\n")
    assert validate_spec(stem).name == "from_stem"


def test_validation_happens_before_any_work(fake_spec, fake_family):
    from probwb.report import run_report

    with pytest.raises(SpecError, match=r"model\.n_state"):
        run_report(fake_spec(model_extra="  n_state: 2\n"))
    assert fake_family.RUNS == []
    run_report(fake_spec())
    assert len(fake_family.RUNS) == 1


def test_every_problem_is_reported_at_once(fake_family, tmp_path):
    from probwb.report.schema import spec_problems

    spec = _spec(descripton="oops", model={"kind": "fake", "n_state": 3, "prior_scale": "big"},
                 fit={"draws": 10.5, "random_state": -1}, report={"sections": ["figurs"], "max_row": 3},
                 data={"source": "csv", "path": "nowhere.csv"})
    expected = [r"descripton: unknown key \(did you mean description\?\)",
                r"model\.n_state: unknown key \(did you mean model\.n_states\?\)",
                r"model\.prior_scale must be float .*found str 'big'",
                r"fit\.draws must be int",
                r"fit\.random_state: unknown key; valid keys here: interval, draws",
                r"fit\.random_state must be a non-negative integer, found int -1",
                r"report\.max_row: unknown key",
                r"report\.sections\[0\]: unknown section 'figurs' \(did you mean 'figures'\?\)",
                r"data\.path: file 'nowhere\.csv' not found"]
    with pytest.raises(SpecError) as info:
        validate_spec(spec, base_dir=tmp_path)
    problems = info.value.problems
    assert len(problems) == len(expected)
    for pattern, found in zip(expected, problems, strict=True):
        assert re.match(pattern, found), (pattern, found)
    assert str(info.value).splitlines() == problems
    assert spec_problems(spec, base_dir=tmp_path) == problems
    # the family's own check runs once its sections are well formed, alongside other sections' problems
    both = spec_problems(_spec(model={"kind": "fake", "group": "store"}, report={"max_row": 1}))
    assert len(both) == 2 and both[0].startswith("report.max_row: unknown key (did you mean report.max_rows?)")
    assert both[1] == "model.group must be 'coupon' or 'segment', found 'store'"
    assert spec_problems(_spec()) == []


# identifiers of letters, digits and '_' (the 'v' keeps them off keywords and function names)
_NAMES = st.text(alphabet="abcxyz019_", min_size=0, max_size=6).map(lambda s: "v" + s)


@settings(max_examples=40, deadline=None)
@given(names=st.lists(_NAMES, min_size=5, max_size=5, unique=True), data=st.data())
def test_formula_columns_finds_exactly_the_columns(names, data):
    from probwb.report.schema import formula_columns

    y, a, b, c, g = names
    form = data.draw(st.sampled_from([
        f"{y} ~ {a} + {b}:{c} + (1 | {g})",
        f"{y} ~ C({a}, Treatment(reference='x')) + np.log({b}) + {c} * {g}",
        f"{y} | trials({a}) ~ 1 + {b} + {c} + (1 + {b} || {g})",
        f"{y} ~ I({a} ** 2) + {b} - 1 + {c} + {g}",
    ]))
    assert sorted(formula_columns(form)) == sorted(names)


def test_formula_columns_missing_from_the_data(tmp_path, fake_family):
    from probwb.report import run_report
    from probwb.report.schema import spec_problems

    pytest.importorskip("probwb.stats.spec")
    (tmp_path / "d.csv").write_text("stay,age_band,treatment\n3,young,a\n5,old,b\n4,old,a\n")
    spec = {"name": "s", "data": {"source": "csv", "path": "d.csv"}, "model": {"kind": "stats"},
            "tests": [{"test": "anova", "args": {"formula": "stay ~ age_bnd * treatment"}},
                      {"test": "anova", "args": {"formula": "stay ~ treatment"}},
                      {"test": "anova", "args": {"formula": "los ~ age_band"}}]}
    assert spec_problems(spec, base_dir=tmp_path) == [
        "tests[0].args.formula: column 'age_bnd' is not in table 'd.csv' (did you mean 'age_band'?); "
        "columns: stay, age_band, treatment",
        "tests[2].args.formula: column 'los' is not in table 'd.csv'; columns: stay, age_band, treatment"]
    # validate_spec loads no data unless asked, so run_report checks the columns once it has loaded them
    validate_spec(spec, base_dir=tmp_path)
    with pytest.raises(SpecError, match=r"column 'age_bnd'") as info:
        validate_spec(spec, base_dir=tmp_path, check_columns=True)
    assert len(info.value.problems) == 2
    fake = _spec(tests=[{"args": {"formula": "redeemed ~ cupon + segment"}}])
    with pytest.raises(SpecError, match=r"^tests\[0\]\.args\.formula: column 'cupon' is not in table 'coupons' "
                                        r"\(did you mean 'coupon'\?\)"):
        run_report(fake)
    assert fake_family.RUNS == []  # refused before the fit
