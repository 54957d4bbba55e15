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

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from simulator import kernels as k
from simulator.kernel_apply import apply_step
from simulator.kernel_baseline import C_CHURNED, C_LABELS, C_LIVE, baseline_step
from simulator.kernel_couplings import (
    binding,
    cut,
    gather_keys,
    market_return,
    model_cutoffs,
    model_scores,
    whole,
)
from simulator.kernel_decide import decide_step, gather
from simulator.output import ARMS, FUNNEL_FIELDS, STAGES, UNSERVED_KINDS, RunOutput
from simulator.population import State, allocate, bytes_per_customer, grow, synthesize
from simulator.rng import replication_key
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
GROWTH = 1.25  # rows added when arrivals outgrow a shard's arrays, as a share
FIXED_OVERHEAD = 256 * 2**20  # the interpreter, NumPy, Numba and compiled kernels


class SimulationError(Exception):
    """A run that cannot be done as asked: a message for a person and a hint to fix it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


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
    """The compiled strategy, with arrivals scaled to ``customers`` when the run replaces the
    population's size: `arrivals 3000 per month` is written for the declared 200k customers,
    and a 20k-customer rehearsal of the same bank must see 300 a month, or new customers would
    swamp the book and every per-customer figure with it."""
    try:
        compiled = compile_strategy(model)
    except CompileError as exc:
        raise SimulationError(exc.message, exc.hint) from None
    declared = compiled.population_size
    if customers is None or declared <= 0 or int(customers) == declared or int(customers) < 0:
        return compiled
    scale = int(customers) / declared
    arrays = {**compiled.arrays, "arr_per_step": compiled.arrays["arr_per_step"] * scale}
    return replace(compiled, arrays=arrays)


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
    """Bytes a run needs at its peak: the customers' state (``simulator.population.layout``)
    for the initial population and the arrivals, the gathered keys of one step, the per-block
    counters and the output arrays. Threads and shards do not change it (all shards of a run
    live in one process together); they are accepted so that callers can pass a run's sizes."""
    compiled = _compiled(model, customers)
    tables = k.make_tables(compiled)
    n = compiled.population_size if customers is None else int(customers)
    steps = steps_of(compiled, months)
    rows = (n + expected_arrivals(compiled, steps)) * HEADROOM + k.BLOCK
    state = bytes_per_customer(tables) * rows
    gathered = 16 * rows
    out = _output_cells(compiled) * 8 * reps * (steps + 1)
    blocks = rows / k.BLOCK + 1
    counters = _output_cells(compiled) * 8 * blocks
    return int(state + gathered + out + counters + FIXED_OVERHEAD)


