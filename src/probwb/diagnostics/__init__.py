"""MCMC diagnostics that gate every Bayesian result: one place that turns ArviZ output into a verdict.

:func:`check` computes, per parameter, R-hat (rank-normalised split R-hat), bulk and tail effective sample
size and Monte Carlo standard errors; counts divergent transitions; computes the energy Bayesian fraction of
missing information (E-BFMI) per chain; and returns a :class:`DiagnosticsResult` whose ``verdict`` is
``"ok"``, ``"warn"`` or ``"fail"`` with human-readable ``reasons``. A non-ok verdict also emits a
:class:`probwb.errors.SamplingWarning`, so nothing is silently reported as fine over divergences.

:func:`loo` runs PSIS-LOO and summarises the Pareto k diagnostics, :func:`compare` ranks models by
expected log predictive density, and :func:`ppc_pvalues` gives posterior predictive p-values of test
statistics.

ArviZ is called only in this package (and in :mod:`probwb.diagnostics.plots`), so a move to a new ArviZ
major version is this package's work alone. ArviZ is imported lazily, so ``import probwb.diagnostics`` is
cheap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from probwb.errors import DataError, ModelError, SamplingWarning

__all__ = [
    "Thresholds",
    "DiagnosticsResult",
    "LooResult",
    "check",
    "loo",
    "compare",
    "ppc_pvalues",
    "ppc_test",
    "n_divergent",
    "bfmi",
    "worst_verdict",
]

_VERDICT_ORDER = {"ok": 0, "warn": 1, "fail": 2}


def _az():
    """Import ArviZ quietly (0.x prints a FutureWarning about its 1.0 refactor on import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


@dataclass(frozen=True)
class Thresholds:
    """Limits used by :func:`check` and :func:`loo`; every default has a published source.

    Attributes
    ----------
    r_hat:
        Rank-normalised split R-hat above this gives ``warn`` (Vehtari, Gelman, Simpson, Carpenter &
        Bürkner 2021, "Rank-normalization, folding, and localization", recommend 1.01).
    r_hat_fail:
        R-hat above this gives ``fail``: the chains clearly disagree (1.05 was the older, looser rule).
    ess:
        Bulk and tail ESS wanted, in total over chains (Vehtari et al. 2021: 400, i.e. 100 per chain
        with their 4 chains).
    ess_per_chain:
        Scaling for runs with fewer than 4 chains: the requirement is ``min(ess, ess_per_chain *
        n_chains)``, so 2 chains need ESS 200. This keeps the rule "100 per chain" of the same paper
        instead of asking a 2-chain run for the 4-chain total. Fewer draws never lower the requirement.
    ess_fail_fraction:
        ESS below this fraction of the requirement gives ``fail`` (so few effective draws that R-hat
        and the MCSE themselves are unreliable); between it and the requirement gives ``warn``.
    max_divergences:
        More divergent transitions than this gives ``fail`` (divergences mean the sampler could not
        explore part of the posterior, so estimates may be biased; default 0 as in Stan).
    bfmi:
        E-BFMI of any chain below this gives ``warn`` (Betancourt 2016, "Diagnosing suboptimal
        cotangent disintegrations in Hamiltonian Monte Carlo": 0.3).
    pareto_k:
        PSIS-LOO Pareto k above this marks an observation whose LOO estimate is unreliable (Vehtari,
        Simpson, Gelman, Yao & Gabry 2024, "Pareto smoothed importance sampling": 0.7).
    """

    r_hat: float = 1.01
    r_hat_fail: float = 1.05
    ess: float = 400.0
    ess_per_chain: float = 100.0
    ess_fail_fraction: float = 0.25
    max_divergences: int = 0
    bfmi: float = 0.3
    pareto_k: float = 0.7

    def ess_required(self, n_chains: int) -> float:
        """Return the bulk/tail ESS required of a run with ``n_chains`` chains."""
        return float(min(self.ess, self.ess_per_chain * max(int(n_chains), 1)))


@dataclass
class DiagnosticsResult:
    """What :func:`check` found.

    ``table`` has one row per scalar parameter (index like ``"beta[age]"``) and columns ``mean``,
    ``sd``, ``mcse_mean``, ``mcse_sd``, ``ess_bulk``, ``ess_tail``, ``r_hat`` and ``flag`` (the
    problems of that parameter, "" when none). ``bfmi`` has one value per chain (empty when the
    sampler recorded no energy).
    """

    verdict: str
    reasons: list[str]
    table: pd.DataFrame
    n_divergent: int
    n_draws: int
    n_chains: int
    bfmi: np.ndarray = field(default_factory=lambda: np.empty(0))
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def ok(self) -> bool:
        """True when the verdict is ``"ok"``."""
        return self.verdict == "ok"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (verdict, reasons, counts, BFMI, thresholds, table records)."""
        table = self.table.reset_index(names="parameter")
        records = [
            {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")
        ]
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "n_divergent": int(self.n_divergent),
            "n_draws": int(self.n_draws),
            "n_chains": int(self.n_chains),
            "bfmi": [float(b) for b in np.asarray(self.bfmi, dtype=float)],
            "thresholds": asdict(self.thresholds),
            "table": records,
        }

    def __str__(self) -> str:
        head = f"diagnostics verdict: {self.verdict.upper()}"
        if self.reasons:
            head += "\n" + "\n".join(f"  - {r}" for r in self.reasons)
        return head


def worst_verdict(*verdicts: str) -> str:
    """Return the worst of the given verdicts ("fail" > "warn" > "ok")."""
    if not verdicts:
        return "ok"
    return max(verdicts, key=lambda v: _VERDICT_ORDER[v])


def _check_idata(idata: Any) -> None:
    if not hasattr(idata, "groups") or "posterior" not in idata.groups():
        raise DataError(
            "expected an arviz.InferenceData with a 'posterior' group, found "
            f"{type(idata).__name__}" + (f" with groups {idata.groups()}" if hasattr(idata, "groups") else "")
        )


def n_divergent(idata: Any) -> int:
    """Return the number of divergent post-warmup transitions recorded in ``idata`` (0 if none recorded)."""
    if "sample_stats" not in idata.groups():
        return 0
    stats = idata.sample_stats
    for name in ("diverging", "divergences"):
        if name in stats:
            return int(np.asarray(stats[name]).sum())
    return 0


def bfmi(idata: Any) -> np.ndarray:
    """Return E-BFMI per chain, or an empty array when ``idata`` has no sampler energy."""
    if "sample_stats" not in idata.groups() or "energy" not in idata.sample_stats:
        return np.empty(0)
    energy = np.asarray(idata.sample_stats["energy"], dtype=float)
    if energy.ndim != 2 or energy.shape[1] < 3:
        return np.empty(0)
    return np.asarray(_az().bfmi(energy), dtype=float)


def _resolve_var_names(idata: Any, var_names: Sequence[str] | str | None) -> list[str]:
    present = list(idata.posterior.data_vars)
    if var_names is None:
        # nutpie also stores each transformed variable on its unconstrained scale ("tau_log__"): same
        # chains, so diagnosing them twice adds only noise.
        return [v for v in present if not str(v).endswith("__")] or present
    if isinstance(var_names, str):
        var_names = [var_names]
    missing = [v for v in var_names if v not in present]
    if missing:
        from probwb.core import closest_match

        hints = [f"{m!r}" + (f" (did you mean {closest_match(m, present)!r}?)" if closest_match(m, present)
                             else "") for m in missing]
        raise DataError(f"posterior has no variable {', '.join(hints)}; variables found: {present}")
    return list(var_names)


def check(
    idata: Any,
    var_names: Sequence[str] | str | None = None,
    thresholds: Thresholds | None = None,
    *,
    warn: bool = True,
) -> DiagnosticsResult:
    """Check MCMC output and return a :class:`DiagnosticsResult` with a verdict and reasons.

    Parameters
    ----------
    idata:
        ``arviz.InferenceData`` with a ``posterior`` group (and ``sample_stats`` for divergences and BFMI).
    var_names:
        Posterior variables to check; default all except unconstrained copies whose names end in "__".
        Pass the model's parameters to leave out large per-observation deterministics.
    thresholds:
        :class:`Thresholds`; default the documented ones.
    warn:
        Emit :class:`probwb.errors.SamplingWarning` when the verdict is not ``"ok"``.

    Returns
    -------
    DiagnosticsResult
        ``verdict`` is ``"fail"`` when R-hat > ``r_hat_fail``, divergences > ``max_divergences`` or an
        ESS is below ``ess_fail_fraction`` of the requirement; ``"warn"`` when R-hat > ``r_hat``, ESS is
        below the requirement, E-BFMI < ``bfmi`` or only one chain was run (R-hat cannot be computed);
        else ``"ok"``.
    """
    _check_idata(idata)
    th = thresholds or Thresholds()
    az = _az()
    names = _resolve_var_names(idata, var_names)
    post = idata.posterior
    n_chains = int(post.sizes.get("chain", 1))
    n_draws = int(post.sizes.get("draw", 0))
    if n_draws < 4:
        raise DataError(f"need at least 4 draws per chain to diagnose a posterior, found {n_draws}")

    with warnings.catch_warnings():
        # ArviZ warns about shapes/1-chain R-hat; those cases are reported as reasons instead.
        warnings.simplefilter("ignore")
        table = az.summary(idata, var_names=names, kind="all", round_to="none")
    table = table[["mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]].astype(float)

    reasons: list[str] = []
    verdict = "ok"
    flags = pd.Series("", index=table.index, dtype=object)

    def add_flag(mask: pd.Series, text: str) -> None:
        for idx in table.index[mask.to_numpy()]:
            flags[idx] = f"{flags[idx]}; {text}" if flags[idx] else text

    def worst_names(col: str, mask: pd.Series, ascending: bool) -> str:
        sub = table.loc[mask.to_numpy(), col].sort_values(ascending=ascending)
        shown = ", ".join(f"{n} ({v:.3g})" for n, v in sub.head(3).items())
        more = f" and {len(sub) - 3} more" if len(sub) > 3 else ""
        return shown + more

    if n_chains < 2:
        verdict = worst_verdict(verdict, "warn")
        reasons.append("only 1 chain: R-hat cannot detect non-convergence; run 2 or more chains")
    else:
        rhat = table["r_hat"]
        bad_fail = rhat > th.r_hat_fail
        bad_warn = (rhat > th.r_hat) & ~bad_fail
        nan_rhat = rhat.isna()
        if bad_fail.any():
            verdict = worst_verdict(verdict, "fail")
            reasons.append(f"R-hat > {th.r_hat_fail} for {int(bad_fail.sum())} parameter(s): "
                           + worst_names("r_hat", bad_fail, ascending=False))
            add_flag(bad_fail, f"r_hat>{th.r_hat_fail}")
        if bad_warn.any():
            verdict = worst_verdict(verdict, "warn")
            reasons.append(f"R-hat > {th.r_hat} for {int(bad_warn.sum())} parameter(s): "
                           + worst_names("r_hat", bad_warn, ascending=False))
            add_flag(bad_warn, f"r_hat>{th.r_hat}")
        if nan_rhat.any():
            # A constant chain gives NaN R-hat; that is a stuck sampler unless the quantity is fixed.
            verdict = worst_verdict(verdict, "warn")
            reasons.append(f"R-hat undefined (constant draws) for {int(nan_rhat.sum())} parameter(s): "
                           + ", ".join(map(str, table.index[nan_rhat.to_numpy()][:3])))
            add_flag(nan_rhat, "r_hat undefined")

    need = th.ess_required(n_chains)
    for col in ("ess_bulk", "ess_tail"):
        ess = table[col]
        low_fail = ess < th.ess_fail_fraction * need
        low_warn = (ess < need) & ~low_fail
        label = col.replace("_", " ").upper().replace("ESS ", "ESS (") + ")"
        if low_fail.any():
            verdict = worst_verdict(verdict, "fail")
            reasons.append(f"{label} < {th.ess_fail_fraction * need:.0f} for {int(low_fail.sum())} "
                           f"parameter(s): " + worst_names(col, low_fail, ascending=True))
            add_flag(low_fail, f"{col}<{th.ess_fail_fraction * need:.0f}")
        if low_warn.any():
            verdict = worst_verdict(verdict, "warn")
            reasons.append(f"{label} < {need:.0f} (required for {n_chains} chain(s)) for "
                           f"{int(low_warn.sum())} parameter(s): " + worst_names(col, low_warn, ascending=True))
            add_flag(low_warn, f"{col}<{need:.0f}")

    n_div = n_divergent(idata)
    if n_div > th.max_divergences:
        verdict = worst_verdict(verdict, "fail")
        total = n_chains * n_draws
        reasons.append(f"{n_div} divergent transition(s) of {total} ({100 * n_div / max(total, 1):.2g}%): "
                       "the posterior may be biased; reparameterise or raise target_accept")

    bf = bfmi(idata)
    if bf.size and (bf < th.bfmi).any():
        verdict = worst_verdict(verdict, "warn")
        low = ", ".join(f"chain {i}: {b:.2f}" for i, b in enumerate(bf) if b < th.bfmi)
        reasons.append(f"E-BFMI < {th.bfmi} ({low}): the sampler explores the energy poorly")

    table["flag"] = flags
    result = DiagnosticsResult(verdict=verdict, reasons=reasons, table=table, n_divergent=n_div,
                               n_draws=n_draws, n_chains=n_chains, bfmi=bf, thresholds=th)
    if warn and verdict != "ok":
        warnings.warn(f"MCMC diagnostics verdict {verdict!r}: " + "; ".join(reasons), SamplingWarning,
                      stacklevel=2)
    return result


@dataclass
class LooResult:
    """PSIS-LOO estimate with its Pareto k diagnostics.

    ``pareto_k_counts`` counts observations in the bands (-inf, 0.5], (0.5, k_threshold],
    (k_threshold, 1] and (1, inf) labelled "good", "ok", "bad", "very bad"; ``bad_indices`` lists the
    positions (in the flattened observed data) with k above the threshold.

    Every field counts observations: when several observations share one pointwise log-likelihood
    (identical rows pooled into one likelihood cell), :func:`loo` computes it once (``n_units``
    distinct computations) and counts it once per observation; ``note`` says how the LOO was computed.
    """

    elpd_loo: float
    se: float
    p_loo: float
    n_obs: int
    pareto_k: np.ndarray
    pareto_k_counts: dict[str, int]
    bad_indices: np.ndarray
    verdict: str
    reasons: list[str]
    loo_i: np.ndarray | None = None
    n_units: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable summary (without the per-observation arrays)."""
        return {
            "elpd_loo": float(self.elpd_loo),
            "se": float(self.se),
            "p_loo": float(self.p_loo),
            "n_obs": int(self.n_obs),
            "n_units": int(self.n_units if self.n_units is not None else self.n_obs),
            "note": self.note,
            "pareto_k_counts": dict(self.pareto_k_counts),
            "max_pareto_k": float(np.max(self.pareto_k)) if self.pareto_k.size else None,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
        }


def _need_log_likelihood(idata: Any) -> None:
    _check_idata(idata)
    if "log_likelihood" not in idata.groups():
        raise ModelError(
            "PSIS-LOO needs a 'log_likelihood' group in the InferenceData, found groups "
            f"{list(idata.groups())}; compute it with probwb.hier.backend.add_log_likelihood(model, idata) "
            "or fit with log_likelihood=True"
        )


def loo(idata: Any, var_name: str | None = None, thresholds: Thresholds | None = None, *,
        pointwise: bool = False, warn: bool = True, unit_of_obs: Any = None, note: str = "") -> LooResult:
    """Return PSIS-LOO (:class:`LooResult`) with a Pareto k summary; warn when any k exceeds the threshold.

    ``var_name`` chooses the observed variable when the log-likelihood group holds several.
    ``pointwise=True`` keeps the per-observation elpd values in ``loo_i``.

    ``unit_of_obs`` (integer array, one entry per observation) maps each observation to the column of
    the (flattened) log-likelihood that is its own pointwise log-likelihood, for data stored with
    repeated observations computed once (identical rows of a pooled model). PSIS is run once per
    column, with the same relative efficiency as for the expanded data, and each column's elpd, p_loo
    contribution and Pareto k are counted once per observation, so the result equals leave-one-
    observation-out on the expanded log-likelihood exactly (PSIS of identical columns is identical).
    ``note`` is stored on the result (default: says whether it is per observation or per column).
    """
    _need_log_likelihood(idata)
    th = thresholds or Thresholds()
    az = _az()
    with warnings.catch_warnings():
        # ArviZ's own high-k warning is replaced by ours, which names the threshold and the count.
        warnings.simplefilter("ignore")
        res = az.loo(idata, pointwise=True, var_name=var_name)
    k = np.asarray(res.pareto_k, dtype=float).ravel()
    loo_i = np.asarray(res.loo_i, dtype=float).ravel()
    n_units = k.size
    elpd, se, p_loo = float(res["elpd_loo"]), float(res["se"]), float(res["p_loo"])
    if unit_of_obs is not None:
        unit = np.asarray(unit_of_obs)
        if unit.ndim != 1 or unit.size == 0 or not np.issubdtype(unit.dtype, np.integer) \
                or unit.min() < 0 or unit.max() >= n_units:
            raise DataError(f"unit_of_obs must be a non-empty 1-d integer array of column positions in "
                            f"0..{n_units - 1} (one per observation), found dtype {unit.dtype}, shape "
                            f"{unit.shape}" + (f", range {unit.min()}..{unit.max()}" if unit.size else ""))
        ll = _log_likelihood_matrix(idata, var_name)
        lppd_unit = _logsumexp_rows(ll) - np.log(ll.shape[1])
        k, loo_i = k[unit], loo_i[unit]
        elpd = float(loo_i.sum())
        se = float(np.sqrt(loo_i.size * np.var(loo_i)))
        p_loo = float(lppd_unit[unit].sum() - elpd)
    if not note:
        note = (f"PSIS-LOO per observation ({k.size:,} observations; {n_units:,} distinct pointwise "
                "log-likelihoods, each counted once per observation that shares it)"
                if unit_of_obs is not None else f"PSIS-LOO per log-likelihood term ({k.size:,} terms)")
    counts = {
        "good": int((k <= 0.5).sum()),
        "ok": int(((k > 0.5) & (k <= th.pareto_k)).sum()),
        "bad": int(((k > th.pareto_k) & (k <= 1.0)).sum()),
        "very bad": int((k > 1.0).sum()),
    }
    bad_idx = np.flatnonzero(k > th.pareto_k)
    reasons: list[str] = []
    verdict = "ok"
    if bad_idx.size:
        verdict = "fail" if counts["very bad"] else "warn"
        reasons.append(f"{bad_idx.size} of {k.size} observation(s) have Pareto k > {th.pareto_k} "
                       f"(max {k.max():.2f}, first at positions {bad_idx[:5].tolist()}): their LOO "
                       "estimates are unreliable; use exact LOO / K-fold for them or a more robust model")
    out = LooResult(
        elpd_loo=elpd, se=se, p_loo=p_loo, n_obs=int(k.size),
        pareto_k=k, pareto_k_counts=counts, bad_indices=bad_idx, verdict=verdict, reasons=reasons,
        loo_i=loo_i if pointwise else None, n_units=int(n_units), note=note,
    )
    if warn and verdict != "ok":
        warnings.warn("PSIS-LOO: " + reasons[0], SamplingWarning, stacklevel=2)
    return out


def _log_likelihood_matrix(idata: Any, var_name: str | None) -> np.ndarray:
    """The pointwise log-likelihood as (n_columns, n_samples), columns in ArviZ's flattened order."""
    group = idata.log_likelihood
    if var_name is None:
        names = list(group.data_vars)
        if len(names) != 1:
            raise DataError(f"the log_likelihood group holds several variables {names}: pass var_name=")
        var_name = names[0]
    arr = np.asarray(group[var_name], dtype=float)
    return arr.reshape(arr.shape[0] * arr.shape[1], -1).T


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    hi = a.max(axis=1, keepdims=True)
    return (hi + np.log(np.exp(a - hi).sum(axis=1, keepdims=True))).ravel()


def compare(models: Mapping[str, Any], *, var_name: str | None = None) -> pd.DataFrame:
    """Rank models by PSIS-LOO expected log predictive density; return a DataFrame (best first).

    Columns: ``rank``, ``elpd_loo``, ``p_loo``, ``elpd_diff`` (to the best), ``weight`` (stacking),
    ``se``, ``dse`` (standard error of the difference), ``max_pareto_k`` and ``warning`` (True when
    any Pareto k is above the threshold, so that model's LOO is unreliable).
    """
    if not isinstance(models, Mapping) or len(models) < 2:
        raise DataError(f"compare needs a dict of at least 2 named InferenceData, found {models!r:.80}")
    for name, idata in models.items():
        try:
            _need_log_likelihood(idata)
        except ModelError as exc:
            raise ModelError(f"model {name!r}: {exc}") from None
    az = _az()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare(dict(models), ic="loo", var_name=var_name)
        maxk = {name: float(np.max(np.asarray(az.loo(idata, pointwise=True, var_name=var_name).pareto_k)))
                for name, idata in models.items()}
    table = table.rename(columns={"elpd_loo": "elpd_loo"})
    keep = [c for c in ("rank", "elpd_loo", "p_loo", "elpd_diff", "weight", "se", "dse", "warning")
            if c in table.columns]
    out = table[keep].copy()
    out["max_pareto_k"] = [maxk[n] for n in out.index]
    out["warning"] = out["max_pareto_k"] > Thresholds().pareto_k
    return out


_STATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda a: a.mean(axis=-1),
    "sd": lambda a: a.std(axis=-1),
    "min": lambda a: a.min(axis=-1),
    "max": lambda a: a.max(axis=-1),
    "median": lambda a: np.median(a, axis=-1),
    "q10": lambda a: np.quantile(a, 0.1, axis=-1),
    "q90": lambda a: np.quantile(a, 0.9, axis=-1),
    "prop_zero": lambda a: (a == 0).mean(axis=-1),
}


