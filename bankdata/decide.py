"""One decision step on the bank's real customers (定名单): the snapshot's customers become the
engine's state (``bankdata.snapshot_state``) and go through the step's decision by the same
kernels a simulation runs — triggers, segments, eligibility, the control group and holdouts,
arbitration (``decide_step``), the channel capacity and budget cuts (``binding``, ``cut``) —
and each candidate play's fate is read out per customer (``kernel_list.statuses``).

    decision = decide(model, snapshot, spec, as_of=date(2026, 3, 1), seed=20260101)
    decision.rows  # one row per (customer, candidate play): the contact list's columns

The arms are keyed by the customer id (``bankdata.snapshot.customer_keys``) and the seed: the
draws of the simulation's first replication (``replication_key(seed, 0)``), so a customer is
in the same arm every day, and a simulated book decides as the simulation did.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bankdata.contact_list import SEGMENT_SEPARATOR
from bankdata.snapshot import Snapshot, SnapshotSpec
from bankdata.snapshot_state import (
    Book,
    Timeline,
    decision_cutoffs,
    decision_step,
    play_labels,
    state_from_snapshot,
)
from simulator.engine.couplings import (
    binding,
    cut,
    merged_keys,
    shard_keys,
    wanted_plays,
    whole,
)
from simulator.engine.phases import decide_counts, no_cuts
from simulator.engine.warmup import warm_up
from simulator.kernels import common as k
from simulator.kernels.decide import gather
from simulator.kernels.population import State
from simulator.kernels.rng import SLOT_HOLDOUT, STATIC_STEP, replication_key, uniform
from simulator.kernels.statuses import statuses
from strategy_dsl.compile import CompiledStrategy
from strategy_dsl.model import CheckedStrategy

ARM_NAMES = ("treatment", "global_control", "rule_holdout")


@dataclass
class Decision:
    """A decision step's outcome: the list's rows, and what the step used."""

    rows: pd.DataFrame
    step: int
    capacity_used: dict[str, dict[str, int | None]]
    status: np.ndarray  # int8 (customers, P): kernels.S_* per customer and play
    notes: list[str] = field(default_factory=list)


def decide(
    compiled: CompiledStrategy,
    model: CheckedStrategy,
    snap: Snapshot,
    spec: SnapshotSpec,
    as_of: dt.date,
    seed: int,
) -> Decision:
    """The decision of ``as_of`` for the snapshot's customers under ``compiled`` (the map,
    with its capacities and budgets at the size of the book it decides for). The snapshot's
    frames, but for the customers' ids, are released once the engine's state holds them
    (``Snapshot.release``)."""
    c = compiled
    tb = k.make_tables(c)
    warm_up(c, tb)
    timeline = Timeline(as_of, decision_step(as_of, c.step_days), c.step_days)
    t = timeline.step
    rk = replication_key(seed, 0)
    book = state_from_snapshot(c, tb, snap, spec, timeline, rk)
    snap.release()  # the state holds the book now; the frames would double the peak
    cutoffs, notes = decision_cutoffs(c, book, snap.meta.get("model_cutoffs", {}))
    thresholds = _decide_and_cut(c, tb, book, t, rk, cutoffs)
    status, value = statuses(tb, book.state, book.rows, t, rk, thresholds)
    rows = _list_rows(c, model, book, status, value, rk)
    return Decision(rows, t, _capacity_used(c, t, status), status, notes)


def _decide_and_cut(
    c: CompiledStrategy, tb: k.Tables, book: Book, t: int, rk: np.uint64, cutoffs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``decide_step`` over the book, then the capacity and budget thresholds of its
    proposals, as the simulation's driver cuts them (``loop.Step.cuts``)."""
    _funnel, found = decide_counts(tb, book.state, book.rows, t, rk, cutoffs)
    budgets, capacities = binding(c, t, found.sum(axis=0), book.spend)
    wanted = wanted_plays(c, budgets, capacities)
    if not wanted.any():
        return no_cuts(len(c.plays))

    def fill(state: State, rows: int, *arrays: np.ndarray) -> None:
        gather(tb, state, rows, t, rk, *arrays)

    keys = shard_keys(book.state, book.rows, found, wanted, fill)
    return cut(c, merged_keys([keys]), budgets, capacities)


def _list_rows(
    c: CompiledStrategy,
    model: CheckedStrategy,
    book: Book,
    status: np.ndarray,
    value: np.ndarray,
    rk: np.uint64,
) -> pd.DataFrame:
    """One row per (customer, candidate play), customers in snapshot order, plays in map
    order."""
    rows, plays = np.nonzero(status != k.S_NONE)
    labels = play_labels(c)
    specs = {r.name: r for r in model.rules}
    scripts = []
    for name, wave in labels:
        if wave is None:
            scripts.append(specs[name].script)
        else:
            journey = next(j for j in model.journeys if j.name == name)
            scripts.append(next(w.script for w in journey.waves if w.number == wave))
    products = [c.products[int(p)] for p in c.arrays["play_product"]]
    cid = book.state.cid[: book.rows]
    arm = book.state.arm[: book.rows][rows].astype(np.int64)
    groups = c.arrays["play_group"][plays]
    holdout = c.arrays["group_holdout"][groups]
    draw = uniform(rk, cid[rows], STATIC_STEP, SLOT_HOLDOUT + groups)
    arm = np.where(arm == 1, 1, np.where((holdout > 0) & (draw < holdout), 2, 0))
    codes = status[rows, plays]
    reason = pd.Series(codes).map(k.REASON_OF_STATUS)
    return pd.DataFrame(
        {
            # the candidates' ids alone become Python strings, not the whole book's
            "customer_id": book.ids.iloc[rows].to_numpy().astype(str),
            "play": np.asarray([name for name, _ in labels], dtype=object)[plays],
            "wave": pd.array([labels[p][1] for p in plays], dtype="Int32"),
            "channel": np.asarray(c.play_channels, dtype=object)[plays],
            "script": np.asarray(scripts, dtype=object)[plays],
            "product": np.asarray(products, dtype=object)[plays],
            "priority": value[rows, plays],
            "arm": np.asarray(ARM_NAMES, dtype=object)[arm],
            "action": np.where(codes == k.S_CONTACTED, "contact", "suppress"),
            "reason": reason.where(reason.notna(), None).to_numpy(dtype=object),
            "segments": _segment_names(c, book.state.segbits[: book.rows][rows]),
        }
    )


def _segment_names(c: CompiledStrategy, bits: np.ndarray) -> np.ndarray:
    """Each row's segments as the step's decision found them (``State.segbits``, one bit per
    declared segment), in the map's order, joined as the contact list writes them; None for
    none. Named once per distinct combination, not once per row."""
    combos, which = np.unique(bits, return_inverse=True)
    names = [
        SEGMENT_SEPARATOR.join(g for n, g in enumerate(c.segments) if (int(b) >> n) & 1) or None
        for b in combos
    ]
    return np.asarray(names, dtype=object)[which.reshape(-1)] if len(bits) else np.empty(0, object)


def _capacity_used(c: CompiledStrategy, t: int, status: np.ndarray) -> dict:
    """Per channel: contacts of this step and the step's capacity (null: unlimited)."""
    contacted = (status == k.S_CONTACTED).sum(axis=0)
    out: dict[str, dict[str, int | None]] = {}
    for ch, name in enumerate(c.channels):
        used = int(contacted[c.play_channel == ch].sum())
        rate = float(c.chan_capacity[ch])
        allowed = None if rate < 0 else whole(rate * t) - whole(rate * (t - 1))
        out[name] = {"used": used, "capacity": allowed}
    return out
