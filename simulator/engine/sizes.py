"""How big a run is: the one home of a run's sizes, their limits and defaults, the strategy
compiled for them, and the memory the run needs and the machine has.

``Sizes`` is what to simulate: customers, months, replications, seed, threads, shards. The
command line fills one from its options (``stratmap.inputs.requested_sizes``), the engine from
its keyword arguments (``checked_sizes``); both ``check`` it against the same limits and
``resolve`` it against the strategy (its population size, horizon and seed fill what was not
given, and the horizon is counted in the strategy's steps), so a size means and is refused the
same way whichever door it came in by. A refusal is a ``SizeError`` with a message and a hint;
the CLI shows it as a usage error (exit 2), the engine raises it as a ``SimulationError``.

Memory. ``estimate_memory`` is what a run needs at its peak; ``available_memory`` the smaller of
what the machine has free and what the process's cgroup (a container's limit) leaves, so a run
in a 4 GiB container is refused on a 64 GiB host; ``shortfall`` keeps ``MEMORY_HEADROOM`` of
it for the interpreter, pandas and the operating system. Numba, NumPy and the kernels are
imported only by the functions that compile or estimate, so that the command line can check
sizes before it loads them.
"""

from __future__ import annotations

import math
import operator
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from strategy_dsl.calendar import horizon_steps, steps_text, steps_to_months
from strategy_dsl.errors import StratmapError

if TYPE_CHECKING:
    from strategy_dsl.compile import CompiledStrategy
    from strategy_dsl.model import CheckedStrategy

# Sizes beyond these are mistakes, not runs: a synthetic population beyond a billion customers
# is larger than any bank's retail book, and a forecast beyond 50 years is not a forecast.
MAX_CUSTOMERS = 1_000_000_000
MAX_MONTHS = 600
MAX_REPS = 10_000
MAX_THREADS = 1024
MAX_SEED = 2**64 - 1
# Five replications: the smallest number whose 95% t interval is usefully narrow
# (t(0.975, 4) = 2.78, against 12.7 with two), at five times the cost of one run.
DEFAULT_REPS = 5
# The range of each size, as (smallest, largest).
LIMITS: dict[str, tuple[int, int]] = {
    "customers": (1, MAX_CUSTOMERS),
    "months": (1, MAX_MONTHS),
    "reps": (1, MAX_REPS),
    "seed": (0, MAX_SEED),
    "threads": (1, MAX_THREADS),
}
_HINTS = {
    "customers": f"simulate between 1 and {MAX_CUSTOMERS:,} customers",
    "months": f"give a horizon of 1 to {MAX_MONTHS} months",
    "reps": f"use between 1 and {MAX_REPS:,} replications",
    "seed": "use a seed between 0 and 2^64 - 1",
    "threads": f"use between 1 and {MAX_THREADS:,} threads",
}
# Share of the available memory a run may plan to use: the rest is left to the interpreter,
# pandas and the operating system.
MEMORY_HEADROOM = 0.9


HEADROOM = 1.05  # rows allocated beyond the initial population and the planned arrivals
FIXED_OVERHEAD = 256 * 2**20  # the interpreter, NumPy, Numba and compiled kernels
SEG_EVER_BYTES = 8  # per row: the segments a customer has been in (``Shard.seg_ever``)
# Per row and ledger field (``Shard.ledger``: revenue to date, AUM before contacts).
LEDGER_FIELD_BYTES = 8


class SimulationError(StratmapError):
    """A run that cannot be done as asked: a message for a person and a hint to fix it."""


class UnknownCustomer(SimulationError):
    """``trace_customer`` of an id that is not in the run: the caller asked for nobody (a
    usage error), not a strategy the simulator cannot run."""


class SizeError(StratmapError, ValueError):
    """A size no run can have: a message for a person and a hint to fix it."""


@dataclass(frozen=True)
class Sizes:
    """What to simulate. ``customers``, ``seed`` and ``steps`` are ``None`` until ``resolve``d
    against the strategy; ``months`` stays ``None`` when not given (the strategy's own
    horizon); ``threads`` is ``None`` for every thread Numba may use."""

    customers: int | None = None
    months: int | None = None
    reps: int = DEFAULT_REPS
    seed: int | None = None
    threads: int | None = None
    shards: int = 1
    steps: int | None = None
    step_unit: str = "month"

    def check(self) -> Sizes:
        """These sizes, each a whole number within ``LIMITS`` (``SizeError`` naming the first
        that is not); ``None`` sizes are left to ``resolve``."""
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if value is not None:
                _whole(name, value, low, high, _HINTS[name])
        customers = self.customers if self.customers is not None else MAX_CUSTOMERS
        _whole("shards", self.shards, 1, customers, "use at most one shard per customer")
        return self

    def resolve(self, model: CheckedStrategy) -> Sizes:
        """Complete from the strategy: its population's size, its seed (modulo 2⁶⁴), and the
        horizon in its steps (30/360: 12 months are 12, 51 or 360 steps)."""
        self.check()
        customers = self.customers
        if customers is None:
            customers = model.population.size if model.population is not None else 0
            if customers > MAX_CUSTOMERS:
                raise SizeError(
                    f"the population declares {customers:,} customers, more than the "
                    f"{MAX_CUSTOMERS:,} one run allows; pass --customers to simulate fewer",
                    "simulate fewer customers",
                )
            _whole("customers", customers, 1, MAX_CUSTOMERS, _HINTS["customers"])
        strategy = model.strategy
        if self.months is None:
            steps = strategy.horizon_steps
            if steps_to_months(steps, strategy.step_days) > MAX_MONTHS:
                raise SizeError(
                    f"the strategy's horizon is longer than {MAX_MONTHS} months; pass --months",
                    "simulate a shorter horizon",
                )
        else:
            steps = horizon_steps(self.months, strategy.step_days)
        seed = self.seed if self.seed is not None else strategy_seed(model)
        resolved = replace(
            self, customers=customers, seed=seed, steps=steps, step_unit=strategy.step
        )
        return resolved.check()

    def horizon(self) -> str:
        """``36 months``, ``360 days``: the horizon in the strategy's steps, for messages."""
        return steps_text(self.steps or 0, self.step_unit)


