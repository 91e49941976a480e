"""Compiled (numba) value-iteration sweeps; imported only when numba is installed.

Two kernels compute one Jacobi Bellman sweep ``V_new(s) = gamma * max_a (R(s,a)/gamma + P(.|s,a) . V)`` in a
single pass with no temporaries, and return the largest and smallest change ``V_new - V`` (from which the
caller takes the sup norm or the span):

- :func:`csr_sweep` reads the stacked CSR matrix directly (row ``a*S + s``);
- :func:`tiled_sweep` reads a cache-blocked copy of it (:func:`build_tiled`), for large state spaces whose
  value vector no longer fits in the per-core L2 cache and whose successors are scattered.

Both add the terms of each row starting from ``R/gamma`` in the order scipy's ``csr_matvec`` does (the tiled
kernel: whenever the row's column indices are sorted), so they give values bit-identical to the scipy path; fastmath stays off so the compiler
may not reorder the sums or the max / min that decide stopping. Each kernel is compiled twice: serial, and
parallel over blocks of states with ``prange`` (per-state work is identical, so both give identical values).
"""

from __future__ import annotations

import types
from typing import Any

import numba
import numpy as np
from numba import prange

# Tiled layout: each non-zero is one uint32 key = (local row << COL_BITS) | local column, plus its float64
# value (12 bytes, as in CSR). A row block holds 2**ROW_BITS (state, action) rows, so its accumulator is
# 512 KiB; a column segment holds 2**COL_BITS states, so the slice of V it gathers from is 128 KiB. Both
# stay in a 2 MiB L2 together with the streamed keys and values (measured best of 15..17 / 14..16 bits on
# the 2-core benchmark VM at S = 1,000,000).
ROW_BITS = 16
COL_BITS = 14


@numba.njit(nogil=True, cache=True)
def _span(bmax, bmin):  # pragma: no cover - compiled
    """The largest of the blocks' largest changes and the smallest of their smallest (the sweeps
    keep one pair per block so parallel blocks never write the same number)."""
    hi_ = -np.inf
    lo_ = np.inf
    for b in range(bmax.shape[0]):
        if bmax[b] > hi_:
            hi_ = bmax[b]
        if bmin[b] < lo_:
            lo_ = bmin[b]
    return hi_, lo_


