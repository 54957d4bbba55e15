"""The `stratmap` command line: argument parsing, and wiring each command to its module.

The top of the command modules: nothing imports this one but ``__main__``. Exit codes and
errors live in ``stratmap.errors`` (the exit codes are listed there and in docs/cli.md), what
commands take from the command line in ``stratmap.inputs``, the terminal in
``stratmap.terminal``. Every ``CommandError`` a command raises is rendered here, in one place,
by ``stratmap.errors.report``.

Heavy modules are imported inside the commands, so that `stratmap check` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from stratmap import __version__
from stratmap.errors import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_READER_LEFT,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CommandError,
    UsageError,
    report,
)
from stratmap.inputs import strategy_files

_CHECK_EXAMPLES = """\
examples:
  stratmap check strategies/                 check every .strat file below a directory
  stratmap check wealth.strat --strict       warnings fail too (for CI)
  stratmap check strategies --format github  annotations on a pull request
  stratmap check strategies --format junit > check.xml
"""

_FMT_EXAMPLES = """\
examples:
  stratmap fmt strategies/             rewrite files in the canonical layout
  stratmap fmt --check strategies/     exit 1 if any file would change (CI)
  stratmap fmt --diff wealth.strat     show what would change, write nothing
"""

_SIMULATE_EXAMPLES = """\
examples:
  stratmap simulate strategies/wealth_2026q1.strat
        the file's population, horizon and seed; 5 replications; a summary table
  stratmap simulate wealth.strat --customers 20k --months 12 --reps 10 --out runs/q1
        a smaller, shorter run with tighter intervals; Parquet tables + summary.json in runs/q1
  stratmap simulate wealth.strat --seed 7 --format json > summary.json
        the JSON summary on stdout (schema stratmap.simulation/1, see docs/results.md)
"""

_TRACE_EXAMPLES = """\
examples:
  stratmap trace strategies/wealth_2026q1.strat --customer 42
        customer 42 of replication 0: stage, AUM, triggers, candidates, winner, suppressions
  stratmap trace wealth.strat --customer 42 --rep 3 --customers 20k --seed 7
        the same customer as in `simulate --customers 20k --seed 7`, replication 3
"""


_COMPARE_EXAMPLES = """\
examples:
  stratmap compare strategies/wealth_2026q1.strat
        the base against every variant the file declares, common random numbers
  stratmap compare wealth.strat --variant 激进 --customers 20k --months 12 --reps 10
        one variant; paired differences, uplift, sample-ratio check, ranking
  stratmap compare a.strat b.strat --format json > compare.json
        two strategies against each other (same population and draws when they share it)
