"""The synthetic population: per-customer state as a struct of arrays, and the kernel that
draws customers from the `population` block, keyed by customer id.

A customer's attributes depend only on (replication key, customer id): a shard, an arrival or a
trace draws the same customer. Arrivals are drawn from the same distributions as the initial
population, then start in the arrival's stage at their arrival step.

``layout(tables)`` lists every per-customer field with its dtype and width; ``bytes_per_customer``
sums it (docs/simulation.md shows the table for the bundled strategies). Rows are allocated for
the initial population and grow as customers arrive; churned customers' rows are removed now
and then (``remove_rows``, called by ``simulator.engine.run``) and reused by later arrivals.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from numba import njit

from simulator.kernels.common import (
    AT_CN,
    AT_CS,
    AT_FAMILY,
    AT_SLOT,
    AT_TARGET,
    ATF_HI,
    ATF_LO,
    ATF_P1,
    ATF_P2,
    CHF_OPT_OUT,
    NO_MATURITY,
    PR_HELD_FAMILY,
    PR_TENOR,
    PRF_HELD_P1,
    PRF_HELD_P2,
    PRF_MIN,
    SC_AUM_RING_LEN,
    SC_FLOW_RING_LEN,
    SC_N_CATEGORIES,
    SC_N_NUMBERS,
    SC_RING_LEN,
    SC_STEP_DAYS,
    SC_TXN_RING_LEN,
    SCF_CONTROL_SHARE,
    Tables,
    block_kernel,
    draw_transactions,
    money_draw,
    on_threads,
    thread_kernel,
    tier_of,
    transaction_sums,
)
from simulator.kernels.rng import (
    POISSON_TERMS,
    SLOT_ATTRIBUTE,
    SLOT_BIRTHDAY,
    SLOT_CONTROL,
    SLOT_DRAWN_CHURN,
    SLOT_HOLDING,
    SLOT_PAST_TXN,
    SLOT_PAYDAY,
    SLOT_STAGE_AGE,
    STATIC_STEP,
    nb_beta,
    nb_customer_key,
    nb_draw,
    nb_exp,
    nb_gamma,
    nb_inv_normal,
    nb_inv_normal_central,
    nb_log,
    nb_poisson_sums,
    nb_poisson_tabled,
    nb_step_key,
    nb_to_uniform,
)
from strategy_dsl.compile import (
    ATTR_AGE,
    ATTR_AUM,
    ATTR_CATEGORY,
    ATTR_FLAG,
    ATTR_MONTHS_SINCE_TXN,
    ATTR_NUMBER,
    ATTR_PROPENSITY,
    ATTR_RISK,
    ATTR_STAGE,
    ATTR_TENURE,
    ATTR_TXN_PER_MONTH,
    FAM_BERNOULLI,
    FAM_BETA,
    FAM_CATEGORICAL,
    FAM_CONSTANT,
    FAM_GAMMA,
    FAM_LOGNORMAL,
    FAM_NORMAL,
    FAM_POISSON,
    FAM_UNIFORM,
    NEVER_STEP,
    STAGE_CHURNED,
)

BLOCK = 2048
STAGE_AGE_CAP = 10000  # steps: the longest history an initial customer is given
PAST_TXN_WALK = 24  # past steps whose transactions are drawn one by one (then geometric)

# (field, dtype, columns): columns is a table size name, or 1 for one value per customer.
FIELDS: tuple[tuple[str, type, str | int, str], ...] = (
    ("cid", np.int64, 1, "customer id"),
    ("alive", np.int8, 1, "1 active, 0 churned"),
    ("arm", np.int8, 1, "0 treatment, 1 global control"),
    ("stage", np.int8, 1, "lifecycle stage"),
    ("risk", np.int8, 1, "risk tolerance 1..5"),
    ("aum", np.float64, 1, "assets under management"),
    ("age0", np.float32, 1, "age at step 0 (age grows with t)"),
    ("propensity", np.float32, 1, "latent response propensity"),
    ("txn_rate", np.float32, 1, "transactions per month"),
    ("stage_since", np.int16, 1, "step the stage was entered"),
    ("acquired", np.int16, 1, "step of acquisition (tenure)"),
    ("last_txn", np.int16, 1, "step of the last transaction (recency)"),
    ("last_contact_any", np.int16, 1, "step of the last contact"),
    ("last_resp_any", np.int16, 1, "step of the last response"),
    ("flags", np.uint32, 1, "custom yes/no attributes (bits)"),
    ("birthday", np.int16, 1, "day of the 360-day year"),
    ("payday", np.int8, 1, "day of the 30-day month salary is credited"),
    ("matured", np.uint32, 1, "products matured this step (bits)"),
    ("cats", np.uint8, "n_categories", "custom categorical attributes"),
    ("nums", np.float32, "n_numbers", "custom numeric attributes"),
    ("hold_amt", np.float32, "products", "amount held per product (0: not held)"),
    ("hold_until", np.int16, "products", "maturity step per product"),
    ("hold_play", np.int8, "products", "play that sold the holding"),
    ("last_contact", np.int16, "plays", "last contact step per play (cooldown)"),
    ("last_resp", np.int16, "groups", "last response step per rule/journey"),
    ("journey_start", np.int16, "journeys", "entry step per journey"),
    ("ring", np.int16, "ring_len", "contact steps: one ring per cap, then recent contacts"),
    ("effect_until", np.int16, "effects", "last step each effect is active"),
    ("labels", np.uint8, 1, "model labels this step (bits)"),
    ("aum_ring", np.float32, "aum_ring_len", "AUM of past steps (aum drop/rise)"),
    ("flow_ring", np.float32, "flow_ring_len", "net flow of past steps (outflow/inflow)"),
    ("txn_ring", np.uint8, "txn_ring_len", "transactions of past steps (txn_3m)"),
    ("winners", np.uint64, 1, "scratch: plays the customer accepted this step (bits)"),
    ("segbits", np.uint64, 1, "scratch: segments this step (bits)"),
    ("cands", np.uint64, 1, "scratch: plays the customer was a candidate for this step (bits)"),
    ("chans", np.uint64, 1, "scratch: channels whose `requires` held this step (bits)"),
    ("elig", np.uint64, 1, "scratch: plays the customer was eligible for this step (bits)"),
    ("play_ever", np.uint64, 1, "plays the customer has ever been eligible for (bits)"),
    ("tier", np.int8, 1, "tier at the end of the last step counted (-1: none yet)"),
    ("churn_p", np.float32, "drawn", "own churn chance per step of each drawn stage"),
    ("dec", np.uint8, 1, "scratch: tier at decision | 128 if eligible for a play"),
    ("opted_out", np.uint64, "opt_out_words", "channels the customer withdrew consent for (bits)"),
)
State = namedtuple("State", [f[0] for f in FIELDS])


def sizes_of(tb: Tables) -> dict[str, int]:
    """The widths of the per-customer tables of a strategy."""
    return {
        "n_categories": tb.sc_i[SC_N_CATEGORIES],
        "n_numbers": tb.sc_i[SC_N_NUMBERS],
        "products": tb.prod_i.shape[1],
        "plays": tb.play_i.shape[1],
        "groups": tb.group_holdout.size,
        "journeys": tb.journey_i.shape[1],
        "ring_len": tb.sc_i[SC_RING_LEN],
        "effects": tb.eff_factor.size,
        "aum_ring_len": tb.sc_i[SC_AUM_RING_LEN],
        "flow_ring_len": tb.sc_i[SC_FLOW_RING_LEN],
        "txn_ring_len": tb.sc_i[SC_TXN_RING_LEN],
        "drawn": tb.drawn_a.size,
        # Only a strategy with an `opt out` keeps who opted out (others: no column, no cost).
        "opt_out_words": int(bool(tb.chan_f.shape[1] and tb.chan_f[CHF_OPT_OUT].max() > 0.0)),
    }


def layout(tb: Tables) -> list[tuple[str, str, int, int]]:
    """(field, dtype, columns, bytes per customer) of every state field."""
    sizes = sizes_of(tb)
    rows = []
    for name, dtype, columns, _ in FIELDS:
        width = columns if isinstance(columns, int) else sizes[columns]
        rows.append((name, np.dtype(dtype).name, width, width * np.dtype(dtype).itemsize))
    return rows


def bytes_per_customer(tb: Tables) -> int:
    return sum(row[3] for row in layout(tb))


@contextmanager
def ordinary_pages() -> Iterator[None]:
    """Arrays allocated within are not advised onto transparent huge pages. NumPy advises
    every large array so (``madvise``); where the kernel grants huge pages only on advice and
    defragments to find them (the common ``madvise`` setting), the first touch of a fresh
    state then stalls on memory compaction: 0.28 s for the 226 MB of 1,000,000 customers on
    the development machine, against 0.07 s on ordinary pages; the kernels run no faster on
    huge pages (their passes are sequential)."""
    switch = getattr(getattr(np, "_core", None), "multiarray", None)
    advise = getattr(switch, "_set_madvise_hugepage", None)
    if advise is None:  # a NumPy without the switch: nothing to turn off
        yield
        return
    before = advise(False)
    try:
        yield
    finally:
        advise(before)


def zeros(shape: int | tuple[int, ...], dtype: type | np.dtype) -> np.ndarray:
    """``np.zeros`` on ordinary pages (``ordinary_pages``): per-customer arrays."""
    with ordinary_pages():
        return np.zeros(shape, dtype=dtype)


def allocate(tb: Tables, rows: int) -> State:
    """Empty state for ``rows`` customers (unused rows have alive = -1)."""
    sizes = sizes_of(tb)
    arrays = {}
    with ordinary_pages():
        for name, dtype, columns, _ in FIELDS:
            width = columns if isinstance(columns, int) else sizes[columns]
            shape = (rows,) if columns == 1 else (rows, width)
            arrays[name] = np.zeros(shape, dtype=dtype)
    arrays["alive"][:] = -1
    arrays["tier"][:] = -1
    return State(**arrays)


@njit(cache=True, nogil=True)
def _fill_rows(
    words: np.ndarray, targets: np.ndarray, sources: np.ndarray, kept: int, rows: int
) -> None:
    """Row ``sources[j]`` of ``words`` (2-D, C order) copied to row ``targets[j]`` for every j,
    then rows kept..rows-1 cleared. Every target is below ``kept`` and every source at or
    above it, so no copy reads a row another has written."""
    width = words.shape[1]
    for j in range(targets.size):
        i, to = sources[j], targets[j]
        for c in range(width):
            words[to, c] = words[i, c]
    for j in range(kept, rows):
        for c in range(width):
            words[j, c] = 0


def _as_words(a: np.ndarray) -> np.ndarray:
    """A C-ordered array seen as (rows, words): the widest unsigned words its rows divide
    into, so that every field moves through one of four compiled ``_fill_rows``."""
    flat = a.reshape(a.shape[0], -1).view(np.uint8)
    for dtype in (np.uint64, np.uint32, np.uint16):
        if flat.shape[1] % np.dtype(dtype).itemsize == 0:
            return flat.view(dtype)
    return flat


def remove_rows(
    arrays: list[np.ndarray] | State, gone: np.ndarray, rows: int, threads: int = 1
) -> int:
    """Remove the rows where ``gone`` (bool, (rows,)) from every array, and return how many
    rows are left (``kept``): the rows kept beyond the first ``kept`` fill the gaps below it,
    lowest first, and rows kept..rows-1 are cleared (state fields: as ``allocate`` left them,
    with ``alive`` = -1). Only as many rows move as were removed below ``kept``; the order of
    the rows is not kept. The arrays are independent: ``threads`` move them at once (the mover
    releases the GIL)."""
    kept = rows - int(np.count_nonzero(gone[:rows]))
    targets = np.flatnonzero(gone[:kept])
    sources = kept + np.flatnonzero(~gone[kept:rows])
    words = [_as_words(a) for a in arrays]
    if threads > 1 and len(words) > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda w: _fill_rows(w, targets, sources, kept, rows), words))
    else:
        for w in words:
            _fill_rows(w, targets, sources, kept, rows)
    if isinstance(arrays, State):
        arrays.alive[kept:rows] = -1
    return kept


def grow(tb: Tables, st: State, rows: int) -> State:
    """A state with room for ``rows`` customers holding ``st``'s rows first."""
    bigger = allocate(tb, rows)
    n = st.cid.shape[0]
    for name in State._fields:
        getattr(bigger, name)[:n] = getattr(st, name)
    return bigger


