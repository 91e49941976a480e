"""EM and credible intervals with missing cells: random missingness patterns, brute-force E-steps."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.bn import BayesNet, kernels, learning
from probwb.errors import ConvergenceWarning, SpecError


def _mcar(data: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
    """``data`` with each cell blanked independently with probability ``rate``."""
    return data.astype(object).mask(rng.random(data.shape) < rate)


def _brute_expected_counts(net: BayesNet, codes: np.ndarray, weights: np.ndarray
                           ) -> tuple[list[np.ndarray], float]:
    """Expected family counts and log P(observed cells) by enumerating the full joint per row."""
    joint = kernels.enumerate_joint(net._parents, net._cpts)
    n_nodes = len(net._cards)
    counts = [np.zeros(tuple(net._cards[p] for p in net._parents[v]) + (net._cards[v],))
              for v in range(n_nodes)]
    loglik = 0.0
    for row, w in zip(codes, weights, strict=True):
        sel = np.zeros_like(joint)
        idx = tuple(int(c) if c >= 0 else slice(None) for c in row)
        sel[idx] = joint[idx]
        pe = sel.sum()
        loglik += w * np.log(pe)
        post = sel / pe
        for v in range(n_nodes):
            fam = (*net._parents[v], v)
            other = tuple(u for u in range(n_nodes) if u not in fam)
            marg = post.sum(axis=other)  # axes left in node-id order
            counts[v] += w * np.transpose(marg, np.argsort(np.argsort(fam)))
    return counts, loglik


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n_nodes=st.integers(2, 6), rate=st.floats(0.05, 0.7))
def test_e_step_matches_enumeration_under_random_missingness(make_network, seed, n_nodes, rate):
    # every pattern of observed cells, including families wholly missing and d-separated from
    # the row's observed cells (the case whose pruned plan lost its row axis)
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes)
    data = _mcar(net.sample(80, random_state=rng), rate, rng)
    codes = net._full_codes(data)
    weights = rng.integers(1, 4, size=len(codes)).astype(float)
    want, ll_want = _brute_expected_counts(net, codes, weights)
    enumerated = learning.EnumeratedRows.build(net._parents, net._cards, codes, weights)
    for got, ll in (learning.expected_counts(net._parents, net._cards, net._cpts, codes, weights),
                    enumerated.expected_counts(net._cpts)):
        assert ll == pytest.approx(ll_want, rel=1e-10)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)
            # every row's expected counts add up to its weight
            assert g.sum() == pytest.approx(weights.sum(), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_imputation_draws_average_to_expected_counts(make_network, seed):
    # both samplers of the missing cells (enumeration; elimination plans in blocks of joint
    # states) draw from the rows' joint posteriors: completed counts average to the E-step's
    rng = np.random.default_rng(seed)
    net = make_network(rng, 5)
    data = _mcar(net.sample(30, random_state=rng), 0.45, rng)
    codes = net._full_codes(data)
    weights = rng.integers(1, 4, size=len(codes)) + np.where(rng.random(len(codes)) < 0.2, 0.5, 0.0)
    want, _ = learning.expected_counts(net._parents, net._cards, net._cpts, codes, weights)
    enumerated = learning.EnumeratedRows.build(net._parents, net._cards, codes, weights, sampling=True)
    n_draws = 300
    for draw in (lambda: enumerated.sample_counts(net._cpts, rng),
                 lambda: learning.sample_counts(net._parents, net._cards, net._cpts, codes, weights,
                                                rng, block_states=4)):
        draws = [draw() for _ in range(n_draws)]
        for v, w in enumerate(want):
            d = np.stack([x[v] for x in draws])
            assert np.allclose(d.sum(axis=tuple(range(1, d.ndim))), weights.sum())
            # standard error of the mean draw. A cell's count above its fixed part is a sum of
            # weighted Bernoulli units, variance <= max weight * its mean: that bound covers
            # cells whose rare draws the sample sd missed (the draws' minimum as fixed part)
            var = np.maximum(d.var(axis=0), weights.max() * np.clip(w - d.min(axis=0), 0, None))
            se = np.sqrt(var / n_draws)
            # cells with expected count zero (contradicting observed cells) must never be drawn
            assert (np.abs(d.mean(axis=0) - w) <= 5 * se + 1e-9).all()


@pytest.fixture(scope="module")
def cohort_truth():
    from probwb.datasets import simulate_patient_cohort

    cohort = simulate_patient_cohort(n_patients=300, n_hospitals=5, n_visits=2, random_state=3)
    return BayesNet.from_spec(cohort.truth["bn"])


@pytest.mark.parametrize("network", ["asia", "cohort"])
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.15, 0.35))
def test_em_fits_under_random_missingness(asia, cohort_truth, network, seed, rate):
    truth = asia if network == "asia" else cohort_truth
    rng = np.random.default_rng(seed)
    data = _mcar(truth.sample(300, random_state=rng), rate, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net = BayesNet(truth.edges, truth.node_states, max_iter=60, tol=1e-7).fit(data)
    hist = net.em_.history
    assert all(b >= a - 1e-8 * abs(a) for a, b in zip(hist, hist[1:], strict=False)), "EM log-likelihood fell"
    # EM's own log-likelihood is the fitted model's log P(observed cells)
    assert net.em_.log_likelihood == pytest.approx(net.log_likelihood(data), rel=1e-9)


def test_posterior_interval_with_target_d_separated_from_evidence(asia):
    # smoke is d-separated from asia (a root with no path through observed nodes): the pruned
    # plan needs no row-observed CPT, yet each row still gets its own interval
    data = asia.sample(400, random_state=5)
    net = BayesNet(asia.edges, asia.node_states, method="bayes").fit(data)
    ev = data[["asia"]].iloc[:12]
    post = net.posterior(ev, "smoke", interval=0.9, n_samples=300, random_state=0)
    assert post.shape == (12, 6)
    one = net.query("smoke", interval=0.9, n_samples=300, random_state=0)
    for stat in ("probability", "lower", "upper"):
        col = post[stat].to_numpy()
        np.testing.assert_allclose(col, np.broadcast_to(col[0], col.shape))
    np.testing.assert_allclose(post["probability"].to_numpy()[0], one["probability"].to_numpy(), rtol=1e-12)
    assert (post["lower"].to_numpy()[0] < one["probability"].to_numpy()).all()
    assert (post["upper"].to_numpy()[0] > one["probability"].to_numpy()).all()


def test_batched_plan_keeps_row_axis_when_evidence_is_d_separated():
    # A -> B, C independent root: P(B | C) never reads C's row evidence
    parents = [(), (0,), ()]
    cards = [2, 3, 2]
    rng = np.random.default_rng(0)
    cpts = learning.random_cpts(cards, parents, rng)
    plan = kernels.compile_plan(parents, cards, (1,), (2,), batched=True)
    out = kernels.run_plan(plan, cpts, {2: np.array([0, 1, 1, 0, 1])})
    assert out.shape == (5, 3)
    np.testing.assert_allclose(out / out.sum(axis=1, keepdims=True),
                               np.tile(cpts[0] @ cpts[1], (5, 1)), rtol=1e-12)
    sampled = [np.stack([c, c]) for c in cpts]
    plan = kernels.compile_plan(parents, cards, (1,), (2,), batched=True, sampled=True)
    out = kernels.run_plan(plan, sampled, {2: np.array([0, 1, 1])})
    assert out.shape == (2, 3, 3)


def test_bayes_fit_with_missing_cells_keeps_posterior_draws(asia):
    rng = np.random.default_rng(11)
    data = _mcar(asia.sample(1500, random_state=rng), 0.4, rng)
    net = BayesNet(asia.edges, asia.node_states, method="bayes", n_posterior_draws=300, random_state=2).fit(data)
    assert net.interval_method_.startswith("data augmentation")
    assert net.summary().attrs["interval_method"] == net.interval_method_
    for node in net.nodes:
        draws = net.posterior_draws_[node]
        assert draws.shape == (300,) + net.cpts_[node].shape
        np.testing.assert_allclose(draws.sum(axis=-1), 1.0, rtol=1e-12)
    # well-informed entries: the posterior mean is EM's estimate up to Monte Carlo and O(1/n) error
    lung = net.posterior_draws_["lung"][:, 0, 0]
    assert abs(lung.mean() - net.cpts_["lung"][0, 0]) < 4 * lung.std() / np.sqrt(30) + 0.005
    # the same seed gives the same draws
    again = BayesNet(asia.edges, asia.node_states, method="bayes", n_posterior_draws=300, random_state=2).fit(data)
    np.testing.assert_array_equal(again.posterior_draws_["lung"], net.posterior_draws_["lung"])
    complete = BayesNet(asia.edges, asia.node_states, method="bayes").fit(asia.sample(200, random_state=1))
    assert complete.posterior_draws_ is None and complete.interval_method_.startswith("Dirichlet posterior")
    assert BayesNet(asia.edges, method="mle").fit(data).interval_method_ is None


@pytest.mark.parametrize("bad", [0, -5, 2.5, "many", True])
def test_n_posterior_draws_must_be_a_positive_integer(asia, bad):
    data = asia.sample(50, random_state=0)
    with pytest.raises(SpecError, match=r"n_posterior_draws must be a positive integer.*found"):
        BayesNet(asia.edges, method="bayes", n_posterior_draws=bad).fit(data)
