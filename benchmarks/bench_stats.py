"""Side-by-side ANOVA benchmark: probwb.stats.anova against statsmodels ``ols`` + ``anova_lm``.

Same process, same data (unbalanced: group labels drawn at random), tables compared to 1e-10 relative.
Run ``python benchmarks/bench_stats.py`` (1,000,000 rows) or ``--quick`` (100,000 rows); prints a markdown
table with the speed ratio statsmodels / probwb. statsmodels runs once per case (about a minute each at 1M
rows on a shared 2-core machine); probwb takes the best of ``--repeat`` runs (default 3).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd


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


def best_time(func, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="probwb runs per case (best is kept)")
    args = parser.parse_args()
    n = args.rows or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat

    import scipy
    import statsmodels
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
    rows, failed = [], []
    for title, formula, typ, sm_formula, names in cases:
        t_peer, peer = best_time(lambda f=sm_formula, t=typ: sm.stats.anova_lm(smf.ols(f, data).fit(), typ=t),
                                 1)
        t_ours, ours = best_time(lambda f=formula, t=typ: anova(data, f, typ=t).table, repeat)
        diff, diff_p = max_rel_diff(ours, peer, names)
        if max(diff, diff_p) > 1e-10:
            failed.append(f"{title}: tables differ by {max(diff, diff_p):.3g} relative (> 1e-10)")
        rows.append((title, t_peer, t_ours, t_peer / t_ours, diff, diff_p))

    print(f"ANOVA on {n:,} rows (unbalanced); statsmodels once, probwb best of {repeat}; "
          f"numpy {np.__version__}, scipy {scipy.__version__}, pandas {pd.__version__}, "
          f"statsmodels {statsmodels.__version__}; {platform.machine()}")
    print()
    print("| case | statsmodels ols + anova_lm (s) | probwb anova (s) | speed-up | max rel. diff SS, df, F "
          "| max rel. diff -log10 p |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for title, tp, to, ratio, diff, diff_p in rows:
        print(f"| {title} | {tp:.3f} | {to:.4f} | {ratio:.1f}x | {diff:.1e} | {diff_p:.1e} |")
    if failed:
        raise SystemExit("\n".join(failed))


if __name__ == "__main__":
    main()
