"""Steps 3 to 6 of the semantics, per customer: triggers fire, segments are evaluated, every
rule and due journey wave whose conditions hold is a candidate; eligibility (suitability,
product held, channel precondition, cooldown, caps) is checked in that order; the global control
group and the play's own holdout are recorded as eligible, not treated; the rest are arbitrated
per customer by priority (or expected value) within the caps, one offer per product.

The winners are *proposals*: channel capacity and play budgets are shared across customers, so
the driver cuts them globally between this kernel and ``kernels.apply``. For that it needs the
ordering keys of the proposals on a binding channel or budget: ``gather`` collects them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.common import (
    B_CANDIDATES,
    B_CHANNELS,
    B_SEGMENTS,
    B_TRIGGERS,
    BLOCK,
    CH_REQUIRES,
    CP_COUNT,
    CP_OFFSET,
    F_ARBITRATION,
    F_CAP,
    F_CHANNEL,
    F_COOLDOWN,
    F_ELIGIBLE,
    F_HELD,
    F_HOLDOUT,
    F_SUITABILITY,
    JO_ENTRY,
    JO_GROUP,
    JO_LAST_AFTER,
    JO_STOP,
    L_HOLDS,
    L_LIVE,
    L_MASK,
    N_BITS,
    N_FLAGS,
    N_INTS,
    PL_AFTER,
    PL_CHANNEL,
    PL_COOLDOWN,
    PL_GROUP,
    PL_JOURNEY,
    PL_KIND,
    PL_ON,
    PL_ORDER,
    PL_PRODUCT,
    PL_WHEN,
    PR_RISK,
    R_DUE,
    R_JOURNEYS,
    R_MEMBERS,
    R_RFM,
    R_TIER,
    S_ARBITRATION,
    S_CAP,
    S_CHANNEL,
    S_CONTROL,
    S_COOLDOWN,
    S_HELD,
    S_HOLDOUT,
    S_NONE,
    S_SUITABILITY,
    S_WINNER,
    SC_ARBITRATE,
    SC_AUM_RING_LEN,
    SC_FORCED_TRIGGERS,
    TR_ALIVE,
    TR_ARM,
    TR_JOURNEYS,
    TR_PLAYS,
    TR_RFM,
    TR_SEGMENTS,
    TR_TIER,
    TR_TRIGGERS,
    Tables,
    block_kernel,
    blocks_of,
    cap_applies,
    count_within,
    earlier_contacts,
    inlined,
    on_threads,
    proposal_value,
    thread_kernel,
    tier_of,
)
from simulator.kernels.population import State
from simulator.kernels.predicates import SPARSE, evaluate_block, holds_at
from simulator.kernels.rng import (
    SLOT_HOLDOUT,
    SLOT_TIEBREAK,
    STATIC_STEP,
    nb_customer_key,
    nb_draw,
    nb_step_key,
    nb_to_uniform,
)
from strategy_dsl.compile import NEVER_STEP, PLAY_RULE, TRUE

ONE = np.uint64(1)
ZERO = np.uint64(0)
# Funnel column of each suppression status (eligibility's reasons).
_FIELD_OF_STATUS = np.array(
    [0, F_SUITABILITY, F_HELD, F_CHANNEL, F_COOLDOWN, F_CAP, 0, 0, 0, 0], dtype=np.int64
)


@njit(cache=True, inline="always")
def eligibility(
    tb: Tables, st: State, i: int, t: int, p: int, channel_ok: np.uint64, caps_used: np.ndarray
) -> int:
    """S_WINNER if play p may be offered to row i, else the first reason it may not."""
    product = tb.play_i[PL_PRODUCT, p]
    if tb.prod_i[PR_RISK, product] > st.risk[i]:
        return S_SUITABILITY
    if st.hold_amt[i, product] > 0.0:
        return S_HELD
    channel = tb.play_i[PL_CHANNEL, p]
    if (channel_ok >> np.uint64(channel)) & ONE == ZERO:
        return S_CHANNEL
    cooldown = tb.play_i[PL_COOLDOWN, p]
    if cooldown > 0 and t - int(st.last_contact[i, p]) < cooldown:
        return S_COOLDOWN
    if caps_used[0] < 0:  # the rings are read once a play gets this far (``choose``)
        for c in range(tb.cap_i.shape[1]):
            start, count = tb.cap_i[CP_OFFSET, c], tb.cap_i[CP_COUNT, c]
            caps_used[c] = count_within(st.ring, i, start, count, t, tb.cap_window[c])
    for c in range(tb.cap_i.shape[1]):
        if cap_applies(tb, c, p, channel) and caps_used[c] >= tb.cap_i[CP_COUNT, c]:
            return S_CAP
    return S_WINNER


@block_kernel
def facts(
    tb: Tables,
    st: State,
    lo: int,
    n: int,
    t: int,
    rk: np.uint64,
    cutoffs: np.ndarray,
    ints: np.ndarray,
    bits: np.ndarray,
    flags: np.ndarray,
) -> None:
    """RFM bits, then segments (each after those it names), then triggers (with those a
    persona test fires by decree), per row."""
    live, holds = flags[L_LIVE], flags[L_HOLDS]
    for a in range(tb.rfm_pred.size):
        entry = tb.rfm_pred[a]
        evaluate_block(tb, st, lo, n, t, entry, rk, ints, bits, cutoffs, live, holds)
        for k in range(n):
            ints[R_RFM, k] |= np.int64(holds[k]) << (2 - a)
    for x in range(tb.seg_order.size):
        g = tb.seg_order[x]
        entry = tb.seg_pred[g]
        if evaluate_block(tb, st, lo, n, t, entry, rk, ints, bits, cutoffs, live, holds) > 0:
            shift = np.uint64(g)
            for k in range(n):
                bits[B_SEGMENTS, k] |= np.uint64(holds[k]) << shift
    forced = np.uint64(tb.sc_i[SC_FORCED_TRIGGERS])
    # A persona's `event TRIGGER` (simulator.analysis.personas); 0 in simulations.
    if forced != ZERO:
        for k in range(n):
            bits[B_TRIGGERS, k] |= forced
    for x in range(tb.trig_pred.size):
        entry = tb.trig_pred[x]
        if evaluate_block(tb, st, lo, n, t, entry, rk, ints, bits, cutoffs, live, holds) > 0:
            shift = np.uint64(x)
            for k in range(n):
                bits[B_TRIGGERS, k] |= np.uint64(holds[k]) << shift


@block_kernel
def audience(
    tb: Tables,
    st: State,
    lo: int,
    n: int,
    t: int,
    rk: np.uint64,
    cutoffs: np.ndarray,
    ints: np.ndarray,
    bits: np.ndarray,
    flags: np.ndarray,
) -> None:
    """Journeys entered or running, then the plays each row is a candidate for: a rule whose
    `on` and `when` hold; a wave that is due (its journey entered exactly `after` steps ago and
    still running) whose journey's `when` holds."""
    live, mask, holds = flags[L_LIVE], flags[L_MASK], flags[L_HOLDS]
    for j in range(tb.journey_i.shape[1]):
        group, last_after = tb.journey_i[JO_GROUP, j], tb.journey_i[JO_LAST_AFTER, j]
        stops = tb.journey_i[JO_STOP, j] == 1
        for k in range(n):
            mask[k] = False
            if not live[k]:
                continue
            i = lo + k
            start = int(st.journey_start[i, j])
            active = start != NEVER_STEP and t - start <= last_after
            if active and stops and int(st.last_resp[i, group]) >= start:
                active = False  # stop when responded
            if active:
                ints[R_JOURNEYS, k] |= 1 << j
            else:
                mask[k] = True
        entry = tb.journey_i[JO_ENTRY, j]
        evaluate_block(tb, st, lo, n, t, entry, rk, ints, bits, cutoffs, mask, holds)
        for k in range(n):
            if holds[k]:
                st.journey_start[lo + k, j] = t
                ints[R_JOURNEYS, k] |= 1 << j
    members, due = ints[R_MEMBERS], ints[R_DUE]
    listed, n_members = -1, 0
    for p in range(tb.play_i.shape[1]):
        when = tb.play_i[PL_WHEN, p]
        bit = ONE << np.uint64(p)
        listed_due = False  # the waiting rows are due[:waiting], not the rows of pool
        if tb.play_i[PL_KIND, p] == PLAY_RULE:
            on = tb.play_i[PL_ON, p]
            if on == TRUE:
                pool = live
                waiting = n
            else:
                pool = mask
                waiting = evaluate_block(tb, st, lo, n, t, on, rk, ints, bits, cutoffs, live, mask)
        else:
            # A wave: the rows of its journey are listed once for all its waves (a journey
            # holds few customers), and the wave is due for those it entered `after` ago.
            j, after = tb.play_i[PL_JOURNEY, p], tb.play_i[PL_AFTER, p]
            if j != listed:
                listed, n_members = j, 0
                for k in range(n):  # without a branch: k is kept when the row is a member
                    members[n_members] = k
                    n_members += live[k] & ((ints[R_JOURNEYS, k] >> j) & 1 == 1)
            waiting = 0
            for x in range(n_members):
                k = members[x]
                due[waiting] = k
                waiting += t - int(st.journey_start[lo + k, j]) == after
            pool = mask
            listed_due = waiting * SPARSE < n
            if not listed_due:
                for k in range(n):
                    mask[k] = False
                for x in range(waiting):
                    mask[due[x]] = True
        if waiting == 0:
            continue
        if waiting * SPARSE < n:
            # Few rows wait (an `on` that fired, a wave due for a few): `when` row by row for
            # them only, instead of passes over the whole block. One call site of the inlined
            # ``holds_at`` for both kinds: each copy of it is seconds of the first compile.
            k = -1
            for x in range(waiting):
                if listed_due:
                    k = due[x]
                else:  # the next row of the pool
                    k += 1
                    while not pool[k]:
                        k += 1
                if holds_at(tb, st, lo, k, t, when, rk, ints, bits, cutoffs):
                    bits[B_CANDIDATES, k] |= bit
        elif evaluate_block(tb, st, lo, n, t, when, rk, ints, bits, cutoffs, pool, holds) > 0:
            for k in range(n):
                bits[B_CANDIDATES, k] |= np.uint64(holds[k]) << np.uint64(p)


