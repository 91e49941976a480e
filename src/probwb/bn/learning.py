"""Parameter learning for discrete Bayesian networks: counts, priors, MLE / Bayes, and EM.

Plain functions on integer-coded data (``-1`` = missing) and integer node ids; the
:class:`~probwb.bn.network.BayesNet` class is a thin front over them.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from probwb.bn import kernels
from probwb.errors import ConvergenceWarning, ImpossibleEvidenceError, SpecError

__all__ = [
    "EMResult",
    "family_counts",
    "prior_pseudo_counts",
    "normalise_counts",
    "expected_counts",
    "em",
    "random_cpts",
]

logger = logging.getLogger("probwb.bn")


def _unique_rows(codes: np.ndarray, cards: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(distinct rows, inverse)`` of an integer code matrix with entries in [-1, card).

    Columns are packed into int64 keys (mixed radix, in groups small enough not to overflow) and
    hashed with ``pandas.factorize``: much faster than ``np.unique(axis=0)``, which sorts rows.
    Distinct rows come in order of first appearance.
    """
    n, k = codes.shape
    if k == 0 or n == 0:
        return codes[:1], np.zeros(n, dtype=np.int64)
    ids = np.zeros(n, dtype=np.int64)
    n_ids = 1
    j = 0
    while j < k:
        key = np.zeros(n, dtype=np.int64)
        prod = 1
        # keep n_ids * prod below 2**62 so the combined key cannot overflow
        while j < k and n_ids * prod * (cards[j] + 1) < 2 ** 62:
            key = key * (cards[j] + 1) + (codes[:, j] + 1)
            prod *= cards[j] + 1
            j += 1
        ids, uniq_ids = pd.factorize(ids * prod + key)
        ids = np.asarray(ids, dtype=np.int64)
        n_ids = len(uniq_ids)
    first = np.full(n_ids, n, dtype=np.int64)
    np.minimum.at(first, ids, np.arange(n, dtype=np.int64))
    return codes[first], ids


