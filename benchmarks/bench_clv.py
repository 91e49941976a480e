"""Benchmark (issue #22 rules): BG/NBD on CDNOW, probwb ``BetaGeoModel().fit`` defaults against ``pm.sample()``.

Both sides sample the same ``pymc.Model`` (``BetaGeoModel().build_model(cdnow)``), 2 chains x 1,000 warm-up +
1,000 draws (the chain count PyMC picks by default on this 2-core machine), each measurement one fresh Python
process, sides alternated repetition by repetition, medians. Row kinds as in ``bench_hier.py``: new user
(empty numba / PyTensor / probwb caches, first fit; cold start adds import and data loading), returning user
(caches as one earlier default run of the same side left them), rows with both sides at the same
``target_accept`` (probwb's default is 0.9, PyMC's 0.8), and a tuned row (``compile_backend="numba"`` with
its compilation cached, through ``probwb.hier.backend.sample`` since ``fit`` has no such argument).
The MLE fit (``method="mle"``) is timed too, as its own row: it is not the same work.

Metric: minimum bulk ESS over r, alpha, a, b per second of the fit call (compilation included). Posterior
means are checked to agree between the sides (4 combined MCSE + 0.02 relative) and with the MLE (5%).

Run ``python benchmarks/bench_clv.py`` (writes ``results_clv.md``) or ``--quick`` (300 draws; prints only).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import bench_hier  # noqa: E402
import fair  # noqa: E402

HERE = Path(__file__).resolve().parent
PARAMS = ["r", "alpha", "a", "b"]
GOAL = 3.0


def child(spec: dict[str, Any]) -> None:
    """One measurement in this fresh process; prints the JSON result (see ``bench_hier.child``)."""
    import json
    import warnings

    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import pymc as pm

    if spec["side"] == "probwb":
        import probwb.hier  # noqa: F401
    import_s = time.perf_counter() - t0
    from probwb.datasets import load_cdnow
    from probwb.hier import backend
    from probwb.hier.clv import BetaGeoModel

    t1 = time.perf_counter()
    data = load_cdnow()
    model = BetaGeoModel().build_model(data) if spec["side"] == "pymc" or spec.get("compile_backend") else None
    load_s = time.perf_counter() - t1
    run = {k: spec[k] for k in ("draws", "tune", "chains")}
    opts = {"target_accept": spec["target_accept"]} if spec.get("target_accept") is not None else {}
    t2 = time.perf_counter()
    if spec["side"] == "pymc":
        with model:
            idata = pm.sample(**run, random_seed=spec["seed"], progressbar=False, compute_convergence_checks=False,
                              **opts)
        fit_s = time.perf_counter() - t2
        sampling_s = float(idata.posterior.attrs.get("sampling_time", fit_s))
        compile_s, used = fit_s - sampling_s, "pymc"
    elif spec.get("method") == "mle":
        BetaGeoModel().fit(data, method="mle", random_state=spec["seed"])
        fit_s = time.perf_counter() - t2
        print(json.dumps({"import_s": import_s, "load_s": load_s, "fit_s": fit_s}))
        return
    else:
        if spec.get("compile_backend"):
            # tuned: the same model and the fit's target_accept default, through the sampler backend
            idata = backend.sample(model, **run, random_state=spec["seed"], progressbar=False,
                                   compile_backend=spec["compile_backend"], target_accept=opts.get("target_accept",
                                                                                                     0.9))
        else:
            idata = BetaGeoModel().fit(data, **run, random_state=spec["seed"], progressbar=False, **opts).idata_
        fit_s = time.perf_counter() - t2
        sampling_s = float(idata.posterior.attrs["sampling_time"])
        compile_s = float(idata.posterior.attrs["compile_time"])
        used = str(idata.posterior.attrs.get("compile_backend"))
    import arviz as az
    import numpy as np

    ess = az.ess(idata, var_names=PARAMS, method="bulk")
    mcse = az.mcse(idata, var_names=PARAMS, method="mean")
    stats = {p: [float(idata.posterior[p].mean()), float(mcse[p])] for p in PARAMS}
    print(json.dumps({"import_s": import_s, "load_s": load_s, "fit_s": fit_s, "compile_s": compile_s,
                      "sampling_s": sampling_s, "min_ess": float(min(float(np.min(ess[p])) for p in PARAMS)),
                      "divergences": int(idata.sample_stats["diverging"].sum()), "stats": stats, "backend": used,
                      "likelihood_terms": 2357}))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and (full run) write results_clv.md; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 draws instead of 1,000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--cold-reps", type=int, default=1)
    args = parser.parse_args(argv)
    draws = 300 if args.quick else 1000
    base = {"module": "bench_clv", "draws": draws, "tune": draws, "chains": 2, "seed": args.seed}
    P, M = dict(base, side="probwb"), dict(base, side="pymc")
    warm = {"probwb": P, "probwb@0.8": dict(P, target_accept=0.8), "pymc": M, "pymc@0.9": dict(M, target_accept=0.9),
            "probwb numba (tuned)": dict(P, compile_backend="numba")}
    cold = {"probwb": P, "pymc": M}
    before = fair.machine(("pymc", "pytensor", "nutpie", "arviz"))
    tmp = Path(tempfile.mkdtemp(prefix="probwb-bench-clv-"))
    try:
        shared, tuned = tmp / "returning", tmp / "tuned"
        print("[clv] priming the returning-user caches", flush=True)
        for name, spec in warm.items():
            if name != "probwb numba (tuned)":
                bench_hier.run_child(dict(spec, draws=20, tune=20, chains=1), bench_hier.cache_env(shared))
        shutil.copytree(shared, tuned, dirs_exist_ok=True)
        bench_hier.run_child(dict(warm["probwb numba (tuned)"], draws=20, tune=20, chains=1),
                             bench_hier.cache_env(tuned))

        def warm_env(name: str, rep: int) -> tuple[dict[str, str], Callable[[], None]]:
            return bench_hier.cache_env(tuned if "tuned" in name else shared), (lambda: None)

        def cold_env(name: str, rep: int) -> tuple[dict[str, str], Callable[[], None]]:
            root = tmp / f"cold-{name}-{rep}"
            return bench_hier.cache_env(root), (lambda: shutil.rmtree(root, ignore_errors=True))

        print(f"[clv] new user (empty caches), {args.cold_reps} reps per side", flush=True)
        cold_res = bench_hier.alternate_specs(cold, args.cold_reps, cold_env)
        print(f"[clv] returning user, {args.reps} reps per side", flush=True)
        warm_res = bench_hier.alternate_specs(warm, args.reps, warm_env)
        mle = [bench_hier.run_child(dict(P, method="mle"), bench_hier.cache_env(shared)) for _ in range(args.reps)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res = {"base": base, "warm": warm_res, "cold": cold_res, "reps": args.reps, "cold_reps": args.cold_reps,
           "cold_rows": [("defaults", "probwb", "pymc", "headline")],
           "rows": [("defaults vs defaults (target_accept 0.9 vs 0.8)", "probwb", "pymc", "headline"),
                    ("both at target_accept 0.8", "probwb@0.8", "pymc", "same-ta"),
                    ("both at target_accept 0.9", "probwb", "pymc@0.9", "same-ta"),
                    ("tuned: compile_backend='numba', compilation cached", "probwb numba (tuned)", "pymc", "tuned")]}
    text, figures = bench_hier.table("CLV: BG/NBD on CDNOW (2,357 customers)", res)
    mle_s = bench_hier.med(mle, "fit_s")
    peer_fit = bench_hier.med(warm_res["pymc"], "fit_s")
    text += (f"\nMLE fit (`method=\"mle\"`, scipy on the closed-form likelihood, Laplace intervals; not the same "
             f"work as sampling): median {mle_s:.2f} s over {args.reps} fresh processes, "
             f"{peer_fit / mle_s:.0f}x less time than `pm.sample()`'s returning-user fit.\n")
    problems = []
    ours = warm_res["probwb"][0]["stats"]
    for p in PARAMS:
        (m1, e1), (m2, e2) = ours[p], warm_res["pymc"][0]["stats"][p]
        if abs(m1 - m2) > 4 * (e1 ** 2 + e2 ** 2) ** 0.5 + 0.02 * abs(m2):
            problems.append(f"posterior means of {p} disagree: {m1:.4g} vs {m2:.4g}")
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for p in PARAMS:
        if abs(ours[p][0] - published[p]) / published[p] > 0.05:
            problems.append(f"probwb posterior mean of {p} {ours[p][0]:.4g} is > 5% from the MLE {published[p]}")
    line = fair.machine_line(before)
    print(text + "\n" + line)
    if problems:
        print("\n".join(problems), file=sys.stderr)
    if not args.quick:
        head = ["# probwb CLV (BG/NBD) against PyMC's `pm.sample()` (issue #22 rules)", "",
                "Command: `.venv/bin/python benchmarks/bench_clv.py` (row kinds: its docstring). " + line, "",
                "Status is computed by `fair.status` against the goal (≥3x min bulk ESS per second, first fit "
                "included) for headline and cold-start rows; same-target_accept and tuned rows show it in "
                "brackets (informative only).", ""]
        (HERE / "results_clv.md").write_text("\n".join(head) + "\n" + text)
    return 1 if problems or not all(f["agree"] for f in figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