def _csr_sweep(indptr, indices, data, Rg, gamma, V, Vn, bmax, bmin, work, block):  # pragma: no cover - compiled
    A, S = Rg.shape
    nblk = bmax.shape[0]
    nchunk = work.shape[0]
    # one contiguous run of state blocks per worker, each with its own accumulator row. Within a block the
    # rows are read action by action (rows a*S+lo .. a*S+hi-1 are contiguous in CSR), so the matrix streams
    # in order like scipy's mat-vec: reading the A rows of one state together (A interleaved streams) ran
    # 4-5x slower than scipy on the AMD EPYC benchmark VM at S = 100,000
    for c in prange(nchunk):
        best = work[c]
        for b in range(c * nblk // nchunk, (c + 1) * nblk // nchunk):
            lo = b * block
            hi = min(S, lo + block)
            for a in range(A):
                base = a * S
                for s in range(lo, hi):
                    row = base + s
                    acc = Rg[a, s]
                    # unsigned indices: numba emits no negative-index wrap-around select per access (2x faster)
                    k = np.uint64(indptr[row])
                    k1 = np.uint64(indptr[row + 1])
                    while k < k1:
                        acc += data[k] * V[np.uint64(indices[k])]
                        k += np.uint64(1)
                    # branch-free max (a select): which action wins is data-dependent and mispredicts
                    if a == 0:
                        best[s - lo] = acc
                    else:
                        best[s - lo] = max(best[s - lo], acc)
            dmax = -np.inf
            dmin = np.inf
            for s in range(lo, hi):
                v = gamma * best[s - lo]
                d = v - V[s]
                Vn[s] = v
                dmax = max(dmax, d)
                dmin = min(dmin, d)
            bmax[b] = dmax
            bmin[b] = dmin
    return _span(bmax, bmin)


def _tiled_sweep(tptr, keys, vals, Rg, gamma, V, Vn, bmax, bmin, work):  # pragma: no cover - compiled
    A, S = Rg.shape
    sb = (1 << ROW_BITS) // A
    w = 1 << COL_BITS
    nrb = bmax.shape[0]
    ncs = (S + w - 1) // w
    ushift = np.uint32(COL_BITS)
    umask = np.uint32(w - 1)
    nchunk = work.shape[0]
    # one contiguous run of row blocks per worker, each with its own preallocated accumulator: a fresh
    # 512 KiB array per block would be an mmap / munmap pair whose page faults and cross-core TLB
    # shootdowns cost more than the block's arithmetic
    for c in prange(nchunk):
        acc = work[c]
        for rb in range(c * nrb // nchunk, (c + 1) * nrb // nchunk):
            lo = rb * sb
            hi = min(S, lo + sb)
            n = hi - lo
            for sl in range(n):
                for a in range(A):
                    acc[sl * A + a] = Rg[a, lo + sl]
            for cs in range(ncs):
                t = rb * ncs + cs
                Vs = V[cs * w:]
                # unsigned indices: no negative-index wrap-around code in the innermost loop
                k = np.uint64(tptr[t])
                k1 = np.uint64(tptr[t + 1])
                while k < k1:
                    key = keys[k]
                    acc[np.uint32(key >> ushift)] += vals[k] * Vs[np.uint32(key & umask)]
                    k += np.uint64(1)
            dmax = -np.inf
            dmin = np.inf
            for sl in range(n):
                best = acc[sl * A]
                for a in range(1, A):
                    best = max(best, acc[sl * A + a])
                v = gamma * best
                s = lo + sl
                d = v - V[s]
                Vn[s] = v
                dmax = max(dmax, d)
                dmin = min(dmin, d)
            bmax[rb] = dmax
            bmin[rb] = dmin
    return _span(bmax, bmin)


def _tile_counts(indptr, indices, S, A):  # pragma: no cover - compiled
    sb = (1 << ROW_BITS) // A
    w = 1 << COL_BITS
    nrb = (S + sb - 1) // sb
    ncs = (S + w - 1) // w
    counts = np.zeros(nrb * ncs + 1, np.int64)
    for s in range(S):
        base = (s // sb) * ncs + 1
        for a in range(A):
            r = a * S + s
            for k in range(indptr[r], indptr[r + 1]):
                counts[base + indices[k] // w] += 1
    return counts


def _tiled_fill(indptr, indices, data, counts, S, A):  # pragma: no cover - compiled
    sb = (1 << ROW_BITS) // A
    w = 1 << COL_BITS
    ncs = (S + w - 1) // w
    ntile = counts.shape[0] - 1
    tptr = counts.copy()
    for t in range(ntile):
        tptr[t + 1] += tptr[t]
    pos = tptr[:-1].copy()
    nnz = tptr[ntile]
    keys = np.empty(nnz, np.uint32)
    vals = np.empty(nnz, np.float64)
    mask = w - 1
    # visiting rows in (state, action) order and each row's entries in CSR order makes this counting sort
    # leave every tile sorted by local row, with each row's terms in CSR order within a tile and in column
    # segment order across tiles: the CSR order whenever the row's columns are sorted
    for s in range(S):
        rb = s // sb
        sl = s - rb * sb
        for a in range(A):
            r = a * S + s
            lr = sl * A + a
            for k in range(indptr[r], indptr[r + 1]):
                c = indices[k]
                t = rb * ncs + c // w
                p = pos[t]
                keys[p] = np.uint32((lr << COL_BITS) | (c & mask))
                vals[p] = data[k]
                pos[t] = p + 1
    return tptr, keys, vals


def _variant(fn: Any, suffix: str) -> Any:
    # numba names its on-disk cache after the function's qualified name: the serial and parallel builds of
    # one kernel need distinct names, or one loads the other's machine code
    out = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    out.__qualname__ = fn.__qualname__ + suffix
    return out


csr_sweep_serial = numba.njit(nogil=True, cache=True)(_variant(_csr_sweep, "_serial"))
csr_sweep_parallel = numba.njit(nogil=True, parallel=True, cache=True)(_variant(_csr_sweep, "_parallel"))
tiled_sweep_serial = numba.njit(nogil=True, cache=True)(_variant(_tiled_sweep, "_serial"))
tiled_sweep_parallel = numba.njit(nogil=True, parallel=True, cache=True)(_variant(_tiled_sweep, "_parallel"))
tile_counts = numba.njit(nogil=True, cache=True)(_tile_counts)
tiled_fill = numba.njit(nogil=True, cache=True)(_tiled_fill)
