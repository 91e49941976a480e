"""Benchmark: probwb.hier (nutpie backend) against PyMC's default sampler (pm.sample) on the same models.

Two models, same draws for both sides, side by side in one process:

1. Readmission across hospitals: 20,000 simulated patients in 50 hospitals, 5 categorical covariates
   (age band, diabetes, heart failure, COPD, prior admissions; 7 dummy columns), varying intercepts by
   hospital, bernoulli likelihood. The peer is the model as a PyMC user writes it (row-level Bernoulli,
   non-centred hospital intercepts, the same priors) sampled by ``pm.sample()`` with its defaults; a second
   peer row runs ``pm.sample()`` on probwb's own (pooled) model, to separate the sampler's gain from the
   model's.
2. Eight schools, non-centred (posteriordb priors): ``pm.sample()`` defaults against
   ``probwb.hier.backend.sample`` defaults.

Metric: minimum bulk ESS over all parameters divided by wall time (including compilation; sampling-only
time reported too), divergences, and agreement of posterior means (difference below 4 combined Monte Carlo
standard errors plus 0.02). Run ``python benchmarks/bench_hier.py`` (about 5 minutes on 2 cores) or
``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def _min_ess(idata, names):
    from probwb import diagnostics

    res = diagnostics.check(idata, var_names=names, warn=False)
    return res, float(res.table["ess_bulk"].min())


def peer_model(df, covariates, group):
    """The readmission model as a PyMC user writes it: one Bernoulli term per patient."""
    import pymc as pm

    X = pd.get_dummies(df[covariates], drop_first=True, dtype=float, prefix_sep="[")
    X.columns = [f"{c}]" for c in X.columns]
    idx, levels = pd.factorize(df[group].astype(str), sort=True)
    coords = {"coef": list(X.columns), "hospital": list(levels)}
    with pm.Model(coords=coords) as model:
        Xd = pm.Data("X", X.to_numpy())
        intercept = pm.Normal("Intercept", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 2.5, dims="coef")
        sd = pm.HalfNormal("sd_hospital", 1.0)
        z = pm.Normal("z_hospital", 0.0, 1.0, dims="hospital")
        eta = intercept + pm.math.dot(Xd, beta) + sd * z[idx]
        pm.Bernoulli("y", logit_p=eta, observed=df["readmitted"].to_numpy())
    return model, list(X.columns)


def pm_default(model, draws, tune, chains, seed):
    import pymc as pm

    t0 = time.perf_counter()
    with model:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed, progressbar=False,
                          compute_convergence_checks=False)
    wall = time.perf_counter() - t0
    sampling = float(idata.posterior.attrs.get("sampling_time", wall))
    return idata, wall, sampling


def bench_readmission(quick: bool, seed: int) -> tuple[list[dict], dict]:
    from probwb.datasets import simulate_patient_cohort
    from probwb.hier import HierarchicalGLM

    n, h = (2000, 20) if quick else (20000, 50)
    draws = tune = 300 if quick else 1000
    chains = 2
    cohort = simulate_patient_cohort(n_patients=n, n_hospitals=h, random_state=seed)
    df = cohort.patients
    covariates = ["age_band", "diabetes", "heart_failure", "copd", "prior_admissions"]
    formula = "readmitted ~ " + " + ".join(covariates) + " + (1 | hospital_id)"
    rows = []

    t0 = time.perf_counter()
    glm = HierarchicalGLM(formula).fit(df, draws=draws, tune=tune, chains=chains, random_state=seed,
                                       progressbar=False)
    wall = time.perf_counter() - t0
    res, ess = _min_ess(glm.idata_, glm.param_names())
    ours = {"side": "probwb HierarchicalGLM defaults (nutpie, compile_backend=" + repr(glm.idata_.posterior.attrs.get("compile_backend")) + ", compile cache warm)", "wall_s": wall,
            "compile_s": glm.idata_.posterior.attrs["compile_time"],
            "sampling_s": glm.idata_.posterior.attrs["sampling_time"], "min_ess_bulk": ess,
            "divergences": res.n_divergent, "verdict": res.verdict, "likelihood_terms": glm.n_cells_}
    rows.append(ours)
    ours_beta = glm.idata_.posterior["beta"]

    with _compile_cache_off():
        t0 = time.perf_counter()
        glm_b = HierarchicalGLM(formula).fit(df, draws=draws, tune=tune, chains=chains, random_state=seed,
                                             progressbar=False, compile_backend="numba")
        wall_b = time.perf_counter() - t0
    res_b, ess_b = _min_ess(glm_b.idata_, glm_b.param_names())
    rows.append({"side": "probwb HierarchicalGLM, first fit of this model structure (numba compiles; cache off)",
                 "wall_s": wall_b, "compile_s": glm_b.idata_.posterior.attrs["compile_time"],
                 "sampling_s": glm_b.idata_.posterior.attrs["sampling_time"], "min_ess_bulk": ess_b,
                 "divergences": res_b.n_divergent, "verdict": res_b.verdict, "likelihood_terms": glm_b.n_cells_})

    model, cols = peer_model(df, covariates, "hospital_id")
    idata, wall, sampling = pm_default(model, draws, tune, chains, seed)
    res, ess = _min_ess(idata, ["Intercept", "beta", "sd_hospital", "z_hospital"])
    peer = {"side": "PyMC pm.sample() defaults, row-level Bernoulli", "wall_s": wall,
            "compile_s": wall - sampling, "sampling_s": sampling, "min_ess_bulk": ess,
            "divergences": res.n_divergent, "verdict": res.verdict, "likelihood_terms": len(df)}
    rows.append(peer)

    # Agreement of the coefficient posteriors (same coefficient order: treatment coding, same references).
    assert cols == glm.coef_names_, (cols, glm.coef_names_)
    m1 = ours_beta.mean(("chain", "draw")).to_numpy()
    m2 = idata.posterior["beta"].mean(("chain", "draw")).to_numpy()
    t_ours = _min_ess(glm.idata_, ["beta"])[0].table
    t_peer = _min_ess(idata, ["beta"])[0].table
    tol = 4 * np.sqrt(t_ours["mcse_mean"].to_numpy() ** 2 + t_peer["mcse_mean"].to_numpy() ** 2) + 0.02
    agree = bool(np.all(np.abs(m1 - m2) < tol))

    pooled = glm.build_model(df)
    idata2, wall2, sampling2 = pm_default(pooled, draws, tune, chains, seed)
    res2, ess2 = _min_ess(idata2, glm.param_names())
    rows.append({"side": "PyMC pm.sample() defaults on probwb's pooled model", "wall_s": wall2,
                 "compile_s": wall2 - sampling2, "sampling_s": sampling2, "min_ess_bulk": ess2,
                 "divergences": res2.n_divergent, "verdict": res2.verdict, "likelihood_terms": glm.n_cells_})
    return rows, {"agree": agree, "max_abs_diff": float(np.max(np.abs(m1 - m2))), "n": n, "hospitals": h,
                  "draws": draws, "chains": chains}


def bench_eight_schools(quick: bool, seed: int) -> tuple[list[dict], dict]:
    from probwb.hier import backend
    from probwb.hier.glm import meta_analysis_model

    y = [28, 8, -3, 7, -1, 1, 18, 12]
    se = [15, 10, 16, 11, 9, 11, 10, 18]
    draws = tune = 300 if quick else 1000
    chains = 2
    names = ["mu", "tau", "theta"]
    rows = []
    model = meta_analysis_model(y, se)
    t0 = time.perf_counter()
    idata = backend.sample(model, draws=draws, tune=tune, chains=chains, random_state=seed, progressbar=False)
    wall = time.perf_counter() - t0
    res, ess = _min_ess(idata, names)
    rows.append({"side": "probwb backend.sample defaults (nutpie, compile_backend=" + repr(idata.posterior.attrs.get("compile_backend")) + ", compile cache warm)", "wall_s": wall,
                 "compile_s": idata.posterior.attrs["compile_time"],
                 "sampling_s": idata.posterior.attrs["sampling_time"], "min_ess_bulk": ess,
                 "divergences": res.n_divergent, "verdict": res.verdict})
    ours = res.table

    for label, kwargs, cold in (("first fit of this model structure (numba compiles; cache off)",
                                 {"compile_backend": "numba"}, True),
                                ("compile_backend='c' (PyTensor C function called from nutpie)",
                                 {"compile_backend": "c"}, False)):
        model_b = meta_analysis_model(y, se)
        with _compile_cache_off() if cold else contextlib.nullcontext():
            t0 = time.perf_counter()
            idata_b = backend.sample(model_b, draws=draws, tune=tune, chains=chains, random_state=seed,
                                     progressbar=False, **kwargs)
            wall_b = time.perf_counter() - t0
        res_b, ess_b = _min_ess(idata_b, names)
        rows.append({"side": f"probwb backend.sample, {label}", "wall_s": wall_b,
                     "compile_s": idata_b.posterior.attrs["compile_time"],
                     "sampling_s": idata_b.posterior.attrs["sampling_time"], "min_ess_bulk": ess_b,
                     "divergences": res_b.n_divergent, "verdict": res_b.verdict})

    peer = meta_analysis_model(y, se)
    idata_p, wall_p, sampling_p = pm_default(peer, draws, tune, chains, seed)
    res_p, ess_p = _min_ess(idata_p, names)
    rows.append({"side": "PyMC pm.sample() defaults", "wall_s": wall_p, "compile_s": wall_p - sampling_p,
                 "sampling_s": sampling_p, "min_ess_bulk": ess_p, "divergences": res_p.n_divergent,
                 "verdict": res_p.verdict})
    tol = 4 * np.sqrt(ours.loc[["mu", "tau"], "mcse_mean"] ** 2 + res_p.table.loc[["mu", "tau"], "mcse_mean"] ** 2)
    diff = (ours.loc[["mu", "tau"], "mean"] - res_p.table.loc[["mu", "tau"], "mean"]).abs()
    return rows, {"agree": bool((diff < tol + 0.02).all()), "mu": float(ours.loc["mu", "mean"]),
                  "tau": float(ours.loc["tau", "mean"]), "draws": draws, "chains": chains}


@contextlib.contextmanager
def _compile_cache_off():
    """Run a fit as the first fit of its model structure on this machine: no numba compile cache."""
    old = os.environ.get("PROBWB_COMPILE_CACHE")
    os.environ["PROBWB_COMPILE_CACHE"] = "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PROBWB_COMPILE_CACHE", None)
        else:
            os.environ["PROBWB_COMPILE_CACHE"] = old


def prime(which: str, quick: bool, seed: int) -> None:
    """Compile every timed model once, untimed, so both sides start from warm on-disk caches.

    Run in a separate process (``--prime``), as an earlier job on the same machine would: PyTensor's C
    module cache for PyMC's sampler, probwb's numba compile cache for nutpie. Tiny draws: only the
    compilation matters here.
    """
    from probwb.datasets import simulate_patient_cohort
    from probwb.hier import HierarchicalGLM, backend
    from probwb.hier.glm import meta_analysis_model

    if which in ("all", "eight_schools"):
        y, se = [28, 8, -3, 7, -1, 1, 18, 12], [15, 10, 16, 11, 9, 11, 10, 18]
        backend.sample(meta_analysis_model(y, se), draws=5, tune=5, chains=1, random_state=seed,
                       progressbar=False, compile_backend="numba")
        pm_default(meta_analysis_model(y, se), 5, 5, 1, seed)
    if which in ("all", "readmission"):
        n, h = (2000, 20) if quick else (20000, 50)
        df = simulate_patient_cohort(n_patients=n, n_hospitals=h, random_state=seed).patients
        covariates = ["age_band", "diabetes", "heart_failure", "copd", "prior_admissions"]
        formula = "readmitted ~ " + " + ".join(covariates) + " + (1 | hospital_id)"
        glm = HierarchicalGLM(formula).fit(df, draws=5, tune=5, chains=1, random_state=seed, progressbar=False,
                                           compile_backend="numba")
        pm_default(peer_model(df, covariates, "hospital_id")[0], 5, 5, 1, seed)
        pm_default(glm.build_model(df), 5, 5, 1, seed)


def _prime_in_subprocess(which: str, quick: bool, seed: int) -> None:
    cmd = [sys.executable, __file__, "--prime", which, "--seed", str(seed)] + (["--quick"] if quick else [])
    subprocess.run(cmd, check=True)


def _warm_up() -> None:
    """Load PyTensor's on-disk module cache and import the samplers once, before any timed run.

    The first C compilation in a process spends about a second loading the cache index; whichever side ran
    first would otherwise pay it alone.
    """
    import pytensor
    import pytensor.tensor as pt

    x = pt.dvector("x")
    pytensor.function([x], (x ** 2).sum())(np.ones(3))
    # xarray looks up its optional array back-ends (dask, ...) the first time it wraps an array: an import
    # cost that whichever side first builds an InferenceData would otherwise pay alone.
    import arviz as az

    az.from_dict(posterior={"a": np.zeros((1, 3))})


def _table(title: str, rows: list[dict], info: dict) -> str:
    df = pd.DataFrame(rows)
    df["ess_per_s"] = df["min_ess_bulk"] / df["wall_s"]
    df["ess_per_sampling_s"] = df["min_ess_bulk"] / df["sampling_s"]
    base = df.iloc[0]
    out = [f"### {title}", "", "| side | wall s (incl. compile) | compile s | sampling s | min bulk ESS | "
           "min ESS / wall s | min ESS / sampling s | divergences | verdict | ratio probwb / side (wall) "
           "| ratio (sampling only) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        ratio = base["ess_per_s"] / r["ess_per_s"]
        ratio_s = base["ess_per_sampling_s"] / r["ess_per_sampling_s"]
        out.append(f"| {r['side']} | {r['wall_s']:.1f} | {r['compile_s']:.1f} | {r['sampling_s']:.1f} | "
                   f"{r['min_ess_bulk']:.0f} | {r['ess_per_s']:.1f} | {r['ess_per_sampling_s']:.1f} | "
                   f"{int(r['divergences'])} | {r['verdict']} | {ratio:.2f}x | {ratio_s:.2f}x |")
    out.append("")
    out.append("Settings and agreement: " + json.dumps(info))
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (2,000 patients, 300 draws)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", choices=["readmission", "eight_schools"], default=None)
    parser.add_argument("--prime", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-prime", action="store_true",
                        help="do not compile the models in a separate process first (cold caches)")
    args = parser.parse_args(argv)
    if args.prime:
        prime(args.prime, args.quick, args.seed)
        return 0
    import arviz
    import nutpie
    import pymc

    header = (f"probwb.hier benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: "
              f"{platform.machine()}, 2 shared cores (other jobs running, so wall times are noisy); Python "
              f"{platform.python_version()}, PyMC {pymc.__version__}, nutpie {nutpie.__version__}, ArviZ "
              f"{arviz.__version__}{'; QUICK run' if args.quick else ''}")
    print(header + "\n")
    if not args.no_prime:
        for which in ("eight_schools", "readmission"):
            if args.only in (None, which):
                _prime_in_subprocess(which, args.quick, args.seed)
    _warm_up()
    ok = True
    if args.only in (None, "eight_schools"):
        rows, info = bench_eight_schools(args.quick, args.seed)
        print(_table("Eight schools (non-centred), 2 chains", rows, info))
        ok &= info["agree"]
    if args.only in (None, "readmission"):
        rows, info = bench_readmission(args.quick, args.seed)
        print(_table("Readmission: hospitals x patients, 5 covariates, varying intercepts, 2 chains", rows, info))
        ok &= info["agree"]
    if not ok:
        print("posterior means DISAGREE between probwb and PyMC", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
