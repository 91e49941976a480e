"""Calibration by simulation of HMM parameter intervals, and consistency of the coupon input effects.

Three studies, each drawing fresh data from a known truth:

- EM intervals (``HMM.intervals``: observed-information Wald intervals, delta method on logit / log scales)
  of a two-state input-driven Poisson HMM (the model of tests/calibration/test_hmm.py, same code): coverage
  of nominal 50% and 90% intervals for two transition probabilities, an emission rate and two input effects,
  against the 99% binomial band.
- Input effects of the coupon campaign (``probwb.datasets.simulate_coupon_campaign``, the README's HMM call
  with one restart started at the no-coupon matrix): mean estimate of the 20% coupon's effects out of
  at_risk, at N = 500, 2,000 and 8,000 customers (20 weeks), next to the complete-data estimate (the same
  logit M-step on the true states, no prior). Bias must shrink towards 0 as N grows.
- BayesianHMM (a small two-state Poisson chain): coverage of 50% and 90% posterior intervals of the two free
  transition probabilities over a few replications only (each fit is a NUTS run); with so few replications
  this is a smoke check of gross miscalibration, not a calibration proof.

Run ``python benchmarks/calibration_hmm.py`` (about 40 minutes on 2 busy cores; ``--reps``, ``--bayes-reps``
and ``--only em bias bayes`` shorten it); it writes ``benchmarks/calibration_hmm.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from probwb.datasets import simulate_coupon_campaign
from probwb.evaluate import coverage_row, coverage_table
from probwb.evaluate.coverage import to_markdown
from probwb.hmm import HMM
from probwb.hmm.iohmm import InputEncoder, LogitTransitions

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_suffix(".md")


def _calibration_module():
    spec = importlib.util.spec_from_file_location("hmm_calibration", ROOT / "tests" / "calibration" / "test_hmm.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def study_em(n_reps: int, n_seq: int, length: int, seed: int) -> pd.DataFrame:
    """Return coverage rows of EM's Wald intervals."""
    cal = _calibration_module()
    return coverage_table(cal.coverage_rows(cal.replicate(n_reps, n_seq=n_seq, length=length, seed=seed)))


def _complete_data_effects(camp, names: list[str]) -> np.ndarray:
    """The logit M-step on the true states' transition counts (no prior): the estimate with states known."""
    panel = camp.panel
    enc = InputEncoder(["coupon"], {"coupon": "none"}).fit(panel)
    X = enc.transform(panel)
    state = panel["state"].cat.codes.to_numpy()
    ids = panel["customer_id"].cat.codes.to_numpy()
    same = ids[1:] == ids[:-1]
    patterns, inv = np.unique(X[:-1][same], axis=0, return_inverse=True)
    S = len(names)
    xi = np.zeros((patterns.shape[0], S, S))
    np.add.at(xi, (inv.reshape(-1), state[:-1][same], state[1:][same]), 1.0)
    mask = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 1]], dtype=bool)
    trans = LogitTransitions(mask, X.shape[1], prior_sd=None)
    trans.init_from(camp.truth["transmat"]["none"])
    for _ in range(50):
        trans.mstep(xi, patterns)
    return trans.coef_[enc.names_.index("coupon[20%]")]


def study_coupon_bias(sizes: dict[int, int], n_weeks: int, seed: int) -> pd.DataFrame:
    """Return the mean estimate, bias and Monte Carlo se of the 20% coupon's effects out of at_risk per N."""
    rows = []
    truth_coef = None
    for n, reps in sizes.items():
        est = {"at_risk->active": [], "at_risk->churned": []}
        full = {"at_risk->active": [], "at_risk->churned": []}
        for r in range(reps):
            camp = simulate_coupon_campaign(n_customers=n, n_weeks=n_weeks, random_state=seed + 1000 * r + n)
            names = camp.truth["states"]
            truth_coef = camp.truth["transition_logit"]["coef"]["20%"]
            model = HMM(state_names=names, emission={"purchases": "poisson"}, id_col="customer_id",
                        time_col="week", absorbing=["churned"], inputs=["coupon"],
                        input_baseline={"coupon": "none"}, order_by=("purchases", "mean", "descending"),
                        transmat=camp.truth["transmat"]["none"], n_init=1, random_state=r).fit(camp.panel)
            coef = model.transition_coef_["coupon[20%]"]
            cd = _complete_data_effects(camp, names)
            for key, j in (("at_risk->active", 0), ("at_risk->churned", 2)):
                est[key].append(float(coef.loc["at_risk", names[j]]))
                full[key].append(float(cd[1, j]))
        for key, j in (("at_risk->active", 0), ("at_risk->churned", 2)):
            e, f = np.array(est[key]), np.array(full[key])
            true = float(truth_coef[1, j])
            rows.append({"effect of 20% coupon": key, "N customers": n, "reps": reps, "true": true,
                         "EM mean": e.mean(), "EM bias": e.mean() - true,
                         "MC se": e.std(ddof=1) / np.sqrt(reps) if reps > 1 else np.nan,
                         "states-known mean": f.mean(), "states-known bias": f.mean() - true})
    return pd.DataFrame(rows)


