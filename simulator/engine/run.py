"""The run loop: validate, allocate, and drive the kernels step by step, computing between the
kernel phases what couples customers (the market return, arrivals and referrals, the models'
cutoffs, channel capacity and play budgets), so that any split of the population into shards
gives the same numbers.

    output = simulate(model, customers=20_000, months=12, reps=5, seed=7)
    story = trace_customer(model, 42, rep=0, customers=20_000, months=12, seed=7)

One step, for every shard (a range of customer ids with its own arrays):

1. arrivals are drawn into new rows (their ids follow the initial population, in order);
2. ``baseline_step``: market, flows, transactions, maturity, lifecycle; model scores and the
   counts of their labels; the driver turns the global counts into each model's cutoff;
3. ``decide_step``: candidates, eligibility, holdouts, per-customer arbitration; proposals;
4. the driver cuts proposals to channel capacity and play budgets by the global order
   (value or priority, then a per-step permutation of customer ids), gathering the keys of the
   proposals only where a cut binds;
5. ``apply_step``: contacts, responses, purchases and the step's accounting.

Every counter is an integer summed over fixed blocks of rows, so threads and shards do not
change a bit; ``RunOutput.merge`` adds shards.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from simulator.engine.couplings import (
    Keys,
    binding,
    cut,
    gather_keys,
    market_return,
    model_cutoffs,
    model_scores,
    whole,
)
from simulator.engine.customer_value import survival_annuity
from simulator.engine.delta import MAX_TOGETHER, delta_compatible, rows_from, run_together
from simulator.engine.warmup import warm_up
from simulator.kernels import common as k
from simulator.kernels.apply import N_LEDGER, apply_step
from simulator.kernels.baseline import C_CHURNED, C_LABELS, C_LIVE, baseline_step
from simulator.kernels.common import (
    SC_AUM_RING_LEN,
    SC_STEP_DAYS,
    SC_TXN_RING_LEN,
    SCF_CONTROL_SHARE,
)
from simulator.kernels.decide import decide_step, gather
from simulator.kernels.population import (
    State,
    allocate,
    bytes_per_customer,
    grow,
    remove_rows,
    sizes_of,
    synthesize,
    zeros,
)
from simulator.kernels.rng import replication_key
from simulator.output import (
    ARMS,
    FUNNEL_FIELDS,
    SEGMENT_OUTCOMES,
    STAGES,
    UNSERVED_KINDS,
    RunOutput,
)
from strategy_dsl.compile import (
    MAX_STEPS,
    CompiledStrategy,
    CompileError,
    compile_strategy,
)
from strategy_dsl.version import __version__

if TYPE_CHECKING:
    from simulator.engine.cluster import Cluster
    from strategy_dsl.model import CheckedStrategy

MAX_CUSTOMERS = 2**40
MAX_REPS = 100_000
HEADROOM = 1.05  # rows allocated beyond the initial population and the planned arrivals
# Churned customers are retired (their rows removed, their counts kept: ``_Step.retire``) once
# they are this share of a shard's rows: the passes over a block cost as much for a churned
# row as for a live one, and moving the rows up costs about a pass.
RETIRE_SHARE = 0.125
RETIRE_AT_LEAST = k.BLOCK  # churned rows: fewer are not worth a pass
GROWTH = 1.25  # rows added when arrivals outgrow a shard's arrays, as a share
FIXED_OVERHEAD = 256 * 2**20  # the interpreter, NumPy, Numba and compiled kernels
SEG_EVER_BYTES = 8  # per row: the segments a customer has been in (``_Shard.seg_ever``)
LEDGER_BYTES = 8 * N_LEDGER  # per row: revenue to date, AUM before contacts (``_Shard.ledger``)


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


def _compiled(model: CheckedStrategy, customers: int | None = None) -> CompiledStrategy:
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


def _sizes(
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
    compiled = _compiled(model, customers)
    tables = k.make_tables(compiled)
    n = compiled.population_size if customers is None else int(customers)
    steps = steps_of(compiled, months)
    rows = (n + expected_arrivals(compiled, steps)) * HEADROOM + k.BLOCK
    state = (bytes_per_customer(tables) + SEG_EVER_BYTES + LEDGER_BYTES) * rows
    gathered = 16 * rows
    out = _output_cells(compiled) * 8 * reps * (steps + 1)
    blocks = rows / k.BLOCK + 1
    counters = _output_cells(compiled) * 8 * blocks
    return int(state + gathered + out + counters + FIXED_OVERHEAD)


def _output_cells(compiled: CompiledStrategy) -> int:
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


# ------------------------------------------------------------------------------ simulate


def simulate(
    model: CheckedStrategy,
    *,
    customers: int | None = None,
    months: int | None = None,
    reps: int = 1,
    seed: int | None = None,
    threads: int | None = None,
    shards: int = 1,
    progress: Callable[[int, int], None] | None = None,
    strategy_hash: str = "",
    customer_ids: slice | None = None,
    observe: Callable[[int, int, list[State]], None] | None = None,
    observe_ledger: Callable[[int, int, list[State], list[np.ndarray]], None] | None = None,
    cluster: Cluster | None = None,
) -> RunOutput:
    """Simulate ``model`` and return its counters.

    ``customers`` replaces the population size, ``months`` the horizon (converted to steps,
    30/360), ``seed`` the strategy's seed; each replication r has the key
    ``replication_key(seed, r)``. ``shards`` splits the customers into that many id ranges
    simulated separately and merged (the same numbers as one shard, bit for bit).
    ``customer_ids`` keeps only the initial customers whose ids are in the slice (the same
    customers as in the full population; couplings are then computed among them only).
    ``progress(done, total)`` is called after every step of every replication;
    ``observe(rep, t, states)`` too, with each shard's customer state (rows in use only): for
    tests and for reference implementations that follow customers one by one.
    ``observe_ledger(rep, t, states, ledgers)`` likewise, with each shard's ledger beside its
    state (float64, (rows, N_LEDGER): revenue to date in fen and AUM before the step's
    contacts, columns ``kernels.apply.LEDGER_*``): per-customer measures for live-test sizing.
    ``cluster`` (``simulator.engine.cluster.open_cluster``) runs it on a Dask cluster instead,
    with the same counters; ``threads``, ``shards`` and ``customer_ids`` are then the
    cluster's business, and ``observe`` (which watches rows in this process) cannot be given.
    """
    if cluster is not None:
        if observe is not None or observe_ledger is not None or customer_ids is not None:
            raise SimulationError(
                "a run on a cluster cannot be observed row by row here",
                "use the local backend (--backend local)",
            )
        return cluster.simulate(
            model,
            customers=customers,
            months=months,
            reps=reps,
            seed=seed,
            progress=progress,
            strategy_hash=strategy_hash,
        )
    prepared = _prepare(
        model, customers, months, reps, seed, threads, shards, strategy_hash, customer_ids, observe
    )
    prepared.run.observe_ledger = observe_ledger
    sizes, run, outputs = prepared.sizes, prepared.run, prepared.outputs
    numba.set_num_threads(sizes.threads)
    total = sizes.reps * sizes.steps
    for rep in range(sizes.reps):
        run.replicate(rep, outputs, progress, rep * sizes.steps, total)
    return prepared.finish()


@dataclass
class _Prepared:
    """One alternative ready to run: its checked sizes, its loop and its empty counters."""

    sizes: RunSizes
    run: _Run
    outputs: list[RunOutput]

    def finish(self) -> RunOutput:
        merged = self.outputs[0]
        for other in self.outputs[1:]:
            merged = merged.merge(other)
        merged.extra["notes"] = list(self.run.compiled.notes)
        return merged


def _prepare(
    model: CheckedStrategy,
    customers: int | None,
    months: int | None,
    reps: int,
    seed: int | None,
    threads: int | None,
    shards: int,
    strategy_hash: str,
    customer_ids: slice | None = None,
    observe: Callable[[int, int, list[State]], None] | None = None,
    extra_bytes: int = 0,
) -> _Prepared:
    """Compile, check the sizes and the memory, and set up the loop: everything ``simulate``
    does before the first replication (``SimulationError`` for a run that cannot be done)."""
    compiled = _compiled(model, customers)
    sizes = _sizes(compiled, customers, months, reps, seed, threads, shards)
    needed = extra_bytes + estimate_memory(
        model, customers=sizes.customers, months=months, reps=sizes.reps, shards=sizes.shards
    )
    available = available_memory()
    if available is not None and needed > available:
        raise SimulationError(
            f"the run needs about {needed / 2**30:,.1f} GiB of memory; "
            f"{available / 2**30:,.1f} GiB is available",
            "simulate fewer customers or fewer replications",
        )
    ids = np.arange(sizes.customers, dtype=np.int64)
    if customer_ids is not None:
        ids = ids[customer_ids]
        if ids.size == 0:
            raise SimulationError("customer_ids selects no customer", "give a non-empty range")
    run = _Run(compiled, sizes, ids, trace_id=-1, observe=observe)
    outputs = [_empty_output(compiled, sizes, strategy_hash, part.size) for part in run.parts]
    return _Prepared(sizes, run, outputs)


# ------------------------------------------------------------------------------ alternatives


def simulate_alternatives(
    models: Sequence[CheckedStrategy],
    *,
    customers: int | None = None,
    months: int | None = None,
    reps: int = 1,
    seed: int | None = None,
    threads: int | None = None,
    shards: int = 1,
    progress: Callable[[int, int], None] | None = None,
    strategy_hash: str = "",
    delta: bool = True,
    cluster: Cluster | None = None,
) -> list[RunOutput]:
    """``[simulate(m, ...) for m in models]``, bit for bit, doing once what the alternatives
    share (common random numbers make it the same work):

    - alternatives that compile to the same tables (a strategy compared with itself, a
      variant that restates the base) are simulated once, and the others get a copy;
    - per replication, the synthetic population is drawn once for all alternatives whose
      population inputs agree (``population_signature``) and copied into each, and the
      arrivals of a step are drawn once and copied when their ids, stage and step agree.

    - variants whose differences only change how contacts are decided and served run as
      deltas of the first alternative (``simulator.engine.delta``; ``delta=False`` runs them in
      full): only the customers they may treat differently are simulated again.

    ``progress(done, total)`` counts steps over all alternatives simulated.

    ``cluster`` runs every alternative on a Dask cluster, one after the other and each in
    full (the same counters: deltas are a saving, not another result).
    """
    if not models:
        return []
    if cluster is not None:
        steps = [0]

        def counted(done: int, total: int) -> None:
            if progress is not None:
                progress(steps[0] + done, total * len(models))

        outputs = []
        for model in models:
            outputs.append(
                simulate(
                    model,
                    customers=customers,
                    months=months,
                    reps=reps,
                    seed=seed,
                    progress=counted,
                    strategy_hash=strategy_hash,
                    cluster=cluster,
                )
            )
            steps[0] += outputs[-1].steps * reps
        return outputs
    # The initial population kept for copying, and the states of alternatives that step
    # together (deltas), are counted against the first alternative.
    extra = _population_bytes(models[0], customers) * len(models) if len(models) > 1 else 0
    prepared = [
        _prepare(
            model,
            customers,
            months,
            reps,
            seed,
            threads,
            shards,
            strategy_hash,
            extra_bytes=extra if index == 0 else 0,
        )
        for index, model in enumerate(models)
    ]
    # Alternatives with the same compiled strategy and sizes give the same counters.
    first_of: dict[bytes, int] = {}
    same_as: list[int] = []
    for index, alternative in enumerate(prepared):
        key = _run_key(alternative)
        same_as.append(first_of.setdefault(key, index))
    distinct = [prepared[i] for i in sorted(set(same_as))]
    groups: dict[bytes, list[_Prepared]] = {}
    for alternative in distinct:
        groups.setdefault(_population_key(alternative), []).append(alternative)
    numba.set_num_threads(distinct[0].sizes.threads)
    # Variants that differ from their group's first alternative only in how contacts are
    # decided and served run beside it as deltas (``simulator.engine.delta``).
    together = {
        id(group[0]): [a for a in group[1:] if delta and delta_compatible(group[0].run, a.run)][
            :MAX_TOGETHER
        ]
        for group in groups.values()
    }
    total = sum(a.sizes.reps * a.sizes.steps for a in distinct)
    done = 0
    for rep in range(distinct[0].sizes.reps):
        for group in groups.values():
            shared = _SharedDraws(group[0].run.initial_population(rep)) if len(group) > 1 else None
            base, beside = group[0], together[id(group[0])]
            # The population is drawn in the first alternative's layout, which runs last and
            # takes it over in place; the others copy it.
            for alternative in group[1:]:
                if any(alternative is a for a in beside):
                    continue
                alternative.run.replicate(
                    rep, alternative.outputs, progress, done, total, shared=shared
                )
                done += alternative.sizes.steps
            if beside:
                pairs = [(a.run, a.outputs) for a in beside]
                run_together(base.run, base.outputs, pairs, rep, shared, progress, done, total)
                done += base.sizes.steps * (1 + len(beside))
            else:
                base.run.replicate(
                    rep, base.outputs, progress, done, total, shared=shared, take=True
                )
                done += base.sizes.steps
    finished = {id(a): a.finish() for a in distinct}
    results: list[RunOutput] = []
    for index, first in enumerate(same_as):
        output = finished[id(prepared[first])]
        results.append(output if index == first else _copy_output(output))
    return results


# State fields the synthesis sets to one constant for every customer (nothing held, never
# contacted, no journey, no effect): their widths (products, plays, groups, journeys, the
# contact ring, effects) may differ between alternatives that share a population, and are
# filled from a template row of the alternative's own layout.
CONSTANT_FIELDS = (
    "hold_amt",
    "hold_until",
    "hold_play",
    "last_contact",
    "last_resp",
    "journey_start",
    "ring",
    "effect_until",
)
_CONSTANT_WIDTHS = ("products", "plays", "groups", "journeys", "ring_len", "effects")


def population_signature(tables: k.Tables) -> bytes:
    """What the synthesis of a customer reads (``population.synthesize_block``,
    ``draw_attribute`` and ``initial_history``): the population's attribute tables, the
    lifecycle's chances of leaving each stage, transactions by stage, the step length, the
    history rings, the global control share, and the widths of the drawn fields. Two
    strategies with the same signature draw the same customers from the same keys, bit for
    bit (``tests/test_compare.py`` holds every bundled variant to it); keep this list in step
    with those kernels."""
    sc_i = np.asarray(
        [tables.sc_i[SC_STEP_DAYS], tables.sc_i[SC_AUM_RING_LEN], tables.sc_i[SC_TXN_RING_LEN]]
    )
    widths = {k: v for k, v in sizes_of(tables).items() if k not in _CONSTANT_WIDTHS}
    parts = [
        tables.attr_i,
        tables.attr_f,
        tables.cat_code,
        tables.cat_cum,
        tables.leave_p,
        tables.txn_stage_factor,
        sc_i,
        np.asarray([tables.sc_f[SCF_CONTROL_SHARE]]),
        sorted((name, int(width)) for name, width in widths.items()),
    ]
    return _digest(parts)


def _digest(parts: Sequence[object]) -> bytes:
    """A digest of arrays (dtype, shape and bytes) and plain values (their repr)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            h.update(f"{array.dtype.str}{array.shape}".encode())
            h.update(array.tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"|")
    return h.digest()


