"""A customer snapshot (``bankdata.snapshot``) and the engine's per-customer state, both ways.

``spec_for(compiled, model)`` says what one map's decision reads (so that the snapshot is
validated against the map: no column the decision reads may be missing, none is defaulted);
``state_from_snapshot`` builds the state arrays (``simulator.kernels.population.State``) of
the customers as they stand at the decision step (``book_for_forecast``: at a forecast's step
0); ``decision_cutoffs`` carries the bank's model scores into the kernels. The way back, a
simulated book written as a snapshot, is ``bankdata.snapshot_writer``: a decision on it is the
simulation's decision (tests/test_decide_parity.py).

The timeline: the snapshot is dated by days; the engine counts steps. The decision on the as-of
date is step ``decision_step(as_of, step_days)``: whole steps since 2000-01-01, plus one (the
step's number fixes the `every N` triggers and the per-step tie-break). An event dated d is of
step t - floor((as_of - d) / step_days): the step of the decision covers the step_days days
ending on the as-of date, and a maturity step_days days ahead falls in the next step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bankdata.snapshot import EARLIEST, OWN_CHURN, Snapshot, SnapshotSpec, customer_keys, positions
from simulator.kernels import common as k
from simulator.kernels.common import NO_MATURITY, SC_ARBITRATE
from simulator.kernels.population import STAGE_AGE_CAP, State, allocate
from simulator.kernels.predicates import CUT_PERSISTENCE, N_CUTOFF_ROWS
from simulator.kernels.rng import (
    SLOT_CONTROL,
    SLOT_DRAWN_CHURN,
    STATIC_STEP,
    beta,
    customer_key,
    replication_key,
    step_key,
    uniform,
)
from strategy_dsl.compile import (
    ATTR_AGE,
    ATTR_CATEGORY,
    ATTR_FLAG,
    ATTR_MONTHS_SINCE_TXN,
    ATTR_NUMBER,
    ATTR_PRODUCTS_HELD,
    ATTR_PROPENSITY,
    ATTR_TENURE,
    ATTR_TXN_3M,
    ATTR_TXN_PER_MONTH,
    NEVER_STEP,
    OP_AUM_CHANGE,
    OP_BIRTHDAY,
    OP_COMPARE,
    OP_ENTERED,
    OP_FLAG,
    OP_FLOW,
    OP_IN_CODES,
    OP_IN_NUMBERS,
    OP_INACTIVE,
    OP_MODEL_TOP,
    OP_RANGE,
    OP_SALARY,
    STAGE_CHURNED,
    STAGES,
    CompiledStrategy,
)
from strategy_dsl.errors import StratmapError
from strategy_dsl.model import CheckedStrategy

EPOCH = dt.date(2000, 1, 1)
RISKS = ("C1", "C2", "C3", "C4", "C5")
YEAR_DAYS, MONTH_DAYS = 360, 30  # the simulator's calendar (birthdays, paydays)
NS_PER_DAY = 86_400 * 10**9
FLOW_CHUNK_ROWS = 1 << 22  # flow rows turned into ring places at a time (about 100 MB)


class SnapshotStateError(StratmapError):
    """A snapshot this map cannot decide on (beyond what the table reader checks)."""


# ------------------------------------------------------------------------------ the timeline


def decision_step(as_of: dt.date, step_days: int) -> int:
    """The step whose decision is made on ``as_of``."""
    return (as_of - EPOCH).days // step_days + 1


def as_of_of(step: int, step_days: int) -> dt.date:
    """The as-of date of step ``step``'s decision (``decision_step``'s inverse)."""
    return EPOCH + dt.timedelta(days=(step - 1) * step_days)


@dataclass(frozen=True)
class Timeline:
    """The as-of date is the end of step ``step`` (events dated in the step_days days up to
    it are that step's); ``starts`` is the step that begins on it (birthdays and paydays
    ahead): the decision's own step, or the first step of a forecast from the book."""

    as_of: dt.date
    step: int
    step_days: int
    starts: int | None = None

    @property
    def first_step(self) -> int:
        return self.step if self.starts is None else self.starts

    def steps(self, dates: pd.Series) -> np.ndarray:
        """The step of each date (int64); at most STAGE_AGE_CAP steps back, as the simulator
        remembers."""
        # Whole days by integer nanoseconds, floored as a Timedelta's days are: no Series of
        # timedeltas for tens of millions of flow rows.
        stamps = pd.to_datetime(dates).to_numpy("datetime64[ns]").view(np.int64)
        days = np.floor_divide(pd.Timestamp(self.as_of).value - stamps, NS_PER_DAY)
        steps = self.step - np.floor_divide(days, self.step_days)
        return np.maximum(steps, -STAGE_AGE_CAP).astype(np.int64)

    def dates(self, steps: np.ndarray) -> pd.Series:
        """The date of each step (``steps``' inverse), no earlier than ``EARLIEST``."""
        days = (self.step - np.asarray(steps, dtype=np.int64)) * self.step_days
        earliest = (self.as_of - EARLIEST).days
        days = np.minimum(days, earliest)
        stamp = np.datetime64(self.as_of, "D") - days.astype("timedelta64[D]")
        return pd.Series(stamp.astype("datetime64[ms]"))


