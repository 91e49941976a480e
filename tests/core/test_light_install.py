"""The light install (#20): `pip install probwb` has no PyMC, PyTensor, nutpie or numba.

A subprocess blocks those packages with an import hook (as if they were not installed) and runs the default
report; the PyMC models there must fail with MissingDependencyError naming the install command. An AST scan
checks that no module of src/ imports them at import time without a guard, so the light install keeps working.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from probwb.core.deps import install_hint, require
from probwb.errors import MissingDependencyError, ProbwbError

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "probwb"
HEAVY = ("pymc", "pytensor", "nutpie", "numba", "llvmlite")
# modules whose top-level numba import is the point: each is imported only after checking numba is there
COMPILED_ONLY = {"mdp/_fused.py", "hmm/_nb.py"}

BLOCKER = f"""
import sys
BLOCKED = {HEAVY!r}
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
for mod in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
    del sys.modules[mod]
"""

LIGHT_RUN = BLOCKER + """
import json, pandas as pd, numpy as np
import probwb, probwb._blas
from probwb.cli import main
from probwb.errors import MissingDependencyError
out = {}
out["report_rc"] = main(["report", "models/coupon_redemption_network.yaml", "--quick", "--quiet",
                         "-o", sys.argv[1]])
out["validate_rc"] = main(["validate", "models/hospital_risk_hier.yaml"])
from probwb.hier.glm import HierarchicalGLM
from probwb.hmm.bayes import BayesianHMM
rng = np.random.default_rng(0)
df = pd.DataFrame({"y": rng.integers(0, 2, 40), "x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)})
seqs = pd.DataFrame({"id": np.repeat(np.arange(5), 6), "count": rng.poisson(2, 30)})
for name, call in [("glm", lambda: HierarchicalGLM("y ~ x + (1 | g)").fit(df, draws=10, tune=10, chains=1)),
                   ("hmm", lambda: BayesianHMM(2).fit(seqs))]:
    try:
        call()
        out[name] = "no error"
    except MissingDependencyError as exc:
        out[name] = str(exc)
    except Exception as exc:
        out[name] = f"{type(exc).__name__}: {exc}"
out["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps(out))
"""


def test_default_report_runs_without_pymc_numba_and_bayes_models_say_how_to_install(tmp_path):
    html = tmp_path / "bn.html"
    done = subprocess.run([sys.executable, "-c", LIGHT_RUN, str(html)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["report_rc"] == 0 and html.stat().st_size > 10_000, done.stderr[-3000:]
    assert out["loaded"] == []
    # validate names the missing package and the command, in one line
    assert out["validate_rc"] == 2
    line = [ln for ln in (done.stdout + done.stderr).splitlines() if "'hier'" in ln and "install" in ln]
    assert len(line) == 1 and 'pip install "probwb[bayes]"' in line[0] and "pymc" in line[0], done.stderr
    for name, cls in (("glm", "HierarchicalGLM"), ("hmm", "BayesianHMM")):
        assert cls in out[name] and "'pymc'" in out[name] and 'pip install "probwb[bayes]"' in out[name], out


def test_missing_dependency_error_is_importerror_and_probwb_error():
    with pytest.raises(MissingDependencyError) as info:
        require("probwb_no_such_package_xyz", "a test feature")
    err = info.value
    assert isinstance(err, ImportError) and isinstance(err, ProbwbError) and isinstance(err, ValueError)
    assert err.name == "probwb_no_such_package_xyz" and "a test feature" in str(err)
    assert install_hint("pytensor.tensor") == 'pip install "probwb[bayes]"'
    assert install_hint("nutpie") == 'pip install "probwb[fast]"'


def _unguarded_heavy_imports(path: Path, root: Path = SRC) -> list[str]:
    # an import of a heavy package is fine inside a function or class body, or in a try whose handlers catch
    # ImportError (the module then works without it); anything else runs at import time, unguarded
    tree = ast.parse(path.read_text(), filename=str(path))
    bad: list[str] = []

    def guarded(handlers: list[ast.ExceptHandler]) -> bool:
        names = set()
        for h in handlers:
            for node in ast.walk(h.type) if h.type is not None else [ast.Name("BaseException")]:
                if isinstance(node, ast.Name):
                    names.add(node.id)
        return bool(names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})

    def visit(nodes: list[ast.stmt], safe: bool) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not safe:
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                bad.extend(f"{path.relative_to(root).as_posix()}:{node.lineno} {m}" for m in mods
                           if m.split(".")[0] in HEAVY)
            if isinstance(node, ast.Try):
                visit(node.body, safe or guarded(node.handlers))
                for part in (node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                    visit(part, safe)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                continue
            elif isinstance(node, ast.If) and _checks_presence(node.test):
                # `if numba is not None:` / `if HAVE_NUMBA:` after a guarded import: runs only when present
                visit(node.body, True)
                visit(node.orelse, safe)
            else:
                for field in ("body", "orelse"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                        visit(inner, safe)

    visit(tree.body, False)
    return bad


def _checks_presence(test: ast.expr) -> bool:
    names = [n.id for n in ast.walk(test) if isinstance(n, ast.Name)]
    return any(n in HEAVY or n.startswith("HAVE_") for n in names)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def test_no_module_imports_pymc_pytensor_nutpie_numba_at_import_time():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 30
    bad = [b for f in files if f.relative_to(SRC).as_posix() not in COMPILED_ONLY
           for b in _unguarded_heavy_imports(f)]
    assert bad == [], f"unguarded top-level imports of {HEAVY}: {bad}"
    # the compiled-only modules are imported only inside functions or guarded blocks elsewhere
    for name in COMPILED_ONLY:
        dotted = "probwb." + name[:-3].replace("/", ".")
        for f in files:
            tree = ast.parse(f.read_text())
            top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
            for n in top:
                mods = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""]
                assert dotted not in mods, f"{f.relative_to(SRC)} imports {dotted} at import time"


def test_scanner_flags_an_unguarded_import(tmp_path):
    # the scan must be able to fail: an unguarded top-level import is caught, guarded/inner ones are not
    fake = tmp_path / "_scan_probe_tmp.py"
    fake.write_text("import os\nimport numba\ntry:\n    import pymc\nexcept ImportError:\n    pymc = None\n"
                    "def f():\n    import pytensor\nif pymc is not None:\n    import pymc.math\n"
                    "else:\n    import nutpie\nif True:\n    from llvmlite import binding\n")
    found = _unguarded_heavy_imports(fake, tmp_path)
    assert found == ["_scan_probe_tmp.py:2 numba", "_scan_probe_tmp.py:12 nutpie",
                     "_scan_probe_tmp.py:14 llvmlite"]
