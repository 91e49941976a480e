"""The worked-example notebooks run top to bottom (nbclient, a kernel on this test's own interpreter)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
REQUIRED = ("customer_coupons.ipynb", "healthcare_risk.ipynb")
KERNEL = "probwb-test-venv"


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch) -> str:
    """A kernelspec that launches ipykernel with sys.executable (the venv), found through JUPYTER_PATH."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "probwb test venv", "language": "python",
        "env": {"MPLBACKEND": "Agg"}}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return KERNEL


@pytest.mark.parametrize("name", REQUIRED)
def test_notebook_runs_top_to_bottom(name, tmp_path, venv_kernel):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    path = NOTEBOOKS / name
    assert path.exists(), f"notebooks/{name} is missing"
    nb = nbformat.read(path, as_version=4)
    assert any(c.cell_type == "markdown" for c in nb.cells) and any(c.cell_type == "code" for c in nb.cells)
    # run from notebooks/ as a reader would (the notebooks write no files); the executed copy is discarded
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name=venv_kernel,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    executed = client.execute()
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    # progress never falls back noisily: no tqdm "IProgress not found" nor rich's "install ipywidgets"
    stderr = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("name") == "stderr")
    assert "IProgress" not in stderr and "ipywidgets" not in stderr
    assert all(c.get("execution_count") for c in executed.cells if c.cell_type == "code" and c.source.strip())
