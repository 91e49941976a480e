"""Choosing the number of hidden states: BIC / AIC on the fit data and held-out log-likelihood per step.

The held-out score uses a sequential split (every training time point precedes every test time point):
for each entity, log p(test steps | its training steps) = log p(all steps) - log p(training steps), so the
model is judged on forecasting each entity's future, not on re-describing its past.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.logcontext import log_context
from probwb.errors import ConvergenceWarning, DataError, ModelError
from probwb.hmm.model import HMM

__all__ = ["select_n_states", "heldout_loglik"]


def heldout_loglik(model: HMM, train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, int]:
    """Return (total log p(test | train) over entities, number of observed test values) for a fitted model."""
    both = pd.concat([train, test])
    full = model.score(both, per_sequence=True)
    past = model.score(train, per_sequence=True) if len(train) else pd.Series(dtype=float)
    cond = full - past.reindex(full.index).fillna(0.0)
    n_obs = int(sum(test[c].notna().sum() for c in model._emissions))
    return float(cond.sum()), n_obs


def _sequential_folds(data: pd.DataFrame, time_col: str, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    try:
        from probwb.evaluate import SequentialSplit
    except ImportError:  # pragma: no cover - evaluate ships with probwb; fall back to a last-block split
        times = np.sort(pd.unique(data[time_col]))
        cut = times[int(len(times) * 0.75)]
        t = data[time_col].to_numpy()
        return [(np.flatnonzero(t < cut), np.flatnonzero(t >= cut))]
    splitter = SequentialSplit(n_splits=n_splits, time=time_col)
    return [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(data)]


def select_n_states(
    data: pd.DataFrame,
    candidates: Iterable[int] = (2, 3, 4),
    *,
    n_splits: int = 2,
    heldout: bool = True,
    **hmm_options: Any,
) -> pd.DataFrame:
    """Fit an :class:`HMM` for each number of states and compare them.

    ``hmm_options`` are passed to :class:`HMM` (emission, id_col, time_col, n_init, random_state, ...;
    not ``state_names``, which would fix the number of states). Returns a DataFrame indexed by
    ``n_states`` with loglik, n_params, aic, bic, converged and, with ``heldout=True``, the held-out
    log-likelihood per observed step averaged over ``n_splits`` sequential folds
    (``heldout_loglik_per_step``; higher is better) — plus ``best_bic`` / ``best_heldout`` flags.
    """
    if "state_names" in hmm_options or "n_states" in hmm_options:
        raise ModelError("select_n_states varies the number of states: do not pass state_names or n_states")
    candidates = [int(k) for k in candidates]
    if not candidates or min(candidates) < 1:
        raise ModelError(f"candidates must be integers >= 1, found {candidates}")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"select_n_states needs a long DataFrame, found {type(data).__name__}")
    proto = HMM(**hmm_options)
    folds = _sequential_folds(data, proto.time_col, n_splits) if heldout else []
    rows = []
    for k in candidates:
        model = copy.deepcopy(proto)
        model.n_states = k
        # EM's restart lines and progress say which candidate (and below, which fold) they belong to
        with warnings.catch_warnings(record=True) as caught, log_context(n_states=k):
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(data)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        row = {"n_states": k, "loglik": model.loglik_, "n_params": model.n_params(), "aic": model.aic(),
               "bic": model.bic(), "converged": converged}
        if heldout:
            tot, n = 0.0, 0
            for fold, (train_idx, test_idx) in enumerate(folds):
                fold_model = copy.deepcopy(proto)
                fold_model.n_states = k
                with warnings.catch_warnings(), log_context(fold=fold, n_states=k):
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    fold_model.fit(data.iloc[train_idx])
                ll, m = heldout_loglik(fold_model, data.iloc[train_idx], data.iloc[test_idx])
                tot, n = tot + ll, n + m
            row["heldout_loglik_per_step"] = tot / max(n, 1)
        rows.append(row)
    out = pd.DataFrame(rows).set_index("n_states")
    out["best_bic"] = out["bic"] == out["bic"].min()
    if heldout:
        out["best_heldout"] = out["heldout_loglik_per_step"] == out["heldout_loglik_per_step"].max()
    return out
