"""Run every ``benchmarks/bench_*.py`` (optionally ``--quick``) and rebuild ``benchmarks/README.md``.

Each benchmark script runs probwb and its peer side by side in one process and writes its latest table to
``benchmarks/results_<family>.md``; this script only runs them in turn and gathers those tables.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADER = """# Benchmarks

Every benchmark runs probwb and its peer (pgmpy, hmmlearn, pymdptoolbox, PyMC's default sampler, statsmodels,
scipy) side by side in one script on the same data and model, checks that the answers agree, and reports ratios
under the rules below. Tests never assert timings; these tables are the evidence for the speed claims. Re-run with
`make bench` (quick mode) or `python benchmarks/run_all.py` (full sizes), or one family with
`python benchmarks/bench_<family>.py`.

Machine for the tables below: 2 CPU cores, 24 GiB RAM, Python 3.11, no accelerator, shared with other work while
measured: absolute times are noisy, so each table records the load average before and after its run.
"""


def collect() -> str:
    """Return the README text: the header followed by each family's latest results table."""
    sys.path.insert(0, str(HERE))
    from fair import RULES

    parts = [HEADER, RULES]
    if (HERE / "summary.md").exists():
        parts.append((HERE / "summary.md").read_text().strip() + "\n")
    for res in sorted(HERE.glob("results_*.md")):
        parts.append(res.read_text().strip() + "\n")
    return "\n".join(parts)


def main() -> int:
    """Run the benchmarks and rewrite the README; return the number of scripts that failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every benchmark")
    parser.add_argument("--only", nargs="*", default=None, help="family names, e.g. bn hmm")
    parser.add_argument("--collect-only", action="store_true", help="only rebuild README.md from results_*.md")
    args = parser.parse_args()
    failed = 0
    if not args.collect_only:
        for script in sorted(HERE.glob("bench_*.py")):
            family = script.stem.removeprefix("bench_")
            if args.only and family not in args.only:
                continue
            cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
            start = time.perf_counter()
            print(f"== {script.name} {'(quick)' if args.quick else ''}", flush=True)
            rc = subprocess.run(cmd).returncode
            print(f"== {script.name} exit {rc} in {time.perf_counter() - start:.0f}s", flush=True)
            failed += rc != 0
    if not args.quick:
        (HERE / "README.md").write_text(collect())
    return failed


if __name__ == "__main__":
    sys.exit(main())
