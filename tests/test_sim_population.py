"""Population synthesis (``simulator.kernels.population.synthesize``) against a plain NumPy drawing
of the same customers: every attribute family and target, the fixed draws (control arm, birthday,
payday) and an initial customer's history (steps in its stage, tenure, transactions of the past
steps and recency), bit for bit, from the same keys.

The kernel draws a block of customers a field at a time; the reference below draws each field
with the NumPy twins of the kernel's functions (``simulator.kernels.rng``) and walks each customer's
history one by one, as the semantics state it (docs/simulation.md, Population)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, STRATEGIES, model_of

from simulator.kernels import rng
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
    SC_STEP_DAYS,
    SC_TXN_RING_LEN,
    SCF_CONTROL_SHARE,
    Tables,
    make_tables,
)
from simulator.kernels.population import PAST_TXN_WALK, STAGE_AGE_CAP, allocate, synthesize
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
    FAM_LOGNORMAL,
    FAM_NORMAL,
    FAM_POISSON,
    FAM_UNIFORM,
    STAGE_CHURNED,
    STAGE_INDEX,
    compile_strategy,
)

# Every family and every kind of target, tails of the normal included (sd wide against the
# clamp), a Poisson mean past the normal approximation's threshold, a churned initial stage.
EVERY_FAMILY = """\
population 客户 {
  size 1000
  aum              ~ lognormal(median 10万, sigma 1.2) clamp 0..500万
  age              ~ uniform(low 20, high 70)
  risk_tolerance   ~ categorical(C1 20%, C3 50%, C5 30%)
  stage            ~ categorical(new 10%, growing 20%, mature 40%, declining 20%, churned 10%)
  propensity       ~ beta(0.7, 3)
  txn_per_month    ~ poisson(40)
  tenure_months    ~ normal(mean 30, sd 20) clamp 0..200
  months_since_txn ~ poisson(2)
  has_app          ~ bernoulli(50%)
  score            ~ normal(mean 600, sd 80)
  level            ~ categorical(A 30%, B 70%)
  bonus            ~ constant(3)
}

