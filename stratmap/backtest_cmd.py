"""`stratmap backtest`: calibrate on the data before a split date, forecast after it, compare.

See docs/calibration.md ("The back-test") and calibration/backtest.py for the model.

Exit codes: 0 done; 2 a table, the mapping, a date or an output (--json, --out, --report)
cannot be used (a plain message naming the file, column and first offending rows). Every table
is read, the fit made and the forecast simulated before anything is written; the JSON and the
page are written beside their targets and renamed over them, `--out DIR` as a whole directory
(simulator.results.report_io.write_results).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from strategy_dsl import safe_write
from stratmap.errors import EXIT_CLEAN, UsageError
from stratmap.inputs import (
    add_column_mapping,
    check_out_dir,
    check_outputs,
    column_mapping,
    naming_the_file,
    parse_count,
    parse_day,
)

__all__ = ["add_parser", "run_backtest"]

_EXAMPLES = """\
examples:
  python -m calibration.synthetic bank          a synthetic bank with known parameters
  stratmap backtest --customers bank/customers.csv --transactions bank/transactions.csv \\
      --split 2026-03-31 --end 2026-06-30 --period month --json backtest.json --out backtest
  (with closed dates in the customers table: survivors and churn too; --balances: AUM)
  stratmap report backtest -o backtest.html       its page: tracking, the binned table, baselines
"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "backtest",
        help="calibrate before a split date, forecast after it and compare with what happened",
        description="Fit each customer's churn chance and transaction rate on the data before "
        "--split, simulate the calibrated map to --end, forecast every customer from their own "
        "history, and compare with what happened: per period, cumulative and per customer, "
        "against two naive forecasts.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=Path, required=True, help="customers table")
    parser.add_argument("--transactions", type=Path, required=True, help="transactions table")
    parser.add_argument(
        "--balances", type=Path, help="monthly balances panel: AUM forecast against actual"
    )
    parser.add_argument("--split", required=True, help="the last day of calibration (YYYY-MM-DD)")
    parser.add_argument(
        "--end", help="the last day forecast (YYYY-MM-DD; default: the last transaction's day)"
    )
    parser.add_argument(
        "--period", choices=("day", "week", "month"), default="month", help="tracking period"
    )
    parser.add_argument(
        "--merge-same-day",
        action="store_true",
        help="count a customer's transactions of one day as one (purchase occasions)",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=20,
        help="simulated customers for each real one (default 20; more: less Monte Carlo error)",
    )
    parser.add_argument("--seed", default="0", help="the simulation's seed (default 0)")
    parser.add_argument("--json", type=Path, help="write the report as JSON")
    parser.add_argument("--out", type=Path, help="write the tables as Parquet into DIR")
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="also write the back-test as a 策略管理看板 page (one self-contained HTML file)",
    )
    add_column_mapping(parser, "customer_id=客户号,opened=开户日期")


def run_backtest(args: argparse.Namespace) -> int:
    from bankdata.tables import TableError, read_table
    from calibration.backtest import backtest, histories
    from calibration.backtest_book import book_backtest, check_panel
    from simulator.engine.sizes import MAX_SEED
    from stratmap.report.command import check_report_option, write_run_report

    check_report_option(args)  # before anything is read: a path that cannot be written is exit 2
    split = parse_day("--split", args.split)
    seed = parse_count("--seed", args.seed, low=0, high=MAX_SEED)
    check_outputs(
        [args.customers, args.transactions, args.balances, getattr(args, "map_file", None)],
        [("--json", args.json), ("--out", args.out), ("--report", args.report)],
        folders=("--out",),
    )
    if args.copies < 1 or args.copies > 1000:
        raise UsageError(f"--copies {args.copies}: give a number from 1 to 1000 (example: 20)")
    if args.out is not None:  # a folder Stratmap did not write: refused before the work
        check_out_dir(args.out, str(args.out))
    mapping = column_mapping(args)
    try:
        customers = read_table("customers", args.customers, mapping)
        transactions = read_table("transactions", args.transactions, mapping)
        balances = (
            read_table("balances", args.balances, mapping) if args.balances is not None else None
        )
        end = parse_day("--end", args.end) if args.end else transactions["date"].max().normalize()
        h = histories(customers, transactions, split, end, args.merge_same_day)
        if balances is not None:
            check_panel(customers, balances, split, end)
    except TableError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(
            naming_the_file(
                str(exc),
                {
                    "customers": args.customers,
                    "transactions": args.transactions,
                    "balances": args.balances,
                },
            )
        ) from None
    if not h.x.any():
        raise UsageError(
            f"{args.transactions}: no transaction between an opening and the split "
            f"{split.date()}: nothing to calibrate on"
        )
    for path in (args.json, args.out):
        if path is not None and not path.absolute().parent.is_dir():
            raise UsageError(f"{path}: the folder {path.absolute().parent} does not exist")
    report, tables = backtest(h, split, end, args.period, args.copies, seed)
    # Survivors, churn and AUM where the tables allow (closures recorded; a balances panel).
    book_report, book_tables = book_backtest(customers, balances, split, end, args.copies, seed)
    report |= book_report
    tables |= book_tables
    if args.json is not None:
        text = json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
        try:
            safe_write.write_text(args.json, text)
        except OSError as exc:
            raise UsageError(f"{args.json}: cannot write: {exc.strerror}") from None
    if args.out is not None:
        from simulator.results.report_io import write_results

        try:
            write_results(args.out, tables, report)
        except (OSError, ValueError) as exc:
            raise UsageError(f"{args.out}: cannot write: {exc}") from None
    render(report)
    if args.report:
        return write_run_report(args, report, tables, None)
    return EXIT_CLEAN


