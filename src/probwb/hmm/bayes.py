"""Bayesian HMM in PyMC: posterior uncertainty on start, transition and emission parameters.

Hidden states are marginalised by the forward algorithm in log space, unrolled over the (short) time
axis and vectorised over sequences, so NUTS samples only continuous parameters. Transition rows get
Dirichlet priors over their allowed moves (forbidden moves are exact zeros); an optional categorical input
column (e.g. the coupon a customer got that week, the treatment at a visit) gives one transition matrix per
input level, the level at step ``t`` driving the move ``t -> t + 1``. Label switching is prevented by an
ordering constraint on one emission mean (Poisson rates or Gaussian means), chosen by ``order_by``.

PyMC is imported only here. The forward pass and its exact gradient are one numba-compiled function
wrapped as a PyTensor Op, so the model compiles in seconds whatever the sequence length. PyMC's NUTS is
the default sampler: nutpie can run the Op only through numba's object mode after a long compile, and in
tests here it was no faster (``sampler="nutpie"`` remains available).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from probwb.core.api import renamed_argument
from probwb.core.progress import sampler_progressbar
from probwb.core.random import RandomState, check_random_state, seed_from
from probwb.errors import DataError, ModelError, NotFittedError, SamplingWarning, SpecError
from probwb.hmm.model import HMM

__all__ = ["BayesianHMM"]

_log = logging.getLogger("probwb.hmm")


def _make_ops() -> type:
    import pytensor.tensor as pt
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    from probwb.hmm._nb import loglik_and_grad

    class ForwardLogLik(Op):
        """Weighted total log-likelihood of padded sequences and, as extra outputs, its gradient with
        respect to (startprob, transition stack, emission log-likelihoods): one kernel call gives both."""

        __props__ = ("n_levels", "key")

        def __init__(self, lengths: np.ndarray, pattern: np.ndarray, weights: np.ndarray, n_levels: int) -> None:
            self.lengths = np.ascontiguousarray(lengths, dtype=np.int64)
            self.pattern = np.ascontiguousarray(pattern, dtype=np.int64)
            self.weights = np.ascontiguousarray(weights, dtype=float)
            self.n_levels = n_levels
            self.key = id(self)

        def make_node(self, start: Any, trans: Any, loglik: Any) -> Apply:
            ins = [pt.as_tensor_variable(v) for v in (start, trans, loglik)]
            return Apply(self, ins, [pt.dscalar(), ins[0].type(), ins[1].type(), ins[2].type()])

        def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list[Any]]) -> None:
            start, trans, loglik = inputs
            total, g_start, g_trans, g_ll = loglik_and_grad(loglik, self.lengths, start, trans, self.pattern,
                                                            self.weights)
            outputs[0][0] = np.asarray(total)
            if not np.isfinite(total):
                g_start, g_trans, g_ll = np.zeros_like(start), np.zeros_like(trans), np.zeros_like(loglik)
            outputs[1][0], outputs[2][0], outputs[3][0] = g_start, g_trans, g_ll

        def grad(self, inputs: list[Any], output_grads: list[Any]) -> list[Any]:
            _, g_start, g_trans, g_ll = self(*inputs)
            gz = output_grads[0]
            return [gz * g_start, gz * g_trans, gz * g_ll]

    return ForwardLogLik


def _forward_loglik(start: Any, trans: Any, loglik: Any, lengths: np.ndarray, pattern: np.ndarray,
                    weights: np.ndarray, n_levels: int) -> Any:
    """Return the PyTensor scalar: weighted log-likelihood of the sequences (PyTensor imported on use)."""
    cls = _make_ops()
    return cls(lengths, pattern, weights, n_levels)(start, trans, loglik)[0]


_PRIOR_DISTS = {"startprob": "dirichlet", "transmat": "dirichlet", "means": "normal", "sd": "halfnormal",
                "lograte": "normal", "probs": "dirichlet"}
_PRIOR_PARAMS = {"dirichlet": ("a",), "normal": ("mu", "sigma"), "halfnormal": ("sigma",)}
_FIXED_KINDS = {"gaussian": ("means", "sd"), "poisson": ("rates",), "categorical": ("probs",)}
_PRIOR_KINDS = {"gaussian": ("means", "sd"), "poisson": ("lograte",), "categorical": ("probs",)}


def _valid_keys(front: HMM, table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Return key -> parameter kind for the model's emission columns (plus start and transitions)."""
    keys = {"startprob": "startprob", "transmat": "transmat"}
    for col, em in front._emissions.items():
        for kind in table[em.kind]:
            keys[f"{col}_{kind}"] = kind
    return keys


