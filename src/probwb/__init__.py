"""probwb: a probabilistic modelling workbench.

Families live in subpackages (``probwb.bn``, ``probwb.hmm``, ``probwb.mdp``, ``probwb.hier``,
``probwb.stats``, ``probwb.evaluate``); heavy dependencies are imported only by the modules
that need them so that ``import probwb`` stays fast. Plots live in each family's ``plots`` module
(``probwb.bn.plots``, ``probwb.hmm.plots``, ...; ``probwb.hier.clv_plots`` for CLV models) and behind every
estimator's ``plot(kind=...)``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "bn", "hmm", "mdp", "hier", "stats", "evaluate", "datasets", "diagnostics", "report", "scale",
    "errors", "core",
}

__all__ = sorted(_SUBMODULES) + ["__version__", "load"]


def load(path: Any) -> Any:
    """Load a model saved by any probwb model's ``save`` (a ``.pwb`` file) and return it, whatever its
    class; a foreign, damaged, edited or old-format file raises probwb.errors.ModelFileError.

    Loading runs no code from the file (see probwb.core.io); the model's module is imported only now.
    """
    from probwb.core.io import load_model

    return load_model(path)


def _notebook_progress() -> None:
    # In a Jupyter kernel without ipywidgets, tqdm.auto (used by pgmpy) warns "IProgress not found" on
    # first import; importing it once here with that warning silenced makes it fall back to text quietly.
    import sys

    if "ipykernel.zmqshell" in sys.modules:
        from probwb.core.progress import silence_tqdm_notebook_warning

        silence_tqdm_notebook_warning()


_notebook_progress()


def _pytensor_blas() -> None:
    # Before PyTensor is imported (by PyMC, in the modules that sample): link its C code to the OpenBLAS of
    # the scipy-openblas32 wheel, so it neither warns about a missing BLAS nor runs without one.
    from probwb._blas import configure_pytensor_blas

    configure_pytensor_blas()


_pytensor_blas()


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"probwb.{name}")
    raise AttributeError(f"module 'probwb' has no attribute {name!r}")
