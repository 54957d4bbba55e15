"""A plain NumPy reference of the simulator's step semantics (``docs/simulation.md``).

Vectorised over customers, a Python loop over steps, and no simulator kernel: it reads the
compiled tables of ``strategy_dsl.compile``, draws every random number with the NumPy side of
``simulator.rng`` (bit-identical to the Numba side) and only borrows
``simulator.population.synthesize`` to draw the same customers (initial population and
arrivals). It covers the *baseline* of a step (phases 1, 2, 4 and 6 of "One step, in order"):
market return and net flows, transactions, the lifecycle with its modifiers, deterministic
arrivals, and the accounting of customers by arm, stage and tier, AUM in fen, churned,
acquired and acquisition cost. Strategies with plays, models, holdings or response effects
are outside it (``reference_run`` refuses them).

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
from simulator.kernels import make_tables
from simulator.population import State, allocate, synthesize
from strategy_dsl.compile import (
    FAM_CONSTANT,
    FAM_NORMAL,
    STAGE_CHURNED,
    STAGE_NEW,
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


def inactive(steps: float) -> Condition:
    """The condition ``inactive D`` (D in steps): t − last transaction ≥ D."""

    def holds(st: State, n: int, t: int) -> np.ndarray:
        return (t - st.last_txn[:n].astype(np.int64)) >= steps

    return holds


@dataclass
class ReferenceOutput:
    """The baseline counters of one replication, indexed by step 0 … T."""

    customers: np.ndarray  # (T+1, arm, stage, tier)
    aum_fen: np.ndarray  # (T+1, arm)
    churned: np.ndarray  # (T+1, arm)
    acquired: np.ndarray  # (T+1, arm)
    cost_fen: np.ndarray  # (T+1, arm)
    market_return: np.ndarray  # (T+1,)


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
) -> ReferenceOutput:
    """One replication of a play-free strategy, step by step, in plain NumPy. ``compiled`` is
    ``compile_strategy(model)`` as written: arrivals are scaled here to ``customers`` (as
    ``simulate`` does when a run replaces the population's size)."""
    c = compiled
    if len(c.plays) or len(c.models) or c.eff_factor.size:
        raise ValueError("the reference covers strategies without plays, models or effects")
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
        account(c, st, rows, t, out)
    return out


def account(c: CompiledStrategy, st: State, rows: int, t: int, out: ReferenceOutput) -> None:
    """Customers by arm, stage and tier (the churned in ``churned`` with their last tier) and
    the AUM of the live ones in fen, rounded per customer."""
    alive = st.alive[:rows]
    counted = np.nonzero(alive >= 0)[0]
    arm = st.arm[counted].astype(np.int64)
    stage = np.where(alive[counted] == 0, STAGE_CHURNED, st.stage[counted]).astype(np.int64)
    tier = tier_of(c.tier_low, st.aum[counted])
    np.add.at(out.customers[t], (arm, stage, tier), 1)
    live = np.nonzero(alive == 1)[0]
    out.aum_fen[t] = _sum_by_arm(st.arm[live], fen(st.aum[live]))


def _sum_by_arm(arm: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Exact integer sums of ``values`` per arm."""
    return np.array([int(values[arm == a].sum()) for a in range(N_ARMS)], dtype=np.int64)
