"""Model-file state of the hierarchical models (see probwb.core.io): posteriors travel as netCDF,
PyMC models are not stored (they are rebuilt by refitting), the rest as plain values, and a loaded
file is rebuilt through the constructor and checked like user input."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from probwb.core.io import idata_from_bytes, idata_to_bytes
from probwb.errors import ModelFileError

# learned attributes rebuilt on load rather than stored
_GLM_SPECIAL = {"model_", "idata_", "diagnostics_", "design_info_"}
_CLV_SPECIAL = {"idata_", "diagnostics_", "design_purchase_", "design_dropout_"}


_LEARNED = re.compile(r"[a-z][a-z0-9_]*_")


def _learned(model: Any, skip: set[str]) -> dict[str, Any]:
    return {k: v for k, v in model.__dict__.items() if _LEARNED.fullmatch(k) and k not in skip}


def _set_learned(model: Any, learned: dict[str, Any], skip: set[str], where: str) -> None:
    for k, v in learned.items():
        if not isinstance(k, str) or not _LEARNED.fullmatch(k) or k in skip:
            raise ModelFileError(f"{where} file: {k!r} is not a learned attribute name")
        setattr(model, k, v)


def _posterior(extras: dict[str, bytes], where: str) -> Any:
    if "posterior" not in extras:
        raise ModelFileError(f"{where} file: the posterior (extras/posterior.bin) is missing")
    return idata_from_bytes(extras["posterior"], where=f"{where} file")


def _finite(name: str, value: Any, where: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if not np.isfinite(arr).all():
        raise ModelFileError(f"{where} file: {name} must be finite numbers")
    return arr


# ------------------------------------------------------------------------------------------- GLM
def glm_to_file_state(model: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Return ``(state, extras)`` of a fitted HierarchicalGLM for probwb.core.io.save_model."""
    info = model.design_info_
    state = {"learned": _learned(model, _GLM_SPECIAL),
             "design_info": {"numeric": info.numeric, "levels": info.levels, "coef_names": info.coef_names,
                             "group_levels": info.group_levels, "group_columns": info.group_columns}}
    return state, {"posterior": idata_to_bytes(model.idata_)}


def glm_from_file_state(cls: type, state: dict[str, Any], extras: dict[str, bytes], config: dict[str, Any]) -> Any:
    """Rebuild a HierarchicalGLM (constructor, posterior, design) from a model file; return it."""
    from probwb import diagnostics
    from probwb.hier.formula import DesignInfo

    model = cls(**config)
    di = state["design_info"]
    numeric = {}
    for name, ms in di["numeric"].items():
        mean, sd = (float(x) for x in ms)
        if not (np.isfinite(mean) and np.isfinite(sd) and sd > 0):
            raise ModelFileError(f"HierarchicalGLM file: predictor {name!r} has standardisation mean {mean} and "
                                 f"sd {sd}; expected finite numbers with sd > 0")
        numeric[name] = (mean, sd)
    info = DesignInfo(formula=model._parsed, numeric=numeric, levels={k: list(v) for k, v in di["levels"].items()},
                      coef_names=[str(c) for c in di["coef_names"]],
                      group_levels={k: [str(x) for x in v] for k, v in di["group_levels"].items()},
                      group_columns={k: [str(x) for x in v] for k, v in di["group_columns"].items()})
    expected_groups = sorted(t.name for t in model._parsed.groups)
    if sorted(info.group_levels) != expected_groups or sorted(info.group_columns) != expected_groups:
        raise ModelFileError(f"HierarchicalGLM file: grouping factors {sorted(info.group_levels)} do not match the "
                             f"formula's {expected_groups}")
    idata = _posterior(extras, "HierarchicalGLM")
    post = getattr(idata, "posterior", None)
    if post is None:
        raise ModelFileError("HierarchicalGLM file: the stored InferenceData has no posterior group")
    _set_learned(model, state["learned"], _GLM_SPECIAL, "HierarchicalGLM")
    model.idata_ = idata
    model.design_info_ = info
    model.model_ = None
    if list(model.coef_names_) != info.coef_names:
        raise ModelFileError(f"HierarchicalGLM file: coef_names_ {model.coef_names_} disagree with the design "
                             f"({info.coef_names})")
    names = model.param_names()
    missing = [n for n in names if n not in post]
    if missing:
        raise ModelFileError(f"HierarchicalGLM file: the posterior lacks parameter(s) {missing}")
    for n in names:
        _finite(f"posterior draws of {n!r}", post[n].values, "HierarchicalGLM")
    if "beta" in post and post["beta"].shape[-1] != len(info.coef_names):
        raise ModelFileError(f"HierarchicalGLM file: beta has {post['beta'].shape[-1]} columns, expected "
                             f"{len(info.coef_names)} ({info.coef_names})")
    for g, levels in info.group_levels.items():
        counts = np.asarray(model.group_counts_[g])
        if counts.shape != (len(levels),) or (counts < 0).any():
            raise ModelFileError(f"HierarchicalGLM file: group_counts_ of {g!r} must be {len(levels)} counts")
    model.diagnostics_ = diagnostics.check(idata, var_names=names, warn=False)
    return model


