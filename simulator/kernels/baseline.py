"""Step 1 of the semantics, baseline behaviour: market return and net flow on AUM,
transactions, maturity of holdings, the lifecycle transition with its modifiers and the
response effects in force; then the models' scores for the step.

A model "knows" whether the customer will reach its target stage (churned, for a churn model)
within its window *without treatment*: it replays the lifecycle over the next W steps with the
very uniforms the future will use (slot ``transition`` at steps t+1..t+W) and today's modifiers,
without effects. Its score is d·y + Φ⁻¹(u) with u the uniform of slot ``model_noise + m`` and
d = √2 Φ⁻¹(AUC), so the AUC against that outcome is the declared one (binormal model). Response
and purchase models score a latent label drawn with chance equal to the customer's propensity.
The kernel keeps the labels (``st.labels``); `top N%` compares u with the driver's thresholds.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from simulator.kernels.apply import shares_of
from simulator.kernels.common import (
    B_MODIFIERS,
    BLOCK,
    L_HOLDS,
    L_LIVE,
    MO_KIND,
    MO_TARGET,
    MO_WINDOW,
    N_BITS,
    N_FLAGS,
    N_INTS,
    R_TIER,
    SC_FLOW_FAMILY,
    SC_FLOW_RING_LEN,
    SC_TXN_RING_LEN,
    SCF_FLOW_MEAN,
    SCF_FLOW_SD,
    TR_MATURED,
    TR_STAGE,
    TR_STAGE_BEFORE,
    TR_TXN,
    TRF_AUM_BASELINE,
    TRF_AUM_START,
    TRF_FLOW,
    Tables,
    block_kernel,
    blocks_of,
    draw_transactions,
    on_threads,
    thread_kernel,
    tier_of,
    transaction_sums,
)
from simulator.kernels.population import State
from simulator.kernels.predicates import evaluate_block
from simulator.kernels.rng import (
    SLOT_FLOW,
    SLOT_MODEL_LABEL,
    SLOT_TRANSITION,
    SLOT_TXN,
    nb_customer_key,
    nb_inv_normal,
    nb_inv_normal_central,
    nb_step_key,
    nb_uniform,
)
from strategy_dsl.compile import (
    FAM_CONSTANT,
    FAM_NORMAL,
    MODEL_STAGE,
    N_STAGES,
    STAGE_CHURNED,
    STAGE_NEW,
)

ONE = np.uint64(1)
ZERO = np.uint64(0)

# Columns of the per-block counters this kernel returns.
C_CHURNED = 0  # + arm
C_LIVE = 2  # customers scored
# + (arm × S + from) × S + to: customers whose lifecycle stage moved this step (counted at the
# transition itself, a branch most rows never take, rather than by a stage kept per customer).
C_STAGE_MOVES = 3
C_LABELS = C_STAGE_MOVES + 2 * N_STAGES * N_STAGES  # + model: customers whose label is 1


@njit(cache=True, inline="always")
def hazard(tb: Tables, s: int, k: int, modbits: np.uint64, effbits: np.uint64) -> float:
    """The chance of s -> k this step, times every active modifier and effect on it."""
    p = tb.trans_p[s, k]
    if p <= 0.0:
        return 0.0
    if modbits == ZERO and effbits == ZERO:
        return p
    return scaled(tb, p, s, k, modbits, effbits)


@njit(cache=True, inline="always")
def scaled(tb: Tables, p: float, s: int, k: int, modbits: np.uint64, effbits: np.uint64) -> float:
    """``p`` times every active modifier, then every active effect, on s -> k."""
    for m in range(tb.mod_factor.size):
        if (modbits >> np.uint64(m)) & ONE == ONE and tb.mod_mask[m, s, k] == 1:
            p = p * tb.mod_factor[m]
    for e in range(tb.eff_factor.size):
        if (effbits >> np.uint64(e)) & ONE == ONE and tb.eff_mask[e, s, k] == 1:
            p = p * tb.eff_factor[e]
    return p


# Not inlined: called from the step and from the models' look-ahead, it is compiled once
# (inlining it twice into the baseline kernel lengthened the first run's compile).
@njit(cache=True)
def drawn_churn(
    tb: Tables, st: State, i: int, s: int, u: float, modbits: np.uint64, effbits: np.uint64
) -> bool:
    """Whether customer row i, whom the fixed chances of stage s left there this step, churns
    by its own drawn chance (`churned ~ beta(a, b)`): see ``own_churns``."""
    col = tb.drawn_col[s]
    if col < 0:
        return False
    return own_churns(tb, s, u, float(st.churn_p[i, col]), modbits, effbits)


@njit(cache=True, inline="always")
def own_churns(
    tb: Tables, s: int, u: float, own: float, modbits: np.uint64, effbits: np.uint64
) -> bool:
    """Whether the step's transition uniform u falls in [others, others + own × modifiers ×
    effects), others being the fixed chances' sum. So one uniform decides the whole row, as for
    fixed chances, and the own chance takes what the other moves leave. ``tb``: a ``Tables``
    or a ``Chances``."""
    others = 0.0
    targets = tb.trans_targets[s]
    for j in range(targets.size):
        if targets[j] < 0:
            break
        others += hazard(tb, s, targets[j], modbits, effbits)
    if others >= 1.0:
        return False
    return u < others + scaled(tb, own, s, STAGE_CHURNED, modbits, effbits)


# The tables ``transition`` reads (``hazard`` and ``scaled`` read a ``Tables`` or these alike).
Chances = namedtuple(
    "Chances", "trans_targets trans_single trans_p mod_factor mod_mask eff_factor eff_mask"
)


@njit(cache=True, inline="always")
def chances_of(tb: Tables) -> Chances:
    return Chances(
        tb.trans_targets, tb.trans_single, tb.trans_p, tb.mod_factor, tb.mod_mask,
        tb.eff_factor, tb.eff_mask,
    )  # fmt: skip


# Not inlined: with its three ``hazard``s it was a seventh of the baseline's code, twice (the
# step and the models' look-ahead), for the rows an effect touches (the others read
# ``chance_table``); a call hands over only the seven tables it reads (issue 14 §6).
@block_kernel
def transition(ch: Chances, s: int, u: float, modbits: np.uint64, effbits: np.uint64) -> int:
    """The stage after one step from ``s``: targets in stage order take consecutive intervals
    of [0, 1) of their (modified) chances, divided by their sum when it exceeds 1."""
    targets = ch.trans_targets[s]
    if ch.trans_single[s] == 1:  # the chances cannot add up past 1: one pass
        cum = 0.0
        for j in range(targets.size):
            k = targets[j]
            if k < 0:
                break
            cum += hazard(ch, s, k, modbits, effbits)
            if u < cum:
                return k
        return s
    total = 0.0
    for j in range(targets.size):
        if targets[j] < 0:
            break
        total += hazard(ch, s, targets[j], modbits, effbits)
    cum = 0.0
    for j in range(targets.size):
        k = targets[j]
        if k < 0:
            break
        p = hazard(ch, s, k, modbits, effbits)
        if total > 1.0:
            p = p / total
        cum += p
        if u < cum:
            return k
    return s


# Up to this many modifiers, the cumulative chances of every (modifiers in force, stage) pair
# are tabulated once per step (``chance_table``) for the transitions that no effect touches.
MAX_TABLED_MODIFIERS = 8


@njit(cache=True)
def chance_table(tb: Tables) -> np.ndarray:
    """``tab[modbits, s, j]``: the running sum ``transition`` compares u with at target j of
    stage s, with modifiers ``modbits`` and no effect; the very same operations in the same
    order, so a draw picks the same stage. Empty (0 rows) when there are too many modifiers."""
    n_mod = tb.mod_factor.size
    stages, width = tb.trans_targets.shape
    combos = 1 << n_mod if n_mod <= MAX_TABLED_MODIFIERS else 0
    tab = np.full((combos, stages, width), -1.0)
    for mb in range(combos):
        modbits = np.uint64(mb)
        for s in range(stages):
            targets = tb.trans_targets[s]
            if tb.trans_single[s] == 1:
                cum = 0.0
                for j in range(width):
                    if targets[j] < 0:
                        break
                    cum += hazard(tb, s, targets[j], modbits, ZERO)
                    tab[mb, s, j] = cum
                continue
            total = 0.0
            for j in range(width):
                if targets[j] < 0:
                    break
                total += hazard(tb, s, targets[j], modbits, ZERO)
            cum = 0.0
            for j in range(width):
                if targets[j] < 0:
                    break
                p = hazard(tb, s, targets[j], modbits, ZERO)
                if total > 1.0:
                    p = p / total
                cum += p
                tab[mb, s, j] = cum
    return tab


# Calls, taken only by the maps whose lifecycle has `… for detractors`: their rows' chances
# depend on each row's NPS, so neither ``chance_table`` nor the shared tables hold them. They
# are handed only the arrays they read (a ``Tables`` or a ``State`` by value cost about as much
# as the work).
@njit(cache=True)
def detractor_share(
    sc_f: np.ndarray,
    sc_i: np.ndarray,
    nps_i: np.ndarray,
    nps_f: np.ndarray,
    ring: np.ndarray,
    last_contact_any: np.ndarray,
    last_resp_any: np.ndarray,
    i: int,
    t: int,
) -> float:
    """Row i's chance of being a detractor going into step t (its contacts and responses of
    the steps before t): ``shares_of``."""
    return shares_of(sc_f, sc_i, nps_i, nps_f, ring, last_contact_any, last_resp_any, i, t)[1]


@njit(cache=True)
def detractor_transition(
    ch: Chances,
    trans_p: np.ndarray,
    det_factor: np.ndarray,
    det_mask: np.ndarray,
    d: float,
    s: int,
    u: float,
    own: float,
    drawn: bool,
    modbits: np.uint64,
    effbits: np.uint64,
) -> int:
    """The stage after one step from ``s`` when the lifecycle has `churn x F for detractors`:
    each such line multiplies the chances it names by g = 1 + (F - 1) × d, d the row's chance
    of being a detractor (``detractor_share``), before ``transition`` applies the modifiers and
    effects and divides by the row's sum past 1; a drawn own churn chance (``own``, when
    ``drawn``) is multiplied likewise. ``ch.trans_p``: the thread's scratch, whose row s is
    ``trans_p``'s, multiplied (the kernels allocate nothing)."""
    chances = ch.trans_p
    for k in range(chances.shape[1]):
        chances[s, k] = trans_p[s, k]
    for e in range(det_factor.size):
        g = 1.0 + (det_factor[e] - 1.0) * d
        for k in range(chances.shape[1]):
            if det_mask[e, s, k] == 1:
                chances[s, k] = chances[s, k] * g
        if det_mask[e, s, STAGE_CHURNED] == 1:
            own = own * g
    nxt = transition(ch, s, u, modbits, effbits)
    if nxt == s and drawn and own_churns(ch, s, u, own, modbits, effbits):
        return STAGE_CHURNED
    return nxt