@block_kernel
def channels(
    tb: Tables,
    st: State,
    lo: int,
    n: int,
    t: int,
    rk: np.uint64,
    cutoffs: np.ndarray,
    ints: np.ndarray,
    bits: np.ndarray,
    flags: np.ndarray,
) -> None:
    """Bit c of ``bits[B_CHANNELS]`` when channel c's `requires` holds and the customer has not
    opted out of c, for the rows with a
    candidate on any channel (not only on c: a variant that moves a play to another channel
    reuses these bits, ``simulator.engine.delta``)."""
    mask, holds = flags[L_MASK], flags[L_HOLDS]
    waiting = 0
    for k in range(n):
        mask[k] = bits[B_CANDIDATES, k] != ZERO
        waiting += mask[k]
    if waiting == 0:
        return
    for c in range(tb.chan_i.shape[1]):
        entry = tb.chan_i[CH_REQUIRES, c]
        evaluate_block(tb, st, lo, n, t, entry, rk, ints, bits, cutoffs, mask, holds)
        for k in range(n):
            if holds[k]:
                bits[B_CHANNELS, k] |= ONE << np.uint64(c)
    if st.opted_out.shape[1] > 0:  # consent withdrawn (`opt out`) fails `requires` for good
        for k in range(n):
            bits[B_CHANNELS, k] &= ~st.opted_out[lo + k, 0]


