"""State codes of many pyarrow string columns at once, by a compiled byte comparison.

pyarrow's ``index_in`` costs ~0.2 ms per column of 10,000 cells even when most cells are missing:
for a wide evidence frame (one column per node) that is more than the junction-tree kernel needs
for the rows themselves. Here one compiled pass per thread reads every column chunk's validity
bitmap, offsets and bytes in place (through their addresses: no concatenated copy) and compares
each present cell with the few state names of its column. Used only with numba (the ``fast``
extra) and for large frames; any value that is not a state sends the caller back to its
per-column path, which names it (that path is also the reference the tests compare with).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

try:  # numba is optional (the "fast" extra)
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "arrow_state_codes"]

#: a linear scan over a column's state names beats hashing only while they are few
MAX_STATES = 32


#: index of the lowest set bit of each byte value
_LOW_BIT = np.array([0] + [(v & -v).bit_length() - 1 for v in range(1, 256)], dtype=np.int64)


def _jit():
    if numba is None:
        return lambda f: f
    return numba.njit(cache=True, nogil=True)


#: cells below which a second thread costs more than it saves
_CELLS_PER_THREAD = 100_000

if numba is not None:
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def _voidptr(typingctx, addr):  # pragma: no cover - compiled
        """The integer ``addr`` as a raw pointer (for ``numba.carray`` views of arrow buffers)."""
        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], cgutils.voidptr_t)
        return types.voidptr(types.int64), codegen

    @_jit()
    def _match_segments(r0, r1, seg_col, seg_row, seg_len, seg_off, seg_valid, seg_offsets,
                        seg_data, seg_wide, col_state_ptr, st_off, st_bytes, dest,
                        out):  # pragma: no cover - compiled
        """Code rows ``r0:r1`` of every column straight from its arrow buffers (no concatenated
        copy: large_string offsets are 8 bytes a cell, most of them missing). Segment ``g`` is
        one arrow array (a column's chunk) holding rows ``seg_row[g]:seg_row[g] + seg_len[g]`` of
        column ``seg_col[g]``, its cells starting at bit/offset ``seg_off[g]`` of the buffers at
        the addresses given (``seg_valid[g] = 0``: no nulls). Missing cells get -1. Returns the
        first (segment, row) whose value is not a state, as ``g * 2**32 + row``, or -1."""
        for i in range(r0, r1):
            for j in range(dest.shape[0]):
                out[i, dest[j]] = -1
        for g in range(seg_col.shape[0]):
            a0 = max(r0, seg_row[g])
            a1 = min(r1, seg_row[g] + seg_len[g])
            if a0 >= a1:
                continue
            col = seg_col[g]
            base = seg_off[g] - seg_row[g]  # cell index in the arrow array of row i: base + i
            n_cells = seg_off[g] + seg_len[g]
            # (bytes are read only at present cells' offsets: no length is needed)
            data = numba.carray(_voidptr(seg_data[g]), (1 << 40,), np.uint8)
            if seg_wide[g]:
                offs64 = numba.carray(_voidptr(seg_offsets[g]), (n_cells + 1,), np.int64)
                offs32 = numba.carray(_voidptr(seg_offsets[g]), (1,), np.int32)
            else:
                offs64 = numba.carray(_voidptr(seg_offsets[g]), (1,), np.int64)
                offs32 = numba.carray(_voidptr(seg_offsets[g]), (n_cells + 1,), np.int32)
            has_valid = seg_valid[g] != 0
            valid = numba.carray(_voidptr(seg_valid[g]), ((n_cells + 7) // 8,), np.uint8) if \
                has_valid else numba.carray(_voidptr(seg_offsets[g]), (1,), np.uint8)
            k0 = col_state_ptr[col]
            k1 = col_state_ptr[col + 1]
            c0 = base + a0
            c1 = base + a1
            for byte in range(c0 >> 3, ((c1 - 1) >> 3) + 1):
                bits = np.int64(valid[byte]) if has_valid else np.int64(255)
                lo_bit = byte * 8
                if lo_bit < c0:
                    bits &= ~((np.int64(1) << (c0 - lo_bit)) - 1)
                if lo_bit + 8 > c1:
                    bits &= (np.int64(1) << (c1 - lo_bit)) - 1
                while bits:
                    bit = _LOW_BIT[bits]
                    bits &= bits - 1
                    cell = lo_bit + bit
                    if seg_wide[g]:
                        a = offs64[cell]
                        ln = offs64[cell + 1] - a
                    else:
                        a = np.int64(offs32[cell])
                        ln = np.int64(offs32[cell + 1]) - a
                    code = -2
                    for k in range(k0, k1):
                        b = st_off[k]
                        if st_off[k + 1] - b != ln:
                            continue
                        same = True
                        for q in range(ln):
                            if data[a + q] != st_bytes[b + q]:
                                same = False
                                break
                        if same:
                            code = k - k0
                            break
                    row = cell - base
                    if code == -2:
                        return g * (np.int64(1) << 32) + row
                    out[row, dest[col]] = code
        return -1


def arrow_state_codes(arrays: Sequence, states: Sequence[Sequence[str]], out: np.ndarray,
                      dest: Sequence[int]) -> bool:
    """Write the state codes (-1 missing) of pyarrow string arrays into columns of ``out``.

    ``arrays[j]`` (an arrow ``Array`` or ``ChunkedArray`` of ``len(out)`` strings) is coded against
    the names ``states[j]`` into ``out[:, dest[j]]``. Returns False when a value is not a state or
    an array is not of strings (``out`` is then partly written; the caller codes those columns
    itself and reports the value). Needs numba (``HAVE_NUMBA``).
    """
    if not HAVE_NUMBA:
        raise RuntimeError("arrow_state_codes needs numba (the 'fast' extra)")
    if not len(arrays) or not out.shape[0]:
        return True
    return _by_segments(arrays, states, out, dest)


def _state_tables(states: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(col_state_ptr, st_off, st_bytes)``: every column's state names as UTF-8 bytes end to end."""
    enc = [[s.encode() for s in st] for st in states]
    col_state_ptr = np.zeros(len(enc) + 1, dtype=np.int64)
    col_state_ptr[1:] = np.cumsum([len(e) for e in enc])
    flat = [b for e in enc for b in e]
    st_off = np.zeros(len(flat) + 1, dtype=np.int64)
    st_off[1:] = np.cumsum([len(b) for b in flat])
    st_bytes = np.frombuffer(b"".join(flat), dtype=np.uint8) if st_off[-1] else np.zeros(1, np.uint8)
    return col_state_ptr, st_off, st_bytes


def _by_segments(arrays: Sequence, states: Sequence[Sequence[str]], out: np.ndarray,
                 dest: Sequence[int]) -> bool:
    """:func:`arrow_state_codes` by the compiled pass over each chunk's own buffers, rows split
    over the thread pool the junction-tree kernel shares."""
    import pyarrow as pa

    n_rows = out.shape[0]
    segs = []
    keep = []  # the chunks whose buffer addresses are passed: alive until the pass ends
    for j, a in enumerate(arrays):
        row = 0
        for ch in (a.chunks if isinstance(a, pa.ChunkedArray) else [a]):
            if not (pa.types.is_string(ch.type) or pa.types.is_large_string(ch.type)):
                return False
            bufs = ch.buffers()
            valid = bufs[0].address if bufs[0] is not None and ch.null_count else 0
            data = bufs[2].address if bufs[2] is not None and bufs[2].size else 0
            segs.append((j, row, len(ch), ch.offset, valid, bufs[1].address, data,
                         pa.types.is_large_string(ch.type)))
            keep.append(ch)
            row += len(ch)
        if row != n_rows:
            return False
    # one contiguous row per field: strided rows would compile a second specialisation (a
    # one-segment row counts as contiguous, a longer one not)
    cols = np.ascontiguousarray(np.array(segs, dtype=np.int64).reshape(-1, 8).T)
    tabs = _state_tables(states)
    dest = np.asarray(dest, dtype=np.int64)
    args = (*cols, *tabs, dest, out)
    n_threads = min(os.cpu_count() or 1, (n_rows * len(arrays)) // _CELLS_PER_THREAD)
    if n_threads <= 1:
        bad = [_match_segments(0, n_rows, *args)]
    else:
        from probwb.bn.junction import _pool

        step = -(-n_rows // n_threads)
        futures = [_pool(n_threads - 1).submit(_match_segments, r, min(n_rows, r + step), *args)
                   for r in range(step, n_rows, step)]
        bad = [_match_segments(0, min(n_rows, step), *args)] + [f.result() for f in futures]
    return all(b < 0 for b in bad)