# ------------------------------------------------------------------------------------------- CLV
def clv_to_file_state(model: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Return ``(state, extras)`` of a fitted CLV model for probwb.core.io.save_model."""
    state: dict[str, Any] = {"learned": _learned(model, _CLV_SPECIAL)}
    for key in ("design_purchase_", "design_dropout_"):
        des = model.__dict__.get(key)
        state[key] = None if des is None else {"columns": des.columns, "levels": des.levels, "names": des.names}
    idata = model.__dict__.get("idata_")
    return state, ({} if idata is None else {"posterior": idata_to_bytes(idata)})


def clv_from_file_state(cls: type, state: dict[str, Any], extras: dict[str, bytes], config: dict[str, Any]) -> Any:
    """Rebuild a CLV model from a model file (constructor, designs, draws checked); return it."""
    from probwb.hier.clv import _Design

    where = cls.__name__
    model = cls(**config)
    for key, part in (("design_purchase_", "purchase"), ("design_dropout_", "dropout")):
        spec = state[key]
        if spec is None:
            continue
        des = _Design(spec["columns"])
        if des.columns != list(model._cov[part]):
            raise ModelFileError(f"{where} file: {part} covariates {des.columns} disagree with the configuration "
                                 f"({model._cov[part]})")
        des.levels = {str(k): (None if v is None else list(v)) for k, v in spec["levels"].items()}
        expected = []
        for col in des.columns:
            lv = des.levels.get(col, "missing")
            if lv == "missing":
                raise ModelFileError(f"{where} file: covariate {col!r} has no levels entry")
            expected += [col] if lv is None else [f"{col}[{x}]" for x in lv[1:]]
        if list(spec["names"]) != expected:
            raise ModelFileError(f"{where} file: design names {spec['names']} disagree with the levels ({expected})")
        des.names = expected
        setattr(model, key, des)
    learned = state["learned"]
    draws = learned.get("draws_")
    if not isinstance(draws, dict) or not draws:
        raise ModelFileError(f"{where} file: no parameter draws (draws_)")
    n = None
    for name, arr in draws.items():
        arr = _finite(f"draws of {name!r}", arr, where)
        if n is None:
            n = arr.shape[0]
        if arr.ndim < 1 or arr.shape[0] != n:
            raise ModelFileError(f"{where} file: draws of {name!r} have shape {arr.shape}, expected {n} draws")
        draws[name] = np.asarray(draws[name])
    for name in model._params:
        if name not in draws:
            raise ModelFileError(f"{where} file: draws of parameter {name!r} are missing")
        if (np.asarray(draws[name]) <= 0).any():
            raise ModelFileError(f"{where} file: draws of {name!r} must be positive")
    if model._supports_covariates and state["design_purchase_"] is not None:
        kp, kd = len(model.design_purchase_.names), len(model.design_dropout_.names)
        for name, k in (("purchase_coef", kp), ("dropout_coef", kd)):
            if name in draws and np.asarray(draws[name]).shape != (n, k):
                raise ModelFileError(f"{where} file: {name} draws have shape {np.asarray(draws[name]).shape}, "
                                     f"expected ({n}, {k})")
    params = learned.get("params_") or {}
    for name in model._params:
        if name not in params or not (_finite(name, params[name], where) > 0).all():
            raise ModelFileError(f"{where} file: parameter {name!r} must be a positive finite number")
    _set_learned(model, learned, _CLV_SPECIAL, where)
    model.idata_ = None
    model.diagnostics_ = None
    if "posterior" in extras:
        from probwb.diagnostics import check

        model.idata_ = _posterior(extras, where)
        names = [v for v in model.idata_.posterior.data_vars if not str(v).endswith("__")]
        model.diagnostics_ = check(model.idata_, var_names=names, warn=False)
    return model
