"""Structure learning through pgmpy, with expert constraints, and structure comparison."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import pandas as pd

from probwb.core.logcontext import get_logger
from probwb.core.progress import Progress, progress_mode
from probwb.core.validation import check_dataframe, closest_match
from probwb.errors import DataError, SpecError

__all__ = ["learn_structure", "structural_hamming_distance", "tier_forbidden_edges"]

logger = get_logger("probwb.bn")

_SCORES = {"bic": "bic-d", "bdeu": "bdeu", "k2": "k2", "aic": "aic-d", "bds": "bds"}


def tier_forbidden_edges(tiers: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """Return the edges that tiers forbid: from any node to a node in an earlier tier.

    ``tiers[0]`` holds the most upstream nodes (e.g. ``[["age_band", "sex"], ["diabetes"], ...]``):
    a later tier can never cause an earlier one.
    """
    out = []
    for i, later in enumerate(tiers):
        for earlier in tiers[:i]:
            out.extend((str(a), str(b)) for a in later for b in earlier)
    return out


def _check_nodes(edges: Iterable[tuple[str, str]], columns: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for e in edges:
        if len(e) != 2:
            raise SpecError(f"{what} edges must be (parent, child) pairs, found {e!r}")
        for n in e:
            if n not in columns:
                hit = closest_match(str(n), columns)
                hint = f" (did you mean {hit!r}?)" if hit else ""
                raise DataError(f"{what} edge {tuple(e)!r} names {n!r}, which is not a data column{hint}")
        out.append((str(e[0]), str(e[1])))
    return out


def learn_structure(
    data: pd.DataFrame,
    *,
    method: str = "hill_climb",
    score: str = "bic",
    required: Sequence[tuple[str, str]] = (),
    forbidden: Sequence[tuple[str, str]] = (),
    tiers: Sequence[Sequence[str]] | None = None,
    max_indegree: int | None = None,
    significance_level: float = 0.01,
    verbose: bool = False,
) -> list[tuple[str, str]]:
    """Return the directed edges of a structure learned from complete discrete ``data``.

    ``method="hill_climb"`` maximises ``score`` (``"bic"``, ``"bdeu"``, ``"k2"``, ``"aic"``) with
    pgmpy's HillClimbSearch; ``method="pc"`` runs pgmpy's PC algorithm (chi-square tests at
    ``significance_level``) and orients the remaining undirected edges consistently with the tiers
    and required edges where possible (pgmpy's PC uses the knowledge to orient edges; a
    forbidden orientation left over is reversed, and a required edge is added). ``required``/``forbidden`` edges and ``tiers`` (earlier tiers
    are never caused by later ones) constrain the search.
    """
    from pgmpy.causal_discovery import ExpertKnowledge

    data = check_dataframe(data)
    if data.isna().any().any():
        bad = [str(c) for c in data.columns[data.isna().any()]]
        raise DataError(f"structure learning needs complete data; columns with NaN: {bad}")
    columns = [str(c) for c in data.columns]
    df = pd.DataFrame({str(c): data[c].astype(str).astype(object) for c in data.columns})
    req = _check_nodes(required, columns, "required")
    forb = _check_nodes(forbidden, columns, "forbidden")
    if tiers:
        for tier in tiers:
            _check_nodes([(n, n) for n in tier], columns, "tier")
        forb += tier_forbidden_edges(tiers)
    clash = set(req) & set(forb)
    if clash:
        raise SpecError(f"edges both required and forbidden (tiers count as forbidding): {sorted(clash)}")
    knowledge = ExpertKnowledge(forbidden_edges=forb or None, required_edges=req or None)
    # pgmpy draws its own tqdm bar, which suits a terminal or a notebook with ipywidgets; elsewhere (logs,
    # a notebook without widgets) probwb's progress reports the search instead; neither under quiet
    pgmpy_bar = progress_mode(disable=not verbose) in ("bar", "widget")
    with warnings.catch_warnings(), Progress(desc=f"structure search ({method})",
                                             disable=not verbose or pgmpy_bar) as bar:
        warnings.simplefilter("ignore", FutureWarning)
        if method == "hill_climb":
            from pgmpy.estimators import HillClimbSearch

            key = score.lower()
            if key not in _SCORES:
                raise SpecError(f"score must be one of {sorted(_SCORES)}, found {score!r}")
            dag = _ordered_hill_climb(HillClimbSearch)(df).estimate(
                scoring_method=_SCORES[key], max_indegree=max_indegree, expert_knowledge=knowledge,
                show_progress=pgmpy_bar)
            edges = sorted((str(a), str(b)) for a, b in dag.edges())
        elif method == "pc":
            from pgmpy.estimators import PC

            pdag = PC(df).estimate(variant="stable", ci_test="chi_square",
                                   significance_level=significance_level, expert_knowledge=knowledge,
                                   enforce_expert_knowledge=False, return_type="pdag", n_jobs=1,
                                   show_progress=pgmpy_bar)
            edges = sorted(_orient(pdag, columns, req, forb))
        else:
            raise SpecError(f"method must be 'hill_climb' or 'pc', found {method!r}")
        bar.update(1, f"{len(edges)} edges")
    logger.info("structure learning (%s) found %d edges", method, len(edges))
    return edges


def _ordered_hill_climb(base: type) -> type:
    """pgmpy's HillClimbSearch with its candidate moves in a fixed order.

    pgmpy builds the candidate edge additions as a ``set`` of node pairs and keeps the first of equally
    scored moves (BIC and BDeu score X -> Y and Y -> X the same on a skeleton with no v-structure), so the
    learned graph depended on string hashing, i.e. on ``PYTHONHASHSEED``. Sorting the moves makes ties
    go to the same move in every process.
    """

    class OrderedHillClimbSearch(base):  # type: ignore[misc, valid-type]
        def _legal_operations(self, *args: object, **kwargs: object):  # type: ignore[override]
            ops = list(super()._legal_operations(*args, **kwargs))
            ops.sort(key=lambda item: (item[0][0], str(item[0][1][0]), str(item[0][1][1])))
            return iter(ops)

    return OrderedHillClimbSearch


def _orient(pdag: object, columns: list[str], required: list[tuple[str, str]],
            forbidden: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Turn a PDAG into a DAG: keep directed edges, orient undirected ones without creating a cycle,
    preferring a direction that is not forbidden."""
    import networkx as nx

    forb = set(forbidden)
    directed = {(str(a), str(b)) for a, b in getattr(pdag, "directed_edges", set())}
    undirected = {tuple(sorted((str(a), str(b)))) for a, b in getattr(pdag, "undirected_edges", set())}
    # pgmpy uses the knowledge to orient, not to delete; a forbidden orientation is re-decided below
    undirected |= {tuple(sorted(e)) for e in directed & forb}
    directed -= forb
    g = nx.DiGraph()
    g.add_nodes_from(columns)
    g.add_edges_from(directed | set(required))
    for a, b in sorted(undirected):
        if g.has_edge(a, b) or g.has_edge(b, a):
            continue
        for u, v in ((a, b), (b, a)) if (a, b) not in forb else ((b, a), (a, b)):
            if (u, v) in forb:
                continue
            g.add_edge(u, v)
            if nx.is_directed_acyclic_graph(g):
                break
            g.remove_edge(u, v)
    return [(str(a), str(b)) for a, b in g.edges()]


def structural_hamming_distance(learned: object, reference: object, *, skeleton: bool = False) -> int:
    """Return the structural Hamming distance between two structures.

    Each argument is a BayesNet, a pgmpy model/DAG, or an iterable of ``(parent, child)`` edges. The
    distance counts missing edges, extra edges and (unless ``skeleton``) reversed edges, each once.
    """
    a = _edge_set(learned)
    b = _edge_set(reference)
    ua = {frozenset(e) for e in a}
    ub = {frozenset(e) for e in b}
    dist = len(ua ^ ub)
    if not skeleton:
        dist += sum(1 for e in a if frozenset(e) in ub and e not in b)
    return dist


def _edge_set(obj: object) -> set[tuple[str, str]]:
    edges = getattr(obj, "edges", obj)
    if callable(edges):
        edges = edges()
    return {(str(u), str(v)) for u, v in edges}
