"""probwb: a probabilistic modelling workbench.

Families live in subpackages (``probwb.bn``, ``probwb.hmm``, ``probwb.mdp``, ``probwb.hier``,
``probwb.stats``, ``probwb.evaluate``); heavy dependencies are imported only by the modules
that need them so that ``import probwb`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "bn", "hmm", "mdp", "hier", "stats", "evaluate", "datasets", "diagnostics", "report", "scale",
    "errors", "core", "plots",
}

__all__ = sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"probwb.{name}")
    raise AttributeError(f"module 'probwb' has no attribute {name!r}")
