"""One registry from a spec's ``model.kind`` to the module that runs it.

Family modules are imported only when a spec of their kind is validated or run, so listing or validating
a spec of one family never imports another family's heavy dependencies, and a family that is not
installed fails validation with a clear :class:`~probwb.errors.SpecError` instead of an ImportError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from probwb.core.validation import closest_match
from probwb.errors import SpecError

__all__ = ["KINDS", "BAYESIAN_KINDS", "family_module", "register_family", "unregister_family"]

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
