"""probwb.mdp vs pymdptoolbox, side by side in one process: end-to-end VI / PI and the VI sweep loop.

End to end = construction + validation + solve, from the same raw arrays (generating them is not timed):
- probwb: ``MDP(P_stacked, R, g)`` then ``solve(mdp, "value_iteration" | "policy_iteration")``;
- pymdptoolbox: ``mdptoolbox.mdp.ValueIteration(P_list, R, g)`` / ``PolicyIteration(...)`` then ``.run()``.
Both VI solvers get epsilon = 0.01 (their own stopping rules: pymdptoolbox stops on the span of the change,
probwb on the sup norm, Puterman Thm 6.3.1, so probwb does more sweeps). Answers are checked: the policies
must agree with exact policy iteration (probwb) on every state where the best and second-best Q differ by
more than epsilon, and the values within epsilon.

pymdptoolbox's construction is O(S^2) (its iteration bound and its input check), so each of its runs is
predicted from a smaller one (x (S / S_small)^2 for VI, whose construction dominates; ^3 for PI, which
solves a dense S x S system per step) and skipped when the prediction exceeds ``--budget``.

VI loop efficiency: seconds per sweep of the value-iteration loop against the memory-bandwidth floor = bytes of
transition data per sweep (8-byte values + 4-byte column indices per non-zero + row pointers, always counted on
the CSR matrix) divided by a measured copy bandwidth (bytes read + written per second by numpy.copyto on 256 MB).
Per size it runs the sup-norm solve (epsilon 0.01) with the scipy sweep (probwb's previous loop) and with
probwb's default ("auto": the numba tiled sweep for large scattered models, else scipy), reports the sweeps of
both stopping rules ("sup" and "span"), and the one-off costs separately: numba compile/load (once per
process, excluded from the loop timings by a warm-up) and the tiled layout build (once per model; amortised
per sweep of the sup solve in its own column). Loop timings are the best of a few repeats (noisy shared VM).

Usage: python benchmarks/bench_mdp.py [--quick] [--budget SECONDS] [--max-size N] [--loop-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
import warnings

import numpy as np

import probwb
from probwb.mdp import MDP, solve
from probwb.mdp import kernels as K
from probwb.mdp.examples import random_sparse_arrays

warnings.filterwarnings("ignore")


def forest_arrays(S: int, p: float = 0.1):
    from probwb.mdp.examples import forest

    m = forest(S, p=p)
    return m.P, m.reward_matrix.copy()


def copy_bandwidth(nbytes: int = 256 * 2**20, repeats: int = 5) -> float:
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * nbytes / best  # read + write


def transition_bytes(P) -> int:
    return P.data.nbytes + P.indices.nbytes + P.indptr.nbytes


def split(P, S):
    A = P.shape[0] // S
    return [P[a * S:(a + 1) * S] for a in range(A)]


def ours(P, R, g, method):
    t = time.perf_counter()
    m = MDP(P, R, g)
    t_build = time.perf_counter() - t
    res = solve(m, method, epsilon=0.01)
    return res, t_build, time.perf_counter() - t


def theirs(P, R, g, method):
    import mdptoolbox.mdp as tb

    S = P.shape[1]
    Pl = split(P, S)
    t = time.perf_counter()
    if method == "value_iteration":
        obj = tb.ValueIteration(Pl, R, g, epsilon=0.01)
    else:
        obj = tb.PolicyIteration(Pl, R, g)
    t_build = time.perf_counter() - t
    obj.run()
    return obj, t_build, time.perf_counter() - t


def agree(res, exact, g, eps=0.01):
    """Share of states whose policy matches exact PI, among states where the choice is clear by > eps."""
    Q = exact.Q_array
    srt = np.sort(Q, axis=0)
    clear = (srt[-1] - srt[-2]) > eps
    pol = np.asarray(res)
    return float((pol[clear] == exact.policy_index[clear]).mean()) if clear.any() else 1.0


def timed_loop(P, R, g, repeats: int, **kw) -> tuple[float, float, int]:
    """Best (wall, CPU) seconds of a sup-norm VI solve's sweep loop over ``repeats`` runs, and its sweeps."""
    best_w = best_c = np.inf
    sweeps = 0
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        _, _, sweeps, _, _ = K.value_iteration(P, R, g, epsilon=0.01, **kw)
        best_w = min(best_w, time.perf_counter() - t)
        best_c = min(best_c, time.process_time() - c)
    return best_w, best_c, sweeps


