"""The top-level schema of a model spec (``models/*.yaml``) and its validation.

A spec is checked completely before any work starts: every unknown key is reported with its key path and
the nearest valid key ("model.n_state: unknown key (did you mean model.n_states?)"), every wrong type with
what was expected and found. The ``model:`` section (and ``fit:`` / ``evaluate:`` / ``tests:`` when the
family describes them) is checked against the family's own ``SPEC_KEYS``; the family module is found
through :mod:`probwb.report.registry`, so a family that is not installed fails here with a clear message.

A family's ``SPEC_KEYS`` is either flat, ``{key: (types, description)}`` for the ``model:`` section, or by
section, ``{"model": {...}, "fit": {...}, "evaluate": {...}, "tests": {...}}``. A family may also define
``FIT_KEYS``, ``EVALUATE_KEYS``, ``TEST_KEYS`` and a ``validate_spec(spec)`` for checks that need more than
key names and types.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from probwb.core.validation import closest_match, short_repr
from probwb.errors import DataError, SpecError
from probwb.report.data import _type_name, check_data_section, value_matches
from probwb.report.registry import KINDS, dependency_problems, family_module

__all__ = [
    "TOP_KEYS",
    "REPORT_KEYS",
    "SECTIONS",
    "ValidatedSpec",
    "load_spec",
    "validate_spec",
    "spec_problems",
    "check_spec",
    "spec_error",
    "formula_columns",
    "formula_column_problems",
    "check_keys",
    "check_name",
    "safe_stem",
    "spec_size",
]

KeySpec = dict[str, Any]

TOP_KEYS: KeySpec = {
    "name": (str, "short identifier; by convention the file stem"),
    "title": (str, "the report's title"),
    "description": (str, "one paragraph for a reader: what is modelled and why"),
    "data": (dict, "where the data come from: source, args, table, path"),
    "model": (dict, "kind (bn | hmm | mdp | hier | clv | stats) and the family's own settings"),
    "fit": (dict, "fit settings (sampler, draws, chains, seed, ...), as the family defines them"),
    "evaluate": (dict, "evaluation settings (splitter, metrics, ...), as the family defines them"),
    "tests": (list, "statistical tests to run (each a mapping), as the family defines them"),
    "report": (dict, "report options: sections, max_rows"),
}

#: report sections, in the order they appear; the diagnostics banner and warnings always show.
SECTIONS: tuple[str, ...] = ("overview", "findings", "data", "parameters", "figures", "tests", "metrics",
                             "tables", "diagnostics", "warnings")

REPORT_KEYS: KeySpec = {
    "sections": (list, f"which sections to show, from: {', '.join(SECTIONS)}"),
    "max_rows": (int, "longest table shown in the HTML (the JSON keeps every row); default 60"),
    "units": (dict, "unit of each column, e.g. {spend: EUR, length_of_stay: days}: shown in table headers"),
}

_FAMILY_SECTIONS = ("model", "fit", "evaluate", "tests")


def _entry_types(entry: Any) -> Any:
    """Return the allowed types of a SPEC_KEYS entry ``(types, description)``, or None if unchecked."""
    if isinstance(entry, tuple) and entry and (isinstance(entry[0], type) or isinstance(entry[0], tuple)):
        return entry[0]
    if isinstance(entry, type):
        return entry
    return None


def _entry_description(entry: Any) -> str:
    if isinstance(entry, tuple) and len(entry) > 1 and isinstance(entry[1], str):
        return f" ({entry[1]})"
    return ""


def check_keys(section: Any, keys: KeySpec, where: str, *, ignore: tuple[str, ...] = (),
               problems: list[str] | None = None) -> None:
    """Check ``section`` at ``where`` for unknown keys and wrongly typed values; returns None.

    Raises SpecError at the first problem, or, when a ``problems`` list is given, appends every problem
    to it and goes on."""

    def fail(message: str) -> None:
        if problems is None:
            raise SpecError(message)
        problems.append(message)

    if not isinstance(section, dict):
        fail(f"{where} must be a mapping, found {type(section).__name__} {short_repr(section)}")
        return
    valid = [k for k in keys if k not in ignore] + list(ignore)
    for key, value in section.items():
        path = f"{where}.{key}" if where else str(key)
        if key in ignore:
            continue
        if key not in keys:
            hit = closest_match(str(key), valid)
            hint = f" (did you mean {where + '.' if where else ''}{hit}?)" if hit else ""
            fail(f"{path}: unknown key{hint}; valid keys here: {', '.join(map(str, valid))}")
            continue
        allowed = _entry_types(keys[key])
        if allowed is not None and not value_matches(value, allowed):
            fail(f"{path} must be {_type_name(allowed)}{_entry_description(keys[key])}, "
                 f"found {type(value).__name__} {short_repr(value)}")


def family_keys(module: ModuleType) -> dict[str, KeySpec | None]:
    """Return, per spec section (model, fit, evaluate, tests), the family's allowed keys or None (any)."""
    keys = module.SPEC_KEYS
    by_section = [k for k in _FAMILY_SECTIONS if isinstance(keys.get(k), dict)]
    if by_section:
        out: dict[str, KeySpec | None] = {k: keys.get(k) if isinstance(keys.get(k), dict) else None
                                          for k in _FAMILY_SECTIONS}
        if out["model"] is None:
            out["model"] = {}
    else:
        out = {"model": keys, "fit": None, "evaluate": None, "tests": None}
    for sec, attr in (("fit", "FIT_KEYS"), ("evaluate", "EVALUATE_KEYS"), ("tests", "TEST_KEYS")):
        extra = getattr(module, attr, None)
        if out[sec] is None and isinstance(extra, dict):
            out[sec] = extra
    return out


