"""probwb.mdp vs pymdptoolbox under the fairness rules of benchmarks/README.md (issue #22).

Value iteration, gamma 0.95, the same epsilon (0.01) and the same stopping rule on both sides: pymdptoolbox's
``ValueIteration`` stops when the span of ``V_k+1 - V_k`` is below ``eps (1-g)/g``, which is probwb's default
(``stopping="auto"`` = span for a discount below 1). Problems: random sparse MDPs (A = 4, 5 random successors
per row, seed 0) and pymdptoolbox's forest example (built by probwb in O(S)), from the same arrays.

Tables (every one with the machine line of ``fair.machine_line``):

1. **Constructor**: ``MDP(P, R, g)`` (validation included) vs ``mdptoolbox.mdp.ValueIteration(P_list, R, g,
   epsilon)``, whose O(S^2) iteration bound and input check make it the dominant cost; run only at sizes where
   it finishes (no extrapolation).
2. **Solve** (constructor excluded on both sides): ``solve(mdp, "value_iteration", epsilon=0.01)`` with every
   default (kernel "auto": the first solve of a size class measures the kernels, so the first repetition is
   included as a repetition like any other) vs ``vi.run()``, both from V = 0 each repetition. Where the peer's
   constructor would take too long its object is built by a subclass that skips only the iteration bound
   (``max_iter`` = 1000 instead) and its input check (an S x S dense temporary); ``run()`` is unchanged and
   stops on the span rule, as the sweep counts show.
   A and B alternate (``fair.alternate``), equal repetitions, medians.
3. **End to end at S = 1,000** (constructor + solve, defaults): medians of table 1 + table 2.
4. **Sweep loop vs the memory-bandwidth floor**: ms per sweep of each kernel (scipy, csr, tiled where the
   layout applies, serial and parallel numba variants) and of the kernel ``auto`` picked, alternated with a
   256 MB ``numpy.copyto`` whose read+write bytes per second give the floor = (8-byte values + 4-byte column
   indices per non-zero + 8-byte row pointers) / copy bandwidth, measured under the same load as the sweeps.
5. **Cold start**: a fresh process with empty numba / probwb caches (``fair.fresh_process``): import, build,
   first solve; pymdptoolbox the same at S = 1,000.

Usage: python benchmarks/bench_mdp.py [--quick] [--reps N] [--out benchmarks/results_mdp.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import fair  # noqa: E402

from probwb.mdp import MDP, solve  # noqa: E402
from probwb.mdp import kernels as K  # noqa: E402
from probwb.mdp.examples import random_sparse_arrays  # noqa: E402

warnings.filterwarnings("ignore")
G = 0.95
EPS = 0.01
GOAL_SOLVE = 1.0  # solve time ahead of pymdptoolbox's loop
GOAL_E2E = 10.0
GOAL_FLOOR = 3.0


def problem_arrays(problem: str, S: int):
    if problem == "random":
        return random_sparse_arrays(S, 4, 5, random_state=0)
    from probwb.mdp.examples import forest

    m = forest(S, p=0.1)
    return m.P, m.reward_matrix.copy()


def split(P, S):
    return [P[a * S:(a + 1) * S] for a in range(P.shape[0] // S)]


def toolbox_vi(P, R, *, bound: bool):
    import mdptoolbox.mdp as tb

    cls = tb.ValueIteration
    if not bound:
        class NoBound(tb.ValueIteration):
            def _boundIter(self, epsilon):  # the O(S^2) Puterman 6.6.6 bound only sets max_iter
                self.max_iter = 1000

        # its input check broadcasts an (S, 1) row-sum matrix against (S,) ones: an S x S dense temporary
        # (74 GiB at S = 100,000); probwb's MDP has validated the same arrays
        check = tb._util.check
        tb._util.check = lambda P, R: None
        try:
            return NoBound(split(P, P.shape[1]), R, G, epsilon=EPS)
        finally:
            tb._util.check = check
    return cls(split(P, P.shape[1]), R, G, epsilon=EPS)


def agreement(pol, exact) -> float:
    """Share of states whose action equals exact PI's, among states where the best beats the second by > eps."""
    srt = np.sort(exact.Q_array, axis=0)
    clear = (srt[-1] - srt[-2]) > EPS
    return float((np.asarray(pol)[clear] == exact.policy_index[clear]).mean()) if clear.any() else 1.0


def run_toolbox(vi) -> None:
    vi.V = np.zeros(vi.S)
    vi.iter = 0
    vi.run()


