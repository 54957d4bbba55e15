"""`stratmap calibrate`: the bank's tables → a `.strat` fragment and a fit report.

See docs/calibration.md.

Exit codes: 0 written; 2 a table, the mapping, the date or the output cannot be used (a plain
message naming the file, column and first offending rows). Every table is read and every fit
made before anything is written; each output is written beside its target and renamed over it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from strategy_dsl import safe_write
from strategy_dsl.checker import check_file
from stratmap.errors import EXIT_CLEAN, UsageError
from stratmap.inputs import (
    add_column_mapping,
    check_outputs,
    column_mapping,
    naming_the_file,
    parse_day,
)

__all__ = ["add_parser", "run_calibrate"]

_EXAMPLES = """\
examples:
  python -m calibration.synthetic bank          a synthetic bank with known parameters
  stratmap calibrate --customers bank/customers.csv --transactions bank/transactions.csv \\
      --balances bank/balances.csv --contacts bank/contacts.csv --as-of 2026-06-30 \\
      -o calibrated.strat --json calibration.json
  stratmap calibrate --customers 客户.xlsx \\
      --map customer_id=客户号,opened=开户日期,closed=销户日期 \\
      --as-of 2026-06-30 -o calibrated.strat
"""

_TABLES = ("customers", "transactions", "balances", "contacts")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "calibrate",
        help="fit population, churn, transactions, flows and responses from the bank's tables",
        description="Read the bank's tables (Parquet, CSV or Excel) as of a date and write a "
        ".strat fragment with the fitted numbers, each with its sample, window and interval.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=Path, required=True, help="customers table (required)")
    parser.add_argument("--transactions", type=Path, help="transactions table")
    parser.add_argument("--balances", type=Path, help="monthly balances panel")
    parser.add_argument("--contacts", type=Path, help="contact history")
    parser.add_argument("--as-of", required=True, help="the date the book is seen on (YYYY-MM-DD)")
    parser.add_argument(
        "-o", "--out", type=Path, required=True, help="the .strat fragment to write"
    )
    parser.add_argument("--json", type=Path, help="also write the fit report as JSON")
    parser.add_argument(
        "--per-customer",
        type=Path,
        metavar="FILE",
        help="also write each customer's posterior churn_chance and txn_per_month "
        "(.parquet or .csv), to join into a snapshot's customers table",
    )
    add_column_mapping(parser, "customer_id=客户号,opened=开户日期")
    parser.add_argument("--population", default="客户", help="the population's name (default 客户)")


def run_calibrate(args: argparse.Namespace) -> int:
    from bankdata.tables import TableError, read_table
    from calibration.book import calibrate
    from calibration.fragment import render_fragment

    if not (args.population[:1].isalpha() or args.population[:1] == "_") or not all(
        c.isalnum() or c == "_" for c in args.population
    ):
        raise UsageError(
            f"--population {args.population!r} is not a name: letters, digits and _, "
            "starting with a letter or _ (example: --population 零售客户)"
        )
    mapping = column_mapping(args)
    per_customer = getattr(args, "per_customer", None)
    if per_customer is not None and per_customer.suffix.lower() not in (".parquet", ".csv"):
        raise UsageError(
            f"--per-customer {per_customer}: write .parquet or .csv "
            "(example: --per-customer posteriors.parquet)"
        )
    as_of = parse_day("--as-of", args.as_of)
    check_outputs(
        [getattr(args, name) for name in _TABLES] + [getattr(args, "map_file", None)],
        [("-o", args.out), ("--json", args.json), ("--per-customer", per_customer)],
    )
    try:
        tables = {
            name: read_table(name, getattr(args, name), mapping)
            for name in _TABLES
            if getattr(args, name) is not None
        }
        result = calibrate(
            tables["customers"],
            as_of,
            tables.get("transactions"),
            tables.get("balances"),
            tables.get("contacts"),
        )
    except TableError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(
            naming_the_file(str(exc), {name: getattr(args, name) for name in _TABLES})
        ) from None
    sources = ", ".join(getattr(args, name).name for name in _TABLES if name in tables)
    fragment = render_fragment(result, args.population, sources)
    # The fragment must check clean: a --population that is a keyword (`for`) passes the
    # character test above but would write a file no map can import.
    problems = _problems(fragment)
    if problems:
        # Blamed on --population only when that name is what fails: the same fit written for
        # the default name must check. Otherwise the fit wrote what the language cannot hold,
        # which no input should reach (each table's values are checked): a bug, exit 3.
        if args.population != "客户" and not _problems(render_fragment(result, "客户", sources)):
            raise UsageError(
                f"--population {args.population!r}: the fragment would not check "
                f"({problems[0].message}); choose another name (example: --population 零售客户)"
            )
        raise RuntimeError(f"the calibrated fragment does not check: {problems[0].message}")
    report = result.to_json()
    outputs = [(args.out, fragment)]
    if args.json:
        outputs.append(
            (args.json, json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False) + "\n")
        )
    for path in [p for p, _ in outputs] + ([per_customer] if per_customer else []):
        if not path.parent.resolve().is_dir():
            raise UsageError(f"{path}: the folder {path.parent} does not exist")
    if per_customer is not None:
        from calibration.per_customer import per_customer_posteriors

        _write_table(per_customer, per_customer_posteriors(result))
    for path, text in outputs:
        _write_atomically(path, text)
    print(_summary(result, args.out))
    return EXIT_CLEAN


def _problems(fragment: str) -> list:
    """The fragment's errors as `stratmap check` would give them (checked in a scratch copy)."""
    with tempfile.TemporaryDirectory(prefix="stratmap-calibrate-") as scratch:
        draft = Path(scratch) / "calibrated.strat"
        draft.write_text(fragment, encoding="utf-8")
        return [d for d in check_file(draft).diagnostics if d.is_error]


