"""Calibration of probwb.stats intervals and tests by simulation (issue #13), 200 replications per row.

The scenarios (data, sizes, truths, claims) live in benchmarks/calibration_stats_tests.py, which runs the same
rows at full size and writes benchmarks/calibration_stats_tests.md. Here every row a method claims is checked:
a 90% interval covers the generating truth, and a test at alpha = 0.05 rejects a true null, at a rate inside the
99% binomial band (exact conditional methods: on the safe side of it). The rows outside a method's assumptions
(pooled t with unequal variances and unequal n) must fall outside the band, which shows the check can fail.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
N_REPS = 200


def _module():
    spec = importlib.util.spec_from_file_location("calibration_stats_tests",
                                                  ROOT / "benchmarks" / "calibration_stats_tests.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


CAL = _module()
KEYS = [f"{sc.name} | {sc.data}" for sc in CAL.scenarios()]
CLAIMS = {f"{sc.name} | {sc.data}": sc.claim for sc in CAL.scenarios()}


@pytest.mark.parametrize("key", [k for k in KEYS if not CLAIMS[k].startswith("not claimed")])
def test_claimed_calibration(key):
    row = CAL.run(N_REPS, only=[key]).iloc[0]
    assert row["n_reps"] == N_REPS
    assert row["ok"], (f"{key}: observed {row['observed']:.3f} outside the 99% band "
                       f"[{row['band_lo']:.3f}, {row['band_hi']:.3f}] around {row['nominal']}")


@pytest.mark.parametrize("key", [k for k in KEYS if CLAIMS[k].startswith("not claimed")])
def test_unclaimed_rows_are_detected_as_miscalibrated(key):
    row = CAL.run(N_REPS, only=[key]).iloc[0]
    # pooled t with the small group the noisy one: intervals too short, size inflated
    if row["kind"] == "coverage":
        assert row["observed"] < row["band_lo"]
    else:
        assert row["observed"] > row["band_hi"]
