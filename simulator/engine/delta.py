"""Variants run as deltas of their base: the customers a variant treats exactly as the base does
are not simulated twice.

Under common random numbers a variant and its base draw the same customers with the same
numbers, and a customer whose state is the same in both at the start of a step, who is a
candidate for no play and whose model scores fall on the same side of both arms' cutoffs, goes
through that step the same way in both: the variant can take the base's result for them. Most
customers are such customers at most steps (a variant changes a rule's response, a holdout, a
cap: it touches the customers that rule reaches). So the base runs in full, and each variant
runs its kernels only on a compact copy of the rows that may differ:

* the baseline phase on the rows that have *diverged* (whose state differs from the base's);
* the decisions and the contacts on those rows, plus the rows the base found a candidate for
  (and, in a step whose model cutoffs differ between the arms, the rows whose score lands
  between them);

and every counter of the variant is the base's counter, minus the base's counter over the rows
the variant ran itself (the base's kernels, run again on a compact copy of those rows), plus the
variant's own counter over them. Counters are integers, so this is exact: the result is the one
a separate ``simulate`` of the variant gives, bit for bit (``tests/test_compare.py``). After the
contacts, a row the variant ran is compared with the base's, byte for byte; it stays (or
becomes) diverged only if they differ. The variant's full-size state is kept up to date for its
diverged rows only; for the others the base's row is the truth. The contact ring is the one
field the variant always keeps itself, because a variant's caps can give it another layout.

Only variants whose differences are confined to what decides and serves a contact (a play's
response, lift, priority, value, cooldown, channel or product; holdouts; caps; channels' cost,
capacity and reach; budgets; fatigue; arbitration) run as deltas: ``delta_compatible``. Any
other difference (a segment, a rule's conditions, the lifecycle, fees, NPS, models, journeys)
can change every customer, and such a variant runs in full.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simulator.engine.loop import Run, Step
from simulator.engine.phases import (
    apply_counters,
    apply_counts,
    baseline_counts,
    decide_counts,
    rows_from,
)
from simulator.engine.shards import Shard
from simulator.kernels import common as k
from simulator.kernels.decide import decide_again, decide_again_serial
from simulator.kernels.population import State, allocate, zeros
from simulator.kernels.rows import (
    MIN_RUN,
    PARALLEL_ROWS,
    as_words,
    caps_may_bind,
    moved_rows,
    put,
    record_contacts,
    same,
    take,
)

MAX_TOGETHER = 8  # variants beside one base (the base's rows are classed by a byte of bits)
OWN_FIELD = "ring"  # kept by the variant for every row: its caps may lay it out differently
# What decisions and contacts write (kernels.decide, kernels.apply), beside the variant's own
# field and the per-step scratch (winners, candidates, channels): a row copied from the base
# before its decisions can differ from it after its contacts in these only.
WRITTEN = frozenset(
    (
        "aum",
        "aum_ring",
        "journey_start",
        "segbits",
        "dec",
        "hold_amt",
        "hold_until",
        "hold_play",
        "last_contact",
        "last_contact_any",
        "last_resp",
        "last_resp_any",
        "effect_until",
        "seg_ever",
        "ledger",
        "play_ever",
        "tier",
        "opted_out",
    )
)

# What a delta variant may change: (Tables field, the rows of a packed field that may differ,
# or None for the whole field).
MAY_DIFFER: dict[str, tuple[int, ...] | None] = {
    "play_f": None,
    "play_i": (k.PL_PRODUCT, k.PL_CHANNEL, k.PL_COOLDOWN, k.PL_ORDER),
    "group_holdout": None,
    "cap_i": None,
    "cap_window": None,
    "chan_i": (k.CH_COST_FEN,),
    "chan_f": None,
    "sc_i": (k.SC_RING_LEN, k.SC_RECENT_OFFSET, k.SC_RECENT_LEN, k.SC_ARBITRATE),
    "sc_f": (k.SCF_FATIGUE_RATE, k.SCF_FATIGUE_WINDOW),
}
# Compiled (driver-side) fields a delta variant may change: budgets are cut per arm.
DRIVER_MAY_DIFFER = ("group_budget_fen",)


def delta_compatible(base: Run, variant: Run) -> bool:
    """Whether ``variant`` can run as a delta of ``base``: the same sizes and customers, the
    same names, and tables that differ only where ``MAY_DIFFER`` allows."""
    if base.sizes != variant.sizes or not np.array_equal(base.ids, variant.ids):
        return False
    c, d = base.compiled, variant.compiled
    names = ("tiers", "segments", "triggers", "plays", "groups", "channels", "products", "models")
    if any(getattr(c, n) != getattr(d, n) for n in names):
        return False
    a, b = base.tables, variant.tables
    for name in k.Tables._fields:
        x, y = getattr(a, name), getattr(b, name)
        allowed = MAY_DIFFER.get(name, ())
        if allowed is None:
            continue  # the whole field may differ (its shape follows the names above)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        keep = np.ones(x.shape[0], dtype=bool)
        keep[list(allowed)] = False
        if not np.array_equal(x[keep], y[keep]):
            return False
    # What the driver reads beside the tables (arrivals, models' tops, the market).
    in_tables = set(k.PLAIN) | {n for group in k.PACKED.values() for n in group}
    for name, x in c.arrays.items():
        if name in in_tables or name in DRIVER_MAY_DIFFER:
            continue
        y = d.arrays.get(name)
        if y is None or x.shape != y.shape or not np.array_equal(x, y):
            return False
    scalars = {n: v for n, v in c.scalars.items() if n not in in_tables}
    if scalars != {n: v for n, v in d.scalars.items() if n not in in_tables}:
        return False
    mine, theirs = allocate(a, 0), allocate(b, 0)
    return all(
        getattr(mine, f).shape[1:] == getattr(theirs, f).shape[1:]
        for f in State._fields
        if f != OWN_FIELD
    )


@dataclass
class _Rows:
    """A compact copy of some rows of a shard: their state, segments ever and ledger."""

    idx: np.ndarray  # the rows, ascending
    state: State
    seg_ever: np.ndarray
    ledger: np.ndarray


def _copy_rows(
    tables: k.Tables,
    idx: np.ndarray,
    source: Shard,
    other: Shard | None = None,
    from_other: np.ndarray | None = None,
) -> _Rows:
    """Rows ``idx`` of ``source`` (in ``tables``' layout); where ``from_other``, every field
    but the variant's own is taken from ``other`` instead."""
    n = idx.size
    state = allocate(tables, n)
    seg_ever = zeros(n, dtype=np.uint64)
    ledger = zeros((n, source.ledger.shape[1]), dtype=np.float64)
    if n == 0:
        return _Rows(idx, state, seg_ever, ledger)
    nowhere = np.zeros(n, dtype=np.bool_)
    use = nowhere if from_other is None else from_other
    for dst, name, src in _fields(state, seg_ever, ledger, source):
        theirs = src if other is None or name == OWN_FIELD else _field(other, name)
        take(as_words(dst), as_words(src), as_words(theirs), idx, nowhere if theirs is src else use)
    return _Rows(idx, state, seg_ever, ledger)


def _field(shard: Shard, name: str) -> np.ndarray:
    if name == "seg_ever":
        return shard.seg_ever
    if name == "ledger":
        return shard.ledger
    return getattr(shard.state, name)


def _fields(
    state: State, seg_ever: np.ndarray, ledger: np.ndarray, shard: Shard
) -> list[tuple[np.ndarray, str, np.ndarray]]:
    """(compact array, name, the shard's array) for every per-row array: the state's fields,
    the segments ever and the ledger."""
    pairs = [(getattr(state, f), f, getattr(shard.state, f)) for f in State._fields]
    return [*pairs, (seg_ever, "seg_ever", shard.seg_ever), (ledger, "ledger", shard.ledger)]


# ------------------------------------------------------------------------------ one variant


@dataclass
class Delta:
    """A variant stepping beside its base (``run_together``, ``loop.Step.step``): which rows
    have diverged, and the compact rows of the current step."""

    base: Step
    step: Step
    diverged: list[np.ndarray] = field(default_factory=list)
    ran: int = 0  # rows the variant's kernels ran on, over all phases (for reports and tests)
    theirs: list[np.ndarray] = field(default_factory=list)  # per shard: the base's rows to
    # take out of its counters this step (bool per row)
    _base_rows: list[_Rows | None] = field(default_factory=list)
    _own_rows: list[tuple] = field(default_factory=list)
    _again: list[tuple] = field(default_factory=list)
    _alike: list[np.ndarray] = field(default_factory=list)
    _alike_plays: np.uint64 | None = None
    _choice: tuple[bool, np.uint64, tuple[np.ndarray, np.ndarray]] | None = None
    _decided: list[tuple] = field(default_factory=list)
    _runs: list[list[tuple[int, int]]] = field(default_factory=list)
    _scattered: list[np.ndarray] = field(default_factory=list)
    _found: list[np.ndarray] = field(default_factory=list)  # this step's baseline counters
    _cutoffs: np.ndarray | None = None  # this step's models' cutoffs
    _thresholds: tuple = ()  # this step's cuts

    def __post_init__(self) -> None:
        self.diverged = [np.zeros(0, dtype=bool) for _ in self.step.shards]

    def _pair(self, s: int) -> tuple[Shard, Shard, np.ndarray]:
        b, v = self.base.shards[s], self.step.shards[s]
        rows = max(b.rows, v.rows)
        if self.diverged[s].size < rows:
            grown = np.zeros(max(rows, 2 * self.diverged[s].size), dtype=bool)
            grown[: self.diverged[s].size] = self.diverged[s]
            self.diverged[s] = grown
        return b, v, self.diverged[s]

    def arrivals(self, t: int) -> None:
        """The variant's arrivals, after the base's."""
        self.step.arrivals(t)
        self.arrived()

    def arrived(self) -> None:
        """After both arms' arrivals: a new row is the same as the base's if it is the same
        customer, arrived at the same row (arrivals are drawn once for both arms, from keys of
        their ids: ``_SharedDraws``); a variant with other referrals numbers later arrivals
        differently, and rows only one arm has are diverged."""
        for s in range(len(self.step.shards)):
            b, v, diverged = self._pair(s)
            lo = min(b.first_new, v.first_new)
            hi = max(b.rows, v.rows)
            if hi <= lo:
                continue
            n = min(b.rows, v.rows)
            diverged[lo:hi] = True
            if b.first_new == v.first_new:
                diverged[lo:n] = v.state.cid[lo:n] != b.state.cid[lo:n]

    # -- baseline ----------------------------------------------------------------------------

    def before_baseline(self, t: int) -> list[list[int]]:
        """Where each shard's runs of diverged rows lie (blocks of at least ``MIN_RUN`` rows,
        such as the arrivals of a step after the arms' referrals differed: they run in
        place, in the variant's own state), and copies of the base's other diverged rows
        before the base's baseline phase changes them. Returns the runs' bounds, where the
        base splits its baseline (``Step.baseline``)."""
        self.step.market(t)
        self._base_rows, self._runs, self._scattered = [], [], []
        bounds = []
        for s in range(len(self.step.shards)):
            b, v, diverged = self._pair(s)
            top = max(b.rows, v.rows)
            runs = _runs(diverged[:top], MIN_RUN)
            scattered = diverged[:top].copy()
            for lo, hi in runs:
                scattered[lo:hi] = False
            self._runs.append(runs)
            self._scattered.append(scattered)
            bounds.append([x for run in runs for x in run])
            idx = np.nonzero(scattered[: b.rows])[0]
            self._base_rows.append(_copy_rows(self.base.tb, idx, b) if idx.size else None)
        return bounds

    def baseline(self, t: int, market: float, base_found: list[np.ndarray]) -> None:
        """The variant's baseline counters: the base's, minus its diverged rows', plus the
        variant's own baseline over those rows (runs in place, the others on copies written
        back to the variant's state)."""
        found = []
        for s, counts in enumerate(base_found):
            b, v, _ = self._pair(s)
            for lo, hi in self._runs[s]:
                counts = counts - sum(c for x, c in self.base.parts_found[s] if lo <= x < hi)
                if v.rows > lo:
                    end = min(hi, v.rows)
                    first = min(max(v.first_new - lo, 0), end - lo)
                    counts = counts + run_baseline_from(self.step, v, lo, end, first, t, market)
                    self.ran += end - lo
            mine = self._base_rows[s]
            if mine is not None:
                first = int(np.searchsorted(mine.idx, b.first_new))
                counts = counts - run_baseline(self.base, mine, first, t, market)
            idx = np.nonzero(self._scattered[s][: v.rows])[0]
            if idx.size == 0:
                found.append(counts)
                continue
            own = _copy_rows(self.step.tb, idx, v)
            first = int(np.searchsorted(idx, v.first_new))
            ours = run_baseline(self.step, own, first, t, market)
            _write_back(own, v, np.ones(idx.size, dtype=bool))
            self.ran += idx.size
            found.append(counts + ours)
        self._found = found

    def cutoffs(self, t: int) -> None:
        """The variant's models' cutoffs, from its baseline counters."""
        self._cutoffs = self.step.cutoffs(t, self._found)

    # -- decisions ---------------------------------------------------------------------------

    def decide(self, t: int, base_cutoffs: np.ndarray) -> None:
        """The variant's decisions. A row that has not diverged has the base's facts and
        candidates (the same state and conditions), unless a difference in the models'
        cutoffs moves it across one: for such rows with a candidate only the choice among
        the candidates is made again, from the base's state (``decide_again``). The diverged
        and the moved rows are decided in full, on compact copies."""
        self._again, self._decided = [], []
        cutoffs = self._cutoffs
        assert cutoffs is not None, "decide before cutoffs"
        moved_any = not np.array_equal(cutoffs, base_cutoffs)
        for s in range(len(self.step.shards)):
            b, v, diverged = self._pair(s)
            n = min(b.rows, v.rows)
            live = b.state.alive[:n] == 1
            moved = np.zeros(n, dtype=bool)
            if moved_any:
                moved = live & ~diverged[:n] & self._moved(b.state, n, t, cutoffs, base_cutoffs)
            again = np.nonzero(live & (b.state.cands[:n] != 0) & ~diverged[:n] & ~moved)[0]
            # Of those, the rows whose choice may differ are chosen again under our tables;
            # the others choose as the base did.
            redo = self._redo(b, v, again, t)
            winners, dec = b.state.winners[again], b.state.dec[again]
            elig = b.state.elig[again]
            mine, mine_dec, mine_elig, funnel = run_decide_again(self.step, b, v, again[redo], t)
            winners[redo], dec[redo], elig[redo] = mine, mine_dec, mine_elig
            full = self._scattered[s][: v.rows].copy()
            full[:n] |= moved
            whole = np.nonzero(full)[0]
            from_base = np.zeros(whole.size, dtype=bool)
            inside = whole < n
            from_base[inside] = moved[whole[inside]]
            decided = _copy_rows(self.step.tb, whole, v, b, from_base)
            funnel_full, found_full = run_decide(self.step, decided, t, cutoffs)
            runs = [_view(v, lo, min(hi, v.rows)) for lo, hi in self._runs[s] if lo < v.rows]
            decided_runs = [run_decide(self.step, rows, t, cutoffs) for rows in runs]
            funnel_tail = sum((f for f, _ in decided_runs), np.zeros_like(funnel))
            found_tail = [found for _, found in decided_runs]
            # Our decision funnel: the base's, less its own over the rows we decided
            # ourselves (its choice, made again from its state), plus ours over them.
            ours = np.zeros(max(b.rows, v.rows), dtype=bool)
            ours[again[redo]] = True
            ours[: v.rows] |= full
            ours |= self._scattered[s][: ours.size]  # rows only the base has, too
            for lo, hi in self._runs[s]:
                ours[lo:hi] = True
            theirs = np.nonzero(ours[: b.rows] & (b.state.alive[: b.rows] == 1))[0]
            theirs = theirs[b.state.cands[theirs] != 0]
            *_, funnel_base = run_decide_again(self.base, b, b, theirs, t)
            total = self.base.decide_funnel[s] - funnel_base + funnel + funnel_full + funnel_tail
            self.step.outputs[s].funnel[self.step.r, t] += total
            self._again.append((again, winners, dec, elig))
            self._decided.append((decided, from_base, found_full, moved, runs, found_tail))
            self.ran += again.size + whole.size + sum(rows.idx.size for rows in runs)

    def cuts(self, t: int) -> None:
        """The variant's thresholds, from the keys of its proposals: those of the rows decided
        again (read from the base's state with the variant's own ring) and of the rows
        decided in full."""
        proposals = []
        for (_, winners, *_), decided in zip(self._again, self._decided, strict=True):
            proposing = winners[winners != 0]
            found, found_runs = decided[2], decided[5]
            proposals += [_proposals_per_block(proposing, len(self.step.c.plays))]
            proposals += [found, *found_runs]

        def keyed() -> list[tuple[State, int]]:  # only where a cut binds
            shards = []
            for s, ((again, winners, *_), decided) in enumerate(
                zip(self._again, self._decided, strict=True)
            ):
                proposing = np.nonzero(winners)[0]
                base, own = self.base.shards[s], self.step.shards[s]
                rows = _keyed_rows(self.step.tb, base, own, again[proposing])
                rows.winners[:] = winners[proposing]
                shards += [(rows, proposing.size)]
                shards += [(part.state, part.idx.size) for part in (decided[0], *decided[4])]
            return shards

        self._thresholds = self.step.cuts(t, proposals, shards=keyed)

    def contacts(self, base_thresholds: tuple) -> None:
        """Which rows decided again the variant must serve itself: those whose decision
        differs from the base's, and those accepting a play that is served differently (its
        response, script, channel or cut differ); the others are served as the base serves
        them. The rows the base's counters give up are marked (``theirs``)."""
        if self._alike_plays is None:
            self._alike_plays = _served_alike(self.base.tb, self.step.tb)
        served_alike = self._alike_plays
        cut_otherwise = np.zeros(len(self.step.c.plays), dtype=bool)  # this step
        for mine, theirs in zip(self._thresholds, base_thresholds, strict=True):
            cut_otherwise |= (mine != theirs).any(axis=1)
        for p in np.nonzero(cut_otherwise)[0]:
            served_alike &= ~(np.uint64(1) << np.uint64(p))
        self._own_rows, self.theirs, self._alike = [], [], []
        for s, ((again, winners, dec, elig), (decided, from_base, _, moved, runs, _)) in enumerate(
            zip(self._again, self._decided, strict=True)
        ):
            b, v, diverged = self._pair(s)
            n = min(b.rows, v.rows)
            base_winners = b.state.winners[again]
            differs = (winners != base_winners) | (dec != b.state.dec[again])
            differs |= (elig != b.state.elig[again]) | ((winners & ~served_alike) != 0)
            kept = again[differs]
            self._alike.append(again[~differs & (winners != 0)])
            chosen = _copy_rows(self.step.tb, kept, v, b, np.ones(kept.size, dtype=bool))
            chosen.state.winners[:] = winners[differs]
            chosen.state.dec[:] = dec[differs]
            chosen.state.elig[:] = elig[differs]
            self._own_rows.append((chosen, decided, from_base, runs))
            theirs = diverged[: b.rows].copy()
            theirs[:n] |= moved
            theirs[kept] = True
            self.theirs.append(theirs)
            self.ran += kept.size

    def _redo(self, b: Shard, v: Shard, rows: np.ndarray, t: int) -> np.ndarray:
        """Which of ``rows`` (same state, same candidates) may choose otherwise here: all of
        them if the arms order or value proposals differently; else those with a candidate
        play whose eligibility or holdout differs, and those a cap could stop in either arm
        (its window's contacts plus the candidates it covers exceed it)."""
        if self._choice is None:
            self._choice = _choice_differences(self.base.tb, self.step.tb)
        everything, plays, (base_caps, own_caps) = self._choice
        if everything:
            return np.ones(rows.size, dtype=bool)
        cands = b.state.cands[rows]
        redo = (cands & plays) != 0
        candidates = _popcount(cands)
        arms = ((self.base.tb, b.state.ring, base_caps), (self.step.tb, v.state.ring, own_caps))
        for tb, ring, caps in arms:
            # A cap over one step counts no contact yet when decisions are made (they are
            # recorded with the contacts): it can stop a row only with more candidates than
            # its count. Longer windows are read from the ring.
            check = np.zeros(rows.size, dtype=bool)
            for c in np.nonzero(caps)[0]:
                if tb.cap_window[c] <= 1.0:
                    check |= candidates > tb.cap_i[k.CP_COUNT, c]
                else:
                    check |= candidates > 0
            check &= ~redo
            if check.any():
                at = np.nonzero(check)[0]
                redo[at] |= caps_may_bind(tb, ring, b.state.cands, rows[at], t, caps)
        return redo

    def _moved(
        self, state: State, n: int, t: int, cutoffs: np.ndarray, base_cutoffs: np.ndarray
    ) -> np.ndarray:
        """Rows whose place in some model's top differs between the two arms' cutoffs."""
        c = self.step.c
        moved = np.zeros(n, dtype=bool)
        for q in range(c.top_model.size):
            if not np.array_equal(cutoffs[:, q], base_cutoffs[:, q]):
                m = int(c.top_model[q])
                args = (moved, state.cid, state.labels, self.step.rk, t, m, q)
                k.on_threads(
                    lambda lo, hi, args=args: moved_rows(lo, hi, *args, cutoffs, base_cutoffs),
                    n,
                    0 if n >= PARALLEL_ROWS else 1,
                )
        return moved

    # -- contacts and accounting -------------------------------------------------------------

    def apply(self, t: int, base_counted: list[dict[int, dict[str, np.ndarray]]], bit: int) -> None:
        """The variant's accounting: the base's counters, minus the base's over the rows the
        variant ran (the classes of rows with this variant's ``bit``), plus the variant's own
        over them; then which of those rows are still the same."""
        counted = []
        for s, by_class in enumerate(base_counted):
            b, v, diverged = self._pair(s)
            chosen, decided, from_base, runs = self._own_rows[s]
            ours = [
                run_apply(self.step, rows, t, self._thresholds) for rows in (chosen, decided, *runs)
            ]
            mine = [counts for cls, counts in by_class.items() if cls >> bit & 1]
            counted.append(
                {
                    key: sum(c[key] for c in by_class.values())
                    - sum(c[key] for c in mine)
                    + sum(c[key] for c in ours)
                    for key in ours[0]
                }
            )
            self.ran += chosen.idx.size + decided.idx.size + sum(r.idx.size for r in runs)
            self._settle(chosen, np.ones(chosen.idx.size, dtype=bool), b, v, diverged)
            self._settle(decided, from_base, b, v, diverged)
            alike = self._alike[s]
            if alike.size:  # served as the base served them: their contacts, in our ring
                record_contacts(self.step.tb, v.state.ring, b.state.last_contact, alike, t)
            v.first_new = v.rows
        self.step.record(t, counted)
        self._own_rows, self._again, self._decided = [], [], []

    def _settle(
        self, rows: _Rows, common: np.ndarray, b: Shard, v: Shard, diverged: np.ndarray
    ) -> None:
        """After the contacts, compare the ``common`` rows the variant ran (copied from the
        base this step: only what decisions and contacts write can differ) with the base's;
        those that differ, and the others, are diverged and written to the variant's state.
        Every row keeps the variant's own field."""
        idx = rows.idx
        equal = common.copy()
        at = np.nonzero(equal)[0]
        if at.size:
            check = np.ones(at.size, dtype=bool)
            for mine, name, theirs in _fields(rows.state, rows.seg_ever, rows.ledger, b):
                if name in WRITTEN:
                    same(check, as_words(mine), at, as_words(theirs), idx[at])
            equal[at] = check
        diverged[idx] = ~equal
        _write_back(rows, v, ~equal)


def _choice_differences(
    a: k.Tables, b: k.Tables
) -> tuple[bool, np.uint64, tuple[np.ndarray, np.ndarray]]:
    """How two arms' tables differ for the choice among a row's candidates
    (``kernels.decide.choose``): (whether proposals are ordered or valued differently, so that
    every choice may differ; the bits of plays whose eligibility or holdout differs; each
    arm's caps the other does not have)."""
    order = not (
        np.array_equal(a.play_i[k.PL_ORDER], b.play_i[k.PL_ORDER])
        and a.sc_i[k.SC_ARBITRATE] == b.sc_i[k.SC_ARBITRATE]
    )
    if not order and a.sc_i[k.SC_ARBITRATE] == 1:  # by value: what a proposal is worth
        order = not (
            np.array_equal(a.play_f, b.play_f)
            and np.array_equal(a.chan_i, b.chan_i)
            and np.array_equal(a.chan_f[k.CHF_REACH], b.chan_f[k.CHF_REACH])
            and np.array_equal(a.sc_f, b.sc_f)
            and a.sc_i[k.SC_RECENT_LEN] == b.sc_i[k.SC_RECENT_LEN]
        )
    plays = 0
    for p in range(a.play_i.shape[1]):
        rows = (k.PL_PRODUCT, k.PL_CHANNEL, k.PL_COOLDOWN, k.PL_GROUP)
        group = int(a.play_i[k.PL_GROUP, p])
        if any(a.play_i[r, p] != b.play_i[r, p] for r in rows) or (
            a.group_holdout[group] != b.group_holdout[group]
        ):
            plays |= 1 << p
    return order, np.uint64(plays), (_unmatched_caps(a, b), _unmatched_caps(b, a))


def _popcount(bits: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (SWAR)."""
    m1, m2 = np.uint64(0x5555555555555555), np.uint64(0x3333333333333333)
    m4, h01 = np.uint64(0x0F0F0F0F0F0F0F0F), np.uint64(0x0101010101010101)
    x = bits.astype(np.uint64)
    x = x - ((x >> np.uint64(1)) & m1)
    x = (x & m2) + ((x >> np.uint64(2)) & m2)
    x = (x + (x >> np.uint64(4))) & m4
    return ((x * h01) >> np.uint64(56)).astype(np.int64)


def _unmatched_caps(a: k.Tables, b: k.Tables) -> np.ndarray:
    """The caps of ``a`` that ``b`` does not have as well (the same scope, channel or play,
    count and window), as bools: a cap both arms have counts the same contacts in both, and
    stops a row in both or in neither."""

    def signature(tb: k.Tables, c: int) -> tuple:
        scope, index = int(tb.cap_i[k.CP_SCOPE, c]), int(tb.cap_i[k.CP_INDEX, c])
        return scope, index, int(tb.cap_i[k.CP_COUNT, c]), float(tb.cap_window[c])

    theirs = [signature(b, c) for c in range(b.cap_i.shape[1])]
    unmatched = np.zeros(a.cap_i.shape[1], dtype=np.bool_)
    for c in range(a.cap_i.shape[1]):
        mine = signature(a, c)
        if mine in theirs:
            theirs.remove(mine)
        else:
            unmatched[c] = True
    return unmatched


def _keyed_rows(tables: k.Tables, base: Shard, own: Shard, idx: np.ndarray) -> State:
    """A compact state with what the keys of proposals read (``kernels.decide.gather``): the
    customer id and propensity from the base, the contact ring from the variant."""
    state = allocate(tables, idx.size)
    state.cid[:] = base.state.cid[idx]
    state.propensity[:] = base.state.propensity[idx]
    state.ring[:] = own.state.ring[idx]
    return state


def _served_alike(a: k.Tables, b: k.Tables) -> np.uint64:
    """Bits of the plays a contact is served the same way in both arms' tables: the same
    play and channel, the same fatigue and ordering of proposals (cuts are compared step
    by step)."""
    if not (
        np.array_equal(a.sc_f, b.sc_f)
        and a.sc_i[k.SC_ARBITRATE] == b.sc_i[k.SC_ARBITRATE]
        and a.sc_i[k.SC_RECENT_LEN] == b.sc_i[k.SC_RECENT_LEN]
    ):
        return np.uint64(0)
    bits = 0
    for p in range(a.play_f.shape[1]):
        ch = int(a.play_i[k.PL_CHANNEL, p])
        alike = (
            np.array_equal(a.play_f[:, p], b.play_f[:, p])
            and np.array_equal(a.play_i[:, p], b.play_i[:, p])
            and np.array_equal(a.chan_i[:, ch], b.chan_i[:, ch])
            and np.array_equal(a.chan_f[:, ch], b.chan_f[:, ch])
        )
        bits |= int(alike) << p
    return np.uint64(bits)


def _proposals_per_block(winners: np.ndarray, n_plays: int) -> np.ndarray:
    """Winners per block of compact rows and play (``couplings.shard_keys``' offsets)."""
    n = winners.size
    blocks = max(1, (n + k.BLOCK - 1) // k.BLOCK)
    found = np.zeros((blocks, n_plays), dtype=np.int64)
    if n == 0:
        return found
    block = np.arange(n) // k.BLOCK
    present = int(np.bitwise_or.reduce(winners))
    for p in range(n_plays):
        if present >> p & 1:
            hit = (winners >> np.uint64(p)) & np.uint64(1) == 1
            found[:, p] = np.bincount(block[hit], minlength=blocks)
    return found


def _write_back(rows: _Rows, shard: Shard, pick: np.ndarray) -> None:
    """Rows ``pick`` of ``rows`` into the shard, whole; the variant's own field for all."""
    if rows.idx.size == 0:
        # Nothing to copy. (An empty field's words come out 8 bytes wide whatever its dtype,
        # and the copy of, say, uint64 words into uint16 ones compiled a kernel on a first
        # `compare`, announced as the kernels' compile.)
        return
    everything = np.ones(pick.size, dtype=bool)
    some = bool(pick.any())
    for src, name, dst in _fields(rows.state, rows.seg_ever, rows.ledger, shard):
        if some or name == OWN_FIELD:
            put(as_words(dst), as_words(src), rows.idx, everything if name == OWN_FIELD else pick)


# ------------------------------------------------------------------------------ kernels on rows


def run_baseline(step: Step, rows: _Rows, first_new: int, t: int, market: float) -> np.ndarray:
    return baseline_counts(
        step.tb, rows.state, rows.idx.size, first_new, t, step.rk, market
    )  # fmt: skip


def run_baseline_from(
    step: Step, shard: Shard, first: int, end: int, first_new: int, t: int, market: float
) -> np.ndarray:
    """The baseline phase, in place, of the shard's rows [first, end) (``first_new``
    counted from ``first``)."""
    return baseline_counts(
        step.tb, rows_from(shard.state, first), end - first, first_new, t, step.rk, market
    )  # fmt: skip


def _view(shard: Shard, lo: int, hi: int) -> _Rows:
    """Rows [lo, hi) of a shard, in place (views): kernels run on rows [0, hi - lo)."""
    return _Rows(
        np.arange(lo, hi), rows_from(shard.state, lo), shard.seg_ever[lo:], shard.ledger[lo:]
    )


def _runs(flags: np.ndarray, least: int) -> list[tuple[int, int]]:
    """The [lo, hi) runs of True in ``flags`` at least ``least`` long."""
    if flags.size == 0:
        return []
    edges = np.diff(np.concatenate(([0], flags.view(np.int8), [0])))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a >= least]


def run_decide_again(
    step: Step, base: Shard, own: Shard, rows: np.ndarray, t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``decide_again`` for ``rows`` of the base's state under the variant's tables (the
    variant's own contact ring): winners, dec, the plays eligible for and the funnel,
    summed."""
    n_plays = len(step.c.plays)
    blocks = max(1, (rows.size + k.BLOCK - 1) // k.BLOCK)
    winners = np.zeros(rows.size, dtype=np.uint64)
    dec = np.zeros(rows.size, dtype=np.uint8)
    elig = np.zeros(rows.size, dtype=np.uint64)
    funnel = np.zeros((blocks, n_plays, 2, k.N_FUNNEL), dtype=np.int64)
    found = np.zeros((blocks, n_plays), dtype=np.int64)
    if rows.size:
        state = base.state._replace(ring=own.state.ring)
        kernel = decide_again if rows.size >= PARALLEL_ROWS else decide_again_serial
        kernel(step.tb, state, rows, t, step.rk, winners, dec, elig, funnel, found)
    return winners, dec, elig, funnel.sum(axis=0)


def run_decide(
    step: Step, rows: _Rows, t: int, cutoffs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if rows.idx.size == 0:
        n_plays = len(step.c.plays)
        return np.zeros((n_plays, 2, k.N_FUNNEL), np.int64), np.zeros((1, n_plays), np.int64)

    return decide_counts(step.tb, rows.state, rows.idx.size, t, step.rk, cutoffs)


def run_apply(step: Step, rows: _Rows, t: int, thresholds: tuple) -> dict[str, np.ndarray]:
    if rows.idx.size == 0:
        return {key: value.sum(axis=0) for key, value in apply_counters(step.c, 1).items()}

    return apply_counts(
        step.tb, step.c, rows.state, rows.idx.size, t, step.rk, thresholds, True,
        rows.seg_ever, rows.ledger,
    )  # fmt: skip


# ------------------------------------------------------------------------------ the loop


def run_together(
    base: Run,
    base_outputs: list,
    variants: list[tuple[Run, list]],
    rep: int,
    shared: object,
    progress: Callable[[int, int], None] | None,
    done: int,
    total: int,
) -> list[Delta]:
    """Replication ``rep`` of ``base`` and of its delta ``variants`` (each with its outputs),
    step by step together: each phase of the base, then the same phase of every variant over
    its compact rows. The base takes the shared population in place; the variants copy it."""
    loops = [run.start(rep, outputs, shared=shared, take=False) for run, outputs in variants]
    b = base.start(rep, base_outputs, shared=shared, take=True)
    deltas = [Delta(b, loop) for loop in loops]
    for t in range(1, base.sizes.steps + 1):
        b.step(t, deltas)
        if progress is not None:
            progress(done + t * (1 + len(deltas)), total)
    base.arrived = b.next_id - base.sizes.customers
    for (run, _), d in zip(variants, deltas, strict=True):
        run.arrived = d.step.next_id - run.sizes.customers
    return deltas