def _run_key(alternative: _Prepared) -> bytes:
    """Equal for two alternatives whose runs are the same function of the same inputs: the
    whole compiled strategy (names, tables, scalars) and the sizes."""
    c = alternative.run.compiled
    fields = [
        getattr(c, f.name) for f in dataclass_fields(c) if f.name not in ("arrays", "scalars")
    ]
    arrays = [part for name in sorted(c.arrays) for part in (name, c.arrays[name])]
    return _digest([*fields, sorted(c.scalars.items()), *arrays, alternative.sizes])


def _population_key(alternative: _Prepared) -> bytes:
    run = alternative.run
    bounds = [part.size for part in run.parts]
    return _digest([population_signature(run.tables), run.ids, bounds, run.sizes.seed])


def _population_bytes(model: CheckedStrategy, customers: int | None) -> int:
    """Memory of the one initial population kept for copying into every alternative."""
    compiled = _compiled(model, customers)
    n = compiled.population_size if customers is None else int(customers)
    return bytes_per_customer(k.make_tables(compiled)) * max(n, 0)


def _fits(state: State, tables: k.Tables, rows: int) -> bool:
    """Whether ``state`` can be used in place by a run with ``tables``: room enough, and the
    run's own widths."""
    mine = allocate(tables, 0)
    return state.cid.shape[0] >= rows and all(
        getattr(state, name).shape[1:] == getattr(mine, name).shape[1:] for name in State._fields
    )


