"""A small stand-in family registered as kind ``fake`` so report tests do not depend on other families.

It fits a tiny Beta-Binomial by conjugacy (real numbers that depend on the data), returns the contract's
keys, and builds MCMC diagnostics with :func:`probwb.diagnostics.check` from hand-made chains: with
``model.chains: disagree`` the chains sit far apart and have divergences, so the verdict is really "fail".
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probwb.core.io import register_model_class
from probwb.errors import ConvergenceWarning, SpecError
from probwb.report.registry import register_family, unregister_family

FAKE_MODULE = "probwb_test_fake_family"


class FakeModel:
    """A fitted stand-in: posterior Beta parameters of the redemption rate per coupon."""

    def __init__(self, posterior: pd.DataFrame) -> None:
        self.posterior_ = posterior

    def _to_file_state(self):
        return {"posterior": self.posterior_}, {}

    @classmethod
    def _from_file_state(cls, state, extras, config):
        return cls(state["posterior"])


# model files name only classes the running program registered (probwb.core.io)
register_model_class(FakeModel)


def _idata(chains: str, seed: int):
    import arviz as az

    rng = np.random.default_rng(seed)
    n_chain, n_draw = 4, 200
    p = rng.normal(0.4, 0.01, size=(n_chain, n_draw))
    diverging = np.zeros((n_chain, n_draw), dtype=bool)
    if chains == "disagree":
        p += np.arange(n_chain)[:, None] * 0.2  # chains stuck in different places: R-hat far above 1.05
        diverging[:, ::20] = True
    return az.from_dict(posterior={"p": p}, sample_stats={"diverging": diverging})


def run_spec(spec, *, quick=False, random_state=None):
    """Fit the stand-in family on ``coupons`` (offers, redeemed) and return the report dict."""
    import matplotlib.pyplot as plt
    from scipy import stats

    from probwb.diagnostics import check
    from probwb.report.data import load_data

    model = spec["model"]
    if model.get("explode"):
        raise RuntimeError("the stand-in family failed half way, as asked")
    RUNS.append({"quick": quick, "random_state": random_state})
    frame = load_data(spec["data"]).frame
    if quick:
        frame = frame.head(2000)
    g = frame.groupby(model.get("group", "coupon"), observed=True)["redeemed"]
    k, n = g.sum(), g.count()
    a, b = 1 + k, 1 + n - k
    level = float(spec.get("fit", {}).get("interval", 0.9))
    summary = pd.DataFrame({"offers": n, "redeemed": k, "mean": a / (a + b),
                            "low": stats.beta.ppf((1 - level) / 2, a, b),
                            "high": stats.beta.ppf((1 + level) / 2, a, b)})
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar([str(i) for i in summary.index], summary["mean"], color="tab:blue")
    ax.set_ylabel("P(redeem)")
    out = {
        "model": FakeModel(summary),
        "summary": summary,
        "tables": {"Offers per segment": frame.groupby("segment", observed=True).size().to_frame("offers")},
        "figures": {"Redemption rate by coupon": fig},
        "metrics": {"log_loss": float(stats.binom.logpmf(k, n, a / (a + b)).sum() / -n.sum()),
                    "brier": 0.2345678},
        "text": [f"The best coupon is {summary['mean'].idxmax()!r} with rate {summary['mean'].max():.3f}."],
        "warnings": ["stand-in warning from the family"],
    }
    if model.get("chains") in ("agree", "disagree"):
        out["diagnostics"] = check(_idata(model["chains"], 0))
    if model.get("warn"):
        import warnings

        warnings.warn("EM stopped after 3 iterations", ConvergenceWarning, stacklevel=2)
    return out


def validate_spec(spec):
    """The family's own deeper check: a group column must be one of two names."""
    group = spec["model"].get("group", "coupon")
    if group not in ("coupon", "segment"):
        raise SpecError(f"model.group must be 'coupon' or 'segment', found {group!r}")


RUNS: list[dict] = []

SPEC_KEYS = {
    "model": {
        "n_states": (int, "number of hidden states (unused, for validation tests)"),
        "group": (str, "column to group offers by"),
        "chains": (str, "'agree' or 'disagree': build MCMC diagnostics from stand-in chains"),
        "explode": (bool, "raise half way through the fit"),
        "warn": (bool, "emit a ConvergenceWarning"),
        "prior_scale": (float, "a float setting"),
    },
    "fit": {"interval": (float, "credible level"), "draws": (int, "draws")},
}


@pytest.fixture
def fake_family():
    """Register the stand-in family as kind 'fake' (and a kind 'ghost' whose module does not exist)."""
    mod = types.ModuleType(FAKE_MODULE)
    mod.run_spec = run_spec
    mod.validate_spec = validate_spec
    mod.SPEC_KEYS = SPEC_KEYS
    mod.RUNS = RUNS
    RUNS.clear()
    sys.modules[FAKE_MODULE] = mod
    register_family("fake", FAKE_MODULE)
    register_family("ghost", "probwb.no_such_family.spec")
    yield mod
    unregister_family("fake")
    unregister_family("ghost")
    sys.modules.pop(FAKE_MODULE, None)


FAKE_SPEC = """\
name: fake_redemption
title: Redemption by coupon (stand-in family)
description: A stand-in model used by the report tests.
data:
  source: simulate_coupon_campaign
  args: {n_customers: 300, n_stores: 4, n_weeks: 8, random_state: 3}
  table: coupons
model:
  kind: fake
  group: coupon
  chains: CHAINS
fit: {interval: 0.9}
"""


@pytest.fixture
def fake_spec(tmp_path, fake_family):
    """Write a stand-in spec; call it with chains='agree' / 'disagree' / 'none'; returns the path."""

    def make(chains: str = "agree", model_extra: str = "", extra: str = "") -> Path:
        path = tmp_path / "fake_redemption.yaml"
        text = FAKE_SPEC.replace("  chains: CHAINS\n", f"  chains: {chains}\n{model_extra}")
        path.write_text(text + extra)
        return path

    return make


ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
#: screenshots and other artefacts the tests leave for a person to look at (git-ignored)
TEST_OUTPUT = ROOT / "test-output"


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """``quick_report(spec_path) -> (Report, html_path, json_path)``: the spec's --quick report (seed 1),
    written once per session, so test_all_specs and the browser test share every real report."""
    from probwb.report import write_report

    folder = tmp_path_factory.mktemp("quick_reports")
    done: dict[Path, tuple] = {}

    def get(path: Path) -> tuple:
        path = Path(path).resolve()
        if path not in done:
            html, js = folder / f"{path.stem}.html", folder / f"{path.stem}.json"
            done[path] = (write_report(path, html, json_path=js, quick=True, seed=1), html, js)
        return done[path]

    return get
