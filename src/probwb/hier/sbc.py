"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

Draw parameters from the prior, simulate data from them, fit the posterior to the simulated data and
record the rank of each true parameter among (thinned) posterior draws. If the sampler and the model
code are right, every rank is uniform on {0, ..., L}; :func:`sbc` tests that with a chi-square test on
binned ranks, per parameter, and :func:`probwb.hier.plots.plot_sbc_ranks` draws the histograms.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from probwb.core.progress import progress
from probwb.core.random import RandomState, check_random_state
from probwb.errors import DataError, ModelError

__all__ = ["SBCResult", "sbc", "rank_uniformity"]

logger = logging.getLogger("probwb.hier")


@dataclass
class SBCResult:
    """Ranks and uniformity tests of a simulation-based calibration run.

    ``ranks``: DataFrame (one row per simulation, one column per scalar parameter) of ranks in
    ``0..n_ranks - 1``; ``tests``: DataFrame per parameter with ``chi2``, ``df``, ``p_value`` and
    ``uniform`` (p above ``alpha`` divided by the number of parameters, Bonferroni);
    ``n_divergent``: divergences per simulation.
    """

    ranks: pd.DataFrame
    n_ranks: int
    n_bins: int
    tests: pd.DataFrame
    alpha: float
    n_divergent: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def calibrated(self) -> bool:
        """True when no parameter's ranks reject uniformity (Bonferroni over parameters)."""
        return bool(self.tests["uniform"].all())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable summary (tests per parameter, not the ranks)."""
        return {"n_sims": int(len(self.ranks)), "n_ranks": self.n_ranks, "n_bins": self.n_bins,
                "alpha": self.alpha, "calibrated": self.calibrated,
                "total_divergent": int(np.sum(self.n_divergent)),
                "tests": self.tests.reset_index(names="parameter").to_dict(orient="records")}


def rank_uniformity(ranks: np.ndarray, n_ranks: int, n_bins: int) -> tuple[float, int, float]:
    """Chi-square test that ``ranks`` (ints in 0..n_ranks-1) are uniform; return (chi2, df, p_value).

    ``n_ranks`` must be a multiple of ``n_bins`` so every bin holds the same number of rank values.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    if n_ranks % n_bins:
        raise DataError(f"n_ranks ({n_ranks}) must be a multiple of n_bins ({n_bins})")
    if ranks.size == 0 or ranks.min() < 0 or ranks.max() >= n_ranks:
        raise DataError(f"ranks must lie in 0..{n_ranks - 1}")
    counts = np.bincount(ranks // (n_ranks // n_bins), minlength=n_bins)
    expected = ranks.size / n_bins
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    df = n_bins - 1
    return chi2, df, float(stats.chi2.sf(chi2, df))


def _scalar_columns(arr: np.ndarray, name: str) -> dict[str, np.ndarray]:
    """Flatten draws of shape (n, *shape) into {"name[i,j]": (n,)} columns."""
    shape = arr.shape[1:]
    if not shape:
        return {name: arr}
    flat = arr.reshape(arr.shape[0], -1)
    return {f"{name}[{','.join(map(str, np.unravel_index(j, shape)))}]": flat[:, j] for j in range(flat.shape[1])}


def sbc(
    model_builder: Callable[[], Any] | Any,
    n_sims: int = 100,
    *,
    var_names: Sequence[str] | None = None,
    generator: Callable[[], Any] | Any | None = None,
    n_ranks: int = 100,
    n_bins: int = 10,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    sampler: str | None = None,
    alpha: float = 0.05,
    random_state: RandomState = None,
    progressbar: bool = True,
) -> SBCResult:
    """Run simulation-based calibration of a PyMC model and return an :class:`SBCResult`.

    ``model_builder`` is a ``pymc.Model`` (or a zero-argument function returning one) whose observed
    variables take their values from ``pm.Data`` containers. Each simulation draws parameters and data
    from its prior (or from ``generator``'s prior, a model with the same variable names; giving a
    different generator is how one checks that SBC detects a mismatch), replaces the data, samples the
    posterior (``draws`` x ``chains`` after ``tune``; the model is compiled once), thins it to
    ``n_ranks - 1`` evenly spaced draws and records the rank of each true value. ``var_names`` defaults
    to the model's free random variables.
    """
    from probwb import diagnostics
    from probwb.hier import backend

    model = model_builder() if callable(model_builder) else model_builder
    gen = model if generator is None else (generator() if callable(generator) else generator)
    for name, value in (("n_sims", n_sims), ("n_ranks", n_ranks), ("n_bins", n_bins)):
        if not isinstance(value, int | np.integer) or value < 2:
            raise DataError(f"{name} must be an int >= 2, found {value!r}")
    if n_ranks % n_bins:
        raise DataError(f"n_ranks ({n_ranks}) must be a multiple of n_bins ({n_bins})")
    if draws * chains < n_ranks - 1:
        raise DataError(f"draws x chains ({draws * chains}) must be at least n_ranks - 1 ({n_ranks - 1})")
    data_names = backend.observed_data_names(model)
    if var_names is None:
        var_names = [rv.name for rv in model.free_RVs]
    missing = [v for v in var_names if v not in model.named_vars]
    if missing:
        raise DataError(f"model has no variable {missing}; variables: {sorted(model.named_vars)}")

    rng = check_random_state(random_state)
    prior = backend.sample_prior_predictive(gen, draws=int(n_sims), random_state=rng)
    missing_gen = [v for v in list(var_names) + list(data_names) if v not in prior.prior
                   and v not in prior.prior_predictive]
    if missing_gen:
        raise ModelError(f"the generator model does not produce {missing_gen}")
    truth_cols: dict[str, np.ndarray] = {}
    for v in var_names:
        truth_cols.update(_scalar_columns(np.asarray(prior.prior[v])[0], v))
    sims_y = {obs: np.asarray(prior.prior_predictive[obs])[0] for obs in data_names}
    original = {d: model[d].get_value() for d in data_names.values()}

    ranks = {c: np.empty(n_sims, dtype=np.int64) for c in truth_cols}
    n_div = np.zeros(n_sims, dtype=np.int64)
    keep = None
    try:
        for i in progress(range(n_sims), desc="SBC", disable=not progressbar):
            backend.set_data(model, {data_names[obs]: sims_y[obs][i] for obs in data_names})
            idata = backend.sample(model, draws=draws, tune=tune, chains=chains, sampler=sampler,
                                   random_state=rng, progressbar=False)
            n_div[i] = diagnostics.n_divergent(idata)
            for v in var_names:
                arr = np.asarray(idata.posterior[v])
                arr = arr.reshape((-1,) + arr.shape[2:])
                if keep is None:
                    keep = np.linspace(0, arr.shape[0] - 1, n_ranks - 1).astype(int)
                for c, col in _scalar_columns(arr[keep], v).items():
                    ranks[c][i] = int((col < truth_cols[c][i]).sum())
    finally:
        backend.set_data(model, original)

    rank_df = pd.DataFrame(ranks)
    rows = []
    for c in rank_df.columns:
        chi2, df, p = rank_uniformity(rank_df[c].to_numpy(), n_ranks, n_bins)
        rows.append({"parameter": c, "chi2": chi2, "df": df, "p_value": p})
    tests = pd.DataFrame(rows).set_index("parameter")
    tests["uniform"] = tests["p_value"] > alpha / len(tests)
    if not tests["uniform"].all():
        bad = list(tests.index[~tests["uniform"]])
        warnings.warn(f"SBC ranks are not uniform for {bad}: the model, sampler or code is miscalibrated",
                      UserWarning, stacklevel=2)
    if n_div.sum():
        logger.warning("SBC: %d divergent transitions over %d simulations", int(n_div.sum()), n_sims)
    return SBCResult(ranks=rank_df, n_ranks=n_ranks, n_bins=n_bins, tests=tests, alpha=alpha, n_divergent=n_div)
