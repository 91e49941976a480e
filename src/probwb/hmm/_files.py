"""The HMM's model-file state (see probwb.core.io): what is saved, and how a loaded file is rebuilt
through the constructor and the parameter validators."""

from __future__ import annotations

import inspect
import logging
import re
from typing import Any

import numpy as np

from probwb.core.validation import check_stochastic
from probwb.errors import ModelFileError
from probwb.hmm.emissions import make_emission
from probwb.hmm.iohmm import InputEncoder, LogitTransitions

_log = logging.getLogger("probwb.hmm")

# published views that _publish() rebuilds from the stored parameters
_DERIVED = {"transmat_", "transition_coef_", "emissions_", "emission_probs_", "rates_", "means_", "covars_"}
# learned attributes are stored by value: public names ending in "_" (loglik_, history_, ...)
_LEARNED = re.compile(r"[a-z][a-z0-9_]*_")


def hmm_file_config(model: Any) -> dict[str, Any]:
    """Return the constructor arguments of ``model`` as model-file values (Generator seeds are not kept)."""
    cfg = {k: v for k, v in model.__dict__.items() if not k.endswith("_") and not k.startswith("_")}
    rs = cfg.get("random_state")
    if rs is not None and not isinstance(rs, int | np.integer):
        _log.info("random_state of type %s is not saved (only integer seeds are)", type(rs).__name__)
        cfg["random_state"] = None
    return cfg


