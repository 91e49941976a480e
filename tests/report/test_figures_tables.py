"""Report figures and tables a statistician looks for (#20).

Tables: level and state names instead of array positions, ordinal levels in their natural order, the interval
level in every interval header, units, a verdict column only where it differs. Figures: the ANOVA and network
figures exist, node labels fit inside their nodes and value labels are not covered by error bars (checked on
the drawn figure by comparing text extents with the patches and lines).
"""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from probwb.report.tables import (
    internal_ids,
    label_intervals,
    natural_order,
    unlabelled_intervals,
)

matplotlib.use("Agg")

BANDS = [["<50", "50-69", "70+"], ["0", "1", "2+"], ["control", "10%", "20%"], ["none", "10%", "20%"],
         ["<18.5", "18.5-24.9", "25-29.9", "30+"]]


def assert_readable(tables: dict[str, pd.DataFrame]) -> None:
    """Every table: no internal array positions, every interval header states its level."""
    for title, frame in tables.items():
        assert internal_ids(frame) == [], f"table {title!r} shows internal ids {internal_ids(frame)}"
        assert unlabelled_intervals(frame) == [], f"table {title!r}: interval columns without a level"


# ------------------------------------------------------------------------------------------------ tables
@settings(max_examples=60, deadline=None)
@given(which=st.integers(0, len(BANDS) - 1), data=st.data())
def test_natural_order_restores_bands_from_any_order(which, data):
    expected = BANDS[which]
    shuffled = data.draw(st.permutations(expected))
    assert natural_order(shuffled) == expected
    # a declared order (a spec's, or a categorical's) wins over the numbers
    declared = data.draw(st.permutations(expected))
    assert natural_order(shuffled, declared=declared) == list(declared)


def test_natural_order_keeps_names_without_numbers_as_given():
    assert natural_order(["mild", "severe", "moderate"]) == ["mild", "severe", "moderate"]
    assert sorted(["<50", "50-69", "70+"]) != ["<50", "50-69", "70+"]  # text order is the wrong one


@settings(max_examples=40, deadline=None)
@given(level=st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99]), kind=st.sampled_from(["CI", "CrI"]))
def test_interval_headers_state_their_level(level, kind):
    raw = pd.DataFrame(columns=["parameter", "mean", "lower", "upper", "clv_lower", "clv_upper", "hdi_low",
                                "hdi_high", "estimate_ci_low", "estimate_ci_high", "q3.0%", "q97.0%", "value_q05",
                                "value_q95", "rank_lower", "rank_upper", "r_hat", "flow"])
    # the check is not vacuous: the raw headers are flagged, ordinary ones are not
    assert set(unlabelled_intervals(raw)) >= {"lower", "clv_upper", "hdi_low", "q3.0%", "value_q95"}
    assert "flow" not in unlabelled_intervals(raw) and "r_hat" not in unlabelled_intervals(raw)
    out = label_intervals(raw, level, kind)
    assert unlabelled_intervals(out) == []
    pct = f"{100 * level:g}%"
    assert f"{pct} {kind} lower" in out.columns and f"clv {pct} {kind} upper" in out.columns
    assert f"{pct} HDI low" in out.columns
    # a quantile pair bounds the interval its quantiles make, whatever the requested level
    assert "94% " + kind + " lower" in out.columns and "value 90% " + kind + " upper" in out.columns


def test_internal_id_pattern():
    bad = pd.DataFrame({"r_hat": [1.0, 1.0]}, index=["trans_from_active[20%][0]", "z_hospital[0, 2]"])
    assert internal_ids(bad) == ["trans_from_active[20%][0]", "z_hospital[0, 2]"]
    good = pd.DataFrame({"r_hat": [1.0] * 3},
                        index=["P(active -> at_risk | coupon=20%)", "beta[age_band[70+]]", "prior_admissions[1]"])
    assert internal_ids(good) == []  # level "1" of prior_admissions is a name


def test_html_states_a_constant_verdict_once_and_keeps_a_varying_one():
    from probwb.report.html import _table

    same = pd.DataFrame({"parameter": ["a", "b", "c"], "r_hat": [1.0, 1.02, 1.0], "verdict": ["warn"] * 3})
    page = _table(same, 60)
    assert "<th>verdict</th>" not in page and page.count(">warn<") == 1 and "for every row" in page
    varying = same.assign(verdict=["ok", "warn", "ok"])
    page = _table(varying, 60)
    assert "<th>verdict</th>" in page and "for every row" not in page