# ------------------------------------------------------------------------------ what a map reads


def _program_reads(c: CompiledStrategy) -> tuple[set[int], set[int], set[int]]:
    """(opcodes, attribute codes, models) the map's condition programs use."""
    ops, a = c.arrays["prog_op"], c.arrays["prog_a"]
    attribute_ops = np.isin(ops, (OP_COMPARE, OP_RANGE, OP_IN_NUMBERS, OP_IN_CODES))
    attributes = {int(x) for x in a[attribute_ops]}
    attributes |= {ATTR_FLAG + int(x) for x in a[ops == OP_FLAG]}
    models = {int(x) for x in a[ops == OP_MODEL_TOP]}
    return {int(x) for x in ops}, attributes, models


def spec_for(c: CompiledStrategy, model: CheckedStrategy, forecast: bool = False) -> SnapshotSpec:
    """The snapshot one map's decision needs: every column and table it reads. A forecast
    from the snapshot (``forecast``, ``simulate --from``) needs every customer column the
    simulation reads besides: the lifecycle's, the transactions', the responses' and every
    attribute of the population."""
    ops, attributes, models = _program_reads(c)
    columns: list[tuple[str, str, bool]] = [
        ("customer_id", "id", True),
        ("stage", "text", True),
        ("aum", "money", True),
        ("risk_tolerance", "text", True),
    ]
    why = {
        "customer_id": "every customer",
        "stage": "who is active",
        "aum": "tiers",
        "risk_tolerance": "suitability",
    }

    def add(name: str, kind: str, needed: bool, reason: str) -> None:
        needed = needed or (forecast and name not in c.models)
        columns.append((name, kind, needed))
        if needed:
            why[name] = reason

    add("stage_since", "date", OP_ENTERED in ops, "`entered STAGE` events")
    add("opened", "date", ATTR_TENURE in attributes, "`tenure_months`")
    add("last_txn", "date", bool({OP_INACTIVE} & ops) or ATTR_MONTHS_SINCE_TXN in attributes,
        "`months_since_txn` and `inactive`")  # fmt: skip
    add("age", "number", ATTR_AGE in attributes, "`age`")
    add("txn_per_month", "number", ATTR_TXN_PER_MONTH in attributes, "`txn_per_month`")
    by_value = _arbitrates_by_value(c)
    add("propensity", "number", ATTR_PROPENSITY in attributes or by_value,
        "`propensity` (and `arbitrate by value`)")  # fmt: skip
    add("birthday", "date", OP_BIRTHDAY in ops, "the `birthday` trigger")
    add("payday", "number", OP_SALARY in ops, "the `salary` trigger")
    vocabulary: dict[str, tuple[str, ...]] = {
        "stage": STAGES,
        "risk_tolerance": (*RISKS, *(str(r) for r in range(1, 6))),
    }
    assert model.population is not None
    for b, name in enumerate(c.flags):
        add(name, "flag", ATTR_FLAG + b in attributes, f"`{name}`")
    for x, name in enumerate(c.categories):
        add(name, "text", ATTR_CATEGORY + x in attributes, f"`{name}`")
        spec = model.population.attributes[name]
        vocabulary[name] = tuple(str(v) for v, _ in spec.distribution.categories)
    for x, name in enumerate(c.numbers):
        add(name, "number", ATTR_NUMBER + x in attributes, f"`{name}`")
    for _, name, channel in opt_out_columns(c):
        add(name, "flag", True, f"`opt out` of `{channel}` (退订: never contacted on it again)")
    # Optional, never required: each customer's own churn chance (docs/snapshot.md)
    columns.append((OWN_CHURN, "number", False))
    scores = score_columns(c, model)
    for m, name in enumerate(c.models):
        reason = f"model `{name}`'s `top N%` (its score)"
        columns.append((scores[m], "number", m in models))
        if m in models:
            why[scores[m]] = reason
    tables = ["holdings", "contacts"]
    table_why = {
        "holdings": "a play is not offered for a product the customer holds",
        "contacts": "cooldowns, caps, budgets and `responded`",
    }
    if len(model.journeys):
        tables.append("journeys")
        table_why["journeys"] = "customers already in a journey get its waves"
    if {OP_AUM_CHANGE, OP_FLOW} & ops or ATTR_TXN_3M in attributes:
        tables.append("flows")
        table_why["flows"] = "AUM drops and rises, large flows, `txn_3m`"
    if ATTR_PRODUCTS_HELD in attributes:
        table_why["holdings"] += "; `products_held`"
    names = {
        "holdings": tuple(model.products),
        "contacts": tuple(dict.fromkeys(_play_names(c))),
        "journeys": tuple(j.name for j in model.journeys),
    }
    waves = {j.name: tuple(w.number for w in j.waves) for j in model.journeys}
    return SnapshotSpec(
        customers=tuple(columns),
        waves=waves,
        scores=tuple(scores),
        vocabulary=vocabulary,
        names=names,
        tables=tuple(tables),
        why={**why, **table_why},
    )


