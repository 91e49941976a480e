"""One spelling per concept (#20): the probability content of an interval.

Bayesian credible mass is ``interval=`` and a frequentist confidence level is ``confidence=`` in every public
function and method; the old spellings (``level=``, ``hdi_prob=``, ``prob=``) still work for one release with a
FutureWarning at the caller's line and give the same answer, and giving both spellings raises ModelError.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import probwb
from probwb.errors import ModelError

# parameter names that have meant "probability content of an interval" somewhere in probwb or its neighbours
OLD_SPELLINGS = {"level", "hdi_prob", "prob", "ci_level", "conf_level", "cred_mass", "credible", "credible_mass",
                 "credibility", "hdi", "mass", "coverage_prob", "ci_prob", "alpha_level"}

# (module, qualified name, parameter) that keep one of those names, and why
KEPT = {
    ("probwb.core.logcontext", "ContextAdapter.log", "level"): "a logging level",
    ("probwb.hmm.bayes", "BayesianHMM.transmat_for", "level"): "an input (covariate) level, not a probability",
    ("probwb.report.tables", "natural_key", "level"): "a category level to sort",
    ("probwb.evaluate.coverage", "binomial_band", "level"): "calibration-test helper: the acceptance band's level",
    ("probwb.evaluate.coverage", "coverage_row", "level"): "calibration-test helper: the acceptance band's level",
    ("probwb.report.tables", "label_intervals", "level"): "report helper: writes an already chosen level into "
                                                          "column names (CI or CrI is its kind= argument)",
}

# ``interval`` / ``confidence`` parameters that do not hold an interval's probability content
NOT_A_LEVEL = {("probwb.core.progress", "configure", "interval"): "seconds between progress lines"}

BAYESIAN_MODULES = ("probwb.bn", "probwb.hier", "probwb.hmm.bayes", "probwb.mdp", "probwb.stats.ab")
BAYESIAN_OBJECTS = {("probwb.stats.results", "ABResult")}  # a Bayesian result among the frequentist ones
FREQUENTIST_MODULES = ("probwb.stats", "probwb.evaluate", "probwb.hmm.model", "probwb.hmm.uncertainty")


def _public_callables() -> list[tuple[str, str, inspect.Signature]]:
    """(module, qualified name, signature) of every public function, class and method defined in probwb;
    an inherited method is listed once, where it is defined."""
    out = {}
    for info in pkgutil.walk_packages(probwb.__path__, "probwb."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            members = [(mod.__name__, name, obj)]
            if inspect.isclass(obj):
                members += [(v.__module__, v.__qualname__, v) for k, v in inspect.getmembers(obj)
                            if not k.startswith("_") and (inspect.isfunction(v) or inspect.ismethod(v))
                            and (getattr(v, "__module__", None) or "").startswith("probwb")]
            for where, qual, f in members:
                if not callable(f) or (where, qual) in out:
                    continue
                try:
                    out[where, qual] = inspect.signature(f)
                except (TypeError, ValueError):
                    continue
    return [(m, q, sig) for (m, q), sig in out.items()]


CALLABLES = _public_callables()


def test_no_public_callable_spells_an_interval_level_the_old_ways() -> None:
    found = {(m, q, p) for m, q, sig in CALLABLES for p in sig.parameters if p in OLD_SPELLINGS}
    assert found - set(KEPT) == set(), "use interval= (Bayesian) or confidence= (frequentist)"
    assert set(KEPT) <= found, f"stale KEPT entries: {set(KEPT) - found}"


def _is_bayesian(module: str, qual: str) -> bool:
    return module.startswith(BAYESIAN_MODULES) or (module, qual.split(".")[0]) in BAYESIAN_OBJECTS


def test_interval_is_bayesian_and_confidence_is_frequentist() -> None:
    takes = {"interval": [], "confidence": []}
    for m, q, sig in CALLABLES:
        for p in ("interval", "confidence"):
            if p in sig.parameters and (m, q, p) not in NOT_A_LEVEL:
                takes[p].append((m, q))
    wrong_i = [mq for mq in takes["interval"] if not _is_bayesian(*mq)]
    wrong_c = [mq for mq in takes["confidence"] if _is_bayesian(*mq) or not mq[0].startswith(FREQUENTIST_MODULES)]
    assert wrong_i == [] and wrong_c == []
    # the ones the issue named, so the classification above cannot pass by finding nothing
    names_i = {f"{m}.{q}" for m, q in takes["interval"]}
    names_c = {f"{m}.{q}" for m, q in takes["confidence"]}
    assert {"probwb.bn.network.BayesNet.query", "probwb.hier.glm.HierarchicalGLM.summary",
            "probwb.hmm.bayes.BayesianHMM.transmat_summary", "probwb.mdp.learn.PolicyValuePosterior.interval",
            "probwb.stats.ab.coupon_ab", "probwb.stats.ab.rate_ab", "probwb.stats.ab.spend_ab",
            "probwb.stats.ab.beta_binomial_ab", "probwb.stats.ab.hdi"} <= names_i
    assert {"probwb.hmm.model.HMM.intervals", "probwb.hmm.uncertainty.wald_intervals",
            "probwb.stats.htests.ttest", "probwb.stats.anova.anova", "probwb.evaluate.calibration.calibration_table",
            "probwb.stats.regress.regress"} <= names_c
    assert len(names_c) >= 28


# ---------------------------------------------------------------- the shared decorator
def test_renamed_argument_warns_at_the_callers_line_and_refuses_both() -> None:
    from probwb.core.api import renamed_argument, renamed_arguments

    @renamed_argument("prob", "interval")
    def f(x: float, interval: float = 0.5) -> float:
        return x * interval

    assert list(inspect.signature(f).parameters) == ["x", "interval"]
    assert renamed_arguments(f) == {"prob": "interval"}
    with pytest.warns(FutureWarning, match=r"f\(prob=\.\.\.\) is deprecated.*write interval=") as rec:
        assert f(2.0, prob=0.25) == 0.5
    assert rec[0].filename == __file__
    with pytest.raises(ModelError, match=r"give one of interval= and its old spelling prob=, found both"):
        f(2.0, interval=0.1, prob=0.2)
    with pytest.raises(ModelError, match=r"found both \(interval=0.1, prob=0.2\)"):
        f(2.0, 0.1, prob=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(2.0, 0.25) == f(2.0, interval=0.25) == 0.5


def _old_and_new(call, old: str, new: str, value: float):
    with pytest.warns(FutureWarning, match=f"{old}=") as rec:
        a = call(**{old: value})
    assert rec[0].filename == __file__, "the warning points at the caller's line"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        b = call(**{new: value})
    with pytest.raises(ModelError, match="found both"):
        call(**{old: value, new: value})
    return a, b


# ---------------------------------------------------------------- each renamed public function
@settings(max_examples=8, deadline=None)
@given(level=st.floats(0.05, 0.99), seed=st.integers(0, 10_000), n=st.integers(5, 400))
def test_hdi_and_policy_value_interval_old_names(level: float, seed: int, n: int) -> None:
    from probwb.mdp.learn import PolicyValuePosterior
    from probwb.stats.ab import hdi

    rng = np.random.default_rng(seed)
    draws = rng.gamma(2.0, size=n)
    a, b = _old_and_new(lambda **kw: hdi(draws, **kw), "prob", "interval", level)
    assert a == b
    values = rng.normal(size=(n, 2))
    post = PolicyValuePosterior(["s0", "s1"], values, np.zeros(2))
    a, b = _old_and_new(lambda **kw: post.interval(**kw), "level", "interval", level)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_allclose(b["upper"].to_numpy(), np.quantile(values, (1 + level) / 2, axis=0), rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 7])
def test_bayesian_ab_old_name(seed: int) -> None:
    from probwb.stats.ab import beta_binomial_ab, rate_ab, spend_ab

    rng = np.random.default_rng(seed)
    level = float(rng.uniform(0.5, 0.99))
    a, b = _old_and_new(lambda **kw: beta_binomial_ab([30, 45], [200, 210], n_draws=3000, random_state=seed, **kw),
                        "hdi_prob", "interval", level)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.lift, b.lift)
    assert a.interval == b.interval == level
    with pytest.warns(FutureWarning, match="ABResult.interval"):
        assert b.hdi_prob == level
    df = pd.DataFrame({"arm": rng.choice(["A", "B"], 300), "y": rng.integers(0, 2, 300),
                       "spend": rng.gamma(2.0, 5.0, 300)})
    a, b = _old_and_new(lambda **kw: rate_ab(df, "y", "arm", n_draws=2000, random_state=seed, **kw),
                        "hdi_prob", "interval", level)
    pd.testing.assert_frame_equal(a.table, b.table)
    a, b = _old_and_new(lambda **kw: spend_ab(df, "spend", "arm", n_draws=2000, random_state=seed, **kw),
                        "hdi_prob", "interval", level)
    pd.testing.assert_frame_equal(a.lift, b.lift)
    assert f"{100 * level:g}% HDI" in b.interpret()


def test_coupon_ab_old_name() -> None:
    from probwb.datasets import simulate_coupon_campaign
    from probwb.stats.ab import coupon_ab

    camp = simulate_coupon_campaign(n_customers=300, n_weeks=4, random_state=3)
    a, b = _old_and_new(lambda **kw: coupon_ab(camp, n_draws=2000, random_state=1, **kw), "hdi_prob", "interval",
                        0.8)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_hmm_wald_intervals_old_name() -> None:
    from probwb.hmm import HMM
    from probwb.hmm.uncertainty import interval_bounds, wald_intervals

    truth = HMM.from_params([0.6, 0.4], [[0.9, 0.1], [0.2, 0.8]], {"y": ("poisson", {"rates": [0.5, 4.0]})},
                            state_names=["quiet", "busy"])
    data = truth.sample(40, 10, random_state=4)
    model = HMM(state_names=["quiet", "busy"], emission={"y": "poisson"}, n_init=1, order_by=("y", "mean"),
                random_state=0).fit(data)
    a, b = _old_and_new(lambda **kw: model.intervals(data, **kw), "level", "confidence", 0.8)
    pd.testing.assert_frame_equal(a, b)
    c, _ = _old_and_new(lambda **kw: wald_intervals(model, data, **kw), "level", "confidence", 0.8)
    pd.testing.assert_frame_equal(a, c)
    assert b.attrs["confidence"] == 0.8
    old_b, new_b = _old_and_new(lambda **kw: interval_bounds(b["value"], b["se"], b["link"], **kw), "level",
                                "confidence", 0.8)
    np.testing.assert_array_equal(np.asarray(old_b), np.asarray(new_b))
    np.testing.assert_array_equal(new_b[0], b["lower"].to_numpy())


def test_bayesian_hmm_transmat_summary_old_name() -> None:
    import arviz as az

    from probwb.hmm import BayesianHMM

    # posterior draws given directly: compiling the sampler costs ~25 s and the spelling does not need it
    rng = np.random.default_rng(5)
    model = BayesianHMM(state_names=["quiet", "busy"], emission={"y": "poisson"})
    rows = rng.dirichlet([4.0, 2.0], size=(1, 200, 1, 2))
    model.idata_ = az.from_dict(posterior={"transmat": rows})
    model._prep = {"mask": np.ones((2, 2), dtype=bool)}
    model.input_levels_, model.state_names_ = ["all"], ["quiet", "busy"]
    a, b = _old_and_new(lambda **kw: model.transmat_summary(**kw), "hdi_prob", "interval", 0.8)
    pd.testing.assert_frame_equal(a, b)
    v = rows[0, :, 0, 1, 0]
    assert b["lower"].iloc[2] == pytest.approx(np.quantile(v, 0.1))
    with pytest.raises(ModelError, match="interval must lie strictly between 0 and 1"):
        model.transmat_summary(interval=1.2)


# ---------------------------------------------------------------- specs, saved results and documents
def test_stats_spec_and_saved_results_accept_the_old_ab_name() -> None:
    from probwb.errors import SpecError
    from probwb.stats.results import ABResult
    from probwb.stats.spec import SpecResults, validate_spec

    validate_spec({"tests": [{"test": "rate_ab", "args": {"outcome": "y", "arm": "a", "hdi_prob": 0.9}}]})
    with pytest.raises(SpecError, match="did you mean 'interval'"):
        validate_spec({"tests": [{"test": "rate_ab", "args": {"outcome": "y", "arm": "a", "intervall": 0.9}}]})
    state = {"titles": ["ab"], "results": [{"class": "ABResult", "fields": {
        "method": "m", "table": pd.DataFrame({"x": [1.0]}), "hdi_prob": 0.8, "metric": "rate"}}]}
    loaded = SpecResults._from_file_state(state, {}, {})
    assert isinstance(loaded.results[0], ABResult) and loaded.results[0].interval == 0.8


def test_readme_notebooks_docs_and_specs_use_the_new_spellings() -> None:
    import json

    root = Path(__file__).resolve().parents[1]
    texts = {p.name: p.read_text(encoding="utf-8") for p in [root / "README.md", *sorted((root / "docs").glob("*.md")),
                                                              *sorted((root / "models").glob("*.yaml"))]}
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        texts[nb.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    old = re.compile(r"\bhdi_prob\s*[=:]|\.intervals?\([^)]*\blevel=|transmat_summary\([^)]*hdi_prob|hdi\([^)]*\bprob=")
    assert {name: old.findall(text) for name, text in texts.items() if old.search(text)} == {}
    assert "Estimator surface" in texts["CONTRACTS.md"]