def _write_atomically(path: Path, text: str) -> None:
    """Through the project's one safe writer (temporaries swept, signals, links kept)."""
    try:
        safe_write.write_text(path, text)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


def _write_table(path: Path, frame) -> None:
    """A CSV through the safe writer; a Parquet file written beside its target and renamed
    over it (a kill leaves a swept temporary, never half a table)."""
    if path.suffix.lower() == ".csv":
        _write_atomically(path, frame.to_csv(index=False))
        return
    temporary = safe_write.temporary_name(path.parent, path.name)
    try:
        frame.to_parquet(temporary, index=False)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


def _summary(result, out: Path) -> str:
    """The terminal fit report: one line a fit, the interval beside each number."""
    geo = result.churn_geometric.params["hazard"]
    lines = [
        f"calibrated as of {result.as_of.date()}: {result.active} open of {result.customers} "
        f"customers → {out}",
        f"  churn, constant hazard   {geo.value:.2%} a month (95% CI {geo.low:.2%}–{geo.high:.2%})",
    ]
    if result.churn_sbg is not None:
        a, b = result.churn_sbg.params["alpha"], result.churn_sbg.params["beta"]
        verdict = (
            "constant hazard is as good"
            if result.churn_test["simpler_is_as_good"]
            else "heterogeneous: written as each customer's own chance, churned ~ beta"
        )
        lines.append(
            f"  churn, sBG               alpha {a.value:.3g} ({a.low:.3g}–{a.high:.3g}), "
            f"beta {b.value:.3g} ({b.low:.3g}–{b.high:.3g}); "
            f"LR p={result.churn_test['p_value']:.2g}: {verdict}"
        )
    if result.txn_poisson is not None:
        r = result.txn_poisson.params["rate"]
        lines.append(
            f"  transactions             {r.value:.3g} per customer-month "
            f"({r.low:.3g}–{r.high:.3g})"
        )
    if result.txn_nbd is not None:
        r, a = result.txn_nbd.params["r"], result.txn_nbd.params["alpha"]
        written = "" if result.txn_test["simpler_is_as_good"] else ": written as a gamma rate"
        lines.append(
            f"  transactions, NBD        r {r.value:.3g} ({r.low:.3g}–{r.high:.3g}), "
            f"alpha {a.value:.3g} ({a.low:.3g}–{a.high:.3g}); "
            f"LR p={result.txn_test['p_value']:.2g}{written}"
        )
    if result.aum is not None:
        m = result.aum.params["median"]
        lines.append(
            f"  AUM                      median {m.value:,.0f} ({m.low:,.0f}–{m.high:,.0f})"
        )
    if result.flows is not None:
        m = result.flows.params["mean"]
        lines.append(
            f"  AUM change a month       {m.value:.2%} ({m.low:.2%}–{m.high:.2%}), "
            f"sd {result.flows.params['sd'].value:.2%}"
        )
    for row in result.responses:
        via = f" via {row['channel']}" if row.get("channel") else ""
        lines.append(
            f"  response {row['play']}{via}: {row['rate']:.2%} "
            f"({row['low']:.2%}–{row['high']:.2%}; {row['responded']}/{row['contacts']})"
        )
    lines.extend(f"  not fitted: {note}" for note in result.not_fitted)
    lines.extend(f"  caution: {note}" for note in result.cautions)
    return "\n".join(lines)
