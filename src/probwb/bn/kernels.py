"""Compiled, batched variable elimination: plain functions on numpy arrays.

A network is described to these kernels by integer node ids, their cardinalities, their parents and
conditional probability tables (CPTs) laid out as ``(*parent_cards, card)``. Nothing here knows node
or state names: that is the job of :mod:`probwb.bn.network`.

The engine works in two phases.

* :func:`compile_plan` turns one query *pattern* — which nodes are targets, which are observed
  (hard evidence), which carry per-row likelihood vectors (soft evidence), which are intervened on
  (``do``) — into a :class:`Plan`: the barren nodes are pruned, an elimination order is chosen
  (min-fill, ties broken by min-weight) and every elimination step is written down as one
  ``numpy.einsum`` call with fixed subscripts.
* :func:`run_plan` executes a plan on concrete arrays. Two pseudo-variables make it batched:
  ``ROW`` (one entry per evidence row: CPTs indexed by each row's observed states get a row axis)
  and ``SAMPLE`` (one entry per draw of the CPTs from their Dirichlet posteriors). Both ride through
  every einsum like ordinary variables that are never summed out, so thousands of rows (or CPT
  draws) are one vectorised elimination rather than a Python loop.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = [
    "ROW",
    "SAMPLE",
    "Plan",
    "ancestors",
    "compile_plan",
    "elimination_order",
    "requisite_nodes",
    "network_order",
    "query_schedule",
    "run_plan",
    "run_query_schedule",
    "enumerate_joint",
    "max_product",
]

#: pseudo-variable id of the evidence-row batch axis
ROW = -1
#: pseudo-variable id of the CPT-sample batch axis
SAMPLE = -2

_LETTERS = string.ascii_letters


def ancestors(parents: Sequence[Sequence[int]], nodes: set[int] | frozenset[int]) -> set[int]:
    """Return ``nodes`` together with all their ancestors under the parent lists ``parents``."""
    seen = set(nodes)
    stack = list(nodes)
    while stack:
        v = stack.pop()
        for p in parents[v]:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


def requisite_nodes(parents: Sequence[Sequence[int]], children: Sequence[Sequence[int]],
                    targets: Sequence[int], evidence: set[int] | frozenset[int]) -> set[int]:
    """Return the nodes whose CPTs are needed for P(targets | evidence), by Shachter's Bayes-ball.

    Everything else is barren or d-separated from the targets and only rescales P(evidence); the
    parents of a returned node are themselves returned or observed.
    """
    top: set[int] = set()
    bottom: set[int] = set()
    # two work lists: nodes reached from a child, and nodes reached from a parent
    up = list(targets)
    down: list[int] = []
    while up or down:
        if up:
            j = up.pop()
            if j in evidence:
                continue
            if j not in top:
                top.add(j)
                up.extend(parents[j])
            if j not in bottom:
                bottom.add(j)
                down.extend(children[j])
        else:
            j = down.pop()
            if j in evidence:
                if j not in top:
                    top.add(j)
                    up.extend(parents[j])
            elif j not in bottom:
                bottom.add(j)
                down.extend(children[j])
    return top


def elimination_order(
    scopes: Sequence[Sequence[int]],
    eliminate: set[int],
    cards: Sequence[int],
    heuristic: str = "min_fill",
) -> list[int]:
    """Return a greedy elimination order for the variables in ``eliminate``.

    ``scopes`` are the factor scopes (pseudo-variables are ignored); the interaction graph joins any
    two variables sharing a factor. ``heuristic`` is ``"min_fill"`` (fewest new edges, ties broken by
    the size of the table created) or ``"min_weight"`` (smallest table created, ties by fill).
    """
    adj: dict[int, set[int]] = {}
    for sc in scopes:
        real = [v for v in sc if v >= 0]
        for v in real:
            nb = adj.setdefault(v, set())
            nb.update(real)
    for v, nb in adj.items():
        nb.discard(v)
    remaining = set(eliminate)
    min_fill = heuristic == "min_fill"

    def key(v: int) -> tuple[int, int]:
        nb = adj.get(v, ())
        weight = 1
        for u in nb:
            weight *= cards[u]
        fill = 0
        nbl = list(nb)
        for i, a in enumerate(nbl):
            na = adj[a]
            for b in nbl[i + 1:]:
                if b not in na:
                    fill += 1
        return (fill, weight) if min_fill else (weight, fill)

    # scores change only near an eliminated node, so they are cached and refreshed locally
    scores = {v: key(v) for v in remaining}
    order: list[int] = []
    while remaining:
        best = min(remaining, key=scores.__getitem__)
        nb = adj.pop(best, set())
        for a in nb:
            na = adj[a]
            na.discard(best)
            na.update(u for u in nb if u != a)
        remaining.discard(best)
        del scores[best]
        order.append(best)
        touched = set(nb)
        for a in nb:
            touched.update(adj[a])
        for u in touched & remaining:
            scores[u] = key(u)
    return order


class FactorSource(NamedTuple):
    """How one input factor of a plan is built from the network's arrays.

    ``kind`` is ``"cpt"`` (CPT of ``node``, axes permuted by ``perm`` so observed axes come first,
    then indexed by the observed states of ``observed``) or ``"soft"`` (the per-row likelihood
    matrix of ``node``).
    """

    kind: str
    node: int
    perm: tuple[int, ...] = ()
    observed: tuple[int, ...] = ()
    row_observed: bool = False


@dataclass
class Plan:
    """A compiled elimination: input factors, einsum steps and the output layout.

    Attributes
    ----------
    sources : how each input factor slot is built (see :class:`FactorSource`).
    steps : ``(input slots, subscripts)``; each step's output is appended as a new slot.
    output_vars : the output axes, e.g. ``(SAMPLE, ROW, t1, t2)`` (pseudo-variables first).
    relevant : nodes kept after pruning barren ones.
    order : the elimination order used.
    max_table : the largest number of entries of any table created (excluding batch axes).
    dropped : ancestors of the hard evidence (themselves included) whose CPTs Bayes-ball dropped
        as d-separated from the targets: their evidence only rescales the posterior, but it can be
        impossible. When none of their CPTs holds a zero, a row whose output sums to a positive
        number has P(evidence) > 0 (every assignment the kept factors allow keeps a positive
        weight); otherwise callers check P(evidence) with a no-target plan.
    row_broadcast : a batched plan whose kept factors do not depend on the row (Bayes-ball
        dropped every CPT the row's evidence indexes: the targets are d-separated from it). Its
        einsum steps give one table for all rows; :func:`run_plan` repeats it along ``ROW``, so
        every batched plan with hard evidence returns a table with a row axis.
    pairwise : the steps follow a contraction path (see :func:`compile_plan`'s ``path_above``):
        two large tables at a time, which :func:`run_plan` hands to BLAS (einsum's tensordot).
    """

    sources: list[FactorSource]
    steps: list[tuple[tuple[int, ...], str]]
    output_vars: tuple[int, ...]
    relevant: frozenset[int]
    order: list[int]
    max_table: int
    hard_row: tuple[int, ...] = field(default=())
    dropped: frozenset[int] = field(default=frozenset())
    row_broadcast: bool = False
    pairwise: bool = False


def compile_plan(
    parents: Sequence[Sequence[int]],
    cards: Sequence[int],
    targets: Sequence[int],
    hard: Sequence[int] = (),
    soft: Sequence[int] = (),
    do: Sequence[int] = (),
    *,
    batched: bool = False,
    sampled: bool = False,
    heuristic: str = "min_fill",
    rank: Mapping[int, int] | None = None,
    replan_above: int = 4096,
    path_above: int = 1_000_000,
    limit: int = 20_000_000,
    children: Sequence[Sequence[int]] | None = None,
    joint: bool = False,
) -> Plan:
    """Compile a variable-elimination plan for one query pattern.

    Parameters
    ----------
    parents, cards : network structure by integer node id.
    targets : nodes whose (joint) posterior is wanted, in output order; may be empty (P(evidence)).
    hard : nodes observed with a definite state (per row when ``batched``).
    soft : nodes that receive a likelihood vector per row (``batched`` only); used for rows whose
        observed columns differ, an unobserved cell being an all-ones vector.
    do : intervened nodes: their own CPT is dropped (graph surgery) and their state is fixed.
    batched : hard evidence varies by row, giving a ``ROW`` axis.
    sampled : CPT arrays carry a leading ``SAMPLE`` axis.
    heuristic : ``"min_fill"`` or ``"min_weight"``.
    rank : optional network-wide elimination rank (see :func:`network_order`). Restricting a
        whole-network order to the query's variables is nearly free and never creates larger tables
        than that order does on the full network; when it still creates a table above
        ``replan_above`` entries, a query-specific greedy order is computed and the better one kept.
    path_above, limit : when the best elimination order still creates a table above
        ``path_above`` entries, a pairwise contraction path is searched (opt_einsum's greedy path,
        and its randomised greedy path when that stays above ``limit``) and kept when its largest
        intermediate is smaller. Eliminating one variable at a time multiplies every factor that
        holds it; a path may contract two factors first and sum a variable out of a smaller table
        (munin1: 56 million entries by min-fill, under one million by a path).
    children : optional children lists matching ``parents`` (saves rebuilding them per call).
    joint : keep every factor needed for the exact ``P(targets, evidence)``. By default, with
        targets, the factors d-separated from the targets are dropped (Bayes-ball), so the output
        is only *proportional* to ``P(targets, evidence)`` for each row: normalise it.

    Returns
    -------
    Plan
        The compiled plan; its output is the table ``P(targets, evidence)`` (up to a factor per row
        and sample unless ``joint``; exact when there are no targets) with axes ``output_vars``.
    """
    targets = tuple(int(t) for t in targets)
    hard_set = frozenset(int(h) for h in hard)
    soft_set = frozenset(int(s) for s in soft)
    do_set = frozenset(int(d) for d in do)
    observed = hard_set | do_set
    if soft_set and not batched:
        raise ValueError("soft evidence needs batched=True")
    # graph surgery: an intervened node loses its parents
    if do_set:
        mut_parents: Sequence[Sequence[int]] = [() if v in do_set else parents[v]
                                                for v in range(len(parents))]
        children = None
    else:
        mut_parents = parents
    if targets and not soft_set and not joint:
        # only P(targets | evidence) is wanted, so d-separated and barren parts can go
        if children is None:
            children = [[] for _ in parents]
            for v, pas in enumerate(mut_parents):
                for p in pas:
                    children[p].append(v)
        cpt_nodes = requisite_nodes(mut_parents, children, targets, observed)
        relevant = cpt_nodes | {u for v in cpt_nodes for u in mut_parents[v]}
        dropped = frozenset(ancestors(mut_parents, hard_set) - do_set - cpt_nodes)
    else:
        dropped = frozenset()
        relevant = ancestors(mut_parents, set(targets) | hard_set | soft_set | do_set)
        cpt_nodes = relevant - do_set

    sources: list[FactorSource] = []
    scopes: list[tuple[int, ...]] = []
    pseudo_sample = (SAMPLE,) if sampled else ()
    for v in sorted(cpt_nodes):
        fam = (*parents[v], v)
        if observed.isdisjoint(fam):
            sources.append(FactorSource("cpt", v))
            scopes.append(pseudo_sample + fam)
            continue
        obs_axes = tuple(i for i, u in enumerate(fam) if u in observed)
        free_axes = tuple(i for i, u in enumerate(fam) if u not in observed)
        obs_nodes = tuple(fam[i] for i in obs_axes)
        row_obs = batched and any(u in hard_set for u in obs_nodes)
        free = tuple(fam[i] for i in free_axes)
        # the row axis goes last (run_plan moves it there) so einsum's inner loops run over rows
        scope = pseudo_sample + free + (ROW,) if row_obs and not sampled else \
            pseudo_sample + ((ROW,) if row_obs else ()) + free
        sources.append(FactorSource("cpt", v, obs_axes + free_axes, obs_nodes, row_obs))
        scopes.append(scope)
    for v in sorted(soft_set):
        sources.append(FactorSource("soft", v))
        scopes.append((v, ROW))

    eliminate = set(relevant) - set(targets) - observed
    if rank is not None:
        order = sorted(eliminate, key=rank.__getitem__)
        steps, output_vars, max_table = _schedule(scopes, order, cards, targets, pseudo_sample)
        if max_table > replan_above:
            # the network-wide order may be poor once evidence has cut the graph: try a fresh one
            order2 = elimination_order(scopes, eliminate, cards, heuristic)
            sched2 = _schedule(scopes, order2, cards, targets, pseudo_sample)
            if sched2[2] < max_table:
                order = order2
                steps, output_vars, max_table = sched2
    else:
        order = elimination_order(scopes, eliminate, cards, heuristic)
        steps, output_vars, max_table = _schedule(scopes, order, cards, targets, pseudo_sample)
    pairwise = False
    if max_table > path_above:
        sched = _path_schedule(scopes, cards, output_vars, max_table, limit)
        if sched is not None:
            steps, max_table = sched
            order = []
            pairwise = True
    hard_row = tuple(sorted(hard_set)) if batched else ()
    # the caller of a batched plan reads one table per row, whatever Bayes-ball kept
    row_broadcast = bool(hard_row) and ROW not in output_vars
    if row_broadcast:
        output_vars = pseudo_sample + (ROW,) + targets
    return Plan(sources, steps, output_vars, frozenset(relevant), order, max_table, hard_row,
                dropped, row_broadcast, pairwise)


def _schedule(scopes: list[tuple[int, ...]], order: Sequence[int], cards: Sequence[int],
              targets: tuple[int, ...], pseudo_sample: tuple[int, ...]
              ) -> tuple[list[tuple[tuple[int, ...], str]], tuple[int, ...], int]:
    """Write the einsum steps for eliminating ``order``; return (steps, output vars, largest table)."""
    live: dict[int, tuple[int, ...]] = dict(enumerate(scopes))
    holders: dict[int, set[int]] = {}
    for s, sc in live.items():
        for u in sc:
            if u in holders:
                holders[u].add(s)
            else:
                holders[u] = {s}
    # one letter per variable for the whole plan when they fit, else letters per step
    letters = {u: _LETTERS[i] for i, u in enumerate(holders)} if len(holders) <= len(_LETTERS) else None
    steps: list[tuple[tuple[int, ...], str]] = []
    next_slot = len(scopes)
    max_table = 1
    for v in order:
        ins = tuple(sorted(holders.pop(v, ())))
        seen = set()
        for s in ins:
            seen.update(live[s])
        seen.discard(v)
        size = cards[v]
        rest = []
        for u in seen:
            if u >= 0:
                size *= cards[u]
                rest.append(u)
        if size > max_table:
            max_table = size
        out = tuple(rest) + tuple(u for u in (SAMPLE, ROW) if u in seen)
        in_scopes = [live[s] for s in ins]
        steps.append((ins, _subscripts(in_scopes, out, letters)))
        for s in ins:
            for u in live.pop(s):
                if u != v:
                    holders[u].discard(s)
        for u in out:
            holders[u].add(next_slot)
        live[next_slot] = out
        next_slot += 1
    has_row = any(ROW in sc for sc in live.values())
    output_vars = pseudo_sample + ((ROW,) if has_row else ()) + targets
    ins = tuple(live)
    steps.append((ins, _subscripts([live[s] for s in ins], output_vars, letters)))
    return steps, output_vars, max_table


def _path_schedule(scopes: list[tuple[int, ...]], cards: Sequence[int], output_vars: tuple[int, ...],
                   best: int, limit: int) -> tuple[list[tuple[tuple[int, ...], str]], int] | None:
    """Steps of a pairwise contraction path (opt_einsum's greedy, then its randomised greedy while
    the largest intermediate stays above ``limit``) with its largest intermediate, when that is
    at most ``best``; None otherwise or without opt_einsum. Batch axes count as size 1, as in
    :attr:`Plan.max_table`."""
    try:
        import opt_einsum
    except ImportError:  # pragma: no cover - pgmpy, a dependency, brings it
        return None
    sym = {}
    for sc in [*scopes, output_vars]:
        for u in sc:
            if u not in sym:
                sym[u] = opt_einsum.get_symbol(len(sym))
    expr = ",".join("".join(sym[u] for u in sc) for sc in scopes) + "->" + "".join(sym[u] for u in output_vars)
    shapes = [tuple(cards[u] if u >= 0 else 1 for u in sc) for sc in scopes]
    found = None
    out_size = 1
    for u in output_vars:
        out_size *= cards[u] if u >= 0 else 1
    # an elimination order creates the output table too (max_table leaves it out)
    best = max(best, out_size)
    # randomised greedy is seeded by its repeat number: the same path on every run
    for optimize in ("greedy", opt_einsum.RandomGreedy(max_repeats=32, minimize="size")):
        path, info = opt_einsum.contract_path(expr, *shapes, shapes=True, optimize=optimize)
        size = int(info.largest_intermediate)
        if size <= best:  # a tie goes to the path: its pairs run on BLAS
            best, found = size, path
        if best <= limit:
            break
    if found is None:
        return None
    live = list(range(len(scopes)))
    scope_of = {i: sc for i, sc in enumerate(scopes)}
    steps: list[tuple[tuple[int, ...], str]] = []
    for k, pos in enumerate(found):
        ins = tuple(live[i] for i in pos)
        for i in sorted(pos, reverse=True):
            live.pop(i)
        if k == len(found) - 1:
            out = output_vars
        else:
            keep = set(output_vars).union(*(scope_of[s] for s in live))
            seen = dict.fromkeys(u for s in ins for u in scope_of[s] if u in keep)
            # batch axes last, as in _schedule
            out = tuple(u for u in seen if u >= 0) + tuple(u for u in (SAMPLE, ROW) if u in seen)
        slot = len(scopes) + len(steps)
        steps.append((ins, _subscripts([scope_of[s] for s in ins], out)))
        scope_of[slot] = out
        live.append(slot)
    return steps, best


def network_order(parents: Sequence[Sequence[int]], cards: Sequence[int],
                  heuristic: str = "min_fill") -> dict[int, int]:
    """Return ``{node: rank}`` of a greedy elimination order on the whole network's moral graph."""
    scopes = [tuple(parents[v]) + (v,) for v in range(len(parents))]
    order = elimination_order(scopes, set(range(len(parents))), cards, heuristic)
    return {v: i for i, v in enumerate(order)}


def _subscripts(in_scopes: Sequence[Sequence[int]], out_scope: Sequence[int],
                letters: dict[int, str] | None = None) -> str:
    if letters is not None:
        return ",".join([_word(sc, letters) for sc in in_scopes]) + "->" + _word(out_scope, letters)
    if letters is None:
        letters = {}
        for sc in list(in_scopes) + [out_scope]:
            for u in sc:
                if u not in letters:
                    letters[u] = _LETTERS[len(letters)]
    return (",".join(["".join([letters[u] for u in sc]) for sc in in_scopes]) + "->"
            + "".join([letters[u] for u in out_scope]))


def _word(scope: Sequence[int], letters: dict[int, str]) -> str:
    return "".join([letters[u] for u in scope])


def run_plan(
    plan: Plan,
    cpts: Sequence[np.ndarray],
    hard_states: dict[int, int | np.ndarray] | None = None,
    soft_likelihoods: dict[int, np.ndarray] | None = None,
    do_states: dict[int, int] | None = None,
) -> np.ndarray:
    """Execute ``plan`` and return the unnormalised table over ``plan.output_vars``.

    ``cpts[v]`` has shape ``(*parent_cards, card)`` (with a leading sample axis when the plan was
    compiled with ``sampled=True``). ``hard_states`` gives each hard-evidence node's state index —
    an ``int``, or an integer array of shape ``(n_rows,)`` for a batched plan; ``soft_likelihoods``
    gives ``(n_rows, card)`` arrays; ``do_states`` the intervened states.
    """
    hard_states = hard_states or {}
    soft_likelihoods = soft_likelihoods or {}
    do_states = do_states or {}
    sampled = bool(plan.output_vars) and plan.output_vars[0] == SAMPLE
    factors: list[np.ndarray] = []
    for src in plan.sources:
        if src.kind == "soft":
            factors.append(np.ascontiguousarray(soft_likelihoods[src.node].T))
            continue
        arr = cpts[src.node]
        if src.observed:
            if sampled:
                arr = np.transpose(arr, (0,) + tuple(p + 1 for p in src.perm))
            else:
                arr = np.transpose(arr, src.perm)
            idx = tuple(
                hard_states[u] if u in hard_states else do_states[u] for u in src.observed
            )
            if src.row_observed:
                # constant (do) indices must broadcast against the per-row arrays
                n = next(len(i) for i in idx if isinstance(i, np.ndarray))
                idx = tuple(i if isinstance(i, np.ndarray) else np.full(n, i, dtype=np.intp)
                            for i in idx)
            if sampled:
                arr = arr[(slice(None),) + idx]
            else:
                arr = arr[idx]
                if src.row_observed and arr.ndim > 1:
                    arr = np.ascontiguousarray(np.moveaxis(arr, 0, -1))
        factors.append(arr)
    for ins, subs in plan.steps:
        ops = [factors[s] for s in ins]
        if plan.pairwise and len(ops) == 2:
            # a contraction of two (large) tables: einsum's optimised path uses BLAS
            factors.append(np.einsum(subs, *ops, optimize=True))
            continue
        factors.append(_einsum(subs, ops) if ops else np.ones(()))
    out = factors[-1]
    if plan.row_broadcast:
        n = next((len(hard_states[u]) for u in plan.hard_row
                  if isinstance(hard_states.get(u), np.ndarray)), 1)
        lead = 1 if sampled else 0
        out = np.repeat(np.expand_dims(out, lead), n, axis=lead)
    return out


# numpy's einsum takes at most 32 operands
_MAX_OPERANDS = 30
# loop-space entries that cost about as much as one more einsum call (its ~1-2 us of overhead)
_EINSUM_CALL = 256
try:  # einsum without its Python dispatch layer (~1 us a call): single queries make ~10 calls
    from numpy._core.multiarray import c_einsum as _c_einsum
except ImportError:  # pragma: no cover - numpy moved it
    _c_einsum = np.einsum


def _einsum(subs: str, ops: list[np.ndarray]) -> np.ndarray:
    """``np.einsum(subs, *ops)``, contracting in groups when there are too many operands (a
    final step over many fully observed, scalar factors)."""
    if len(ops) <= _MAX_OPERANDS:
        return np.einsum(subs, *ops)
    ins, out = subs.split("->")
    words = ins.split(",")
    ops = list(ops)
    while len(ops) > _MAX_OPERANDS:
        head, rest = words[:_MAX_OPERANDS], words[_MAX_OPERANDS:]
        keep = set(out).union(*rest)
        mid = "".join(dict.fromkeys(c for w in head for c in w if c in keep))
        part = np.einsum(",".join(head) + "->" + mid, *ops[:_MAX_OPERANDS])
        words = [mid] + rest
        ops = [part] + ops[_MAX_OPERANDS:]
    return np.einsum(",".join(words) + "->" + out, *ops)


class QuerySchedule(NamedTuple):
    """A single query's elimination written down once per pattern (see :func:`query_schedule`).

    ``sources``: per input factor, the node and an index template over its family (``None`` for a
    free axis, else the observed node whose state indexes that axis; an empty template: the whole
    CPT). ``steps``: ``(input slots, their einsum sublists, output sublist)``, each output appended
    as a new slot; the last step's output has the targets' axes in order. ``dropped``: ancestors of
    the evidence whose CPTs were pruned as d-separated from the targets (a zero in one of them can
    make the evidence impossible unseen). ``max_table``: the largest table created.
    """

    sources: tuple[tuple[int, tuple[int | None, ...]], ...]
    steps: tuple[tuple[tuple[int, ...], tuple[tuple[int, ...], ...], tuple[int, ...]], ...]
    dropped: tuple[int, ...]
    max_table: int


def query_schedule(
    parents: Sequence[Sequence[int]],
    children: Sequence[Sequence[int]],
    cards: Sequence[int],
    rank: Mapping[int, int],
    targets: tuple[int, ...],
    evidence: frozenset[int],
    *,
    joint: bool = False,
) -> QuerySchedule | None:
    """Return the elimination schedule of one unbatched query ``P(targets | evidence)``.

    Nodes d-separated from the targets are pruned (Bayes-ball) unless ``joint``, which keeps every
    ancestor of the targets and evidence so the output sums to ``P(evidence)``. Variables are
    eliminated in the network-wide ``rank`` order. Returns None when a step has more operands or
    variables than one einsum takes: the general :func:`compile_plan` path answers those. Unlike a
    :class:`Plan` the steps use einsum's integer sublists, so nothing is parsed per query and a new
    pattern costs a few tens of microseconds to schedule.
    """
    if joint:
        cpt_nodes = ancestors(parents, set(targets) | evidence)
        relevant = set(cpt_nodes)
        dropped: frozenset[int] = frozenset()
    else:
        cpt_nodes = requisite_nodes(parents, children, targets, evidence)
        relevant = set(cpt_nodes)
        for v in cpt_nodes:
            relevant.update(parents[v])
        dropped = frozenset(ancestors(parents, evidence) - cpt_nodes)
    free_vars = relevant - evidence
    # variables numbered in elimination rank (renumbered per step below when there are more than
    # einsum's 52 sublist labels)
    local = {u: i for i, u in enumerate(sorted(free_vars, key=rank.__getitem__))}
    sources = []
    scope_of: list[list[int]] = []
    holders: list[set[int]] = [set() for _ in local]
    for v in sorted(cpt_nodes):
        fam = (*parents[v], v)
        if evidence.isdisjoint(fam):
            sources.append((v, ()))
            sc = [local[u] for u in fam]
        else:
            sources.append((v, tuple(u if u in evidence else None for u in fam)))
            sc = [local[u] for u in fam if u not in evidence]  # the CPT's own axis order
        for i in sc:
            holders[i].add(len(scope_of))
        scope_of.append(sc)
    steps: list[tuple[tuple[int, ...], tuple[list[int], ...], list[int]]] = []
    # per step: its einsum loop space, and the product of the cards it sums out
    spaces: list[int] = []
    summed: list[int] = []
    max_table = 1
    card = [cards[u] for u in sorted(local, key=local.__getitem__)]
    target_ids = [local[u] for u in targets]

    def add_step(ins: tuple[int, ...], out_scope: list[int], space: int, gone: int) -> None:
        subs = [scope_of[s] for s in ins]
        prev = len(scope_of) - 1
        # fold the previous step in when one einsum over both is cheaper than two calls (an einsum
        # call costs about as much as a few hundred entries of its loop space)
        if steps and prev in ins and space * summed[-1] <= spaces[-1] + space + _EINSUM_CALL:
            p_ins, p_subs, _ = steps.pop()
            k = ins.index(prev)
            ins = p_ins + ins[:k] + ins[k + 1:]
            subs = [*p_subs, *subs[:k], *subs[k + 1:]]
            folded = summed.pop()
            space *= folded
            gone *= folded
            spaces.pop()
            scope_of.pop()
        steps.append((ins, tuple(subs), out_scope))
        spaces.append(space)
        summed.append(gone)
        scope_of.append(out_scope)

    for i in range(len(local)):
        if i in target_ids:
            continue
        ins = tuple(holders[i])
        if not ins:
            continue
        out: set[int] = set()
        for s in ins:
            out.update(scope_of[s])
        out.discard(i)
        for s in ins:
            for j in scope_of[s]:
                holders[j].discard(s)
        size = card[i]
        for j in out:
            size *= card[j]
        if size > max_table:
            max_table = size
        out_scope = list(out)
        add_step(ins, out_scope, size, card[i])
        # a folded step reuses the slot of the step it absorbed
        slot = len(scope_of) - 1
        for j in out_scope:
            holders[j].add(slot)
    done = {s for st in steps for s in st[0]}
    final = tuple(s for s in range(len(scope_of)) if s not in done)
    space = 1
    for j in target_ids:
        space *= card[j]
    add_step(final, target_ids, space, 1)
    if any(len(s[0]) > _MAX_OPERANDS for s in steps):
        return None
    if len(local) > len(_LETTERS):
        steps = [_relabel(st) for st in steps]
        if any(max((j for sc in (*st[1], st[2]) for j in sc), default=0) >= len(_LETTERS) for st in steps):
            return None
    # tuples of ints only: the garbage collector untracks them, so a cache of many schedules adds
    # nothing to its full collections (lists there cost single queries ~100 us each on ALARM)
    return QuerySchedule(tuple(sources), tuple((ins, tuple(map(tuple, subs)), tuple(out))
                                               for ins, subs, out in steps),
                         tuple(sorted(dropped)), max_table)


def _relabel(step: tuple[tuple[int, ...], tuple[list[int], ...], list[int]]
             ) -> tuple[tuple[int, ...], tuple[list[int], ...], list[int]]:
    """One step's sublists with its own labels 0, 1, ... (einsum takes at most 52)."""
    ins, subs, out = step
    own: dict[int, int] = {}
    for sc in (*subs, out):
        for j in sc:
            own.setdefault(j, len(own))
    return ins, tuple([own[j] for j in sc] for sc in subs), [own[j] for j in out]


def run_query_schedule(sched: QuerySchedule, cpts: Sequence[np.ndarray], evidence: Mapping[int, int]
                       ) -> np.ndarray:
    """Execute ``sched`` and return the unnormalised table over its targets (axes in order)."""
    factors = []
    for v, tmpl in sched.sources:
        arr = cpts[v]
        if tmpl:
            arr = arr[tuple(slice(None) if u is None else evidence[u] for u in tmpl)]
        factors.append(arr)
    for ins, subs, out in sched.steps:
        args: list = []
        for s, sub in zip(ins, subs, strict=True):
            args.append(factors[s])
            args.append(sub)
        args.append(out)
        factors.append(_c_einsum(*args) if ins else np.ones(()))
    return factors[-1]


def enumerate_joint(parents: Sequence[Sequence[int]], cpts: Sequence[np.ndarray]) -> np.ndarray:
    """Return the full joint table, axes in node-id order, by brute-force multiplication.

    For testing only: the table has ``prod(cards)`` entries.
    """
    n = len(cpts)
    letters = _LETTERS[:n]
    subs = ",".join("".join(letters[u] for u in tuple(parents[v]) + (v,)) for v in range(n))
    return np.einsum(subs + "->" + letters, *cpts)


def max_product(
    parents: Sequence[Sequence[int]],
    cards: Sequence[int],
    cpts: Sequence[np.ndarray],
    evidence: Mapping[int, int] | None = None,
    do: Mapping[int, int] | None = None,
    *,
    heuristic: str = "min_fill",
    max_table: int = 20_000_000,
) -> tuple[np.ndarray, float]:
    """Return the most probable explanation: ``(states, log P(states, evidence))``.

    ``states[v]`` is the state of every node in the jointly most probable assignment of all nodes
    given ``evidence`` (observed and intervened nodes keep their given states), found by max-sum
    variable elimination in log space (so long products never underflow) with a traceback.
    ``do`` nodes lose their CPT (graph surgery). The log value is ``-inf`` when the evidence is
    impossible. Raises ValueError when a table above ``max_table`` entries would be built.
    """
    evidence = dict(evidence or {})
    do = dict(do or {})
    fixed = {**evidence, **do}
    n = len(parents)
    factors: list[tuple[tuple[int, ...], np.ndarray]] = []
    const = 0.0
    with np.errstate(divide="ignore"):
        for v in range(n):
            if v in do:
                continue
            fam = (*parents[v], v)
            arr = np.log(np.asarray(cpts[v], dtype=float))
            idx = tuple(fixed[u] if u in fixed else slice(None) for u in fam)
            arr = arr[idx]
            scope = tuple(u for u in fam if u not in fixed)
            if scope:
                factors.append((scope, arr))
            else:
                const += float(arr)
    free = set(range(n)) - set(fixed)
    order = elimination_order([sc for sc, _ in factors], free, cards, heuristic)
    # nodes in no factor (all their family fixed and no children left free) still need a state
    order += sorted(free - set(order))
    trace: list[tuple[int, tuple[int, ...], np.ndarray]] = []
    for v in order:
        mine = [f for f in factors if v in f[0]]
        factors = [f for f in factors if v not in f[0]]
        rest = sorted({u for sc, _ in mine for u in sc} - {v})
        scope = (*rest, v)
        size = int(np.prod([cards[u] for u in scope], dtype=np.int64))
        if size > max_table:
            raise ValueError(f"max-product elimination would build a table of {size:,} entries "
                             f"(limit {max_table:,})")
        table = np.zeros(tuple(cards[u] for u in scope))
        for sc, arr in mine:
            perm = sorted(range(len(sc)), key=lambda i: scope.index(sc[i]))
            shape = [1] * len(scope)
            for u in sc:
                shape[scope.index(u)] = cards[u]
            table = table + np.transpose(arr, perm).reshape(shape)
        trace.append((v, tuple(rest), np.argmax(table, axis=-1)))
        best = table.max(axis=-1)
        if rest:
            factors.append((tuple(rest), best))
        else:
            const += float(best)
    for _, arr in factors:
        const += float(arr)
    states = np.full(n, -1, dtype=np.int64)
    for u, s in fixed.items():
        states[u] = s
    for v, rest, arg in reversed(trace):
        states[v] = int(arg[tuple(states[u] for u in rest)])
    return states, const
