"""The estimator front door every family shares: constructor parameters, a short sklearn-like repr, and
``plot(kind=...)`` dispatch to the family's plots module.

The estimator classes keep their own code; each adds one-line ``__repr__`` / ``get_params`` / ``set_params``
/ ``plot`` methods that call these functions, so the behaviour is the same in every family.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from probwb.core.validation import check_known_keys, short_repr
from probwb.errors import ModelError

__all__ = ["param_names", "get_params", "set_params", "estimator_repr", "plot_kind", "posterior_plot_kinds",
           "user_stacklevel", "renamed_argument", "renamed_arguments"]


def param_names(cls: type) -> list[str]:
    """Return the names of the keyword-settable constructor parameters of ``cls`` in signature order."""
    sig = inspect.signature(cls.__init__)
    return [p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def get_params(obj: Any) -> dict[str, Any]:
    """Return ``{name: value}`` for every constructor parameter of ``obj`` (the values it was configured with)."""
    return {name: getattr(obj, name) for name in param_names(type(obj)) if hasattr(obj, name)}


def set_params(obj: Any, params: Mapping[str, Any]) -> Any:
    """Reconfigure ``obj`` with new constructor parameters and return it, unfitted.

    Unknown names raise ModelError with the nearest valid one; the new values go through the constructor's
    own checks, and learned attributes (names ending in ``_``) are dropped, because they were learned under
    the old settings: refit afterwards.
    """
    current = get_params(obj)
    check_known_keys(params, list(current), where=f"{type(obj).__name__}.set_params", what="parameter",
                     error=ModelError, log_left=False)
    fresh = type(obj)(**{**current, **params})
    obj.__dict__.clear()
    obj.__dict__.update(fresh.__dict__)
    return obj


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _empty(value: Any) -> bool:
    # constructors that store None as {} or [] (CLV priors) still print as defaults
    return isinstance(value, dict | list | tuple) and not value


def estimator_repr(obj: Any, always: Iterable[str] = (), shown: Mapping[str, str] | None = None,
                   limit: int = 400) -> str:
    """Return ``Class(param=value, ...)`` listing the parameters in ``always`` and those that differ from
    their defaults (values shortened like error messages, the whole at most ``limit`` characters).

    ``shown`` maps a parameter to the text to print for it instead of its value (e.g. a network's size).
    """
    sig = inspect.signature(type(obj).__init__)
    keep = set(always) | set(shown or {})
    parts = []
    for p in sig.parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or not hasattr(obj, p.name):
            continue
        value = getattr(obj, p.name)
        if shown and p.name in shown:
            parts.append(f"{p.name}={shown[p.name]}")
        elif p.name in keep or p.default is p.empty or not (
                _same(value, p.default) or (p.default is None and _empty(value))):
            parts.append(f"{p.name}={short_repr(value, 60)}")
    text = f"{type(obj).__name__}({', '.join(parts)})"
    if len(text) > limit:
        text = text[: limit - 4] + "...)"
    return text


def plot_kind(obj: Any, kind: str, kinds: Mapping[str, Callable[..., Any]], **kwargs: Any) -> Any:
    """Call the plot function registered for ``kind`` with ``obj``'s keyword arguments; return its Axes.

    An unknown kind raises ModelError naming the kinds this estimator offers.
    """
    if not isinstance(kind, str) or kind not in kinds:
        check_known_keys([str(kind)], list(kinds), where=f"{type(obj).__name__}.plot(kind=...)",
                         what="plot kind", error=ModelError, log_left=False)
    return kinds[kind](**kwargs)


def posterior_plot_kinds(idata: Any, ax: Any, var_names: Any = None) -> dict[str, Callable[..., Any]]:
    """Return the MCMC diagnostic plot kinds of a posterior, ``{"trace": ..., "rank": ...}``, drawing on
    ``ax`` (an array of Axes, passed as ``axes=``) and defaulting to ``var_names``; each returns its Axes."""
    from probwb.diagnostics import plots

    def trace(**kw: Any) -> Any:
        return plots.plot_trace(idata, kw.pop("var_names", var_names), axes=ax, **kw)

    def rank(**kw: Any) -> Any:
        return plots.plot_rank(idata, kw.pop("var_names", var_names), axes=ax, **kw)

    return {"trace": trace, "rank": rank}


def user_stacklevel() -> int:
    """Return the ``stacklevel`` for ``warnings.warn`` called by the caller of this function that points at
    the first frame outside probwb (the user's line), however deep inside probwb the warning is raised."""
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(root + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def renamed_argument(old: str, new: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return a decorator that accepts the keyword ``old`` as a deprecated spelling of ``new``.

    Calling with ``old=`` warns (FutureWarning pointing at the user's line) and passes the value on as
    ``new=``; giving both raises ModelError. The wrapped function keeps its signature (``inspect.signature``
    shows ``new``), and ``renamed_arguments(func)`` lists the old spellings it still accepts, so spec
    validation can accept them too.
    """
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        where = func.__qualname__
        names = list(inspect.signature(func).parameters)
        # the new name given by position counts as given (hdi(draws, 0.9, prob=0.8))
        position = names.index(new) if new in names else len(names) + 1

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs or len(args) > position:
                    given = kwargs[new] if new in kwargs else args[position]
                    raise ModelError(f"{where}: give one of {new}= and its old spelling {old}=, found both "
                                     f"({new}={short_repr(given)}, {old}={short_repr(kwargs[old])}); drop {old}=")
                warnings.warn(f"{where}({old}=...) is deprecated and will be removed in the next release; "
                              f"write {new}=", FutureWarning, stacklevel=user_stacklevel())
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        # decorators stack: keep the old names of inner layers visible on the outermost wrapper
        wrapper.__renamed__ = {**getattr(func, "__renamed__", {}), old: new}  # type: ignore[attr-defined]
        return wrapper

    return decorate


def renamed_arguments(func: Any) -> dict[str, str]:
    """Return ``{old: new}`` for the deprecated keyword spellings ``func`` still accepts (empty if none)."""
    return dict(getattr(func, "__renamed__", {}))
