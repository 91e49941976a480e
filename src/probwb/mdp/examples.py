"""Builders for classic example problems: gridworlds, the forest problem, random sparse MDPs, the tiger POMDP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from probwb.core.random import RandomState, check_random_state
from probwb.errors import ModelError
from probwb.mdp.model import MDP

if TYPE_CHECKING:
    from probwb.mdp.pomdp import POMDP

__all__ = ["gridworld", "sutton_barto_gridworld", "small_gridworld", "forest", "random_sparse", "tiger"]

_MOVES = {"north": (-1, 0), "south": (1, 0), "east": (0, 1), "west": (0, -1)}


def gridworld(
    n_rows: int,
    n_cols: int,
    *,
    discount: float = 0.9,
    step_reward: float = 0.0,
    wall_reward: float = -1.0,
    jumps: dict[tuple[int, int], tuple[tuple[int, int], float]] | None = None,
    terminals: tuple[tuple[int, int], ...] = (),
) -> MDP:
    """Deterministic gridworld with actions north/south/east/west.

    Moving off the grid leaves the agent in place with ``wall_reward``; other moves earn ``step_reward``.
    ``jumps`` maps a cell to ``(target cell, reward)``: every action there moves to the target with that
    reward. ``terminals`` are absorbing with reward 0. States are named ``"r,c"``.
    """
    S = n_rows * n_cols
    actions = list(_MOVES)
    A = len(actions)
    rows = np.empty(A * S, dtype=np.int64)
    cols = np.empty(A * S, dtype=np.int64)
    R = np.zeros((S, A))
    jumps = jumps or {}
    term = set(terminals)
    for a, (dr, dc) in enumerate(_MOVES.values()):
        for r in range(n_rows):
            for c in range(n_cols):
                s = r * n_cols + c
                row = a * S + s
                rows[row] = row
                if (r, c) in term:
                    cols[row] = s
                    R[s, a] = 0.0
                elif (r, c) in jumps:
                    (tr, tc), rew = jumps[(r, c)]
                    cols[row] = tr * n_cols + tc
                    R[s, a] = rew
                else:
                    nr, nc = r + dr, c + dc
                    if 0 <= nr < n_rows and 0 <= nc < n_cols:
                        cols[row] = nr * n_cols + nc
                        R[s, a] = step_reward
                    else:
                        cols[row] = s
                        R[s, a] = wall_reward
    P = sp.csr_matrix((np.ones(A * S), (rows, cols)), shape=(A * S, S))
    states = [f"{r},{c}" for r in range(n_rows) for c in range(n_cols)]
    return MDP(P, R, discount, states=states, actions=actions)


def sutton_barto_gridworld(discount: float = 0.9) -> MDP:
    """Sutton & Barto (2018), Reinforcement Learning 2nd ed., Example 3.5 (Figure 3.2) gridworld.

    5 x 5 grid; from A = (0, 1) every action jumps to A' = (4, 1) with reward +10, from B = (0, 3) to
    B' = (2, 3) with +5; moves off the grid cost -1 and leave the state unchanged; other moves earn 0.
    """
    return gridworld(5, 5, discount=discount, step_reward=0.0, wall_reward=-1.0,
                     jumps={(0, 1): ((4, 1), 10.0), (0, 3): ((2, 3), 5.0)})


def small_gridworld() -> MDP:
    """Sutton & Barto (2018), Example 4.1: 4 x 4 grid, terminal corners, reward -1 per step, undiscounted."""
    return gridworld(4, 4, discount=1.0, step_reward=-1.0, wall_reward=-1.0, terminals=((0, 0), (3, 3)))


def forest(n_states: int = 3, r1: float = 4.0, r2: float = 2.0, p: float = 0.1, discount: float = 0.96) -> MDP:
    """The forest-management problem of pymdptoolbox's ``example.forest``, built sparse in O(S).

    Actions ``wait`` and ``cut``; state = forest age class; a fire (probability ``p``) resets to age 0 under
    ``wait``; ``cut`` always resets. Rewards: ``r1`` for waiting in the oldest state, 1 for cutting (``r2``
    in the oldest state, 0 in the youngest).
    """
    S = int(n_states)
    if S < 2:
        raise ModelError(f"the forest problem needs at least 2 states, found {S}")
    if not 0 <= p <= 1:
        raise ModelError(f"fire probability p must lie in [0, 1], found {p}")
    s = np.arange(S)
    nxt = np.minimum(s + 1, S - 1)
    # wait: fire -> 0 with p, grow -> s+1 with 1-p (the two targets coincide only when S == 1)
    indptr_w = np.arange(0, 2 * S + 1, 2)
    ind_w = np.column_stack([np.zeros(S, dtype=np.int64), nxt]).reshape(-1)
    dat_w = np.tile([p, 1 - p], S)
    indptr = np.concatenate([indptr_w, 2 * S + np.arange(1, S + 1)])
    indices = np.concatenate([ind_w, np.zeros(S, dtype=np.int64)])
    data = np.concatenate([dat_w, np.ones(S)])
    P = sp.csr_matrix((data, indices, indptr), shape=(2 * S, S))
    R = np.zeros((S, 2))
    R[S - 1, 0] = r1
    R[:, 1] = 1.0
    R[0, 1] = 0.0
    R[S - 1, 1] = r2
    return MDP(P, R, discount, actions=["wait", "cut"])


def random_sparse_arrays(n_states: int, n_actions: int = 4, n_successors: int = 5,
                         random_state: RandomState = None) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return ``(P, R)``: a stacked CSR ``(A*S, S)`` with ``n_successors`` random successors per row and
    uniform(0,1)-then-normalised probabilities, and ``R`` ``(S, A)`` uniform in [0, 1)."""
    rng = check_random_state(random_state)
    S, A, k = int(n_states), int(n_actions), int(n_successors)
    idx = rng.integers(0, S, size=(A * S, k))
    idx.sort(axis=1)
    w = rng.random((A * S, k)) + 1e-3
    w /= w.sum(axis=1, keepdims=True)
    indptr = np.arange(0, A * S * k + 1, k, dtype=np.int64)
    P = sp.csr_matrix((w.reshape(-1), idx.reshape(-1).astype(np.int32), indptr), shape=(A * S, S))
    R = rng.random((S, A))
    return P, R