def _unique_masks(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct boolean rows of ``mask`` (observed-column patterns) and the inverse."""
    uniq, inv = _unique_rows(mask.astype(np.int64) - 1, [1] * mask.shape[1])
    return uniq + 1 > 0, inv


def family_counts(codes: np.ndarray, weights: np.ndarray, fam: Sequence[int],
                  cards: Sequence[int]) -> np.ndarray:
    """Return weighted counts of a family's joint states, shape ``(*parent_cards, card)``.

    ``codes`` is ``(n_rows, n_nodes)`` with every family column observed (>= 0) in the rows given.
    """
    shape = tuple(cards[u] for u in fam)
    flat = np.ravel_multi_index(tuple(codes[:, u] for u in fam), shape)
    return np.bincount(flat, weights=weights, minlength=int(np.prod(shape))).reshape(shape)


def prior_pseudo_counts(prior: str | float | np.ndarray, shape: tuple[int, ...],
                        equivalent_sample_size: float, node: str = "") -> np.ndarray:
    """Return the Dirichlet pseudo-counts for one CPT of ``shape`` ``(*parent_cards, card)``.

    ``prior`` is ``"BDeu"`` (``ess / (q * r)`` per cell, q parent configurations, r states),
    ``"K2"`` (1 per cell), a number (that many per cell) or an array broadcastable to ``shape``.
    """
    if isinstance(prior, str):
        key = prior.lower()
        if key == "bdeu":
            q = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            return np.full(shape, float(equivalent_sample_size) / (q * shape[-1]))
        if key == "k2":
            return np.ones(shape)
        raise SpecError(f"prior for node {node!r} must be 'BDeu', 'K2', a number or an array of "
                        f"pseudo-counts, found {prior!r}")
    arr = np.asarray(prior, dtype=float)
    try:
        arr = np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise SpecError(f"pseudo-counts for node {node!r} must broadcast to the CPT shape {shape}, "
                        f"found shape {arr.shape}") from None
    if (arr <= 0).any() or not np.isfinite(arr).all():
        raise SpecError(f"pseudo-counts for node {node!r} must be positive and finite")
    return arr


def normalise_counts(counts: np.ndarray) -> tuple[np.ndarray, int]:
    """Return ``counts`` normalised along the last axis and the number of all-zero parent rows.

    A parent configuration never seen gets a uniform row (there is no information to do better);
    the caller warns about it.
    """
    tot = counts.sum(axis=-1, keepdims=True)
    empty = tot[..., 0] <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(tot > 0, counts / np.where(tot > 0, tot, 1.0), 1.0 / counts.shape[-1])
    return out, int(empty.sum())


def random_cpts(cards: Sequence[int], parents: Sequence[Sequence[int]], rng: np.random.Generator,
                concentration: float = 1.0) -> list[np.ndarray]:
    """Return CPTs drawn from symmetric Dirichlet(``concentration``) distributions."""
    out = []
    for v in range(len(cards)):
        shape = tuple(cards[p] for p in parents[v]) + (cards[v],)
        g = rng.gamma(concentration, size=shape) + 1e-12
        out.append(g / g.sum(axis=-1, keepdims=True))
    return out


def expected_counts(
    parents: Sequence[Sequence[int]],
    cards: Sequence[int],
    cpts: Sequence[np.ndarray],
    codes: np.ndarray,
    weights: np.ndarray,
    plan_cache: dict | None = None,
) -> tuple[list[np.ndarray], float]:
    """E-step: expected family counts given partially observed rows, and the data log-likelihood.

    Rows are grouped by their pattern of observed columns; within a pattern, each family's missing
    members get their joint posterior from one batched elimination over all rows of the pattern.
    Returns ``(counts per node, sum of weight * log P(observed row))``.
    """
    n_nodes = len(cards)
    counts = [np.zeros(tuple(cards[p] for p in parents[v]) + (cards[v],)) for v in range(n_nodes)]
    cache = plan_cache if plan_cache is not None else {}
    mask = codes >= 0
    patterns, inverse = _unique_masks(mask)
    loglik = 0.0
    for k, pat in enumerate(patterns):
        rows = np.flatnonzero(inverse == k)
        sub = codes[rows]
        w = weights[rows]
        obs = tuple(int(i) for i in np.flatnonzero(pat))
        hard = {u: sub[:, u] for u in obs}
        # P(observed row) for the log-likelihood
        key = ((), obs)
        plan = cache.get(key)
        if plan is None:
            plan = cache[key] = kernels.compile_plan(parents, cards, (), obs, batched=True)
        pe = kernels.run_plan(plan, cpts, hard) if obs else np.ones(len(rows))
        pe = np.broadcast_to(pe, (len(rows),))
        if (pe <= 0).any():
            bad = int(rows[np.flatnonzero(pe <= 0)[0]])
            raise ImpossibleEvidenceError(
                f"data row {bad} has probability zero under the current parameters "
                "(a zero in a CPT contradicts it); EM cannot continue")
        loglik += float(np.sum(w * np.log(pe)))
        for v in range(n_nodes):
            fam = tuple(parents[v]) + (v,)
            miss = tuple(u for u in fam if not pat[u])
            if not miss:
                counts[v] += family_counts(sub, w, fam, cards)
                continue
            key = (miss, obs)
            plan = cache.get(key)
            if plan is None:
                plan = cache[key] = kernels.compile_plan(parents, cards, miss, obs, batched=bool(obs))
            joint = kernels.run_plan(plan, cpts, hard)
            if not obs:
                joint = np.broadcast_to(joint, (len(rows),) + joint.shape)
            # the plan keeps only the factors the posterior needs: normalise per row
            axes = tuple(range(1, 1 + len(miss)))
            post = joint / joint.sum(axis=axes, keepdims=True)
            post = post * w.reshape((-1,) + (1,) * len(miss))
            obs_axes = [i for i, u in enumerate(fam) if pat[u]]
            miss_axes = [i for i, u in enumerate(fam) if not pat[u]]
            target = np.transpose(counts[v], obs_axes + miss_axes)
            if obs_axes:
                idx = tuple(sub[:, fam[i]] for i in obs_axes)
                np.add.at(target, idx, post)
            else:
                target += post.sum(axis=0)
    return counts, loglik


@dataclass
class EMResult:
    """Outcome of :func:`em`: the best run's CPTs, expected counts and convergence record."""

    cpts: list[np.ndarray]
    counts: list[np.ndarray]
    log_likelihood: float
    history: list[float]
    converged: bool
    n_iter: int
    all_log_likelihoods: list[float] = field(default_factory=list)


def em(
    parents: Sequence[Sequence[int]],
    cards: Sequence[int],
    codes: np.ndarray,
    weights: np.ndarray,
    priors: Sequence[np.ndarray | None],
    *,
    init: Sequence[np.ndarray] | None = None,
    n_init: int = 1,
    max_iter: int = 100,
    tol: float = 1e-6,
    rng: np.random.Generator,
    verbose: bool = False,
) -> EMResult:
    """Expectation-maximisation for CPTs from rows with missing cells and/or latent columns.

    ``priors[v]`` are Dirichlet pseudo-counts (or None for maximum likelihood); the M-step sets each
    CPT to the normalised ``expected counts + pseudo-counts``. The first run starts from ``init``
    when given, later runs (``n_init`` in all) from random CPTs; the run with the highest final
    log-likelihood wins. Convergence: the relative change of the log-likelihood below ``tol``.
    A :class:`ConvergenceWarning` is issued when the winning run did not converge.
    """
    from probwb.core.progress import progress

    best: EMResult | None = None
    finals = []
    for run in progress(range(max(1, n_init)), desc="EM restarts", disable=not verbose):
        if run == 0 and init is not None:
            cpts = [np.array(c, dtype=float) for c in init]
        else:
            cpts = random_cpts(cards, parents, rng)
        cache: dict = {}
        history: list[float] = []
        converged = False
        counts: list[np.ndarray] = []
        n_iter = 0
        for _ in range(max_iter):
            n_iter += 1
            counts, ll = expected_counts(parents, cards, cpts, codes, weights, cache)
            history.append(ll)
            new = []
            for v, c in enumerate(counts):
                tot = c + priors[v] if priors[v] is not None else c
                norm, _ = normalise_counts(tot)
                new.append(norm)
            cpts = new
            if len(history) > 1:
                change = history[-1] - history[-2]
                if abs(change) <= tol * (abs(history[-1]) + 1e-12):
                    converged = True
                    break
        if converged:
            # the last M-step came after the last likelihood evaluation: report the final value
            counts, ll = expected_counts(parents, cards, cpts, codes, weights, cache)
            history.append(ll)
        logger.info("EM run %d: log-likelihood %.6f after %d iterations (converged=%s)",
                    run, history[-1], n_iter, converged)
        finals.append(history[-1])
        result = EMResult(cpts, counts, history[-1], history, converged, n_iter)
        if best is None or result.log_likelihood > best.log_likelihood:
            best = result
    assert best is not None
    best.all_log_likelihoods = finals
    if not best.converged:
        warnings.warn(
            f"EM did not converge in {max_iter} iterations (relative tolerance {tol:g}); last "
            f"log-likelihood change {best.history[-1] - best.history[-2]:.3g}. Increase max_iter.",
            ConvergenceWarning, stacklevel=3)
    return best
