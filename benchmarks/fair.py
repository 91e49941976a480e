"""Shared tools for fair side-by-side benchmarks; the rules they implement open ``benchmarks/README.md``.

Every ``bench_*.py`` uses these so that a skeptic rerunning a script gets the same ratio:

- ``alternate``: A and B run repetition by repetition, the order flipped every repetition (ABBA...), the same
  number of repetitions on both sides; report medians (``summary`` / ``ratio``).
- ``fresh_process``: run a snippet in a new Python process, with empty caches (numba, PyTensor, probwb's compile
  cache) when ``empty_caches=True`` -- the cold-start row -- or with the caches a returning user has otherwise.
- ``machine`` / ``machine_line``: CPU model, cores, load average, versions and commit, printed with every table.
- ``status``: "met" / "not met" from a measured ratio and its goal, never by hand.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

RULES = """## How these benchmarks are fair (the rules every script follows)

1. **Defaults against defaults** in every headline row: each side as a new user runs it (a fresh process, caches as
   a new user has them, default arguments). Tuned settings (a compile backend, a kernel, a stopping rule, primed
   caches) are a separate row, labelled as tuned.
2. **The same model and the same work on both sides**: pooled with pooled, row-level with row-level, the same
   `target_accept` (or ESS/s reported at both settings), the same stopping tolerance, distinct rows on both sides
   when probwb de-duplicates. A probwb-only shortcut (pooling, de-duplication) is its own row, credited as such.
3. **A and B alternate** repetition by repetition (order flipped each time), with the same number of repetitions;
   the table reports medians. No extrapolation from a subset unless the same table shows the time is linear in size.
4. **Caches and warm-up apply to both sides or neither.** Every family has a **cold-start row**: a fresh process
   with empty caches (numba, PyTensor, probwb), timing import + load + first call.
5. **Peers at their best reasonable settings**: pymdptoolbox with the same stopping tolerance, hmmlearn through
   `fit()`, `scipy.stats.f_oneway` for one-way ANOVA, pgmpy on distinct rows where probwb de-duplicates.
6. **Every table records** CPU model, core count, load average before and after, package versions and the commit;
   the status column ("met" / "not met") is computed from the measured ratio and the goal, and a rerun on a fresh
   clone should reproduce each headline ratio within 30%.
"""


def loadavg() -> tuple[float, float, float]:
    """Return the 1, 5 and 15 minute load averages (zeros where the platform has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or platform.processor() elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "absent"


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine(packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """Return what a reader needs to judge a measurement: CPU, cores, load, date, commit and versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    pk = ("numpy", "scipy", "pandas", "numba", *packages)
    return {
        "cpu": cpu_model(),
        "cores": usable,
        "load": loadavg(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": _commit(),
        "versions": {p: _version(p) for p in dict.fromkeys(pk)},
    }


def machine_line(before: dict[str, Any], after: tuple[float, float, float] | None = None) -> str:
    """Return one markdown paragraph describing the machine, the load before/after and the versions."""
    after = loadavg() if after is None else after
    vers = ", ".join(f"{k} {v}" for k, v in before["versions"].items())
    return (f"Measured {before['date']} on commit {before['commit']}: {before['cpu']}, {before['cores']} cores, "
            f"Python {before['python']}; load average {before['load'][0]:.2f} before, {after[0]:.2f} after. "
            f"Versions: {vers}.")


def alternate(sides: dict[str, Callable[[], Any]], reps: int, *, warmup: int = 0) -> dict[str, list[float]]:
    """Time each side ``reps`` times, alternating sides every repetition (order flipped each time).

    ``warmup`` untimed calls of every side run first (also alternated), so caches are primed for both or neither.
    Returns seconds per call, per side.
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1, found {reps}")
    names = list(sides)
    for i in range(warmup):
        for name in (names if i % 2 == 0 else names[::-1]):
            sides[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(reps):
        for name in (names if i % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def summary(times: list[float]) -> dict[str, float]:
    """Return median, min, max and count of a list of timings (seconds)."""
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times)}


def ratio(peer: list[float], ours: list[float]) -> float:
    """Return median(peer) / median(ours): above 1 means probwb is faster."""
    return statistics.median(peer) / statistics.median(ours)


def status(measured: float, goal: float, *, higher_is_better: bool = True) -> str:
    """Return "met" or "not met" for a measured figure against its goal."""
    ok = measured >= goal if higher_is_better else measured <= goal
    return "met" if ok else "not met"


def empty_cache_env(root: Path) -> dict[str, str]:
    """Return environment variables that point numba, PyTensor and probwb at empty cache folders under ``root``."""
    env = {
        "NUMBA_CACHE_DIR": str(root / "numba"),
        "PROBWB_CACHE_DIR": str(root / "probwb"),
        "XDG_CACHE_HOME": str(root / "xdg"),
    }
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    # base_compiledir, not compiledir: PyTensor keeps its numba cache under base_compiledir/numba, which a
    # compiledir-only override leaves warm.
    env["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"base_compiledir={root / 'pytensor'}") if f)
    return env


def fresh_process(code: str, *, empty_caches: bool = False, env: dict[str, str] | None = None,
                  timeout: float = 1800.0) -> dict[str, Any]:
    """Run ``code`` in a new Python process and return the JSON object it prints on its last stdout line.

    The returned dict also holds ``wall_s`` (the whole process, import included). With ``empty_caches`` the
    process starts with empty numba / PyTensor / probwb caches (a new user's first run); otherwise it uses the
    caches the current user has (a returning user's run).
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    with tempfile.TemporaryDirectory(prefix="probwb-bench-") as tmp:
        if empty_caches:
            full_env.update(empty_cache_env(Path(tmp)))
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                             timeout=timeout)
        wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise RuntimeError(f"fresh process failed (exit {run.returncode}):\n{run.stderr[-3000:]}")
    lines = [ln for ln in run.stdout.splitlines() if ln.strip()]
    if not lines:
        raise RuntimeError(f"fresh process printed nothing; stderr:\n{run.stderr[-3000:]}")
    out = json.loads(lines[-1])
    out["wall_s"] = wall
    return out


def alternate_fresh(codes: dict[str, str], reps: int, *, empty_caches: bool = True) -> dict[str, list[float]]:
    """Run each side's snippet in a fresh process ``reps`` times, sides alternated (order flipped each time).

    Returns each process's wall seconds (import included) per side: the cold-start row when ``empty_caches``.
    """
    names = list(codes)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(reps):
        for name in (names if i % 2 == 0 else names[::-1]):
            times[name].append(fresh_process(codes[name], empty_caches=empty_caches)["wall_s"])
    return times


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MiB (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