@njit(cache=True, inline="always")
def transition_tabled(
    tb: Tables, tab: np.ndarray, s: int, u: float, modbits: np.uint64, effbits: np.uint64
) -> int:
    """``transition``, read from ``chance_table`` when it covers the case."""
    if effbits != ZERO or tab.shape[0] == 0:
        return transition(chances_of(tb), s, u, modbits, effbits)
    targets = tb.trans_targets[s]
    row = tab[int(modbits), s]
    for j in range(targets.size):
        k = targets[j]
        if k < 0:
            break
        if u < row[j]:
            return k
    return s


@njit(cache=True, inline="always")
def effect_bits(tb: Tables, st: State, i: int, t: int) -> np.uint64:
    bits = ZERO
    for e in range(tb.eff_factor.size):
        if int(st.effect_until[i, e]) >= t:
            bits |= ONE << np.uint64(e)
    return bits


@njit(cache=True, inline="always")
def market_and_behaviour(
    tb: Tables,
    st: State,
    i: int,
    t: int,
    draws: np.ndarray,
    k: int,
    market_return: float,
    flow_slot: int,
    txn_slot: int,
    txn_sums: np.ndarray,
) -> tuple[float, int]:
    """AUM moves with the market and the customer's net flow; transactions are drawn;
    holdings mature. ``draws[:, k]`` are the row's uniforms (``step_draws``); ``*_slot`` the
    step's places in the rings (t mod their length); ``txn_sums`` the Poisson running sums of
    ``transaction_sums``. Returns (net flow, transactions)."""
    f = 0.0
    if tb.sc_i[SC_FLOW_FAMILY] == FAM_NORMAL:
        u = draws[D_FLOW, k]
        z = draws[D_FLOW_Z, k] if abs(u - 0.5) <= 0.425 else nb_inv_normal(u)
        f = tb.sc_f[SCF_FLOW_MEAN] + tb.sc_f[SCF_FLOW_SD] * z
    elif tb.sc_i[SC_FLOW_FAMILY] == FAM_CONSTANT:
        f = tb.sc_f[SCF_FLOW_MEAN]
    old = st.aum[i]
    flow = old * f
    new = old * (1.0 + market_return + f)
    st.aum[i] = new if new > 0.0 else 0.0
    if tb.sc_i[SC_FLOW_RING_LEN] > 0:
        st.flow_ring[i, flow_slot] = np.float32(flow)
    n = draw_transactions(tb, txn_sums, draws[D_TXN, k], float(st.txn_rate[i]), int(st.stage[i]))
    if n > 0:
        st.last_txn[i] = t
    if tb.sc_i[SC_TXN_RING_LEN] > 0:
        st.txn_ring[i, txn_slot] = min(n, 255)
    matured = np.uint32(0)
    for d in range(st.hold_amt.shape[1]):
        if st.hold_amt[i, d] > 0.0 and int(st.hold_until[i, d]) == t:
            st.hold_amt[i, d] = 0.0
            matured |= np.uint32(1) << np.uint32(d)
    st.matured[i] = matured
    return flow, n


