"""ANOVA benchmarks under the fair rules (benchmarks/fair.py).

1. One-way ANOVA, the headline (#22): ``probwb.stats.oneway(data, "y", "a")`` (a DataFrame and column names)
   against ``scipy.stats.f_oneway`` on the groups split out of the same DataFrame with numpy (codes of the
   categorical column, a stable argsort, ``np.split``) -- the grouping is timed on both sides. A/B alternated,
   equal repetitions, medians, at 1,000, 10,000, 100,000 and 1,000,000 rows; F and p compared to 1e-10 relative.
2. statsmodels ``ols`` + ``anova_lm`` against ``probwb.stats.anova`` (one-way and two-way types II/III), its
   own rows, alternated with equal repetitions; tables compared to 1e-10 relative.
3. Cold start: a fresh process with empty caches: import, build the data, first one-way ANOVA.

Run ``python benchmarks/bench_stats.py`` (``--quick`` for a smoke run); prints markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import fair  # noqa: E402


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 10, n)
    b = rng.integers(0, 5, n)
    effect_a = np.linspace(-0.2, 0.2, 10)
    effect_b = np.linspace(0.0, 0.1, 5)
    y = 50.0 + effect_a[a] + effect_b[b] + 0.05 * (a == 3) * (b == 1) + rng.normal(0, 1, n)
    return pd.DataFrame({
        "a": pd.Categorical.from_codes(a, [f"a{i}" for i in range(10)]),
        "b": pd.Categorical.from_codes(b, [f"b{i}" for i in range(5)]),
        "y": y,
    })


def max_rel_diff(ours: pd.DataFrame, theirs: pd.DataFrame, names: dict[str, str]) -> tuple[float, float]:
    """Return the largest relative differences of (sum_sq, df, F) and of -log10(p).

    p-values are compared on the log scale: a p-value of 1e-256 inherits a relative error about 300 times
    that of F from the tail of the F distribution, so its raw relative difference measures the tail, not
    the table (both libraries' F agree to ~1e-12 there).
    """
    worst, worst_p = 0.0, 0.0
    for mine, peer in names.items():
        for col in ("sum_sq", "df", "F"):
            x, y = ours.loc[mine, col], theirs.loc[peer, col]
            if pd.isna(x) and pd.isna(y):
                continue
            worst = max(worst, abs(x - y) / max(abs(y), 1e-300))
        x, y = ours.loc[mine, "PR(>F)"], theirs.loc[peer, "PR(>F)"]
        if pd.isna(x) and pd.isna(y) or (x == 0 and y == 0):
            continue
        lx, ly = -np.log10(max(x, 1e-320)), -np.log10(max(y, 1e-320))
        worst_p = max(worst_p, abs(lx - ly) / max(abs(ly), 1e-12) if ly != 0 else abs(lx - ly))
    return worst, worst_p


def scipy_oneway(data: pd.DataFrame, value: str = "y", group: str = "a"):
    """scipy's one-way ANOVA with the groups split out of the DataFrame by numpy (the grouping is timed)."""
    from scipy.stats import f_oneway

    codes = data[group].cat.codes.to_numpy()
    y = data[value].to_numpy()
    order = np.argsort(codes, kind="stable")
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    return f_oneway(*np.split(y[order], cuts))


def oneway_rows(sizes: list[int], reps: int) -> tuple[list[str], list[str]]:
    from probwb.stats import oneway

    out = ["| rows | scipy f_oneway + numpy split median s | probwb oneway median s | speed-up (median ratio) "
           "| reps each | goal | status | max rel. diff F, p |", "| ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |"]
    failed = []
    for n in sizes:
        data = make_data(n)
        peer, ours = scipy_oneway(data), oneway(data, "y", "a")
        diff = max(abs(ours.statistic - peer.statistic) / peer.statistic,
                   abs(ours.pvalue - peer.pvalue) / max(peer.pvalue, 1e-300) if peer.pvalue > 0 else 0.0)
        if diff > 1e-10:
            failed.append(f"one-way at {n:,} rows: F/p differ by {diff:.3g} relative")
        t = fair.alternate({"scipy": lambda d=data: scipy_oneway(d), "probwb": lambda d=data: oneway(d, "y", "a")},
                           reps, warmup=1)
        r = fair.ratio(t["scipy"], t["probwb"])
        out.append(f"| {n:,} | {fair.summary(t['scipy'])['median']:.4f} | {fair.summary(t['probwb'])['median']:.4f} "
                   f"| {r:.2f}x | {reps} | >= 1x | {fair.status(r, 1.0)} | {diff:.1e} |")
    return out, failed


def statsmodels_rows(n: int, reps: int) -> tuple[list[str], list[str]]:
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    from probwb.stats import anova

    data = make_data(n)
    cases = [
        ("one-way (10 groups), type II", "y ~ a", 2, "y ~ C(a)", {"a": "C(a)", "Residual": "Residual"}),
        ("two-way 10 x 5 with interaction, type II", "y ~ a * b", 2, "y ~ C(a) * C(b)",
         {"a": "C(a)", "b": "C(b)", "a:b": "C(a):C(b)", "Residual": "Residual"}),
        ("two-way 10 x 5 with interaction, type III (sum contrasts)", "y ~ a * b", 3,
         "y ~ C(a, Sum) * C(b, Sum)",
         {"Intercept": "Intercept", "a": "C(a, Sum)", "b": "C(b, Sum)", "a:b": "C(a, Sum):C(b, Sum)",
          "Residual": "Residual"}),
    ]
    out = ["| case | rows | statsmodels ols + anova_lm median s | probwb anova median s | speed-up | reps each "
           "| max rel. diff SS, df, F | max rel. diff -log10 p |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    failed = []
    for title, formula, typ, sm_formula, names in cases:
        peer = sm.stats.anova_lm(smf.ols(sm_formula, data).fit(), typ=typ)
        ours = anova(data, formula, typ=typ).table
        diff, diff_p = max_rel_diff(ours, peer, names)
        if max(diff, diff_p) > 1e-10:
            failed.append(f"{title}: tables differ by {max(diff, diff_p):.3g} relative (> 1e-10)")
        t = fair.alternate({
            "statsmodels": lambda f=sm_formula, k=typ: sm.stats.anova_lm(smf.ols(f, data).fit(), typ=k),
            "probwb": lambda f=formula, k=typ: anova(data, f, typ=k).table}, reps)
        out.append(f"| {title} | {n:,} | {fair.summary(t['statsmodels'])['median']:.3f} | "
                   f"{fair.summary(t['probwb'])['median']:.4f} | {fair.ratio(t['statsmodels'], t['probwb']):.1f}x "
                   f"| {reps} | {diff:.1e} | {diff_p:.1e} |")
    return out, failed


COLD = {
    "scipy": """
import time, json, sys; t0 = time.perf_counter()
sys.path.insert(0, {here!r})
import bench_stats
bench_stats.scipy_oneway(bench_stats.make_data({n}))
print(json.dumps({{"s": time.perf_counter() - t0}}))
""",
    "probwb": """
import time, json, sys; t0 = time.perf_counter()
sys.path.insert(0, {here!r})
import bench_stats
from probwb.stats import oneway
oneway(bench_stats.make_data({n}), "y", "a")
print(json.dumps({{"s": time.perf_counter() - t0}}))
""",
}


def cold_rows(n: int, reps: int) -> list[str]:
    here = str(Path(__file__).parent)
    times = fair.alternate_fresh({side: COLD[side].format(here=here, n=n) for side in ("scipy", "probwb")}, reps)
    return ["| cold start | scipy median s | probwb median s | speed-up | reps each |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| fresh process, empty caches: import + build {n:,} rows + first one-way ANOVA | "
            f"{fair.summary(times['scipy'])['median']:.2f} | {fair.summary(times['probwb'])['median']:.2f} | "
            f"{fair.ratio(times['scipy'], times['probwb']):.2f}x | {reps} |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--only", choices=["oneway", "statsmodels", "cold"], default=None)
    args = parser.parse_args()
    before = fair.machine(("statsmodels",))
    failed: list[str] = []
    if args.only in (None, "oneway"):
        rows, bad = oneway_rows([10_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000], 3 if args.quick else 15)
        failed += bad
        print("\n### one-way ANOVA: probwb vs scipy.stats.f_oneway (grouping timed on both sides)\n")
        print("\n".join(rows), flush=True)
    if args.only in (None, "statsmodels"):
        rows, bad = statsmodels_rows(20_000 if args.quick else 200_000, 2 if args.quick else 3)
        failed += bad
        print("\n### ANOVA tables: probwb vs statsmodels ols + anova_lm\n")
        print("\n".join(rows), flush=True)
    if args.only in (None, "cold"):
        print("\n### cold start\n")
        print("\n".join(cold_rows(10_000 if args.quick else 100_000, 2 if args.quick else 3)), flush=True)
    print()
    print(fair.machine_line(before))
    if failed:
        raise SystemExit("\n".join(failed))


if __name__ == "__main__":
    main()