def hmm_to_file_state(model: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Return ``(state, extras)`` of a fitted HMM for probwb.core.io.save_model."""
    d = model.__dict__
    state: dict[str, Any] = {k: v for k, v in d.items() if _LEARNED.fullmatch(k) and k not in _DERIVED}
    state["emissions"] = [
        {"kind": em.kind, "column": em.column, "params": em.params(),
         "symbols": getattr(em, "symbols_", None), "min_covar": getattr(em, "min_covar", None)}
        for em in model._emissions.values()]
    trans = model._trans
    if isinstance(trans, LogitTransitions):
        state["transitions"] = {"kind": "logit", "fields": dict(trans.__dict__)}
    else:
        state["transitions"] = {"kind": "matrix", "matrix": np.asarray(trans, dtype=float)}
    enc = d.get("_encoder")
    state["encoder"] = None if enc is None else {"columns": enc.columns, "baseline": enc.baseline,
                                                 "levels_": enc.levels_, "baseline_": enc.baseline_,
                                                 "names_": enc.names_}
    state["user_startprob"] = d.get("_user_startprob")
    state["user_transmat"] = d.get("_user_transmat")
    return state, {}


def _logit_from_fields(fields: dict[str, Any], S: int, names: list[str]) -> LogitTransitions:
    sig = inspect.signature(LogitTransitions.__init__)
    args = {k: fields[k] for k in sig.parameters if k != "self" and k in fields}
    mask = np.asarray(args.pop("mask"))
    if mask.dtype != bool or mask.shape != (S, S):
        raise ModelFileError(f"HMM file: the transition mask must be ({S}, {S}) booleans, found "
                             f"{mask.dtype} {mask.shape}")
    trans = LogitTransitions(mask, **args)
    fresh = dict(trans.__dict__)
    unknown = sorted(set(fields) - set(fresh))
    if unknown:
        raise ModelFileError(f"HMM file: unknown transition field(s) {unknown}; expected {sorted(fresh)}")
    for k, v in fields.items():
        ref = fresh[k]
        if isinstance(ref, np.ndarray):
            v = np.asarray(v)
            if v.shape != ref.shape or v.dtype.kind != ref.dtype.kind:
                raise ModelFileError(f"HMM file: transition field {k!r} must have shape {ref.shape} and dtype "
                                     f"{ref.dtype}, found {v.shape} {v.dtype}")
        elif ref is not None and v is not None and type(v) is not type(ref):
            raise ModelFileError(f"HMM file: transition field {k!r} must be a {type(ref).__name__}, found {v!r}")
        setattr(trans, k, v)
    allowed = trans.mask
    if (np.isneginf(trans.intercept_) != ~allowed).any() or not np.isfinite(trans.intercept_[allowed]).all():
        raise ModelFileError("HMM file: transition intercepts must be finite on allowed moves and -inf on "
                             "forbidden ones")
    if not np.isfinite(trans.coef_).all():
        raise ModelFileError("HMM file: transition coefficients must be finite")
    ref = np.asarray(trans.ref)
    if ref.shape != (S,) or not allowed[np.arange(S), ref].all():
        raise ModelFileError("HMM file: each transition row's reference move must be an allowed move")
    check_stochastic(trans.matrices(np.zeros((1, trans.n_features)))[0], name="transition matrix", labels=names)
    return trans


def hmm_from_file_state(cls: type, state: dict[str, Any], config: dict[str, Any]) -> Any:
    """Rebuild an HMM from a model file's state (constructor, then validated parameters); return it."""
    model = cls(**config)
    names = [str(s) for s in state["state_names_"]]
    S = len(names)
    if S < 1 or len(set(names)) != S:
        raise ModelFileError(f"HMM file: state names must be distinct and non-empty, found {names}")
    for k, v in state.items():
        if _LEARNED.fullmatch(k) and k not in _DERIVED:
            setattr(model, k, v)
    model.state_names_ = names
    model.startprob_ = check_stochastic(np.asarray(state["startprob_"], dtype=float)[None, :],
                                        name="startprob")[0]
    mask = np.asarray(state["transmat_mask_"])
    if model.startprob_.shape != (S,) or mask.shape != (S, S) or mask.dtype != bool:
        raise ModelFileError(f"HMM file: startprob must have {S} entries and transmat_mask ({S}, {S}) booleans, "
                             f"found {model.startprob_.shape} and {mask.shape}")
    model.transmat_mask_ = mask
    emissions = {}
    for spec in state["emissions"]:
        kind, col = spec["kind"], spec["column"]
        opts: dict[str, Any] = {}
        if kind == "categorical":
            if not isinstance(spec["symbols"], list) or not spec["symbols"]:
                raise ModelFileError(f"HMM file: categorical column {col!r} needs its list of symbols")
            opts["symbols"] = spec["symbols"]
        elif kind == "gaussian" and spec["min_covar"] is not None:
            opts["min_covar"] = float(spec["min_covar"])
        em = make_emission(kind, col, **opts)
        params = {k: np.asarray(v, dtype=float) for k, v in spec["params"].items()}
        if any(not np.isfinite(v).all() for v in params.values()):
            raise ModelFileError(f"HMM file: emission parameters of column {col!r} must be finite")
        em.set_params(**params)
        if em.n_states != S or any(v.shape[0] != S for v in params.values()):
            raise ModelFileError(f"HMM file: emission parameters of {col!r} are for {em.n_states} states, "
                                 f"expected {S}")
        if kind == "categorical" and em.emissionprob_.shape[1] != len(em.symbols_):
            raise ModelFileError(f"HMM file: column {col!r} has {len(em.symbols_)} symbols but "
                                 f"{em.emissionprob_.shape[1]} emission probabilities per state")
        emissions[col] = em
    model._emissions = emissions
    enc = state["encoder"]
    if enc is not None:
        encoder = InputEncoder(list(enc["columns"]), enc["baseline"])
        encoder.levels_ = dict(enc["levels_"])
        encoder.baseline_ = dict(enc["baseline_"])
        expected = []
        for col in encoder.columns:
            levels = encoder.levels_[col]
            if levels is None:
                expected.append(col)
            else:
                if encoder.baseline_[col] not in levels:
                    raise ModelFileError(f"HMM file: input {col!r} has baseline {encoder.baseline_[col]!r}, "
                                         f"not one of its levels {levels}")
                expected += [f"{col}[{lv}]" for lv in levels if lv != encoder.baseline_[col]]
        if list(enc["names_"]) != expected:
            raise ModelFileError(f"HMM file: input design names {enc['names_']} disagree with the input levels "
                                 f"({expected})")
        encoder.names_ = expected
        model._encoder = encoder
    tr = state["transitions"]
    if tr["kind"] == "logit":
        if enc is None:
            raise ModelFileError("HMM file: input-driven transitions without an input encoder")
        trans = _logit_from_fields(dict(tr["fields"]), S, names)
        if trans.n_features != len(model._encoder.names_):
            raise ModelFileError(f"HMM file: {trans.n_features} transition features but "
                                 f"{len(model._encoder.names_)} input design columns")
        model._trans = trans
    elif tr["kind"] == "matrix":
        tm = check_stochastic(np.asarray(tr["matrix"], dtype=float), name="transmat", labels=names)
        if tm.shape != (S, S):
            raise ModelFileError(f"HMM file: transmat must have shape ({S}, {S}), found {tm.shape}")
        if (tm[~mask] > 0).any():
            raise ModelFileError("HMM file: transmat puts probability on a move its transmat_mask forbids")
        model._trans = tm
    else:
        raise ModelFileError(f"HMM file: unknown transition kind {tr['kind']!r}")
    for key, attr in (("user_startprob", "_user_startprob"), ("user_transmat", "_user_transmat")):
        val = state[key]
        if val is not None:
            val = check_stochastic(np.atleast_2d(np.asarray(val, dtype=float)), name=key)
            val = val[0] if key == "user_startprob" else val
        setattr(model, attr, val)
    model._publish()
    return model
