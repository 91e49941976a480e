"""One registry from a spec's ``model.kind`` to the module that runs it.

Family modules are imported only when a spec of their kind is validated or run, so listing or validating
a spec of one family never imports another family's heavy dependencies, and a family that is not
installed fails validation with a clear :class:`~probwb.errors.SpecError` instead of an ImportError.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from probwb.core.validation import closest_match
from probwb.errors import SpecError

__all__ = ["KINDS", "BAYESIAN_KINDS", "dependency_problems", "family_module", "register_family",
           "unregister_family"]

#: kind -> module offering ``run_spec(spec, *, quick=False, random_state=None) -> dict`` and ``SPEC_KEYS``.
KINDS: dict[str, str] = {
    "bn": "probwb.bn.spec",
    "hmm": "probwb.hmm.spec",
    "mdp": "probwb.mdp.spec",
    "hier": "probwb.hier.spec",
    "clv": "probwb.hier.clv_spec",
    "stats": "probwb.stats.spec",
}

#: kinds whose fits are (or may be) MCMC and therefore should carry a diagnostics verdict.
BAYESIAN_KINDS = frozenset({"hier", "clv"})

_DEFAULT_KINDS = dict(KINDS)


def register_family(kind: str, module: str) -> None:
    """Map ``kind`` to the importable ``module`` (a plugin family, or a stand-in in tests)."""
    if not isinstance(kind, str) or not kind:
        raise SpecError(f"a model kind must be a non-empty string, found {kind!r}")
    KINDS[kind] = module


def unregister_family(kind: str) -> None:
    """Undo :func:`register_family` (restoring a built-in kind's module, or removing a plugin kind)."""
    if kind in _DEFAULT_KINDS:
        KINDS[kind] = _DEFAULT_KINDS[kind]
    else:
        KINDS.pop(kind, None)


def family_module(kind: object, *, where: str = "model.kind") -> ModuleType:
    """Return the imported module for ``kind``, raising SpecError for an unknown or unavailable family.

    The module must define a callable ``run_spec`` and a dict ``SPEC_KEYS``.
    """
    if not isinstance(kind, str):
        raise SpecError(f"{where} must be a string naming a model family ({', '.join(sorted(KINDS))}), "
                        f"found {type(kind).__name__} {kind!r}")
    if kind not in KINDS:
        hit = closest_match(kind, KINDS)
        hint = f" (did you mean {hit!r}?)" if hit else ""
        raise SpecError(f"{where}: unknown model kind {kind!r}{hint}; "
                        f"expected one of {', '.join(sorted(KINDS))}")
    name = KINDS[kind]
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Only a missing family module is "not available"; a missing third-party dependency inside
        # an existing family is a different problem and keeps its own message.
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise SpecError(f"{where}: the {kind!r} family is not available in this installation "
                            f"(module {name} was not found), so this spec cannot be run") from None
        raise SpecError(f"{where}: the {kind!r} family ({name}) could not be imported: "
                        f"missing dependency {missing or exc}") from exc
    run_spec = getattr(module, "run_spec", None)
    spec_keys = getattr(module, "SPEC_KEYS", None)
    if not callable(run_spec) or not isinstance(spec_keys, dict):
        raise SpecError(f"{where}: the {kind!r} family module {name} does not provide run_spec() and "
                        "SPEC_KEYS, so specs of this kind cannot be validated or run yet")
    return module


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _pymc_use(kind: object, spec: Any) -> str | None:
    # which part of a built-in family's spec fits a PyMC model (None: the spec needs no PyMC)
    section = spec if isinstance(spec, dict) else {}
    fit = section.get("fit") if isinstance(section.get("fit"), dict) else {}
    evaluate = section.get("evaluate") if isinstance(section.get("evaluate"), dict) else {}
    if kind == "hier":
        return "a hierarchical model sampled by MCMC"
    if kind == "clv" and fit.get("method", "mcmc") in ("mcmc", "map"):
        return f"a CLV model fitted by fit.method {fit.get('method', 'mcmc')!r}"
    if kind == "hmm" and evaluate.get("bayesian"):
        return "a Bayesian HMM (evaluate.bayesian)"
    return None


def dependency_problems(kind: object, spec: Any) -> list[str]:
    """Return one line per optional package the spec needs that is not installed (PyMC for hier, clv by
    MCMC/MAP, hmm with evaluate.bayesian), naming the command that installs it; [] when nothing is missing."""
    use = _pymc_use(kind, spec)
    if use is None or KINDS.get(str(kind)) != _DEFAULT_KINDS.get(str(kind)):
        return []
    missing = [m for m in ("pymc", "pytensor") if not _importable(m)]
    if not missing:
        return []
    return [f"model.kind {kind!r}: this spec fits {use}, which needs {' and '.join(missing)} (not installed); "
            'install them with: pip install "probwb[bayes]"']
