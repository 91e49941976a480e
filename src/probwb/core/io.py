"""Atomic writes and probwb's model file format (``.pwb``): open, data-only, checked on load.

A ``.pwb`` file is a zip archive holding only data (format version 2, see docs/CONTRACTS.md):

- ``probwb.json``: the format name and version, the model class (one of a fixed set of names), the
  probwb version that wrote it, the constructor configuration and its hash, and the model's learned
  state as JSON (numbers, strings, lists; arrays are references to the members below);
- ``arrays/<name>.npy``: numeric arrays, read with ``numpy.load(..., allow_pickle=False)``;
- ``extras/<name>.bin``: other data blobs, e.g. a posterior (ArviZ InferenceData) as netCDF;
- ``checksum.json``: a SHA-256 over every other member's name and bytes.

Loading never executes code from the file: nothing is unpickled, the class comes from a fixed registry
(the file never names a module to import), the content hash must match, and the model rebuilds itself
through its constructor and validators, so edited numbers that break a constraint (a CPT row that no
longer sums to one) are refused like user input. Files of the old pickle format (v1) are refused
without being read past their header.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import logging
import math
import os
import re
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from probwb.errors import ModelFileError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MODEL_CLASSES",
    "atomic_write_bytes",
    "atomic_write_text",
    "config_hash",
    "idata_from_bytes",
    "idata_to_bytes",
    "load_model",
    "read_model_file",
    "register_model_class",
    "save_model",
]

logger = logging.getLogger("probwb.core")

FORMAT_NAME = "probwb-model"
#: the model file format this probwb writes and the newest it reads
FORMAT_VERSION = 2
_V1_MAGIC = b"PROBWB-MODEL\x00v1\n"
_META = "probwb.json"
_CHECKSUM = "checksum.json"
_MEMBER = re.compile(r"^(arrays/[A-Za-z0-9_-]{1,64}\.npy|extras/[A-Za-z0-9_-]{1,64}\.bin)$")

#: the only classes a model file may name: file name -> (module, attribute), imported from this table
MODEL_CLASSES: dict[str, tuple[str, str]] = {
    "BayesNet": ("probwb.bn.network", "BayesNet"),
    "HMM": ("probwb.hmm.model", "HMM"),
    "MDP": ("probwb.mdp.model", "MDP"),
    "HierarchicalGLM": ("probwb.hier.glm", "HierarchicalGLM"),
    "BetaGeoModel": ("probwb.hier.clv", "BetaGeoModel"),
    "ParetoNBDModel": ("probwb.hier.clv", "ParetoNBDModel"),
    "GammaGammaModel": ("probwb.hier.clv", "GammaGammaModel"),
    "MDPEstimator": ("probwb.mdp.learn", "MDPEstimator"),
    "SpecResults": ("probwb.stats.spec", "SpecResults"),
}

# classes registered at run time by code (plug-in families); a file can name only what the running
# program registered, never a module to import
_EXTRA_CLASSES: dict[str, type] = {}

# zip-bomb guards: members, bytes per member, bytes in all, and the JSON nesting depth
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 4 << 30
MAX_TOTAL_BYTES = 8 << 30
MAX_JSON_BYTES = 256 << 20
_MAX_DEPTH = 64

# temporary files of atomic writes: ".<target>.<pid>.<random>.pwbtmp"; one whose writer is gone, or
# older than this many seconds, is removed by the next write to the same target
STALE_TEMP_SECONDS = 3600.0
_TMP_SUFFIX = ".pwbtmp"


# ----------------------------------------------------------------------------------- atomic writes
def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return False
    return True


def _clean_stale_temps(path: Path, *, max_age: float | None = None) -> list[Path]:
    """Remove temporary files a killed writer left for ``path``; return the ones removed."""
    max_age = STALE_TEMP_SECONDS if max_age is None else max_age
    removed: list[Path] = []
    prefix = f".{path.name}."
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return removed
    now = time.time()
    for p in candidates:
        rest = p.name[len(prefix):]
        if rest.endswith(_TMP_SUFFIX):
            pid_text = rest[: -len(_TMP_SUFFIX)].split(".", 1)[0]
            dead = not (pid_text.isdigit() and _pid_alive(int(pid_text)))
        elif rest.endswith(".tmp"):  # the pattern of earlier probwb versions: no pid to ask
            dead = False
        else:
            continue
        try:
            old = now - p.stat().st_mtime > max_age
            if (dead or old) and p.is_file():
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    if removed:
        logger.info("removed %d stale temporary file(s) of %s left by interrupted writes", len(removed), path)
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and rename; return the path written.

    Temporary files left by a writer that was killed (``kill -9``) are removed by the next write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=path.parent)
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


# ----------------------------------------------------------------------------------- state encoding
class _Writer:
    """Turns a state tree (dicts, lists, tuples, scalars, numpy arrays, pandas frames) into JSON and
    a table of numeric arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, value: Any, where: str = "state", depth: int = 0) -> Any:
        import pandas as pd

        if depth > _MAX_DEPTH:
            raise ModelFileError(f"cannot save {where}: nested more than {_MAX_DEPTH} levels deep")
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, np.generic):
            item = value.item()
            if isinstance(value, np.floating) and not math.isfinite(item):
                item = repr(float(item))
            elif isinstance(item, complex):
                item = [item.real, item.imag]
            return {"__scalar__": str(value.dtype), "value": item}
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biuf" or value.dtype.kind == "c":
                name = f"a{len(self.arrays)}"
                self.arrays[name] = np.asarray(value)
                return {"__array__": name}
            if value.dtype.kind in "OUS":
                return {"__objarray__": [self.encode(v, f"{where}[{i}]", depth + 1)
                                         for i, v in enumerate(value.ravel().tolist())],
                        "shape": list(value.shape), "dtype": "object" if value.dtype.kind == "O" else "str"}
            raise ModelFileError(f"cannot save {where}: arrays of dtype {value.dtype} are not supported")
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]}
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: self.encode(v, f"{where}[{k!r}]", depth + 1) for k, v in value.items()}
            return {"__dict__": [[self.encode(k, where, depth + 1), self.encode(v, f"{where}[{k!r}]", depth + 1)]
                                 for k, v in value.items()]}
        if isinstance(value, pd.DataFrame):
            # column by column, so each keeps its dtype
            return {"__frame__": {"data": [self.encode(value.iloc[:, j].to_numpy(), where, depth + 1)
                                           for j in range(value.shape[1])],
                                  "index": self._index(value.index, where, depth),
                                  "columns": self._index(value.columns, where, depth)}}
        if isinstance(value, pd.Series):
            return {"__series__": {"values": self.encode(value.to_numpy(), where, depth + 1),
                                   "index": self._index(value.index, where, depth),
                                   "name": self.encode(value.name, where, depth + 1)}}
        raise ModelFileError(f"cannot save {where}: values of type {type(value).__name__} are not part of "
                             "probwb's model file format")

    def _index(self, index: Any, where: str, depth: int) -> Any:
        import pandas as pd

        return {"values": self.encode(list(index), where, depth + 2),
                "names": self.encode(list(index.names), where, depth + 2),
                "multi": isinstance(index, pd.MultiIndex)}


