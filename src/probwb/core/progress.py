"""One progress facility for long work (EM, sampling, value iteration, structure search, report stages).

:class:`Progress` (a context manager) and :func:`progress` (an iterator wrapper) choose how to show
progress once, when the bar is created:

``"widget"``  tqdm's notebook bar, in a Jupyter kernel where ipywidgets is installed;
``"bar"``     tqdm's text bar, on an interactive terminal;
``"lines"``   plain text lines on stderr (no carriage returns, no widgets), in a Jupyter kernel without
              ipywidgets -- so a notebook never shows tqdm's "IProgress not found" warning;
``"log"``     INFO records on the ``probwb.progress`` logger, when stderr is not a terminal (CI, pipes,
              files); they show wherever probwb's logging is shown (the ``probwb`` command shows INFO);
``"off"``     nothing: quiet mode (:func:`configure` ``(quiet=True)``, :func:`quiet`, the ``--quiet``
              option or the ``PROBWB_QUIET`` environment variable), or ``disable=True`` at the call.

``disable=True`` at a call site usually comes from a default (``verbose=False``, ``quiet=True``); under
:func:`verbose` (the ``probwb`` command without ``--quiet``) such work shows its progress anyway.

Short work stays silent: nothing is shown before ``delay`` seconds (default 1 s) have passed, so a
value iteration on a small model prints nothing while one on a large model shows its progress.
``PROBWB_PROGRESS`` (auto, widget, bar, lines, log, off) forces a mode, e.g. ``log`` in a terminal.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

__all__ = ["Progress", "progress", "configure", "quiet", "verbose", "is_quiet", "progress_mode", "sampler_progressbar",
           "in_notebook", "MODES"]

logger = logging.getLogger("probwb.progress")

#: the ways progress can be shown (see the module docstring)
MODES = ("auto", "widget", "bar", "lines", "log", "off")

_TRUE = ("1", "true", "yes", "on")
_DEFAULTS: dict[str, Any] = {"quiet": None, "mode": None, "verbose": None, "delay": 1.0, "interval": 5.0}
_settings: dict[str, Any] = dict(_DEFAULTS)


def configure(*, quiet: bool | None = None, mode: str | None = None, verbose: bool | None = None,
              delay: float | None = None, interval: float | None = None) -> None:
    """Set probwb's progress display for this process: ``quiet=True`` silences every bar and progress line;
    ``verbose=True`` shows progress even where a call disabled it by default; ``mode`` forces one of
    :data:`MODES` (``None`` or ``"auto"`` chooses from the environment); ``delay`` is how many seconds work
    runs before its progress shows (default 1) and ``interval`` the least time between two text lines or
    log records (default 5). ``None`` leaves a setting as it is. Returns None."""
    from probwb.errors import SpecError

    for key, number in (("delay", delay), ("interval", interval)):
        if number is not None:
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not number >= 0:
                raise SpecError(f"progress configure({key}=...) must be a number of seconds >= 0, "
                                f"found {number!r}")
            _settings[key] = float(number)

    for key, value in (("quiet", quiet), ("verbose", verbose)):
        if value is not None:
            if not isinstance(value, bool):
                raise SpecError(f"progress configure({key}=...) must be True or False, found {value!r}")
            _settings[key] = value
    if mode is not None:
        if mode not in MODES:
            raise SpecError(f"progress mode must be one of {', '.join(MODES)}, found {mode!r} "
                            "(in probwb.core.progress.configure)")
        _settings["mode"] = None if mode == "auto" else mode


@contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Within the ``with`` block, silence all progress (``enabled=False`` turns it back on); yields None."""
    before = _settings["quiet"]
    _settings["quiet"] = bool(enabled)
    try:
        yield
    finally:
        _settings["quiet"] = before


@contextmanager
def verbose(enabled: bool = True) -> Iterator[None]:
    """Within the ``with`` block, show progress even of work whose call disabled it by default (quiet
    still wins); yields None. The ``probwb`` command runs specs this way unless ``--quiet`` is given."""
    before = _settings["verbose"]
    _settings["verbose"] = bool(enabled)
    try:
        yield
    finally:
        _settings["verbose"] = before


def is_quiet() -> bool:
    """Return True when progress is silenced by :func:`configure`/:func:`quiet` or ``PROBWB_QUIET``."""
    if _settings["quiet"] is not None:
        return bool(_settings["quiet"])
    return os.environ.get("PROBWB_QUIET", "").strip().lower() in _TRUE


def in_notebook() -> bool:
    """Return True when running inside a Jupyter kernel (not a terminal IPython or qtconsole)."""
    if "ipykernel.zmqshell" not in sys.modules:
        return False
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    name = type(shell).__name__.lower() if shell is not None else ""
    return "zmq" in name and "qt" not in name


def _has_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _env_mode() -> str | None:
    value = os.environ.get("PROBWB_PROGRESS", "").strip().lower()
    return value if value in MODES and value != "auto" else None