# Rows of a block's ``draws`` scratch (float64, (D_AHEAD + look-ahead, BLOCK)): the step's
# uniforms of every row, drawn in loops without branches so that they run in vector registers
# (the key mixing is most of a draw's cost); row D_KEY holds each row's customer key (read as
# uint64), mixed once for all the row's draws; row D_AHEAD + w - 1 the transition uniform of
# step t + w for the models' look-ahead.
D_FLOW, D_FLOW_Z, D_TXN, D_TRANSITION, D_KEY, D_AHEAD = range(6)
LOOK_AHEAD = 12  # look-ahead steps drawn in advance; longer windows draw the rest as they go


@njit(cache=True)
def look_ahead(tb: Tables) -> int:
    """The steps of look-ahead drawn in advance: the longest stage model's window, at most
    LOOK_AHEAD."""
    steps = 0
    for m in range(tb.model_i.shape[1]):
        if tb.model_i[MO_KIND, m] == MODEL_STAGE:
            steps = max(steps, tb.model_i[MO_WINDOW, m])
    return min(steps, LOOK_AHEAD)


# Numba's default checks every division for a zero divisor, a branch that keeps a loop out
# of vector registers (five times slower here); the only division below, the inverse normal's
# rational function, has a denominator above 0.002 for every uniform.
@njit(cache=True, _nrt=False, error_model="numpy")
def step_draws(
    st: State, lo: int, n: int, t: int, rk: np.uint64, draws: np.ndarray, ahead: int
) -> None:
    """The uniforms of rows lo..lo+n-1 this step (slots flow, txn, transition; the transition
    slot of the next ``ahead`` steps), and the flow's normal quantile where the central
    branch of the inverse normal applies. Drawn for every row, live or not: no branches."""
    keys = draws[D_KEY].view(np.uint64)
    for k in range(n):
        ck = nb_customer_key(rk, st.cid[lo + k])
        keys[k] = ck
        sk = nb_step_key(ck, t)
        u = nb_uniform(sk, SLOT_FLOW)
        draws[D_FLOW, k] = u
        draws[D_FLOW_Z, k] = nb_inv_normal_central(u)
        draws[D_TXN, k] = nb_uniform(sk, SLOT_TXN)
        draws[D_TRANSITION, k] = nb_uniform(sk, SLOT_TRANSITION)
    for w in range(1, ahead + 1):
        row = draws[D_AHEAD + w - 1]
        for k in range(n):
            row[k] = nb_uniform(nb_step_key(keys[k], t + w), SLOT_TRANSITION)


