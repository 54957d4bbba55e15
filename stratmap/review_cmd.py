"""`stratmap review MAP --list OUT --outcomes OUTCOMES` (经营回检): a live test held against
the map and its forecast. See docs/review.md.

Exit codes: 0 the review was made (whatever it found: a sample-ratio mismatch or an actual
outside its forecast is reported, not failed); 1 the map does not check; 2 the list, the
outcomes, the forecast or an option cannot be used (a message naming the file, column and
rows), or the map could not be written with --write. Everything is read and checked before
anything is printed or written; --write replaces the map atomically, changing only the
numbers of the rates it recalibrates.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratmap.errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, UsageError
from stratmap.inputs import add_column_mapping, column_mapping

if TYPE_CHECKING:
    import pandas as pd

    from strategy_dsl.model import CheckedStrategy

__all__ = ["add_parser", "run_review"]

_EXAMPLES = """\
examples:
  stratmap review wealth.strat --list lists/2026-07 --outcomes outcomes.parquet
        sample-ratio check, uplift per play, funnel, recalibrated response rates (a diff)
  stratmap review wealth.strat --list lists/2026-07 --outcomes 回检.csv \\
      --map customer_id=客户号,responded=是否成交 --forecast runs/q1 --format markdown
        the bank's own column names; every actual held against the forecast in runs/q1
  stratmap review wealth.strat --list lists/2026-07 --outcomes outcomes.parquet --write
        also write the recalibrated rates into wealth.strat (comments and layout kept)
"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "review",
        help="hold a live test's outcomes against the map and its forecast (经营回检)",
        description="Read a contact list (`stratmap decide -o`) and the outcomes the bank "
        "returned, and report the sample-ratio check of the arms, the actual uplift per play "
        "with intervals, each actual against the forecast's interval at the live size, the "
        "funnel, and recalibrated response rates as an edit of the map.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "strategy", metavar="MAP", type=Path, help="the map the list was decided with"
    )
    parser.add_argument(
        "--list",
        dest="contact_list",
        type=Path,
        required=True,
        metavar="DIR",
        help="the contact-list directory (`stratmap decide -o DIR`)",
    )
    parser.add_argument(
        "--outcomes",
        type=Path,
        required=True,
        metavar="FILE",
        help="the outcomes table (Parquet, CSV or Excel)",
    )
    parser.add_argument(
        "--forecast",
        type=Path,
        metavar="DIR",
        help="a `stratmap simulate --out DIR` results directory of the same map",
    )
    add_column_mapping(parser, "customer_id=客户号,responded=是否成交")
    parser.add_argument(
        "--prior-strength",
        type=float,
        default=None,
        metavar="M",
        help="the recalibration's prior, in reached customers (default 200)",
    )
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    parser.add_argument(
        "--write", action="store_true", help="write the recalibrated response rates into MAP"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write the review as a results directory: summary.json (the JSON document) "
        "and its tables as Parquet (docs/results.md); `stratmap report DIR` draws it",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="also write the review as a 策略管理看板 page (one self-contained HTML file)",
    )


# ------------------------------------------------------------------------------ reading


def _model(path: Path) -> CheckedStrategy | None:
    from strategy_dsl.checker import check_paths
    from strategy_dsl.render import text

    if not path.is_file():
        what = (
            "not a regular file (a directory, a FIFO, a device)"
            if path.exists()
            else ("no such map file")
        )
        raise UsageError(f"{path}: {what}", "give the .strat file the list was decided with")
    report = check_paths([path])
    errors = [d for d in report.diagnostics if d.is_error]
    if errors or not report.models:
        sys.stderr.write(text.render_text(report.diagnostics, report.sources, color=False))
        print(f"stratmap review: {path} does not check; nothing was reviewed", file=sys.stderr)
        return None
    return next(iter(report.models.values()))


SIMULATION_SCHEMA = "stratmap.simulation/1"
_WROTE = {  # a results directory's schema → the command that writes it
    "stratmap.compare/1": "`stratmap compare`",
    "stratmap.review/1": "`stratmap review`",
    "stratmap.backtest/1": "`stratmap backtest`",
}
_MAX_SUMMARY_BYTES = 64 * 2**20
# The funnel's columns the forecast's rates read (simulator.analysis.review.forecast_rates).
FUNNEL_COLUMNS = ("play", "arm", "rep", "eligible", "holdout", "contacted", "reached", "responded")