def random_sparse(n_states: int, n_actions: int = 4, n_successors: int = 5, discount: float = 0.95,
                  random_state: RandomState = None) -> MDP:
    """A random sparse MDP (see :func:`random_sparse_arrays`)."""
    P, R = random_sparse_arrays(n_states, n_actions, n_successors, random_state)
    return MDP(P, R, discount)


def tiger(discount: float = 0.95, listen_accuracy: float = 0.85, listen_cost: float = -1.0,
          treasure: float = 10.0, tiger_penalty: float = -100.0) -> POMDP:
    """The tiger problem of Kaelbling, Littman & Cassandra (1998), Artificial Intelligence 101: 99-134.

    States ``tiger-left`` / ``tiger-right``; actions ``listen`` (reward -1, hear the correct side with
    probability 0.85), ``open-left`` / ``open-right`` (+10 if the tiger is behind the other door, -100
    otherwise; the problem then resets with the tiger placed uniformly and the observation is uninformative).
    """
    from probwb.mdp.pomdp import POMDP

    states = ["tiger-left", "tiger-right"]
    actions = ["listen", "open-left", "open-right"]
    obs = ["hear-left", "hear-right"]
    T = np.empty((3, 2, 2))
    T[0] = np.eye(2)
    T[1] = T[2] = 0.5
    R = np.array([[listen_cost, tiger_penalty, treasure],
                  [listen_cost, treasure, tiger_penalty]])
    Obs = np.empty((3, 2, 2))  # Obs[a, s', o]
    q = listen_accuracy
    Obs[0] = [[q, 1 - q], [1 - q, q]]
    Obs[1] = Obs[2] = 0.5
    mdp = MDP(T, R, discount, states=states, actions=actions)
    return POMDP(mdp, Obs, observations=obs)
