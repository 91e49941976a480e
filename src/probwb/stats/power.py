"""Power and sample size for t-tests, one-way ANOVA and two proportions (statsmodels' solvers).

Give every argument but one of ``effect_size``, ``n``, ``power`` (``None`` marks the one to solve for).
Sample sizes are per group for t-tests and proportions and per group for ANOVA too (the total is
``n * k_groups``), matching R's ``pwr`` package.
"""

from __future__ import annotations

import math
import numbers

from probwb.errors import SpecError

__all__ = ["power_ttest", "power_anova", "power_two_proportions", "cohens_h"]


def _one_missing(**kw) -> str:
    missing = [k for k, v in kw.items() if v is None]
    if len(missing) != 1:
        raise SpecError(f"give all but exactly one of {list(kw)}; found None for {missing or 'none'}")
    return missing[0]


def _check_rate(name: str, value, where: str) -> None:
    # alpha and power are probabilities strictly inside (0, 1); anything else has no solution to search for
    if value is None:
        return
    if not _real(value) or not 0.0 < float(value) < 1.0:
        raise SpecError(f"{where}: {name} must be a probability strictly between 0 and 1, found {value!r}")


def _check_positive(name: str, value, where: str, minimum: float = 0.0, integer: bool = False) -> None:
    if value is None:
        return
    ok = _real(value) and math.isfinite(value) and value > minimum
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        kind = "an integer" if integer else "a finite number"
        raise SpecError(f"{where}: {name} must be {kind} greater than {minimum:g}, found {value!r}")


def _check_effect(value, where: str, label: str, signed: bool, allow_zero: bool) -> None:
    if value is None:
        return
    if not _real(value) or not math.isfinite(value):
        raise SpecError(f"{where}: effect_size ({label}) must be a finite number, found {value!r}")
    if not signed and value < 0:
        raise SpecError(f"{where}: effect_size ({label}) must be >= 0, found {value!r}")
    if value == 0 and not allow_zero:
        raise SpecError(f"{where}: effect_size ({label}) must be non-zero unless solving for power (no sample "
                        f"size detects a zero effect), found {value!r}")


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_power_above_alpha(power, alpha: float, where: str) -> None:
    if power is not None and power <= alpha:
        raise SpecError(f"{where}: power must exceed alpha ({alpha:g}), the rejection rate with no effect; "
                        f"found power = {power!r}")


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
    where = "power_ttest"
    _check_rate("alpha", alpha, where)
    _check_rate("power", power, where)
    _check_positive("n", n, where, minimum=1.0)
    _check_positive("ratio", ratio, where)
    _check_effect(effect_size, where, "Cohen's d", signed=alternative != "two-sided", allow_zero=what == "power")
    if what != "power":
        _check_power_above_alpha(power, alpha, where)
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
    where = "power_anova"
    _check_positive("k_groups", k_groups, where, minimum=1.0, integer=True)
    _check_rate("alpha", alpha, where)
    _check_rate("power", power, where)
    _check_positive("n", n, where, minimum=1.0)
    _check_effect(effect_size, where, "Cohen's f", signed=False, allow_zero=what == "power")
    if what != "power":
        _check_power_above_alpha(power, alpha, where)
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
    where = "power_two_proportions"
    for name, p in (("p1", p1), ("p2", p2)):
        if not _real(p) or not 0.0 <= float(p) <= 1.0:
            raise SpecError(f"{where}: {name} must be a proportion in [0, 1], found {p!r}")
    _check_rate("alpha", alpha, where)
    _check_rate("power", power, where)
    _check_positive("n", n, where, minimum=1.0)
    _check_positive("ratio", ratio, where)
    if what == "n":
        _check_power_above_alpha(power, alpha, where)
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