def loop_row(problem: str, S: int, P, R, g: float, bw: float) -> dict:
    m = MDP(P, R, g)
    floor = transition_bytes(m.P) / bw
    reps = 2 if S >= 100_000 else 3
    K.value_iteration(m.P, m.R, g, epsilon=0.01, max_iter=2, kernel="scipy")  # warm caches
    w_sp, c_sp, sweeps = timed_loop(m.P, m.R, g, reps, kernel="scipy")
    # what solve(..., "value_iteration") does by default (kernel="auto"), with the layout decision timed
    t = time.perf_counter()
    layout = K.choose_layout(m.P, m.n_actions) if m.P.nnz >= K.NUMBA_MIN_NNZ else None
    t_layout = time.perf_counter() - t
    kernel = K.auto_kernel(m.P, layout)
    par = K.default_parallel(S)
    w_ser = w_par = None
    if kernel == "scipy":
        w_pb, c_pb = w_sp, c_sp
    else:
        # parallel=None: the default, serial below PARALLEL_MIN_STATES, adaptive (re-timed) above
        w_pb, c_pb, _ = timed_loop(m.P, m.R, g, reps, kernel=kernel, layout=layout)
        if par:  # both fixed choices too, to show what the second thread buys on this machine right now
            w_ser = timed_loop(m.P, m.R, g, 1, kernel=kernel, layout=layout, parallel=False)[0]
            w_par = timed_loop(m.P, m.R, g, 1, kernel=kernel, layout=layout, parallel=True)[0]
    span = K.value_iteration(m.P, m.R, g, epsilon=0.01, stopping="span", kernel=kernel, layout=layout)[2]
    return dict(problem=problem, S=S, nnz=m.P.nnz, kernel=kernel + (", adaptive threads" if kernel != "scipy"
                                                                    and par else ""),
                sweeps=sweeps, span=span, sp=w_sp / sweeps, pb=w_pb / sweeps, pb_cpu=c_pb / sweeps,
                ser=None if w_ser is None else w_ser / sweeps, par=None if w_par is None else w_par / sweeps,
                floor=floor, layout=t_layout,
                layout_mb=0 if layout is None else layout.nbytes / 2**20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke run, < 1 minute)")
    ap.add_argument("--budget", type=float, default=120.0, help="seconds allowed per pymdptoolbox run")
    ap.add_argument("--max-size", type=int, default=1_000_000, help="largest S for probwb")
    ap.add_argument("--loop-only", action="store_true", help="only the sweep-loop table (no pymdptoolbox)")
    args = ap.parse_args()
    import mdptoolbox

    g = 0.95
    sizes = [1_000, 3_000] if args.quick else [1_000, 3_000, 10_000, 100_000, 1_000_000]
    sizes = [s for s in sizes if s <= args.max_size]
    bw = copy_bandwidth(64 * 2**20 if args.quick else 256 * 2**20)
    compile_s = K.warm_up()
    print(f"# probwb.mdp vs pymdptoolbox — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}")
    nb = "not installed"
    if K.has_numba():
        import numba

        nb = f"{numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)"
    print(f"probwb {probwb.__version__}, pymdptoolbox {getattr(mdptoolbox, '__version__', '4.0b3')}, "
          f"numpy {np.__version__}, numba {nb}, python {platform.python_version()}, {platform.machine()}; "
          f"copy bandwidth {bw / 1e9:.1f} GB/s (read+write); gamma {g}, epsilon 0.01; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; numba compile/load of the "
          f"sweep kernels {compile_s:.2f} s (once per process, before any timing)\n")
    seen: dict[tuple[str, str], tuple[int, float]] = {}
    loop_rows = []
    if not args.loop_only:
        print("## End to end (construction + validation + solve)\n")
        print("| problem | S | method | probwb s (build) | sweeps/iters | pymdptoolbox s (build) | sweeps/iters "
              "| ratio | policy agrees with exact PI | max abs V - V* probwb / pymdptoolbox "
              "| VI loop ms/sweep probwb / pymdptoolbox |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
    for problem in ("random", "forest"):
        for S in sizes:
            if problem == "random":
                P, R = random_sparse_arrays(S, 4, 5, random_state=0)
            else:
                P, R = forest_arrays(S)
            if not args.loop_only:
                end_to_end(problem, S, P, R, g, args.budget, seen)
            loop_rows.append(loop_row(problem, S, P, R, g, bw))
    print("\n## Value-iteration sweep loop vs memory-bandwidth floor\n")
    print("| problem | S | non-zeros | probwb kernel (default) | sweeps sup / span | scipy ms/sweep "
          "| probwb ms/sweep (wall) | probwb ms/sweep (CPU) | 1 thread / 2 threads ms/sweep | floor ms/sweep "
          "| scipy / floor | probwb / floor | layout build s (MB) | probwb + build / floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in loop_rows:
        ser = "-" if r["ser"] is None else f"{1e3 * r['ser']:.2f} / {1e3 * r['par']:.2f}"
        amort = r["pb"] + r["layout"] / r["sweeps"]
        print(f"| {r['problem']} | {r['S']:,} | {r['nnz']:,} | {r['kernel']} | {r['sweeps']} / {r['span']} | "
              f"{1e3 * r['sp']:.3f} | {1e3 * r['pb']:.3f} | {1e3 * r['pb_cpu']:.3f} | {ser} | "
              f"{1e3 * r['floor']:.3f} | {r['sp'] / r['floor']:.2f}x | {r['pb'] / r['floor']:.2f}x | "
              f"{r['layout']:.3f} ({r['layout_mb']:.0f}) | {amort / r['floor']:.2f}x |", flush=True)


def end_to_end(problem: str, S: int, P, R, g: float, budget: float, seen: dict) -> None:
    exact = solve(MDP(P, R, g), "policy_iteration")
    for method in ("value_iteration", "policy_iteration"):
        res, tb_o, tt_o = ours(P, R, g, method)
        ag_o = agree(res.policy_index, exact, g)
        dv_o = float(np.abs(res.V - exact.V).max())
        vi = method == "value_iteration"
        ms_o = f"{1e3 * res.timings['solve'] / res.iterations:.3f}" if vi else "-"
        key = (problem, method)
        pred = None
        if key in seen:
            s0, t0 = seen[key]
            pred = t0 * (S / s0) ** 2 * (1.0 if method == "value_iteration" else S / s0)
        if pred is not None and pred > budget:
            their = f"skipped (predicted {pred:,.0f} s > budget {budget:.0f} s)"
            row = f"| {problem} | {S:,} | {method} | {tt_o:.3f} ({tb_o:.3f}) | {res.iterations} |" \
                  f" {their} | | | probwb {ag_o:.4f} | {dv_o:.1e} / - | {ms_o} / - |"
        else:
            obj, tb_t, tt_t = theirs(P, R, g, method)
            seen[key] = (S, tt_t)
            pol_t = np.asarray(obj.policy)
            ag_t = agree(pol_t, exact, g)
            dv_t = float(np.abs(np.asarray(obj.V) - exact.V).max())
            row = (f"| {problem} | {S:,} | {method} | {tt_o:.3f} ({tb_o:.3f}) | {res.iterations} | "
                   f"{tt_t:.3f} ({tb_t:.3f}) | {obj.iter} | {tt_t / tt_o:.1f}x | "
                   f"probwb {ag_o:.4f}, pymdptoolbox {ag_t:.4f} | {dv_o:.1e} / {dv_t:.1e} | {ms_o} / "
                   + (f"{1e3 * (tt_t - tb_t) / obj.iter:.3f} |" if vi else "- |"))
        print(row, flush=True)


if __name__ == "__main__":
    main()
