"""Reading Bayesian networks from BIF text (the format of the bnlearn repository), without pgmpy.

:func:`parse_bif` reads the blocks with a few compiled regular expressions and every number of a
table with one numpy conversion, so a large network (pathfinder, munin) is read in milliseconds
where pgmpy's grammar-based reader takes seconds. It reads what pgmpy's ``BIFReader`` reads, with
the same meaning (a ``table`` entry lists the node's states slowest, as pgmpy reshapes it), and
says where a file is malformed: the line, what was expected and what was found.
"""

from __future__ import annotations

import re

import numpy as np

from probwb.errors import SpecError

__all__ = ["BIFNetwork", "parse_bif"]

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_SPACE = re.compile(r"\s*")
_NETWORK = re.compile(r"network\s+[^{]*\{[^{}]*\}")
_VARIABLE = re.compile(
    r"variable\s+(?P<name>[^{}]+?)\s*\{\s*(?P<pre>[^{}]*?)\btype\s+discrete\s*\[\s*(?P<n>\d+)\s*\]\s*"
    r"\{(?P<states>[^{}]*)\}\s*;(?P<post>[^{}]*)\}")
_PROBABILITY = re.compile(r"probability\s*\((?P<head>[^(){}]*)\)\s*\{(?P<body>[^{}]*)\}")
_KEYWORD = re.compile(r"(network|variable|probability)\b")
_ROW = re.compile(r"\s*\((?P<states>[^()]*)\)(?P<values>[^()]*)")


class BIFNetwork:
    """A parsed BIF file: node names (file order), states, parents and CPTs.

    ``cpts[name]`` has shape ``(*parent cards, card)`` with parents in ``parents[name]`` order.
    """

    def __init__(self, names: list[str], states: dict[str, list[str]], parents: dict[str, list[str]],
                 cpts: dict[str, np.ndarray]) -> None:
        self.names = names
        self.states = states
        self.parents = parents
        self.cpts = cpts


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _snippet(text: str, pos: int) -> str:
    end = text.find("\n", pos)
    piece = text[pos:end if end >= 0 else len(text)].strip()
    return repr(piece[:60] + ("..." if len(piece) > 60 else "")) if piece else "the end of the file"


def _split_names(raw: str) -> list[str]:
    parts = raw.split(",") if "," in raw else raw.split()
    return [p.strip() for p in parts if p.strip()]