# ------------------------------------------------------------------------------ drawing
#
# A block of customers is drawn a field at a time, not a customer at a time: each attribute is
# one loop over the block with its family's branch taken once, so that the key mixing and the
# draws run in vector registers (a customer at a time, every attribute cost a walk through the
# family and target branches). Each value is computed by the same operations as for one
# customer alone: the fields do not depend on the order they are drawn in.

# Rows of the scratch (float64, (N_SCRATCH, BLOCK)) a block is drawn with: the customers' step-0
# and static keys (read as uint64), an attribute's uniforms and values, and the tenure and
# months since the last transaction drawn by the population (-1: not drawn).
Y_KEY, Y_STATIC, Y_UNIFORM, Y_VALUE, Y_TENURE, Y_RECENCY, N_SCRATCH = range(7)
CENTRAL = 0.425  # |u − 0.5| up to which the inverse normal takes its central branch


@njit(cache=True)
def attribute_sums(tb: Tables) -> np.ndarray:
    """Per attribute, the Poisson running sums of its mean (``nb_poisson_sums``; only the
    `poisson` rows are read)."""
    sums = np.empty((max(tb.attr_i.shape[1], 1), POISSON_TERMS))
    for a in range(tb.attr_i.shape[1]):
        nb_poisson_sums(tb.attr_f[ATF_P1, a], sums[a])
    return sums