def _forecast_funnel(path: Path, map_hash: str) -> pd.DataFrame:
    """The forecast's funnel table, from a `simulate --out` directory of the same map; any
    other directory is a usage error that names what it is and the file at fault."""
    import pandas as pd

    from strategy_dsl.userfile import read_user_json

    summary_file = path / "summary.json"
    if not os.path.lexists(summary_file):
        raise UsageError(
            f"--forecast {path}: not a results directory (no summary.json); give the "
            "folder `stratmap simulate MAP --out DIR` wrote"
        )
    try:  # only a regular file, bounded: a FIFO would block a plain read forever
        summary = read_user_json(summary_file, _MAX_SUMMARY_BYTES)
    except OSError as exc:
        raise UsageError(f"--forecast {summary_file}: cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(
            f"--forecast {summary_file}: not JSON ({exc})",
            "the directory is damaged: simulate the map again with --out",
        ) from None
    schema = summary.get("schema") if isinstance(summary, dict) else None
    if schema != SIMULATION_SCHEMA:
        wrote = _WROTE.get(str(schema))
        what = f"the results of {wrote}" if wrote else f"results of schema {schema!r}"
        raise UsageError(
            f"--forecast {path}: {what}, not of `stratmap simulate` ({SIMULATION_SCHEMA})",
            "give the folder `stratmap simulate MAP --out DIR` wrote for this map",
        )
    theirs = (summary.get("strategy") or {}).get("hash")
    if theirs != map_hash:
        raise UsageError(
            f"--forecast {path}: simulated another map (strategy.hash {str(theirs)[:12]}… in "
            f"its summary.json; MAP hashes to {map_hash[:12]}…); simulate this map again"
        )
    # Only the funnel is read (the other tables may be large), by the name summary.json
    # gives it: a plain file name inside the directory, never a path out of it.
    files = summary.get("files")
    entry = files.get("funnel") if isinstance(files, dict) else None
    name = entry.get("file") if isinstance(entry, dict) else None
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise UsageError(
            f"--forecast {summary_file}: lists no funnel table (files.funnel.file is {name!r})",
            "the directory is damaged: simulate the map again with --out",
        )
    if os.path.exists(path / name) and not (path / name).is_file():
        raise UsageError(f"--forecast {path / name}: not a regular file (a FIFO, a device)")
    try:
        funnel = pd.read_parquet(path / name, engine="pyarrow")
    except FileNotFoundError:
        raise UsageError(
            f"--forecast {path}: {name} is missing (summary.json lists it)",
            "the directory is incomplete: simulate the map again with --out",
        ) from None
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise UsageError(
            f"--forecast {path}: cannot be read: {exc}",
            "the directory is damaged: simulate the map again with --out",
        ) from None
    absent = [c for c in FUNNEL_COLUMNS if c not in funnel.columns]
    if absent:
        raise UsageError(
            f"--forecast {path / name}: no column {', '.join(absent)} (a simulation's funnel "
            "has them; docs/results.md)",
            "the directory is damaged or from another version: simulate the map again",
        )
    return funnel


# ------------------------------------------------------------------------------ the command


def run_review(args: argparse.Namespace) -> int:
    from bankdata.contact_list import ContactListError, read_list, segment_members
    from bankdata.outcomes import match_list, read_outcomes
    from bankdata.tables import TableError
    from simulator.analysis.review import DEFAULT_PRIOR_STRENGTH, review
    from strategy_dsl.source_hash import source_hash

    strength = DEFAULT_PRIOR_STRENGTH if args.prior_strength is None else args.prior_strength
    if not (math.isfinite(strength) and strength > 0):
        raise UsageError(f"--prior-strength {args.prior_strength}: must be a number above 0")
    from stratmap.inputs import check_not_an_input, check_out_dir
    from stratmap.report.command import check_report_option, write_review_report

    check_report_option(args)  # before anything is read: a path that cannot be written is exit 2
    if args.out is not None:
        check_out_dir(args.out, str(args.out))
        check_not_an_input(
            args.out,
            "--out",
            [
                ("MAP", args.strategy),
                ("--list", args.contact_list),
                ("--outcomes", args.outcomes),
                ("--forecast", args.forecast),
            ],
        )
    model = _model(args.strategy)
    if model is None:
        return EXIT_FINDINGS
    map_hash = source_hash(model.source_files)
    try:
        listed = read_list(args.contact_list)
    except ContactListError as exc:
        raise UsageError(f"--list {exc}") from None
    if listed.manifest["map_hash"] != map_hash:
        raise UsageError(
            f"--list {args.contact_list}: decided with another map (map_hash "
            f"{listed.manifest['map_hash'][:12]}… in its manifest.json, from "
            f"{listed.manifest.get('map')!r}; {args.strategy} hashes to {map_hash[:12]}…)\n"
            "help: review a list against the map it was decided with, unchanged"
        )
    if listed.rows.empty:  # said before the outcomes, which can only be empty too
        raise UsageError(
            f"--list {args.contact_list}: holds no rows (no customer was a candidate for any "
            f"play as of {listed.manifest.get('as_of')}); there is nothing to review",
            "decide on a larger book or another date, and review that list",
        )
    mapping = column_mapping(args)
    try:
        outcomes = read_outcomes(args.outcomes, mapping)
        joined = match_list(listed.rows, outcomes, args.outcomes)
    except TableError as exc:
        raise UsageError(f"--outcomes {exc}") from None
    members = segment_members(joined["segments"])
    _check_segments(members, model, args.contact_list)
    funnel = _forecast_funnel(args.forecast, map_hash) if args.forecast else None
    document = review(joined, model, funnel, prior_strength=strength, segments=members)
    if listed.manifest["version"] < 2:
        document["notes"].append(
            "the list is a version 1 list, which records no segments: no uplift per segment"
        )
    document["map"] = {"file": str(args.strategy), "hash": map_hash}
    document["list"] = {"dir": str(args.contact_list), "as_of": listed.manifest.get("as_of")}
    document["forecast"] = str(args.forecast) if args.forecast else None
    source = args.strategy.read_text(encoding="utf-8")
    edited, skipped = _edited_map(source, str(args.strategy), document["recalibration"])
    if skipped:
        document["notes"].append(
            f"not in {args.strategy} (imported): {', '.join(skipped)}; edit their rates by hand"
        )
    diff = "".join(
        difflib.unified_diff(
            source.splitlines(keepends=True),
            edited.splitlines(keepends=True),
            f"a/{args.strategy.name}",
            f"b/{args.strategy.name}",
        )
    )
    document["diff"] = diff
    if args.write and diff:
        _write_map(args.strategy, edited)
    document["written"] = bool(args.write and diff)
    _print(document, args.format)
    if args.out is not None and not _write_out(args.out, document):
        return EXIT_USAGE
    if args.report:
        return write_review_report(args, document)
    return EXIT_CLEAN


