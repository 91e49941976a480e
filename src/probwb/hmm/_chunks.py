"""Forward–backward over sequences in chunks, so the working set stays bounded however many sequences there are.

The batched kernel (:func:`probwb.hmm.kernels.forward_backward`) holds about ``56 S + 33`` bytes per padded
observation while it runs (emission log-likelihoods, their shifted exponentials, forward and posterior
arrays, per-step scales). Run on a million sequences at once that is gigabytes; run on consecutive runs of
sequences whose padded size fits a byte budget it is a few megabytes, and the results are the same: every
sequence's recursions are independent, and the summed statistics (log-likelihoods, first-state and
transition counts, emission sufficient statistics) are sums over sequences.

Rows of a :class:`~probwb.hmm.model.SequenceData` are sorted by sequence, so a run of sequences ``[a, b)``
is the row slice ``[offsets[a], offsets[b])`` and nothing is copied to select it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from probwb.hmm.kernels import forward_backward

__all__ = ["CHUNK_BYTES", "bytes_per_cell", "sequence_chunks", "ChunkedFB", "run_chunks"]

#: default working-set budget of one chunk, in bytes (the longest single sequence may exceed it)
CHUNK_BYTES = 8 * 2**20


def bytes_per_cell(n_states: int) -> int:
    """Return the kernel's working bytes per padded (sequence, step) cell for ``n_states`` states."""
    return 56 * int(n_states) + 33


def sequence_chunks(lengths: np.ndarray, n_states: int, budget: int | None = None) -> list[tuple[int, int]]:
    """Return consecutive ``(first, stop)`` sequence ranges whose padded working set fits ``budget`` bytes.

    A range's padded size is its number of sequences times its longest length; a single sequence larger than
    the budget gets a range of its own. Without ``budget``: 8 bytes per row of data, between ``CHUNK_BYTES / 8``
    and ``CHUNK_BYTES``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    N = lengths.shape[0]
    if N == 0:
        return []
    if budget is None:
        # small data get a proportionally small budget (8 bytes per row, at least CHUNK_BYTES / 8), so the
        # working set stays a fraction of the data's own size at every scale, not only at large ones
        budget = min(CHUNK_BYTES, max(CHUNK_BYTES // 8, 8 * int(lengths.sum())))
    cells = max(1, int(budget) // bytes_per_cell(n_states))
    # first cut on rows (cheap, vectorised); then split any range whose padding makes it too big
    cum = np.cumsum(lengths)
    cuts = np.flatnonzero(np.diff(cum // cells) > 0) + 1
    bounds = np.r_[0, cuts, N]
    out: list[tuple[int, int]] = []
    stack = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a][::-1]
    while stack:
        a, b = stack.pop()
        if b - a > 1 and (b - a) * int(lengths[a:b].max()) > cells:
            m = (a + b) // 2
            stack.append((m, b))
            stack.append((a, m))
        else:
            out.append((a, b))
    return out


class ChunkedFB:
    """What :func:`run_chunks` returns: the same statistics as one :class:`~probwb.hmm.kernels.FBResult`.

    ``log_prob`` (N,); ``start_sum`` (S,) or None; ``xi_sum`` (S, S) / (P, S, S) or None; ``gamma`` (M, S)
    posteriors in the sequence data's row order when kept, else None. ``rows(seq, pos)`` gathers posteriors.
    """

    def __init__(self, log_prob: np.ndarray, start_sum: np.ndarray | None, xi_sum: np.ndarray | None,
                 gamma: np.ndarray | None, offsets: np.ndarray) -> None:
        self.log_prob = log_prob
        self.start_sum = start_sum
        self.xi_sum = xi_sum
        self.gamma = gamma
        self._offsets = offsets

    def rows(self, seq: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Return posteriors ``(len(seq), S)`` at sequence indices ``seq`` and steps ``pos``."""
        return self.gamma[self._offsets[seq] + pos]


def run_chunks(
    seq: Any,
    loglik_rows: Callable[[int, int], np.ndarray],
    startprob: np.ndarray,
    transmat: np.ndarray,
    trans_index: np.ndarray | None = None,
    *,
    posteriors: bool = False,
    xi: bool = False,
    keep_gamma: bool = False,
    on_chunk: Callable[[int, int, np.ndarray], None] | None = None,
    budget: int | None = None,
) -> ChunkedFB:
    """Forward–backward over ``seq`` (a SequenceData) one chunk of sequences at a time.

    ``loglik_rows(r0, r1)`` returns the ``(r1 - r0, S)`` emission log-likelihoods of rows ``r0:r1``.
    With ``posteriors``, ``on_chunk(r0, r1, gamma)`` receives each chunk's ``(r1 - r0, S)`` posteriors
    (e.g. to accumulate emission statistics) and ``keep_gamma`` keeps all of them (``(M, S)``, row order).
    Returns a :class:`ChunkedFB` whose sums equal those of one unchunked call up to summation order.
    """
    lengths = np.asarray(seq.lengths, dtype=np.int64)
    N = lengths.shape[0]
    S = np.asarray(startprob).shape[0]
    offsets = np.r_[0, np.cumsum(lengths)]
    posteriors = posteriors or keep_gamma or on_chunk is not None
    log_prob = np.empty(N)
    start_sum = np.zeros(S) if posteriors else None
    xi_sum = np.zeros(np.shape(transmat)) if xi else None
    gamma_all = np.empty((int(offsets[-1]), S)) if keep_gamma else None
    for a, b in sequence_chunks(lengths, S, budget):
        r0, r1 = int(offsets[a]), int(offsets[b])
        ln = lengths[a:b]
        T = int(ln.max())
        flat = loglik_rows(r0, r1)
        if flat.shape[0] == (b - a) * T:
            # every sequence in the chunk has the longest length: rows are already (sequence, step) ordered
            padded = flat.reshape(b - a, T, S)
        else:
            padded = np.zeros((b - a, T, S))
            padded[seq.row_seq[r0:r1] - a, seq.row_pos[r0:r1]] = flat
        del flat
        tidx = None if trans_index is None else trans_index[a:b, :T]
        res = forward_backward(padded, ln, startprob, transmat, tidx, posteriors=posteriors, xi=xi)
        del padded
        log_prob[a:b] = res.log_prob
        if xi:
            xi_sum += res.xi_sum
        if posteriors:
            start_sum += res.start_sum
            g = res.rows(seq.row_seq[r0:r1] - a, seq.row_pos[r0:r1])
            if on_chunk is not None:
                on_chunk(r0, r1, g)
            if gamma_all is not None:
                gamma_all[r0:r1] = g
    return ChunkedFB(log_prob, start_sum, xi_sum, gamma_all, offsets[:-1])
