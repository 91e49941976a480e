"""Batched forward–backward and Viterbi for many sequences at once.

Plain functions on padded numpy arrays, kept apart from the estimator so they can be tested alone.

Layout shared by every function here:

- ``loglik``: ``(N, T, S)`` emission log-likelihoods, sequence ``n`` valid for steps ``t < lengths[n]``
  (values past the end are ignored; a missing observation is a row of zeros).
- ``lengths``: ``(N,)`` ints >= 1.
- ``startprob``: ``(S,)``.
- ``transmat``: ``(S, S)``, or ``(P, S, S)`` together with ``trans_index`` ``(N, T)`` naming which matrix
  moves the chain *out of* step ``t`` (step ``t`` -> ``t + 1``; the last column is unused). This is how
  an input-driven HMM plugs in: one matrix per distinct input pattern.

Sequences are processed in order of decreasing length so that at step ``t`` the sequences still running
form a prefix of the batch: the inner loop runs over time in Python and over sequences in numpy, and
never touches padding. For a few very long sequences the per-step Python overhead dominates, so those
are handed to hmmlearn's compiled routines (same algorithm, same scaling).
"""

from __future__ import annotations

import numpy as np

try:  # hmmlearn's compiled scaled forward-backward; optional, used for a few long sequences
    from hmmlearn import _hmmc
except ImportError:  # pragma: no cover - hmmlearn is a dependency, but keep the kernels usable without it
    _hmmc = None

__all__ = ["FBResult", "forward_backward", "viterbi", "log_likelihood", "use_compiled"]


