"""A run's sizes, checked once before any work: customers, steps, replications, seed,
threads and shards, the strategy compiled for them, and the memory the run will need
(``estimate_memory``, ``available_memory``). ``SimulationError`` is a run that cannot be done
as asked, with a message for a person and a hint."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numba
import numpy as np

from simulator.kernels import common as k
from simulator.kernels.apply import N_LEDGER
from simulator.kernels.population import (
    bytes_per_customer,
)
from simulator.output import (
    FUNNEL_FIELDS,
    SEGMENT_OUTCOMES,
    STAGES,
)
from strategy_dsl.compile import (
    MAX_STEPS,
    CompiledStrategy,
    CompileError,
    compile_strategy,
)

if TYPE_CHECKING:
    from strategy_dsl.model import CheckedStrategy

MAX_CUSTOMERS = 2**40
MAX_REPS = 100_000
HEADROOM = 1.05  # rows allocated beyond the initial population and the planned arrivals
FIXED_OVERHEAD = 256 * 2**20  # the interpreter, NumPy, Numba and compiled kernels
SEG_EVER_BYTES = 8  # per row: the segments a customer has been in (``Shard.seg_ever``)
LEDGER_BYTES = 8 * N_LEDGER  # per row: revenue to date, AUM before contacts (``Shard.ledger``)


class SimulationError(Exception):
    """A run that cannot be done as asked: a message for a person and a hint to fix it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UnknownCustomer(SimulationError):
    """``trace_customer`` of an id that is not in the run: the caller asked for nobody (a
    usage error), not a strategy the simulator cannot run."""


# ------------------------------------------------------------------------------ sizes


@dataclass(frozen=True)
class RunSizes:
    customers: int
    steps: int
    reps: int
    seed: int
    threads: int
    shards: int


def steps_of(compiled: CompiledStrategy, months: int | None) -> int:
    """Steps for a horizon in months (30/360), or the strategy's own horizon."""
    if months is None:
        return compiled.horizon_steps
    return max(1, round(months * 30 / compiled.step_days))


def compiled_of(model: CheckedStrategy, customers: int | None = None) -> CompiledStrategy:
    """The compiled strategy, with the sizes of the bank scaled to ``customers`` when the run
    replaces the population's size: `arrivals 3000 per month` is written for the declared 200k
    customers, and a 20k-customer rehearsal of the same bank must see 300 a month, or new
    customers would swamp the book and every per-customer figure with it. Channel capacities
    and play budgets scale alike (a rehearsal at a tenth of the size has a tenth of the call
    centre and of the budget), or constraints that bind at full size would never bind; the
    factor is said in the run's notes. Budgets are rounded to the fen, half up."""
    try:
        compiled = compile_strategy(model)
    except CompileError as exc:
        raise SimulationError(exc.message, exc.hint) from None
    declared = compiled.population_size
    if customers is None or declared <= 0 or int(customers) == declared or int(customers) < 0:
        return compiled
    scale = int(customers) / declared
    arrays = {**compiled.arrays, "arr_per_step": compiled.arrays["arr_per_step"] * scale}
    capacity, budget = compiled.arrays["chan_capacity"], compiled.arrays["group_budget_fen"]
    arrays["chan_capacity"] = np.where(capacity >= 0, capacity * scale, capacity)
    scaled = np.floor(budget.astype(np.float64) * scale + 0.5).astype(np.int64)
    arrays["group_budget_fen"] = np.where(budget >= 0, scaled, budget)
    note = (
        f"sizes scaled x{scale:.6g} to {int(customers):,} customers (the population declares "
        f"{declared:,}): arrivals, channel capacities and budgets"
    )
    return replace(compiled, arrays=arrays, notes=(*compiled.notes, note))


def checked_sizes(
    compiled: CompiledStrategy,
    customers: int | None,
    months: int | None,
    reps: int,
    seed: int | None,
    threads: int | None,
    shards: int,
) -> RunSizes:
    """Checked sizes, before any work; ``SimulationError`` for nonsense."""

    def whole(name: str, value: object, low: int, high: int, hint: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise SimulationError(f"{name} must be a whole number, not {value!r}", hint)
        if not low <= int(value) <= high:
            raise SimulationError(f"{name} {value:,} is outside {low:,}..{high:,}", hint)
        return int(value)

    n = compiled.population_size if customers is None else customers
    n = whole("customers", n, 1, MAX_CUSTOMERS, "simulate between 1 and 2^40 customers")
    if months is not None:
        whole("months", months, 1, MAX_STEPS, "give a horizon of at least one month")
    steps = steps_of(compiled, months)
    steps = whole("the horizon in steps", steps, 1, MAX_STEPS, "shorten the horizon (--months)")
    reps = whole("reps", reps, 1, MAX_REPS, "use between 1 and 100,000 replications")
    seed = compiled.seed if seed is None else seed
    seed = whole("seed", seed, 0, 2**64 - 1, "use a seed between 0 and 2^64 - 1")
    most = numba.config.NUMBA_NUM_THREADS
    threads = most if threads is None else threads
    threads = whole("threads", threads, 1, most, f"this machine runs at most {most} threads")
    shards = whole("shards", shards, 1, n, "use at most one shard per customer")
    return RunSizes(n, steps, reps, seed, threads, shards)


def expected_arrivals(compiled: CompiledStrategy, steps: int) -> int:
    """Customers the `acquisition` block brings over ``steps`` (referrals not included)."""
    return int(sum(math.floor(rate * steps) for rate in compiled.arr_per_step))


def estimate_memory(
    model: CheckedStrategy,
    *,
    customers: int | None = None,
    months: int | None = None,
    reps: int = 1,
    threads: int | None = None,
    shards: int = 1,
) -> int:
    """Bytes a run needs at its peak: the customers' state (``simulator.kernels.population.layout``)
    for the initial population and the arrivals, the gathered keys of one step, the per-block
    counters and the output arrays. Threads and shards do not change it (all shards of a run
    live in one process together); they are accepted so that callers can pass a run's sizes."""
    compiled = compiled_of(model, customers)
    tables = k.make_tables(compiled)
    n = compiled.population_size if customers is None else int(customers)
    steps = steps_of(compiled, months)
    rows = (n + expected_arrivals(compiled, steps)) * HEADROOM + k.BLOCK
    state = (bytes_per_customer(tables) + SEG_EVER_BYTES + LEDGER_BYTES) * rows
    gathered = 16 * rows
    out = output_cells(compiled) * 8 * reps * (steps + 1)
    blocks = rows / k.BLOCK + 1
    counters = output_cells(compiled) * 8 * blocks
    return int(state + gathered + out + counters + FIXED_OVERHEAD)


def output_cells(compiled: CompiledStrategy) -> int:
    plays, segments = len(compiled.plays), len(compiled.segments) + 1
    tiers, channels = len(compiled.tiers), len(compiled.channels)
    funnel = plays * 2 * len(FUNNEL_FIELDS)
    outcomes = (segments + plays) * 2 * len(SEGMENT_OUTCOMES)
    return (
        funnel + 2 * len(STAGES) * tiers + segments * tiers * 2 * 2 + channels * 2 + 2 * 16
    ) + outcomes


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