@njit(cache=True, inline="always")
def normal_quantiles(u: np.ndarray, out: np.ndarray, n: int) -> None:
    """``out[k] = nb_inv_normal(u[k])``: the central branch for every k without a branch,
    then the tails where they apply."""
    for k in range(n):
        out[k] = nb_inv_normal_central(u[k])
    for k in range(n):
        if abs(u[k] - 0.5) > CENTRAL:
            out[k] = nb_inv_normal(u[k])


@block_kernel
def draw_attribute(
    tb: Tables, a: int, keys: np.ndarray, n: int, u: np.ndarray, out: np.ndarray, sums: np.ndarray
) -> None:
    """Attribute row ``a`` of the population table for the customers whose step-0 keys are
    ``keys[:n]``, clamped, into ``out[:n]`` (``u``: scratch). ``sums``: the attribute's row of
    ``attribute_sums``."""
    base = SLOT_ATTRIBUTE + 64 * tb.attr_i[AT_SLOT, a]
    family = tb.attr_i[AT_FAMILY, a]
    p1, p2 = tb.attr_f[ATF_P1, a], tb.attr_f[ATF_P2, a]
    for k in range(n):
        u[k] = nb_to_uniform(nb_draw(keys[k], base))
    if family == FAM_CONSTANT:
        for k in range(n):
            out[k] = p1
    elif family == FAM_NORMAL:
        normal_quantiles(u, out, n)
        for k in range(n):
            out[k] = p1 + p2 * out[k]
    elif family == FAM_LOGNORMAL:
        normal_quantiles(u, out, n)
        for k in range(n):
            out[k] = p1 * nb_exp(p2 * out[k])
    elif family == FAM_POISSON:
        for k in range(n):
            out[k] = float(nb_poisson_tabled(u[k], p1, sums))
    elif family == FAM_UNIFORM:
        for k in range(n):
            out[k] = p1 + (p2 - p1) * u[k]
    elif family == FAM_BETA:
        for k in range(n):
            out[k] = nb_beta(keys[k], base + 1, p1, p2)
    elif family == FAM_GAMMA:  # shape p1, mean p2
        for k in range(n):
            out[k] = nb_gamma(keys[k], base + 1, p1) * (p2 / p1)
    elif family == FAM_BERNOULLI:
        for k in range(n):
            out[k] = 1.0 if u[k] < p1 else 0.0
    elif family == FAM_CATEGORICAL:
        # The first category whose running share exceeds u: the shares never decrease, so
        # it is the number of them u reaches (the last category if it reaches them all).
        start, count = tb.attr_i[AT_CS, a], tb.attr_i[AT_CN, a]
        for k in range(n):
            reached = 0
            for j in range(start, start + count):
                reached += u[k] >= tb.cat_cum[j]
            out[k] = float(tb.cat_code[start + min(reached, count - 1)])
    else:
        for k in range(n):
            out[k] = 0.0
    low, high = tb.attr_f[ATF_LO, a], tb.attr_f[ATF_HI, a]
    for k in range(n):
        out[k] = min(max(out[k], low), high)


