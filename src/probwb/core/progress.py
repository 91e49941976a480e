"""A dependency-free progress indicator for long work (EM, sampling, value iteration, structure search)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


class Progress:
    """A minimal progress bar written to stderr at most every ``min_interval`` seconds."""

    def __init__(self, total: int | None = None, desc: str = "", disable: bool = False,
                 stream: TextIO | None = None, min_interval: float = 0.5) -> None:
        self.total = total
        self.desc = desc
        self.disable = disable or not _is_interactive(stream)
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self.n = 0
        self._start = time.perf_counter()
        self._last = 0.0
        self.postfix = ""

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        """Advance by ``n`` steps and redraw if enough time has passed."""
        self.n += n
        if postfix is not None:
            self.postfix = postfix
        now = time.perf_counter()
        if not self.disable and now - self._last >= self.min_interval:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self._start
        if self.total:
            frac = min(self.n / self.total, 1.0)
            bar = "#" * int(20 * frac) + "-" * (20 - int(20 * frac))
            text = f"\r{self.desc} [{bar}] {self.n}/{self.total} {elapsed:.1f}s {self.postfix}"
        else:
            text = f"\r{self.desc} {self.n} {elapsed:.1f}s {self.postfix}"
        self.stream.write(text[:120])
        self.stream.flush()

    def close(self) -> None:
        """Finish the bar with a newline (when it was shown)."""
        if not self.disable:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_interactive(stream: TextIO | None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "",
             disable: bool = False) -> Iterator[T]:
    """Yield from ``iterable`` while showing progress on an interactive stderr; silent when ``disable``."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    bar = Progress(total=total, desc=desc, disable=disable)
    try:
        for item in iterable:
            yield item
            bar.update()
    finally:
        bar.close()
