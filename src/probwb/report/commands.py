"""The ``probwb report``, ``run``, ``validate`` and ``models`` commands (registered with probwb.cli)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from probwb.cli import command
from probwb.report.schema import safe_stem

__all__ = ["cmd_report", "cmd_run", "cmd_validate", "cmd_models"]


def _stepper(quiet: bool):
    start = time.perf_counter()

    def step(msg: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    return step


def _preflight(args: argparse.Namespace, out: Path, what: str) -> None:
    """Check the seed and every output path before any long work, so a bad one fails in a second."""
    from probwb.core.io import check_writable
    from probwb.report.runner import check_seed

    if getattr(args, "seed", None) is not None:
        check_seed(args.seed, "--seed")
    check_writable(out, what=what)
    if getattr(args, "json", None):
        check_writable(args.json, what="JSON file (--json)")


def _report_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="model spec (YAML), e.g. models/coupon_ab_test.yaml")
    parser.add_argument("-o", "--output", default=None,
                        help="HTML file to write (default: <spec name>.html in the current folder)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the numbers as JSON here")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default: the spec's fit.random_state, else 2026)")
    parser.add_argument("--quick", action="store_true", help="a fast, smaller run (fewer rows and draws)")


def cmd_report(args: argparse.Namespace) -> int:
    """Run a spec and write a self-contained HTML report (and optionally JSON)."""
    from probwb.report.writer import write_report

    step = _stepper(getattr(args, "quiet", False))
    out = Path(args.output) if args.output else Path(f"{safe_stem(Path(args.spec).stem, 'report')}.html")
    _preflight(args, out, "report file (-o)")
    rep = write_report(args.spec, out, json_path=args.json, seed=args.seed, quick=args.quick, on_step=step)
    verdict = rep.diagnostics.get("verdict", "not applicable")
    print(f"report written to {out.resolve()}")
    if args.json:
        print(f"numbers written to {Path(args.json).resolve()}")
    for text in rep.warnings:
        print(f"  warning: {text.splitlines()[0] if text.strip() else text}")
    quick = " (quick run: not meaningful)" if rep.footer.get("quick") and verdict in ("ok", "warn", "fail") else ""
    # the last line: the same verdict and the same count of warnings as the report's banner and Warnings box
    print(f"diagnostics: {verdict}{quick}; warnings in the report: {len(rep.warnings)}; "
          f"run time {rep.footer['run_seconds']:.1f} s")
    return 0


cmd_report.configure = _report_configure  # type: ignore[attr-defined]


def _run_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="model spec (YAML)")
    parser.add_argument("-o", "--output", default=None,
                        help="where to save the fitted model (default: <spec name>.pwb)")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--quick", action="store_true", help="a fast, smaller run")


def cmd_run(args: argparse.Namespace) -> int:
    """Fit a spec's model, save it as a ``.pwb`` model file (probwb.core.io.save_model) and say how to
    load it (``probwb.load(path)``)."""
    from probwb.core.io import save_model
    from probwb.errors import ModelError
    from probwb.report.runner import run_report
    from probwb.report.schema import validate_spec

    step = _stepper(getattr(args, "quiet", False))
    validated = validate_spec(args.spec)
    # the output is named after the spec's name, which validate_spec checked is a plain file stem
    out = Path(args.output) if args.output else Path(f"{safe_stem(validated.name)}.pwb")
    _preflight(args, out, "model file (-o)")
    rep = run_report(validated, seed=args.seed, quick=args.quick, on_step=step)
    model = rep.result.get("model")
    if model is None:
        raise ModelError(f"the {rep.kind!r} family returned no fitted model for {args.spec!r}, "
                         "so there is nothing to save")
    step(f"saving {type(model).__name__}")
    # the model's own save stores its constructor settings (what loading rebuilds it from)
    save = getattr(model, "save", None)
    if callable(save):
        save(out)
    else:
        save_model(out, model)
    print(f"model ({type(model).__name__}) saved to {out.resolve()}")
    print(f"load it in Python with: import probwb; model = probwb.load({str(out.resolve())!r})")
    print(f"diagnostics: {rep.diagnostics.get('verdict', 'not applicable')}; warnings: {len(rep.warnings)}")
    for w in rep.warnings:
        print(f"  warning: {w}")
    return 0


cmd_run.configure = _run_configure  # type: ignore[attr-defined]


def _validate_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="+", help="model spec(s) (YAML)")
    parser.add_argument("--no-data", action="store_true",
                        help="do not load the data (skips the check that formula columns exist)")


def cmd_validate(args: argparse.Namespace) -> int:
    """Check specs without running them, each completely: print every problem of every spec (unknown keys,
    wrong types, missing files, formula columns missing from the data, ...); return 2 if any spec has one."""
    from probwb.report.schema import check_spec

    failed = 0
    for path in args.spec:
        v, problems = check_spec(path, check_columns=not args.no_data)
        if problems or v is None:
            failed += 1
            word = "problem" if len(problems) == 1 else "problems"
            print(f"{path}: {len(problems)} {word}", file=sys.stderr)
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
            continue
        print(f"{path}: ok ({v.kind} via {v.module.__name__}: {v.title})")
    if failed:
        print(f"probwb: error: {failed} of {len(args.spec)} spec(s) invalid", file=sys.stderr)
        return 2
    return 0


cmd_validate.configure = _validate_configure  # type: ignore[attr-defined]


def _models_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", default="models", help="folder of specs (default: ./models)")


def cmd_models(args: argparse.Namespace) -> int:
    """List the specs of a folder, one line each: name, kind, title, and whether it validates."""
    from probwb.report.writer import list_specs

    folder = Path(args.folder).resolve()
    rows = list_specs(args.folder)
    if not rows:
        print(f"no specs (*.yaml) in {folder}")
        return 0
    print(f"{len(rows)} spec(s) in {folder}:")
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        status = "" if r["status"] == "ok" else f"  [invalid: {r['status']}]"
        print(f"{r['name']:<{width}}  {r['kind']:<5}  {r['title']}{status}")
    return 0


cmd_models.configure = _models_configure  # type: ignore[attr-defined]

command("report", "run a model spec and write a self-contained HTML report (and JSON)")(cmd_report)
command("run", "fit a model spec and save the fitted model")(cmd_run)
command("validate", "check model specs without running them")(cmd_validate)
command("models", "list the model specs in a folder (default ./models)")(cmd_models)
