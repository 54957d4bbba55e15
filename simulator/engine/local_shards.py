"""The in-process shard backend (``shards.ShardBackend``): every shard's arrays in this
process, each phase's kernels run on the run's threads, shard after shard.

Beyond the interface, it keeps what needs the customers' rows themselves: one customer's
trace (the kernels fill trace buffers for its row; ``story_of`` reads them), the arrivals and
initial population shared by alternatives drawn alike (``SharedDraws``), and the rows that
variants run as deltas read and copy (``shards``, ``parts_found``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.engine.couplings import Keys, model_scores, shard_keys
from simulator.engine.phases import (
    added,
    apply_counts,
    baseline_counts,
    decide_counts,
    no_cuts,
    rows_from,
)
from simulator.engine.shards import Accounted, IdRange, Shard
from simulator.kernels import common as k
from simulator.kernels.apply import N_LEDGER
from simulator.kernels.decide import gather
from simulator.kernels.population import State, allocate, grow, remove_rows, synthesize, zeros
from simulator.output import ARMS, STAGES
from strategy_dsl.compile import CompiledStrategy

# Churned customers are retired (their rows removed, their counts kept: ``retire``) once
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


@dataclass
class Trace:
    """The one customer a trace follows: the buffers the kernels fill for its row, and its
    story so far (``story_of``, one record per step)."""

    customer: int
    story: list[dict[str, Any]]
    ints: np.ndarray = field(default_factory=lambda: np.zeros(k.TRACE_INTS, dtype=np.int64))
    floats: np.ndarray = field(default_factory=lambda: np.zeros(k.TRACE_FLOATS, np.float64))


class LocalShards:
    """``shards.ShardBackend`` in this process, over ``shards`` already holding the
    replication's initial population."""

    def __init__(
        self,
        tables: k.Tables,
        compiled: CompiledStrategy,
        rk: np.uint64,
        shards: list[Shard],
        threads: int,
        shared: SharedDraws | None = None,
        template: Callable[[], State] | None = None,
        trace: Trace | None = None,
    ) -> None:
        self.tb, self.c, self.rk, self.shards = tables, compiled, rk, shards
        self.threads, self.shared, self.template, self.trace = threads, shared, template, trace
        self.no_trace = Trace(-1, [])  # buffers the kernels write when nobody is traced
        # Per shard, the baseline's parts: (first row, counters) (``baseline``'s ``starts``).
        self.parts_found: list[list[tuple[int, np.ndarray]]] = []

    # -- arrivals ----------------------------------------------------------------------------

    def arrive(self, t: int, lines: Sequence[tuple[Sequence[IdRange], int]]) -> list[np.ndarray]:
        arms = [np.zeros((len(lines), 2), dtype=np.int64) for _ in self.shards]
        for shard in self.shards:
            shard.first_new = shard.rows
        for line, (parts, stage) in enumerate(lines):
            for s, (shard, given) in enumerate(zip(self.shards, parts, strict=True)):
                if given.size == 0:
                    continue
                ids = given.ids()
                self._room_for(shard, ids.size)
                self._draw(s, shard, ids, t, stage)
                new = shard.state.arm[shard.rows : shard.rows + ids.size]
                for arm in (0, 1):
                    arms[s][line, arm] = np.count_nonzero(new == arm)
                shard.rows += ids.size
        return arms

    def _room_for(self, shard: Shard, count: int) -> None:
        if shard.rows + count <= shard.state.cid.shape[0]:
            return
        rows = int((shard.rows + count) * GROWTH) + k.BLOCK
        shard.state = grow(self.tb, shard.state, rows)
        seg_ever = zeros(rows, dtype=np.uint64)
        seg_ever[: shard.seg_ever.size] = shard.seg_ever
        shard.seg_ever = seg_ever
        ledger = zeros((rows, N_LEDGER), dtype=np.float64)
        ledger[: shard.ledger.shape[0]] = shard.ledger
        shard.ledger = ledger

    def _draw(self, s: int, shard: Shard, ids: np.ndarray, t: int, stage: int) -> None:
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
            template = self.template() if self.template is not None else None
            copy_rows(drawn, shard.state, 0, ids.size, at=shard.rows, template=template)

    # -- the phases --------------------------------------------------------------------------

    def baseline(
        self, t: int, market: float, starts: Sequence[Sequence[int]] | None = None
    ) -> list[np.ndarray]:
        found, self.parts_found = [], []
        trace = self.trace or self.no_trace
        for s, shard in enumerate(self.shards):
            splits = starts[s] if starts else []
            bounds = sorted({0, shard.rows, *(min(r, shard.rows) for r in splits)})
            bounds = bounds if len(bounds) > 1 else [0, 0]
            row = self.trace_row(shard)
            parts = []
            for lo, hi in itertools.pairwise(bounds):
                counts = baseline_counts(
                    self.tb, rows_from(shard.state, lo), hi - lo,
                    min(max(shard.first_new - lo, 0), hi - lo), t, self.rk, market,
                    row - lo if row >= lo else -1, trace.ints, trace.floats,
                )  # fmt: skip
                parts.append((lo, counts))
            found.append(np.sum([c for _, c in parts], axis=0))
            self.parts_found.append(parts)
        return found

    def decide(self, t: int, cutoffs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        trace = self.trace or self.no_trace
        decided = []
        for shard in self.shards:
            row = self.trace_row(shard)
            decided.append(
                decide_counts(
                    self.tb, shard.state, shard.rows, t, self.rk, cutoffs, row, trace.ints
                )
            )
        return decided

    def gather(self, t: int, proposals: Sequence[np.ndarray], wanted: np.ndarray) -> list[Keys]:
        def fill(state: State, rows: int, *arrays: np.ndarray) -> None:
            gather(self.tb, state, rows, t, self.rk, *arrays)

        return [
            shard_keys(shard.state, shard.rows, found, wanted, fill)
            for shard, found in zip(self.shards, proposals, strict=True)
        ]

    def account(
        self,
        t: int,
        decided: bool,
        thresholds: tuple[np.ndarray, np.ndarray, np.ndarray],
        classes: Sequence[np.ndarray] | None = None,
    ) -> list[Accounted]:
        trace = self.trace or self.no_trace
        accounted = []
        for s, shard in enumerate(self.shards):
            row = self.trace_row(shard)
            if row >= 0 and decided is False:
                trace.ints[:] = 0
            select = None if classes is None else classes[s][: shard.rows]
            present = [0] if select is None else np.nonzero(np.bincount(select))[0].tolist()
            parts = {}
            for want in present:
                parts[want] = apply_counts(
                    self.tb, self.c, shard.state, shard.rows, t, self.rk, thresholds, decided,
                    shard.seg_ever, shard.ledger, row, trace.ints, trace.floats, select, want,
                )  # fmt: skip
            counts = added(list(parts.values()))
            if shard.retired is not None:
                counts = added([counts, shard.retired])
            accounted.append(Accounted(counts, parts))
            if row >= 0 and not (trace.story and trace.story[-1]["stage"] == "churned"):
                trace.story.append(story_of(self, t, shard, row))
            shard.first_new = shard.rows
        return accounted

    def retire(self, t: int) -> None:
        """Remove the churned customers of a shard once they are ``RETIRE_SHARE`` of its
        rows. A churned customer's accounting is the same every step (counted as churned in
        its stage and tier, in its segments and plays ever: ``kernels.apply.apply_block``), so
        it is counted once more here, at step t, into the shard's ``retired`` counters, which
        every later step adds. The rows kept fill the gaps (``population.remove_rows``), which
        moves only as many rows as were removed but not in order: nothing depends on the order
        of the rows (every output is a sum of integers; capacity and budgets are cut by a
        global key). The outputs are the same to the bit."""
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
            remove_rows([shard.seg_ever, shard.ledger], churned, shard.rows, self.threads)
            kept = remove_rows(shard.state, churned, shard.rows, self.threads)
            shard.rows = shard.first_new = kept

    def trace_row(self, shard: Shard) -> int:
        if self.trace is None:
            return -1
        hits = np.nonzero(shard.state.cid[: shard.rows] == self.trace.customer)[0]
        return int(hits[0]) if hits.size else -1


# ------------------------------------------------------------------------------ traces


def _bits(value: int, names: tuple[str, ...]) -> list[str]:
    return [name for b, name in enumerate(names) if (int(value) >> b) & 1]


def story_of(shards: LocalShards, t: int, shard: Shard, row: int) -> dict[str, Any]:
    """One step of the traced customer, from the trace buffers the kernels filled."""
    assert shards.trace is not None
    c, st, rk = shards.c, shard.state, shards.rk
    ti = shards.trace.ints
    record: dict[str, Any] = {"step": t}
    alive = int(st.alive[row])
    record["stage"] = STAGES[int(st.stage[row])]
    record["tier"] = c.tiers[k.tier_of(shards.tb, float(st.aum[row]))]
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
