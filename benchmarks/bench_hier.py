"""Benchmark (issue #22 rules): probwb.hier defaults against PyMC's ``pm.sample()`` defaults, fresh processes.

Workloads (2 chains x 1,000 warm-up + 1,000 draws on both sides, the chain count PyMC picks by default on
this 2-core machine; seeds fixed):

1. ``eight_schools``: posteriordb's non-centred eight schools (``probwb.hier.meta_analysis_model``);
   probwb side ``probwb.hier.backend.sample(model)``, PyMC side ``pm.sample()`` on the same model.
2. ``readmission``: 20,000 simulated patients in 50 hospitals, 5 categorical covariates, varying hospital
   intercepts, bernoulli (``HierarchicalGLM``). probwb pools identical rows into binomial cells by default;
   PyMC runs the same ``pymc.Model`` that ``HierarchicalGLM.build_model`` builds, pooled
   (``aggregate="auto"``) or row-level (``aggregate=False``), so every pair compares the same model.
3. ``readmission_cont``: the same cohort with continuous covariates (age, length of stay, comorbidities)
   plus diabetes and heart failure: no two rows alike, so both sides are row-level.

Every measurement is one fresh Python process (``fair.fresh_process``); sides alternate repetition by
repetition (order flipped each time), the same number of repetitions per side, medians reported.

- **new user** rows: empty numba, PyTensor (C and numba) and probwb caches: ``fit s`` is the first fit's
  wall time, compilation included; the cold-start row adds import and data/model building.
- **returning user** rows: caches as one earlier *default* run of the same side left them (untimed, tiny
  draws, in a cache folder private to this run): PyTensor's C module cache for ``pm.sample`` and for
  probwb's C route, probwb's numba compile cache only where probwb's defaults compiled with numba.
- **tuned** rows: probwb with ``compile_backend="numba"`` and that compilation already cached (primed by a
  ``compile_backend="numba"`` run, which a default user does not get), labelled tuned.

Metric: minimum bulk ESS over the model parameters per second of the fit call (compilation included);
``target_accept`` defaults differ (probwb 0.95, PyMC 0.8), so each workload also has rows with both sides
at 0.8. Posterior means are checked to agree (difference below 4 combined MCSEs + 0.02).

Run ``python benchmarks/bench_hier.py [--only WORKLOAD]`` (full sizes; rewrites the measured workloads'
sections of ``results_hier.md``) or ``--quick`` (2,000 patients, 20 hospitals, 300 draws; prints only). Every
process compiles, so the run is long: eight schools took 16 minutes at a load average of 9 on 2 cores, the
readmission workloads far longer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import fair  # noqa: E402

HERE = Path(__file__).resolve().parent
GOAL = 3.0
Y8 = [28, 8, -3, 7, -1, 1, 18, 12]
SE8 = [15, 10, 16, 11, 9, 11, 10, 18]
CAT = ["age_band", "diabetes", "heart_failure", "copd", "prior_admissions"]
CONT = ["age", "length_of_stay", "comorbidities", "diabetes", "heart_failure"]


# ----------------------------------------------------------------------------------------------- child side
def child(spec: dict[str, Any]) -> None:
    """Run one measurement in this (fresh) process and print its JSON result as the last line.

    ``spec``: side ("probwb" | "pymc"), workload, n, hospitals, draws, tune, chains, seed and optional
    target_accept, aggregate, compile_backend. Prints import_s, load_s, fit_s, compile_s, sampling_s,
    min_ess, divergences, stats (name -> [mean, mcse]) and what ran.
    """
    import warnings

    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import pymc as pm

    if spec["side"] == "probwb":
        import probwb.hier  # noqa: F401
    import_s = time.perf_counter() - t0
    # For the PyMC side probwb only builds the model (the same graph for both sides): not PyMC's import.
    from probwb.hier import HierarchicalGLM, backend
    from probwb.hier.glm import meta_analysis_model

    t1 = time.perf_counter()
    wl = spec["workload"]
    opts = {k: spec[k] for k in ("target_accept",) if spec.get(k) is not None}
    glm = None
    if wl == "eight_schools":
        model = meta_analysis_model(Y8, SE8)
        names = ["mu", "tau", "theta"]
        key = ["mu", "tau"]
    else:
        from probwb.datasets import simulate_patient_cohort

        df = simulate_patient_cohort(n_patients=spec["n"], n_hospitals=spec["hospitals"],
                                     random_state=spec["seed"]).patients
        cov = CAT if wl == "readmission" else CONT
        glm = HierarchicalGLM("readmitted ~ " + " + ".join(cov) + " + (1 | hospital_id)",
                              aggregate=spec.get("aggregate", "auto"))
        model = glm.build_model(df) if spec["side"] == "pymc" else None
        key = ["Intercept", "beta", "sd_hospital_id"]
    load_s = time.perf_counter() - t1
    run = {k: spec[k] for k in ("draws", "tune", "chains")}
    t2 = time.perf_counter()
    if spec["side"] == "pymc":
        with model:
            idata = pm.sample(**run, random_seed=spec["seed"], progressbar=False, compute_convergence_checks=False,
                              **opts)
        fit_s = time.perf_counter() - t2
        sampling_s = float(idata.posterior.attrs.get("sampling_time", fit_s))
        compile_s = fit_s - sampling_s
        backend_used = "pymc"
        n_terms = int(model["obs_y"].eval().size) if glm is not None else len(Y8)
    else:
        if spec.get("compile_backend"):
            opts["compile_backend"] = spec["compile_backend"]
        if glm is None:
            idata = backend.sample(model, **run, random_state=spec["seed"], progressbar=False, **opts)
        else:
            glm.fit(df, **run, random_state=spec["seed"], progressbar=False, **opts)
            idata = glm.idata_
        fit_s = time.perf_counter() - t2
        sampling_s = float(idata.posterior.attrs["sampling_time"])
        compile_s = float(idata.posterior.attrs["compile_time"])
        backend_used = str(idata.posterior.attrs.get("compile_backend", idata.posterior.attrs.get("sampler")))
        n_terms = glm.n_cells_ if glm is not None else len(Y8)
    if glm is not None:
        names = ["Intercept", "beta", "sd_hospital_id", "r_hospital_id"]
    import arviz as az
    import numpy as np

    ess = az.ess(idata, var_names=names, method="bulk")
    min_ess = float(min(np.min(ess[v].values) for v in names))
    mcse = az.mcse(idata, var_names=key, method="mean")
    stats = {}
    for v in key:
        means = np.atleast_1d(idata.posterior[v].mean(("chain", "draw")).values).ravel()
        errs = np.atleast_1d(mcse[v].values).ravel()
        for j, (m, e) in enumerate(zip(means, errs, strict=True)):
            stats[f"{v}[{j}]" if len(means) > 1 else v] = [float(m), float(e)]
    div = int(idata.sample_stats["diverging"].sum())
    print(json.dumps({"import_s": import_s, "load_s": load_s, "fit_s": fit_s, "compile_s": compile_s,
                      "sampling_s": sampling_s, "min_ess": min_ess, "divergences": div, "stats": stats,
                      "backend": backend_used, "likelihood_terms": n_terms}))


# ----------------------------------------------------------------------------------------------- parent side
def cache_env(root: Path) -> dict[str, str]:
    """Environment with every cache the fits touch under ``root``: numba, probwb, and PyTensor's base
    compile dir, which holds both its C modules and its numba cache (``fair.empty_cache_env`` moves
    PyTensor's ``compiledir`` only, leaving ``base_compiledir/numba`` warm)."""
    env = fair.empty_cache_env(root)
    env["PYTENSOR_FLAGS"] = ",".join(f for f in (os.environ.get("PYTENSOR_FLAGS", ""),
                                                 f"base_compiledir={root / 'pytensor'}") if f)
    env["PROBWB_CACHE_KEY_DIR"] = str(root / "key")
    return env


def run_child(spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run ``child(spec)`` of ``spec["module"]`` (default this script) in a fresh process with ``env``;
    return its JSON result."""
    mod = spec.get("module", "bench_hier")
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import {mod}, json; "
            f"{mod}.child(json.loads({json.dumps(json.dumps(spec))}))")
    return fair.fresh_process(code, env=env, timeout=3600)


def alternate_specs(sides: dict[str, dict[str, Any]], reps: int,
                    env_for: Callable[[str, int], tuple[dict[str, str], Callable[[], None]]]
                    ) -> dict[str, list[dict[str, Any]]]:
    """Run every side ``reps`` times in fresh processes, alternating sides (order flipped each repetition).

    ``env_for(side, rep)`` returns the environment for that process and a clean-up to call after it.
    """
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}

    def make(name: str) -> Callable[[], None]:
        def go() -> None:
            env, done = env_for(name, len(results[name]))
            try:
                results[name].append(run_child(sides[name], env))
            finally:
                done()
            r = results[name][-1]
            print(f"  {name}: fit {r['fit_s']:.1f}s, min ESS {r['min_ess']:.0f}, div {r['divergences']}, "
                  f"backend {r['backend']}", flush=True)
        return go

    fair.alternate({n: make(n) for n in sides}, reps)
    return results


def med(rs: list[dict[str, Any]], key: str) -> float:
    """Median of ``key`` over repetitions."""
    return statistics.median(r[key] for r in rs)


def ess_rate(rs: list[dict[str, Any]], total: bool = False) -> float:
    """Median over repetitions of min bulk ESS per second of the fit (or of import + load + fit)."""
    return statistics.median(r["min_ess"] / (r["fit_s"] + (r["import_s"] + r["load_s"] if total else 0.0))
                             for r in rs)


def agree(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[bool, float]:
    """Whether the first repetitions' posterior means agree within 4 combined MCSE + 0.02; max |diff|."""
    sa, sb = a[0]["stats"], b[0]["stats"]
    worst, ok = 0.0, True
    for k in sa:
        (m1, e1), (m2, e2) = sa[k], sb[k]
        d = abs(m1 - m2)
        worst = max(worst, d)
        ok &= d < 4 * (e1 ** 2 + e2 ** 2) ** 0.5 + 0.02
    return ok, worst


def workload_specs(wl: str, quick: bool, seed: int) -> dict[str, Any]:
    """Common spec entries of a workload at quick or full size."""
    draws = 300 if quick else 1000
    base = {"workload": wl, "draws": draws, "tune": draws, "chains": 2, "seed": seed}
    if wl != "eight_schools":
        base.update({"n": 2000 if quick else 20000, "hospitals": 20 if quick else 50})
    return base


def sides_for(wl: str, base: dict[str, Any]) -> tuple[dict[str, dict], dict[str, dict], list[tuple], list[tuple]]:
    """(returning-user sides, new-user sides, returning-user rows, new-user rows) of a workload.

    A row is (label, probwb side, PyMC side, kind) with kind "headline", "same-ta", "credited" or "tuned".
    At full size the readmission workloads have no tuned row: their defaults already compile with numba
    (more than ``NUMBA_DATA_SIZE`` data values) and a returning user's default fit loads that compilation.
    """
    P = dict(base, side="probwb")
    M = dict(base, side="pymc")
    if wl == "eight_schools":
        warm = {"probwb": P, "probwb@0.8": dict(P, target_accept=0.8), "pymc": M,
                "pymc@0.95": dict(M, target_accept=0.95), "probwb numba (tuned)": dict(P, compile_backend="numba")}
        cold = {"probwb": P, "pymc": M}
        cold_rows = [("defaults", "probwb", "pymc", "headline")]
        rows = [("defaults vs defaults (target_accept 0.95 vs 0.8)", "probwb", "pymc", "headline"),
                ("both at target_accept 0.8", "probwb@0.8", "pymc", "same-ta"),
                ("both at target_accept 0.95", "probwb", "pymc@0.95", "same-ta"),
                ("tuned: compile_backend='numba', compilation cached", "probwb numba (tuned)", "pymc", "tuned")]
        return warm, cold, rows, cold_rows
    full = base["n"] >= 20000
    if wl == "readmission":
        warm = {"probwb pooled": P, "probwb pooled@0.8": dict(P, target_accept=0.8),
                "probwb row-level": dict(P, aggregate=False),
                "probwb row-level@0.8": dict(P, aggregate=False, target_accept=0.8),
                "pymc row-level": dict(M, aggregate=False), "pymc pooled": M,
                "probwb pooled numba (tuned)": dict(P, compile_backend="numba")}
        cold = {"probwb pooled": P, "pymc pooled": M, "pymc row-level": dict(M, aggregate=False)}
        cold_rows = [("pooled vs pooled, defaults", "probwb pooled", "pymc pooled", "headline"),
                     ("probwb defaults (pooling credited) vs PyMC row-level", "probwb pooled", "pymc row-level",
                      "credited")]
        rows = [("pooled vs pooled, defaults (target_accept 0.95 vs 0.8)", "probwb pooled", "pymc pooled",
                 "headline"),
                ("pooled vs pooled, both at 0.8", "probwb pooled@0.8", "pymc pooled", "same-ta"),
                ("row-level vs row-level, defaults (0.95 vs 0.8)", "probwb row-level", "pymc row-level",
                 "headline"),
                ("row-level vs row-level, both at 0.8", "probwb row-level@0.8", "pymc row-level", "same-ta"),
                ("probwb defaults (pooling credited) vs PyMC row-level defaults", "probwb pooled",
                 "pymc row-level", "credited"),
                ("tuned: pooled, compile_backend='numba', compilation cached", "probwb pooled numba (tuned)",
                 "pymc pooled", "tuned")]
        if full:
            del warm["probwb pooled numba (tuned)"]
            rows = rows[:-1]
        return warm, cold, rows, cold_rows
    warm = {"probwb": P, "probwb@0.8": dict(P, target_accept=0.8), "pymc": M,
            "probwb numba (tuned)": dict(P, compile_backend="numba")}
    cold = {"probwb": P, "pymc": M}
    cold_rows = [("row-level vs row-level, defaults", "probwb", "pymc", "headline")]
    rows = [("row-level vs row-level, defaults (0.95 vs 0.8)", "probwb", "pymc", "headline"),
            ("row-level vs row-level, both at 0.8", "probwb@0.8", "pymc", "same-ta"),
            ("tuned: compile_backend='numba', compilation cached", "probwb numba (tuned)", "pymc", "tuned")]
    if full:
        del warm["probwb numba (tuned)"]
        rows = rows[:-1]
    return warm, cold, rows, cold_rows


def prime(warm: dict[str, dict], env: dict[str, str]) -> None:
    """One untimed tiny run of every returning-user side: the caches its earlier run would leave."""
    for spec in warm.values():
        small = dict(spec, draws=20, tune=20, chains=1)
        if spec["side"] == "probwb" and spec.get("compile_backend") == "numba":
            # the tuned side primes its own numba compilation, in its own cache folder (see env_for)
            continue
        run_child(small, env)


def bench_workload(wl: str, quick: bool, seed: int, reps: int, cold_reps: int) -> dict[str, Any]:
    """Run one workload's new-user and returning-user sides; return results and table rows."""
    base = workload_specs(wl, quick, seed)
    warm, cold, rows, cold_rows = sides_for(wl, base)
    tmp = Path(tempfile.mkdtemp(prefix=f"probwb-bench-{wl}-"))
    try:
        shared_root, tuned_root = tmp / "returning", tmp / "tuned"
        print(f"[{wl}] priming the returning-user caches", flush=True)
        prime(warm, cache_env(shared_root))
        tuned = [n for n, s in warm.items() if s.get("compile_backend") == "numba"]
        # The tuned side's numba compilation lives in its own copy of the caches, so default sides never see it.
        for n in tuned:
            shutil.copytree(shared_root, tuned_root, dirs_exist_ok=True)
            run_child(dict(warm[n], draws=20, tune=20, chains=1), cache_env(tuned_root))

        def warm_env(name: str, rep: int) -> tuple[dict[str, str], Callable[[], None]]:
            return cache_env(tuned_root if name in tuned else shared_root), (lambda: None)

        def cold_env(name: str, rep: int) -> tuple[dict[str, str], Callable[[], None]]:
            root = tmp / f"cold-{len(os.listdir(tmp))}"
            return cache_env(root), (lambda: shutil.rmtree(root, ignore_errors=True))

        print(f"[{wl}] new user (empty caches), {cold_reps} reps per side", flush=True)
        cold_res = alternate_specs(cold, cold_reps, cold_env)
        print(f"[{wl}] returning user, {reps} reps per side", flush=True)
        warm_res = alternate_specs(warm, reps, warm_env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"base": base, "warm": warm_res, "cold": cold_res, "rows": rows, "cold_rows": cold_rows, "reps": reps,
            "cold_reps": cold_reps}


def side_cells(rs: list[dict[str, Any]]) -> str:
    """Markdown cells: fit s, compile s, sampling s, min ESS, ESS/s, divergences, backend (medians)."""
    return (f"{med(rs, 'fit_s'):.1f} | {med(rs, 'compile_s'):.1f} | {med(rs, 'sampling_s'):.1f} | "
            f"{med(rs, 'min_ess'):.0f} | {ess_rate(rs):.1f} | {sum(r['divergences'] for r in rs)} | "
            f"{rs[0]['backend']} ({rs[0]['likelihood_terms']:,} terms)")


def table(title: str, res: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Markdown section of one workload and its summary figures."""
    warm, cold = res["warm"], res["cold"]
    out = [f"### {title}", "",
           f"2 chains x {res['base']['draws']} draws (+{res['base']['tune']} warm-up), seed {res['base']['seed']}; "
           f"returning-user rows: {res['reps']} fresh processes per side, new-user rows: {res['cold_reps']} "
           "per side; medians; sides alternated; div = divergences summed over the repetitions.", "",
           "| comparison | probwb: fit s / compile s / sampling s / min ESS / ESS/s / div / backend | "
           "PyMC: fit s / compile s / sampling s / min ESS / ESS/s / div | ratio (ESS/s, probwb / PyMC) | "
           "goal | status | posterior means agree |",
           "|---|---|---|---|---|---|---|"]
    figures = []

    def add(label: str, p: list[dict], m: list[dict], kind: str, total: bool = False) -> None:
        r = ess_rate(p, total) / ess_rate(m, total)
        ok, worst = agree(p, m)
        st = fair.status(r, GOAL) if kind in ("headline", "cold", "credited") else f"({fair.status(r, GOAL)})"
        pc = side_cells(p).replace(" | ", " / ")
        mc = " / ".join(side_cells(m).split(" | ")[:6])
        out.append(f"| {label} | {pc} | {mc} | {r:.2f}x | ≥{GOAL:g}x | {st} | "
                   f"{'yes' if ok else 'NO'} (max diff {worst:.3f}) |")
        figures.append({"label": label, "kind": kind, "ratio": r, "agree": ok})

    for label, p, m, kind in res["rows"]:
        add(f"returning user: {label}", warm[p], warm[m], kind)
    for label, p, m, kind in res.get("cold_rows", []):
        add(f"new user (empty caches), first fit: {label}", cold[p], cold[m], kind)
    for label, p, m, _ in res.get("cold_rows", []):
        add(f"cold start (empty caches; import + data/model + first fit): {label}", cold[p], cold[m], "cold",
            total=True)
    cs = [f"{n}: import {med(cold[n], 'import_s'):.1f} s + data/model {med(cold[n], 'load_s'):.1f} s + "
          f"first fit {med(cold[n], 'fit_s'):.1f} s" for n in cold]
    out += ["", "Cold start, medians: " + "; ".join(cs) + ".", ""]
    return "\n".join(out), figures


TITLES = {"eight_schools": "Eight schools (non-centred, posteriordb priors)",
          "readmission": "Readmission: patients x hospitals, 5 categorical covariates, varying intercepts",
          "readmission_cont": "Readmission with continuous covariates (no two rows alike: no pooling)"}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the tables and, for a full run, write results_hier.md. Returns exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 patients x 20 hospitals, 300 draws")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", choices=list(TITLES), action="append", default=None)
    parser.add_argument("--reps", type=int, default=2, help="returning-user processes per side")
    parser.add_argument("--cold-reps", type=int, default=1, help="new-user (empty cache) processes per side")
    args = parser.parse_args(argv)
    before = fair.machine(("pymc", "pytensor", "nutpie", "arviz"))
    sections, figures, ok = [], [], True
    for wl in args.only or list(TITLES):
        res = bench_workload(wl, args.quick, args.seed, args.reps, args.cold_reps)
        text, figs = table(TITLES[wl] + (f" ({res['base']['n']:,} patients, {res['base']['hospitals']} hospitals)"
                                         if "n" in res["base"] else ""), res)
        print(text, flush=True)
        sections.append(text)
        figures += [dict(f, workload=wl) for f in figs]
        ok &= all(f["agree"] for f in figs)
    line = fair.machine_line(before)
    print(line)
    json.dump(figures, sys.stdout)
    print()
    if not args.quick:
        write_results(sections, line, args)
    return 0 if ok else 1


HEAD = ["# probwb.hier against PyMC's `pm.sample()` (issue #22 rules)", "",
        "Command: `.venv/bin/python benchmarks/bench_hier.py [--only WORKLOAD] [--reps R] [--cold-reps C]` (row "
        "kinds: its docstring; rules: benchmarks/README.md). Each `### ` section below is rewritten by the run "
        "that measured it and ends with that run's machine line.", "",
        "Status is computed by `fair.status` against the goal (≥3x min bulk ESS per second, first fit included) "
        "for headline, credited and cold-start rows; same-target_accept and tuned rows show it in brackets "
        "(informative only).", ""]


def write_results(sections: list[str], line: str, args: argparse.Namespace) -> None:
    """Rewrite the measured workloads' sections of results_hier.md, keeping the others; each section ends
    with the command options and machine line of the run that measured it."""
    path = HERE / "results_hier.md"
    old = path.read_text() if path.is_file() else ""
    kept: dict[str, str] = {}
    if old.startswith(HEAD[0]):
        for chunk in old.split("\n### ")[1:]:
            kept[chunk.split("\n", 1)[0]] = "### " + chunk.rstrip("\n")
    opts = f"Options: --reps {args.reps} --cold-reps {args.cold_reps} --seed {args.seed}. {line}"
    for text in sections:
        kept[text.split("\n", 1)[0][4:]] = text.rstrip("\n") + "\n\n" + opts
    order = [TITLES[w] for w in TITLES]
    body = sorted(kept.values(), key=lambda t: next((i for i, o in enumerate(order) if t[4:].startswith(o)), 99))
    path.write_text("\n".join(HEAD) + "\n" + "\n\n".join(body) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