@njit(cache=True, inline="always")
def choose(
    tb: Tables,
    st: State,
    i: int,
    t: int,
    rk: np.uint64,
    candidates: np.uint64,
    channel_ok: np.uint64,
    funnel: np.ndarray,
    proposals: np.ndarray,
    treated: np.ndarray,
    values: np.ndarray,
    per_cap: np.ndarray,
    traced: bool,
    trace_i: np.ndarray,
) -> tuple[bool, np.uint64, np.uint64]:
    """Row i's decision among its candidate plays (bits), given the channels whose
    `requires` holds: eligibility in order, the control group and holdouts, arbitration.
    Counts the funnel and the proposals; returns (eligible for some play, the winners, the
    plays it was eligible for: before the control group and holdouts)."""
    n_plays = tb.play_i.shape[1]
    caps_used, caps_taken = per_cap[0], per_cap[1]
    if traced:
        trace_i[TR_PLAYS : TR_PLAYS + n_plays] = S_NONE
    arm = st.arm[i]
    eligible = False
    winners = ZERO
    eligible_for = ZERO
    if candidates == ZERO:
        return eligible, winners, eligible_for
    # Contacts within each cap's window: counted by ``eligibility`` for the first play that
    # passes suitability, holdings, channel and cooldown (most candidates do not).
    caps_used[0] = -1
    static = ZERO  # the customer's static key: mixed for the first holdout draw
    n_treated = 0
    for pos in range(n_plays):
        p = tb.play_i[PL_ORDER, pos]
        if (candidates >> np.uint64(p)) & ONE == ZERO:
            continue
        status = eligibility(tb, st, i, t, p, channel_ok, caps_used)
        if status == S_WINNER:
            eligible = True
            eligible_for |= ONE << np.uint64(p)
            funnel[p, arm, F_ELIGIBLE] += 1
            group = tb.play_i[PL_GROUP, p]
            share = tb.group_holdout[group]
            held_out = False
            if share > 0.0 and arm == 0:  # the control arm is never treated: no draw
                if static == ZERO:
                    static = nb_step_key(nb_customer_key(rk, st.cid[i]), STATIC_STEP)
                held_out = nb_to_uniform(nb_draw(static, SLOT_HOLDOUT + group)) < share
            if arm == 1 or held_out:
                funnel[p, arm, F_HOLDOUT] += 1
                status = S_CONTROL if arm == 1 else S_HOLDOUT
            else:
                treated[n_treated] = p
                n_treated += 1
        else:
            funnel[p, arm, _FIELD_OF_STATUS[status]] += 1
        if traced:
            trace_i[TR_PLAYS + p] = status
    if n_treated > 0:
        winners = arbitrate(tb, st, i, t, treated, n_treated, values, caps_used, caps_taken)
        for x in range(n_treated):
            p = int(treated[x])
            if (winners >> np.uint64(p)) & ONE == ONE:
                proposals[p] += 1
            else:
                funnel[p, arm, F_ARBITRATION] += 1
                if traced:
                    trace_i[TR_PLAYS + p] = S_ARBITRATION
    return eligible, winners, eligible_for


