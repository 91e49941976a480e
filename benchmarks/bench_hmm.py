"""probwb.hmm against hmmlearn, side by side in one process on the same data and parameters.

Workloads (from issue #4):
1. many short sequences: 100,000 sequences x 20 steps, 3 states, Poisson emissions — ``score`` plus
   ``predict_proba`` and one EM iteration. hmmlearn's cost is a per-sequence overhead, so it is timed on
   a subset (20,000 sequences by default) and its time scaled linearly to the full size; the answers are
   compared on that subset.
2. one long sequence: T = 1,000,000, 8 states, Gaussian — ``score``, ``predict_proba`` and Viterbi.

Run ``python benchmarks/bench_hmm.py`` (or ``--quick`` for a small smoke run); prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def _time(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def short_sequences(n_seq: int, n_ref: int, length: int, rows: list[dict[str, Any]]) -> None:
    from hmmlearn import hmm as hl

    from probwb.hmm import HMM

    start = np.array([0.7, 0.25, 0.05])
    trans = np.array([[0.90, 0.08, 0.02], [0.15, 0.70, 0.15], [0.0, 0.0, 1.0]])
    rates = np.array([2.0, 0.6, 0.05])
    truth = HMM.from_params(start, trans, {"purchases": ("poisson", {"rates": rates})},
                            state_names=["active", "at_risk", "churned"], id_col="customer", time_col="week")
    frame = truth.sample(n_seq, length, random_state=0).drop(columns="state")
    X = frame["purchases"].to_numpy().reshape(-1, 1)
    lengths = np.full(n_seq, length)
    sub = frame[frame["customer"] < n_ref]
    X_sub, len_sub = X[: n_ref * length], lengths[:n_ref]

    ref = hl.PoissonHMM(n_components=3, init_params="", params="stl")
    ref.startprob_, ref.transmat_, ref.lambdas_ = start, trans, rates[:, None]
    scale = n_seq / n_ref

    t_ref_score, ref_ll = _time(lambda: ref.score(X_sub, len_sub))
    t_ref_post, ref_post = _time(lambda: ref.predict_proba(X_sub, len_sub))
    t_our_score, _ = _time(lambda: truth.score(frame), repeat=2)
    t_our_post, _ = _time(lambda: truth.predict_proba(frame), repeat=2)
    our_ll = truth.score(sub)
    our_post = truth.predict_proba(sub).to_numpy()
    agree = max(abs(our_ll - ref_ll) / abs(ref_ll), float(np.abs(our_post - ref_post).max()))
    ref_total = (t_ref_score + t_ref_post) * scale
    ours_total = t_our_score + t_our_post
    rows.append({"workload": f"{n_seq:,} seq x {length}, Poisson, 3 states: score + predict_proba",
                 "hmmlearn s": ref_total, "probwb s": ours_total, "speed-up": ref_total / ours_total,
                 "max diff": agree, "note": f"hmmlearn timed on {n_ref:,} seq, x{scale:g}"})

    # One EM iteration from the same starting parameters (hmmlearn: fit with n_iter=1 and no init).
    ref_em = hl.PoissonHMM(n_components=3, init_params="", params="stl", n_iter=1, tol=0.0)
    ref_em.startprob_, ref_em.transmat_, ref_em.lambdas_ = start, trans, rates[:, None]
    t_ref_em, _ = _time(lambda: ref_em.fit(X_sub, len_sub))

    from probwb.hmm.kernels import forward_backward

    def our_em() -> tuple[np.ndarray, np.ndarray]:
        seq = truth._to_sequences(frame, fitting=False)
        res = forward_backward(seq.pad(truth._emission_loglik(seq)), seq.lengths, start, trans, xi=True)
        gamma = res.posteriors[seq.row_seq, seq.row_pos]
        em = truth._emissions["purchases"]
        new = type(em)("purchases")
        new.rates_ = em.rates_.copy()
        new.mstep(seq.obs["purchases"], gamma)
        return new.rates_, res.xi_sum / res.xi_sum.sum(axis=1, keepdims=True)

    t_our_em, _ = _time(our_em, repeat=2)

    # agreement of the update on the subset hmmlearn ran on
    seq = truth._to_sequences(sub, fitting=False)
    res = forward_backward(seq.pad(truth._emission_loglik(seq)), seq.lengths, start, trans, xi=True)
    gamma = res.posteriors[seq.row_seq, seq.row_pos]
    sub_rates = (seq.obs["purchases"] @ gamma) / gamma.sum(axis=0)
    diff = float(np.abs(sub_rates - ref_em.lambdas_[:, 0]).max())
    ref_total = t_ref_em * scale
    rows.append({"workload": f"{n_seq:,} seq x {length}, Poisson, 3 states: one EM iteration",
                 "hmmlearn s": ref_total, "probwb s": t_our_em, "speed-up": ref_total / t_our_em,
                 "max diff": diff, "note": f"hmmlearn timed on {n_ref:,} seq, x{scale:g}"})

    # Full fit path of the estimator (data checks, restarts' set-up included), for the record.
    model = HMM(3, emission="poisson", columns=["purchases"], id_col="customer", time_col="week",
                n_init=1, n_iter=5, tol=0.0, random_state=1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_fit, _ = _time(lambda: model.fit(frame))
    rows.append({"workload": f"{n_seq:,} seq x {length}: HMM.fit, 5 EM iterations (probwb only)",
                 "hmmlearn s": float("nan"), "probwb s": t_fit, "speed-up": float("nan"),
                 "max diff": float("nan"), "note": f"{t_fit / 5:.2f} s per iteration incl. set-up"})


def long_sequence(T: int, rows: list[dict[str, Any]]) -> None:
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
    X, _ = ref.sample(T, random_state=1) if T <= 200_000 else _fast_sample(ours, T)
    x = [X[:, 0]]

    t_ref = {}
    t_our = {}
    t_ref["score"], ref_ll = _time(lambda: ref.score(X), repeat=2)
    t_our["score"], our_ll = _time(lambda: ours.score(x), repeat=2)
    t_ref["predict_proba"], ref_post = _time(lambda: ref.predict_proba(X), repeat=2)
    t_our["predict_proba"], our_post = _time(lambda: ours.predict_proba(x), repeat=2)
    t_ref["viterbi"], ref_path = _time(lambda: ref.predict(X), repeat=2)
    t_our["viterbi"], our_path = _time(lambda: ours.predict(x), repeat=2)
    diffs = {"score": abs(our_ll - ref_ll) / abs(ref_ll),
             "predict_proba": float(np.abs(our_post.to_numpy() - ref_post).max()),
             "viterbi": float((our_path.cat.codes.to_numpy() != ref_path).mean())}
    for k in t_ref:
        rows.append({"workload": f"1 seq x {T:,}, Gaussian, {S} states: {k}", "hmmlearn s": t_ref[k],
                     "probwb s": t_our[k], "speed-up": t_ref[k] / t_our[k], "max diff": diffs[k],
                     "note": "viterbi diff = share of steps differing" if k == "viterbi" else ""})


def _fast_sample(model: Any, T: int) -> tuple[np.ndarray, None]:
    # hmmlearn's sampler loops in Python per step; draw the long sequence with probwb's instead
    df = model.sample(1, T, random_state=1)
    return df["y"].to_numpy()[:, None], None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (seconds)")
    args = parser.parse_args()
    import hmmlearn

    rows: list[dict[str, Any]] = []
    if args.quick:
        short_sequences(10_000, 2_000, 20, rows)
        long_sequence(100_000, rows)
    else:
        short_sequences(100_000, 20_000, 20, rows)
        long_sequence(1_000_000, rows)
    table = pd.DataFrame(rows)
    print(f"# probwb.hmm vs hmmlearn {hmmlearn.__version__} — numpy {np.__version__}, "
          f"python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(table.to_markdown(index=False, floatfmt=".3g") if _has_tabulate() else table.to_string(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
