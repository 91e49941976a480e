"""probwb.hmm's batched engine against hmmlearn 0.3.3 on the same parameters and data.

The reference numbers are hmmlearn's own (PoissonHMM, CategoricalHMM, GaussianHMM: ``score`` per
sequence, ``predict_proba`` and ``decode``), computed in the test from identical parameters; agreement
is required to 1e-8 (absolute on posteriors, relative on log-likelihoods).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hmmlearn import hmm as hl

from probwb.hmm import HMM
from probwb.hmm.kernels import forward_backward, viterbi

START = np.array([0.6, 0.3, 0.1])
TRANS = np.array([[0.85, 0.10, 0.05], [0.15, 0.70, 0.15], [0.05, 0.15, 0.80]])


def _sequences(model: object, n_seq: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 25, n_seq)
    X, _ = model.sample(int(lengths.sum()), random_state=seed)
    return X, lengths


def _long_frame(X: np.ndarray, lengths: np.ndarray, col: str) -> pd.DataFrame:
    ids = np.repeat([f"e{i:03d}" for i in range(len(lengths))], lengths)
    steps = np.concatenate([np.arange(L) for L in lengths])
    return pd.DataFrame({"id": ids, "time": steps, col: X[:, 0]})


def _check_against(ref: object, ours: HMM, X: np.ndarray, lengths: np.ndarray, frame: pd.DataFrame) -> None:
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    ref_ll = np.array([ref.score(X[s:s + L]) for s, L in zip(starts, lengths, strict=True)])
    ours_ll = ours.score(frame, per_sequence=True).to_numpy()
    np.testing.assert_allclose(ours_ll, ref_ll, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(ours.score(frame), ref.score(X, lengths), rtol=1e-10)
    post = ours.predict_proba(frame).to_numpy()
    np.testing.assert_allclose(post, ref.predict_proba(X, lengths), atol=1e-8)
    # Viterbi: our path must be as probable as hmmlearn's (exact ties may pick different paths)
    ours_path = ours.predict(frame).cat.codes.to_numpy().astype(np.int64)
    for s, L in zip(starts, lengths, strict=True):
        ref_lp, _ = ref.decode(X[s:s + L])
        ll = ref._compute_log_likelihood(X[s:s + L])
        path = ours_path[s:s + L]
        with np.errstate(divide="ignore"):
            lp = (np.log(ref.startprob_[path[0]]) + np.log(ref.transmat_[path[:-1], path[1:]]).sum()
                  + ll[np.arange(L), path].sum())
        np.testing.assert_allclose(lp, ref_lp, rtol=1e-10)


def test_poisson_matches_hmmlearn() -> None:
    ref = hl.PoissonHMM(n_components=3)
    ref.startprob_, ref.transmat_ = START, TRANS
    ref.lambdas_ = np.array([[4.0], [1.0], [0.1]])
    X, lengths = _sequences(ref, 150, 0)
    ours = HMM.from_params(START, TRANS, {"y": ("poisson", {"rates": ref.lambdas_[:, 0]})})
    _check_against(ref, ours, X, lengths, _long_frame(X, lengths, "y"))


def test_categorical_matches_hmmlearn() -> None:
    ref = hl.CategoricalHMM(n_components=3)
    ref.startprob_, ref.transmat_ = START, TRANS
    ref.emissionprob_ = np.array([[0.7, 0.2, 0.1, 0.0], [0.1, 0.6, 0.2, 0.1], [0.05, 0.05, 0.3, 0.6]])
    X, lengths = _sequences(ref, 150, 1)
    ours = HMM.from_params(START, TRANS, {"y": ("categorical", {"emissionprob": ref.emissionprob_,
                                                                "symbols": [0, 1, 2, 3]})})
    _check_against(ref, ours, X, lengths, _long_frame(X, lengths, "y"))


def test_gaussian_matches_hmmlearn() -> None:
    ref = hl.GaussianHMM(n_components=3, covariance_type="diag")
    ref.startprob_, ref.transmat_ = START, TRANS
    ref.means_ = np.array([[-1.0], [0.5], [3.0]])
    ref.covars_ = np.array([[0.5], [1.0], [2.0]])
    X, lengths = _sequences(ref, 150, 2)
    ours = HMM.from_params(START, TRANS, {"y": ("gaussian", {"means": [-1.0, 0.5, 3.0],
                                                             "covars": [0.5, 1.0, 2.0]})})
    _check_against(ref, ours, X, lengths, _long_frame(X, lengths, "y"))


@pytest.mark.parametrize("compiled", [False, True])
def test_long_sequence_kernels_match_hmmlearn(compiled: bool) -> None:
    # one long Gaussian sequence: the batched loop and the compiled delegate both agree with hmmlearn
    ref = hl.GaussianHMM(n_components=3, covariance_type="diag")
    ref.startprob_, ref.transmat_ = START, TRANS
    ref.means_ = np.array([[-1.0], [0.5], [3.0]])
    ref.covars_ = np.array([[0.5], [1.0], [2.0]])
    X, _ = ref.sample(3000, random_state=3)
    ll = ref._compute_log_likelihood(X)[None]
    res = forward_backward(ll, np.array([3000]), START, TRANS, compiled=compiled)
    np.testing.assert_allclose(res.log_prob[0], ref.score(X), rtol=1e-10)
    np.testing.assert_allclose(res.posteriors[0], ref.predict_proba(X), atol=1e-8)
    lp, path = viterbi(ll, np.array([3000]), START, TRANS, compiled=compiled)
    ref_lp, ref_path = ref.decode(X)
    np.testing.assert_allclose(lp[0], ref_lp, rtol=1e-10)
    np.testing.assert_array_equal(path[0], ref_path)


def test_one_em_iteration_matches_hmmlearn() -> None:
    # hmmlearn's PoissonHMM M-step with its default (flat) priors is the plain maximum-likelihood update
    ref = hl.PoissonHMM(n_components=3, n_iter=1, init_params="", params="stl", tol=0)
    ref.startprob_, ref.transmat_ = START, TRANS
    ref.lambdas_ = np.array([[4.0], [1.0], [0.1]])
    X, lengths = _sequences(ref, 100, 4)
    frame = _long_frame(X, lengths, "y")
    base = HMM.from_params(START, TRANS, {"y": ("poisson", {"rates": ref.lambdas_[:, 0]})})
    ref.fit(X, lengths)
    seq = base._to_sequences(frame, fitting=False)
    res = forward_backward(seq.pad(base._emission_loglik(seq)), seq.lengths, START, TRANS, xi=True)
    gamma = res.posteriors[seq.row_seq, seq.row_pos]
    rates = (seq.obs["y"] @ gamma) / gamma.sum(axis=0)
    trans = res.xi_sum / res.xi_sum.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(rates, ref.lambdas_[:, 0], rtol=1e-8)
    np.testing.assert_allclose(trans, ref.transmat_, atol=1e-10)
    np.testing.assert_allclose(res.start_sum / len(lengths), ref.startprob_, atol=1e-10)
