"""Calibration by simulation of MDP policy-value intervals learned from logged transitions.

Uses the simulation of tests/calibration/test_mdp.py (same code, loaded from the test module): a known
4-state, 2-action MDP with structural zeros in its transition rows, discount 0.9, logged rewards with sd 2,
a balanced log of ``m`` transitions per (state, action); ``MDPEstimator(prior=1)`` fitted to each log.

- ``V_pi``: equal-tailed credible intervals from ``policy_value_posterior`` for a fixed policy, against the
  policy's value under the true MDP; ``V*``: the posterior of the optimal value (``policy_posterior``)
  against the true optimal value. Per state and for the start value (uniform initial state).
- Coverage of nominal 50% and 90% intervals against the 99% binomial band, at m = 10, 30, 120 and 480;
  bias of the posterior mean (with its Monte Carlo SE) at each m.
- The same at m = 10 with the truth drawn from the prior in every replication (flat Dirichlet rows, N(0, 20^2)
  mean rewards, wide enough that the estimator's flat prior on mean rewards is immaterial): there a correct
  Bayesian interval covers at the nominal rate and its posterior mean is unbiased on average, so this
  separates a wrong method from a prior that does not match one particular truth.

Run ``python benchmarks/calibration_mdp.py`` (a few minutes on 2 busy cores; ``--reps`` shortens it); it
writes ``benchmarks/calibration_mdp.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import subprocess
import time
from pathlib import Path

import pandas as pd

from probwb.evaluate import coverage_table
from probwb.evaluate.coverage import to_markdown

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_suffix(".md")


def _calibration_module():
    spec = importlib.util.spec_from_file_location("mdp_calibration", ROOT / "tests" / "calibration" / "test_mdp.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    """Run the studies and write benchmarks/calibration_mdp.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 30, 120, 480])
    args = ap.parse_args()
    cal = _calibration_module()
    t0 = time.perf_counter()
    tables = []
    for i, m in enumerate(args.sizes):
        seed = 1000 + i
        df = cal.replicate(args.reps, m, seed, n_draws=args.draws)
        tables.append(coverage_table(cal.coverage_rows(df, truth="fixed", m=m, seed=seed)))
        print(f"m={m}: {time.perf_counter() - t0:.0f}s", flush=True)
    seed = 2000
    df = cal.replicate(args.reps, args.sizes[0], seed, n_draws=args.draws, truth="prior")
    tables.append(coverage_table(cal.coverage_rows(df, truth="prior draw", m=args.sizes[0], seed=seed)))
    tab = pd.concat(tables, ignore_index=True)
    elapsed = time.perf_counter() - t0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    cols = ["truth", "m", "quantity", "nominal", "observed", "band_lo", "band_hi", "inside", "bias", "bias_se",
            "n_reps", "seed"]
    outside = tab[~tab["inside"]]
    bias = tab[(tab["nominal"] == 0.9) & (tab["truth"] == "fixed")].pivot(index="quantity", columns="m",
                                                                             values="bias")
    bias = bias.loc[[q for q in cal.QUANTITIES if q in bias.index]]
    bias.columns = [f"bias m={c}" for c in bias.columns]
    bias = bias.reset_index()
    lines = [
        "# probwb.mdp: calibration of policy-value intervals from logs",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/calibration_mdp.py` "
        f"on commit {commit} ({elapsed:.0f} s). {args.reps} replications per row, {args.draws} posterior draws "
        f"per interval; log sizes m = {', '.join(map(str, args.sizes))} transitions per (state, action) "
        f"(8 m rows); seeds 1000 + size index, 2000 for the prior-drawn truth.",
        "",
        "## What the interval is",
        "",
        "`MDPEstimator(prior=1).fit(logs).policy_value_posterior(policy).interval(level)` is an equal-tailed "
        "Bayesian credible interval for the policy's value `V_pi(s)`: each posterior draw takes every "
        "(state, action) transition row from Dirichlet(counts + prior) and each mean reward from "
        "logged mean + sd / sqrt(count) * t(count - 1) (the posterior of a normal mean with unknown variance "
        "under the prior 1/sigma^2), and solves `V_pi` of that MDP exactly. "
        "`policy_posterior().values` is the same for the optimal value `V*` (each draw solved by batched policy "
        "iteration). The truth is the value under the MDP that generated the logs. Simulation: the MDP of "
        "tests/calibration/test_mdp.py (4 states, 2 actions, structural zeros in 5 of 8 transition rows, "
        "discount 0.9, logged rewards with sd 2), fixed policy (b, a, b, a), start value = mean over states.",
        "",
        "## Coverage (nominal 50% and 90%) against the 99% binomial band",
        "",
        to_markdown(tab[cols]),
        "## Bias of the posterior mean (90% rows' bias column; Monte Carlo SE in the table above)",
        "",
        to_markdown(bias),
        "## Rows outside the band",
        "",
        (to_markdown(outside[cols]) if len(outside) else "None.\n"),
    ]
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT} in {elapsed:.0f}s; {len(outside)} row(s) outside the band")


if __name__ == "__main__":
    main()