def study_bayes(n_reps: int, seed: int) -> pd.DataFrame:
    """Return coverage rows of BayesianHMM's 50% / 90% posterior intervals of the two free transitions."""
    from probwb.hmm.bayes import BayesianHMM

    trans = np.array([[0.85, 0.15], [0.25, 0.75]])
    truth = HMM.from_params([0.5, 0.5], trans, {"y": ("poisson", {"rates": [0.5, 4.0]})},
                            state_names=["quiet", "busy"])
    hits = {(m, lv): [] for m in ("quiet->busy", "busy->quiet") for lv in (0.5, 0.9)}
    for r in range(n_reps):
        data = truth.sample(80, 8, random_state=seed + r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = BayesianHMM(state_names=["quiet", "busy"], emission={"y": "poisson"}, draws=300,
                              tune=300, chains=2, random_state=r).fit(data)
        for lv in (0.5, 0.9):
            summ = fit.transmat_summary(lv).set_index(["from_state", "to_state"])
            for m, (i, j) in (("quiet->busy", (0, 1)), ("busy->quiet", (1, 0))):
                a, b = ["quiet", "busy"][i], ["quiet", "busy"][j]
                hits[(m, lv)].append(bool(summ.loc[(a, b), "lower"] <= trans[i, j] <= summ.loc[(a, b), "upper"]))
    return coverage_table(coverage_row(f"transmat {m}", np.array(h), lv) for (m, lv), h in hits.items())


def _previous_sections() -> dict[str, str]:
    """Return the sections of the existing markdown by their heading's first word after '## '."""
    if not OUT.exists():
        return {}
    chunks = OUT.read_text().split("\n## ")[1:]
    return {c.split(":", 1)[0].split()[0]: "## " + c.rstrip() + "\n" for c in chunks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=500, help="EM interval replications")
    parser.add_argument("--bayes-reps", type=int, default=8, help="BayesianHMM replications")
    parser.add_argument("--bias-sizes", default="500:32,2000:24,8000:8",
                        help="coupon study: N customers:replications, comma-separated")
    parser.add_argument("--only", nargs="+", choices=["em", "bias", "bayes"], default=["em", "bias", "bayes"],
                        help="studies to run; the others keep their section of the existing markdown")
    args = parser.parse_args()
    seed = 20261203
    old = _previous_sections()
    sections = {}
    if "em" in args.only:
        t0 = time.time()
        em = study_em(args.reps, n_seq=200, length=10, seed=seed)
        sections["EM"] = "\n".join([
            f"## EM: observed-information Wald intervals ({args.reps} replications, 200 sequences x 10 steps)", "",
            "Two-state input-driven Poisson HMM (tests/calibration/test_hmm.py); one restart from the true "
            "no-input matrix; `HMM.intervals(data, 0.9)`, the 50% interval from the same standard errors. "
            f"Band: 99% binomial acceptance band of a calibrated method. ({time.time() - t0:.0f} s, "
            f"{dt.date.today().isoformat()})", "", to_markdown(em), ""])
    if "bias" in args.only:
        t0 = time.time()
        sizes = {int(n): int(r) for n, r in (item.split(":") for item in args.bias_sizes.split(","))}
        bias = study_coupon_bias(sizes, n_weeks=20, seed=seed)
        sections["Coupon"] = "\n".join([
            "## Coupon campaign: the 20% coupon's effects out of at_risk (logit scale)", "",
            "`simulate_coupon_campaign(n_customers=N, n_weeks=20)`, the README's input-driven HMM with the default "
            "Normal(0, 2.5) prior on input effects, one restart from the no-coupon matrix. 'states-known' is the "
            "same logit M-step on the true states' transition counts without a prior (the noise floor of this N). "
            "Bias = mean estimate - truth; MC se = standard error of the mean over replications (seeds "
            f"{seed} + 1000 r + N). ({time.time() - t0:.0f} s, {dt.date.today().isoformat()})", "",
            to_markdown(bias), ""])
    if "bayes" in args.only:
        t0 = time.time()
        bayes = study_bayes(args.bayes_reps, seed)
        sections["BayesianHMM"] = "\n".join([
            f"## BayesianHMM: posterior intervals ({args.bayes_reps} replications only)", "",
            "Two-state Poisson chain (80 sequences x 8 steps, seeds "
            f"{seed} + r), NUTS with 2 chains x 300 draws. Each replication is a full sampler run, so only a few "
            "are affordable here: the band is wide and this checks for gross miscalibration only (the tests check "
            "the compiled gradient exactly and one fit's 90% intervals). "
            f"({time.time() - t0:.0f} s, {dt.date.today().isoformat()})", "", to_markdown(bayes), ""])
    parts = ["# HMM calibration by simulation", "",
             f"Generated by `benchmarks/calibration_hmm.py` on {dt.date.today().isoformat()} (seed {seed}); each "
             "section states its run time.",
             ""]
    for key in ("EM", "Coupon", "BayesianHMM"):
        text = sections.get(key, old.get(key))
        if text:
            parts.append(text)
    OUT.write_text("\n".join(parts))
    print("\n".join(parts))


if __name__ == "__main__":
    main()