def _output_cells(compiled: CompiledStrategy) -> int:
    plays, segments = len(compiled.plays), len(compiled.segments) + 1
    tiers, channels = len(compiled.tiers), len(compiled.channels)
    funnel = plays * 2 * len(FUNNEL_FIELDS)
    return funnel + 2 * len(STAGES) * tiers + segments * tiers * 2 * 2 + channels * 2 + 2 * 16


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
    """
    compiled = _compiled(model, customers)
    sizes = _sizes(compiled, customers, months, reps, seed, threads, shards)
    needed = estimate_memory(
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
    numba.set_num_threads(sizes.threads)
    run = _Run(compiled, sizes, ids, trace_id=-1, observe=observe)
    outputs = [_empty_output(compiled, sizes, strategy_hash, part.size) for part in run.parts]
    total = sizes.reps * sizes.steps
    for rep in range(sizes.reps):
        run.replicate(rep, outputs, progress, rep * sizes.steps, total)
    merged = outputs[0]
    for other in outputs[1:]:
        merged = merged.merge(other)
    merged.extra["notes"] = list(compiled.notes)
    return merged


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
        raise SimulationError(f"customer {customer_id!r} is not a customer id", "ids start at 0")
    numba.set_num_threads(sizes.threads)
    run = _Run(compiled, sizes, np.arange(sizes.customers, dtype=np.int64), trace_id=customer_id)
    outputs = [_empty_output(compiled, RunSizes(**{**sizes.__dict__, "reps": 1}), "", 0)]
    run.replicate(rep, outputs, None, 0, sizes.steps, slot=0)
    if not run.story:
        last = sizes.customers + run.arrived - 1
        raise SimulationError(
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


@dataclass
class _Run:
    compiled: CompiledStrategy
    sizes: RunSizes
    ids: np.ndarray
    trace_id: int
    observe: Callable[[int, int, list[State]], None] | None = None
    tables: Any = field(init=False)
    parts: list[np.ndarray] = field(init=False)
    story: list[dict[str, Any]] = field(default_factory=list)
    arrived: int = 0

    def __post_init__(self) -> None:
        self.tables = k.make_tables(self.compiled)
        bounds = np.linspace(0, self.ids.size, self.sizes.shards + 1).astype(np.int64)
        self.parts = [self.ids[a:b] for a, b in itertools.pairwise(bounds)]

    def replicate(
        self,
        rep: int,
        outputs: list[RunOutput],
        progress: Callable[[int, int], None] | None,
        done: int,
        total: int,
        slot: int | None = None,
    ) -> None:
        """Replication ``rep``, written at index ``slot`` (default rep) of every output."""
        tb, sizes = self.tables, self.sizes
        r = rep if slot is None else slot
        rk = replication_key(sizes.seed, rep)
        for out in outputs:
            out.replication_seeds[r] = rk
        shards = [_Shard(part) for part in self.parts]
        for shard in shards:
            arrivals = expected_arrivals(self.compiled, sizes.steps) / len(shards)
            room = int((shard.ids.size + arrivals) * HEADROOM) + k.BLOCK  # referrals too
            shard.state = allocate(tb, room)
            synthesize(tb, shard.state, 0, shard.ids, rk, 0, -1)
            shard.rows = shard.first_new = shard.ids.size
        loop = _Step(self, shards, outputs, rk, r)
        loop.account(0, decided=False)
        self.notify(rep, 0, shards)
        for t in range(1, sizes.steps + 1):
            loop.step(t)
            self.notify(rep, t, shards)
            if progress is not None:
                progress(done + t, total)
        self.arrived = loop.next_id - sizes.customers

    def notify(self, rep: int, t: int, shards: list[_Shard]) -> None:
        if self.observe is not None:
            states = [State(*(a[: s.rows] for a in s.state)) for s in shards]
            self.observe(rep, t, states)


class _Step:
    """The state of one replication between steps: ids handed out, spend per budget, the
    responders of the last step; and the per-step driver logic."""

    def __init__(
        self, run: _Run, shards: list[_Shard], outputs: list[RunOutput], rk: np.uint64, r: int
    ) -> None:
        self.run, self.tb, self.c = run, run.tables, run.compiled
        self.shards, self.outputs, self.rk, self.r = shards, outputs, rk, r
        self.next_id = run.sizes.customers
        self.referrals = 0.0
        self.responders = 0
        self.spend: list[dict[int, int]] = [{} for _ in range(self.tb.group_holdout.size)]
        self.trace_i = np.zeros(k.TRACE_INTS, dtype=np.int64)
        self.trace_f = np.zeros(k.TRACE_FLOATS, dtype=np.float64)

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
            bounds = np.linspace(0, count, len(self.shards) + 1).astype(np.int64)
            for s, shard in enumerate(self.shards):
                part = ids[bounds[s] : bounds[s + 1]]
                if part.size == 0:
                    continue
                if shard.rows + part.size > shard.state.cid.shape[0]:
                    rows = int((shard.rows + part.size) * GROWTH) + k.BLOCK
                    shard.state = grow(tb, shard.state, rows)
                synthesize(tb, shard.state, shard.rows, part, self.rk, t, stage)
                arms = shard.state.arm[shard.rows : shard.rows + part.size]
                out = self.outputs[s]
                for arm in (0, 1):
                    n = int(np.count_nonzero(arms == arm))
                    out.acquired[self.r, t, arm] += n
                    out.cost_fen[self.r, t, arm] += n * cost
                shard.rows += part.size

    # -- one step ----------------------------------------------------------------------------

    def step(self, t: int) -> None:
        tb, c = self.tb, self.c
        self.arrivals(t)
        market = market_return(c, self.rk, t)
        for out in self.outputs:
            out.market_return[self.r, t] = market
        counts = []
        for s, shard in enumerate(self.shards):
            blocks = _blocks(shard.rows)
            found = np.zeros((blocks, 3 + tb.model_i.shape[1]), dtype=np.int64)
            row = self.trace_row(shard)
            baseline_step(
                tb, shard.state, shard.rows, shard.first_new, t, self.rk, market, found,
                row, self.trace_i, self.trace_f,
            )  # fmt: skip
            found = found.sum(axis=0)
            self.outputs[s].churned[self.r, t] += found[C_CHURNED : C_CHURNED + 2]
            counts.append(found)
        total = np.sum(counts, axis=0)
        cutoffs = model_cutoffs(c, total[C_LIVE], total[C_LABELS:])
        proposals = []
        for s, shard in enumerate(self.shards):
            blocks = _blocks(shard.rows)
            funnel = np.zeros((blocks, len(c.plays), 2, k.N_FUNNEL), dtype=np.int64)
            found = np.zeros((blocks, len(c.plays)), dtype=np.int64)
            decide_step(
                tb, shard.state, shard.rows, t, self.rk, cutoffs, funnel, found,
                self.trace_row(shard), self.trace_i,
            )  # fmt: skip
            self.outputs[s].funnel[self.r, t] += funnel.sum(axis=0)
            proposals.append(found)
        thresholds = self.cuts(t, proposals)
        self.account(t, decided=True, thresholds=thresholds)

    def trace_row(self, shard: _Shard) -> int:
        if self.run.trace_id < 0:
            return -1
        hits = np.nonzero(shard.state.cid[: shard.rows] == self.run.trace_id)[0]
        return int(hits[0]) if hits.size else -1

    # -- capacity and budgets ----------------------------------------------------------------

    def cuts(self, t: int, proposals: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """Per play, the budget and capacity thresholds of step t (see ``kernel_apply``):
        keys are gathered only for the plays of a budget or channel that binds."""
        c = self.c
        per_play = np.sum([found.sum(axis=0) for found in proposals], axis=0)
        budgets, capacities = binding(c, t, per_play, self.spend)
        wanted = np.zeros(len(c.plays), dtype=np.int64)
        for g in budgets:
            wanted[c.play_group == g] = 1
        for ch in capacities:
            wanted[c.play_channel == ch] = 1
        if not wanted.any():
            return _no_cuts(len(c.plays))

        def fill(state: State, rows: int, *arrays: np.ndarray) -> None:
            gather(self.tb, state, rows, t, self.rk, *arrays)

        shards = [(shard.state, shard.rows) for shard in self.shards]
        keys = gather_keys(shards, proposals, wanted, fill)
        return cut(c, keys, budgets, capacities)

    # -- accounting ----------------------------------------------------------------------------

    def account(self, t: int, decided: bool, thresholds: tuple | None = None) -> None:
        c, tb = self.c, self.tb
        n_plays = len(c.plays)
        if thresholds is None:
            thresholds = _no_cuts(n_plays)
        responders = 0
        tiers, segments = len(c.tiers), len(c.segments) + 1
        for s, shard in enumerate(self.shards):
            blocks = _blocks(shard.rows)
            funnel = np.zeros((blocks, n_plays, 2, k.N_FUNNEL), dtype=np.int64)
            cust = np.zeros((blocks, 2, len(STAGES), tiers), dtype=np.int64)
            misc = np.zeros((blocks, 2, k.N_MISC), dtype=np.int64)
            unserved = np.zeros((blocks, segments, tiers, 2, len(UNSERVED_KINDS)), dtype=np.int64)
            chan = np.zeros((blocks, len(c.channels), 2), dtype=np.int64)
            row = self.trace_row(shard)
            if row >= 0 and decided is False:
                self.trace_i[:] = 0
            apply_step(
                tb, shard.state, shard.rows, t, self.rk, *thresholds, decided,
                funnel, cust, misc, unserved, chan, row, self.trace_i, self.trace_f,
            )  # fmt: skip
            out, r = self.outputs[s], self.r
            misc = misc.sum(axis=0)
            out.funnel[r, t] += funnel.sum(axis=0)
            out.customers[r, t] = cust.sum(axis=0)
            out.aum_fen[r, t] = misc[:, k.M_AUM]
            out.promoters_ppm[r, t] = misc[:, k.M_PROMOTERS]
            out.detractors_ppm[r, t] = misc[:, k.M_DETRACTORS]
            out.revenue_fen[r, t] = misc[:, k.M_REVENUE]
            out.cost_fen[r, t] += misc[:, k.M_COST]
            out.fee_income_fen[r, t] = misc[:, k.M_FEES]
            out.responders[r, t] = misc[:, k.M_RESPONDERS]
            out.products_held[r, t] = misc[:, k.M_PRODUCTS]
            out.cross_sold[r, t] = misc[:, k.M_CROSS_SOLD]
            out.unserved[r, t] = unserved.sum(axis=0)
            out.channel_contacts[r, t] = chan.sum(axis=0)
            responders += int(misc[:, k.M_RESPONDERS].sum())
            if row >= 0 and not (self.run.story and self.run.story[-1]["stage"] == "churned"):
                self.run.story.append(
                    _story(self.run, t, self.rk, self.trace_i, self.trace_f, shard, row)
                )
            shard.first_new = shard.rows
        self.responders = responders
        cost = sum(out.funnel[self.r, t, :, :, k.F_COST].sum(axis=1) for out in self.outputs)
        for g in range(tb.group_holdout.size):
            if c.group_budget_fen[g] >= 0:
                self.spend[g][t] = int(cost[c.play_group == g].sum())


def _no_cuts(n_plays: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.zeros((n_plays, 2), dtype=np.int64),
        np.zeros((n_plays, 2), dtype=np.float64),
        np.zeros((n_plays, 2), dtype=np.uint64),
    )


def _blocks(rows: int) -> int:
    return max(1, (rows + k.BLOCK - 1) // k.BLOCK)


def _empty_output(
    compiled: CompiledStrategy, sizes: RunSizes, strategy_hash: str, initial: int
) -> RunOutput:
    from stratmap import __version__

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
        responders=zeros(R, T, A),
        products_held=zeros(R, T, A),
        cross_sold=zeros(R, T, A),
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


__all__ = [
    "SimulationError",
    "estimate_memory",
    "model_scores",
    "simulate",
    "steps_of",
    "trace_customer",
]
