"""R's classic data sets and their published test results.

Data typed from R's `datasets` package: PlantGrowth (Dobson 1983, weight by group ctrl/trt1/trt2) and sleep
(Cushny & Peebles, extra hours of sleep for 10 patients under two drugs).
Expected values are R's printed output:
- `anova(lm(weight ~ group, PlantGrowth))`: F = 4.846, Pr(>F) = 0.01591, Df 2 and 27.
- `t.test(extra ~ group, data = sleep)` (Welch): t = -1.8608, df = 17.776, p-value = 0.07939.
- `t.test(sleep$extra[1:10], sleep$extra[11:20], paired = TRUE)`: t = -4.0621, df = 9, p-value = 0.002833.
Power: R package `pwr` (Champely), help-page examples:
- `pwr.t.test(d = 0.5, power = 0.8, sig.level = 0.05)` gives n = 63.76561 per group.
- `pwr.anova.test(k = 4, f = 0.25, sig.level = 0.05, power = 0.8)` gives n = 44.59927 per group.
"""

from __future__ import annotations

import pandas as pd
import pytest

from probwb.stats import anova, oneway, power_anova, power_ttest, ttest

PLANT = {
    "ctrl": [4.17, 5.58, 5.18, 6.11, 4.50, 4.61, 5.17, 4.53, 5.33, 5.14],
    "trt1": [4.81, 4.17, 4.41, 3.59, 5.87, 3.83, 6.03, 4.89, 4.32, 4.69],
    "trt2": [6.31, 5.12, 5.54, 5.50, 5.37, 5.29, 4.92, 6.15, 5.80, 5.26],
}
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


@pytest.fixture
def plant() -> pd.DataFrame:
    return pd.DataFrame({"group": [g for g, v in PLANT.items() for _ in v],
                         "weight": [x for v in PLANT.values() for x in v]})


def test_plantgrowth_oneway(plant):
    res = oneway(plant, "weight", "group")
    assert res.statistic == pytest.approx(4.846, abs=5e-4)
    assert res.pvalue == pytest.approx(0.01591, abs=5e-6)
    assert res.df == (2.0, 27.0)
    table = anova(plant, "weight ~ group").table
    assert table.loc["group", "F"] == pytest.approx(4.846, abs=5e-4)
    assert table.loc["group", "PR(>F)"] == pytest.approx(0.01591, abs=5e-6)
    assert table.loc["Residual", "df"] == 27


def test_sleep_welch():
    df = pd.DataFrame({"extra": SLEEP_1 + SLEEP_2, "group": ["1"] * 10 + ["2"] * 10})
    res = ttest(df, value="extra", group="group")
    assert res.statistic == pytest.approx(-1.8608, abs=5e-5)
    assert res.df == pytest.approx(17.776, abs=5e-4)
    assert res.pvalue == pytest.approx(0.07939, abs=5e-6)


def test_sleep_paired():
    res = ttest(SLEEP_1, SLEEP_2, paired=True)
    assert res.statistic == pytest.approx(-4.0621, abs=5e-5)
    assert res.df == 9
    assert res.pvalue == pytest.approx(0.002833, abs=5e-7)


def test_pwr_examples():
    assert power_ttest(0.5, power=0.8) == pytest.approx(63.76561, abs=5e-5)
    assert power_anova(0.25, power=0.8, k_groups=4) == pytest.approx(44.59927, abs=5e-5)
