"""The :class:`BayesNet` estimator: named nodes and states over the batched kernels."""

from __future__ import annotations

import gzip
import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probwb.bn import kernels, learning
from probwb.bn.learning import _unique_masks, _unique_rows
from probwb.core.io import load_model, save_model
from probwb.core.random import check_random_state
from probwb.core.validation import check_dataframe, check_known_keys, closest_match, plain_number, short_repr
from probwb.errors import (
    DataError,
    ImpossibleEvidenceError,
    ModelError,
    NotFittedError,
    ProbabilityError,
    SmallSampleWarning,
    SpecError,
    StateError,
)

__all__ = ["BayesNet"]

logger = logging.getLogger("probwb.bn")

_PLAN_CACHE_SIZE = 1024
# entries (rows x samples x table cells) one batched elimination may create at once
_BATCH_BUDGET = 10_000_000
# the largest table exact inference may create for a single row (8 bytes per entry)
_MAX_TABLE = 20_000_000
#: which engine answers batched posteriors: "auto" (junction tree when numba is importable and the
#: batch is worth it), "junction" (whenever numba is importable) or "einsum" (never the tree)
_ENGINE = "auto"
# log of the probability below which a product of probabilities is redone with log scaling
_LOG_TINY = float(np.log(1e-300))
# below this many distinct rows a first (compiling) use of the junction-tree kernel does not pay
_JT_MIN_ROWS = 2000
#: soft-evidence plans with larger tables are weighed against a plan per pattern
_SOFT_TABLE = 65_536
#: table entries that cost about as much time as compiling one elimination plan (~1 ms)
_PLAN_ENTRIES = 20_000
#: joint target states up to which a query is answered by junction-tree rows (one per state)
_TREE_QUERY_ROWS = 64
#: queries of a network after which a query roots the junction tree itself (loading the kernel and
#: rooting costs 0.1-2 s, a stall no single query should pay); None: single queries use a tree only
#: when it is already rooted (by log_likelihood or an earlier query)
_TREE_QUERY_AFTER: int | None = None
#: single-query schedules creating larger tables than this under the network-wide order go to the
#: general plan, which also tries an order searched for the query
_SCHEDULE_TABLE = 4096
# below this sum a single query's product may have underflowed: the general path rescales
_FAST_TINY = 1e-280
# from this many string cells on, one compiled pass codes them (per-column hashing costs ~0.2 ms a
# column of 10,000 cells, mostly per-column overhead when cells are missing)
_WIDE_CELLS = 100_000


def _hint(name: object, valid: Iterable[str]) -> str:
    hit = closest_match(str(name), list(valid))
    return f" (did you mean {hit!r}?)" if hit else ""


#: elimination-order heuristics of :func:`probwb.bn.kernels.network_order`
ELIMINATION_HEURISTICS = ("min_fill", "min_weight")


def _cpt_array(raw: Any, node: str) -> np.ndarray:
    """A CPT as a float array; strings, booleans, ragged lists and other non-numbers raise ProbabilityError
    (numpy would silently turn the string "0.5" into 0.5)."""
    try:
        arr = np.asarray(raw)
    except ValueError:
        raise ProbabilityError(f"CPT of node {node!r} must be a rectangular array of numbers, found ragged "
                               f"rows {short_repr(raw)}") from None
    if arr.dtype.kind not in "iuf":
        found = next((x for x in arr.reshape(-1) if not isinstance(x, (int, float, np.integer, np.floating))
                      or isinstance(x, (bool, np.bool_))), arr.reshape(-1)[0] if arr.size else raw)
        raise ProbabilityError(f"CPT of node {node!r} must hold numbers, found "
                               f"{type(plain_number(found)).__name__} {short_repr(found)}")
    return arr.astype(float)


def _state_text(x: Any) -> str:
    """The state name a data value stands for: integral numbers lose their '.0'."""
    if isinstance(x, str):
        return x
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | float | np.integer | np.floating):
        fx = float(x)
        return str(int(fx)) if fx.is_integer() else str(x)
    return str(x)