def strategy_seed(model: CheckedStrategy) -> int:
    """The seed a run of ``model`` takes when none is given: the file's, modulo 2⁶⁴."""
    return int(model.strategy.seed) % (MAX_SEED + 1)


def _whole(name: str, value: object, low: int, high: int, hint: str) -> int:
    """``value`` as an int (NumPy integers too) within ``low..high``; a bool, a float or a
    string is a ``SizeError``, not silently rounded."""
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = None
    if isinstance(value, bool) or number is None:
        raise SizeError(f"{name} must be a whole number, not {value!r}", hint)
    if not low <= number <= high:
        raise SizeError(f"{name} {number:,} is outside {low:,}..{high:,}", hint)
    return number


# ------------------------------------------------------------------------------ the engine's


def steps_of(compiled: CompiledStrategy, months: int | None) -> int:
    """Steps for a horizon in months (30/360), or the strategy's own horizon."""
    if months is None:
        return compiled.horizon_steps
    return horizon_steps(months, compiled.step_days)


def compiled_of(model: CheckedStrategy, customers: int | None = None) -> CompiledStrategy:
    """The compiled strategy, with the sizes of the bank scaled to ``customers`` when the run
    replaces the population's size: `arrivals 3000 per month` is written for the declared 200k
    customers, and a 20k-customer rehearsal of the same bank must see 300 a month, or new
    customers would swamp the book and every per-customer figure with it. Channel capacities
    and play budgets scale alike (a rehearsal at a tenth of the size has a tenth of the call
    centre and of the budget), or constraints that bind at full size would never bind; the
    factor is said in the run's notes. Budgets are rounded to the fen, half up."""
    import numpy as np

    from strategy_dsl.compile import CompileError, compile_strategy

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
    model: CheckedStrategy,
    customers: int | None,
    months: int | None,
    reps: int,
    seed: int | None,
    threads: int | None,
    shards: int,
) -> Sizes:
    """The engine's sizes, checked and resolved against the strategy by the rules the command
    line applies too (``Sizes``), before any work; ``SimulationError`` for nonsense."""
    import numba

    from strategy_dsl.compile import MAX_STEPS

    most = numba.config.NUMBA_NUM_THREADS
    try:
        given = Sizes(customers, months, reps, seed, threads, shards)
        sizes = replace(given.resolve(model), threads=most if threads is None else threads)
    except SizeError as exc:
        raise SimulationError(exc.message, exc.hint) from None
    assert sizes.steps is not None and sizes.threads is not None
    if sizes.steps > MAX_STEPS:
        raise SimulationError(
            f"the horizon in steps {sizes.steps:,} is outside 1..{MAX_STEPS:,}",
            "shorten the horizon (--months)",
        )
    if sizes.threads > most:
        raise SimulationError(
            f"threads {sizes.threads:,} is outside 1..{most:,}",
            f"this machine runs at most {most} threads",
        )
    return sizes


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
    from simulator.kernels import common as k
    from simulator.kernels.apply import N_LEDGER
    from simulator.kernels.population import bytes_per_customer

    compiled = compiled_of(model, customers)
    tables = k.make_tables(compiled)
    n = compiled.population_size if customers is None else int(customers)
    steps = steps_of(compiled, months)
    rows = (n + expected_arrivals(compiled, steps)) * HEADROOM + k.BLOCK
    state = (bytes_per_customer(tables) + SEG_EVER_BYTES + LEDGER_FIELD_BYTES * N_LEDGER) * rows
    gathered = 16 * rows
    out = output_cells(compiled) * 8 * reps * (steps + 1)
    blocks = rows / k.BLOCK + 1
    counters = output_cells(compiled) * 8 * blocks
    return int(state + gathered + out + counters + FIXED_OVERHEAD)


def output_cells(compiled: CompiledStrategy) -> int:
    from simulator.output import FUNNEL_FIELDS, SEGMENT_OUTCOMES, STAGES

    plays, segments = len(compiled.plays), len(compiled.segments) + 1
    tiers, channels = len(compiled.tiers), len(compiled.channels)
    funnel = plays * 2 * len(FUNNEL_FIELDS)
    outcomes = (segments + plays) * 2 * len(SEGMENT_OUTCOMES)
    return (
        funnel + 2 * len(STAGES) * tiers + segments * tiers * 2 * 2 + channels * 2 + 2 * 16
    ) + outcomes


# ------------------------------------------------------------------------------ memory


def available_memory(
    meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """Bytes this process can still allocate: the smaller of the machine's available memory
    and what its cgroup (v2: a container's limit, ``memory.max`` less ``memory.current``)
    leaves; ``None`` when neither can be read."""
    found: list[int] = []
    try:
        with meminfo.open(encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            used = int((cgroup / "memory.current").read_text().strip())
            found.append(max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


def shortfall(needed: int) -> int | None:
    """The bytes available when ``needed`` does not fit in them with ``MEMORY_HEADROOM`` to
    spare; ``None`` when it fits (or the memory cannot be read: then nothing is refused)."""
    available = available_memory()
    if available is None or needed <= available * MEMORY_HEADROOM:
        return None
    return available


def memory_text(count: float) -> str:
    """``512 B``, ``1.5 GiB``: bytes as the memory messages write them."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")
