"""A plain NumPy reference of the simulator's step semantics (``docs/simulation.md``).

Vectorised over customers, a Python loop over steps, and no simulator kernel: it reads the
compiled tables of ``strategy_dsl.compile``, draws every random number with the NumPy side of
``simulator.rng`` (bit-identical to the Numba side) and only borrows
``simulator.population.synthesize`` to draw the same customers (initial population and
arrivals). It covers the *baseline* of a step (phases 1, 2, 4 and 6 of "One step, in order"):
market return and net flows, transactions, the lifecycle with its modifiers, deterministic
arrivals, and the accounting of customers by arm, stage and tier, AUM in fen, churned,
acquired and acquisition cost.

Slice 2 adds ONE rule on one channel (phases 3 and 6–8 for it): maturity of its holdings,
candidates by the rule's ``when`` (given as a ``Condition``), eligibility in order (suitability,
product held, the channel's ``requires``, cooldown), the global control group and the rule's own
holdout by keyed hash, the channel's capacity cut by the global ordering key (priority, then the
``tiebreak`` permutation), reach and response Bernoullis, and on response the holding, inflow,
fee, margin and contact cost, into the play's funnel, revenue and cost. Journeys, several plays,
caps, budgets, fatigue, ``arbitrate by value``, ``on`` events, effects and models are outside it
(``reference_run`` refuses them).

Lifecycle modifiers are compiled to jump programs that this reference does not interpret: the
caller gives each modifier's condition as a plain function of the state (``Condition``), in the
modifiers' declaration order, e.g. ``flag("payroll")`` or ``inactive(6)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator import rng
from simulator.kernels import NO_MATURITY, make_tables
from simulator.output import FUNNEL_FIELDS
from simulator.population import State, allocate, synthesize
from strategy_dsl.compile import (
    FAM_CONSTANT,
    FAM_LOGNORMAL,
    FAM_NORMAL,
    FAM_UNIFORM,
    STAGE_CHURNED,
    STAGE_NEW,
    TRUE,
    CompiledStrategy,
)

N_STAGES = 6
N_ARMS = 2

# A lifecycle modifier's condition: (state, rows in use, step) → bool per row.
Condition = Callable[[State, int, int], np.ndarray]


def flag(compiled: CompiledStrategy, name: str) -> Condition:
    """The condition ``when NAME`` of a custom yes/no attribute (a bit of ``flags``)."""
    bit = np.uint32(1 << compiled.flags.index(name))

    def holds(st: State, n: int, t: int) -> np.ndarray:
        return (st.flags[:n] & bit) != 0

    return holds


def at_least(attribute: str, low: float) -> Condition:
    """The condition ``ATTRIBUTE >= LOW`` of a built-in numeric field of the state (``aum``)."""

    def holds(st: State, n: int, t: int) -> np.ndarray:
        return getattr(st, attribute)[:n].astype(np.float64) >= low

    return holds


def inactive(steps: float) -> Condition:
    """The condition ``inactive D`` (D in steps): t − last transaction ≥ D."""

    def holds(st: State, n: int, t: int) -> np.ndarray:
        return (t - st.last_txn[:n].astype(np.int64)) >= steps

    return holds


@dataclass
class ReferenceOutput:
    """The baseline counters of one replication, indexed by step 0 … T (and, with a rule, its
    funnel and the revenue)."""

    customers: np.ndarray  # (T+1, arm, stage, tier)
    aum_fen: np.ndarray  # (T+1, arm)
    churned: np.ndarray  # (T+1, arm)
    acquired: np.ndarray  # (T+1, arm)
    cost_fen: np.ndarray  # (T+1, arm)
    market_return: np.ndarray  # (T+1,)
    funnel: np.ndarray  # (T+1, play, arm, FUNNEL_FIELDS)
    revenue_fen: np.ndarray  # (T+1, arm): fees + margin on held products


def fen(amount: np.ndarray) -> np.ndarray:
    """Money → whole fen, rounding half up: floor(x · 100 + 0.5)."""
    return np.floor(amount * 100.0 + 0.5).astype(np.int64)


def whole(expected: float) -> int:
    """Whole customers among ``expected`` cumulative ones (with the documented hair of 1e-9)."""
    return math.floor(expected + 1e-9)


def tier_of(tier_low: np.ndarray, aum: np.ndarray) -> np.ndarray:
    """The tier whose [low, next low) holds each AUM (the last tier whose low it reaches)."""
    tier = np.zeros(aum.shape, dtype=np.int64)
    for j in range(1, tier_low.size):
        tier[aum >= tier_low[j]] = j
    return tier


def market_return(c: CompiledStrategy, rk: np.uint64, t: int) -> float:
    """r_t = ret_mean + ret_sd · Φ⁻¹(u_global(market_return)); a constant is its mean."""
    family = int(c.ret_family)
    if family == FAM_CONSTANT:
        return float(c.ret_mean)
    if family != FAM_NORMAL:
        return 0.0
    u = rng.global_uniform(rk, t, rng.SLOT_MARKET_RETURN)
    return float(c.ret_mean + c.ret_sd * rng.inv_normal(np.array([u]))[0])


def transition(
    c: CompiledStrategy, stage: np.ndarray, u: np.ndarray, modbits: np.ndarray
) -> np.ndarray:
    """The stage after the step: per current stage s, its targets in stage order take
    consecutive intervals of [0, 1) of their modified chances (divided by their sum when it
    exceeds 1 and the row is not known to stay within 1); beyond, the customer stays."""
    trans_p, factors, masks = c.trans_p, c.mod_factor, c.mod_mask
    out = stage.copy()
    for s in range(N_STAGES):
        rows = np.nonzero(stage == s)[0]
        targets = [int(k) for k in c.trans_targets[s] if k >= 0]
        if rows.size == 0 or not targets:
            continue
        hazards = []
        for k in targets:
            p = np.full(rows.size, float(trans_p[s, k]))
            for m in range(factors.size):  # modifiers in declaration order
                if masks[m, s, k] == 1:
                    on = (modbits[rows] >> np.uint64(m)) & np.uint64(1) == 1
                    p = np.where(on, p * factors[m], p)
            hazards.append(p)
        if c.trans_single[s] != 1:
            total = np.zeros(rows.size)
            for p in hazards:
                total = total + p
            hazards = [np.where(total > 1.0, p / total, p) for p in hazards]
        cum = np.zeros(rows.size)
        done = np.zeros(rows.size, dtype=bool)
        for k, p in zip(targets, hazards, strict=True):
            cum = cum + p
            hit = ~done & (u[rows] < cum)
            out[rows[hit]] = k
            done |= hit
    return out


def reference_run(
    compiled: CompiledStrategy,
    *,
    customers: int,
    steps: int,
    seed: int,
    rep: int = 0,
    conditions: tuple[Condition, ...] = (),
    when: Condition | None = None,
    requires: Condition | None = None,
) -> ReferenceOutput:
    """One replication of a strategy of at most one rule, step by step, in plain NumPy.
    ``compiled`` is ``compile_strategy(model)`` as written: arrivals are scaled here to
    ``customers`` (as ``simulate`` does when a run replaces the population's size). With a rule,
    ``when`` is its condition and ``requires`` its channel's (both given as functions of the
    state, evaluated after the step's lifecycle; omitted: always)."""
    c = compiled
    _refuse_what_is_not_covered(c)
    if len(conditions) != c.mod_factor.size:
        raise ValueError(f"give one condition per lifecycle modifier ({c.mod_factor.size})")
    tb = make_tables(c)
    scale = customers / c.population_size if c.population_size > 0 else 1.0
    per_step = [float(x) * scale for x in c.arr_per_step]
    planned = sum(math.floor(rate * steps) for rate in per_step)
    st = allocate(tb, customers + planned + 16)
    rk = rng.replication_key(seed, rep)
    synthesize(tb, st, 0, np.arange(customers, dtype=np.int64), rk, 0, -1)
    rows, next_id = customers, customers
    n_tiers = c.tier_low.size
    out = ReferenceOutput(
        customers=np.zeros((steps + 1, N_ARMS, N_STAGES, n_tiers), dtype=np.int64),
        aum_fen=np.zeros((steps + 1, N_ARMS), dtype=np.int64),
        churned=np.zeros((steps + 1, N_ARMS), dtype=np.int64),
        acquired=np.zeros((steps + 1, N_ARMS), dtype=np.int64),
        cost_fen=np.zeros((steps + 1, N_ARMS), dtype=np.int64),
        market_return=np.zeros(steps + 1),
        funnel=np.zeros((steps + 1, len(c.plays), N_ARMS, len(FUNNEL_FIELDS)), dtype=np.int64),
        revenue_fen=np.zeros((steps + 1, N_ARMS), dtype=np.int64),
    )
    account(c, st, rows, 0, out)
    days = int(c.step_days)
    for t in range(1, steps + 1):
        first_new = rows
        for rate, stage, cost in zip(per_step, c.arr_stage, c.arr_cost_fen, strict=True):
            count = whole(rate * t) - whole(rate * (t - 1))
            if count <= 0:
                continue
            ids = np.arange(next_id, next_id + count, dtype=np.int64)
            synthesize(tb, st, rows, ids, rk, t, int(stage))
            arms = st.arm[rows : rows + count]
            for arm in range(N_ARMS):
                n = int(np.count_nonzero(arms == arm))
                out.acquired[t, arm] += n
                out.cost_fen[t, arm] += n * int(cost)
            rows += count
            next_id += count
        r_t = market_return(c, rk, t)
        out.market_return[t] = r_t
        old = np.nonzero(st.alive[:first_new] == 1)[0]
        sk = rng.step_key(rng.customer_key(rk, st.cid[old]), t)
        # 1. market and flows
        family = int(c.flow_family)
        if family == FAM_NORMAL:
            u = rng.to_uniform(rng.draw(sk, rng.SLOT_FLOW))
            f = c.flow_mean + c.flow_sd * rng.inv_normal(u)
        elif family == FAM_CONSTANT:
            f = np.full(old.size, float(c.flow_mean))
        else:
            f = np.zeros(old.size)
        aum = st.aum[old] * ((1.0 + r_t) + f)
        st.aum[old] = np.where(aum > 0.0, aum, 0.0)
        # 2. transactions
        rate = st.txn_rate[old].astype(np.float64) * c.txn_stage_factor[st.stage[old]]
        n_txn = rng.poisson(rng.to_uniform(rng.draw(sk, rng.SLOT_TXN)), rate * days / 30.0)
        st.last_txn[old[n_txn > 0]] = t
        # 3. maturity: a holding whose tenor ends now is released (the money stays in AUM)
        for d in range(st.hold_amt.shape[1]):
            ends = (st.hold_amt[old, d] > 0.0) & (st.hold_until[old, d].astype(np.int64) == t)
            st.hold_amt[old[ends], d] = 0.0
        # 4. lifecycle: modifiers (conditions evaluated after this step's transactions)
        modbits = np.zeros(rows, dtype=np.uint64)
        for m, cond in enumerate(conditions):
            on = cond(st, rows, t)
            modbits[on] |= np.uint64(1) << np.uint64(m)
        u = rng.to_uniform(rng.draw(sk, rng.SLOT_TRANSITION))
        stage = st.stage[old].astype(np.int64)
        nxt = transition(c, stage, u, modbits[old])
        moved = old[nxt != stage]
        st.stage[moved] = nxt[nxt != stage]
        st.stage_since[moved] = t
        st.acquired[moved[st.stage[moved] == STAGE_NEW]] = t
        gone = old[nxt == STAGE_CHURNED]
        st.alive[gone] = 0
        out.churned[t] = np.bincount(st.arm[gone], minlength=N_ARMS)
        # 7-9. the rule: candidates, eligibility, holdouts, capacity, contact and response
        if len(c.plays):
            play_step(c, st, rows, t, rk, out, when, requires)
        account(c, st, rows, t, out)
    return out


def _refuse_what_is_not_covered(c: CompiledStrategy) -> None:
    """A ``ValueError`` for a strategy beyond the reference: models, effects, journeys, more
    than one play, caps, budgets, fatigue, ``arbitrate by value`` or an ``on`` event."""
    if len(c.models) or c.eff_factor.size:
        raise ValueError("the reference covers strategies without models or effects")
    if len(c.plays) > 1 or any(kind != "rule" for kind in c.play_kinds):
        raise ValueError("the reference covers at most one play, a rule")
    if len(c.plays) and (
        c.cap_scope.size
        or int(c.group_budget_fen[0]) >= 0
        or float(c.fatigue_rate) > 0.0
        or int(c.arbitrate) != 0
        or int(c.play_on[0]) != TRUE
    ):
        raise ValueError("the reference's rule has no caps, budget, fatigue, value or `on`")


def _field(name: str) -> int:
    """The funnel column of ``name`` (``simulator.output.FUNNEL_FIELDS``)."""
    return FUNNEL_FIELDS.index(name)


def _count(
    funnel: np.ndarray, name: str, arm: np.ndarray, values: np.ndarray | None = None
) -> None:
    """Add to the funnel column ``name`` of each arm: one per row, or ``values`` summed."""
    if values is None:
        funnel[:, _field(name)] += np.bincount(arm, minlength=N_ARMS)
    else:
        funnel[:, _field(name)] += _sum_by_arm(arm, values)


def play_step(
    c: CompiledStrategy,
    st: State,
    rows: int,
    t: int,
    rk: np.uint64,
    out: ReferenceOutput,
    when: Condition | None,
    requires: Condition | None,
) -> None:
    """Step t of the one rule (play 0) for the live customers: candidates, eligibility in order
    (the first failure counted), holdouts, the capacity cut, contact, reach, response, purchase;
    funnel, contact cost and fees into ``out`` (margins are counted by ``account``)."""
    p, group = 0, int(c.play_group[0])
    product, channel = int(c.play_product[0]), int(c.play_channel[0])
    funnel = out.funnel[t, p]
    live = np.nonzero(st.alive[:rows] == 1)[0]
    cand = live if when is None else live[when(st, rows, t)[live]]
    left = np.ones(cand.size, dtype=bool)
    cooldown = int(c.play_cooldown[p])
    reasons = {
        "suppressed_suitability": int(c.prod_risk[product]) > st.risk[cand].astype(np.int64),
        "suppressed_held": st.hold_amt[cand, product] > 0.0,
        "suppressed_channel": (
            np.zeros(cand.size, dtype=bool) if requires is None else ~requires(st, rows, t)[cand]
        ),
        "suppressed_cooldown": (cooldown > 0)
        & (t - st.last_contact[cand, p].astype(np.int64) < cooldown),
    }
    arm = st.arm[cand].astype(np.int64)
    for name, fails in reasons.items():
        hit = left & fails
        _count(funnel, name, arm[hit])
        left &= ~hit
    eligible = cand[left]
    arm = st.arm[eligible].astype(np.int64)
    _count(funnel, "eligible", arm)
    share = float(c.group_holdout[group])
    static = rng.step_key(rng.customer_key(rk, st.cid[eligible]), rng.STATIC_STEP)
    held_out = share > 0.0 and rng.to_uniform(rng.draw(static, rng.SLOT_HOLDOUT + group)) < share
    out_of_play = (arm == 1) | held_out
    _count(funnel, "holdout", arm[out_of_play])
    proposals = eligible[~out_of_play]
    # capacity: one global order, priority (equal for one rule) then the tiebreak permutation
    capacity = float(c.chan_capacity[channel])
    if capacity >= 0:
        allowed = whole(capacity * t) - whole(capacity * (t - 1))
        if proposals.size > allowed:
            key = rng.draw(
                rng.step_key(rng.customer_key(rk, st.cid[proposals]), t), rng.SLOT_TIEBREAK
            )
            order = np.argsort(key, kind="stable")
            cut = proposals[order[allowed:]]
            _count(funnel, "suppressed_capacity", st.arm[cut].astype(np.int64))
            proposals = np.sort(proposals[order[:allowed]])
    contact(c, st, proposals, t, rk, out)


def contact(
    c: CompiledStrategy, st: State, rows: np.ndarray, t: int, rk: np.uint64, out: ReferenceOutput
) -> None:
    """Contact ``rows`` with play 0: cost, cooldown stamp, reach, response and on response the
    purchase (holding, inflow into AUM, fee)."""
    p = 0
    product, channel = int(c.play_product[p]), int(c.play_channel[p])
    funnel = out.funnel[t, p]
    arm = st.arm[rows].astype(np.int64)
    cost = int(c.chan_cost_fen[channel])
    _count(funnel, "contacted", arm)
    _count(funnel, "cost_fen", arm, np.full(rows.size, cost, dtype=np.int64))
    out.cost_fen[t] += np.bincount(arm, minlength=N_ARMS) * cost
    st.last_contact[rows, p] = t
    st.last_contact_any[rows] = t
    sk = rng.step_key(rng.customer_key(rk, st.cid[rows]), t)
    reached = rng.to_uniform(rng.draw(sk, rng.SLOT_REACH + p)) < float(c.chan_reach[channel])
    rows, sk, arm = rows[reached], sk[reached], arm[reached]
    _count(funnel, "reached", arm)
    mean = float(c.mean_propensity)
    propensity = st.propensity[rows].astype(np.float64)
    ratio = propensity / mean if mean > 0.0 else np.ones(rows.size)
    # ((response · ratio) · lift) · fatigue, fatigue 1 here (the slice refuses a fatigue rate)
    chance = ((float(c.play_response[p]) * ratio) * float(c.play_lift[p])) * 1.0
    chance = np.minimum(np.maximum(chance, 0.0), 1.0)
    yes = rng.to_uniform(rng.draw(sk, rng.SLOT_RESPONSE + p)) < chance
    rows, sk, arm = rows[yes], sk[yes], arm[yes]
    _count(funnel, "responded", arm)
    amount = inflow(c, product, rng.to_uniform(rng.draw(sk, rng.SLOT_INFLOW + p)))
    st.aum[rows] += amount
    _count(funnel, "inflow_fen", arm, fen(amount))
    st.hold_amt[rows, product] = amount.astype(np.float32)
    tenor = int(c.prod_tenor[product])
    st.hold_until[rows, product] = min(t + tenor, NO_MATURITY - 1) if tenor > 0 else NO_MATURITY
    st.hold_play[rows, product] = p
    fee = fen(amount * float(c.prod_fee[product]))
    _count(funnel, "revenue_fen", arm, fee)
    out.revenue_fen[t] += _sum_by_arm(arm, fee)
    group = int(c.play_group[p])
    st.last_resp[rows, group] = t
    st.last_resp_any[rows] = t


def inflow(c: CompiledStrategy, product: int, u: np.ndarray) -> np.ndarray:
    """The amounts purchases of ``product`` bring for uniforms ``u`` (at least its minimum)."""
    family = int(c.prod_inflow_family[product])
    p1, p2 = float(c.prod_inflow_p1[product]), float(c.prod_inflow_p2[product])
    if family == FAM_CONSTANT:
        amount = np.full(u.size, p1)
    elif family == FAM_NORMAL:
        amount = p1 + p2 * rng.inv_normal(u)
    elif family == FAM_LOGNORMAL:
        amount = p1 * rng.exp(p2 * rng.inv_normal(u))
    elif family == FAM_UNIFORM:
        amount = p1 + (p2 - p1) * u
    else:
        amount = np.zeros(u.size)
    return np.maximum(amount, float(c.prod_min[product]))


def account(c: CompiledStrategy, st: State, rows: int, t: int, out: ReferenceOutput) -> None:
    """Customers by arm, stage and tier (the churned in ``churned`` with their last tier), the
    AUM of the live ones in fen, rounded per customer, and the margin of their open holdings
    (into the revenue and the funnel of the play that sold each)."""
    alive = st.alive[:rows]
    counted = np.nonzero(alive >= 0)[0]
    arm = st.arm[counted].astype(np.int64)
    stage = np.where(alive[counted] == 0, STAGE_CHURNED, st.stage[counted]).astype(np.int64)
    tier = tier_of(c.tier_low, st.aum[counted])
    np.add.at(out.customers[t], (arm, stage, tier), 1)
    live = np.nonzero(alive == 1)[0]
    out.aum_fen[t] = _sum_by_arm(st.arm[live], fen(st.aum[live]))
    for d in range(st.hold_amt.shape[1]):
        held = live[st.hold_amt[live, d] > 0.0]
        margin = fen(st.hold_amt[held, d].astype(np.float64) * float(c.prod_margin[d]))
        by_arm = _sum_by_arm(st.arm[held], margin)
        out.revenue_fen[t] += by_arm
        for p in np.unique(st.hold_play[held, d]):
            if p >= 0:
                mine = st.hold_play[held, d] == p
                col = _field("revenue_fen")
                out.funnel[t, int(p), :, col] += _sum_by_arm(st.arm[held][mine], margin[mine])


def _sum_by_arm(arm: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Exact integer sums of ``values`` per arm."""
    return np.array([int(values[arm == a].sum()) for a in range(N_ARMS)], dtype=np.int64)
