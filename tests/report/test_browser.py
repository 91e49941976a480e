"""Open reports in headless Chromium: they render, show their figures, and log no console errors.

The real --quick report of one spec per family (bn, hmm, mdp, hier, clv, stats; the same files
test_all_specs.py writes) is opened and a screenshot of each is saved to ``test-output/screenshots/`` in the
checkout. Chromium is installed by ``scripts/test-deps.sh`` (``make test``); without it these tests skip with
a reason that ``pytest -ra`` shows.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from probwb.report import write_report
from probwb.report.schema import load_spec

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
FAMILIES = ("bn", "hmm", "mdp", "hier", "clv", "stats")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed: scripts/test-deps.sh (make test) installs it "
    "with apt-get as root; elsewhere install chromium to run the browser check of reports")

# Appended to a copy of the report (never to the report itself, which has no scripts): after load it
# writes each image's decoded width into the DOM so --dump-dom can show whether the PNGs really decoded.
_PROBE = ("<script>window.addEventListener('load', function () {"
          "document.body.setAttribute('data-img-widths', Array.from(document.images)"
          ".map(function (i) { return i.complete ? i.naturalWidth : -1; }).join(','));});</script>")


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", f"--user-data-dir={tmp / 'profile'}",
           "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "Uncaught" in line or ("CONSOLE" in line and ("ERROR" in line or "Error" in line))]


def test_report_renders_in_chromium(fake_spec, fake_family, tmp_path):
    report = tmp_path / "report.html"
    write_report(fake_spec("disagree"), report)

    shot = tmp_path / "report.png"
    run = _chromium(f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri(), tmp=tmp_path)
    assert shot.exists(), f"chromium wrote no screenshot: {run.stderr[-2000:]}"
    assert _console_errors(run.stderr) == []

    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 0.05, "the screenshot is blank"
    # the failing banner is drawn in its red background (#fde7e6) somewhere near the top of the page
    red = np.all(np.abs(pixels[:900] - np.array([0xfd, 0xe7, 0xe6]) / 255) < 0.02, axis=-1)
    assert red.sum() > 5000, "the red failing banner is not visible"

    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", _PROBE + "</body>"))
    dom = _chromium("--dump-dom", "--virtual-time-budget=5000", probe.as_uri(), tmp=tmp_path)
    assert 'src="data:image/png;base64,' in dom.stdout
    widths = dom.stdout.split('data-img-widths="', 1)[1].split('"', 1)[0].split(",")
    assert widths and all(int(w) > 100 for w in widths), f"figures did not decode: widths {widths}"


def test_console_error_detection_works(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>notAFunction();</script></body></html>")
    run = _chromium("--dump-dom", page.as_uri(), tmp=tmp_path)
    assert _console_errors(run.stderr), "a page with an uncaught error should be detected"


def _first_spec_per_family() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((ROOT / "models").glob("*.yaml")):
        kind = (load_spec(path).get("model") or {}).get("kind")
        found.setdefault(kind, path)
    return found


_SPECS = _first_spec_per_family()


def test_every_family_has_a_spec():
    assert set(FAMILIES) <= set(_SPECS), f"no spec in models/ for {set(FAMILIES) - set(_SPECS)}"


@pytest.mark.parametrize("kind", FAMILIES)
def test_real_report_renders_in_chromium(kind, quick_report, tmp_path):
    rep, report, _ = quick_report(_SPECS[kind])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{kind}_{rep.name}.png"
    shot.unlink(missing_ok=True)
    run = _chromium(f"--screenshot={shot}", "--window-size=1280,1600", report.as_uri(), tmp=tmp_path)
    assert shot.exists(), f"chromium wrote no screenshot of {rep.name}: {run.stderr[-2000:]}"
    assert _console_errors(run.stderr) == []

    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1280)
    assert pixels.std() > 0.05, f"the screenshot of {rep.name} is blank"
    if rep.footer["quick"] and rep.diagnostics["verdict"] in ("ok", "warn", "fail"):
        # a quick run's banner is the grey "not meaningful" one, never the red failing one
        red = np.all(np.abs(pixels - np.array([0xfd, 0xe7, 0xe6]) / 255) < 0.02, axis=-1)
        assert red.sum() < 500, f"{rep.name}: a red banner on a quick run"

    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", _PROBE + "</body>"))
    dom = _chromium("--dump-dom", "--virtual-time-budget=5000", probe.as_uri(), tmp=tmp_path)
    assert _console_errors(dom.stderr) == []
    assert f"<h1>{html.escape(rep.title, quote=False)}</h1>" in dom.stdout
    widths = dom.stdout.split('data-img-widths="', 1)[1].split('"', 1)[0]
    widths = [int(w) for w in widths.split(",") if w]
    assert len(widths) == len(rep.figures), f"{rep.name}: {len(widths)} images for {len(rep.figures)} figures"
    assert all(w > 100 for w in widths), f"{rep.name}: figures did not decode: widths {widths}"
