"""The README's "Using it" example runs as written and prints exactly the output the README shows."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _using_it_blocks() -> tuple[str, str]:
    """Return the (python code, printed text) blocks of the README's "Using it" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Using it\n", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    out = re.findall(r"```text\n(.*?)```", section, flags=re.S)
    assert len(code) == 1 and len(out) == 1, "the Using it section has one python block and one text block"
    return code[0], out[0]


def test_readme_blocks_are_found() -> None:
    code, out = _using_it_blocks()
    assert "print(" in code and out.strip()


@pytest.mark.filterwarnings("ignore")
def test_readme_example_prints_what_the_readme_says() -> None:
    import matplotlib

    matplotlib.use("Agg")
    code, expected = _using_it_blocks()
    buf = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
        warnings.simplefilter("ignore")
        exec(compile(code, str(README) + ":Using it", "exec"), {"__name__": "readme_example"})
    got = buf.getvalue().rstrip("\n").splitlines()
    want = expected.rstrip("\n").splitlines()
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        assert g == w, f"README output line {i + 1} differs:\n  README: {w}\n  code:   {g}"
    assert len(got) == len(want), f"README shows {len(want)} lines, the code printed {len(got)}:\n" + "\n".join(got)
