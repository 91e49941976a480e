"""ANOVA against statsmodels (the peer) on unbalanced designs, plus bad-input behaviour."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probwb.errors import DataError, ProbwbWarning, SmallSampleWarning, SpecError
from probwb.stats import anova, friedman, kruskal, mixed_anova, oneway, parse_formula, rm_anova, welch_anova


@pytest.fixture(scope="module")
def unbalanced() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 240
    df = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2]),
                       "b": rng.choice(["p", "q", "r", "s"], n),
                       "c": rng.choice(["u", "v"], n),
                       "cov": rng.normal(size=n)})
    df["y"] = (rng.normal(size=n) + (df.a == "x") * 0.6 + (df.b == "q") * 0.4 + 0.5 * df["cov"]
               + (df.a == "y") * (df.b == "r") * 0.8)
    return df


def _peer(df, formula, typ):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    return sm.stats.anova_lm(smf.ols(formula, df).fit(), typ=typ)


@pytest.mark.parametrize("typ", [1, 2, 3])
def test_two_way_unbalanced_matches_statsmodels(unbalanced, typ):
    ours = anova(unbalanced, "y ~ a * b", typ=typ).table
    peer = _peer(unbalanced, "y ~ C(a, Sum) * C(b, Sum)" if typ == 3 else "y ~ C(a) * C(b)", typ)
    np.testing.assert_allclose(ours[["sum_sq", "df"]].to_numpy(), peer[["sum_sq", "df"]].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours["F"].to_numpy()[:-1], peer["F"].to_numpy()[:-1], rtol=1e-10)
    np.testing.assert_allclose(ours["PR(>F)"].to_numpy()[:-1], peer["PR(>F)"].to_numpy()[:-1], rtol=1e-9)


def test_type3_differs_from_type2_when_unbalanced_with_interaction(unbalanced):
    t2 = anova(unbalanced, "y ~ a * b", typ=2).table
    t3 = anova(unbalanced, "y ~ a * b", typ="III").table
    assert abs(t2.loc["a", "sum_sq"] - t3.loc["a", "sum_sq"]) > 1e-6
    assert t2.loc["a:b", "sum_sq"] == pytest.approx(t3.loc["a:b", "sum_sq"], rel=1e-10)  # highest term agrees


def test_three_way_and_ancova_match_statsmodels(unbalanced):
    rng = np.random.default_rng(9)
    df = pd.DataFrame({"a": rng.choice(["x", "y", "z"], 300), "b": rng.choice(["p", "q", "r", "s"], 300),
                       "c": rng.choice(["u", "v"], 300), "y": rng.normal(size=300)})
    assert len(df.groupby(["a", "b", "c"]).size()) == 24  # no empty cell (see the empty-cell test)
    ours = anova(df, "y ~ a * b * c", typ=2).table
    peer = _peer(df, "y ~ C(a) * C(b) * C(c)", 2)
    np.testing.assert_allclose(ours["sum_sq"].to_numpy(), peer["sum_sq"].to_numpy(), rtol=1e-9)
    ours = anova(unbalanced, "y ~ a + cov + a:cov", typ=3).table
    peer = _peer(unbalanced, "y ~ C(a, Sum) + cov + C(a, Sum):cov", 3)
    np.testing.assert_allclose(ours["sum_sq"].to_numpy(), peer["sum_sq"].to_numpy(), rtol=1e-9)
    assert "ANCOVA" in anova(unbalanced, "y ~ a + cov").method


def test_balanced_design_all_types_agree():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": np.repeat(["a1", "a2", "a3"], 8), "b": np.tile(np.repeat(["b1", "b2"], 4), 3)})
    df["y"] = rng.normal(size=len(df))
    tabs = [anova(df, "y ~ a * b", typ=t).table.drop(index="Intercept", errors="ignore") for t in (1, 2, 3)]
    for t in tabs[1:]:
        np.testing.assert_allclose(t["sum_sq"].to_numpy(), tabs[0]["sum_sq"].to_numpy(), rtol=1e-10)
    # balanced: the sums of squares add up to the total
    total = ((df.y - df.y.mean()) ** 2).sum()
    assert tabs[0]["sum_sq"].sum() == pytest.approx(total, rel=1e-12)


def test_empty_cell_reduces_interaction_df(unbalanced):
    df = unbalanced[~((unbalanced.a == "z") & (unbalanced.b == "s"))]
    with pytest.warns(SmallSampleWarning, match="empty cell"):
        anova(df, "y ~ a * b", typ=3)
    table = anova(df, "y ~ a * b", typ=2).table
    assert table.loc["a:b", "df"] == 5  # 6 interaction contrasts minus the missing cell
    # statsmodels' anova_lm uses Wald tests that break on the rank-deficient design, so the peer here is the
    # definition of type II itself: the drop in residual SS from adding the term to the additive model
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drop = smf.ols("y ~ C(a) + C(b)", df).fit().ssr - smf.ols("y ~ C(a) * C(b)", df).fit().ssr
    assert table.loc["a:b", "sum_sq"] == pytest.approx(drop, rel=1e-8)


def test_effect_size_columns(unbalanced):
    t = anova(unbalanced, "y ~ a", typ=2).table
    ss_total = ((unbalanced.y - unbalanced.y.mean()) ** 2).sum()
    assert t.loc["a", "eta_sq"] == pytest.approx(t.loc["a", "sum_sq"] / ss_total)
    assert t.loc["a", "partial_eta_sq"] == pytest.approx(t.loc["a", "eta_sq"])
    assert t.loc["a", "omega_sq"] < t.loc["a", "eta_sq"]


def test_parse_formula():
    p = parse_formula("y ~ C(a) * b + x + a:x")
    assert p.response == "y"
    assert p.terms == (("a",), ("b",), ("x",), ("a", "b"), ("a", "x"))
    assert p.forced_categorical == {"a"}
    assert parse_formula("y ~ C(g, Sum)").terms == (("g",),)
    for bad in ("y + x", "y ~ 0 + a", "y ~ a:a", "y ~ ", "y ~ a + a:b"):
        with pytest.raises(SpecError):
            parse_formula(bad)


def test_numeric_column_forced_categorical():
    df = pd.DataFrame({"g": [1, 1, 2, 2, 3, 3], "y": [1.0, 1.2, 2.0, 2.3, 3.1, 2.9]})
    assert anova(df, "y ~ C(g)").table.loc["g", "df"] == 2
    assert anova(df, "y ~ g").table.loc["g", "df"] == 1  # a covariate


def test_bad_inputs(unbalanced):
    with pytest.raises(DataError, match="did you mean 'cov'"):
        anova(unbalanced, "y ~ a + cvo")
    df = unbalanced.copy()
    df.loc[df.index[3], "y"] = np.nan
    with pytest.raises(DataError, match="missing"):
        anova(df, "y ~ a")
    with pytest.warns(ProbwbWarning, match="dropped 1"):
        assert anova(df, "y ~ a", missing="drop").n == len(df) - 1
    with pytest.raises(DataError, match="constant"):
        anova(unbalanced.assign(y=1.0), "y ~ a")
    with pytest.raises(DataError, match="single level"):
        anova(unbalanced.assign(a="x"), "y ~ a")
    with pytest.raises(DataError, match="numeric"):
        anova(unbalanced, "a ~ b")
    with pytest.raises(SpecError):
        anova(unbalanced, "y ~ a", typ=4)


def test_oneway_matches_anova_and_welch_matches_statsmodels(unbalanced):
    from statsmodels.stats.oneway import anova_oneway

    r = oneway(unbalanced, "y", "b")
    t = anova(unbalanced, "y ~ b").table
    assert r.statistic == pytest.approx(t.loc["b", "F"], rel=1e-12)
    assert r.effect_size_ci[0] <= r.effect_size <= r.effect_size_ci[1]
    w = oneway(unbalanced, "y", "b", welch=True)
    peer = anova_oneway(unbalanced["y"], unbalanced["b"], use_var="unequal")
    assert w.statistic == pytest.approx(peer.statistic, rel=1e-10)
    assert w.df[1] == pytest.approx(peer.df[1], rel=1e-10)
    assert w.pvalue == pytest.approx(peer.pvalue, rel=1e-8)


def test_oneway_singleton_group_warns_and_welch_refuses():
    df = pd.DataFrame({"g": ["a"] * 5 + ["b"] * 5 + ["c"], "y": np.arange(11.0) ** 1.5})
    with pytest.warns(SmallSampleWarning, match="single observation"):
        r = oneway(df, "y", "g")
    assert r.warnings
    with pytest.raises(DataError, match="fewer than 2"):
        welch_anova(df, "y", "g")
    with pytest.raises(DataError, match="constant"):
        oneway(df.assign(y=df.g.map({"a": 1.0, "b": 2.0, "c": 3.0})), "y", "g")


@pytest.fixture(scope="module")
def repeated() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    subjects = [f"s{i}" for i in range(12)]
    rows = []
    for s in subjects:
        base = rng.normal(0, 1)
        slope = rng.normal(0, 0.5)
        for j, cond in enumerate(["c1", "c2", "c3", "c4"]):
            for d in ("d1", "d2"):
                rows.append({"subject": s, "cond": cond, "dose": d,
                             "y": base + 0.3 * j + slope * j + (d == "d2") * 0.4 + rng.normal(0, 0.5)})
    return pd.DataFrame(rows)


def test_rm_anova_matches_statsmodels_anovarm(repeated):
    from statsmodels.stats.anova import AnovaRM

    with pytest.warns(SmallSampleWarning, match="sphericity is doubtful"):
        ours = rm_anova(repeated, "y", "subject", ["cond", "dose"])
    assert any("Greenhouse-Geisser" in w for w in ours.warnings)
    peer = AnovaRM(repeated, "y", "subject", within=["cond", "dose"]).fit().anova_table
    for term in ("cond", "dose", "cond:dose"):
        assert ours.table.loc[term, "F"] == pytest.approx(peer.loc[term, "F Value"], rel=1e-10)
        assert ours.table.loc[term, "df_error"] == peer.loc[term, "Den DF"]
    t = ours.table
    k = 4
    assert 1 / (k - 1) - 1e-12 <= t.loc["cond", "eps_GG"] <= 1.0
    assert t.loc["cond", "eps_GG"] <= t.loc["cond", "eps_HF"] + 1e-12
    assert t.loc["dose", "eps_GG"] == pytest.approx(1.0)  # two levels: sphericity holds trivially
    assert t.loc["cond", "p_GG"] >= t.loc["cond", "PR(>F)"]
    assert "cond" in ours.sphericity.index and 0 < ours.sphericity.loc["cond", "W"] <= 1


def test_gg_epsilon_by_hand(repeated):
    one = repeated[repeated.dose == "d1"]
    with pytest.warns(SmallSampleWarning):
        res = rm_anova(one, "y", "subject", "cond")
    wide = one.pivot(index="subject", columns="cond", values="y").to_numpy()
    s = np.cov(wide, rowvar=False)
    k = s.shape[0]
    c = np.eye(k) - 1 / k  # double-centred covariance gives the Greenhouse-Geisser estimate
    sc = c @ s @ c
    eps = np.trace(sc) ** 2 / ((k - 1) * np.sum(sc * sc))
    assert res.table.loc["cond", "eps_GG"] == pytest.approx(eps, rel=1e-10)


def test_rm_anova_missing_cells_goes_through_mixed_model(repeated):
    one = repeated[repeated.dose == "d1"]
    with pytest.warns(SmallSampleWarning):
        balanced = rm_anova(one, "y", "subject", "cond")
    mixed = mixed_anova(one, "y", "subject", "cond")
    # balanced data, random intercept: the mixed-model Wald F is close to the sphericity-assumed F
    assert mixed.table.loc["cond", "F"] == pytest.approx(balanced.table.loc["cond", "F"], rel=0.05)
    holes = one.drop(index=one.index[[0, 5]])
    res = rm_anova(holes, "y", "subject", "cond")
    assert "mixed model" in res.method and "missing cells" in res.method
    with pytest.raises(DataError, match="aggregate"):
        rm_anova(pd.concat([one, one.iloc[:1]]), "y", "subject", "cond")


def _split_plot(n_subjects: int, n_g1: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_subjects):
        g = "g1" if i < n_g1 else "g2"
        b = rng.normal()
        for j, c in enumerate(["c1", "c2", "c3", "c4"]):
            rows.append({"s": f"s{i:02d}", "g": g, "c": c, "y": 1e6 + b + 0.3 * j * (g == "g1") + rng.normal()})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n_g1", [6, 4])
def test_split_plot_matches_least_squares(n_g1):
    import statsmodels.formula.api as smf

    df = _split_plot(12, n_g1)
    res = rm_anova(df, "y", "s", "c", between="g")
    t = res.table
    assert list(t.index) == ["g", "c", "c:g"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r_sc = smf.ols("y ~ C(s) + C(c)", df).fit().ssr
        r_full = smf.ols("y ~ C(s) + C(c) * C(g)", df).fit().ssr
    # the within-subject error is the residual of subject + condition + condition x group
    assert t.loc["c", "sum_sq_error"] == pytest.approx(r_full, rel=1e-9)
    assert t.loc["c:g", "sum_sq"] == pytest.approx(r_sc - r_full, rel=1e-9)
    assert t.loc["c:g", "df"] == 3 and t.loc["c", "df_error"] == 30
    # the between-subject stratum is a one-way ANOVA of subject means (SS scaled by the 4 conditions)
    means = df.groupby(["s", "g"], as_index=False)["y"].mean()
    b = anova(means, "y ~ g").table
    assert t.loc["g", "F"] == pytest.approx(b.loc["g", "F"], rel=1e-9)
    assert t.loc["g", "sum_sq"] == pytest.approx(4 * b.loc["g", "sum_sq"], rel=1e-9)
    if n_g1 == 6:  # balanced: the condition main effect is the ordinary sequential SS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r_s = smf.ols("y ~ C(s)", df).fit().ssr
        assert t.loc["c", "sum_sq"] == pytest.approx(r_s - r_sc, rel=1e-9)
    assert t.loc["c:g", "eps_GG"] == t.loc["c", "eps_GG"] <= 1


def test_split_plot_errors_and_mixed_fallback():
    df = _split_plot(10, 5)
    bad = df.copy()
    bad.loc[bad.index[1], "g"] = "g2"
    with pytest.raises(DataError, match="changes within subject"):
        rm_anova(bad, "y", "s", "c", between="g")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rm_anova(df.drop(index=df.index[[0, 7]]), "y", "s", "c", between="g")
    assert "mixed model" in res.method
    assert set(res.table.index) == {"c", "g", "c:g"}
    # with complete, balanced data the random-intercept REML fit reproduces the split-plot F ratios
    classic = rm_anova(df, "y", "s", "c", between="g").table
    full = mixed_anova(df, "y", "s", "c", between="g").table
    for term in ("c", "g", "c:g"):
        assert full.loc[term, "F"] == pytest.approx(classic.loc[term, "F"], rel=1e-3)


def test_kruskal_friedman_match_scipy(repeated):
    from scipy import stats

    one = repeated[repeated.dose == "d1"]
    k = kruskal(one, "y", "cond")
    peer = stats.kruskal(*[g.to_numpy() for _, g in one.groupby("cond")["y"]])
    assert k.statistic == pytest.approx(peer.statistic) and k.pvalue == pytest.approx(peer.pvalue)
    f = friedman(one, "y", "subject", "cond")
    wide = one.pivot(index="subject", columns="cond", values="y")
    peer = stats.friedmanchisquare(*[wide[c] for c in wide.columns])
    assert f.statistic == pytest.approx(peer.statistic) and f.pvalue == pytest.approx(peer.pvalue)
    assert 0 <= f.effect_size <= 1
    with pytest.raises(DataError, match="exactly one"):
        friedman(one.iloc[1:], "y", "subject", "cond")


@pytest.mark.parametrize("offset", [1e6, 1e9, 1e12])
def test_tables_invariant_to_a_huge_offset(unbalanced, offset):
    # values are multiples of 1/64 so that adding the offset is exact in double precision
    base = unbalanced.assign(y=np.round(unbalanced.y * 64) / 64)
    ref = anova(base, "y ~ a * b", typ=3).table.drop(index="Intercept")
    shifted = anova(base.assign(y=base.y + offset), "y ~ a * b", typ=3).table.drop(index="Intercept")
    np.testing.assert_allclose(shifted["sum_sq"].to_numpy(), ref["sum_sq"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(shifted["F"].to_numpy()[:-1], ref["F"].to_numpy()[:-1], rtol=1e-9)
    w_ref = oneway(base, "y", "b", welch=True).statistic
    assert oneway(base.assign(y=base.y + offset), "y", "b", welch=True).statistic == pytest.approx(w_ref, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 7), n=st.integers(12, 400), unused=st.integers(0, 3),
       missing=st.sampled_from([0.0, 0.1]), kind=st.sampled_from(["category", "str", "int"]))
def test_oneway_fast_grouping_matches_scipy_f_oneway(seed, k, n, unused, missing, kind):
    """Counting used categories (instead of pandas' sort) keeps scipy's F and p, and the levels in category order."""
    from scipy.stats import f_oneway

    rng = np.random.default_rng(seed)
    g = rng.integers(0, k, n)
    g[:k] = np.arange(k)  # every level appears at least once
    y = rng.normal(0.0, 1.0, n) + 0.3 * g + 1e3
    cats = [f"L{i}" for i in range(k + unused)]
    rng.shuffle(cats)  # category order is not sorted order, and some categories are never used
    labels = np.array(cats, dtype=object)[g]
    col = {"category": pd.Categorical(labels, categories=cats), "str": labels, "int": g * 3}[kind]
    df = pd.DataFrame({"y": y, "g": col})
    drop = rng.random(n) < missing
    drop[:k] = False
    df.loc[drop, "y"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = oneway(df, "y", "g", missing="drop")
    keep = ~drop
    peer = f_oneway(*[y[keep & (g == i)] for i in range(k)])
    assert r.statistic == pytest.approx(peer.statistic, rel=1e-10)
    assert r.pvalue == pytest.approx(peer.pvalue, rel=1e-10, abs=1e-300)
    levels = list(r.details["groups"].index)
    if kind == "category":
        assert levels == [c for c in cats if c in set(labels)]
    else:
        assert levels == sorted(set(col))
    counts = pd.Series(np.asarray(col, dtype=object)[keep]).value_counts()
    assert list(r.details["groups"]["n"]) == [int(counts[lev]) for lev in levels]
