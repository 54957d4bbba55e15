"""The step loop of one run: ``Run`` (one alternative's compiled tables, sizes, customers
split into shards) starts a replication and steps it; ``Step`` holds what a replication
carries between steps (ids handed out, spend per budget, the last step's responders) and
writes, once, the order of a step's phases:

1. arrivals are drawn into new rows (their ids follow the initial population, in order);
2. the market return; the baseline phase of every shard (flows, transactions, lifecycle,
   model scores); the models' cutoffs from all shards' counts;
3. the decision phase of every shard (candidates, eligibility, holdouts, arbitration);
4. the cuts to channel capacity and play budgets, by a global order over all shards;
5. the contacts and accounting of every shard; churned rows retired.

Variants run as deltas (``delta``) step beside the base through the same ``Step.step``: each
phase of the base, then the same phase of every variant (``Beside``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from simulator.engine.couplings import (
    binding,
    cut,
    gather_keys,
    market_return,
    model_cutoffs,
    model_scores,
    whole,
)
from simulator.engine.phases import (
    added,
    apply_counts,
    baseline_counts,
    decide_counts,
    no_cuts,
    rows_from,
    write_counts,
)
from simulator.engine.shards import Shard
from simulator.engine.sizes import HEADROOM, RunSizes, expected_arrivals
from simulator.engine.warmup import warm_up
from simulator.kernels import common as k
from simulator.kernels.apply import N_LEDGER
from simulator.kernels.baseline import C_CHURNED, C_LABELS, C_LIVE
from simulator.kernels.decide import gather
from simulator.kernels.population import (
    State,
    allocate,
    grow,
    remove_rows,
    synthesize,
    zeros,
)
from simulator.kernels.rng import replication_key
from simulator.output import (
    ARMS,
    STAGES,
    RunOutput,
)
from strategy_dsl.compile import (
    CompiledStrategy,
)

if TYPE_CHECKING:
    pass

# Churned customers are retired (their rows removed, their counts kept: ``Step.retire``) once
# they are this share of a shard's rows: the passes over a block cost as much for a churned
# row as for a live one, and moving the rows up costs about a pass.
RETIRE_SHARE = 0.125
RETIRE_AT_LEAST = k.BLOCK  # churned rows: fewer are not worth a pass
GROWTH = 1.25  # rows added when arrivals outgrow a shard's arrays, as a share

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


def fits_in_place(state: State, tables: k.Tables, rows: int) -> bool:
    """Whether ``state`` can be used in place by a run with ``tables``: room enough, and the
    run's own widths."""
    mine = allocate(tables, 0)
    return state.cid.shape[0] >= rows and all(
        getattr(state, name).shape[1:] == getattr(mine, name).shape[1:] for name in State._fields
    )


@dataclass
class SharedDraws:
    """What the alternatives of one population group share within a replication: the
    initial population of every shard (taken over by the last alternative), and the arrivals
    drawn so far, keyed by (shard, step, stage, first id, count)."""

    population: list[State]
    arrivals: dict[tuple[int, int, int, int, int], State] = field(default_factory=dict)


def copy_rows(
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


# ------------------------------------------------------------------------------ the loop


@dataclass
class Run:
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
    _template: State | None = None

    def __post_init__(self) -> None:
        self.tables = k.make_tables(self.compiled)
        warm_up(self.compiled, self.tables)  # the first run's compile, on two cores
        bounds = np.linspace(0, self.ids.size, self.sizes.shards + 1).astype(np.int64)
        self.parts = [self.ids[a:b] for a, b in itertools.pairwise(bounds)]

    def room(self, shard: Shard) -> int:
        """Rows to allocate for a shard: its customers, its share of the planned arrivals,
        headroom for referrals."""
        arrivals = expected_arrivals(self.compiled, self.sizes.steps) / len(self.parts)
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
            state = allocate(self.tables, self.room(Shard(part)))
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
        shared: SharedDraws | None = None,
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
        shared: SharedDraws | None = None,
        take: bool = False,
    ) -> Step:
        """Replication ``rep`` set up and accounted at step 0: its loop, ready for step 1."""
        tb = self.tables
        r = rep if slot is None else slot
        rk = replication_key(self.sizes.seed, rep)
        for out in outputs:
            out.replication_seeds[r] = rk
        shards = [Shard(part) for part in self.parts]
        for s, shard in enumerate(shards):
            room = self.room(shard)
            if shared is None:
                shard.state = allocate(tb, room)
                synthesize(tb, shard.state, 0, shard.ids, rk, 0, -1)
            elif take and fits_in_place(shared.population[s], tb, room):
                shard.state = shared.population[s]
            else:
                shard.state = allocate(tb, room)
                copy_rows(
                    shared.population[s], shard.state, 0, shard.ids.size, template=self.template()
                )
            shard.rows = shard.first_new = shard.ids.size
            shard.seg_ever = zeros(shard.state.cid.shape[0], dtype=np.uint64)
            shard.ledger = zeros((shard.state.cid.shape[0], N_LEDGER), dtype=np.float64)
        loop = Step(self, shards, outputs, rk, r, shared)
        loop.account(0, decided=False)
        self.notify(rep, 0, shards)
        return loop

    def notify(self, rep: int, t: int, shards: list[Shard]) -> None:
        if self.observe is not None:
            states = [State(*(a[: s.rows] for a in s.state)) for s in shards]
            self.observe(rep, t, states)
        if self.observe_ledger is not None:
            states = [State(*(a[: s.rows] for a in s.state)) for s in shards]
            self.observe_ledger(rep, t, states, [s.ledger[: s.rows] for s in shards])