# Inlined into ``decide_blocks``, their only caller in a run: as kernels of their own, each one's
# library linked the whole condition interpreter (``evaluate_block`` and all under it) and
# optimised and compiled it to machine code again, and ``decide_blocks`` a fourth time (about
# 2 s each of the first run's compile, issue 14 §6). Their own code is small.
_facts, _audience, _channels = inlined(facts), inlined(audience), inlined(channels)


@njit(cache=True, inline="always")
def arbitrate(
    tb: Tables,
    st: State,
    i: int,
    t: int,
    treated: np.ndarray,
    n: int,
    values: np.ndarray,
    caps_used: np.ndarray,
    caps_taken: np.ndarray,
) -> np.uint64:
    """The plays row i gets this step: candidates in priority order (or by expected value,
    highest first, ties in priority order) each take a contact while every cap that applies
    has room, counting this step's earlier winners; one offer per product."""
    if tb.sc_i[SC_ARBITRATE] == 1:
        earlier = earlier_contacts(tb, st.ring, i, t)
        propensity = float(st.propensity[i])
        for k in range(n):
            values[k] = proposal_value(tb, treated[k], propensity, earlier)
        for k in range(1, n):  # insertion sort, stable: equal values keep priority order
            p, v = treated[k], values[k]
            j = k - 1
            while j >= 0 and values[j] < v:
                treated[j + 1], values[j + 1] = treated[j], values[j]
                j -= 1
            treated[j + 1], values[j + 1] = p, v
    caps_taken[:] = 0
    products = ZERO
    winners = ZERO
    for k in range(n):
        p = treated[k]
        channel = tb.play_i[PL_CHANNEL, p]
        product_bit = ONE << np.uint64(tb.play_i[PL_PRODUCT, p])
        ok = products & product_bit == ZERO
        for c in range(tb.cap_i.shape[1]):
            if ok and cap_applies(tb, c, p, channel):
                ok = caps_used[c] + caps_taken[c] < tb.cap_i[CP_COUNT, c]
        if not ok:
            continue
        for c in range(tb.cap_i.shape[1]):
            if cap_applies(tb, c, p, channel):
                caps_taken[c] += 1
        products |= product_bit
        winners |= ONE << np.uint64(p)
    return winners


