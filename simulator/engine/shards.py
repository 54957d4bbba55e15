"""The shard interface: what the step loop (``loop.Step``) asks of the customers' shards, phase
by phase, and nothing else.

A run splits its customers into shards, ranges of customer ids, each with arrays of its own
(``Shard``: the state, the segments each customer has been in, the ledger). The loop drives
every step through a ``ShardBackend`` in the order ``Step.step`` writes once:

1. ``arrive``: new customers (ids handed out by the driver) drawn into each shard's rows;
2. ``baseline``: market, flows, transactions, lifecycle, model labels; per shard, the counts
   the driver turns into the models' cutoffs (``couplings.model_cutoffs``);
3. ``decide``: candidates, eligibility, holdouts, arbitration; per shard, the decision funnel
   and the proposals per block and play;
4. ``gather``: where a budget or a channel's capacity binds (``couplings.binding``, from the
   proposals' counts), the keys of those proposals; the driver merges them and cuts
   (``couplings.merged_keys``, ``couplings.cut``);
5. ``account``: the cuts applied, contacts, responses, purchases and the step's accounting;
   per shard, its counters;
6. ``retire``: churned customers' rows removed, their counts kept in the shard.

Every input and output is a plain value (NumPy arrays, tuples of them, dicts of them, the
small ``Accounted``): picklable, so a backend can keep its shards in other processes or on
other machines (a Dask backend: ``client.submit`` per shard, each phase a task over the
shard's own state) without touching the kernels. The shards' state is the backend's own; the
driver sees only counts, and reduces what couples customers (models' cutoffs, capacity and
budget cuts, referrals, spend) from them. Counters are integers summed over fixed blocks, so
any split of the customers, in any order of completion, gives the same bits.

``local_shards.LocalShards`` is the in-process backend (each phase's kernels on the run's
threads, shard after shard). What needs the customers' rows themselves stays with it: traces
of one customer, ``observe`` callbacks, alternatives sharing one drawn population, and
variants run as deltas of their base (``delta``), which read and copy the base's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from simulator.engine.couplings import Keys
from simulator.kernels.apply import N_LEDGER


@dataclass(frozen=True)
class IdRange:
    """Customer ids ``first`` to ``stop - 1``: a block of customers (or a shard's share of a
    step's arrivals) described by its bounds, so that the driver of a cluster holds a few
    integers per block, not one id per customer, and sends them so."""

    first: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.first

    def __getitem__(self, cut: slice) -> IdRange:
        """``ids[a:b]`` as for an array of the ids (a step other than 1 is not a range)."""
        start, stop, step = cut.indices(self.size)
        assert step == 1, "a range of ids is cut into ranges"
        return IdRange(self.first + start, self.first + max(start, stop))

    def ids(self) -> np.ndarray:
        """The ids themselves, where customers are drawn."""
        return np.arange(self.first, self.stop, dtype=np.int64)


@dataclass
class Shard:
    ids: np.ndarray  # initial customer ids
    state: Any = None
    rows: int = 0
    first_new: int = 0
    # Per row, the segments the customer has been in (bits; bit G "(all)"), kept beside the
    # state: the accounting's own memory, not a customer attribute (``kernels.apply``).
    seg_ever: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    # Per row, revenue to date and AUM before the step's contacts (``kernels.apply.LEDGER_*``).
    ledger: np.ndarray = field(default_factory=lambda: np.zeros((0, N_LEDGER), np.float64))
    # What the retired (churned, removed) customers add to every step's accounting counters.
    retired: dict[str, np.ndarray] | None = None


Counters = dict[str, np.ndarray]  # ``phases.apply_counts``: name -> counters summed over blocks


@dataclass
class Accounted:
    """One shard's accounting of a step: ``total``, what its output records (retired rows
    included); ``by_class``, the counters of each class of rows on their own (one class,
    0, unless the step asked for classes)."""

    total: Counters
    by_class: dict[int, Counters]


class ShardBackend(Protocol):
    """The shards of one replication, driven phase by phase by ``loop.Step`` (module
    docstring). Lists returned have one entry per shard, in shard order."""

    def arrive(self, t: int, lines: Sequence[tuple[Sequence[IdRange], int]]) -> list[np.ndarray]:
        """Step t's new customers: per line of arrivals (the range of ids each shard gets,
        the stage they arrive in), drawn into the shards' rows. Per shard, (lines, 2) int64:
        how many of each line's customers are in each arm."""
        ...

    def baseline(
        self, t: int, market: float, starts: Sequence[Sequence[int]] | None = None
    ) -> list[np.ndarray]:
        """The baseline phase; per shard, its counters (``kernels.baseline.C_*``). With
        ``starts`` (per shard, rows), each shard runs in parts from those rows (variants run
        as deltas take the parts' counts out of the base's)."""
        ...

    def decide(self, t: int, cutoffs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The decision phase under the models' ``cutoffs``; per shard, its funnel counters
        (P, 2, F) and its proposals per block and play (blocks, P)."""
        ...

    def gather(self, t: int, proposals: Sequence[np.ndarray], wanted: np.ndarray) -> list[Keys]:
        """Per shard, the keys (value, tiebreak) of its ``proposals`` of the ``wanted``
        plays (0/1 per play), for the driver's cuts."""
        ...

    def account(
        self,
        t: int,
        decided: bool,
        thresholds: tuple[np.ndarray, np.ndarray, np.ndarray],
        classes: Sequence[np.ndarray] | None = None,
    ) -> list[Accounted]:
        """The cuts (``thresholds``, ``couplings.cut``) applied, contacts and accounting
        (``decided`` False: step 0, accounting only). With ``classes`` (per shard, uint8 per
        row), each class of rows is also counted on its own."""
        ...

    def retire(self, t: int) -> None:
        """Remove churned customers' rows where it pays, keeping their counts."""
        ...
