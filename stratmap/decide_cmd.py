"""`stratmap decide MAP --customers SNAPSHOT --as-of DATE -o OUT` (定名单): one decision step of
the map on the bank's real customers, written as a contact list (docs/decide.md).

Exit codes: 0 the list is written; 1 the map does not check; 2 the snapshot, the date, the
mapping or the output cannot be used (a message naming the file, column and rows), or the
snapshot is too large for this machine (refused before it is read, with the estimate).
Nothing is written unless the whole list is: the list directory appears complete or not at all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from stratmap.errors import EXIT_CLEAN, EXIT_FINDINGS, UsageError
from stratmap.inputs import (
    add_column_mapping,
    check_as_of_in_reach,
    column_mapping,
    snapshot_meta,
)

__all__ = ["add_parser", "run_decide"]

_EXAMPLES = """\
examples:
  stratmap simulate strategies/wealth_2026q1.strat --customers 2000 --months 3 \\
      --snapshot-at 2 --snapshot runs/book          a simulated bank's book as a snapshot
  stratmap decide strategies/wealth_2026q1.strat --customers runs/book \\
      --as-of 2000-03-01 -o runs/list               its contact list (定名单)
  stratmap decide wealth.strat --customers bank/ --map customer_id=客户号,aum=资产余额 \\
      --as-of 2026-06-30 -o lists/2026-06-30
"""

# Peak memory per customer, measured at 10,450,570 customers of the wealth map with history
# (docs/decide.md, Speed: 7.04 GiB on the final main, with the list's segments and the opt-out
# consent column; 6.06 GiB before them). It is the larger of two moments: reading the snapshot (its
# frames as pandas holds them, ids as Arrow strings, four flow rows a customer, the join of
# every history row with the customers) and deciding, after the frames are released (the
# engine's state, and per play a status, a value and the list's rows).
READ_BYTES_PER_CUSTOMER = 730
FRAME_BYTES_PER_ROW = 100  # a list row as pandas holds it
WORKBOOK_BYTES_PER_ROW = 300  # and as openpyxl holds it while writing the xlsx


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "decide",
        help="the contact list (定名单): one decision step on the bank's real customers",
        description="Run one decision step of the map on a customer snapshot (docs/snapshot.md) "
        "as of a date, by the simulation's own kernels, and write the contact list: Parquet, "
        "CSV (UTF-8 with BOM) and xlsx, one row per customer and candidate play, with the arm "
        "and the reason of every suppression, and a manifest.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="MAP", help="the strategy map (.strat)")
    parser.add_argument(
        "--customers",
        type=Path,
        required=True,
        metavar="SNAPSHOT",
        help="the snapshot: a directory of tables (docs/snapshot.md), or a customers table",
    )
    parser.add_argument("--as-of", required=True, help="the decision's date (YYYY-MM-DD)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the list directory")
    add_column_mapping(parser, "customer_id=客户号,aum=资产余额")
    parser.add_argument(
        "--seed",
        type=int,
        help="the key of the arms and holdouts (default: the map's seed; keep it for the "
        "whole live test)",
    )
    parser.add_argument(
        "--formats",
        default="auto",
        metavar="LIST",
        help="the list's files, of parquet, csv, xlsx (default auto: all three, but the xlsx only "
        "when the list fits one Excel sheet, 1,048,575 rows)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")


FORMATS = ("parquet", "csv", "xlsx")


def _formats(text: str) -> tuple[str, ...] | None:
    """``--formats``: the files asked for, in the writer's order; None for ``auto``."""
    if text.strip() == "auto":
        return None
    asked = [word.strip().lower() for word in text.split(",") if word.strip()]
    unknown = [word for word in asked if word not in FORMATS]
    if unknown or not asked:
        raise UsageError(
            f"--formats {text}: not a list of parquet, csv, xlsx",
            "for example --formats parquet,csv (or auto, the default)",
        )
    if not {"parquet", "csv"} & set(asked):
        raise UsageError(
            f"--formats {text}: a list needs its Parquet or its CSV",
            "a CRM reads one of them; the xlsx is a copy for people",
        )
    return tuple(f for f in FORMATS if f in asked)


def _formats_for(asked: tuple[str, ...] | None, rows: int) -> tuple[tuple[str, ...], str | None]:
    """The files to write for a list of ``rows`` rows, and the note when ``auto`` left the xlsx
    out: a workbook beyond one sheet is minutes to write and gigabytes to hold (openpyxl),
    and no one reads millions of rows in Excel."""
    from bankdata.contact_list import XLSX_ROWS_PER_SHEET

    if asked is not None:
        return asked, None
    if rows <= XLSX_ROWS_PER_SHEET:
        return FORMATS, None
    return ("parquet", "csv"), (
        f"the list has {rows:,} rows, more than one Excel sheet holds ({XLSX_ROWS_PER_SHEET:,}): "
        "list.xlsx left out (--formats parquet,csv,xlsx writes it on several sheets)"
    )