def test_report_units_key_reaches_headers():
    from probwb.errors import SpecError
    from probwb.report.schema import validate_spec

    spec = {"name": "u", "title": "u", "model": {"kind": "stats"},
            "data": {"source": "simulate_patient_cohort", "args": {"n_patients": 200, "random_state": 2},
                     "table": "patients"},
            "tests": [{"test": "ttest", "args": {"value": "length_of_stay", "group": "treatment"}}],
            "report": {"units": {"age": "years"}}}
    with pytest.raises(SpecError, match=r"report\.units\.age: expected a unit name"):
        validate_spec({**spec, "report": {"units": {"age": 3}}})
    from probwb.report.tables import add_units, units_for

    units = units_for(spec["data"], spec["report"]["units"])
    assert units["length_of_stay"] == "days" and units["age"] == "years"
    framed = add_units(pd.DataFrame(columns=["age", "age 90% CI lower", "n"]), units)
    assert list(framed.columns) == ["age (years)", "age 90% CI lower (years)", "n"]


# ------------------------------------------------------------------------------------------------ stats
STATS_SPEC = {
    "name": "anova_small", "title": "small ANOVA", "model": {"kind": "stats"},
    "data": {"source": "simulate_patient_cohort", "args": {"n_patients": 400, "random_state": 4}, "table": "patients"},
    "tests": [{"test": "anova", "args": {"formula": "length_of_stay ~ age_band * treatment", "typ": 2}},
              {"test": "welch", "args": {"value": "length_of_stay", "group": "age_band"}},
              {"test": "games_howell", "args": {"value": "length_of_stay", "group": "age_band"}}],
}


def test_anova_report_figures_tables_and_level_order():
    import matplotlib.pyplot as plt

    from probwb.report.runner import run_report

    rep = run_report(dict(STATS_SPEC))
    names = list(rep.figures)
    for part in ("interaction of age_band and treatment", "residuals against fitted values",
                 "normal QQ plot of the residuals", "length_of_stay by age_band, means with 95% CI"):
        assert any(part in n for n in names), (part, names)
    # welch on the same factor does not draw the same means a second time
    assert sum("by age_band, means" in n for n in names) == 1
    assert_readable(rep.tables)
    assert_readable({t["title"]: t["table"] for t in rep.tests})
    gh = next(t["table"] for t in rep.tests if t["title"] == "Games-Howell")
    assert {"95% CI low", "95% CI high"} <= set(gh.columns)

    from probwb.datasets import simulate_patient_cohort
    from probwb.stats import plots

    data = simulate_patient_cohort(n_patients=400, random_state=4).patients
    ax = plots.interaction_plot(data, "length_of_stay", "age_band", "treatment")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["<50", "50-69", "70+"]
    assert "95% CI" in ax.get_ylabel() and "(days)" not in ax.get_ylabel()
    # the plotted cell means are the data's
    line = ax.get_lines()[0]
    std = data[data["treatment"] == "standard"].groupby("age_band", observed=True)["length_of_stay"].mean()
    np.testing.assert_allclose(line.get_ydata(), std.loc[["<50", "50-69", "70+"]].to_numpy())
    plt.close("all")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(30, 120), covariate=st.booleans())
def test_anova_residuals_are_the_tested_model(seed, n, covariate):
    """The residual figures show the model the ANOVA table tests: their sum of squares is its Residual row."""
    from probwb.stats import anova
    from probwb.stats.plots import anova_residuals

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.choice(["<50", "50-69", "70+"], n), "b": rng.choice(["x", "y"], n),
                          "z": rng.normal(size=n)})
    frame["y"] = rng.normal(size=n) + (frame["a"] == "70+") + 0.5 * frame["z"]
    formula = "y ~ a * b" + (" + z" if covariate else "")
    if frame.groupby(["a", "b"]).size().min() < 2 or frame.groupby(["a", "b"]).ngroups < 6:
        return
    res = anova_residuals(frame, formula)
    table = anova(frame, formula).table
    assert float((res["residual"] ** 2).sum()) == pytest.approx(float(table.loc["Residual", "sum_sq"]),
                                                                rel=1e-9)
    assert np.allclose(res["fitted"] + res["residual"], frame["y"])