def opt_out_columns(c: CompiledStrategy) -> list[tuple[int, str, str]]:
    """(channel index, column, channel) of each channel that declares `opt out`: the flag
    ``opted_out_CHANNEL`` says the customer withdrew consent for it (退订)."""
    rates = c.arrays["chan_opt_out"]
    return [(x, f"opted_out_{name}", name) for x, name in enumerate(c.channels) if rates[x] > 0]


def score_columns(c: CompiledStrategy, model: CheckedStrategy) -> list[str]:
    """Each model's score column in a snapshot: its `score column`, else its name."""
    return [model.models[name].score_column or name for name in c.models]


def _arbitrates_by_value(c: CompiledStrategy) -> bool:
    return int(k.make_tables(c).sc_i[SC_ARBITRATE]) == 1


def _play_names(c: CompiledStrategy) -> list[str]:
    """Each play's name in the list and the contacts table: the rule's, or the journey's."""
    return [name.rsplit(" wave ", 1)[0] if kind == "wave" else name
            for name, kind in zip(c.plays, c.play_kinds, strict=True)]  # fmt: skip


def play_labels(c: CompiledStrategy) -> list[tuple[str, int | None]]:
    """Each play as (name, wave number or None): how lists and contact tables name it."""
    out: list[tuple[str, int | None]] = []
    for name, kind in zip(c.plays, c.play_kinds, strict=True):
        if kind == "wave":
            journey, number = name.rsplit(" wave ", 1)
            out.append((journey, int(number)))
        else:
            out.append((name, None))
    return out


# ------------------------------------------------------------------------------ snapshot → state


@dataclass
class Book:
    """The customers as the engine holds them at the decision step."""

    state: State
    rows: int
    ids: pd.Series  # the bank's ids, as in the snapshot, by row
    timeline: Timeline
    spend: list[dict[int, int]]  # per budget group: spend in fen per earlier step
    scores: np.ndarray  # (rows, models) the snapshot's score columns (NaN where not read)


