"""Forward sampling and likelihood weighting: vectorised over samples, one node at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["forward_sample", "likelihood_weighting", "weighted_estimate"]


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``probs`` (n, card), by inverting the cumulative sums."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _rows(cpt: np.ndarray, codes: np.ndarray, pas: Sequence[int]) -> np.ndarray:
    if not pas:
        return np.broadcast_to(cpt, (len(codes), cpt.shape[-1]))
    return cpt[tuple(codes[:, p] for p in pas)]


def forward_sample(parents: Sequence[Sequence[int]], cpts: Sequence[np.ndarray], n: int,
                   rng: np.random.Generator, fixed: Mapping[int, int] | None = None) -> np.ndarray:
    """Return ``(n, n_nodes)`` state codes drawn ancestrally; ``fixed`` nodes are set (do-surgery).

    Node ids must be in topological order (parents have smaller ids), as BayesNet keeps them.
    """
    fixed = fixed or {}
    codes = np.zeros((n, len(cpts)), dtype=np.int64)
    for v in range(len(cpts)):
        if v in fixed:
            codes[:, v] = fixed[v]
        else:
            codes[:, v] = _draw(_rows(cpts[v], codes, parents[v]), rng)
    return codes


def likelihood_weighting(parents: Sequence[Sequence[int]], cpts: Sequence[np.ndarray], n: int,
                         rng: np.random.Generator, evidence: Mapping[int, int],
                         do: Mapping[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(codes, weights)``: evidence nodes are clamped and each sample is weighted by the
    probability of the clamped states given its sampled parents."""
    do = do or {}
    codes = np.zeros((n, len(cpts)), dtype=np.int64)
    logw = np.zeros(n)
    for v in range(len(cpts)):
        if v in do:
            codes[:, v] = do[v]
        elif v in evidence:
            codes[:, v] = evidence[v]
            with np.errstate(divide="ignore"):
                logw += np.log(_rows(cpts[v], codes, parents[v])[:, evidence[v]])
        else:
            codes[:, v] = _draw(_rows(cpts[v], codes, parents[v]), rng)
    finite = np.isfinite(logw)
    w = np.zeros(n)
    if finite.any():
        w[finite] = np.exp(logw[finite] - logw[finite].max())
    return codes, w


def weighted_estimate(values: np.ndarray, weights: np.ndarray, card: int
                      ) -> tuple[np.ndarray, np.ndarray, float]:
    """Return ``(p, se, ess)``: the self-normalised estimate of each state's probability, its delta-method
    standard error, and Kish's effective sample size of the weights."""
    w = weights / weights.sum()
    onehot = values[:, None] == np.arange(card)[None, :]
    p = w @ onehot
    # Var of a ratio estimator: sum w_i^2 (I_i - p)^2 with normalised weights
    se = np.sqrt((w[:, None] ** 2 * (onehot - p[None, :]) ** 2).sum(axis=0))
    ess = float(1.0 / np.sum(w ** 2))
    return p, se, ess
