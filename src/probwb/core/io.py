"""Atomic writes and self-describing model files.

A saved model records its class, a hash of its configuration and the probwb version, so loading
into a different model class fails clearly instead of producing nonsense.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from probwb.errors import ModelFileError

_MAGIC = b"PROBWB-MODEL\x00v1\n"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and rename; return the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file readable by its owner only; give it the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; return the path written."""
    return atomic_write_bytes(path, text.encode(encoding))


def config_hash(config: dict[str, Any]) -> str:
    """Return a stable short hash of a JSON-serialisable configuration dict."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def save_model(path: str | os.PathLike, obj: Any, *, config: dict[str, Any]) -> Path:
    """Pickle ``obj`` with a header naming its class, config hash and probwb version; return the path."""
    from probwb import __version__

    header = {
        "class": f"{type(obj).__module__}.{type(obj).__qualname__}",
        "config_hash": config_hash(config),
        "probwb_version": __version__,
    }
    payload = _MAGIC + json.dumps(header).encode() + b"\n" + pickle.dumps(obj, protocol=5)
    return atomic_write_bytes(path, payload)


def load_model(path: str | os.PathLike, expected_class: type) -> Any:
    """Load a model saved by :func:`save_model`, checking it is an ``expected_class``; return it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {str(path)!r}: {exc}") from None
    if not raw.startswith(_MAGIC):
        raise ModelFileError(f"{str(path)!r} is not a probwb model file (missing probwb header)")
    rest = raw[len(_MAGIC):]
    nl = rest.find(b"\n")
    try:
        header = json.loads(rest[:nl])
    except (ValueError, TypeError):
        raise ModelFileError(f"{str(path)!r} has a damaged probwb header") from None
    want = f"{expected_class.__module__}.{expected_class.__qualname__}"
    if header.get("class") != want:
        raise ModelFileError(
            f"{str(path)!r} holds a {header.get('class')!r} model, expected {want!r}"
        )
    try:
        obj = pickle.loads(rest[nl + 1:])
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
        raise ModelFileError(f"{str(path)!r} is damaged and cannot be loaded: {exc}") from None
    if not isinstance(obj, expected_class):
        raise ModelFileError(f"{str(path)!r} did not contain a {want!r}")
    return obj


def check_writable(path: str | os.PathLike, *, what: str = "output file") -> Path:
    """Return ``path`` as an absolute Path if a file can be written there, else raise DataError.

    Checked before any long work (a fit, a report run): ``path`` must not be a directory, the nearest
    existing folder above it must be a writable folder (missing folders are created when writing), and
    nothing on the way may be a file. The message names the path, what was expected and what was found.
    """
    from probwb.errors import DataError

    p = Path(path).expanduser()
    if str(path) == "" or p.name in ("", ".", ".."):
        raise DataError(f"{what} {str(path)!r}: expected a file path, found a folder name")
    p = p.absolute()
    if p.is_dir():
        raise DataError(f"{what} {str(p)!r}: expected a file path, found a directory")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise DataError(f"{what} {str(p)!r}: expected a folder above it, found the file {str(parent)!r}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"{what} {str(p)!r}: expected a writable folder, found {str(parent)!r} not writable")
    return p
