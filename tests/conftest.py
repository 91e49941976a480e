"""Shared test fixtures: headless plotting, the ../shared folder, small simulated data."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder beside the checkout (reference data for tests)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def small_campaign():
    """A small simulated coupon campaign (seeded), shared across tests."""
    from probwb.datasets import simulate_coupon_campaign

    return simulate_coupon_campaign(n_customers=1500, n_stores=12, n_weeks=20, random_state=11)


@pytest.fixture(scope="session")
def small_cohort():
    """A small simulated patient cohort (seeded), shared across tests."""
    from probwb.datasets import simulate_patient_cohort

    return simulate_patient_cohort(n_patients=2000, n_hospitals=15, n_visits=8, random_state=12)
