"""Learning MDPs from logged transitions: ML and Bayesian (Dirichlet) estimates, the posterior over
optimal policies, and tabular Q-learning against a simulator."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.api import renamed_argument
from probwb.core.random import RandomState, check_random_state
from probwb.core.validation import check_columns, check_dataframe
from probwb.errors import ConvergenceWarning, ModelError, NotFittedError, SmallSampleWarning
from probwb.mdp.model import MDP, _codes

__all__ = ["MDPEstimator", "PolicyPosterior", "PolicyValuePosterior", "batched_policy_iteration",
           "batched_policy_values", "q_learning", "QLearningResult"]


class MDPEstimator:
    """Estimate an MDP from logs with one row per transition: state, action, reward, next_state.

    Parameters
    ----------
    discount
        Discount of the estimated MDP.
    method
        ``"ml"``: transition probabilities are the observed frequencies; ``"bayes"``: posterior mean under a
        symmetric Dirichlet(``prior``) per (state, action).
    prior
        Dirichlet concentration per next state (``"bayes"``; also the posterior used by ``sample_mdps``).
    unseen
        What to do with a (state, action) pair never logged: ``"error"``; ``"stay"`` (self-loop, reward 0,
        with a SmallSampleWarning naming the pairs); ``"prior"`` (the Dirichlet prior mean, uniform).
    states, actions
        Names in order (default: order of first appearance).
    state, action, reward, next_state
        Column names.

    Fitted attributes: ``counts_`` (A, S, S) transition counts, ``reward_sum_``, ``reward_sq_``,
    ``n_`` (A, S) visit counts, ``states_``, ``actions_``, ``mdp_`` (the point estimate).
    """

    def __init__(self, discount: float = 0.95, *, method: str = "bayes", prior: float = 1.0,
                 unseen: str = "stay", states: Sequence[Any] | None = None,
                 actions: Sequence[Any] | None = None, state: str = "state", action: str = "action",
                 reward: str = "reward", next_state: str = "next_state") -> None:
        self.discount = discount
        self.method = method
        self.prior = prior
        self.unseen = unseen
        self.states = states
        self.actions = actions
        self.state, self.action, self.reward, self.next_state = state, action, reward, next_state

    def fit(self, data: pd.DataFrame) -> MDPEstimator:
        """Count transitions and rewards in ``data``; return self."""
        if self.method not in ("ml", "bayes"):
            raise ModelError(f"method must be 'ml' or 'bayes', found {self.method!r}")
        if self.unseen not in ("error", "stay", "prior"):
            raise ModelError(f"unseen must be 'error', 'stay' or 'prior', found {self.unseen!r}")
        if not self.prior > 0:
            raise ModelError(f"prior must be a positive Dirichlet concentration, found {self.prior}")
        data = check_dataframe(data)
        cols = [self.state, self.action, self.reward, self.next_state]
        check_columns(data, cols)
        if data[cols].isna().any().any():
            bad = [c for c in cols if data[c].isna().any()]
            raise ModelError(f"logs contain missing values in column(s) {bad}")
        states = [str(s) for s in (self.states if self.states is not None else
                                   dict.fromkeys([*map(str, data[self.state]), *map(str, data[self.next_state])]))]
        actions = [str(a) for a in (self.actions if self.actions is not None else
                                    dict.fromkeys(map(str, data[self.action])))]
        S, A = len(states), len(actions)
        s = _codes(data[self.state], states, f"column {self.state!r}")
        a = _codes(data[self.action], actions, f"column {self.action!r}")
        ns = _codes(data[self.next_state], states, f"column {self.next_state!r}")
        r = data[self.reward].to_numpy(dtype=float)
        self.counts_ = np.bincount((a * S + s) * S + ns, minlength=A * S * S).reshape(A, S, S).astype(float)
        self.n_ = self.counts_.sum(axis=2)
        self.reward_sum_ = np.bincount(a * S + s, weights=r, minlength=A * S).reshape(A, S)
        self.reward_sq_ = np.bincount(a * S + s, weights=r * r, minlength=A * S).reshape(A, S)
        self.states_, self.actions_ = states, actions
        self.unseen_ = [(states[j], actions[i]) for i, j in np.argwhere(self.n_ == 0)]
        if self.unseen_:
            if self.unseen == "error":
                raise ModelError(f"no logged transitions for (state, action) pair(s) {self.unseen_[:10]}")
            warnings.warn(f"{len(self.unseen_)} (state, action) pair(s) never logged, e.g. {self.unseen_[:5]}; "
                          f"treated as unseen={self.unseen!r}", SmallSampleWarning, stacklevel=2)
        self.mdp_ = self._to_mdp(self._point_transitions(), self.reward_mean())
        return self

    def _check(self) -> None:
        if not hasattr(self, "counts_"):
            raise NotFittedError("MDPEstimator is not fitted; call fit(logs) first")

    def __repr__(self) -> str:
        from probwb.core import api

        return api.estimator_repr(self, always=("discount", "method"))

    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments as ``{name: value}``."""
        from probwb.core import api

        return api.get_params(self)

    def set_params(self, **params: Any) -> MDPEstimator:
        """Set constructor arguments; return self, unfitted (call fit again)."""
        from probwb.core import api

        return api.set_params(self, params)

    def summary(self) -> pd.DataFrame:
        """Return one row per (state, action): times logged, mean and sd of the logged reward (NaN where
        never or once logged), and the most likely next state with its point-estimate probability."""
        self._check()
        T = self._point_transitions()
        A, S, _ = T.shape
        n = self.n_
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, self.reward_sum_ / np.maximum(n, 1), np.nan)
            var = np.where(n > 1, (self.reward_sq_ - n * np.nan_to_num(mean) ** 2) / np.maximum(n - 1, 1), np.nan)
        top = T.argmax(axis=2)
        st, ac = np.asarray(self.states_, dtype=object), np.asarray(self.actions_, dtype=object)
        a, s = np.divmod(np.arange(A * S), S)
        return pd.DataFrame({"state": st[s], "action": ac[a], "n": n.ravel(), "reward_mean": mean.ravel(),
                             "reward_sd": np.sqrt(np.maximum(var, 0.0)).ravel(),
                             "most_likely_next": st[top.ravel()], "p_most_likely": T.max(axis=2).ravel()})

    def plot(self, kind: str = "policy_posterior", ax: Any = None, **kwargs: Any) -> Any:
        """Draw the posterior over optimal policies and return the Axes: ``"policy_posterior"`` (P(action is
        optimal) per state) or ``"value_posterior"`` (optimal value per state); keywords go to
        :meth:`policy_posterior` (``n_samples``, ``random_state``, ...)."""
        from probwb.core import api
        from probwb.mdp import plots

        self._check()
        return api.plot_kind(self, kind, {
            "policy_posterior": lambda **kw: plots.plot_policy_posterior(self.policy_posterior(**kw), ax=ax),
            "value_posterior": lambda **kw: plots.plot_value_posterior(self.policy_posterior(**kw), ax=ax),
        }, **kwargs)

    def _unseen_mask(self) -> np.ndarray:
        return self.n_ == 0

    def _point_transitions(self) -> np.ndarray:
        A, S, _ = self.counts_.shape
        if self.method == "ml":
            with np.errstate(invalid="ignore", divide="ignore"):
                T = self.counts_ / self.n_[..., None]
        else:
            post = self.counts_ + self.prior
            T = post / post.sum(axis=2, keepdims=True)
        return self._fill_unseen(T)

    def _fill_unseen(self, T: np.ndarray) -> np.ndarray:
        mask = self._unseen_mask()
        if mask.any():
            A, S, _ = T.shape
            if self.unseen == "stay":
                T[mask] = 0.0
                ai, si = np.nonzero(mask)
                T[ai, si, si] = 1.0
            else:
                T[mask] = 1.0 / S
        return T

    def reward_mean(self) -> np.ndarray:
        """Mean logged reward per (state, action) as ``(S, A)`` (0 where never logged)."""
        self._check()
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.where(self.n_ > 0, self.reward_sum_ / np.maximum(self.n_, 1), 0.0)
        return m.T

    def _to_mdp(self, T: np.ndarray, R_sa: np.ndarray) -> MDP:
        return MDP(T, R_sa, self.discount, states=self.states_, actions=self.actions_)

    def transition_table(self) -> pd.DataFrame:
        """Point-estimate transitions with counts, tidy: state, action, next_state, count, probability."""
        self._check()
        T = self._point_transitions()
        A, S, _ = T.shape
        a, s, n = np.meshgrid(np.arange(A), np.arange(S), np.arange(S), indexing="ij")
        st, ac = np.asarray(self.states_, dtype=object), np.asarray(self.actions_, dtype=object)
        return pd.DataFrame({"state": st[s.ravel()], "action": ac[a.ravel()], "next_state": st[n.ravel()],
                             "count": self.counts_.ravel(), "probability": T.ravel()})

    def sample_transitions(self, n: int, random_state: RandomState = None) -> np.ndarray:
        """Draw ``n`` transition tensors from the Dirichlet posterior; return ``(n, A, S, S)``."""
        self._check()
        rng = check_random_state(random_state)
        alpha = self.counts_ + self.prior
        g = rng.standard_gamma(np.broadcast_to(alpha, (n, *alpha.shape)))
        T = g / g.sum(axis=3, keepdims=True)
        if self.unseen == "stay":
            mask = self._unseen_mask()
            ai, si = np.nonzero(mask)
            T[:, ai, si, :] = 0.0
            T[:, ai, si, si] = 1.0
        return T

    def sample_rewards(self, n: int, random_state: RandomState = None) -> np.ndarray:
        """Draw ``n`` mean-reward tables ``(n, A, S)`` from their posterior; return the draws.

        Per (state, action) with ``count >= 2`` logged rewards: ``mean + sd / sqrt(count) * t_{count-1}``, the
        posterior of a normal mean with unknown variance under the prior ``1 / sigma^2`` (a normal draw with
        the sample sd plugged in is too narrow for small counts). With fewer than 2 rewards the sd is
        unknown and the mean is taken as known (0 when never logged; see ``unseen``).
        """
        self._check()
        rng = check_random_state(random_state)
        cnt = np.maximum(self.n_, 1)
        mean = self.reward_sum_ / cnt
        var = np.maximum(self.reward_sq_ / cnt - mean**2, 0.0) * cnt / np.maximum(cnt - 1, 1)
        se = np.where(self.n_ > 1, np.sqrt(var / cnt), 0.0)
        df = np.maximum(self.n_ - 1, 1)
        return mean + se * rng.standard_t(np.broadcast_to(df, (n, *mean.shape)))

    def sample_mdps(self, n: int, random_state: RandomState = None) -> list[MDP]:
        """Draw ``n`` MDPs from the posterior (transitions Dirichlet, rewards at their mean)."""
        T = self.sample_transitions(n, random_state)
        R = self.reward_mean()
        return [self._to_mdp(T[i], R) for i in range(n)]

    def policy_value_posterior(self, policy: Any, n_samples: int = 400, *, reward_uncertainty: bool = True,
                               random_state: RandomState = None) -> PolicyValuePosterior:
        """Posterior of the value ``V_pi(s)`` of a fixed policy, from MDPs sampled from the posterior.

        ``policy``: anything :func:`probwb.mdp.policy.as_policy_array` takes (a Series state -> action, a
        SolveResult, an ``(S, A)`` table of action probabilities, ...). Each draw takes transitions from the
        Dirichlet posterior (counts + ``prior``) and, with ``reward_uncertainty``, mean rewards from
        :meth:`sample_rewards`; ``V_pi`` of that MDP is solved exactly. Returns a
        :class:`PolicyValuePosterior`, whose :meth:`~PolicyValuePosterior.interval` gives equal-tailed
        credible intervals per state.
        """
        self._check()
        from probwb.mdp.policy import as_policy_array

        g = float(self.discount)
        if not 0 < g < 1:
            raise ModelError(f"policy values from sampled MDPs need a discount in (0, 1), found {g} "
                             "(posterior draws give every next state positive probability, so no state "
                             "stays terminal)")
        pol = as_policy_array(self.mdp_, policy)
        rng = check_random_state(random_state)
        T = self.sample_transitions(n_samples, rng)
        R = self.sample_rewards(n_samples, rng) if reward_uncertainty else \
            np.broadcast_to(self.reward_mean().T, (n_samples, *self.n_.shape)).copy()
        V = batched_policy_values(T, R, g, pol)
        point = batched_policy_values(self._point_transitions()[None], self.reward_mean().T[None], g, pol)[0]
        return PolicyValuePosterior(list(self.states_), V, point)

    def policy_posterior(self, n_samples: int = 200, *, reward_uncertainty: bool = True,
                         random_state: RandomState = None) -> PolicyPosterior:
        """Sample MDPs from the posterior, solve each exactly (batched policy iteration), summarise.

        Returns a :class:`PolicyPosterior`: per sample the optimal policy and values; per state the
        probability that each action is optimal; the distribution of the optimal value.
        """
        self._check()
        rng = check_random_state(random_state)
        T = self.sample_transitions(n_samples, rng)
        R = self.sample_rewards(n_samples, rng) if reward_uncertainty else \
            np.broadcast_to(self.reward_mean().T, (n_samples, *self.n_.shape)).copy()
        pol, V = batched_policy_iteration(T, R, self.discount)
        point = self.mdp_
        from probwb.mdp.solvers import solve

        return PolicyPosterior(self.states_, self.actions_, pol, V, solve(point, "policy_iteration"))

    # ------------------------------------------------------------------ persistence
    def _file_config(self) -> dict[str, Any]:
        return {"discount": self.discount, "method": self.method, "prior": self.prior, "unseen": self.unseen,
                "states": None if self.states is None else [str(s) for s in self.states],
                "actions": None if self.actions is None else [str(a) for a in self.actions],
                "state": self.state, "action": self.action, "reward": self.reward, "next_state": self.next_state}

    def save(self, path: Any) -> Any:
        """Save the fitted estimator atomically as a ``.pwb`` model file (counts and reward sums; see
        probwb.core.io); return the path."""
        from probwb.core.io import save_model

        self._check()
        return save_model(path, self, config=self._file_config())

    @classmethod
    def load(cls, path: Any) -> MDPEstimator:
        """Load an estimator saved by :meth:`save` and return it; a foreign, damaged or edited file, or one
        whose counts fail validation, raises ModelFileError."""
        from probwb.core.io import load_model

        return load_model(path, cls)

    def _to_file_state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """Return ``(state, extras)`` for probwb.core.io.save_model: the sufficient statistics."""
        return {"counts_": self.counts_, "reward_sum_": self.reward_sum_, "reward_sq_": self.reward_sq_,
                "states_": list(self.states_), "actions_": list(self.actions_)}, {}

    @classmethod
    def _from_file_state(cls, state: dict[str, Any], extras: dict[str, bytes],
                         config: dict[str, Any]) -> MDPEstimator:
        """Rebuild a saved estimator: counts checked, point-estimate MDP rebuilt and validated; return it."""
        from probwb.errors import ModelFileError

        est = cls(**config)
        states, actions = [str(s) for s in state["states_"]], [str(a) for a in state["actions_"]]
        S, A = len(states), len(actions)
        counts = np.asarray(state["counts_"], dtype=float)
        rs, rq = np.asarray(state["reward_sum_"], dtype=float), np.asarray(state["reward_sq_"], dtype=float)
        if counts.shape != (A, S, S) or rs.shape != (A, S) or rq.shape != (A, S):
            raise ModelFileError(f"MDPEstimator file: counts {counts.shape} and reward sums {rs.shape} must be "
                                 f"({A}, {S}, {S}) and ({A}, {S}) for {S} states and {A} actions")
        if (not np.isfinite(counts).all() or (counts < 0).any() or (counts != np.round(counts)).any()
                or not np.isfinite(rs).all() or not np.isfinite(rq).all() or (rq < 0).any()):
            raise ModelFileError("MDPEstimator file: counts must be whole numbers >= 0 and reward sums finite "
                                 "(sums of squares >= 0)")
        if S == 0 or A == 0 or len(set(states)) != S or len(set(actions)) != A:
            raise ModelFileError(f"MDPEstimator file: states {states} and actions {actions} must be distinct")
        est.counts_ = counts
        est.n_ = counts.sum(axis=2)
        est.reward_sum_, est.reward_sq_ = rs, rq
        est.states_, est.actions_ = states, actions
        est.unseen_ = [(states[j], actions[i]) for i, j in np.argwhere(est.n_ == 0)]
        if est.unseen_ and est.unseen == "error":
            raise ModelFileError(f"MDPEstimator file: unseen='error' but pairs {est.unseen_[:5]} have no counts")
        est.mdp_ = est._to_mdp(est._point_transitions(), est.reward_mean())
        return est


