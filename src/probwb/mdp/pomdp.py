"""Partially observable MDPs: belief updates and point-based value iteration (PBVI / Perseus).

The POMDPs here are small (a hidden disease stage or lifecycle state), so transitions are dense
``T[a, s, s']`` and observations ``O[a, s', o]`` = P(o | s' reached by action a). A value function is a
set of alpha vectors; the policy over beliefs takes the action of the best alpha vector.

References: Pineau, Gordon & Thrun (2003), Point-based value iteration, IJCAI; Spaan & Vlassis (2005),
Perseus: randomized point-based value iteration for POMDPs, JAIR 24.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.progress import Progress
from probwb.core.random import RandomState, check_random_state
from probwb.errors import ConvergenceWarning, ImpossibleEvidenceError, ModelError, ProbabilityError
from probwb.mdp.model import MDP

logger = logging.getLogger("probwb.mdp")

__all__ = ["POMDP", "BeliefPolicy"]


@dataclass
class BeliefPolicy:
    """A policy over beliefs: alpha vectors ``(N, S)`` and the action of each.

    ``value(b)`` = max_i alpha_i . b; ``action(b)`` = the action of the maximising vector. ``beliefs`` is the
    belief set the backups used; ``info`` says how it was made: ``n_beliefs`` (distinct points used),
    ``n_requested``, ``n_reachable`` (found by forward expansion from the initial belief), ``n_spread`` (added
    to spread the set over the simplex), ``reachable_exhausted`` (no further belief at least ``min_distance``
    from the set is reachable) and ``min_distance``.
    """

    pomdp: POMDP
    alphas: np.ndarray
    alpha_actions: np.ndarray
    iterations: int
    converged: bool
    history: list[float] = field(default_factory=list)
    beliefs: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def _b(self, belief: Any) -> np.ndarray:
        return self.pomdp._belief(belief)

    def value(self, belief: Any) -> float:
        """Value of a belief (array over states, Series, or dict state -> probability)."""
        return float((self.alphas @ self._b(belief)).max())

    def action(self, belief: Any) -> str:
        """The action name the policy takes at ``belief``."""
        return self.pomdp.mdp.actions[self.action_index(self._b(belief))]

    def action_index(self, b: np.ndarray) -> int:
        """The action index for a belief array (no validation)."""
        return int(self.alpha_actions[int(np.argmax(self.alphas @ b))])

    def table(self, beliefs: np.ndarray | None = None, n: int = 11) -> pd.DataFrame:
        """Value and action at a set of beliefs (default for two states: P(state 0) on a grid of ``n``)."""
        S = self.pomdp.n_states
        if beliefs is None:
            if S != 2:
                raise ModelError("table() needs beliefs= for POMDPs with more than two states")
            p = np.linspace(0, 1, n)
            beliefs = np.column_stack([p, 1 - p])
        beliefs = np.asarray(beliefs, float)
        vals = beliefs @ self.alphas.T
        best = vals.argmax(axis=1)
        cols = {f"P({s})": beliefs[:, i] for i, s in enumerate(self.pomdp.mdp.states)}
        acts = np.asarray(self.pomdp.mdp.actions, dtype=object)
        return pd.DataFrame({**cols, "value": vals.max(axis=1), "action": acts[self.alpha_actions[best]]})


def _min_l1(X: np.ndarray, Y: np.ndarray, budget: int = 4_000_000) -> np.ndarray:
    """Return each row's smallest L1 distance to the rows of ``Y`` (inf when ``Y`` is empty), in chunks."""
    out = np.full(len(X), np.inf)
    if len(Y) == 0 or len(X) == 0:
        return out
    step = max(1, budget // (len(Y) * X.shape[1]))
    for i in range(0, len(X), step):
        out[i:i + step] = np.abs(X[i:i + step, None, :] - Y[None, :, :]).sum(axis=2).min(axis=1)
    return out


class POMDP:
    """A POMDP: an :class:`MDP` for the hidden state plus an observation model.

    Parameters
    ----------
    mdp
        Hidden-state dynamics, rewards ``R(s, a)`` and discount.
    observation_probs
        ``(A, S, O)`` array: P(o | s', a) for the state ``s'`` reached by action ``a``; or ``(S, O)`` (same
        for every action); or a DataFrame (index = states, columns = observations).
    observations
        Observation names (taken from the DataFrame columns when one is given).
    initial_belief
        Distribution over states at the start (default uniform).
    """

    def __init__(self, mdp: MDP, observation_probs: Any, *, observations: list[str] | None = None,
                 initial_belief: Any = None) -> None:
        self.mdp = mdp
        S, A = mdp.n_states, mdp.n_actions
        if isinstance(observation_probs, pd.DataFrame):
            df = observation_probs.reindex(index=mdp.states)
            if df.isna().any().any():
                raise ModelError("observation table has no row for some states: "
                                 f"{list(df.index[df.isna().any(axis=1)])}")
            observations = observations or [str(c) for c in observation_probs.columns]
            observation_probs = df.to_numpy(dtype=float)
        Obs = np.asarray(observation_probs, dtype=float)
        if Obs.ndim == 2:
            Obs = np.broadcast_to(Obs, (A, *Obs.shape)).copy()
        if Obs.ndim != 3 or Obs.shape[:2] != (A, S):
            raise ModelError(f"observation_probs must have shape (A, S, O) = ({A}, {S}, O); found {Obs.shape}")
        if not np.isfinite(Obs).all() or (Obs < 0).any():
            raise ProbabilityError("observation probabilities must be finite and non-negative")
        sums = Obs.sum(axis=2)
        bad = np.abs(sums - 1) > 1e-9
        if bad.any():
            a, s = np.argwhere(bad)[0]
            raise ProbabilityError(f"observation row (state {mdp.states[s]!r}, action {mdp.actions[a]!r}) sums "
                                   f"to {sums[a, s]:.12g}; expected 1")
        self.O = Obs
        self.n_states, self.n_actions, self.n_obs = S, A, Obs.shape[2]
        self.observations = [str(o) for o in (observations or [f"o{i}" for i in range(self.n_obs)])]
        if len(self.observations) != self.n_obs:
            raise ModelError(f"expected {self.n_obs} observation names, found {len(self.observations)}")
        self.T = mdp.to_dense()  # (A, S, S)
        self.R = mdp.R.T  # (S, A)
        self.discount = mdp.discount
        self.initial_belief = np.full(S, 1.0 / S) if initial_belief is None else self._belief(initial_belief)

    def __repr__(self) -> str:
        return f"POMDP(n_states={self.n_states}, n_actions={self.n_actions}, n_obs={self.n_obs}, " \
               f"discount={self.discount})"

    def get_params(self) -> dict[str, Any]:
        """Return constructor arguments that rebuild this POMDP, ``POMDP(**pomdp.get_params())``."""
        return {"mdp": self.mdp, "observation_probs": self.O, "observations": self.observations,
                "initial_belief": self.initial_belief}

    def summary(self) -> pd.DataFrame:
        """Return one row per (state, action): expected reward and the probability of each observation
        (one column per observation name) after taking the action and landing in the state."""
        S, A = self.n_states, self.n_actions
        a, s = np.divmod(np.arange(A * S), S)
        out = pd.DataFrame({"state": np.asarray(self.mdp.states, dtype=object)[s],
                            "action": np.asarray(self.mdp.actions, dtype=object)[a], "reward": self.R[s, a]})
        obs = pd.DataFrame(self.O.reshape(A * S, self.n_obs), columns=[f"P({o})" for o in self.observations])
        return pd.concat([out, obs], axis=1)

    def plot(self, kind: str = "belief_policy", ax: Any = None, **kwargs: Any) -> Any:
        """Solve the POMDP and draw :func:`probwb.mdp.plots.plot_belief_policy` (two-state models; keyword
        ``n`` for the grid, other keywords go to :meth:`solve`); return the Axes."""
        from probwb.core import api
        from probwb.mdp import plots

        def belief_policy(n: int = 201, **kw: Any) -> Any:
            return plots.plot_belief_policy(self.solve(**kw), ax=ax, n=n)

        return api.plot_kind(self, kind, {"belief_policy": belief_policy}, **kwargs)

    # ------------------------------------------------------------------ construction from an HMM
    @classmethod
    def from_hmm(cls, hmm: Any, rewards: Any, *, column: str | None = None, actions: list[str] | None = None,
                 action_inputs: dict[str, dict[str, Any]] | None = None, discount: float = 0.95,
                 initial_belief: Any = None) -> POMDP:
        """Build a POMDP from a fitted ``probwb.hmm`` model.

        Uses ``hmm.state_names_``, ``hmm.startprob_`` (initial belief), ``hmm.transmat_`` or, per action,
        ``hmm.transmat_for(action_inputs[action])``, and ``hmm.emission_probs_[column]`` (a DataFrame,
        index = states, columns = symbols) as the observation model. ``rewards`` is ``R(s, a)`` as an
        ``(S, A)`` array or a DataFrame (index = states, columns = actions).
        """
        for attr in ("state_names_", "startprob_", "transmat_", "emission_probs_"):
            if not hasattr(hmm, attr):
                raise ModelError(f"from_hmm needs a fitted HMM with attribute {attr!r}; "
                                 f"{type(hmm).__name__} has none (was it fitted?)")
        states = list(map(str, hmm.state_names_))
        if actions is None:
            if isinstance(rewards, pd.DataFrame):
                actions = [str(c) for c in rewards.columns]
            elif action_inputs is not None:
                actions = list(action_inputs)
            else:
                raise ModelError("from_hmm needs actions= (or a rewards DataFrame whose columns are actions)")
        if action_inputs is not None:
            if not hasattr(hmm, "transmat_for"):
                raise ModelError("action_inputs needs an input-driven HMM with transmat_for(inputs)")
            unknown = [a for a in action_inputs if a not in actions]
            if unknown:
                raise ModelError(f"action_inputs names unknown actions {unknown}; actions are {actions}")
            T = np.stack([np.asarray(hmm.transmat_for(action_inputs[a]) if a in action_inputs else hmm.transmat_,
                                     dtype=float) for a in actions])
        else:
            T = np.stack([np.asarray(hmm.transmat_, dtype=float)] * len(actions))
        em = hmm.emission_probs_
        if column is None:
            if len(em) != 1:
                raise ModelError(f"the HMM has several categorical columns {list(em)}; pass column=")
            column = next(iter(em))
        if column not in em:
            raise ModelError(f"the HMM has no categorical column {column!r}; it has {list(em)}")
        Odf = em[column]
        if isinstance(rewards, pd.DataFrame):
            rewards = rewards.reindex(index=states, columns=actions).to_numpy(float)
        mdp = MDP(T, rewards, discount, states=states, actions=actions)
        init = hmm.startprob_ if initial_belief is None else initial_belief
        return cls(mdp, Odf, initial_belief=init)

    # ------------------------------------------------------------------ beliefs
    def _belief(self, belief: Any) -> np.ndarray:
        S = self.mdp.n_states
        if isinstance(belief, dict):
            belief = pd.Series(belief)
        if isinstance(belief, pd.Series):
            unknown = [k for k in belief.index if str(k) not in self.mdp.states]
            if unknown:
                self.mdp.state_index(unknown[0])
            belief = belief.reindex(self.mdp.states, fill_value=0.0).to_numpy(float)
        b = np.asarray(belief, dtype=float)
        if b.shape != (S,) or not np.isfinite(b).all() or (b < 0).any() or abs(b.sum() - 1) > 1e-9:
            raise ProbabilityError(f"a belief must be a distribution over the {S} states {self.mdp.states}; "
                                   f"found {belief!r}")
        return b

    def _obs_index(self, obs: Any) -> int:
        key = str(obs)
        if key in self.observations:
            return self.observations.index(key)
        if isinstance(obs, (int, np.integer)) and 0 <= int(obs) < self.n_obs:
            return int(obs)
        from probwb.core.validation import closest_match
        from probwb.errors import StateError

        hit = closest_match(key, self.observations)
        raise StateError(f"unknown observation {obs!r}" + (f" (did you mean {hit!r}?)" if hit else "")
                         + f"; observations are {self.observations}")

    def update_belief(self, belief: Any, action: Any, observation: Any) -> pd.Series:
        """Bayes' rule: ``b'(s') ∝ O[a, s', o] sum_s b(s) T[a, s, s']``; return the new belief (Series).

        Raises ImpossibleEvidenceError if the observation has probability zero under the belief.
        """
        b = self._belief(belief)
        a = self.mdp.action_index(action)
        o = self._obs_index(observation)
        nb = self._update(b, a, o)
        if nb is None:
            raise ImpossibleEvidenceError(f"observation {self.observations[o]!r} after action "
                                          f"{self.mdp.actions[a]!r} has probability 0 under belief {b}")
        return pd.Series(nb, index=pd.Index(self.mdp.states, name="state"), name="belief")

    def _update(self, b: np.ndarray, a: int, o: int) -> np.ndarray | None:
        un = (b @ self.T[a]) * self.O[a, :, o]
        z = un.sum()
        return None if z <= 0 else un / z

    def observation_probability(self, belief: Any, action: Any) -> pd.Series:
        """P(o | b, a) for every observation (Series)."""
        b = self._belief(belief)
        a = self.mdp.action_index(action)
        return pd.Series((b @ self.T[a]) @ self.O[a], index=self.observations, name="probability")

    def filter(self, actions: list[Any], observations: list[Any], belief: Any = None) -> pd.DataFrame:
        """Run belief updates along a history; return a DataFrame of beliefs (row t = after step t)."""
        b = self.initial_belief if belief is None else self._belief(belief)
        rows = [b]
        for a, o in zip(actions, observations, strict=True):
            b = self.update_belief(b, a, o).to_numpy()
            rows.append(b)
        return pd.DataFrame(rows, columns=self.mdp.states)

    # ------------------------------------------------------------------ belief points
    def sample_beliefs(self, n: int = 200, *, depth: int = 30, min_distance: float = 1e-3, spread: bool = True,
                       random_state: RandomState = None) -> np.ndarray:
        """Return up to ``n`` distinct beliefs ``(k, S)``, pairwise at least ``min_distance`` apart in L1.

        The state corners and the initial belief come first. Then the set grows breadth-first from the
        initial belief: every belief added in the last round is updated with every action and every
        observation of positive probability; a successor joins when it lies at least ``min_distance`` from all
        beliefs kept so far (farthest first, ties in random order). This stops at ``n`` beliefs, after ``depth``
        rounds, or when a round adds nothing (every reachable belief is then within ``min_distance`` of the
        set). With ``spread`` and fewer than ``n`` found, farthest-point sampling over the whole simplex
        (from uniform Dirichlet candidates) adds beliefs until ``n`` or until none is ``min_distance`` away,
        so values between the reachable beliefs are backed up too. :meth:`solve` reports the counts.
        """
        return self._belief_set(n, depth=depth, min_distance=min_distance, spread=spread,
                                random_state=random_state)[0]

    def _belief_set(self, n: int, *, depth: int, min_distance: float, spread: bool,
                    random_state: RandomState) -> tuple[np.ndarray, dict[str, Any]]:
        n, depth = int(n), int(depth)
        if n < 1:
            raise ModelError(f"n (beliefs requested) must be a positive integer, found {n}")
        if not min_distance > 0:
            raise ModelError(f"min_distance must be positive (an L1 distance between beliefs), found {min_distance}")
        rng = check_random_state(random_state)
        S = self.n_states
        kept = np.empty((0, S))

        def admit(cand: np.ndarray, limit: int) -> np.ndarray:
            """Add candidates at least min_distance from the set (farthest first); return those added."""
            nonlocal kept
            if cand.size == 0 or limit <= 0:
                return cand[:0]
            cand = cand[rng.permutation(len(cand))]
            d = _min_l1(cand, kept)
            order = np.argsort(-d, kind="stable")
            cand, d = cand[order], d[order]
            ok = d >= min_distance
            cand, d = cand[ok], d[ok]
            added = []
            for i in range(len(cand)):
                if len(added) >= limit:
                    break
                if added and np.abs(np.array(added) - cand[i]).sum(axis=1).min() < min_distance:
                    continue
                added.append(cand[i])
            new = np.array(added).reshape(-1, S)
            kept = np.vstack([kept, new])
            return new

        admit(np.vstack([self.initial_belief[None, :], np.eye(S)]), n)
        frontier = kept.copy()
        rounds = 0
        # P(o | b, a) below this is an update of rounding noise, not a reachable belief
        z_min = 1e-12
        while len(kept) < n and len(frontier) and rounds < depth:
            pred = np.einsum("ms,ast->mat", frontier, self.T)  # (m, A, S')
            un = pred[:, :, None, :] * self.O.transpose(0, 2, 1)[None, :, :, :]  # (m, A, O, S')
            z = un.sum(axis=3)
            succ = un[z > z_min] / z[z > z_min][:, None]
            frontier = admit(succ.reshape(-1, S), n - len(kept))
            rounds += 1
        n_reachable = len(kept)
        exhausted = len(frontier) == 0
        if spread and len(kept) < n:
            pool = rng.dirichlet(np.ones(S), size=max(2000, 20 * (n - len(kept))))
            d = _min_l1(pool, kept)
            added = []
            while len(kept) + len(added) < n:
                i = int(np.argmax(d))
                if d[i] < min_distance:
                    break
                added.append(pool[i])
                d = np.minimum(d, np.abs(pool - pool[i]).sum(axis=1))
            if added:
                kept = np.vstack([kept, np.array(added)])
        info = {"n_beliefs": len(kept), "n_requested": n, "n_reachable": n_reachable,
                "n_spread": len(kept) - n_reachable, "reachable_exhausted": bool(exhausted and rounds < depth),
                "expansion_rounds": rounds, "min_distance": float(min_distance)}
        if len(kept) < n:
            logger.info("belief set: %d of %d requested beliefs (%d reachable)", len(kept), n, n_reachable)
        return kept, info

    # ------------------------------------------------------------------ point-based backups
    def _gao(self, alphas: np.ndarray) -> np.ndarray:
        # G[a, o, i, s] = g sum_s' T[a, s, s'] O[a, s', o] alpha_i(s')
        return self.discount * np.einsum("ast,ato,it->aois", self.T, self.O, alphas, optimize=True)

    def _backup(self, B: np.ndarray, alphas: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = np.einsum("aois,bs->baoi", G, B, optimize=True)
        best = scores.argmax(axis=3)  # (nb, A, O)
        A, n_obs = self.n_actions, self.n_obs
        a_idx = np.arange(A)[None, :, None]
        o_idx = np.arange(n_obs)[None, None, :]
        chosen = G[a_idx, o_idx, best]  # (nb, A, O, S)
        ga = self.R.T[None, :, :] + chosen.sum(axis=2)  # (nb, A, S)
        vals = np.einsum("bas,bs->ba", ga, B)
        act = vals.argmax(axis=1)
        return ga[np.arange(len(B)), act], act

    def solve(self, method: str = "perseus", *, beliefs: np.ndarray | None = None, n_beliefs: int = 200,
              max_iter: int = 500, tol: float = 1e-6, min_distance: float = 1e-3, spread: bool = True,
              random_state: RandomState = None, quiet: bool = True) -> BeliefPolicy:
        """Point-based value iteration over a belief set; return a :class:`BeliefPolicy`.

        ``method="pbvi"`` backs up every belief point each iteration (Pineau et al. 2003);
        ``"perseus"`` backs up random points until every point's value has improved (Spaan & Vlassis
        2005). Stops when no belief value changes by more than ``tol`` (a ConvergenceWarning otherwise).
        The alpha vectors start at the lower bound ``min R / (1 - g)`` so values rise monotonically.
        Without ``beliefs``, the belief set is :meth:`sample_beliefs` ``(n_beliefs, min_distance=, spread=)``;
        the result's ``info`` reports how many beliefs were used and how many of them are reachable.
        """
        if self.discount >= 1:
            raise ModelError("point-based value iteration needs a discount in (0, 1)")
        if method not in ("pbvi", "perseus"):
            raise ModelError(f"method must be 'pbvi' or 'perseus', found {method!r}")
        rng = check_random_state(random_state)
        if beliefs is None:
            B, info = self._belief_set(n_beliefs, depth=30, min_distance=min_distance, spread=spread,
                                       random_state=rng)
        else:
            B = np.asarray(beliefs, float)
            if B.ndim != 2 or B.shape[1] != self.n_states:
                raise ModelError(f"beliefs must be an (n, {self.n_states}) array, one belief per row; "
                                 f"found shape {B.shape}")
            info = {"n_beliefs": len(B), "n_requested": len(B)}
        alphas = np.full((1, self.n_states), self.R.min() / (1 - self.discount))
        acts = np.zeros(1, dtype=np.int64)
        old = (B @ alphas.T).max(axis=1)
        history: list[float] = []
        conv = False
        it = 0
        with Progress(total=max_iter, desc=f"{method}", disable=quiet) as bar:
            for it in range(1, max_iter + 1):  # noqa: B007 - reported after the loop
                G = self._gao(alphas)
                if method == "pbvi":
                    new_a, new_act = self._backup(B, alphas, G)
                    new_a, idx = np.unique(np.round(new_a, 12), axis=0, return_index=True)
                    new_act = new_act[idx]
                else:
                    new_list, act_list = [], []
                    todo = np.ones(len(B), dtype=bool)
                    while todo.any():
                        k = rng.choice(np.flatnonzero(todo))
                        alpha, a = self._backup(B[k:k + 1], alphas, G)
                        alpha, a = alpha[0], int(a[0])
                        if alpha @ B[k] < old[k]:
                            # keep the previous best vector at this point: values never decrease
                            j = int(np.argmax(alphas @ B[k]))
                            alpha, a = alphas[j], int(acts[j])
                        new_list.append(alpha)
                        act_list.append(a)
                        todo &= (B @ alpha) < old - 1e-12
                    new_a, new_act = np.array(new_list), np.array(act_list)
                vals = (B @ new_a.T).max(axis=1)
                change = float(np.abs(vals - old).max())
                history.append(change)
                alphas, acts, old = new_a, new_act, vals
                bar.update(1, f"change {change:.3g}, {len(alphas)} vectors")
                if change < tol:
                    conv = True
                    break
        if not conv:
            warnings.warn(f"{method} stopped after {it} iterations with value change {history[-1]:.3g} > tol",
                          ConvergenceWarning, stacklevel=2)
        return BeliefPolicy(self, alphas, acts, it, conv, history, beliefs=B, info=info)

    # ------------------------------------------------------------------ simulation
    def simulate(self, policy: BeliefPolicy, *, n_episodes: int = 1000, n_steps: int = 100,
                 belief: Any = None, keep_trajectories: bool = False,
                 random_state: RandomState = None) -> dict[str, Any]:
        """Simulate the belief policy from ``belief`` (default the initial belief).

        Returns a dict with ``returns`` (n_episodes,) discounted returns, ``mean``, ``se`` and, when
        ``keep_trajectories``, ``trajectories``: DataFrame episode, t, state, belief_<state>..., action,
        reward, observation.
        """
        rng = check_random_state(random_state)
        b0 = self.initial_belief if belief is None else self._belief(belief)
        S = self.n_states
        returns = np.zeros(n_episodes)
        rows = []
        for ep in range(n_episodes):
            b = b0
            s = rng.choice(S, p=b0)
            disc = 1.0
            for t in range(n_steps):
                a = policy.action_index(b)
                r = self.R[s, a]
                returns[ep] += disc * r
                disc *= self.discount
                s2 = rng.choice(S, p=self.T[a, s])
                o = rng.choice(self.n_obs, p=self.O[a, s2])
                if keep_trajectories:
                    rows.append((ep, t, self.mdp.states[s], *b, self.mdp.actions[a], r, self.observations[o]))
                nb = self._update(b, a, o)
                b = nb if nb is not None else b
                s = s2
        out: dict[str, Any] = {"returns": returns, "mean": float(returns.mean()),
                               "se": float(returns.std(ddof=1) / np.sqrt(n_episodes)) if n_episodes > 1 else np.nan}
        if keep_trajectories:
            cols = ["episode", "t", "state", *[f"belief_{s}" for s in self.mdp.states], "action", "reward",
                    "observation"]
            out["trajectories"] = pd.DataFrame(rows, columns=cols)
        return out

    def evaluate(self, policy: BeliefPolicy, *, n_episodes: int = 2000, belief: Any = None,
                 random_state: RandomState = None) -> pd.Series:
        """Monte Carlo value of the belief policy vs its own alpha-vector estimate (Series)."""
        n_steps = int(np.ceil(np.log(1e-3) / np.log(self.discount)))
        b0 = self.initial_belief if belief is None else self._belief(belief)
        sim = self.simulate(policy, n_episodes=n_episodes, n_steps=n_steps, belief=b0, random_state=random_state)
        return pd.Series({"monte_carlo_mean": sim["mean"], "monte_carlo_se": sim["se"],
                          "alpha_value": policy.value(b0), "n_episodes": n_episodes, "n_steps": n_steps})