def _check_segments(members: dict[str, Any], model: CheckedStrategy, where: Path) -> None:
    """A list's segments are the map's: a name the map does not declare is a list another
    system wrote with its own words (or a typo), refused rather than reported as a segment."""
    unknown = [name for name in members if name not in model.segments]
    if unknown:
        rows = ", ".join(f"row {int(i) + 1}" for i in members[unknown[0]].nonzero()[0][:5])
        raise UsageError(
            f"--list {where}: column segments: {', '.join(map(repr, unknown[:5]))} "
            f"{'is' if len(unknown) == 1 else 'are'} not a segment of the map (first at "
            f"{rows}); the map declares {', '.join(model.segments) or 'no segments'}"
        )


def _edited_map(source: str, path: str, rows: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The map with each play's proposed rate where it reads differently; the plays whose
    rate lives in an imported file."""
    from strategy_dsl.rate_edit import edit_rates, format_rate, response_spans

    spans = response_spans(source, path)
    rates, skipped = {}, []
    for row in rows:
        key = (row["play"], row["wave"])
        name = row["play"] if row["wave"] is None else f"{row['play']} wave {row['wave']}"
        if key not in spans:
            skipped.append(name)
        elif row["changed"] and format_rate(row["proposed_rate"]) != spans[key][1]:
            rates[key] = row["proposed_rate"]
        row["edit"] = (
            None
            if key not in rates
            else {
                "line": spans[key][0].line,
                "from": spans[key][1],
                "to": format_rate(row["proposed_rate"]),
            }
        )
    return edit_rates(source, path, rates), skipped


def _write_out(out: Path, document: dict[str, Any]) -> bool:
    """The review as a results directory, atomically (written beside it, renamed over it)."""
    from simulator.analysis.review_frames import review_frames
    from simulator.results import report_io
    from stratmap.errors import report

    try:
        report_io.write_results(out, review_frames(document), document)
    except (OSError, report_io.NotAResultsDirectory) as exc:
        report("review", UsageError(f"could not write {out}: {exc}", "nothing was written there"))
        return False
    return True


def _write_map(path: Path, text: str) -> None:
    from strategy_dsl import safe_write
    from strategy_dsl.parser import parse_text

    parsed = parse_text(text, str(path))
    if parsed.file is None or any(d.is_error for d in parsed.diagnostics):  # never expected
        raise RuntimeError(f"the recalibrated {path} would not parse; nothing was written")
    try:
        safe_write.write_text(path, text)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


# ------------------------------------------------------------------------------ output


def _print(document: dict[str, Any], form: str) -> None:
    from stratmap.review_tables import review_markdown, review_tables

    if form == "json":
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n")
        return
    if form == "markdown":
        sys.stdout.write(review_markdown(document))
        return
    from rich.table import Table

    from strategy_dsl.render.text import should_color
    from stratmap.terminal import make_console

    console = make_console(sys.stdout, color=should_color(sys.stdout))
    for title, headers, rows in review_tables(document):
        table = Table(title=title, title_justify="left")
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if document["diff"]:
        verb = "written into the map" if document["written"] else "proposed (--write applies it)"
        console.print(f"Recalibrated response rates, {verb}:", markup=False)
        console.print(document["diff"].rstrip(), markup=False, highlight=False)
    for note in document["notes"]:
        console.print(f"note: {note}", markup=False)
