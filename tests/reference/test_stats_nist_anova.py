"""NIST StRD one-way ANOVA datasets: certified sums of squares, mean squares and F.

Source of every certified number: NIST/ITL Statistical Reference Datasets, Analysis of Variance
(https://www.itl.nist.gov/div898/strd/anova/anova.html), the "Certified Values" block of each .dat file.
SiRstv and AtmWtAg are observed data typed in below from those files; SmLs01-09 are generated data whose
pattern NIST describes (9 treatments; treatment 1 is 1.4 then alternately 1.3 and 1.5; even treatments are
1.3 then alternately 1.2 and 1.4; odd treatments from 3 on are 1.5 then alternately 1.4 and 1.6; SmLs01-03
have 21 / 201 / 2001 observations per treatment, SmLs04-06 add 1e6 - 1 and SmLs07-09 add 1e12 - 1).
Every case is also checked against an exact rational-arithmetic ANOVA (fractions.Fraction) of the same data.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from probwb.stats import anova, oneway

# NIST SiRstv.dat, lines 61-85: Instrument, Resistance (Ehrstein & Croarkin, silicon resistivity)
SIRSTV = {
    1: ["196.3052", "196.1240", "196.1890", "196.2569", "196.3403"],
    2: ["196.3042", "196.3825", "196.1669", "196.3257", "196.0422"],
    3: ["196.1303", "196.2005", "196.2889", "196.0343", "196.1811"],
    4: ["196.2795", "196.1748", "196.1494", "196.1485", "195.9885"],
    5: ["196.2119", "196.1051", "196.1850", "196.0052", "196.2090"],
}
# NIST SiRstv.dat certified values: between SS, between MS, F, within SS, within MS
SIRSTV_CERT = (5.11462616000000e-02, 1.27865654000000e-02, 1.18046237440255e00, 2.16636560000000e-01,
               1.08318280000000e-02)

# NIST AtmWtAg.dat, lines 61-108: Instrument, AgWt (atomic weight of silver)
ATMWTAG = {
    1: ["107.8681568", "107.8681465", "107.8681572", "107.8681785", "107.8681446", "107.8681903",
        "107.8681526", "107.8681494", "107.8681616", "107.8681587", "107.8681519", "107.8681486",
        "107.8681419", "107.8681569", "107.8681508", "107.8681672", "107.8681385", "107.8681518",
        "107.8681662", "107.8681424", "107.8681360", "107.8681333", "107.8681610", "107.8681477"],
    2: ["107.8681079", "107.8681344", "107.8681513", "107.8681197", "107.8681604", "107.8681385",
        "107.8681642", "107.8681365", "107.8681151", "107.8681082", "107.8681517", "107.8681448",
        "107.8681198", "107.8681482", "107.8681334", "107.8681609", "107.8681101", "107.8681512",
        "107.8681469", "107.8681360", "107.8681254", "107.8681261", "107.8681450", "107.8681368"],
}
# NIST AtmWtAg.dat certified values
ATMWTAG_CERT = (3.63834187500000e-09, 3.63834187500000e-09, 1.59467335677930e01, 1.04951729166667e-08,
                2.28155932971014e-10)

# NIST SmLs01-09 certified values (between SS, between MS, F, within SS, within MS), by observations/treatment
SMLS_CERT = {
    21: (1.68, 2.1e-01, 2.1e01, 1.8, 1.0e-02),
    201: (1.608e01, 2.01, 2.01e02, 1.8e01, 1.0e-02),
    2001: (1.6008e02, 2.001e01, 2.001e03, 1.8e02, 1.0e-02),
}
SMLS = {  # name: (observations per treatment, offset added to the small pattern)
    "SmLs01": (21, 0), "SmLs02": (201, 0), "SmLs03": (2001, 0),
    "SmLs04": (21, 10**6 - 1), "SmLs05": (201, 10**6 - 1), "SmLs06": (2001, 10**6 - 1),
    "SmLs07": (21, 10**12 - 1), "SmLs08": (201, 10**12 - 1), "SmLs09": (2001, 10**12 - 1),
}


def smls_values(per_group: int, offset: int, unit: Decimal = Decimal("0.1")) -> list[tuple[int, Decimal]]:
    """The SmLs pattern as exact decimals: (treatment, value)."""
    rows = []
    for g in range(1, 10):
        centre = 14 if g == 1 else (13 if g % 2 == 0 else 15)
        ticks = [centre] + [centre - 1 if k % 2 == 0 else centre + 1 for k in range(per_group - 1)]
        rows += [(g, Decimal(offset) + t * unit) for t in ticks]
    return rows


def exact_oneway(groups: dict[int, list[Fraction]]) -> tuple[Fraction, Fraction, Fraction]:
    """Exact (between SS, within SS, F) with rational arithmetic."""
    allv = [v for vals in groups.values() for v in vals]
    grand = sum(allv, Fraction(0)) / len(allv)
    ssb, ssw = Fraction(0), Fraction(0)
    for vals in groups.values():
        m = sum(vals, Fraction(0)) / len(vals)
        ssb += len(vals) * (m - grand) ** 2
        ssw += sum(((v - m) ** 2 for v in vals), Fraction(0))
    k, n = len(groups), len(allv)
    return ssb, ssw, (ssb / (k - 1)) / (ssw / (n - k))


def frame(groups: dict[int, list]) -> pd.DataFrame:
    return pd.DataFrame({"g": [f"t{g}" for g, vals in groups.items() for _ in vals],
                         "y": [float(v) for vals in groups.values() for v in vals]})


def check(table: pd.DataFrame, cert, rtol: float) -> None:
    ssb, msb, f, ssw, msw = cert
    np.testing.assert_allclose(table.loc["g", "sum_sq"], ssb, rtol=rtol)
    np.testing.assert_allclose(table.loc["g", "mean_sq"], msb, rtol=rtol)
    np.testing.assert_allclose(table.loc["g", "F"], f, rtol=rtol)
    np.testing.assert_allclose(table.loc["Residual", "sum_sq"], ssw, rtol=rtol)
    np.testing.assert_allclose(table.loc["Residual", "mean_sq"], msw, rtol=rtol)


@pytest.mark.parametrize("data,cert", [(SIRSTV, SIRSTV_CERT), (ATMWTAG, ATMWTAG_CERT)], ids=["SiRstv", "AtmWtAg"])
def test_observed_datasets_match_certified_values(data, cert):
    table = anova(frame(data), "y ~ g").table
    # at least 9 significant digits (the data carry 7 or 8 digits, so double input itself limits the rest)
    check(table, cert, rtol=1e-9)
    exact = exact_oneway({g: [Fraction(Decimal(v)) for v in vals] for g, vals in data.items()})
    assert float(exact[0]) == pytest.approx(cert[0], rel=1e-13)  # the typed data reproduce NIST's numbers
    assert float(exact[2]) == pytest.approx(cert[2], rel=1e-13)
    res = oneway(frame(data), "y", "g")
    assert res.statistic == pytest.approx(cert[2], rel=1e-9)


@pytest.mark.parametrize("name", list(SMLS))
def test_smls_against_exact_arithmetic_on_the_double_data(name):
    per_group, offset = SMLS[name]
    rows = smls_values(per_group, offset)
    groups: dict[int, list[float]] = {}
    for g, v in rows:
        groups.setdefault(g, []).append(float(v))
    table = anova(frame(groups), "y ~ g").table
    # exact answer for the numbers the computer actually holds (decimal input rounded to double)
    ssb, ssw, f = exact_oneway({g: [Fraction(v) for v in vals] for g, vals in groups.items()})
    np.testing.assert_allclose(table.loc["g", "sum_sq"], float(ssb), rtol=1e-9)
    np.testing.assert_allclose(table.loc["Residual", "sum_sq"], float(ssw), rtol=1e-9)
    np.testing.assert_allclose(table.loc["g", "F"], float(f), rtol=1e-9)
    # against NIST's certified values for the decimal data: exact for SmLs01-06 up to input rounding; for
    # SmLs07-09 rounding 1e12 + 0.x to double already moves each deviation by up to 6e-5 (about 4 digits)
    rtol = {0: 1e-12, 10**6 - 1: 1e-8, 10**12 - 1: 1e-3}[offset]
    check(table, SMLS_CERT[per_group], rtol=rtol)


@pytest.mark.parametrize("per_group", [21, 201, 2001])
def test_huge_offset_with_exact_integers_keeps_nine_digits(per_group):
    # SmLs07-09 in units of 0.1: 1e12 + small integers are exact in double, so nothing is lost on input and the
    # certified values scale exactly (SS x 100, F unchanged); a one-pass variance gets no digit right here
    rows = smls_values(per_group, 10**12, unit=Decimal(1))
    groups: dict[int, list[float]] = {}
    for g, v in rows:
        groups.setdefault(g, []).append(float(v))
    assert all(Decimal(x) == Decimal(v) for (g, v), x in zip(rows, [x for vs in groups.values() for x in vs],
                                                              strict=True))
    table = anova(frame(groups), "y ~ g").table
    ssb, msb, f, ssw, msw = SMLS_CERT[per_group]
    np.testing.assert_allclose(table.loc["g", "sum_sq"], 100 * ssb, rtol=1e-9)
    np.testing.assert_allclose(table.loc["Residual", "sum_sq"], 100 * ssw, rtol=1e-9)
    np.testing.assert_allclose(table.loc["g", "F"], f, rtol=1e-9)
    exact = exact_oneway({g: [Fraction(v) for v in vals] for g, vals in groups.items()})
    assert float(exact[2]) == pytest.approx(f, rel=1e-15)