def render(report: Mapping[str, Any]) -> None:
    """The report as tables (rich: CJK names measured in terminal cells)."""
    from rich.table import Table
    from rich.text import Text

    from strategy_dsl.render.text import should_color
    from stratmap.terminal import make_console

    console = make_console(sys.stdout, color=should_color(sys.stdout))
    fit = report["fit"]["params"]
    hold, cum = report["holdout"], report["cumulative"]
    console.print(
        Text(
            f"back-test: {report['customers']:,} customers, calibrated to {report['split']}, "
            f"forecast to {report['end']} ({report['holdout_days']} days)\n"
            f"  fit per day: r {fit['r']['value']:.3g}, alpha {fit['alpha']['value']:.3g} "
            f"(rate {report['fit']['extra']['mean_rate']:.3g}), a {fit['a']['value']:.3g}, "
            f"b {fit['b']['value']:.3g} (churn {report['fit']['extra']['mean_churn']:.3g})\n"
            f"  after the split: actual {hold['actual']:,}, Stratmap {hold['stratmap']:,.0f} "
            f"({_pct(hold['error'])})\n"
            f"  cumulative to {report['end']}: actual {cum['actual']:,.0f}, simulated "
            f"{cum['simulated']:,.0f} ({_pct(cum['error'])})"
        )
    )
    errors = Table(title="per customer, after the split", title_justify="left")
    for i, column in enumerate(("forecast", "total", "error", "RMSE", "MAE")):
        errors.add_column(column, justify="left" if i == 0 else "right")
    for row in report["errors"]:
        errors.add_row(
            Text(row["forecast"]),
            f"{row['holdout_total']:,.0f}",
            _pct(row["holdout_error"]),
            f"{row['rmse']:.3f}",
            f"{row['mae']:.3f}",
        )
    console.print(errors)
    bins = Table(title="by transactions before the split (mean after)", title_justify="left")
    for i, column in enumerate(
        ("before", "customers", "actual", "Stratmap", "carried forward", "no change")
    ):
        bins.add_column(column, justify="left" if i == 0 else "right")
    for row in report["bins"]:
        bins.add_row(
            Text(row["bin"]),
            f"{row['customers']:,}",
            *(f"{row[k]:.2f}" for k in ("actual", "stratmap", "carried_forward", "no_change")),
        )
    console.print(bins)
    _render_book(console, report)


def _render_book(console, report: Mapping[str, Any]) -> None:
    """Survivors and AUM after the split, forecast beside actual (docs/calibration.md)."""
    from rich.table import Table
    from rich.text import Text

    survivors, aum = report.get("survivors"), report.get("aum")
    if survivors is None:
        console.print(
            Text("survivors and churn: the customers table records no closure before the split")
        )
        return
    last = survivors["last"]
    console.print(
        Text(
            f"survivors (sBG alpha {survivors['alpha']:.3g}, beta {survivors['beta']:.3g}, a "
            f"month; simulated): period from {last['start']}: actual {last['actual']:,}, "
            f"simulated {last['simulated']:,.0f} (95% {last['low']:,.0f}–{last['high']:,.0f}); "
            f"{_pct_plain(survivors['holdout_inside'])} of the periods after the split inside"
        )
    )
    table = Table(title="after the split, per period of 30 days", title_justify="left")
    for i, column in enumerate(
        ("from", "survivors", "simulated", "95%", "churned", "simulated churned")
    ):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in survivors["after_split"]:
        table.add_row(
            row["start"],
            f"{row['actual']:,}",
            f"{row['simulated']:,.0f}",
            f"{row['low']:,.0f}–{row['high']:,.0f}",
            f"{row['churned_actual']:,}",
            f"{row['churned_simulated']:,.0f}",
        )
    console.print(table)
    if aum is not None and aum["last"] is not None:
        last = aum["last"]
        console.print(
            Text(
                f"AUM (month on month {aum['flows']['mean']:+.2%}, sd {aum['flows']['sd']:.2%}): "
                f"{last['month'][:7]}: actual {last['actual']:,.0f}, forecast "
                f"{last['forecast']:,.0f} (95% {last['low']:,.0f}–{last['high']:,.0f}); "
                f"{_pct_plain(aum['holdout_inside'])} of the months after the split inside"
            )
        )
        table = Table(title="AUM after the split, month-end", title_justify="left")
        for i, column in enumerate(("month", "actual", "forecast", "95%")):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in aum["after_split"]:
            table.add_row(
                row["month"][:7],
                f"{row['actual']:,.0f}",
                f"{row['forecast']:,.0f}",
                f"{row['low']:,.0f}–{row['high']:,.0f}",
            )
        console.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def _pct_plain(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