def _copy_output(output: RunOutput) -> RunOutput:
    """An independent copy (arrays owned by the copy)."""
    return copy.deepcopy(output)


@dataclass
class _SharedDraws:
    """What the alternatives of one population group share within a replication: the
    initial population of every shard (taken over by the last alternative), and the arrivals
    drawn so far, keyed by (shard, step, stage, first id, count)."""

    population: list[State]
    arrivals: dict[tuple[int, int, int, int, int], State] = field(default_factory=dict)


def _copy_rows(
    source: State, target: State, first: int, rows: int, at: int = 0, template: State | None = None
) -> None:
    """Rows first..first+rows of ``source`` into rows at..at+rows of ``target``. A field of
    ``CONSTANT_FIELDS`` whose width differs is filled from ``template`` (one synthesized row
    of the target's layout) instead."""
    for name in State._fields:
        src, dst = getattr(source, name), getattr(target, name)
        if src.shape[1:] == dst.shape[1:]:
            dst[at : at + rows] = src[first : first + rows]
        elif name in CONSTANT_FIELDS and template is not None:
            dst[at : at + rows] = getattr(template, name)[0]
        else:
            raise AssertionError(f"cannot copy {name}: widths {src.shape} and {dst.shape}")


# ------------------------------------------------------------------------------ trace


