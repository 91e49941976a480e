"""State codes of many pyarrow string columns at once, by a compiled byte comparison.

pyarrow's ``index_in`` costs ~0.2 ms per column of 10,000 cells even when most cells are missing:
for a wide evidence frame (one column per node) that is more than the junction-tree kernel needs
for the rows themselves. Here all columns' cells are laid end to end in one arrow array and one
compiled pass reads its validity bitmap, offsets and bytes, comparing each present cell with the
few state names of its column. Used only with numba (the ``fast`` extra) and for large frames;
any value that is not a state sends the caller back to its per-column path, which names it.
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


@_jit()
def _match_cells(b0, b1, n_rows, valid, has_valid, offsets, data, col_state_ptr, st_off, st_bytes,
                 dest, out):  # pragma: no cover - compiled; its Python twin runs in the tests
    """Write ``out[row, dest[col]]`` for each present cell ``col * n_rows + row`` of the validity
    bytes ``b0:b1`` (missing cells are left alone: the caller filled them with -1); return the
    first cell whose value is not a state of its column (-1 when none)."""
    n_cells = offsets.shape[0] - 1
    # cells come in increasing order: the column advances by comparison, not a division per cell
    # (an integer division costs ~30 cycles, as much as the rest of a cell's work)
    col = (b0 * 8) // n_rows
    col_end = (col + 1) * n_rows
    for byte in range(b0, b1):
        bits = np.int64(valid[byte]) if has_valid else np.int64(255)
        # visit the set bits only (lowest first): branching on each of a mostly-missing frame's
        # bits mispredicted about half of them
        while bits:
            bit = _LOW_BIT[bits]
            bits &= bits - 1
            i = byte * 8 + bit
            if i >= n_cells:
                break
            while i >= col_end:
                col += 1
                col_end += n_rows
            row = i - (col_end - n_rows)
            k0 = col_state_ptr[col]
            a = offsets[i]
            ln = offsets[i + 1] - a
            code = -2
            for k in range(k0, col_state_ptr[col + 1]):
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
            if code == -2:
                return i
            out[row, dest[col]] = code
    return -1


#: cells below which a second thread costs more than it saves
_CELLS_PER_THREAD = 100_000


def arrow_state_codes(arrays: Sequence, states: Sequence[Sequence[str]], out: np.ndarray,
                      dest: Sequence[int], *, compiled: bool | None = None) -> bool:
    """Write the state codes (-1 missing) of pyarrow string arrays into columns of ``out``.

    ``arrays[j]`` (an arrow ``Array`` or ``ChunkedArray`` of ``len(out)`` strings, all of one arrow
    type) is coded against the names ``states[j]`` into ``out[:, dest[j]]``. Returns False when a
    value is not a state (``out`` is then partly written; the caller reports the value).
    ``compiled=False`` runs the Python twin of the compiled pass (tests).
    """
    import pyarrow as pa

    n_rows = out.shape[0]
    if not len(arrays) or not n_rows:
        return True
    chunks = []
    for a in arrays:
        chunks.extend(a.chunks if isinstance(a, pa.ChunkedArray) else [a])
    # one array with offset 0 (concatenating re-bases sliced chunks), so cell i is bit i
    big = pa.concat_arrays(chunks)
    if big.offset or len(big) != n_rows * len(arrays):
        return False
    valid_buf, off_buf, data_buf = big.buffers()[:3]
    wide = pa.types.is_large_string(big.type)
    offsets = np.frombuffer(off_buf, dtype=np.int64 if wide else np.int32)[:len(big) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    has_valid = valid_buf is not None and big.null_count > 0
    valid = np.frombuffer(valid_buf, dtype=np.uint8) if has_valid else np.zeros(1, np.uint8)
    enc = [[s.encode() for s in st] for st in states]
    col_state_ptr = np.zeros(len(enc) + 1, dtype=np.int64)
    col_state_ptr[1:] = np.cumsum([len(e) for e in enc])
    flat = [b for e in enc for b in e]
    st_off = np.zeros(len(flat) + 1, dtype=np.int64)
    st_off[1:] = np.cumsum([len(b) for b in flat])
    st_bytes = np.frombuffer(b"".join(flat), dtype=np.uint8) if st_off[-1] else np.zeros(1, np.uint8)
    use = HAVE_NUMBA if compiled is None else (compiled and HAVE_NUMBA)
    fn = _match_cells if use else getattr(_match_cells, "py_func", _match_cells)
    dest = np.asarray(dest, dtype=np.int64)
    if len(dest) == out.shape[1] and out.flags.c_contiguous:
        out.fill(-1)
    else:
        out[:, dest] = -1
    n_bytes = (len(big) + 7) // 8
    args = (n_rows, valid, has_valid, offsets, data, col_state_ptr, st_off, st_bytes, dest, out)
    n_threads = min(os.cpu_count() or 1, len(big) // _CELLS_PER_THREAD) if use else 1
    if n_threads <= 1:
        return fn(0, n_bytes, *args) < 0
    # the compiled pass releases the GIL: byte ranges in parallel (they write disjoint cells),
    # on the thread pool the junction-tree kernel shares
    from probwb.bn.junction import _pool

    step = -(-n_bytes // n_threads)
    futures = [_pool(n_threads - 1).submit(fn, b, min(n_bytes, b + step), *args)
               for b in range(step, n_bytes, step)]
    bad = [fn(0, min(n_bytes, step), *args)] + [f.result() for f in futures]
    return all(b < 0 for b in bad)
