"""The step loop of one run: ``Run`` (one alternative's compiled tables, sizes, customers
split into shards) starts a replication and steps it; ``Step`` holds what a replication
carries between steps (ids handed out, spend per budget, the last step's responders), drives
the shards through their interface (``shards.ShardBackend``; in this process
``local_shards.LocalShards``) and writes, once, the order of a step's phases:

1. arrivals are drawn into new rows (their ids follow the initial population, in order);
2. the market return; the baseline phase of every shard (flows, transactions, lifecycle,
   model scores); the models' cutoffs from all shards' counts;
3. the decision phase of every shard (candidates, eligibility, holdouts, arbitration);
4. the cuts to channel capacity and play budgets, by a global order over all shards;
5. the contacts and accounting of every shard; churned rows retired.

Between the phases the driver reduces what couples customers from the shards' counts
(``couplings``) and writes the shards' counters into their outputs.

Variants run as deltas (``delta``) step beside the base through the same ``Step.step``: each
phase of the base, then the same phase of every variant (``Beside``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from simulator.engine.couplings import (
    binding,
    cut,
    market_return,
    merged_keys,
    model_cutoffs,
    shard_keys,
    wanted_plays,
    whole,
)
from simulator.engine.local_shards import (
    LocalShards,
    SharedDraws,
    Trace,
    copy_rows,
    fits_in_place,
)
from simulator.engine.phases import no_cuts, write_counts
from simulator.engine.shards import IdRange, Shard, ShardBackend
from simulator.engine.sizes import HEADROOM, Sizes, expected_arrivals
from simulator.engine.warmup import warm_up
from simulator.kernels import common as k
from simulator.kernels.apply import N_LEDGER
from simulator.kernels.baseline import C_CHURNED, C_LABELS, C_LIVE
from simulator.kernels.decide import gather
from simulator.kernels.population import State, allocate, synthesize, zeros
from simulator.kernels.rng import replication_key
from simulator.output import RunOutput
from strategy_dsl.compile import CompiledStrategy


@dataclass
class Run:
    compiled: CompiledStrategy
    sizes: Sizes
    # The initial customers' ids: an array in this process, or (a cluster's driver, whose
    # blocks are drawn elsewhere) their range, which ``parts`` cuts into ranges.
    ids: np.ndarray | IdRange
    trace_id: int
    observe: Callable[[int, int, list[State]], None] | None = None
    observe_ledger: Callable[[int, int, list[State], list[np.ndarray]], None] | None = None
    # Before and after each step's decisions (``simulate``'s ``observe_decision``).
    observe_decision: Callable[[int, int, str, list[State], Any], None] | None = None
    tables: Any = field(init=False)
    parts: list[np.ndarray] | list[IdRange] = field(init=False)
    story: list[dict[str, Any]] = field(default_factory=list)
    arrived: int = 0
    # The shards' backend, given the in-process one holding the replication's initial
    # population (``shards.ShardBackend``): the in-process one itself unless told otherwise.
    backend: Callable[[LocalShards], ShardBackend] = lambda local: local
    # Shards held elsewhere, which draw their initial population themselves (a cluster's
    # workers, ``cluster``): ``remote(rep, rk)`` is replication rep's backend, and this
    # process then holds none of the customers' rows.
    remote: Callable[[int, np.uint64], ShardBackend] | None = None
    _template: State | None = None

    def __post_init__(self) -> None:
        self.tables = k.make_tables(self.compiled)
        warm_up(self.compiled, self.tables)  # the first run's compile, on two cores
        bounds = np.linspace(0, self.ids.size, self.sizes.shards + 1).astype(np.int64)
        self.parts = [self.ids[int(a) : int(b)] for a, b in itertools.pairwise(bounds)]

    def room(self, shard: Shard) -> int:
        """Rows to allocate for a shard (``shard_room``)."""
        return shard_room(self.compiled, self.sizes.steps, len(self.parts), shard.ids.size)

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

    def given_population(self, book: State) -> SharedDraws:
        """A copy of the given customers (``simulate``'s ``book``), with this run's room, as
        the draws a replication takes over in place."""
        rows = book.cid.shape[0]
        state = allocate(self.tables, max(self.room(Shard(self.parts[0])), rows))
        copy_rows(book, state, 0, rows)
        return SharedDraws([state])

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
            self.notify(rep, t, loop)
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
        if self.remote is not None:
            loop = Step(self, self.remote(rep, rk), outputs, rk, r)
            loop.account(0, decided=False)
            return loop
        shards = []
        for s, part in enumerate(self.parts):
            room = self.room(Shard(part))
            if shared is None:
                shards.append(drawn_shard(tb, part, room, rk))
                continue
            shard = Shard(part)
            if take and fits_in_place(shared.population[s], tb, room):
                shard.state = shared.population[s]
            else:
                shard.state = allocate(tb, room)
                copy_rows(
                    shared.population[s], shard.state, 0, shard.ids.size, template=self.template()
                )
            shards.append(ready(shard))
        trace = Trace(self.trace_id, self.story) if self.trace_id >= 0 else None
        backend = self.backend(
            LocalShards(
                tb, self.compiled, rk, shards, self.sizes.threads, shared, self.template, trace
            )
        )
        loop = Step(self, backend, outputs, rk, r)
        loop.account(0, decided=False)
        self.notify(rep, 0, loop)
        return loop

    def notify(self, rep: int, t: int, loop: Step) -> None:
        """The ``observe`` callbacks, with each shard's rows in use (in-process shards)."""
        if self.observe is None and self.observe_ledger is None:
            return
        shards = loop.shards
        if self.observe is not None:
            states = [State(*(a[: s.rows] for a in s.state)) for s in shards]
            self.observe(rep, t, states)
        if self.observe_ledger is not None:
            states = [State(*(a[: s.rows] for a in s.state)) for s in shards]
            self.observe_ledger(rep, t, states, [s.ledger[: s.rows] for s in shards])


def shard_room(compiled: CompiledStrategy, steps: int, shards: int, customers: int) -> int:
    """Rows to allocate for a shard of ``customers`` of ``shards``: its customers, its share
    of the planned arrivals, headroom for referrals."""
    arrivals = expected_arrivals(compiled, steps) / shards
    return int((customers + arrivals) * HEADROOM) + k.BLOCK


def drawn_shard(tables: k.Tables, ids: np.ndarray, room: int, rk: np.uint64) -> Shard:
    """The shard of customers ``ids`` at step 0 of the replication keyed ``rk``, drawn into
    ``room`` rows."""
    shard = Shard(ids)
    shard.state = allocate(tables, room)
    synthesize(tables, shard.state, 0, ids, rk, 0, -1)
    return ready(shard)


def ready(shard: Shard) -> Shard:
    """A shard whose state holds its initial customers, with its accounting's own arrays."""
    shard.rows = shard.first_new = shard.ids.size
    shard.seg_ever = zeros(shard.state.cid.shape[0], dtype=np.uint64)
    shard.ledger = zeros((shard.state.cid.shape[0], N_LEDGER), dtype=np.float64)
    return shard


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
    responders of the last step; and the driver's side of each phase."""

    def __init__(
        self, run: Run, backend: ShardBackend, outputs: list[RunOutput], rk: np.uint64, r: int
    ) -> None:
        self.run, self.tb, self.c = run, run.tables, run.compiled
        self.backend, self.outputs, self.rk, self.r = backend, outputs, rk, r
        self.next_id = run.sizes.customers
        self.referrals = 0.0
        self.responders = 0
        self.spend: list[dict[int, int]] = [{} for _ in range(self.tb.group_holdout.size)]
        self.decide_funnel: list[np.ndarray] = []  # per shard, the last decision phase's

    @property
    def local(self) -> LocalShards:
        """The in-process shards, for what reads customers' rows (variants run as deltas,
        ``observe``): a run with another backend has none."""
        assert isinstance(self.backend, LocalShards), "rows are read in-process only"
        return self.backend

    @property
    def shards(self) -> list[Shard]:
        return self.local.shards

    @property
    def parts_found(self) -> list[list[tuple[int, np.ndarray]]]:
        return self.local.parts_found

    # -- one step ----------------------------------------------------------------------------

    def step(self, t: int, beside: Sequence[Beside] = ()) -> None:
        """Step t: the one place that orders a step's phases. Each phase of this run, then
        the same phase of every variant stepping ``beside`` it (``delta.Delta``)."""
        self.arrivals(t)
        for other in beside:
            other.arrivals(t)
        market = self.market(t)
        starts: list[list[int]] = [[] for _ in self.outputs]
        for other in beside:
            for s, bounds in enumerate(other.before_baseline(t)):
                starts[s] += bounds
        found = self.baseline(t, market, starts if beside else None)
        for other in beside:
            other.baseline(t, market, found)
        cutoffs = self.cutoffs(t, found)
        for other in beside:
            other.cutoffs(t)
        self.notify_decision(t, "book", cutoffs)
        proposals = self.decide(t, cutoffs)
        for other in beside:
            other.decide(t, cutoffs)
        thresholds = self.cuts(t, proposals)
        self.notify_decision(t, "decided", thresholds)
        for other in beside:
            other.cuts(t)
        for other in beside:
            other.contacts(thresholds)
        classes = None
        if beside:  # per row, a bit for each variant that accounts the row itself
            classes = []
            for s, shard in enumerate(self.shards):  # deltas step in-process
                cls = np.zeros(shard.rows, dtype=np.uint8)
                for bit, other in enumerate(beside):
                    cls |= other.theirs[s][: shard.rows].astype(np.uint8) << np.uint8(bit)
                classes.append(cls)
        counted = self.account(t, decided=True, thresholds=thresholds, classes=classes)
        for bit, other in enumerate(beside):
            other.apply(t, counted, bit)
        if not beside:  # rows stay matched with the variants' while they step beside
            self.retire(t)

    def arrivals(self, t: int) -> None:
        """Deterministic arrivals: the whole customers among the cumulative expected ones; the
        same for referrals from the last step's responders (all shards together). Ids are
        handed out here, in order, each line's split evenly over the shards (as ranges: the
        shards draw them)."""
        lines: list[tuple[int, int, int]] = []  # (count, stage, cost in fen)
        for rate, stage, cost in zip(
            self.c.arr_per_step, self.c.arr_stage, self.c.arr_cost_fen, strict=True
        ):
            count = whole(rate * t) - whole(rate * (t - 1))
            lines.append((count, int(stage), int(cost)))
        before = whole(self.referrals)
        self.referrals += float(self.c.referral_per_step) * self.responders
        lines.append((whole(self.referrals) - before, 1, 0))
        lines = [line for line in lines if line[0] > 0]
        parts = []
        for count, stage, _ in lines:
            ids = IdRange(self.next_id, self.next_id + count)
            self.next_id += count
            bounds = np.linspace(0, count, len(self.outputs) + 1).astype(np.int64)
            parts.append(([ids[int(a) : int(b)] for a, b in itertools.pairwise(bounds)], stage))
        arms = self.backend.arrive(t, parts)
        for out, by_line in zip(self.outputs, arms, strict=True):
            for (_, _, cost), counts in zip(lines, by_line, strict=True):
                for arm in (0, 1):
                    out.acquired[self.r, t, arm] += int(counts[arm])
                    out.cost_fen[self.r, t, arm] += int(counts[arm]) * cost

    def retire(self, t: int) -> None:
        """The backend's retiring of churned rows (``LocalShards.retire``); not where rows
        are watched (``observe``, traces) or matched with another run's (variants run as
        deltas)."""
        run = self.run
        watched = run.observe, run.observe_ledger, run.observe_decision
        if any(w is not None for w in watched) or run.trace_id >= 0:
            return
        self.backend.retire(t)

    def notify_decision(self, t: int, phase: str, extra: Any) -> None:
        """``observe_decision(rep, t, phase, states, extra)``: phase "book" before the step's
        decisions (``extra`` the models' cutoffs), "decided" after them and the cuts
        (``extra`` the thresholds), with each shard's rows in use (in-process shards)."""
        if self.run.observe_decision is not None:
            states = [State(*(a[: s.rows] for a in s.state)) for s in self.shards]
            self.run.observe_decision(self.r, t, phase, states, extra)

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
        ``parts_found[s]`` keeps each part's (first row, counters): what variants run as
        deltas take out of the base's counters for the rows they run themselves."""
        return self.backend.baseline(t, market, starts)

    def cutoffs(self, t: int, found: list[np.ndarray]) -> np.ndarray:
        """Records the churned of each shard; the models' cutoffs from all shards' counts."""
        for s, counts in enumerate(found):
            self.outputs[s].churned[self.r, t] += counts[C_CHURNED : C_CHURNED + 2]
        total = np.sum(found, axis=0)
        return model_cutoffs(self.c, total[C_LIVE], total[C_LABELS:])

    def decide(self, t: int, cutoffs: np.ndarray) -> list[np.ndarray]:
        """The decision phase of every shard; per shard, its proposals per block and play."""
        decided = self.backend.decide(t, cutoffs)
        self.decide_funnel = [funnel for funnel, _ in decided]
        for out, funnel in zip(self.outputs, self.decide_funnel, strict=True):
            out.funnel[self.r, t] += funnel
        return [found for _, found in decided]

    # -- capacity and budgets ----------------------------------------------------------------

    def cuts(
        self,
        t: int,
        proposals: list[np.ndarray],
        shards: Callable[[], list[tuple[State, int]]] | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Per play, the budget and capacity thresholds of step t (see ``kernels.apply``):
        keys are gathered only for the plays of a budget or channel that binds, from the
        shards whose ``proposals`` these are: the backend's, or the (state, rows) pairs
        ``shards()`` gives (a variant's compact rows, ``delta``)."""
        c = self.c
        per_play = np.sum([found.sum(axis=0) for found in proposals], axis=0)
        budgets, capacities = binding(c, t, per_play, self.spend)
        wanted = wanted_plays(c, budgets, capacities)
        if not wanted.any():
            return no_cuts(len(c.plays))
        if shards is None:
            keys = self.backend.gather(t, proposals, wanted)
        else:

            def fill(state: State, rows: int, *arrays: np.ndarray) -> None:
                gather(self.tb, state, rows, t, self.rk, *arrays)

            pairs = zip(shards(), proposals, strict=True)
            keys = [shard_keys(st, rows, found, wanted, fill) for (st, rows), found in pairs]
        return cut(c, merged_keys(keys), budgets, capacities)

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
        deltas need the base's counters over some rows: ``delta``); else every row is of
        class 0."""
        if thresholds is None:
            thresholds = no_cuts(len(self.c.plays))
        accounted = self.backend.account(t, decided, thresholds, classes)
        self.record(t, [a.total for a in accounted])
        return [a.by_class for a in accounted]

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
