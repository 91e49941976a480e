"""PyTensor links to the OpenBLAS of the scipy-openblas32 wheel (probwb._blas), so sampling neither warns
about a missing BLAS nor logs another library's warning under a probwb logger name (issue #20)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("pymc")

# A fresh interpreter: PyTensor looks for a BLAS once per process, and this test process may have
# imported it already. It records every warning and every log record from the first import on.
_CHILD = r"""
import json, logging, warnings
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append({"name": record.name, "level": record.levelname, "msg": record.getMessage()})
root = logging.getLogger()
root.addHandler(Keep())
root.setLevel(logging.DEBUG)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numpy as np
    import probwb
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt
    from probwb.hier import backend
    rng = np.random.default_rng(__SEED__)
    X = rng.normal(size=(__N__, 3))
    with pm.Model() as model:
        beta = pm.Normal("beta", 0, 1, shape=3)
        pm.Normal("y", pm.math.dot(X, beta), 1.0, observed=X @ np.array([0.5, -1.0, 2.0]) + rng.normal(size=__N__))
    idata = backend.sample(model, draws=100, tune=100, chains=1, random_state=__SEED__, progressbar=False)
    A, v = pt.dmatrix("A"), pt.dvector("v")
    f = pytensor.function([A, v], [pt.dot(A, A.T), pt.dot(A, v)])
    a, b = rng.normal(size=(__N__, __N__)), rng.normal(size=__N__)
    out = f(a, b)
print(json.dumps({
    "ldflags": pytensor.config.blas__ldflags,
    "ops": sorted({type(node.op).__name__ for node in f.maker.fgraph.apply_nodes}),
    "err": [float(np.abs(out[0] - a @ a.T).max()), float(np.abs(out[1] - a @ b).max())],
    "beta": idata.posterior["beta"].mean(("chain", "draw")).values.tolist(),
    "warnings": [{"category": w.category.__name__, "module": w.filename, "msg": str(w.message)} for w in caught],
    "records": records,
}))
"""


def test_mcmc_fit_links_a_blas_and_relabels_nothing(tmp_path):
    seed, n = 7, 60
    code = _CHILD.replace("__SEED__", str(seed)).replace("__N__", str(n))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert "scipy_openblas" in got["ldflags"], got["ldflags"]
    blas = [w for w in got["warnings"] if "BLAS" in w["msg"]] + [r for r in got["records"] if "BLAS" in r["msg"]]
    assert blas == [], f"BLAS warning still raised: {blas}"
    # the C BLAS ops were compiled against the library (without a BLAS PyTensor falls back to other ops)
    assert "CGemv" in got["ops"], got["ops"]
    assert max(got["err"]) < 1e-9 * n, got["err"]
    # the sampler found the coefficients that generated the data
    assert np.allclose(got["beta"], [0.5, -1.0, 2.0], atol=0.5), got["beta"]
    library = {w["msg"].splitlines()[0] for w in got["warnings"] if "probwb" not in w["module"]}
    relabelled = [r for r in got["records"] if r["name"].startswith("probwb") and r["level"] == "WARNING"
                  and any(m and m in r["msg"] for m in library)]
    assert relabelled == []


def test_clv_spec_reports_library_warnings_without_logging_them_as_probwb(monkeypatch, caplog):
    from probwb.hier import clv, clv_spec

    message = "a warning raised inside another library during the fit"
    original = clv.BetaGeoModel.fit

    def noisy_fit(self, *args, **kwargs):
        # issued as if by a third-party module, the way PyTensor's BLAS advice reached the CLV spec runner
        warnings.warn_explicit(message, UserWarning, filename="somelib/module.py", lineno=1, module="somelib")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(clv.BetaGeoModel, "fit", noisy_fit)
    spec = {"name": "clv_warn", "data": {"source": "load_cdnow"},
            "model": {"kind": "clv", "purchase_model": "bgnbd", "spend_model": "none"},
            "fit": {"method": "mle"}, "evaluate": {"top_n": 5, "max_frequency": 3}}
    with caplog.at_level(logging.DEBUG):
        result = clv_spec.run_spec(spec, random_state=3)
    assert any(message in w for w in result["warnings"]), result["warnings"]
    assert [r for r in caplog.records if r.name.startswith("probwb") and message in r.getMessage()] == []
