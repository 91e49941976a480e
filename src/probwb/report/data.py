"""The ``data:`` section of a model spec: check it, load it, summarise it and hash it.

A spec names its data in one of two ways::

    data: {source: simulate_patient_cohort, args: {n_patients: 5000, random_state: 7}, table: patients}
    data: {source: csv, path: visits.csv, args: {sep: ";"}}

``source`` is a public ``probwb.datasets`` function (``simulate_*`` or ``load_*``) or ``csv`` / ``parquet``.
Everything that can be checked without loading (unknown source, misspelt argument, wrong argument type,
unknown table, missing file) is checked by :func:`check_data_section`, so a bad spec fails before any work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.validation import closest_match, short_repr
from probwb.errors import DataError, SpecError

__all__ = [
    "DATA_KEYS",
    "FILE_SOURCES",
    "DATA_EXTENSIONS",
    "check_data_extension",
    "LoadedData",
    "check_data_section",
    "data_sources",
    "load_data",
    "summarise_table",
    "data_hash",
]

#: keys allowed in a spec's ``data:`` section: key -> (types, description)
DATA_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "source": (str, "a probwb.datasets function (simulate_* / load_*), or 'csv' / 'parquet'"),
    "args": (dict, "keyword arguments for the function (or for pandas.read_csv / read_parquet)"),
    "table": (str, "which table of the returned object to use, when it holds several"),
    "path": (str, "file to read when source is csv or parquet (relative to the spec file)"),
}

FILE_SOURCES = ("csv", "parquet")


def data_sources() -> dict[str, Callable[..., Any]]:
    """Return the ``probwb.datasets`` functions a spec may name as its ``source``."""
    import probwb.datasets as ds

    names = getattr(ds, "__all__", dir(ds))
    return {n: getattr(ds, n) for n in names
            if n.startswith(("simulate_", "load_")) and callable(getattr(ds, n, None))}


def _reader(source: str) -> Callable[..., Any]:
    return pd.read_csv if source == "csv" else pd.read_parquet


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return getattr(t, "__name__", str(t))


def _simple_types(annotation: Any) -> tuple[type, ...] | None:
    """Return the plain classes an annotation allows, or None when it is too rich to check cheaply."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        out: list[type] = []
        for arg in typing.get_args(annotation):
            sub = _simple_types(arg)
            if sub is None:
                return None
            out.extend(sub)
        return tuple(out)
    if annotation is None or annotation is type(None):
        return (type(None),)
    if isinstance(annotation, type) and origin is None:
        return (annotation,)
    return None


def value_matches(value: Any, allowed: type | tuple[type, ...]) -> bool:
    """Return True when ``value`` is of an allowed type (ints count as floats; bools never as numbers)."""
    allowed_t = allowed if isinstance(allowed, tuple) else (allowed,)
    if isinstance(value, bool):
        return bool in allowed_t or object in allowed_t
    if isinstance(value, int) and float in allowed_t:
        return True
    if isinstance(value, (np.random.Generator,)) and np.random.Generator in allowed_t:
        return True
    return isinstance(value, allowed_t)


def _check_args(func: Callable[..., Any], args: dict[str, Any], where: str, label: str) -> None:
    sig = inspect.signature(func)
    params = sig.parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items()
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable annotations only mean we skip type checks
        hints = {}
    for key, value in args.items():
        path = f"{where}.{key}"
        if key not in named:
            if takes_kwargs:
                continue
            hit = closest_match(key, named)
            hint = f" (did you mean {where}.{hit}?)" if hit else ""
            raise SpecError(f"{path}: {label} has no argument {key!r}{hint}; "
                            f"its arguments are {', '.join(named) or 'none'}")
        allowed = _simple_types(hints.get(key)) if key in hints else None
        if allowed and not value_matches(value, allowed):
            raise SpecError(f"{path} must be {_type_name(allowed)}, found {type(value).__name__} "
                            f"{short_repr(value)}")


def _table_fields(func: Callable[..., Any]) -> list[str] | None:
    """Return the DataFrame fields of the dataclass ``func`` returns, or None when it returns one table."""
    try:
        ret = typing.get_type_hints(func).get("return")
    except Exception:  # noqa: BLE001
        return None
    if isinstance(ret, type) and dataclasses.is_dataclass(ret):
        return [f.name for f in dataclasses.fields(ret)]
    return None


