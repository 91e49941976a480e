"""CLV models: closed forms against simulation and scipy's 2F1, covariates on simulated data, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from probwb.errors import DataError, NotFittedError, SpecError, StateError
from probwb.hier import clv_math as cm
from probwb.hier.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    simulate_bgnbd,
    simulate_pareto_nbd,
    validate_rfm,
)

BG = (0.243, 4.414, 0.793, 2.426)
PN = (0.55, 10.58, 0.61, 11.67)


# ------------------------------------------------------------------------------ closed forms vs Monte Carlo


@pytest.fixture(scope="module")
def big_bg():
    rng = np.random.default_rng(20261125)
    return cm.simulate_bgnbd_arrays(np.full(200_000, 39.0), *BG, rng)


def test_bgnbd_expected_purchases_matches_simulation(big_bg):
    x = big_bg["frequency"]
    se = x.std() / np.sqrt(x.size)
    assert abs(x.mean() - cm.bgnbd_expected_purchases(*BG, 39.0)) < 4 * se


def test_bgnbd_count_distribution_matches_simulation(big_bg):
    x = big_bg["frequency"]
    p = cm.bgnbd_prob_n_purchases(*BG, 39.0, np.arange(6))
    freq = np.bincount(x, minlength=6)[:6] / x.size
    se = np.sqrt(p * (1 - p) / x.size)
    assert np.all(np.abs(freq - p) < 4 * se)
    assert cm.bgnbd_prob_n_purchases(*BG, 39.0, np.arange(400)).sum() == pytest.approx(1.0, abs=1e-9)


def test_bgnbd_p_alive_and_conditional_expectation_are_consistent_with_simulation(big_bg):
    x, tx, T = big_bg["frequency"], big_bg["recency"], big_bg["T"]
    # E over customers of P(alive | data) equals the simulated fraction still alive
    pa = cm.bgnbd_p_alive(*BG, x, tx, T)
    se = big_bg["alive"].std() / np.sqrt(x.size)
    assert abs(pa.mean() - big_bg["alive"].mean()) < 4 * se
    # law of total expectation: E[E[Y(t) | data]] = E[X(T + t)] - E[X(T)]
    cond = cm.bgnbd_conditional_expected_purchases(*BG, x, tx, T, 13.0)
    target = cm.bgnbd_expected_purchases(*BG, 52.0) - cm.bgnbd_expected_purchases(*BG, 39.0)
    assert cond.mean() == pytest.approx(target, rel=0.02)


def test_pareto_nbd_closed_forms_match_simulation():
    rng = np.random.default_rng(7)
    sim = cm.simulate_pareto_nbd_arrays(np.full(200_000, 39.0), *PN, rng)
    x, tx, T = sim["frequency"], sim["recency"], sim["T"]
    se = x.std() / np.sqrt(x.size)
    assert abs(x.mean() - cm.pareto_nbd_expected_purchases(*PN, 39.0)) < 4 * se
    pa = cm.pareto_nbd_p_alive(*PN, x, tx, T)
    assert abs(pa.mean() - sim["alive"].mean()) < 4 * sim["alive"].std() / np.sqrt(x.size)
    cond = cm.pareto_nbd_conditional_expected_purchases(*PN, x, tx, T, 13.0)
    target = cm.pareto_nbd_expected_purchases(*PN, 52.0) - cm.pareto_nbd_expected_purchases(*PN, 39.0)
    assert cond.mean() == pytest.approx(target, rel=0.02)


def _pareto_ll_hyp2f1(r, al, s, be, x, tx, T):
    """Fader & Hardie (2005) note, eq. (22): the likelihood written with two 2F1 terms."""
    m = r + s + x
    if al >= be:
        def f(t):
            return special.hyp2f1(m, s + 1, m + 1, (al - be) / (al + t)) / (al + t) ** m
    else:
        def f(t):
            return special.hyp2f1(m, r + x, m + 1, (be - al) / (be + t)) / (be + t) ** m
    a0 = f(tx) - f(T)
    return (special.gammaln(r + x) - special.gammaln(r) + r * np.log(al) + s * np.log(be)
            + np.log(1 / ((al + T) ** (r + x) * (be + T) ** s) + s / m * a0))


def test_pareto_nbd_quadrature_equals_hypergeometric_form():
    rng = np.random.default_rng(3)
    for _ in range(200):
        r, al, s, be = np.exp(rng.normal(0, 1.2, 4)) * [1, 10, 1, 10]
        x = int(rng.integers(0, 60))
        T = float(rng.uniform(1, 80))
        tx = float(rng.uniform(0, T)) if x else 0.0
        want = _pareto_ll_hyp2f1(r, al, s, be, x, tx, T)
        if np.isfinite(want):
            assert cm.pareto_nbd_loglik(r, al, s, be, x, tx, T) == pytest.approx(want, abs=5e-7)


def test_gamma_gamma_conditional_spend_is_a_weighted_mean():
    p, q, v = 6.25, 3.74, 15.44
    pop_mean = p * v / (q - 1)
    m = np.array([10.0, 50.0])
    got = cm.gamma_gamma_conditional_spend(p, q, v, np.array([3.0, 3.0]), m)
    w = (q - 1) / (p * 3 + q - 1)
    np.testing.assert_allclose(got, w * pop_mean + (1 - w) * m)
    assert cm.gamma_gamma_conditional_spend(p, q, v, 0.0, 0.0) == pytest.approx(pop_mean)


# ------------------------------------------------------------------------------------- PyMC likelihood


def test_pytensor_likelihoods_equal_numpy_and_have_finite_gradients():
    import pytensor
    import pytensor.tensor as pt

    from probwb.hier import clv as clv_mod

    x = np.array([0.0, 1.0, 3.0, 40.0, 2.0])
    tx = np.array([0.0, 5.0, 20.0, 38.0, 30.0])
    T = np.array([30.0, 30.0, 35.0, 38.0, 30.0])  # includes recency == T rows
    theta = pt.dvector("theta")
    p = pt.exp(theta)
    for pt_fn, np_fn, params in (
        (clv_mod._bgnbd_loglik_pt, cm.bgnbd_loglik, BG),
        (clv_mod._pareto_nbd_loglik_pt, cm.pareto_nbd_loglik, PN),
        (clv_mod._pareto_nbd_loglik_pt, cm.pareto_nbd_loglik, (0.5, 3.0, 0.8, 40.0)),
    ):
        ll = pt_fn(p[0], p[1], p[2], p[3], x, tx, T)
        f = pytensor.function([theta], [ll, pt.grad(ll.sum(), theta)], mode="FAST_COMPILE")
        val, grad = f(np.log(params))
        np.testing.assert_allclose(val, np_fn(*params, x, tx, T), rtol=1e-10)
        assert np.all(np.isfinite(grad))


# ------------------------------------------------------------------------------------------- covariates


def _covariate_data(n: int, seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    rng = np.random.default_rng(seed)
    levels = ["regular", "premium", "value"]  # categorical order: "regular" is the baseline
    segment = pd.Categorical(rng.choice(levels, size=n), categories=levels)
    coupon = rng.normal(size=n)
    truth = {"segment[premium]": 0.7, "segment[value]": -0.4, "coupon": 0.5}
    eta_p = truth["segment[premium]"] * (segment == "premium") + truth["segment[value]"] * (segment == "value")
    eta_d = truth["coupon"] * coupon
    r, alpha, a, b = 0.8, 6.0, 1.2, 3.5
    kappa, logit = a + b, np.log(a / b) + eta_d
    df = simulate_bgnbd(n, T=rng.uniform(20, 52, size=n), r=r, alpha=alpha * np.exp(-eta_p),
                        a=kappa * special.expit(logit), b=kappa * special.expit(-logit), random_state=rng)
    df["segment"] = segment
    df["coupon"] = coupon
    return df, {"r": r, "alpha": alpha, "a": a, "b": b, **truth}


def test_bgnbd_covariate_effects_recovered_on_simulated_data():
    df, truth = _covariate_data(4000, seed=11)
    model = BetaGeoModel(covariates={"purchase": ["segment"], "dropout": ["coupon"]})
    model.fit(df, method="mle", random_state=0)
    summ = model.summary(interval=0.99)
    checks = {"purchase_coef[segment[premium]]": truth["segment[premium]"],
              "purchase_coef[segment[value]]": truth["segment[value]"],
              "dropout_coef[coupon]": truth["coupon"], "r": truth["r"], "alpha": truth["alpha"]}
    for label, value in checks.items():
        row = summ.loc[label]
        assert row["lower"] <= value <= row["upper"], (label, value, row.to_dict())
        assert row["estimate"] == pytest.approx(value, abs=3 * row["se"]), label
    # the purchase effect is pinned down well (not just "inside a huge interval")
    assert summ.loc["purchase_coef[segment[premium]]", "se"] < 0.15
    # coefficients: symmetric Wald interval on their own scale
    coef = summ.loc["dropout_coef[coupon]"]
    assert coef["upper"] - coef["estimate"] == pytest.approx(coef["estimate"] - coef["lower"])
    # predictions need the same covariates, with known levels
    bad = df.head(3).astype({"segment": str})
    bad.loc[bad.index[1], "segment"] = "platinum"
    with pytest.raises(StateError, match="platinum"):
        model.probability_alive(bad)


def test_bgnbd_covariates_by_mcmc_cover_truth_and_report_a_verdict():
    df, truth = _covariate_data(1500, seed=5)
    model = BetaGeoModel(covariates={"purchase": ["segment"], "dropout": ["coupon"]})
    model.fit(df, draws=300, tune=300, chains=2, random_state=1, progressbar=False)
    summ = model.summary(interval=0.99)
    assert summ.attrs["verdict"] in ("ok", "warn", "fail")
    assert {"r_hat", "ess_bulk", "verdict"} <= set(summ.columns)
    for label, key in (("purchase_coef[segment[premium]]", "segment[premium]"),
                       ("purchase_coef[segment[value]]", "segment[value]"), ("dropout_coef[coupon]", "coupon")):
        assert summ.loc[label, "q0.5%"] <= truth[key] <= summ.loc[label, "q99.5%"], label
    assert model.idata_.posterior["purchase_coef"].dims[-1] == "purchase_covariate"


def test_pymc_likelihood_with_covariates_equals_numpy():
    import pytensor
    import pytensor.tensor as pt

    df, _ = _covariate_data(300, seed=5)
    for cls, names in ((BetaGeoModel, ("r", "alpha", "a", "b")), (ParetoNBDModel, ("r", "alpha", "s", "beta"))):
        model = cls(covariates={"purchase": ["segment", "coupon"], "dropout": ["coupon"]})
        d = model._data(df, fitting=True)
        values = dict(zip(names, (0.8, 6.0, 1.2, 3.5), strict=True))
        coefs = {"purchase_coef": np.array([0.3, -0.2, 0.1]), "dropout_coef": np.array([0.4])}
        theta = pt.dvector("theta")
        pop = {name: pt.exp(theta[i]) for i, name in enumerate(names)}
        pop["purchase_coef"] = theta[4:7]
        pop["dropout_coef"] = theta[7:8]
        ll = model._pymc_loglik(pop, d)
        f = pytensor.function([theta], [ll, pt.grad(ll.sum(), theta)], mode="FAST_COMPILE")
        point = np.concatenate([np.log(list(values.values())), coefs["purchase_coef"], coefs["dropout_coef"]])
        got, grad = f(point)
        np_pop = {k: np.array([v]) for k, v in values.items()} | {k: v[None, :] for k, v in coefs.items()}
        want = model._loglik(model._individual(np_pop, d), d)[0]
        np.testing.assert_allclose(got, want, rtol=1e-10)
        assert np.all(np.isfinite(grad))


# ------------------------------------------------------------------------------ per-customer outputs


@pytest.fixture(scope="module")
def fitted_small():
    df = simulate_bgnbd(800, T=39.0, spend={"p": 6.0, "q": 4.0, "v": 15.0}, random_state=2)
    bg = BetaGeoModel().fit(df, method="mle", random_state=0)
    gg = GammaGammaModel().fit(df, method="mle", random_state=0)
    return df, bg, gg


def test_per_customer_outputs_are_compact_or_samples(fitted_small):
    df, bg, _ = fitted_small
    out = bg.expected_purchases(df, 10.0, interval=0.8)
    assert list(out.columns) == ["mean", "sd", "median", "lower", "upper"]
    assert out.index.name == "customer_id" and len(out) == len(df)
    assert np.all(out["lower"] <= out["median"]) and np.all(out["median"] <= out["upper"])
    samples = bg.probability_alive(df, return_samples=True, max_draws=300)
    assert samples.dims == ("sample", "customer") and samples.shape == (300, len(df))
    pa = bg.probability_alive(df)
    # BG/NBD: a customer without repeat purchases is certainly alive; heavier recent buyers more so
    assert np.all(pa["mean"][df["frequency"].to_numpy() == 0] == 1.0)


def test_expected_purchases_increase_with_horizon(fitted_small):
    df, bg, _ = fitted_small
    short = bg.expected_purchases(df, 5.0)["mean"].to_numpy()
    long = bg.expected_purchases(df, 20.0)["mean"].to_numpy()
    assert np.all(long > short)


def test_clv_scales_with_margin_and_discount(fitted_small):
    df, bg, gg = fitted_small
    base = bg.clv(df, gg, horizon=52, period=4, max_draws=200, random_state=0)["mean"]
    half = bg.clv(df, gg, horizon=52, period=4, margin=0.5, max_draws=200, random_state=0)["mean"]
    disc = bg.clv(df, gg, horizon=52, period=4, discount_rate=0.05, max_draws=200, random_state=0)["mean"]
    np.testing.assert_allclose(half, 0.5 * base)
    assert np.all(disc < base)
    # undiscounted CLV = expected spend x expected purchases in the horizon (up to pairing of draws)
    spend = gg.expected_spend(df)["mean"]
    purch = bg.expected_purchases(df, 52.0)["mean"]
    np.testing.assert_allclose(base, spend * purch, rtol=0.05)


def test_gamma_gamma_expected_spend_shrinks_toward_population_mean(fitted_small):
    df, _, gg = fitted_small
    out = gg.expected_spend(df)
    repeat = df["frequency"].to_numpy() > 0
    m = df["monetary_value"].to_numpy()[repeat]
    pop = gg.params_["p"] * gg.params_["v"] / (gg.params_["q"] - 1)
    est = out["mean"].to_numpy()[repeat]
    assert np.all((est - m) * (pop - m) >= -1e-9)  # moved from m toward the population mean


def test_expected_frequency_counts_match_observed(fitted_small):
    df, bg, _ = fitted_small
    table = bg.expected_frequency_counts(df, max_frequency=5)
    assert table["expected"].sum() == pytest.approx(len(df))
    assert np.all(np.abs(table["expected"] - table["observed"]) < 4 * np.sqrt(table["expected"]) + 5)


def test_pareto_nbd_fits_simulated_data():
    df = simulate_pareto_nbd(3000, T=39.0, random_state=4)
    model = ParetoNBDModel().fit(df, method="mle", random_state=0)
    summ = model.summary(interval=0.99)
    for name, value in zip(("r", "alpha", "s", "beta"), PN, strict=True):
        assert summ.loc[name, "lower"] <= value <= summ.loc[name, "upper"], name


def test_save_load_round_trip(tmp_path, fitted_small):
    df, bg, _ = fitted_small
    path = bg.save(tmp_path / "bg.pkl")
    back = BetaGeoModel.load(path)
    pd.testing.assert_frame_equal(back.probability_alive(df.head()), bg.probability_alive(df.head()))


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("frequency", -1, "frequency .* must be >= 0"),
        ("frequency", 1.5, "whole number"),
        ("recency", 50.0, "recency .* must be <= T"),
        ("recency", np.nan, "missing values are not allowed"),
        ("T", 0.0, "T .* must be > 0"),
    ],
)
def test_bad_rfm_rows_are_named(column, value, match):
    df = pd.DataFrame({"customer_id": ["A", "B", "C"], "frequency": [2.0, 1.0, 0.0],
                       "recency": [10.0, 5.0, 0.0], "T": [39.0, 39.0, 39.0]})
    df.loc[1, column] = value
    with pytest.raises(DataError, match=match) as info:
        validate_rfm(df)
    assert "customer_id 'B'" in str(info.value)


def test_zero_frequency_with_recency_is_rejected():
    df = pd.DataFrame({"frequency": [0, 2], "recency": [3.0, 4.0], "T": [10.0, 10.0]})
    with pytest.raises(DataError, match="frequency 0 .* recency must be 0.*row 0"):
        BetaGeoModel().fit(df, method="mle")


def test_missing_column_and_bad_configuration():
    df = pd.DataFrame({"frequency": [1], "recencyy": [1.0], "T": [2.0]})
    with pytest.raises(DataError, match="did you mean 'recencyy'"):
        validate_rfm(df)
    with pytest.raises(SpecError, match="did you mean 'alpha'"):
        BetaGeoModel(priors={"alpah": {"dist": "HalfNormal", "sigma": 1}})
    with pytest.raises(SpecError, match="dropout"):
        BetaGeoModel(covariates={"dropuot": ["x"]})
    with pytest.raises(SpecError, match="no covariates"):
        GammaGammaModel(covariates=["segment"])
    with pytest.raises(NotFittedError):
        BetaGeoModel().probability_alive(pd.DataFrame({"frequency": [1], "recency": [1.0], "T": [2.0]}))
    with pytest.raises(DataError, match="monetary_value"):
        GammaGammaModel().fit(pd.DataFrame({"frequency": [1, 2], "recency": [1.0, 2.0], "T": [3.0, 3.0],
                                            "monetary_value": [10.0, 0.0]}), method="mle")


def test_identical_customers_are_merged_without_changing_the_likelihood():
    from probwb.hier.clv import _compress

    df, _ = _covariate_data(600, seed=8)
    df = pd.concat([df, df.head(50)], ignore_index=True)  # exact duplicates, covariates included
    model = BetaGeoModel(covariates={"purchase": ["segment"], "dropout": ["coupon"]})
    d = model._data(df, fitting=True)
    c = _compress(d)
    assert len(c["frequency"]) < len(d["frequency"]) and c["weight"].sum() == len(df)
    pop = {"r": np.array([0.8]), "alpha": np.array([6.0]), "a": np.array([1.2]), "b": np.array([3.5]),
           "purchase_coef": np.array([[0.3, -0.2]]), "dropout_coef": np.array([[0.4]])}
    full = model._loglik(model._individual(pop, d), d).sum()
    merged = (model._loglik(model._individual(pop, c), c) * c["weight"]).sum()
    assert merged == pytest.approx(full, rel=1e-12)