lifecycle {
  mature -> churned 1%
}
"""

RK = np.uint64(0x9E3779B97F4A7C15)


def reference_values(tb: Tables, sk: np.ndarray, a: int) -> np.ndarray:
    """Attribute row ``a`` for the customers with step-0 keys ``sk``, clamped."""
    base = rng.SLOT_ATTRIBUTE + 64 * int(tb.attr_i[AT_SLOT, a])
    family = tb.attr_i[AT_FAMILY, a]
    p1, p2 = tb.attr_f[ATF_P1, a], tb.attr_f[ATF_P2, a]
    u = rng.to_uniform(rng.draw(sk, base))
    if family == FAM_CONSTANT:
        values = np.full(u.shape, p1)
    elif family == FAM_NORMAL:
        values = p1 + p2 * rng.inv_normal(u)
    elif family == FAM_LOGNORMAL:
        values = p1 * rng.exp(p2 * rng.inv_normal(u))
    elif family == FAM_POISSON:
        values = rng.poisson(u, p1).astype(np.float64)
    elif family == FAM_UNIFORM:
        values = p1 + (p2 - p1) * u
    elif family == FAM_BETA:
        values = rng.beta(sk, base + 1, p1, p2)
    elif family == FAM_BERNOULLI:
        values = np.where(u < p1, 1.0, 0.0)
    else:
        assert family == FAM_CATEGORICAL
        start, count = tb.attr_i[AT_CS, a], tb.attr_i[AT_CN, a]
        cum, codes = tb.cat_cum[start : start + count], tb.cat_code[start : start + count]
        first_above = np.searchsorted(cum, u, side="right")  # the first share u is below
        values = codes[np.minimum(first_above, count - 1)].astype(np.float64)
    return np.minimum(np.maximum(values, tb.attr_f[ATF_LO, a]), tb.attr_f[ATF_HI, a])


def reference_history(
    tb: Tables, sk: np.uint64, stage: int, monthly: float, tenure: float, recency: float
) -> tuple[int, int, int, list[int]]:
    """(stage_since, acquired, last_txn, txn_ring) of one initial customer."""
    days, ring = int(tb.sc_i[SC_STEP_DAYS]), int(tb.sc_i[SC_TXN_RING_LEN])
    stay = 1.0 - tb.leave_p[stage]
    u = rng.to_uniform(rng.draw(np.asarray([sk]), rng.SLOT_STAGE_AGE))
    if stay <= 0.0:
        age = 0
    elif stay >= 1.0:
        age = STAGE_AGE_CAP
    else:
        age = min(int(rng.log(u)[0] / rng.log(np.asarray([stay]))[0]), STAGE_AGE_CAP)
    acquired = -age if tenure < 0 else -min(int(tenure * 30.0 / days + 0.5), STAGE_AGE_CAP)
    lam = monthly * tb.txn_stage_factor[stage] * days / 30.0
    txns = [0] * ring
    last, walk = -1, max(PAST_TXN_WALK, ring)
    for k in range(walk):
        u = rng.to_uniform(rng.draw(np.asarray([sk]), rng.SLOT_PAST_TXN + k))
        n = int(rng.poisson(u, lam)[0])
        if k < ring:
            txns[(-k) % ring] = min(n, 255)
        if n > 0 and last < 0:
            last = k
        if last >= 0 and k + 1 >= ring:
            break
    if recency >= 0.0:
        last_txn = -min(int(recency * 30.0 / days + 0.5), STAGE_AGE_CAP)
    elif last >= 0:
        last_txn = -last
    elif lam <= 0.0:
        last_txn = -STAGE_AGE_CAP
    else:
        u = rng.to_uniform(rng.draw(np.asarray([sk]), rng.SLOT_PAST_TXN + 1023))
        last_txn = -min(walk + int(rng.log(u)[0] / -lam), STAGE_AGE_CAP)
    return -age, acquired, last_txn, txns


def check_population(tb: Tables, ids: np.ndarray, t: int, arrival: int) -> None:
    first_row = 37  # not at a block's start
    st = allocate(tb, first_row + ids.size)
    synthesize(tb, st, first_row, ids, RK, t, arrival)
    rows = slice(first_row, first_row + ids.size)
    ck = rng.customer_key(RK, ids)
    sk = rng.step_key(ck, 0)
    days = int(tb.sc_i[SC_STEP_DAYS])
    tenure = np.full(ids.size, -1.0)
    recency = np.full(ids.size, -1.0)
    flags = np.zeros(ids.size, dtype=np.uint32)
    stage = np.full(ids.size, 3, dtype=np.int8)
    for a in range(tb.attr_i.shape[1]):
        values = reference_values(tb, sk, a)
        target = int(tb.attr_i[AT_TARGET, a])
        if target == ATTR_AUM:
            np.testing.assert_array_equal(st.aum[rows], np.maximum(values, 0.0))
        elif target == ATTR_AGE:
            np.testing.assert_array_equal(st.age0[rows], (values - t * days / 360.0).astype("f4"))
        elif target == ATTR_STAGE:
            stage = values.astype(np.int8)
        elif target == ATTR_RISK:
            np.testing.assert_array_equal(st.risk[rows], values.astype(np.int8))
        elif target in (ATTR_TXN_PER_MONTH, ATTR_PROPENSITY):
            field = st.txn_rate if target == ATTR_TXN_PER_MONTH else st.propensity
            np.testing.assert_array_equal(field[rows], np.maximum(values, 0.0).astype("f4"))
        elif target == ATTR_TENURE:
            tenure = np.maximum(values, 0.0)
        elif target == ATTR_MONTHS_SINCE_TXN:
            recency = np.maximum(values, 0.0)
        elif target >= ATTR_FLAG:
            flags |= (values != 0.0).astype(np.uint32) << np.uint32(target - ATTR_FLAG)
        elif target >= ATTR_CATEGORY:
            got = st.cats[rows, target - ATTR_CATEGORY]
            np.testing.assert_array_equal(got, values.astype(np.uint8))
        else:
            assert target >= ATTR_NUMBER
            got = st.nums[rows, target - ATTR_NUMBER]
            np.testing.assert_array_equal(got, values.astype(np.float32))
    np.testing.assert_array_equal(st.flags[rows], flags)
    np.testing.assert_array_equal(st.cid[rows], ids)
    static = rng.step_key(ck, rng.STATIC_STEP)
    control = rng.to_uniform(rng.draw(static, rng.SLOT_CONTROL)) < tb.sc_f[SCF_CONTROL_SHARE]
    np.testing.assert_array_equal(st.arm[rows], control.astype(np.int8))
    birthday = (rng.to_uniform(rng.draw(static, rng.SLOT_BIRTHDAY)) * 360).astype(np.int16)
    np.testing.assert_array_equal(st.birthday[rows], birthday)
    payday = (rng.to_uniform(rng.draw(static, rng.SLOT_PAYDAY)) * 30).astype(np.int8)
    np.testing.assert_array_equal(st.payday[rows], payday)
    np.testing.assert_array_equal(
        st.aum_ring[rows], np.repeat(st.aum[rows, None], st.aum_ring.shape[1], 1).astype("f4")
    )
    if arrival >= 0:
        assert (st.stage[rows] == arrival).all() and (st.alive[rows] == 1).all()
        for field in (st.stage_since, st.acquired, st.last_txn):
            assert (field[rows] == t).all()
        return
    np.testing.assert_array_equal(st.stage[rows], stage)
    np.testing.assert_array_equal(st.alive[rows], (stage != STAGE_CHURNED).astype(np.int8))
    for j in range(0, ids.size, max(ids.size // 400, 1)):  # a sample: the walk is per customer
        i = first_row + j
        since, acquired, last_txn, txns = reference_history(
            tb, sk[j], int(stage[j]), float(st.txn_rate[i]), tenure[j], recency[j]
        )
        got = (int(st.stage_since[i]), int(st.acquired[i]), int(st.last_txn[i]))
        assert got == (since, acquired, last_txn), j
        assert list(st.txn_ring[i]) == txns, j


@pytest.fixture(scope="module")
def every_family(tmp_path_factory: pytest.TempPathFactory) -> Tables:
    model = model_of(tmp_path_factory.mktemp("every_family"), HEADER + EVERY_FAMILY)
    return make_tables(compile_strategy(model))


@pytest.fixture(scope="module")
def wealth() -> Tables:
    from strategy_dsl.checker import check_paths

    (model,) = check_paths([Path(STRATEGIES / "wealth_2026q1.strat")]).models.values()
    return make_tables(compile_strategy(model))


# Ids spread out and more than two blocks, so that the last block is partial.
IDS = np.arange(5000, dtype=np.int64) * 7919 + 11


def test_every_family_is_drawn_as_numpy_draws_it(every_family: Tables) -> None:
    families = set(every_family.attr_i[AT_FAMILY].tolist())
    assert families == {
        FAM_CONSTANT, FAM_NORMAL, FAM_LOGNORMAL, FAM_POISSON, FAM_UNIFORM, FAM_BETA,
        FAM_BERNOULLI, FAM_CATEGORICAL,
    }  # fmt: skip
    check_population(every_family, IDS, 0, -1)


def test_arrivals_are_drawn_as_numpy_draws_them(every_family: Tables) -> None:
    check_population(every_family, IDS[:3000] + 10**6, 5, STAGE_INDEX["new"])


def test_the_bundled_example_is_drawn_as_numpy_draws_it(wealth: Tables) -> None:
    check_population(wealth, IDS, 0, -1)
    check_population(wealth, IDS[:100], 9, STAGE_INDEX["new"])