def resolve_path(path: str, base_dir: str | os.PathLike | None) -> Path:
    """Return ``path`` resolved against the spec's folder when it exists there, else the working folder."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    if base_dir is not None and (Path(base_dir) / p).exists():
        return (Path(base_dir) / p).resolve()
    return p.resolve()


#: file name endings a data file may have, per source (compressed csv files are read by pandas as they are)
DATA_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "csv": tuple(f"{ext}{z}" for ext in (".csv", ".tsv", ".txt", ".dat")
                 for z in ("", ".gz", ".bz2", ".zip", ".xz", ".zst")),
    "parquet": (".parquet", ".pq", ".parq"),
}


def check_data_extension(path: str | os.PathLike, source: str, *, where: str = "data.path") -> None:
    """Raise SpecError unless ``path`` ends like a ``source`` data file (``.csv``, ``.tsv``, ``.parquet``, ...).

    A spec may read any data file on the system into a report that is then shared; requiring a data
    extension (checked on the resolved path, so a link named ``x.csv`` to a key file is refused too)
    keeps key files, shell histories and the like out of reports.
    """
    name = Path(path).name.lower()
    allowed = DATA_EXTENSIONS.get(source, ())
    if not name.endswith(allowed):
        shown = ", ".join(e for e in allowed if "." not in e[1:]) or "none"
        raise SpecError(f"{where}: a {source} source reads data files ending in {shown} (or compressed "
                        f"csv/tsv), found {str(path)!r}; other files are not read into reports")


def check_data_section(data: Any, *, base_dir: str | os.PathLike | None = None,
                       where: str = "data") -> dict[str, Any]:
    """Check a spec's ``data:`` section without loading anything; return it normalised.

    The returned copy has ``args`` filled in (``{}``) and a relative ``path`` made absolute. Raises
    SpecError naming the key path and the nearest valid key or value.
    """
    if not isinstance(data, dict):
        raise SpecError(f"{where} must be a mapping with keys {', '.join(DATA_KEYS)}, "
                        f"found {type(data).__name__}")
    for key, value in data.items():
        if key not in DATA_KEYS:
            hit = closest_match(str(key), DATA_KEYS)
            hint = f" (did you mean {where}.{hit}?)" if hit else ""
            raise SpecError(f"{where}.{key}: unknown key{hint}; valid keys are {', '.join(DATA_KEYS)}")
        allowed = DATA_KEYS[key][0]
        if not value_matches(value, allowed):
            raise SpecError(f"{where}.{key} must be {_type_name(allowed)} ({DATA_KEYS[key][1]}), "
                            f"found {type(value).__name__} {short_repr(value)}")
    if "source" not in data:
        raise SpecError(f"{where}.source is missing: name a probwb.datasets function or 'csv' / 'parquet'")
    out = dict(data)
    out["args"] = dict(data.get("args") or {})
    source = data["source"]
    if source in FILE_SOURCES:
        if "path" not in data:
            raise SpecError(f"{where}.path is missing: source {source!r} reads a file, so give its path")
        full = resolve_path(data["path"], base_dir).resolve()
        check_data_extension(full, source, where=f"{where}.path")
        if not full.is_file():
            raise SpecError(f"{where}.path: file {data['path']!r} not found (looked for {str(full)!r})")
        out["path"] = str(full)
        _check_args(_reader(source), out["args"], f"{where}.args", f"pandas.read_{source}")
        if "table" in data:
            raise SpecError(f"{where}.table: a {source} file holds one table; remove 'table'")
        return out
    sources = data_sources()
    if source not in sources:
        valid = list(sources) + list(FILE_SOURCES)
        hit = closest_match(source, valid)
        hint = f" (did you mean {hit!r}?)" if hit else ""
        raise SpecError(f"{where}.source: unknown data source {source!r}{hint}; "
                        f"expected one of {', '.join(valid)}")
    if "path" in data:
        raise SpecError(f"{where}.path is only used with source 'csv' or 'parquet', not {source!r}")
    func = sources[source]
    _check_args(func, out["args"], f"{where}.args", f"probwb.datasets.{source}")
    fields = _table_fields(func)
    if "table" in data:
        if fields is None:
            raise SpecError(f"{where}.table: {source}() returns a single object, so 'table' does not apply")
        if data["table"] not in fields:
            hit = closest_match(data["table"], fields)
            hint = f" (did you mean {hit!r}?)" if hit else ""
            raise SpecError(f"{where}.table: {source}() has no table {data['table']!r}{hint}; "
                            f"tables: {', '.join(fields)}")
    return out


@dataclass
class LoadedData:
    """What a ``data:`` section loaded: the raw object, the table the model uses, and every table by name."""

    obj: Any
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    selected: str | None = None
    other: dict[str, str] = field(default_factory=dict)

    @property
    def frame(self) -> pd.DataFrame | None:
        """The table the spec selected (or the only one), else None."""
        if self.selected is not None:
            return self.tables.get(self.selected)
        if len(self.tables) == 1:
            return next(iter(self.tables.values()))
        return None


def load_data(data: dict[str, Any], *, base_dir: str | os.PathLike | None = None) -> LoadedData:
    """Load a (checked) ``data:`` section; return a :class:`LoadedData`.

    ``data["table"]``, when given, selects one table; every DataFrame of the returned object is kept in
    ``tables`` for the data summary. A reader failure raises DataError naming the file.
    """
    data = check_data_section(data, base_dir=base_dir)
    source = data["source"]
    if source in FILE_SOURCES:
        try:
            frame = _reader(source)(data["path"], **data["args"])
        except (OSError, ValueError, ImportError) as exc:
            raise DataError(f"data.path: cannot read {source} file {data['path']!r}: {exc}") from None
        name = Path(data["path"]).name
        return LoadedData(obj=frame, tables={name: frame}, selected=name)
    obj = data_sources()[source](**data["args"])
    tables: dict[str, pd.DataFrame] = {}
    other: dict[str, str] = {}
    if isinstance(obj, pd.DataFrame):
        tables[source] = obj
        selected: str | None = source
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, pd.DataFrame):
                tables[f.name] = value
            else:
                other[f.name] = type(value).__name__
        selected = data.get("table")
        if selected is not None and selected not in tables:
            raise DataError(f"data.table: {selected!r} of {source}() is a {other.get(selected)}, "
                            "not a table")
    else:
        other[source] = f"{type(obj).__name__}: {obj}"
        selected = None
    return LoadedData(obj=obj, tables=tables, selected=selected, other=other)


def summarise_table(frame: pd.DataFrame, *, head: int = 5) -> dict[str, Any]:
    """Return rows, columns, a per-column table (dtype, missing, distinct, range or top levels) and a head."""
    cols = []
    for name in frame.columns:
        s = frame[name]
        entry: dict[str, Any] = {"column": str(name), "dtype": str(s.dtype),
                                 "missing": int(s.isna().sum()), "distinct": int(s.nunique(dropna=True))}
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            nonnull = s.dropna()
            entry["summary"] = (f"min {nonnull.min():.4g}, mean {nonnull.mean():.4g}, max {nonnull.max():.4g}"
                                if len(nonnull) else "all missing")
        else:
            top = s.astype("object").value_counts(dropna=True).head(3)
            entry["summary"] = ", ".join(f"{k} ({v})" for k, v in top.items())
            if entry["distinct"] > 3:
                entry["summary"] += ", ..."
        cols.append(entry)
    return {"rows": int(len(frame)), "columns": int(frame.shape[1]),
            "dtypes": pd.DataFrame(cols), "head": frame.head(head).reset_index(drop=True)}


def data_hash(loaded: LoadedData) -> str:
    """Return a short SHA-256 of every table's columns, dtypes and values (the same data, the same hash)."""
    h = hashlib.sha256()
    for name in sorted(loaded.tables):
        frame = loaded.tables[name]
        h.update(name.encode())
        h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
        h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    for name in sorted(loaded.other):
        value = getattr(loaded.obj, name, loaded.obj)
        if isinstance(value, (str, os.PathLike)) and Path(value).is_file():
            h.update(Path(value).read_bytes())
        else:
            h.update(f"{name}={loaded.other[name]}".encode())
    return h.hexdigest()[:16]
