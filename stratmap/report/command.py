"""`stratmap report RESULTS_DIR -o report.html` and the ``--report FILE`` option of `simulate`
and `compare` (docs/report.md).

Exit codes: 0 the report was written; 2 the results cannot be reported on (no such directory,
a file missing, another version's results) or the output cannot be written: a plain message
and a hint, nothing half-written (the file is written beside its target and renamed over it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from strategy_dsl import safe_write
from stratmap.errors import EXIT_CLEAN, EXIT_USAGE, UsageError, report, usage
from stratmap.inputs import check_not_an_input

__all__ = [
    "add_parser",
    "add_report_option",
    "check_report_option",
    "run_report",
    "write_review_report",
    "write_run_report",
]

_EXAMPLES = """\
examples:
  stratmap simulate strategies/wealth_2026q1.strat --customers 20k --months 12 --out runs/q1
  stratmap report runs/q1 -o q1.html
        the 策略管理看板 of that run: one HTML file, opens offline, can be mailed
  stratmap report runs/cmp --format markdown > comment.md
        a compact summary with the key deltas, for a pull-request comment
  stratmap simulate wealth.strat --out runs/q1 --report q1.html
        simulate and write the report in one go (compare and review take --report too)
  stratmap report review.json -o review.html
        the page of a live test's review (`stratmap review … --format json > review.json`)
  stratmap report runs/backtest -o backtest.html
        the back-test's page (`stratmap backtest … --out runs/backtest`)
"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="the 策略管理看板 (strategy dashboard): one offline HTML file of a results directory",
        description="Read the results directory `simulate --out` or `compare --out` wrote (or "
        "the document `review --format json` wrote, or the directory `backtest --out` wrote) and "
        "write the 策略管理看板: one self-contained HTML file (charts, the strategy map as a "
        "grid, expectations, the map's source), or with --format markdown a summary for a "
        "pull-request comment.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "results", metavar="RESULTS_DIR", help="a results directory, or a review's JSON file"
    )
    report.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the report (required for html; markdown goes to stdout without it)",
    )
    report.add_argument(
        "--format", choices=["html", "markdown"], default="html", help="output (default: html)"
    )
    report.add_argument("-q", "--quiet", action="store_true", help="no summary line")


def add_report_option(command: argparse.ArgumentParser) -> None:
    """``--report FILE`` for `simulate` and `compare` (`review` and `backtest` word their own)."""
    command.add_argument(
        "--report",
        metavar="FILE",
        help="also write the 策略管理看板 (self-contained HTML) of this run to FILE",
    )


def _check_output(raw: str, option: str = "-o") -> Path:
    """The report's path, refused (exit 2) where writing it would fail or would replace what is
    not a file: a directory, a FIFO, a device or a socket (renaming over one replaces the node
    itself; writing into one blocks or goes elsewhere). A symbolic link is written through."""
    path = Path(raw)
    if path.is_dir():
        raise UsageError(
            f"{option} {raw}: a directory; name the file to write, e.g. {raw}/report.html"
        )
    if path.exists() and not path.is_file():
        raise UsageError(
            f"{option} {raw}: not a regular file (a FIFO, a device or a socket); "
            "name the .html file to write",
            "--format markdown without -o prints to stdout, for a pipe" if option == "-o" else None,
        )
    folder = Path(os.path.realpath(path)).parent  # a link's target is what is written
    if not folder.is_dir():
        raise UsageError(f"{option} {raw}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {raw}: cannot write in {folder}")
    return path


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


def _emit(results: Any, output: Path | None, form: str, quiet: bool, started: float) -> None:
    if form == "html":
        from stratmap.report.render import render_html

        document = render_html(results)
    else:
        from stratmap.report.markdown import render_markdown

        document = render_markdown(results)
    if output is None:
        sys.stdout.write(document)
        return
    # Beside the target, renamed over it (a reader or a crash finds the old file or the new),
    # through a symbolic link to its target, keeping an existing file's mode.
    safe_write.write_text(output, document)
    if not quiet:
        print(
            f"Wrote the {form} report of {results.origin} to {output} "
            f"({_size(len(document.encode('utf-8')))}) in {time.perf_counter() - started:.1f} s.",
            file=sys.stderr,
        )


def run_report(args: argparse.Namespace) -> int:
    from stratmap.report.inputs import ReportInputError, load_results

    started = time.perf_counter()
    if args.format == "html" and not args.output:
        raise UsageError(
            "an HTML report needs -o FILE (e.g. -o report.html); --format markdown prints to stdout"
        )
    if args.output:
        check_not_an_input(args.output, "-o", [("RESULTS_DIR", args.results)])
    output = _check_output(args.output) if args.output else None
    try:
        results = load_results(Path(args.results))
    except ReportInputError as exc:
        raise usage(exc) from None
    try:
        _emit(results, output, args.format, args.quiet, started)
    except OSError as exc:
        raise UsageError(f"-o {args.output}: could not write: {exc}") from None
    return EXIT_CLEAN


# The options that name what a command reads, or the directory it writes whole: a report
# written over or into one of them would destroy it (the outcomes, a list, a forecast).
_PATH_OPTIONS = (
    ("file", "MAP"),
    ("files", "MAP"),
    ("strategy", "MAP"),
    ("outcomes", "--outcomes"),
    ("contact_list", "--list"),
    ("forecast", "--forecast"),
    ("customers", "--customers"),
    ("transactions", "--transactions"),
    ("from_snapshot", "--from"),
    ("out", "--out"),
    ("snapshot", "--snapshot"),
)


def _inputs(args: argparse.Namespace) -> list[tuple[str, Path | str | None]]:
    found: list[tuple[str, Path | str | None]] = []
    for attribute, option in _PATH_OPTIONS:
        value = getattr(args, attribute, None)
        values = value if isinstance(value, list) else [value]
        found += [(option, v) for v in values if isinstance(v, (str, Path))]
    return found


def check_report_option(args: argparse.Namespace) -> Path | None:
    """``--report FILE`` validated before a run (exit 2 on a path that cannot be written, or
    one that is, or lies in, what the command reads or writes whole)."""
    raw = getattr(args, "report", None)
    if raw is None:
        return None
    check_not_an_input(raw, "--report", _inputs(args))
    return _check_output(raw, "--report")


def write_run_report(
    args: argparse.Namespace,
    summary: dict[str, Any],
    tables: dict[str, Any],
    strategy_map: dict[str, Any] | None,
) -> int:
    """After `simulate`, `compare` or `backtest`: the report of the run just made, to
    ``--report FILE``."""
    from stratmap.report.inputs import ReportInputError, results_from_run

    started = time.perf_counter()
    output = Path(args.report)
    try:
        results = results_from_run(summary, tables, strategy_map)
        results.origin = str(args.out) if getattr(args, "out", None) else "this run"
        _emit(results, output, "html", getattr(args, "quiet", False), started)
    except (ReportInputError, OSError) as exc:
        report(args.command, UsageError(f"could not write --report {output}: {exc}"))
        return EXIT_USAGE
    return EXIT_CLEAN


def write_review_report(args: argparse.Namespace, document: dict[str, Any]) -> int:
    """After `review`: its page, to ``--report FILE`` (the review itself was printed)."""
    from stratmap.report.inputs import ReportInputError, results_from_review

    started = time.perf_counter()
    output = Path(args.report)
    try:
        results = results_from_review(document, "this review")
        _emit(results, output, "html", False, started)
    except (ReportInputError, OSError) as exc:
        report(args.command, UsageError(f"could not write --report {output}: {exc}"))
        return EXIT_USAGE
    return EXIT_CLEAN
