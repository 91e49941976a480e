"""Optional dependencies: import them on first use and say how to install them when they are missing.

The default install (``pip install probwb``, what ``make report`` installs) has no PyMC, PyTensor, nutpie or
numba: they weigh about 200 MB (llvmlite alone 170 MB) and only the hierarchical, CLV and Bayesian HMM
models need them. Those models call :func:`require` before their first PyMC import, so a light install
fails with one clear :class:`~probwb.errors.MissingDependencyError` instead of a bare ModuleNotFoundError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from probwb.errors import MissingDependencyError

__all__ = ["EXTRA_OF", "install_hint", "missing_error", "require", "require_bayes"]

#: top-level package -> the probwb extra that installs it
EXTRA_OF: dict[str, str] = {
    "pymc": "bayes",
    "pytensor": "bayes",
    "arviz": "bayes",
    "scipy_openblas32": "bayes",
    # PyTensor needs numba (and so llvmlite): the bayes extra brings both
    "numba": "bayes",
    "llvmlite": "bayes",
    "nutpie": "fast",
    "numpyro": "jax",
    "jax": "jax",
}


def install_hint(package: str) -> str:
    """Return the command that installs ``package``'s extra, e.g. ``pip install "probwb[bayes]"``."""
    extra = EXTRA_OF.get(package.split(".")[0])
    return f'pip install "probwb[{extra}]"' if extra else f"pip install {package.split('.')[0]}"


def missing_error(feature: str, package: str) -> MissingDependencyError:
    """Return the MissingDependencyError for ``feature`` lacking ``package`` (name, feature and command)."""
    root = package.split(".")[0]
    err = MissingDependencyError(
        f"{feature} needs the package {root!r}, which is not installed (expected an importable {root}, "
        f"found none); install it with: {install_hint(root)}")
    err.name = root
    return err


def require(package: str, feature: str) -> ModuleType:
    """Import and return ``package``; raise MissingDependencyError naming ``feature``, the missing package
    (``package`` itself or one it imports, e.g. pytensor under pymc) and the install command."""
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as exc:
        missing = (exc.name or package).split(".")[0]
        if missing not in EXTRA_OF and missing != package.split(".")[0]:
            raise  # a broken install of something else: keep Python's own message
        raise missing_error(feature, missing) from exc


def require_bayes(feature: str) -> ModuleType:
    """Import and return PyMC (which imports PyTensor) for ``feature``, or raise MissingDependencyError with
    ``pip install "probwb[bayes]"``."""
    return require("pymc", feature)