@block_kernel
def store_attribute(
    tb: Tables,
    st: State,
    row: int,
    n: int,
    t: int,
    a: int,
    values: np.ndarray,
    tenure: np.ndarray,
    recency: np.ndarray,
) -> None:
    """The values of attribute ``a`` into its field of rows row..row+n-1 (tenure and months
    since the last transaction into the scratch ``tenure``/``recency``: they set steps)."""
    target = tb.attr_i[AT_TARGET, a]
    if target == ATTR_AUM:
        for k in range(n):
            st.aum[row + k] = max(values[k], 0.0)
    elif target == ATTR_AGE:
        years = (t * tb.sc_i[SC_STEP_DAYS]) / 360.0  # age at step 0 of one arriving at t
        for k in range(n):
            st.age0[row + k] = np.float32(values[k] - years)
    elif target == ATTR_STAGE:
        for k in range(n):
            st.stage[row + k] = np.int8(values[k])
    elif target == ATTR_RISK:
        for k in range(n):
            st.risk[row + k] = np.int8(values[k])
    elif target == ATTR_TXN_PER_MONTH:
        for k in range(n):
            st.txn_rate[row + k] = np.float32(max(values[k], 0.0))
    elif target == ATTR_PROPENSITY:
        for k in range(n):
            st.propensity[row + k] = np.float32(max(values[k], 0.0))
    elif target == ATTR_TENURE:
        for k in range(n):
            tenure[k] = max(values[k], 0.0)
    elif target == ATTR_MONTHS_SINCE_TXN:
        for k in range(n):
            recency[k] = max(values[k], 0.0)
    elif target >= ATTR_FLAG:
        bit = np.uint32(1) << np.uint32(target - ATTR_FLAG)
        for k in range(n):
            st.flags[row + k] |= bit * np.uint32(values[k] != 0.0)
    elif target >= ATTR_CATEGORY:
        for k in range(n):
            st.cats[row + k, target - ATTR_CATEGORY] = np.uint8(values[k])
    elif target >= ATTR_NUMBER:
        for k in range(n):
            st.nums[row + k, target - ATTR_NUMBER] = np.float32(values[k])