def parse_bif(text: str, source: str = "<string>") -> BIFNetwork:
    """Return the network described by the BIF ``text``; ``source`` names it in error messages.

    Raises SpecError naming the line, what was expected and what was found when a block is
    malformed, a table has the wrong number of entries or a non-numeric one, a row names an
    unknown state or parent configuration, a configuration is missing (and no ``default`` row
    covers it) or given twice, or a node has no probability block (or two).
    """
    if "/" in text:
        # comments become blank space with their line breaks kept, so line numbers stay right
        text = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    if '"' in text:
        text = text.replace('"', " ")
    where = f"network file {source}"
    names: list[str] = []
    states: dict[str, list[str]] = {}
    blocks: list[tuple[str, list[str], str, int]] = []
    pos = _SPACE.match(text, 0).end()
    n = len(text)
    while pos < n:
        kw = _KEYWORD.match(text, pos)
        if kw is None:
            raise SpecError(f"{where}, line {_line(text, pos)}: expected a 'network', 'variable' or "
                            f"'probability' block, found {_snippet(text, pos)}")
        word = kw.group(1)
        if word == "network":
            m = _NETWORK.match(text, pos)
            if m is None:
                raise SpecError(f"{where}, line {_line(text, pos)}: expected 'network NAME {{ ... }}', "
                                f"found {_snippet(text, pos)}")
        elif word == "variable":
            m = _VARIABLE.match(text, pos)
            if m is None:
                raise SpecError(f"{where}, line {_line(text, pos)}: expected 'variable NAME {{ type "
                                f"discrete [ n ] {{ state, ... }}; }}', found {_snippet(text, pos)}")
            name = m.group("name").strip()
            st = _split_names(m.group("states"))
            if len(st) != int(m.group("n")):
                raise SpecError(f"{where}, line {_line(text, pos)}: variable {name!r} declares "
                                f"{m.group('n')} states but lists {len(st)}: {st}")
            if len(set(st)) != len(st):
                raise SpecError(f"{where}, line {_line(text, pos)}: variable {name!r} lists a state "
                                f"twice: {st}")
            if name in states:
                raise SpecError(f"{where}, line {_line(text, pos)}: variable {name!r} is declared twice")
            names.append(name)
            states[name] = st
        else:
            m = _PROBABILITY.match(text, pos)
            if m is None:
                raise SpecError(f"{where}, line {_line(text, pos)}: expected 'probability ( NODE | "
                                f"PARENT, ... ) {{ entries; }}', found {_snippet(text, pos)}")
            head = m.group("head")
            if "|" in head:
                node, rest = head.split("|", 1)
                node, pas = node.strip(), _split_names(rest)
            else:
                # the old form without '|': the node, then its parents
                words = head.split()
                if not words:
                    raise SpecError(f"{where}, line {_line(text, pos)}: a probability block names no "
                                    "node")
                node, pas = words[0], words[1:]
            blocks.append((node, pas, m.group("body"), m.start("body")))
        pos = _SPACE.match(text, m.end()).end()
        if pos < n and text[pos] == ";":  # a stray ';' after a block is tolerated, as pgmpy does
            pos = _SPACE.match(text, pos + 1).end()

    parents: dict[str, list[str]] = {}
    cpts: dict[str, np.ndarray] = {}
    index = {name: {s: k for k, s in enumerate(st)} for name, st in states.items()}
    for node, pas, body, at in blocks:
        line = _line(text, at)
        for u in (node, *pas):
            if u not in states:
                raise SpecError(f"{where}, line {line}: probability block of {node!r} names "
                                f"{u!r}, which is not a declared variable")
        if node in cpts:
            raise SpecError(f"{where}, line {line}: a second probability block for {node!r}")
        if len(set(pas)) != len(pas):
            raise SpecError(f"{where}, line {line}: {node!r} lists a parent twice: {pas}")
        cpts[node] = _table(text, body, at, node, pas, states, index, where)
        parents[node] = pas
    missing = [u for u in names if u not in cpts]
    if missing:
        raise SpecError(f"{where}: variable(s) {missing} have no probability block")
    return BIFNetwork(names, states, parents, cpts)


def _numbers(text: str, raw: str, at: int, where: str) -> np.ndarray:
    try:
        return np.array(raw.replace(",", " ").split(), dtype=float)
    except ValueError:
        for tok in raw.replace(",", " ").split():
            try:
                float(tok)
            except ValueError:
                off = text.find(tok, at)
                raise SpecError(f"{where}, line {_line(text, off)}: expected a probability, found "
                                f"{tok!r}") from None
        raise