def state_from_snapshot(
    c: CompiledStrategy,
    tb: k.Tables,
    snap: Snapshot,
    spec: SnapshotSpec,
    timeline: Timeline,
    rk: np.uint64,
) -> Book:
    """The engine's state of the snapshot's customers at the decision step."""
    cust = snap.customers
    n = len(cust)
    st = allocate(tb, n)
    t, sd = timeline.step, timeline.step_days
    cid = customer_keys(cust["customer_id"])
    dup = pd.Series(cid).duplicated(keep=False).to_numpy()
    if dup.any():
        shown = ", ".join(repr(x) for x in cust["customer_id"][dup].head(4))
        raise SnapshotStateError(
            f"customer ids {shown} have the same 64-bit key",
            "rename one of them (docs/snapshot.md: how ids become keys)",
        )
    st.cid[:] = cid
    stage = _codes_of(cust["stage"], STAGES)
    st.stage[:] = stage
    st.alive[:] = np.where(stage == STAGE_CHURNED, 0, 1)
    control = float(tb.sc_f[k.SCF_CONTROL_SHARE])
    st.arm[:] = (uniform(rk, cid, STATIC_STEP, SLOT_CONTROL) < control).astype(np.int8)
    # Each customer's own churn chance where the lifecycle draws one (`churned ~ beta(a, b)`),
    # from the customer's fixed key as the population draws it: left at 0, a snapshot's
    # customers would never churn in those stages.
    if tb.drawn_a.size:
        static = step_key(customer_key(rk, cid), STATIC_STEP)
        for j in range(tb.drawn_a.size):
            slot = SLOT_DRAWN_CHURN + 64 * j
            theta = beta(static, slot, float(tb.drawn_a[j]), float(tb.drawn_b[j]))
            st.churn_p[:, j] = theta.astype(np.float32)
        _own_churn(tb, st, cust, stage)
    # C1 … C5 or 1 … 5 (the vocabulary, validated): the level is the place in either half
    risk = _codes_of(cust["risk_tolerance"].astype(str), (*RISKS, *(str(r) for r in range(1, 6))))
    st.risk[:] = risk % len(RISKS) + 1
    st.aum[:] = cust["aum"].to_numpy(np.float64)
    years = t * sd / 360.0

    def column(name: str, default: float) -> np.ndarray:
        if name in cust:
            return cust[name].to_numpy(np.float64)
        return np.full(n, default)

    st.age0[:] = (column("age", 0.0) - years).astype(np.float32)
    st.txn_rate[:] = column("txn_per_month", 0.0).astype(np.float32)
    st.propensity[:] = column("propensity", 0.0).astype(np.float32)
    for name, target, never in (
        ("stage_since", st.stage_since, t),
        ("opened", st.acquired, t),
        ("last_txn", st.last_txn, -STAGE_AGE_CAP),
    ):
        if name in cust:
            known = cust[name].notna().to_numpy()
            target[:] = never
            target[known] = timeline.steps(cust[name][known])
        else:
            target[:] = never
    first = (timeline.first_step - 1) * sd
    if "birthday" in cust:
        ahead = _days_to_anniversary(cust["birthday"], timeline.as_of)
        st.birthday[:] = (first + np.minimum(ahead, YEAR_DAYS - 1)) % YEAR_DAYS
    if "payday" in cust:
        day = cust["payday"].to_numpy(np.int64)
        st.payday[:] = (first + (day - timeline.as_of.day) % MONTH_DAYS) % MONTH_DAYS
    flags = np.zeros(n, dtype=np.uint32)
    for b, name in enumerate(c.flags):
        if name in cust:
            flags |= cust[name].to_numpy(bool).astype(np.uint32) << np.uint32(b)
    st.flags[:] = flags
    for x, name in enumerate(c.categories):
        if name in cust:
            st.cats[:, x] = _codes_of(cust[name], spec.vocabulary[name]).astype(np.uint8)
    for x, name in enumerate(c.numbers):
        if name in cust:
            st.nums[:, x] = cust[name].to_numpy(np.float32)
    for x, name, _ in opt_out_columns(c):  # consent withdrawn: the channel's check fails
        if name in cust:
            out = cust[name].to_numpy(bool).astype(np.uint64) << np.uint64(x)
            st.opted_out[:, 0] |= out
    scores = np.full((n, len(c.models)), np.nan)
    for m, column in enumerate(spec.scores):
        if column in cust:
            scores[:, m] = cust[column].to_numpy(np.float64)

    _holdings(c, st, snap, timeline)
    spend = _contacts(c, tb, st, snap, timeline)
    _journeys(c, tb, st, snap, timeline)
    _flows(tb, st, snap, timeline)
    return Book(st, n, cust["customer_id"], timeline, spend, scores)


def _own_churn(tb: k.Tables, st: State, cust: pd.DataFrame, stage: np.ndarray) -> None:
    """A customer's given ``churn_chance`` replaces the keyed draw of the drawn row of the
    stage the customer is in on the snapshot's day (a chance is a stage's: the other drawn
    stages keep their draws); a customer in a stage that draws none keeps nothing of it."""
    if OWN_CHURN not in cust:
        return
    chance = cust[OWN_CHURN].to_numpy(np.float64)
    col = tb.drawn_col[stage]
    rows = np.flatnonzero(~np.isnan(chance) & (col >= 0))
    st.churn_p[rows, col[rows]] = chance[rows].astype(np.float32)