@dataclass
class ValidatedSpec:
    """A spec that passed validation: the normalised dict, its family module and where it came from."""

    spec: dict[str, Any]
    kind: str
    module: ModuleType
    path: Path | None = None

    @property
    def name(self) -> str:
        """The spec's name."""
        return self.spec["name"]

    @property
    def title(self) -> str:
        """The spec's title (its name when it has none)."""
        return self.spec.get("title") or self.spec["name"]


#: most alias uses (``*name``) a spec file may hold; real specs use a handful at most
MAX_ALIASES = 100
#: most values (scalars, list items, mapping entries) a spec may hold once its aliases are expanded
MAX_SPEC_VALUES = 100_000
#: the largest spec file read, in bytes
MAX_SPEC_BYTES = 1_000_000


def spec_size(value: Any, *, where: str = "spec", limit: int = MAX_SPEC_VALUES) -> int:
    """Return how many values ``value`` holds with shared parts counted each time they appear.

    Counted without expanding anything (each distinct object is visited once), so a YAML "billion laughs"
    costs microseconds; raises SpecError when the count exceeds ``limit`` or the value contains itself.
    """
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(v: Any) -> int:
        if not isinstance(v, (dict, list, tuple)):
            return 1
        key = id(v)
        if key in memo:
            return memo[key]
        if key in active:
            raise SpecError(f"{where} refers to itself (a recursive YAML alias); expected a finite tree")
        active.add(key)
        items = list(v.keys()) + list(v.values()) if isinstance(v, dict) else list(v)
        total = 1 + sum(size(x) for x in items)
        active.discard(key)
        memo[key] = total
        return total

    n = size(value)
    if n > limit:
        raise SpecError(f"{where} expands to {n:,} values, expected at most {limit:,} "
                        "(nested YAML aliases multiply; write the values out or use fewer aliases)")
    return n