@njit(cache=True, inline="always")
def model_label(
    tb: Tables,
    tab: np.ndarray,
    st: State,
    i: int,
    t: int,
    m: int,
    rk: np.uint64,
    modbits: np.uint64,
    draws: np.ndarray,
    row: int,
    ahead: int,
) -> int:
    """1 if the customer reaches model m's target stage within its window without treatment
    (the same future transition draws, today's modifiers: the first ``ahead`` of them in
    ``draws[D_AHEAD:, row]``); for response models, a latent Bernoulli(propensity)."""
    if tb.model_i[MO_KIND, m] != MODEL_STAGE:
        sk = nb_step_key(nb_customer_key(rk, st.cid[i]), t)
        return 1 if nb_uniform(sk, SLOT_MODEL_LABEL + m) < float(st.propensity[i]) else 0
    target = tb.model_i[MO_TARGET, m]
    s = int(st.stage[i])
    for w in range(1, tb.model_i[MO_WINDOW, m] + 1):
        if s == STAGE_CHURNED:
            return 0
        if w <= ahead:
            u = draws[D_AHEAD + w - 1, row]
        else:
            u = nb_uniform(nb_step_key(nb_customer_key(rk, st.cid[i]), t + w), SLOT_TRANSITION)
        nxt = transition_tabled(tb, tab, s, u, modbits, ZERO)
        if nxt == s and tb.drawn_col[s] >= 0 and drawn_churn(tb, st, i, s, u, modbits, ZERO):
            nxt = STAGE_CHURNED
        if nxt == target and s != target:
            return 1
        s = nxt
    return 0


