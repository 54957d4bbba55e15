"""The kernel side's shared pieces: the tables tuple the kernels read, index constants, and
small helpers (rings of contact steps, tiers, money in fen) used by every kernel module.

The kernels are split by phase of the step (docs/simulation.md):

* ``simulator.kernels.population`` — synthesise customers (step 0 and arrivals);
* ``simulator.kernels.baseline`` — market, flows, transactions, maturity, lifecycle, model scores;
* ``simulator.kernels.decide`` — triggers, segments, candidates, eligibility, holdouts,
  arbitration per customer; the keys of proposals competing for capacity and budget;
* ``simulator.kernels.apply`` — capacity and budget cuts, contact, reach, response, purchase,
  effects, NPS and accounting.

Every phase runs over blocks of ``BLOCK`` customers (rows): ``on_threads`` hands each thread a
contiguous range of blocks, which a ``thread_kernel`` (compiled without reference counting,
releasing the GIL) runs block by block; each block writes integer counters of its own, which
the driver sums: integer sums do not depend on the order, so threads and shards give the same
bits. Money is counted in fen (int64). Conditions are
evaluated one condition at a time for a whole block (``kernels.predicates.evaluate_block``).
"""

from __future__ import annotations

import functools
import math
from collections import namedtuple
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from simulator.kernels.rng import (
    POISSON_TERMS,
    nb_exp,
    nb_inv_normal,
    nb_poisson,
    nb_poisson_sums,
    nb_poisson_tabled,
)
from simulator.output import FUNNEL_FIELDS, UNSERVED_KINDS
from strategy_dsl.compile import (
    FAM_CONSTANT,
    FAM_LOGNORMAL,
    FAM_NORMAL,
    FAM_UNIFORM,
    NEVER_STEP,
    CompiledStrategy,
)

BLOCK = 2048  # customers per block: the unit of parallel work and of partial counters

# The per-block functions run without Numba's reference counting (``_nrt=False``): they never
# allocate (their parallel wrappers hand them scratch arrays), and with counting on, every read
# of an array from the table or state tuples was an atomic increment and decrement of a count
# all threads share, a hundred times slower than the work itself and no faster on two threads.
block_kernel = njit(cache=True, _nrt=False)

# A phase's driver: one call per thread runs a range of blocks, on scratch the thread's Python
# caller allocated, with the GIL released (``on_threads``). These replaced ``prange`` loops:
# Numba's parallel lowering compiled the loop body as a gufunc and optimised every kernel a
# phase calls twice more (in the gufunc's module, then in the wrapper's), about half of the
# first run's compile time. A phase's work on one block is written in its driver's loop over
# blocks, so that it is compiled and optimised once: it was a block kernel inlined into the
# driver, but Numba inlines by deep-copying the callee's IR one basic block at a time, each
# copy taking the whole variable scope with it (quadratic in the kernel's size), and the four
# phases' inlinings were 12 s of the first run's compile (issue 14 §6).
thread_kernel = njit(cache=True, nogil=True, _nrt=False)


def inlined(kernel: Callable) -> Callable:
    """A copy of the small kernel ``kernel`` that Numba inlines into its one caller in a run."""
    return njit(inline="always")(kernel.py_func)


def blocks_of(rows: int) -> int:
    return (rows + BLOCK - 1) // BLOCK


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="stratmap-blocks")