def ppc_pvalues(
    idata: Any,
    var_name: str | None = None,
    stats: Sequence[str] | Mapping[str, Callable[[np.ndarray], np.ndarray]] = ("mean", "sd", "min", "max"),
) -> pd.DataFrame:
    """Return posterior predictive p-values P(T(y_rep) >= T(y)) for test statistics T.

    ``idata`` needs ``observed_data`` and ``posterior_predictive`` groups. ``stats`` names built-in
    statistics (mean, sd, min, max, median, q10, q90, prop_zero) or maps names to functions that reduce
    the last axis of an array of replicated datasets. Returns a DataFrame indexed by statistic with
    columns ``observed``, ``replicated_mean``, ``p_value`` (values near 0 or 1 flag misfit) and
    ``flag`` (True outside [0.025, 0.975]).
    """
    _check_idata(idata)
    for grp in ("observed_data", "posterior_predictive"):
        if grp not in idata.groups():
            raise ModelError(f"posterior predictive checks need a {grp!r} group, found {list(idata.groups())}")
    obs_vars = list(idata.observed_data.data_vars)
    if var_name is None:
        if len(obs_vars) != 1:
            raise DataError(f"several observed variables {obs_vars}: pass var_name=")
        var_name = obs_vars[0]
    if var_name not in idata.posterior_predictive:
        raise DataError(f"posterior_predictive has no variable {var_name!r}; found "
                        f"{list(idata.posterior_predictive.data_vars)}")
    y = np.asarray(idata.observed_data[var_name], dtype=float).ravel()
    rep = np.asarray(idata.posterior_predictive[var_name], dtype=float)
    return ppc_test(y, rep.reshape(-1, y.size), stats)