"""

_SIZE_EXAMPLES = """\
examples:
  stratmap size strategies/wealth_2026q1.strat
        customers per arm and months to reach power for churn, AUM added and revenue
  stratmap size wealth.strat --variant 话术B --variant-share 0.5 --rule 临界提升
        also the response rate of base vs variant among the customers the rule contacted
  stratmap size wealth.strat --variant 激进 --alpha 0.05 --power 0.9 --method arcsine
  stratmap size wealth.strat --n 50k       power and minimum detectable effect at 50,000 treated
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stratmap",
        description="Write a bank's customer-operations strategy map as text, check it like "
        "code, and forecast what it does.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run `stratmap COMMAND --help` for a command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"stratmap {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser(
        "check",
        help="check strategy files and report diagnostics",
        description="Check .strat files (and what they import): names, units, tiers, "
        "lifecycle, suitability, shadowed rules.",
        epilog=_CHECK_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    check.add_argument(
        "--format",
        choices=["text", "json", "junit", "github", "sarif"],
        default="text",
        help="output format (default: text)",
    )
    check.add_argument("--strict", action="store_true", help="warnings fail the check too")
    check.add_argument(
        "--root", metavar="DIR", help="library root that imports may not leave (default: each PATH)"
    )
    check.add_argument("-q", "--quiet", action="store_true", help="no summary line")

    fmt = commands.add_parser(
        "fmt",
        help="format strategy files in the canonical layout",
        description="Rewrite .strat files in one canonical layout, keeping comments. Files "
        "that do not parse are never written.",
        epilog=_FMT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fmt.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    fmt.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any file would be reformatted",
    )
    fmt.add_argument("--diff", action="store_true", help="write nothing; print a unified diff")
    fmt.add_argument("-q", "--quiet", action="store_true", help="no summary line")

    _add_simulate(commands)
    _add_trace(commands)
    _add_compare(commands)
    _add_size(commands)
    from stratmap.backtest_cmd import add_parser as _add_backtest
    from stratmap.calibrate_cmd import add_parser as _add_calibrate
    from stratmap.decide_cmd import add_parser as _add_decide
    from stratmap.plan_cmd import add_plan_parser
    from stratmap.report.command import add_parser as _add_report
    from stratmap.review_cmd import add_parser as _add_review
    from stratmap.suite.command import add_parser as _add_test

    _add_test(commands)
    add_plan_parser(commands)
    _add_report(commands)
    _add_calibrate(commands)
    _add_backtest(commands)
    _add_decide(commands)
    _add_review(commands)

    explain = commands.add_parser(
        "explain",
        help="explain a diagnostic code, with an example and a fix",
        description="Print the catalogue page of a diagnostic code (see docs/diagnostics.md).",
        epilog="example:\n  stratmap explain E0204",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("code", metavar="CODE", help="a code such as E0204 or W0101")
    return parser


def _add_run_sizes(command: argparse.ArgumentParser, *, file: bool = True) -> None:
    """Options shared by `simulate`, `trace`, `compare` and `size`: which population, horizon
    and seed. Validated by the command (exit 2 with a clear message), not by argparse, so that
    `2k` and `20万` are accepted and a negative or absurd size is named plainly."""
    if file:
        command.add_argument("file", metavar="FILE", help="the strategy file")
    command.add_argument(
        "--customers",
        metavar="N",
        help="population size, e.g. 2000, 20k, 1.5m, 20万 (default: the file's `size`)",
    )
    command.add_argument(
        "--months", metavar="T", help="horizon in months (default: the file's `horizon`)"
    )
    command.add_argument("--seed", metavar="S", help="random seed (default: the file's `seed`)")
    command.add_argument(
        "--format", choices=["text", "json"], default="text", help="output (default: text)"
    )
    command.add_argument("-q", "--quiet", action="store_true", help="no notes on stderr")


def _add_report_option(command: argparse.ArgumentParser) -> None:
    from stratmap.report.command import add_report_option

    add_report_option(command)


def _add_backend_options(command: argparse.ArgumentParser) -> None:
    from stratmap.backend import add_backend_options

    add_backend_options(command)


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    simulate = commands.add_parser(
        "simulate",
        help="forecast a strategy by simulating a synthetic population",
        description="Check FILE, then replay a synthetic customer population through the "
        "lifecycle under the strategy, month by month, in R independent replications. Prints "
        "headline metrics with 95% intervals, treatment-vs-control uplift, the funnel of every "
        "play and the largest unserved segments; --out writes Parquet tables and "
        "summary.json (atomically).",
        epilog=_SIMULATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_sizes(simulate)
    _add_repeated_runs(simulate, "write the results directory (replaces earlier results)")
    _add_report_option(simulate)
    from stratmap.snapshot_at import add_options

    add_options(simulate)
    _add_backend_options(simulate)


def _add_trace(commands: argparse._SubParsersAction) -> None:
    trace = commands.add_parser(
        "trace",
        help="tell one simulated customer's story, step by step",
        description="Check FILE, then follow one customer of the synthetic population: per "
        "step the stage, AUM, triggers fired, candidate plays, the play that won, and what "
        "was suppressed and why. Use the same --customers and --seed as the `simulate` run "
        "to see one of its customers.",
        epilog=_TRACE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_sizes(trace)
    trace.add_argument("--customer", metavar="ID", required=True, help="the customer's id")
    trace.add_argument("--rep", metavar="R", default="0", help="replication (default: 0)")


def _add_repeated_runs(
    command: argparse.ArgumentParser,
    out_help: str = "write JSON + Parquet with the same numbers (replaces DIR)",
) -> None:
    command.add_argument(
        "--reps", metavar="R", help="replications (default: 5; 2 or more give intervals)"
    )
    command.add_argument(
        "--threads", metavar="K", help="worker threads (default: all Numba may use)"
    )
    command.add_argument("--out", metavar="DIR", help=out_help)


def _add_compare(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare a strategy with its variants (or two strategies), common random numbers",
        description="Check FILE, then simulate the base and its variants (or FILE and FILE2) "
        "on the same customers with the same random draws. Prints paired differences "
        "(variant - base) with 95% intervals of the forecast's Monte Carlo uncertainty, "
        "treatment vs control uplift, the sample-ratio check of every arm, and a ranking by "
        "net value.",
        epilog=_COMPARE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "files", nargs="+", metavar="FILE", help="a strategy file, or two to compare"
    )
    compare.add_argument(
        "--variant",
        metavar="NAME",
        action="append",
        help="a variant to compare with the base (repeatable; default: every variant)",
    )
    compare.add_argument(
        "--no-plays",
        action="store_true",
        help="also compare with the book run without any play (every customer in the control "
        "group): what the strategy adds, paired on the same customers and draws",
    )
    _add_run_sizes(compare, file=False)
    _add_repeated_runs(compare)
    _add_report_option(compare)
    _add_backend_options(compare)


def _add_size(commands: argparse._SubParsersAction) -> None:
    size = commands.add_parser(
        "size",
        help="size a live test: customers per arm, months to reach power, MDE",
        description="Check FILE, simulate it (or one of its variants), and size the live test "
        "of treatment vs the control group for churn (a proportion), AUM added and revenue "
        "per eligible customer (means): baseline and variance from the simulated customers, "
        "effect from the simulated uplift, months from the simulated flow of eligible "
        "customers. With --variant, also the response rate of base vs variant among "
        "contacted customers (both simulated with common random numbers).",
        epilog=_SIZE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_sizes(size)
    _add_repeated_runs(size)
    _add_backend_options(size)
    size.add_argument(
        "--variant",
        metavar="NAME",
        help="size this variant instead of the base, and its response rate against the base",
    )
    size.add_argument(
        "--variant-share",
        metavar="S",
        default=None,
        help="the variant's share of the base vs variant test (default 0.5: half each)",
    )
    size.add_argument(
        "--rule",
        metavar="R",
        default=None,
        help="measure the variant test's response rate on the customers this rule or journey "
        "contacted (default: every contacted customer)",
    )
    size.add_argument("--alpha", metavar="A", default="0.05", help="significance (default 0.05)")
    size.add_argument("--power", metavar="P", default="0.8", help="power (default 0.8)")
    size.add_argument(
        "--method",
        choices=["z", "arcsine", "welch", "normal"],
        default=None,
        help="z or arcsine for proportions, welch or normal for means (default: z, welch)",
    )
    size.add_argument(
        "--n",
        metavar="N",
        help="customers in the treated arm (the variant's, in the variant test): power and MDE "
        "at this size",
    )


# ------------------------------------------------------------------------------ paths


# ------------------------------------------------------------------------------ check


def _run_check(args: argparse.Namespace) -> int:
    from strategy_dsl.checker import check_paths
    from strategy_dsl.render import github, json_format, junit, sarif, text

    strategy_files(args.paths)  # usage errors first: missing paths, no .strat files
    root = Path(args.root) if args.root else None
    if root is not None and not root.is_dir():
        raise UsageError(f"--root {args.root}: not a directory")
    # Directories go to the checker as given: each is the library root of what it holds.
    report = check_paths([Path(p) for p in args.paths], root=root)
    diagnostics = report.diagnostics
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if args.format == "text":
        if diagnostics:
            sys.stdout.write(
                text.render_text(diagnostics, report.sources, color=text.should_color(sys.stdout))
            )
        if not args.quiet:
            print(text.summary_line(diagnostics, len(report.files)), file=sys.stderr)
    elif args.format == "json":
        sys.stdout.write(json_format.render_json(diagnostics, files_checked=len(report.files)))
    elif args.format == "junit":
        sys.stdout.write(
            junit.render_junit(diagnostics, report.sources, report.files, strict=args.strict)
        )
    elif args.format == "github":
        sys.stdout.write(github.render_github(diagnostics))
    else:
        sys.stdout.write(sarif.render_sarif(diagnostics))
    return EXIT_FINDINGS if errors or (args.strict and warnings) else EXIT_CLEAN


# ------------------------------------------------------------------------------ fmt


def _run_fmt(args: argparse.Namespace) -> int:
    import difflib

    from strategy_dsl.diagnostics import SourceMap
    from strategy_dsl.formatter import format_text
    from strategy_dsl.parser import read_source
    from strategy_dsl.render import text as text_render

    files = strategy_files(args.paths)
    sources = SourceMap()
    failed: list = []
    unwritable: list[UsageError] = []
    changed = unchanged = 0
    for path in files:
        shown = str(path)
        source, problem = read_source(path, shown)
        if problem is not None or source is None:
            failed.append(problem)
            continue
        sources.add(shown, source)
        result = format_text(source, shown)
        if result.output is None:
            failed.extend(result.diagnostics)
            continue
        if not result.changed:
            unchanged += 1
            continue
        changed += 1
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    source.splitlines(keepends=True),
                    result.output.splitlines(keepends=True),
                    fromfile=f"{shown} (original)",
                    tofile=f"{shown} (formatted)",
                )
            )
        elif args.check:
            print(f"would reformat {shown}", file=sys.stderr)
        else:
            problem = _write_formatted(path, result.output)
            if problem is not None:
                changed -= 1
                unwritable.append(problem)
    if failed:
        sys.stderr.write(
            text_render.render_text(failed, sources, color=text_render.should_color(sys.stderr))
        )
    for problem in unwritable:
        report("fmt", problem)
    if not args.quiet:
        print(
            _fmt_summary(
                changed, unchanged, len(failed) + len(unwritable), dry=args.check or args.diff
            ),
            file=sys.stderr,
        )
    if unwritable:
        return EXIT_USAGE
    if failed or (changed and (args.check or args.diff)):
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _write_formatted(path: Path, text: str) -> UsageError | None:
    """Write the formatted text through to the file (links, mode and owner kept:
    ``strategy_dsl.safe_write.write_text``); the message when it cannot be written."""
    from strategy_dsl import safe_write

    target = Path(os.path.realpath(path))
    safe_write.sweep(target.parent, target.name)  # what a killed `fmt` left beside it
    try:
        safe_write.write_text(path, text)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return UsageError(
            f"cannot write {path}: {reason}; the file is unchanged",
            "check that you may write the file and its folder, and that the disk has room",
        )
    return None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _fmt_summary(changed: int, unchanged: int, failed: int, *, dry: bool) -> str:
    verb = "would be reformatted" if dry else "reformatted"
    parts = []
    if changed:
        parts.append(f"{_plural(changed, 'file')} {verb}")
    if unchanged:
        parts.append(f"{_plural(unchanged, 'file')} already formatted")
    if failed:
        parts.append(f"{_plural(failed, 'file')} could not be formatted")
    return ", ".join(parts) + "."


# ------------------------------------------------------------------------------ explain


def _run_explain(args: argparse.Namespace) -> int:
    from strategy_dsl import catalogue

    page = catalogue.explain(args.code)
    if page is None:
        import difflib

        close = difflib.get_close_matches(args.code.upper(), list(catalogue.CATALOGUE), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(
            f"unknown diagnostic code `{args.code}`{hint} (all codes: docs/diagnostics.md)"
        )
    sys.stdout.write(page if page.endswith("\n") else page + "\n")
    return EXIT_CLEAN


# ------------------------------------------------------------------------------ simulate, trace


def _run_simulate(args: argparse.Namespace) -> int:
    from stratmap.simulate_cmd import run_simulate

    return run_simulate(args)


def _run_trace(args: argparse.Namespace) -> int:
    from stratmap.simulate_cmd import run_trace

    return run_trace(args)


def _run_compare(args: argparse.Namespace) -> int:
    from stratmap.compare_cmd import run_compare

    return run_compare(args)


def _run_size(args: argparse.Namespace) -> int:
    from stratmap.compare_cmd import run_size

    return run_size(args)


def _run_plan(args: argparse.Namespace) -> int:
    from stratmap.plan_cmd import run_plan

    return run_plan(args)


def _run_report(args: argparse.Namespace) -> int:
    from stratmap.report.command import run_report

    return run_report(args)


def _run_calibrate(args: argparse.Namespace) -> int:
    from stratmap.calibrate_cmd import run_calibrate

    return run_calibrate(args)


def _run_backtest(args: argparse.Namespace) -> int:
    from stratmap.backtest_cmd import run_backtest

    return run_backtest(args)


def _run_decide(args: argparse.Namespace) -> int:
    from stratmap.decide_cmd import run_decide

    return run_decide(args)


def _run_review(args: argparse.Namespace) -> int:
    from stratmap.review_cmd import run_review

    return run_review(args)


def _run_test(args: argparse.Namespace) -> int:
    from stratmap.suite.command import run_test

    return run_test(args)


_COMMANDS = {
    "check": _run_check,
    "fmt": _run_fmt,
    "explain": _run_explain,
    "simulate": _run_simulate,
    "trace": _run_trace,
    "compare": _run_compare,
    "size": _run_size,
    "test": _run_test,
    "plan": _run_plan,
    "report": _run_report,
    "calibrate": _run_calibrate,
    "backtest": _run_backtest,
    "decide": _run_decide,
    "review": _run_review,
}


def main(argv: Sequence[str] | None = None) -> int:
    from stratmap import signals, terminal

    terminal.prepare_streams()
    args = _parser().parse_args(argv)
    with signals.sigterm_as_interrupt():  # SIGTERM cleans up like Ctrl-C
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    from stratmap import signals, terminal

    try:
        try:
            terminal.columns()  # a bad COLUMNS is refused now, not after the work
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        code = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a full disk or a closed pipe fails here, not at exit
        return code
    except CommandError as exc:
        report(args.command, exc)
        return exc.exit_code
    except signals.Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: never a traceback
        if terminal.reader_left(exc):
            # `stratmap check … | head`: the reader left; stop quietly, as a Unix tool does
            # when SIGPIPE ends it.
            terminal.silence_stdout()
            return EXIT_READER_LEFT
        failure = terminal.output_failure(exc)
        if failure is not None:
            terminal.silence_stdout()
            report(args.command, UsageError(failure))
            return EXIT_USAGE
        if os.environ.get("STRATMAP_DEBUG"):
            raise
        print(
            f"stratmap: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in stratmap, not in your strategy. Please report it with the "
            "file that caused it (set STRATMAP_DEBUG=1 for the traceback).",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