def run_decide(args: argparse.Namespace) -> int:
    from bankdata.contact_list import ContactListError, check_list_dir, write_list
    from bankdata.decide import decide
    from bankdata.snapshot import read_snapshot, snapshot_hash
    from bankdata.snapshot_state import EPOCH, SnapshotStateError, spec_for
    from bankdata.tables import TableError
    from stratmap import __version__
    from stratmap.inputs import checked_model, one_strategy_file, strategy_hash

    path = one_strategy_file(args.file)
    asked = _formats(args.formats)
    try:  # before minutes of work: a directory the list may not replace is refused now
        check_list_dir(args.out)
    except ContactListError as exc:
        raise UsageError(str(exc)) from None
    as_of = _as_of(args.as_of, EPOCH)
    model = checked_model(args, path)
    if model is None:
        return EXIT_FINDINGS
    mapping = column_mapping(args)
    meta = _meta_of(args.customers)
    seed = _seed(args.seed, meta, model)
    compiled = _compiled(model, meta)
    check_as_of_in_reach(as_of, compiled.step_days, compiled.horizon_steps)
    _check_size(args.customers, compiled, xlsx=asked is None or "xlsx" in asked)
    spec = spec_for(compiled, model)
    try:
        snap = read_snapshot(args.customers, spec, as_of, mapping)
        decision = decide(compiled, model, snap, spec, as_of, seed)
    except TableError as exc:
        raise UsageError(str(exc)) from None
    except SnapshotStateError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        raise UsageError(f"{args.customers}: {exc.message}{hint}") from None
    manifest: dict[str, Any] = {
        "map": str(path),
        "map_hash": strategy_hash(model),
        "snapshot_hash": snapshot_hash(snap.files),
        "as_of": as_of.isoformat(),
        "seed": seed,
        "step": decision.step,
        "capacity_used": decision.capacity_used,
        "notes": decision.notes,
        "stratmap_version": __version__,
    }
    formats, left_out = _formats_for(asked, len(decision.rows))
    if left_out is not None:
        manifest["notes"] = [*manifest["notes"], left_out]
    try:
        write_list(args.out, decision.rows, manifest, formats=formats)
    except ContactListError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{args.out}: cannot write: {exc.strerror}") from None
    if not args.quiet:
        rows = decision.rows
        contacts = int((rows["action"] == "contact").sum())
        customers = rows["customer_id"].nunique()
        print(
            f"decided {len(snap.customers):,} customers as of {as_of}: {contacts:,} contacts, "
            f"{len(rows) - contacts:,} suppressed, over {customers:,} candidates → {args.out}",
            file=sys.stderr,
        )
        if left_out is not None:
            print(f"note: {left_out}", file=sys.stderr)
    return EXIT_CLEAN


def _as_of(text: str, epoch: dt.date) -> dt.date:
    try:
        as_of = dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not a date (expected YYYY-MM-DD)") from None
    if as_of < epoch:
        raise UsageError(f"--as-of {as_of}: decisions are dated from {epoch} on")
    return as_of


def _meta_of(snapshot: Path) -> dict[str, Any]:
    if not snapshot.exists():
        raise UsageError(f"{snapshot}: no such snapshot (a directory of tables, docs/snapshot.md)")
    return snapshot_meta(snapshot)


def _seed(given: int | None, meta: dict[str, Any], model: Any) -> int:
    if given is not None:
        if not 0 <= given < 2**64:
            raise UsageError(f"--seed {given}: use a seed between 0 and 2^64 - 1")
        return given
    simulated = meta.get("simulated", {})
    return int(simulated.get("seed", model.strategy.seed))


def _compiled(model: Any, meta: dict[str, Any]) -> Any:
    """The map's tables; a simulated book decides with the capacities and budgets its
    simulation scaled to its size (``snapshot.json``), a bank's with the map's own."""
    from simulator.engine.sizes import SimulationError, compiled_of

    customers = meta.get("simulated", {}).get("customers")
    try:
        return compiled_of(model, None if customers is None else int(customers))
    except SimulationError as exc:
        raise UsageError(f"{exc.message} ({exc.hint})") from None


def _check_size(snapshot: Path, compiled: Any, *, xlsx: bool) -> None:
    """Refuse, before reading it, a snapshot this machine's memory cannot decide on. The
    workbook, when one may be written, holds at most one sheet's rows under ``auto``."""
    from bankdata.contact_list import XLSX_ROWS_PER_SHEET
    from simulator.engine.sizes import available_memory
    from simulator.kernels import common as k
    from simulator.kernels.population import bytes_per_customer

    rows = _row_estimate(snapshot)
    if rows is None:
        return
    deciding = bytes_per_customer(k.make_tables(compiled))
    deciding += len(compiled.plays) * (9 + FRAME_BYTES_PER_ROW // 4)
    per_customer = max(READ_BYTES_PER_CUSTOMER, deciding)
    list_rows = rows * len(compiled.plays) // 4  # a quarter of the customers per play, at most
    workbook = min(list_rows, XLSX_ROWS_PER_SHEET) * WORKBOOK_BYTES_PER_ROW if xlsx else 0
    needed = rows * per_customer + workbook + 512 * 2**20
    available = available_memory()
    if available is not None and needed > available:
        raise UsageError(
            f"{snapshot}: about {rows:,} customers need about {needed / 2**30:,.1f} GiB of "
            f"memory to decide; {available / 2**30:,.1f} GiB is available (decide on a part of "
            "the book at a time: every customer's decision but the capacity and budget cuts is "
            "its own)"
        )


def _row_estimate(snapshot: Path) -> int | None:
    """The customers table's rows: exact for Parquet (its footer), else from the size."""
    folder = snapshot if snapshot.is_dir() else None
    candidates = (
        [folder / f"customers{s}" for s in (".parquet", ".csv", ".xlsx")] if folder else [snapshot]
    )
    for path in candidates:
        if not path.is_file():
            continue
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            try:
                return int(pq.ParquetFile(path).metadata.num_rows)
            except Exception:
                return None
        return path.stat().st_size // 40  # a CSV or xlsx row is at least about 40 bytes
    return None
