"""Bad input that used to escape as a bare KeyError / ValueError / TypeError, or to pass silently.

Each case gives a :mod:`probwb.errors` exception whose message names what was expected and what was
found; the property-based tests at the end feed random input to each family's public entry points and
accept only a result or a probwb error (never another exception type, never a hang).
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.core import check_random_state
from probwb.core.validation import check_known_keys, short_repr
from probwb.errors import DataError, ModelError, ProbabilityError, ProbwbError, SpecError, StateError

FAST = settings(max_examples=40, deadline=2000, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)


# ---------------------------------------------------------------------------------------------- core
@pytest.mark.parametrize("bad,shown", [(-1, "-1"), (np.int64(-3), "-3"), ("seven", "str 'seven'"),
                                       (1.5, "float 1.5"), (np.float64(-1.0), "float -1.0"),
                                       (True, "bool True")])
def test_random_state_errors_are_probwb_errors_with_plain_numbers(bad, shown):
    with pytest.raises(DataError) as err:
        check_random_state(bad)
    msg = str(err.value)
    assert "random_state must be a non-negative int" in msg and shown in msg
    assert "np." not in msg


def test_cli_seed_minus_one_is_a_probwb_error(capsys):
    from probwb.cli import main

    assert main(["demo", "--customers", "50", "--seed", "-1"]) == 2
    assert "random_state must be a non-negative int, found -1" in capsys.readouterr().err


def test_short_repr_is_bounded_and_plain():
    nested: list = ["x"] * 9
    for _ in range(12):
        nested = [nested] * 9  # 9**13 items if expanded
    text = short_repr(nested)
    assert len(text) <= 80 and text.endswith(("...", "]"))
    assert short_repr(np.float64(-1.0)) == "-1.0" and short_repr(np.int64(7)) == "7"


def test_check_known_keys_names_the_nearest_and_logs_defaults(caplog):
    states = ["mild", "moderate", "severe"]
    with pytest.raises(SpecError, match=r"model.state_reward: unknown state 'moderat' \(did you mean 'moderate'\?\)"):
        check_known_keys({"mild": 1.0, "moderat": 0.6, "severe": 0.2}, states, where="model.state_reward",
                         what="state")
    with caplog.at_level(logging.INFO, logger="probwb"):
        left = check_known_keys({"mild": 1.0}, states, where="model.state_reward", what="state", default=0.0)
    assert left == ["moderate", "severe"]
    assert "'moderate', 'severe'; left to the default 0.0" in caplog.text
    with pytest.raises(StateError, match="unknown state 7"):
        check_known_keys({7: 1}, states, where="x", what="state", error=StateError)
    assert check_known_keys({1: 0.5}, ["1", "2"], where="x") == ["2"]  # YAML 1 matches state "1"


# ---------------------------------------------------------------------------------------------- mdp
def _visits(seed: int, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n):
        stage = "mild"
        for v in range(5):
            treat = str(rng.choice(["standard", "intensive"]))
            rows.append({"patient_id": f"P{p}", "visit": v, "stage": stage, "treatment": treat})
            stage = str(rng.choice(["mild", "moderate", "severe"], p=[0.5, 0.3, 0.2]))
    return pd.DataFrame(rows)


def _mdp_model(reward: dict) -> dict:
    return {"kind": "mdp", "entity": "patient_id", "time": "visit", "state": "stage", "action": "treatment",
            "state_reward": reward, "action_cost": {"standard": 0.0, "intensive": 0.2}}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mdp_state_reward_typo_fails_instead_of_counting_zero(seed):
    from probwb.mdp.spec import panel_to_transitions, validate_spec

    typo = {"mild": 1.0, "moderat": 0.6, "severe": 0.2}
    # states named in the spec: caught by validation, before any data are loaded
    with pytest.raises(SpecError, match=r"model.state_reward: unknown state 'moderat' \(did you mean 'moderate'"):
        validate_spec({"model": {**_mdp_model(typo), "states": ["mild", "moderate", "severe"]}})
    # states taken from the data: caught when the rewards are computed
    with pytest.raises(SpecError, match="did you mean 'moderate'"):
        panel_to_transitions(_visits(seed), _mdp_model(typo))
    good = panel_to_transitions(_visits(seed), _mdp_model({"mild": 1.0, "moderate": 0.6, "severe": 0.2}))
    assert set(np.round(good["reward"], 6)) <= {1.0, 0.8, 0.6, 0.4, 0.2, 0.0}


def test_mdp_other_name_keyed_settings_are_checked():
    from probwb.mdp.spec import validate_spec

    base = _mdp_model({"mild": 1.0}) | {"states": ["mild", "moderate", "severe"],
                                        "actions": ["standard", "intensive"]}
    cases = [({**base, "action_cost": {"intensiv": 0.2}}, "model.action_cost: unknown action 'intensiv'"),
             ({**base, "constraints": {"c": {"cost": {"intensve": 1}, "budget": 0.2}}}, "did you mean 'intensive'"),
             ({**base, "constraints": {"c": {"cost": {"intensive": 1}, "budget": 0.2, "per_stp": True}}},
              "unknown key 'per_stp'"),
             ({**base, "reward_terms": [{"column": "x", "actions": ["standrd"]}]}, "did you mean 'standard'")]
    for model, msg in cases:
        with pytest.raises(SpecError, match=re.escape(msg)):
            validate_spec({"model": model})
    with pytest.raises(SpecError, match="evaluate.start: unknown state 'mid'"):
        validate_spec({"model": base, "evaluate": {"start": "mid"}})


def test_mdp_rewards_frame_with_unknown_state_row():
    from probwb.mdp import MDP

    P = np.array([[[0.5, 0.5], [0.2, 0.8]]])
    R = pd.DataFrame({"go": [1.0, 2.0]}, index=["a", "bb"])
    with pytest.raises(StateError, match="unknown state 'bb'"):
        MDP(P, R, 0.9, states=["a", "b"], actions=["go"])


def test_mdp_from_dataframe_non_numeric_and_nan_probabilities():
    from probwb.mdp import MDP

    df = pd.DataFrame({"state": ["a", "a"], "action": ["go", "go"], "next_state": ["a", "b"],
                       "probability": [0.5, "x"], "reward": [1.0, 1.0]})
    with pytest.raises(DataError, match=r"column 'probability' must hold numbers \(probabilities\), found 'x'"):
        MDP.from_dataframe(df)
    with pytest.raises(DataError, match="column 'probability' has a NaN probability at row 1"):
        MDP.from_dataframe(df.assign(probability=[0.5, np.nan]))
    with pytest.raises(DataError, match="column 'reward' has a NaN reward"):
        MDP.from_dataframe(df.assign(probability=[0.5, 0.5], reward=[1.0, np.nan]))


# ---------------------------------------------------------------------------------------------- bn
def _net():
    from probwb.bn import BayesNet

    return BayesNet.from_spec({"nodes": {
        "a": {"states": ["x", "y"], "parents": [], "cpt": [0.5, 0.5]},
        "b": {"states": ["u", "v"], "parents": ["a"], "cpt": [[0.3, 0.7], [0.6, 0.4]]}}})


def test_bn_cpt_of_strings_and_bogus_elimination():
    from probwb.bn import BayesNet

    spec = {"nodes": {"a": {"states": ["x", "y"], "parents": [], "cpt": ["0.5", "0.5"]}}}
    with pytest.raises(ProbabilityError, match="CPT of node 'a' must hold numbers, found str '0.5'"):
        BayesNet.from_spec(spec)
    ragged = {"nodes": {"a": {"states": ["x"], "parents": [], "cpt": [1.0]},
                        "b": {"states": ["u", "v"], "parents": ["a"], "cpt": [[0.3, 0.7, 0.1], [0.6]]}}}
    with pytest.raises(ProbabilityError, match="ragged"):
        BayesNet.from_spec(ragged)
    with pytest.raises(ModelError, match=r"elimination must be one of \['min_fill', 'min_weight'\], found 'bogus'"):
        BayesNet({"a": []}, elimination="bogus")


def test_bn_causal_effect_unknown_states():
    net = _net()
    assert net.average_causal_effect("a", "b", "v", "y", "x") == pytest.approx(0.4 - 0.7)
    with pytest.raises(StateError, match="node 'b' has no state 'q'"):
        net.average_causal_effect("a", "b", "q", "y", "x")
    with pytest.raises(StateError, match="node 'a' has no state 'z'"):
        net.average_causal_effect("a", "b", "v", "z", "x")


def test_bn_per_node_prior_for_unknown_node():
    from probwb.bn import BayesNet

    data = pd.DataFrame({"a": ["x", "y", "x", "y"], "b": ["u", "u", "v", "v"]})
    with pytest.raises(StateError, match="prior: unknown node 'bb'"):
        BayesNet({"a": [], "b": ["a"]}, method="bayes", prior={"bb": "K2"}).fit(data)


def test_bn_spec_node_names():
    from probwb.bn.spec import validate_spec

    model = {"kind": "bn", "structure": {"age": [], "risk": ["age"]}}
    for extra, msg in [({"states": {"agee": ["a", "b"]}}, "model.states: unknown node 'agee'"),
                       ({"query": {"variables": "risk", "evidence": {"ag": "a"}}}, "unknown node 'ag'"),
                       ({"query": {"variable": "risk"}}, "model.query: unknown key 'variable'"),
                       ({"effects": [{"treatment": "age", "outcome": "rsk", "outcome_state": "1", "treated": "a",
                                      "control": "b"}]}, "did you mean 'risk'")]:
        with pytest.raises(SpecError, match=re.escape(msg)):
            validate_spec({"model": {**model, **extra}})
    with pytest.raises(SpecError, match="evaluate.target: unknown node 'rsk'"):
        validate_spec({"model": model, "evaluate": {"target": "rsk"}})


# ---------------------------------------------------------------------------------------------- hmm
def test_hmm_from_params_nan_mean():
    from probwb.hmm import HMM

    args = ([0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]])
    with pytest.raises(ModelError, match="Gaussian means must be finite numbers, found nan for state 0"):
        HMM.from_params(*args, {"x": ("gaussian", {"means": [np.nan, 1.0], "covars": [1.0, 1.0]})})
    with pytest.raises(ModelError, match="Gaussian variances must be finite"):
        HMM.from_params(*args, {"x": ("gaussian", {"means": [0.0, 1.0], "covars": [np.inf, 1.0]})})


def test_hmm_ragged_transmat_mask():
    from probwb.hmm import HMM
    from probwb.hmm.spec import validate_spec

    data = pd.DataFrame({"id": np.repeat(np.arange(5), 4), "time": np.tile(np.arange(4), 5),
                         "x": np.arange(20) % 3})
    with pytest.raises(ModelError, match=r"transmat_mask must have shape \(2, 2\), found ragged rows"):
        HMM(2, transmat_mask=[[True, False], [True]], emission={"x": "poisson"}).fit(data)
    with pytest.raises(SpecError, match="model.transmat_mask must be 2 rows of 2"):
        validate_spec({"model": {"kind": "hmm", "states": ["a", "b"], "transmat_mask": [[True, False], [True]]}})
    with pytest.raises(SpecError, match=r"transmat_mask\[0\]\[1\] must be true or false"):
        validate_spec({"model": {"kind": "hmm", "states": ["a", "b"], "transmat_mask": [[1, "no"], [1, 1]]}})


def test_hmm_spec_id_col_typo_is_a_data_error():
    from probwb.hmm.spec import run_spec

    spec = {"name": "x", "data": {"source": "simulate_coupon_campaign",
                                  "args": {"n_customers": 40, "n_weeks": 4, "random_state": 1}, "table": "panel"},
            "model": {"kind": "hmm", "states": ["a", "b"], "emission": {"purchases": "poisson"},
                      "id_col": "customer_idd", "time_col": "week"}}
    for quick in (True, False):
        with pytest.raises(DataError, match=r"no column 'customer_idd' \(did you mean 'customer_id'\?\)"):
            run_spec(spec, quick=quick, random_state=1)


def test_hmm_spec_input_baseline_and_emission_names():
    from probwb.hmm.spec import validate_spec

    model = {"kind": "hmm", "states": ["a", "b"], "inputs": ["coupon"], "emission": {"purchases": "poisson"}}
    with pytest.raises(SpecError, match="model.input_baseline: unknown input column 'copon'"):
        validate_spec({"model": {**model, "input_baseline": {"copon": "none"}}})
    with pytest.raises(SpecError, match="did you mean 'poisson'"):
        validate_spec({"model": {**model, "emission": {"purchases": "poison"}}})
    with pytest.raises(SpecError, match="model.absorbing: unknown state 'c'"):
        validate_spec({"model": {**model, "absorbing": ["c"]}})


def test_hmm_python_api_name_keyed_mappings():
    from probwb.hmm import HMM

    rng = np.random.default_rng(0)
    data = pd.DataFrame({"id": np.repeat(np.arange(20), 5), "time": np.tile(np.arange(5), 20),
                         "x": rng.poisson(2, 100), "c": rng.choice(["none", "10%"], 100)})
    with pytest.raises(StateError, match=r"input_baseline: unknown input column 'cc' \(did you mean 'c'\?\)"):
        HMM(2, emission={"x": "poisson"}, inputs="c", input_baseline={"cc": "none"}).fit(data)
    with pytest.raises(StateError, match="symbols: unknown categorical column 'xx'; expected categorical columns: none"):
        HMM(2, emission={"x": "poisson"}, symbols={"xx": [0, 1]}).fit(data)


# ---------------------------------------------------------------------------------------------- sizes
def test_sizes_beyond_memory_are_refused():
    from probwb.datasets import simulate_coupon_campaign, simulate_patient_cohort
    from probwb.report.schema import validate_spec

    with pytest.raises(DataError, match="n_patients must be an integer >= 1 and <= 10,000,000, found 100000000000000000000"):
        simulate_patient_cohort(n_patients=10**20)
    with pytest.raises(DataError, match="n_customers must be an integer"):
        simulate_coupon_campaign(n_customers=np.int64(10**12))
    spec = {"name": "x", "model": {"kind": "stats"}, "tests": [{"test": "chi2"}],
            "data": {"source": "simulate_patient_cohort", "args": {"n_patients": 1e20}}}
    with pytest.raises(SpecError, match="data.args.n_patients must be int"):
        validate_spec(spec)


# ---------------------------------------------------------------------------------------------- hier
@pytest.mark.parametrize("n_levels", [25, 200])
def test_numbers_stored_as_text_are_not_a_many_level_factor(n_levels):
    from probwb.hier.formula import build_design
    from probwb.hier.glm import HierarchicalGLM

    rng = np.random.default_rng(n_levels)
    df = pd.DataFrame({"y": rng.integers(0, 2, 400), "g": rng.choice(list("abcd"), 400),
                       "age": rng.choice(np.linspace(20, 90, n_levels), 400).round(2).astype(str)})
    with pytest.raises(DataError, match="predictor 'age' holds numbers stored as text"):
        HierarchicalGLM("y ~ age + (1 | g)").fit(df, draws=10, tune=10, chains=1, random_state=1)
    design = build_design(df, "y ~ C(age) + (1 | g)")  # asked for a factor: allowed
    assert design.X.shape[1] == df["age"].nunique() - 1
    few = df.assign(age=rng.choice(["1", "2", "3"], 400))
    assert build_design(few, "y ~ age + (1 | g)").X.shape[1] == 2  # a few coded levels stay a factor


def test_hier_league_table_must_be_a_grouping():
    from probwb.hier.spec import validate_spec

    with pytest.raises(SpecError, match="model.league_table: unknown grouping of the formula 'hospital'"):
        validate_spec({"model": {"kind": "hier", "formula": "y ~ x + (1 | hospital_id)",
                                 "league_table": "hospital"}})


# ---------------------------------------------------------------------------------------------- properties
_text = st.text(alphabet="abcxyz01._- ", min_size=0, max_size=6)
_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-3, 3))
_atom = st.one_of(_number, _text, st.none(), st.booleans())
_value = st.recursive(_atom, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(_text, inner, max_size=3)), max_leaves=8)


@FAST
@given(_value)
def test_random_state_property(value):
    try:
        check_random_state(value)
    except ProbwbError:
        pass


@FAST
@given(st.dictionaries(_text, st.fixed_dictionaries({"states": _value, "parents": _value, "cpt": _value}),
                       max_size=3), _value)
def test_bn_from_spec_property(nodes, evidence):
    from probwb.bn import BayesNet

    try:
        net = BayesNet.from_spec({"nodes": nodes})
    except ProbwbError:
        return
    try:
        net.query(net.nodes[0], evidence if isinstance(evidence, dict) else None)
    except ProbwbError:
        pass


_prob_rows = st.lists(st.lists(_number, min_size=1, max_size=3), min_size=1, max_size=3)


@FAST
@given(_prob_rows, st.lists(_number, min_size=1, max_size=3), st.lists(_number, min_size=1, max_size=3),
       st.lists(_number, min_size=1, max_size=3))
def test_hmm_from_params_property(transmat, startprob, means, covars):
    from probwb.hmm import HMM

    try:
        model = HMM.from_params(startprob, transmat, {"x": ("gaussian", {"means": means, "covars": covars})})
    except ProbwbError:
        return
    frame = pd.DataFrame({"id": [0, 0, 1], "time": [0, 1, 0], "x": [0.1, -0.3, 2.0]})
    model.predict_proba(frame)


@FAST
@given(st.lists(_prob_rows, min_size=1, max_size=2), _value, st.one_of(_number, _text))
def test_mdp_constructor_property(transitions, rewards, discount):
    from probwb.mdp import MDP

    try:
        MDP(transitions, rewards, discount)
    except ProbwbError:
        pass


@FAST
@given(st.lists(st.tuples(_text, _text, _text, _atom, _atom), min_size=1, max_size=5))
def test_mdp_from_dataframe_property(rows):
    from probwb.mdp import MDP

    frame = pd.DataFrame(rows, columns=["state", "action", "next_state", "probability", "reward"])
    try:
        MDP.from_dataframe(frame)
    except ProbwbError:
        pass


@FAST
@given(st.text(alphabet="yxg~+()|1 C:*-_.", min_size=0, max_size=20),
       st.lists(st.tuples(st.integers(0, 1), _number, st.sampled_from(["a", "b", "1", "2.5"])), min_size=1,
                max_size=6))
def test_hier_formula_and_design_property(formula, rows):
    from probwb.hier.formula import build_design

    frame = pd.DataFrame(rows, columns=["y", "x", "g"])
    try:
        build_design(frame, formula)
    except ProbwbError:
        pass


@FAST
@given(st.dictionaries(st.sampled_from(["name", "title", "model", "data", "fit", "report", "tests", "nme"]),
                       _value, max_size=5),
       st.sampled_from(["bn", "hmm", "mdp", "hier", "clv", "stats", "bogus"]))
def test_validate_spec_property(spec, kind):
    from probwb.report.schema import validate_spec

    if isinstance(spec.get("model"), dict):
        spec["model"]["kind"] = kind
    try:
        validate_spec(spec)
    except ProbwbError:
        pass


@pytest.mark.filterwarnings("ignore::probwb.errors.SmallSampleWarning")
@FAST
@given(st.lists(st.tuples(_number, st.sampled_from(["a", "b", "c"])), min_size=0, max_size=8))
def test_stats_tests_property(rows):
    from probwb.stats.anova import oneway
    from probwb.stats.htests import chi2_independence

    frame = pd.DataFrame(rows, columns=["value", "group"])
    for call in (lambda: oneway(frame, "value", "group"),
                 lambda: chi2_independence(frame, row="group", col="group")):
        try:
            call()
        except ProbwbError:
            pass


@settings(max_examples=15, deadline=5000, derandomize=True)
@given(st.one_of(st.integers(-2, 30), st.floats(-1, 40), _text, st.none()))
def test_simulators_property(n):
    from probwb.datasets import simulate_patient_cohort

    try:
        simulate_patient_cohort(n_patients=n, n_hospitals=2, n_visits=2, random_state=0)
    except ProbwbError:
        pass


@FAST
@given(_value, _value)
def test_clv_constructor_property(priors, covariates):
    from probwb.hier.clv import BetaGeoModel, GammaGammaModel

    for build in (lambda: BetaGeoModel(priors=priors, covariates=covariates),
                  lambda: GammaGammaModel(priors=priors)):
        try:
            build()
        except ProbwbError:
            pass
