"""One way to turn ``random_state=`` into a generator."""

from __future__ import annotations

import numbers

import numpy as np

from probwb.core.validation import plain_number, short_repr
from probwb.errors import DataError

RandomState = int | np.random.Generator | None


def check_random_state(random_state: RandomState) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for an int seed, a Generator, or None (fresh entropy).

    Anything else (a negative int, a float, a string, a bool) raises :class:`~probwb.errors.DataError`
    saying what was expected and what was found.
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if int(random_state) < 0:
            raise DataError(f"random_state must be a non-negative int, found {int(random_state)}")
        return np.random.default_rng(int(random_state))
    raise DataError(
        "random_state must be a non-negative int, a numpy.random.Generator or None, "
        f"found {type(plain_number(random_state)).__name__} {short_repr(random_state)}"
    )


def seed_from(rng: np.random.Generator) -> int:
    """Return an int seed drawn from ``rng`` (for libraries that only take integer seeds)."""
    return int(rng.integers(0, 2**31 - 1))
