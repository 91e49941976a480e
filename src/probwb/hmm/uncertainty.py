"""Parameter uncertainty of a fitted HMM: Wald intervals from the observed information.

Every parameter is mapped to an unconstrained vector ``theta``: start and transition probabilities as
logits against a reference entry of their row (staying put where allowed), input effects as they are
(logit scale), Poisson rates and Gaussian variances on the log scale, Gaussian means as they are,
emission probabilities as logits. The gradient of the log-likelihood in ``theta`` is exact and cheap by
Fisher's identity (the expected complete-data gradient under the state posteriors of one forward–backward
pass); the observed information is minus its Jacobian, by central differences of that exact gradient
(``2 * len(theta)`` forward–backward passes). For an input-driven HMM the objective includes the
Normal(0, input_prior_sd) prior on the input coefficients, so the curvature is that of the penalised
log-likelihood whose maximum the fit is.

Each reported quantity gets a Wald interval on its link scale (logit for probabilities, log for rates and
variances, identity for means and input coefficients) by the delta method, mapped back, so probability
intervals stay inside (0, 1). Structural values (forbidden moves, absorbing rows) are reported with a
zero-width interval; an allowed entry estimated at exactly zero (on the boundary, where Wald intervals do
not apply) gets NaN.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtri

from probwb.core.api import renamed_argument, user_stacklevel
from probwb.errors import ConvergenceWarning, DataError
from probwb.hmm.iohmm import LogitTransitions
from probwb.hmm.kernels import forward_backward

__all__ = ["ParameterLayout", "interval_bounds", "observed_information", "wald_intervals"]

_EPS = 1e-5  # start or transition probabilities below this are on the boundary: no Wald interval


class ParameterLayout:
    """The fitted parameters of ``model`` as one unconstrained vector; free entries are fixed at creation."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.names = list(model.state_names_)
        S = len(self.names)
        start = np.asarray(model.startprob_, dtype=float)
        self.start_support = start > _EPS
        self.start_ref = int(np.argmax(start))
        self.start_free = self.start_support.copy()
        self.start_free[self.start_ref] = False
        self.mask = np.asarray(model.transmat_mask_, dtype=bool)
        if isinstance(model._trans, LogitTransitions):
            self.logit = copy.deepcopy(model._trans)
            self.trans_free = self.logit.free_coef_mask()
            self.trans_support = self.mask
        else:
            self.logit = None
            A = np.asarray(model._trans, dtype=float)
            self.trans_support = self.mask & (A > _EPS)
            diag = self.trans_support[np.arange(S), np.arange(S)]
            self.trans_ref = np.where(diag, np.arange(S), A.argmax(axis=1))
            self.trans_free = self.trans_support.copy()
            self.trans_free[np.arange(S), self.trans_ref] = False
        self.emissions = {c: copy.deepcopy(em) for c, em in model._emissions.items()}
        for em in self.emissions.values():
            em.__dict__.pop("_layout", None)
        self.theta0 = self.theta()

    # ------------------------------------------------------------------ vector <-> parameters
    def theta(self) -> np.ndarray:
        """Return the current parameters as the unconstrained vector."""
        start = self.model.startprob_
        parts = [np.log(start[self.start_free] / start[self.start_ref])]
        if self.logit is not None:
            for i in range(len(self.names)):
                free = self.trans_free[i]
                if free.any():
                    parts.append(np.vstack([self.logit.intercept_[i, free][None], self.logit.coef_[:, i, free]]).ravel())
        else:
            A = np.asarray(self.model._trans, dtype=float)
            ref = A[np.arange(A.shape[0]), self.trans_ref][:, None]
            with np.errstate(divide="ignore"):
                parts.append(np.log(A / ref)[self.trans_free])
        parts += [em.theta() for em in self.emissions.values()]
        return np.concatenate(parts)

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, Any, dict[str, Any]]:
        """Return (startprob, transitions, emissions) for the vector ``theta`` (new objects)."""
        S = len(self.names)
        k = int(self.start_free.sum())
        lg = np.full(S, -np.inf)
        lg[self.start_ref] = 0.0
        lg[self.start_free] = theta[:k]
        start = np.exp(lg - lg.max())
        start /= start.sum()
        pos = k
        if self.logit is not None:
            trans = copy.deepcopy(self.logit)
            K1 = trans.n_features + 1
            for i in range(S):
                free = self.trans_free[i]
                nf = int(free.sum())
                if nf:
                    block = theta[pos:pos + K1 * nf].reshape(K1, nf)
                    trans.intercept_[i, free] = block[0]
                    trans.coef_[:, i, free] = block[1:]
                    pos += K1 * nf
        else:
            nf = int(self.trans_free.sum())
            lt = np.full((S, S), -np.inf)
            lt[np.arange(S), self.trans_ref] = 0.0
            lt[self.trans_free] = theta[pos:pos + nf]
            pos += nf
            e = np.exp(lt - lt.max(axis=1, keepdims=True))
            trans = e / e.sum(axis=1, keepdims=True)
        emissions = {}
        for col, em in self.emissions.items():
            new = copy.deepcopy(em)
            n = em.theta().shape[0]
            new.set_theta(theta[pos:pos + n])
            emissions[col] = new
            pos += n
        return start, trans, emissions

    # ------------------------------------------------------------------ gradient
    def score(self, theta: np.ndarray, seq: Any) -> np.ndarray:
        """Return the gradient of the log-likelihood (plus the input prior's log density) at ``theta``."""
        model = self.model
        start, trans, emissions = self.unpack(theta)
        ll = seq.pad(model._emission_loglik(seq, emissions))
        A, idx, patterns = model._transitions(seq, trans)
        res = forward_backward(ll, seq.lengths, start, A, idx, posteriors=True, xi=True)
        counts = model._single_step_counts(seq, res.xi_sum, trans)
        gamma = res.rows(seq.row_seq, seq.row_pos)
        N = seq.lengths.shape[0]
        parts = [(res.start_sum - N * start)[self.start_free]]
        if self.logit is not None:
            Xd = np.hstack([np.ones((patterns.shape[0], 1)), patterns])
            P = trans.matrices(patterns)
            for i in range(len(self.names)):
                free = self.trans_free[i]
                if free.any():
                    c = counts[:, i, :]
                    n_row = c.sum(axis=1)
                    g = Xd.T @ (c[:, free] - n_row[:, None] * P[:, i, free])
                    g[1:] -= trans.precision * trans.coef_[:, i, free]
                    parts.append(g.ravel())
        else:
            n_row = counts.sum(axis=1, keepdims=True)
            parts.append((counts - n_row * trans)[self.trans_free])
        for col, em in emissions.items():
            parts.append(em.theta_score(seq.obs[col], gamma))
        return np.concatenate(parts)

    # ------------------------------------------------------------------ reported quantities
    def quantities(self, theta: np.ndarray) -> tuple[list[tuple[str, str, str]], np.ndarray, list[str]]:
        """Return (labels ``(block, state, name)``, values, links) of every reported quantity at ``theta``."""
        start, trans, emissions = self.unpack(theta)
        names = self.names
        labels, values, links = [], [], []

        def add(label: tuple[str, str, str], value: float, link: str) -> None:
            labels.append(label)
            values.append(float(value))
            links.append(link)

        for s, v in enumerate(start):
            add(("startprob", names[s], ""), v, "logit" if self.start_free.any() and self.start_support[s] else
                ("fixed" if self.start_support.sum() == 1 and self.start_support[s] else "none"))
        if self.logit is not None:
            A0 = trans.matrices(np.zeros((1, trans.n_features)))[0]
        else:
            A0 = trans
        single = self.mask.sum(axis=1) == 1
        for i in range(len(names)):
            for j in range(len(names)):
                if not self.mask[i, j] or single[i]:
                    link = "fixed"
                elif not self.trans_support[i, j]:
                    link = "none"
                else:
                    link = "logit"
                add(("transmat", names[i], names[j]), A0[i, j], link)
        if self.logit is not None:
            for k, feat in enumerate(self.model._encoder.names_):
                for i in range(len(names)):
                    for j in range(len(names)):
                        if self.trans_free[i, j]:
                            add((f"logit:{feat}", names[i], names[j]), trans.coef_[k, i, j], "identity")
        for col, em in emissions.items():
            for pname, s, sym, value, link in em.report():
                add((f"{col}:{pname}", names[s], sym), value, link)
        return labels, np.array(values), links