def trace_customer(
    model: CheckedStrategy,
    customer_id: int,
    rep: int = 0,
    *,
    customers: int | None = None,
    months: int | None = None,
    seed: int | None = None,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """One customer's story in replication ``rep``, step by step: stage, tier, AUM, triggers
    fired, segments, candidate plays, the winners, what was suppressed and why, responses. The
    whole population is simulated (capacity and budgets couple customers), so the story is
    exactly the one the run with the same sizes and seed tells."""
    compiled = _compiled(model, customers)
    sizes = _sizes(compiled, customers, months, rep + 1, seed, threads, 1)
    if not isinstance(customer_id, (int, np.integer)) or customer_id < 0:
        raise UnknownCustomer(f"customer {customer_id!r} is not a customer id", "ids start at 0")
    numba.set_num_threads(sizes.threads)
    run = _Run(compiled, sizes, np.arange(sizes.customers, dtype=np.int64), trace_id=customer_id)
    outputs = [_empty_output(compiled, RunSizes(**{**sizes.__dict__, "reps": 1}), "", 0)]
    run.replicate(rep, outputs, None, 0, sizes.steps, slot=0)
    if not run.story:
        last = sizes.customers + run.arrived - 1
        raise UnknownCustomer(
            f"customer {customer_id} is not in this run",
            f"ids run from 0 to {last:,} (the initial population, then arrivals in order)",
        )
    return run.story


# ------------------------------------------------------------------------------ the loop


@dataclass
class _Shard:
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


@dataclass
class _Run:
    compiled: CompiledStrategy
    sizes: RunSizes
    ids: np.ndarray
    trace_id: int
    observe: Callable[[int, int, list[State]], None] | None = None
    observe_ledger: Callable[[int, int, list[State], list[np.ndarray]], None] | None = None
    tables: Any = field(init=False)
    parts: list[np.ndarray] = field(init=False)
    story: list[dict[str, Any]] = field(default_factory=list)
    arrived: int = 0
    # The shards (indices among ``sizes.shards``) this process runs: all of them, except on
    # a cluster's worker (``simulator.engine.cluster``), which runs some and is sent the couplings.
    held: list[int] | None = None
    _template: State | None = None

    def __post_init__(self) -> None:
        self.tables = k.make_tables(self.compiled)
        warm_up(self.compiled, self.tables)  # the first run's compile, on two cores
        if self.held is None:  # every shard, of ``ids``
            self.held = list(range(self.sizes.shards))
            bounds = shard_bounds(self.ids.size, self.sizes.shards)
        else:  # some shards of the whole population; ``ids`` are theirs, in one range
            bounds = shard_bounds(self.sizes.customers, self.sizes.shards) - self.ids[0]
        self.parts = [self.ids[bounds[s] : bounds[s + 1]] for s in self.held]

    def room(self, shard: _Shard) -> int:
        """Rows to allocate for a shard: its customers, its share of the planned arrivals,
        headroom for referrals."""
        arrivals = expected_arrivals(self.compiled, self.sizes.steps) / self.sizes.shards
        return int((shard.ids.size + arrivals) * HEADROOM) + k.BLOCK

    def template(self) -> State:
        """One customer drawn in this run's layout: the constant fields a copy fills in."""
        if self._template is None:
            self._template = allocate(self.tables, 1)
            synthesize(self.tables, self._template, 0, np.zeros(1, np.int64), np.uint64(0), 0, -1)
        return self._template

    def initial_population(self, rep: int) -> list[State]:
        """The customers of every shard at step 0 of replication ``rep``, for alternatives
        that share them (``simulate_alternatives``)."""
        rk = replication_key(self.sizes.seed, rep)
        states = []
        for part in self.parts:
            state = allocate(self.tables, self.room(_Shard(part)))
            synthesize(self.tables, state, 0, part, rk, 0, -1)
            states.append(state)
        return states

    def replicate(
        self,
        rep: int,
        outputs: list[RunOutput],
        progress: Callable[[int, int], None] | None,
        done: int,
        total: int,
        slot: int | None = None,
        shared: _SharedDraws | None = None,
        take: bool = False,
    ) -> None:
        """Replication ``rep``, written at index ``slot`` (default rep) of every output.
        With ``shared``, the initial population is copied from it (``take``: used in place,
        by the last alternative to run) and arrivals already drawn are copied too."""
        loop = self.start(rep, outputs, slot, shared, take)
        for t in range(1, self.sizes.steps + 1):
            loop.step(t)
            self.notify(rep, t, loop.shards)
            if progress is not None:
                progress(done + t, total)
        self.arrived = loop.next_id - self.sizes.customers

    def start(
        self,
        rep: int,
        outputs: list[RunOutput],
        slot: int | None = None,
        shared: _SharedDraws | None = None,
        take: bool = False,
    ) -> _Step:
        """Replication ``rep`` set up and accounted at step 0: its loop, ready for step 1."""
        tb = self.tables
        r = rep if slot is None else slot
        rk = replication_key(self.sizes.seed, rep)
        for out in outputs:
            out.replication_seeds[r] = rk
        shards = [_Shard(part) for part in self.parts]
        for s, shard in enumerate(shards):
            room = self.room(shard)
            if shared is None:
                shard.state = allocate(tb, room)
                synthesize(tb, shard.state, 0, shard.ids, rk, 0, -1)
            elif take and _fits(shared.population[s], tb, room):
                shard.state = shared.population[s]
            else:
                shard.state = allocate(tb, room)
                _copy_rows(
                    shared.population[s], shard.state, 0, shard.ids.size, template=self.template()
                )
            shard.rows = shard.first_new = shard.ids.size
            shard.seg_ever = zeros(shard.state.cid.shape[0], dtype=np.uint64)
            shard.ledger = zeros((shard.state.cid.shape[0], N_LEDGER), dtype=np.float64)
        loop = _Step(self, shards, outputs, rk, r, shared)
        loop.account(0, decided=False)
        self.notify(rep, 0, shards)
        return loop

    def notify(self, rep: int, t: int, shards: list[_Shard]) -> None:
        if self.observe is not None:
            states = [State(*(a[: s.rows] for a in s.state)) for s in shards]
            self.observe(rep, t, states)
        if self.observe_ledger is not None:
            states = [State(*(a[: s.rows] for a in s.state)) for s in shards]
            self.observe_ledger(rep, t, states, [s.ledger[: s.rows] for s in shards])


class _Step:
    """The state of one replication between steps: ids handed out, spend per budget, the
    responders of the last step; and the per-step driver logic."""

    def __init__(
        self,
        run: _Run,
        shards: list[_Shard],
        outputs: list[RunOutput],
        rk: np.uint64,
        r: int,
        shared: _SharedDraws | None = None,
    ) -> None:
        self.run, self.tb, self.c = run, run.tables, run.compiled
        self.shared = shared
        self.shards, self.outputs, self.rk, self.r = shards, outputs, rk, r
        self.next_id = run.sizes.customers
        self.referrals = 0.0
        self.responders = 0
        self.spend: list[dict[int, int]] = [{} for _ in range(self.tb.group_holdout.size)]
        self.trace_i = np.zeros(k.TRACE_INTS, dtype=np.int64)
        self.trace_f = np.zeros(k.TRACE_FLOATS, dtype=np.float64)
        self.parts_found: list[list[tuple[int, np.ndarray]]] = []
        self.decide_funnel: list[np.ndarray] = []  # per shard, the last decision phase's

    # -- arrivals ----------------------------------------------------------------------------

    def arrivals(self, t: int) -> None:
        """Deterministic arrivals: the whole customers among the cumulative expected ones; the
        same for referrals from the last step's responders (all shards together)."""
        tb = self.tb
        lines: list[tuple[int, int, int]] = []  # (count, stage, cost in fen)
        for rate, stage, cost in zip(
            self.c.arr_per_step, self.c.arr_stage, self.c.arr_cost_fen, strict=True
        ):
            count = whole(rate * t) - whole(rate * (t - 1))
            lines.append((count, int(stage), int(cost)))
        before = whole(self.referrals)
        self.referrals += float(self.c.referral_per_step) * self.responders
        lines.append((whole(self.referrals) - before, 1, 0))
        for shard in self.shards:
            shard.first_new = shard.rows
        for count, stage, cost in lines:
            if count <= 0:
                continue
            ids = np.arange(self.next_id, self.next_id + count, dtype=np.int64)
            self.next_id += count
            bounds = shard_bounds(count, self.run.sizes.shards)
            for s, shard in enumerate(self.shards):
                g = self.run.held[s] if self.run.held is not None else s
                part = ids[bounds[g] : bounds[g + 1]]
                if part.size == 0:
                    continue
                if shard.rows + part.size > shard.state.cid.shape[0]:
                    rows = int((shard.rows + part.size) * GROWTH) + k.BLOCK
                    shard.state = grow(tb, shard.state, rows)
                    seg_ever = zeros(rows, dtype=np.uint64)
                    seg_ever[: shard.seg_ever.size] = shard.seg_ever
                    shard.seg_ever = seg_ever
                    ledger = zeros((rows, N_LEDGER), dtype=np.float64)
                    ledger[: shard.ledger.shape[0]] = shard.ledger
                    shard.ledger = ledger
                self.draw_arrivals(s, shard, part, t, stage)
                arms = shard.state.arm[shard.rows : shard.rows + part.size]
                out = self.outputs[s]
                for arm in (0, 1):
                    n = int(np.count_nonzero(arms == arm))
                    out.acquired[self.r, t, arm] += n
                    out.cost_fen[self.r, t, arm] += n * cost
                shard.rows += part.size

    def draw_arrivals(self, s: int, shard: _Shard, ids: np.ndarray, t: int, stage: int) -> None:
        """Arrivals ``ids`` into the shard's next rows: drawn, or copied from an alternative
        that drew the same customers at the same step into the same stage (the draws are
        keyed by id, so they are the same bits)."""
        if self.shared is None:
            synthesize(self.tb, shard.state, shard.rows, ids, self.rk, t, stage)
            return
        key = (s, t, stage, int(ids[0]), int(ids.size))
        drawn = self.shared.arrivals.get(key)
        if drawn is None:
            synthesize(self.tb, shard.state, shard.rows, ids, self.rk, t, stage)
            drawn = allocate(self.tb, ids.size)
            _copy_rows(shard.state, drawn, shard.rows, ids.size)
            self.shared.arrivals[key] = drawn
        else:
            _copy_rows(drawn, shard.state, 0, ids.size, at=shard.rows, template=self.run.template())

    # -- one step ----------------------------------------------------------------------------

    def step(self, t: int) -> None:
        self.arrivals(t)
        market = self.market(t)
        found = self.baseline(t, market)
        proposals = self.decide(t, self.cutoffs(t, found))
        self.account(t, decided=True, thresholds=self.cuts(t, proposals))
        self.retire(t)

    def retire(self, t: int) -> None:
        """Remove the churned customers of a shard once they are ``RETIRE_SHARE`` of its
        rows. A churned customer's accounting is the same every step (counted as churned in
        its stage and tier, in its segments and plays ever: ``kernels.apply.apply_block``), so
        it is counted once more here, at step t, into the shard's ``retired`` counters, which
        every later step adds. The rows kept fill the gaps (``population.remove_rows``), which
        moves only as many rows as were removed but not in order: nothing depends on the order
        of the rows (every output is a sum of integers; capacity and budgets are cut by a
        global key). The outputs are the same to the bit. Not where rows are watched
        (``observe``, traces) or matched with another run's (variants run as deltas, which do
        not call ``step``)."""
        run = self.run
        if run.observe is not None or run.observe_ledger is not None or run.trace_id >= 0:
            return
        for shard in self.shards:
            churned = shard.state.alive[: shard.rows] == 0
            count = int(np.count_nonzero(churned))
            if count < max(RETIRE_AT_LEAST, RETIRE_SHARE * shard.rows):
                continue
            counts = apply_counts(
                self.tb, self.c, shard.state, shard.rows, t, self.rk, no_cuts(len(self.c.plays)),
                True, shard.seg_ever, shard.ledger, select=churned.view(np.uint8), want=1,
            )  # fmt: skip
            shard.retired = counts if shard.retired is None else _added([shard.retired, counts])
            threads = self.run.sizes.threads
            remove_rows([shard.seg_ever, shard.ledger], churned, shard.rows, threads)
            kept = remove_rows(shard.state, churned, shard.rows, threads)
            shard.rows = shard.first_new = kept

    def market(self, t: int) -> float:
        market = market_return(self.c, self.rk, t)
        for out in self.outputs:
            out.market_return[self.r, t] = market
        return market

    def baseline(
        self, t: int, market: float, starts: list[list[int]] | None = None
    ) -> list[np.ndarray]:
        """The baseline phase of every shard; per shard, its counters (``C_*``). With
        ``starts`` (per shard, rows), each shard runs in parts beginning at those rows, and
        ``self.parts_found[s]`` keeps each part's (first row, counters): what variants run
        as deltas take out of the base's counters for the rows they run themselves."""
        found, self.parts_found = [], []
        for s, shard in enumerate(self.shards):
            splits = starts[s] if starts else []
            bounds = sorted({0, shard.rows, *(min(r, shard.rows) for r in splits)})
            bounds = bounds if len(bounds) > 1 else [0, 0]
            parts = []
            for lo, hi in itertools.pairwise(bounds):
                counts = baseline_counts(
                    self.tb, rows_from(shard.state, lo), hi - lo,
                    min(max(shard.first_new - lo, 0), hi - lo), t, self.rk, market,
                    self.trace_row(shard) - lo if self.trace_row(shard) >= lo else -1,
                    self.trace_i, self.trace_f,
                )  # fmt: skip
                parts.append((lo, counts))
            found.append(np.sum([c for _, c in parts], axis=0))
            self.parts_found.append(parts)
        return found

    def cutoffs(self, t: int, found: list[np.ndarray]) -> np.ndarray:
        """Records the churned of each shard; the models' cutoffs from all shards' counts."""
        self.count_churned(t, found)
        return cutoffs_of(self.c, np.sum(found, axis=0))

    def count_churned(self, t: int, found: list[np.ndarray]) -> None:
        for s, counts in enumerate(found):
            self.outputs[s].churned[self.r, t] += counts[C_CHURNED : C_CHURNED + 2]

    def decide(self, t: int, cutoffs: np.ndarray) -> list[np.ndarray]:
        """The decision phase of every shard; per shard, its proposals per block and play."""
        proposals, self.decide_funnel = [], []
        for s, shard in enumerate(self.shards):
            funnel, found = decide_counts(
                self.tb, shard.state, shard.rows, t, self.rk, cutoffs, self.trace_row(shard),
                self.trace_i,
            )  # fmt: skip
            self.outputs[s].funnel[self.r, t] += funnel
            self.decide_funnel.append(funnel)
            proposals.append(found)
        return proposals

    def trace_row(self, shard: _Shard) -> int:
        if self.run.trace_id < 0:
            return -1
        hits = np.nonzero(shard.state.cid[: shard.rows] == self.run.trace_id)[0]
        return int(hits[0]) if hits.size else -1

    # -- capacity and budgets ----------------------------------------------------------------

    def cuts(
        self,
        t: int,
        proposals: list[np.ndarray],
        shards: Callable[[], list[tuple[State, int]]] | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Per play, the budget and capacity thresholds of step t (see ``kernels.apply``):
        keys are gathered only for the plays of a budget or channel that binds, from the
        (state, rows) pairs ``shards()`` gives — by default this run's own shards — whose
        ``proposals`` these are."""
        c = self.c
        per_play = np.sum([found.sum(axis=0) for found in proposals], axis=0)
        budgets, capacities = binding(c, t, per_play, self.spend)
        wanted = wanted_plays(c, budgets, capacities)
        if not wanted.any():
            return no_cuts(len(c.plays))
        pairs = [(s.state, s.rows) for s in self.shards] if shards is None else shards()
        keys = self.keys(t, pairs, proposals, wanted)
        return cut(c, keys, budgets, capacities)

    def keys(
        self,
        t: int,
        pairs: list[tuple[State, int]],
        proposals: list[np.ndarray],
        wanted: np.ndarray,
    ) -> Keys:
        """The keys of the proposals of the ``wanted`` plays in these (state, rows) pairs."""

        def fill(state: State, rows: int, *arrays: np.ndarray) -> None:
            gather(self.tb, state, rows, t, self.rk, *arrays)

        return gather_keys(pairs, proposals, wanted, fill)

    # -- accounting ----------------------------------------------------------------------------

    def account(
        self,
        t: int,
        decided: bool,
        thresholds: tuple | None = None,
        classes: list[np.ndarray] | None = None,
    ) -> list[dict[int, dict[str, np.ndarray]]]:
        """Contacts and accounting of every shard, written to the outputs. Returns each
        shard's counters (``apply_counts``) by class of row: with ``classes`` (per shard,
        uint8 per row), the rows of each class are accounted on their own (variants run as
        deltas need the base's counters over some rows: ``simulator.engine.delta``); else every row
        is of class 0."""
        if thresholds is None:
            thresholds = no_cuts(len(self.c.plays))
        counted, by_class = [], []
        for s, shard in enumerate(self.shards):
            row = self.trace_row(shard)
            if row >= 0 and decided is False:
                self.trace_i[:] = 0
            select = None if classes is None else classes[s][: shard.rows]
            present = [0] if select is None else np.nonzero(np.bincount(select))[0].tolist()
            parts = {}
            for want in present:
                parts[want] = apply_counts(
                    self.tb, self.c, shard.state, shard.rows, t, self.rk, thresholds, decided,
                    shard.seg_ever, shard.ledger, row, self.trace_i, self.trace_f, select, want,
                )  # fmt: skip
            counts = _added(list(parts.values()))
            if shard.retired is not None:
                counts = _added([counts, shard.retired])
            counted.append(counts)
            by_class.append(parts)
            if row >= 0 and not (self.run.story and self.run.story[-1]["stage"] == "churned"):
                self.run.story.append(
                    _story(self.run, t, self.rk, self.trace_i, self.trace_f, shard, row)
                )
            shard.first_new = shard.rows
        self.record(t, counted)
        return by_class

    def record(self, t: int, counted: list[dict[str, np.ndarray]]) -> None:
        """Write each shard's accounting counters to its output; the step's responders (for
        referrals) and spend per budget."""
        c = self.c
        responders = 0
        for s, counts in enumerate(counted):
            write_counts(self.outputs[s], self.r, t, counts)
            responders += int(counts["misc"][:, k.M_RESPONDERS].sum())
        self.responders = responders
        note_spend(c, self.spend, t, self.cost_per_play(t))

    def cost_per_play(self, t: int) -> np.ndarray:
        """The cost of step t by play, over this process's shards (contacts and offers)."""
        return sum(out.funnel[self.r, t, :, :, k.F_COST].sum(axis=1) for out in self.outputs)


# ------------------------------------------------------------------------------ the phases


def _added(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Counters summed key by key."""
    total = {key: value.copy() for key, value in parts[0].items()}
    for part in parts[1:]:
        for key, value in part.items():
            total[key] += value
    return total


def baseline_counts(
    tb: k.Tables,
    state: State,
    rows: int,
    first_new: int,
    t: int,
    rk: np.uint64,
    market: float,
    trace_row: int = -1,
    trace_i: np.ndarray | None = None,
    trace_f: np.ndarray | None = None,
) -> np.ndarray:
    """``baseline_step`` over rows [0, rows) (rows from ``first_new`` arrived this step); its
    counters (``C_*``) summed over blocks."""
    trace_i = np.zeros(k.TRACE_INTS, dtype=np.int64) if trace_i is None else trace_i
    trace_f = np.zeros(k.TRACE_FLOATS, dtype=np.float64) if trace_f is None else trace_f
    found = np.zeros((_blocks(rows), 3 + tb.model_i.shape[1]), dtype=np.int64)
    baseline_step(
        tb, state, rows, first_new, t, rk, market, found, trace_row, trace_i, trace_f
    )  # fmt: skip
    return found.sum(axis=0)


def decide_counts(
    tb: k.Tables,
    state: State,
    rows: int,
    t: int,
    rk: np.uint64,
    cutoffs: np.ndarray,
    trace_row: int = -1,
    trace_i: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``decide_step`` over rows [0, rows): the funnel counters (P, 2, F) summed over blocks,
    and the proposals per block and play (for ``gather_keys``)."""
    trace_i = np.zeros(k.TRACE_INTS, dtype=np.int64) if trace_i is None else trace_i
    n_plays, blocks = tb.play_i.shape[1], _blocks(rows)
    funnel = np.zeros((blocks, n_plays, 2, k.N_FUNNEL), dtype=np.int64)
    found = np.zeros((blocks, n_plays), dtype=np.int64)
    decide_step(tb, state, rows, t, rk, cutoffs, funnel, found, trace_row, trace_i)
    return funnel.sum(axis=0), found


def apply_counts(
    tb: k.Tables,
    c: CompiledStrategy,
    state: State,
    rows: int,
    t: int,
    rk: np.uint64,
    thresholds: tuple,
    decided: bool,
    seg_ever: np.ndarray,
    ledger: np.ndarray,
    trace_row: int = -1,
    trace_i: np.ndarray | None = None,
    trace_f: np.ndarray | None = None,
    select: np.ndarray | None = None,
    want: int = 0,
) -> dict[str, np.ndarray]:
    """``apply_step`` over rows [0, rows) (those whose ``select`` is ``want``, if given):
    its counters summed over blocks, by name."""
    select = np.zeros(0, dtype=np.uint8) if select is None else select
    trace_i = np.zeros(k.TRACE_INTS, dtype=np.int64) if trace_i is None else trace_i
    trace_f = np.zeros(k.TRACE_FLOATS, dtype=np.float64) if trace_f is None else trace_f
    counters = apply_counters(c, _blocks(rows))
    apply_step(
        tb, state, rows, t, rk, *thresholds, decided, counters["funnel"], counters["cust"],
        counters["misc"], counters["unserved"], counters["chan"], trace_row, trace_i, trace_f,
        seg_ever, counters["outcomes"], ledger, select, want, counters["play_outcomes"],
    )  # fmt: skip
    return {key: value.sum(axis=0) for key, value in counters.items()}


def apply_counters(c: CompiledStrategy, blocks: int) -> dict[str, np.ndarray]:
    """``apply_step``'s counters, zero, per block."""
    n_plays, tiers, segments = len(c.plays), len(c.tiers), len(c.segments) + 1

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros((blocks, *shape), dtype=np.int64)

    return {
        "funnel": zeros(n_plays, 2, k.N_FUNNEL),
        "cust": zeros(2, len(STAGES), tiers),
        "misc": zeros(2, k.N_MISC),
        "unserved": zeros(segments, tiers, 2, len(UNSERVED_KINDS)),
        "chan": zeros(len(c.channels), 2),
        "outcomes": zeros(segments, 2, len(SEGMENT_OUTCOMES)),
        "play_outcomes": zeros(n_plays, 2, len(SEGMENT_OUTCOMES)),
    }


def write_counts(out: RunOutput, r: int, t: int, counts: dict[str, np.ndarray]) -> None:
    """One shard's accounting counters of step t into its output."""
    misc = counts["misc"]
    out.funnel[r, t] += counts["funnel"]
    out.customers[r, t] = counts["cust"]
    out.aum_fen[r, t] = misc[:, k.M_AUM]
    out.promoters_ppm[r, t] = misc[:, k.M_PROMOTERS]
    out.detractors_ppm[r, t] = misc[:, k.M_DETRACTORS]
    out.revenue_fen[r, t] = misc[:, k.M_REVENUE]
    out.cost_fen[r, t] += misc[:, k.M_COST]
    out.fee_income_fen[r, t] = misc[:, k.M_FEES]
    out.book_revenue_fen[r, t] = misc[:, k.M_BOOK_REVENUE]
    out.book_by_stage_fen[r, t] = misc[:, k.M_BOOK_BY_STAGE : k.M_BOOK_BY_STAGE + len(STAGES)]
    out.responders[r, t] = misc[:, k.M_RESPONDERS]
    out.products_held[r, t] = misc[:, k.M_PRODUCTS]
    out.cross_sold[r, t] = misc[:, k.M_CROSS_SOLD]
    out.unserved[r, t] = counts["unserved"]
    out.channel_contacts[r, t] = counts["chan"]
    out.segment_outcomes[r, t] = counts["outcomes"]
    out.play_outcomes[r, t] = counts["play_outcomes"]


def shard_bounds(count: int, shards: int) -> np.ndarray:
    """Where each of ``shards`` shards starts among ``count`` customers (and where the last
    ends): the same split wherever the shards run."""
    return np.linspace(0, count, shards + 1).astype(np.int64)


def cutoffs_of(c: CompiledStrategy, found: np.ndarray) -> np.ndarray:
    """The models' cutoffs of a step from the baseline's counters summed over all shards."""
    return model_cutoffs(c, found[C_LIVE], found[C_LABELS:])


def wanted_plays(
    c: CompiledStrategy, budgets: dict[int, int], capacities: dict[int, int]
) -> np.ndarray:
    """1 for each play of a budget or a channel that binds: the plays whose keys are gathered."""
    wanted = np.zeros(len(c.plays), dtype=np.int64)
    for g in budgets:
        wanted[c.play_group == g] = 1
    for ch in capacities:
        wanted[c.play_channel == ch] = 1
    return wanted


def note_spend(c: CompiledStrategy, spend: list[dict[int, int]], t: int, cost: np.ndarray) -> None:
    """Each budget's spend at step t, from the step's cost by play over all shards."""
    for g in range(c.group_holdout.size):
        if c.group_budget_fen[g] >= 0:
            spend[g][t] = int(cost[c.play_group == g].sum())


def no_cuts(n_plays: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds that cut no proposal (``apply_step``'s ``thr_*``)."""
    return (
        np.zeros((n_plays, 2), dtype=np.int64),
        np.zeros((n_plays, 2), dtype=np.float64),
        np.zeros((n_plays, 2), dtype=np.uint64),
    )


def _blocks(rows: int) -> int:
    return max(1, (rows + k.BLOCK - 1) // k.BLOCK)


def _value_annuity(compiled: CompiledStrategy) -> np.ndarray:
    """Per stage, the discounted survival over the book's `lifetime` (empty without one)."""
    steps = int(compiled.scalars.get("lifetime_steps", -1))
    if steps < 0:
        return np.zeros(0, dtype=np.float64)
    return survival_annuity(compiled.trans_p, steps, float(compiled.scalars["discount_per_step"]))


def _empty_output(
    compiled: CompiledStrategy, sizes: RunSizes, strategy_hash: str, initial: int
) -> RunOutput:
    R, T = sizes.reps, sizes.steps + 1
    A, S, K = len(ARMS), len(STAGES), len(compiled.tiers)
    P, G, C = len(compiled.plays), len(compiled.segments) + 1, len(compiled.channels)

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.int64)

    return RunOutput(
        strategy_name=compiled.name,
        strategy_hash=strategy_hash,
        tool_version=__version__,
        seed=sizes.seed,
        replication_seeds=np.zeros(R, dtype=np.uint64),
        customers_initial=initial,
        steps=sizes.steps,
        step_unit=compiled.step_unit,
        tiers=compiled.tiers,
        plays=compiled.plays,
        play_kinds=compiled.play_kinds,
        play_channels=compiled.play_channels,
        segments=(*compiled.segments, "(all)"),
        channels=compiled.channels,
        customers=zeros(R, T, A, S, K),
        aum_fen=zeros(R, T, A),
        churned=zeros(R, T, A),
        acquired=zeros(R, T, A),
        promoters_ppm=zeros(R, T, A),
        detractors_ppm=zeros(R, T, A),
        revenue_fen=zeros(R, T, A),
        cost_fen=zeros(R, T, A),
        funnel=zeros(R, T, P, A, len(FUNNEL_FIELDS)),
        unserved=zeros(R, T, G, K, A, len(UNSERVED_KINDS)),
        channel_contacts=zeros(R, T, C, A),
        fee_income_fen=zeros(R, T, A),
        book_revenue_fen=zeros(R, T, A),
        book_by_stage_fen=zeros(R, T, A, S),
        value_annuity=_value_annuity(compiled),
        responders=zeros(R, T, A),
        products_held=zeros(R, T, A),
        cross_sold=zeros(R, T, A),
        segment_outcomes=zeros(R, T, G, A, len(SEGMENT_OUTCOMES)),
        play_outcomes=zeros(R, T, P, A, len(SEGMENT_OUTCOMES)),
        market_return=np.zeros((R, T), dtype=np.float64),
    )


def _bits(value: int, names: tuple[str, ...]) -> list[str]:
    return [name for b, name in enumerate(names) if (int(value) >> b) & 1]


def _story(
    run: _Run,
    t: int,
    rk: np.uint64,
    ti: np.ndarray,
    tf: np.ndarray,
    shard: _Shard,
    row: int,
) -> dict[str, Any]:
    """One step of the traced customer, from the trace buffers the kernels filled."""
    c, st = run.compiled, shard.state
    record: dict[str, Any] = {"step": t}
    alive = int(st.alive[row])
    record["stage"] = STAGES[int(st.stage[row])]
    record["tier"] = c.tiers[k.tier_of(run.tables, float(st.aum[row]))]
    record["aum"] = float(st.aum[row])
    record["arm"] = ARMS[int(st.arm[row])]
    if t == 0 or alive != 1:
        ti[:] = 0
        return record
    record["stage_before"] = STAGES[int(ti[k.TR_STAGE_BEFORE])]
    record["transactions"] = int(ti[k.TR_TXN])
    record["triggers"] = _bits(ti[k.TR_TRIGGERS], c.triggers)
    record["segments"] = _bits(ti[k.TR_SEGMENTS], c.segments)
    candidates, winners, suppressed, responded = [], [], {}, []
    for p, name in enumerate(c.plays):
        status = k.STATUS_NAMES[int(ti[k.TR_PLAYS + p])]
        if status is None:
            continue
        candidates.append(name)
        if status in ("contacted", "reached", "responded"):
            winners.append(name)
            if status == "responded":
                responded.append(name)
        else:
            suppressed[name] = status
    record |= {"candidates": candidates, "winner": winners, "suppressed": suppressed}
    record["responded"] = responded
    if c.models:
        found = model_scores(c, st, rk, t)[row]
        record["scores"] = {m: round(float(found[i]), 3) for i, m in enumerate(c.models)}
    ti[:] = 0
    return record


# The loop's pieces a cluster's driver and workers run (``simulator.engine.cluster``).
Run = _Run
compiled_for = _compiled
checked_sizes = _sizes
empty_output = _empty_output

__all__ = [
    "SimulationError",
    "UnknownCustomer",
    "estimate_memory",
    "model_scores",
    "population_signature",
    "simulate",
    "simulate_alternatives",
    "steps_of",
    "trace_customer",
]
