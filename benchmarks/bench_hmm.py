"""probwb.hmm against hmmlearn under the fair rules (benchmarks/fair.py): memory, time and cold start.

Workloads (issues #4 and #22), 3-state Poisson chains of 20 steps per customer unless stated:

1. **Memory per observation** (peak resident memory above the level once the data are in memory, each
   measurement in its own fresh process): one EM iteration (hmmlearn ``fit(n_iter=1)`` on ``X, lengths``;
   probwb's EM step on its prepared sequences, and ``HMM.fit(n_iter=1)`` from the DataFrame), ``score`` and
   ``predict_proba`` at 10,000 / 100,000 sequences (probwb from the DataFrame; hmmlearn on a prepared ``X``, and
   in its own row building ``X, lengths`` from the same DataFrame inside the measured call), probwb alone at
   1,000,000 (hmmlearn would take ~5 min per iteration there). Goal: <= 1.5x hmmlearn's bytes per observation
   for the EM iteration, score and predict_proba, bounded at 1M.
2. **Time**, A/B alternated with equal repetitions, medians: hmmlearn through ``fit()`` (one EM iteration,
   no initialisation: both sides start from the same parameters) and ``score`` + ``predict_proba``; probwb
   through ``HMM.fit`` / ``score`` / ``predict_proba`` on the DataFrame. Both sides run on the same
   sequences (no extrapolation). One long sequence (T = 1,000,000, 8-state Gaussian) as in issue #4.
3. **Cold start**: a fresh process with empty caches: import, build the data, first fit.

Run ``python benchmarks/bench_hmm.py`` (``--quick`` for a smoke run); prints markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import fair  # noqa: E402

START = np.array([0.7, 0.25, 0.05])
TRANS = np.array([[0.90, 0.08, 0.02], [0.15, 0.70, 0.15], [0.0, 0.0, 1.0]])
RATES = np.array([2.0, 0.6, 0.05])
LENGTH = 20


def make_frame(n_seq: int, seed: int = 0) -> Any:
    """Return a long DataFrame (customer, week, purchases) drawn from the 3-state Poisson chain."""
    from probwb.hmm import HMM

    truth = HMM.from_params(START, TRANS, {"purchases": ("poisson", {"rates": RATES})},
                            id_col="customer", time_col="week")
    return truth.sample(n_seq, LENGTH, random_state=seed).drop(columns="state")


def _hmmlearn(n_iter: int = 1) -> Any:
    from hmmlearn import hmm as hl

    ref = hl.PoissonHMM(n_components=3, init_params="", params="stl", n_iter=n_iter, tol=1e-300)
    ref.startprob_, ref.transmat_, ref.lambdas_ = START.copy(), TRANS.copy(), RATES[:, None].copy()
    return ref


def _probwb_fitted() -> Any:
    from probwb.hmm import HMM

    return HMM.from_params(START, TRANS, {"purchases": ("poisson", {"rates": RATES})},
                           id_col="customer", time_col="week")


def _probwb_fit_one(frame: Any) -> Any:
    """HMM.fit for one EM iteration from the true parameters (hmmlearn's ``init_params=""`` equivalent)."""
    from probwb.hmm import HMM

    m = HMM(3, emission={"purchases": "poisson"}, id_col="customer", time_col="week", n_init=1, n_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(frame.iloc[:200])  # learn the columns; the timed EM below starts from the given parameters
    seq = m._to_sequences(frame, fitting=False)
    ems = {c: type(e)(c) for c, e in m._emissions.items()}
    ems["purchases"].rates_ = RATES.copy()
    return m, seq, ems


def _rss_kib() -> tuple[int, int]:
    d = {ln.split(":")[0]: int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("Vm")}
    return d["VmRSS"], d["VmHWM"]


def mem_child(side: str, op: str, n_seq: int) -> None:
    """Run one operation and print its peak memory above the data's (bytes per observation) as JSON."""
    import ctypes
    import gc

    frame = make_frame(n_seq)
    X = frame["purchases"].to_numpy(dtype=float).reshape(-1, 1)
    lengths = np.full(n_seq, LENGTH)
    if side == "hmmlearn":
        ref = _hmmlearn()
        if op.endswith("_frame"):
            del X  # hmmlearn's side builds its X, lengths from the same DataFrame inside the measured call

            def from_frame(method: str) -> Any:
                s = frame.sort_values(["customer", "week"])
                X_ = s["purchases"].to_numpy(dtype=float).reshape(-1, 1)
                lengths_ = s.groupby("customer", sort=False).size().to_numpy()
                del s
                return getattr(ref, method)(X_, lengths_)

            fn = {"score_frame": lambda: from_frame("score"),
                  "predict_proba_frame": lambda: from_frame("predict_proba")}[op]
        else:
            fn = {"em": lambda: ref.fit(X, lengths), "score": lambda: ref.score(X, lengths),
                  "predict_proba": lambda: ref.predict_proba(X, lengths)}[op]
    else:
        model = _probwb_fitted()
        if op == "em":
            m, seq, ems = _probwb_fit_one(frame)
            fn = lambda: m._em(seq, START.copy(), TRANS.copy(), ems, seq.n_rows, 0)  # noqa: E731
        elif op == "fit":
            from probwb.hmm import HMM

            m = HMM(3, emission={"purchases": "poisson"}, id_col="customer", time_col="week", n_init=1,
                    n_iter=1, random_state=0)
            fn = lambda: m.fit(frame)  # noqa: E731
        else:
            fn = {"score": lambda: model.score(frame), "predict_proba": lambda: model.predict_proba(frame)}[op]
    gc.collect()
    # hand freed heap pages back to the OS first: otherwise memory freed while preparing (and reused by the
    # measured call) never shows in the resident size, and a call can look free
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current resident size
        base, _ = _rss_kib()
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
        _, peak = _rss_kib()
    print(json.dumps({"bytes_per_obs": (peak - base) * 1024.0 / (n_seq * LENGTH), "peak_mib": (peak - base) / 1024,
                      "seconds": seconds}))


def _mem(side: str, op: str, n_seq: int) -> dict[str, Any]:
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_hmm; " \
           f"bench_hmm.mem_child({side!r}, {op!r}, {n_seq})"
    return fair.fresh_process(code)


def memory_rows(sizes: list[int], big: int | None) -> list[str]:
    out = ["| operation | sequences x 20 | hmmlearn B/obs | probwb B/obs | probwb / hmmlearn | goal | status |",
           "| --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for n in sizes:
        for op in ("em", "score", "predict_proba"):
            ref = _mem("hmmlearn", op, n)["bytes_per_obs"]
            ours = _mem("probwb", op, n)["bytes_per_obs"]
            goal = "<= 1.5x"
            st = fair.status(ours / ref, 1.5, higher_is_better=False)
            label = {"em": "one EM iteration (hmmlearn fit n_iter=1; probwb EM step on prepared sequences)",
                     "score": "score (probwb from the DataFrame)",
                     "predict_proba": "predict_proba (probwb from the DataFrame)"}[op]
            out.append(f"| {label} | {n:,} | {ref:.1f} | {ours:.1f} | {ours / ref:.2f}x | {goal} | {st} |")
            print(out[-1], file=sys.stderr, flush=True)
            if op != "em":
                # the same operation with hmmlearn's side also building X, lengths from the DataFrame
                ref_f = _mem("hmmlearn", f"{op}_frame", n)["bytes_per_obs"]
                st_f = fair.status(ours / ref_f, 1.5, higher_is_better=False)
                out.append(f"| {op}, both sides from the DataFrame (hmmlearn: sort, X, lengths, then {op}) | {n:,} "
                           f"| {ref_f:.1f} | {ours:.1f} | {ours / ref_f:.2f}x | {goal} | {st_f} |")
                print(out[-1], file=sys.stderr, flush=True)
        fit = _mem("probwb", "fit", n)["bytes_per_obs"]
        out.append(f"| HMM.fit(n_iter=1) from the DataFrame (data preparation + init + EM), probwb only | {n:,} "
                   f"| | {fit:.1f} | | | |")
    if big:
        for op in ("em", "score"):
            r = _mem("probwb", op, big)
            goal = "bounded" if op == "em" else "(reported: data preparation is per row)"
            out.append(f"| {op} at {big:,} sequences, probwb only (peak {r['peak_mib']:.0f} MiB above the data) "
                       f"| {big:,} | | {r['bytes_per_obs']:.1f} | | {goal} | |")
    return out


def scaling_rows(sizes: list[int], reps: int) -> list[str]:
    """probwb's EM step at growing sizes, each in fresh processes: seconds and peak memory (median of reps)."""
    out = ["| sequences x 20 | EM step median s | s per million observations | peak MiB above the data | reps |",
           "| ---: | ---: | ---: | ---: | ---: |"]
    for n in sizes:
        runs = [_mem("probwb", "em", n) for _ in range(reps)]
        sec = float(np.median([r["seconds"] for r in runs]))
        mib = float(np.median([r["peak_mib"] for r in runs]))
        out.append(f"| {n:,} | {sec:.3g} | {sec / (n * LENGTH / 1e6):.3g} | {mib:.0f} | {reps} |")
    return out


def time_rows(n_seq: int, reps: int) -> list[str]:
    frame = make_frame(n_seq)
    X = frame["purchases"].to_numpy(dtype=float).reshape(-1, 1)
    lengths = np.full(n_seq, LENGTH)
    ours = _probwb_fitted()
    from probwb.hmm import HMM

    def our_fit() -> Any:
        # the estimator's own fit, one EM iteration; its initialisation is included (hmmlearn's is skipped)
        m = HMM(3, emission={"purchases": "poisson"}, id_col="customer", time_col="week", n_init=1, n_iter=1,
                random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return m.fit(frame)

    def ref_fit() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _hmmlearn().fit(X, lengths)

    ref = _hmmlearn()
    cases = {
        "one EM iteration through fit() (probwb: data preparation + initialisation included)": (ref_fit, our_fit),
        "score + predict_proba": (lambda: (ref.score(X, lengths), ref.predict_proba(X, lengths)),
                                  lambda: (ours.score(frame), ours.predict_proba(frame))),
    }
    # answers agree on the same sequences
    post = np.abs(ours.predict_proba(frame).to_numpy() - ref.predict_proba(X, lengths)).max()
    m, seq, ems = _probwb_fit_one(frame)
    res = m._em(seq, START.copy(), TRANS.copy(), ems, seq.n_rows, 0)
    ref_em = ref_fit()
    em_diff = float(np.abs(res["emissions"]["purchases"].rates_ - ref_em.lambdas_[:, 0]).max())
    diffs = {0: em_diff, 1: float(post)}
    out = ["| workload | hmmlearn median s | probwb median s | speed-up (median ratio) | reps each | max diff |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for i, (label, (a, b)) in enumerate(cases.items()):
        t = fair.alternate({"hmmlearn": a, "probwb": b}, reps)
        out.append(f"| {n_seq:,} seq x 20, Poisson, 3 states: {label} | {fair.summary(t['hmmlearn'])['median']:.3g} "
                   f"| {fair.summary(t['probwb'])['median']:.3g} | {fair.ratio(t['hmmlearn'], t['probwb']):.1f}x "
                   f"| {reps} | {diffs[i]:.1e} |")
    return out


def long_rows(T: int, reps: int) -> list[str]:
    from hmmlearn import hmm as hl

    from probwb.hmm import HMM

    S = 8
    rng = np.random.default_rng(0)
    trans = rng.dirichlet(np.ones(S), size=S) + np.eye(S) * 4
    trans /= trans.sum(axis=1, keepdims=True)
    start = np.full(S, 1.0 / S)
    means = np.linspace(-4, 4, S)
    covars = rng.uniform(0.3, 1.0, S)
    ref = hl.GaussianHMM(n_components=S, covariance_type="diag", init_params="", params="")
    ref.startprob_, ref.transmat_ = start, trans
    ref.means_, ref.covars_ = means[:, None], covars[:, None]
    ours = HMM.from_params(start, trans, {"y": ("gaussian", {"means": means, "covars": covars})})
    X = ours.sample(1, T, random_state=1)["y"].to_numpy()[:, None]
    x = [X[:, 0]]
    out = ["| workload | hmmlearn median s | probwb median s | speed-up | reps each | max diff |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    ops = {"score": (lambda: ref.score(X), lambda: ours.score(x)),
           "predict_proba": (lambda: ref.predict_proba(X), lambda: ours.predict_proba(x)),
           "viterbi": (lambda: ref.predict(X), lambda: ours.predict(x))}
    diffs = {"score": abs(ours.score(x) - ref.score(X)) / abs(ref.score(X)),
             "predict_proba": float(np.abs(ours.predict_proba(x).to_numpy() - ref.predict_proba(X)).max()),
             "viterbi": float((ours.predict(x).cat.codes.to_numpy() != ref.predict(X)).mean())}
    for k, (a, b) in ops.items():
        t = fair.alternate({"hmmlearn": a, "probwb": b}, reps)
        r = fair.ratio(t["hmmlearn"], t["probwb"])
        out.append(f"| 1 seq x {T:,}, Gaussian, {S} states: {k} | {fair.summary(t['hmmlearn'])['median']:.3g} | "
                   f"{fair.summary(t['probwb'])['median']:.3g} | {r:.2f}x | {reps} | {diffs[k]:.1e} |")
    return out


COLD = {
    "hmmlearn": """
import time, json; t0 = time.perf_counter()
import numpy as np
from hmmlearn import hmm as hl
rng = np.random.default_rng(0); X = rng.poisson(1.0, ({n} * 20, 1)).astype(float)
m = hl.PoissonHMM(n_components=3, n_iter=1, random_state=0).fit(X, np.full({n}, 20))
print(json.dumps({{"s": time.perf_counter() - t0}}))
""",
    "probwb": """
import time, json; t0 = time.perf_counter()
import numpy as np, pandas as pd
from probwb.hmm import HMM
rng = np.random.default_rng(0)
df = pd.DataFrame({{"customer": np.repeat(np.arange({n}), 20), "week": np.tile(np.arange(20), {n}),
                    "purchases": rng.poisson(1.0, {n} * 20).astype(float)}})
m = HMM(3, emission={{"purchases": "poisson"}}, id_col="customer", time_col="week", n_init=1, n_iter=1,
        random_state=0).fit(df)
print(json.dumps({{"s": time.perf_counter() - t0}}))
""",
}


def cold_rows(n: int, reps: int) -> list[str]:
    times = fair.alternate_fresh({side: COLD[side].format(n=n) for side in ("hmmlearn", "probwb")}, reps)
    return ["| cold start | hmmlearn median s | probwb median s | speed-up | reps each |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| fresh process, empty caches: import + build {n:,} x 20 + fit (default init, 1 EM iteration) | "
            f"{fair.summary(times['hmmlearn'])['median']:.2f} | {fair.summary(times['probwb'])['median']:.2f} | "
            f"{fair.ratio(times['hmmlearn'], times['probwb']):.2f}x | {reps} |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--only", choices=["memory", "scaling", "time", "long", "cold"], default=None)
    args = parser.parse_args()
    before = fair.machine(("hmmlearn",))
    parts = {
        "memory": lambda: memory_rows([2_000] if args.quick else [10_000, 100_000],
                                      None if args.quick else 1_000_000),
        "scaling": lambda: scaling_rows([2_000, 20_000] if args.quick else [10_000, 100_000, 1_000_000],
                                        1 if args.quick else 2),
        "time": lambda: time_rows(2_000 if args.quick else 20_000, 2 if args.quick else 3),
        "long": lambda: long_rows(100_000 if args.quick else 1_000_000, 2 if args.quick else 3),
        "cold": lambda: cold_rows(2_000 if args.quick else 10_000, 2 if args.quick else 3),
    }
    for name, fn in parts.items():
        if args.only and name != args.only:
            continue
        print(f"\n### {name}\n")
        print("\n".join(fn()), flush=True)
    print()
    print(fair.machine_line(before))


if __name__ == "__main__":
    main()