def _table(text: str, body: str, at: int, node: str, pas: list[str], states: dict[str, list[str]],
           index: dict[str, dict[str, int]], where: str) -> np.ndarray:
    """The CPT of ``node`` (shape ``(*parent cards, card)``) from its block ``body`` (at ``at``)."""
    card = len(states[node])
    pcards = [len(states[p]) for p in pas]
    n_cfg = int(np.prod(pcards, dtype=np.int64))
    out = np.empty((n_cfg, card))
    seen = np.zeros(n_cfg, dtype=bool)
    default = None
    strides = np.cumprod([1, *pcards[::-1]])[:-1][::-1]
    offset = at
    rows: list[int] = []
    row_values: list[str] = []
    row_at: list[int] = []
    for entry in body.split(";"):
        start = offset + len(entry) - len(entry.lstrip())
        offset += len(entry) + 1
        item = entry.strip()
        if not item:
            continue
        if item.startswith("table") and (len(item) == 5 or not item[5].isalnum()):
            vals = _numbers(text, item[5:], start, where)
            if vals.size != n_cfg * card:
                raise SpecError(f"{where}, line {_line(text, start)}: the table of {node!r} needs "
                                f"{n_cfg * card} entries ({card} states x {n_cfg} parent "
                                f"configurations), found {vals.size}")
            # pgmpy's reading: the node's state varies slowest
            out[:] = vals.reshape(card, n_cfg).T
            seen[:] = True
        elif item.startswith("default") and (len(item) == 7 or not item[7].isalnum()):
            default = _numbers(text, item[7:], start, where)
            if default.size != card:
                raise SpecError(f"{where}, line {_line(text, start)}: the default row of {node!r} "
                                f"needs {card} entries, found {default.size}")
        elif item.startswith("("):
            m = _ROW.match(item)
            if m is None:
                raise SpecError(f"{where}, line {_line(text, start)}: expected '(parent states) "
                                f"probabilities', found {item[:60]!r}")
            cfg = _split_names(m.group("states"))
            if len(cfg) != len(pas):
                raise SpecError(f"{where}, line {_line(text, start)}: a row of {node!r} must name "
                                f"{len(pas)} parent state(s) ({pas}), found {cfg}")
            flat = 0
            for p, s, stride in zip(pas, cfg, strides, strict=True):
                k = index[p].get(s)
                if k is None:
                    raise SpecError(f"{where}, line {_line(text, start)}: parent {p!r} of {node!r} "
                                    f"has no state {s!r}; states: {states[p]}")
                flat += k * int(stride)
            rows.append(flat)
            row_values.append(m.group("values"))
            row_at.append(start)
        elif item.startswith("property"):
            continue
        else:
            raise SpecError(f"{where}, line {_line(text, start)}: expected 'table', 'default' or a "
                            f"'(parent states)' row in the probability block of {node!r}, found "
                            f"{item[:60]!r}")
    if rows:
        # every row's numbers in one conversion; the counts are checked row by row after
        vals = _numbers(text, " ".join(row_values), row_at[0], where)
        if vals.size != len(rows) * card:
            for raw, start in zip(row_values, row_at, strict=True):
                k = len(raw.replace(",", " ").split())
                if k != card:
                    raise SpecError(f"{where}, line {_line(text, start)}: a row of {node!r} needs "
                                    f"{card} probabilities (one per state), found {k}")
        idx = np.asarray(rows, dtype=np.int64)
        if seen[idx].any() or np.unique(idx).size != idx.size:
            dup = int(idx[np.flatnonzero(seen[idx] | _repeated(idx))[0]])
            cfg = [states[p][(dup // int(s)) % c] for p, s, c in zip(pas, strides, pcards, strict=True)]
            raise SpecError(f"{where}, line {_line(text, at)}: the probability block of {node!r} "
                            f"gives parent configuration {cfg} twice")
        out[idx] = vals.reshape(len(rows), card)
        seen[idx] = True
    if not seen.all():
        if default is None:
            miss = int(np.flatnonzero(~seen)[0])
            cfg = [states[p][(miss // int(s)) % c] for p, s, c in zip(pas, strides, pcards, strict=True)]
            raise SpecError(f"{where}, line {_line(text, at)}: the probability block of {node!r} has "
                            f"no row for parent configuration {dict(zip(pas, cfg, strict=True))} "
                            f"({int((~seen).sum())} of {n_cfg} missing) and no default row")
        out[~seen] = default
    return out.reshape(*pcards, card)


def _repeated(idx: np.ndarray) -> np.ndarray:
    """Which entries of ``idx`` repeat an earlier one."""
    _, first = np.unique(idx, return_index=True)
    rep = np.ones(idx.size, dtype=bool)
    rep[first] = False
    return rep
