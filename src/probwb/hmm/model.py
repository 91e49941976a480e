"""The HMM estimator: named states, several observed columns, missing data, input-driven transitions."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.api import renamed_argument
from probwb.core.io import load_model, save_model
from probwb.core.logcontext import get_logger
from probwb.core.progress import Progress
from probwb.core.random import RandomState, check_random_state
from probwb.core.validation import (
    as_float_array,
    check_columns,
    check_dataframe,
    check_known_keys,
    check_stochastic,
)
from probwb.errors import (
    ConvergenceWarning,
    DataError,
    ImpossibleEvidenceError,
    ModelError,
    NotFittedError,
    StateError,
)
from probwb.hmm import _chunks
from probwb.hmm._chunks import run_chunks
from probwb.hmm.emissions import CategoricalEmission, Emission, make_emission
from probwb.hmm.iohmm import InputEncoder, LogitTransitions
from probwb.hmm.kernels import viterbi

__all__ = ["HMM", "SequenceData"]

# lines carry the model / fold the report runner and cross-validation set
_log = get_logger("probwb.hmm")


def _plain(value: Any) -> Any:
    """Return numpy scalars as Python scalars so messages read ``1`` rather than ``np.int64(1)``."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class SequenceData:
    """Sequences flattened to rows (sorted by entity, then time) with their padding coordinates.

    ``obs[col]`` (M,) floats with NaN = not observed; ``row_seq``/``row_pos`` place row ``m`` in the
    padded ``(N, T)`` layout; ``order`` gives each sorted row's position in the caller's data, or is None
    when the caller's rows were already sorted (``source_rows`` is then ``arange(M)``, built on demand);
    ``ids`` (N,) entity ids; ``design`` (M, K) input rows or None; ``gaps`` (M,) the number of grid
    steps from each row to its entity's next row (1 = consecutive; 1 on each entity's last row), or None
    when every step is consecutive.
    """

    ids: np.ndarray
    lengths: np.ndarray
    row_seq: np.ndarray
    row_pos: np.ndarray
    order: np.ndarray | None
    obs: dict[str, np.ndarray]
    design: np.ndarray | None
    times: np.ndarray | None = None
    gaps: np.ndarray | None = None
    _patterns: tuple[Any, ...] | None = None

    @property
    def n_rows(self) -> int:
        return int(self.row_seq.shape[0])

    @property
    def source_rows(self) -> np.ndarray:
        """Return each sorted row's position in the caller's data (M,)."""
        # the identity is not stored: for sorted input it would be 8 bytes per row kept for nothing (#22)
        return np.arange(self.n_rows) if self.order is None else self.order

    @property
    def max_len(self) -> int:
        return int(self.lengths.max())

    def pad(self, flat: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Return ``(N, T, ...)`` padded values from per-row values ``flat``."""
        N, T = self.lengths.shape[0], self.max_len
        if N * T == flat.shape[0]:
            # every sequence has the full length and rows are in (sequence, step) order: a reshape will do
            return flat.reshape(N, T, *flat.shape[1:])
        out = np.full((N, T, *flat.shape[1:]), fill, dtype=flat.dtype)
        out[self.row_seq, self.row_pos] = flat
        return out


def _prep_block_rows(n_rows: int) -> int:
    """Return how many rows the DataFrame preparation handles at a time.

    The same byte budget as the forward–backward chunks (8 bytes per data row, between ``CHUNK_BYTES / 8`` and
    ``CHUNK_BYTES``), spent on ~64 bytes of temporaries per row (diffs, masks, float copies of times).
    """
    budget = min(_chunks.CHUNK_BYTES, max(_chunks.CHUNK_BYTES // 8, 8 * int(n_rows)))
    return max(1, int(budget) // 64)


def _sorted_by_entity_time(codes: np.ndarray, times: np.ndarray, block: int) -> bool:
    """Return True if rows are sorted by entity code and, within an entity, by strictly increasing time."""
    n = codes.shape[0]
    for r0 in range(0, max(n - 1, 0), block):
        r1 = min(n, r0 + block + 1)
        step = np.diff(codes[r0:r1])
        if (step < 0).any():
            return False
        same = step == 0
        t = times[r0:r1]
        if not (t[1:][same] > t[:-1][same]).all():
            return False
    return True


def _em_gap(history: list[float]) -> tuple[float, float]:
    """Return (last gain, estimated gain still to come) of an EM objective history.

    EM's gains shrink geometrically near a maximum, ``g_k ~ r g_{k-1}``, so what is left is about
    ``g_k r / (1 - r)`` (Aitken). The larger of the last two ratios is used, and a ratio >= 1 (gains not
    yet shrinking) gives an infinite estimate. Gains at the level of rounding count as zero.
    """
    if len(history) < 2:
        return np.inf, np.inf
    gains = np.diff(history[-4:])
    g = float(gains[-1])
    if g <= 1e-13 * abs(history[-1]):
        return max(g, 0.0), 0.0
    if gains.shape[0] < 3 or (gains[:-1] <= 0).any():
        return g, np.inf
    r = float(max(gains[-1] / gains[-2], gains[-2] / gains[-3]))
    if r >= 1.0:
        return g, np.inf
    return g, g * r / (1.0 - r)


def _step_patterns(seq: SequenceData) -> tuple[Any, ...]:
    """Return (input patterns or None, padded matrix index or None, pattern of each stack entry, jump of each)."""
    if seq.design is not None:
        patterns, inverse = np.unique(seq.design, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1).astype(np.int64)
    else:
        patterns, inverse = None, np.zeros(seq.n_rows, dtype=np.int64)
    if seq.gaps is None:
        return patterns, (None if patterns is None else seq.pad(inverse, fill=0)), None, None
    combos, cidx = np.unique(np.column_stack([inverse, seq.gaps]), axis=0, return_inverse=True)
    return patterns, seq.pad(cidx.reshape(-1).astype(np.int64), fill=0), combos[:, 0], combos[:, 1]


def _jump_counts(A: np.ndarray, g: int, pairs: np.ndarray) -> np.ndarray:
    """Return expected one-step counts ``(S, S)`` inside ``g``-step jumps with expected end-pair counts ``pairs``.

    The top-right block of ``[[A, D], [0, A]]^g`` with ``D`` = ``A[i, j]`` at ``(i, j)`` only is
    ``sum_m A^m D A^(g-1-m)``: one matrix power per move ``(i, j)`` gives every numerator at once.
    """
    S = A.shape[0]
    aug = np.zeros((S * S, 2 * S, 2 * S))
    aug[:, :S, :S] = A
    aug[:, S:, S:] = A
    k = np.arange(S * S)
    aug[k, k // S, S + k % S] = A.reshape(-1)
    num = np.linalg.matrix_power(aug, g)[:, :S, S:]
    Ag = np.linalg.matrix_power(A, g)
    w = np.divide(pairs, Ag, out=np.zeros_like(pairs), where=Ag > 0)
    return np.einsum("ab,kab->k", w, num).reshape(S, S)


class HMM:
    """Hidden Markov model for many sequences, fitted by Baum–Welch EM.

    Parameters
    ----------
    n_states, state_names : number of hidden states, or their names (which fixes the number).
    emission : a dict column -> type ("poisson", "gaussian", "categorical"), e.g. ``{"purchases": "poisson"}``:
        the one spelling for DataFrames. A single type applies to the one observed column of a DataFrame
        (the column that is not the id, time or an input) or to every column of arrays.
    columns : deprecated (FutureWarning): ``emission="poisson", columns=["y"]`` is ``emission={"y": "poisson"}``.
    id_col, time_col : entity and time columns of a long DataFrame.
    time_gaps : what a jump in an entity's time column means. The grid step is the smallest step between
        two rows of one entity in the fit data (``time_step`` sets it instead: a number for numeric times,
        a duration such as ``"7D"`` for datetimes). With
        ``"power"`` (default) a jump of ``k`` grid steps moves the chain by the ``k``-th power of the
        transition matrix (the ``k - 1`` unseen steps are marginalised, exactly as rows with every
        observation missing would be) in fitting, scoring, posteriors and decoding; an input-driven chain
        keeps the input recorded before the jump over the whole jump. ``"error"`` raises a DataError naming
        the entity and the times; ``"consecutive"`` treats the rows as consecutive steps whatever the times
        say. A jump that is not a whole number of grid steps always raises. Non-numeric times only order rows.
    inputs : columns whose value at step ``t`` drives the transition ``t -> t + 1`` (input–output HMM,
        multinomial-logit link); ``input_baseline`` picks the baseline level of a categorical input.
    input_prior_sd : standard deviation of the Normal(0, sd) prior on every input coefficient (logit
        scale; default 2.5, weakly informative). The fit is then the posterior mode; the prior adds a fixed
        amount of information that does not grow with the data, so its pull fades as ``1 / n`` and the
        input effects are estimated consistently. ``None`` gives plain maximum likelihood.
    transmat_mask : (S, S) booleans (or DataFrame) of allowed moves; ``absorbing`` names states that never
        leave. Forbidden moves stay exactly zero.
    startprob, transmat : optional starting values (validated; their zeros stay zero).
    n_init, n_iter, tol : random restarts, the most EM iterations per restart, and the relative stopping
        tolerance: a restart has converged when both its last gain and the gain still to come (extrapolated
        from the geometric decay of the gains, Aitken's estimate) are below ``tol * |log-likelihood|``. EM is
        slow where a state is weakly identified, so a gain per iteration alone says little about the distance
        to the maximum; a restart that runs out of iterations warns with its estimated remaining gap.
    order_by : ``(column, stat)`` or ``(column, stat, "descending")``: states are ordered by that emission
        statistic (``"mean"``, or a symbol's probability for categorical columns) so names are stable.
    symbols : dict column -> list of symbols for categorical columns (default: learned at fit).
    """

    def __init__(
        self,
        n_states: int | None = None,
        *,
        state_names: list[str] | None = None,
        emission: str | dict[str, str] = "poisson",
        columns: list[str] | None = None,
        id_col: str = "id",
        time_col: str = "time",
        time_gaps: str = "power",
        time_step: float | None = None,
        inputs: list[str] | str | None = None,
        input_baseline: dict[str, Any] | None = None,
        input_prior_sd: float | None = 2.5,
        transmat_mask: Any = None,
        absorbing: list[str] | None = None,
        startprob: Any = None,
        transmat: Any = None,
        n_init: int = 5,
        n_iter: int = 1000,
        tol: float = 1e-8,
        order_by: tuple | None = None,
        symbols: dict[str, list[Any]] | None = None,
        min_covar: float = 1e-3,
        random_state: RandomState = None,
        verbose: bool = False,
    ) -> None:
        self.n_states = n_states
        self.state_names = state_names
        self.emission = emission
        self.columns = columns
        self.id_col = id_col
        self.time_col = time_col
        self.time_gaps = time_gaps
        self.time_step = time_step
        self.inputs = inputs
        self.input_baseline = input_baseline
        self.input_prior_sd = input_prior_sd
        self.transmat_mask = transmat_mask
        self.absorbing = absorbing
        self.startprob = startprob
        self.transmat = transmat
        self.n_init = n_init
        self.n_iter = n_iter
        self.tol = tol
        self.order_by = order_by
        self.symbols = symbols
        self.min_covar = min_covar
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ configuration
    def _config(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()
                if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        from probwb.core import api

        return api.estimator_repr(self, always=("emission",))

    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments as ``{name: value}``."""
        from probwb.core import api

        return api.get_params(self)

    def set_params(self, **params: Any) -> HMM:
        """Set constructor arguments; return self, unfitted (the parameters were learned under the old
        settings, so call fit again)."""
        from probwb.core import api

        return api.set_params(self, params)

    def plot(self, kind: str = "state_diagram", ax: Any = None, **kwargs: Any) -> Any:
        """Draw a :mod:`probwb.hmm.plots` figure of the fitted model and return its Axes.

        ``kind="state_diagram"`` (keywords ``inputs``, ``threshold``) or ``kind="state_posteriors"``
        (keywords ``data``, ``entity``, ``observed``: one entity's posterior state probabilities over time).
        """
        from probwb.core import api
        from probwb.hmm import plots

        self._check_fitted()
        return api.plot_kind(self, kind, {
            "state_diagram": lambda **kw: plots.plot_state_diagram(self, ax=ax, **kw),
            "state_posteriors": lambda data, entity, **kw: plots.plot_state_posteriors(self, data, entity,
                                                                                       ax=ax, **kw),
        }, **kwargs)

    def _resolve_states(self) -> list[str]:
        if self.state_names is not None:
            names = [str(s) for s in self.state_names]
            if len(set(names)) != len(names):
                raise ModelError(f"state_names must be distinct, found {names}")
            if self.n_states is not None and self.n_states != len(names):
                raise ModelError(f"n_states={self.n_states} but {len(names)} state_names were given: {names}")
            return names
        if self.n_states is None or int(self.n_states) < 1:
            raise ModelError(f"give n_states (an integer >= 1) or state_names, found n_states={self.n_states!r}")
        return [f"s{k}" for k in range(int(self.n_states))]

    def _check_input_prior(self) -> float | None:
        sd = self.input_prior_sd
        if sd is None:
            return None
        try:
            sd = float(sd)
        except (TypeError, ValueError):
            sd = float("nan")
        if not np.isfinite(sd) or sd <= 0:
            raise ModelError(f"input_prior_sd must be a positive number or None (no prior), found {self.input_prior_sd!r}")
        return sd

    def _input_list(self) -> list[str]:
        if self.inputs is None:
            return []
        return [self.inputs] if isinstance(self.inputs, str) else list(self.inputs)

    def _resolve_emissions(self, data: pd.DataFrame | None, n_cols_array: int | None) -> dict[str, Emission]:
        if isinstance(self.emission, dict):
            if self.columns is not None:
                from probwb.core.validation import short_repr

                raise ModelError(f"give the observed columns once: emission={short_repr(self.emission)} names "
                                 f"them, and columns={short_repr(self.columns)} was given too; drop columns=")
            spec = dict(self.emission)
        else:
            if self.columns is not None:
                # one spelling per concept (#20): the README, notebooks and specs write emission={column: type}
                from probwb.core.api import user_stacklevel

                cols = list(self.columns)
                warnings.warn(f"columns= with emission={self.emission!r} is deprecated and will be removed; write "
                              f"emission={dict.fromkeys(map(str, cols), self.emission)!r}",
                              FutureWarning, stacklevel=user_stacklevel())
            elif data is not None:
                skip = {self.id_col, self.time_col, *self._input_list()}
                cols = [c for c in data.columns if c not in skip]
                if len(cols) != 1:
                    raise DataError(
                        f"say which columns are observed (emission={{column: type}}); candidates found: {cols}"
                    )
            else:
                cols = ["y"] if n_cols_array in (None, 1) else [f"y{k}" for k in range(n_cols_array)]
            spec = dict.fromkeys(cols, self.emission)
        if not spec:
            raise ModelError("emission: at least one observed column is needed")
        if self.symbols:
            check_known_keys(self.symbols, [c for c, k in spec.items() if k == "categorical"], where="symbols",
                             what="categorical column", error=StateError, log_left=False)
        out = {}
        for col, kind in spec.items():
            opts: dict[str, Any] = {}
            if kind == "gaussian":
                opts["min_covar"] = self.min_covar
            if kind == "categorical" and self.symbols and col in self.symbols:
                opts["symbols"] = self.symbols[col]
            out[col] = make_emission(kind, col, **opts)
        return out

    def _resolve_mask(self, names: list[str]) -> np.ndarray:
        S = len(names)
        mask = np.ones((S, S), dtype=bool)
        if self.transmat_mask is not None:
            m = self.transmat_mask
            if isinstance(m, pd.DataFrame):
                missing = [s for s in names if s not in m.index or s not in m.columns]
                if missing:
                    raise StateError(f"transmat_mask lacks state(s) {missing}; states are {names}")
                m = m.loc[names, names].to_numpy()
            try:
                m = np.asarray(m)
            except ValueError:
                rows = [len(r) if hasattr(r, "__len__") else 1 for r in m]
                raise ModelError(f"transmat_mask must have shape ({S}, {S}), found ragged rows of lengths "
                                 f"{rows}") from None
            if m.shape != (S, S):
                raise ModelError(f"transmat_mask must have shape ({S}, {S}), found {m.shape}")
            mask &= m.astype(bool)
        for s in self.absorbing or []:
            if s not in names:
                raise StateError(f"absorbing state {s!r} is not a state; states are {names}")
            i = names.index(s)
            mask[i] = False
            mask[i, i] = True
        empty = np.flatnonzero(~mask.any(axis=1))
        if empty.size:
            raise ModelError(f"transmat_mask forbids every move out of state {names[int(empty[0])]!r}")
        return mask

    # ------------------------------------------------------------------ data
    def _to_sequences(self, data: Any, *, fitting: bool) -> SequenceData:
        if isinstance(data, pd.DataFrame):
            return self._frame_to_sequences(data, fitting=fitting)
        if isinstance(data, np.ndarray) and data.ndim <= 2:
            data = [data]
        if isinstance(data, list | tuple):
            return self._arrays_to_sequences(list(data), fitting=fitting)
        raise DataError(f"data must be a long DataFrame or a list of arrays, found {type(data).__name__}")

    def _arrays_to_sequences(self, arrays: list[Any], *, fitting: bool) -> SequenceData:
        if not arrays:
            raise DataError("data is an empty list: expected at least one sequence")
        if self._input_list():
            raise DataError("an input-driven HMM needs a DataFrame holding the input columns, found a list of arrays")
        arrs = [np.asarray(a) for a in arrays]
        width = 1 if arrs[0].ndim == 1 else arrs[0].shape[1]
        for i, a in enumerate(arrs):
            w = 1 if a.ndim == 1 else a.shape[1]
            if a.ndim > 2 or w != width or a.shape[0] == 0:
                raise DataError(f"sequence {i}: expected a non-empty array with {width} column(s), found shape {a.shape}")
        if fitting:
            self._emissions = self._resolve_emissions(None, width)
        cols = list(self._emissions)
        if len(cols) != width:
            raise DataError(f"sequences have {width} column(s) but the model observes {len(cols)}: {cols}")
        stacked = np.concatenate([a.reshape(a.shape[0], width) for a in arrs], axis=0)
        frame = pd.DataFrame({c: stacked[:, k] for k, c in enumerate(cols)})
        lengths = np.array([a.shape[0] for a in arrs])
        row_seq = np.repeat(np.arange(len(arrs)), lengths)
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        row_pos = np.arange(row_seq.shape[0]) - starts[row_seq]
        obs = {c: self._emissions[c].encode(frame[c], fitting=fitting) for c in cols}
        return SequenceData(ids=np.arange(len(arrs)), lengths=lengths, row_seq=row_seq, row_pos=row_pos,
                            order=None, obs=obs, design=None, times=row_pos)

    def _frame_to_sequences(self, data: pd.DataFrame, *, fitting: bool) -> SequenceData:
        check_dataframe(data)
        check_columns(data, [self.id_col, self.time_col])
        if fitting:
            self._emissions = self._resolve_emissions(data, None)
        cols = list(self._emissions)
        check_columns(data, [self.id_col, self.time_col, *cols, *self._input_list()])
        for c in (self.id_col, self.time_col):
            miss = data[c].isna().to_numpy()
            if miss.any():
                raise DataError(f"column {c!r} has {int(miss.sum())} missing value(s) (first at row "
                                f"{int(np.flatnonzero(miss)[0])}); every row needs an entity and a time")
            del miss
        # the preparation works on blocks of rows so that no full-size temporary (diffs, masks, float copies)
        # exists next to the arrays the sequences keep (#22): its peak is those arrays plus one block's worth
        codes, uniques = pd.factorize(data[self.id_col], sort=True)
        times = data[self.time_col].to_numpy()
        n = codes.shape[0]
        block = _prep_block_rows(n)
        lengths = np.bincount(codes, minlength=len(uniques))
        if _sorted_by_entity_time(codes, times, block):
            order, identity = None, True  # already sorted by entity then time: no reshuffle, no index array
            sc, st = codes, times
        else:
            order, identity = np.lexsort((times, codes)), False
            sc = codes[order]
            del codes
            st = times[order]
            for r0 in range(0, max(n - 1, 0), block):
                r1 = min(n, r0 + block + 1)
                dup = (sc[r0 + 1:r1] == sc[r0:r1 - 1]) & (st[r0 + 1:r1] == st[r0:r1 - 1])
                if dup.any():
                    k = r0 + int(np.flatnonzero(dup)[0])
                    raise DataError(f"entity {_plain(uniques[sc[k]])!r} has two rows at "
                                    f"{self.time_col}={_plain(st[k])!r}; expected one row per entity and time step")
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        row_pos = np.arange(n)
        for r0 in range(0, n, block):
            row_pos[r0:r0 + block] -= starts[sc[r0:r0 + block]]
        del starts
        obs = {c: self._encode_column(data[c], order, identity, block, fitting=fitting) for c in cols}
        design = None
        if self._input_list():
            inputs = data[self._input_list()]
            sub = inputs if identity else inputs.iloc[order]
            if fitting:
                self._encoder = InputEncoder(self._input_list(), self.input_baseline).fit(sub)
            design = self._encoder.transform(sub.reset_index(drop=True))
            del sub
        gaps = self._time_gaps(sc, st, uniques, fitting=fitting, block=block)
        return SequenceData(ids=np.asarray(uniques, dtype=object), lengths=lengths, row_seq=sc, row_pos=row_pos,
                            order=order, obs=obs, design=design, times=st, gaps=gaps)

    def _encode_column(self, column: pd.Series, order: np.ndarray | None, identity: bool, block: int, *,
                       fitting: bool) -> np.ndarray:
        """Return the column's encoded values (float, NaN = not observed) in sorted row order."""
        em = self._emissions[column.name]
        n = column.shape[0]
        if fitting or n <= block:
            # fitting learns from the whole column (e.g. the symbols of a categorical one)
            whole = column if identity else column.iloc[order]
            return em.encode(whole.reset_index(drop=True), fitting=fitting)
        out = np.empty(n)
        try:
            for r0 in range(0, n, block):
                part = column.iloc[r0:r0 + block] if identity else column.iloc[order[r0:r0 + block]]
                out[r0:r0 + block] = em.encode(part.reset_index(drop=True), fitting=False)
        except ValueError:
            # bad values: encode the whole column so the message names the row exactly as it always has
            del out
            whole = column if identity else column.iloc[order]
            return em.encode(whole.reset_index(drop=True), fitting=False)
        return out

    def _time_gaps(self, sc: np.ndarray, st: np.ndarray, uniques: Any, *, fitting: bool,
                   block: int | None = None) -> np.ndarray | None:
        """Return each sorted row's number of grid steps to its entity's next row, or None if all are 1."""
        if self.time_gaps not in ("power", "error", "consecutive"):
            raise ModelError(f"time_gaps must be 'power', 'error' or 'consecutive', found {self.time_gaps!r}")
        if fitting:
            self.time_step_ = None
        if self.time_gaps == "consecutive" or st.shape[0] < 2:
            return None
        if np.issubdtype(st.dtype, np.datetime64):
            def as_float(t: np.ndarray) -> np.ndarray:
                return t.astype("datetime64[ns]").astype(np.int64).astype(float)
            unit = 1e9
        elif np.issubdtype(st.dtype, np.timedelta64):
            def as_float(t: np.ndarray) -> np.ndarray:
                return t.astype("timedelta64[ns]").astype(np.int64).astype(float)
            unit = 1e9
        elif np.issubdtype(st.dtype, np.number) and not np.issubdtype(st.dtype, np.bool_):
            def as_float(t: np.ndarray) -> np.ndarray:
                return t.astype(float)
            unit = 1.0
        else:
            return None  # labels that only order the rows: every step counts as one
        n = st.shape[0]
        block = block or _prep_block_rows(n)

        def pairs() -> Any:
            # (first row, same-entity mask, time differences of the same-entity pairs) block by block
            for r0 in range(0, n - 1, block):
                r1 = min(n, r0 + block + 1)
                same = sc[r0 + 1:r1] == sc[r0:r1 - 1]
                t = as_float(st[r0:r1])
                yield r0, same, (t[1:] - t[:-1])[same]

        step = getattr(self, "time_step_", None)
        if self.time_step is not None:
            try:
                # datetimes take a duration ("7D", a Timedelta); numeric times a number
                step = (float(pd.Timedelta(self.time_step).value) if unit != 1.0 and not isinstance(
                    self.time_step, int | float) else float(self.time_step) * unit)
            except (TypeError, ValueError):
                step = float("nan")
            if not np.isfinite(step) or step <= 0 or (unit != 1.0 and isinstance(self.time_step, int | float)):
                raise ModelError(f"time_step must be a positive number for numeric times or a duration such as "
                                 f"'7D' for datetimes, found {self.time_step!r} for a {st.dtype} time column")
        if step is None:
            smallest = [float(d.min()) for _, _, d in pairs() if d.size]
            if not smallest:
                return None
            step = min(smallest)
        if fitting:
            self.time_step_ = step
        n_off = n_big = 0
        first_off = first_big = None  # (row, ratio, k) of the first off-grid / multi-step jump
        gaps = None
        for r0, same, diff in pairs():
            ratio = diff / step
            k = np.rint(ratio)
            off = (np.abs(ratio - k) > 1e-6 * np.maximum(k, 1.0)) | (k < 1)
            big = k > 1
            if off.any():
                n_off += int(off.sum())
                if first_off is None:
                    i = int(np.flatnonzero(off)[0])
                    first_off = (r0 + int(np.flatnonzero(same)[i]), ratio[i], k[i])
            if big.any():
                n_big += int(big.sum())
                if first_big is None:
                    i = int(np.flatnonzero(big)[0])
                    first_big = (r0 + int(np.flatnonzero(same)[i]), ratio[i], k[i])
                if gaps is None:
                    gaps = np.ones(n, dtype=np.int64)
                gaps[r0 + np.flatnonzero(same)[big]] = k[big].astype(np.int64)
        if n_off or (self.time_gaps == "error" and n_big):
            row, r, kk = first_off if n_off else first_big
            where = (f"entity {_plain(uniques[sc[row]])!r} jumps from {self.time_col}={_plain(st[row])!r} to "
                     f"{_plain(st[row + 1])!r}")
            if n_off:
                raise DataError(f"{where}: expected a whole number of grid steps of {step / unit:g} (the smallest "
                                f"step in the data, or time_step), found {r:.6g}; {n_off} such jump(s)")
            raise DataError(f"{where} ({int(kk)} grid steps of {step / unit:g}); time_gaps='error' refuses "
                            f"jumps ({n_big} found): use time_gaps='power' to model them as unseen steps "
                            "or 'consecutive' to ignore the times")
        return gaps


    # ------------------------------------------------------------------ parameters
    def _emission_loglik(self, seq: SequenceData, emissions: dict[str, Emission] | None = None,
                         rows: slice | None = None) -> np.ndarray:
        """Return the ``(M, S)`` emission log-likelihoods of every row, or of the rows in ``rows``."""
        emissions = emissions or self._emissions
        rows = slice(None) if rows is None else rows
        total = None
        for col, em in emissions.items():
            ll = em.loglik(seq.obs[col][rows])
            total = ll if total is None else total + ll
        return total

    def _run_fb(self, seq: SequenceData, start: np.ndarray, trans: Any, emissions: dict[str, Emission] | None = None,
                **kw: Any) -> Any:
        """Forward–backward over ``seq`` in chunks of sequences (bounded memory); see :func:`run_chunks`."""
        A, idx, _ = self._transitions(seq, trans)
        return run_chunks(seq, lambda r0, r1: self._emission_loglik(seq, emissions, slice(r0, r1)),
                          start, A, idx, **kw)

    def _transitions(self, seq: SequenceData, trans: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Return (transmat or stack, trans_index padded or None, pattern design rows or None).

        A jump of ``k`` grid steps gets the ``k``-th power of its step's matrix: the stack then holds one
        matrix per (input pattern, jump) pair.
        """
        if seq._patterns is None:
            seq._patterns = _step_patterns(seq)
        patterns, idx, combo_pat, combo_gap = seq._patterns
        if combo_gap is None:
            return (trans if patterns is None else trans.matrices(patterns)), idx, patterns
        base = np.asarray(trans)[None] if patterns is None else trans.matrices(patterns)
        stack = np.stack([base[p] if g == 1 else np.linalg.matrix_power(base[p], int(g))
                          for p, g in zip(combo_pat, combo_gap, strict=True)])
        return stack, idx, patterns

    def _single_step_counts(self, seq: SequenceData, xi_sum: np.ndarray, trans: Any) -> np.ndarray:
        """Turn expected pair counts per (pattern, jump) into expected one-step counts per pattern.

        Over a jump of ``g`` steps the expected number of ``i -> j`` moves given the states ``a`` before and
        ``b`` after is ``sum_m (A^m)[a, i] A[i, j] (A^(g-1-m))[j, b] / (A^g)[a, b]``.
        """
        patterns, _, combo_pat, combo_gap = seq._patterns
        if combo_gap is None:
            return xi_sum
        base = np.asarray(trans)[None] if patterns is None else trans.matrices(patterns)
        out = np.zeros(base.shape)
        for c, (p, g) in enumerate(zip(combo_pat, combo_gap, strict=True)):
            out[p] += xi_sum[c] if g == 1 else _jump_counts(base[p], int(g), xi_sum[c])
        return out if patterns is not None else out[0]

    def _init_run(self, seq: SequenceData, rng: np.random.Generator, mask: np.ndarray) -> tuple[Any, ...]:
        S = len(self.state_names_)
        emissions = {c: copy.deepcopy(em) for c, em in self._emissions.items()}
        for col, em in emissions.items():
            x = seq.obs[col]
            em.init(x[~np.isnan(x)], S, rng)
        if self.order_by is not None:
            # start with states already in the requested order so structural zeros line up with names
            col, stat, desc = self._order_spec()
            key = emissions[col].order_key(stat)
            perm = np.argsort(-key if desc else key, kind="stable")
            emissions[col].permute(perm)
        if self.startprob is not None:
            start = self._user_startprob.copy()
        else:
            start = rng.dirichlet(np.full(S, 5.0))
        if self.transmat is not None:
            tm = self._user_transmat.copy()
        else:
            tm = rng.dirichlet(np.full(S, 2.0), size=S) + np.eye(S) * S * 2.0
            tm = np.where(mask, tm, 0.0)
            tm /= tm.sum(axis=1, keepdims=True)
        if self._input_list():
            trans = LogitTransitions(mask, len(self._encoder.names_), prior_sd=self._check_input_prior())
            trans.init_from(tm)
        else:
            trans = tm
        return start, trans, emissions

    def _order_spec(self) -> tuple[str, str, bool]:
        ob = self.order_by
        if isinstance(ob, str):
            ob = (ob, "mean")
        if not isinstance(ob, tuple | list) or len(ob) not in (2, 3):
            raise ModelError(f"order_by must be (column, stat) or (column, stat, 'descending'), found {ob!r}")
        col, stat = ob[0], ob[1]
        desc = len(ob) == 3 and str(ob[2]).lower() in ("descending", "desc")
        if len(ob) == 3 and str(ob[2]).lower() not in ("descending", "desc", "ascending", "asc"):
            raise ModelError(f"order_by direction must be 'ascending' or 'descending', found {ob[2]!r}")
        if col not in self._emissions:
            raise ModelError(f"order_by column {col!r} is not observed; observed columns: {list(self._emissions)}")
        return col, str(stat), desc

    @classmethod
    def from_params(
        cls,
        startprob: Any,
        transmat: Any,
        emissions: dict[str, tuple[str, dict[str, Any]]],
        *,
        state_names: list[str] | None = None,
        **options: Any,
    ) -> HMM:
        """Return a ready-to-use HMM with given parameters (no inputs).

        ``emissions`` maps column -> (kind, params): ``("poisson", {"rates": ...})``,
        ``("gaussian", {"means": ..., "covars": ...})`` or
        ``("categorical", {"emissionprob": ..., "symbols": [...]})``. Probabilities are validated.
        """
        tm = as_float_array(transmat, name="transmat", error=ModelError)
        if tm.ndim != 2 or tm.shape[0] != tm.shape[1] or tm.shape[0] == 0:
            raise ModelError(f"transmat must be a square (S, S) matrix with S >= 1, found shape {tm.shape}")
        S = tm.shape[0]
        names = list(state_names) if state_names is not None else [f"s{k}" for k in range(S)]
        tm = check_stochastic(tm, name="transmat", labels=names)
        sp = as_float_array(startprob, name="startprob", error=ModelError)
        if sp.ndim != 1:
            raise ModelError(f"startprob must be a vector of {S} probabilities, found shape {sp.shape}")
        sp = check_stochastic(sp[None, :], name="startprob")[0]
        if tm.shape != (S, S) or sp.shape != (S,) or len(names) != S:
            raise ModelError(f"startprob {sp.shape}, transmat {tm.shape} and {len(names)} state names disagree")
        kinds = {c: k for c, (k, _) in emissions.items()}
        model = cls(state_names=names, emission=kinds, **options)
        if model._input_list():
            raise ModelError("from_params builds HMMs without inputs; fit an input-driven HMM to data")
        ems: dict[str, Emission] = {}
        for col, (kind, params) in emissions.items():
            params = dict(params)
            opts = {"symbols": params.pop("symbols")} if kind == "categorical" and "symbols" in params else {}
            em = make_emission(kind, col, **opts)
            if kind == "categorical" and em.symbols_ is None:
                em.symbols_ = list(range(np.asarray(params["emissionprob"]).shape[1]))
            em.set_params(**params)
            if em.n_states != S:
                raise ModelError(f"emission parameters of {col!r} are for {em.n_states} states, expected {S}")
            ems[col] = em
        model._emissions = ems
        model.state_names_ = names
        model.startprob_ = sp
        model._trans = tm
        model.transmat_mask_ = tm > 0
        model.loglik_ = float("nan")
        model.n_obs_ = 0
        model.converged_ = True
        model._publish()
        return model

    # ------------------------------------------------------------------ fitting
    def fit(self, data: Any) -> HMM:
        """Fit by EM with ``n_init`` restarts from data-based starting values; return self."""
        names = self._resolve_states()
        self.state_names_ = names
        S = len(names)
        seq = self._to_sequences(data, fitting=True)
        mask = self._resolve_mask(names)
        self.transmat_mask_ = mask
        self._user_startprob = None
        self._user_transmat = None
        if self.startprob is not None:
            sp = check_stochastic(np.asarray(self.startprob, dtype=float)[None, :], name="startprob")[0]
            if sp.shape != (S,):
                raise ModelError(f"startprob must have {S} entries, found {sp.shape}")
            self._user_startprob = sp
        if self.transmat is not None:
            tm = self.transmat
            if isinstance(tm, pd.DataFrame):
                tm = tm.loc[names, names].to_numpy()
            tm = check_stochastic(np.asarray(tm, dtype=float), name="transmat", labels=names)
            if tm.shape != (S, S):
                raise ModelError(f"transmat must have shape ({S}, {S}), found {tm.shape}")
            if (tm[~mask] > 0).any():
                raise ModelError("transmat puts probability on a move that transmat_mask/absorbing forbid")
            self._user_transmat = tm
            self.transmat_mask_ = mask = mask & (tm > 0)
        observed = np.zeros(seq.n_rows, dtype=bool)
        for x in seq.obs.values():
            observed |= ~np.isnan(x)
        n_obs = int(observed.sum())
        if n_obs < S:
            raise DataError(f"only {n_obs} observed time step(s) for {S} states: expected at least one per state")
        if self.order_by is not None:
            self._order_spec()
        rng = check_random_state(self.random_state)
        if int(self.n_init) < 1 or int(self.n_iter) < 1:
            raise ModelError(f"n_init and n_iter must be >= 1, found {self.n_init}, {self.n_iter}")
        if not (float(self.tol) > 0):
            raise ModelError(f"tol must be a positive relative tolerance, found {self.tol!r}")
        self._check_input_prior()

        best = None
        for run in range(int(self.n_init)):
            params = self._init_run(seq, rng, mask)
            out = self._em(seq, *params, n_rows=max(n_obs, 1), run=run)
            _log.info("restart %d/%d: log-likelihood %.6f after %d iterations (converged=%s)",
                      run + 1, int(self.n_init), out["loglik"], out["n_iter"], out["converged"])
            if best is None or out["loglik"] > best["loglik"]:
                best = out
        self.startprob_ = best["start"]
        self._trans = best["trans"]
        self._emissions = best["emissions"]
        self.loglik_ = float(best["loglik"])
        self.history_ = best["history"]
        self.n_iter_ = best["n_iter"]
        self.converged_ = best["converged"]
        self.n_obs_ = n_obs
        self.n_sequences_ = int(seq.lengths.shape[0])
        self.convergence_gap_ = float(best["gap"])
        if not self.converged_:
            warnings.warn(
                f"HMM EM stopped after n_iter={self.n_iter} iterations without converging: the log-likelihood "
                f"{best['loglik']:.6g} was still rising by {best['last_gain']:.3g} per iteration, with about "
                f"{best['gap']:.3g} more to gain (tolerance {float(self.tol) * abs(best['objective']):.3g} = "
                f"tol={self.tol} x |log-likelihood|); raise n_iter", ConvergenceWarning, stacklevel=2)
        self._apply_order()
        self._publish()
        return self

    def _em(self, seq: SequenceData, start: np.ndarray, trans: Any, emissions: dict[str, Emission],
            n_rows: int, run: int) -> dict[str, Any]:
        # history holds the objective EM raises: the log-likelihood plus, for input-driven transitions,
        # the log prior of the input coefficients (generalised EM makes that sum non-decreasing)
        history: list[float] = []
        converged = False
        gain = gap = np.inf
        ll_total = np.nan
        N = seq.lengths.shape[0]
        bar = Progress(total=int(self.n_iter), desc=f"HMM EM (restart {run + 1}/{self.n_init})",
                       disable=not self.verbose)
        for _ in range(int(self.n_iter)):
            stats: dict[str, Any] = dict.fromkeys(emissions)

            def collect(r0: int, r1: int, g: np.ndarray, stats: dict[str, Any] = stats) -> None:
                for col, em in emissions.items():
                    stats[col] = em.add_stats(stats[col], em.suff_stats(seq.obs[col][r0:r1], g))

            res = self._run_fb(seq, start, trans, emissions, xi=True, on_chunk=collect)
            patterns = seq._patterns[0]
            ll_total = float(res.log_prob.sum())
            if not np.isfinite(ll_total):
                bad = int(np.flatnonzero(~np.isfinite(res.log_prob))[0])
                raise ModelError(f"sequence {_plain(seq.ids[bad])!r} has probability zero under the current parameters "
                                 "(an observation no state can emit, or a forbidden move)")
            total = ll_total + (trans.log_prior() if isinstance(trans, LogitTransitions) else 0.0)
            history.append(total)
            bar.update(1, f"log-likelihood {ll_total:.6g}")
            gain, gap = _em_gap(history)
            if max(gain, gap) <= float(self.tol) * abs(total):
                converged = True
                break
            # M-step
            start = res.start_sum / N
            for col, em in emissions.items():
                em.mstep_stats(stats[col])
            counts = self._single_step_counts(seq, res.xi_sum, trans)
            if isinstance(trans, LogitTransitions):
                trans.mstep(counts, patterns)
            else:
                rows = counts.sum(axis=1, keepdims=True)
                trans = np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), trans)
        bar.close()
        if not converged:
            # the last M-step moved the parameters past the last evaluation: score them
            ll_total = float(self._run_fb(seq, start, trans, emissions).log_prob.sum())
            history.append(ll_total + (trans.log_prior() if isinstance(trans, LogitTransitions) else 0.0))
            gain, gap = _em_gap(history)
        return {"start": start, "trans": trans, "emissions": emissions, "loglik": ll_total,
                "objective": history[-1], "history": history, "n_iter": len(history), "converged": converged,
                "last_gain": gain, "gap": gap}

    def _apply_order(self) -> None:
        if self.order_by is None:
            return
        col, stat, desc = self._order_spec()
        key = self._emissions[col].order_key(stat)
        perm = np.argsort(-key if desc else key, kind="stable")
        if (perm == np.arange(perm.size)).all():
            return
        mask = self.transmat_mask_
        if not (mask[perm][:, perm] == mask).all():
            _log.info("order_by permutation %s would break the transition structure; states keep the "
                      "order the structure gives them", perm)
            return
        self.startprob_ = self.startprob_[perm]
        for em in self._emissions.values():
            em.permute(perm)
        if isinstance(self._trans, LogitTransitions):
            self._trans.permute(perm)
        else:
            self._trans = self._trans[perm][:, perm]

    def _publish(self) -> None:
        names = self.state_names_
        if isinstance(self._trans, LogitTransitions):
            self.transmat_ = self._trans.matrices(np.zeros((1, self._trans.n_features)))[0]
            self.transition_coef_ = {
                "intercept": pd.DataFrame(self._trans.intercept_, index=names, columns=names),
                **{f: pd.DataFrame(self._trans.coef_[k], index=names, columns=names)
                   for k, f in enumerate(self._encoder.names_)},
            }
        else:
            self.transmat_ = np.asarray(self._trans)
        self.emissions_ = self._emissions
        self.emission_probs_ = {}
        self.rates_ = {}
        self.means_ = {}
        self.covars_ = {}
        for col, em in self._emissions.items():
            if em.kind == "categorical":
                self.emission_probs_[col] = pd.DataFrame(em.emissionprob_, index=names,
                                                         columns=[str(s) for s in em.symbols_])
            elif em.kind == "poisson":
                self.rates_[col] = pd.Series(em.rates_, index=names, name=col)
            elif em.kind == "gaussian":
                self.means_[col] = pd.Series(em.means_, index=names, name=col)
                self.covars_[col] = pd.Series(em.covars_, index=names, name=col)

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "startprob_"):
            raise NotFittedError("this HMM is not fitted yet: call fit(data) first")

    def transmat_for(self, inputs: dict[str, Any] | None = None) -> np.ndarray:
        """Return the ``(S, S)`` transition matrix at the given input values (baseline for those left out)."""
        self._check_fitted()
        if not isinstance(self._trans, LogitTransitions):
            if inputs:
                raise StateError(f"this HMM has no inputs, found {sorted(inputs)}")
            return self.transmat_.copy()
        X = self._encoder.transform(dict(inputs or {}))
        return self._trans.matrices(X)[0]

    def _forward(self, data: Any, *, posteriors: bool) -> tuple[SequenceData, Any]:
        self._check_fitted()
        seq = self._to_sequences(data, fitting=False)
        return seq, self._run_fb(seq, self.startprob_, self._trans, keep_gamma=posteriors)

    def score(self, data: Any, *, per_sequence: bool = False) -> float | pd.Series:
        """Return the total log-likelihood, or with ``per_sequence=True`` a Series indexed by entity id."""
        seq, res = self._forward(data, posteriors=False)
        if per_sequence:
            return pd.Series(res.log_prob, index=pd.Index(seq.ids, name=self.id_col), name="loglik")
        return float(res.log_prob.sum())

    def _row_frame(self, data: Any, seq: SequenceData, values: np.ndarray, columns: list[str], *,
                   in_caller_order: bool = False) -> pd.DataFrame:
        """Return a frame of per-sorted-row values put back in the caller's row order (or already in it)."""
        if in_caller_order or seq.order is None:
            out = values
        else:
            out = np.empty_like(values)
            out[seq.order] = values
        if isinstance(data, pd.DataFrame):
            index = data.index
        else:
            # list input keeps its order (order is None): build the index from codes directly
            index = pd.MultiIndex(levels=[np.arange(seq.lengths.shape[0]), np.arange(seq.max_len)],
                                  codes=[seq.row_seq, seq.row_pos], names=["sequence", "step"],
                                  verify_integrity=False)
        # ``out`` is ours alone: let the frame hold it rather than copy it (pandas 3 copies 2-D arrays by default)
        return pd.DataFrame(out, index=index, columns=columns, copy=False)

    def predict_proba(self, data: Any) -> pd.DataFrame:
        """Return state posteriors P(state at t | whole sequence): one row per input row, one column per state."""
        self._check_fitted()
        seq = self._to_sequences(data, fitting=False)
        # each chunk's posteriors go straight to their caller rows: no full sorted-order copy, no gather by
        # the identity, no reordering copy afterwards (#22); the values are the kept posteriors' exactly
        out = np.empty((seq.n_rows, len(self.state_names_)))

        def put(r0: int, r1: int, g: np.ndarray) -> None:
            if seq.order is None:
                out[r0:r1] = g
            else:
                out[seq.order[r0:r1]] = g

        res = self._run_fb(seq, self.startprob_, self._trans, on_chunk=put)
        self._raise_impossible(seq, res.log_prob)
        return self._row_frame(data, seq, out, list(self.state_names_), in_caller_order=True)

    def _raise_impossible(self, seq: SequenceData, log_prob: np.ndarray) -> None:
        bad = ~np.isfinite(log_prob)
        if bad.any():
            raise ImpossibleEvidenceError(
                f"{int(bad.sum())} sequence(s) have probability zero under the model (first: "
                f"{_plain(seq.ids[int(np.flatnonzero(bad)[0])])!r}); no posterior exists")

    def predict(self, data: Any) -> pd.Series:
        """Return the Viterbi state path as state names, one per input row (aligned with the input)."""
        self._check_fitted()
        seq = self._to_sequences(data, fitting=False)
        ll = seq.pad(self._emission_loglik(seq))
        A, idx, _ = self._transitions(seq, self._trans)
        lp, paths = viterbi(ll, seq.lengths, self.startprob_, A, idx)
        self._raise_impossible(seq, lp)
        codes = paths[seq.row_seq, seq.row_pos]
        frame = self._row_frame(data, seq, codes[:, None].astype(np.int64), ["state"])
        return pd.Series(pd.Categorical.from_codes(frame["state"].to_numpy(), categories=self.state_names_),
                         index=frame.index, name="state")

    def filter_last(self, data: Any) -> pd.DataFrame:
        """Return P(state at each entity's last step | its data so far): index = entity id, columns = states."""
        seq, res = self._forward(data, posteriors=True)
        self._raise_impossible(seq, res.log_prob)
        # the smoothed posterior at the last step equals the filtered one
        last = res.rows(np.arange(seq.lengths.shape[0]), seq.lengths - 1)
        return pd.DataFrame(last, index=pd.Index(seq.ids, name=self.id_col), columns=self.state_names_)

    def forecast(self, data: Any, steps: int = 1, *, inputs: dict[str, Any] | None = None) -> pd.DataFrame:
        """Forecast ``steps`` steps past each entity's last row.

        Returns a long DataFrame: ``id_col``, ``step`` (1..steps), one column per state (P(state)), then per
        observed column the expected value (``<col>_mean``) and for categorical columns ``<col>=<symbol>``
        probabilities. Future inputs are held at ``inputs`` (baseline for those not given); the input at an
        entity's last row drives its first forecast move. For an absorbing state, P(state at step h) is
        P(reached within h steps), e.g. P(churned within 8 weeks).
        """
        if int(steps) < 1:
            raise DataError(f"steps must be >= 1, found {steps}")
        seq, res = self._forward(data, posteriors=True)
        self._raise_impossible(seq, res.log_prob)
        N = seq.lengths.shape[0]
        p = res.rows(np.arange(N), seq.lengths - 1)
        A_future = self.transmat_for(inputs) if isinstance(self._trans, LogitTransitions) else self.transmat_
        if seq.design is not None:
            last_rows = np.r_[0, np.cumsum(seq.lengths)][1:] - 1
            A_last = self._trans.matrices(seq.design[last_rows])
            first = np.einsum("ni,nij->nj", p, A_last)
        else:
            first = p @ self.transmat_
        dists = [first]
        for _ in range(int(steps) - 1):
            dists.append(dists[-1] @ A_future)
        D = np.stack(dists, axis=1)  # (N, steps, S)
        flat = D.reshape(N * int(steps), -1)
        out = pd.DataFrame({self.id_col: np.repeat(seq.ids, int(steps)),
                            "step": np.tile(np.arange(1, int(steps) + 1), N)})
        for k, s in enumerate(self.state_names_):
            out[s] = flat[:, k]
        for col, em in self._emissions.items():
            out[f"{col}_mean"] = flat @ em.mean()
            if isinstance(em, CategoricalEmission):
                probs = flat @ em.emissionprob_
                for j, sym in enumerate(em.symbols_):
                    out[f"{col}={sym}"] = probs[:, j]
        return out

    def sample(self, n: int, length: int = 20, *, inputs: dict[str, Any] | None = None,
               random_state: RandomState = None) -> pd.DataFrame:
        """Draw ``n`` sequences of ``length`` steps; return a long DataFrame with ``id_col``, ``time_col``,
        ``state`` (names) and one column per observed column (categorical columns as symbols).
        Inputs, for an input-driven model, are held at ``inputs`` (baseline for those not given)."""
        self._check_fitted()
        n, length = int(n), int(length)
        if n < 1 or length < 1:
            raise DataError(f"n and length must be >= 1, found n={n}, length={length}")
        rng = check_random_state(random_state)
        S = len(self.state_names_)
        A = self.transmat_for(inputs) if isinstance(self._trans, LogitTransitions) else self.transmat_
        cdfA = np.cumsum(A, axis=1)
        cdfA[:, -1] = 1.0
        c0 = np.cumsum(self.startprob_)
        c0[-1] = 1.0
        states = np.empty((n, length), dtype=np.int64)
        states[:, 0] = (rng.random(n)[:, None] > c0[None, :]).sum(axis=1)
        for t in range(1, length):
            states[:, t] = (rng.random(n)[:, None] > cdfA[states[:, t - 1]]).sum(axis=1)
        states = np.minimum(states, S - 1)
        flat = states.reshape(-1)
        out = pd.DataFrame({self.id_col: np.repeat(np.arange(n), length), self.time_col: np.tile(np.arange(length), n),
                            "state": pd.Categorical.from_codes(flat, categories=self.state_names_)})
        for col, em in self._emissions.items():
            draws = em.sample(flat, rng)
            if isinstance(em, CategoricalEmission):
                out[col] = em.decode(draws)
            elif em.kind == "poisson":
                out[col] = draws.astype(np.int64)
            else:
                out[col] = draws
        for col in self._input_list():
            val = (inputs or {}).get(col, self._encoder.baseline_.get(col, 0.0))
            out[col] = val
        return out

    # ------------------------------------------------------------------ model size and summaries
    def n_params(self) -> int:
        """Return the number of free parameters (fixed zeros excluded)."""
        self._check_fitted()
        k = len(self.state_names_) - 1
        if isinstance(self._trans, LogitTransitions):
            k += self._trans.n_params()
        else:
            k += int((self.transmat_mask_.sum(axis=1) - 1).sum())
        return k + sum(em.n_params() for em in self._emissions.values())

    def bic(self, data: Any = None) -> float:
        """Return the BIC ``-2 loglik + k log(n)`` (n = observed rows) on ``data`` (default: the fit data)."""
        ll, n = self._ll_n(data)
        return -2.0 * ll + self.n_params() * np.log(n)

    def aic(self, data: Any = None) -> float:
        """Return the AIC ``-2 loglik + 2 k`` on ``data`` (default: the fit data)."""
        ll, _ = self._ll_n(data)
        return -2.0 * ll + 2.0 * self.n_params()

    def _ll_n(self, data: Any) -> tuple[float, int]:
        self._check_fitted()
        if data is None:
            return self.loglik_, self.n_obs_
        seq, res = self._forward(data, posteriors=False)
        observed = np.zeros(seq.n_rows, dtype=bool)
        for x in seq.obs.values():
            observed |= ~np.isnan(x)
        return float(res.log_prob.sum()), int(observed.sum())

    def transmat_frame(self, inputs: dict[str, Any] | None = None) -> pd.DataFrame:
        """Return the transition matrix (at ``inputs``) as a DataFrame with state names (rows = from)."""
        A = self.transmat_for(inputs)
        return pd.DataFrame(A, index=pd.Index(self.state_names_, name="from"),
                            columns=pd.Index(self.state_names_, name="to"))

    @renamed_argument("level", "confidence")
    def intervals(self, data: Any, confidence: float = 0.9) -> pd.DataFrame:
        """Return every fitted parameter with a standard error and a Wald interval at confidence level ``confidence``.

        Wald intervals from the observed information of ``data`` (the data the model was fitted to) on
        an unconstrained scale, mapped back by the delta method (see :mod:`probwb.hmm.uncertainty`).
        Rows as :meth:`summary` (``block, state, name, value``) plus ``se`` (link scale), ``lower``,
        ``upper`` and ``link``; input effects are the ``logit:<feature>`` blocks.
        """
        from probwb.hmm.uncertainty import wald_intervals

        return wald_intervals(self, data, confidence)

    def summary(self) -> pd.DataFrame:
        """Return every fitted parameter as rows ``(block, state, name, value)``."""
        self._check_fitted()
        rows = []
        for s, v in zip(self.state_names_, self.startprob_, strict=True):
            rows.append(("startprob", s, "", float(v)))
        for i, s in enumerate(self.state_names_):
            for j, t in enumerate(self.state_names_):
                rows.append(("transmat", s, t, float(self.transmat_[i, j])))
        if isinstance(self._trans, LogitTransitions):
            for feat, frame in self.transition_coef_.items():
                for s in self.state_names_:
                    for t in self.state_names_:
                        rows.append((f"logit:{feat}", s, t, float(frame.loc[s, t])))
        for col, em in self._emissions.items():
            for pname, arr in em.params().items():
                arr = np.atleast_2d(arr.T).T if arr.ndim == 1 else arr
                for i, s in enumerate(self.state_names_):
                    if arr.shape[1] == 1:
                        rows.append((f"{col}:{pname}", s, "", float(arr[i, 0])))
                    else:
                        syms = getattr(em, "symbols_", range(arr.shape[1]))
                        for j, sym in enumerate(syms):
                            rows.append((f"{col}:{pname}", s, str(sym), float(arr[i, j])))
        return pd.DataFrame(rows, columns=["block", "state", "name", "value"])

    def save(self, path: Any) -> Any:
        """Save the fitted model atomically as a ``.pwb`` model file (data only, see probwb.core.io);
        return the path."""
        from probwb.hmm._files import hmm_file_config

        self._check_fitted()
        return save_model(path, self, config=hmm_file_config(self))

    @classmethod
    def load(cls, path: Any) -> HMM:
        """Load a model saved with :meth:`save` and return it; a foreign, damaged or edited file, or one
        whose parameters fail validation (rows not summing to one, wrong shapes), raises ModelFileError."""
        return load_model(path, cls)

    def _to_file_state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """Return ``(state, extras)`` for probwb.core.io.save_model (see probwb.hmm._files)."""
        from probwb.hmm._files import hmm_to_file_state

        return hmm_to_file_state(self)

    @classmethod
    def _from_file_state(cls, state: dict[str, Any], extras: dict[str, bytes], config: dict[str, Any]) -> HMM:
        """Rebuild a saved HMM through its constructor and parameter validators; return it."""
        from probwb.hmm._files import hmm_from_file_state

        return hmm_from_file_state(cls, state, config)
