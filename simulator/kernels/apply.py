"""Steps 6 to 8 of the semantics: the global capacity and budget cuts decided by the driver
are applied to each customer's proposals; contacts are made, reach and response are drawn; a
response buys the product (with maturity), brings its inflow into AUM and starts the play's
effects; then everything is counted: customers by stage and tier, AUM, revenue (fees at
purchase, margin on held products every step), cost, NPS, and the unserved customers.

A proposal passes a cut when its key (value, tiebreak) is at least the cut's threshold in the
global order: higher value (or priority) first, then lower tiebreak. The driver gives each play
two thresholds: its budget's and its channel's (``thr_*[play, 0|1]``), with mode 0 (no cut),
1 (threshold) or 2 (nothing passes).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulator.kernels.common import (
    BLOCK,
    CC_COMPLAINTS,
    CC_CONTACTS,
    CC_OPT_OUTS,
    CH_COST_FEN,
    CHF_COMPLAINT,
    CHF_OPT_OUT,
    CHF_REACH,
    CP_COUNT,
    CP_OFFSET,
    F_BUDGET,
    F_CAPACITY,
    F_CONTACTED,
    F_COST,
    F_INFLOW,
    F_REACHED,
    F_RESPONDED,
    F_REVENUE,
    M_AUM,
    M_BOOK_BY_STAGE,
    M_BOOK_REVENUE,
    M_COST,
    M_CROSS_SOLD,
    M_DETRACTORS,
    M_FEES,
    M_PRODUCTS,
    M_PROMOTERS,
    M_RESPONDERS,
    M_REVENUE,
    NO_MATURITY,
    NP_GROUP,
    NP_PER_CONTACT,
    NPF_DELTA,
    NPF_STEPS,
    PL_CHANNEL,
    PL_EFFECT_COUNT,
    PL_EFFECT_START,
    PL_GROUP,
    PL_ORDER,
    PL_PRODUCT,
    PR_INFLOW_FAMILY,
    PR_TENOR,
    PRF_BUY_CAP,
    PRF_BUY_SHARE,
    PRF_FEE,
    PRF_INFLOW_P1,
    PRF_INFLOW_P2,
    PRF_MARGIN,
    PRF_MIN,
    PRF_SWITCHING,
    S_BUDGET,
    S_CAPACITY,
    S_CONTACTED,
    S_REACHED,
    S_RESPONDED,
    SC_ARBITRATE,
    SC_COMPLAINT_EFFECT_COUNT,
    SC_COMPLAINT_EFFECT_START,
    SC_HAS_NPS,
    SC_RECENT_LEN,
    SC_RECENT_OFFSET,
    SCF_NPS_DETRACTORS,
    SCF_NPS_PROMOTERS,
    TR_PLAYS,
    TRF_AUM_END,
    TRF_DETRACTOR,
    TRF_PROMOTER,
    U_NEVER_SERVED,
    U_NO_PLAY,
    Tables,
    blocks_of,
    cap_applies,
    count_within,
    earlier_contacts,
    fen,
    money_draw,
    on_threads,
    proposal_value,
    response_chance,
    ring_insert,
    thread_kernel,
    tier_of,
)
from simulator.kernels.decide import tiebreak
from simulator.kernels.population import State
from simulator.kernels.rng import (
    SLOT_COMPLAINT,
    SLOT_INFLOW,
    SLOT_OPT_OUT,
    SLOT_REACH,
    SLOT_RESPONSE,
    nb_customer_key,
    nb_step_key,
    nb_uniform,
)
from strategy_dsl.compile import (
    NEVER_STEP,
    STAGE_CHURNED,
)

ONE = np.uint64(1)
ZERO = np.uint64(0)

# Columns of the per-segment outcome counters (``RunOutput.segment_outcomes``): every customer
# ever in the segment (from the step it was first in it; "(all)": every customer live at step 0
# or acquired), by global arm. Stocks at the end of the step, then flows of the step.
SO_MEMBERS, SO_CHURNED, SO_AUM, SO_REVENUE, SO_COST, SO_RESPONDERS = range(6)
N_SEGMENT_OUTCOMES = 6

# Columns of the per-row ledger (``Shard.ledger``, ``engine.shards``), kept beside the state like
# ``seg_ever``: the accounting's memory of each customer, for measures a live test takes per
# customer (``simulator.analysis.sizing_report``). Revenue to date in fen (fees at purchase and
# margins, every step the customer was live; exact in a float64 below 2^53 fen); the AUM at the
# start of this step's contacts (after the step's market and flows, before any purchase: the value a
# bank snapshots when the model selects the customer).
LEDGER_REVENUE_FEN, LEDGER_AUM_BEFORE_CONTACTS = range(2)
N_LEDGER = 2


@njit(cache=True, inline="always")
def passes(mode: int, value: float, tie: np.uint64, v: float, h: np.uint64) -> bool:
    if mode == 0:
        return True
    if mode == 2:
        return False
    return v > value or (v == value and h <= tie)


@njit(cache=True, inline="always")
def inflow(tb: Tables, product: int, u: float) -> float:
    """The amount a purchase of ``product`` brings (at least the product's minimum)."""
    family = tb.prod_i[PR_INFLOW_FAMILY, product]
    p1, p2 = tb.prod_f[PRF_INFLOW_P1, product], tb.prod_f[PRF_INFLOW_P2, product]
    return max(money_draw(family, p1, p2, u), tb.prod_f[PRF_MIN, product])


# Not inlined: most channels declare neither `complaints` nor `opt out`, and the call keeps the
# contact's inlined body (and its compile) as it was.
@njit(cache=True)
def over_contact(
    tb: Tables, st: State, i: int, t: int, p: int, channel: int, sk: np.uint64, chan: np.ndarray
) -> None:
    """A contact of play p that reached row i: it may bring a complaint (营销扰民), which
    starts the complaint's effects on the lifecycle, and may make the customer opt out of the
    channel (退订: its consent fails from the next decisions on)."""
    arm = st.arm[i]
    if nb_uniform(sk, SLOT_COMPLAINT + p) < tb.chan_f[CHF_COMPLAINT, channel]:
        chan[channel, arm, CC_COMPLAINTS] += 1
        start = tb.sc_i[SC_COMPLAINT_EFFECT_START]
        for e in range(start, start + tb.sc_i[SC_COMPLAINT_EFFECT_COUNT]):
            st.effect_until[i, e] = t + tb.eff_steps[e]
    if nb_uniform(sk, SLOT_OPT_OUT + p) < tb.chan_f[CHF_OPT_OUT, channel]:
        bit = ONE << np.uint64(channel)
        if st.opted_out[i, 0] & bit == ZERO:  # a second contact this step: already out
            st.opted_out[i, 0] |= bit
            chan[channel, arm, CC_OPT_OUTS] += 1


@njit(cache=True, inline="always")
def contact(
    tb: Tables,
    st: State,
    i: int,
    t: int,
    p: int,
    sk: np.uint64,
    funnel: np.ndarray,
    misc: np.ndarray,
    chan: np.ndarray,
) -> int:
    """Contact row i with play p: cost, caps and cooldown bookkeeping, reach, response and
    purchase. Returns the trace status (contacted, reached or responded)."""
    arm = st.arm[i]
    channel = tb.play_i[PL_CHANNEL, p]
    cost = tb.chan_i[CH_COST_FEN, channel]
    funnel[p, arm, F_CONTACTED] += 1
    funnel[p, arm, F_COST] += cost
    misc[arm, M_COST] += cost
    chan[channel, arm, CC_CONTACTS] += 1
    earlier = earlier_contacts(tb, st.ring, i, t)  # this step's earlier contacts included
    for c in range(tb.cap_i.shape[1]):
        if cap_applies(tb, c, p, channel):
            ring_insert(st.ring, i, tb.cap_i[CP_OFFSET, c], tb.cap_i[CP_COUNT, c], t)
    if tb.sc_i[SC_RECENT_LEN] > 0:
        ring_insert(st.ring, i, tb.sc_i[SC_RECENT_OFFSET], tb.sc_i[SC_RECENT_LEN], t)
    st.last_contact[i, p] = t
    st.last_contact_any[i] = t
    if nb_uniform(sk, SLOT_REACH + p) >= tb.chan_f[CHF_REACH, channel]:
        return S_CONTACTED
    funnel[p, arm, F_REACHED] += 1
    if tb.chan_f[CHF_COMPLAINT, channel] > 0.0 or tb.chan_f[CHF_OPT_OUT, channel] > 0.0:
        over_contact(tb, st, i, t, p, channel, sk, chan)
    product = tb.play_i[PL_PRODUCT, p]
    share, aum = tb.prod_f[PRF_BUY_SHARE, product], st.aum[i]
    if share >= 0.0 and aum < tb.prod_f[PRF_MIN, product]:
        return S_REACHED  # sized to the customer, who cannot afford its `min`: does not buy
    chance = response_chance(tb, p, float(st.propensity[i]), earlier)
    if nb_uniform(sk, SLOT_RESPONSE + p) >= chance:
        return S_REACHED
    funnel[p, arm, F_RESPONDED] += 1
    if share >= 0.0:  # `buys`: a share of AUM, at least `min`, at most `max`
        amount = min(max(share * aum, tb.prod_f[PRF_MIN, product]), tb.prod_f[PRF_BUY_CAP, product])
    else:
        amount = inflow(tb, product, nb_uniform(sk, SLOT_INFLOW + p))
    # `switching`: that part moves out of the customer's balances; the rest is new money.
    new_money = amount - min(amount * tb.prod_f[PRF_SWITCHING, product], aum)
    st.aum[i] += new_money
    funnel[p, arm, F_INFLOW] += fen(new_money)
    st.hold_amt[i, product] = np.float32(amount)
    tenor = tb.prod_i[PR_TENOR, product]
    st.hold_until[i, product] = min(t + tenor, NO_MATURITY - 1) if tenor > 0 else NO_MATURITY
    st.hold_play[i, product] = p
    fee = fen(amount * tb.prod_f[PRF_FEE, product])
    funnel[p, arm, F_REVENUE] += fee
    misc[arm, M_REVENUE] += fee
    misc[arm, M_FEES] += fee
    start = tb.play_i[PL_EFFECT_START, p]
    for e in range(start, start + tb.play_i[PL_EFFECT_COUNT, p]):
        st.effect_until[i, e] = t + tb.eff_steps[e]
    st.last_resp[i, tb.play_i[PL_GROUP, p]] = t
    st.last_resp_any[i] = t
    return S_RESPONDED


@njit(cache=True, inline="always")
def serve(
    tb: Tables,
    st: State,
    i: int,
    t: int,
    rk: np.uint64,
    thr_mode: np.ndarray,
    thr_value: np.ndarray,
    thr_tiebreak: np.ndarray,
    plays: np.ndarray,
    values: np.ndarray,
    funnel: np.ndarray,
    misc: np.ndarray,
    chan: np.ndarray,
    traced: bool,
    trace: np.ndarray,
) -> bool:
    """Row i's proposals through the cuts, in arbitration order. True if it responded."""
    winners = st.winners[i]
    propensity = float(st.propensity[i])
    earlier = earlier_contacts(tb, st.ring, i, t)
    n = 0
    for pos in range(tb.play_i.shape[1]):
        p = tb.play_i[PL_ORDER, pos]
        if (winners >> np.uint64(p)) & ONE == ONE:
            plays[n] = p
            values[n] = proposal_value(tb, p, propensity, earlier)
            n += 1
    if tb.sc_i[SC_ARBITRATE] == 1:
        for k in range(1, n):  # the order of arbitration: value, then priority order
            p, v = plays[k], values[k]
            j = k - 1
            while j >= 0 and values[j] < v:
                plays[j + 1], values[j + 1] = plays[j], values[j]
                j -= 1
            plays[j + 1], values[j + 1] = p, v
    h = tiebreak(rk, st.cid[i], t)
    sk = nb_step_key(nb_customer_key(rk, st.cid[i]), t)
    arm = st.arm[i]
    responded = False
    for k in range(n):
        p, v = plays[k], values[k]
        if not passes(thr_mode[p, 0], thr_value[p, 0], thr_tiebreak[p, 0], v, h):
            funnel[p, arm, F_BUDGET] += 1
            status = S_BUDGET
        elif not passes(thr_mode[p, 1], thr_value[p, 1], thr_tiebreak[p, 1], v, h):
            funnel[p, arm, F_CAPACITY] += 1
            status = S_CAPACITY
        else:
            status = contact(tb, st, i, t, p, sk, funnel, misc, chan)
            responded = responded or status == S_RESPONDED
        if traced:
            trace[TR_PLAYS + p] = status
    return responded


@njit(cache=True, inline="always")
def nps_shares(tb: Tables, st: State, i: int, t: int) -> tuple[float, float]:
    """(P(promoter), P(detractor)) of row i: ``shares_of`` on the tables and state it reads."""
    return shares_of(
        tb.sc_f, tb.sc_i, tb.nps_i, tb.nps_f, st.ring, st.last_contact_any, st.last_resp_any, i, t
    )


@njit(cache=True, inline="always")
def shares_of(
    sc_f: np.ndarray,
    sc_i: np.ndarray,
    nps_i: np.ndarray,
    nps_f: np.ndarray,
    ring: np.ndarray,
    last_contact_any: np.ndarray,
    last_resp_any: np.ndarray,
    i: int,
    t: int,
) -> tuple[float, float]:
    """(P(promoter), P(detractor)) of row i: the base shares moved by extra contacts in a
    window and by a recent response, clipped to [0, 1] with P(detractor) <= 1 - P(promoter).
    Apart from ``nps_shares`` so that a call can hand over only these (the baseline's
    `… for detractors`)."""
    promoters, detractors = sc_f[SCF_NPS_PROMOTERS], sc_f[SCF_NPS_DETRACTORS]
    for s in range(nps_f.shape[1]):
        shift = 0.0
        if nps_i[NP_PER_CONTACT, s] == 1:
            if t - int(last_contact_any[i]) >= nps_f[NPF_STEPS, s]:
                continue  # no contact in the window (most customers, most steps)
            extra = count_within(
                ring, i, sc_i[SC_RECENT_OFFSET], sc_i[SC_RECENT_LEN], t, nps_f[NPF_STEPS, s]
            )
            if extra > 1:
                shift = nps_f[NPF_DELTA, s] * (extra - 1)
        else:
            last = int(last_resp_any[i])
            if last != NEVER_STEP and t - last < nps_f[NPF_STEPS, s]:
                shift = nps_f[NPF_DELTA, s]
        if nps_i[NP_GROUP, s] == 0:
            promoters += shift
        else:
            detractors += shift
    promoters = min(max(promoters, 0.0), 1.0)
    detractors = min(max(detractors, 0.0), 1.0 - promoters)
    return promoters, detractors


@njit(cache=True, inline="always")
def account(
    tb: Tables,
    st: State,
    i: int,
    t: int,
    responded: bool,
    decided: bool,
    funnel: np.ndarray,
    cust: np.ndarray,
    misc: np.ndarray,
    unserved: np.ndarray,
    traced: bool,
    trace_f: np.ndarray,
    tier_moves: np.ndarray,
) -> None:
    """Count row i (alive) at the end of step t."""
    arm = st.arm[i]
    aum = st.aum[i]
    tier = tier_of(tb, aum)
    cust[arm, st.stage[i], tier] += 1
    # 升层 / 降层: the tier against the one this customer was counted in at the end of the last
    # step (none for a customer counted for the first time: arrivals are not migrations).
    before = st.tier[i]
    if before >= 0 and before != tier:
        tier_moves[arm, before, tier] += 1
    st.tier[i] = tier
    misc[arm, M_AUM] += fen(aum)
    if t > 0 and tb.book_rate.size > 0:  # the book earns from step 1, on every live customer
        earned = 0.0
        for b in range(tb.book_rate.size):
            earned += aum * tb.book_share[tier, b] * tb.book_rate[b]
        book = fen(earned)
        misc[arm, M_REVENUE] += book
        misc[arm, M_BOOK_REVENUE] += book
        misc[arm, M_BOOK_BY_STAGE + st.stage[i]] += book
    products = 0
    for d in range(st.hold_amt.shape[1]):
        amount = st.hold_amt[i, d]
        if amount > 0.0:
            products += 1
            margin = fen(float(amount) * tb.prod_f[PRF_MARGIN, d])
            misc[arm, M_REVENUE] += margin
            if st.hold_play[i, d] >= 0:
                funnel[st.hold_play[i, d], arm, F_REVENUE] += margin
    misc[arm, M_PRODUCTS] += products
    if products >= 2:
        misc[arm, M_CROSS_SOLD] += 1
    if responded:
        misc[arm, M_RESPONDERS] += 1
    if tb.sc_i[SC_HAS_NPS] == 1:
        promoters, detractors = nps_shares(tb, st, i, t)
        misc[arm, M_PROMOTERS] += math.floor(promoters * 1e6 + 0.5)
        misc[arm, M_DETRACTORS] += math.floor(detractors * 1e6 + 0.5)
        if traced:
            trace_f[TRF_PROMOTER], trace_f[TRF_DETRACTOR] = promoters, detractors
    if traced:
        trace_f[TRF_AUM_END] = aum
    if not decided:
        return
    dec = int(st.dec[i])
    if dec >= 128:
        if st.last_contact_any[i] != NEVER_STEP:
            return
        kind = U_NEVER_SERVED
    else:
        kind = U_NO_PLAY
    tier = dec & 127
    segbits = st.segbits[i]
    while segbits != ZERO:  # one pass per segment the row is in (``count_member``)
        low = segbits & (~segbits + ONE)
        unserved[_BIT_INDEX[(low * _DE_BRUIJN) >> np.uint64(58)], tier, arm, kind] += 1
        segbits ^= low
    unserved[tb.seg_pred.size, tier, arm, kind] += 1


@njit(cache=True, inline="always")
def count_member(
    ever: np.uint64,
    arm: int,
    outcomes: np.ndarray,
    churned: int,
    aum: int,
    revenue: int,
    cost: int,
    responded: int,
) -> None:
    """Count one customer in every segment (or play) of ``ever`` (bits), for ``arm``: one
    pass per set bit, found by a de Bruijn multiplication rather than a shift per bit."""
    while ever != ZERO:
        low = ever & (~ever + ONE)
        row = outcomes[_BIT_INDEX[(low * _DE_BRUIJN) >> np.uint64(58)], arm]
        row[SO_MEMBERS] += 1
        row[SO_CHURNED] += churned
        row[SO_AUM] += aum
        row[SO_REVENUE] += revenue
        row[SO_COST] += cost
        row[SO_RESPONDERS] += responded
        ever ^= low


# The index of a single set bit b: _BIT_INDEX[(b * _DE_BRUIJN) >> 58] (mod 2**64).
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT_INDEX = np.array(
    [
        0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4,
        62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18, 12, 5,
        63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
        46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6,
    ],
    dtype=np.int64,
)  # fmt: skip


def apply_step(
    tb: Tables,
    st: State,
    n_rows: int,
    t: int,
    rk: np.uint64,
    thr_mode: np.ndarray,
    thr_value: np.ndarray,
    thr_tiebreak: np.ndarray,
    decided: bool,
    funnel: np.ndarray,
    cust: np.ndarray,
    misc: np.ndarray,
    unserved: np.ndarray,
    chan: np.ndarray,
    trace_row: int,
    trace_i: np.ndarray,
    trace_f: np.ndarray,
    seg_ever: np.ndarray,
    outcomes: np.ndarray,
    ledger: np.ndarray,
    select: np.ndarray,
    want: int,
    play_outcomes: np.ndarray,
    tier_moves: np.ndarray,
) -> None:
    """Contacts and accounting of step t for rows [0, n_rows) — only those whose
    ``select`` (uint8, (rows,)) is ``want`` unless ``select`` is empty (variants run as
    deltas split the base's accounting so: ``simulator.engine.delta``). Thresholds: ``thr_mode``
    (int64, (P, 2)), ``thr_value`` (float64, (P, 2)), ``thr_tiebreak`` (uint64, (P, 2)).
    Counters per block: ``funnel`` (int64, (blocks, P, 2, F)), ``cust`` (blocks, 2, S, K),
    ``misc`` (blocks, 2, N_MISC), ``unserved`` (blocks, G + 1, K, 2, U), ``chan``
    (blocks, C, 2), ``outcomes`` (blocks, G + 1, 2, N_SEGMENT_OUTCOMES), ``tier_moves``
    (blocks, 2, K, K): live customers by tier at the end of the last step and at this one's,
    those who moved only. ``seg_ever`` (uint64,
    (rows,)): the segments each row has been in, bit G for "(all)"; updated here. ``ledger``
    (float64, (rows, N_LEDGER)): each row's revenue to date and AUM before this step's
    contacts (``LEDGER_*``); updated here. ``decided``
    is False at step 0 (accounting only)."""
    n_plays = max(tb.play_i.shape[1], 1)

    def run_blocks(b0: int, b1: int) -> None:
        apply_blocks(
            tb, st, b0, b1, n_rows, t, rk, thr_mode, thr_value, thr_tiebreak, decided,
            funnel, cust, misc, unserved, chan, trace_row, trace_i, trace_f, seg_ever,
            outcomes, ledger, select, want, play_outcomes, tier_moves,
            np.empty(n_plays, dtype=np.int64),  # cleared block by block: apply_blocks
            np.empty(n_plays, dtype=np.float64),
        )  # fmt: skip

    on_threads(run_blocks, blocks_of(n_rows))


@thread_kernel
def apply_blocks(
    tb: Tables,
    st: State,
    b0: int,
    b1: int,
    n_rows: int,
    t: int,
    rk: np.uint64,
    thr_mode: np.ndarray,
    thr_value: np.ndarray,
    thr_tiebreak: np.ndarray,
    decided: bool,
    funnel: np.ndarray,
    cust: np.ndarray,
    misc: np.ndarray,
    unserved: np.ndarray,
    chan: np.ndarray,
    trace_row: int,
    trace_i: np.ndarray,
    trace_f: np.ndarray,
    seg_ever: np.ndarray,
    outcomes: np.ndarray,
    ledger: np.ndarray,
    select: np.ndarray,
    want: int,
    play_outcomes: np.ndarray,
    tier_moves: np.ndarray,
    plays: np.ndarray,
    values: np.ndarray,
) -> None:
    """Blocks [b0, b1) of ``apply_step``, on one thread's scratch."""
    for b in range(b0, b1):
        lo, hi = b * BLOCK, min(n_rows, (b + 1) * BLOCK)
        plays[:] = 0
        values[:] = 0.0
        funnel_b, cust_b, misc_b, chan_b = funnel[b], cust[b], misc[b], chan[b]
        unserved_b, outcomes_b = unserved[b], outcomes[b]
        play_outcomes_b, tier_moves_b = play_outcomes[b], tier_moves[b]
        # Segment membership is recorded once and kept (intention to treat): a customer who
        # leaves a segment, churns or is moved by a treatment still counts in it. Bit G is
        # "(all)", set for every live customer.
        everyone = ONE << np.uint64(tb.seg_pred.size)
        chosen = select.size > 0
        for i in range(lo, hi):
            alive = st.alive[i]
            if alive < 0 or (chosen and select[i] != want):
                continue
            arm = st.arm[i]
            if alive == 0:
                cust_b[arm, STAGE_CHURNED, tier_of(tb, st.aum[i])] += 1
                count_member(seg_ever[i], arm, outcomes_b, 1, 0, 0, 0, 0)
                count_member(st.play_ever[i], arm, play_outcomes_b, 1, 0, 0, 0, 0)
                continue
            traced = i == trace_row
            responded = False
            revenue, cost = misc_b[arm, M_REVENUE], misc_b[arm, M_COST]
            ledger[i, LEDGER_AUM_BEFORE_CONTACTS] = st.aum[i]
            if decided and st.winners[i] != ZERO:
                responded = serve(
                    tb, st, i, t, rk, thr_mode, thr_value, thr_tiebreak, plays, values, funnel_b,
                    misc_b, chan_b, traced, trace_i,
                )  # fmt: skip
            account(
                tb, st, i, t, responded, decided, funnel_b, cust_b, misc_b, unserved_b, traced,
                trace_f, tier_moves_b,
            )  # fmt: skip
            ever = seg_ever[i] | everyone
            if decided:
                ever |= st.segbits[i]
            seg_ever[i] = ever
            revenue = misc_b[arm, M_REVENUE] - revenue
            cost = misc_b[arm, M_COST] - cost
            ledger[i, LEDGER_REVENUE_FEN] += revenue
            count_member(ever, arm, outcomes_b, 0, fen(st.aum[i]), revenue, cost, int(responded))
            # Likewise per play, for the customers ever eligible for it (the control arm's and
            # the play's holdout included: intention to treat).
            plays_ever = st.play_ever[i] | (st.elig[i] if decided else ZERO)
            st.play_ever[i] = plays_ever
            count_member(
                plays_ever, arm, play_outcomes_b, 0, fen(st.aum[i]), revenue, cost, int(responded)
            )
