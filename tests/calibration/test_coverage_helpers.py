"""The binomial band used by every calibration test: exact values and its own calibration."""

from __future__ import annotations

import numpy as np
import pytest

from probwb.errors import DataError
from probwb.evaluate import binomial_band, coverage_row


def test_band_matches_binomial_quantiles():
    from scipy.stats import binom

    lo, hi = binomial_band(0.9, 200, 0.99)
    # Binomial(200, 0.9): 0.5% and 99.5% quantiles are 168 and 190 successes (scipy ppf/isf).
    assert (lo, hi) == (binom.ppf(0.005, 200, 0.9) / 200, binom.isf(0.005, 200, 0.9) / 200)
    assert lo == pytest.approx(0.84) and hi == pytest.approx(0.95)


def test_band_holds_calibrated_and_rejects_miscalibrated():
    rng = np.random.default_rng(0)
    inside = [coverage_row("x", rng.random(300) < 0.9, 0.9)["inside"] for _ in range(400)]
    assert 0.97 <= np.mean(inside) <= 1.0
    outside = [coverage_row("x", rng.random(300) < 0.8, 0.9)["inside"] for _ in range(100)]
    assert np.mean(outside) < 0.05


@pytest.mark.parametrize("args", [(1.5, 10), (0.9, 0), (0.9, 10, 1.0)])
def test_band_rejects_bad_arguments(args):
    with pytest.raises(DataError):
        binomial_band(*args)