def transition_bytes(P) -> int:
    return P.data.nbytes + P.indices.nbytes + P.indptr.nbytes


def med(xs) -> float:
    return statistics.median(xs)


def constructor_rows(sizes, reps, out):
    rows = []
    for problem, S in sizes:
        P, R = problem_arrays(problem, S)
        t = fair.alternate({"probwb": lambda P=P, R=R: MDP(P, R, G),
                            "pymdptoolbox": lambda P=P, R=R: toolbox_vi(P, R, bound=True)}, reps)
        rows.append((problem, S, med(t["probwb"]), med(t["pymdptoolbox"])))
    out.append("## 1. Constructor (validation included)\n")
    out.append(f"`MDP(P, R, g)` vs `ValueIteration(P_list, R, g, epsilon={EPS})`; {reps} alternated repetitions, "
               "medians. pymdptoolbox's constructor is O(S^2) (its iteration bound loops over every column), so "
               "it runs only at these sizes.\n")
    out.append("| problem | S | probwb s | pymdptoolbox s | ratio |")
    out.append("|---|---|---|---|---|")
    for problem, S, a, b in rows:
        out.append(f"| {problem} | {S:,} | {a:.4f} | {b:.3f} | {b / a:,.0f}x |")
    out.append("")
    return {(p, S): (a, b) for p, S, a, b in rows}


