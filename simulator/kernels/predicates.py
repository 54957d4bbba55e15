"""Evaluating compiled conditions: the jump program of ``strategy_dsl.compile`` read atom by
atom, short-circuiting, for every customer of a block at once.

An atom reads the customer's state (``simulator.kernels.population.State``) at row ``i`` and the
per-step facts of that customer the caller has already worked out: tier, RFM bits, segment and
trigger bits, products matured this step, and the models' cutoffs. Attribute values are compared
as float64 (stored float32 values widen exactly).

Why a block at once: a call into a compiled function that is handed the table and state tuples
increments and decrements the reference count of each of their ~70 arrays (atomic operations);
per customer and condition that would cost microseconds. ``evaluate_block`` pays it once per
condition per block; below it, the kernels are compiled without reference counting, so that
the row-by-row interpreter ``atom`` is a call for the few rows of sparse paths rather than a
copy inlined into each caller (the dense path, ``atom_block``, has a loop of its own for every
kind of atom).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulator.kernels.common import (
    B_SEGMENTS,
    B_TRIGGERS,
    PF_X,
    PF_Y,
    PI_A,
    PI_B,
    PI_C,
    PI_F,
    PI_FIRST,
    PI_OP,
    PI_T,
    R_RFM,
    R_TIER,
    R_WALK,
    SC_AUM_RING_LEN,
    SC_FLOW_RING_LEN,
    SC_PAYROLL_BIT,
    SC_STEP_DAYS,
    SC_TXN_RING_LEN,
    Tables,
    block_kernel,
    inlined,
)
from simulator.kernels.population import State
from simulator.kernels.rng import (
    SLOT_MODEL_NOISE,
    SLOT_MODEL_PERSISTENT,
    STATIC_STEP,
    nb_customer_key,
    nb_inv_normal,
    nb_step_key,
    nb_uniform,
)
from strategy_dsl.compile import (
    ATTR_AGE,
    ATTR_AUM,
    ATTR_CATEGORY,
    ATTR_MONTHS_SINCE_TXN,
    ATTR_NUMBER,
    ATTR_PRODUCTS_HELD,
    ATTR_PROPENSITY,
    ATTR_RISK,
    ATTR_STAGE,
    ATTR_TENURE,
    ATTR_TXN_3M,
    ATTR_TXN_PER_MONTH,
    FALSE,
    OP_AUM_CHANGE,
    OP_BIRTHDAY,
    OP_COMPARE,
    OP_ENTERED,
    OP_EVERY,
    OP_FLAG,
    OP_FLOW,
    OP_HOLDS,
    OP_IN_CODES,
    OP_IN_NUMBERS,
    OP_INACTIVE,
    OP_MATURES,
    OP_MODEL_TOP,
    OP_RANGE,
    OP_RESPONDED,
    OP_RFM,
    OP_SALARY,
    OP_SEGMENT,
    OP_TIER,
    OP_TRIGGER,
    TRUE,
)

# Rows of the model cutoffs (``engine.couplings.model_cutoffs``), per top slot: the least noise
# uniform in the top for label 0 and 1; the score cutoffs c and c − d; the model's persistence.
CUT_U0, CUT_U1, CUT_Z0, CUT_Z1, CUT_PERSISTENCE, N_CUTOFF_ROWS = 0, 1, 2, 3, 4, 5

# A condition is walked a pass per atom (``walk_block``) when at least one row in SPARSE goes on
# past its first atom and its program spans fewer than WALK_SPAN instructions; otherwise the
# rows that go on are interpreted one by one (``follow_rows``).
SPARSE = 8
WALK_SPAN = 64
WALK_TRUE, WALK_FALSE = 254, 255


@njit(cache=True, inline="always")
def attribute(tb: Tables, st: State, i: int, t: int, code: int) -> float:
    """The value of attribute ``code`` for row ``i`` at step ``t``."""
    if code == ATTR_AUM:
        return st.aum[i]
    if code == ATTR_AGE:
        return float(st.age0[i]) + (t * tb.sc_i[SC_STEP_DAYS]) / 360.0
    if code == ATTR_STAGE:
        return float(st.stage[i])
    if code == ATTR_RISK:
        return float(st.risk[i])
    if code == ATTR_MONTHS_SINCE_TXN:
        return ((t - int(st.last_txn[i])) * tb.sc_i[SC_STEP_DAYS]) / 30.0
    if code == ATTR_TXN_3M:
        total = 0
        for k in range(tb.sc_i[SC_TXN_RING_LEN]):
            total += int(st.txn_ring[i, k])
        return float(total)
    if code == ATTR_TXN_PER_MONTH:
        return float(st.txn_rate[i])
    if code == ATTR_TENURE:
        return ((t - int(st.acquired[i])) * tb.sc_i[SC_STEP_DAYS]) / 30.0
    if code == ATTR_PRODUCTS_HELD:
        held = 0
        for d in range(st.hold_amt.shape[1]):
            if st.hold_amt[i, d] > 0.0:
                held += 1
        return float(held)
    if code == ATTR_PROPENSITY:
        return float(st.propensity[i])
    if code >= ATTR_CATEGORY:
        return float(st.cats[i, code - ATTR_CATEGORY])
    if code >= ATTR_NUMBER:
        return float(st.nums[i, code - ATTR_NUMBER])
    return 0.0


@njit(cache=True, inline="always")
def compare(value: float, op: int, x: float) -> bool:
    if op == 0:
        return value < x
    if op == 1:
        return value <= x
    if op == 2:
        return value > x
    if op == 3:
        return value >= x
    if op == 4:
        return value == x
    return value != x


@njit(cache=True, inline="always")
def outcomes_of(op: int) -> tuple[bool, bool, bool, bool]:
    """For ``compare``'s operator ``op``: whether it holds when the value is below x, equal
    to it, above it, or unordered with it (NaN)."""
    if op == 0:
        return True, False, False, False
    if op == 1:
        return True, True, False, False
    if op == 2:
        return False, False, True, False
    if op == 3:
        return False, True, True, False
    if op == 4:
        return False, True, False, False
    return True, False, True, True


@njit(cache=True, inline="always")
def compare_flat(
    value: float, x: float, below: bool, equal: bool, above: bool, unordered: bool
) -> bool:
    """``compare`` without a branch (the operator's ``outcomes_of``), so that a loop over a
    block of rows runs in vector registers."""
    lt, eq, gt = value < x, value == x, value > x
    return (lt & below) | (eq & equal) | (gt & above) | (~(lt | eq | gt) & unordered)


@njit(cache=True, inline="always")
def paid(tb: Tables, st: State, i: int, t: int) -> bool:
    """Salary is credited to a payroll customer in step t (on their payday each month)."""
    bit = tb.sc_i[SC_PAYROLL_BIT]
    if bit < 0 or (st.flags[i] >> np.uint32(bit)) & np.uint32(1) == np.uint32(0):
        return False
    days = tb.sc_i[SC_STEP_DAYS]
    return in_step(st.payday[i], first_day(t, days, 30), days, 30)


@njit(cache=True, inline="always")
def in_step(day: int, first: int, step_days: int, period: int) -> bool:
    """Whether day ``day`` of a ``period``-day cycle falls in the step whose first day of the
    cycle is ``first`` (step t covers the days [(t - 1) * step_days, t * step_days) since the
    start, so first = (t - 1) * step_days mod period)."""
    gap = day - first
    if gap < 0:
        gap += period
    return gap < step_days


@njit(cache=True, inline="always")
def model_top(
    st: State, i: int, t: int, rk: np.uint64, model: int, cutoffs: np.ndarray, slot: int
) -> bool:
    """Row i is in model's top share (cutoff slot ``slot``): its score d·y + z is above the
    cutoff c (``in_top``). A decision on the bank's own scores (``stratmap decide``: the
    slot's persistence row negative) has decided that already: bit ``slot`` of the labels."""
    if cutoffs[CUT_PERSISTENCE, slot] < 0.0:
        return (st.labels[i] >> slot) & 1 == 1
    y = (st.labels[i] >> model) & 1
    return in_top(rk, st.cid[i], t, model, y, cutoffs, slot)


@njit(cache=True, inline="always")
def in_top(
    rk: np.uint64, cid: np.uint64, t: int, model: int, y: int, cutoffs: np.ndarray, slot: int
) -> bool:
    """The score noise z is redrawn each step (persistence 0): z = Φ⁻¹(u), and z ≥ c − d·y
    is u ≥ Φ(c − d·y) = ``cutoffs[y, slot]``, no Φ⁻¹ needed. With persistence ρ > 0,
    z = √ρ·Φ⁻¹(a) + √(1 − ρ)·Φ⁻¹(u), a the customer's static uniform: compared with the score
    cutoff c − d·y = ``cutoffs[CUT_Z0 + y, slot]``."""
    ck = nb_customer_key(rk, cid)
    u = nb_uniform(nb_step_key(ck, t), SLOT_MODEL_NOISE + model)
    rho = cutoffs[CUT_PERSISTENCE, slot]
    if rho <= 0.0:
        return u >= cutoffs[y, slot]
    a = nb_uniform(nb_step_key(ck, STATIC_STEP), SLOT_MODEL_PERSISTENT + model)
    z = math.sqrt(rho) * nb_inv_normal(a) + math.sqrt(1.0 - rho) * nb_inv_normal(u)
    return z >= cutoffs[CUT_Z0 + y, slot]


@njit(cache=True, inline="always")
def aum_changed(now: float, before: float, direction: int, share: float) -> bool:
    """AUM fell (direction 0) by at least ``share`` of ``before``, or rose (1) by at least it."""
    if direction == 0:
        return before > 0.0 and now <= before * (1.0 - share)
    return now >= before * (1.0 + share) and now > before


@njit(cache=True, inline="always")
def flow_total(
    ring: np.ndarray, i: int, now: int, length: int, count: int, direction: int
) -> float:
    """Outflows (direction 0) or inflows (1) of the ``count`` steps ending with the one at ring
    place ``now``."""
    total = 0.0
    for k in range(count):
        j = now - k
        if j < 0:
            j += length
        amount = float(ring[i, j])
        if direction == 0:  # selects, not branches: the block's loop runs in vector registers
            total += -amount if amount < 0.0 else 0.0
        else:
            total += amount if amount > 0.0 else 0.0
    return total


@njit(cache=True, inline="always")
def flow_column(
    column: np.ndarray,
    lo: int,
    n: int,
    sign: float,
    x: float,
    outcome: tuple[bool, bool, bool, bool],
    here: np.ndarray,
    out: np.ndarray,
    negate: bool,
) -> int:
    """``atom_block`` for an outflow (sign -1) or inflow (+1) of one step compared with x, the
    step's flows being ``column[lo + k]``; returns how many hold."""
    below, equal, above, unordered = outcome
    held = 0
    for k in range(n):
        amount = sign * float(column[lo + k])
        total = amount if amount > 0.0 else 0.0
        on = compare_flat(total, x, below, equal, above, unordered)
        out[k] = here[k] & (on != negate)
        held += out[k]
    return held


@njit(cache=True, inline="always")
def first_day(t: int, step_days: int, period: int) -> int:
    return ((t - 1) * step_days) % period


# Never inlined: the row-by-row interpreter is the largest function here, and
# each inlined copy (``follow_rows``, ``holds_at`` in ``kernels.decide.audience``) cost seconds
# of Numba's inlining and of LLVM on the first run's compile (docs/simulation.md). Compiled
# without reference counting, like its callers, a call hands over the table and state tuples
# without touching their arrays' counts.
@block_kernel
def atom(
    tb: Tables,
    st: State,
    i: int,
    t: int,
    pc: int,
    rk: np.uint64,
    tier: int,
    rfm: int,
    segbits: np.uint64,
    trigbits: np.uint64,
    cutoffs: np.ndarray,
) -> bool:
    op = tb.prog_i[PI_OP, pc]
    a = tb.prog_i[PI_A, pc]
    if op == OP_FLAG:
        return (st.flags[i] >> np.uint32(a)) & np.uint32(1) == np.uint32(1)
    if op == OP_COMPARE:
        return compare(attribute(tb, st, i, t, a), tb.prog_i[PI_B, pc], tb.prog_v[PF_X, pc])
    if op == OP_RANGE:
        value = attribute(tb, st, i, t, a)
        return tb.prog_v[PF_X, pc] <= value < tb.prog_v[PF_Y, pc]
    if op == OP_IN_NUMBERS:
        value = attribute(tb, st, i, t, a)
        start = tb.prog_i[PI_B, pc]
        for k in range(start, start + tb.prog_i[PI_C, pc]):  # noqa: SIM110 (Numba)
            if value == tb.in_values[k]:
                return True
        return False
    if op == OP_IN_CODES:
        code = int(attribute(tb, st, i, t, a))
        return (tb.prog_i[PI_B, pc] >> code) & 1 == 1
    if op == OP_SEGMENT:
        return (segbits >> np.uint64(a)) & np.uint64(1) == np.uint64(1)
    if op == OP_TIER:
        return tier == a
    if op == OP_TRIGGER:
        return (trigbits >> np.uint64(a)) & np.uint64(1) == np.uint64(1)
    if op == OP_MODEL_TOP:
        return model_top(st, i, t, rk, a, cutoffs, tb.prog_i[PI_B, pc])
    if op == OP_RFM:
        return rfm == a
    if op == OP_ENTERED:
        if st.stage[i] != a:
            return False
        since = int(st.stage_since[i])
        if tb.prog_i[PI_B, pc] == 1:
            return since == t
        return t - since <= tb.prog_v[PF_X, pc]
    if op == OP_AUM_CHANGE:
        slot = (t - tb.prog_i[PI_B, pc]) % tb.sc_i[SC_AUM_RING_LEN]
        return aum_changed(st.aum[i], float(st.aum_ring[i, slot]), a, tb.prog_v[PF_X, pc])
    if op == OP_FLOW:
        ring = tb.sc_i[SC_FLOW_RING_LEN]
        total = flow_total(st.flow_ring, i, t % ring, ring, tb.prog_i[PI_C, pc], a)
        return compare(total, tb.prog_i[PI_B, pc], tb.prog_v[PF_X, pc])
    if op == OP_MATURES:
        return (st.matured[i] >> np.uint32(a)) & np.uint32(1) == np.uint32(1)
    if op == OP_INACTIVE:
        idle = t - int(st.last_txn[i])
        if tb.prog_i[PI_B, pc] == 1:
            return idle >= tb.prog_v[PF_X, pc] and idle - 1 < tb.prog_v[PF_X, pc]
        return idle >= tb.prog_v[PF_X, pc]
    if op == OP_EVERY:
        return t % a == 0
    if op == OP_BIRTHDAY:
        days = tb.sc_i[SC_STEP_DAYS]
        return in_step(st.birthday[i], first_day(t, days, 360), days, 360)
    if op == OP_SALARY:
        return paid(tb, st, i, t)
    if op == OP_RESPONDED:
        last = int(st.last_resp[i, a])
        if last == -32768:
            return False
        if tb.prog_i[PI_B, pc] == 1:
            return last == t - 1 and tb.prog_v[PF_X, pc] >= 1.0
        return t - last <= tb.prog_v[PF_X, pc]
    if op == OP_HOLDS:
        return st.hold_amt[i, a] > 0.0
    return False


@block_kernel
def atom_rows(
    tb: Tables,
    st: State,
    lo: int,
    n: int,
    t: int,
    pc: int,
    rk: np.uint64,
    ints: np.ndarray,
    bits: np.ndarray,
    cutoffs: np.ndarray,
    here: np.ndarray,
    out: np.ndarray,
    negate: bool,
) -> int:
    """``atom_block`` for the atoms without a loop of their own there (a list of numbers or
    codes, a response): row by row, each as ``atom`` reads it, expression for expression. Not
    ``atom`` itself: a call per row cost 6% of the throughput, and an inlined copy of the whole
    interpreter cost a sixth of the first run's compile (issue 14 §6), for three atoms."""
    op = tb.prog_i[PI_OP, pc]
    a = tb.prog_i[PI_A, pc]
    held = 0
    if op in (OP_IN_NUMBERS, OP_IN_CODES):  # one copy of ``attribute`` for both
        numbers = op == OP_IN_NUMBERS
        start = codes = tb.prog_i[PI_B, pc]  # where the list's numbers start, or the codes' bits
        stop = start + tb.prog_i[PI_C, pc]
        for k in range(n):
            on = False
            if here[k]:
                value = attribute(tb, st, lo + k, t, a)
                if numbers:
                    for j in range(start, stop):
                        if value == tb.in_values[j]:
                            on = True
                            break
                else:
                    on = (codes >> int(value)) & 1 == 1
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif op == OP_RESPONDED:
        event, within = tb.prog_i[PI_B, pc] == 1, tb.prog_v[PF_X, pc]
        for k in range(n):
            last = int(st.last_resp[lo + k, a])
            if last == -32768:
                on = False
            elif event:
                on = last == t - 1 and within >= 1.0
            else:
                on = t - last <= within
            out[k] = here[k] & (on != negate)
            held += out[k]
    else:  # any other atom: row by row through the interpreter
        for k in range(n):
            on = False
            if here[k]:
                tier, rfm = ints[R_TIER, k], ints[R_RFM, k]
                segbits, trigbits = bits[B_SEGMENTS, k], bits[B_TRIGGERS, k]
                on = atom(tb, st, lo + k, t, pc, rk, tier, rfm, segbits, trigbits, cutoffs)
            out[k] = here[k] & (on != negate)
            held += out[k]
    return held


@block_kernel
def atom_block(
    tb: Tables,
    st: State,
    lo: int,
    n: int,
    t: int,
    pc: int,
    rk: np.uint64,
    ints: np.ndarray,
    bits: np.ndarray,
    cutoffs: np.ndarray,
    here: np.ndarray,
    out: np.ndarray,
    negate: bool,
) -> int:
    """Atom ``pc`` (negated if ``negate``) for the rows lo + k where ``here[k]``, into
    ``out[k]`` (False elsewhere); returns how many hold. The common atoms loop on their own,
    the others go through ``atom`` row by row."""
    op = tb.prog_i[PI_OP, pc]
    a = tb.prog_i[PI_A, pc]
    held = 0
    if op in (OP_SEGMENT, OP_TRIGGER):
        row = bits[B_SEGMENTS if op == OP_SEGMENT else B_TRIGGERS]
        shift = np.uint64(a)
        for k in range(n):
            out[k] = here[k] & (((row[k] >> shift) & np.uint64(1) == np.uint64(1)) != negate)
            held += out[k]
    elif op == OP_FLAG:
        shift = np.uint32(a)
        for k in range(n):
            on = (st.flags[lo + k] >> shift) & np.uint32(1) == np.uint32(1)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif op == OP_TIER:
        for k in range(n):
            out[k] = here[k] & ((ints[R_TIER, k] == a) != negate)
            held += out[k]
    elif op == OP_RFM:
        for k in range(n):
            out[k] = here[k] & ((ints[R_RFM, k] == a) != negate)
            held += out[k]
    elif op == OP_MATURES:
        shift = np.uint32(a)
        for k in range(n):
            on = (st.matured[lo + k] >> shift) & np.uint32(1) == np.uint32(1)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif op == OP_HOLDS:
        for k in range(n):
            out[k] = here[k] & ((st.hold_amt[lo + k, a] > 0.0) != negate)
            held += out[k]
    elif op == OP_EVERY:
        due = (t % a == 0) != negate
        for k in range(n):
            out[k] = here[k] & due
            held += out[k]
    elif op == OP_INACTIVE:
        steps, event = tb.prog_v[PF_X, pc], tb.prog_i[PI_B, pc] == 1
        for k in range(n):
            idle = t - int(st.last_txn[lo + k])
            on = idle >= steps and (not event or idle - 1 < steps)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif op == OP_ENTERED:
        within, event = tb.prog_v[PF_X, pc], tb.prog_i[PI_B, pc] == 1
        for k in range(n):
            since = t - int(st.stage_since[lo + k])
            on = st.stage[lo + k] == a and (since == 0 if event else since <= within)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif op == OP_MODEL_TOP:  # drawn for every row, without a branch: in vector registers
        slot = tb.prog_i[PI_B, pc]
        for k in range(n):
            out[k] = here[k] & (model_top(st, lo + k, t, rk, a, cutoffs, slot) != negate)
            held += out[k]
    elif op == OP_BIRTHDAY:
        days = tb.sc_i[SC_STEP_DAYS]
        first = first_day(t, days, 360)
        for k in range(n):
            out[k] = here[k] & (in_step(st.birthday[lo + k], first, days, 360) != negate)
            held += out[k]
    elif op == OP_SALARY:  # ``paid`` for every row, without a branch
        bit = tb.sc_i[SC_PAYROLL_BIT]
        days = tb.sc_i[SC_STEP_DAYS]
        first = first_day(t, days, 30)
        if bit < 0:
            for k in range(n):
                out[k] = here[k] & negate
                held += out[k]
        else:
            shift = np.uint32(bit)
            for k in range(n):
                payroll = (st.flags[lo + k] >> shift) & np.uint32(1) == np.uint32(1)
                on = payroll & in_step(st.payday[lo + k], first, days, 30)
                out[k] = here[k] & (on != negate)
                held += out[k]
    elif op == OP_AUM_CHANGE:  # for every row, without a branch
        ring = tb.sc_i[SC_AUM_RING_LEN]
        slot = (t - tb.prog_i[PI_B, pc]) % ring
        share = tb.prog_v[PF_X, pc]
        for k in range(n):
            on = aum_changed(st.aum[lo + k], float(st.aum_ring[lo + k, slot]), a, share)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif op == OP_FLOW:
        ring, count = tb.sc_i[SC_FLOW_RING_LEN], tb.prog_i[PI_C, pc]
        now = t % ring
        outcome = outcomes_of(tb.prog_i[PI_B, pc])
        below, equal, above, unordered = outcome
        x = tb.prog_v[PF_X, pc]
        if count == 1:  # the flow of this step alone (`within 1 month`, monthly): no loop
            sign = -1.0 if a == 0 else 1.0
            if ring == 1:  # the only flow kept: one contiguous column, in vector registers
                column = st.flow_ring.reshape(st.flow_ring.size)
                return flow_column(column, lo, n, sign, x, outcome, here, out, negate)
            column = st.flow_ring[:, now]
            return flow_column(column, lo, n, sign, x, outcome, here, out, negate)
        for k in range(n):  # for every row, without a branch
            total = flow_total(st.flow_ring, lo + k, now, ring, count, a)
            on = compare_flat(total, x, below, equal, above, unordered)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif op in (OP_COMPARE, OP_RANGE):
        held = bounds_block(tb, st, lo, n, t, pc, here, out, negate)
    else:
        held = atom_rows(tb, st, lo, n, t, pc, rk, ints, bits, cutoffs, here, out, negate)
    return held


@block_kernel
def bounds_block(
    tb: Tables,
    st: State,
    lo: int,
    n: int,
    t: int,
    pc: int,
    here: np.ndarray,
    out: np.ndarray,
    negate: bool,
) -> int:
    """``atom_block`` for an attribute compared with a number (``aum >= 50万``) or a range
    (``aum in 45万 .. 50万``: low <= value < high): both as two bounds, the second always true
    for a comparison. Every row below n is read, without a branch, and the attribute's loop
    is chosen once per block, so that the loops run in vector registers; the values are
    ``attribute``'s, expression for expression."""
    code = tb.prog_i[PI_A, pc]
    x, y = tb.prog_v[PF_X, pc], tb.prog_v[PF_Y, pc]
    if tb.prog_i[PI_OP, pc] == OP_RANGE:
        b1, e1, a1, u1 = outcomes_of(3)  # value >= low
        b2, e2, a2, u2 = outcomes_of(0)  # value < high
    else:
        b1, e1, a1, u1 = outcomes_of(tb.prog_i[PI_B, pc])
        b2, e2, a2, u2 = True, True, True, True
    days = tb.sc_i[SC_STEP_DAYS]
    held = 0
    if code == ATTR_AUM:
        for k in range(n):
            value = st.aum[lo + k]
            on = compare_flat(value, x, b1, e1, a1, u1) & compare_flat(value, y, b2, e2, a2, u2)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif code == ATTR_AGE:
        years = (t * days) / 360.0
        for k in range(n):
            value = float(st.age0[lo + k]) + years
            on = compare_flat(value, x, b1, e1, a1, u1) & compare_flat(value, y, b2, e2, a2, u2)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif code == ATTR_RISK:
        for k in range(n):
            value = float(st.risk[lo + k])
            on = compare_flat(value, x, b1, e1, a1, u1) & compare_flat(value, y, b2, e2, a2, u2)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif code == ATTR_MONTHS_SINCE_TXN:
        for k in range(n):
            value = ((t - int(st.last_txn[lo + k])) * days) / 30.0
            on = compare_flat(value, x, b1, e1, a1, u1) & compare_flat(value, y, b2, e2, a2, u2)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif code == ATTR_TXN_3M and tb.sc_i[SC_TXN_RING_LEN] == 3:  # monthly steps: unrolled
        for k in range(n):
            i = lo + k
            total = int(st.txn_ring[i, 0]) + int(st.txn_ring[i, 1]) + int(st.txn_ring[i, 2])
            value = float(total)
            on = compare_flat(value, x, b1, e1, a1, u1) & compare_flat(value, y, b2, e2, a2, u2)
            out[k] = here[k] & (on != negate)
            held += out[k]
    elif code == ATTR_TXN_3M:
        length = tb.sc_i[SC_TXN_RING_LEN]
        for k in range(n):
            total = 0
            for j in range(length):
                total += int(st.txn_ring[lo + k, j])
            value = float(total)
            on = compare_flat(value, x, b1, e1, a1, u1) & compare_flat(value, y, b2, e2, a2, u2)
            out[k] = here[k] & (on != negate)
            held += out[k]
    else:
        for k in range(n):
            value = attribute(tb, st, lo + k, t, code)
            on = compare_flat(value, x, b1, e1, a1, u1) & compare_flat(value, y, b2, e2, a2, u2)
            out[k] = here[k] & (on != negate)
            held += out[k]
    return held


@block_kernel
def evaluate_block(
    tb: Tables,
    st: State,
    lo: int,
    n: int,
    t: int,
    entry: int,
    rk: np.uint64,
    ints: np.ndarray,
    bits: np.ndarray,
    cutoffs: np.ndarray,
    mask: np.ndarray,
    out: np.ndarray,
) -> int:
    """Run the program from ``entry`` for the rows lo + k, k < n, where ``mask[k]`` (bool),
    writing ``out[k]`` (bool); returns how many hold. The facts already known per row are
    ``ints[R_TIER | R_RFM, k]`` (int64) and ``bits[B_SEGMENTS | B_TRIGGERS, k]`` (uint64).

    The first atom runs as one loop over the block (most conditions are one atom: a segment,
    a trigger, a flag); the rows its jumps send on through the program are interpreted one by
    one, short-circuiting."""
    held = 0
    if entry < 0:
        always = entry == TRUE
        for k in range(n):
            out[k] = mask[k] & always
            held += out[k]
        return held
    yes, no = tb.prog_i[PI_T, entry], tb.prog_i[PI_F, entry]
    one_atom = yes < 0 and no < 0  # TRUE/FALSE or, negated, FALSE/TRUE
    # ``negate`` is always a computed bool: a literal False would be typed Literal[bool] and
    # compile a second copy of atom_block and its callees (20 s of the first run's compile).
    negate = one_atom and yes == FALSE
    held = atom_block(tb, st, lo, n, t, entry, rk, ints, bits, cutoffs, mask, out, negate)
    if one_atom:
        return held
    going = 0
    for k in range(n):
        going += mask[k] & ((yes >= 0) if out[k] else (no >= 0))
    if going * SPARSE < n or entry - tb.prog_i[PI_FIRST, entry] >= WALK_SPAN:
        return follow_rows(tb, st, lo, n, t, entry, rk, ints, bits, cutoffs, mask, out)
    return _walk_block(tb, st, lo, n, t, entry, rk, ints, bits, cutoffs, mask, out)


@njit(cache=True, inline="always")
def walk_code(entry: int, target: int) -> int:
    """Where a jump to ``target`` leaves a row in ``walk_block``: the instruction's distance
    below ``entry``, or WALK_TRUE / WALK_FALSE once the evaluation has ended."""
    if target == TRUE:
        return WALK_TRUE
    if target < 0:
        return WALK_FALSE
    return entry - target


@njit(cache=True, inline="always")
def walk_bit(code: int) -> np.uint64:
    if code < WALK_SPAN:
        return np.uint64(1) << np.uint64(code)
    return np.uint64(0)


@block_kernel
def walk_block(
    tb: Tables,
    st: State,
    lo: int,
    n: int,
    t: int,
    entry: int,
    rk: np.uint64,
    ints: np.ndarray,
    bits: np.ndarray,
    cutoffs: np.ndarray,
    mask: np.ndarray,
    out: np.ndarray,
) -> int:
    """After the entry atom ran for the block (``out``), the rest of the program one atom at a
    time for all the rows it reaches: as the jumps go to lower instructions, taking them in
    decreasing order evaluates each row's atoms in the order ``follow_rows`` would, each as
    one pass over the block (``atom_block``) rather than one interpreted atom per row."""
    size = ints.shape[1]
    scratch = ints[R_WALK].view(np.uint8)
    where = scratch[:size]
    here = scratch[size : 2 * size].view(np.bool_)
    hits = scratch[2 * size : 3 * size].view(np.bool_)
    yes = walk_code(entry, tb.prog_i[PI_T, entry])
    no = walk_code(entry, tb.prog_i[PI_F, entry])
    for k in range(n):
        where[k] = (yes if out[k] else no) if mask[k] else WALK_FALSE
    reached = walk_bit(yes) | walk_bit(no)
    gap = 1
    negate = gap < 0  # False, computed: see evaluate_block
    while reached != np.uint64(0):
        bit = np.uint64(1) << np.uint64(gap)
        if reached & bit != np.uint64(0):
            reached ^= bit
            for k in range(n):
                here[k] = where[k] == gap
            pc = entry - gap
            atom_block(tb, st, lo, n, t, pc, rk, ints, bits, cutoffs, here, hits, negate)
            yes, no = walk_code(entry, tb.prog_i[PI_T, pc]), walk_code(entry, tb.prog_i[PI_F, pc])
            for k in range(n):
                where[k] = (yes if hits[k] else no) if here[k] else where[k]
            reached |= walk_bit(yes) | walk_bit(no)
        gap += 1
    held = 0
    for k in range(n):
        out[k] = where[k] == WALK_TRUE
        held += out[k]
    return held


# Inlined into ``evaluate_block``, its only caller: as a kernel of its own, its library linked
# ``atom_block`` and all under it, and optimised and compiled them to machine code once more
# than ``evaluate_block`` does anyway (about 2 s of the first run's compile, issue 14 §6).
_walk_block = inlined(walk_block)


@njit(cache=True, inline="always")
def holds_at(
    tb: Tables,
    st: State,
    lo: int,
    k: int,
    t: int,
    entry: int,
    rk: np.uint64,
    ints: np.ndarray,
    bits: np.ndarray,
    cutoffs: np.ndarray,
) -> bool:
    """The program from ``entry`` for the one row lo + k, atom by atom, short-circuiting: for
    the few rows a sparse pool leaves, cheaper than a pass over the block."""
    if entry < 0:
        return entry == TRUE
    i = lo + k
    tier, rfm = ints[R_TIER, k], ints[R_RFM, k]
    segbits, trigbits = bits[B_SEGMENTS, k], bits[B_TRIGGERS, k]
    pc = entry
    while pc >= 0:
        if atom(tb, st, i, t, pc, rk, tier, rfm, segbits, trigbits, cutoffs):
            pc = tb.prog_i[PI_T, pc]
        else:
            pc = tb.prog_i[PI_F, pc]
    return pc == TRUE


@block_kernel
def follow_rows(
    tb: Tables,
    st: State,
    lo: int,
    n: int,
    t: int,
    entry: int,
    rk: np.uint64,
    ints: np.ndarray,
    bits: np.ndarray,
    cutoffs: np.ndarray,
    mask: np.ndarray,
    out: np.ndarray,
) -> int:
    """After the entry atom ran for the block (``out``), each row of ``mask`` follows its jump
    through the rest of the program, one atom at a time."""
    held = 0
    yes, no = tb.prog_i[PI_T, entry], tb.prog_i[PI_F, entry]
    for k in range(n):
        if not mask[k]:
            continue
        pc = yes if out[k] else no
        if pc >= 0:
            i = lo + k
            tier, rfm = ints[R_TIER, k], ints[R_RFM, k]
            segbits, trigbits = bits[B_SEGMENTS, k], bits[B_TRIGGERS, k]
            while pc >= 0:
                if atom(tb, st, i, t, pc, rk, tier, rfm, segbits, trigbits, cutoffs):
                    pc = tb.prog_i[PI_T, pc]
                else:
                    pc = tb.prog_i[PI_F, pc]
        out[k] = pc == TRUE
        held += out[k]
    return held