def baseline_step(
    tb: Tables,
    st: State,
    n_rows: int,
    first_new: int,
    t: int,
    rk: np.uint64,
    market_return: float,
    counts: np.ndarray,
    trace_row: int,
    trace_i: np.ndarray,
    trace_f: np.ndarray,
) -> None:
    """Baseline behaviour of step ``t`` for rows [0, first_new) and model scores for every
    live row in [0, n_rows) (rows from ``first_new`` arrived this step). ``counts`` (int64,
    (blocks, C_LABELS + M)): churned per arm, customers scored, stage moves per arm × from ×
    to, labels per model."""
    no_cutoffs = np.zeros((5, 0), dtype=np.float64)  # modifiers never name a model
    tab = chance_table(tb)
    txn_sums = transaction_sums(tb)
    ahead = look_ahead(tb)

    def run_blocks(b0: int, b1: int) -> None:
        baseline_blocks(
            tb, st, b0, b1, n_rows, first_new, t, rk, market_return, counts, trace_row,
            trace_i, trace_f, no_cutoffs, tab, txn_sums,
            np.empty((N_INTS, BLOCK), dtype=np.int64),  # cleared row by row: baseline_blocks
            np.empty((N_BITS, BLOCK), dtype=np.uint64),
            np.empty((N_FLAGS, BLOCK), dtype=np.bool_),
            np.empty((D_AHEAD + ahead, BLOCK), dtype=np.float64),
            np.empty(tb.trans_p.shape, dtype=np.float64),  # `… for detractors`' chances
        )  # fmt: skip

    on_threads(run_blocks, blocks_of(n_rows))