@njit(cache=True, inline="always")
def geometric(u: float, stay: float) -> int:
    """Steps survived when each step continues with chance ``stay`` (inverse transform)."""
    if stay <= 0.0:
        return 0
    if stay >= 1.0:
        return STAGE_AGE_CAP
    return min(int(nb_log(u) / nb_log(stay)), STAGE_AGE_CAP)


@njit(cache=True, inline="always")
def clear_row(st: State, i: int, cid: int) -> None:
    """Row i as a new customer ``cid`` has it before its attributes are drawn."""
    st.cid[i] = cid
    st.alive[i] = 1
    st.stage[i] = 3
    st.flags[i] = np.uint32(0)
    for k in range(st.hold_amt.shape[1]):
        st.hold_amt[i, k] = 0.0
        st.hold_until[i, k] = NEVER_STEP
        st.hold_play[i, k] = -1
    st.last_contact[i, :] = NEVER_STEP
    st.last_resp[i, :] = NEVER_STEP
    st.journey_start[i, :] = NEVER_STEP
    st.ring[i, :] = NEVER_STEP
    st.effect_until[i, :] = NEVER_STEP
    st.labels[i] = 0
    st.flow_ring[i, :] = 0.0
    st.txn_ring[i, :] = 0
    st.last_contact_any[i] = NEVER_STEP
    st.last_resp_any[i] = NEVER_STEP
    st.matured[i] = np.uint32(0)
    st.winners[i] = np.uint64(0)
    st.segbits[i] = np.uint64(0)
    st.dec[i] = 0
    st.tier[i] = -1


