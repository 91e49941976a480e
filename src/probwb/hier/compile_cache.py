"""An on-disk cache of nutpie's numba-compiled log densities, keyed by the model's graph.

nutpie's numba backend gives the fastest gradients, but numba JIT-compiles the model's log density and
its "expand" function for 4-15 seconds in every new process: numba's own ``cache=True`` cannot store them
because nutpie builds them as closures. PyMC's C backend does not have this problem because PyTensor
keeps compiled C modules on disk. This module does the same for the numba route:

- the key is a SHA-256 of everything the compiled code depends on: a canonical walk of the log-density
  and expand graphs (every op with its properties, every constant's bytes, the names and types of value
  variables and ``pm.Data`` containers), the shapes of the parameters, ``model.check_bounds``, the
  versions of nutpie, PyMC, PyTensor, numba, llvmlite and Python, and the host CPU and its features;
- the value is numba's serialised object code for both C callbacks (the same representation numba's
  own cache uses), plus the layout nutpie needs to call them;
- a graph that cannot be described exactly (an op without ``__props__``, a property printed as a memory
  address) or compiled code that numba itself would refuse to cache (dynamic globals, reload hooks) is
  never stored: such models compile every time, as before.

``pm.Data`` values are not part of the key: nutpie's compiled functions read them at call time, so a model
refitted to new data (same structure, same parameter shapes) reuses the compiled code. The cache lives
in ``$PROBWB_CACHE_DIR`` (default ``~/.cache/probwb``) under ``nutpie-numba/``; set
``PROBWB_COMPILE_CACHE=0`` to turn it off. At most ``MAX_ENTRIES`` entries are kept (least recently used
go first); deleting the folder is always safe.

Integrity: loading object code runs it, and the entries' Python parts are pickles, so an entry is loaded
only when it carries a valid HMAC-SHA256 made with a per-user secret key kept outside the cache folder:
``$PROBWB_CACHE_KEY_DIR/cache.key`` if that is set, else ``$XDG_CONFIG_HOME/probwb/cache.key`` (default
``~/.config/probwb/cache.key``), created with mode 0600 on first use. The tag covers the entry's key and
every byte of it and is checked before anything is unpickled or loaded; an entry that fails the check
(tampered, damaged, written with another key, or of the old unsigned format) is deleted with a logged
warning and the model is compiled again. A key file that others can read or write is not trusted (the
cache is then off, with a warning). Someone who can write the key file can also write your Python
packages; the key protects against writers of the cache folder only.

Not every model can be cached: numba refuses to cache code that embeds process-specific addresses, which
is what PyTensor's numba backend produces for some special functions (the BG/NBD likelihood's, for one).
Such models compile in every process, as without this cache.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import secrets
import stat
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("probwb.hier")

__all__ = ["cache_dir", "model_key", "load", "store", "clear"]

_FORMAT = 2
_MAGIC = b"PROBWB-COMPILE-CACHE\x00v2\n"
_SUFFIX = ".pwbc"
_LOCK = threading.Lock()
# key -> _Entry: code loaded (or compiled) in this process. Loading the same object code twice into one
# process would define its symbols twice, so every later model with that key reuses the first load.
_LOADED: dict[str, _Entry] = {}


class Uncacheable(Exception):
    """The model's graph cannot be described exactly enough to key a cache entry."""


@dataclass
class _Entry:
    logp: Any  # an object with ``.address`` (numba CFunc or _LoadedFunc)
    expand: Any
    meta: dict[str, Any]


class _LoadedFunc:
    """A C callback restored from serialised object code (stands in for numba's ``CFunc``)."""

    def __init__(self, library: Any, wrapper_name: str) -> None:
        self._library = library  # keeps the code alive
        self.address = library.get_pointer_to_function(wrapper_name)