# ------------------------------------------------------------------------------------------------ networks
def _node_label_overflow(ax) -> list[str]:
    """Names whose text box pokes out of their node circle, in display pixels."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    nodes = ax.collections[-1]
    centres = ax.transData.transform(nodes.get_offsets())
    radii = np.sqrt(nodes.get_sizes()) / 2 * fig.dpi / 72
    if radii.size == 1:
        radii = np.repeat(radii, len(centres))
    out = []
    texts = [t for t in ax.texts if t.get_text()]
    assert len(texts) == len(centres)
    for t in texts:
        box = t.get_window_extent(renderer)
        centre = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
        k = int(np.argmin(np.linalg.norm(centres - centre, axis=1)))
        corners = np.array([[box.x0, box.y0], [box.x0, box.y1], [box.x1, box.y0], [box.x1, box.y1]])
        if (np.linalg.norm(corners - centres[k], axis=1) > radii[k]).any():
            out.append(t.get_text())
    return out


def test_bn_network_labels_fit_inside_nodes():
    import matplotlib.pyplot as plt

    from probwb.bn import BayesNet, plots
    from probwb.datasets import simulate_patient_cohort

    truth = simulate_patient_cohort(n_patients=20, random_state=1).truth["bn"]
    net = BayesNet.from_spec(truth)
    assert _node_label_overflow(plots.plot_network(net)) == []
    long = {"nodes": {"a_very_long_risk_factor_name": {"states": ["no", "yes"], "parents": [], "cpt": [0.5, 0.5]},
                      "x": {"states": ["0", "1"], "parents": ["a_very_long_risk_factor_name"],
                            "cpt": [[0.9, 0.1], [0.2, 0.8]]}}}
    for font_size in (8, 11):
        ax = plots.plot_network(BayesNet.from_spec(long), font_size=font_size)
        assert _node_label_overflow(ax) == []
    plt.close("all")


def test_hmm_state_diagram_labels_fit_inside_states():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    from probwb.hmm.plots import plot_state_diagram

    class Fitted:  # what plot_state_diagram reads from a fitted HMM
        state_names_ = ["mild", "moderately_severe_disease", "severe_with_complications", "x"]

        def transmat_frame(self):
            return None

        def transmat_for(self, inputs):
            return np.array([[0.7, 0.2, 0.05, 0.05], [0.1, 0.7, 0.1, 0.1], [0, 0.1, 0.8, 0.1], [0, 0, 0, 1.0]])

    for size in ((5.5, 5.0), (3.5, 3.0)):
        _, ax = plt.subplots(figsize=size)
        plot_state_diagram(Fitted(), ax=ax)
        ax.figure.canvas.draw()
        renderer = ax.figure.canvas.get_renderer()
        circles = [p for p in ax.patches if isinstance(p, Circle)]
        labels = [t for t in ax.texts if "stay" in t.get_text()]
        assert len(circles) == len(labels) == 4
        inv = ax.transData.inverted()
        for circle, text in zip(circles, labels, strict=True):
            box = text.get_window_extent(renderer)
            corners = inv.transform([[box.x0, box.y0], [box.x0, box.y1], [box.x1, box.y0], [box.x1, box.y1]])
            assert (np.linalg.norm(corners - np.asarray(circle.center), axis=1) <= circle.radius).all(), \
                text.get_text()
        # circles do not overlap each other
        centres = np.array([c.center for c in circles])
        gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(4) for j in range(i)]
        assert min(gaps) > 2 * circles[0].radius
    plt.close("all")


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(k=st.integers(2, 6), data=st.data())
def test_bn_posterior_value_labels_not_covered_by_error_bars(k, data):
    import matplotlib.pyplot as plt

    from probwb.bn.plots import plot_posterior

    plt.close("all")

    raw = np.array(data.draw(st.lists(st.floats(0.02, 1.0), min_size=k, max_size=k)))
    p = raw / raw.sum()
    lo_frac = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k)))
    hi_frac = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k)))
    frame = pd.DataFrame({"probability": p, "lower": p * lo_frac, "upper": p + (1 - p) * hi_frac},
                         index=pd.Index([f"s{i}" for i in range(k)], name="x"))
    ax = plot_posterior(frame)
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    from matplotlib.container import ErrorbarContainer

    err = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    _, caps, (stems,) = err.lines
    boxes = []
    for seg in stems.get_segments():  # the vertical line of each error bar, its drawn width included
        (x0, y0), (x1, y1) = ax.transData.transform(seg)
        half = stems.get_linewidth()[0] * fig.dpi / 72 / 2
        boxes.append((min(x0, x1) - half, min(y0, y1), max(x0, x1) + half, max(y0, y1)))
    for cap in caps:  # each cap: a horizontal marker centred on its point
        half_w = cap.get_markersize() * fig.dpi / 72 / 2
        half_h = max(cap.get_markeredgewidth(), 1.0) * fig.dpi / 72 / 2
        for x, y in ax.transData.transform(np.c_[cap.get_xdata(), cap.get_ydata()]):
            boxes.append((x - half_w, y - half_h, x + half_w, y + half_h))
    labels = [t for t in ax.texts if re.fullmatch(r"\d\.\d{3}", t.get_text())]
    assert len(labels) == k
    for t in labels:
        b = t.get_window_extent(renderer)
        for box in boxes:
            assert not _overlaps((b.x0, b.y0, b.x1, b.y1), box), (t.get_text(), frame.to_dict())
    plt.close("all")


def test_bn_report_states_in_natural_order_and_labelled_query(tmp_path):
    import matplotlib.pyplot as plt

    from probwb.bn.spec import run_spec

    spec = {"name": "b", "title": "b",
            "data": {"source": "simulate_patient_cohort", "args": {"n_patients": 600, "random_state": 3},
                     "table": "patients"},
            "model": {"kind": "bn", "structure": {"age_band": [], "prior_admissions": ["age_band"]},
                      "query": {"variables": "prior_admissions", "evidence": {"age_band": "70+"}}},
            "fit": {"method": "bayes", "interval": 0.8, "n_posterior_draws": 50}}
    out = run_spec(spec, quick=True, random_state=1)
    cpt = out["tables"]["CPT prior_admissions"]
    assert list(cpt.columns[-3:]) == ["0", "1", "2+"]
    assert list(cpt["age_band"]) == ["<50", "50-69", "70+"]
    assert list(out["summary"].set_index("node").loc["age_band", ["states"]]) == ["<50, 50-69, 70+"]
    assert {"80% CrI lower", "80% CrI upper"} <= set(out["tables"]["query"].columns)
    assert_readable(out["tables"])
    plt.close("all")


# ------------------------------------------------------------------------------------------------ hmm
def test_hmm_bayesian_diagnostics_name_states_not_positions():
    """trans_from_<state>[<level>][k] is the k-th allowed move out of <state>: it must read as that move."""
    import arviz as az

    from probwb.diagnostics import check
    from probwb.hmm.spec import readable_diagnostics

    rng = np.random.default_rng(0)
    states, levels = ["active", "at_risk", "churned"], ["none", "20%"]
    allowed = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 1]], bool)
    allowed_at = {0: np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1]], bool), 1: allowed}  # level 0: no active->churned
    trans = np.zeros((2, 100, 2, 3, 3))
    post: dict[str, np.ndarray] = {}
    for lv in range(2):
        for i in range(2):  # churned is absorbing: no free row
            dest = np.flatnonzero(allowed_at[lv][i])
            w = rng.dirichlet(np.ones(dest.size), size=(2, 100))
            trans[:, :, lv, i, dest] = w
            post[f"trans_from_{states[i]}[{levels[lv]}]"] = w
        trans[:, :, lv, 2, 2] = 1.0
    post["transmat"] = trans
    idata = az.from_dict(posterior=post, coords={"input_level": levels, "from_state": states, "to_state": states},
                         dims={"transmat": ["input_level", "from_state", "to_state"]})
    diag = check(idata, var_names=[v for v in post if v.startswith("trans_from")])
    assert internal_ids(diag.table) != []  # as the sampler names them

    class Bayes:
        idata_ = idata
        diagnostics_ = diag

    out = readable_diagnostics(Bayes(), "coupon")
    assert internal_ids(out.table) == []
    labels = list(out.table.index)
    assert "P(active -> at_risk | coupon=none)" in labels and "P(active -> churned | coupon=20%)" in labels
    assert "P(active -> churned | coupon=none)" not in labels  # forbidden at that level: index 1 is at_risk
    # the same numbers, renamed
    row = out.table.loc["P(at_risk -> churned | coupon=20%)"]
    assert row["mean"] == pytest.approx(post["trans_from_at_risk[20%]"][:, :, 2].mean())


def test_ab_report_arms_in_order_and_spend_in_its_unit():
    import matplotlib.pyplot as plt

    from probwb.report.runner import run_report

    spec = {"name": "ab", "title": "ab", "model": {"kind": "stats"},
            "data": {"source": "simulate_coupon_campaign",
                     "args": {"n_customers": 300, "n_weeks": 8, "random_state": 5}, "table": "coupons"},
            "tests": [{"test": "ab", "title": "rate", "args": {"metric": "redemption", "n_draws": 2000}},
                      {"test": "ab", "title": "spend", "args": {"metric": "spend", "control": "control",
                                                                "n_draws": 2000}}]}
    rep = run_report(spec, quick=True)
    spend, rate = rep.tables["spend"], rep.tables["rate"]
    assert list(spend.index) == ["control", "10%", "20%"]  # text order would put control last
    assert {"mean (currency units)", "95% HDI low (currency units)", "expected_loss (currency units)"} <= set(
        spend.columns)
    assert "mean" in rate.columns and "95% HDI low" in rate.columns  # a rate has no currency
    assert_readable(rep.tables)
    # the tests section shows the same tables (not a second, unlabelled copy)
    assert [list(t["table"].columns) for t in rep.tests] == [list(rate.columns), list(spend.columns)]
    plt.close("all")
