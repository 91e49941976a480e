"""Numerical kernels for ANOVA: plain functions on numpy arrays, kept apart from the user-facing objects.

Every sum of squares is computed from centred values (two passes with a correction step), never from
``sum(x**2) - sum(x)**2 / n``: the textbook one-pass form loses every significant digit on data such as
NIST's SmLs07-09 (values near 1e12 with a spread of 0.1).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "centre",
    "group_stats",
    "combine_codes",
    "coding_matrix",
    "term_columns",
    "weighted_rss",
]


def centre(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Return ``(y - m, m)`` with ``m`` the (corrected) mean of ``y``.

    Differences of cell means must be formed from centred values: with values near 1e12 a mean carries an
    absolute rounding error of 1e-4, which is the whole signal when the spread is 0.1. Subtracting a nearby
    ``m`` is exact (Sterbenz) for values within a factor 2 of it.
    """
    m = float(np.mean(y))
    yc = y - m
    corr = float(np.mean(yc))
    return yc - corr, m + corr


def group_stats(y: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(counts, means, centred_ss)`` of ``y`` per integer group code in ``0..n_groups-1``.

    Means come from a first pass and are corrected by the mean of the first-pass residuals, so they are
    accurate to a few ulps even with a huge common offset; ``centred_ss[g] = sum((y - mean_g)**2)``.
    """
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    safe = np.where(counts > 0, counts, 1.0)
    means = np.bincount(codes, weights=y, minlength=n_groups) / safe
    resid = y - means[codes]
    corr = np.bincount(codes, weights=resid, minlength=n_groups) / safe
    means = means + corr
    css = np.bincount(codes, weights=resid * resid, minlength=n_groups) - counts * corr * corr
    return counts, means, np.maximum(css, 0.0)


def combine_codes(codes: list[np.ndarray], sizes: list[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Combine per-factor integer codes into one cell code.

    Returns ``(cell_code, cell_levels, n_cells)`` where ``cell_levels`` is an ``(n_cells, n_factors)`` array
    with each observed cell's level codes and ``cell_code`` indexes those observed cells (empty cells dropped).
    """
    if not codes:
        raise ValueError("combine_codes needs at least one factor")
    total = int(np.prod(sizes, dtype=np.int64))
    flat = np.ravel_multi_index(tuple(codes), tuple(sizes)) if len(codes) > 1 else codes[0].astype(np.int64)
    if total <= 4_000_000:
        present = np.bincount(flat, minlength=total) > 0
        observed = np.flatnonzero(present)
        remap = np.full(total, -1, dtype=np.int64)
        remap[observed] = np.arange(observed.size)
        cell_code = remap[flat]
    else:
        observed, cell_code = np.unique(flat, return_inverse=True)
    cell_levels = np.column_stack(np.unravel_index(observed, tuple(sizes))) if len(codes) > 1 \
        else observed.reshape(-1, 1)
    return cell_code, cell_levels, int(observed.size)


def coding_matrix(n_levels: int, kind: str) -> np.ndarray:
    """Return the ``(n_levels, n_levels - 1)`` contrast matrix: ``"treatment"`` (first level is the
    reference) or ``"sum"`` (sum-to-zero: the last level is minus the sum of the others, needed for type III).
    """
    if n_levels < 2:
        return np.zeros((n_levels, 0))
    if kind == "treatment":
        return np.eye(n_levels)[:, 1:]
    if kind == "sum":
        m = np.vstack([np.eye(n_levels - 1), -np.ones((1, n_levels - 1))])
        return m
    raise ValueError(f"unknown coding {kind!r}: expected 'treatment' or 'sum'")


def term_columns(term: tuple[str, ...], factor_codes: dict[str, np.ndarray], factor_sizes: dict[str, int],
                 covariates: dict[str, np.ndarray], n_rows: int, coding: str) -> np.ndarray:
    """Return the design columns of one model term (row-wise Kronecker product of its variables' codings).

    A factor contributes its contrast columns, a covariate its values; ``()`` is the intercept.
    """
    out = np.ones((n_rows, 1))
    for var in term:
        if var in factor_codes:
            block = coding_matrix(factor_sizes[var], coding)[factor_codes[var]]
        else:
            block = covariates[var].reshape(-1, 1)
        out = (out[:, :, None] * block[:, None, :]).reshape(n_rows, -1)
    return out


def weighted_rss(x: np.ndarray, w: np.ndarray, ybar: np.ndarray) -> tuple[float, int]:
    """Return ``(rss, rank)`` of the weighted least-squares fit of ``ybar`` on ``x`` with weights ``w``.

    With cell means ``ybar`` and cell counts ``w`` this is the between-cell part of the residual sum of squares
    of the same model fitted to the raw rows (the within-cell part is added by the caller).
    """
    sw = np.sqrt(w)
    b = ybar * sw
    if x.shape[1] == 0:
        return float(b @ b), 0
    a = x * sw[:, None]
    coef, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    r = b - a @ coef
    # a second refinement step removes most of the rounding left by one lstsq solve
    dcoef = np.linalg.lstsq(a, r, rcond=None)[0]
    r = r - a @ dcoef
    return float(r @ r), int(rank)
