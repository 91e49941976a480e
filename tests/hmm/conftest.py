"""Shared fixtures for the HMM tests."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest


def _peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.fixture
def peak_bytes() -> Callable[[Callable[[], object]], int]:
    """Return a function that runs a callable and gives the peak bytes Python allocated above the start."""
    return _peak_bytes