def load_spec(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML spec file; return the mapping. Unreadable files, bad YAML and duplicate keys raise SpecError.

    Aliases are bounded (at most ``MAX_ALIASES`` uses, and at most ``MAX_SPEC_VALUES`` values once
    expanded), so a few hundred bytes of nested aliases cannot make validation or a report hang.
    """
    import yaml

    class _StrictLoader(yaml.SafeLoader):
        n_aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.events.AliasEvent):
                self.n_aliases += 1
                if self.n_aliases > MAX_ALIASES:
                    mark = self.peek_event().start_mark
                    raise SpecError(f"{str(path)!r} line {mark.line + 1}: more than {MAX_ALIASES} YAML aliases "
                                    "(*name); expected a plain spec")
            return super().compose_node(parent, index)

    def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise SpecError(f"{str(path)!r} line {line}: key {short_repr(key)} appears twice in the same "
                                "mapping")
            seen[key] = loader.construct_object(value_node, deep=True)
        return seen

    _StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    p = Path(path)
    try:
        if p.is_file() and p.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(f"spec file {str(p)!r} is {p.stat().st_size:,} bytes, expected at most "
                            f"{MAX_SPEC_BYTES:,}")
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {str(p)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"spec file {str(p)!r} is not UTF-8 text") from None
    try:
        spec = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SpecError(f"{str(p)!r} is not valid YAML: {exc}") from None
    except RecursionError:
        raise SpecError(f"{str(p)!r} is nested too deeply to be a spec") from None
    if not isinstance(spec, dict):
        raise SpecError(f"{str(p)!r} must hold a mapping (name:, model:, ...), found {type(spec).__name__}")
    spec_size(spec, where=repr(str(p)))
    return spec


#: what a spec name may look like: it becomes a file stem, so no folders, no leading dot
_NAME_RE = re.compile(r"^[\w][\w .+-]{0,99}$")


def check_name(name: Any, where: str = "name") -> str:
    """Return ``name`` if it is a safe file stem (letters, digits, ``_ - . +`` and spaces, no folder
    separators, not starting with a dot, at most 100 characters), else raise SpecError saying why."""
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{where} must be a non-empty string, found {short_repr(name)}")
    if not _NAME_RE.match(name) or name.strip() != name:
        raise SpecError(f"{where}: {short_repr(name)} cannot be a file stem: expected letters, digits, "
                        "'_', '-', '.', '+' or spaces (no '/', '\\', leading dot or surrounding spaces, "
                        "at most 100 characters), because output files are named after it")
    return name


def safe_stem(name: Any, fallback: str = "model") -> str:
    """Return a file stem made from ``name``: unsafe characters become '_', folders are dropped."""
    text = str(name) if name is not None else ""
    text = re.sub(r"[^\w.+-]+", "_", text.replace("\\", "/").split("/")[-1]).strip("._ ")
    return text[:100] or fallback


def validate_spec(spec: dict[str, Any] | str | os.PathLike, *, base_dir: str | os.PathLike | None = None,
                  check_data: bool = True, check_columns: bool = False) -> ValidatedSpec:
    """Check a spec (a dict, or a path to a YAML file) completely without running it; return it validated.

    Raises one SpecError listing every problem found (one per line, the first first; also as the error's
    ``problems`` list): unknown keys (with the nearest valid one), wrong types, missing required keys, an
    unknown model kind or unavailable family, a bad data section, the family's own checks, and with
    ``check_columns=True`` (which loads the data) formula columns missing from the data.
    """
    validated, problems = _check_spec(spec, base_dir=base_dir, check_data=check_data,
                                      check_columns=check_columns)
    if problems or validated is None:
        raise spec_error(problems or ["the spec could not be validated"])
    return validated


def spec_problems(spec: dict[str, Any] | str | os.PathLike, *, base_dir: str | os.PathLike | None = None,
                  check_data: bool = True, check_columns: bool = True) -> list[str]:
    """Return every problem of a spec as a list of messages (empty when it is valid), without raising.

    With ``check_columns`` (the default here) the data are loaded to check that every column a formula
    names exists."""
    return _check_spec(spec, base_dir=base_dir, check_data=check_data, check_columns=check_columns)[1]


def check_spec(spec: dict[str, Any] | str | os.PathLike, *, base_dir: str | os.PathLike | None = None,
               check_data: bool = True, check_columns: bool = True) -> tuple[ValidatedSpec | None, list[str]]:
    """Return ``(validated spec, [])`` for a valid spec, else ``(None, every problem)``; never raises
    SpecError (see :func:`validate_spec` for what is checked)."""
    return _check_spec(spec, base_dir=base_dir, check_data=check_data, check_columns=check_columns)


def spec_error(problems: list[str]) -> SpecError:
    """Return a SpecError whose message holds every problem, one per line, and whose ``problems`` is the list."""
    err = SpecError("\n".join(problems))
    err.problems = list(problems)  # type: ignore[attr-defined]
    return err


def _check_spec(spec: dict[str, Any] | str | os.PathLike, *, base_dir: str | os.PathLike | None,
                check_data: bool, check_columns: bool) -> tuple[ValidatedSpec | None, list[str]]:
    problems: list[str] = []
    path: Path | None = None
    try:
        if isinstance(spec, (str, os.PathLike)):
            path = Path(spec)
            spec = load_spec(path)
            base_dir = base_dir if base_dir is not None else path.parent
        if not isinstance(spec, dict):
            raise SpecError(f"a spec must be a mapping, found {type(spec).__name__}")
        spec_size(spec)
    except SpecError as exc:
        return None, [str(exc)]  # an unreadable file or a bomb: nothing further can be checked
    spec = copy.deepcopy(spec)

    def attempt(check: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except SpecError as exc:
            problems.extend(getattr(exc, "problems", None) or [str(exc)])
            return None

    check_keys(spec, TOP_KEYS, "", problems=problems)
    if "name" not in spec:
        if path is None:
            problems.append("name is missing: give the spec a name (by convention its file stem)")
        else:
            spec["name"] = path.stem
    if "name" in spec and isinstance(spec["name"], str):
        attempt(check_name, spec["name"])
    model = spec.get("model")
    module: ModuleType | None = None
    kind: Any = None
    if "model" not in spec:
        problems.append("model is missing: a spec needs model: {kind: ..., ...}; "
                        f"kinds: {', '.join(sorted(KINDS))}")
    elif isinstance(model, dict):
        if "kind" not in model:
            problems.append(f"model.kind is missing: expected one of {', '.join(sorted(KINDS))}")
        else:
            kind = model["kind"]
            module = attempt(family_module, kind)
    n_before_family = len(problems)
    if module is not None:
        keys = family_keys(module)
        check_keys(model, keys["model"] or {}, "model", ignore=("kind",), problems=problems)
        for section in ("fit", "evaluate"):
            if isinstance(spec.get(section), dict) and keys[section] is not None:
                check_keys(spec[section], keys[section], section, problems=problems)
        if isinstance(spec.get("tests"), list):
            for i, item in enumerate(spec["tests"]):
                if not isinstance(item, dict):
                    problems.append(f"tests[{i}] must be a mapping (one test), found {type(item).__name__} "
                                    f"{short_repr(item)}")
                elif keys["tests"] is not None:
                    check_keys(item, keys["tests"], f"tests[{i}]", problems=problems)
    family_ok = len(problems) == n_before_family
    if isinstance(spec.get("fit"), dict):
        for key in ("random_state", "seed"):
            value = spec["fit"].get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                problems.append(f"fit.{key} must be a non-negative integer, found {type(value).__name__} "
                                f"{short_repr(value)}")
    report = spec.get("report", {})
    if isinstance(report, dict):
        check_keys(report, REPORT_KEYS, "report", problems=problems)
        sections = report.get("sections", [])
        for i, sec in enumerate(sections if isinstance(sections, list) else []):
            if sec not in SECTIONS:
                hit = closest_match(short_repr(sec), SECTIONS)
                hint = f" (did you mean {hit!r}?)" if hit else ""
                problems.append(f"report.sections[{i}]: unknown section {short_repr(sec)}{hint}; "
                                f"sections: {', '.join(SECTIONS)}")
        max_rows = report.get("max_rows")
        if isinstance(max_rows, int) and not isinstance(max_rows, bool) and max_rows < 1:
            problems.append(f"report.max_rows must be at least 1, found {max_rows}")
        units = report.get("units")
        for col, unit in (units.items() if isinstance(units, dict) else []):
            if not isinstance(unit, str) or not unit.strip():
                problems.append(f"report.units.{col}: expected a unit name (text such as 'days'), found "
                                f"{short_repr(unit)}")
    data_ok = False
    if isinstance(spec.get("data"), dict) and check_data:
        checked = attempt(check_data_section, spec["data"], base_dir=base_dir)
        if checked is not None:
            spec["data"] = checked
            data_ok = True
    extra = getattr(module, "validate_spec", None) if module is not None else None
    # the family's own checks assume its sections are well formed, so they run only when they are
    if callable(extra) and family_ok:
        attempt(extra, spec)
    if module is not None and family_ok:
        # a light install (no PyMC) fails here, before any data is loaded, with the install command
        problems.extend(dependency_problems(kind, spec))
    if check_columns and data_ok and module is not None and not problems:
        problems.extend(formula_column_problems(spec, base_dir=base_dir))
    if problems or module is None:
        return None, problems
    return ValidatedSpec(spec=spec, kind=kind, module=module, path=path), problems


#: names in a formula that are functions or constants, not columns
_FORMULA_WORDS = {"True", "False", "None", "and", "or", "not", "in", "is", "if", "else"}
_IDENT = re.compile(r"(?<![\w.'\"])([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\s*(?:\(|=(?!=)))?")


def formula_columns(formula: str) -> list[str]:
    """Return the column names a formula refers to, in order: every identifier that is not called as a
    function (``C(x)``, ``np.log(x)`` and ``trials(n)`` name the columns x and n), not a keyword argument
    (``reference=``) and not a keyword."""
    out: list[str] = []
    for name, call in _IDENT.findall(formula):
        if call or name in _FORMULA_WORDS or "." in name:
            continue
        if name not in out:
            out.append(name)
    return out


def _formulas(spec: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(where, formula, table) for each formula in the spec: ``model.formula`` and ``tests[i].args.formula``."""
    found: list[tuple[str, str, str | None]] = []
    model = spec.get("model") or {}
    if isinstance(model.get("formula"), str):
        found.append(("model.formula", model["formula"], None))
    for i, item in enumerate(spec.get("tests") or []):
        args = item.get("args") if isinstance(item, dict) else None
        if isinstance(args, dict) and isinstance(args.get("formula"), str):
            table = item.get("table") if isinstance(item.get("table"), str) else None
            found.append((f"tests[{i}].args.formula", args["formula"], table))
    return found


def formula_column_problems(spec: dict[str, Any], *, base_dir: str | os.PathLike | None = None,
                            loaded: Any = None) -> list[str]:
    """Return one message per formula column missing from the table it is fitted to (the data are loaded
    unless ``loaded``, a :class:`~probwb.report.data.LoadedData`, is given); empty when all are present."""
    formulas = _formulas(spec)
    if not formulas or "data" not in spec:
        return []
    if loaded is None:
        from probwb.report.data import load_data

        try:
            loaded = load_data(spec["data"], base_dir=base_dir)
        except (SpecError, DataError) as exc:
            return [f"data: could not be loaded to check the formula columns: {exc}"]
    problems = []
    for where, formula, table in formulas:
        frame = loaded.tables.get(table) if table is not None else loaded.frame
        if frame is None or not hasattr(frame, "columns"):
            continue
        columns = [str(c) for c in frame.columns]
        label = f"table {table or loaded.selected!r}" if (table or loaded.selected) else "the data"
        for name in formula_columns(formula):
            if name not in columns:
                hit = closest_match(name, columns)
                hint = f" (did you mean {hit!r}?)" if hit else ""
                problems.append(f"{where}: column {name!r} is not in {label}{hint}; "
                                f"columns: {', '.join(columns)}")
    return problems