_SCALAR_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                  "float16", "float32", "float64", "complex64", "complex128"}


class _Reader:
    """The inverse of :class:`_Writer`; accepts only the tags it writes."""

    def __init__(self, arrays: dict[str, np.ndarray], where: str) -> None:
        self.arrays = arrays
        self.where = where

    def _fail(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.where}: {what}")

    def decode(self, value: Any, depth: int = 0) -> Any:
        import pandas as pd

        if depth > _MAX_DEPTH:
            raise self._fail(f"the state is nested more than {_MAX_DEPTH} levels deep")
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [self.decode(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            raise self._fail(f"unexpected JSON value of type {type(value).__name__}")
        tags = [k for k in value if k.startswith("__")]
        if not tags:
            return {k: self.decode(v, depth + 1) for k, v in value.items()}
        tag = tags[0]
        allowed = {"__float__": {"__float__"}, "__scalar__": {"__scalar__", "value"}, "__array__": {"__array__"},
                   "__objarray__": {"__objarray__", "shape", "dtype"}, "__tuple__": {"__tuple__"},
                   "__dict__": {"__dict__"}, "__frame__": {"__frame__"}, "__series__": {"__series__"}}
        if tag not in allowed or set(value) != allowed[tag]:
            raise self._fail(f"unknown or malformed tagged value with keys {sorted(value)[:5]}")
        body = value[tag]
        try:
            if tag == "__float__":
                if body not in ("nan", "inf", "-inf"):
                    raise self._fail(f"expected 'nan', 'inf' or '-inf', found {body!r}")
                return float(body)
            if tag == "__scalar__":
                if body not in _SCALAR_DTYPES:
                    raise self._fail(f"unsupported scalar dtype {body!r}")
                item = value["value"]
                if isinstance(item, list):
                    item = complex(*item)
                elif isinstance(item, str):
                    item = float(item) if item in ("nan", "inf", "-inf") else None
                if not isinstance(item, bool | int | float | complex):
                    raise self._fail(f"scalar of dtype {body} holds {value['value']!r}")
                return np.dtype(body).type(item)
            if tag == "__array__":
                if not isinstance(body, str) or body not in self.arrays:
                    raise self._fail(f"refers to array {body!r}, which the file does not hold")
                return self.arrays[body]
            if tag == "__objarray__":
                items = [self.decode(v, depth + 1) for v in body]
                shape = tuple(int(s) for s in value["shape"])
                if int(np.prod(shape)) != len(items) or value["dtype"] not in ("object", "str"):
                    raise self._fail(f"object array of shape {shape} holds {len(items)} items")
                out = np.empty(len(items), dtype=object)
                out[:] = items
                out = out.reshape(shape)
                return out.astype(str) if value["dtype"] == "str" else out
            if tag == "__tuple__":
                return tuple(self.decode(v, depth + 1) for v in body)
            if tag == "__dict__":
                out_d = {}
                for pair in body:
                    k, v = pair
                    k = self.decode(k, depth + 1)
                    out_d[k] = self.decode(v, depth + 1)
                return out_d
            if tag == "__series__":
                return pd.Series(self.decode(body["values"], depth + 1), index=self._index(body["index"], depth),
                                 name=self.decode(body["name"], depth + 1))
            cols = self._index(body["columns"], depth)
            data = [self.decode(v, depth + 1) for v in body["data"]]
            if len(cols) != len(data):
                raise self._fail(f"a table has {len(cols)} column names but {len(data)} columns")
            frame = pd.DataFrame(dict(enumerate(data)), index=self._index(body["index"], depth))
            frame.columns = cols
            return frame
        except ModelFileError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise self._fail(f"malformed {tag} value ({exc})") from None

    def _index(self, body: Any, depth: int) -> Any:
        import pandas as pd

        values = self.decode(body["values"], depth + 2)
        names = self.decode(body["names"], depth + 2)
        if body["multi"] is True:
            return pd.MultiIndex.from_tuples(values, names=names)
        return pd.Index(values, name=names[0] if names else None, tupleize_cols=False)


# ----------------------------------------------------------------------------------- posteriors
def idata_to_bytes(idata: Any) -> bytes:
    """Return an ArviZ InferenceData as netCDF bytes (for an ``extras`` member)."""
    with tempfile.TemporaryDirectory(prefix="probwb-nc-") as d:
        p = os.path.join(d, "idata.nc")
        idata.to_netcdf(p, engine="h5netcdf")
        return Path(p).read_bytes()


def idata_from_bytes(blob: bytes, where: str = "model file") -> Any:
    """Return the InferenceData stored by :func:`idata_to_bytes` (netCDF is data: reading it runs no
    code from the file), fully loaded into memory."""
    import arviz as az

    if not blob.startswith(b"\x89HDF\r\n\x1a\n"):
        raise ModelFileError(f"{where}: the posterior is not a netCDF-4 (HDF5) blob")
    with tempfile.TemporaryDirectory(prefix="probwb-nc-") as d:
        p = os.path.join(d, "idata.nc")
        Path(p).write_bytes(blob)
        try:
            with az.rc_context({"data.load": "eager"}):
                idata = az.from_netcdf(p, engine="h5netcdf")
        except Exception as exc:  # noqa: BLE001 - any failure to parse is a damaged file
            raise ModelFileError(f"{where}: the stored posterior cannot be read ({exc})") from None
    return idata


# ----------------------------------------------------------------------------------- save / load
def register_model_class(cls: type, name: str | None = None) -> type:
    """Let model files hold ``cls`` (a plug-in family's model) under ``name`` (default: its class
    name); return ``cls``. The class must define ``_to_file_state`` and ``_from_file_state``."""
    name = cls.__name__ if name is None else name
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name) or name in MODEL_CLASSES:
        raise ModelFileError(f"model class name must be an identifier not among {sorted(MODEL_CLASSES)}, "
                             f"found {name!r}")
    for hook in ("_to_file_state", "_from_file_state"):
        if not callable(getattr(cls, hook, None)):
            raise ModelFileError(f"{cls.__qualname__} cannot be registered: it has no {hook} method")
    _EXTRA_CLASSES[name] = cls
    return cls


def _registry_name(cls: type) -> str:
    for base in cls.__mro__:
        entry = MODEL_CLASSES.get(base.__name__)
        if entry and entry == (base.__module__, base.__name__):
            return base.__name__
        for name, extra in _EXTRA_CLASSES.items():
            if extra is base:
                return name
    raise ModelFileError(f"cannot save a {cls.__module__}.{cls.__qualname__}: expected one of probwb's model "
                         f"classes {sorted(MODEL_CLASSES)}")


def _registered_class(name: str) -> type:
    if name in _EXTRA_CLASSES:
        return _EXTRA_CLASSES[name]
    module, attr = MODEL_CLASSES[name]
    return getattr(importlib.import_module(module), attr)


def _digest(members: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(members):
        data = members[name]
        h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0")
        h.update(data)
    return h.hexdigest()


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def save_model(path: str | os.PathLike, obj: Any, *, config: dict[str, Any] | None = None) -> Path:
    """Write ``obj`` (a probwb model implementing ``_to_file_state``) as a ``.pwb`` file atomically;
    return the path.

    ``obj._to_file_state()`` returns ``(state, extras)``: ``state`` a dict of JSON values, tuples,
    numpy arrays and scalars and pandas DataFrames, ``extras`` a dict name -> bytes.
    """
    from probwb import __version__

    name = _registry_name(type(obj))
    state, extras = obj._to_file_state()
    writer = _Writer()
    cfg = writer.encode(config if config is not None else {}, "config")
    enc_state = writer.encode(state, "state")
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "class": name,
            "probwb_version": __version__, "config": cfg, "config_hash": config_hash(cfg),
            "state": enc_state,
            "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in writer.arrays.items()},
            "extras": sorted(extras)}
    members = {_META: json.dumps(meta, allow_nan=False).encode()}  # key order is part of the state
    for k, arr in writer.arrays.items():
        members[f"arrays/{k}.npy"] = _npy_bytes(arr)
    for k, blob in extras.items():
        member = f"extras/{k}.bin"
        if not _MEMBER.match(member):
            raise ModelFileError(f"cannot save extra {k!r}: names are letters, digits, '_' and '-'")
        members[member] = bytes(blob)
    checksum = {"algorithm": "sha256", "content": _digest(members)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_META, members[_META])
        for member in sorted(members):
            if member != _META:
                zf.writestr(member, members[member])
        zf.writestr(_CHECKSUM, json.dumps(checksum, sort_keys=True))
    return atomic_write_bytes(path, buf.getvalue())


class ModelFile:
    """A verified ``.pwb`` file's contents: ``meta`` (probwb.json), decoded ``config`` and ``state``,
    ``arrays`` and ``extras``."""

    def __init__(self, meta: dict[str, Any], config: Any, state: Any, arrays: dict[str, np.ndarray],
                 extras: dict[str, bytes]) -> None:
        self.meta, self.config, self.state, self.arrays, self.extras = meta, config, state, arrays, extras


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    # read in chunks and count: a header's declared size may lie
    out = bytearray()
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            out += chunk
            if len(out) > limit:
                raise ModelFileError(f"{where}: member {info.filename!r} expands beyond {limit} bytes "
                                     "(a damaged file or a zip bomb)")
    return bytes(out)


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """Read and verify a ``.pwb`` file without building the model; return a :class:`ModelFile`.

    Raises ModelFileError for an unreadable, foreign, old-format, newer-format, damaged or edited file.
    """
    from probwb import __version__

    path = Path(path)
    where = repr(str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {where}: {exc}") from None
    if raw.startswith(_V1_MAGIC):
        raise ModelFileError(
            f"{where} is a probwb model file of the old pickle format (v1), which is no longer loaded because "
            "loading it can run arbitrary code; if you trust where it came from, load it with the probwb "
            "release that wrote it and save it again with this version (or refit the model and save it)")
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise ModelFileError(f"{where} is not a probwb model file (expected a .pwb zip archive, found "
                             f"{raw[:8]!r}...)")
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelFileError(f"{where} is damaged: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ModelFileError(f"{where} has {len(infos)} members, expected at most {MAX_MEMBERS}")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise ModelFileError(f"{where} has duplicate member names")
        bad = [n for n in names if n not in (_META, _CHECKSUM) and not _MEMBER.match(n)]
        if bad:
            raise ModelFileError(f"{where} holds unexpected member name(s) {bad[:3]}: expected only "
                                 f"{_META}, {_CHECKSUM}, arrays/<name>.npy and extras/<name>.bin")
        for needed in (_META, _CHECKSUM):
            if needed not in names:
                raise ModelFileError(f"{where} is not a probwb model file (no {needed} member)")
        if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
            raise ModelFileError(f"{where} declares more than {MAX_TOTAL_BYTES} bytes uncompressed")
        members: dict[str, bytes] = {}
        total = 0
        try:
            for info in infos:
                limit = MAX_JSON_BYTES if info.filename in (_META, _CHECKSUM) else MAX_MEMBER_BYTES
                members[info.filename] = _read_member(zf, info, min(limit, MAX_TOTAL_BYTES - total), where)
                total += len(members[info.filename])
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            raise ModelFileError(f"{where} is damaged: {exc}") from None
    try:
        checksum = json.loads(members.pop(_CHECKSUM))
        expected = checksum["content"] if checksum.get("algorithm") == "sha256" else None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise ModelFileError(f"{where} has a damaged {_CHECKSUM}") from None
    if not isinstance(expected, str) or _digest(members) != expected:
        raise ModelFileError(f"{where} failed its content check (SHA-256 of its members does not match "
                             f"{_CHECKSUM}): the file was edited or damaged after it was saved")
    try:
        meta = json.loads(members[_META])
    except (ValueError, RecursionError):
        raise ModelFileError(f"{where} has a damaged {_META}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{where} is not a probwb model file ({_META} does not say format "
                             f"{FORMAT_NAME!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{where}: format_version must be an integer, found {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where} was written by a newer probwb ({meta.get('probwb_version')!r}) in model file format "
            f"{version}; this probwb ({__version__}) reads formats up to {FORMAT_VERSION}: upgrade probwb")
    if version < FORMAT_VERSION:
        raise ModelFileError(f"{where} uses model file format {version}, which this probwb no longer reads; "
                             "re-save it with the probwb release that wrote it")
    cls_name = meta.get("class")
    if not isinstance(cls_name, str) or (cls_name not in MODEL_CLASSES and cls_name not in _EXTRA_CLASSES):
        raise ModelFileError(f"{where} names model class {cls_name!r}, expected one of "
                             f"{sorted(MODEL_CLASSES) + sorted(_EXTRA_CLASSES)}")
    declared = meta.get("arrays")
    if not isinstance(declared, dict) or not isinstance(meta.get("extras"), list):
        raise ModelFileError(f"{where}: {_META} lacks its array and extra tables")
    arrays: dict[str, np.ndarray] = {}
    extras: dict[str, bytes] = {}
    for member, blob in members.items():
        if member == _META:
            continue
        kind, fname = member.split("/", 1)
        key = fname.rsplit(".", 1)[0]
        if kind == "extras":
            extras[key] = blob
            continue
        try:
            arr = np.load(io.BytesIO(blob), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ModelFileError(f"{where}: array {key!r} cannot be read ({exc})") from None
        spec = declared.get(key)
        if (not isinstance(spec, dict) or spec.get("dtype") != arr.dtype.str
                or spec.get("shape") != list(arr.shape) or arr.dtype.kind not in "biufc"):
            raise ModelFileError(f"{where}: array {key!r} has dtype {arr.dtype.str} and shape {list(arr.shape)}, "
                                 f"which disagrees with {_META} ({spec!r})")
        arrays[key] = arr
    missing = sorted(set(declared) - set(arrays)) + sorted(set(meta["extras"]) - set(extras))
    if missing:
        raise ModelFileError(f"{where} lacks member(s) {missing[:5]} listed in {_META}")
    reader = _Reader(arrays, where)
    config = reader.decode(meta.get("config"))
    state = reader.decode(meta.get("state"))
    if not isinstance(state, dict):
        raise ModelFileError(f"{where}: the model state must be a JSON object, found {type(state).__name__}")
    if meta.get("probwb_version") != __version__:
        logger.warning("%s was saved by probwb %s and is loaded by probwb %s (same file format %d)",
                       where, meta.get("probwb_version"), __version__, version)
    return ModelFile(meta, config, state, arrays, extras)


def load_model(path: str | os.PathLike, expected_class: type | None = None) -> Any:
    """Load a model saved by :func:`save_model` and return it; with ``expected_class`` the file must
    hold that class (or a subclass of it).

    Nothing from the file is executed: the class comes from probwb's fixed registry, the content hash
    is checked, and the model is rebuilt through its constructor and validators
    (``cls._from_file_state(state, extras, config)``), so a parameter that breaks a constraint raises
    ModelFileError naming it.
    """
    mf = read_model_file(path)
    where = repr(str(path))
    cls = _registered_class(mf.meta["class"])
    if expected_class is not None and not issubclass(cls, expected_class):
        raise ModelFileError(f"{where} holds a {mf.meta['class']!r} model, expected {expected_class.__name__!r}")
    from probwb.errors import ProbwbError

    try:
        return cls._from_file_state(mf.state, mf.extras, mf.config)
    except ModelFileError:
        raise
    except ProbwbError as exc:
        raise ModelFileError(f"{where}: the stored {mf.meta['class']} does not pass validation: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(f"{where}: the stored {mf.meta['class']} state is malformed "
                             f"({type(exc).__name__}: {exc})") from None


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