@njit(cache=True, inline="always")
def initial_history(
    tb: Tables,
    st: State,
    i: int,
    sk: np.uint64,
    tenure: float,
    recency: float,
    txn_sums: np.ndarray,
) -> None:
    """An initial customer's past: steps in its stage (geometric with the chance of leaving
    it), tenure, transactions of the past steps and the last one (``initial_last_txn``)."""
    stage = int(st.stage[i])
    stay = 1.0 - tb.leave_p[stage]
    age = geometric(nb_to_uniform(nb_draw(sk, SLOT_STAGE_AGE)), stay)
    st.stage_since[i] = -age
    st.acquired[i] = (
        -age
        if tenure < 0
        else -min(int(tenure * 30.0 / tb.sc_i[SC_STEP_DAYS] + 0.5), STAGE_AGE_CAP)
    )
    st.last_txn[i] = initial_last_txn(tb, st, i, sk, recency, txn_sums)
    if stage == STAGE_CHURNED:
        st.alive[i] = 0


@njit(cache=True, inline="always")
def initial_last_txn(
    tb: Tables, st: State, i: int, sk: np.uint64, recency: float, txn_sums: np.ndarray
) -> int:
    """Transactions of the steps before step 0 (k = 0, 1, … steps back, slot past_txn + k),
    drawn from the customer's rate until the txn_3m history is filled and a transaction is
    found, at most PAST_TXN_WALK steps back (then geometric): they give recency, unless the
    population draws months_since_txn."""
    monthly, stage = float(st.txn_rate[i]), int(st.stage[i])
    lam = monthly * tb.txn_stage_factor[stage] * tb.sc_i[SC_STEP_DAYS] / 30.0
    last = -1
    walk = max(PAST_TXN_WALK, tb.sc_i[SC_TXN_RING_LEN])
    for k in range(walk):
        u = nb_to_uniform(nb_draw(sk, SLOT_PAST_TXN + k))
        n = draw_transactions(tb, txn_sums, u, monthly, stage)
        if k < tb.sc_i[SC_TXN_RING_LEN]:
            st.txn_ring[i, (-k) % tb.sc_i[SC_TXN_RING_LEN]] = min(n, 255)
        if n > 0 and last < 0:
            last = k
        if last >= 0 and k + 1 >= tb.sc_i[SC_TXN_RING_LEN]:
            break  # recency found and the txn_3m history filled
    if recency >= 0.0:
        return -min(int(recency * 30.0 / tb.sc_i[SC_STEP_DAYS] + 0.5), STAGE_AGE_CAP)
    if last >= 0:
        return -last
    if lam <= 0.0:
        return -STAGE_AGE_CAP
    # Beyond the walk: steps without a transaction are geometric with stay chance e^-lam.
    u = nb_to_uniform(nb_draw(sk, SLOT_PAST_TXN + 1023))
    return -min(walk + int(nb_log(u) / -lam), STAGE_AGE_CAP)


@njit(cache=True, inline="always")
def initial_holdings(tb: Tables, st: State, i: int, sk: np.uint64) -> None:
    """The products an initial customer holds at step 0 (`held by`), in product order: held
    with the share of the customer's tier, the amount drawn from `holding` and funded out of
    the AUM not yet held in earlier products (AUM does not grow), none when that is below the
    product's `min` (or 0); the maturity uniform over steps 1..tenor (the rest of the tenor)."""
    if st.alive[i] == 0:
        return
    aum = st.aum[i]
    tier = tier_of(tb, aum)
    free = aum
    for d in range(tb.held_share.shape[1]):
        share = tb.held_share[tier, d]
        if share <= 0.0 or nb_to_uniform(nb_draw(sk, SLOT_HOLDING + 4 * d)) >= share:
            continue
        u = nb_to_uniform(nb_draw(sk, SLOT_HOLDING + 4 * d + 1))
        p1, p2 = tb.prod_f[PRF_HELD_P1, d], tb.prod_f[PRF_HELD_P2, d]
        amount = min(money_draw(tb.prod_i[PR_HELD_FAMILY, d], p1, p2, u), free)
        if amount <= 0.0 or amount < tb.prod_f[PRF_MIN, d]:
            continue
        free -= amount
        st.hold_amt[i, d] = np.float32(amount)
        tenor = tb.prod_i[PR_TENOR, d]
        if tenor > 0:
            left = nb_to_uniform(nb_draw(sk, SLOT_HOLDING + 4 * d + 2))
            st.hold_until[i, d] = 1 + min(int(left * tenor), tenor - 1)
        else:
            st.hold_until[i, d] = NO_MATURITY