def _codes_of(values: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    """Each value's place among ``names``, values the snapshot validated against them: by
    Arrow's hash join, where ``Series.map`` on ten million strings goes through Python."""
    return positions([values], pd.Series(names, dtype="str"))[0]


def _days_to_anniversary(dates: pd.Series, as_of: dt.date) -> np.ndarray:
    """Days from ``as_of`` to each date's next anniversary (0 on the day; 29 February falls
    on 1 March in a year without one)."""
    stamps = pd.to_datetime(dates)
    month = stamps.dt.month.to_numpy(np.int64) - 1
    day = stamps.dt.day.to_numpy(np.int64) - 1
    today = np.datetime64(as_of, "D")

    def anniversary(year: int) -> np.ndarray:
        months = np.datetime64(f"{year}-01", "M") + month.astype("timedelta64[M]")
        return months.astype("datetime64[D]") + day.astype("timedelta64[D]")

    this_year = anniversary(as_of.year)
    ahead = np.where(this_year >= today, this_year, anniversary(as_of.year + 1))
    return (ahead - today).astype(np.int64)


def _holdings(
    c: CompiledStrategy,
    st: State,
    snap: Snapshot,
    tl: Timeline,
) -> None:
    """Holdings of the products the map names: held (amounts summed over a customer's rows,
    the latest maturity kept), or matured this step (the `matures` events)."""
    st.hold_until[:] = NEVER_STEP
    st.hold_play[:] = -1
    frame = snap.table("holdings")
    frame = frame[frame["product"].isin(c.products)]
    if frame.empty:
        return
    rows = frame["row"].to_numpy(np.int64)
    product = frame["product"].map({p: i for i, p in enumerate(c.products)}).to_numpy()
    maturity = frame["maturity"]
    until = np.full(len(frame), NO_MATURITY, dtype=np.int64)
    dated = maturity.notna().to_numpy()
    until[dated] = np.minimum(tl.steps(maturity[dated]), NO_MATURITY - 1)
    held = until > tl.step
    matured = until == tl.step
    amount = frame["amount"].to_numpy(np.float64)
    np.add.at(st.hold_amt, (rows[held], product[held]), amount[held].astype(np.float32))
    np.maximum.at(st.hold_until, (rows[held], product[held]), until[held].astype(np.int16))
    bits = np.zeros(st.matured.shape[0], dtype=np.uint32)
    np.bitwise_or.at(bits, rows[matured], (np.uint32(1) << product[matured].astype(np.uint32)))
    st.matured[:] = bits


def _contacts(
    c: CompiledStrategy,
    tb: k.Tables,
    st: State,
    snap: Snapshot,
    tl: Timeline,
) -> list[dict[int, int]]:
    """Last contact per play and response per rule or journey, the contact rings of the caps
    and of fatigue (the most recent contacts each counts), the effects of responses; returns
    each budget's spend per earlier step (the channels' cost of the contacts)."""
    st.last_contact[:] = NEVER_STEP
    st.last_resp[:] = NEVER_STEP
    st.ring[:] = NEVER_STEP
    st.effect_until[:] = NEVER_STEP
    st.last_contact_any[:] = NEVER_STEP
    st.last_resp_any[:] = NEVER_STEP
    spend: list[dict[int, int]] = [{} for _ in range(tb.group_holdout.size)]
    frame = snap.table("contacts")
    if frame.empty:
        return spend
    labels = play_labels(c)
    index = {label: p for p, label in enumerate(labels)}
    waves = frame["wave"] if "wave" in frame else pd.Series(np.nan, index=frame.index)
    wave = pd.to_numeric(waves).fillna(-1).astype(np.int64)
    pair = frame["play"].astype(str) + "\0" + wave.astype(str)
    codes, pairs = pd.factorize(pair)
    play_of = np.empty(len(pairs), dtype=np.int64)
    for u, text in enumerate(pairs):  # once per (play, wave) named, not per contact
        name, number = text.split("\0")
        key = (name, None if number == "-1" else int(number))
        if key not in index and key[1] is None:  # a journey's contact without its wave
            key = next((lab for lab in labels if lab[0] == name), key)
        if key not in index:
            raise SnapshotStateError(
                f"contacts: `{name}` has no wave {number}",
                "give the wave number the map's journey declares",
            )
        play_of[u] = index[key]
    plays = play_of[codes]
    rows = frame["row"].to_numpy(np.int64)
    steps = tl.steps(frame["date"])
    responded = frame["responded"].to_numpy(bool)
    group = c.arrays["play_group"][plays]
    np.maximum.at(st.last_contact, (rows, plays), steps.astype(np.int16))
    np.maximum.at(st.last_contact_any, rows, steps.astype(np.int16))
    said = rows[responded], steps[responded].astype(np.int16)
    np.maximum.at(st.last_resp, (said[0], group[responded]), said[1])
    np.maximum.at(st.last_resp_any, said[0], said[1])
    channel = c.arrays["play_channel"][plays]
    for cap in range(tb.cap_i.shape[1]):
        scope, which = tb.cap_i[k.CP_SCOPE, cap], tb.cap_i[k.CP_INDEX, cap]
        applies = (
            np.ones(len(plays), bool)
            if scope == 0
            else (channel == which if scope == 1 else plays == which)
        )  # ``kernels.cap_applies``
        _fill_ring(st.ring, rows[applies], steps[applies], int(tb.cap_i[k.CP_OFFSET, cap]),
                   int(tb.cap_i[k.CP_COUNT, cap]))  # fmt: skip
    recent = int(tb.sc_i[k.SC_RECENT_LEN])
    if recent > 0:
        _fill_ring(st.ring, rows, steps, int(tb.sc_i[k.SC_RECENT_OFFSET]), recent)
    starts, counts = c.arrays["play_effect_start"], c.arrays["play_effect_count"]
    said = np.nonzero(responded & (counts[plays] > 0))[0]  # a response starts its effects
    many = counts[plays[said]]
    each = np.repeat(said, many)
    offset = np.arange(each.size) - np.repeat(np.cumsum(many) - many, many)
    effect = starts[plays[each]] + offset
    until = np.minimum(steps[each] + c.arrays["eff_steps"][effect], NO_MATURITY)
    np.maximum.at(st.effect_until, (rows[each], effect), until.astype(np.int16))
    cost = c.arrays["chan_cost_fen"][channel]
    for g in range(tb.group_holdout.size):
        mine = group == g
        if c.arrays["group_budget_fen"][g] >= 0 and mine.any():
            per_step = pd.Series(cost[mine]).groupby(steps[mine]).sum()
            spend[g] = {int(s): int(v) for s, v in per_step.items()}
    return spend


def _fill_ring(ring: np.ndarray, rows: np.ndarray, steps: np.ndarray, start: int, length: int):
    """The ``length`` latest contact steps of each row into ring places start..: the places a
    ring of contacts recorded one by one (``kernels.ring_insert``) holds, in another order
    (the rings are only counted)."""
    if rows.size == 0:
        return
    order = np.lexsort((-steps, rows))
    rows, steps = rows[order], steps[order]
    first = np.r_[True, rows[1:] != rows[:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(rows.size), 0))
    rank = np.arange(rows.size) - starts
    keep = rank < length
    ring[rows[keep], start + rank[keep]] = steps[keep].astype(np.int16)


def _journeys(
    c: CompiledStrategy,
    tb: k.Tables,
    st: State,
    snap: Snapshot,
    tl: Timeline,
) -> None:
    st.journey_start[:] = NEVER_STEP
    frame = snap.table("journeys")
    if frame.empty:
        return
    groups = list(c.groups)
    index = {groups[int(g)]: j for j, g in enumerate(c.arrays["journey_group"])}
    rows = frame["row"].to_numpy(np.int64)
    which = frame["journey"].map(index).to_numpy(np.int64)
    st.journey_start[rows, which] = tl.steps(frame["entered"]).astype(np.int16)


def _flows(tb: k.Tables, st: State, snap: Snapshot, tl: Timeline) -> None:
    """The AUM, flow and transaction rings from the flows of the last steps: AUM of the steps
    before this one, net flows and transactions up to this one. A step without a row is read
    as no flow, no transaction and AUM unchanged."""
    t = tl.step
    aum_len = int(tb.sc_i[k.SC_AUM_RING_LEN])
    flow_len = int(tb.sc_i[k.SC_FLOW_RING_LEN])
    txn_len = int(tb.sc_i[k.SC_TXN_RING_LEN])
    if aum_len:
        st.aum_ring[:] = st.aum[:, None].astype(np.float32)
    st.flow_ring[:] = 0.0
    st.txn_ring[:] = 0
    frame = snap.table("flows")
    if frame.empty:
        return
    rings = [
        (length, ring, name, low, high)
        for length, ring, name, low, high in (
            (aum_len, st.aum_ring, "aum", t - aum_len, t - 1),
            (flow_len, st.flow_ring, "net_flow", t - flow_len + 1, t),
            (txn_len, st.txn_ring, "transactions", t - txn_len + 1, t),
        )
        if length
    ]
    # In file order, a chunk at a time: the temporaries of forty million flow rows would be
    # gigabytes. A ring's window spans as many steps as the ring has places, so two rows
    # landing in one place are of one step, and the later row in the file wins, as it did
    # when the rows were sorted stably by step.
    for start in range(0, len(frame), FLOW_CHUNK_ROWS):
        part = frame.iloc[start : start + FLOW_CHUNK_ROWS]
        rows = part["row"].to_numpy(np.int64)
        steps = tl.steps(part["date"])
        for length, ring, name, low, high in rings:
            values = part[name].to_numpy(np.float64)
            use = (steps >= low) & (steps <= high) & ~np.isnan(values)
            slot = steps[use] % length
            if name == "transactions":
                ring[rows[use], slot] = np.minimum(values[use], 255).astype(np.uint8)
            else:
                ring[rows[use], slot] = values[use].astype(np.float32)


# ------------------------------------------------------------------------------ models


def decision_cutoffs(
    c: CompiledStrategy, book: Book, given: dict[str, dict[str, float]]
) -> tuple[np.ndarray, list[str]]:
    """The cutoffs of the models' `top N%` for a decision on real scores. Each top slot's
    customers are decided here, by the snapshot's score column, and marked in the label bit
    of the slot; the slot's negative persistence row tells the kernels to read that bit
    (``kernels.predicates.model_top``). The cutoff is the one the snapshot gives
    (``snapshot.json``, "model_cutoffs": a model owner's calibrated threshold, or the
    simulation's), else the score of the N%-th live customer."""
    tops = c.arrays["top_model"]
    if tops.size > 8:
        raise SnapshotStateError(
            f"the map ranks models at {tops.size} different `top N%`; a decision takes at most 8",
            "use fewer distinct shares",
        )
    cutoffs = np.zeros((N_CUTOFF_ROWS, tops.size))
    labels = np.zeros(book.rows, dtype=np.uint8)
    notes: list[str] = []
    live = book.state.alive[: book.rows] == 1
    for q in range(tops.size):
        m, share = int(tops[q]), float(c.arrays["top_share"][q])
        name = c.models[m]
        scores = book.scores[:, m]
        key = f"{share:.6g}"
        if key in given.get(name, {}):
            cut = float(given[name][key])
            notes.append(f"model `{name}`: top {share:.0%} at the snapshot's cutoff {cut:.6g}")
        else:
            ranked = np.sort(scores[live])[::-1]
            count = int(np.ceil(share * ranked.size - 1e-9))
            cut = float(ranked[count - 1]) if count > 0 else np.inf
            notes.append(f"model `{name}`: top {share:.0%} of {ranked.size:,} live customers")
        labels |= (scores >= cut).astype(np.uint8) << np.uint8(q)
        cutoffs[CUT_PERSISTENCE, q] = -1.0
    book.state.labels[: book.rows] = labels
    return cutoffs, notes


def book_for_forecast(
    c: CompiledStrategy, tb: k.Tables, snap: Snapshot, spec: SnapshotSpec, as_of: dt.date, seed: int
) -> Book:
    """The snapshot's customers as a simulation's step 0 (``simulate --from``): the as-of
    date ends step 0 and the forecast's step 1 begins on it; arms keyed as ``decide`` keys
    them (the same customers are in the same arms)."""
    timeline = Timeline(as_of, 0, c.step_days, starts=1)
    if (
        OWN_CHURN in snap.customers
        and snap.customers[OWN_CHURN].notna().any()
        and not tb.drawn_a.size
    ):
        raise SnapshotStateError(
            f"the customers table gives {OWN_CHURN}, and the map's lifecycle draws no churn chance "
            "per customer, so it would not be read",
            f"write the churn of the stages it applies to as `churned ~ beta(a, b)`, or drop the "
            f"{OWN_CHURN} column (docs/snapshot.md)",
        )
    return state_from_snapshot(c, tb, snap, spec, timeline, replication_key(seed, 0))