def _as_state_strings(col: pd.Series) -> pd.Series:
    """Return a column as strings (NaN kept) so data values match named states."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.map(lambda v: str(bool(v)), na_action="ignore")
    if pd.api.types.is_numeric_dtype(col.dtype):
        def fmt(v: Any) -> str:
            fv = float(v)
            return str(int(fv)) if fv.is_integer() else str(v)
        return col.map(fmt, na_action="ignore")
    return col.map(str, na_action="ignore")


def _arrow_strings(col: pd.Series) -> bool:
    """Whether ``col`` holds strings stored by pyarrow (pandas 3's default ``str`` dtype)."""
    dt = col.dtype
    return isinstance(dt, pd.StringDtype) and dt.storage == "pyarrow"


def _column_values(data: pd.DataFrame, column: Any) -> Any:
    """The values array of one column without building a Series (which costs ~10 us under
    copy-on-write: a wide frame's 36 columns cost more than coding them); ``data[column].array``
    where the frame's internals differ or the label is not unique."""
    loc = data.columns.get_loc(column)
    mgr = getattr(data, "_mgr", None)
    if isinstance(loc, int) and hasattr(mgr, "iget_values"):
        return mgr.iget_values(loc)
    return data[column].array


def _arrow_strings_array(values: Any) -> bool:
    """Whether a column's values array holds strings stored by pyarrow (pandas 3's ``str`` dtype)."""
    dt = getattr(values, "dtype", None)
    return isinstance(dt, pd.StringDtype) and dt.storage == "pyarrow"


def _arrow_codes(col: pd.Series, states: Sequence[str]) -> np.ndarray | None:
    """State codes of a pyarrow-backed string column (-1 missing) by pyarrow's hash lookup, several
    times faster than factorising; None when a value is not a state (the caller then reports it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(col.array)
    idx = pc.index_in(arr, value_set=pa.array(list(states), type=arr.type))
    if idx.null_count != arr.null_count:
        return None
    return np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _count_patterns(mask: np.ndarray) -> int:
    """The number of distinct rows of the boolean matrix ``mask``."""
    n, k = mask.shape
    if k <= 64:
        # each row's pattern as the bits of one 8-byte key (packbits: no integer matrix product)
        keys = np.zeros((n, 8), dtype=np.uint8)
        keys[:, :(k + 7) // 8] = np.packbits(mask, axis=1)
        return len(pd.unique(keys.view(np.uint64).ravel()))
    return len(_unique_masks(mask)[0])


def _many_patterns(mask: np.ndarray) -> bool:
    """Whether the observed-column patterns of ``mask`` are many and small (more than 8, fewer than
    64 rows each on average): then one pass over all rows beats a plan per pattern."""
    n = mask.shape[0]
    need = max(8, n / 64)  # more distinct patterns than this
    # the first rows often settle it: they cannot have more patterns than all rows have
    head = min(n, 1024)
    if head < n and _count_patterns(mask[:head]) > need:
        return True
    return _count_patterns(mask) > need


def _topological(names: Sequence[str], parents: Mapping[str, Sequence[str]]) -> list[str]:
    order: list[str] = []
    state = dict.fromkeys(names, 0)  # 0 new, 1 on stack, 2 done
    for root in names:
        if state[root]:
            continue
        stack = [(root, iter(parents[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[node] = 2
                order.append(node)
            elif state[nxt] == 1:
                cyc = [n for n, _ in stack]
                cyc = cyc[cyc.index(nxt):] + [nxt]
                raise ModelError(f"the network has a cycle: {' <- '.join(cyc)}; a Bayesian network "
                                 "must be acyclic")
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(parents[nxt])))
    return order


class BayesNet:
    """A discrete Bayesian network with named nodes and states, exact batched inference and learning.

    Parameters
    ----------
    structure : dict mapping each node to its list of parents, or a list of ``(parent, child)`` edges.
        Needed before :meth:`fit`; constructors such as :meth:`from_spec` fill it in.
    states : dict mapping nodes to their state names. Nodes without an entry get their states from
        the data at :meth:`fit` (categorical categories, else sorted distinct values as strings).
        Latent nodes must be given here.
    method : ``"mle"`` or ``"bayes"`` (Dirichlet posterior kept in ``dirichlet_``).
    prior : for ``method="bayes"``: ``"BDeu"``, ``"K2"``, a number of pseudo-counts per cell, or a
        dict node -> pseudo-count array of the CPT's shape.
    equivalent_sample_size : the BDeu equivalent sample size.
    latent : nodes never observed in the data (learned by EM).
    max_iter, tol, n_init : EM settings (iterations, relative log-likelihood tolerance, restarts).
    n_posterior_draws : with ``method="bayes"`` and missing cells or latent nodes, the number of
        CPT draws kept from the data-augmentation sampler behind credible intervals (after a
        burn-in of a fifth as many, at least 100).
    target : default target for :meth:`predict_proba` (so the model works with cross-validation).
    elimination : elimination-order heuristic, ``"min_fill"`` or ``"min_weight"``.
    random_state : seed or Generator for EM restarts and sampling defaults.
    verbose : show progress for long work.
    """

    def __init__(
        self,
        structure: Mapping[str, Sequence[str]] | Sequence[tuple[str, str]] | None = None,
        states: Mapping[str, Sequence[str]] | None = None,
        *,
        method: str = "mle",
        prior: str | float | Mapping[str, Any] = "BDeu",
        equivalent_sample_size: float = 10.0,
        latent: Sequence[str] | None = None,
        max_iter: int = 100,
        tol: float = 1e-6,
        n_init: int = 1,
        n_posterior_draws: int = 1000,
        target: str | None = None,
        elimination: str = "min_fill",
        random_state: int | np.random.Generator | None = None,
        verbose: bool = False,
    ) -> None:
        self.structure = structure
        self.states = states
        self.method = method
        self.prior = prior
        self.equivalent_sample_size = equivalent_sample_size
        self.latent = latent
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.n_posterior_draws = n_posterior_draws
        self.target = target
        if elimination not in ELIMINATION_HEURISTICS:
            raise ModelError(f"elimination must be one of {list(ELIMINATION_HEURISTICS)}, found "
                             f"{short_repr(elimination)}{_hint(str(elimination), ELIMINATION_HEURISTICS)}")
        self.elimination = elimination
        self.random_state = random_state
        self.verbose = verbose
        self._cpts: list[np.ndarray] | None = None
        self._plans: OrderedDict = OrderedDict()
        self._jt: dict = {}
        self._names: list[str] = []
        self._rank: dict[int, int] | None = None
        if structure is not None:
            parents = self._parse_structure(structure, states)
            if states is not None and all(n in states for n in parents):
                self._set_structure(parents, {n: list(states[n]) for n in parents})

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _parse_structure(structure: Any, states: Mapping[str, Sequence[str]] | None
                         ) -> dict[str, list[str]]:
        parents: dict[str, list[str]] = {}
        if isinstance(structure, Mapping):
            for node, pas in structure.items():
                if isinstance(pas, str):
                    raise SpecError(f"parents of node {node!r} must be a list of names, found the "
                                    f"string {pas!r}")
                parents[str(node)] = [str(p) for p in (pas or [])]
        else:
            for edge in structure:
                if len(edge) != 2:
                    raise SpecError(f"an edge must be a (parent, child) pair, found {edge!r}")
                a, b = str(edge[0]), str(edge[1])
                parents.setdefault(a, [])
                parents.setdefault(b, [])
                if a not in parents[b]:
                    parents[b].append(a)
        for pas in list(parents.values()):
            for p in pas:
                parents.setdefault(p, [])
        for n in states or {}:
            parents.setdefault(str(n), [])
        for node, pas in parents.items():
            if len(set(pas)) != len(pas):
                raise ModelError(f"node {node!r} lists a parent twice: {pas}")
            if node in pas:
                raise ModelError(f"node {node!r} is its own parent")
        return parents

    def _set_structure(self, parents: Mapping[str, Sequence[str]],
                       states: Mapping[str, Sequence[str]]) -> None:
        names = _topological(list(parents), parents)
        for n in names:
            st = [str(s) for s in states[n]]
            if len(st) < 1:
                raise ModelError(f"node {n!r} has no states")
            if len(set(st)) != len(st):
                dup = sorted({s for s in st if st.count(s) > 1})
                raise ModelError(f"node {n!r} has duplicate states {dup}: states must be distinct")
        self._names = names
        self._index = {n: i for i, n in enumerate(names)}
        self._states = [[str(s) for s in states[n]] for n in names]
        self._state_index = [{s: k for k, s in enumerate(st)} for st in self._states]
        self._cards = [len(s) for s in self._states]
        self._parents = [tuple(self._index[p] for p in parents[n]) for n in names]
        self._plans = OrderedDict()
        self._jt = {}
        self._rank = None
        self._schedules = None
        self._children = [[c for c in range(len(names)) if v in self._parents[c]] for v in range(len(names))]
        self._pd_index = [pd.Index(st, dtype=object, name=n) for n, st in zip(names, self._states, strict=True)]

    def _set_cpts(self, cpts: Mapping[str, Any] | Sequence[np.ndarray], *, rounding_tol: float = 0.0
                  ) -> None:
        out = []
        for v, name in enumerate(self._names):
            raw = cpts[name] if isinstance(cpts, Mapping) else cpts[v]
            arr = _cpt_array(raw, name)
            if rounding_tol > 0 and arr.ndim and np.isfinite(arr).all() and (arr >= 0).all():
                sums = arr.sum(axis=-1, keepdims=True)
                off = np.abs(sums - 1.0)
                if ((off > 1e-9) & (off <= rounding_tol)).any():
                    logger.info("CPT of node %r: rows off by up to %.2g (rounded decimals in the file) "
                                "renormalised", name, float(off.max()))
                    arr = np.where(off <= rounding_tol, arr / sums, arr)
            shape = tuple(self._cards[p] for p in self._parents[v]) + (self._cards[v],)
            if arr.shape != shape:
                pas = [self._names[p] for p in self._parents[v]]
                raise ModelError(
                    f"CPT of node {name!r} must have shape {shape} (parents {pas} then the node's "
                    f"own {self._cards[v]} states), found shape {arr.shape}")
            if not np.isfinite(arr).all() or (arr < 0).any():
                raise ProbabilityError(f"CPT of node {name!r} has negative or non-finite entries")
            sums = arr.sum(axis=-1)
            bad = np.abs(sums - 1.0) > 1e-9
            if bad.any():
                where = np.argwhere(bad)[0]
                pas = [self._names[p] for p in self._parents[v]]
                conf = {pas[i]: self._states[self._parents[v][i]][int(k)] for i, k in enumerate(where)}
                raise ProbabilityError(
                    f"CPT of node {name!r}: each distribution over its states must sum to 1 (within "
                    f"1e-9); for parents {conf} it sums to {sums[tuple(where)]:.12g}")
            out.append(arr)
        self._cpts = out
        # junction trees hold products of the CPTs: new CPTs (fit, EM) make them stale
        self._jt = {}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | str | os.PathLike, **kwargs: Any) -> BayesNet:
        """Return a network built from a BN spec dict (``{"nodes": {name: {states, parents, cpt}}}``)
        or a YAML file holding one (see docs/CONTRACTS.md)."""
        if not isinstance(spec, Mapping):
            import yaml

            with open(spec) as fh:
                spec = yaml.safe_load(fh)
            if isinstance(spec, Mapping) and "model" in spec and "nodes" not in spec:
                spec = spec["model"]
        if not isinstance(spec, Mapping) or "nodes" not in spec:
            raise SpecError("a BN spec must be a mapping with a 'nodes' key, found "
                            f"{type(spec).__name__} with keys {list(spec) if isinstance(spec, Mapping) else []}")
        unknown = set(spec) - {"nodes", "name", "title", "description"}
        if unknown:
            raise SpecError(f"unknown BN spec key(s) {sorted(unknown)}; allowed: nodes, name, title, "
                            "description")
        parents, states, cpts = {}, {}, {}
        if not isinstance(spec["nodes"], Mapping):
            raise SpecError(f"a BN spec's nodes must be a mapping name -> {{states, parents, cpt}}, found "
                            f"{type(spec['nodes']).__name__} {short_repr(spec['nodes'])}")
        for name, node in spec["nodes"].items():
            if not isinstance(node, Mapping):
                raise SpecError(f"node {name!r} must be a mapping with states, parents and cpt, found "
                                f"{type(node).__name__} {short_repr(node)}")
            for key, kind in (("states", "state names"), ("parents", "parent nodes")):
                if node.get(key) is not None and not isinstance(node[key], (list, tuple)):
                    raise SpecError(f"node {name!r}: {key} must be a list of {kind}, found "
                                    f"{type(node[key]).__name__} {short_repr(node[key])}")
            bad = set(node) - {"states", "parents", "cpt"}
            if bad:
                raise SpecError(f"node {name!r}: unknown key(s) {sorted(bad)}; allowed: states, "
                                "parents, cpt")
            for key in ("states", "cpt"):
                if key not in node:
                    raise SpecError(f"node {name!r} has no {key!r}")
            parents[str(name)] = [str(p) for p in node.get("parents") or []]
            states[str(name)] = [str(s) for s in node["states"]]
            cpts[str(name)] = node["cpt"]
        for n, pas in parents.items():
            for p in pas:
                if p not in parents:
                    raise SpecError(f"node {n!r} has parent {p!r}, which is not a node"
                                    f"{_hint(p, parents)}; nodes: {sorted(parents)}")
        net = cls(parents, states, **kwargs)
        net._set_cpts(cpts)
        return net

    def to_spec(self) -> dict[str, Any]:
        """Return the network as a BN spec dict (plain lists, YAML/JSON serialisable)."""
        self._check_fitted()
        return {"nodes": {
            n: {"states": list(self._states[v]),
                "parents": [self._names[p] for p in self._parents[v]],
                "cpt": self._cpts[v].tolist()}
            for v, n in enumerate(self._names)}}

    @classmethod
    def from_pgmpy(cls, model: Any, *, rounding_tol: float = 1e-4, **kwargs: Any) -> BayesNet:
        """Return a network copied from a fitted pgmpy ``DiscreteBayesianNetwork`` (states kept).

        Network files store probabilities as rounded decimals, so CPT rows that miss 1 by at most
        ``rounding_tol`` are renormalised (and logged); larger deviations raise ProbabilityError.
        """
        parents, states, cpts = {}, {}, {}
        for cpd in model.get_cpds():
            var = str(cpd.variable)
            pas = [str(p) for p in cpd.variables[1:]]
            names = cpd.state_names or {}
            card = list(cpd.cardinality)
            for i, u in enumerate(cpd.variables):
                if str(u) not in states:
                    st = names.get(u)
                    states[str(u)] = [str(s) for s in st] if st is not None else [str(k) for k in range(card[i])]
            parents[var] = pas
            vals = np.asarray(cpd.get_values(), dtype=float).reshape(tuple(card))
            cpts[var] = np.ascontiguousarray(np.moveaxis(vals, 0, -1))
        missing = set(map(str, model.nodes())) - set(parents)
        if missing:
            raise ModelError(f"pgmpy model has nodes without a CPD: {sorted(missing)}")
        net = cls(parents, states, **kwargs)
        net._set_cpts(cpts, rounding_tol=rounding_tol)
        return net

    @classmethod
    def from_bif(cls, path: str | os.PathLike, **kwargs: Any) -> BayesNet:
        """Return a network read from a BIF file (``.bif`` or gzipped ``.bif.gz``; probwb's own
        reader, :mod:`probwb.bn.bif`) or an XMLBIF file (``.xml``/``.xmlbif``, through pgmpy's
        reader); state names are kept. ``rounding_tol`` (default 1e-4) renormalises CPT rows that
        miss 1 by at most that much (rounded decimals in the file, see :meth:`from_pgmpy`); other
        ``kwargs`` go to the constructor. A malformed BIF file raises SpecError naming the line."""
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rt") as fh:
                text = fh.read()
        except OSError as exc:
            raise DataError(f"cannot read network file {str(path)!r}: {exc}") from None
        stem = path.name.removesuffix(".gz")
        if stem.endswith((".xml", ".xmlbif")):
            from pgmpy.readwrite import XMLBIFReader

            model = XMLBIFReader(string=text).get_model()
            return cls.from_pgmpy(model, **kwargs)
        from probwb.bn.bif import parse_bif

        bif = parse_bif(text, repr(str(path)))
        rounding_tol = kwargs.pop("rounding_tol", 1e-4)
        # nodes keyed in sorted order, as pgmpy's reader gives them: the same node order (ids) as
        # a network read through pgmpy
        order = sorted(bif.names)
        net = cls({n: bif.parents[n] for n in order}, {n: bif.states[n] for n in order}, **kwargs)
        net._set_cpts(bif.cpts, rounding_tol=rounding_tol)
        return net

    @classmethod
    def from_bundled(cls, name: str, **kwargs: Any) -> BayesNet:
        """Return one of the networks shipped with probwb (``probwb.datasets.NETWORKS``)."""
        from probwb.datasets import load_network

        return cls.from_bif(load_network(name), **kwargs)

    def to_pgmpy(self) -> Any:
        """Return the network as a pgmpy ``DiscreteBayesianNetwork`` with ``TabularCPD``s."""
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.models import DiscreteBayesianNetwork

        self._check_fitted()
        model = DiscreteBayesianNetwork()
        model.add_nodes_from(self._names)
        model.add_edges_from(self.edges)
        for v, n in enumerate(self._names):
            pas = [self._names[p] for p in self._parents[v]]
            vals = np.moveaxis(self._cpts[v], -1, 0).reshape(self._cards[v], -1)
            sn = {n: list(self._states[v])}
            sn.update({p: list(self._states[self._index[p]]) for p in pas})
            model.add_cpds(TabularCPD(n, self._cards[v], vals, evidence=pas or None,
                                      evidence_card=[self._cards[self._index[p]] for p in pas] or None,
                                      state_names=sn))
        return model

    # ------------------------------------------------------------------ structure access
    def _check_structure(self) -> None:
        if not self._names:
            raise NotFittedError("this BayesNet has no structure with states yet: give structure= and "
                                 "states=, use a constructor (from_spec, from_bif), or call fit(data)")

    def _check_fitted(self) -> None:
        self._check_structure()
        if self._cpts is None:
            raise NotFittedError("this BayesNet has no CPTs yet: call fit(data) first")

    @property
    def nodes(self) -> list[str]:
        """Node names in a topological order (parents before children)."""
        self._check_structure()
        return list(self._names)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Directed edges ``(parent, child)`` (available before fit when a structure was given)."""
        if not self._names and self.structure is not None:
            parents = self._parse_structure(self.structure, self.states)
            return [(p, n) for n, pas in parents.items() for p in pas]
        self._check_structure()
        return [(self._names[p], n) for v, n in enumerate(self._names) for p in self._parents[v]]

    @property
    def node_states(self) -> dict[str, list[str]]:
        """State names of every node."""
        self._check_structure()
        return {n: list(s) for n, s in zip(self._names, self._states, strict=True)}

    def parents(self, node: str) -> list[str]:
        """Return the parents of ``node`` in CPT axis order."""
        return [self._names[p] for p in self._parents[self._node_id(node)]]

    @property
    def cpts_(self) -> dict[str, np.ndarray]:
        """CPT arrays by node, shape ``(*parent_cards, card)`` (copies)."""
        self._check_fitted()
        return {n: self._cpts[v].copy() for v, n in enumerate(self._names)}

    def cpt(self, node: str) -> pd.DataFrame:
        """Return the CPT of ``node`` as a DataFrame: rows = parent configurations, columns = states."""
        self._check_fitted()
        v = self._node_id(node)
        pas = self._parents[v]
        arr = self._cpts[v].reshape(-1, self._cards[v])
        if len(pas) == 1:
            index = pd.Index(self._states[pas[0]], dtype=object, name=self._names[pas[0]])
        elif pas:
            index = pd.MultiIndex.from_product([self._states[p] for p in pas],
                                               names=[self._names[p] for p in pas])
        else:
            index = pd.Index([node], name="node")
        return pd.DataFrame(arr, index=index, columns=pd.Index(self._states[v], name=node))

    def _node_id(self, node: str) -> int:
        self._check_structure()
        try:
            return self._index[node]
        except (KeyError, TypeError):
            raise StateError(f"unknown node {node!r}{_hint(node, self._names)}; nodes: "
                             f"{self._names}") from None

    def _state_id(self, v: int, state: Any) -> int:
        table = self._state_index[v]
        key = state if isinstance(state, str) else _as_state_strings(pd.Series([state])).iloc[0]
        try:
            return table[key]
        except KeyError:
            raise StateError(f"node {self._names[v]!r} has no state {state!r}"
                             f"{_hint(key, self._states[v])}; states: {self._states[v]}") from None

    def _evidence_ids(self, evidence: Mapping[str, Any] | None) -> dict[int, int]:
        if evidence is None:
            return {}
        if not isinstance(evidence, Mapping):
            raise DataError(f"evidence must be a dict node -> state, found {type(evidence).__name__}")
        return {self._node_id(k): self._state_id(self._node_id(k), s) for k, s in evidence.items()}

    # ------------------------------------------------------------------ data coding
    def _encode(self, data: pd.DataFrame, columns: Sequence[str], where: str = "data",
                dtype: type = np.int64) -> np.ndarray:
        """Return ``(n_rows, len(columns))`` state codes, -1 for missing; unknown values raise.

        ``dtype=np.int8`` (every node with at most 127 states) keeps a wide frame's codes in the
        CPU's cache: 8x smaller than int64, for callers that only read them."""
        out = np.empty((len(data), len(columns)), dtype=dtype)
        done = self._encode_wide(data, columns, out)
        for j, c in enumerate(columns):
            if done[j]:
                continue
            v = self._index[c]
            vals = _column_values(data, c)
            if isinstance(vals, pd.Categorical):
                # the categories are the distinct values already (code -1 = missing): map the
                # few categories, then one gather; no Series built (~50 us a column)
                cats = vals.categories
                names = cats.tolist()
                if not all(isinstance(x, str) for x in names):
                    names = [_state_text(x) for x in names]
                table = self._state_index[v]
                lookup = np.array([table.get(x, -2) for x in names] + [-1], dtype=np.int64)
                if not (lookup[:-1] == -2).any() or not ((vals.codes >= 0) & (lookup[vals.codes]
                                                                              == -2)).any():
                    out[:, j] = lookup[vals.codes]
                    continue
            col = data[c]
            if _arrow_strings(col):
                codes = _arrow_codes(col, self._states[v])
                if codes is not None:
                    out[:, j] = codes
                    continue
            if isinstance(col.dtype, pd.CategoricalDtype):
                # the categories are the distinct values already (code -1 = missing)
                ucodes, uvals = col.cat.codes.to_numpy(), list(col.cat.categories)
            else:
                # factorize is hash-based C code; only the few distinct values are matched in Python
                ucodes, uniques = pd.factorize(col, use_na_sentinel=True)
                uvals = list(uniques)
            if not all(isinstance(x, str) for x in uvals):
                uvals = [_state_text(x) for x in uvals]
            table = self._state_index[v]
            lookup = np.array([table.get(x, -2) for x in uvals] + [-1], dtype=np.int64)
            codes = lookup[np.asarray(ucodes, dtype=np.int64)]
            bad = codes == -2
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                val = col.iloc[i]
                raise StateError(
                    f"{where} column {c!r}, row {data.index[i]!r}: value {val!r} is not a state of node "
                    f"{c!r}{_hint(str(val), self._states[v])}; states: {self._states[v]} "
                    f"({int(bad.sum())} such value(s))")
            out[:, j] = codes
        return out

    def _encode_wide(self, data: pd.DataFrame, columns: Sequence[str], out: np.ndarray) -> np.ndarray:
        """Code a large frame's pyarrow string columns in one compiled pass into ``out``; return
        which columns were coded (none when numba is absent, the frame is small or a value is not
        a state: the per-column path then codes them and names any bad value)."""
        done = np.zeros(len(columns), dtype=bool)
        if len(data) * len(columns) < _WIDE_CELLS:
            return done
        from probwb.bn import encoding

        if not encoding.HAVE_NUMBA:
            return done
        import pyarrow as pa

        picks, arrays, states = [], [], []
        for j, c in enumerate(columns):
            col = _column_values(data, c)
            v = self._index[c]
            if _arrow_strings_array(col) and len(self._states[v]) <= encoding.MAX_STATES:
                picks.append(j)
                arrays.append(pa.array(col))
                states.append(self._states[v])
        if len(picks) * len(data) < _WIDE_CELLS:
            return done
        try:
            ok = encoding.arrow_state_codes(arrays, states, out, picks)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # chunks of different string types
            ok = False
        if ok:
            done[picks] = True
        return done

    def _full_codes(self, data: pd.DataFrame, allow_missing_columns: Sequence[str] = ()) -> np.ndarray:
        codes = np.full((len(data), len(self._names)), -1, dtype=np.int64)
        cols = [n for n in self._names if n in data.columns]
        absent = [n for n in self._names if n not in data.columns and n not in allow_missing_columns]
        if absent:
            parts = [f"{a!r}{_hint(a, [str(c) for c in data.columns])}" for a in absent]
            raise DataError(f"data has no column for node(s) {', '.join(parts)}; declare them latent= "
                            f"if they are never observed. Columns found: {[str(c) for c in data.columns]}")
        if cols:
            codes[:, [self._index[c] for c in cols]] = self._encode(data, cols)
        return codes

    # ------------------------------------------------------------------ learning
    def fit(
        self,
        data: pd.DataFrame,
        *,
        method: str | None = None,
        prior: str | float | Mapping[str, Any] | None = None,
        equivalent_sample_size: float | None = None,
        weights: Sequence[float] | None = None,
    ) -> BayesNet:
        """Learn the CPTs from ``data`` (one column per observed node; NaN = missing) and return self.

        ``method``/``prior``/``equivalent_sample_size`` override the constructor's settings for this
        call. Complete data gives closed-form estimates; NaN cells or latent nodes run EM
        (``n_init`` restarts, ``ConvergenceWarning`` when it stops early). With ``method="bayes"`` the
        CPTs are the Dirichlet posterior means (with missing cells: EM's posterior mode of the
        normalised expected counts plus prior) and ``dirichlet_`` holds prior + (expected) counts.
        Credible intervals (``interval=`` of :meth:`query` and :meth:`posterior`) draw CPTs from
        the exact conjugate Dirichlet posterior for complete data; with missing cells or latent
        nodes from ``posterior_draws_``, ``n_posterior_draws`` draws of a data-augmentation Gibbs
        sampler (each row's missing cells drawn from their joint posterior, then the CPTs from
        Dirichlet(prior + completed counts)), so they carry the information the data lack.
        ``interval_method_`` names the method used.
        """
        method = (method or self.method).lower()
        if method not in ("mle", "bayes"):
            raise SpecError(f"method must be 'mle' or 'bayes', found {method!r}")
        prior = self.prior if prior is None else prior
        ess = self.equivalent_sample_size if equivalent_sample_size is None else equivalent_sample_size
        draws = self.n_posterior_draws
        if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
            raise SpecError(f"n_posterior_draws must be a positive integer (CPT draws kept for credible "
                            f"intervals), found {draws!r}")
        data = check_dataframe(data)
        if self.structure is None and not self._names:
            raise NotFittedError("BayesNet.fit needs a structure: pass structure= (dict of parents or "
                                 "edge list) or learn one with BayesNet.learn_structure(data)")
        if self.structure is not None:
            parents = self._parse_structure(self.structure, self.states)
        else:
            parents = {n: [self._names[p] for p in self._parents[v]] for v, n in enumerate(self._names)}
        latent = [str(x) for x in (self.latent or [])]
        for x in latent:
            if x not in parents:
                raise SpecError(f"latent node {x!r} is not in the structure{_hint(x, parents)}")
        states: dict[str, list[str]] = {}
        given = dict(self.states or {})
        if not given and self._names:
            given = self.node_states
        for n in parents:
            if n in given:
                states[n] = [str(s) for s in given[n]]
            elif n in latent:
                raise SpecError(f"latent node {n!r} needs its states in states=")
            elif n not in data.columns:
                raise DataError(f"data has no column for node {n!r}{_hint(n, map(str, data.columns))}; "
                                "declare it latent= (with its states) if it is never observed")
            else:
                states[n] = self._states_from_column(data[n], n)
        self._set_structure(parents, states)
        codes = self._full_codes(data, allow_missing_columns=latent)
        for x in latent:
            if x in data.columns and (codes[:, self._index[x]] >= 0).any():
                raise DataError(f"latent node {x!r} has observed values in the data column {x!r}")
        w = np.ones(len(data)) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (len(data),) or (w < 0).any() or not np.isfinite(w).all():
            raise DataError(f"weights must be {len(data)} non-negative finite numbers")

        if method != "mle" and isinstance(prior, Mapping):
            check_known_keys(prior, self._names, where="prior", what="node", default="BDeu", error=StateError,
                             logger=logger)
        priors: list[np.ndarray | None] = []
        for v, n in enumerate(self._names):
            shape = tuple(self._cards[p] for p in self._parents[v]) + (self._cards[v],)
            if method == "mle":
                priors.append(None)
                continue
            node_prior = prior.get(n, "BDeu") if isinstance(prior, Mapping) else prior
            priors.append(learning.prior_pseudo_counts(node_prior, shape, ess, n))

        self.method_ = method
        self.n_rows_ = len(data)
        missing = (codes < 0).any()
        if not missing:
            counts = [learning.family_counts(codes, w, self._parents[v] + (v,), self._cards)
                      for v in range(len(self._names))]
            self.em_ = None
        else:
            rng = check_random_state(self.random_state)
            # unique rows with multiplicities: EM cost scales with distinct rows, not rows
            uniq, inv = _unique_rows(codes, self._cards)
            uw = np.bincount(inv, weights=w, minlength=len(uniq))
            init = None
            if not latent:
                # available-case estimates are a good, deterministic first start
                init = []
                for v in range(len(self._names)):
                    fam = self._parents[v] + (v,)
                    ok = (uniq[:, list(fam)] >= 0).all(axis=1)
                    c = learning.family_counts(uniq[ok], uw[ok], fam, self._cards) + 1e-3
                    init.append(learning.normalise_counts(c)[0])
            res = learning.em(self._parents, self._cards, uniq, uw, priors, init=init,
                              n_init=self.n_init, max_iter=self.max_iter, tol=self.tol, rng=rng,
                              verbose=self.verbose)
            counts = res.counts
            self.em_ = res
            self.converged_ = res.converged
            self.n_iter_ = res.n_iter
            self.log_likelihood_ = res.log_likelihood
        self.posterior_draws_ = None
        self.interval_method_ = "Dirichlet posterior (conjugate, complete data)" if method == "bayes" else None
        if missing and method == "bayes":
            n_draws = int(self.n_posterior_draws)
            burn = max(100, n_draws // 5)
            da = learning.data_augmentation(self._parents, self._cards, uniq, uw, priors, res.cpts,
                                            n_draws=n_draws, burn_in=burn, rng=rng, verbose=self.verbose)
            self.posterior_draws_ = {n: da.draws[v] for v, n in enumerate(self._names)}
            self.interval_method_ = (f"data augmentation: Gibbs over the missing cells ({da.engine}), "
                                     f"{n_draws} draws after {burn} burn-in")
        self.counts_ = {n: counts[v] for v, n in enumerate(self._names)}
        cpts = []
        empty_nodes = []
        for v, c in enumerate(counts):
            tot = c + priors[v] if priors[v] is not None else c
            norm, n_empty = learning.normalise_counts(tot)
            if n_empty:
                empty_nodes.append(f"{self._names[v]} ({n_empty})")
            cpts.append(norm)
        if empty_nodes:
            warnings.warn(
                "some parent configurations never occur in the data, so their CPT rows are set uniform: "
                + ", ".join(empty_nodes) + "; use method='bayes' for a prior to fall back on",
                SmallSampleWarning, stacklevel=2)
        if self.em_ is not None:
            # the CPTs whose log-likelihood EM reported and under which ``counts`` are expected
            cpts = [np.array(c, dtype=float) for c in self.em_.cpts]
        self._set_cpts(cpts)
        self.dirichlet_ = ({n: counts[v] + priors[v] for v, n in enumerate(self._names)}
                           if method == "bayes" else None)
        return self

    @staticmethod
    def _states_from_column(col: pd.Series, name: str) -> list[str]:
        if isinstance(col.dtype, pd.CategoricalDtype):
            return [str(s) for s in _as_state_strings(pd.Series(list(col.cat.categories)))]
        vals = col.dropna().unique()
        if len(vals) == 0:
            raise DataError(f"data column {name!r} has no observed values, so its states are unknown; "
                            "give them in states=")
        if pd.api.types.is_numeric_dtype(col.dtype):
            vals = np.sort(vals.astype(float))
        else:
            vals = sorted(str(v) for v in vals)
        return list(_as_state_strings(pd.Series(list(vals))))

    @classmethod
    def learn_structure(
        cls,
        data: pd.DataFrame,
        *,
        method: str = "hill_climb",
        score: str = "bic",
        required: Sequence[tuple[str, str]] = (),
        forbidden: Sequence[tuple[str, str]] = (),
        tiers: Sequence[Sequence[str]] | None = None,
        max_indegree: int | None = None,
        significance_level: float = 0.01,
        fit: bool = True,
        fit_method: str = "mle",
        verbose: bool = False,
        **model_kwargs: Any,
    ) -> BayesNet:
        """Learn a structure with pgmpy (see :func:`probwb.bn.structure.learn_structure`) and return a
        BayesNet with it, fitted on ``data`` when ``fit``. ``fit_method`` is the parameter-learning
        ``method`` ("mle" or "bayes"); ``model_kwargs`` go to the constructor."""
        from probwb.bn.structure import learn_structure

        data = check_dataframe(data)
        edges = learn_structure(data, method=method, score=score, required=required,
                                forbidden=forbidden, tiers=tiers, max_indegree=max_indegree,
                                significance_level=significance_level, verbose=verbose)
        structure: dict[str, list[str]] = {str(c): [] for c in data.columns}
        for a, b in edges:
            structure[b].append(a)
        net = cls(structure, method=fit_method, verbose=verbose, **model_kwargs)
        return net.fit(data) if fit else net

    # ------------------------------------------------------------------ inference core
    def _plan(self, targets: tuple[int, ...], hard: tuple[int, ...], soft: tuple[int, ...],
              do: tuple[int, ...], batched: bool, sampled: bool) -> kernels.Plan:
        key = (targets, hard, soft, do, batched, sampled)
        plan = self._plans.get(key)
        if plan is None:
            if self._rank is None:
                self._rank = kernels.network_order(self._parents, self._cards, self.elimination)
            plan = kernels.compile_plan(self._parents, self._cards, targets, hard, soft, do,
                                        batched=batched, sampled=sampled, heuristic=self.elimination,
                                        rank=self._rank, children=self._children)
            if plan.max_table > _MAX_TABLE:
                raise ModelError(
                    f"exact inference for this query would build a table of {plan.max_table:,} entries "
                    f"(limit {_MAX_TABLE:,}): the network is too densely connected for it; use "
                    "approximate_query (likelihood weighting) instead")
            self._plans[key] = plan
            if len(self._plans) > _PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)
        return plan

    def _junction(self, dd: Mapping[int, int]) -> Any:
        """Return the junction tree of the network under the intervention ``dd`` (cached), or None
        when its cliques are too large for it (evidence-pruned elimination is used instead)."""
        from probwb.bn import junction

        jt = getattr(self, "_jt", None)
        if jt is None:
            jt = self._jt = {}
        key = tuple(sorted(dd.items()))
        if key not in jt:
            if len(jt) >= 16:
                jt.pop(next(iter(jt)))
            jt[key] = junction.build_tree(self._parents, self._cards, self._cpts, dd,
                                          heuristic=self.elimination, max_total=_MAX_TABLE)
        return jt[key]

    def _use_junction(self, n_rows: int) -> bool:
        """Whether the batched junction-tree kernel should answer ``n_rows`` distinct rows.

        It needs numba. Once its kernel is loaded in this process it answers every batch (it is
        faster than a plan per observed-column pattern and than per-row likelihood vectors); before
        that, only batches large enough to repay compiling (or loading the cached) kernel.
        """
        if _ENGINE == "einsum":
            return False
        from probwb.bn import junction

        if not junction.HAVE_NUMBA:
            return False
        return _ENGINE == "junction" or n_rows >= _JT_MIN_ROWS or junction.kernel_ready()

    def _sample_cpts(self, relevant: Iterable[int], n_samples: int, rng: np.random.Generator
                     ) -> list[np.ndarray]:
        """CPT draws for credible intervals, one joint draw of all ``relevant`` CPTs per sample: from
        the sampler's ``posterior_draws_`` when the fit had missing cells (picked without
        replacement while there are enough), else from the conjugate Dirichlet posteriors."""
        if getattr(self, "dirichlet_", None) is None:
            raise NotFittedError("credible intervals need the Dirichlet posteriors of a model fitted with "
                                 "method='bayes'")
        out: list[np.ndarray] = [np.empty(0)] * len(self._names)
        stored = getattr(self, "posterior_draws_", None)
        if stored is not None:
            n_stored = len(stored[self._names[0]])
            pick = rng.choice(n_stored, size=n_samples, replace=n_samples > n_stored)
            for v in relevant:
                out[v] = stored[self._names[v]][pick]
            return out
        for v in relevant:
            out[v] = learning.dirichlet_draws(self.dirichlet_[self._names[v]], rng, (n_samples,))
        return out

    def _prepare(self, variables: str | Sequence[str], evidence: Mapping[str, Any] | None,
                 do: Mapping[str, Any] | None) -> tuple[list[int], dict[int, int], dict[int, int]]:
        self._check_fitted()
        names = [variables] if isinstance(variables, str) else list(variables)
        if not names:
            raise DataError("variables must name at least one node")
        t = [self._node_id(n) for n in names]
        if len(set(t)) != len(t):
            raise DataError(f"variables lists a node twice: {names}")
        ev, dd = self._evidence_and_do(evidence, do)
        return t, ev, dd

    def _split_do(self, evidence: Mapping[str, Any] | None, do: Mapping[str, Any] | None
                  ) -> tuple[dict[int, int], dict[int, int], int | None]:
        """Evidence and intervention as ids, evidence on an intervened node dropped when it agrees;
        and the first evidence node that contradicts the intervention (None when none does)."""
        ev = self._evidence_ids(evidence)
        dd = self._evidence_ids(do)
        for v, s in list(ev.items()):
            if v in dd:
                if dd[v] != s:
                    return ev, dd, v
                del ev[v]
        return ev, dd, None

    def _evidence_and_do(self, evidence: Mapping[str, Any] | None, do: Mapping[str, Any] | None
                         ) -> tuple[dict[int, int], dict[int, int]]:
        """Evidence and intervention as ids (see :meth:`_split_do`); raises ImpossibleEvidenceError
        when evidence contradicts the intervention."""
        ev, dd, v = self._split_do(evidence, do)
        if v is not None:
            raise ImpossibleEvidenceError(
                f"evidence {self._names[v]}={self._states[v][ev[v]]!r} contradicts the intervention "
                f"do({self._names[v]}={self._states[v][dd[v]]!r})")
        return ev, dd

    def _joint_table(self, t: list[int], ev: dict[int, int], dd: dict[int, int],
                     cpts: Sequence[np.ndarray] | None = None, sampled: bool = False) -> np.ndarray:
        """Unnormalised P(targets, evidence) with axes in ``t`` order (leading sample axis if sampled).

        Targets fixed by evidence or do are one-hot axes. All zeros when P(evidence) = 0, also
        where the plan dropped the CPT whose zero makes it so (see :meth:`_unchecked`).
        """
        fixed = {v: (ev.get(v, dd.get(v))) for v in t if v in ev or v in dd}
        free = tuple(v for v in t if v not in fixed)
        plan = self._plan(free, tuple(sorted(ev)), (), tuple(sorted(dd)), False, sampled)
        table = kernels.run_plan(plan, cpts if cpts is not None else self._cpts, ev, None, dd)
        if not sampled and ev and self._unchecked(plan):
            try:
                if not self._log_evidence(ev, dd) > -np.inf:
                    table = np.zeros_like(table)
            except ModelError:  # P(evidence) too large to eliminate exactly: unchecked
                pass
        if not fixed:
            return table
        lead = 1 if sampled else 0
        for v in t:
            if v in fixed:
                one = np.zeros(self._cards[v])
                one[fixed[v]] = 1.0
                table = np.multiply.outer(table, one)
        cur = list(free) + [v for v in t if v in fixed]
        perm = list(range(lead)) + [lead + cur.index(v) for v in t]
        return np.transpose(table, perm)

    def _tree_table(self, t: list[int], ev: dict[int, int]) -> np.ndarray | None:
        """P(targets, evidence) up to a constant factor, axes in ``t`` order, from the junction
        tree: one kernel row per joint state of the targets, each with the evidence plus that
        state, giving log P(row) (the tree rooted without a target serves every query). None
        where elimination answers instead: the tree not rooted yet with its kernel loaded (a
        single query never waits for a kernel load, a compile or a rooting unless
        ``_TREE_QUERY_AFTER`` says so), targets observed, more than ``_TREE_QUERY_ROWS`` joint
        states, or cliques too large for a tree."""
        # loading the kernel (0.1-0.4 s, numba's import included) and rooting the tree (0.01-2 s)
        # would stall one query for what a scheduled elimination answers in well under 1 ms
        built = (getattr(self, "_jt", None) or {}).get(())
        self._n_queries = getattr(self, "_n_queries", 0) + 1
        rooted = built is not None and -1 in built.rooted
        if not rooted and (_TREE_QUERY_AFTER is None or self._n_queries < _TREE_QUERY_AFTER):
            return None
        from probwb.bn import junction

        if _ENGINE == "einsum" or not junction.HAVE_NUMBA or any(v in ev for v in t):
            return None
        shape = [self._cards[v] for v in t]
        n = int(np.prod(shape))
        if n > _TREE_QUERY_ROWS or not junction.kernel_cached():
            return None
        if _TREE_QUERY_AFTER is None and not junction.kernel_ready():
            return None
        tree = self._junction({})
        if tree is None:
            return None
        cols = [*ev, *t]
        codes = np.empty((n, len(cols)), dtype=np.int64)
        codes[:, :len(ev)] = np.fromiter(ev.values(), dtype=np.int64, count=len(ev))
        codes[:, len(ev):] = np.indices(shape).reshape(len(t), n).T
        _, logp = junction.tree_rows(tree, junction.root_tree(tree, -1), codes, cols)
        top = logp.max()
        if not top > -np.inf:
            return np.zeros(shape)
        # rescaled by the largest: the ratios are exact where the probabilities would underflow
        return np.exp(logp - top).reshape(shape)

    def _fast_table(self, t: list[int], ev: dict[int, int]) -> np.ndarray | None:
        """P(targets, evidence) up to a constant factor, axes in ``t`` order, by an elimination
        scheduled with einsum sublists (a new query pattern costs tens of microseconds, so the
        first query of a network is as fast as the hundredth). None where the general plan
        answers instead: targets observed, tables above ``_SCHEDULE_TABLE`` entries under the
        network-wide order (the plan then searches a query-specific order), a step with more
        operands or variables than one einsum takes, or a product so small it may have
        underflowed."""
        if any(v in ev for v in t):
            return None
        if self._rank is None:
            self._rank = kernels.network_order(self._parents, self._cards, self.elimination)
        cache = getattr(self, "_schedules", None)
        if cache is None or cache[0] is not self._cpts:
            # the zero pattern of the CPTs decides which schedules are exact: new CPTs, new cache
            zeros = frozenset(v for v, c in enumerate(self._cpts) if not c.all())
            cache = self._schedules = (self._cpts, zeros, OrderedDict())
        _, zeros, scheds = cache
        key = (tuple(t), frozenset(ev))
        sched = scheds.get(key, False)
        if sched is False:
            sched = kernels.query_schedule(self._parents, self._children, self._cards, self._rank,
                                           key[0], key[1])
            if sched is not None and not zeros.isdisjoint(sched.dropped):
                # a pruned CPT with a zero could make the evidence impossible unseen: keep every
                # ancestor, so the table sums to P(evidence) and a zero sum is the check
                sched = kernels.query_schedule(self._parents, self._children, self._cards,
                                               self._rank, key[0], key[1], joint=True)
            if sched is not None and sched.max_table > _SCHEDULE_TABLE:
                sched = None
            scheds[key] = sched
            if len(scheds) > _PLAN_CACHE_SIZE:
                scheds.popitem(last=False)
        if sched is None:
            return None
        table = kernels.run_query_schedule(sched, self._cpts, ev)
        # an underflowing product (many observations) goes to the general path, which rescales
        return table if table.sum() > _FAST_TINY else None

    def _evidence_text(self, ev: Mapping[int, int], dd: Mapping[int, int] | None = None) -> str:
        parts = [f"{self._names[v]}={self._states[v][s]!r}" for v, s in ev.items()]
        parts += [f"do({self._names[v]}={self._states[v][s]!r})" for v, s in (dd or {}).items()]
        return ", ".join(parts) or "(none)"

    # ------------------------------------------------------------------ exact queries
    def query(
        self,
        variables: str | Sequence[str],
        evidence: Mapping[str, Any] | None = None,
        do: Mapping[str, Any] | None = None,
        *,
        interval: float | None = None,
        n_samples: int = 1000,
        random_state: int | np.random.Generator | None = None,
    ) -> pd.Series | pd.DataFrame:
        """Return the exact posterior of ``variables`` given ``evidence`` under the intervention ``do``.

        One variable gives a Series indexed by its states; several give their joint posterior, a Series
        with a MultiIndex. With ``interval`` (e.g. 0.9, needs ``method="bayes"``) a DataFrame with
        columns ``probability``, ``lower``, ``upper``: the equal-tailed credible interval of each
        posterior probability over ``n_samples`` draws of the CPTs from their Dirichlet posteriors.
        Raises ImpossibleEvidenceError when P(evidence) = 0 and StateError for unknown nodes/states.
        A query is answered by an elimination scheduled for its pattern (tens of microseconds to
        schedule, from the first query on); a query never loads the compiled kernel or roots the
        junction tree itself, but once something else has (``log_likelihood`` on incomplete rows),
        it reads one tree row per joint target state. Queries whose elimination would need a
        table above ~1M entries use a pairwise contraction path instead.
        """
        t, ev, dd = self._prepare(variables, evidence, do)
        table = None
        if interval is None and not dd:
            table = self._tree_table(t, ev)
            if table is None:
                table = self._fast_table(t, ev)
        if table is None:
            table = self._joint_table(t, ev, dd)
        z = table.sum()
        if not z > 0:
            raise ImpossibleEvidenceError(f"the evidence has probability zero under the model: "
                                          f"{self._evidence_text(ev, dd)}")
        post = (table / z).ravel()
        if len(t) == 1:
            index = self._pd_index[t[0]]
        else:
            index = pd.MultiIndex.from_product([self._states[v] for v in t],
                                               names=[self._names[v] for v in t])
        series = pd.Series(post, index=index, name="probability")
        if interval is None:
            return series
        lo, hi = self._interval_bounds(interval)
        rng = check_random_state(random_state if random_state is not None else self.random_state)
        free = tuple(v for v in t if v not in ev and v not in dd)
        plan = self._plan(free, tuple(sorted(ev)), (), tuple(sorted(dd)), False, True)
        draws = self._sample_cpts(plan.relevant, n_samples, rng)
        tab = self._joint_table(t, ev, dd, draws, sampled=True).reshape(n_samples, -1)
        zs = tab.sum(axis=1, keepdims=True)
        ok = zs[:, 0] > 0
        samples = tab[ok] / zs[ok]
        return pd.DataFrame({"probability": post,
                             "lower": np.quantile(samples, lo, axis=0),
                             "upper": np.quantile(samples, hi, axis=0)}, index=index)

    @staticmethod
    def _interval_bounds(interval: float) -> tuple[float, float]:
        if not 0 < interval < 1:
            raise DataError(f"interval must be a probability mass in (0, 1), e.g. 0.9; found {interval!r}")
        return (1 - interval) / 2, 1 - (1 - interval) / 2

    def probability_of_evidence(self, evidence: Mapping[str, Any], do: Mapping[str, Any] | None = None
                                ) -> float:
        """Return P(evidence) (under the intervention ``do`` when given), computed exactly."""
        self._check_fitted()
        ev, dd, clash = self._split_do(evidence, do)
        if clash is not None:
            return 0.0
        return self._p_evidence(ev, dd) if ev else 1.0

    def _p_evidence(self, ev: dict[int, int], dd: dict[int, int]) -> float:
        """P(evidence) for evidence and intervention as ids, by elimination (a plain product of
        probabilities: it underflows to 0 below ~1e-308)."""
        plan = self._plan((), tuple(sorted(ev)), (), tuple(sorted(dd)), False, False)
        return float(kernels.run_plan(plan, self._cpts, ev, None, dd))

    def log_probability_of_evidence(self, evidence: Mapping[str, Any],
                                    do: Mapping[str, Any] | None = None) -> float:
        """Return log P(evidence) (under ``do``), exact and without underflow.

        :meth:`probability_of_evidence` multiplies probabilities and so returns 0.0 once P(evidence)
        falls below ~1e-308 (many observed nodes); here such cases are recomputed on the junction
        tree, whose messages are normalised with their log scales kept. ``-inf`` means impossible.
        """
        self._check_fitted()
        ev, dd, clash = self._split_do(evidence, do)
        return float("-inf") if clash is not None else self._log_evidence(ev, dd)

    def _log_evidence(self, ev: dict[int, int], dd: dict[int, int]) -> float:
        """log P(evidence) for evidence and intervention as ids (evidence not on intervened nodes)."""
        if not ev:
            return 0.0
        with np.errstate(divide="ignore"):
            lp = float(np.log(self._p_evidence(ev, dd)))
        if lp >= _LOG_TINY:
            return lp
        tree = self._junction(dd)
        if tree is None:
            return lp
        cols = list(ev)
        codes = np.array([[ev[v] for v in cols]], dtype=np.int64)
        return float(self._tree_log_evidence(tree, codes, cols)[0])

    def map_query(self, variables: str | Sequence[str] | None = None,
                  evidence: Mapping[str, Any] | None = None, do: Mapping[str, Any] | None = None, *,
                  max_table: int = 5_000_000) -> dict[str, str]:
        """Return the most probable joint state given ``evidence``, as a dict node -> state.

        With ``variables=None`` this is the most probable explanation (MPE): the single most
        probable assignment of every node that is neither observed nor intervened on, found by
        max-product (max-sum in log space) elimination; nodes come in topological order. With
        ``variables`` it is the marginal MAP of those nodes (the others summed out); their joint
        table must have at most ``max_table`` entries. Ties go to the first state in state order.
        Raises ImpossibleEvidenceError when P(evidence) = 0.
        """
        if variables is None:
            return self._mpe(evidence, do)
        t, ev, dd = self._prepare(variables, evidence, do)
        size = int(np.prod([self._cards[v] for v in t]))
        if size > max_table:
            raise ModelError(f"the joint table of {len(t)} variables has {size} entries (> max_table="
                             f"{max_table}); ask about fewer variables")
        table = self._joint_table(t, ev, dd)
        if not table.sum() > 0:
            raise ImpossibleEvidenceError(f"the evidence has probability zero under the model: "
                                          f"{self._evidence_text(ev, dd)}")
        best = np.unravel_index(int(np.argmax(table)), table.shape)
        return {self._names[v]: self._states[v][int(k)] for v, k in zip(t, best, strict=True)}

    def _mpe(self, evidence: Mapping[str, Any] | None, do: Mapping[str, Any] | None) -> dict[str, str]:
        self._check_fitted()
        ev, dd = self._evidence_and_do(evidence, do)
        try:
            states, logp = kernels.max_product(self._parents, self._cards, self._cpts, ev, dd,
                                               heuristic=self.elimination, max_table=_MAX_TABLE)
        except ValueError as exc:
            raise ModelError(f"the most probable explanation cannot be computed exactly: {exc}; the "
                             "network is too densely connected for it") from None
        if not logp > -np.inf:
            raise ImpossibleEvidenceError(f"the evidence has probability zero under the model: "
                                          f"{self._evidence_text(ev, dd)}")
        return {n: self._states[v][int(states[v])] for v, n in enumerate(self._names)
                if v not in ev and v not in dd}

    def posterior(
        self,
        evidence: pd.DataFrame,
        target: str,
        do: Mapping[str, Any] | None = None,
        *,
        interval: float | None = None,
        n_samples: int = 500,
        random_state: int | np.random.Generator | None = None,
    ) -> pd.DataFrame:
        """Return P(target | row) for every row of ``evidence`` (NaN cells are unobserved).

        Columns of ``evidence`` must be nodes; a column named ``target`` is ignored. Rows sharing a
        pattern of observed columns are answered by one batched elimination (identical rows once).
        When patterns are many (rows observing different columns), rows are answered one by one
        by the junction-tree kernel (numba, rows split over the CPU cores; only the cliques an
        observation touches get new messages), or, without numba or before a batch of 2,000 rows
        has made compiling it worthwhile, together with per-row likelihood vectors. ``do`` builds
        the junction tree of the mutilated network; ``interval`` always uses elimination. The
        result has the input's index and one column per target state. With ``interval``, columns
        are a MultiIndex (``probability``/``lower``/``upper``, state). Impossible rows raise
        ImpossibleEvidenceError naming the row.
        """
        self._check_fitted()
        evidence = check_dataframe(evidence, name="evidence", allow_empty=True)
        tv = self._node_id(target)
        cols = [c for c in evidence.columns if c != target]
        unknown = [c for c in cols if c not in self._index]
        if unknown:
            parts = [f"{c!r}{_hint(c, self._names)}" for c in unknown]
            raise StateError(f"evidence column(s) {', '.join(parts)} are not nodes; nodes: {self._names}")
        dd = self._evidence_ids(do)
        # int8 codes (8x less memory to write and read) for the junction-tree kernel, which takes
        # them as they are; other paths get int64 below
        small = np.int8 if max(self._cards) <= 127 else np.int64
        codes = self._encode(evidence, cols, where="evidence", dtype=small) if cols else \
            np.empty((len(evidence), 0), dtype=np.int64)
        col_ids = [self._index[c] for c in cols]
        # do-nodes are fixed by the intervention: matching evidence is redundant, conflicting impossible
        keep = []
        for j, v in enumerate(col_ids):
            if v in dd:
                clash = (codes[:, j] >= 0) & (codes[:, j] != dd[v])
                if clash.any():
                    i = int(np.flatnonzero(clash)[0])
                    raise ImpossibleEvidenceError(
                        f"evidence row {evidence.index[i]!r}: {cols[j]} contradicts "
                        f"do({cols[j]}={self._states[v][dd[v]]!r})")
            else:
                keep.append(j)
        if len(keep) < len(col_ids):
            codes = codes[:, keep]
            col_ids = [col_ids[j] for j in keep]
        sampled = interval is not None
        rng = check_random_state(random_state if random_state is not None else self.random_state) \
            if sampled else None
        n = len(evidence)
        card = self._cards[tv]
        out = None
        if n and not sampled and tv not in dd and _many_patterns(codes >= 0) and \
                self._use_junction(n):
            # rows observing different columns are rarely identical: no de-duplication pass, and
            # the kernel's array is the answer (no copy)
            out = self._posterior_tree(codes, col_ids, tv, dd, evidence, np.arange(n))
        if out is None:
            codes = codes.astype(np.int64, copy=False)
        if out is None and (tv in dd or not n):
            out = np.empty((n_samples, n, card) if sampled else (n, card))
            if tv in dd:
                out[...] = 0.0
                out[..., dd[tv]] = 1.0
        elif out is None:
            # also where the tree declined (cliques too large): distinct rows, elimination
            uniq, inv = _unique_rows(codes, [self._cards[v] for v in col_ids])
            res = self._posterior_unique(uniq, col_ids, tv, dd, sampled, n_samples, rng, evidence, inv)
            out = res[:, inv] if sampled else res[inv]
        states = self._states[tv]
        if not sampled:
            # ``out`` is a fresh array of this call: the frame may own it without a copy
            return pd.DataFrame(out, index=evidence.index, columns=pd.Index(states, name=target),
                                copy=False)
        lo, hi = self._interval_bounds(interval)
        point = self.posterior(evidence, target, do) if n else None
        parts = {"probability": point.to_numpy() if point is not None else out.mean(axis=0),
                 "lower": np.quantile(out, lo, axis=0), "upper": np.quantile(out, hi, axis=0)}
        frame = pd.concat({k: pd.DataFrame(v, index=evidence.index, columns=states)
                           for k, v in parts.items()}, axis=1)
        frame.columns = frame.columns.set_names(["statistic", target])
        return frame

    def _posterior_unique(self, uniq: np.ndarray, col_ids: list[int], tv: int, dd: dict[int, int],
                          sampled: bool, n_samples: int, rng: np.random.Generator | None,
                          evidence: pd.DataFrame, inv: np.ndarray) -> np.ndarray:
        """Posterior of ``tv`` for each distinct evidence row ``uniq`` (codes; -1 unobserved)."""
        m = len(uniq)
        card = self._cards[tv]
        mask = uniq >= 0
        patterns, pinv = _unique_masks(mask)
        # many small pattern groups: one pass (junction tree, else per-row likelihood vectors) beats
        # a plan per pattern; a few large groups are faster with their evidence-pruned plans
        use_soft = len(patterns) > 8 and m / len(patterns) < 64
        if not sampled and (use_soft or _ENGINE == "junction") and self._use_junction(m):
            res = self._posterior_tree(uniq, col_ids, tv, dd, evidence, inv)
            if res is not None:
                return res
        res = np.empty((n_samples, m, card) if sampled else (m, card))
        groups: list[tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]] = []
        if use_soft:
            always = mask.all(axis=0)
            ever = mask.any(axis=0)
            hard = tuple(col_ids[j] for j in np.flatnonzero(always))
            soft = tuple(col_ids[j] for j in np.flatnonzero(ever & ~always))
            try:
                soft_plan = self._plan((tv,), tuple(sorted(hard)), tuple(sorted(soft)),
                                       tuple(sorted(dd)), True, sampled)
            except ModelError:
                # soft evidence keeps every ancestor of every observed column in one plan; where
                # that is too large (link), each pattern's evidence-pruned plan may still fit
                use_soft = False
            else:
                if soft_plan.max_table > _SOFT_TABLE:
                    # a large soft plan (every row pays its tables) against a plan per pattern
                    # (compiling one costs about as much as _PLAN_ENTRIES table entries), sized
                    # by the first pattern's: on link 588 rows/s against 6
                    first = self._plan((tv,), tuple(col_ids[j] for j in np.flatnonzero(patterns[0])),
                                       (), tuple(sorted(dd)), True, sampled)
                    use_soft = m * soft_plan.max_table <= len(patterns) * (_PLAN_ENTRIES
                                                                           + first.max_table)
        if use_soft:
            groups.append((np.arange(m), hard, soft))
        else:
            for k, pat in enumerate(patterns):
                rows = np.flatnonzero(pinv == k)
                groups.append((rows, tuple(col_ids[j] for j in np.flatnonzero(pat)), ()))
        draws = None
        if sampled:
            rel = set(range(len(self._names)))
            draws = self._sample_cpts(rel, n_samples, rng)
        col_pos = {v: j for j, v in enumerate(col_ids)}
        for rows, hard, soft in groups:
            hard_t, soft_t = hard, soft
            batched = bool(hard_t or soft_t)
            plan = self._plan((tv,), tuple(sorted(hard_t)), tuple(sorted(soft_t)), tuple(sorted(dd)),
                              batched, sampled)
            per_row = plan.max_table * (n_samples if sampled else 1)
            chunk = max(1, min(len(rows), _BATCH_BUDGET // max(1, per_row)))
            for start in range(0, len(rows), chunk):
                r = rows[start:start + chunk]
                hs = {v: uniq[r, col_pos[v]] for v in hard_t}
                sl = {}
                for v in soft_t:
                    c = uniq[r, col_pos[v]]
                    lik = np.zeros((len(r), self._cards[v]))
                    obs = c >= 0
                    lik[~obs] = 1.0
                    lik[np.flatnonzero(obs), c[obs]] = 1.0
                    sl[v] = lik
                cp = draws if sampled else self._cpts
                tab = kernels.run_plan(plan, cp, hs, sl, dd)
                if sampled and not batched:
                    tab = np.broadcast_to(tab[:, None, :], (n_samples, len(r), card))
                elif not sampled and not batched:
                    tab = np.broadcast_to(tab, (len(r), card))
                z = tab.sum(axis=-1, keepdims=True)
                if sampled:
                    bad = ~(z[..., 0] > 0).all(axis=0)
                else:
                    bad = ~(z[..., 0] > 0)
                    if hard_t and self._unchecked(plan):
                        bad = bad | self._impossible_rows(tuple(sorted(hard_t)), hs, dd)
                if bad.any():
                    flag = np.zeros(m, dtype=bool)
                    flag[r[bad]] = True
                    self._raise_impossible(flag, uniq, col_ids, evidence, inv)
                if sampled:
                    res[:, r] = tab / z
                else:
                    res[r] = tab / z
        return res

    def _unchecked(self, plan: kernels.Plan) -> bool:
        """Whether a positive output of ``plan`` may still hide P(evidence) = 0: a CPT it dropped
        (see :class:`kernels.Plan`) has a zero entry."""
        return any(not self._cpts[v].all() for v in plan.dropped)

    def _impossible_rows(self, hard: tuple[int, ...], hs: dict[int, np.ndarray], dd: dict[int, int]
                         ) -> np.ndarray:
        """Which rows of the hard evidence ``hs`` (node -> codes, one entry per row) have
        P(evidence) = 0: the check behind plans whose pruning dropped observed nodes' CPTs."""
        try:
            plan = self._plan((), hard, (), tuple(sorted(dd)), True, False)
        except ModelError:
            # P(evidence) needs tables too large for exact elimination (link, munin1): unchecked
            return np.zeros(len(next(iter(hs.values()))), dtype=bool)
        pe = np.asarray(kernels.run_plan(plan, self._cpts, hs, None, dd)).reshape(-1)
        zero = ~(pe > 0)
        if zero.any():
            # a product of many probabilities can underflow to 0: the tree keeps log scales
            tree = self._junction(dd)
            if tree is not None:
                rows = np.flatnonzero(zero)
                codes = np.stack([hs[v][rows] for v in hard], axis=1)
                zero[rows] = ~(self._tree_log_evidence(tree, codes, list(hard)) > -np.inf)
        return zero

    def _posterior_tree(self, codes: np.ndarray, col_ids: list[int], tv: int, dd: dict[int, int],
                        evidence: pd.DataFrame, inv: np.ndarray) -> np.ndarray | None:
        """Posterior of ``tv`` for each row of ``codes`` on the junction tree; None when the
        network's cliques are too large for one (then elimination answers)."""
        tree = self._junction(dd)
        if tree is None:
            return None
        from probwb.bn import junction

        res, logp = junction.tree_rows(tree, junction.root_tree(tree, tv), codes, col_ids)
        self._raise_impossible(~(logp > -np.inf), codes, col_ids, evidence, inv)
        return res

    def _raise_impossible(self, bad: np.ndarray, uniq: np.ndarray, col_ids: list[int],
                          evidence: pd.DataFrame, inv: np.ndarray) -> None:
        """Raise ImpossibleEvidenceError naming the first input row whose distinct row is ``bad``."""
        if not bad.any():
            return
        rows = np.flatnonzero(bad[inv])
        row = int(rows[0])
        u = int(inv[row])
        raise ImpossibleEvidenceError(
            f"evidence row {evidence.index[row]!r} has probability zero under the model: "
            + ", ".join(f"{self._names[v]}={self._states[v][uniq[u, j]]!r}"
                        for j, v in enumerate(col_ids) if uniq[u, j] >= 0))

    # ------------------------------------------------------------------ evaluation
    def predict_proba(self, data: pd.DataFrame, target: str | None = None) -> pd.DataFrame:
        """Return P(target | other node columns of ``data``) per row, columns = target's states.

        Columns that are not nodes (ids, outcomes of other models) and the target column are ignored.
        """
        target = target or self.target
        if target is None:
            raise DataError("predict_proba needs target= (or BayesNet(target=...))")
        self._check_fitted()
        data = check_dataframe(data)
        cols = [c for c in data.columns if c in self._index and c != target]
        return self.posterior(data[cols], target)

    def predict(self, data: pd.DataFrame, target: str | None = None) -> pd.Series:
        """Return the most probable state of ``target`` for each row of ``data``."""
        proba = self.predict_proba(data, target)
        return pd.Series(np.asarray(proba.columns)[proba.to_numpy().argmax(axis=1)], index=data.index,
                         name=proba.columns.name)

    def log_likelihood(self, data: pd.DataFrame, *, per_row: bool = False) -> float | np.ndarray:
        """Return the log-likelihood of ``data`` (sum over rows, or one value per row with ``per_row``).

        Columns must be nodes; absent columns and NaN cells are summed out exactly.
        """
        self._check_fitted()
        data = check_dataframe(data)
        cols = [c for c in data.columns if c in self._index]
        codes = np.full((len(data), len(self._names)), -1, dtype=np.int64)
        if cols:
            codes[:, [self._index[c] for c in cols]] = self._encode(data, cols)
        uniq, inv = _unique_rows(codes, self._cards)
        mask = uniq >= 0
        ll = np.zeros(len(uniq))
        complete = mask.all(axis=1)
        if complete.any():
            sub = uniq[complete]
            acc = np.zeros(len(sub))
            for v in range(len(self._names)):
                idx = tuple(sub[:, u] for u in self._parents[v] + (v,))
                with np.errstate(divide="ignore"):
                    acc += np.log(self._cpts[v][idx])
            ll[complete] = acc
        rows_inc = np.flatnonzero(~complete)
        tree = self._junction({}) if len(rows_inc) and self._use_junction(len(rows_inc)) else None
        if tree is not None:
            ll[rows_inc] = self._tree_log_evidence(tree, uniq[rows_inc], list(range(len(self._names))))
        elif len(rows_inc):
            patterns, pinv = _unique_masks(mask[~complete])
            for k, pat in enumerate(patterns):
                rows = rows_inc[pinv == k]
                obs = tuple(int(i) for i in np.flatnonzero(pat))
                if not obs:
                    continue
                plan = self._plan((), obs, (), (), True, False)
                pe = kernels.run_plan(plan, self._cpts, {u: uniq[rows, u] for u in obs})
                with np.errstate(divide="ignore"):
                    ll[rows] = np.log(pe)
            # P(row) below ~1e-300 loses digits or underflows to 0 in the product of probabilities:
            # those rows are redone on the junction tree, which keeps log scales
            low = rows_inc[ll[rows_inc] < _LOG_TINY]
            if len(low):
                tree = self._junction({})
                if tree is not None:
                    ll[low] = self._tree_log_evidence(tree, uniq[low], list(range(len(self._names))))
        out = ll[inv]
        return out if per_row else float(out.sum())

    def _tree_log_evidence(self, tree: Any, codes: np.ndarray, col_ids: list[int]) -> np.ndarray:
        """log P(row) of each row of ``codes`` on the junction tree (compiled kernel when numba is
        importable, else the plain-Python kernel, which is meant for a few rows)."""
        from probwb.bn import junction

        _, logp = junction.tree_rows(tree, junction.root_tree(tree, -1), codes, col_ids)
        return logp

    def score(self, data: pd.DataFrame) -> float:
        """Return the total log-likelihood of ``data`` (see :meth:`log_likelihood`)."""
        return float(self.log_likelihood(data))

    def average_causal_effect(self, treatment: str, outcome: str, outcome_state: str,
                              treated: str, control: str,
                              evidence: Mapping[str, Any] | None = None) -> float:
        """Return P(outcome=outcome_state | do(treatment=treated)) - P(... | do(treatment=control)),
        optionally within the stratum ``evidence``."""
        self._check_structure()
        k = self._state_id(self._node_id(outcome), outcome_state)
        self._state_id(self._node_id(treatment), treated)
        self._state_id(self._node_id(treatment), control)
        p1 = self.query(outcome, evidence, do={treatment: treated}).iloc[k]
        p0 = self.query(outcome, evidence, do={treatment: control}).iloc[k]
        return float(p1 - p0)

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, random_state: int | np.random.Generator | None = None,
               do: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Return ``n`` forward samples as a DataFrame of categorical columns with the state names."""
        from probwb.bn.sampling import forward_sample

        self._check_fitted()
        rng = check_random_state(random_state if random_state is not None else self.random_state)
        dd = self._evidence_ids(do)
        codes = forward_sample(self._parents, self._cpts, int(n), rng, fixed=dd)
        return self._decode(codes)

    def _decode(self, codes: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({
            n: pd.Categorical.from_codes(codes[:, v], categories=self._states[v])
            for v, n in enumerate(self._names)})

    def approximate_query(self, variable: str, evidence: Mapping[str, Any] | None = None,
                          do: Mapping[str, Any] | None = None, *, n_samples: int = 10_000,
                          method: str = "likelihood_weighting",
                          random_state: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Return a sampling estimate of P(variable | evidence) with standard errors.

        ``method`` is ``"likelihood_weighting"`` or ``"forward"`` (rejection of samples that contradict
        the evidence). The DataFrame has columns ``probability``, ``se`` and one row per state; its
        ``attrs["effective_sample_size"]`` says how much information the weights kept.
        """
        from probwb.bn.sampling import forward_sample, likelihood_weighting, weighted_estimate

        self._check_fitted()
        rng = check_random_state(random_state if random_state is not None else self.random_state)
        v = self._node_id(variable)
        ev = self._evidence_ids(evidence)
        dd = self._evidence_ids(do)
        if method == "likelihood_weighting":
            codes, w = likelihood_weighting(self._parents, self._cpts, n_samples, rng, ev, dd)
        elif method == "forward":
            codes = forward_sample(self._parents, self._cpts, n_samples, rng, fixed=dd)
            ok = np.ones(n_samples, dtype=bool)
            for u, s in ev.items():
                ok &= codes[:, u] == s
            w = ok.astype(float)
        else:
            raise SpecError(f"method must be 'likelihood_weighting' or 'forward', found {method!r}")
        if not w.sum() > 0:
            raise ImpossibleEvidenceError(
                f"no sample is consistent with the evidence {self._evidence_text(ev, dd)} after "
                f"{n_samples} draws; use more samples or likelihood weighting")
        p, se, ess = weighted_estimate(codes[:, v], w, self._cards[v])
        frame = pd.DataFrame({"probability": p, "se": se},
                             index=pd.Index(self._states[v], name=variable))
        frame.attrs["effective_sample_size"] = ess
        return frame

    # ------------------------------------------------------------------ persistence
    def get_config(self) -> dict[str, Any]:
        """Return the constructor settings (used for the saved file's configuration hash)."""
        return {"structure": self.structure if self.structure is None else
                (dict(self.structure) if isinstance(self.structure, Mapping) else list(self.structure)),
                "states": dict(self.states) if self.states else None, "method": self.method,
                "prior": self.prior if not isinstance(self.prior, Mapping) else sorted(self.prior),
                "equivalent_sample_size": self.equivalent_sample_size, "latent": self.latent,
                "max_iter": self.max_iter, "tol": self.tol, "n_init": self.n_init,
                "n_posterior_draws": self.n_posterior_draws, "target": self.target,
                "elimination": self.elimination}

    def save(self, path: str | os.PathLike) -> Path:
        """Save the network atomically as a ``.pwb`` model file (data only, see probwb.core.io); return
        the path."""
        return save_model(path, self, config=self._file_config())

    @classmethod
    def load(cls, path: str | os.PathLike) -> BayesNet:
        """Load a network saved by :meth:`save` and return it; a foreign, damaged or edited file, or one
        whose CPTs fail validation, raises ModelFileError."""
        return load_model(path, cls)

    def _file_config(self) -> dict[str, Any]:
        """The constructor arguments as model-file values (a Generator seed is not stored)."""
        rs = self.random_state
        if rs is not None and not isinstance(rs, int | np.integer):
            logger.info("random_state %r is not saved (only integer seeds are)", type(rs).__name__)
            rs = None
        structure = self.structure
        if structure is not None:
            structure = ({str(k): [str(p) for p in (v or [])] for k, v in structure.items()}
                         if isinstance(structure, Mapping) else [(str(a), str(b)) for a, b in structure])
        prior = self.prior
        if isinstance(prior, Mapping):
            prior = {str(k): (np.asarray(v, dtype=float) if not isinstance(v, str) else v)
                     for k, v in prior.items()}
        return {"structure": structure,
                "states": None if self.states is None else {str(k): [str(s) for s in v]
                                                            for k, v in self.states.items()},
                "method": self.method, "prior": prior, "equivalent_sample_size": self.equivalent_sample_size,
                "latent": None if self.latent is None else [str(x) for x in self.latent],
                "max_iter": self.max_iter, "tol": self.tol, "n_init": self.n_init,
                "n_posterior_draws": self.n_posterior_draws, "target": self.target,
                "elimination": self.elimination, "random_state": None if rs is None else int(rs),
                "verbose": bool(self.verbose)}

    def _to_file_state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """Return ``(state, extras)`` for probwb.core.io.save_model: names, states, parents, CPTs and
        the fit's record (counts, Dirichlet parameters, EM summary, the data-augmentation draws behind
        credible intervals and the name of the interval method)."""
        d = self.__dict__
        state: dict[str, Any] = {
            "names": list(self._names),
            "states": [list(s) for s in self._states] if self._names else [],
            "parents": [[self._names[p] for p in pas] for pas in self._parents] if self._names else [],
            "cpts": None if self._cpts is None else list(self._cpts),
        }
        for key in ("method_", "n_rows_", "converged_", "n_iter_", "log_likelihood_", "interval_method_"):
            if key in d:
                state[key] = d[key]
        for key in ("counts_", "dirichlet_", "posterior_draws_"):
            if key in d:
                state[key] = None if d[key] is None else [d[key][n] for n in self._names]
        if "em_" in d:
            em = d["em_"]
            state["em_"] = None if em is None else {
                "cpts": list(em.cpts), "counts": list(em.counts), "log_likelihood": em.log_likelihood,
                "history": list(em.history), "converged": em.converged, "n_iter": em.n_iter,
                "all_log_likelihoods": list(em.all_log_likelihoods)}
        return state, {}

    @classmethod
    def _from_file_state(cls, state: Mapping[str, Any], extras: Mapping[str, bytes],
                         config: Mapping[str, Any]) -> BayesNet:
        """Rebuild a network from a model file's state through the constructor and the CPT validators;
        return it (a CPT that is not a distribution raises ProbabilityError)."""
        from probwb.errors import ModelFileError

        cfg = dict(config)
        structure, states = cfg.pop("structure"), cfg.pop("states")
        net = cls(structure, states, **cfg)
        names = [str(n) for n in state["names"]]
        if not names:
            return net
        st, pas = state["states"], state["parents"]
        if not (len(st) == len(pas) == len(names)):
            raise ModelFileError(f"BayesNet file: {len(names)} nodes but {len(st)} state lists and "
                                 f"{len(pas)} parent lists")
        parents = {n: [str(p) for p in ps] for n, ps in zip(names, pas, strict=True)}
        for n, ps in parents.items():
            for p in ps:
                if p not in parents:
                    raise ModelFileError(f"BayesNet file: node {n!r} has parent {p!r}, which is not a node")
        net._set_structure(parents, {n: [str(s) for s in ss] for n, ss in zip(names, st, strict=True)})
        if net._names != names:
            raise ModelFileError(f"BayesNet file: node order {names} is not a topological order of its parents")
        cpts = state["cpts"]
        if cpts is not None:
            if len(cpts) != len(names):
                raise ModelFileError(f"BayesNet file: {len(names)} nodes but {len(cpts)} CPTs")
            net._set_cpts({n: np.asarray(c) for n, c in zip(names, cpts, strict=True)})

        def tables(key: str, positive: bool) -> dict[str, np.ndarray] | None:
            arrs = state[key]
            if arrs is None:
                return None
            if net._cpts is None or len(arrs) != len(names):
                raise ModelFileError(f"BayesNet file: {key} does not match the network's nodes")
            out = {}
            for v, (n, a) in enumerate(zip(names, arrs, strict=True)):
                a = np.asarray(a, dtype=float)
                if a.shape != net._cpts[v].shape or not np.isfinite(a).all() or (a < 0).any() or (
                        positive and (a <= 0).any()):
                    raise ModelFileError(f"BayesNet file: {key} of node {n!r} must be finite non-negative "
                                         f"numbers of shape {net._cpts[v].shape}, found shape {a.shape}")
                out[n] = a
            return out

        for key in ("counts_", "dirichlet_"):
            if key in state:
                setattr(net, key, tables(key, positive=key == "dirichlet_"))
        if "posterior_draws_" in state:
            net.posterior_draws_ = net._checked_draws(state["posterior_draws_"])
        for key in ("method_", "n_rows_", "converged_", "n_iter_", "log_likelihood_"):
            if key in state:
                setattr(net, key, state[key])
        if "interval_method_" in state:
            im = state["interval_method_"]
            if im is not None and not isinstance(im, str):
                raise ModelFileError(f"BayesNet file: interval_method_ must be text or null, found "
                                     f"{type(im).__name__} {short_repr(im)}")
            net.interval_method_ = im
        if "em_" in state:
            em = state["em_"]
            net.em_ = None if em is None else learning.EMResult(
                cpts=[np.asarray(c) for c in em["cpts"]], counts=[np.asarray(c) for c in em["counts"]],
                log_likelihood=float(em["log_likelihood"]), history=[float(x) for x in em["history"]],
                converged=bool(em["converged"]), n_iter=int(em["n_iter"]),
                all_log_likelihoods=[float(x) for x in em["all_log_likelihoods"]])
        return net

    def _checked_draws(self, arrs: Sequence[Any] | None) -> dict[str, np.ndarray] | None:
        """Return a model file's ``posterior_draws_`` (one array per node, in node order) as the
        node -> draws dict, checked like user input: every node's draws have the shape
        ``(n_draws,) + CPT shape`` with one ``n_draws`` for all nodes, and each drawn distribution is
        finite, non-negative and sums to 1 within 1e-9. Wrong shapes raise ModelFileError, draws that
        are not distributions ProbabilityError."""
        from probwb.errors import ModelFileError

        if arrs is None:
            return None
        if self._cpts is None or not isinstance(arrs, list) or len(arrs) != len(self._names):
            found = len(arrs) if isinstance(arrs, list) else type(arrs).__name__
            raise ModelFileError(f"BayesNet file: posterior_draws_ must hold one array per node "
                                 f"({len(self._names)} nodes, CPTs present), found {found}")
        out: dict[str, np.ndarray] = {}
        n_draws: int | None = None
        for v, (name, raw) in enumerate(zip(self._names, arrs, strict=True)):
            a = np.asarray(raw)
            shape = self._cpts[v].shape
            if n_draws is None and a.ndim == len(shape) + 1 and a.shape[0] >= 1:
                n_draws = a.shape[0]
            want = (n_draws if n_draws is not None else "n_draws",) + shape
            if a.dtype.kind not in "biuf" or a.shape != want:
                raise ModelFileError(
                    f"BayesNet file: posterior_draws_ of node {name!r} must have shape {want} (draws, then "
                    f"the CPT's shape; the same number of draws for every node) and hold real numbers, "
                    f"found shape {a.shape} of dtype {a.dtype}")
            a = a.astype(float, copy=False)
            if not np.isfinite(a).all() or (a < 0).any():
                bad = np.argwhere(~np.isfinite(a) | (a < 0))[0]
                raise ProbabilityError(f"posterior_draws_ of node {name!r} has negative or non-finite entries, "
                                       f"e.g. {a[tuple(bad)]!r} at {bad.tolist()}")
            sums = a.sum(axis=-1)
            off = np.abs(sums - 1.0) > 1e-9
            if off.any():
                where = np.argwhere(off)[0]
                pas = [self._names[p] for p in self._parents[v]]
                conf = {pas[i]: self._states[self._parents[v][i]][int(k)] for i, k in enumerate(where[1:])}
                raise ProbabilityError(
                    f"posterior_draws_ of node {name!r}: each drawn distribution over its states must sum to 1 "
                    f"(within 1e-9); draw {int(where[0])} for parents {conf} sums to {sums[tuple(where)]:.12g} "
                    f"({int(off.sum())} such distribution(s))")
            out[name] = a
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_plans"] = OrderedDict()  # plans are cheap to rebuild and not worth storing
        state["_jt"] = {}
        state["_schedules"] = None
        return state

    def summary(self) -> pd.DataFrame:
        """Return one row per node: states, parents, number of CPT parameters; after a Bayesian
        fit, ``attrs["interval_method"]`` names how credible intervals draw the CPTs."""
        self._check_structure()
        frame = pd.DataFrame({
            "states": [", ".join(s) for s in self._states],
            "n_states": self._cards,
            "parents": [", ".join(self._names[p] for p in pas) for pas in self._parents],
            "n_parameters": [int(np.prod([self._cards[p] for p in pas])) * (self._cards[v] - 1)
                             for v, pas in enumerate(self._parents)],
        }, index=pd.Index(self._names, name="node"))
        if getattr(self, "interval_method_", None):
            frame.attrs["interval_method"] = self.interval_method_
        return frame

    def __repr__(self) -> str:
        from probwb.core import api

        shown = {}
        if self._names:
            shown["structure"] = f"<{len(self._names)} nodes, {sum(len(p) for p in self._parents)} edges>"
        return api.estimator_repr(self, always=("method",), shown=shown)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments as ``{name: value}``."""
        from probwb.core import api

        return api.get_params(self)

    def set_params(self, **params: Any) -> BayesNet:
        """Set constructor arguments (checked as the constructor checks them); return self, unfitted: the
        CPTs were learned under the old settings, so call fit again."""
        from probwb.core import api

        return api.set_params(self, params)

    def plot(self, kind: str = "network", ax: Any = None, **kwargs: Any) -> Any:
        """Draw a :mod:`probwb.bn.plots` figure and return its Axes.

        ``kind="network"``: the graph (keywords of ``plot_network``: ``highlight``, ``layout``, ...);
        ``kind="posterior"``: ``plot_posterior(self.query(variables, evidence, do))`` (keywords
        ``variables``, ``evidence``, ``do``, ``title``, ``color``).
        """
        from probwb.bn import plots
        from probwb.core import api

        def posterior(variables: Any, evidence: Any = None, do: Any = None, **kw: Any) -> Any:
            return plots.plot_posterior(self.query(variables, evidence, do), ax=ax, **kw)

        self._check_structure()
        return api.plot_kind(self, kind, {"network": lambda **kw: plots.plot_network(self, ax=ax, **kw),
                                          "posterior": posterior}, **kwargs)