def decide_step(
    tb: Tables,
    st: State,
    n_rows: int,
    t: int,
    rk: np.uint64,
    cutoffs: np.ndarray,
    funnel: np.ndarray,
    proposals: np.ndarray,
    trace_row: int,
    trace_i: np.ndarray,
) -> None:
    """Decisions of step t for rows [0, n_rows). ``cutoffs`` (float64, (2, Q)): for each
    model top slot, the least noise uniform in the top for label 0 and for label 1.
    ``funnel`` (int64, (blocks, P, 2, F)) and ``proposals`` (int64, (blocks, P)) are this
    kernel's counters, per block. Writes ``st.winners``, ``st.segbits`` and ``st.dec``."""
    n_plays, n_caps = max(tb.play_i.shape[1], 1), max(tb.cap_i.shape[1], 1)

    def run_blocks(b0: int, b1: int) -> None:
        decide_blocks(
            tb, st, b0, b1, n_rows, t, rk, cutoffs, funnel, proposals, trace_row, trace_i,
            np.empty((N_INTS, BLOCK), dtype=np.int64),  # cleared row by row: decide_blocks
            np.empty((N_BITS, BLOCK), dtype=np.uint64),
            np.empty((N_FLAGS, BLOCK), dtype=np.bool_),
            np.empty(n_plays, dtype=np.int64),  # cleared block by block: decide_blocks
            np.empty(n_plays, dtype=np.float64),
            np.empty((2, n_caps), dtype=np.int64),
        )  # fmt: skip

    on_threads(run_blocks, blocks_of(n_rows))