def ppc_test(
    y: Any,
    y_rep: Any,
    stats: Sequence[str] | Mapping[str, Callable[[np.ndarray], np.ndarray]] = ("mean", "sd", "min", "max"),
) -> pd.DataFrame:
    """Return posterior predictive p-values of test statistics for observed ``y`` (n,) and replicated
    datasets ``y_rep`` (draws, n); same output as :func:`ppc_pvalues`."""
    y = np.asarray(y, dtype=float).ravel()
    rep = np.asarray(y_rep, dtype=float)
    if rep.ndim != 2 or rep.shape[1] != y.size:
        raise DataError(f"y_rep must have shape (draws, {y.size}), found {rep.shape}")
    if isinstance(stats, Mapping):
        funcs = dict(stats)
    else:
        unknown = [s for s in stats if s not in _STATS]
        if unknown:
            raise DataError(f"unknown statistic(s) {unknown}; expected some of {sorted(_STATS)}")
        funcs = {s: _STATS[s] for s in stats}
    rows = []
    for name, fn in funcs.items():
        t_obs = float(np.asarray(fn(y[None, :])).ravel()[0])
        t_rep = np.asarray(fn(rep), dtype=float).ravel()
        # Mid-p value so discrete statistics with ties give 0.5 for a perfect match.
        p = float(np.mean(t_rep > t_obs) + 0.5 * np.mean(t_rep == t_obs))
        rows.append({"statistic": name, "observed": t_obs, "replicated_mean": float(t_rep.mean()),
                     "p_value": p, "flag": bool(p < 0.025 or p > 0.975)})
    return pd.DataFrame(rows).set_index("statistic")