@thread_kernel
def baseline_blocks(
    tb: Tables,
    st: State,
    b0: int,
    b1: int,
    n_rows: int,
    first_new: int,
    t: int,
    rk: np.uint64,
    market_return: float,
    counts: np.ndarray,
    trace_row: int,
    trace_i: np.ndarray,
    trace_f: np.ndarray,
    no_cutoffs: np.ndarray,
    tab: np.ndarray,
    txn_sums: np.ndarray,
    ints: np.ndarray,
    bits: np.ndarray,
    flags: np.ndarray,
    draws: np.ndarray,
    chances: np.ndarray,
) -> None:
    """Blocks [b0, b1) of ``baseline_step``, on one thread's scratch."""
    for b in range(b0, b1):
        lo, hi = b * BLOCK, min(n_rows, (b + 1) * BLOCK)
        counts_b = counts[b]
        n = hi - lo
        live, holds = flags[L_LIVE], flags[L_HOLDS]
        modbits = bits[B_MODIFIERS]
        flow_slot = t % max(tb.sc_i[SC_FLOW_RING_LEN], 1)
        txn_slot = t % max(tb.sc_i[SC_TXN_RING_LEN], 1)
        ahead = draws.shape[0] - D_AHEAD
        step_draws(st, lo, n, t, rk, draws, ahead)
        for k in range(n):  # market, flows, transactions, maturity
            i = lo + k
            live[k] = st.alive[i] == 1
            for r in range(N_INTS):  # the scratch comes uninitialised: facts conditions may read
                ints[r, k] = 0
            for r in range(N_BITS):
                bits[r, k] = ZERO
            if not live[k]:
                continue
            if i == trace_row:
                trace_i[TR_STAGE_BEFORE] = st.stage[i]
                trace_f[TRF_AUM_START] = st.aum[i]
            if i < first_new:
                flow, txns = market_and_behaviour(
                    tb, st, i, t, draws, k, market_return, flow_slot, txn_slot, txn_sums
                )
                if i == trace_row:
                    trace_f[TRF_FLOW] = flow
                    trace_i[TR_TXN] = txns
                    trace_i[TR_MATURED] = st.matured[i]
            ints[R_TIER, k] = tier_of(tb, st.aum[i])
        for m in range(tb.mod_pred.size):  # lifecycle modifiers in force (conditions only)
            entry = tb.mod_pred[m]
            if evaluate_block(tb, st, lo, n, t, entry, rk, ints, bits, no_cutoffs, live, holds) > 0:
                shift = np.uint64(m)
                for k in range(n):
                    modbits[k] |= np.uint64(holds[k]) << shift
        for k in range(n):  # the transition, then the models' scores
            if not live[k]:
                continue
            i = lo + k
            if i < first_new:
                s = int(st.stage[i])
                u = draws[D_TRANSITION, k]
                effbits = effect_bits(tb, st, i, t)
                if tb.det_factor.size == 0:
                    nxt = transition_tabled(tb, tab, s, u, modbits[k], effbits)
                    own = nxt == s and tb.drawn_col[s] >= 0
                    if own and drawn_churn(tb, st, i, s, u, modbits[k], effbits):
                        nxt = STAGE_CHURNED
                else:  # `… for detractors`: two calls, handed only the arrays they read
                    d = detractor_share(
                        tb.sc_f, tb.sc_i, tb.nps_i, tb.nps_f, st.ring, st.last_contact_any,
                        st.last_resp_any, i, t,
                    )  # fmt: skip
                    ch = Chances(
                        tb.trans_targets, tb.trans_single, chances, tb.mod_factor, tb.mod_mask,
                        tb.eff_factor, tb.eff_mask,
                    )  # fmt: skip
                    col = tb.drawn_col[s]
                    own_p = float(st.churn_p[i, col]) if col >= 0 else 0.0
                    nxt = detractor_transition(
                        ch, tb.trans_p, tb.det_factor, tb.det_mask, d, s, u, own_p, col >= 0,
                        modbits[k], effbits,
                    )  # fmt: skip
                if nxt != s:
                    counts_b[C_STAGE_MOVES + (st.arm[i] * N_STAGES + s) * N_STAGES + nxt] += 1
                    st.stage[i] = nxt
                    st.stage_since[i] = t
                    if nxt == STAGE_NEW:
                        st.acquired[i] = t
                if nxt == STAGE_CHURNED:
                    st.alive[i] = 0
                    counts_b[C_CHURNED + st.arm[i]] += 1
            if i == trace_row:
                trace_i[TR_STAGE] = st.stage[i]
                trace_f[TRF_AUM_BASELINE] = st.aum[i]
            if st.alive[i] != 1:
                continue
            counts_b[C_LIVE] += 1
            labels = 0
            for m in range(tb.model_i.shape[1]):
                y = model_label(tb, tab, st, i, t, m, rk, modbits[k], draws, k, ahead)
                counts_b[C_LABELS + m] += y
                labels |= y << m
            st.labels[i] = labels
