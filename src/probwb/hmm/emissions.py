"""Emission distributions for one observed column each.

Each class fills the same few hooks (hmmlearn's base-class design): ``encode`` (validate and turn a
column into floats, NaN = not observed), ``init`` (starting parameters from the data), ``loglik``
(``(M, S)`` log-likelihood matrix, zero where not observed), ``mstep`` (new parameters from the data and
state posteriors), ``sample``, ``order_key`` (a per-state number used to order states), ``mean``
(expected observation per state) and ``permute``. Adding an emission type means adding one class.

For parameter uncertainty (:mod:`probwb.hmm.uncertainty`) each class also maps its parameters to an
unconstrained vector (``theta`` / ``set_theta``), gives the gradient of the expected complete-data
log-likelihood in that vector (``theta_score``; by Fisher's identity, the gradient of the log-likelihood
itself when the posteriors are exact), and lists the quantities it reports with their link (``report``).
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import gammaln

from probwb.core.validation import as_float_array
from probwb.errors import DataError, ModelError, StateError

__all__ = ["Emission", "CategoricalEmission", "PoissonEmission", "GaussianEmission", "EMISSIONS", "make_emission"]


class Emission(abc.ABC):
    """Base class: one observed column, one distribution per hidden state."""

    kind: ClassVar[str] = ""

    def __init__(self, column: str) -> None:
        self.column = column

    # -- hooks -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def encode(self, values: Any, *, fitting: bool) -> np.ndarray:
        """Return the column as a float array with NaN for "not observed"; raise DataError on bad values."""

    @abc.abstractmethod
    def init(self, x: np.ndarray, n_states: int, rng: np.random.Generator) -> None:
        """Set starting parameters from the observed values ``x`` (NaN-free)."""

    @abc.abstractmethod
    def _loglik_observed(self, x: np.ndarray) -> np.ndarray:
        """Return the ``(M, S)`` log-likelihood of observed (NaN-free) values under each state."""

    @abc.abstractmethod
    def mstep(self, x: np.ndarray, gamma: np.ndarray) -> None:
        """Update parameters from values ``x`` (M,) (NaN allowed) and state posteriors ``gamma`` (M, S)."""

    @abc.abstractmethod
    def sample(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return one draw per entry of ``states`` (state indices)."""

    @abc.abstractmethod
    def mean(self) -> np.ndarray:
        """Return the expected observation per state (S,)."""

    @abc.abstractmethod
    def n_params(self) -> int:
        """Return the number of free parameters."""

    @abc.abstractmethod
    def permute(self, order: np.ndarray) -> None:
        """Reorder states: new state ``k`` is old state ``order[k]``."""

    @abc.abstractmethod
    def params(self) -> dict[str, np.ndarray]:
        """Return the parameters as a dict of arrays (copies)."""

    @abc.abstractmethod
    def set_params(self, **params: Any) -> None:
        """Set parameters (arrays with one entry per state along the first axis)."""

    @abc.abstractmethod
    def theta(self) -> np.ndarray:
        """Return the parameters as an unconstrained vector (fixing which entries are free on first call)."""

    @abc.abstractmethod
    def set_theta(self, theta: np.ndarray) -> None:
        """Set the parameters from a vector laid out as :meth:`theta` returns it."""

    @abc.abstractmethod
    def theta_score(self, x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """Return the gradient in ``theta`` of ``sum_t sum_s gamma[t, s] log p(x_t | s)`` (NaN rows skipped)."""

    @abc.abstractmethod
    def report(self) -> list[tuple[str, int, str, float, str]]:
        """Return the reported quantities as ``(name, state, symbol, value, link)``; link is ``"log"``,
        ``"logit"``, ``"identity"``, or ``"none"`` for a value on the boundary (no Wald interval)."""

    # -- shared ------------------------------------------------------------------------------------
    def suff_stats(self, x: np.ndarray, gamma: np.ndarray) -> Any:
        """Return the M-step statistics of one chunk of rows; chunks combine with :meth:`add_stats`.

        This default keeps the rows themselves (a subclass sums them instead, to bound memory).
        """
        return [(np.array(x, copy=True), np.array(gamma, copy=True))]

    def add_stats(self, a: Any, b: Any) -> Any:
        """Return the statistics of two chunks together (``a`` may be None: nothing seen yet)."""
        return b if a is None else a + b

    def mstep_stats(self, stats: Any) -> None:
        """Update parameters from statistics summed over every chunk (see :meth:`suff_stats`)."""
        self.mstep(np.concatenate([x for x, _ in stats]), np.concatenate([g for _, g in stats]))

    def loglik(self, x: np.ndarray) -> np.ndarray:
        """Return the ``(M, S)`` log-likelihood of each value under each state; 0 where ``x`` is NaN."""
        obs = ~np.isnan(x)
        if obs.all():
            return self._loglik_observed(x)
        out = np.zeros((x.shape[0], self.n_states))
        out[obs] = self._loglik_observed(x[obs])
        return out

    def order_key(self, stat: str) -> np.ndarray:
        """Return the per-state quantity named ``stat`` (``"mean"`` for every emission)."""
        if stat == "mean":
            return self.mean()
        raise ModelError(f"order_by: {self.kind} column {self.column!r} has no statistic {stat!r}; use 'mean'")

    @property
    def n_states(self) -> int:
        return int(self.mean().shape[0])

    def _numeric(self, values: Any) -> np.ndarray:
        try:
            arr = pd.to_numeric(pd.Series(values), errors="raise").to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            bad = [v for v in pd.Series(values).dropna().unique()[:5]]
            raise DataError(
                f"column {self.column!r}: {self.kind} emissions need numbers, found non-numeric values {bad}"
            ) from None
        if np.isinf(arr).any():
            pos = int(np.flatnonzero(np.isinf(arr))[0])
            raise DataError(f"column {self.column!r}: infinite value at row {pos}")
        return arr


class PoissonEmission(Emission):
    """Counts: ``x | state s ~ Poisson(rates_[s])``."""

    kind = "poisson"

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.rates_: np.ndarray | None = None

    def encode(self, values: Any, *, fitting: bool) -> np.ndarray:
        arr = self._numeric(values)
        obs = ~np.isnan(arr)
        neg = obs & (arr < 0)
        if neg.any():
            pos = int(np.flatnonzero(neg)[0])
            raise DataError(
                f"column {self.column!r}: Poisson counts must be >= 0, found {arr[pos]!r} at row {pos} "
                f"({int(neg.sum())} negative value(s))"
            )
        frac = obs & (arr != np.round(arr))
        if frac.any():
            pos = int(np.flatnonzero(frac)[0])
            raise DataError(
                f"column {self.column!r}: Poisson counts must be whole numbers, found {arr[pos]!r} at row {pos}"
            )
        return arr

    def init(self, x: np.ndarray, n_states: int, rng: np.random.Generator) -> None:
        # spread the starting rates over the data's quantiles, jittered so restarts differ
        qs = np.sort(rng.uniform(0.05, 0.95, n_states))
        rates = np.quantile(x, qs) if x.size else np.ones(n_states)
        mean = max(float(x.mean()) if x.size else 1.0, 1e-3)
        self.rates_ = np.maximum(rates * rng.uniform(0.8, 1.2, n_states), 0.05 * mean) + 1e-3

    def _loglik_observed(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            logr = np.log(self.rates_)
        top = float(x.max()) if x.size else 0.0
        if top <= 100_000 and x.size > 4 * top:
            # counts repeat a lot: tabulate log P(k | state) once per distinct count and look it up
            k = np.arange(int(top) + 1, dtype=float)
            table = np.where(k[:, None] == 0, 0.0, k[:, None] * logr[None, :]) - self.rates_[None, :]
            table -= gammaln(k + 1.0)[:, None]
            return table[x.astype(np.int64)]
        # 0 * log(0) is 0: a zero count under a zero rate has probability one
        term = np.where(x[:, None] == 0, 0.0, x[:, None] * logr[None, :])
        return term - self.rates_[None, :] - gammaln(x + 1.0)[:, None]

    def mstep(self, x: np.ndarray, gamma: np.ndarray) -> None:
        self.mstep_stats(self.suff_stats(x, gamma))

    def suff_stats(self, x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """Return ``[sum gamma, sum gamma * x]`` over observed rows, shape (2, S)."""
        obs = ~np.isnan(x)
        if obs.all():
            return np.stack([gamma.sum(axis=0), x @ gamma])
        g = gamma[obs]
        return np.stack([g.sum(axis=0), x[obs] @ g])

    def mstep_stats(self, stats: np.ndarray) -> None:
        denom, num = stats
        ok = denom > 0
        self.rates_ = np.where(ok, num / np.where(ok, denom, 1.0), self.rates_)

    def sample(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(self.rates_[states]).astype(float)

    def mean(self) -> np.ndarray:
        return np.asarray(self.rates_, dtype=float)

    def n_params(self) -> int:
        return int(self.rates_.shape[0])

    def permute(self, order: np.ndarray) -> None:
        self.rates_ = self.rates_[order]

    def params(self) -> dict[str, np.ndarray]:
        return {"rates": self.rates_.copy()}

    def set_params(self, rates: Any) -> None:
        rates = as_float_array(rates, name=f"Poisson rates of column {self.column!r}", error=ModelError)
        if (rates < 0).any() or not np.isfinite(rates).all():
            raise ModelError(f"column {self.column!r}: Poisson rates must be finite and >= 0, found {rates}")
        self.rates_ = rates

    def theta(self) -> np.ndarray:
        return np.log(np.maximum(self.rates_, 1e-300))

    def set_theta(self, theta: np.ndarray) -> None:
        self.rates_ = np.exp(theta)

    def theta_score(self, x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        obs = ~np.isnan(x)
        return ((x[obs][:, None] - self.rates_[None, :]) * gamma[obs]).sum(axis=0)

    def report(self) -> list[tuple[str, int, str, float, str]]:
        return [("rates", s, "", float(r), "log" if r > 0 else "none") for s, r in enumerate(self.rates_)]


class GaussianEmission(Emission):
    """Real values: ``x | state s ~ Normal(means_[s], covars_[s])`` (``covars_`` are variances)."""

    kind = "gaussian"

    def __init__(self, column: str, min_covar: float = 1e-3) -> None:
        super().__init__(column)
        self.min_covar = min_covar
        self.means_: np.ndarray | None = None
        self.covars_: np.ndarray | None = None

    def encode(self, values: Any, *, fitting: bool) -> np.ndarray:
        return self._numeric(values)

    def init(self, x: np.ndarray, n_states: int, rng: np.random.Generator) -> None:
        qs = np.sort(rng.uniform(0.05, 0.95, n_states))
        var = float(x.var()) if x.size > 1 else 1.0
        self.means_ = np.quantile(x, qs) if x.size else np.zeros(n_states)
        self.covars_ = np.full(n_states, max(var, self.min_covar))

    def _loglik_observed(self, x: np.ndarray) -> np.ndarray:
        var = self.covars_[None, :]
        return -0.5 * (np.log(2 * np.pi * var) + (x[:, None] - self.means_[None, :]) ** 2 / var)

    def mstep(self, x: np.ndarray, gamma: np.ndarray) -> None:
        self.mstep_stats(self.suff_stats(x, gamma))

    def suff_stats(self, x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """Return ``[sum g, sum g d, sum g d^2]`` with ``d = x - means_`` (current means), shape (3, S).

        Centring on the current means keeps the one-pass variance accurate: EM's new means are close to
        them, so ``sum g d^2 / D - (sum g d / D)^2`` subtracts two numbers of the size of the variance.
        """
        obs = ~np.isnan(x)
        g, xo = (gamma, x) if obs.all() else (gamma[obs], x[obs])
        d = xo[:, None] - self.means_[None, :]
        gd = g * d
        return np.stack([g.sum(axis=0), gd.sum(axis=0), (gd * d).sum(axis=0)])

    def mstep_stats(self, stats: np.ndarray) -> None:
        denom, s1, s2 = stats
        ok = denom > 1e-10
        safe = np.where(ok, denom, 1.0)
        shift = s1 / safe
        var = s2 / safe - shift**2
        self.means_ = np.where(ok, self.means_ + shift, self.means_)
        self.covars_ = np.where(ok, np.maximum(var, 0.0) + self.min_covar, self.covars_)

    def sample(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(self.means_[states], np.sqrt(self.covars_[states]))

    def mean(self) -> np.ndarray:
        return np.asarray(self.means_, dtype=float)

    def n_params(self) -> int:
        return 2 * int(self.means_.shape[0])

    def permute(self, order: np.ndarray) -> None:
        self.means_ = self.means_[order]
        self.covars_ = self.covars_[order]

    def params(self) -> dict[str, np.ndarray]:
        return {"means": self.means_.copy(), "covars": self.covars_.copy()}

    def set_params(self, means: Any, covars: Any) -> None:
        means = as_float_array(means, name=f"Gaussian means of column {self.column!r}", error=ModelError)
        covars = as_float_array(covars, name=f"Gaussian variances of column {self.column!r}", error=ModelError)
        for what, arr in (("means", means), ("variances", covars)):
            if not np.isfinite(arr).all():
                k = int(np.argmax(~np.isfinite(arr.reshape(-1))))
                raise ModelError(f"column {self.column!r}: Gaussian {what} must be finite numbers, found "
                                 f"{arr.reshape(-1)[k].item()} for state {k}")
        if (covars <= 0).any() or means.shape != covars.shape:
            raise ModelError(
                f"column {self.column!r}: Gaussian variances must be > 0 with one per state, "
                f"found means {means.shape}, covars {covars}"
            )
        self.means_, self.covars_ = means, covars

    def theta(self) -> np.ndarray:
        return np.concatenate([self.means_, np.log(self.covars_)])

    def set_theta(self, theta: np.ndarray) -> None:
        S = theta.shape[0] // 2
        self.means_, self.covars_ = theta[:S].copy(), np.exp(theta[S:])

    def theta_score(self, x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        obs = ~np.isnan(x)
        g, z = gamma[obs], x[obs][:, None] - self.means_[None, :]
        var = self.covars_[None, :]
        return np.concatenate([(g * z / var).sum(axis=0), (g * (0.5 * z**2 / var - 0.5)).sum(axis=0)])

    def report(self) -> list[tuple[str, int, str, float, str]]:
        return ([("means", s, "", float(m), "identity") for s, m in enumerate(self.means_)]
                + [("covars", s, "", float(v), "log") for s, v in enumerate(self.covars_)])


class CategoricalEmission(Emission):
    """Symbols: ``x | state s ~ Categorical(emissionprob_[s])`` over ``symbols_``.

    Symbols are learned from the data at fit (pandas categories keep their order; otherwise sorted), or
    given as ``symbols``. Numeric columns must hold whole numbers.
    """

    kind = "categorical"

    def __init__(self, column: str, symbols: list[Any] | None = None) -> None:
        super().__init__(column)
        self.symbols_: list[Any] | None = list(symbols) if symbols is not None else None
        self.emissionprob_: np.ndarray | None = None

    def encode(self, values: Any, *, fitting: bool) -> np.ndarray:
        s = pd.Series(values)
        missing = s.isna().to_numpy()
        present = s[~missing]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            num = present.to_numpy(dtype=float)
            frac = num != np.round(num)
            if frac.any():
                raise DataError(
                    f"column {self.column!r}: categorical symbols given as numbers must be whole numbers, "
                    f"found {num[frac][0]!r} at row {int(np.flatnonzero(~missing)[np.argmax(frac)])}"
                )
            present = pd.Series(num.astype(np.int64), index=present.index)
        if self.symbols_ is None:
            if not fitting:
                raise ModelError(f"column {self.column!r}: symbols are unknown before fit")
            if isinstance(s.dtype, pd.CategoricalDtype):
                used = set(present.astype(object))
                self.symbols_ = [c for c in s.cat.categories if c in used] or list(s.cat.categories)
            else:
                self.symbols_ = sorted(pd.unique(present.astype(object)), key=lambda v: (str(type(v)), v))
        lookup = {v: i for i, v in enumerate(self.symbols_)}
        # numbers given as strings or ints must match symbols of the same kind
        codes = np.full(len(s), np.nan)
        vals = present.astype(object).to_numpy()
        mapped = np.array([lookup.get(v, -1) for v in vals], dtype=float) if len(vals) else np.empty(0)
        if (mapped < 0).any():
            bad = sorted({str(v) for v, m in zip(vals, mapped, strict=True) if m < 0})[:5]
            first = int(np.flatnonzero(~missing)[np.argmax(mapped < 0)])
            raise StateError(
                f"column {self.column!r}: symbol(s) {bad} not among the known symbols {self.symbols_} "
                f"(first at row {first})"
            )
        codes[~missing] = mapped
        return codes

    def init(self, x: np.ndarray, n_states: int, rng: np.random.Generator) -> None:
        K = len(self.symbols_)
        freq = np.bincount(x.astype(np.int64), minlength=K).astype(float) + 1.0
        freq /= freq.sum()
        # each state starts near the overall frequencies, tilted towards a random subset of symbols
        self.emissionprob_ = rng.dirichlet(freq * 5.0 * K, size=n_states)
        self.emissionprob_ = np.maximum(self.emissionprob_, 1e-3)
        self.emissionprob_ /= self.emissionprob_.sum(axis=1, keepdims=True)

    def _loglik_observed(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            logp = np.log(self.emissionprob_)
        return logp[:, x.astype(np.int64)].T

    def mstep(self, x: np.ndarray, gamma: np.ndarray) -> None:
        self.mstep_stats(self.suff_stats(x, gamma))

    def suff_stats(self, x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """Return the expected symbol counts per state, shape (S, K)."""
        obs = ~np.isnan(x)
        K, S = len(self.symbols_), gamma.shape[1]
        codes = x[obs].astype(np.int64)
        g = gamma[obs]
        counts = np.empty((S, K))
        for s in range(S):
            counts[s] = np.bincount(codes, weights=g[:, s], minlength=K)
        return counts

    def mstep_stats(self, counts: np.ndarray) -> None:
        tot = counts.sum(axis=1, keepdims=True)
        ok = tot[:, 0] > 0
        self.emissionprob_ = np.where(ok[:, None], counts / np.where(tot > 0, tot, 1.0), self.emissionprob_)

    def sample(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cdf = np.cumsum(self.emissionprob_[states], axis=1)
        cdf[:, -1] = 1.0
        return (rng.random(states.shape[0])[:, None] > cdf).sum(axis=1).astype(float)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Return symbols for float codes (NaN stays missing) as an object array."""
        out = np.empty(codes.shape[0], dtype=object)
        out[:] = np.nan
        ok = ~np.isnan(codes)
        syms = np.asarray(self.symbols_, dtype=object)
        out[ok] = syms[codes[ok].astype(np.int64)]
        return out

    def mean(self) -> np.ndarray:
        return self.emissionprob_ @ np.arange(len(self.symbols_), dtype=float)

    def order_key(self, stat: str) -> np.ndarray:
        """``"mean"`` (mean symbol position) or a symbol's name (that symbol's probability per state)."""
        if stat == "mean":
            return self.mean()
        for i, sym in enumerate(self.symbols_):
            if str(sym) == str(stat):
                return self.emissionprob_[:, i]
        raise ModelError(
            f"order_by: categorical column {self.column!r} has no symbol {stat!r}; symbols are {self.symbols_}"
        )

    def n_params(self) -> int:
        return int(self.emissionprob_.shape[0] * (self.emissionprob_.shape[1] - 1))

    def permute(self, order: np.ndarray) -> None:
        self.emissionprob_ = self.emissionprob_[order]

    def params(self) -> dict[str, np.ndarray]:
        return {"emissionprob": self.emissionprob_.copy()}

    def set_params(self, emissionprob: Any) -> None:
        from probwb.core.validation import check_stochastic

        self.emissionprob_ = check_stochastic(emissionprob, name=f"emission probabilities of {self.column!r}")

    def _theta_layout(self) -> tuple[np.ndarray, np.ndarray]:
        # symbols a state never emits (probability 0 at the fit) stay at zero: their logit is -inf
        if getattr(self, "_layout", None) is None:
            support = self.emissionprob_ > 1e-10
            ref = self.emissionprob_.argmax(axis=1)
            free = support.copy()
            free[np.arange(free.shape[0]), ref] = False
            self._layout = (support, ref, free)
        return self._layout[1], self._layout[2]

    def theta(self) -> np.ndarray:
        ref, free = self._theta_layout()
        p = self.emissionprob_
        return np.log(p / p[np.arange(p.shape[0]), ref][:, None])[free]

    def set_theta(self, theta: np.ndarray) -> None:
        ref, free = self._theta_layout()
        logits = np.full(free.shape, -np.inf)
        logits[np.arange(free.shape[0]), ref] = 0.0
        logits[free] = theta
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.emissionprob_ = e / e.sum(axis=1, keepdims=True)

    def theta_score(self, x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        _, free = self._theta_layout()
        obs = ~np.isnan(x)
        codes, g = x[obs].astype(np.int64), gamma[obs]
        counts = np.stack([np.bincount(codes, weights=g[:, s], minlength=free.shape[1]) for s in range(free.shape[0])])
        return (counts - counts.sum(axis=1, keepdims=True) * self.emissionprob_)[free]

    def report(self) -> list[tuple[str, int, str, float, str]]:
        return [("emissionprob", s, str(sym), float(self.emissionprob_[s, k]),
                 "logit" if 0 < self.emissionprob_[s, k] < 1 else "none")
                for s in range(self.emissionprob_.shape[0]) for k, sym in enumerate(self.symbols_)]


EMISSIONS: dict[str, type[Emission]] = {
    "poisson": PoissonEmission,
    "gaussian": GaussianEmission,
    "categorical": CategoricalEmission,
}


def make_emission(kind: str, column: str, **options: Any) -> Emission:
    """Return a new emission of type ``kind`` ("poisson", "gaussian", "categorical") for ``column``."""
    if isinstance(kind, Emission):
        return kind
    cls = EMISSIONS.get(str(kind).lower())
    if cls is None:
        from probwb.core.validation import closest_match

        hit = closest_match(str(kind), EMISSIONS)
        hint = f" (did you mean {hit!r}?)" if hit else ""
        raise ModelError(f"emission for column {column!r} must be one of {sorted(EMISSIONS)}, found {kind!r}{hint}")
    return cls(column, **options)