def batched_policy_values(T: np.ndarray, R: np.ndarray, discount: float, policy: np.ndarray) -> np.ndarray:
    """Exact values of one policy on ``n`` dense MDPs at once; return ``(n, S)``.

    ``T`` is ``(n, A, S, S)``, ``R`` is ``(n, A, S)``, ``policy`` ``(S,)`` action indices or an ``(S, A)``
    table of action probabilities; one batched ``numpy.linalg.solve`` of ``(I - g P_pi) V = r_pi``.
    """
    n, A, S, _ = T.shape
    pol = np.asarray(policy)
    if pol.ndim == 1:
        Ppi = T[:, pol, np.arange(S)]  # (n, S, S)
        rpi = R[:, pol, np.arange(S)]
    else:
        Ppi = np.einsum("nast,sa->nst", T, pol)
        rpi = np.einsum("nas,sa->ns", R, pol)
    return np.linalg.solve(np.eye(S) - float(discount) * Ppi, rpi[..., None])[..., 0]


def batched_policy_iteration(T: np.ndarray, R: np.ndarray, discount: float, *, max_iter: int = 1000
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Exact policy iteration on ``n`` dense MDPs at once.

    ``T`` is ``(n, A, S, S)``, ``R`` is ``(n, A, S)``. Each step evaluates all policies with one batched
    ``numpy.linalg.solve`` and improves them together. Returns ``(policies (n, S), values (n, S))``.
    """
    n, A, S, _ = T.shape
    g = float(discount)
    if not 0 < g < 1:
        raise ModelError(f"batched policy iteration needs a discount in (0, 1), found {g}")
    pol = R.argmax(axis=1)
    eye = np.eye(S)
    ni = np.arange(n)[:, None]
    si = np.arange(S)[None, :]
    V = np.zeros((n, S))
    for _ in range(max_iter):
        Ppi = T[ni, pol, si]  # (n, S, S)
        rpi = R[ni, pol, si]
        V = np.linalg.solve(eye - g * Ppi, rpi[..., None])[..., 0]
        Q = R + g * np.einsum("nast,nt->nas", T, V)
        best = Q.argmax(axis=1)
        cur = np.take_along_axis(Q, pol[:, None, :], axis=1)[:, 0]
        top = Q.max(axis=1)
        tol = 1e-10 * np.maximum(1.0, np.abs(V).max(axis=1, keepdims=True))
        new = np.where(cur >= top - tol, pol, best)
        if (new == pol).all():
            return pol, V
        pol = new
    warnings.warn("batched policy iteration hit max_iter", ConvergenceWarning, stacklevel=2)
    return pol, V


@dataclass
class PolicyPosterior:
    """Posterior over optimal policies from sampled MDPs.

    ``policies`` (n, S) action indices, ``values`` (n, S) optimal values, ``point`` the solution of the
    posterior-mean MDP.
    """

    states: list[str]
    actions: list[str]
    policies: np.ndarray
    values: np.ndarray
    point: Any

    def action_probabilities(self) -> pd.DataFrame:
        """P(action is optimal) per state: DataFrame index = states, columns = actions."""
        n, S = self.policies.shape
        A = len(self.actions)
        counts = np.zeros((S, A))
        for a in range(A):
            counts[:, a] = (self.policies == a).sum(axis=0)
        return pd.DataFrame(counts / n, index=pd.Index(self.states, name="state"),
                            columns=pd.Index(self.actions, name="action"))

    def value_summary(self, probs: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Posterior of the optimal value per state: mean, sd and quantiles."""
        q = np.quantile(self.values, probs, axis=0)
        df = pd.DataFrame({"mean": self.values.mean(axis=0), "sd": self.values.std(axis=0, ddof=1)},
                          index=pd.Index(self.states, name="state"))
        for p, row in zip(probs, q, strict=True):
            df[f"q{int(round(p * 100)):02d}"] = row
        df["point_estimate"] = self.point.V
        return df

    def summary(self) -> pd.DataFrame:
        """Per state: the point-estimate action, the most probable optimal action and its probability."""
        pa = self.action_probabilities()
        return pd.DataFrame({"point_action": self.point.policy.to_numpy(), "map_action": pa.idxmax(axis=1),
                             "p_map_action": pa.max(axis=1),
                             "p_point_action": [pa.loc[s, a] for s, a in zip(pa.index, self.point.policy,
                                                                              strict=True)]},
                            index=pa.index)


@dataclass
class PolicyValuePosterior:
    """Posterior draws of a fixed policy's values: ``values`` (n, S), ``point`` (S,) its value under the
    posterior-mean MDP (transitions at the Dirichlet posterior mean, rewards at their logged means)."""

    states: list[str]
    values: np.ndarray
    point: np.ndarray

    @renamed_argument("level", "interval")
    def interval(self, interval: float = 0.9) -> pd.DataFrame:
        """Per state: posterior mean, sd, the equal-tailed credible interval of mass ``interval`` and the
        point value.

        A Bayesian credible interval under the Dirichlet(``prior``) transition prior and the normal
        approximation for mean rewards; benchmarks/calibration_mdp.md reports how often it covers the true
        value when logs are simulated from a known MDP.
        """
        level = interval
        if not 0 < level < 1:
            raise ModelError(f"PolicyValuePosterior.interval: interval must lie strictly between 0 and 1, "
                             f"found {level}")
        lo, hi = np.quantile(self.values, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return pd.DataFrame({"mean": self.values.mean(axis=0), "sd": self.values.std(axis=0, ddof=1),
                             "lower": lo, "upper": hi, "point_estimate": self.point},
                            index=pd.Index(self.states, name="state"))


@dataclass
class QLearningResult:
    """Tabular Q-learning output: ``Q`` (DataFrame states x actions), ``policy`` (Series), ``episode_returns``."""

    Q: pd.DataFrame
    policy: pd.Series
    episode_returns: np.ndarray
    n_updates: int


def q_learning(
    env: MDP | Callable[[str, str, np.random.Generator], tuple[str, float]],
    *,
    states: Sequence[str] | None = None,
    actions: Sequence[str] | None = None,
    discount: float | None = None,
    n_episodes: int = 500,
    n_steps: int = 100,
    learning_rate: float | str = "visits",
    exploration: float = 0.1,
    start: Any = None,
    random_state: RandomState = None,
) -> QLearningResult:
    """Tabular Q-learning (Watkins 1989) against a simulator; return a :class:`QLearningResult`.

    ``env`` is an :class:`MDP` (sampled as a simulator) or a function ``step(state, action, rng) ->
    (next_state, reward)`` with ``states`` and ``actions`` given. Epsilon-greedy exploration; the
    learning rate is a constant or ``"visits"`` (1 / n(s, a)^0.6, which satisfies Robbins–Monro).
    ``start`` is a state name or None (uniform over states).
    """
    rng = check_random_state(random_state)
    if isinstance(env, MDP):
        mdp = env
        states, actions = mdp.states, mdp.actions
        g = mdp.discount if discount is None else discount
        from probwb.mdp.policy import sample_rows

        S = mdp.n_states

        def step_idx(s: int, a: int) -> tuple[int, float]:
            ns = int(sample_rows(mdp.P, np.array([a * S + s]), rng)[0])
            return ns, float(mdp.R[a, s])
    else:
        if states is None or actions is None or discount is None:
            raise ModelError("a simulator function needs states=, actions= and discount=")
        g = discount
        states, actions = [str(s) for s in states], [str(a) for a in actions]
        lookup = {s: i for i, s in enumerate(states)}

        def step_idx(s: int, a: int) -> tuple[int, float]:
            ns, r = env(states[s], actions[a], rng)
            if str(ns) not in lookup:
                raise ModelError(f"simulator returned unknown state {ns!r}; states are {states}")
            return lookup[str(ns)], float(r)
    S, A = len(states), len(actions)
    Q = np.zeros((S, A))
    visits = np.zeros((S, A))
    rets = np.zeros(n_episodes)
    n_upd = 0
    s0 = None if start is None else list(states).index(str(start))
    for ep in range(n_episodes):
        s = int(rng.integers(S)) if s0 is None else s0
        disc = 1.0
        for _ in range(n_steps):
            if rng.random() < exploration:
                a = int(rng.integers(A))
            else:
                row = Q[s]
                a = int(rng.choice(np.flatnonzero(row == row.max())))
            ns, r = step_idx(s, a)
            visits[s, a] += 1
            lr = visits[s, a] ** -0.6 if learning_rate == "visits" else float(learning_rate)
            Q[s, a] += lr * (r + g * Q[ns].max() - Q[s, a])
            n_upd += 1
            rets[ep] += disc * r
            disc *= g
            s = ns
    st = pd.Index(states, name="state")
    acts = np.asarray(actions, dtype=object)
    return QLearningResult(pd.DataFrame(Q, index=st, columns=pd.Index(actions, name="action")),
                           pd.Series(acts[Q.argmax(axis=1)], index=st, name="action"), rets, n_upd)
