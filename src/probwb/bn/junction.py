"""Junction-tree engine for batched single-target posteriors: plain functions on numpy arrays.

:func:`build_tree` triangulates a network (min-fill order on the moral graph), keeps the maximal
cliques, joins them by a maximum-weight spanning tree of separators and multiplies each CPT into one
clique holding its family. :func:`root_tree` roots the tree at the clique holding the target
that makes evidence paths cheapest and precomputes every clique's evidence-free upward message,
plus shortcuts for the commonest per-row updates: every clique's message when a single observed
node lies below it (per node and state), the message where the paths of exactly two observed
nodes meet (per pair of states), matrices that carry a message up a path of cliques that only pass
it on, matrices for a clique that changes through one child (and one observation), and each
clique's entries sorted by the message entry they add to, so a clique's sums stay in registers.
:func:`tree_rows` then answers one evidence row at a time, in parallel over rows: only the cliques
that are the "home" of an observed variable, and their ancestors, get new messages; every other
child reuses its constant message, and only the cliques where three or more evidence paths meet
(and the root) are computed. The kernel keeps a row's cliques as bits, 64 to a word (ALARM's 27
cliques: one word), so marking an observation's path to the root is an OR. Entries that
contradict the evidence are skipped, not multiplied by zero, and each message is normalised with
its log scale accumulated, so ``log P(evidence)`` never underflows.

The per-row kernel is compiled with numba when it is importable (the ``fast`` extra). Without numba
the same function runs as plain Python: exact, but slow, so callers then use the einsum engine of
:mod:`probwb.bn.kernels` and reach for this one only to rescue values that underflow there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from probwb.bn.kernels import elimination_order

try:  # numba is optional (the "fast" extra)
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "JunctionTree", "RootedTree", "build_tree", "kernel_cached", "kernel_ready",
           "root_tree", "tree_rows"]


def _jit(inline: bool = False):
    if numba is None:
        return lambda f: f
    # inlined at numba's IR level: a call passing a dozen arrays costs more than the helper's work
    return numba.njit(cache=True, nogil=True, error_model="numpy",
                      inline="always" if inline else "never")


#: rootings (targets) cached per tree
_MAX_ROOTINGS = 8
#: fewer rows than this per thread are not worth a thread
_ROWS_PER_THREAD = 1000
#: cliques per word of the row kernel's bit sets (64; tests use fewer to exercise several words)
_WORD_BITS = 64
#: float64 entries (8 bytes each) the single-observation message table of one rooting may hold:
#: 16 MB, up to 8 rootings cached (ALARM needs 6,686 entries, pathfinder 1.6M; andes, 7.7M, gained
#: only 8% from its table)
_MAX_SINGLE = 2_000_000
#: float64 entries the path-jump matrices of one rooting may hold
_MAX_JUMP = 4_000_000
#: entries of the largest single link or path matrix built for them
_MAX_LINK = 1 << 16
#: int32/float64 entries the output-sorted clique layout of one rooting may hold
_MAX_SORTED = 8_000_000
#: float64 entries the evidence-sliced child matrices of one rooting may hold
_MAX_SLICE = 2_000_000
#: float64 entries the two-observation message table of one rooting may hold (ALARM: 37,741)
_MAX_PAIR = 2_000_000


if numba is not None:
    from numba.cpython.unsafe.numbers import leading_zeros, trailing_zeros
else:  # pragma: no cover - exercised where numba is absent
    def trailing_zeros(x):
        return (int(x) & -int(x)).bit_length() - 1

    def leading_zeros(x):
        return 64 - int(x).bit_length()


@_jit()
def _ctz(x):  # pragma: no cover - compiled
    return trailing_zeros(x)


@_jit()
def _clz(x):  # pragma: no cover - compiled
    return leading_zeros(x)


def kernel_ready() -> bool:
    """Return True when the compiled row kernel is loaded in this process (no compile to wait for)."""
    # ``overloads`` (a dict) rather than ``signatures``, which rebuilds a list of types (~35 us)
    return HAVE_NUMBA and bool(_rows_block.overloads)


_CACHED: list[bool] = []


def kernel_cached() -> bool:
    """Return True when the row kernel is loaded, or numba's on-disk cache holds a current
    compilation of it (a first call then loads it in ~0.1 s instead of compiling for seconds)."""
    if kernel_ready():
        return True
    if not HAVE_NUMBA:
        return False
    if not _CACHED:
        try:
            # numba's own check: the index is read only when the source file's stamp still matches
            _CACHED.append(bool(_rows_block._cache._cache_file._load_index()))
        except Exception:  # noqa: BLE001 - numba internals differ between versions: assume no cache
            _CACHED.append(False)
    return _CACHED[0]


@dataclass
class RootedTree:
    """Flat arrays describing a junction tree rooted for one target (inputs of :func:`tree_rows`).

    ``order`` lists cliques children-first; ``parent[root] = -1``; ``ch_ptr``/``ch_idx`` list each
    clique's children. ``maps[up_off[c]:]`` sends the entries of clique ``c`` to the entries of the
    separator with its parent, ``maps[dn_off[c]:]`` the entries of the parent to that same
    separator. ``const_msg`` holds the normalised evidence-free upward messages (at ``msg_off``,
    ``msg_size`` entries), ``inv_const`` their reciprocals (0 where a message entry is 0) and
    ``const_sub_log[c]`` the sum of the log scales of ``c``'s message and of all messages below it.
    ``cbase`` is each clique's potential times all its children's constant messages, so an updated
    child enters as the ratio of its new to its constant message. ``home[v]`` is the clique where
    evidence on node ``v`` is entered (the one nearest the root) and ``homepos[v]`` the position of
    ``v`` among that clique's variables. Shortcuts: ``amat[a_off[ch]:]`` is the matrix from child
    ``ch``'s message to its parent's message (or the target's states at the root), ``-1`` where not
    kept; ``smat[s_off[ch, k] + s * n_in * n_out:]`` (input-major, ``-1``: not kept) is that matrix
    restricted to the entries where the parent's ``k``-th variable is in state ``s``. The
    output-sorted layout (``sl_off[c, 0] = -1``: not built) lists clique ``c``'s entries ordered by
    the entry of its upward message (the target's state at the root) they add to: ``pw`` and
    ``pst`` are ``cbase`` and ``states`` in that order (offsets ``base_off``, ``st_off``),
    ``pdn[pdn_off[ch] + i]`` is the child ``ch``'s separator entry of the parent's ``i``-th sorted
    entry; ``sl[sl_off[c, k] + s * (size // card):]`` lists the sorted positions where the
    ``k``-th variable is in state ``s`` (``k = nvars[c]``: all positions, one "state") and
    ``runs[run_off[c, k] + s * (n_out + 1) + j:]`` bounds the part of that list adding to output
    entry ``j``;
    ``evec[e_off[k_off[c] + k] + s * n_out:]`` is clique ``c``'s message when only its ``k``-th
    variable is observed, in state ``s``. ``sg[sg_off[c, v] + s * (msg_size[c] + 1):]`` is clique
    ``c``'s upward message when node ``v``, in state ``s``, is the only observed node in ``c``'s
    subtree: first the summed log scales of the subtree (``-inf`` when that evidence is impossible),
    then the message as a ratio to the constant one; ``sg_off[c, v] = -1`` where not kept.
    ``pr``/``pr_off`` hold the same for two observed nodes at the clique where their paths meet
    (see :func:`_pair_table`).
    ``jm[jo[c, a]:]`` (``-1``: not kept; stored transposed, input-major) is the matrix from clique
    ``c``'s message (a ratio) to the unnormalised message out of its ancestor ``a`` (the target's states at the root) when every
    clique from ``c``'s parent up to ``a`` changes only through the child on that path; ``jl[c, a]``
    sums the log scales of those cliques' other children.
    """

    target: int
    root: int
    tpos: int
    tcard: int
    order: np.ndarray
    nbits: int
    wd: np.ndarray
    bt: np.ndarray
    ancm: np.ndarray
    chm: np.ndarray
    parent: np.ndarray
    ch_ptr: np.ndarray
    ch_idx: np.ndarray
    up_off: np.ndarray
    dn_off: np.ndarray
    maps: np.ndarray
    msg_off: np.ndarray
    msg_size: np.ndarray
    const_msg: np.ndarray
    const_sub_log: np.ndarray
    home: np.ndarray
    homepos: np.ndarray
    cbase: np.ndarray
    inv_const: np.ndarray
    a_off: np.ndarray
    amat: np.ndarray
    s_off: np.ndarray
    smat: np.ndarray
    sl_off: np.ndarray
    sl: np.ndarray
    run_off: np.ndarray
    runs: np.ndarray
    pw: np.ndarray
    pst: np.ndarray
    pdn_off: np.ndarray
    pdn: np.ndarray
    k_off: np.ndarray
    e_off: np.ndarray
    evec: np.ndarray
    sg_off: np.ndarray
    sg: np.ndarray
    pr_off: np.ndarray
    pr: np.ndarray
    jo: np.ndarray
    jl: np.ndarray
    jm: np.ndarray


@dataclass
class JunctionTree:
    """A junction tree of one network (after graph surgery for ``do``), ready to be rooted.

    ``cliques[c]`` are node ids in increasing order; potentials are flattened C-order over them
    (``base[base_off[c]:base_off[c] + size[c]]``), ``states[st_off[c] + e * nvars[c] + k]`` is the
    state of the clique's ``k``-th variable in entry ``e``. ``edges`` maps a clique to its neighbours
    and, per neighbour, the index map of the clique's entries onto their separator.
    """

    cliques: list[tuple[int, ...]]
    cards: list[int]
    size: np.ndarray
    nvars: np.ndarray
    base_off: np.ndarray
    base: np.ndarray
    st_off: np.ndarray
    states: np.ndarray
    edges: list[dict[int, np.ndarray]]
    sep_size: dict[tuple[int, int], int]
    total_entries: int
    node_cards: np.ndarray
    byvar: np.ndarray
    rooted: dict[int, RootedTree] = field(default_factory=dict)


def _triangulate(parents: Sequence[Sequence[int]], cards: Sequence[int], heuristic: str
                 ) -> list[tuple[int, ...]]:
    """Return the maximal cliques of the moral graph triangulated by a greedy elimination order."""
    n = len(parents)
    scopes = [(*parents[v], v) for v in range(n)]
    order = elimination_order(scopes, set(range(n)), cards, heuristic)
    adj: list[set[int]] = [set() for _ in range(n)]
    for sc in scopes:
        for a in sc:
            adj[a].update(sc)
    for v in range(n):
        adj[v].discard(v)
    cliques: list[frozenset[int]] = []
    holding: dict[int, list[int]] = {}
    for v in order:
        clique = frozenset(adj[v] | {v})
        # a clique created later can only be inside an earlier one that holds v
        if not any(clique <= cliques[i] for i in holding.get(v, ())):
            idx = len(cliques)
            cliques.append(clique)
            for u in clique:
                holding.setdefault(u, []).append(idx)
        nb = adj[v]
        for a in nb:
            adj[a].discard(v)
            adj[a].update(u for u in nb if u != a)
        adj[v] = set()
    return [tuple(sorted(c)) for c in cliques]


def _spanning_tree(cliques: list[tuple[int, ...]]) -> list[tuple[int, int]]:
    """Maximum-weight spanning tree (weight = separator size) of the clique graph, by Kruskal.

    Cliques in different components of the network are joined by empty separators.
    """
    holding: dict[int, list[int]] = {}
    for i, c in enumerate(cliques):
        for u in c:
            holding.setdefault(u, []).append(i)
    weight: dict[tuple[int, int], int] = {}
    for idx in holding.values():
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                key = (idx[a], idx[b])
                weight[key] = weight.get(key, 0) + 1
    root = list(range(len(cliques)))

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    tree = []
    for (a, b), _ in sorted(weight.items(), key=lambda kv: (-kv[1], kv[0])):
        ra, rb = find(a), find(b)
        if ra != rb:
            root[ra] = rb
            tree.append((a, b))
    for i in range(1, len(cliques)):
        ra, r0 = find(i), find(0)
        if ra != r0:
            root[ra] = r0
            tree.append((0, i))
    return tree


def build_tree(
    parents: Sequence[Sequence[int]],
    cards: Sequence[int],
    cpts: Sequence[np.ndarray],
    do: Mapping[int, int] | None = None,
    *,
    heuristic: str = "min_fill",
    max_clique: int = 1_000_000,
    max_total: int = 20_000_000,
) -> JunctionTree | None:
    """Return the junction tree of the network after graph surgery for ``do``.

    ``do`` maps intervened nodes to their fixed states: each loses its parents and its CPT becomes a
    point mass. Returns ``None`` when the triangulated network has a clique above ``max_clique``
    entries or above ``max_total`` entries in all (exact inference then needs evidence pruning).
    """
    do = dict(do or {})
    n = len(parents)
    par = [() if v in do else tuple(parents[v]) for v in range(n)]
    tables = []
    for v in range(n):
        if v in do:
            one = np.zeros(cards[v])
            one[do[v]] = 1.0
            tables.append(one)
        else:
            tables.append(np.asarray(cpts[v], dtype=float))
    cliques = _triangulate(par, cards, heuristic)
    sizes = [int(np.prod([cards[u] for u in c], dtype=np.int64)) for c in cliques]
    if max(sizes) > max_clique or sum(sizes) > max_total:
        return None
    holding: dict[int, list[int]] = {}
    for i, c in enumerate(cliques):
        for u in c:
            holding.setdefault(u, []).append(i)
    pots = [np.ones(tuple(cards[u] for u in c)) for c in cliques]
    for v in range(n):
        fam = (*par[v], v)
        cands = [i for i in holding[v] if set(fam) <= set(cliques[i])]
        best = min(cands, key=lambda i: (sizes[i], i))
        clique = cliques[best]
        # put the CPT's axes in clique order, with length-1 axes for the clique's other variables
        pos = [clique.index(u) for u in fam]
        arr = np.transpose(tables[v], np.argsort(pos))
        shape = [1] * len(clique)
        for u in fam:
            shape[clique.index(u)] = cards[u]
        pots[best] = pots[best] * arr.reshape(shape)
    nvars = np.array([len(c) for c in cliques], dtype=np.int64)
    size = np.array(sizes, dtype=np.int64)
    base_off = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    st_sizes = size * nvars
    st_off = np.concatenate([[0], np.cumsum(st_sizes)[:-1]]).astype(np.int64)
    base = np.concatenate([p.ravel() for p in pots])
    state_tabs = []
    for c in cliques:
        shp = tuple(cards[u] for u in c)
        if c:
            state_tabs.append(np.indices(shp).reshape(len(c), -1).T.ravel())
    states = np.concatenate(state_tabs).astype(np.int32) if state_tabs else np.zeros(0, np.int32)
    edges: list[dict[int, np.ndarray]] = [{} for _ in cliques]
    sep_size: dict[tuple[int, int], int] = {}
    for a, b in _spanning_tree(cliques):
        sep = sorted(set(cliques[a]) & set(cliques[b]))
        scards = [cards[u] for u in sep]
        ssize = int(np.prod(scards, dtype=np.int64))
        for x, y in ((a, b), (b, a)):
            st = states[st_off[x]:st_off[x] + st_sizes[x]].reshape(size[x], nvars[x])
            cols = [cliques[x].index(u) for u in sep]
            if sep:
                m = np.ravel_multi_index(tuple(st[:, k] for k in cols), scards)
            else:
                m = np.zeros(size[x], dtype=np.int64)
            edges[x][y] = m.astype(np.int32)
            sep_size[(x, y)] = ssize
    # per clique and variable: the clique's entries grouped by that variable's state (equal-sized
    # groups), so evidence walks only the entries that agree with it
    byvar = np.empty_like(states)
    for c in range(len(cliques)):
        st = states[st_off[c]:st_off[c] + st_sizes[c]].reshape(size[c], nvars[c])
        for k in range(nvars[c]):
            o = st_off[c] + k * size[c]
            byvar[o:o + size[c]] = np.argsort(st[:, k], kind="stable")
    return JunctionTree(cliques, list(cards), size, nvars, base_off, base, st_off, states, edges,
                        sep_size, int(size.sum()), np.asarray(cards, dtype=np.int64), byvar)


def _bfs(tree: JunctionTree, root: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Parent and depth of every clique with the tree rooted at ``root``, and the BFS order."""
    nc = len(tree.cliques)
    parent = np.full(nc, -1, dtype=np.int64)
    depth = np.zeros(nc, dtype=np.int64)
    bfs = [root]
    seen = {root}
    for c in bfs:
        for nb in tree.edges[c]:
            if nb not in seen:
                seen.add(nb)
                parent[nb] = c
                depth[nb] = depth[c] + 1
                bfs.append(nb)
    return parent, depth, bfs


def _homes(tree: JunctionTree, depth: np.ndarray) -> np.ndarray:
    """For every node, the clique holding it nearest the root (then the smallest)."""
    home = np.full(len(tree.cards), -1, dtype=np.int64)
    for i, cl in enumerate(tree.cliques):
        for u in cl:
            h = home[u]
            if h < 0 or (depth[i], tree.size[i]) < (depth[h], tree.size[h]):
                home[u] = i
    return home


def root_tree(tree: JunctionTree, target: int) -> RootedTree:
    """Return (and cache on ``tree``) the tree rooted for ``target`` (``-1``: no target, P(e) only)."""
    hit = tree.rooted.get(target)
    if hit is not None:
        return hit
    nc = len(tree.cliques)
    # without a target any clique could be the root; the first is as good as a search is costly
    cands = [i for i, c in enumerate(tree.cliques) if target in c] if target >= 0 else [0]
    # the root that makes evidence paths cheapest: summed over nodes, the entries of the cliques
    # from the node's home (nearest the root) up to the root
    best = None
    for r in cands:
        parent, depth, bfs = _bfs(tree, r)
        cost = np.asarray(tree.size, dtype=float).copy()
        for c in bfs[1:]:
            cost[c] += cost[parent[c]]
        home = _homes(tree, depth)
        total = float(cost[home].sum())
        if best is None or total < best[0]:
            best = (total, r, parent, depth, bfs, home)
    _, root, parent, depth, bfs, home = best
    order = np.array(bfs[::-1], dtype=np.int64)
    children: list[list[int]] = [[] for _ in range(nc)]
    for c in bfs[1:]:
        children[int(parent[c])].append(c)
    # each clique a bit (by its position in ``order``, ``_WORD_BITS`` to a word); per clique the
    # bits of itself and its ancestors, and of its children
    nbits = _WORD_BITS
    nw = max(1, -(-nc // nbits))
    place = np.zeros(nc, dtype=np.int64)
    place[order] = np.arange(nc, dtype=np.int64)
    wd = place // nbits
    bt = np.left_shift(np.uint64(1), (place % nbits).astype(np.uint64))
    ancm = np.zeros((nc, nw), dtype=np.uint64)
    chm = np.zeros((nc, nw), dtype=np.uint64)
    for c in bfs:
        p = int(parent[c])
        if p >= 0:
            ancm[c] = ancm[p]
            chm[p, wd[c]] |= bt[c]
        ancm[c, wd[c]] |= bt[c]
    ch_ptr = np.zeros(nc + 1, dtype=np.int64)
    ch_ptr[1:] = np.cumsum([len(x) for x in children])
    ch_idx = np.array([c for x in children for c in x], dtype=np.int64)
    # per non-root clique: its entries -> separator (up) and its parent's entries -> separator (down)
    maps = []
    up_off = np.zeros(nc, dtype=np.int64)
    dn_off = np.zeros(nc, dtype=np.int64)
    msg_size = np.zeros(nc, dtype=np.int64)
    pos = 0
    for c in range(nc):
        p = int(parent[c])
        if p < 0:
            continue
        up_off[c] = pos
        maps.append(tree.edges[c][p])
        pos += len(tree.edges[c][p])
        dn_off[c] = pos
        maps.append(tree.edges[p][c])
        pos += len(tree.edges[p][c])
        msg_size[c] = tree.sep_size[(c, p)]
    maps_arr = np.concatenate(maps).astype(np.int32) if maps else np.zeros(0, np.int32)
    msg_off = np.concatenate([[0], np.cumsum(msg_size)[:-1]]).astype(np.int64)
    const_msg = np.zeros(int(msg_size.sum()))
    const_sub_log = np.zeros(nc)
    cbase = tree.base.copy()
    for c in order:
        c = int(c)
        p = int(parent[c])
        w = cbase[tree.base_off[c]:tree.base_off[c] + tree.size[c]]
        sub = 0.0
        for ch in children[c]:
            m = maps_arr[dn_off[ch]:dn_off[ch] + tree.size[c]]
            w *= const_msg[msg_off[ch]:msg_off[ch] + msg_size[ch]][m]
            sub += const_sub_log[ch]
        if p < 0:
            continue
        msg = np.bincount(maps_arr[up_off[c]:up_off[c] + tree.size[c]], weights=w,
                          minlength=int(msg_size[c]))
        s = msg.sum()
        # an evidence-free message cannot vanish: every CPT row sums to one
        const_msg[msg_off[c]:msg_off[c] + msg_size[c]] = msg / s
        const_sub_log[c] = sub + np.log(s)
    n_nodes = len(tree.cards)
    homepos = np.array([tree.cliques[home[u]].index(u) for u in range(n_nodes)], dtype=np.int64)
    tpos = tree.cliques[root].index(target) if target >= 0 else -1
    tcard = tree.cards[target] if target >= 0 else 1
    # children's messages enter a recomputed clique as ratios to the constant ones already in
    # cbase; a zero constant entry forces a zero updated entry (evidence only removes terms)
    with np.errstate(divide="ignore"):
        inv_const = np.where(const_msg > 0, 1.0 / const_msg, 0.0)
    # Per clique, three shortcut tables, each kept where its dense product is at most 4x the
    # entries the clique walk would visit (a dense product streams through memory several times
    # faster than the gather/scatter walk; measured on ALARM: 1x, 4x and 16x gave 568k, 617k, 546k
    # rows/s on one thread):
    # - amat: when the only change is one child's message, the matrix from that child's separator
    #   to the clique's upward message (or the target);
    # - smat: when the changes are one updated child and one observed variable (the commonest
    #   merge: an evidence path meets an observation), per variable and state, that matrix
    #   restricted to the entries agreeing with the observation, stored input-major like the
    #   path matrices;
    # - evec: when the only change is one observed variable, its message for each state
    maxv = int(tree.nvars.max()) if nc else 1
    a_off = np.full(nc, -1, dtype=np.int64)
    s_off = np.full((nc, maxv), -1, dtype=np.int64)
    k_off = np.zeros(nc, dtype=np.int64)
    e_off = []
    amats, smats, vecs = [], [], []
    a_pos = s_pos = e_pos = 0
    for c in range(nc):
        sz = int(tree.size[c])
        nv = int(tree.nvars[c])
        w = cbase[tree.base_off[c]:tree.base_off[c] + sz]
        st, out_idx, n_out = _clique_out(tree, c, parent, maps_arr, up_off, msg_size, tpos, tcard)
        for ch in children[c]:
            n_in = int(msg_size[ch])
            dn = maps_arr[dn_off[ch]:dn_off[ch] + sz].astype(np.int64)
            if n_out * n_in <= 4 * sz:
                a = np.zeros(n_out * n_in)
                np.add.at(a, out_idx * n_in + dn, w)
                a_off[ch] = a_pos
                a_pos += len(a)
                amats.append(a)
            for k in range(nv):
                card = tree.cards[tree.cliques[c][k]]
                if n_out * n_in > 4 * (sz // card) or s_pos + card * n_in * n_out > _MAX_SLICE:
                    continue
                # (state, input, output): input-major within each state's matrix
                a = np.bincount((st[:, k] * n_in + dn) * n_out + out_idx, weights=w,
                                minlength=card * n_in * n_out)
                s_off[ch, k] = s_pos
                s_pos += len(a)
                smats.append(a)
        k_off[c] = len(e_off)
        for k in range(nv):
            e_off.append(e_pos)
            card = tree.cards[tree.cliques[c][k]]
            vec = np.bincount(st[:, k] * n_out + out_idx, weights=w, minlength=card * n_out)
            vecs.append(vec)
            e_pos += len(vec)
    amat = np.concatenate(amats) if amats else np.zeros(1)
    smat = np.concatenate(smats) if smats else np.zeros(1)
    srt = _sorted_layout(tree, parent, children, tpos, tcard, cbase, maps_arr, up_off, dn_off,
                         msg_size)
    e_off_arr = np.array(e_off, dtype=np.int64) if e_off else np.zeros(1, dtype=np.int64)
    evec = np.concatenate(vecs) if vecs else np.zeros(1)
    sg_off, sg = _single_table(tree, root, parent, children, home, homepos, maps_arr, up_off,
                               dn_off, msg_off, msg_size, const_sub_log, cbase, inv_const, k_off,
                               e_off_arr, evec)
    jo, jl, jm = _jump_table(tree, tpos, tcard, parent, children, maps_arr, up_off, dn_off,
                             msg_off, msg_size, const_sub_log, cbase, inv_const)
    pr_off, pr = _pair_table(tree, root, parent, depth, children, home, homepos, maps_arr, up_off,
                             dn_off, msg_off, msg_size, const_sub_log, cbase, inv_const, sg_off, sg)
    rooted = RootedTree(target, root, tpos, tcard, order, nbits, wd, bt, ancm, chm, parent, ch_ptr, ch_idx, up_off, dn_off,
                        maps_arr, msg_off, msg_size, const_msg, const_sub_log, home, homepos, cbase,
                        inv_const, a_off, amat, s_off, smat, *srt, k_off, e_off_arr, evec, sg_off,
                        sg, pr_off, pr, jo, jl, jm)
    # a rooting holds a few arrays the size of the whole tree: keep only the latest targets'
    if len(tree.rooted) >= _MAX_ROOTINGS:
        tree.rooted.pop(next(iter(tree.rooted)))
    tree.rooted[target] = rooted
    return rooted


def _clique_out(tree: JunctionTree, c: int, parent: np.ndarray, maps: np.ndarray,
                up_off: np.ndarray, msg_size: np.ndarray, tpos: int, tcard: int
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Return ``(states, out_idx, n_out)`` of clique ``c``: its entries' states (entries x
    variables), the entry of its upward message each adds to (the target's state at the root)
    and that message's length."""
    sz = int(tree.size[c])
    nv = int(tree.nvars[c])
    st = tree.states[tree.st_off[c]:tree.st_off[c] + sz * nv].reshape(sz, nv).astype(np.int64)
    if int(parent[c]) >= 0:
        return st, maps[up_off[c]:up_off[c] + sz].astype(np.int64), int(msg_size[c])
    return st, (st[:, tpos] if tpos >= 0 else np.zeros(sz, dtype=np.int64)), tcard


def _sorted_layout(tree: JunctionTree, parent: np.ndarray, children: list[list[int]], tpos: int,
                   tcard: int, cbase: np.ndarray, maps: np.ndarray, up_off: np.ndarray,
                   dn_off: np.ndarray, msg_size: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return ``(sl_off, sl, run_off, runs, pw, pst, pdn_off, pdn)``: every clique's entries
    sorted by the output entry they add to (layout in :class:`RootedTree`).

    The kernel then sums each output entry's terms in a register: scattering every term into
    its output (``msg[up[e]] += w``) stores to memory the next term may read, which kept the
    compiled loop from overlapping terms (~5 ns a term). Built clique by clique while the layout
    holds at most ``_MAX_SORTED`` entries; the others keep the scatter walk.
    """
    nc = len(tree.cliques)
    maxv = int(tree.nvars.max()) if nc else 1
    sl_off = np.full((nc, maxv + 1), -1, dtype=np.int64)
    run_off = np.zeros((nc, maxv + 1), dtype=np.int64)
    pdn_off = np.zeros(nc, dtype=np.int64)
    pw = cbase.copy()
    pst = tree.states.copy()
    sls, rns, pdns = [], [], []
    n_sl = n_run = n_dn = 0
    used = 0
    for c in range(nc):
        sz = int(tree.size[c])
        nv = int(tree.nvars[c])
        st, out_idx, n_out = _clique_out(tree, c, parent, maps, up_off, msg_size, tpos, tcard)
        cards = [tree.cards[u] for u in tree.cliques[c]]
        need = sz * (nv + 1 + len(children[c])) + (sum(cards) + 1) * (n_out + 1)
        if used + need > _MAX_SORTED:
            continue
        used += need
        perm = np.argsort(out_idx, kind="stable")
        bo = int(tree.base_off[c])
        so = int(tree.st_off[c])
        pw[bo:bo + sz] = cbase[bo:bo + sz][perm]
        sst = st[perm]
        pst[so:so + sz * nv] = sst.ravel()
        sout = out_idx[perm]
        for ch in children[c]:
            pdn_off[ch] = n_dn
            pdns.append(maps[dn_off[ch]:dn_off[ch] + sz][perm].astype(np.int32))
            n_dn += sz
        for k in range(nv + 1):
            card = cards[k] if k < nv else 1
            key = sst[:, k] if k < nv else np.zeros(sz, dtype=np.int64)
            sl_off[c, k] = n_sl
            run_off[c, k] = n_run
            for state in range(card):
                pos = np.flatnonzero(key == state)
                sls.append(pos.astype(np.int32))
                n_sl += len(pos)
                # where each output entry's part of the list starts (positions are sorted by output)
                run = np.searchsorted(sout[pos], np.arange(n_out + 1)).astype(np.int32)
                run[-1] = len(pos)
                rns.append(run)
                n_run += n_out + 1

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(1, dtype=np.int32)

    return sl_off, cat(sls), run_off, cat(rns), pw, pst, pdn_off, cat(pdns)


def _single_table(tree: JunctionTree, root: int, parent: np.ndarray, children: list[list[int]],
                  home: np.ndarray, homepos: np.ndarray, maps: np.ndarray, up_off: np.ndarray,
                  dn_off: np.ndarray, msg_off: np.ndarray, msg_size: np.ndarray,
                  const_sub_log: np.ndarray, cbase: np.ndarray, inv_const: np.ndarray,
                  k_off: np.ndarray, e_off: np.ndarray, evec: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(sg_off, sg)``: every non-root clique's upward message when exactly one observed
    node lies in its subtree, per node and state (layout in :class:`RootedTree`).

    A row's observations rarely meet below the root's neighbourhood (5 observed nodes merge in at
    most 4 cliques), so with this table a row recomputes only the cliques where two or more
    evidence paths join, instead of every clique on every path. Kept only while the table holds
    at most ``_MAX_SINGLE`` entries (the paths of large networks are long); otherwise ``sg_off``
    is all -1 and every path is recomputed.
    """
    nc = len(tree.cliques)
    n_nodes = len(tree.cards)
    sg_off = np.full((nc, n_nodes), -1, dtype=np.int64)
    paths = []
    need = 0
    for v in range(n_nodes):
        path = []
        c = int(home[v])
        while c != root:
            path.append(c)
            c = int(parent[c])
        paths.append(path)
        need += sum(tree.cards[v] * (int(msg_size[c]) + 1) for c in path)
    if need > _MAX_SINGLE:
        return sg_off, np.zeros(1)
    sg = np.empty(need)
    pos = 0
    for v, path in enumerate(paths):
        card = tree.cards[v]
        prev = -1
        ratio = np.zeros((card, 0))
        logs = np.zeros(card)
        for c in path:
            ms = int(msg_size[c])
            sz = int(tree.size[c])
            if prev < 0:
                # v's home: the message per state of v, as the kernel's one-observation shortcut
                o = int(e_off[k_off[c] + homepos[v]])
                msg = evec[o:o + card * ms].reshape(card, ms)
            else:
                # one updated child: its ratio times the clique's potential (which holds the
                # child's constant message), summed onto the separator with the parent
                w = cbase[tree.base_off[c]:tree.base_off[c] + sz]
                dn = maps[dn_off[prev]:dn_off[prev] + sz]
                up = maps[up_off[c]:up_off[c] + sz]
                msg = np.stack([np.bincount(up, weights=w * ratio[s, dn], minlength=ms)
                                for s in range(card)])
            tot = msg.sum(axis=1)
            logs = logs + sum(const_sub_log[ch] for ch in children[c] if ch != prev)
            alive = tot > 0
            with np.errstate(divide="ignore"):
                logs = np.where(alive, logs + np.log(np.where(alive, tot, 1.0)), -np.inf)
            ratio = np.where(alive[:, None], msg / np.where(alive, tot, 1.0)[:, None], 0.0)
            ratio = ratio * inv_const[msg_off[c]:msg_off[c] + ms]
            block = np.concatenate([logs[:, None], ratio], axis=1)
            sg_off[c, v] = pos
            sg[pos:pos + block.size] = block.ravel()
            pos += block.size
            prev = c
    return sg_off, sg


def _pair_table(tree: JunctionTree, root: int, parent: np.ndarray, depth: np.ndarray,
                children: list[list[int]], home: np.ndarray, homepos: np.ndarray,
                maps: np.ndarray, up_off: np.ndarray, dn_off: np.ndarray, msg_off: np.ndarray, msg_size: np.ndarray,
                const_sub_log: np.ndarray, cbase: np.ndarray, inv_const: np.ndarray,
                sg_off: np.ndarray, sg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(pr_off, pr)``: the upward message of the clique where the evidence paths of two
    observed nodes meet, when they are the only observations below it, per pair of states.

    ``pr[pr_off[u, v] + (su * card_v + sv) * (msg_size[m] + 1):]`` (``u < v``; ``-1``: not kept)
    holds the summed log scales of the meeting clique ``m``'s subtree (``-inf``: impossible) and
    then ``m``'s message as a ratio to the constant one. On ALARM a row with 5 observations has
    about one such meeting (of ~3 below the root); the table turns its clique walk into a copy.
    Built from the single-observation table; not where that is absent, where the pair meets at
    the root, or past ``_MAX_PAIR`` entries.
    """
    nc = len(tree.cliques)
    n_nodes = len(tree.cards)
    pr_off = np.full((n_nodes, n_nodes), -1, dtype=np.int64)
    if sg.shape[0] <= 1 or nc == 0:
        return pr_off, np.zeros(1)
    def below(c: int, m: int) -> int:
        # the child of m on the path up from c
        while parent[c] != m:
            c = int(parent[c])
        return c

    jobs = []
    need = 0
    for u in range(n_nodes):
        for v in range(u + 1, n_nodes):
            a, b = int(home[u]), int(home[v])
            while depth[a] > depth[b]:
                a = int(parent[a])
            while depth[b] > depth[a]:
                b = int(parent[b])
            while a != b:
                a, b = int(parent[a]), int(parent[b])
            if a == root:
                continue
            size = tree.cards[u] * tree.cards[v] * (int(msg_size[a]) + 1)
            if need + size > _MAX_PAIR:
                return np.full((n_nodes, n_nodes), -1, dtype=np.int64), np.zeros(1)
            jobs.append((u, v, a))
            need += size
    pr = np.empty(max(1, need))
    pos = 0
    for u, v, m in jobs:
        sz = int(tree.size[m])
        ms = int(msg_size[m])
        nv = int(tree.nvars[m])
        st = tree.states[tree.st_off[m]:tree.st_off[m] + sz * nv].reshape(sz, nv)
        w = cbase[tree.base_off[m]:tree.base_off[m] + sz]
        logs = {}
        factors = {}
        used = []
        for x in (u, v):
            card = tree.cards[x]
            if int(home[x]) == m:
                # observed in m itself: an indicator on its entries
                factors[x] = (st[:, homepos[x]][None, :] == np.arange(card)[:, None]).astype(float)
                logs[x] = np.zeros(card)
            else:
                ch = below(int(home[x]), m)
                used.append(ch)
                k = int(msg_size[ch]) + 1
                block = sg[sg_off[ch, x]:sg_off[ch, x] + card * k].reshape(card, k)
                logs[x] = block[:, 0]
                factors[x] = block[:, 1:][:, maps[dn_off[ch]:dn_off[ch] + sz]]
        other = sum(const_sub_log[ch] for ch in children[m] if ch not in used)
        terms = w[None, None, :] * factors[u][:, None, :] * factors[v][None, :, :]
        up = maps[up_off[m]:up_off[m] + sz].astype(np.int64)
        cu, cv = tree.cards[u], tree.cards[v]
        msg = np.zeros((cu * cv, ms))
        np.add.at(msg, (slice(None), up), terms.reshape(cu * cv, sz))
        tot = msg.sum(axis=1)
        alive = tot > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = (logs[u][:, None] + logs[v][None, :]).ravel() + other + np.log(tot)
            ratio = np.where(alive[:, None], msg / np.where(alive, tot, 1.0)[:, None], 0.0)
        lg = np.where(alive & np.isfinite(lg), lg, -np.inf)
        ratio = ratio * inv_const[msg_off[m]:msg_off[m] + ms]
        block = np.concatenate([lg[:, None], ratio], axis=1)
        pr_off[u, v] = pos
        pr[pos:pos + block.size] = block.ravel()
        pos += block.size
    return pr_off, pr


def _jump_table(tree: JunctionTree, tpos: int, tcard: int, parent: np.ndarray,
                children: list[list[int]], maps: np.ndarray, up_off: np.ndarray, dn_off: np.ndarray,
                msg_off: np.ndarray, msg_size: np.ndarray, const_sub_log: np.ndarray,
                cbase: np.ndarray, inv_const: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(jo, jl, jm)``: matrices that carry a message up a path of cliques in one product
    (layout in :class:`RootedTree`).

    Above the clique where a row's evidence paths last merge, the cliques up to the next merge
    (or the root) only pass one child's message on: on ALARM ~4 such cliques a row, most of the
    kernel's work once single observations come from a table. The messages are linear in the
    child's, so the whole path is one matrix (normalising in between only rescales, and the
    scales multiply up to the sum of the product). A path's matrix is kept where it is at most 4x
    the entries of the cliques it skips (the dense product is then faster than walking them) and
    all fit in ``_MAX_JUMP`` entries.
    """
    nc = len(tree.cliques)
    if nc * nc > _MAX_JUMP:
        return np.full((1, 1), -1, dtype=np.int64), np.zeros((1, 1)), np.zeros(1)
    jo = np.full((nc, nc), -1, dtype=np.int64)
    jl = np.zeros((nc, nc))
    # one link per non-root clique x: x's message (a ratio) -> its parent's unnormalised message
    links: dict[int, np.ndarray] = {}
    for x in range(nc):
        p = int(parent[x])
        if p < 0:
            continue
        sz = int(tree.size[p])
        n_in = int(msg_size[x])
        _, out_idx, n_out = _clique_out(tree, p, parent, maps, up_off, msg_size, tpos, tcard)
        if n_out * n_in > _MAX_LINK:
            continue
        w = cbase[tree.base_off[p]:tree.base_off[p] + sz]
        links[x] = np.bincount(out_idx * n_in + maps[dn_off[x]:dn_off[x] + sz], weights=w,
                               minlength=n_out * n_in).reshape(n_out, n_in)
    mats = []
    pos = 0
    for c in range(nc):
        x = c
        mat = None
        logs = 0.0
        walked = 0
        while x in links and pos < _MAX_JUMP:
            p = int(parent[x])
            if mat is None:
                mat = links[x]
            else:
                mat = links[x] @ (inv_const[msg_off[x]:msg_off[x] + msg_size[x], None] * mat)
            logs += sum(const_sub_log[ch] for ch in children[p] if ch != x)
            walked += int(tree.size[p])
            if mat.size > _MAX_LINK:
                break
            # a path's matrix may be small where its links are large (a wide separator passed on
            # to a narrow one): keep walking, keep only the ones that pay
            if mat.size <= 4 * walked and pos + mat.size <= _MAX_JUMP:
                jo[c, p] = pos
                jl[c, p] = logs
                # stored input-major: the kernel adds column after column, independent sums
                # that the compiler vectorises (row-major dot products wait on each addition)
                mats.append(mat.T.ravel())
                pos += mat.size
            x = p
    jm = np.concatenate(mats) if mats else np.zeros(1)
    return jo, jl, jm


@_jit(inline=True)
def _matvec(mat, o, x, xo, n_in, n_out, y):  # pragma: no cover - compiled
    """``y[:n_out] = M @ x[xo:xo + n_in]`` for the input-major matrix ``M`` at ``mat[o:]``: column
    after column, independent sums the compiler vectorises (row-major dot products wait on each
    addition)."""
    for j in range(n_out):
        y[j] = 0.0
    for i in range(n_in):
        xi = x[xo + i]
        oi = o + i * n_out
        for j in range(n_out):
            y[j] += mat[oi + j] * xi


@_jit()
def _rows_block(lo, hi, codes, col_nodes, node_cards, root, tpos, tcard, order, nbits, wd, bt, ancm,
               chm, parent, ch_ptr, ch_idx, size, nvars, base_off, cbase, st_off, states, byvar,
               up_off, dn_off, maps, msg_off, msg_size, inv_const, const_sub_log, home, homepos,
               a_off, amat, s_off, smat, sl_off, sl, run_off, runs, pw, pst, pdn_off, pdn, k_off,
               e_off, evec, sg_off, sg, pr_off, pr, jo, jl, jm, out, logp):  # pragma: no cover
    """The row kernel: the cliques a row touches are bits (clique at position ``p`` children-first:
    bit ``p % nbits`` of word ``p // nbits``; ``wd``/``bt`` per clique), so marking a row's
    evidence paths is an OR per observation and word, not a walk to the root, and the row visits
    only the cliques it must compute (where three or more observations meet, where two meet
    without a pair table, the topmost clique of each lone observation's path, the root)."""
    nc = order.shape[0]
    nw = ancm.shape[1]
    maxv = 1
    for c in range(nc):
        if nvars[c] > maxv:
            maxv = nvars[c]
    one = np.uint64(1)
    zero = np.uint64(0)
    has_sg = sg.shape[0] > 1
    has_pair = pr.shape[0] > 1
    has_jump = jo.shape[0] > 1
    # per clique met by exactly two observations: their columns (first, second)
    pa = np.zeros(nc, dtype=np.int64)
    pb = np.zeros(nc, dtype=np.int64)
    pn = np.zeros(nc, dtype=np.int64)
    buf = np.zeros(max(1, inv_const.shape[0]))
    tmp = np.zeros(max(1, int(msg_size.max()) if nc else 1, tcard))
    obsv = np.zeros(nc, dtype=np.int64)
    obss = np.zeros(nc, dtype=np.int64)
    evc = np.zeros(nc, dtype=np.int64)
    evpos = np.zeros((nc, maxv), dtype=np.int64)
    evst = np.zeros((nc, maxv), dtype=np.int64)
    evcard = np.zeros((nc, maxv), dtype=np.int64)
    accv = np.zeros(tcard)
    mch = np.zeros(max(1, ch_idx.shape[0]), dtype=np.int64)
    mco = np.zeros(max(1, ch_idx.shape[0]), dtype=np.int64)
    mdn = np.zeros(max(1, ch_idx.shape[0]), dtype=np.int64)
    k = codes.shape[1]
    ob = np.zeros(k + 1, dtype=np.int64)
    hh = np.zeros(k + 1, dtype=np.int64)
    # the row's clique sets: on an evidence path (acc), below two or more / three or more
    # observations, holding an observation (evm), below exactly one (single), still to visit
    # (todo), answered from the pair table (paired)
    acc = np.zeros(nw, dtype=np.uint64)
    two = np.zeros(nw, dtype=np.uint64)
    three = np.zeros(nw, dtype=np.uint64)
    evm = np.zeros(nw, dtype=np.uint64)
    single = np.zeros(nw, dtype=np.uint64)
    todo = np.zeros(nw, dtype=np.uint64)
    pairs = np.zeros(nw, dtype=np.uint64)
    paired = np.zeros(nw, dtype=np.uint64)
    rw = wd[root]
    rb = bt[root]
    for r in range(lo, hi):
        # the observed columns, compacted without a branch per column (which mispredicts)
        nob = 0
        for j in range(k):
            ob[nob] = j
            nob += codes[r, j] >= 0
        for w in range(nw):
            acc[w] = zero
            two[w] = zero
            three[w] = zero
            evm[w] = zero
            paired[w] = zero
        for q in range(nob):
            j = ob[q]
            s = codes[r, j]
            v = col_nodes[j]
            h = home[v]
            hh[q] = h
            evpos[h, evc[h]] = homepos[v]
            evst[h, evc[h]] = s
            evcard[h, evc[h]] = node_cards[v]
            evc[h] += 1
            if nw == 1:
                m = ancm[h, 0]
                three[0] |= two[0] & m
                two[0] |= acc[0] & m
                acc[0] |= m
            else:
                for w in range(nw):
                    m = ancm[h, w]
                    three[w] |= two[w] & m
                    two[w] |= acc[w] & m
                    acc[w] |= m
            evm[wd[h]] |= bt[h]
        acc[rw] |= rb
        # cliques below exactly one observation (the root excluded); with the table, only the
        # topmost of each such path is visited, reading its message per node and state
        for w in range(nw):
            single[w] = acc[w] & ~two[w]
            todo[w] = two[w]
        single[rw] &= ~rb
        todo[rw] |= rb
        # cliques where exactly two observations meet, answered from the pair table: the
        # lowest meeting clique on each observation's path, when below exactly two
        if has_pair:
            for w in range(nw):
                pairs[w] = two[w] & ~three[w]
            pairs[rw] &= ~rb
            for q in range(nob):
                for w in range(nw):
                    m = ancm[hh[q], w] & two[w]
                    if m:
                        b = _ctz(m)
                        if (pairs[w] >> b) & one:
                            c = order[w * nbits + b]
                            if pn[c] == 0:
                                pa[c] = q
                            else:
                                pb[c] = q
                            pn[c] += 1
                            paired[w] |= one << b
                        break
        if has_sg:
            for q in range(nob):
                for w in range(nw - 1, -1, -1):
                    m = ancm[hh[q], w] & single[w]
                    if m:
                        b = 63 - _clz(m)
                        c = order[w * nbits + b]
                        if not paired[wd[parent[c]]] & bt[parent[c]]:
                            # (otherwise its meeting clique reads the pair table)
                            obsv[c] = col_nodes[ob[q]]
                            obss[c] = codes[r, ob[q]]
                            todo[w] |= one << np.uint64(b)
                        break
        else:
            for w in range(nw):
                todo[w] |= acc[w]
        logsc = 0.0
        dead = False
        for w0 in range(nw):
            if dead:
                break
            while todo[w0]:
                b0 = _ctz(todo[w0])
                todo[w0] &= todo[w0] - one
                c = order[w0 * nbits + b0]
                is_root = c == root
                mo = msg_off[c]
                ms = msg_size[c]
                bit0 = one << b0
                if paired[w0] & bit0:
                    # the two observations below: column order gives node order u < v or not
                    qa = ob[pa[c]]
                    qb = ob[pb[c]]
                    pn[c] = 0
                    u = col_nodes[qa]
                    v = col_nodes[qb]
                    su = codes[r, qa]
                    sv = codes[r, qb]
                    if u > v:
                        u, v = v, u
                        su, sv = sv, su
                    o = pr_off[u, v] + (su * node_cards[v] + sv) * (ms + 1)
                    if pr[o] == -np.inf:
                        dead = True
                        break
                    logsc += pr[o]
                    for t in range(ms):
                        buf[mo + t] = pr[o + 1 + t]
                elif has_sg and not is_root and single[w0] & bit0:
                    o = sg_off[c, obsv[c]] + obss[c] * (ms + 1)
                    if sg[o] == -np.inf:
                        dead = True
                        break
                    logsc += sg[o]
                    for t in range(ms):
                        buf[mo + t] = sg[o + 1 + t]
                else:
                    nv = nvars[c]
                    so = st_off[c]
                    bo = base_off[c]
                    ne = evc[c]
                    um = up_off[c]
                    if is_root:
                        for t in range(tcard):
                            accv[t] = 0.0
                    else:
                        for t in range(ms):
                            buf[mo + t] = 0.0
                    c0 = ch_ptr[c]
                    c1 = ch_ptr[c + 1]
                    nm = 0
                    for t in range(c0, c1):
                        ch = ch_idx[t]
                        if acc[wd[ch]] & bt[ch]:
                            mch[nm] = ch
                            nm += 1
                    if ne == 1 and nm == 0:
                        # one observed variable and nothing below: a precomputed message per state
                        src = e_off[k_off[c] + evpos[c, 0]] + evst[c, 0] * (tcard if is_root else ms)
                        if is_root:
                            for t in range(tcard):
                                accv[t] = evec[src + t]
                        else:
                            for t in range(ms):
                                buf[mo + t] = evec[src + t]
                    elif ne == 0 and nm == 1 and a_off[mch[0]] >= 0:
                        # one updated child and no evidence here: a small dense matrix-vector product
                        ch = mch[0]
                        ao = a_off[ch]
                        cm = msg_size[ch]
                        co = msg_off[ch]
                        rows_out = tcard if is_root else ms
                        for j in range(rows_out):
                            tot_j = 0.0
                            for i in range(cm):
                                tot_j += amat[ao + j * cm + i] * buf[co + i]
                            if is_root:
                                accv[j] = tot_j
                            else:
                                buf[mo + j] = tot_j
                    elif ne == 1 and nm == 1 and s_off[mch[0], evpos[c, 0]] >= 0:
                        # one updated child and one observed variable: the state's slice matrix
                        ch = mch[0]
                        cm = msg_size[ch]
                        co = msg_off[ch]
                        rows_out = tcard if is_root else ms
                        so2 = s_off[ch, evpos[c, 0]] + evst[c, 0] * cm * rows_out
                        _matvec(smat, so2, buf, co, cm, rows_out, tmp)
                        if is_root:
                            for j in range(rows_out):
                                accv[j] = tmp[j]
                        else:
                            for j in range(rows_out):
                                buf[mo + j] = tmp[j]
                    elif sl_off[c, 0] >= 0:
                        # entries in output order, the most selective observation's slice: each output
                        # entry's terms summed in a register (specialised for 0-2 updated children)
                        n_out = tcard if is_root else ms
                        k_sel = nv
                        s_sel = 0
                        n_e = size[c]
                        best = -1
                        if ne > 0:
                            best = 0
                            for q in range(1, ne):
                                if evcard[c, q] > evcard[c, best]:
                                    best = q
                            k_sel = evpos[c, best]
                            s_sel = evst[c, best]
                            n_e = size[c] // evcard[c, best]
                        lo_sl = sl_off[c, k_sel] + s_sel * n_e
                        ro = run_off[c, k_sel] + s_sel * (n_out + 1)
                        for t in range(nm):
                            mco[t] = msg_off[mch[t]]
                            mdn[t] = pdn_off[mch[t]]
                        c0o = mco[0]
                        d0 = mdn[0]
                        c1o = mco[1] if nm > 1 else 0
                        d1 = mdn[1] if nm > 1 else 0
                        # one loop per case (the case tested once, not per output entry); sums go to
                        # tmp, then to the message (tmp is never read by the sums: no stalls on stores)
                        if ne <= 1 and nm == 0:
                            for j in range(n_out):
                                tot_j = 0.0
                                for q in range(lo_sl + runs[ro + j], lo_sl + runs[ro + j + 1]):
                                    tot_j += pw[bo + sl[q]]
                                tmp[j] = tot_j
                        elif ne <= 1 and nm == 1:
                            for j in range(n_out):
                                tot_j = 0.0
                                for q in range(lo_sl + runs[ro + j], lo_sl + runs[ro + j + 1]):
                                    i = sl[q]
                                    tot_j += pw[bo + i] * buf[c0o + pdn[d0 + i]]
                                tmp[j] = tot_j
                        elif ne <= 1 and nm == 2:
                            for j in range(n_out):
                                tot_j = 0.0
                                for q in range(lo_sl + runs[ro + j], lo_sl + runs[ro + j + 1]):
                                    i = sl[q]
                                    tot_j += pw[bo + i] * buf[c0o + pdn[d0 + i]] * buf[c1o + pdn[d1 + i]]
                                tmp[j] = tot_j
                        else:
                            for j in range(n_out):
                                tot_j = 0.0
                                for q in range(lo_sl + runs[ro + j], lo_sl + runs[ro + j + 1]):
                                    i = sl[q]
                                    skip = False
                                    for qq in range(ne):
                                        if qq != best and pst[so + i * nv + evpos[c, qq]] != evst[c, qq]:
                                            skip = True
                                            break
                                    if skip:
                                        continue
                                    w = pw[bo + i]
                                    for t in range(nm):
                                        w *= buf[mco[t] + pdn[mdn[t] + i]]
                                    tot_j += w
                                tmp[j] = tot_j
                        if is_root:
                            for j in range(n_out):
                                accv[j] = tmp[j]
                        else:
                            for j in range(n_out):
                                buf[mo + j] = tmp[j]
                    elif ne == 0 and nm == 1 and not is_root:
                        # one updated child and no evidence here (the common pass-through on a path)
                        ch = mch[0]
                        co = msg_off[ch]
                        do = dn_off[ch]
                        for e in range(size[c]):
                            buf[mo + maps[um + e]] += cbase[bo + e] * buf[co + maps[do + e]]
                    elif ne == 0:
                        # no evidence here: every entry, times the updated children (branch-free loop)
                        for e in range(size[c]):
                            w = cbase[bo + e]
                            for t in range(nm):
                                ch = mch[t]
                                w *= buf[msg_off[ch] + maps[dn_off[ch] + e]]
                            if is_root:
                                accv[states[so + e * nv + tpos] if tpos >= 0 else 0] += w
                            else:
                                buf[mo + maps[um + e]] += w
                    else:
                        # walk only the entries agreeing with the most selective observed variable
                        n_e = size[c]
                        lst = -1
                        best = -1
                        if ne > 0:
                            best = 0
                            for q in range(1, ne):
                                if evcard[c, q] > evcard[c, best]:
                                    best = q
                            n_e = size[c] // evcard[c, best]
                            lst = so + evpos[c, best] * size[c] + evst[c, best] * n_e
                        for ii in range(n_e):
                            e = ii if lst < 0 else byvar[lst + ii]
                            w = cbase[bo + e]
                            if w == 0.0:
                                continue
                            skip = False
                            for q in range(ne):
                                if q != best and states[so + e * nv + evpos[c, q]] != evst[c, q]:
                                    skip = True
                                    break
                            if skip:
                                continue
                            for t in range(nm):
                                ch = mch[t]
                                w *= buf[msg_off[ch] + maps[dn_off[ch] + e]]
                            if w == 0.0:
                                continue
                            if is_root:
                                if tpos >= 0:
                                    accv[states[so + e * nv + tpos]] += w
                                else:
                                    accv[0] += w
                            else:
                                buf[mo + maps[um + e]] += w
                    for t in range(c0, c1):
                        ch = ch_idx[t]
                        if not acc[wd[ch]] & bt[ch]:
                            logsc += const_sub_log[ch]
                    tot = 0.0
                    if is_root:
                        for t in range(tcard):
                            tot += accv[t]
                    else:
                        for t in range(ms):
                            tot += buf[mo + t]
                    if not tot > 0.0:
                        dead = True
                        break
                    logsc += np.log(tot)
                    inv = 1.0 / tot
                    if is_root:
                        for t in range(tcard):
                            out[r, t] = accv[t] * inv
                        continue
                    # stored as a ratio to the constant message, which cbase already holds
                    for t in range(ms):
                        buf[mo + t] *= inv * inv_const[mo + t]
                # carry the message up the cliques that only pass it on, by one path matrix
                p = parent[c]
                if not has_jump or p < 0 or evm[wd[p]] & bt[p]:
                    continue
                # the longest kept path matrix from c up the cliques that change only through
                # it (each has no observation and c's path as its only evidence path)
                top = -1
                x = c
                xb = bit0
                xw = w0
                while True:
                    only = True
                    for w in range(nw):
                        if acc[w] & chm[p, w] != (xb if w == xw else zero):
                            only = False
                            break
                    if not only:
                        break
                    x = p
                    xb = bt[x]
                    xw = wd[x]
                    if jo[c, x] >= 0:
                        top = x
                    p = parent[x]
                    if p < 0 or evm[wd[p]] & bt[p]:
                        break
                if top < 0:
                    continue
                n_out = tcard if top == root else msg_size[top]
                _matvec(jm, jo[c, top], buf, mo, ms, n_out, tmp)
                tot = 0.0
                for j in range(n_out):
                    tot += tmp[j]
                if not tot > 0.0:
                    dead = True
                    break
                logsc += jl[c, top] + np.log(tot)
                inv = 1.0 / tot
                if top == root:
                    for j in range(n_out):
                        out[r, j] = tmp[j] * inv
                else:
                    to = msg_off[top]
                    for j in range(n_out):
                        buf[to + j] = tmp[j] * inv * inv_const[to + j]
                # the cliques the matrix stepped over are done
                pc_ = parent[c]
                pt = parent[top]
                for w in range(nw):
                    todo[w] &= ~(ancm[pc_, w] & ~(ancm[pt, w] if pt >= 0 else zero))
        if dead:
            logp[r] = -np.inf
            for t in range(tcard):
                out[r, t] = np.nan
            for c in range(nc):
                pn[c] = 0
        else:
            logp[r] = logsc
        for q in range(nob):
            evc[hh[q]] = 0


def tree_rows(tree: JunctionTree, rooted: RootedTree, codes: np.ndarray, col_nodes: Sequence[int],
              *, compiled: bool | None = None, threads: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(posterior, log_p)`` for every row of ``codes`` (state codes, ``-1`` unobserved).

    ``codes[:, j]`` observes node ``col_nodes[j]``. ``posterior`` is ``(n_rows, target card)``,
    normalised (one column of ones when the tree was rooted without a target); ``log_p`` is
    ``log P(row's evidence)``, ``-inf`` (posterior NaN) where that probability is zero.
    ``compiled=False`` runs the kernel as plain Python (the reference; slow); the default uses
    numba when it is importable. ``threads`` caps the worker threads (default: one per CPU,
    at least ``_ROWS_PER_THREAD`` rows each).
    """
    # one compiled specialisation for the common case: int8 codes (at most 127 states a node)
    small = int(tree.node_cards.max()) <= 127 if len(tree.node_cards) else True
    codes = np.ascontiguousarray(codes, dtype=np.int8 if small else np.int64)
    n = codes.shape[0]
    col = np.asarray(col_nodes, dtype=np.int64)
    out = np.empty((n, rooted.tcard))
    logp = np.empty(n)
    if n == 0:
        return out, logp
    args = (codes, col, tree.node_cards, rooted.root, rooted.tpos, rooted.tcard, rooted.order,
            rooted.nbits, rooted.wd, rooted.bt, rooted.ancm, rooted.chm, rooted.parent,
            rooted.ch_ptr, rooted.ch_idx, tree.size, tree.nvars, tree.base_off, rooted.cbase,
            tree.st_off, tree.states, tree.byvar, rooted.up_off, rooted.dn_off, rooted.maps,
            rooted.msg_off, rooted.msg_size, rooted.inv_const, rooted.const_sub_log, rooted.home,
            rooted.homepos, rooted.a_off, rooted.amat, rooted.s_off, rooted.smat, rooted.sl_off,
            rooted.sl, rooted.run_off, rooted.runs, rooted.pw, rooted.pst, rooted.pdn_off,
            rooted.pdn, rooted.k_off, rooted.e_off, rooted.evec, rooted.sg_off, rooted.sg,
            rooted.pr_off, rooted.pr, rooted.jo, rooted.jl, rooted.jm, out, logp)
    use_numba = HAVE_NUMBA if compiled is None else (compiled and HAVE_NUMBA)
    if not use_numba:
        getattr(_rows_block, "py_func", _rows_block)(0, n, *args)
        return out, logp
    n_threads = min(threads if threads is not None else (os.cpu_count() or 1), n // _ROWS_PER_THREAD)
    if n_threads > 1 and threads is None and _BUSY[0] > 0:
        # the other cores were busy with other work in a recent call: stay on this one for a
        # while (a worker waiting for a core made the call slower than one thread)
        _BUSY[0] -= 1
        n_threads = 1
    if n_threads <= 1:
        _rows_block(0, n, *args)
        return out, logp
    # the compiled kernel releases the GIL, so plain threads run row blocks in parallel (and
    # compiling it without numba's parallel=True is several times quicker); this thread takes the
    # first block, a pool kept between calls the others (starting threads costs milliseconds)
    step = -(-n // n_threads)
    pool = _pool(n_threads - 1)
    futures = [pool.submit(_rows_block, lo, min(n, lo + step), *args) for lo in range(step, n, step)]
    t0 = time.perf_counter()
    _rows_block(0, min(n, step), *args)
    own = time.perf_counter() - t0
    for f in futures:
        f.result()
    # the workers took over twice this thread's equal share: they got less than half a core.
    # Three such calls in a row (waking an idle core can take a millisecond now and then) send
    # the next calls to one thread
    if time.perf_counter() - t0 > 2.0 * own + 5e-4:
        _BUSY[1] += 1
        if _BUSY[1] >= 3:
            _BUSY[0], _BUSY[1] = _SERIAL_CALLS, 0
    else:
        _BUSY[1] = 0
    return out, logp


#: calls that stay on one thread after parallel calls found the other cores busy
_SERIAL_CALLS = 8
#: [calls left on one thread, consecutive parallel calls that found the other cores busy]
_BUSY = [0, 0]


_POOL: list = []


def _pool(workers: int):
    """A thread pool with at least ``workers`` threads, shared by all calls."""
    from concurrent.futures import ThreadPoolExecutor

    if not _POOL or _POOL[0][0] < workers:
        if _POOL:
            _POOL.pop()[1].shutdown(wait=False)
        _POOL.append((workers, ThreadPoolExecutor(workers, thread_name_prefix="probwb-bn")))
    return _POOL[0][1]
