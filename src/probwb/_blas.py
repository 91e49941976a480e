"""Give PyTensor a BLAS from the package index, so its C code links to OpenBLAS instead of warning.

PyTensor installed by pip finds no system BLAS on most machines and warns (five lines, once per process)
that "operations that might benefit from BLAS will be severely degraded". probwb depends on the
``scipy-openblas32`` wheel, an OpenBLAS built for Python packaging that exports the Fortran BLAS names with
the prefix ``scipy_``. :func:`configure_pytensor_blas` points PyTensor's ``blas__ldflags`` at that library
and force-includes ``scipy_openblas_names.h`` (``#define dgemm_ scipy_dgemm_`` and so on), so PyTensor's
Gemm/Gemv/Ger/Dot C code links to it.

It runs when ``probwb`` is imported and changes nothing a user chose: a ``blas__ldflags`` given in
``PYTENSOR_FLAGS`` or a ``.pytensorrc`` file wins, and so does a value PyTensor has already computed.
``PROBWB_PYTENSOR_BLAS=0`` turns it off.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["configure_pytensor_blas", "scipy_openblas_ldflags"]

_HEADER = Path(__file__).with_name("scipy_openblas_names.h")


def scipy_openblas_ldflags() -> str | None:
    """Return the ``blas__ldflags`` value that links PyTensor to scipy-openblas32, or None where the wheel
    (or its library, or probwb's name header) is missing or a path would not survive PyTensor's parsing."""
    try:
        spec = importlib.util.find_spec("scipy_openblas32")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    if not lib_dir.is_dir() or not _HEADER.is_file():
        return None
    libs = sorted(p.name for p in lib_dir.iterdir() if p.name.startswith("libscipy_openblas")
                  and p.suffix in (".so", ".dylib"))
    if not libs:
        return None
    # PYTENSOR_FLAGS splits on commas and blas__ldflags on whitespace: such paths cannot be passed through
    if any(c in str(p) for p in (lib_dir, _HEADER) for c in ", \t\"'"):
        return None
    name = libs[0][3:].rsplit(".", 1)[0]
    # pytensor adds -Wl,-rpath for every -L directory, so the compiled modules find the library at run time
    return f"-L{lib_dir} -l{name} -include {_HEADER}"


def _user_config_sets_ldflags() -> bool:
    if "blas__ldflags" in os.environ.get("PYTENSOR_FLAGS", ""):
        return True
    rc = os.environ.get("PYTENSORRC", os.path.expanduser("~/.pytensorrc"))
    for path in rc.split(os.pathsep):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        if "ldflags" in text:
            return True
    return False


def configure_pytensor_blas() -> str | None:
    """Point PyTensor at scipy-openblas32 unless the user configured a BLAS; return the flags set, or None.

    Before PyTensor is imported this adds ``blas__ldflags`` to ``PYTENSOR_FLAGS`` (so child processes get it
    too); after, it sets ``pytensor.config.blas__ldflags`` if PyTensor has not looked for a BLAS yet.
    """
    if os.environ.get("PROBWB_PYTENSOR_BLAS", "1") == "0" or _user_config_sets_ldflags():
        return None
    flags = scipy_openblas_ldflags()
    if flags is None:
        return None
    if "pytensor" not in sys.modules:
        current = os.environ.get("PYTENSOR_FLAGS", "").strip(",")
        os.environ["PYTENSOR_FLAGS"] = f"{current},blas__ldflags={flags}" if current else f"blas__ldflags={flags}"
        return flags
    config = sys.modules["pytensor"].config
    param = getattr(config, "_config_var_dict", {}).get("blas__ldflags")
    if param is None or hasattr(param, "val"):
        return None  # PyTensor already settled on a BLAS (or an empty one) in this process
    config.blas__ldflags = flags
    return flags