def enabled() -> bool:
    """Return False when ``PROBWB_COMPILE_CACHE`` is set to 0/false/no/off."""
    return os.environ.get("PROBWB_COMPILE_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    """Return the folder holding cached compilations (``$PROBWB_CACHE_DIR/nutpie-numba``)."""
    root = os.environ.get("PROBWB_CACHE_DIR")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "probwb"
    return base / "nutpie-numba"


def clear() -> int:
    """Delete every cached compilation on disk; return how many files were removed."""
    d = cache_dir()
    n = 0
    if d.is_dir():
        for f in [*d.glob(f"*{_SUFFIX}"), *d.glob("*.pkl")]:
            f.unlink(missing_ok=True)
            n += 1
    return n


# --------------------------------------------------------------------------------------------- signing
def key_path() -> Path:
    """Return the per-user secret key file that signs cache entries (kept outside the cache folder)."""
    root = os.environ.get("PROBWB_CACHE_KEY_DIR")
    if root:
        return Path(root) / "cache.key"
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "probwb"
    return base / "cache.key"


def _secret() -> bytes | None:
    """Return the signing key, creating it (mode 0600) on first use; None when it cannot be trusted."""
    path = key_path()
    try:
        if path.resolve().is_relative_to(cache_dir().resolve()):
            logger.warning("compile cache off: its key file %s lies inside the cache folder %s", path, cache_dir())
            return None
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it just now
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secrets.token_bytes(32))
        st = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            logger.warning("compile cache off: key file %s must be a regular file of yours with mode 0600 "
                           "(found mode %o)", path, stat.S_IMODE(st.st_mode))
            return None
        key = path.read_bytes()
    except OSError as exc:
        logger.warning("compile cache off: cannot use the key file %s (%s)", path, exc)
        return None
    if len(key) < 32:
        logger.warning("compile cache off: key file %s holds %d bytes, expected 32", path, len(key))
        return None
    return key


def _tag(secret: bytes, key: str, payload: bytes) -> bytes:
    return hmac.new(secret, _MAGIC + key.encode() + b"\0" + payload, hashlib.sha256).digest()


def _entry_path(key: str) -> Path:
    return cache_dir() / f"{key}{_SUFFIX}"


def _drop(path: Path, why: str) -> None:
    logger.warning("compile cache: deleting entry %s (%s); the model is compiled again", path.name, why)
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


# --------------------------------------------------------------------------------------------- keys
def _canon(value: Any, depth: int = 0) -> Any:
    """A deterministic, address-free description of an op property (raises Uncacheable otherwise)."""
    from pytensor.graph.op import Op
    from pytensor.graph.type import Type

    if depth > 20:
        raise Uncacheable("op properties nest too deeply")
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return (type(value).__name__, value)
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), value.shape, hashlib.sha256(np.ascontiguousarray(value).tobytes())
                .hexdigest())
    if isinstance(value, np.generic):
        return ("npscalar", str(value.dtype), value.item())
    if isinstance(value, np.dtype):
        return ("dtype", str(value))
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(_canon(v, depth + 1) for v in value))
    if isinstance(value, dict):
        items = [(_canon(k, depth + 1), _canon(v, depth + 1)) for k, v in value.items()]
        return ("dict", tuple(sorted(items, key=repr)))
    if isinstance(value, frozenset | set):
        return ("set", tuple(sorted((_canon(v, depth + 1) for v in value), key=repr)))
    if isinstance(value, Op):
        return _op_signature(value, depth + 1)
    if isinstance(value, Type):
        return ("type", type(value).__module__, type(value).__qualname__, str(value))
    if isinstance(value, type):
        return ("class", value.__module__, value.__qualname__)
    text = repr(value)
    if " at 0x" in text or "object at" in text:
        raise Uncacheable(f"op property {text[:80]!r} has no stable description")
    return ("repr", type(value).__module__, type(value).__qualname__, text)


def _callable_signature(f: Any, depth: int) -> tuple:
    """Describe a scalar op's output-type rule: a plain function by name, a rule object by its fields."""
    if f is None:
        return ("none",)
    if hasattr(f, "__code__"):
        return ("fn", f.__module__, f.__qualname__)
    if hasattr(f, "__dict__"):
        return ("rule", type(f).__module__, type(f).__qualname__, _canon(dict(vars(f)), depth + 1))
    raise Uncacheable(f"output-type rule {f!r} has no stable description")


def _op_signature(op: Any, depth: int = 0) -> tuple:
    from pytensor.scalar.basic import Composite, ScalarOp

    cls = type(op)
    props = getattr(op, "__props__", None)
    if props is None and isinstance(op, ScalarOp) and not isinstance(op, Composite):
        # Scalar ops compare equal by class, output-type rule and (for logic ops) their ``bool`` flag.
        return ("scalar", cls.__module__, cls.__qualname__,
                _callable_signature(getattr(op, "output_types_preference", None), depth),
                _canon(getattr(op, "bool", None), depth + 1))
    if props is None:
        # Ops without __props__ compare by identity: their printed name need not describe them fully.
        raise Uncacheable(f"op {cls.__module__}.{cls.__qualname__} has no __props__")
    return ("op", cls.__module__, cls.__qualname__,
            tuple((p, _canon(getattr(op, p), depth + 1)) for p in props))


def _graph_signature(outputs: list[Any]) -> tuple[list[tuple], dict[str, Any]]:
    """Canonical description of the graph computing ``outputs`` and its shared variables by name."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant

    try:
        from pytensor.graph.traversal import graph_inputs, io_toposort
    except ImportError:  # PyTensor before 2.32
        from pytensor.graph.basic import graph_inputs, io_toposort

    ids: dict[Any, int] = {}
    tokens: list[tuple] = []
    shared: dict[str, Any] = {}

    def leaf(var: Any) -> None:
        if var in ids:
            return
        ids[var] = len(ids)
        if isinstance(var, Constant):
            data = np.asarray(var.data)
            digest = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest() \
                if data.dtype != object else _canon(var.data)
            tokens.append(("const", str(var.type), str(data.dtype), data.shape, digest))
        elif isinstance(var, SharedVariable):
            if not var.name or (var.name in shared and shared[var.name] is not var):
                raise Uncacheable(f"shared variable {var.name!r} is unnamed or its name is not unique")
            shared[var.name] = var
            tokens.append(("shared", var.name, str(var.type)))
        else:
            tokens.append(("input", var.name, str(var.type)))

    inputs = list(graph_inputs(outputs))
    for node in io_toposort(inputs, outputs):
        for inp in node.inputs:
            if inp.owner is None:
                leaf(inp)
        tokens.append(("apply", _op_signature(node.op), tuple(ids[i] for i in node.inputs),
                       tuple(str(o.type) for o in node.outputs)))
        for o in node.outputs:
            ids[o] = len(ids)
    for out in outputs:
        if out.owner is None:
            leaf(out)
        tokens.append(("output", ids[out]))
    return tokens, shared


def _environment() -> tuple:
    import llvmlite
    import numba
    import nutpie
    import pymc
    import pytensor
    from llvmlite import binding as ll

    flags = tuple((name, str(getattr(pytensor.config, name, None)))
                  for name in ("floatX", "numba__fastmath", "numba__vectorize_target", "numba__cache"))
    numba_env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("NUMBA_")))
    return (_FORMAT, sys.version, nutpie.__version__, pymc.__version__, pytensor.__version__, numba.__version__,
            llvmlite.__version__, np.__version__, ll.get_host_cpu_name(), ll.get_host_cpu_features().flatten(),
            flags, numba_env)


def model_key(model: Any, shapes: dict[str, tuple[int, ...]]) -> tuple[str, dict[str, Any]]:
    """Return ``(key, shared variables by name)`` for ``model`` whose trace variables have ``shapes``.

    Raises :class:`Uncacheable` when the graph cannot be described exactly.
    """
    free = [(rv.name, model.rvs_to_values[rv].name) for rv in model.free_RVs]
    outputs = [model.logp(), *model.unobserved_value_vars]
    tokens, shared = _graph_signature(outputs)
    shape_items = tuple(sorted((k, tuple(int(s) for s in v)) for k, v in shapes.items()))
    payload = repr((_environment(), bool(model.check_bounds), free, shape_items,
                    [v.name for v in model.unobserved_value_vars], tokens))
    return hashlib.sha256(payload.encode()).hexdigest(), shared


# --------------------------------------------------------------------------------------------- store / load
def _referenced_envs(library: Any) -> list[Any]:
    from numba.core.environment import lookup_environment

    envs = []
    for gv in library._final_module.global_variables:
        if gv.name.startswith("_ZN08NumbaEnv"):
            env = lookup_environment(gv.name)
            if env is not None and env.can_cache():
                envs.append(env)
    return envs


def _serialise(func: Any) -> tuple:
    library = func._library
    if library.has_dynamic_globals or library._reload_init:
        # numba's own cache refuses such code: it holds process-specific addresses.
        raise Uncacheable("the compiled code holds process-specific globals")
    return library.serialize_using_object_code(), func._wrapper_name, pickle.dumps(_referenced_envs(library))


def store(key: str, compiled: Any, shared_names: list[str]) -> bool:
    """Save nutpie's freshly compiled ``compiled`` model under ``key``; return True when written.

    Never raises: a failure to cache only means the next process compiles again.
    """
    from probwb.core.io import atomic_write_bytes

    meta = {"n_dim": int(compiled.n_dim), "n_expanded": int(compiled.n_expanded),
            "shape_info": compiled.shape_info, "user_dtype": compiled.user_data.dtype,
            "shared": list(compiled.shared_data), "shared_ndim": {k: int(v.ndim) for k, v in
                                                                  compiled.shared_data.items()}}
    with _LOCK:
        _LOADED[key] = _Entry(compiled.compiled_logp_func, compiled.compiled_expand_func, meta)
    if not enabled():
        return False
    missing = [n for n in meta["shared"] if n not in shared_names]
    if missing:
        logger.debug("not caching: shared data %s not found in the model graph", missing)
        return False
    secret = _secret()
    if secret is None:
        return False
    try:
        payload = pickle.dumps({"key": key, "meta": meta, "logp": _serialise(compiled.compiled_logp_func),
                                "expand": _serialise(compiled.compiled_expand_func)})
        path = _entry_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, _MAGIC + _tag(secret, key, payload) + payload)
        logger.info("cached nutpie's numba compilation in %s", path)
        _prune(path.parent)
        return True
    except (Uncacheable, OSError, pickle.PicklingError, AttributeError, TypeError) as exc:
        logger.debug("not caching the numba compilation: %s", exc)
        return False


#: the most entries kept on disk (a few hundred kB to a few MB each); the least recently used go first
MAX_ENTRIES = 200


def _prune(folder: Path, keep: int | None = None) -> None:
    keep = MAX_ENTRIES if keep is None else keep
    for old in folder.glob("*.pkl"):  # unsigned entries of the first format are never loaded
        old.unlink(missing_ok=True)
    files = sorted(folder.glob(f"*{_SUFFIX}"), key=lambda f: f.stat().st_mtime, reverse=True)
    for f in files[keep:]:
        f.unlink(missing_ok=True)


def _restore(part: tuple) -> _LoadedFunc:
    from numba.core.registry import cpu_target

    libdata, wrapper_name, envs = part
    ctx = cpu_target.target_context
    ctx.refresh()
    codegen = ctx.codegen()
    library = codegen.unserialize_library(libdata)
    for env in pickle.loads(envs):
        codegen.set_env(env.env_name, env)
    return _LoadedFunc(library, wrapper_name)


def lookup(key: str) -> _Entry | None:
    """Return the compiled functions for ``key`` from this process or the disk cache, or None."""
    if not enabled():
        return None
    with _LOCK:
        entry = _LOADED.get(key)
        if entry is not None:
            return entry
        old = cache_dir() / f"{key}.pkl"
        if old.is_file():
            _drop(old, "unsigned entry of the old format")
        path = _entry_path(key)
        if not path.is_file():
            return None
        secret = _secret()
        if secret is None:
            return None
        try:
            raw = path.read_bytes()
        except OSError as exc:
            logger.warning("compile cache: cannot read %s (%s)", path.name, exc)
            return None
        head = len(_MAGIC) + 32
        if len(raw) <= head or not raw.startswith(_MAGIC):
            _drop(path, "not a signed entry")
            return None
        payload = raw[head:]
        # verified before anything in the entry is unpickled or loaded
        if not hmac.compare_digest(raw[len(_MAGIC):head], _tag(secret, key, payload)):
            _drop(path, "its HMAC does not match: tampered, damaged or signed with another key")
            return None
        try:
            blob = pickle.loads(payload)
            if blob.get("key") != key:
                _drop(path, "it holds another key")
                return None
            entry = _Entry(_restore(blob["logp"]), _restore(blob["expand"]), blob["meta"])
            os.utime(path)  # recently used: kept longest by _prune
        except Exception as exc:  # noqa: BLE001 - a damaged entry is a miss, then rebuilt
            _drop(path, f"unreadable: {exc}")
            return None
        _LOADED[key] = entry
        return entry


def trace_shapes(model: Any, point: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Return the shape of every variable nutpie traces (value variables, free variables, deterministics).

    As ``nutpie.compile_pymc._compute_shapes``, but from an initial ``point`` the caller already has, so
    that loading a cached model compiles one initial-point function, not two (about a third of a second).
    """
    import pytensor
    from pytensor.tensor import as_tensor

    trace_vars = {var.name: var for var in model.value_vars + model.free_RVs + model.deterministics
                  if var not in model.observed_RVs + model.potentials}
    shape_func = pytensor.function(
        inputs=[], outputs=[as_tensor(var.shape) for var in trace_vars.values()],
        givens=([(obs, model.rvs_to_values[obs]) for obs in model.observed_RVs]
                + [(trace_vars[name], point[name]) for name in trace_vars if name in point]),
        mode="FAST_COMPILE", on_unused_input="ignore")
    return {name: tuple(int(s) for s in shape) for name, shape in zip(trace_vars, shape_func(), strict=True)}


def load(model: Any) -> tuple[Any | None, str | None, dict[str, Any]]:
    """Return ``(compiled nutpie model or None, key or None, shared variables)`` for ``model``.

    A None model with a key means "compile, then :func:`store` under this key"; a None key means the
    model cannot be cached.
    """
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _prepare_dims_and_coords,
        _rv_dict_to_flat_array_wrapper,
        _wrap_with_lock,
        make_user_data,
    )
    from pymc.initial_point import make_initial_point_fn

    # The same initial-point function nutpie.compile_pymc_model builds, so a seed gives the same draws
    # whether the code was compiled now or loaded; compiled once here and also used for the key's shapes.
    init_raw = make_initial_point_fn(model=model, overrides=None, default_strategy="support_point",
                                     jitter_rvs=set(model.free_RVs), return_transformed=True)
    try:
        shapes = trace_shapes(model, init_raw(0))
        key, shared = model_key(model, shapes)
    except Uncacheable as exc:
        logger.debug("model not cacheable: %s", exc)
        return None, None, {}
    entry = lookup(key)
    if entry is None:
        return None, key, shared
    meta = entry.meta
    try:
        shared_vars = {name: shared[name] for name in meta["shared"]}
    except KeyError:
        return None, key, shared
    shared_data = {}
    for name, var in shared_vars.items():
        arr = np.array(var.get_value(), order="C", copy=True)
        if arr.ndim != meta["shared_ndim"][name]:
            return None, key, shared
        arr.flags.writeable = False
        shared_data[name] = arr
    user_data = make_user_data(shared_vars, shared_data)
    if user_data.dtype != meta["user_dtype"]:
        return None, key, shared
    init = _wrap_with_lock(init_raw)
    names, _, all_shapes = meta["shape_info"]
    n_free = len(model.free_RVs)
    init_fn = _rv_dict_to_flat_array_wrapper(init, names=list(names[:n_free]),
                                             shapes=[tuple(s) for s in all_shapes[:n_free]])
    dims, coords = _prepare_dims_and_coords(model, meta["shape_info"])
    compiled = CompiledPyMCModel(
        _n_dim=meta["n_dim"], dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*meta["shape_info"], strict=True)},
        compiled_logp_func=entry.logp, compiled_expand_func=entry.expand, initial_point_func=init_fn,
        shared_data=shared_data, user_data=user_data, n_expanded=meta["n_expanded"],
        shape_info=meta["shape_info"], logp_func=None, expand_func=None)
    return compiled, key, shared