@thread_kernel
def decide_blocks(
    tb: Tables,
    st: State,
    b0: int,
    b1: int,
    n_rows: int,
    t: int,
    rk: np.uint64,
    cutoffs: np.ndarray,
    funnel: np.ndarray,
    proposals: np.ndarray,
    trace_row: int,
    trace_i: np.ndarray,
    ints: np.ndarray,
    bits: np.ndarray,
    flags: np.ndarray,
    treated: np.ndarray,
    values: np.ndarray,
    per_cap: np.ndarray,
) -> None:
    """Blocks [b0, b1) of ``decide_step``, on one thread's scratch."""
    for b in range(b0, b1):
        lo, hi = b * BLOCK, min(n_rows, (b + 1) * BLOCK)
        treated[:] = 0
        values[:] = 0.0
        per_cap[:] = 0
        funnel_b, proposals_b = funnel[b], proposals[b]
        n = hi - lo
        live = flags[L_LIVE]
        for k in range(n):  # the scratch comes uninitialised: the facts OR-ed into start empty
            i = lo + k
            st.winners[i] = ZERO
            live[k] = st.alive[i] == 1
            ints[R_TIER, k] = tier_of(tb, st.aum[i]) if live[k] else 0
            ints[R_RFM, k] = 0
            ints[R_JOURNEYS, k] = 0
            for r in range(N_BITS):
                bits[r, k] = ZERO
        _facts(tb, st, lo, n, t, rk, cutoffs, ints, bits, flags)
        ring = tb.sc_i[SC_AUM_RING_LEN]
        if ring > 0:  # the AUM the `aum drop/rise` events of later steps compare with
            for k in range(n):
                if live[k]:
                    st.aum_ring[lo + k, t % ring] = np.float32(st.aum[lo + k])
        _audience(tb, st, lo, n, t, rk, cutoffs, ints, bits, flags)
        _channels(tb, st, lo, n, t, rk, cutoffs, ints, bits, flags)
        for k in range(n):
            if not live[k]:
                continue
            i = lo + k
            traced = i == trace_row
            candidates, channel_ok = bits[B_CANDIDATES, k], bits[B_CHANNELS, k]
            eligible, winners, eligible_for = choose(
                tb, st, i, t, rk, candidates, channel_ok, funnel_b, proposals_b, treated, values,
                per_cap, traced, trace_i,
            )  # fmt: skip
            st.winners[i] = winners
            st.elig[i] = eligible_for
            st.cands[i], st.chans[i] = candidates, channel_ok
            arm = st.arm[i]
            st.segbits[i] = bits[B_SEGMENTS, k]
            st.dec[i] = ints[R_TIER, k] | (128 if eligible else 0)
            if traced:
                trace_i[TR_TRIGGERS] = np.int64(bits[B_TRIGGERS, k])
                trace_i[TR_SEGMENTS] = np.int64(bits[B_SEGMENTS, k])
                trace_i[TR_TIER] = ints[R_TIER, k]
                trace_i[TR_RFM] = ints[R_RFM, k]
                trace_i[TR_ARM] = arm
                trace_i[TR_ALIVE] = st.alive[i]
                trace_i[TR_JOURNEYS] = ints[R_JOURNEYS, k]


def decide_again(
    tb: Tables,
    st: State,
    rows: np.ndarray,
    t: int,
    rk: np.uint64,
    winners: np.ndarray,
    dec: np.ndarray,
    elig: np.ndarray,
    funnel: np.ndarray,
    proposals: np.ndarray,
    threads: int = 0,
) -> None:
    """The decisions of step t for the live ``rows`` (int64) of a state whose decision phase
    has run (``st.cands``, ``st.chans``: their candidates and channels), under the tables
    ``tb`` (a variant's whose candidates are the same: ``simulator.engine.delta``). Writes nothing
    to the state: row ``rows[j]``'s winners, ``dec`` and ``elig`` go to ``winners[j]``,
    ``dec[j]`` and ``elig[j]``;
    the funnel (int64, (blocks, P, 2, F)) and proposals (int64, (blocks, P)) are counted per
    block of ``rows``. On ``threads`` threads (0: Numba's count)."""
    n_plays, n_caps = max(tb.play_i.shape[1], 1), max(tb.cap_i.shape[1], 1)

    def run_blocks(b0: int, b1: int) -> None:
        choose_blocks(
            tb, st, rows, b0, b1, t, rk, winners, dec, elig, funnel, proposals,
            np.empty(n_plays, dtype=np.int64),  # cleared block by block: choose_blocks
            np.empty(n_plays, dtype=np.float64),
            np.empty((2, n_caps), dtype=np.int64),
            np.empty(TR_PLAYS + n_plays, dtype=np.int64),
        )  # fmt: skip

    on_threads(run_blocks, blocks_of(rows.size), threads)


