"""Bayesian A/B(/n) tests with conjugate posteriors and Monte Carlo summaries.

* Rates (redemption, conversion): Beta-Binomial, ``Beta(a + successes, b + failures)`` per arm.
* Spend (non-negative amounts): ``model="lognormal"`` is a hurdle model -- a Beta posterior for the share of
  positive amounts times a log-normal for the positive amounts, whose ``(mu, sigma^2)`` get the exact posterior
  under the reference prior ``p(mu, sigma^2) ~ 1 / sigma^2`` (a normal-inverse-gamma form); the arm's metric is
  the mean spend ``share * exp(mu + sigma^2 / 2)``. ``model="normal"`` puts the same reference posterior on the
  mean of the raw values.

Every summary is computed from ``n_draws`` joint posterior draws made with ``random_state``: posterior mean and
HDI per arm, P(arm is best), expected loss (the expected shortfall from the best arm if this one is chosen),
and for each arm against the control: the relative lift, its HDI and P(arm > control).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from probwb.core.random import check_random_state
from probwb.core.validation import check_columns, check_dataframe
from probwb.errors import DataError, SmallSampleWarning, SpecError
from probwb.stats.results import ABResult

__all__ = ["hdi", "beta_binomial_ab", "rate_ab", "spend_ab", "coupon_ab"]


def hdi(draws: np.ndarray, prob: float = 0.95) -> tuple[float, float]:
    """Return the narrowest interval containing a ``prob`` share of the 1-D ``draws`` (highest density)."""
    x = np.sort(np.asarray(draws, dtype=float).ravel())
    n = x.size
    if n == 0 or not 0 < prob < 1:
        raise SpecError(f"hdi needs draws and 0 < prob < 1, found {n} draws and prob={prob}")
    k = max(1, int(np.floor(prob * n)))
    if k >= n:
        return float(x[0]), float(x[-1])
    widths = x[k:] - x[: n - k]
    i = int(np.argmin(widths))
    return float(x[i]), float(x[i + k])


def _summarise(draws: pd.DataFrame, counts: pd.DataFrame, control: str, metric: str, method: str,
               hdi_prob: float, warn: list[str], details: dict) -> ABResult:
    arms = list(draws.columns)
    if control not in arms:
        raise DataError(f"control arm {control!r} is not among the arms {arms}")
    mat = draws.to_numpy()
    best = mat.max(axis=1)
    winner = mat.argmax(axis=1)
    rows = []
    count_rows = counts.to_dict(orient="index")
    for j, a in enumerate(arms):
        lo, hi = hdi(mat[:, j], hdi_prob)
        rows.append({"arm": a, **count_rows[a], "mean": float(mat[:, j].mean()), "hdi_low": lo,
                     "hdi_high": hi, "prob_best": float(np.mean(winner == j)),
                     "expected_loss": float(np.mean(best - mat[:, j]))})
    table = pd.DataFrame(rows).set_index("arm")
    lift_rows = []
    c = mat[:, arms.index(control)]
    for j, a in enumerate(arms):
        if a == control:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = mat[:, j] / c - 1.0
        lift = lift[np.isfinite(lift)]
        lo, hi = hdi(lift, hdi_prob) if lift.size else (np.nan, np.nan)
        lift_rows.append({"arm": a, "lift_mean": float(lift.mean()) if lift.size else np.nan,
                          "lift_hdi_low": lo, "lift_hdi_high": hi,
                          "diff_mean": float(np.mean(mat[:, j] - c)),
                          "prob_better": float(np.mean(mat[:, j] > c))})
    lift_table = pd.DataFrame(lift_rows, columns=["arm", "lift_mean", "lift_hdi_low", "lift_hdi_high",
                                                  "diff_mean", "prob_better"]).set_index("arm")
    return ABResult(method=method, table=table, warnings=tuple(warn), details=details, metric=metric,
                    control=control, lift=lift_table, draws=draws, hdi_prob=hdi_prob)


def _as_series(values, arms: Sequence[str] | None, name: str) -> pd.Series:
    if isinstance(values, Mapping):
        s = pd.Series(values, dtype=float)
    elif isinstance(values, pd.Series):
        s = values.astype(float)
    else:
        arr = np.asarray(values, dtype=float).ravel()
        labels = list(arms) if arms is not None else [chr(ord("A") + i) for i in range(arr.size)]
        if len(labels) != arr.size:
            raise DataError(f"{name}: {arr.size} values for {len(labels)} arm names")
        s = pd.Series(arr, index=labels)
    s.index = s.index.map(str)
    if s.isna().any():
        raise DataError(f"{name} contains NaN for arm(s) {list(s.index[s.isna()])}")
    if (s < 0).any():
        raise DataError(f"{name} must be non-negative counts, found {s[s < 0].to_dict()}")
    if not np.all(s == np.round(s)):
        raise DataError(f"{name} must be whole counts, found {s.to_dict()}")
    return s


def beta_binomial_ab(successes, trials, *, arms: Sequence[str] | None = None, control: str | None = None,
                     prior: tuple[float, float] = (1.0, 1.0), n_draws: int = 100_000, hdi_prob: float = 0.95,
                     random_state=None) -> ABResult:
    """Return a Beta-Binomial comparison of success rates across two or more arms.

    ``successes`` and ``trials`` are dicts / Series keyed by arm, or sequences aligned with ``arms``
    (default names A, B, ...). ``control`` defaults to the first arm; ``prior`` is the Beta(a, b) prior of every
    arm (uniform by default).
    """
    s = _as_series(successes, arms, "successes")
    n = _as_series(trials, arms, "trials").reindex(s.index)
    if n.isna().any():
        raise DataError(f"trials missing for arm(s) {list(n.index[n.isna()])}")
    if len(s) < 2:
        raise DataError(f"an A/B test needs at least 2 arms, found {len(s)}")
    if (s > n).any():
        raise DataError(f"successes exceed trials for arm(s) {list(s.index[s > n])}")
    a, b = prior
    if a <= 0 or b <= 0:
        raise SpecError(f"Beta prior parameters must be positive, found {prior}")
    rng = check_random_state(random_state)
    draws = pd.DataFrame({arm: rng.beta(a + s[arm], b + n[arm] - s[arm], size=int(n_draws)) for arm in s.index})
    counts = pd.DataFrame({"n": n.astype(int), "successes": s.astype(int), "observed_rate": s / n.where(n > 0)})
    warn = [f"arm {arm!r} has no trials; its posterior is the prior" for arm in s.index if n[arm] == 0]
    control = str(s.index[0]) if control is None else str(control)
    return _summarise(draws, counts, control, "rate", "Beta-Binomial A/B test", hdi_prob, warn,
                      {"prior": prior, "n_draws": int(n_draws)})


def rate_ab(data: pd.DataFrame, outcome: str, arm: str, *, control: str | None = None,
            prior: tuple[float, float] = (1.0, 1.0), n_draws: int = 100_000, hdi_prob: float = 0.95,
            random_state=None) -> ABResult:
    """Return a Beta-Binomial comparison from one row per trial: ``outcome`` is 0/1 (or False/True), ``arm``
    names the arm. Rows with a missing outcome are refused (drop untreated rows first)."""
    check_dataframe(data)
    check_columns(data, [outcome, arm])
    sub = data[[outcome, arm]]
    if sub.isna().any().any():
        col = sub.columns[sub.isna().any()][0]
        raise DataError(f"rate_ab: column {col!r} has {int(sub[col].isna().sum())} missing value(s); keep only "
                        "rows where the outcome was observed")
    y = sub[outcome].astype(float).to_numpy()
    if not np.isin(y, (0.0, 1.0)).all():
        bad = y[~np.isin(y, (0.0, 1.0))][0]
        raise DataError(f"rate_ab: column {outcome!r} must hold 0/1 outcomes, found {bad!r}")
    labels = sub[arm].astype(str)
    g = pd.Series(y, index=sub.index).groupby(labels.to_numpy())
    return beta_binomial_ab(g.sum(), g.size(), control=control, prior=prior, n_draws=n_draws, hdi_prob=hdi_prob,
                            random_state=random_state)


def _reference_normal(x: np.ndarray, n_draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # exact posterior under p(mu, sigma^2) ~ 1/sigma^2: sigma^2 ~ Inv-Gamma((n-1)/2, SS/2), mu ~ N(xbar, sigma^2/n)
    n = x.size
    xbar = x.mean()
    ss = float(np.sum((x - xbar) ** 2))
    sigma2 = (ss / 2.0) / rng.gamma((n - 1) / 2.0, 1.0, size=n_draws)
    mu = rng.normal(xbar, np.sqrt(sigma2 / n))
    return mu, sigma2


def spend_ab(data: pd.DataFrame, value: str, arm: str, *, model: str = "lognormal", control: str | None = None,
             n_draws: int = 50_000, hdi_prob: float = 0.95, random_state=None) -> ABResult:
    """Return a Bayesian comparison of mean spend per unit (customer, visit) across the arms in ``arm``.

    ``model="lognormal"`` (default) handles zeros with a hurdle (share of positive spend x log-normal mean);
    ``model="normal"`` models the raw mean. Negative values are refused; each arm needs at least 2 positive
    values (lognormal) or 2 values (normal).
    """
    if model not in ("lognormal", "normal"):
        raise SpecError(f"model must be 'lognormal' or 'normal', found {model!r}")
    check_dataframe(data)
    check_columns(data, [value, arm])
    sub = data[[value, arm]]
    if sub.isna().any().any():
        col = sub.columns[sub.isna().any()][0]
        raise DataError(f"spend_ab: column {col!r} has {int(sub[col].isna().sum())} missing value(s); drop them first")
    y = sub[value].to_numpy(dtype=float)
    if (y < 0).any():
        raise DataError(f"spend_ab: column {value!r} must be non-negative, found {y.min():g}")
    rng = check_random_state(random_state)
    labels = sub[arm].astype(str).to_numpy()
    arms = sorted(pd.unique(labels))
    if len(arms) < 2:
        raise DataError(f"spend_ab needs at least 2 arms in {arm!r}, found {arms}")
    draws, counts, warn = {}, [], []
    for a in arms:
        x = y[labels == a]
        pos = x[x > 0]
        if model == "lognormal":
            if pos.size < 2:
                raise DataError(f"spend_ab: arm {a!r} has {pos.size} positive value(s); the log-normal model needs 2")
            share = rng.beta(1 + pos.size, 1 + x.size - pos.size, size=n_draws)
            mu, s2 = _reference_normal(np.log(pos), n_draws, rng)
            draws[a] = share * np.exp(mu + s2 / 2)
        else:
            if x.size < 2 or np.all(x == x[0]):
                raise DataError(f"spend_ab: arm {a!r} needs at least 2 distinct values, found {x.size} value(s)")
            draws[a] = _reference_normal(x, n_draws, rng)[0]
        if x.size < 30:
            warn.append(f"arm {a!r} has only {x.size} observations; the posterior leans on the model form")
        counts.append({"arm": a, "n": int(x.size), "n_positive": int(pos.size), "observed_mean": float(x.mean())})
    for w in warn:
        import warnings

        warnings.warn(w, SmallSampleWarning, stacklevel=2)
    counts_df = pd.DataFrame(counts).set_index("arm")
    control = arms[0] if control is None else str(control)
    method = ("hurdle log-normal spend model (reference prior)" if model == "lognormal"
              else "normal mean spend model (reference prior)")
    return _summarise(pd.DataFrame(draws), counts_df, control, "mean spend", method, hdi_prob, warn,
                      {"model": model, "n_draws": int(n_draws)})


def coupon_ab(campaign, metric: str = "redemption", *, control: str | None = None, n_draws: int = 50_000,
              hdi_prob: float = 0.95, random_state=None) -> ABResult:
    """Return a Bayesian A/B test on a :func:`probwb.datasets.simulate_coupon_campaign` result.

    ``metric="redemption"``: redemption rate of each coupon type from the ``coupons`` table (columns coupon,
    redeemed; control defaults to the first coupon level). ``metric="spend"``: total spend per customer over the
    campaign by randomised ``arm`` (``customers`` joined to ``panel``; control defaults to ``"control"``).
    """
    if metric == "redemption":
        coupons = check_dataframe(getattr(campaign, "coupons", None), name="campaign.coupons")
        check_columns(coupons, ["coupon", "redeemed"], name="campaign.coupons")
        if coupons["redeemed"].isna().any():
            raise DataError("campaign.coupons['redeemed'] has missing values")
        g = coupons.groupby(coupons["coupon"].astype(str), observed=True)["redeemed"]
        return beta_binomial_ab(g.sum(), g.size(), control=control, n_draws=n_draws, hdi_prob=hdi_prob,
                                random_state=random_state)
    if metric == "spend":
        customers = check_dataframe(getattr(campaign, "customers", None), name="campaign.customers")
        panel = check_dataframe(getattr(campaign, "panel", None), name="campaign.panel")
        check_columns(customers, ["customer_id", "arm"], name="campaign.customers")
        check_columns(panel, ["customer_id", "spend"], name="campaign.panel")
        per = panel.groupby("customer_id", observed=True)["spend"].sum()
        df = customers[["customer_id", "arm"]].assign(spend=customers["customer_id"].map(per).fillna(0.0))
        arms = set(df["arm"].astype(str))
        ctrl = control if control is not None else ("control" if "control" in arms else None)
        return spend_ab(df, "spend", "arm", control=ctrl, n_draws=n_draws, hdi_prob=hdi_prob,
                        random_state=random_state)
    raise SpecError(f"metric must be 'redemption' or 'spend', found {metric!r}")
