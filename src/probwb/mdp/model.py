"""The :class:`MDP` container: named states and actions, one stacked sparse transition matrix, rewards.

Transitions are held as a single CSR matrix of shape ``(A*S, S)`` whose row ``a*S + s`` is
``P(. | s, a)``. A Bellman backup is then one sparse mat-vec ``P @ V`` reshaped to ``(A, S)``, and
every check on the model (row sums, negatives, NaN) is a pass over the non-zeros, never over S x S.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from probwb.core.validation import (
    PROB_ATOL,
    as_float_array,
    check_columns,
    check_dataframe,
    check_known_keys,
    check_number,
    closest_match,
    plain_number,
    short_repr,
)
from probwb.errors import DataError, ModelError, ProbabilityError, StateError

logger = logging.getLogger("probwb.mdp")

__all__ = ["MDP", "stack_transitions", "check_transition_rows"]


def _names(names: Sequence[Any] | None, n: int, prefix: str, what: str) -> list[str] | None:
    if names is None:
        return None
    out = [str(x) for x in names]
    if len(out) != n:
        raise ModelError(f"expected {n} {what} names (one per {what[:-1]}), found {len(out)}")
    if len(set(out)) != n:
        seen: set[str] = set()
        dup = next(x for x in out if x in seen or seen.add(x))  # type: ignore[func-returns-value]
        raise ModelError(f"{what} names must be unique; {dup!r} appears more than once")
    return out


def stack_transitions(transitions: Any, n_actions: int | None = None) -> sp.csr_matrix:
    """Return the transitions as one CSR matrix of shape ``(A*S, S)`` (row ``a*S + s``).

    Accepts a dense ``(A, S, S)`` array, a sequence of ``A`` dense or sparse ``(S, S)`` matrices, or an
    already stacked sparse ``(A*S, S)`` matrix (then ``n_actions`` must be given or inferable).
    """
    if sp.issparse(transitions):
        P = sp.csr_matrix(transitions)
        rows, cols = P.shape
        if n_actions is None:
            if cols == 0 or rows % cols:
                raise ModelError(
                    f"a stacked transition matrix must have shape (A*S, S); found {P.shape}, "
                    "whose row count is not a multiple of its column count"
                )
            n_actions = rows // cols
        if rows != n_actions * cols:
            raise ModelError(f"expected a stacked transition matrix of shape ({n_actions}*S, S), found {P.shape}")
    elif isinstance(transitions, np.ndarray) and transitions.ndim == 3:
        A, S, S2 = transitions.shape
        if S != S2:
            raise ModelError(f"dense transitions must have shape (A, S, S); found {transitions.shape}")
        P = sp.csr_matrix(as_float_array(transitions, name="transitions", error=ModelError).reshape(A * S, S))
    elif isinstance(transitions, (list, tuple)):
        if len(transitions) == 0:
            raise ModelError("transitions is empty: expected one (S, S) matrix per action")
        mats = []
        shape0 = None
        for a, m in enumerate(transitions):
            m = sp.csr_matrix(m) if sp.issparse(m) else sp.csr_matrix(
                as_float_array(m, name=f"transition matrix for action {a}", error=ModelError))
            if m.ndim != 2 or m.shape[0] != m.shape[1]:
                raise ModelError(f"transition matrix for action {a} must be square (S, S); found {m.shape}")
            if shape0 is not None and m.shape != shape0:
                raise ModelError(
                    f"transition matrices must all have the same shape; action 0 has {shape0}, "
                    f"action {a} has {m.shape}"
                )
            shape0 = m.shape
            mats.append(m)
        P = sp.vstack(mats, format="csr")
    else:
        arr = as_float_array(transitions, name="transitions", error=ModelError)
        if arr.ndim != 3:
            raise ModelError(
                "transitions must be an (A, S, S) array, a list of (S, S) matrices or a stacked sparse "
                f"(A*S, S) matrix; found an array with shape {arr.shape}"
            )
        return stack_transitions(arr)
    if P.dtype != np.float64:
        P = P.astype(np.float64)
    # int32 indices halve index traffic per sweep; scipy keeps int64 only when it must.
    if P.nnz < np.iinfo(np.int32).max and P.indices.dtype != np.int32:
        P.indices = P.indices.astype(np.int32)
        P.indptr = P.indptr.astype(np.int32)
    return P


def check_transition_rows(
    P: sp.csr_matrix,
    n_states: int,
    *,
    atol: float = PROB_ATOL,
    state_names: Sequence[str] | None = None,
    action_names: Sequence[str] | None = None,
) -> None:
    """Raise ProbabilityError unless every row of the stacked ``P`` is a distribution; O(non-zeros).

    The message names the first offending (state, action) row and what it sums to.
    """
    data = P.data
    indptr = P.indptr

    def where(row: int) -> str:
        a, s = divmod(int(row), n_states)
        sname = state_names[s] if state_names is not None else s
        aname = action_names[a] if action_names is not None else a
        return f"(state {sname!r}, action {aname!r})"

    if data.size:
        bad_nan = ~np.isfinite(data)
        if bad_nan.any():
            k = int(np.argmax(bad_nan))
            row = int(np.searchsorted(indptr, k, side="right") - 1)
            raise ProbabilityError(
                f"transition row {where(row)} contains a non-finite probability {data[k]!r} "
                f"(to state index {int(P.indices[k])})"
            )
        neg = data < 0
        if neg.any():
            k = int(np.argmax(neg))
            row = int(np.searchsorted(indptr, k, side="right") - 1)
            raise ProbabilityError(
                f"transition row {where(row)} has a negative probability {data[k]!r} "
                f"(to state index {int(P.indices[k])}); {int(neg.sum())} negative value(s) in all"
            )
    counts = np.diff(indptr)
    if data.size:
        starts = np.minimum(indptr[:-1], data.size - 1)
        sums = np.add.reduceat(data, starts)
        sums[counts == 0] = 0.0
    else:
        sums = np.zeros(P.shape[0])
    bad = np.abs(sums - 1.0) > atol
    if bad.any():
        row = int(np.argmax(bad))
        raise ProbabilityError(
            f"transition row {where(row)} sums to {sums[row]:.12g}; expected 1 within {atol:g} "
            f"({int(bad.sum())} of {P.shape[0]} (state, action) rows are off; nothing is renormalised)"
        )


class MDP:
    """A finite Markov decision process with named states and actions.

    Parameters
    ----------
    transitions
        Dense ``(A, S, S)`` array, a list of ``A`` dense or scipy.sparse ``(S, S)`` matrices, or one
        stacked sparse ``(A*S, S)`` matrix with row ``a*S + s`` = ``P(. | s, a)``.
    rewards
        ``R(s, a)`` as an ``(S, A)`` array (or DataFrame indexed by state with action columns),
        ``R(s)`` as an ``(S,)`` array, or ``R(s, a, s')`` as an ``(A, S, S)`` array or a list of ``A``
        ``(S, S)`` matrices (then the expected reward ``sum_s' P R`` is stored).
    discount
        In (0, 1]. At 1: a finite ``horizon``, the average-reward solver, or an episodic problem whose
        termination is certain (see :func:`probwb.mdp.solvers.check_termination`) for the other solvers.
    states, actions
        Names (strings). Default names are ``s0, s1, ...`` and ``a0, a1, ...`` (made on first use).
    horizon
        Number of decision epochs for finite-horizon problems, or None.
    terminal_reward
        ``(S,)`` reward collected at the end of a finite horizon (default zeros).
    validate
        Check shapes and that every transition row is a distribution (O(non-zeros)).
    """

    def __init__(
        self,
        transitions: Any,
        rewards: Any,
        discount: float = 0.95,
        *,
        states: Sequence[Any] | None = None,
        actions: Sequence[Any] | None = None,
        horizon: int | None = None,
        terminal_reward: Any = None,
        validate: bool = True,
        atol: float = PROB_ATOL,
    ) -> None:
        n_act_hint = len(actions) if actions is not None else None
        if isinstance(transitions, (list, tuple)):
            n_act_hint = len(transitions)
        elif isinstance(transitions, np.ndarray) and transitions.ndim == 3:
            n_act_hint = transitions.shape[0]
        P = stack_transitions(transitions, n_act_hint)
        S = P.shape[1]
        A = P.shape[0] // S if S else 0
        if S == 0 or A == 0:
            raise ModelError(f"an MDP needs at least one state and one action; found S={S}, A={A}")
        self.P: sp.csr_matrix = P
        self.n_states: int = S
        self.n_actions: int = A
        self._states = _names(states, S, "s", "states")
        self._actions = _names(actions, A, "a", "actions")
        self.discount = check_number(discount, name="discount", error=ModelError)
        self.horizon = None if horizon is None else int(horizon)
        if self.horizon is not None and self.horizon < 1:
            raise ModelError(f"horizon must be a positive number of decision epochs, found {horizon}")
        if not (0.0 < self.discount <= 1.0) or not np.isfinite(self.discount):
            raise ModelError(f"discount must lie in (0, 1], found {discount!r}")
        self.R: np.ndarray = self._expected_rewards(rewards)  # (A, S), C-contiguous
        if terminal_reward is None:
            self.terminal_reward = np.zeros(S)
        else:
            tr = as_float_array(terminal_reward, name="terminal_reward", error=ModelError).reshape(-1)
            if tr.shape != (S,):
                raise ModelError(f"terminal_reward must have shape ({S},), found {tr.shape}")
            if not np.isfinite(tr).all():
                raise DataError("terminal_reward contains NaN or infinite values")
            self.terminal_reward = tr
        if validate:
            self.validate(atol=atol)

    # ------------------------------------------------------------------ construction helpers
    def _expected_rewards(self, rewards: Any) -> np.ndarray:
        S, A = self.n_states, self.n_actions
        if isinstance(rewards, pd.DataFrame):
            df = rewards
            if self._states is not None:
                # an index row that is no state (a typo) would be dropped by reindex without a word
                check_known_keys(list(df.index), self._states, where="rewards DataFrame index", what="state",
                                 error=StateError, log_left=False)
                df = df.reindex(index=[s for s in self._states])
            if self._actions is not None:
                check_known_keys(list(df.columns), self._actions, where="rewards DataFrame columns",
                                 what="action", error=StateError, log_left=False)
                missing = [a for a in self._actions if a not in df.columns]
                if missing:
                    raise StateError(f"rewards DataFrame has no column for action(s) {missing}")
                df = df[self._actions]
            rewards = as_float_array(df.to_numpy(), name="rewards DataFrame", error=ModelError)
        if isinstance(rewards, (list, tuple)) and rewards and (
            sp.issparse(rewards[0]) or np.ndim(rewards[0]) == 2
        ):
            if len(rewards) != A:
                raise ModelError(f"R(s, a, s') needs one (S, S) matrix per action ({A}), found {len(rewards)}")
            Rfull = stack_transitions(list(rewards), A)
            R = np.asarray(self.P.multiply(Rfull).sum(axis=1)).reshape(A, S)
        elif sp.issparse(rewards):
            Rfull = sp.csr_matrix(rewards)
            if Rfull.shape == (S, A):
                R = Rfull.toarray().T
            elif Rfull.shape == (A * S, S):
                R = np.asarray(self.P.multiply(Rfull).sum(axis=1)).reshape(A, S)
            else:
                raise ModelError(f"sparse rewards must have shape ({S}, {A}) or ({A * S}, {S}); found {Rfull.shape}")
        else:
            arr = as_float_array(rewards, name="rewards", error=ModelError)
            if arr.ndim == 3:
                if arr.shape != (A, S, S):
                    raise ModelError(f"R(s, a, s') must have shape ({A}, {S}, {S}), found {arr.shape}")
                R = np.asarray(self.P.multiply(arr.reshape(A * S, S)).sum(axis=1)).reshape(A, S)
            elif arr.ndim == 2:
                if arr.shape != (S, A):
                    raise ModelError(
                        f"R(s, a) must have shape (S, A) = ({S}, {A}), found {arr.shape}"
                        + (" (did you pass it transposed?)" if arr.shape == (A, S) else "")
                    )
                R = arr.T
            elif arr.ndim == 1:
                if arr.shape != (S,):
                    raise ModelError(f"R(s) must have shape ({S},), found {arr.shape}")
                R = np.broadcast_to(arr, (A, S))
            else:
                raise ModelError(f"rewards must be (S,), (S, A) or (A, S, S); found shape {arr.shape}")
        R = np.ascontiguousarray(R, dtype=float)
        if not np.isfinite(R).all():
            idx = np.argwhere(~np.isfinite(R))[0]
            raise DataError(
                f"rewards contain NaN or infinite values; first at (state {self._state_name(int(idx[1]))!r}, "
                f"action {self._action_name(int(idx[0]))!r})"
            )
        return R

    def _state_name(self, i: int) -> str:
        return self._states[i] if self._states is not None else f"s{i}"

    def _action_name(self, i: int) -> str:
        return self._actions[i] if self._actions is not None else f"a{i}"

    def validate(self, atol: float = PROB_ATOL) -> MDP:
        """Check transition rows and discount/horizon consistency; return self or raise."""
        check_transition_rows(self.P, self.n_states, atol=atol, state_names=self._states,
                              action_names=self._actions)
        return self

    # ------------------------------------------------------------------ names
    @property
    def states(self) -> list[str]:
        """State names (default ``s0, s1, ...``)."""
        if self._states is None:
            self._states = [f"s{i}" for i in range(self.n_states)]
        return self._states

    @property
    def actions(self) -> list[str]:
        """Action names (default ``a0, a1, ...``)."""
        if self._actions is None:
            self._actions = [f"a{i}" for i in range(self.n_actions)]
        return self._actions

    def state_index(self, state: Any) -> int:
        """Return the index of a state name (or pass through a valid integer index)."""
        return self._lookup(state, self.states, "state")

    def action_index(self, action: Any) -> int:
        """Return the index of an action name (or pass through a valid integer index)."""
        return self._lookup(action, self.actions, "action")

    def _lookup(self, name: Any, names: list[str], what: str) -> int:
        key = str(name)
        try:
            return names.index(key)
        except ValueError:
            pass
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool) and 0 <= int(name) < len(names):
            return int(name)
        hit = closest_match(key, names)
        hint = f" (did you mean {hit!r}?)" if hit else ""
        shown = names if len(names) <= 20 else names[:20] + ["..."]
        raise StateError(f"unknown {what} {name!r}{hint}; {what}s are {shown}")

    # ------------------------------------------------------------------ views
    def transition_matrix(self, action: Any) -> sp.csr_matrix:
        """Return ``P(. | ., action)`` as an (S, S) CSR matrix."""
        a = self.action_index(action)
        S = self.n_states
        return self.P[a * S:(a + 1) * S]

    def to_dense(self) -> np.ndarray:
        """Return the transitions as a dense ``(A, S, S)`` array (small models only)."""
        return self.P.toarray().reshape(self.n_actions, self.n_states, self.n_states)

    @property
    def reward_matrix(self) -> np.ndarray:
        """Expected rewards ``R(s, a)`` as an ``(S, A)`` array."""
        return self.R.T

    def rewards_frame(self) -> pd.DataFrame:
        """Return ``R(s, a)`` as a DataFrame (index = states, columns = actions)."""
        return pd.DataFrame(self.R.T, index=pd.Index(self.states, name="state"),
                            columns=pd.Index(self.actions, name="action"))

    def to_dataframe(self) -> pd.DataFrame:
        """Return the model as a tidy frame: state, action, next_state, probability, reward."""
        coo = self.P.tocoo()
        a, s = np.divmod(coo.row, self.n_states)
        st = np.asarray(self.states, dtype=object)
        ac = np.asarray(self.actions, dtype=object)
        return pd.DataFrame({
            "state": st[s], "action": ac[a], "next_state": st[coo.col],
            "probability": coo.data, "reward": self.R[a, s],
        })

    def with_discount(self, discount: float) -> MDP:
        """Return a copy sharing the transitions with another discount."""
        return MDP(self.P, self.R.T, discount, states=self._states, actions=self._actions,
                   horizon=self.horizon, terminal_reward=self.terminal_reward, validate=False)

    def save(self, path: Any) -> Any:
        """Save the model atomically as a ``.pwb`` model file (data only, see probwb.core.io); return
        the path."""
        from probwb.core.io import save_model

        return save_model(path, self, config={"n_states": self.n_states, "n_actions": self.n_actions,
                                              "nnz": int(self.P.nnz), "discount": self.discount})

    @classmethod
    def load(cls, path: Any) -> MDP:
        """Load an MDP saved by :meth:`save` and return it; a foreign, damaged or edited file, or one
        whose transition rows are not distributions, raises ModelFileError."""
        from probwb.core.io import load_model

        return load_model(path, cls)

    def _to_file_state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """Return ``(state, extras)`` for probwb.core.io.save_model: the CSR transitions, rewards,
        names, discount, horizon and terminal reward."""
        P = self.P.tocsr()
        return {"P_data": np.asarray(P.data, dtype=float), "P_indices": np.asarray(P.indices),
                "P_indptr": np.asarray(P.indptr), "P_shape": [int(x) for x in P.shape],
                "R": np.asarray(self.R), "discount": self.discount, "horizon": self.horizon,
                "terminal_reward": np.asarray(self.terminal_reward, dtype=float),
                "states": self._states, "actions": self._actions}, {}

    @classmethod
    def _from_file_state(cls, state: dict[str, Any], extras: dict[str, bytes], config: dict[str, Any]) -> MDP:
        """Rebuild an MDP from a model file's state through the validating constructor; return it."""
        from probwb.errors import ModelFileError

        shape = tuple(int(x) for x in state["P_shape"])
        data, indices, indptr = (np.asarray(state[k]) for k in ("P_data", "P_indices", "P_indptr"))
        if (len(shape) != 2 or indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu"
                or indptr.shape != (shape[0] + 1,) or data.shape != indices.shape
                or (indices.size and (indices.min() < 0 or indices.max() >= shape[1]))
                or indptr[0] != 0 or indptr[-1] != data.size or (np.diff(indptr) < 0).any()):
            raise ModelFileError(f"MDP file: the sparse transition matrix (shape {shape}) is malformed")
        P = sp.csr_matrix((data, indices, indptr), shape=shape)
        R = np.asarray(state["R"], dtype=float)
        return cls(P, R.T, state["discount"], states=state["states"], actions=state["actions"],
                   horizon=state["horizon"], terminal_reward=state["terminal_reward"], validate=True)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # a derived cache (value iteration's tiled layout, as large as P itself): rebuilt on demand
        state.pop("_vi_layout", None)
        return state

    def __repr__(self) -> str:
        h = f", horizon={self.horizon}" if self.horizon else ""
        return (f"MDP(n_states={self.n_states}, n_actions={self.n_actions}, nnz={self.P.nnz}, "
                f"discount={self.discount}{h})")

    def get_params(self) -> dict[str, Any]:
        """Return constructor arguments that rebuild this MDP, ``MDP(**mdp.get_params())``: the stacked CSR
        transitions ``(A*S, S)``, expected rewards ``(S, A)``, discount, names, horizon, terminal reward."""
        return {"transitions": self.P, "rewards": self.R.T, "discount": self.discount, "states": self.states,
                "actions": self.actions, "horizon": self.horizon, "terminal_reward": self.terminal_reward}

    def summary(self) -> pd.DataFrame:
        """Return one row per (state, action): expected reward, number of possible next states, the
        probability of staying, and the most likely next state with its probability."""
        P = self.P.tocsr()
        S, A = self.n_states, self.n_actions
        n_next = np.diff(P.indptr)
        stay = np.asarray(P[np.arange(A * S), np.tile(np.arange(S), A)]).ravel()
        top = np.asarray(P.argmax(axis=1)).ravel()
        p_top = np.asarray(P.max(axis=1).toarray()).ravel()
        a, s = np.divmod(np.arange(A * S), S)
        st, ac = np.asarray(self.states, dtype=object), np.asarray(self.actions, dtype=object)
        return pd.DataFrame({"state": st[s], "action": ac[a], "reward": self.R[a, s], "n_next_states": n_next,
                             "p_stay": stay, "most_likely_next": st[top], "p_most_likely": p_top})

    def plot(self, kind: str = "values", ax: Any = None, **kwargs: Any) -> Any:
        """Solve the MDP and draw :func:`probwb.mdp.plots.plot_values` (``kind="values"``; keywords
        ``method`` and ``max_states``, other keywords go to :func:`probwb.mdp.solve`); return the Axes."""
        from probwb.core import api
        from probwb.mdp import plots
        from probwb.mdp.solvers import solve

        def values(method: str = "policy_iteration", max_states: int = 40, **kw: Any) -> Any:
            return plots.plot_values(solve(self, method, **kw), ax=ax, max_states=max_states)

        return api.plot_kind(self, kind, {"values": values}, **kwargs)

    # ------------------------------------------------------------------ alternative constructors
    @classmethod
    def from_dataframe(
        cls,
        data: pd.DataFrame,
        discount: float = 0.95,
        *,
        state: str = "state",
        action: str = "action",
        next_state: str = "next_state",
        probability: str = "probability",
        reward: str = "reward",
        states: Sequence[Any] | None = None,
        actions: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> MDP:
        """Build an MDP from a tidy frame with one row per (state, action, next_state).

        ``reward`` is read as ``R(s, a, s')`` (the expected reward is stored). Missing (state, action)
        pairs make rows that do not sum to one, which validation reports by name.
        """
        data = check_dataframe(data)
        check_columns(data, [state, action, next_state, probability, reward])
        if states is None:
            states = list(dict.fromkeys([*map(str, data[state]), *map(str, data[next_state])]))
        if actions is None:
            actions = list(dict.fromkeys(map(str, data[action])))
        states = [str(x) for x in states]
        actions = [str(x) for x in actions]
        s_idx = _codes(data[state], states, f"column {state!r}")
        ns_idx = _codes(data[next_state], states, f"column {next_state!r}")
        a_idx = _codes(data[action], actions, f"column {action!r}")
        prob = _numeric_column(data, probability, "probabilities")
        rew = _numeric_column(data, reward, "rewards")
        for col, values, what in ((probability, prob, "probability"), (reward, rew, "reward")):
            if np.isnan(values).any():
                k = int(np.argmax(np.isnan(values)))
                raise DataError(f"column {col!r} has a NaN {what} at row {plain_number(data.index[k])!r} "
                                f"(state {data[state].iloc[k]!r}, action {data[action].iloc[k]!r}, next state "
                                f"{data[next_state].iloc[k]!r}); expected a number")
        S, A = len(states), len(actions)
        rows = a_idx * S + s_idx
        P = sp.csr_matrix((prob, (rows, ns_idx)), shape=(A * S, S))
        P.sum_duplicates()
        Rsum = np.bincount(rows, weights=prob * rew, minlength=A * S).reshape(A, S)
        return cls(P, Rsum.T, discount, states=states, actions=actions, **kwargs)

    @classmethod
    def from_simulator(
        cls,
        step: Callable[[str, str], Iterable[tuple[Any, float, float]]],
        states: Sequence[Any],
        actions: Sequence[Any],
        discount: float = 0.95,
        **kwargs: Any,
    ) -> MDP:
        """Build an MDP by calling ``step(state, action)`` for every pair.

        ``step`` returns an iterable of ``(next_state, probability, reward)`` triples (reward is
        ``R(s, a, s')``). Intended for small, hand-written models.
        """
        rows = []
        for s in states:
            for a in actions:
                for ns, p, r in step(s, a):
                    rows.append((str(s), str(a), str(ns), float(p), float(r)))
        df = pd.DataFrame(rows, columns=["state", "action", "next_state", "probability", "reward"])
        return cls.from_dataframe(df, discount, states=states, actions=actions, **kwargs)


def _numeric_column(data: pd.DataFrame, col: str, what: str) -> np.ndarray:
    """A column as floats; text, booleans and other non-numbers raise DataError naming the column, row
    and value (numpy would silently read the text "0.5" as 0.5)."""
    s = data[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float)
    bad = ~s.map(lambda x: x is None or (isinstance(x, (int, float, np.integer, np.floating))
                                         and not isinstance(x, (bool, np.bool_)))).to_numpy(dtype=bool)
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(f"column {col!r} must hold numbers ({what}), found {short_repr(data[col].iloc[k])} at row "
                        f"{plain_number(data.index[k])!r} ({int(bad.sum())} value(s) that are not numbers)")
    return s.to_numpy(dtype=float)


def _codes(values: pd.Series, names: list[str], where: str) -> np.ndarray:
    vals = values.astype(str).to_numpy(dtype=object)
    codes = pd.Index(names).get_indexer(vals).astype(np.int64)
    if (codes < 0).any():
        k = int(np.argmax(codes < 0))
        v = vals[k]
        hit = closest_match(v, names)
        hint = f" (did you mean {hit!r}?)" if hit else ""
        raise StateError(f"{where} has unknown name {v!r} at position {k}{hint}; known: {names[:20]}")
    return codes
