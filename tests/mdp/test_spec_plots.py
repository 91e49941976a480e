"""The mdp model spec runner, the panel-to-transitions recipe and the plots."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml

from probwb.errors import SpecError
from probwb.mdp import MDPEstimator, plots, solve
from probwb.mdp.examples import forest, tiger
from probwb.mdp.spec import SPEC_KEYS, panel_to_transitions, run_spec, validate_spec

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_panel_to_transitions_rewards_and_entity_breaks():
    panel = pd.DataFrame({"cid": ["a", "a", "a", "b", "b"], "wk": [0, 1, 2, 0, 1],
                          "st": ["x", "y", "y", "y", "x"], "act": ["n", "c", "n", "c", "n"],
                          "spend": [10.0, 20.0, 0.0, 5.0, 1.0], "red": [np.nan, 1.0, np.nan, 0.0, np.nan]})
    model = {"entity": "cid", "time": "wk", "state": "st", "action": "act",
             "reward_terms": [{"column": "spend", "scale": 0.5},
                              {"column": "spend", "times": "red", "scale": -0.1, "actions": ["c"]}],
             "state_reward": {"y": 1.0}, "action_cost": {"c": 2.0}}
    logs = panel_to_transitions(panel.iloc[::-1], model)
    assert logs["next_state"].tolist() == ["y", "y", "x"]
    assert logs["state"].tolist() == ["x", "y", "y"]
    np.testing.assert_allclose(logs["reward"], [5.0, 10.0 - 2.0 + 1.0 - 2.0, 2.5 + 1.0 - 2.0])


def test_validate_spec_errors():
    with pytest.raises(SpecError, match="model.entity"):
        validate_spec({"model": {"kind": "mdp"}})
    base = {"entity": "e", "time": "t", "state": "s", "action": "a"}
    with pytest.raises(SpecError, match="discount"):
        validate_spec({"model": {**base, "discount": 1.0}})
    with pytest.raises(SpecError, match="unknown key"):
        validate_spec({"model": {**base, "reward_terms": [{"column": "x", "scael": 1}]}})
    with pytest.raises(SpecError, match="fit.solver"):
        validate_spec({"model": base, "fit": {"solver": "magic"}})
    assert "constraints" in SPEC_KEYS["model"]


@pytest.mark.parametrize("name", ["coupon_policy_mdp", "treatment_policy_mdp"])
def test_domain_specs_run_quick(name):
    spec = yaml.safe_load((MODELS / f"{name}.yaml").read_text())
    spec["data"]["args"] = {**spec["data"]["args"], next(iter(spec["data"]["args"])): 400}
    spec["fit"]["n_posterior"] = 40
    spec["evaluate"]["n_episodes"] = 100
    out = run_spec(spec, quick=True, random_state=0)
    summ = out["summary"]
    assert list(summ["state"]) == spec["model"]["states"]
    assert set(summ["optimal_action"]) <= set(spec["model"]["actions"])
    assert summ["p_optimal"].between(0, 1).all()
    assert out["metrics"]["mean_return_optimal"] >= min(v for k, v in out["metrics"].items()
                                                        if k.startswith("mean_return_always")) - 1e-9
    assert any(k.startswith("constraint ") for k in out["tables"])
    assert len(out["figures"]) == 3
    # the value interval's headers state its level (#20)
    from probwb.report.tables import internal_ids, unlabelled_intervals

    assert {"value 90% CrI lower", "value 90% CrI upper"} <= set(summ.columns)
    for title, frame in {"summary": summ, **out["tables"]}.items():
        assert unlabelled_intervals(frame) == [] and internal_ids(frame) == [], title
    plt.close("all")


def test_coupon_policy_learned_from_logs_matches_truth():
    # the simulator's true transition matrices give the true optimal policy; the learned one should agree
    from probwb.datasets import simulate_coupon_campaign

    camp = simulate_coupon_campaign(n_customers=1500, n_weeks=20, random_state=5)
    spec = yaml.safe_load((MODELS / "coupon_policy_mdp.yaml").read_text())
    logs = panel_to_transitions(camp.panel, spec["model"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MDPEstimator(0.98, states=["active", "at_risk", "churned"], actions=["none", "10%", "20%"]).fit(logs)
    truth = camp.truth
    T = np.stack([truth["transmat"][c] for c in ["none", "10%", "20%"]])
    true_mdp = est.mdp_.__class__(T, est.reward_mean(), 0.98, states=est.states_, actions=est.actions_)
    learned = solve(est.mdp_, "pi").policy
    assert learned[["active", "at_risk"]].equals(solve(true_mdp, "pi").policy[["active", "at_risk"]])


def test_plots_return_axes():
    res = solve(forest(5), "pi")
    assert plots.plot_values(res).get_title().startswith("optimal values")
    fh = solve(forest(5).with_discount(1.0), "finite_horizon", horizon=3)
    plots.plot_values(fh)
    mdp = forest(3, discount=0.9)
    rng = np.random.default_rng(0)
    logs = pd.DataFrame({"state": rng.choice(mdp.states, 300), "action": rng.choice(mdp.actions, 300)})
    logs["next_state"] = rng.choice(mdp.states, 300)
    logs["reward"] = rng.random(300)
    post = MDPEstimator(0.9, states=mdp.states, actions=mdp.actions).fit(logs).policy_posterior(20, random_state=1)
    plots.plot_policy_posterior(post)
    plots.plot_value_posterior(post)
    plots.plot_returns({"a": rng.random(50), "b": rng.random(50)})
    ax = plots.plot_belief_policy(_tiger_policy())
    assert ax.get_xlabel() == "P(tiger-left)"
    plt.close("all")


def _tiger_policy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tiger().solve("pbvi", n_beliefs=20, random_state=0, max_iter=50)