def _check_key(key: str, valid: dict[str, str], what: str) -> None:
    if key not in valid:
        from probwb.core.validation import closest_match

        hint = closest_match(key, list(valid))
        raise SpecError(f"unknown {what} key {key!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                        + f"; expected one of {sorted(valid)}")


def _shaped(key: str, value: Any, shape: tuple[int, ...], *, positive: bool = False) -> np.ndarray:
    """Broadcast a number or array to ``shape``; raise SpecError naming the key otherwise."""
    try:
        arr = np.asarray(value, dtype=float)
        out = np.broadcast_to(arr, shape).astype(float) if arr.ndim <= len(shape) else None
    except (TypeError, ValueError):
        out = None
    if out is None or (arr.ndim not in (0, len(shape)) and arr.shape != shape):
        raise SpecError(f"{key}: expected a number or an array of shape {shape}, found {value!r}")
    if not np.isfinite(out).all() or (positive and (out <= 0).any()):
        raise SpecError(f"{key}: expected {'positive ' if positive else ''}finite values, found {value!r}")
    return out


class BayesianHMM:
    """HMM with priors, fitted by NUTS.

    Parameters
    ----------
    n_states, state_names, emission, columns, id_col, time_col, absorbing, transmat_mask : as for
        :class:`probwb.hmm.HMM` (data handling and validation are shared with it).
    time_gaps : ``"error"`` (default) raises a DataError naming the entity and times when an entity's time
        column jumps by more than one grid step (the Bayesian forward pass has no matrix powers);
        ``"consecutive"`` treats rows as consecutive steps. Fill unseen steps with rows of missing values to
        model a jump exactly.
    inputs : at most one categorical column; each of its levels gets its own transition matrix.
    order_by : ``(column, "mean")`` or ``(column, "mean", "descending")`` on a Poisson or Gaussian column:
        the ordering constraint that fixes state labels (default: the first such column, ascending).
    transition_prior, start_prior : Dirichlet concentrations (1 = uniform over the allowed moves); the
        defaults of the ``"transmat"`` and ``"startprob"`` priors.
    priors : overrides of the default priors, keyed by parameter (unknown keys raise SpecError):

        - ``"startprob"``: ``{"dist": "dirichlet", "a": number or (S,)}``
        - ``"transmat"``: ``{"dist": "dirichlet", "a": number or (S, S)}`` (entries of forbidden moves ignored)
        - ``"<col>_means"`` (Gaussian): ``{"dist": "normal", "mu": number or (S,), "sigma": number or (S,)}``;
          default Normal(mean of the column, 2 x its sd)
        - ``"<col>_sd"`` (Gaussian): ``{"dist": "halfnormal", "sigma": number or (S,)}``; default 2 x the column's sd
        - ``"<col>_lograte"`` (Poisson, log of the rates): ``{"dist": "normal", "mu": ..., "sigma": ...}``;
          default Normal(log of the column's mean, 2)
        - ``"<col>_probs"`` (categorical): ``{"dist": "dirichlet", "a": number or (S, K)}``; default 1

    fixed : parameters held at given values instead of sampled: ``"startprob"`` (S,), ``"transmat"``
        (S, S), ``"<col>_means"``, ``"<col>_sd"`` (number or (S,)), ``"<col>_rates"`` (S,), ``"<col>_probs"``
        (S, K). Values are validated; a fixed parameter has no prior and no diagnostics. Fixing the ordered
        column's means or rates also fixes the state labels, so no ordering constraint is added then.
    draws, tune, chains, target_accept : NUTS settings. ``sampler``: "auto" (= PyMC's NUTS), "pymc" or
        "nutpie"; ``init``: PyMC's initialisation / mass-matrix adaptation
        (e.g. "jitter+adapt_full" for a dense mass matrix, worthwhile for these small, correlated posteriors).
    """

    def __init__(
        self,
        n_states: int | None = None,
        *,
        state_names: list[str] | None = None,
        emission: str | dict[str, str] = "poisson",
        columns: list[str] | None = None,
        id_col: str = "id",
        time_col: str = "time",
        time_gaps: str = "error",
        inputs: str | None = None,
        absorbing: list[str] | None = None,
        transmat_mask: Any = None,
        order_by: tuple | None = None,
        transition_prior: float = 1.0,
        start_prior: float = 1.0,
        priors: dict[str, dict[str, Any]] | None = None,
        fixed: dict[str, Any] | None = None,
        draws: int = 500,
        tune: int = 500,
        chains: int = 2,
        target_accept: float = 0.9,
        sampler: str = "auto",
        init: str = "jitter+adapt_diag",
        random_state: RandomState = None,
        progressbar: bool = False,
    ) -> None:
        self.n_states = n_states
        self.state_names = state_names
        self.emission = emission
        self.columns = columns
        self.id_col = id_col
        self.time_col = time_col
        self.time_gaps = time_gaps
        self.inputs = inputs
        self.absorbing = absorbing
        self.transmat_mask = transmat_mask
        self.order_by = order_by
        self.transition_prior = transition_prior
        self.start_prior = start_prior
        self.priors = priors
        self.fixed = fixed
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.target_accept = target_accept
        self.sampler = sampler
        self.init = init
        self.random_state = random_state
        self.progressbar = progressbar

    # ------------------------------------------------------------------ data
    def _front(self) -> HMM:
        if self.inputs is not None and not isinstance(self.inputs, str):
            if len(self.inputs) != 1:
                raise ModelError(f"BayesianHMM takes at most one (categorical) input column, found {self.inputs}")
        if self.time_gaps not in ("error", "consecutive"):
            raise ModelError(f"BayesianHMM time_gaps must be 'error' or 'consecutive', found {self.time_gaps!r}")
        return HMM(self.n_states, state_names=self.state_names, emission=self.emission, columns=self.columns,
                   id_col=self.id_col, time_col=self.time_col, time_gaps=self.time_gaps, absorbing=self.absorbing,
                   transmat_mask=self.transmat_mask)

    def _prepare(self, data: Any) -> dict[str, Any]:
        front = self._front()
        names = front._resolve_states()
        front.state_names_ = names
        seq = front._to_sequences(data, fitting=True)
        mask = front._resolve_mask(names)
        n_obs = sum(int((~np.isnan(x)).sum()) for x in seq.obs.values())
        if n_obs < len(names):
            raise DataError(f"only {n_obs} observed value(s) for {len(names)} states: expected at least one per state")
        levels: list[Any] = ["all"]
        pattern = np.zeros(seq.n_rows, dtype=np.int64)
        col = self.inputs if isinstance(self.inputs, str) or self.inputs is None else self.inputs[0]
        if col is not None:
            if not isinstance(data, pd.DataFrame):
                raise DataError("an input column needs a long DataFrame")
            s = data[col].iloc[seq.source_rows].reset_index(drop=True)
            if s.isna().any():
                raise DataError(f"input column {col!r} has missing values; inputs must be given at every step")
            levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(
                pd.unique(s.astype(object)), key=str)
            pattern = pd.Categorical(s.astype(object), categories=levels).codes.astype(np.int64)
        obs_pad = {c: seq.pad(x, fill=np.nan) for c, x in seq.obs.items()}
        pat_pad = seq.pad(pattern, fill=0)
        # identical sequences (common for short count data: e.g. customers silent from the start) are
        # evaluated once and weighted by their multiplicity
        key = np.hstack([seq.lengths[:, None].astype(float), pat_pad.astype(float),
                         *[np.nan_to_num(v, nan=-1.5e308) for v in obs_pad.values()]])
        _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
        return {"front": front, "seq": seq, "names": names, "mask": mask, "levels": levels,
                "pattern": pat_pad[first], "input": col, "lengths": seq.lengths[first],
                "obs": {c: v[first] for c, v in obs_pad.items()}, "weights": counts.astype(float)}

    def _order_column(self, front: HMM) -> tuple[str | None, bool]:
        ems = front._emissions
        if self.order_by is not None:
            ob = (self.order_by, "mean") if isinstance(self.order_by, str) else tuple(self.order_by)
            col = ob[0]
            if col not in ems or ems[col].kind not in ("poisson", "gaussian") or ob[1] != "mean":
                raise ModelError(f"order_by must name a Poisson or Gaussian column with stat 'mean', found {ob!r}; "
                                 f"columns: { {c: e.kind for c, e in ems.items()} }")
            return col, len(ob) == 3 and str(ob[2]).lower() in ("descending", "desc")
        for c, em in ems.items():
            if em.kind in ("poisson", "gaussian"):
                return c, False
        return None, False

    # ------------------------------------------------------------------ priors and fixed values
    def _resolve_priors(self, front: HMM, S: int, mask: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return (priors with their parameters as arrays, fixed values), defaults filled in and checked."""
        from probwb.core.validation import check_stochastic

        seq_obs = self._prep["seq"].obs
        priors: dict[str, dict[str, Any]] = {
            "startprob": {"dist": "dirichlet", "a": np.full(S, float(self.start_prior))},
            "transmat": {"dist": "dirichlet", "a": np.full((S, S), float(self.transition_prior))},
        }
        shapes: dict[str, tuple[int, ...]] = {"startprob": (S,), "transmat": (S, S)}
        for col, em in front._emissions.items():
            vals = seq_obs[col][~np.isnan(seq_obs[col])]
            if em.kind == "poisson":
                center = float(np.log(max(float(vals.mean()) if vals.size else 1.0, 1e-3)))
                priors[f"{col}_lograte"] = {"dist": "normal", "mu": np.full(S, center), "sigma": np.full(S, 2.0)}
                shapes[f"{col}_lograte"] = shapes[f"{col}_rates"] = (S,)
            elif em.kind == "gaussian":
                mu0, sd0 = float(vals.mean()), float(vals.std() or 1.0)
                priors[f"{col}_means"] = {"dist": "normal", "mu": np.full(S, mu0), "sigma": np.full(S, 2 * sd0)}
                priors[f"{col}_sd"] = {"dist": "halfnormal", "sigma": np.full(S, 2 * sd0)}
                shapes[f"{col}_means"] = shapes[f"{col}_sd"] = (S,)
            else:
                K = len(em.symbols_)
                priors[f"{col}_probs"] = {"dist": "dirichlet", "a": np.ones((S, K))}
                shapes[f"{col}_probs"] = (S, K)
        valid = _valid_keys(front, _PRIOR_KINDS)
        for key, spec in (self.priors or {}).items():
            _check_key(key, valid, "prior")
            dist = _PRIOR_DISTS[valid[key]]
            if not isinstance(spec, dict) or str(spec.get("dist", dist)).lower() != dist:
                raise SpecError(f"prior {key!r}: expected a dict like {{'dist': {dist!r}, "
                                f"{', '.join(repr(p) + ': ...' for p in _PRIOR_PARAMS[dist])}}}, found {spec!r}")
            extra = set(spec) - {"dist", *_PRIOR_PARAMS[dist]}
            if extra:
                raise SpecError(f"prior {key!r}: unknown parameter(s) {sorted(extra)} for {dist!r}; "
                                f"expected {list(_PRIOR_PARAMS[dist])}")
            for par in _PRIOR_PARAMS[dist]:
                if par in spec:
                    priors[key][par] = _shaped(f"prior {key!r} {par}", spec[par], shapes[key],
                                               positive=par != "mu")
        fixed: dict[str, np.ndarray] = {}
        valid_fixed = _valid_keys(front, _FIXED_KINDS)
        for key, value in (self.fixed or {}).items():
            _check_key(key, valid_fixed, "fixed")
            kind = valid_fixed[key]
            if kind == "startprob":
                arr = np.asarray(value, dtype=float)
                if arr.shape != (S,):
                    raise SpecError(f"fixed 'startprob': expected {S} probabilities, found shape {arr.shape}")
                fixed[key] = check_stochastic(arr[None, :], name="fixed startprob")[0]
            elif kind == "transmat":
                arr = np.asarray(value, dtype=float)
                if arr.shape != (S, S):
                    raise SpecError(f"fixed 'transmat': expected shape ({S}, {S}), found {arr.shape}")
                arr = check_stochastic(arr, name="fixed transmat", labels=list(self._prep["names"]))
                if (arr[~mask] > 0).any():
                    raise SpecError("fixed 'transmat' puts probability on a move that transmat_mask/absorbing forbid")
                fixed[key] = arr
            elif kind == "probs":
                arr = np.asarray(value, dtype=float)
                if arr.shape != shapes[key]:
                    raise SpecError(f"fixed {key!r}: expected shape {shapes[key]}, found {arr.shape}")
                fixed[key] = check_stochastic(arr, name=f"fixed {key}")
            else:
                fixed[key] = _shaped(f"fixed {key!r}", value, (S,), positive=kind in ("sd", "rates"))
        return priors, fixed

    # ------------------------------------------------------------------ model
    def build_model(self, data: Any) -> Any:
        """Return the PyMC model for ``data`` (not sampled)."""
        from probwb.core.deps import require_bayes

        require_bayes("BayesianHMM (a PyMC model)")
        import pymc as pm
        import pytensor.tensor as pt

        prep = self._prepare(data)
        self._prep = prep
        seq, names, mask, front = prep["seq"], prep["names"], prep["mask"], prep["front"]
        S, N, T = len(names), prep["lengths"].shape[0], seq.max_len
        L = len(prep["levels"])
        priors, fixed = self._resolve_priors(front, S, mask)
        self._fixed_names = set(fixed)
        order_col, desc = self._order_column(front)
        if order_col is not None and ({f"{order_col}_means", f"{order_col}_rates"} & set(fixed)):
            order_col = None  # fixed emission means already name the states
        if (order_col is None and self.absorbing is None and self.transmat_mask is None and S > 1
                and not ({f"{c}_{k}" for c in front._emissions for k in ("means", "rates", "probs")} & set(fixed))):
            warnings.warn("BayesianHMM: no Poisson/Gaussian column to order states by and no structural zeros; "
                          "state labels may switch between chains", SamplingWarning, stacklevel=3)
        coords = {"state": names, "from_state": names, "to_state": names, "input_level": [str(v) for v in
                                                                                            prep["levels"]]}
        valid = (np.arange(T)[None, :] < prep["lengths"][:, None])
        with pm.Model(coords=coords) as model:
            if "startprob" in fixed:
                start = pm.Deterministic("startprob", pt.as_tensor_variable(fixed["startprob"]), dims="state")
            else:
                start = pm.Dirichlet("startprob", a=priors["startprob"]["a"], dims="state")
            mats = []
            for lv in range(L):
                rows = []
                for i in range(S):
                    allowed = np.flatnonzero(mask[i])
                    if "transmat" in fixed:
                        rows.append(pt.as_tensor_variable(fixed["transmat"][i]))
                        continue
                    if allowed.size == 1:
                        row = np.zeros(S)
                        row[allowed[0]] = 1.0
                        rows.append(pt.as_tensor_variable(row))
                        continue
                    # named after the row so diagnostics read "trans_from_at_risk[20%]"; entries are the
                    # allowed destination states in order
                    label = f"trans_from_{names[i]}" + (f"[{prep['levels'][lv]}]" if L > 1 else "")
                    w = pm.Dirichlet(label, a=priors["transmat"]["a"][i, allowed])
                    rows.append(pt.set_subtensor(pt.zeros(S)[allowed], w))
                mats.append(pt.stack(rows))
            trans = pm.Deterministic("transmat", pt.stack(mats), dims=("input_level", "from_state", "to_state"))

            loglik = pt.zeros((N, T, S))
            for col, em in front._emissions.items():
                x = prep["obs"][col]
                obs = ~np.isnan(x) & valid
                xv = np.where(obs, x, 0.0)
                if em.kind == "poisson":
                    # ordering and prior on the log scale: rates near zero (a churned state) stay well
                    # inside the support, which keeps NUTS's step size reasonable
                    pr = priors.get(f"{col}_lograte")
                    if f"{col}_rates" in fixed:
                        log_rates = pt.as_tensor_variable(np.log(fixed[f"{col}_rates"]))
                    elif col == order_col:
                        # the prior is stated per state in the user's order; the sorted draws run ascending
                        mu, sd = (pr["mu"][::-1], pr["sigma"][::-1]) if desc else (pr["mu"], pr["sigma"])
                        lr = pm.Normal(f"{col}_lograte_sorted", mu=mu, sigma=sd, shape=S,
                                       transform=pm.distributions.transforms.ordered,
                                       initval=np.sort(mu) + np.linspace(-2.0, 0.5, S))
                        log_rates = lr[::-1] if desc else lr
                    else:
                        log_rates = pm.Normal(f"{col}_lograte_free", mu=pr["mu"], sigma=pr["sigma"], shape=S)
                    rates = pt.exp(log_rates)
                    rates = pm.Deterministic(f"{col}_rates", rates, dims="state")
                    ll = xv[:, :, None] * log_rates[None, None, :] - rates[None, None, :] - gammaln(xv + 1.0)[:, :, None]
                elif em.kind == "gaussian":
                    pm_, ps_ = priors.get(f"{col}_means"), priors.get(f"{col}_sd")
                    if f"{col}_means" in fixed:
                        means = pt.as_tensor_variable(fixed[f"{col}_means"])
                    elif col == order_col:
                        mu, sd = (pm_["mu"][::-1], pm_["sigma"][::-1]) if desc else (pm_["mu"], pm_["sigma"])
                        m = pm.Normal(f"{col}_means_sorted", mu=mu, sigma=sd, shape=S,
                                      transform=pm.distributions.transforms.ordered,
                                      initval=np.sort(mu) + np.linspace(-1, 1, S) * float(np.mean(sd)) / 2)
                        means = m[::-1] if desc else m
                    else:
                        means = pm.Normal(f"{col}_means_free", mu=pm_["mu"], sigma=pm_["sigma"], shape=S)
                    means = pm.Deterministic(f"{col}_means", means, dims="state")
                    if f"{col}_sd" in fixed:
                        sds = pm.Deterministic(f"{col}_sd", pt.as_tensor_variable(fixed[f"{col}_sd"]), dims="state")
                    else:
                        sds = pm.HalfNormal(f"{col}_sd", sigma=ps_["sigma"], dims="state")
                    ll = (-0.5 * np.log(2 * np.pi) - pt.log(sds)[None, None, :]
                          - 0.5 * ((xv[:, :, None] - means[None, None, :]) / sds[None, None, :]) ** 2)
                else:
                    coords_sym = f"{col}_symbol"
                    model.add_coord(coords_sym, [str(s) for s in em.symbols_])
                    if f"{col}_probs" in fixed:
                        probs = pm.Deterministic(f"{col}_probs", pt.as_tensor_variable(fixed[f"{col}_probs"]),
                                                 dims=("state", coords_sym))
                    else:
                        probs = pm.Dirichlet(f"{col}_probs", a=priors[f"{col}_probs"]["a"], dims=("state", coords_sym))
                    codes = xv.astype(np.int64)
                    ll = pt.log(probs).T[codes]  # (N, T, S)
                loglik = loglik + pt.where(obs[:, :, None], ll, 0.0)

            # the forward algorithm and its gradient (state posteriors and expected transition counts)
            # come from one compiled (numba) pass: no unrolled graph to compile, exact gradients
            pm.Potential("loglik", _forward_loglik(start, trans, loglik, prep["lengths"], prep["pattern"],
                                                   prep["weights"], L))
        return model

    def fit(self, data: Any) -> BayesianHMM:
        """Sample the posterior; stores ``idata_``, ``transmat_`` (posterior mean) and ``diagnostics_``."""
        from probwb.core.deps import require_bayes

        require_bayes("BayesianHMM.fit (a PyMC model)")
        import pymc as pm

        model = self.build_model(data)
        rng = check_random_state(self.random_state)
        # The forward algorithm is a Python-level PyTensor Op (numba inside): nutpie can run it only
        # through numba's object mode after a long compile, so "auto" means PyMC's own NUTS here.
        sampler = "pymc" if self.sampler == "auto" else self.sampler
        if sampler not in ("nutpie", "pymc"):
            raise ModelError(f"sampler must be 'auto', 'nutpie' or 'pymc', found {self.sampler!r}")
        with model, warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            kwargs = {"draws": int(self.draws), "tune": int(self.tune), "chains": int(self.chains),
                      "random_seed": seed_from(rng), "progressbar": sampler_progressbar(self.progressbar),
                      "target_accept": float(self.target_accept)}
            if sampler == "nutpie":
                self.idata_ = pm.sample(nuts_sampler="nutpie", **kwargs)
            else:
                self.idata_ = pm.sample(cores=1, compute_convergence_checks=False, init=self.init, **kwargs)
        self.sampler_ = sampler
        self.state_names_ = list(self._prep["names"])
        self.input_levels_ = list(self._prep["levels"])
        post = self.idata_.posterior
        self.transmat_ = post["transmat"].mean(("chain", "draw")).values
        self.startprob_ = post["startprob"].mean(("chain", "draw")).values
        self.diagnostics_ = self._diagnose()
        return self

    def _var_names(self) -> list[str]:
        post = self.idata_.posterior
        # fixed parameters are constants: R-hat and ESS are undefined for them
        return [v for v in post.data_vars if not v.endswith(("_sorted", "_free", "__"))
                and not v.startswith("trans_") and v not in getattr(self, "_fixed_names", ())]

    def _diagnose(self) -> Any:
        try:
            from probwb import diagnostics
        except ImportError:  # pragma: no cover - diagnostics ships with probwb, but stay usable without it
            return None
        # structural zeros and fixed rows are constant across draws: R-hat is undefined for them
        names = [v for v in self._var_names() if v != "transmat"]
        names += [v for v in self.idata_.posterior.data_vars if v.startswith("trans_") and not v.endswith("__")]
        return diagnostics.check(self.idata_, var_names=names)

    # ------------------------------------------------------------------ results
    def _check_fitted(self) -> None:
        if not hasattr(self, "idata_"):
            raise NotFittedError("this BayesianHMM is not fitted yet: call fit(data) first")

    def __repr__(self) -> str:
        from probwb.core import api

        return api.estimator_repr(self, always=("emission",))

    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments as ``{name: value}``."""
        from probwb.core import api

        return api.get_params(self)

    def set_params(self, **params: Any) -> BayesianHMM:
        """Set constructor arguments; return self, unfitted (call fit again)."""
        from probwb.core import api

        return api.set_params(self, params)

    def plot(self, kind: str = "state_diagram", ax: Any = None, **kwargs: Any) -> Any:
        """Draw a figure of the fitted posterior and return its Axes: ``"state_diagram"`` (posterior-mean
        transitions, :func:`probwb.hmm.plots.plot_state_diagram`) or the MCMC diagnostics ``"trace"`` /
        ``"rank"`` (:mod:`probwb.diagnostics.plots`; an array of Axes, ``ax`` is passed as ``axes=``)."""
        from probwb.core import api
        from probwb.hmm import plots

        self._check_fitted()
        kinds = {"state_diagram": lambda **kw: plots.plot_state_diagram(self, ax=ax, **kw),
                 **api.posterior_plot_kinds(self.idata_, ax, self._var_names())}
        return api.plot_kind(self, kind, kinds, **kwargs)

    def transmat_for(self, level: Any = None) -> np.ndarray:
        """Return the posterior-mean transition matrix for an input level (the only one when no inputs)."""
        self._check_fitted()
        return self.transmat_[self._level_index(level)]

    def _level_index(self, level: Any) -> int:
        if level is None:
            if len(self.input_levels_) > 1:
                raise DataError(f"give an input level, one of {self.input_levels_}")
            return 0
        for k, lv in enumerate(self.input_levels_):
            if str(lv) == str(level):
                return k
        raise DataError(f"unknown input level {level!r}; levels are {self.input_levels_}")

    @renamed_argument("hdi_prob", "interval")
    def transmat_summary(self, interval: float = 0.9) -> pd.DataFrame:
        """Return posterior mean and the equal-tailed credible interval of mass ``interval`` of every allowed
        transition.

        Columns: input_level, from_state, to_state, mean, lower, upper (forbidden moves are left out).
        """
        self._check_fitted()
        draws = self.idata_.posterior["transmat"].values  # (chain, draw, L, S, S)
        flat = draws.reshape(-1, *draws.shape[2:])
        if not 0 < interval < 1:
            raise ModelError(f"BayesianHMM.transmat_summary: interval must lie strictly between 0 and 1, "
                             f"found {interval}")
        lo_q, hi_q = (1 - interval) / 2, 1 - (1 - interval) / 2
        rows = []
        mask = self._prep["mask"]
        for k, lv in enumerate(self.input_levels_):
            for i, a in enumerate(self.state_names_):
                for j, b in enumerate(self.state_names_):
                    if not mask[i, j]:
                        continue
                    v = flat[:, k, i, j]
                    rows.append((str(lv), a, b, float(v.mean()), float(np.quantile(v, lo_q)),
                                 float(np.quantile(v, hi_q))))
        return pd.DataFrame(rows, columns=["input_level", "from_state", "to_state", "mean", "lower", "upper"])

    def summary(self) -> pd.DataFrame:
        """Return the ArviZ summary (mean, sd, HDI, R-hat, ESS) of the interpretable parameters."""
        self._check_fitted()
        from probwb.diagnostics import _az

        return _az().summary(self.idata_, var_names=self._var_names())
