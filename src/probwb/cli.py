"""The ``probwb`` command. Only this module prints; the library logs."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from probwb import __version__
from probwb.core import progress
from probwb.core.logcontext import ContextFilter
from probwb.errors import ProbwbError

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help: str) -> Callable[[Command], Command]:
    """Register a sub-command: decorate ``run(args) -> exit code`` and give it a ``configure(parser)``."""

    def deco(func: Command) -> Command:
        configure = getattr(func, "configure", lambda parser: None)
        _COMMANDS[name] = (func, configure, help)
        return func

    return deco


def _cmd_datasets(args: argparse.Namespace) -> int:
    from probwb.datasets import list_datasets

    table = list_datasets()
    with pd.option_context("display.max_colwidth", 90, "display.width", 160):
        print(table.to_string(index=False))
    return 0


def _demo_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=20000, help="customers to simulate (default 20000)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")


def _cmd_demo(args: argparse.Namespace) -> int:
    """Simulate a coupon campaign and compare what the data say with the truth that generated them."""
    from probwb.datasets import simulate_coupon_campaign

    camp = simulate_coupon_campaign(n_customers=args.customers, random_state=args.seed)
    print(f"Simulated {camp!r} (seed {args.seed})\n")

    offers = camp.coupons.assign(p_true=camp.truth["p_redeem"])
    g = offers.groupby("coupon", observed=True)
    n, k = g["redeemed"].count(), g["redeemed"].sum()
    rate = k / n
    se = np.sqrt(rate * (1 - rate) / n)
    red = pd.DataFrame({
        "offers": n, "redeemed": k, "rate": rate,
        "ci90_low": rate - 1.645 * se, "ci90_high": rate + 1.645 * se,
        "true_rate": g["p_true"].mean(),
    })
    print("Redemption by coupon (90% Wald interval vs the simulator's true mean probability):")
    print(red.round(4).to_string(), "\n")

    weekly = camp.panel.merge(camp.customers[["customer_id", "arm"]], on="customer_id")
    last = weekly[weekly["week"] == weekly["week"].max()]
    churn = last.groupby("arm", observed=True)["state"].apply(lambda s: float((s == "churned").mean()))
    spend = weekly.groupby(["arm", "customer_id"], observed=True)["spend"].sum().groupby("arm", observed=True)
    arms = pd.DataFrame({
        "customers": camp.customers["arm"].value_counts().reindex(churn.index),
        "churned_by_end": churn,
        "spend_per_customer": spend.mean(),
        "spend_se": spend.std() / np.sqrt(spend.count()),
    })
    print("Arms of the randomized campaign (true lifecycle state at the last week; total spend):")
    print(arms.round(3).to_string(), "\n")
    ctrl = arms.loc["control", "spend_per_customer"]
    for arm in ("10%", "20%"):
        lift = arms.loc[arm, "spend_per_customer"] - ctrl
        se = float(np.hypot(arms.loc[arm, "spend_se"], arms.loc["control", "spend_se"]))
        print(f"  {arm} arm vs control: spend lift {lift:+.2f} per customer (90% CI {lift - 1.645 * se:+.2f} "
              f"to {lift + 1.645 * se:+.2f})")
    return 0


_demo_configure_ref = _demo_configure
_cmd_demo.configure = _demo_configure_ref  # type: ignore[attr-defined]
command("datasets", "list bundled datasets, simulators and example networks")(_cmd_datasets)
command("demo", "simulate a coupon campaign and summarise it against its known truth")(_cmd_demo)


_QUIET_HELP = "no progress bars or progress lines; show warnings and errors only (also PROBWB_QUIET=1)"


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every registered sub-command."""
    _load_plugins()
    parser = argparse.ArgumentParser(prog="probwb", description="probwb: a probabilistic modelling workbench")
    parser.add_argument("--version", action="version", version=f"probwb {__version__}")
    parser.add_argument("--quiet", action="store_true", help=_QUIET_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (func, configure, help_text) in sorted(_COMMANDS.items()):
        p = sub.add_parser(name, help=help_text, description=help_text)
        # accepted after the sub-command too; SUPPRESS keeps a --quiet given before it
        p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help=_QUIET_HELP)
        configure(p)
        p.set_defaults(func=func)
    return parser


def _load_plugins() -> None:
    # The report module registers report/run/validate/models when it is present.
    try:
        import probwb.report.commands  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("probwb.report"):
            raise


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``probwb`` command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.quiet = bool(args.quiet) or progress.is_quiet()
    # Third-party libraries stay at WARNING; probwb's own progress messages show unless --quiet.
    root = logging.getLogger()
    had_handlers = bool(root.handlers)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not had_handlers:
        # the handler basicConfig just made: every probwb line it prints names its model and fold
        for handler in root.handlers:
            if not any(isinstance(f, ContextFilter) for f in handler.filters):
                handler.addFilter(ContextFilter())
    logging.getLogger("probwb").setLevel(logging.WARNING if args.quiet else logging.INFO)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # the command shows the progress of long work (EM, sampling, search) unless --quiet
    with progress.quiet() if args.quiet else progress.verbose():
        try:
            return int(args.func(args) or 0)
        except ProbwbError as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            print(f"probwb: error: {problems[0]}", file=sys.stderr)
            for more in problems[1:]:
                print(f"probwb: error: {more}", file=sys.stderr)
            return 2


if __name__ == "__main__":  # pragma: no cover
    # Plugins register on the importable module ``probwb.cli``, not on this ``__main__`` copy.
    from probwb.cli import main as _main

    sys.exit(_main())