def synthesize(
    tb: Tables, st: State, first_row: int, ids: np.ndarray, rk: np.uint64, t: int, stage: int
) -> None:
    """Draw customers ``ids`` (int64, (n,)) into rows first_row.. of ``st``; ``stage`` -1 for
    the initial population, else the arrival stage at step ``t``."""
    sums = attribute_sums(tb)
    txn_sums = transaction_sums(tb)

    def run_blocks(b0: int, b1: int) -> None:
        scratch = np.empty((N_SCRATCH, BLOCK), dtype=np.float64)
        synthesize_blocks(tb, st, first_row, ids, b0, b1, rk, t, stage, scratch, sums, txn_sums)

    on_threads(run_blocks, (ids.size + BLOCK - 1) // BLOCK)


@thread_kernel
def synthesize_blocks(
    tb: Tables,
    st: State,
    first_row: int,
    ids: np.ndarray,
    b0: int,
    b1: int,
    rk: np.uint64,
    t: int,
    stage: int,
    scratch: np.ndarray,
    sums: np.ndarray,
    txn_sums: np.ndarray,
) -> None:
    """Blocks [b0, b1) of ``synthesize``'s ``ids``, on one thread's scratch."""
    for b in range(b0, b1):
        lo, hi = b * BLOCK, min(ids.size, (b + 1) * BLOCK)
        # Customers ids[lo:hi] into rows first_row + lo..
        n, row = hi - lo, first_row + lo
        keys, static = scratch[Y_KEY].view(np.uint64), scratch[Y_STATIC].view(np.uint64)
        tenure, recency = scratch[Y_TENURE], scratch[Y_RECENCY]
        for k in range(n):
            ck = nb_customer_key(rk, ids[lo + k])
            keys[k] = nb_step_key(ck, 0)
            static[k] = nb_step_key(ck, STATIC_STEP)
            tenure[k] = -1.0
            recency[k] = -1.0
        for k in range(n):
            clear_row(st, row + k, ids[lo + k])
        for a in range(tb.attr_i.shape[1]):
            draw_attribute(tb, a, keys, n, scratch[Y_UNIFORM], scratch[Y_VALUE], sums[a])
            store_attribute(tb, st, row, n, t, a, scratch[Y_VALUE], tenure, recency)
        control = tb.sc_f[SCF_CONTROL_SHARE]
        for k in range(n):
            i = row + k
            st.arm[i] = 1 if nb_to_uniform(nb_draw(static[k], SLOT_CONTROL)) < control else 0
            st.birthday[i] = int(nb_to_uniform(nb_draw(static[k], SLOT_BIRTHDAY)) * 360)
            st.payday[i] = int(nb_to_uniform(nb_draw(static[k], SLOT_PAYDAY)) * 30)
            for j in range(tb.drawn_a.size):  # own churn chances, fixed for the run (sBG)
                theta = nb_beta(static[k], SLOT_DRAWN_CHURN + 64 * j, tb.drawn_a[j], tb.drawn_b[j])
                st.churn_p[i, j] = np.float32(theta)
        for k in range(n):
            i = row + k
            if stage >= 0:
                # An arrival opens its account at step t: that is its first activity.
                st.stage[i] = stage
                st.stage_since[i] = t
                st.acquired[i] = t
                st.last_txn[i] = t
            else:
                initial_history(tb, st, i, keys[k], tenure[k], recency[k], txn_sums)
                initial_holdings(tb, st, i, keys[k])
            for j in range(tb.sc_i[SC_AUM_RING_LEN]):
                st.aum_ring[i, j] = np.float32(st.aum[i])
