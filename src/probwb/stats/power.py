"""Power and sample size for t-tests, one-way ANOVA and two proportions (statsmodels' solvers).

Give every argument but one of ``effect_size``, ``n``, ``power`` (``None`` marks the one to solve for).
Sample sizes are per group for t-tests and proportions and per group for ANOVA too (the total is
``n * k_groups``), matching R's ``pwr`` package.
"""

from __future__ import annotations

import math

from probwb.errors import SpecError

__all__ = ["power_ttest", "power_anova", "power_two_proportions", "cohens_h"]


def _one_missing(**kw) -> str:
    missing = [k for k, v in kw.items() if v is None]
    if len(missing) != 1:
        raise SpecError(f"give all but exactly one of {list(kw)}; found None for {missing or 'none'}")
    return missing[0]


def _alt(alternative: str) -> str:
    table = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}
    if alternative not in table:
        raise SpecError(f"alternative must be one of {list(table)}, found {alternative!r}")
    return table[alternative]


def power_ttest(effect_size: float | None = None, n: float | None = None, power: float | None = None, *,
                alpha: float = 0.05, kind: str = "two-sample", ratio: float = 1.0,
                alternative: str = "two-sided") -> float:
    """Return the missing one of Cohen's d ``effect_size``, ``n`` (per group; for ``kind="one-sample"`` or
    ``"paired"`` the number of observations / pairs) and ``power``."""
    from statsmodels.stats.power import TTestIndPower, TTestPower

    what = _one_missing(effect_size=effect_size, n=n, power=power)
    alt = _alt(alternative)
    if kind == "two-sample":
        r = TTestIndPower().solve_power(effect_size=effect_size, nobs1=n, alpha=alpha, power=power, ratio=ratio,
                                        alternative=alt)
    elif kind in ("one-sample", "paired"):
        r = TTestPower().solve_power(effect_size=effect_size, nobs=n, alpha=alpha, power=power, alternative=alt)
    else:
        raise SpecError(f"kind must be 'two-sample', 'one-sample' or 'paired', found {kind!r}")
    return _scalar(r, what)


def power_anova(effect_size: float | None = None, n: float | None = None, power: float | None = None, *,
                k_groups: int, alpha: float = 0.05) -> float:
    """Return the missing one of Cohen's f ``effect_size``, ``n`` per group and ``power`` for a balanced
    one-way ANOVA with ``k_groups`` groups."""
    from statsmodels.stats.power import FTestAnovaPower

    what = _one_missing(effect_size=effect_size, n=n, power=power)
    if k_groups < 2:
        raise SpecError(f"k_groups must be at least 2, found {k_groups}")
    r = FTestAnovaPower().solve_power(effect_size=effect_size, nobs=None if n is None else n * k_groups,
                                      alpha=alpha, power=power, k_groups=k_groups)
    r = _scalar(r, what)
    return r / k_groups if what == "n" else r


def cohens_h(p1: float, p2: float) -> float:
    """Return Cohen's h ``2 asin(sqrt(p1)) - 2 asin(sqrt(p2))``, the effect size of two proportions."""
    for p in (p1, p2):
        if not 0 <= p <= 1:
            raise SpecError(f"proportions must lie in [0, 1], found {p}")
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))


def power_two_proportions(p1: float | None = None, p2: float | None = None, n: float | None = None,
                          power: float | None = None, *, alpha: float = 0.05, ratio: float = 1.0,
                          alternative: str = "two-sided") -> float:
    """Return the missing one of ``n`` (per group) and ``power`` for comparing proportions ``p1`` and ``p2``
    (arcsine / Cohen's h normal approximation, as R's ``pwr.2p.test``)."""
    from statsmodels.stats.power import NormalIndPower

    if p1 is None or p2 is None:
        raise SpecError("power_two_proportions needs both p1 and p2")
    what = _one_missing(n=n, power=power)
    h = abs(cohens_h(p1, p2)) if alternative == "two-sided" else cohens_h(p1, p2)
    if h == 0:
        raise SpecError("p1 equals p2: there is no effect to detect")
    r = NormalIndPower().solve_power(effect_size=h, nobs1=n, alpha=alpha, power=power, ratio=ratio,
                                     alternative=_alt(alternative))
    return _scalar(r, what)


def _scalar(r, what: str) -> float:
    import numpy as np

    v = float(np.asarray(r).ravel()[0])
    if not math.isfinite(v):
        raise SpecError(f"could not solve for {what}: no finite solution for these inputs")
    return v
