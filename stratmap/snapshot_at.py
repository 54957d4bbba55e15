"""`stratmap simulate MAP --snapshot-at T --snapshot DIR`: the simulated book as step T + 1's
decision reads it, written in the customer snapshot format (docs/snapshot.md) for
`stratmap decide` — the parity between the rules engine and the forecast, and a bank to try
`decide` on."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratmap.cli import UsageError

__all__ = ["SnapshotAt", "add_options", "snapshot_request"]


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
