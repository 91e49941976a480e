"""One way to turn ``random_state=`` into a generator."""

from __future__ import annotations

import numbers

import numpy as np

RandomState = int | np.random.Generator | None


def check_random_state(random_state: RandomState) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for an int seed, a Generator, or None (fresh entropy)."""
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if int(random_state) < 0:
            raise ValueError(f"random_state must be a non-negative int, found {random_state}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be an int, a numpy.random.Generator or None, "
        f"found {type(random_state).__name__}"
    )


def seed_from(rng: np.random.Generator) -> int:
    """Return an int seed drawn from ``rng`` (for libraries that only take integer seeds)."""
    return int(rng.integers(0, 2**31 - 1))
