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
    "EnumeratedRows",
    "PosteriorDraws",
    "data_augmentation",
    "dirichlet_draws",
    "draw_cpts",
    "sample_counts",
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


#: joint states of the whole network up to which EM and the posterior sampler enumerate them
_ENUM_STATES = 65_536
#: (row, consistent joint state) pairs, and imputation units, up to which they do
_ENUM_ENTRIES = 4_000_000


class EnumeratedRows:
    """Partially observed rows of a small network, each listed with its consistent joint states.

    With at most ``_ENUM_STATES`` joint states, every row's consistent joint states (observed cells
    fixed, missing cells free) are listed once. An E-step is then one product of the CPTs (the
    joint table), a gather and a bincount, and a draw of each row's missing cells from their joint
    posterior is one ``searchsorted``, however many missingness patterns the rows have. Build
    with :meth:`build`, which returns None for networks or data too large for it.
    """

    def __init__(self, parents: Sequence[Sequence[int]], cards: Sequence[int], codes: np.ndarray,
                 weights: np.ndarray) -> None:
        self.parents = [tuple(int(u) for u in p) for p in parents]
        self.cards = tuple(int(c) for c in cards)
        self.n_states = int(np.prod(self.cards, dtype=np.int64))
        n_nodes = len(self.cards)
        strides = np.ones(n_nodes, dtype=np.int64)
        for j in range(n_nodes - 2, -1, -1):
            strides[j] = strides[j + 1] * self.cards[j + 1]
        complete = (codes >= 0).all(axis=1)
        self.complete_rows = np.flatnonzero(complete)
        self.complete_flat = codes[complete] @ strides
        self.complete_w = weights[complete]
        self.fixed = np.bincount(self.complete_flat, weights=self.complete_w, minlength=self.n_states)
        self.rows = np.flatnonzero(~complete)
        sub = codes[self.rows]
        self.w = weights[self.rows]
        cfg_parts = [np.empty(0, dtype=np.int64)]
        seg_parts = [np.empty(0, dtype=np.int64)]
        if len(sub):
            patterns, pinv = _unique_masks(sub >= 0)
            for k, pat in enumerate(patterns):
                r = np.flatnonzero(pinv == k)
                miss = np.flatnonzero(~pat)
                base = np.where(sub[r] >= 0, sub[r], 0) @ strides
                grid = np.indices([self.cards[u] for u in miss]).reshape(len(miss), -1).T
                cfg_parts.append((base[:, None] + (grid @ strides[miss])[None, :]).ravel())
                seg_parts.append(np.repeat(r, grid.shape[0]))
        cfg = np.concatenate(cfg_parts)
        seg = np.concatenate(seg_parts)
        order = np.argsort(seg, kind="stable")
        self.cfg = cfg[order]
        self.seg = seg[order]
        self.starts = np.searchsorted(self.seg, np.arange(len(self.rows) + 1))
        # imputation units: a row of weight w is floor(w) rows of weight 1 and one of the remainder
        whole = np.floor(self.w + 1e-9).astype(np.int64)
        frac = self.w - whole
        part = np.flatnonzero(frac > 1e-9)
        self.unit_row = np.concatenate([np.repeat(np.arange(len(self.rows)), whole), part])
        self.unit_w = np.concatenate([np.ones(int(whole.sum())), frac[part]])
        # each joint state's cell in every family table: marginalising is one bincount a node
        states = np.indices(self.cards).reshape(n_nodes, -1)
        self.fam_shape = [tuple(self.cards[u] for u in (*pas, v)) for v, pas in enumerate(self.parents)]
        self.fam_index = [np.ravel_multi_index(tuple(states[u] for u in (*pas, v)), self.fam_shape[v])
                          for v, pas in enumerate(self.parents)]

    @classmethod
    def build(cls, parents: Sequence[Sequence[int]], cards: Sequence[int], codes: np.ndarray,
              weights: np.ndarray, *, sampling: bool = False) -> EnumeratedRows | None:
        """Return the enumeration of ``codes`` (``-1`` = missing), or None when the network has more
        than ``_ENUM_STATES`` joint states or the rows would list more than ``_ENUM_ENTRIES``
        consistent states (or, with ``sampling``, imputation units)."""
        if int(np.prod([float(c) for c in cards])) > _ENUM_STATES or len(cards) > 40:
            return None
        free = np.where(codes < 0, np.asarray(cards, dtype=np.int64), 1)
        if float(np.prod(free, axis=1, dtype=float).sum()) > _ENUM_ENTRIES:
            return None
        if sampling and float(np.ceil(weights[(codes < 0).any(axis=1)]).sum()) > _ENUM_ENTRIES:
            return None
        return cls(parents, cards, codes, weights)

    def _joint(self, cpts: Sequence[np.ndarray]) -> np.ndarray:
        return kernels.enumerate_joint(self.parents, cpts).reshape(-1)

    def _check(self, p_complete: np.ndarray, p_rows: np.ndarray) -> None:
        bad = np.concatenate([self.complete_rows[~(p_complete > 0)], self.rows[~(p_rows > 0)]])
        if len(bad):
            raise ImpossibleEvidenceError(
                f"data row {int(bad.min())} has probability zero under the current parameters "
                "(a zero in a CPT contradicts it); EM cannot continue")

    def family_counts(self, state_counts: np.ndarray) -> list[np.ndarray]:
        """Return each node's family table ``(*parent_cards, card)`` summed from joint-state counts."""
        return [np.bincount(idx, weights=state_counts, minlength=int(np.prod(shape))).reshape(shape)
                for idx, shape in zip(self.fam_index, self.fam_shape, strict=True)]

    def expected_counts(self, cpts: Sequence[np.ndarray]) -> tuple[list[np.ndarray], float]:
        """E-step: ``(expected family counts, sum of weight * log P(observed row))``, as
        :func:`expected_counts` computes them."""
        joint = self._joint(cpts)
        pc = joint[self.complete_flat]
        p = joint[self.cfg]
        tot = np.bincount(self.seg, weights=p, minlength=len(self.rows))
        self._check(pc, tot)
        loglik = float(self.complete_w @ np.log(pc) + self.w @ np.log(tot))
        post = p * (self.w / tot)[self.seg]
        state = np.bincount(self.cfg, weights=post, minlength=self.n_states) + self.fixed
        return self.family_counts(state), loglik

    def sample_counts(self, cpts: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """Draw every row's missing cells from their joint posterior given its observed cells under
        ``cpts`` (each unit of weight separately) and return the completed data's family counts."""
        joint = self._joint(cpts)
        p = joint[self.cfg]
        tot = np.bincount(self.seg, weights=p, minlength=len(self.rows))
        self._check(joint[self.complete_flat], tot)
        cum = np.cumsum(p / tot[self.seg])
        begin = np.concatenate([[0.0], cum])[self.starts[:-1]]
        end = cum[self.starts[1:] - 1]
        ur = self.unit_row
        target = begin[ur] + rng.random(len(ur)) * (end - begin)[ur]
        k = np.searchsorted(cum, target, side="right")
        # rounding at a segment's end must not step into the next row's states
        k = np.clip(k, self.starts[ur], self.starts[ur + 1] - 1)
        state = np.bincount(self.cfg[k], weights=self.unit_w, minlength=self.n_states) + self.fixed
        return self.family_counts(state)


def dirichlet_draws(alpha: np.ndarray, rng: np.random.Generator, size: tuple[int, ...] = ()
                    ) -> np.ndarray:
    """Return draws from Dirichlet(``alpha``) along the last axis, shape ``size + alpha.shape``.

    Gamma(a) is drawn as Gamma(a + 1) * U**(1/a) in logs, so small pseudo-counts (BDeu spread over
    many parent configurations) cannot underflow a whole row to zeros.
    """
    shape = tuple(size) + alpha.shape
    with np.errstate(divide="ignore"):
        logg = np.log(rng.standard_gamma(alpha + 1.0, size=shape)) + np.log(rng.random(shape)) / alpha
    logg -= logg.max(axis=-1, keepdims=True)
    g = np.exp(logg)
    return g / g.sum(axis=-1, keepdims=True)


def draw_cpts(alphas: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Return one Dirichlet draw of every CPT (rows along the last axis) from ``alphas``.

    One gamma call for all tables when no pseudo-count is below 0.5 (no underflow to a zero row
    is possible then); otherwise each table by :func:`dirichlet_draws`.
    """
    flat = np.concatenate([a.ravel() for a in alphas])
    if flat.min() < 0.5:
        return [dirichlet_draws(a, rng) for a in alphas]
    g = rng.standard_gamma(flat)
    out = []
    pos = 0
    for a in alphas:
        x = g[pos:pos + a.size].reshape(a.shape)
        out.append(x / x.sum(axis=-1, keepdims=True))
        pos += a.size
    return out


def _multinomial_rows(w: np.ndarray, probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row, ``floor(w)`` multinomial draws over ``probs`` plus the remainder of ``w`` on one
    categorical draw; returns float counts of shape ``probs.shape``."""
    whole = np.floor(w + 1e-9).astype(np.int64)
    out = rng.multinomial(whole, probs).astype(float)
    frac = w - whole
    part = np.flatnonzero(frac > 1e-9)
    if len(part):
        cum = np.cumsum(probs[part], axis=1)
        pick = (cum < rng.random(len(part))[:, None] * cum[:, -1:]).sum(axis=1)
        out[part, np.minimum(pick, probs.shape[1] - 1)] += frac[part]
    return out


def sample_counts(
    parents: Sequence[Sequence[int]],
    cards: Sequence[int],
    cpts: Sequence[np.ndarray],
    codes: np.ndarray,
    weights: np.ndarray,
    rng: np.random.Generator,
    plan_cache: dict | None = None,
    block_states: int = 4096,
) -> list[np.ndarray]:
    """Draw every row's missing cells from their joint posterior and return the family counts.

    The general (any network size) twin of :meth:`EnumeratedRows.sample_counts`: per pattern of
    observed columns, the missing nodes are drawn in blocks of at most ``block_states`` joint
    states, each block from one batched elimination given the observed cells and the blocks
    drawn before it (the chain rule). A row of weight ``w`` gets ``floor(w)`` multinomial draws
    (one per unit) plus one for the remainder; rows drawing the same states stay merged.
    """
    n_nodes = len(cards)
    counts = [np.zeros(tuple(cards[p] for p in parents[v]) + (cards[v],)) for v in range(n_nodes)]
    cache = plan_cache if plan_cache is not None else {}
    patterns, inverse = _unique_masks(codes >= 0)
    for k, pat in enumerate(patterns):
        rows = np.flatnonzero(inverse == k)
        sub = codes[rows].copy()
        w = weights[rows]
        blocks: list[list[int]] = []
        size = block_states + 1
        for u in np.flatnonzero(~pat):
            if size * cards[u] > block_states:
                blocks.append([])
                size = 1
            blocks[-1].append(int(u))
            size *= cards[u]
        for block in blocks:
            if not len(sub):
                break
            obs = tuple(int(u) for u in np.flatnonzero(sub[0] >= 0))
            key = ("draw", tuple(block), obs)
            plan = cache.get(key)
            if plan is None:
                plan = cache[key] = kernels.compile_plan(parents, cards, block, obs, batched=bool(obs))
            tab = kernels.run_plan(plan, cpts, {u: sub[:, u] for u in obs})
            if not obs:
                tab = np.broadcast_to(tab, (len(sub),) + tab.shape)
            tab = tab.reshape(len(sub), -1)
            tot = tab.sum(axis=1, keepdims=True)
            if not (tot > 0).all():
                raise ImpossibleEvidenceError(
                    f"a data row observing columns {list(np.flatnonzero(pat))} has probability zero "
                    "under the current parameters; its missing cells cannot be drawn")
            draws = _multinomial_rows(w, tab / tot, rng)
            r, j = np.nonzero(draws)
            sub = sub[r]
            sub[:, block] = np.stack(np.unravel_index(j, [cards[u] for u in block]), axis=1)
            w = draws[r, j]
        for v in range(n_nodes):
            counts[v] += family_counts(sub, w, tuple(parents[v]) + (v,), cards)
    return counts


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
    # small networks: every row's consistent joint states listed once, an E-step is a gather
    enumerated = EnumeratedRows.build(parents, cards, codes, weights)
    for run in progress(range(max(1, n_init)), desc="EM restarts", disable=not verbose):
        if run == 0 and init is not None:
            cpts = [np.array(c, dtype=float) for c in init]
        else:
            cpts = random_cpts(cards, parents, rng)
        cache: dict = {}

        def e_step(cpts: list[np.ndarray], cache: dict = cache) -> tuple[list[np.ndarray], float]:
            if enumerated is not None:
                return enumerated.expected_counts(cpts)
            return expected_counts(parents, cards, cpts, codes, weights, cache)

        history: list[float] = []
        converged = False
        counts: list[np.ndarray] = []
        n_iter = 0
        for _ in range(max_iter):
            n_iter += 1
            counts, ll = e_step(cpts)
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
        # the last M-step came after the last likelihood evaluation: report the value (and the
        # expected counts) of the CPTs this run returns, converged or not
        counts, ll = e_step(cpts)
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


@dataclass
class PosteriorDraws:
    """Outcome of :func:`data_augmentation`: CPT draws ``(n_draws, *cpt_shape)`` per node."""

    draws: list[np.ndarray]
    burn_in: int
    engine: str
    seconds: float


def data_augmentation(
    parents: Sequence[Sequence[int]],
    cards: Sequence[int],
    codes: np.ndarray,
    weights: np.ndarray,
    priors: Sequence[np.ndarray],
    init: Sequence[np.ndarray],
    *,
    n_draws: int = 1000,
    burn_in: int = 200,
    rng: np.random.Generator,
    verbose: bool = False,
) -> PosteriorDraws:
    """Draw CPTs from their posterior given rows with missing cells, by data augmentation.

    A two-block Gibbs sampler (Tanner & Wong): (1) every row's missing cells are drawn from their
    joint posterior given its observed cells and the current CPTs (exact, batched: by enumeration
    of the joint states for small networks, else by elimination plans per pattern); (2) each CPT
    row is drawn from Dirichlet(``priors[v]`` + counts of the completed data). The chain starts at
    ``init`` (EM's estimate); the ``n_draws`` draws after ``burn_in`` are returned. Unlike
    Dirichlet(prior + EM's expected counts), which counts imputed cells as if observed, the draws
    carry the uncertainty about the missing cells.
    """
    import time

    from probwb.core.progress import progress

    start = time.perf_counter()
    keep = weights > 0
    codes, weights = codes[keep], weights[keep]
    enumerated = EnumeratedRows.build(parents, cards, codes, weights, sampling=True)
    cache: dict = {}
    cpts = [np.asarray(c, dtype=float) for c in init]
    out = [np.empty((n_draws,) + c.shape) for c in cpts]
    for it in progress(range(burn_in + n_draws), desc="posterior draws", disable=not verbose):
        if enumerated is not None:
            counts = enumerated.sample_counts(cpts, rng)
        else:
            counts = sample_counts(parents, cards, cpts, codes, weights, rng, cache)
        cpts = draw_cpts([c + a for c, a in zip(counts, priors, strict=True)], rng)
        if it >= burn_in:
            for v, c in enumerate(cpts):
                out[v][it - burn_in] = c
    engine = "enumeration" if enumerated is not None else "elimination"
    seconds = time.perf_counter() - start
    logger.info("data augmentation: %d draws after %d burn-in (%s) in %.2f s", n_draws, burn_in,
                engine, seconds)
    return PosteriorDraws(out, burn_in, engine, seconds)