def decide_again_serial(*args: object) -> None:
    """``decide_again`` on one thread (a parallel launch costs more than a few rows)."""
    decide_again(*args, threads=1)  # type: ignore[arg-type]


@thread_kernel
def choose_blocks(
    tb: Tables,
    st: State,
    rows: np.ndarray,
    b0: int,
    b1: int,
    t: int,
    rk: np.uint64,
    winners: np.ndarray,
    dec: np.ndarray,
    elig: np.ndarray,
    funnel: np.ndarray,
    proposals: np.ndarray,
    treated: np.ndarray,
    values: np.ndarray,
    per_cap: np.ndarray,
    trace_i: np.ndarray,
) -> None:
    """Blocks [b0, b1) of ``decide_again``'s ``rows``, on one thread's scratch."""
    for b in range(b0, b1):
        lo, hi = b * BLOCK, min(rows.size, (b + 1) * BLOCK)
        treated[:] = 0
        values[:] = 0.0
        per_cap[:] = 0
        trace_i[:] = 0
        funnel_b, proposals_b = funnel[b], proposals[b]
        for j in range(lo, hi):
            i = rows[j]
            eligible, chosen, eligible_for = choose(
                tb, st, i, t, rk, st.cands[i], st.chans[i], funnel_b, proposals_b, treated, values,
                per_cap, False, trace_i,
            )  # fmt: skip
            winners[j] = chosen
            elig[j] = eligible_for
            dec[j] = tier_of(tb, st.aum[i]) | (128 if eligible else 0)


@njit(cache=True, inline="always")
def tiebreak(rk: np.uint64, cid: int, t: int) -> np.uint64:
    """The customer's place among equals this step: a permutation of customer ids."""
    return nb_draw(nb_step_key(nb_customer_key(rk, cid), t), SLOT_TIEBREAK)


def gather(
    tb: Tables,
    st: State,
    n_rows: int,
    t: int,
    rk: np.uint64,
    wanted: np.ndarray,
    offsets: np.ndarray,
    out_value: np.ndarray,
    out_tiebreak: np.ndarray,
) -> None:
    """The ordering keys (value, tiebreak) of every proposal of a ``wanted`` play (int64,
    (P,)), written from ``offsets[block, play]`` (int64, (blocks, P)) into ``out_value``
    (float64) and ``out_tiebreak`` (uint64)."""

    def run_blocks(b0: int, b1: int) -> None:
        gather_blocks(
            tb, st, b0, b1, n_rows, t, rk, wanted, offsets, out_value, out_tiebreak,
            np.empty(offsets.shape[1], dtype=np.int64),
        )  # fmt: skip

    on_threads(run_blocks, blocks_of(n_rows))


@thread_kernel
def gather_blocks(
    tb: Tables,
    st: State,
    b0: int,
    b1: int,
    n_rows: int,
    t: int,
    rk: np.uint64,
    wanted: np.ndarray,
    offsets: np.ndarray,
    out_value: np.ndarray,
    out_tiebreak: np.ndarray,
    pos: np.ndarray,
) -> None:
    """Blocks [b0, b1) of ``gather``."""
    for b in range(b0, b1):
        for p in range(pos.size):  # an element at a time: a slice copy would allocate
            pos[p] = offsets[b, p]
        lo, hi = b * BLOCK, min(n_rows, (b + 1) * BLOCK)
        n_plays = tb.play_i.shape[1]
        for i in range(lo, hi):
            winners = st.winners[i]
            if winners == ZERO:
                continue
            h = tiebreak(rk, st.cid[i], t)
            earlier = earlier_contacts(tb, st.ring, i, t)
            propensity = float(st.propensity[i])
            for p in range(n_plays):
                if wanted[p] == 1 and (winners >> np.uint64(p)) & ONE == ONE:
                    out_value[pos[p]] = proposal_value(tb, p, propensity, earlier)
                    out_tiebreak[pos[p]] = h
                    pos[p] += 1