class FBResult:
    """Output of :func:`forward_backward`.

    ``log_prob`` (N,) per-sequence log-likelihood; ``posteriors`` (N, T, S) state posteriors (zero past
    each sequence's end) or None; ``xi_sum`` expected transition counts, (S, S) or (P, S, S) per
    pattern, or None; ``start_sum`` (S,) expected counts of the first state, or None. ``rows`` gathers
    posteriors for given (sequence, step) pairs without building the padded array.
    """

    def __init__(self, log_prob: np.ndarray, posteriors: np.ndarray | None = None,
                 xi_sum: np.ndarray | None = None, start_sum: np.ndarray | None = None) -> None:
        self.log_prob = log_prob
        self._posteriors = posteriors
        self.xi_sum = xi_sum
        self.start_sum = start_sum
        self._gamma_tsn: np.ndarray | None = None
        self._order: np.ndarray | None = None

    def _inverse(self) -> np.ndarray | None:
        if self._order is None:
            return None
        inv = np.empty_like(self._order)
        inv[self._order] = np.arange(self._order.shape[0])
        return inv

    @property
    def posteriors(self) -> np.ndarray | None:
        """Return the (N, T, S) state posteriors (None when not computed)."""
        if self._posteriors is None and self._gamma_tsn is not None:
            g = self._gamma_tsn.transpose(2, 0, 1)
            inv = self._inverse()
            self._posteriors = np.ascontiguousarray(g if inv is None else g[inv])
        return self._posteriors

    def rows(self, seq: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Return posteriors ``(M, S)`` at sequence indices ``seq`` and steps ``pos``."""
        if self._gamma_tsn is None:
            return self.posteriors[seq, pos]
        inv = self._inverse()
        col = seq if inv is None else inv[seq]
        return self._gamma_tsn[pos, :, col]


def use_compiled(n_sequences: int, max_len: int, time_varying: bool) -> bool:
    """Return True when looping hmmlearn's compiled kernel per sequence beats the batched numpy loop.

    The batched loop costs roughly a fixed overhead per time step; the compiled one a fixed overhead per
    sequence. So the compiled path wins when sequences are fewer than steps.
    """
    return _hmmc is not None and not time_varying and n_sequences * 4 < max_len


def _prepare(loglik: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or lengths.shape[0] != loglik.shape[0]:
        raise ValueError(f"lengths must have shape ({loglik.shape[0]},), found {lengths.shape}")
    if (lengths < 1).any() or (lengths > loglik.shape[1]).any():
        raise ValueError(f"lengths must lie in [1, {loglik.shape[1]}], found {lengths.min()}..{lengths.max()}")
    order = None
    if (np.diff(lengths) > 0).any():
        order = np.argsort(-lengths, kind="stable")
    # n_active[t] = number of sequences still running at step t (length > t)
    n_active = lengths.shape[0] - np.searchsorted(np.sort(lengths), np.arange(loglik.shape[1]), side="right")
    return lengths, n_active, order


def _frameprob(loglik: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exponentiate emission log-likelihoods after a per-step shift that keeps the largest at 1."""
    shift = loglik.max(axis=-1)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    with np.errstate(under="ignore"):
        frame = np.exp(loglik - shift[..., None])
    return frame, shift


def forward_backward(
    loglik: np.ndarray,
    lengths: np.ndarray,
    startprob: np.ndarray,
    transmat: np.ndarray,
    trans_index: np.ndarray | None = None,
    *,
    posteriors: bool = True,
    xi: bool = False,
    compiled: bool | None = None,
    weights: np.ndarray | None = None,
) -> FBResult:
    """Scaled forward–backward over a padded batch of sequences.

    Returns an :class:`FBResult` with per-sequence log-likelihoods and, when asked, state posteriors and
    expected transition / first-state counts (the E-step statistics). A sequence with probability zero
    gets ``-inf`` and all-zero posteriors. ``weights`` (N,) count each sequence that many times in the
    summed statistics (``xi_sum``, ``start_sum``), e.g. for de-duplicated sequences.
    """
    loglik = np.asarray(loglik, dtype=float)
    N, T, S = loglik.shape
    lengths, n_active, order = _prepare(loglik, lengths)
    startprob = np.asarray(startprob, dtype=float)
    transmat = np.asarray(transmat, dtype=float)
    time_varying = transmat.ndim == 3
    if time_varying and trans_index is None:
        raise ValueError("a stack of transition matrices needs trans_index")
    if compiled is None:
        compiled = use_compiled(N, T, time_varying)
    if weights is not None:
        compiled = False
    if compiled:
        if time_varying:
            raise ValueError("the compiled path supports one transition matrix only")
        return _forward_backward_compiled(loglik, lengths, startprob, transmat, posteriors, xi)

    # Work in (T, S, N) layout, sequences sorted by decreasing length: each step touches a contiguous
    # prefix of every state's row, and the small S x S products become matrix products over N columns.
    sel = order if order is not None else slice(None)
    lt = np.ascontiguousarray(loglik[sel].transpose(1, 2, 0))
    tidx = None
    if time_varying:
        tidx = np.ascontiguousarray(np.asarray(trans_index)[sel].T)
        trans_t = np.ascontiguousarray(transmat.transpose(1, 2, 0))  # (S, S, P): gather patterns last
    frame, shift = _frameprob_tsn(lt)
    want_back = posteriors or xi
    w_sorted = None
    if weights is not None:
        w_sorted = np.asarray(weights, dtype=float)[sel]

    alpha = np.empty((T, S, N)) if want_back else None
    logc = np.zeros((T, N))
    cvals = np.ones((T, N)) if want_back else None
    a = startprob[:, None] * frame[0]
    for t in range(T):
        n = n_active[t]
        if n == 0:
            break
        if t > 0:
            if time_varying:
                At = trans_t[:, :, tidx[t - 1, :n]]
                a = np.einsum("in,ijn->jn", a[:, :n], At) * frame[t, :, :n]
            else:
                a = (transmat.T @ a[:, :n]) * frame[t, :, :n]
        c = a.sum(axis=0)
        zero = c <= 0
        if zero.any():
            c = np.where(zero, 1.0, c)
            with np.errstate(divide="ignore"):
                logc[t, :n] = np.where(zero, -np.inf, np.log(c))
        else:
            logc[t, :n] = np.log(c)
        a = a / c
        if want_back:
            alpha[t, :, :n] = a
            cvals[t, :n] = c
    sorted_len = lengths if order is None else lengths[order]
    valid = np.arange(T)[:, None] < sorted_len[None, :]
    log_prob = logc.sum(axis=0) + np.where(valid, shift, 0.0).sum(axis=0)

    result = FBResult(log_prob=log_prob)
    if want_back:
        # Backward pass in the same scaling: beta_t = A (B_{t+1} beta_{t+1}) / c_{t+1}.
        gamma = np.zeros((T, S, N)) if posteriors else None
        xi_sum = None
        if xi:
            xi_sum = np.zeros(transmat.shape)
            P = transmat.shape[0] if time_varying else 1
        last = T - 1
        while n_active[last] == 0:
            last -= 1
        # sequences that end at step t keep beta = 1 there: the buffer is only ever written on a prefix
        # that shrinks with t, so the entries past that prefix are still the initial ones
        b = np.ones((S, N))
        if posteriors:
            gamma[last, :, : n_active[last]] = alpha[last, :, : n_active[last]]
        for t in range(last - 1, -1, -1):
            n0, n1 = n_active[t], n_active[t + 1]
            fb = frame[t + 1, :, :n1] * b[:, :n1] / cvals[t + 1, :n1]
            if time_varying:
                At = trans_t[:, :, tidx[t, :n1]]
                b[:, :n1] = np.einsum("ijn,jn->in", At, fb)
                if xi:
                    al = alpha[t, :, :n1] if w_sorted is None else alpha[t, :, :n1] * w_sorted[:n1]
                    M = al[:, None, :] * At * fb[None, :, :]
                    flat = M.reshape(S * S, n1)
                    idx = tidx[t, :n1]
                    xs = xi_sum.reshape(P, S * S)
                    for k in range(S * S):
                        xs[:, k] += np.bincount(idx, weights=flat[k], minlength=P)
            else:
                if xi:
                    al = alpha[t, :, :n1] if w_sorted is None else alpha[t, :, :n1] * w_sorted[:n1]
                    xi_sum += (al @ fb.T) * transmat
                b[:, :n1] = transmat @ fb
            if posteriors:
                gamma[t, :, :n0] = alpha[t, :, :n0] * b[:, :n0]
        if posteriors:
            tot = gamma.sum(axis=1, keepdims=True)
            np.divide(gamma, tot, out=gamma, where=tot > 0)
            result.start_sum = gamma[0].sum(axis=1) if w_sorted is None else gamma[0] @ w_sorted
            result._gamma_tsn = gamma
            result._order = order
        result.xi_sum = xi_sum
    if order is not None:
        inv = np.empty_like(order)
        inv[order] = np.arange(N)
        result.log_prob = log_prob[inv]
    return result


def _frameprob_tsn(lt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-step shifted emission probabilities in (T, S, N) layout; returns (frame, shift (T, N))."""
    shift = lt.max(axis=1)
    shift[~np.isfinite(shift)] = 0.0
    with np.errstate(under="ignore"):
        frame = np.exp(lt - shift[:, None, :])
    return frame, shift


def _forward_backward_compiled(
    loglik: np.ndarray,
    lengths: np.ndarray,
    startprob: np.ndarray,
    transmat: np.ndarray,
    posteriors: bool,
    xi: bool,
) -> FBResult:
    """Per-sequence loop over hmmlearn's compiled scaled kernels (for a few long sequences)."""
    N, T, S = loglik.shape
    log_prob = np.empty(N)
    gamma = np.zeros((N, T, S)) if posteriors else None
    xi_sum = np.zeros((S, S)) if xi else None
    start_sum = np.zeros(S) if posteriors else None
    sp = np.ascontiguousarray(startprob)
    tm = np.ascontiguousarray(transmat)
    for n in range(N):
        L = int(lengths[n])
        frame, shift = _frameprob(loglik[n, :L])
        frame = np.ascontiguousarray(frame)
        with np.errstate(divide="ignore", invalid="ignore"):
            lp, fwd, scale = _hmmc.forward_scaling(sp, tm, frame)
        lp = lp + shift.sum()
        log_prob[n] = lp
        if not np.isfinite(lp):
            continue
        if posteriors or xi:
            bwd = _hmmc.backward_scaling(sp, tm, frame, scale)
            if posteriors:
                g = fwd * bwd
                g /= g.sum(axis=1, keepdims=True)
                gamma[n, :L] = g
                start_sum += g[0]
            if xi and L > 1:
                xi_sum += _hmmc.compute_scaling_xi_sum(fwd, tm, bwd, frame)
    return FBResult(log_prob=log_prob, posteriors=gamma, xi_sum=xi_sum, start_sum=start_sum)


def log_likelihood(
    loglik: np.ndarray,
    lengths: np.ndarray,
    startprob: np.ndarray,
    transmat: np.ndarray,
    trans_index: np.ndarray | None = None,
) -> np.ndarray:
    """Return the per-sequence log-likelihood ``(N,)`` (forward pass only)."""
    return forward_backward(loglik, lengths, startprob, transmat, trans_index, posteriors=False).log_prob


def viterbi(
    loglik: np.ndarray,
    lengths: np.ndarray,
    startprob: np.ndarray,
    transmat: np.ndarray,
    trans_index: np.ndarray | None = None,
    *,
    compiled: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Most probable state paths.

    Returns ``(log_prob, paths)``: the joint log-probability of each best path ``(N,)`` and the paths
    ``(N, T)`` as state indices, ``-1`` past each sequence's end.
    """
    loglik = np.asarray(loglik, dtype=float)
    N, T, S = loglik.shape
    lengths, n_active, order = _prepare(loglik, lengths)
    transmat = np.asarray(transmat, dtype=float)
    time_varying = transmat.ndim == 3
    if compiled is None:
        compiled = use_compiled(N, T, time_varying)
    with np.errstate(divide="ignore"):
        log_start = np.log(np.asarray(startprob, dtype=float))
        log_trans = np.log(transmat)
    if compiled:
        out = np.full((N, T), -1, dtype=np.int64)
        lp = np.empty(N)
        sp, tm = np.ascontiguousarray(startprob, dtype=float), np.ascontiguousarray(transmat)
        for n in range(N):
            L = int(lengths[n])
            # hmmlearn's viterbi takes start/transition probabilities and log emission probabilities
            lpn, path = _hmmc.viterbi(sp, tm, np.ascontiguousarray(loglik[n, :L]))
            lp[n] = lpn
            out[n, :L] = path
        return lp, out

    sel = order if order is not None else slice(None)
    lt = np.ascontiguousarray(loglik[sel].transpose(1, 2, 0))  # (T, S, N)
    if time_varying:
        tidx = np.ascontiguousarray(np.asarray(trans_index)[sel].T)
        log_trans_t = np.ascontiguousarray(log_trans.transpose(1, 2, 0))  # (S, S, P)
    idx_dtype = np.int8 if S < 127 else np.int32
    back = np.zeros((T, S, N), dtype=idx_dtype)
    delta = log_start[:, None] + lt[0]
    for t in range(1, T):
        n = n_active[t]
        if n == 0:
            break
        if time_varying:
            scores = delta[:, None, :n] + log_trans_t[:, :, tidx[t - 1, :n]]
        else:
            scores = delta[:, None, :n] + log_trans[:, :, None]
        arg = scores.argmax(axis=0)  # (S_to, n): best predecessor
        back[t, :, :n] = arg
        delta[:, :n] = np.take_along_axis(scores, arg[None], axis=0)[0] + lt[t, :, :n]
    cur = delta.argmax(axis=0)
    log_prob = delta[cur, np.arange(N)]
    paths = np.full((N, T), -1, dtype=np.int64)
    for t in range(T - 1, 0, -1):
        n = n_active[t]
        if n == 0:
            continue
        paths[:n, t] = cur[:n]
        cur[:n] = back[t, cur[:n], np.arange(n)]
    paths[:, 0] = cur
    if order is not None:
        inv = np.empty_like(order)
        inv[order] = np.arange(N)
        paths, log_prob = paths[inv], log_prob[inv]
    return log_prob, paths