class Beside(Protocol):
    """A variant stepping beside this run (``delta.Delta``): after each phase of the base,
    the same phase of the variant, from the base's results of it."""

    theirs: list[np.ndarray]  # per shard, the base's rows the variant accounts itself

    def arrivals(self, t: int) -> None: ...
    def before_baseline(self, t: int) -> list[list[int]]: ...
    def baseline(self, t: int, market: float, base_found: list[np.ndarray]) -> None: ...
    def cutoffs(self, t: int) -> None: ...
    def decide(self, t: int, base_cutoffs: np.ndarray) -> None: ...
    def cuts(self, t: int) -> None: ...
    def contacts(self, base_thresholds: tuple) -> None: ...
    def apply(
        self, t: int, base_counted: list[dict[int, dict[str, np.ndarray]]], bit: int
    ) -> None: ...


class Step:
    """The state of one replication between steps: ids handed out, spend per budget, the
    responders of the last step; and the per-step driver logic."""

    def __init__(
        self,
        run: Run,
        shards: list[Shard],
        outputs: list[RunOutput],
        rk: np.uint64,
        r: int,
        shared: SharedDraws | None = None,
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
            bounds = np.linspace(0, count, len(self.shards) + 1).astype(np.int64)
            for s, shard in enumerate(self.shards):
                part = ids[bounds[s] : bounds[s + 1]]
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

    def draw_arrivals(self, s: int, shard: Shard, ids: np.ndarray, t: int, stage: int) -> None:
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
            copy_rows(shard.state, drawn, shard.rows, ids.size)
            self.shared.arrivals[key] = drawn
        else:
            copy_rows(drawn, shard.state, 0, ids.size, at=shard.rows, template=self.run.template())

    # -- one step ----------------------------------------------------------------------------

    def step(self, t: int, beside: Sequence[Beside] = ()) -> None:
        """Step t: the one place that orders a step's phases. Each phase of this run, then
        the same phase of every variant stepping ``beside`` it (``delta.Delta``)."""
        self.arrivals(t)
        for other in beside:
            other.arrivals(t)
        market = self.market(t)
        starts: list[list[int]] = [[] for _ in self.shards]
        for other in beside:
            for s, bounds in enumerate(other.before_baseline(t)):
                starts[s] += bounds
        found = self.baseline(t, market, starts if beside else None)
        for other in beside:
            other.baseline(t, market, found)
        cutoffs = self.cutoffs(t, found)
        for other in beside:
            other.cutoffs(t)
        proposals = self.decide(t, cutoffs)
        for other in beside:
            other.decide(t, cutoffs)
        thresholds = self.cuts(t, proposals)
        for other in beside:
            other.cuts(t)
        for other in beside:
            other.contacts(thresholds)
        classes = None
        if beside:  # per row, a bit for each variant that accounts the row itself
            classes = []
            for s, shard in enumerate(self.shards):
                cls = np.zeros(shard.rows, dtype=np.uint8)
                for bit, other in enumerate(beside):
                    cls |= other.theirs[s][: shard.rows].astype(np.uint8) << np.uint8(bit)
                classes.append(cls)
        counted = self.account(t, decided=True, thresholds=thresholds, classes=classes)
        for bit, other in enumerate(beside):
            other.apply(t, counted, bit)
        if not beside:  # rows stay matched with the variants' while they step beside
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
            shard.retired = counts if shard.retired is None else added([shard.retired, counts])
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
        for s, counts in enumerate(found):
            self.outputs[s].churned[self.r, t] += counts[C_CHURNED : C_CHURNED + 2]
        total = np.sum(found, axis=0)
        return model_cutoffs(self.c, total[C_LIVE], total[C_LABELS:])

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

    def trace_row(self, shard: Shard) -> int:
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
        wanted = np.zeros(len(c.plays), dtype=np.int64)
        for g in budgets:
            wanted[c.play_group == g] = 1
        for ch in capacities:
            wanted[c.play_channel == ch] = 1
        if not wanted.any():
            return no_cuts(len(c.plays))

        def fill(state: State, rows: int, *arrays: np.ndarray) -> None:
            gather(self.tb, state, rows, t, self.rk, *arrays)

        pairs = [(s.state, s.rows) for s in self.shards] if shards is None else shards()
        keys = gather_keys(pairs, proposals, wanted, fill)
        return cut(c, keys, budgets, capacities)

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
            counts = added(list(parts.values()))
            if shard.retired is not None:
                counts = added([counts, shard.retired])
            counted.append(counts)
            by_class.append(parts)
            if row >= 0 and not (self.run.story and self.run.story[-1]["stage"] == "churned"):
                self.run.story.append(
                    story_of(self.run, t, self.rk, self.trace_i, self.trace_f, shard, row)
                )
            shard.first_new = shard.rows
        self.record(t, counted)
        return by_class

    def record(self, t: int, counted: list[dict[str, np.ndarray]]) -> None:
        """Write each shard's accounting counters to its output; the step's responders (for
        referrals) and spend per budget."""
        c, tb = self.c, self.tb
        responders = 0
        for s, counts in enumerate(counted):
            write_counts(self.outputs[s], self.r, t, counts)
            responders += int(counts["misc"][:, k.M_RESPONDERS].sum())
        self.responders = responders
        cost = sum(out.funnel[self.r, t, :, :, k.F_COST].sum(axis=1) for out in self.outputs)
        for g in range(tb.group_holdout.size):
            if c.group_budget_fen[g] >= 0:
                self.spend[g][t] = int(cost[c.play_group == g].sum())


def _bits(value: int, names: tuple[str, ...]) -> list[str]:
    return [name for b, name in enumerate(names) if (int(value) >> b) & 1]


def story_of(
    run: Run,
    t: int,
    rk: np.uint64,
    ti: np.ndarray,
    tf: np.ndarray,
    shard: Shard,
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