def on_threads(run_blocks: Callable[[int, int], None], blocks: int, threads: int = 0) -> None:
    """``run_blocks(b0, b1)`` for contiguous ranges of ``blocks`` blocks, one range per thread
    (``threads``, else Numba's thread count, as ``numba.set_num_threads`` left it), at once:
    ``run_blocks`` calls a ``thread_kernel``, which releases the GIL."""
    threads = max(1, min(threads or numba.get_num_threads(), blocks))
    if threads == 1:
        run_blocks(0, blocks)
        return
    bounds = [blocks * s // threads for s in range(threads + 1)]
    pool = _pool(threads)
    for done in [pool.submit(run_blocks, bounds[s], bounds[s + 1]) for s in range(threads)]:
        done.result()


# Funnel field indices (simulator.output.FUNNEL_FIELDS).
F = {name: i for i, name in enumerate(FUNNEL_FIELDS)}
F_ELIGIBLE, F_HOLDOUT = F["eligible"], F["holdout"]
F_SUITABILITY, F_HELD, F_CHANNEL = (
    F["suppressed_suitability"],
    F["suppressed_held"],
    F["suppressed_channel"],
)
F_COOLDOWN, F_CAP, F_ARBITRATION = (
    F["suppressed_cooldown"],
    F["suppressed_cap"],
    F["suppressed_arbitration"],
)
F_CAPACITY, F_BUDGET = F["suppressed_capacity"], F["suppressed_budget"]
F_CONTACTED, F_REACHED, F_RESPONDED = F["contacted"], F["reached"], F["responded"]
F_COST, F_REVENUE, F_INFLOW = F["cost_fen"], F["revenue_fen"], F["inflow_fen"]
N_FUNNEL = len(FUNNEL_FIELDS)
U_NO_PLAY, U_NEVER_SERVED = UNSERVED_KINDS.index("no_play"), UNSERVED_KINDS.index("never_served")

# Scratch rows of a block (allocated by the parallel wrappers, one set per block): facts per
# customer as int64 (``ints``), as bit sets (``bits``, uint64) and as flags (``flags``, bool).
# Row R_WALK is scratch of ``kernels.predicates.walk_block``, which reads it as bytes: where each
# row is in a condition's program, and two bool masks. Rows R_MEMBERS and R_DUE list the rows
# (k) of a block in a journey and those whose wave is due (``kernels.decide.audience``).
R_TIER, R_RFM, R_JOURNEYS, R_WALK, R_MEMBERS, R_DUE, N_INTS = 0, 1, 2, 3, 4, 5, 6
B_SEGMENTS, B_TRIGGERS, B_CANDIDATES, B_CHANNELS, B_MODIFIERS, N_BITS = 0, 1, 2, 3, 4, 5
L_LIVE, L_MASK, L_HOLDS, N_FLAGS = 0, 1, 2, 3

# Per-arm totals per step (``misc`` counters), beside the funnel.
M_AUM, M_PROMOTERS, M_DETRACTORS, M_REVENUE, M_COST = 0, 1, 2, 3, 4
M_FEES, M_RESPONDERS, M_PRODUCTS, M_CROSS_SOLD, M_CHURNED, M_ACQUIRED = 5, 6, 7, 8, 9, 10
M_BOOK_REVENUE = 11  # revenue on the book's balances (part of M_REVENUE)
M_BOOK_BY_STAGE = 12  # + stage: the same by the customer's lifecycle stage (value beyond)
N_MISC = 12 + 6

# Play status codes, for traces (per play and step).
S_NONE, S_SUITABILITY, S_HELD, S_CHANNEL, S_COOLDOWN, S_CAP = 0, 1, 2, 3, 4, 5
S_HOLDOUT, S_CONTROL, S_ARBITRATION, S_WINNER = 6, 7, 8, 9
S_BUDGET, S_CAPACITY, S_CONTACTED, S_REACHED, S_RESPONDED = 10, 11, 12, 13, 14
STATUS_NAMES = (
    None,
    "suitability",
    "held",
    "channel",
    "cooldown",
    "cap",
    "holdout",
    "control",
    "arbitration",
    "winner",
    "budget",
    "capacity",
    "contacted",
    "reached",
    "responded",
)
# A suppression status in the words results, lists and personas use (`suppressed PLAY by
# REASON`; docs/results.md, `suppression`): one table for decide's list and the personas.
REASON_OF_STATUS: dict[int, str] = {
    S_SUITABILITY: "suitability",
    S_HELD: "held",
    S_CHANNEL: "requires",
    S_COOLDOWN: "cooldown",
    S_CAP: "cap",
    S_HOLDOUT: "holdout",
    S_CONTROL: "control",
    S_ARBITRATION: "priority",
    S_BUDGET: "budget",
    S_CAPACITY: "capacity",
}

# Trace buffer layout: one traced row per run; the kernels fill these while i == trace_row.
TR_STAGE_BEFORE, TR_STAGE, TR_TXN, TR_MATURED, TR_TRIGGERS, TR_SEGMENTS = 0, 1, 2, 3, 4, 5
TR_TIER, TR_RFM, TR_ARM, TR_ALIVE, TR_JOURNEYS = 6, 7, 8, 9, 10
TR_PLAYS = 16  # + play: status code
TRF_AUM_START, TRF_FLOW, TRF_AUM_BASELINE, TRF_AUM_END, TRF_PROMOTER, TRF_DETRACTOR = range(6)
TRACE_INTS, TRACE_FLOATS = 16 + 64, 16 + 64

NEVER = np.int16(NEVER_STEP)
NO_MATURITY = 32767  # a holding that never matures

# The tables tuple. Numba passes at most 100 fields into a parallel region, so columns of one
# entity are packed as rows of a 2-D array, named by the constants below: ``tb.play_i[PL_CHANNEL,
# p]`` is the channel of play p. Scalars are ``tb.sc_i[SC_*]`` and ``tb.sc_f[SCF_*]``.
PI_OP, PI_A, PI_B, PI_C, PI_T, PI_F, PI_FIRST = range(7)  # prog_i
PF_X, PF_Y = range(2)  # prog_v
(
    PL_KIND,
    PL_GROUP,
    PL_PRODUCT,
    PL_CHANNEL,
    PL_COOLDOWN,
    PL_WHEN,
    PL_ON,
    PL_JOURNEY,
    PL_AFTER,
    PL_EFFECT_START,
    PL_EFFECT_COUNT,
    PL_ORDER,
) = range(12)  # play_i
PLF_PRIORITY, PLF_LIFT, PLF_RESPONSE, PLF_VALUE_REVENUE = range(4)  # play_f
JO_ENTRY, JO_LAST_AFTER, JO_STOP, JO_GROUP = range(4)  # journey_i
CH_COST_FEN, CH_REQUIRES = range(2)  # chan_i
CHF_CAPACITY, CHF_REACH, CHF_COMPLAINT, CHF_OPT_OUT = range(4)  # chan_f
# Columns of the per-channel counters (``chan``, per channel and arm): contacts made, complaints
# (营销扰民) and opt-outs (退订) they brought.
CC_CONTACTS, CC_COMPLAINTS, CC_OPT_OUTS, N_CHANNEL_COUNTS = range(4)
PR_RISK, PR_TENOR, PR_INFLOW_FAMILY, PR_HELD_FAMILY = range(4)  # prod_i
(PRF_MIN, PRF_MARGIN, PRF_FEE, PRF_INFLOW_P1, PRF_INFLOW_P2, PRF_HELD_P1, PRF_HELD_P2,
 PRF_BUY_SHARE, PRF_BUY_CAP, PRF_SWITCHING) = range(10)  # fmt: skip
CP_SCOPE, CP_INDEX, CP_COUNT, CP_OFFSET = range(4)  # cap_i
NP_GROUP, NP_PER_CONTACT = range(2)  # nps_i
NPF_DELTA, NPF_STEPS = range(2)  # nps_f
MO_KIND, MO_TARGET, MO_WINDOW = range(3)  # model_i
AT_TARGET, AT_SLOT, AT_FAMILY, AT_CS, AT_CN = range(5)  # attr_i
ATF_P1, ATF_P2, ATF_LO, ATF_HI = range(4)  # attr_f
SC_STEP_DAYS, SC_RECENT_OFFSET, SC_RECENT_LEN, SC_RING_LEN = range(0, 4)
SC_ARBITRATE, SC_HAS_NPS, SC_PAYROLL_BIT, SC_N_FLAGS = range(4, 8)
SC_N_NUMBERS, SC_N_CATEGORIES, SC_HAS_TENURE, SC_HAS_RECENCY = range(8, 12)
SC_RET_FAMILY, SC_FLOW_FAMILY, SC_AUM_RING_LEN, SC_FLOW_RING_LEN = range(12, 16)
SC_TXN_RING_LEN, SC_MAX_PROGRAM = 16, 17
# Triggers fired by decree (bits, as int64): persona tests set it (`event TRIGGER`, see
# simulator.analysis.personas); compiled strategies carry 0, so simulations are unchanged.
SC_FORCED_TRIGGERS = 18
# The effects a complaint starts (`… for 3 months after complaint`): eff_* from this index on.
SC_COMPLAINT_EFFECT_START, SC_COMPLAINT_EFFECT_COUNT = 19, 20
SCF_FATIGUE_RATE, SCF_FATIGUE_WINDOW, SCF_CONTROL_SHARE, SCF_NPS_PROMOTERS = range(0, 4)
SCF_NPS_DETRACTORS, SCF_MEAN_PROPENSITY, SCF_RET_MEAN, SCF_RET_SD = range(4, 8)
SCF_FLOW_MEAN, SCF_FLOW_SD = range(8, 10)
PACKED: dict[str, tuple[str, ...]] = {
    "prog_i": ("prog_op", "prog_a", "prog_b", "prog_c", "prog_t", "prog_f", "prog_first"),
    "prog_v": ("prog_x", "prog_y"),
    "play_i": (
        "play_kind",
        "play_group",
        "play_product",
        "play_channel",
        "play_cooldown",
        "play_when",
        "play_on",
        "play_journey",
        "play_after",
        "play_effect_start",
        "play_effect_count",
        "play_order",
    ),
    "play_f": ("play_priority", "play_lift", "play_response", "play_value_revenue"),
    "journey_i": ("journey_entry", "journey_last_after", "journey_stop", "journey_group"),
    "chan_i": ("chan_cost_fen", "chan_requires"),
    "chan_f": ("chan_capacity", "chan_reach", "chan_complaint", "chan_opt_out"),
    "prod_i": ("prod_risk", "prod_tenor", "prod_inflow_family", "prod_held_family"),
    "prod_f": (
        "prod_min",
        "prod_margin",
        "prod_fee",
        "prod_inflow_p1",
        "prod_inflow_p2",
        "prod_held_p1",
        "prod_held_p2",
        "prod_buy_share",
        "prod_buy_cap",
        "prod_switching",
    ),
    "cap_i": ("cap_scope", "cap_index", "cap_count", "cap_offset"),
    "nps_i": ("nps_group", "nps_per_contact"),
    "nps_f": ("nps_delta", "nps_steps"),
    "model_i": ("model_kind", "model_target", "model_window"),
    "attr_i": ("attr_target", "attr_slot", "attr_family", "attr_cs", "attr_cn"),
    "attr_f": ("attr_p1", "attr_p2", "attr_lo", "attr_hi"),
    "sc_i": (
        "step_days",
        "recent_offset",
        "recent_len",
        "ring_len",
        "arbitrate",
        "has_nps",
        "payroll_bit",
        "n_flags",
        "n_numbers",
        "n_categories",
        "has_tenure",
        "has_recency",
        "ret_family",
        "flow_family",
        "aum_ring_len",
        "flow_ring_len",
        "txn_ring_len",
        "max_program",
        "forced_triggers",
        "complaint_effect_start",
        "complaint_effect_count",
    ),
    "sc_f": (
        "fatigue_rate",
        "fatigue_window",
        "control_share",
        "nps_promoters",
        "nps_detractors",
        "mean_propensity",
        "ret_mean",
        "ret_sd",
        "flow_mean",
        "flow_sd",
    ),
}
PLAIN = (
    "in_values",
    "trans_p",
    "trans_targets",
    "trans_single",
    "txn_stage_factor",
    "leave_p",
    "drawn_col",
    "drawn_a",
    "drawn_b",
    "mod_pred",
    "mod_factor",
    "mod_mask",
    "det_factor",
    "det_mask",
    "rfm_pred",
    "seg_pred",
    "seg_order",
    "trig_pred",
    "tier_low",
    "book_rate",
    "book_share",
    "held_share",
    "eff_factor",
    "eff_steps",
    "eff_mask",
    "group_holdout",
    "cap_window",
    "model_d",
    "cat_cum",
    "cat_code",
)
FLOAT_FIELDS = ("prog_v", "play_f", "chan_f", "prod_f", "nps_f", "attr_f", "sc_f")
Tables = namedtuple("Tables", [*PLAIN, *PACKED])


def make_tables(compiled: CompiledStrategy) -> Tables:
    """The kernels' view of ``compiled``: arrays of fixed dtypes (int64 and float64), so that
    every strategy hits the same compiled, disk-cached kernels."""
    values: dict[str, np.ndarray] = {}
    for name in PLAIN:
        values[name] = np.ascontiguousarray(compiled.arrays[name])
    for field, names in PACKED.items():
        dtype = np.float64 if field in FLOAT_FIELDS else np.int64
        if field.startswith("sc_"):
            rows = [compiled.scalars[name] for name in names]
            values[field] = np.asarray(rows, dtype=dtype)
        else:
            rows = [compiled.arrays[name] for name in names]
            values[field] = np.ascontiguousarray(np.stack(rows).astype(dtype, copy=False))
    return Tables(**values)


# ------------------------------------------------------------------------------ helpers


@njit(cache=True, inline="always")
def fen(amount: float) -> int:
    """Money → whole fen, rounding half up (amounts here are never negative)."""
    return math.floor(amount * 100.0 + 0.5)


@njit(cache=True, inline="always")
def money_draw(family: int, p1: float, p2: float, u: float) -> float:
    """An amount from a product's `inflow` or `holding` distribution at uniform ``u`` (0 for
    none)."""
    if family == FAM_CONSTANT:
        return p1
    if family == FAM_NORMAL:
        return p1 + p2 * nb_inv_normal(u)
    if family == FAM_LOGNORMAL:
        return p1 * nb_exp(p2 * nb_inv_normal(u))
    if family == FAM_UNIFORM:
        return p1 + (p2 - p1) * u
    return 0.0


@njit(cache=True, inline="always")
def tier_of(tb: Tables, aum: float) -> int:
    """The tier whose [low, next low) holds ``aum`` (tiers are sorted by AUM)."""
    k = 0
    for j in range(1, tb.tier_low.size):  # sorted: the count of lows reached, without a branch
        k += aum >= tb.tier_low[j]
    return k


@njit(cache=True, inline="always")
def count_within(ring: np.ndarray, i: int, start: int, length: int, t: int, window: float) -> int:
    """Entries of a ring of contact steps with t - step < window (the window ending now)."""
    n = 0
    for k in range(start, start + length):
        if t - int(ring[i, k]) < window:
            n += 1
    return n


@njit(cache=True, inline="always")
def ring_insert(ring: np.ndarray, i: int, start: int, length: int, t: int) -> None:
    """Record a contact at step t over the oldest entry."""
    oldest = start
    for k in range(start + 1, start + length):
        if ring[i, k] < ring[i, oldest]:
            oldest = k
    ring[i, oldest] = t


@njit(cache=True, inline="always")
def cap_applies(tb: Tables, c: int, play: int, channel: int) -> bool:
    scope = tb.cap_i[CP_SCOPE, c]
    if scope == 0:
        return True
    if scope == 1:
        return tb.cap_i[CP_INDEX, c] == channel
    return tb.cap_i[CP_INDEX, c] == play


@njit(cache=True, inline="always")
def fatigue_factor(tb: Tables, earlier: int) -> float:
    """Response multiplier after ``earlier`` contacts in the fatigue window."""
    if tb.sc_f[SCF_FATIGUE_RATE] <= 0.0:
        return 1.0
    return max(0.0, 1.0 - tb.sc_f[SCF_FATIGUE_RATE] * earlier)


@njit(cache=True, inline="always")
def response_chance(tb: Tables, play: int, propensity: float, earlier: int) -> float:
    """p = base response × propensity / mean propensity × script lift × fatigue, at most 1."""
    ratio = propensity / tb.sc_f[SCF_MEAN_PROPENSITY] if tb.sc_f[SCF_MEAN_PROPENSITY] > 0.0 else 1.0
    p = (
        tb.play_f[PLF_RESPONSE, play]
        * ratio
        * tb.play_f[PLF_LIFT, play]
        * fatigue_factor(tb, earlier)
    )
    return min(max(p, 0.0), 1.0)


@njit(cache=True, inline="always")
def earlier_contacts(tb: Tables, ring: np.ndarray, i: int, t: int) -> int:
    if tb.sc_i[SC_RECENT_LEN] == 0 or tb.sc_f[SCF_FATIGUE_RATE] <= 0.0:
        return 0
    return count_within(
        ring, i, tb.sc_i[SC_RECENT_OFFSET], tb.sc_i[SC_RECENT_LEN], t, tb.sc_f[SCF_FATIGUE_WINDOW]
    )


@njit(cache=True, inline="always")
def proposal_value(tb: Tables, play: int, propensity: float, earlier: int) -> float:
    """The ordering key of a proposal: the play's priority, or (``arbitrate by value``) its
    expected value: P(reach) × P(response) × expected revenue − contact cost, in currency."""
    if tb.sc_i[SC_ARBITRATE] == 0:
        return tb.play_f[PLF_PRIORITY, play]
    channel = tb.play_i[PL_CHANNEL, play]
    p = tb.chan_f[CHF_REACH, channel] * response_chance(tb, play, propensity, earlier)
    return p * tb.play_f[PLF_VALUE_REVENUE, play] - tb.chan_i[CH_COST_FEN, channel] / 100.0


# Transaction rates drawn as whole numbers (`poisson(…)`, the common case) below this many a
# month read their Poisson running sums from a table built once per kernel call; others search.
TXN_RATES = 64


@njit(cache=True)
def transaction_sums(tb: Tables) -> np.ndarray:
    """``sums[r * stages + s]``: ``nb_poisson_sums`` of the transactions of a step for a
    customer with rate r a month in stage s — the mean worked out as ``draw_transactions``
    does, so every draw gives the same count."""
    stages = tb.txn_stage_factor.size
    sums = np.empty((TXN_RATES * stages, POISSON_TERMS))
    for r in range(TXN_RATES):
        for s in range(stages):
            rate = float(np.float32(r)) * tb.txn_stage_factor[s]
            nb_poisson_sums(rate * tb.sc_i[SC_STEP_DAYS] / 30.0, sums[r * stages + s])
    return sums


@njit(cache=True, inline="always")
def draw_transactions(
    tb: Tables, txn_sums: np.ndarray, u: float, monthly: float, stage: int
) -> int:
    """A step's transactions for a customer with ``monthly`` transactions a month in
    ``stage``, from uniform u: Poisson with the stage's factor, read from ``txn_sums``
    (``transaction_sums``) when the rate is a whole number below TXN_RATES."""
    lam = monthly * tb.txn_stage_factor[stage] * tb.sc_i[SC_STEP_DAYS] / 30.0
    whole = int(monthly) if 0.0 <= monthly < TXN_RATES else -1
    if whole >= 0 and float(whole) == monthly:
        return nb_poisson_tabled(u, lam, txn_sums[whole * tb.txn_stage_factor.size + stage])
    return nb_poisson(u, lam)
