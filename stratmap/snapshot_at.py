"""`stratmap simulate`'s customer snapshots (docs/snapshot.md): `--snapshot-at T --snapshot
DIR` writes the simulated book as step T + 1's decision reads it, for `stratmap decide` (the
parity between the rules engine and the forecast, and a bank to try `decide` on); `--from
SNAPSHOT` forecasts the bank's own book forward instead of synthetic customers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratmap.errors import UsageError
from stratmap.inputs import parse_day

__all__ = ["SnapshotAt", "add_options", "from_request", "snapshot_request"]


def add_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--snapshot-at",
        metavar="T",
        type=int,
        help="write the book as step T+1's decision reads it (replication 1) to --snapshot",
    )
    command.add_argument(
        "--snapshot", metavar="DIR", type=Path, help="the snapshot directory --snapshot-at writes"
    )
    command.add_argument(
        "--from",
        dest="from_snapshot",
        metavar="SNAPSHOT",
        type=Path,
        help="forecast the bank's own customers (a snapshot, docs/snapshot.md) instead of a "
        "synthetic population",
    )
    command.add_argument(
        "--as-of", help="the snapshot's date with --from (default: its snapshot.json's)"
    )
    command.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="OURS=THEIRS,…",
        help="with --from: the bank's column names, e.g. customer_id=客户号",
    )


@dataclass
class SnapshotAt:
    """What the run captures for the snapshot (``simulate``'s observers), and the writing."""

    step: int
    out: Path
    compiled: Any
    model: Any
    seed: int
    customers: int
    captured: dict[str, Any] = field(default_factory=dict)
    log: Any = None

    def observers(self) -> tuple[Callable, Callable]:
        from bankdata.snapshot_writer import ContactLog, snapshot_from_state
        from simulator.kernels.rng import replication_key

        self.log = ContactLog(self.compiled)
        rk = replication_key(self.seed, 0)

        def observe_decision(rep: int, t: int, phase: str, states: list, extra: Any) -> None:
            if rep == 0 and t == self.step + 1 and phase == "book":
                self.captured["book"] = snapshot_from_state(
                    self.compiled, self.model, states, t, rk, extra, self.log
                )

        return self.log.observer(), observe_decision

    def write(self) -> None:
        from bankdata.snapshot import write_snapshot
        from bankdata.snapshot_state import as_of_of
        from bankdata.tables import TableError

        tables, meta = self.captured["book"]
        meta = {
            **meta,
            "as_of": as_of_of(self.step + 1, self.compiled.step_days).isoformat(),
            "simulated": {
                "map": self.compiled.name,
                "seed": self.seed,
                "replication": 0,
                "step": self.step,
                "customers": self.customers,
            },
        }
        try:
            write_snapshot(self.out, tables, meta)
        except (TableError, OSError) as exc:
            raise UsageError(f"--snapshot {self.out}: {exc}") from None


def snapshot_request(args: argparse.Namespace, model: Any, sizes: Any) -> SnapshotAt | None:
    """The checked `--snapshot-at`/`--snapshot` request, before any work."""
    at, out = getattr(args, "snapshot_at", None), getattr(args, "snapshot", None)
    if at is None and out is None:
        return None
    if at is None or out is None:
        raise UsageError("--snapshot-at T and --snapshot DIR go together (docs/snapshot.md)")
    if not 0 <= at < sizes.steps:
        raise UsageError(
            f"--snapshot-at {at}: the book of step T is read by step T+1's decision, so T is "
            f"0 to {sizes.steps - 1} for a horizon of {sizes.horizon()} (lengthen --months)"
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--snapshot {out}: exists and is not a directory")
    from simulator.engine.sizes import compiled_of

    compiled = compiled_of(model, sizes.customers)
    return SnapshotAt(at, out, compiled, model, sizes.seed, sizes.customers)


def from_request(args: argparse.Namespace, model: Any, sizes: Any) -> tuple[Any, Any] | None:
    """With `--from SNAPSHOT`: the bank's book as the simulation's step 0 (its state) and the
    sizes with its number of customers; refused, naming file, column and rows, like `decide`
    refuses a snapshot — every column the simulation reads is required."""
    from dataclasses import replace

    path = getattr(args, "from_snapshot", None)
    if path is None:
        if getattr(args, "as_of", None) or getattr(args, "map", None):
            raise UsageError("--as-of and --map go with --from SNAPSHOT")
        return None
    if args.customers is not None:
        raise UsageError(
            "--from SNAPSHOT simulates the snapshot's customers: leave out --customers"
        )
    from bankdata.snapshot import read_snapshot
    from bankdata.snapshot_state import SnapshotStateError, book_for_forecast, spec_for
    from bankdata.tables import TableError, parse_mapping
    from simulator.engine.sizes import SimulationError, compiled_of
    from simulator.kernels import common as k
    from stratmap.inputs import check_as_of_in_reach, snapshot_meta

    if not path.exists():
        raise UsageError(f"--from {path}: no such snapshot (docs/snapshot.md)")
    if not path.is_dir() and not path.is_file():  # a FIFO or a device: never opened
        raise UsageError(
            f"--from {path}: not a folder or a regular file (a snapshot is a folder of tables, "
            "or a customers table alone; docs/snapshot.md)"
        )
    if path.is_dir() and not any(path.glob("customers.*")):
        raise UsageError(
            f"--from {path}: no customers table (customers.parquet, customers.csv or "
            "customers.xlsx); docs/snapshot.md describes the snapshot's tables"
        )
    try:
        meta = snapshot_meta(path)
        text = args.as_of if args.as_of is not None else meta.get("as_of")
        if text is None:
            raise UsageError(f"--from {path}: give its date with --as-of YYYY-MM-DD")
        as_of = parse_day("--as-of", str(text)).date()
        taken = meta.get("as_of")
        if args.as_of is not None and taken and str(taken) != as_of.isoformat():
            # Earlier is refused by the tables (events after the as-of date); later forecasts
            # a book as it stood on another day: said, as the user may mean it.
            print(
                f"note: --as-of {as_of} is not the snapshot's own date ({taken}, snapshot.json): "
                "the book is forecast as if taken on --as-of",
                file=sys.stderr,
            )
        mapping: dict[str, str] = {}
        for item in args.map:
            mapping.update(parse_mapping(item))
        whole = compiled_of(model)
        check_as_of_in_reach(
            as_of, whole.step_days, max(whole.horizon_steps, sizes.steps), f"--from {path}: as of"
        )
        spec = spec_for(whole, model, forecast=True)
        snap = read_snapshot(path, spec, as_of, mapping)
        customers = len(snap.customers)
        compiled = compiled_of(model, customers)
        book = book_for_forecast(
            compiled, k.make_tables(compiled), snap, spec, as_of, int(sizes.seed)
        )
    except TableError as exc:
        raise UsageError(str(exc)) from None
    except (SnapshotStateError, SimulationError) as exc:
        raise UsageError(f"--from {path}: {exc.message} ({exc.hint})") from None
    return book.state, replace(sizes, customers=customers)
