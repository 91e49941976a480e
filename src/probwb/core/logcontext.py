"""Which model and fold a log line is about.

The report runner sets the model (the spec's name) and cross-validation sets the fold; every probwb
logger made with :func:`get_logger` then ends its lines with that context, e.g.
``restart 3/5: log-likelihood -1520.2 after 41 iterations (converged=True) [disease_progression_hmm, fold 2]``,
and progress bars and lines carry the same tag. The values live in a :mod:`contextvars` variable, so
threads and asyncio tasks each keep their own.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

__all__ = ["log_context", "current_context", "context_tag", "get_logger", "ContextAdapter", "ContextFilter"]

# the stored dicts are never mutated (log_context sets a new one), so sharing them between contexts is safe
_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("probwb_log_context", default=None)

#: the order (and labels) in which context values are written; others follow in insertion order
_ORDER = ("model", "fold", "n_states", "restart")


@contextmanager
def log_context(**values: Any) -> Iterator[dict[str, Any]]:
    """Within the ``with`` block, tag probwb's log lines and progress with ``values`` (e.g. ``model=``,
    ``fold=``); values of None are ignored, inner blocks add to or override outer ones. Yields the
    context now in force."""
    merged = {**(_CONTEXT.get() or {}), **{k: v for k, v in values.items() if v is not None}}
    token = _CONTEXT.set(merged)
    try:
        yield merged
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, Any]:
    """Return a copy of the context (model, fold, ...) in force now; empty outside any :func:`log_context`."""
    return dict(_CONTEXT.get() or {})


def context_tag(context: dict[str, Any] | None = None) -> str:
    """Return the context as a short text, e.g. ``"disease_progression_hmm, fold 2"`` ('' when empty)."""
    ctx = current_context() if context is None else context
    keys = [k for k in _ORDER if k in ctx] + [k for k in ctx if k not in _ORDER]
    parts = [str(ctx[k]) if k == "model" else f"{k} {ctx[k]}" for k in keys]
    return ", ".join(parts)


class ContextAdapter(logging.LoggerAdapter):
    """A logger adapter that appends ``[model, fold ...]`` to each message and sets ``record.probwb_context``
    (the context dict) and ``record.probwb_model`` / ``record.probwb_fold`` for formatters and filters."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Return the message with the context tag appended, and kwargs with the context in ``extra``."""
        ctx = current_context()
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("probwb_context", ctx)
        extra.setdefault("probwb_model", ctx.get("model"))
        extra.setdefault("probwb_fold", ctx.get("fold"))
        kwargs["extra"] = extra
        tag = context_tag(ctx)
        if tag:
            # with arguments the message is %-formatted later, so a '%' in a model name must be escaped
            msg = f"{msg} [{tag.replace('%', '%%') if kwargs.pop('_has_args', False) else tag}]"
        kwargs.pop("_has_args", None)
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log ``msg % args`` at ``level`` with the context appended; returns None."""
        if self.isEnabledFor(level):
            msg, kwargs = self.process(msg, {**kwargs, "_has_args": bool(args)})
            # the record names the caller's line, not this frame
            kwargs["stacklevel"] = int(kwargs.get("stacklevel", 1)) + 1
            self.logger.log(level, msg, *args, **kwargs)


class ContextFilter(logging.Filter):
    """A handler filter that tags every ``probwb.*`` record with the current context, also from modules that
    log through a plain ``logging.getLogger``; records already tagged by :class:`ContextAdapter` are left as
    they are. The ``probwb`` command puts one on the stderr handler it installs; add one to your own handler
    (``handler.addFilter(ContextFilter())``) to get the same lines in a script."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Append the context tag to a probwb record's message; returns True (never drops a record)."""
        if not record.name.startswith("probwb") or hasattr(record, "probwb_context"):
            return True
        ctx = current_context()
        record.probwb_context = ctx
        record.probwb_model = ctx.get("model")
        record.probwb_fold = ctx.get("fold")
        tag = context_tag(ctx)
        if tag:
            record.msg = f"{record.getMessage()} [{tag}]"
            record.args = None
        return True


def get_logger(name: str) -> ContextAdapter:
    """Return the logger ``name`` wrapped so its lines carry the current model/fold context."""
    return ContextAdapter(logging.getLogger(name), {})