def solve_rows(sizes, reps, out, bounded):
    rows = []
    for problem, S in sizes:
        P, R = problem_arrays(problem, S)
        mdp = MDP(P, R, G)
        vi = toolbox_vi(P, R, bound=S in bounded)
        exact = solve(mdp, "policy_iteration") if S <= 100_000 else None
        K.clear_kernel_choices()  # probwb's first repetition measures the kernels, as a new process would
        res = {}

        def ours(mdp=mdp, res=res):
            res["r"] = solve(mdp, "value_iteration", epsilon=EPS)

        t = fair.alternate({"probwb": ours, "pymdptoolbox": lambda vi=vi: run_toolbox(vi)}, reps)
        r = res["r"]
        err = agree = "-"
        if exact is not None:
            err = (f"{float(np.abs(r.V - exact.V).max()):.1e} / "
                   f"{float(np.abs(np.asarray(vi.V) - exact.V).max()):.1e}")
            agree = f"{agreement(r.policy_index, exact):.4f} / {agreement(np.asarray(vi.policy), exact):.4f}"
        rows.append(dict(problem=problem, S=S, ours=med(t["probwb"]), theirs=med(t["pymdptoolbox"]),
                         first=t["probwb"][0], sw_o=r.iterations, sw_t=vi.iter, kernel=r.info["kernel"],
                         agree=agree, err=err, bound=S in bounded))
    out.append("## 2. Solve (constructor excluded), defaults on both sides, same epsilon and stopping rule\n")
    out.append(f"`solve(mdp, 'value_iteration', epsilon={EPS})` (stopping 'auto' = span, kernel 'auto') vs "
               f"`vi.run()` from V = 0; {reps} alternated repetitions, medians; probwb's kernel choices are "
               "cleared before each row, so its first repetition includes the kernel measurement (its time is "
               "the 'first' column). 'no bound': the peer's object was built without its O(S^2) iteration "
               "bound (max_iter 1000) and input check (an S x S dense temporary). Policy agreement (share of states "
               "where the best action beats the second by more than epsilon on which the policy equals exact "
               "policy iteration's) and max abs V - V*: against exact policy iteration (S <= 100,000); "
               "pymdptoolbox returns the last iterate V_k+1 and the policy greedy w.r.t. V_k, probwb the "
               "MacQueen midpoint and the policy greedy w.r.t. V_k+1.\n")
    out.append("| problem | S | probwb s | first probwb s | pymdptoolbox s | ratio | status (≥1x) | sweeps probwb / "
               "pymdptoolbox | kernel | policy agreement probwb / pymdptoolbox | max abs V - V* probwb / pymdptoolbox |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        ratio = x["theirs"] / x["ours"]
        peer = "" if x["bound"] else " (no bound)"
        out.append(f"| {x['problem']} | {x['S']:,} | {x['ours']:.4f} | {x['first']:.4f} | {x['theirs']:.4f}{peer} | "
                   f"{ratio:.2f}x | {fair.status(ratio, GOAL_SOLVE)} | {x['sw_o']} / {x['sw_t']} | {x['kernel']} | "
                   f"{x['agree']} | {x['err']} |")
    out.append("")
    return {(x["problem"], x["S"]): x for x in rows}


def copy_once(a, b):
    np.copyto(b, a)


def loop_rows(sizes, reps, out, n_sweeps):
    a = np.ones(256 * 2**20 // 8)
    b = np.empty_like(a)
    rows = []
    for problem, S in sizes:
        P, R = problem_arrays(problem, S)
        mdp = MDP(P, R, G)
        layout = K.choose_layout(mdp.P, mdp.n_actions) if mdp.P.nnz >= K.NUMBA_MIN_NNZ else None
        n = n_sweeps if S >= 100_000 else n_sweeps * 10
        sides = {"copy 256 MB": lambda: copy_once(a, b)}

        def loop(kernel, parallel, mdp=mdp, layout=layout, n=n):
            # epsilon 0 never stops: exactly n sweeps
            K.value_iteration(mdp.P, mdp.R, G, epsilon=0.0, max_iter=n, kernel=kernel, parallel=parallel,
                              layout=layout)

        variants = [("scipy", None)] + [(k, p) for k in (("csr", "tiled") if layout is not None else ("csr",))
                                        for p in (False, True)]
        for kern, par in variants:
            sides[kern + ("-parallel" if par else "")] = (lambda kern=kern, par=par: loop(kern, par))
        K.clear_kernel_choices()
        report: dict = {}
        K.value_iteration(mdp.P, mdp.R, G, epsilon=EPS, kernel="auto", layout=layout, report=report)
        chosen = report["kernel"]
        sides[f"auto ({chosen})"] = lambda chosen=chosen: loop(chosen, None)
        cpu: dict[str, list[float]] = {k: [] for k in sides}

        def with_cpu(name, fn, cpu=cpu):
            def run():
                c = time.process_time()
                fn()
                cpu[name].append(time.process_time() - c)
            return run

        t = fair.alternate({k: with_cpu(k, f) for k, f in sides.items()}, reps, warmup=1)
        cpu = {k: v[1:] for k, v in cpu.items()}  # without the warm-up call
        bw = 2 * a.nbytes / med(t.pop("copy 256 MB"))
        bw_cpu = 2 * a.nbytes / med(cpu.pop("copy 256 MB"))
        floor = transition_bytes(mdp.P) / bw
        per = {k: med(v) / n for k, v in t.items()}
        key = f"auto ({chosen})"
        rows.append(dict(problem=problem, S=S, nnz=mdp.P.nnz, per=per, floor=floor, bw=bw, chosen=chosen,
                         auto=per[key], timings=report["timings"], auto_cpu=med(cpu[key]) / n,
                         floor_cpu=transition_bytes(mdp.P) / bw_cpu))
    out.append("## 4. Value-iteration sweep loop vs the memory-bandwidth floor\n")
    out.append("Floor = bytes of transition data per sweep (8 B value + 4 B column index per non-zero + 8 B row "
               "pointers) / copy bandwidth (read + write bytes per second of a 256 MB `numpy.copyto`, alternated "
               f"with the sweeps, median). Each timed call runs {n_sweeps} sweeps (10x that below S = 100,000); "
               f"{reps} alternated repetitions after one warm-up, medians. 'auto' is the kernel the run-time "
               "measurement picked (its sweeps then use adaptive threads from 250,000 states). Status: auto / "
               f"floor ≤ {GOAL_FLOOR:g}x in wall-clock time. 'CPU' repeats the ratio in process CPU time for "
               "both the sweeps and the copy (time spent descheduled by other jobs left out; both threads "
               "summed where a sweep ran in parallel), shown for context, not for the status.\n")
    out.append("| problem | S | non-zeros | ms/sweep by kernel | auto picked | auto ms/sweep | floor ms/sweep "
               "(copy GB/s) | auto / floor | scipy / floor | status (≤3x) | auto / floor, CPU time |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        ks = ", ".join(f"{k} {1e3 * v:.3f}" for k, v in x["per"].items() if not k.startswith("auto"))
        r = x["auto"] / x["floor"]
        out.append(f"| {x['problem']} | {x['S']:,} | {x['nnz']:,} | {ks} | {x['chosen']} | {1e3 * x['auto']:.3f} | "
                   f"{1e3 * x['floor']:.3f} ({x['bw'] / 1e9:.1f}) | {r:.2f}x | {x['per']['scipy'] / x['floor']:.2f}x | "
                   f"{fair.status(r, GOAL_FLOOR, higher_is_better=False)} | {x['auto_cpu'] / x['floor_cpu']:.2f}x |")
    out.append("")
    return rows


COLD_OURS = """
import json, time
t0 = time.perf_counter()
from probwb.mdp import MDP, solve
from probwb.mdp.examples import random_sparse_arrays
t1 = time.perf_counter()
P, R = random_sparse_arrays({S}, 4, 5, random_state=0)
t2 = time.perf_counter()
m = MDP(P, R, 0.95)
t3 = time.perf_counter()
r = solve(m, "value_iteration", epsilon=0.01)
t4 = time.perf_counter()
print(json.dumps(dict(import_s=t1 - t0, build_s=t3 - t2, solve_s=t4 - t3, sweeps=r.iterations,
                      kernel=r.info["kernel"], compile_s=r.info["compile_s"])))
"""

COLD_THEIRS = """
import json, time
import numpy as np
t0 = time.perf_counter()
import mdptoolbox.mdp as tb
t1 = time.perf_counter()
from probwb.mdp.examples import random_sparse_arrays
P, R = random_sparse_arrays({S}, 4, 5, random_state=0)
Pl = [P[a * {S}:(a + 1) * {S}] for a in range(4)]
t2 = time.perf_counter()
vi = tb.ValueIteration(Pl, R, 0.95, epsilon=0.01)
t3 = time.perf_counter()
vi.run()
t4 = time.perf_counter()
print(json.dumps(dict(import_s=t1 - t0, build_s=t3 - t2, solve_s=t4 - t3, sweeps=vi.iter)))
"""


def cold_rows(out, sizes_ours):
    rows = []
    for S in sizes_ours:
        o = fair.fresh_process(COLD_OURS.format(S=S), empty_caches=True)
        t = fair.fresh_process(COLD_THEIRS.format(S=S), empty_caches=True) if S <= 1_000 else None
        rows.append((S, o, t))
    out.append("## 5. Cold start (fresh process, empty numba / probwb caches): import + build + first solve\n")
    out.append("| S (random) | probwb import / build / solve s (total) | kernel, numba compile s | pymdptoolbox "
               "import / build / solve s (total) | ratio of totals | status (≥1x) |")
    out.append("|---|---|---|---|---|---|")
    for S, o, t in rows:
        tot_o = o["import_s"] + o["build_s"] + o["solve_s"]
        ours = f"{o['import_s']:.2f} / {o['build_s']:.3f} / {o['solve_s']:.3f} ({tot_o:.2f})"
        if t is None:
            out.append(f"| {S:,} | {ours} | {o['kernel']}, {o['compile_s']:.2f} | not run (O(S^2) constructor) | "
                       "- | - |")
        else:
            tot_t = t["import_s"] + t["build_s"] + t["solve_s"]
            out.append(f"| {S:,} | {ours} | {o['kernel']}, {o['compile_s']:.2f} | {t['import_s']:.2f} / "
                       f"{t['build_s']:.3f} / {t['solve_s']:.3f} ({tot_t:.2f}) | {tot_t / tot_o:.1f}x | "
                       f"{fair.status(tot_t / tot_o, 1.0)} |")
    out.append("")
    return rows


def summary_rows(cons, sol, loops, colds) -> list[str]:
    """The mdp rows of benchmarks/summary.md, each status computed from this run's figures."""
    rows = ["### Summary rows (for benchmarks/summary.md)\n",
            "| family | benchmark | peer | goal | measured | status |", "| --- | --- | --- | --- | --- | --- |"]
    if cons and sol:
        e2e = {p: (cb + sol[(p, S)]["theirs"]) / (ca + sol[(p, S)]["ours"]) for (p, S), (ca, cb) in cons.items()}
        worst = min(e2e.values())
        rows.append("| mdp | VI end to end (constructor + solve, defaults), S = 1,000 | pymdptoolbox 4.0b3 | ≥10x | "
                    + ", ".join(f"{p} {r:,.0f}x" for p, r in e2e.items()) + f" | {fair.status(worst, GOAL_E2E)} |")
    if sol:
        ratios = {k: x["theirs"] / x["ours"] for k, x in sol.items()}
        worst = min(ratios, key=ratios.__getitem__)
        low = [f"{p} {S:,} {r:.2f}x" for (p, S), r in ratios.items() if r < GOAL_SOLVE]
        rows.append("| mdp | VI solve alone (same epsilon and span rule), S = 1,000-1,000,000 | pymdptoolbox "
                    f"`run()` | ≥1x at every size | {min(ratios.values()):.2f}x-{max(ratios.values()):.2f}x "
                    f"(worst {worst[0]} {worst[1]:,}){'; below 1x: ' + ', '.join(low) if low else ''} | "
                    f"{fair.status(ratios[worst], GOAL_SOLVE)} |")
        big = [f"{p} {x['ours']:.2f} s ({x['sw_o']} sweeps)" for (p, S), x in sol.items() if S == 1_000_000]
        if big:
            rows.append(f"| mdp | S = 1,000,000 VI solve, defaults | — | runs | {', '.join(big)} | met |")
    if loops:
        r = {(x["problem"], x["S"]): x["auto"] / x["floor"] for x in loops}
        worst = max(r, key=r.__getitem__)
        over = [f"{p} {S:,} {v:.1f}x" for (p, S), v in r.items() if v > GOAL_FLOOR]
        rows.append("| mdp | VI sweep loop (kernel auto) vs memory-bandwidth floor, every size | — | ≤3x | "
                    f"{min(r.values()):.2f}x-{r[worst]:.2f}x{'; over 3x: ' + ', '.join(over) if over else ''} | "
                    f"{fair.status(r[worst], GOAL_FLOOR, higher_is_better=False)} |")
    for S, o, t in colds:
        if t is not None:
            tot_o = o["import_s"] + o["build_s"] + o["solve_s"]
            tot_t = t["import_s"] + t["build_s"] + t["solve_s"]
            rows.append(f"| mdp | cold start (fresh process, empty caches: import + build + first VI), S = {S:,} | "
                        f"pymdptoolbox 4.0b3 | ≥1x | {tot_t / tot_o:.2f}x ({tot_o:.2f} s vs {tot_t:.2f} s) | "
                        f"{fair.status(tot_t / tot_o, 1.0)} |")
    rows.append("")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    ap.add_argument("--reps", type=int, default=5, help="alternated repetitions per row")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown here as well as to stdout")
    ap.add_argument("--sections", default="constructor,solve,loop,cold",
                    help="comma-separated subset of constructor, solve, loop, cold (end to end needs the first two)")
    args = ap.parse_args()
    before = fair.machine(("pymdptoolbox",))
    reps = 3 if args.quick else args.reps
    big = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    sizes = [(p, S) for p in ("random", "forest") for S in big]
    out = [f"# probwb.mdp vs pymdptoolbox — run of {before['date']}\n", "Command: `.venv/bin/python "
           f"benchmarks/bench_mdp.py{' --quick' if args.quick else ''} --reps {args.reps} --sections "
           f"{args.sections}`. gamma {G}, epsilon {EPS} on both sides.\n"]
    compile_s = K.warm_up()
    out.append(f"numba compile/load of the sweep kernels in this process: {compile_s:.2f} s (before any timing; "
               "the cold-start table times it).\n")
    sections = set(args.sections.split(","))
    cons = constructor_rows([("random", 1_000), ("forest", 1_000)], 3, out) if "constructor" in sections else {}
    sol = solve_rows(sizes, reps, out, bounded={1_000}) if "solve" in sections else {}
    if cons and sol:
        out.append("## 3. End to end at S = 1,000 (constructor + solve, defaults)\n")
        out.append("| problem | probwb s | pymdptoolbox s | ratio | status (≥10x) |")
        out.append("|---|---|---|---|---|")
        for (problem, S), (ca, cb) in cons.items():
            x = sol[(problem, S)]
            a, b = ca + x["ours"], cb + x["theirs"]
            out.append(f"| {problem} | {a:.4f} | {b:.3f} | {b / a:,.0f}x | {fair.status(b / a, GOAL_E2E)} |")
        out.append("")
    loops = loop_rows(sizes, reps, out, n_sweeps=10) if "loop" in sections else []
    colds = cold_rows(out, [1_000] if args.quick else [1_000, 100_000]) if "cold" in sections else []
    out.append(fair.machine_line(before) + "\n")
    out.extend(summary_rows(cons, sol, loops, colds))
    out.append("Kernel choices measured in this process: " + json.dumps(
        {str(k[:4]): v["kernel"] for k, v in K.kernel_choices().items()}) + "\n")
    text = "\n".join(out)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
