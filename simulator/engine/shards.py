"""A shard: a range of customer ids with arrays of its own (the state, the segments each
customer has been in, the ledger), stepped by the loop (``loop``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.kernels.apply import N_LEDGER


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
