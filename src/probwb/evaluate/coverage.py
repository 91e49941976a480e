"""Checking intervals and tests by simulation: binomial acceptance bands and coverage tables.

A nominal 90% interval checked over ``n`` replications covers the truth a Binomial(n, 0.9) number of
times when it is calibrated; :func:`binomial_band` gives the range of observed rates a calibrated
method lands in with probability ``level``, so a simulation study can say "inside" or "outside"
without a tolerance picked by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


def binomial_band(nominal: float, n: int, level: float = 0.99) -> tuple[float, float]:
    """Return the central ``level`` band (as rates) of Binomial(n, nominal) / n.

    ``nominal`` is the rate a calibrated method achieves (0.9 for a 90% interval, ``alpha`` for a
    test's size under the null); ``n`` is the number of independent replications.
    """
    from scipy.stats import binom

    from probwb.errors import DataError

    if not 0.0 < float(nominal) < 1.0:
        raise DataError(f"nominal must be a rate strictly between 0 and 1, found {float(nominal)}")
    if int(n) < 1:
        raise DataError(f"n (replications) must be a positive integer, found {n}")
    if not 0.0 < float(level) < 1.0:
        raise DataError(f"level must be strictly between 0 and 1, found {float(level)}")
    tail = (1.0 - float(level)) / 2.0
    lo = binom.ppf(tail, int(n), float(nominal)) / int(n)
    hi = binom.isf(tail, int(n), float(nominal)) / int(n)
    return float(lo), float(hi)


def coverage_row(name: str, hits: Sequence[bool] | np.ndarray, nominal: float,
                 level: float = 0.99, **extra: object) -> dict[str, object]:
    """Return one row of a coverage table: observed rate of ``hits`` against its binomial band.

    The row has ``quantity, nominal, observed, band_lo, band_hi, n_reps, inside`` plus ``extra``.
    """
    h = np.asarray(hits, dtype=bool).ravel()
    lo, hi = binomial_band(nominal, h.size, level)
    obs = float(h.mean())
    return {"quantity": name, "nominal": float(nominal), "observed": obs, "band_lo": lo, "band_hi": hi,
            "n_reps": int(h.size), "inside": bool(lo <= obs <= hi), **extra}


def coverage_table(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    """Return a DataFrame of :func:`coverage_row` rows (one per quantity checked)."""
    return pd.DataFrame(list(rows))


def to_markdown(table: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """Return ``table`` as a GitHub markdown table (no tabulate dependency)."""
    cols = list(table.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for _, r in table.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, float) else str(v) for v in r.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