def progress_mode(stream: TextIO | None = None, disable: bool = False) -> str:
    """Return how progress would be shown now: ``"widget"``, ``"bar"``, ``"lines"``, ``"log"`` or ``"off"``."""
    if is_quiet() or (disable and not _settings["verbose"]):
        return "off"
    forced = _settings["mode"] or _env_mode()
    if forced is not None:
        return "lines" if forced == "widget" and not _has_ipywidgets() else forced
    if stream is None and in_notebook():
        return "widget" if _has_ipywidgets() else "lines"
    target = stream if stream is not None else sys.stderr
    isatty = getattr(target, "isatty", None)
    try:
        tty = bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        tty = False
    return "bar" if tty else "log"


def sampler_progressbar(requested: bool | None = None) -> bool:
    """Return the ``progressbar=`` to give PyMC/nutpie: True only where a live bar can show (a terminal, or
    Jupyter with ipywidgets) and progress is not silenced, never where it would warn about ipywidgets."""
    return progress_mode(disable=requested is False) in ("bar", "widget")


def silence_tqdm_notebook_warning() -> None:
    """In a Jupyter kernel without ipywidgets, import ``tqdm.auto`` once with its "IProgress not found"
    warning suppressed: tqdm then falls back to its text bar for every library (pgmpy) that uses it.
    Returns None; does nothing outside Jupyter or when ipywidgets is installed."""
    if not in_notebook() or _has_ipywidgets() or "tqdm.autonotebook" in sys.modules:
        return
    try:
        from tqdm import TqdmWarning
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=TqdmWarning)
        import tqdm.auto  # noqa: F401


class Progress:
    """Progress of one piece of long work; use as ``with Progress(total, desc) as bar: ... bar.update()``.

    ``total`` (None when unknown) and ``desc`` describe the work; ``update(n, postfix)`` advances it and
    shows ``postfix`` (e.g. ``"log-likelihood -1234.5"``). ``disable=True`` silences this bar; ``stream``
    (default stderr) is where a text bar or lines go. Nothing shows before ``delay`` seconds; after that a
    text line or log record appears at most every ``min_interval`` seconds (defaults: :func:`configure`).
    """

    def __init__(self, total: int | None = None, desc: str = "", disable: bool = False,
                 stream: TextIO | None = None, min_interval: float | None = None, delay: float | None = None,
                 mode: str | None = None) -> None:
        from probwb.core.logcontext import context_tag

        self.total = total
        self.desc = desc
        # the model / fold this work belongs to, as the report runner and cross-validation set them
        self.tag = context_tag()
        self.n = 0
        self.postfix = ""
        self.min_interval = float(_settings["interval"] if min_interval is None else min_interval)
        self.delay = float(_settings["delay"] if delay is None else delay)
        self.stream = stream
        self.mode = progress_mode(stream, disable)
        if mode is not None and self.mode != "off":
            self.mode = mode
        if self.mode == "widget" and not _has_ipywidgets():
            self.mode = "lines"
        self.disable = self.mode == "off"
        self._start = time.perf_counter()
        self._last: float | None = None
        self._shown = False
        self._closed = False
        self._bar: Any = None
        if self.mode in ("bar", "widget"):
            self._bar = self._make_tqdm()
            if self._bar is None:
                self.mode = "log" if self.mode == "bar" else "lines"

    def _make_tqdm(self) -> Any:
        try:
            if self.mode == "widget":
                from tqdm.notebook import tqdm as bar_class
            else:
                from tqdm.std import tqdm as bar_class
        except ImportError:
            return None
        return bar_class(total=self.total, desc=self._label() or None, file=self.stream or sys.stderr,
                         delay=self.delay, leave=True, dynamic_ncols=True)

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        """Advance by ``n`` steps (and set the postfix text); returns None."""
        self.n += n
        if postfix is not None:
            self.postfix = postfix
        if self.disable:
            return
        if self._bar is not None:
            if postfix is not None:
                self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._start < self.delay:
            return
        if self._last is None or now - self._last >= self.min_interval:
            self._last = now
            self._emit(self._text(now))

    def _label(self) -> str:
        return f"{self.desc} [{self.tag}]" if self.tag else self.desc

    def _text(self, now: float) -> str:
        what = self._label() or "progress"
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        extra = f", {self.postfix}" if self.postfix else ""
        return f"{what}: {count} ({now - self._start:.1f} s{extra})"

    def _emit(self, text: str) -> None:
        self._shown = True
        if self.mode == "lines":
            stream = self.stream or sys.stderr
            stream.write(text + "\n")
            stream.flush()
        else:
            logger.info("%s", text)

    def close(self) -> None:
        """Finish: close the bar, or write a last line when earlier lines were shown; returns None."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif not self.disable and self._shown:
            self._emit(self._text(time.perf_counter()) + " done")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "",
             disable: bool = False, **kwargs: Any) -> Iterator[T]:
    """Yield from ``iterable`` while showing its progress (see :class:`Progress`); silent when ``disable``
    or when progress is quiet. Extra keyword arguments go to :class:`Progress`."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    bar = Progress(total=total, desc=desc, disable=disable, **kwargs)
    try:
        for item in iterable:
            yield item
            bar.update()
    finally:
        bar.close()