def _to_link(values: np.ndarray, links: list[str]) -> np.ndarray:
    out = np.array(values, dtype=float)
    lk = np.array(links)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[lk == "logit"] = logit(np.clip(out[lk == "logit"], 1e-300, 1 - 1e-16))
        out[lk == "log"] = np.log(np.maximum(out[lk == "log"], 1e-300))
    return out


@renamed_argument("level", "confidence")
def interval_bounds(values: Any, se: Any, links: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (lower, upper) of Wald intervals at confidence level ``confidence`` from values, link-scale
    standard errors and links.

    The frame :func:`wald_intervals` returns carries ``se`` and ``link``, so other levels need no refit:
    ``interval_bounds(t["value"], t["se"], t["link"], 0.5)``.
    """
    values, se = np.asarray(values, dtype=float), np.asarray(se, dtype=float)
    lk = np.asarray(links)
    z = float(ndtri(0.5 + float(confidence) / 2))
    base = _to_link(values, list(lk))
    lo, hi = base - z * se, base + z * se
    lower, upper = np.full(values.shape, np.nan), np.full(values.shape, np.nan)
    sel = lk == "logit"
    lower[sel], upper[sel] = expit(lo[sel]), expit(hi[sel])
    sel = lk == "log"
    lower[sel], upper[sel] = np.exp(lo[sel]), np.exp(hi[sel])
    sel = lk == "identity"
    lower[sel], upper[sel] = lo[sel], hi[sel]
    sel = lk == "fixed"
    lower[sel], upper[sel] = values[sel], values[sel]
    return lower, upper


def observed_information(layout: ParameterLayout, seq: Any, step: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Return (observed information matrix, score at the fit) for the fitted parameters on ``seq``.

    Central differences of the exact gradient, symmetrised.
    """
    theta = layout.theta0
    p = theta.shape[0]
    H = np.empty((p, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = step
        H[:, j] = -(layout.score(theta + e, seq) - layout.score(theta - e, seq)) / (2 * step)
    return 0.5 * (H + H.T), layout.score(theta, seq)


@renamed_argument("level", "confidence")
def wald_intervals(model: Any, data: Any, confidence: float = 0.9) -> pd.DataFrame:
    """Return every fitted parameter with its standard error and ``confidence`` Wald interval.

    Columns: block, state, name, value, se (on the link scale), lower, upper, link. See the module
    docstring for the method; ``data`` should be the data the model was fitted to.
    """
    level = float(confidence)
    if not 0.0 < level < 1.0:
        raise DataError(f"wald_intervals: confidence must lie strictly between 0 and 1, found {level}")
    model._check_fitted()
    seq = model._to_sequences(data, fitting=False)
    layout = ParameterLayout(model)
    info, score = observed_information(layout, seq)
    evals, evecs = np.linalg.eigh(info)
    scale = max(float(np.abs(evals).max()), 1.0)
    ok = evals > 1e-10 * scale
    if not ok.all():
        warnings.warn(f"the observed information has {int((~ok).sum())} non-positive eigenvalue(s): some parameters "
                      "are not identified from these data (or the fit is not at a maximum); their intervals are NaN",
                      ConvergenceWarning, stacklevel=user_stacklevel())
    cov = (evecs[:, ok] / evals[ok]) @ evecs[:, ok].T
    labels, values, links = layout.quantities(layout.theta0)
    base = _to_link(values, links)
    # delta method: Jacobian of the link-scale quantities in theta by forward differences (no E-steps)
    p = layout.theta0.shape[0]
    J = np.zeros((len(values), p))
    h = 1e-6
    for j in range(p):
        t = layout.theta0.copy()
        t[j] += h
        J[:, j] = (_to_link(layout.quantities(t)[1], links) - base) / h
    var = np.einsum("qi,ij,qj->q", J, cov, J)
    if not ok.all():
        # a quantity that moves along an unidentified direction has no finite variance
        null = evecs[:, ~ok]
        bad = np.abs(J @ null).max(axis=1) > 1e-8 * np.maximum(np.abs(J).max(axis=1), 1e-300)
        var[bad] = np.nan
    se = np.sqrt(np.maximum(var, 0.0))
    lk = np.array(links)
    se[lk == "fixed"] = 0.0
    se[lk == "none"] = np.nan
    lower, upper = interval_bounds(values, se, links, level)
    frame = pd.DataFrame(labels, columns=["block", "state", "name"])
    frame["value"] = values
    frame["se"] = se
    frame["lower"] = lower
    frame["upper"] = upper
    frame["link"] = links
    frame.attrs["method"] = "observed information (Wald, delta method on the link scale)"
    frame.attrs["confidence"] = level
    frame.attrs["max_abs_score"] = float(np.abs(score).max()) if score.size else 0.0
    return frame
