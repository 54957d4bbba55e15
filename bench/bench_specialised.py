"""Would kernels specialised to one strategy reach issue #4's 20 M customer-steps/s?

The kernels are generic: every condition of a map is a jump program in the tables, evaluated a
pass per atom over a block of customers (``simulator.kernels.predicates``). The alternative is to
generate and compile, per strategy and per variant, code with the conditions written out. This
benchmark prices that alternative on the phase where it should pay most: the step's *facts*
(RFM bits, segments, triggers: 17 one-atom conditions in `strategies/wealth_2026q1.strat`),
written out by hand for that map as fused, branch-free loops with its constants inlined.

Both versions run on the same customers (the state of the benchmark's map at step 12 of a
300,000-customer run), on one thread, and must give the same bits, row for row; the figures are
ns per row, net of the pass that both share (reading which rows are live, writing the bits out).

    pytest bench/bench_specialised.py --benchmark-only -s

Measured on the 2-core development machine: the generic facts 19–20 ns a row, the specialised
11–12 ns (1.7×), a saving of about 8 ns of the ≈ 190 ns of CPU a customer-step costs in all
(``bench_simulate.py -k where``). docs/simulation.md (Performance) draws the conclusion.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
import pytest
from numba import njit, prange

import simulator.engine.phases as phases_module
import simulator.engine.run as run_module
from simulator.kernels.common import (
    B_SEGMENTS,
    B_TRIGGERS,
    BLOCK,
    L_LIVE,
    N_BITS,
    N_FLAGS,
    N_INTS,
    PF_X,
    PF_Y,
    PI_A,
    PI_B,
    PI_C,
    PI_OP,
    R_RFM,
    SC_AUM_RING_LEN,
    SC_FLOW_RING_LEN,
    SC_PAYROLL_BIT,
    SC_STEP_DAYS,
    SC_TXN_RING_LEN,
    Tables,
    make_tables,
)
from simulator.kernels.decide import facts
from simulator.kernels.population import State
from simulator.kernels.rng import SLOT_MODEL_NOISE, nb_customer_key, nb_step_key, nb_uniform
from strategy_dsl.checker import check_paths
from strategy_dsl.compile import (
    ATTR_AGE,
    ATTR_AUM,
    ATTR_MONTHS_SINCE_TXN,
    ATTR_TXN_3M,
    OP_AUM_CHANGE,
    OP_BIRTHDAY,
    OP_COMPARE,
    OP_ENTERED,
    OP_EVERY,
    OP_FLAG,
    OP_FLOW,
    OP_INACTIVE,
    OP_MATURES,
    OP_MODEL_TOP,
    OP_RANGE,
    OP_RFM,
    OP_SALARY,
    STAGE_NEW,
    compile_strategy,
)

CUSTOMERS = int(os.environ.get("STRATMAP_BENCH_CUSTOMERS", 300_000))
STEP = 12
ROUNDS = 7

# The facts the specialised kernel was written for, as (op, a, b, c, x, y) per condition, in
# the order ``facts`` evaluates them; comparison codes: 1 is <=, 3 is >=.
WRITTEN_FOR = [
    # RFM: recency, frequency, monetary
    (OP_COMPARE, ATTR_MONTHS_SINCE_TXN, 1, 0, 1.0, 0.0),
    (OP_COMPARE, ATTR_TXN_3M, 3, 0, 9.0, 0.0),
    (OP_COMPARE, ATTR_AUM, 3, 0, 500_000.0, 0.0),
    # segments: 重要价值, 重要挽留, 临界财富, 银发, 代发, 高流失风险
    (OP_RFM, 7, 0, 0, 0.0, 0.0),
    (OP_RFM, 3, 0, 0, 0.0, 0.0),
    (OP_RANGE, ATTR_AUM, 0, 0, 450_000.0, 500_000.0),
    (OP_COMPARE, ATTR_AGE, 3, 0, 60.0, 0.0),
    (OP_FLAG, 1, 0, 0, 0.0, 0.0),
    (OP_MODEL_TOP, 0, 0, 0, 0.0, 0.0),
    # triggers: 新户百日, 资产下滑, 理财到期, 大额转出, 沉睡, 季度检视, 工资到账, 生日
    (OP_ENTERED, STAGE_NEW, 1, 0, 100 / 30, 0.0),
    (OP_AUM_CHANGE, 0, 3, 0, 0.3, 0.0),
    (OP_MATURES, 0, 0, 0, 0.0, 0.0),
    (OP_FLOW, 0, 3, 1, 100_000.0, 0.0),
    (OP_INACTIVE, 0, 1, 0, 6.0, 0.0),
    (OP_EVERY, 3, 0, 0, 0.0, 0.0),
    (OP_SALARY, 0, 0, 0, 0.0, 0.0),
    (OP_BIRTHDAY, 0, 0, 0, 0.0, 0.0),
]
# Monthly steps; rings of 3 steps of AUM and transactions, 1 of flows; payroll is flag bit 1.
SCALARS_WRITTEN_FOR = {
    SC_STEP_DAYS: 30,
    SC_AUM_RING_LEN: 3,
    SC_TXN_RING_LEN: 3,
    SC_FLOW_RING_LEN: 1,
    SC_PAYROLL_BIT: 1,
}


def facts_programs(tb: Tables) -> list[tuple]:
    """The one-atom programs of the facts, in the order ``facts`` evaluates them."""
    entries = [*tb.rfm_pred, *(tb.seg_pred[g] for g in tb.seg_order), *tb.trig_pred]
    programs = []
    for pc in entries:
        i, v = tb.prog_i[:, pc], tb.prog_v[:, pc]
        programs.append((i[PI_OP], i[PI_A], i[PI_B], i[PI_C], v[PF_X], v[PF_Y]))
    return programs


@njit(cache=True, error_model="numpy")
def wealth_facts(
    st: State,
    lo: int,
    n: int,
    t: int,
    rk: np.uint64,
    cutoffs: np.ndarray,
    ints: np.ndarray,
    bits: np.ndarray,
    live: np.ndarray,
) -> None:
    """``facts`` for wealth_2026q1 written out: the same bits, in five branch-free loops."""
    years = (t * 30) / 360.0
    first_of_month = ((t - 1) * 30) % 30
    first_of_year = ((t - 1) * 30) % 360
    quarter = np.uint64(t % 3 == 0) << np.uint64(5)
    three_ago = (t - 3) % 3
    seg, trig, rfm_row = bits[B_SEGMENTS], bits[B_TRIGGERS], ints[R_RFM]
    for k in range(n):  # 高流失风险: the churn model's top 10% (the noise draw vectorises alone)
        i = lo + k
        y = st.labels[i] & 1
        u = nb_uniform(nb_step_key(nb_customer_key(rk, st.cid[i]), t), SLOT_MODEL_NOISE)
        seg[k] = np.uint64(u >= cutoffs[y, 0]) << np.uint64(5)
    for k in range(n):  # frequency: txn_3m >= 9
        i = lo + k
        total = int(st.txn_ring[i, 0]) + int(st.txn_ring[i, 1]) + int(st.txn_ring[i, 2])
        rfm_row[k] = np.int64(float(total) >= 9.0) << 1
    for k in range(n):  # recency, monetary; the segments
        i = lo + k
        aum = st.aum[i]
        recent = ((t - int(st.last_txn[i])) * 30) / 30.0 <= 1.0
        rfm = rfm_row[k] | (np.int64(recent) << 2) | np.int64(aum >= 500_000.0)
        s = seg[k] | np.uint64(rfm == 7) | (np.uint64(rfm == 3) << np.uint64(1))
        s |= np.uint64((aum >= 450_000.0) & (aum < 500_000.0)) << np.uint64(2)
        s |= np.uint64(float(st.age0[i]) + years >= 60.0) << np.uint64(3)
        s |= np.uint64((st.flags[i] >> np.uint32(1)) & np.uint32(1)) << np.uint64(4)
        rfm_row[k] = rfm if live[k] else 0
        seg[k] = s if live[k] else np.uint64(0)
    for k in range(n):  # 资产下滑, 大额转出: the rings
        i = lo + k
        before = float(st.aum_ring[i, three_ago])
        out = -float(st.flow_ring[i, 0])
        g = np.uint64((before > 0.0) & (st.aum[i] <= before * (1.0 - 0.3))) << np.uint64(1)
        trig[k] = g | (np.uint64((out if out > 0.0 else 0.0) >= 100_000.0) << np.uint64(3))
    for k in range(n):  # the other triggers
        i = lo + k
        g = trig[k] | np.uint64((st.stage[i] == 1) & (t - int(st.stage_since[i]) == 0))
        g |= np.uint64(st.matured[i] & np.uint32(1)) << np.uint64(2)
        idle = t - int(st.last_txn[i])
        g |= np.uint64((idle >= 6.0) & (idle - 1 < 6.0)) << np.uint64(4)
        g |= quarter
        gap = st.payday[i] - first_of_month
        gap = gap + 30 if gap < 0 else gap
        paid = (st.flags[i] >> np.uint32(1)) & np.uint32(gap < 30)
        g |= np.uint64(paid) << np.uint64(6)
        gap = st.birthday[i] - first_of_year
        gap = gap + 360 if gap < 0 else gap
        g |= np.uint64(gap < 30) << np.uint64(7)
        trig[k] = g if live[k] else np.uint64(0)


GENERIC, SPECIALISED, NEITHER = 0, 1, 2


@njit(cache=True, parallel=True)
def facts_pass(
    tb: Tables,
    st: State,
    n_rows: int,
    t: int,
    rk: np.uint64,
    cutoffs: np.ndarray,
    which: int,
    rfm: np.ndarray,
    segments: np.ndarray,
    triggers: np.ndarray,
) -> None:
    """The facts of every row, block by block as ``decide_step`` does, by the generic kernel,
    the specialised one, or neither (the cost of the pass itself)."""
    blocks = (n_rows + BLOCK - 1) // BLOCK
    for b in prange(blocks):
        lo, hi = b * BLOCK, min(n_rows, (b + 1) * BLOCK)
        n = hi - lo
        ints = np.zeros((N_INTS, BLOCK), dtype=np.int64)
        bits = np.zeros((N_BITS, BLOCK), dtype=np.uint64)
        flags = np.zeros((N_FLAGS, BLOCK), dtype=np.bool_)
        live = flags[L_LIVE]
        for k in range(n):
            live[k] = st.alive[lo + k] == 1
        if which == GENERIC:
            facts(tb, st, lo, n, t, rk, cutoffs, ints, bits, flags)
        elif which == SPECIALISED:
            wealth_facts(st, lo, n, t, rk, cutoffs, ints, bits, live)
        for k in range(n):
            rfm[lo + k] = ints[R_RFM, k]
            segments[lo + k] = bits[B_SEGMENTS, k]
            triggers[lo + k] = bits[B_TRIGGERS, k]


@pytest.fixture(scope="module")
def step_state(wealth_model: object) -> dict:
    """The arguments of the decision phase at step STEP of a CUSTOMERS-customer run."""
    seen: dict = {}
    decide = phases_module.decide_step

    def spy(tb: Tables, st: State, n_rows: int, t: int, rk: np.uint64, cutoffs, *rest) -> None:
        if t == STEP:
            copy = State(*(a.copy() for a in st))
            seen.update(tb=tb, st=copy, n=n_rows, t=t, rk=rk, cutoffs=cutoffs.copy())
        return decide(tb, st, n_rows, t, rk, cutoffs, *rest)

    phases_module.decide_step = spy
    try:
        run_module.simulate(wealth_model, customers=CUSTOMERS, months=STEP, threads=2)
    finally:
        phases_module.decide_step = decide
    return seen


@pytest.fixture(scope="module")
def wealth_model() -> object:
    path = Path(__file__).resolve().parents[1] / "strategies" / "wealth_2026q1.strat"
    (model,) = check_paths([path]).models.values()
    return model


def best_of(rounds: int, function: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def test_specialised_facts(benchmark, wealth_model, step_state) -> None:
    tables = make_tables(compile_strategy(wealth_model))
    found = np.array(facts_programs(tables), dtype=np.float64)
    written_for = np.array(WRITTEN_FOR, dtype=np.float64)
    same = found.shape == written_for.shape and np.allclose(found, written_for)
    assert same, "the map's facts changed: rewrite wealth_facts for them"
    for column, value in SCALARS_WRITTEN_FOR.items():
        assert tables.sc_i[column] == value, "the map's rings or steps changed"
    s = step_state
    n = s["n"]
    outputs = {which: [np.zeros(n, np.int64), np.zeros(n, np.uint64), np.zeros(n, np.uint64)]
               for which in (GENERIC, SPECIALISED, NEITHER)}  # fmt: skip
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        seconds = {}
        for which, out in outputs.items():

            def one_pass(which: int = which, out: list = out) -> None:
                facts_pass(s["tb"], s["st"], n, s["t"], s["rk"], s["cutoffs"], which, *out)

            one_pass()  # compile (or load) and warm
            if which == SPECIALISED:
                benchmark.pedantic(one_pass, rounds=ROUNDS, iterations=1)
                seconds[which] = benchmark.stats.stats.min
            else:
                seconds[which] = best_of(ROUNDS, one_pass)
    finally:
        numba.set_num_threads(threads)
    for generic, specialised in zip(outputs[GENERIC], outputs[SPECIALISED], strict=True):
        np.testing.assert_array_equal(generic, specialised)
    assert np.count_nonzero(outputs[GENERIC][1]) > 0 and np.count_nonzero(outputs[GENERIC][2]) > 0
    shared = seconds[NEITHER] * 1e9 / n
    generic = seconds[GENERIC] * 1e9 / n - shared
    specialised = seconds[SPECIALISED] * 1e9 / n - shared
    benchmark.extra_info.update(
        generic_ns_per_row=round(generic, 2), specialised_ns_per_row=round(specialised, 2)
    )
    print(
        f"\nfacts of {n:,} rows at step {STEP}, 1 thread, ns per row net of the {shared:.1f} ns"
        f" pass:\n  generic kernel      {generic:5.1f}\n  specialised by hand {specialised:5.1f}"
        f"  ({generic / specialised:.2f}× faster, {generic - specialised:.1f} ns saved a row)"
    )
