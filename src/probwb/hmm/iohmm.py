"""Input-driven transitions (input–output HMM): per-step covariates move the transition matrix.

``P(z_{t+1} = j | z_t = i, u_t) = softmax_j(intercept[i, j] + sum_k u_t[k] * coef[k, i, j])`` over the
allowed moves of row ``i``; each row's own "reference" move (staying put when allowed) has logit 0 so the
parameters are identified, and forbidden moves are ``-inf`` (exact zeros). The input recorded at step ``t``
drives the move from ``t`` to ``t + 1``.

The M-step maximises the expected complete-data log-likelihood, which for transitions depends on the data
only through the expected transition counts per distinct input pattern ``xi[p, i, j]``: a few Newton
steps per row on a small problem, whatever the number of sequences.

Prior on the input effects: every coefficient ``coef[k, i, j]`` gets an independent ``Normal(0, prior_sd)``
prior (logit scale), so the fit is the posterior mode (penalised maximum likelihood). The prior's pull is a
fixed amount of information, ``1 / prior_sd**2`` per coefficient, that does not grow with the data: its share
of the estimate falls like ``1 / n`` and the estimates are consistent. ``prior_sd=None`` gives plain maximum
likelihood (which can diverge when an input level never meets a move). Intercepts are not penalised.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.validation import check_known_keys
from probwb.errors import DataError, StateError

__all__ = ["InputEncoder", "LogitTransitions"]


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """Log-sum-exp along ``axis`` keeping the axis; rows of all ``-inf`` give ``-inf`` (plain numpy: scipy's
    array-API dispatch cost more than the sum itself in EM's inner loop)."""
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m


class InputEncoder:
    """Turn input columns into a numeric design matrix (no intercept).

    Numeric columns enter as they are (0 = baseline); other columns are one-hot coded against a baseline
    level: ``input_baseline[col]`` when given, else the most frequent level at fit.
    """

    def __init__(self, columns: list[str], baseline: dict[str, Any] | None = None) -> None:
        self.columns = list(columns)
        self.baseline = dict(baseline or {})
        self.levels_: dict[str, list[Any] | None] = {}
        self.baseline_: dict[str, Any] = {}
        self.names_: list[str] = []

    def fit(self, data: pd.DataFrame) -> InputEncoder:
        """Learn levels and baselines from ``data``; return self."""
        check_known_keys(self.baseline, self.columns, where="input_baseline", what="input column",
                         default="the most frequent level", error=StateError,
                         logger=logging.getLogger("probwb.hmm"))
        self.names_ = []
        for col in self.columns:
            s = data[col]
            self._check_missing(s, col)
            if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                self.levels_[col] = None
                self.names_.append(col)
                continue
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = list(s.cat.categories)
            else:
                levels = sorted(pd.unique(s.astype(object)), key=str)
            base = self.baseline.get(col)
            if base is None:
                base = s.astype(object).value_counts().index[0]
            elif base not in levels:
                raise StateError(f"input_baseline for {col!r} is {base!r}, not a level of it; levels: {levels}")
            self.levels_[col] = levels
            self.baseline_[col] = base
            self.names_ += [f"{col}[{lv}]" for lv in levels if lv != base]
        return self

    @staticmethod
    def _check_missing(s: pd.Series, col: str) -> None:
        miss = s.isna().to_numpy()
        if miss.any():
            raise DataError(
                f"input column {col!r} has {int(miss.sum())} missing value(s) (first at row "
                f"{int(np.flatnonzero(miss)[0])}); inputs drive the transitions and must be given at every step"
            )

    def transform(self, data: pd.DataFrame | dict[str, Any]) -> np.ndarray:
        """Return the ``(rows, K)`` design matrix for a DataFrame, or ``(1, K)`` for a dict of values."""
        if isinstance(data, dict):
            unknown = set(data) - set(self.columns)
            if unknown:
                raise StateError(f"unknown input(s) {sorted(unknown)}; the model's inputs are {self.columns}")
            row = {c: data.get(c, self.baseline_.get(c, 0.0)) for c in self.columns}
            data = pd.DataFrame({c: [v] for c, v in row.items()})
        blocks = []
        for col in self.columns:
            s = data[col]
            self._check_missing(s, col)
            levels = self.levels_[col]
            if levels is None:
                try:
                    blocks.append(pd.to_numeric(s).to_numpy(dtype=float)[:, None])
                except (TypeError, ValueError):
                    raise DataError(f"input column {col!r} was numeric at fit, found non-numeric values") from None
                continue
            vals = s.astype(object).to_numpy()
            known = set(levels)
            bad = [v for v in pd.unique(vals) if v not in known]
            if bad:
                raise StateError(f"input column {col!r}: level(s) {bad[:5]} not seen at fit; levels: {levels}")
            for lv in levels:
                if lv != self.baseline_[col]:
                    blocks.append((vals == lv).astype(float)[:, None])
        if not blocks:
            return np.zeros((len(data), 0))
        return np.hstack(blocks)


class LogitTransitions:
    """Multinomial-logit transition rows with fixed zeros given by ``mask`` (S, S) of allowed moves."""

    def __init__(self, mask: np.ndarray, n_features: int, prior_sd: float | None = 2.5) -> None:
        self.mask = np.asarray(mask, dtype=bool)
        S = self.mask.shape[0]
        self.n_features = int(n_features)
        self.prior_sd = None if prior_sd is None else float(prior_sd)
        # precision of the Normal(0, prior_sd) prior on each input coefficient: fixed, whatever the data size
        self.precision = 0.0 if self.prior_sd is None else 1.0 / self.prior_sd**2
        self.ref = np.array([i if self.mask[i, i] else int(np.flatnonzero(self.mask[i])[0]) for i in range(S)])
        self.intercept_ = np.where(self.mask, 0.0, -np.inf)
        self.coef_ = np.zeros((self.n_features, S, S))

    def init_from(self, transmat: np.ndarray) -> None:
        """Start at ``transmat`` for every input (coefficients zero)."""
        S = self.mask.shape[0]
        with np.errstate(divide="ignore"):
            lt = np.log(np.where(self.mask, np.maximum(transmat, 1e-12), 0.0))
        self.intercept_ = lt - lt[np.arange(S), self.ref][:, None]
        self.coef_ = np.zeros((self.n_features, S, S))

    def matrices(self, X: np.ndarray) -> np.ndarray:
        """Return the ``(P, S, S)`` transition matrices for the ``(P, K)`` input rows ``X``."""
        coef = np.where(self.mask[None], self.coef_, 0.0)
        logits = self.intercept_[None] + np.einsum("pk,kij->pij", X, coef)
        with np.errstate(invalid="ignore"):
            out = np.exp(logits - _logsumexp(logits, axis=2))
        return np.where(self.mask[None], out, 0.0)

    def n_params(self) -> int:
        """Return the number of free parameters (intercepts and coefficients of the free moves)."""
        free = self.mask.sum(axis=1) - 1
        return int(free.sum() * (1 + self.n_features))

    def free_coef_mask(self) -> np.ndarray:
        """Return the ``(S, S)`` booleans of moves with free parameters (allowed, not the row's reference)."""
        S = self.mask.shape[0]
        free = self.mask.copy()
        free[np.arange(S), self.ref] = False
        return free

    def log_prior(self) -> float:
        """Return the log density of the input coefficients under their Normal(0, prior_sd) prior, up to a constant."""
        if self.precision == 0.0 or self.n_features == 0:
            return 0.0
        c = self.coef_[:, self.free_coef_mask()]
        return float(-0.5 * self.precision * (c**2).sum())

    def mstep(self, xi: np.ndarray, X: np.ndarray, max_newton: int = 8) -> None:
        """Raise the expected log-likelihood of the ``(P, S, S)`` expected counts ``xi`` at inputs ``X``.

        A few damped Newton steps per from-state (the problem is small and concave); warm-started at the
        current parameters, so together with the E-step this is a generalised EM.
        """
        S = self.mask.shape[0]
        Xd = np.hstack([np.ones((X.shape[0], 1)), X])
        K1 = Xd.shape[1]
        for i in range(S):
            free = np.flatnonzero(self.mask[i] & (np.arange(S) != self.ref[i]))
            if free.size == 0:
                continue
            allowed = np.flatnonzero(self.mask[i])
            counts = xi[:, i, :]
            n_row = counts.sum(axis=1)
            total = float(n_row.sum())
            if total <= 0:
                continue
            nf = free.size
            c_free, c_allowed = counts[:, free], counts[:, allowed]
            pos_free = np.searchsorted(allowed, free)
            # the prior on the input coefficients only; a fixed precision, not scaled by the counts, so its
            # pull fades as the data grow (scaling it with the counts made the shrinkage permanent)
            pen = np.zeros((K1, nf))
            pen[1:] = self.precision

            def objective(th: np.ndarray, c_allowed: np.ndarray = c_allowed, pos_free: np.ndarray = pos_free,
                          na: int = allowed.size, pen: np.ndarray = pen) -> tuple[float, np.ndarray]:
                full = np.zeros((Xd.shape[0], na))
                full[:, pos_free] = Xd @ th
                logp = full - _logsumexp(full, axis=1)
                return float(-(c_allowed * logp).sum() + 0.5 * (pen * th**2).sum()), logp

            theta = np.vstack([self.intercept_[i, free][None, :], self.coef_[:, i, free]])
            f, logp = objective(theta)
            for _ in range(max_newton):
                pf = np.exp(logp[:, pos_free])
                grad = Xd.T @ (n_row[:, None] * pf - c_free) + pen * theta
                W = n_row[:, None, None] * (np.einsum("pa,ab->pab", pf, np.eye(nf)) - pf[:, :, None] * pf[:, None, :])
                H = np.einsum("pk,pl,pab->kalb", Xd, Xd, W).reshape(K1 * nf, K1 * nf)
                H[np.diag_indices_from(H)] += pen.ravel() + 1e-9 * total
                try:
                    step = np.linalg.solve(H, grad.ravel()).reshape(K1, nf)
                except np.linalg.LinAlgError:
                    step = grad / max(total, 1.0)
                t = 1.0
                while t > 1e-4:
                    cand = theta - t * step
                    f_new, logp_new = objective(cand)
                    if f_new <= f:
                        break
                    t *= 0.5
                else:
                    break
                gain = f - f_new
                theta, f, logp = cand, f_new, logp_new
                if gain < 1e-10 * total:
                    break
            self.intercept_[i, free] = theta[0]
            self.coef_[:, i, free] = theta[1:]

    def permute(self, order: np.ndarray) -> None:
        """Reorder states (new ``k`` = old ``order[k]``); the mask must be invariant under the order."""
        self.intercept_ = self.intercept_[order][:, order]
        self.coef_ = self.coef_[:, order][:, :, order]
        self.mask = self.mask[order][:, order]
        S = self.mask.shape[0]
        # re-anchor each row on its (possibly new) reference move so logits stay identified
        new_ref = np.array([i if self.mask[i, i] else int(np.flatnonzero(self.mask[i])[0]) for i in range(S)])
        shift_i = self.intercept_[np.arange(S), new_ref]
        shift_c = self.coef_[:, np.arange(S), new_ref]
        self.intercept_ = np.where(self.mask, self.intercept_ - shift_i[:, None], -np.inf)
        self.coef_ = np.where(self.mask[None], self.coef_ - shift_c[:, :, None], 0.0)
        self.ref = new_ref
