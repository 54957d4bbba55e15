"""The kernels against the plain NumPy reference (``tests/reference_sim.py``) on small
populations: the same random numbers give the same integer counts exactly and the same money
to the fen, step by step, for every counter of ``RunOutput`` the reference computes (customers
by stage and tier, AUM, churned, acquired, cost, revenue, fees, responders, products, cross-sold,
NPS, the market return, the funnel of every play, contacts per channel, unserved customers).

Four strategies: the baseline without plays, one rule, several rules with a journey under
priority arbitration (caps, cooldowns, budget, capacity, fatigue, effects, events, holdouts,
NPS, referrals), and several rules under value arbitration (a churn model's `top N%`, RFM,
behavioural and calendar triggers, a budget over a year, a journey that is re-entered). Each
runs at two sizes with two seeds. Then every deliberate breakage of the reference
(``reference_sim.BREAKAGES``) is shown to disagree with the kernels: the comparison would catch
a reference (or a kernel) that got that piece of the semantics wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference_sim import BREAKAGES, COUNTERS, ReferenceOutput, reference_run
from sim_support import HEADER, model_of

from simulator.engine.run import simulate
from simulator.kernels.common import F
from simulator.output import RunOutput
from strategy_dsl.model import CheckedStrategy

# A play-free strategy exercising every baseline phase: a normal market return and net flow,
# transactions (with the declining stage factor), a lifecycle whose modifiers push the churn
# row past 1 (the division by the sum), tiers, a control group and two arrival lines.
BASELINE = """\
population 客户 {
  size 1500
  aum            ~ lognormal(median 10万, sigma 1.2)
  risk_tolerance ~ categorical(C1 20%, C2 30%, C3 30%, C4 15%, C5 5%)
  stage          ~ categorical(new 10%, growing 30%, mature 45%, declining 15%)
  payroll        ~ bernoulli(30%)
  propensity     ~ beta(2, 8)
  txn_per_month  ~ poisson(1)
}

acquisition {
  arrivals 40 per month stage new cost 150 per customer
  arrivals 13.5 per month stage growing cost 80 per customer
}

lifecycle {
  new       -> growing 20%, churned 3%
  growing   -> mature 8%, declining 4%, churned 1%
  mature    -> declining 3%, churned 0.5%
  declining -> mature 30%, churned 40%
  churn x 0.7 when payroll
  churn x 1.8 when inactive 2 months
}

market {
  return   ~ normal(mean 0.3%, sd 1.5%) per month
  net_flow ~ normal(mean 0.2%, sd 8%) per month
}

tier 长尾     when aum < 5万
tier 大众富裕 when aum in 5万 .. 50万
tier 财富     when aum >= 50万

book {
  balance 活期 margin 1.6% per year
  balance 定期 margin 0.9% per year
  balance 理财 fee 0.45% per year
  balance 基金 fee 0.8% per year
  split         活期 50%, 定期 40%, 理财 10%
  split in 财富 活期 20%, 定期 35%, 理财 30%, 基金 15%
}

policy {
  control 10%
}
"""

# One rule on one channel: a `when` on AUM, a channel that requires a yes/no attribute and has
# a capacity that binds in some steps, suitability (risk R3), cooldown, the rule's own holdout
# and the global control group; a lognormal inflow with a minimum, a tenor (maturity), a fee,
# a margin and a script lift.
ONE_RULE = """\
population 客户 {
  size 1500
  aum            ~ lognormal(median 10万, sigma 1.2)
  risk_tolerance ~ categorical(C1 20%, C2 30%, C3 30%, C4 15%, C5 5%)
  stage          ~ categorical(new 10%, growing 30%, mature 45%, declining 15%)
  consent_call   ~ bernoulli(60%)
  propensity     ~ beta(2, 8)
  txn_per_month  ~ poisson(3)
}

acquisition {
  arrivals 30 per month stage new cost 150 per customer
}

lifecycle {
  new       -> growing 20%, churned 3%
  growing   -> mature 8%, declining 4%, churned 1%
  mature    -> declining 3%, churned 0.5%
  declining -> mature 30%, churned 20%
}

market {
  return   ~ normal(mean 0.3%, sd 1.5%) per month
  net_flow ~ normal(mean 0.2%, sd 8%) per month
}

tier 长尾     when aum < 5万
tier 大众富裕 when aum in 5万 .. 50万
tier 财富     when aum >= 50万

product 稳健理财 {
  kind wealth
  risk R3
  tenor 2 months
  min 1万
  fee 0.5%
  margin 1.2% per year
  inflow ~ lognormal(median 8万, sigma 0.8)
}

channel 外呼 {
  cost 8 per contact
  capacity 1700 per year
  reach 60%
  requires consent_call
}

script 话术 on 外呼 {
  lift 1.3
}

rule 理财外呼 priority 50 {
  when aum >= 3万
  offer 稳健理财 via 外呼 using 话术
  response 25%
  cooldown 2 months
  holdout 10%
  suitable only
}

policy {
  control 10%
}
"""

# Several rules and a journey, arbitrated by priority: two rules offer the same product (one
# offer per product), a rule cap and a channel cap and an overall cap, a cooldown, a budget
# that binds, two channels whose capacity binds, fatigue, effects that expire, `on` events
# (inactivity, a calendar trigger), the journey's entry (`entered new within`) with its waves
# due after 0, 1 and 2 months and `stop when responded`, holdouts, NPS shifts by over-contact
# and by response, and referrals from responders.
MULTI = """\
population 客户 {
  size 1500
  aum            ~ lognormal(median 10万, sigma 1.2)
  age            ~ normal(mean 45, sd 14) clamp 18..90
  risk_tolerance ~ categorical(C1 15%, C2 30%, C3 30%, C4 20%, C5 5%)
  stage          ~ categorical(new 10%, growing 30%, mature 45%, declining 15%)
  has_app        ~ bernoulli(70%)
  consent_call   ~ bernoulli(60%)
  payroll        ~ bernoulli(30%)
  propensity     ~ beta(2, 8)
  txn_per_month  ~ poisson(2)
}

acquisition {
  arrivals 40 per month stage new cost 150 per customer
  referral 5% of responders per month
}

lifecycle {
  new       -> growing 20%, churned 3%
  growing   -> mature 8%, declining 4%, churned 1%
  mature    -> declining 3%, churned 0.5%
  declining -> mature 20%, churned 15%
  churn x 0.7 when payroll
  churn x 1.5 when inactive 2 months
}

market {
  return   ~ normal(mean 0.3%, sd 1.5%) per month
  net_flow ~ normal(mean 0.2%, sd 8%) per month
}

tier 长尾     when aum < 5万
tier 大众富裕 when aum in 5万 .. 50万
tier 财富     when aum >= 50万

book {
  balance 活期 margin 1.6% per year
  balance 定期 margin 0.9% per year
  balance 理财 fee 0.45% per year
  balance 基金 fee 0.8% per year
  split         活期 50%, 定期 40%, 理财 10%
  split in 财富 活期 20%, 定期 35%, 理财 30%, 基金 15%
}

segment 富裕 = aum >= 5万
segment 银发 = age >= 60

trigger 新户 = entered new within 100 days
trigger 沉睡 = inactive 2 months
trigger 季度 = every 3 months

product 稳健理财 {
  kind wealth
  risk R2
  tenor 3 months
  min 1万
  fee 0.5%
  margin 1.2% per year
  inflow ~ lognormal(median 8万, sigma 0.8)
  held by 25% in 财富, 8%
  holding ~ lognormal(median 5万, sigma 0.6)
}

product 基金定投 {
  kind fund
  risk R3
  min 1000
  fee 1%
  margin 0.8% per year
  inflow ~ uniform(low 1000, high 2万)
  held by 15%
  holding ~ uniform(low 1000, high 5万)
}

product 新客理财 {
  kind wealth
  risk R1
  tenor 1 month
  min 5000
  margin 2% per year
  buys 20% of aum max 10万
  switching 60%
}

channel 外呼 {
  cost 8 per contact
  capacity 2400 per year
  reach 60%
  requires consent_call
}

channel APP推送 {
  cost 0.1 per contact
  reach 80%
  requires has_app
}

channel RM拜访 {
  cost 50 per contact
  capacity 350 per year
  reach 90%
}

script 话术 on 外呼 {
  lift 1.3
}

rule 理财外呼 priority 50 {
  when 富裕
  offer 稳健理财 via 外呼 using 话术
  response 25%
  effect churn x 0.6 for 2 months
  cooldown 2 months
  holdout 10%
  max 2 per customer per year
  suitable only
}

rule 唤醒 priority 70 {
  on 沉睡
  offer 稳健理财 via APP推送
  response 10%
  suitable only
}

rule 定投 priority 60 {
  when 银发 or payroll
  offer 基金定投 via APP推送
  response 8%
  budget 5 per month
  suitable only
}

rule 季度检视 priority 40 {
  on 季度
  when 富裕
  offer 基金定投 via RM拜访
  response 30%
  effect churn x 0.5 for 1 month
  suitable only
}

journey 蜜月期 on 新户 priority 55 {
  wave 1 after 0 months via APP推送 offer 新客理财 response 15%
  wave 2 after 1 month via 外呼 using 话术 offer 稳健理财 response 20%
  wave 3 after 2 months via RM拜访 offer 基金定投 response 10%
  stop when responded
  holdout 10%
  budget 120 per month
  suitable only
}

policy {
  max 2 contacts per customer per month
  max 1 外呼 per customer per month
  arbitrate by priority
  fatigue 10% per extra contact in 60 days
  control 10%
}

nps {
  base promoters 30%, detractors 20%
  detractors +5% per extra contact in 30 days
  promoters +10% for 3 months after responded
}
"""

# Several rules arbitrated by expected value: a churn model's `top 15%` (with a tier test), an
# RFM quadrant (txn_3m, months_since_txn), a categorical `in`, events of AUM drop, outflow
# (over one step and over three), maturity, birthday, salary and `responded to`; `holds`; a
# rule cap; a budget over a year (its window spans steps); a journey without `stop when
# responded`, entered again once left.
VALUE = """\
population 客户 {
  size 1500
  aum            ~ lognormal(median 10万, sigma 1.2)
  age            ~ normal(mean 45, sd 14) clamp 18..90
  risk_tolerance ~ categorical(C1 15%, C2 30%, C3 30%, C4 20%, C5 5%)
  stage          ~ categorical(new 10%, growing 30%, mature 45%, declining 15%)
  has_app        ~ bernoulli(75%)
  consent_call   ~ bernoulli(60%)
  payroll        ~ bernoulli(35%)
  city           ~ categorical(一线 30%, 二线 40%, 三线 30%)
  propensity     ~ beta(2, 8)
  txn_per_month  ~ poisson(3)
}

acquisition {
  arrivals 30 per month stage new cost 150 per customer
}

lifecycle {
  new       -> growing 20%, churned 3%
  growing   -> mature 8%, declining 4%, churned 1%
  mature    -> declining 3%, churned 1%
  declining -> mature 20%, churned 15%
  churn x 1.5 when inactive 2 months
  churn x 3 for 2 months after complaint
  churn x 2.5 for detractors
  declining -> mature x 0.5 for detractors
}

market {
  return   ~ normal(mean 0.3%, sd 1.5%) per month
  net_flow ~ normal(mean 0.2%, sd 12%) per month
}

tier 长尾     when aum < 5万
tier 大众富裕 when aum in 5万 .. 50万
tier 财富     when aum >= 50万

rfm {
  recency   months_since_txn <= 1
  frequency txn_3m >= 9
  monetary  aum >= 20万
}

segment 重要价值 = rfm(R high, F high, M high)
segment 高流失风险 = 流失模型 top 15%
segment 一线城市 = city in (一线)

model 流失模型 {
  predicts churn within 3 months
  auc 0.8
  persistence 80%
}

trigger 资产下滑 = aum drop 15% over 2 months
trigger 大额转出 = outflow >= 1万 within 1 month
trigger 持续转出 = outflow >= 3万 within 3 months  # keeps 3 steps: 大额转出 reads one of them
trigger 生日 = birthday
trigger 发薪 = salary credited
trigger 理财到期 = matures 稳健理财
trigger 回应后 = responded to 挽留 within 1 month

product 稳健理财 {
  kind wealth
  risk R2
  tenor 2 months
  min 1万
  fee 0.5%
  margin 1.2% per year
  inflow ~ lognormal(median 8万, sigma 0.8)
}

product 基金定投 {
  kind fund
  risk R3
  min 1000
  fee 1%
  margin 0.8% per year
  inflow ~ uniform(low 1000, high 2万)
}

product 存款 {
  kind deposit
  risk R1
  min 1000
  margin 1.5% per year
  inflow ~ normal(mean 2万, sd 1万)
}

channel 外呼 {
  cost 8 per contact
  capacity 1800 per year
  reach 60%
  requires consent_call
  complaints 4% per contact
  opt out 6% per contact
}

channel APP推送 {
  cost 0.1 per contact
  reach 80%
  requires has_app
  opt out 3% per contact
}

channel RM拜访 {
  cost 50 per contact
  capacity 240 per year
  reach 90%
}

rule 挽留 priority 90 {
  when 高流失风险 and tier in (大众富裕, 财富)
  offer 稳健理财 via RM拜访
  response 20%
  effect churn x 0.5 for 2 months
  suitable only
}

rule 下滑外呼 priority 70 {
  on 资产下滑 or 大额转出 or 持续转出
  offer 稳健理财 via 外呼
  response 15%
  cooldown 2 months
  holdout 15%
  suitable only
}

rule 续作 priority 60 {
  on 理财到期
  offer 稳健理财 via APP推送
  response 30%
  suitable only
}

rule 生日礼 priority 30 {
  on 生日 or 发薪
  when 一线城市 or 重要价值
  offer 存款 via APP推送
  response 12%
  budget 60 per year
}

rule 交叉 priority 50 {
  on 回应后
  offer 基金定投 via 外呼
  response 25%
  max 1 per customer per year
  suitable only
}

rule 定投 priority 20 {
  when payroll and not holds 基金定投
  offer 基金定投 via APP推送
  response 6%
  suitable only
}

journey 唤醒 on inactive 2 months priority 40 {
  wave 1 after 0 months via APP推送 offer 存款 response 10%
  wave 2 after 1 month via 外呼 offer 存款 response 15%
}

policy {
  max 2 contacts per customer per month
  max 1 APP推送 per customer per month
  arbitrate by value
  fatigue 15% per extra contact in 90 days
  control 10%
}

nps {
  base promoters 35%, detractors 15%
  detractors +4% per extra contact in 60 days
  promoters +8% for 2 months after responded
}
"""


def _compare(out: RunOutput, ref: ReferenceOutput, rep: int) -> None:
    """Every counter of replication ``rep``, step by step, exactly."""
    for name in COUNTERS:
        got, want = np.asarray(getattr(out, name)[rep]), getattr(ref, name)
        assert got.shape == want.shape, (name, got.shape, want.shape)
        for t in range(want.shape[0]):
            assert np.array_equal(got[t], want[t]), (name, rep, t, got[t], want[t])


def _agrees(out: RunOutput, ref: ReferenceOutput, rep: int) -> bool:
    return all(np.array_equal(np.asarray(getattr(out, n)[rep]), getattr(ref, n)) for n in COUNTERS)


def _model(factory: pytest.TempPathFactory, text: str) -> CheckedStrategy:
    return model_of(factory.mktemp("ref"), HEADER + text)


@pytest.fixture(scope="module")
def baseline_model(tmp_path_factory: pytest.TempPathFactory) -> CheckedStrategy:
    return _model(tmp_path_factory, BASELINE)


@pytest.fixture(scope="module")
def rule_model(tmp_path_factory: pytest.TempPathFactory) -> CheckedStrategy:
    return _model(tmp_path_factory, ONE_RULE)


@pytest.fixture(scope="module")
def multi_model(tmp_path_factory: pytest.TempPathFactory) -> CheckedStrategy:
    return _model(tmp_path_factory, MULTI)


@pytest.fixture(scope="module")
def value_model(tmp_path_factory: pytest.TempPathFactory) -> CheckedStrategy:
    return _model(tmp_path_factory, VALUE)


@pytest.mark.parametrize(("customers", "months", "seed"), [(1500, 12, 7), (700, 8, 2026)])
def test_baseline_agrees_with_the_reference(
    baseline_model: CheckedStrategy, customers: int, months: int, seed: int
) -> None:
    """Stage × tier counts by arm, churned, acquired, acquisition cost, AUM in fen and NPS-free
    totals equal the reference at every step, for two replications."""
    out = simulate(baseline_model, customers=customers, months=months, reps=2, seed=seed, threads=2)
    for rep in range(2):
        ref = reference_run(baseline_model, customers=customers, steps=months, seed=seed, rep=rep)
        assert ref.churned[1:].sum() > 0 and ref.acquired[1:].sum() > 0
        assert ref.customers[-1].sum() == customers + ref.acquired.sum()
        # No plays: all revenue is the book's, earned from step 1 in both arms.
        assert (ref.revenue_fen == ref.book_revenue_fen).all()
        assert ref.book_revenue_fen[0].sum() == 0
        assert (ref.book_revenue_fen[1:] > 0).all()
        _compare(out, ref, rep)


@pytest.mark.parametrize(("customers", "months", "seed"), [(1500, 12, 11), (1000, 8, 2027)])
def test_one_rule_agrees_with_the_reference(
    rule_model: CheckedStrategy, customers: int, months: int, seed: int
) -> None:
    """The rule's funnel (eligibility reasons, holdout, capacity, contacted, reached,
    responded, cost, revenue, inflow) and every other counter equal the reference."""
    out = simulate(rule_model, customers=customers, months=months, reps=2, seed=seed, threads=2)
    for rep in range(2):
        ref = reference_run(rule_model, customers=customers, steps=months, seed=seed, rep=rep)
        total = ref.funnel[1:, 0].sum(axis=(0, 1))
        for name in (
            "eligible",
            "holdout",
            "suppressed_suitability",
            "suppressed_held",
            "suppressed_channel",
            "suppressed_cooldown",
            "suppressed_capacity",
            "responded",
            "revenue_fen",
        ):  # the comparison is not vacuous
            assert total[F[name]] > 0, name
        _compare(out, ref, rep)


SIZES = [(1500, 7), (1500, 2026), (800, 7), (800, 2026)]  # 2 sizes × 2 seeds


def _funnel_total(ref: ReferenceOutput, plays: tuple[str, ...], name: str) -> dict[str, int]:
    return {p: int(ref.funnel[1:, k, :, F[name]].sum()) for k, p in enumerate(plays)}


@pytest.mark.parametrize(("customers", "seed"), SIZES)
def test_plays_by_priority_agree_with_the_reference(
    multi_model: CheckedStrategy, customers: int, seed: int
) -> None:
    """Several rules and a journey under priority arbitration: every counter, exactly."""
    out = simulate(multi_model, customers=customers, months=12, reps=1, seed=seed, threads=2)
    ref = reference_run(multi_model, customers=customers, steps=12, seed=seed)
    total = ref.funnel[1:].sum(axis=(0, 2))
    for name in (
        "suppressed_cap",
        "suppressed_cooldown",
        "suppressed_arbitration",
        "suppressed_budget",
        "suppressed_capacity",
        "holdout",
        "responded",
    ):  # every mechanism is at work
        assert total[:, F[name]].sum() > 0, name
    waves = [k for k, kind in enumerate(out.play_kinds) if kind == "wave"]
    assert total[waves, F["contacted"]].min() > 0  # every wave is made to someone
    assert ref.detractors_ppm[1:].sum() != ref.detractors_ppm[0].sum() * 12  # NPS moves
    # Products held at step 0 (`held by`): counted from step 0, maturing from step 1.
    assert ref.products_held[0].sum() > 0 and ref.cross_sold[0].sum() > 0
    assert ref.products_held[1].sum() < ref.products_held[0].sum()
    _compare(out, ref, 0)


@pytest.mark.parametrize(("customers", "seed"), SIZES)
def test_plays_by_value_agree_with_the_reference(
    value_model: CheckedStrategy, customers: int, seed: int
) -> None:
    """Several rules under value arbitration, with a model's top share and events: every
    counter, exactly."""
    out = simulate(value_model, customers=customers, months=12, reps=1, seed=seed, threads=2)
    ref = reference_run(value_model, customers=customers, steps=12, seed=seed)
    total = ref.funnel[1:].sum(axis=(0, 2))
    plays = out.plays
    for play in ("挽留", "下滑外呼", "续作", "生日礼", "定投", "唤醒 wave 2"):
        assert total[plays.index(play), F["contacted"]] > 0, play
    for name in ("suppressed_budget", "suppressed_capacity", "suppressed_arbitration"):
        assert total[:, F[name]].sum() > 0, name
    # Over-contact happens: complaints on 外呼, opt-outs on both channels that declare them.
    channels = out.channels
    assert ref.channel_complaints[1:, channels.index("外呼")].sum() > 0
    for channel in ("外呼", "APP推送"):
        assert ref.channel_opt_outs[1:, channels.index(channel)].sum() > 0, channel
    _compare(out, ref, 0)


# Heterogeneous customers: the value strategy with churn chances drawn per customer in three
# stages (`churned ~ beta`, one stage with no other move, one whose own chance times the
# inactivity modifier can pass what the other moves leave) and transaction rates drawn from a
# gamma (NBD); the churn model's look-ahead, the modifiers, the churn effects and the
# detractors' factor apply to the own chances.
HETERO_LIFECYCLE = """\
lifecycle {
  new       -> growing 20%, churned ~ beta(1, 9)
  growing   -> mature 8%, declining 4%, churned 1%
  mature    -> churned ~ beta(0.7, 3.2)
  declining -> mature 20%, churned ~ beta(a 3, b 2)
  churn x 1.5 when inactive 2 months
  churn x 2.5 for detractors
}
"""
HETERO = VALUE.replace(
    VALUE[VALUE.index("lifecycle {") : VALUE.index("market {")], HETERO_LIFECYCLE + "\n"
).replace("txn_per_month  ~ poisson(3)", "txn_per_month  ~ gamma(shape 0.8, mean 3)")


@pytest.fixture(scope="module")
def hetero_model(tmp_path_factory: pytest.TempPathFactory) -> CheckedStrategy:
    return _model(tmp_path_factory, HETERO)


@pytest.mark.parametrize(("customers", "seed"), [(1200, 5), (800, 2028)])
def test_heterogeneous_customers_agree_with_the_reference(
    hetero_model: CheckedStrategy, customers: int, seed: int
) -> None:
    """Own churn chances and transaction rates drawn per customer: every counter, exactly."""
    assert "churned ~ beta(0.7, 3.2)" in HETERO and "gamma(" in HETERO
    out = simulate(hetero_model, customers=customers, months=12, reps=1, seed=seed, threads=2)
    ref = reference_run(hetero_model, customers=customers, steps=12, seed=seed)
    assert ref.churned[1:].sum() > 0
    _compare(out, ref, 0)


# AUM events at the edge: net flows so wide that many customers fall to 0 AUM. A customer at 0
# has neither dropped nor risen (docs/simulation.md's events table does not say so; the kernels
# and the reference agree on it), so the two rules that offer the same product do not compete.
ZERO_AUM = """\
population 客户 {
  size 1000
  aum            ~ lognormal(median 10万, sigma 1.2)
  risk_tolerance ~ categorical(C3 100%)
  stage          ~ categorical(mature 100%)
  propensity     ~ constant(20%)
}

lifecycle {
  mature -> churned 1%
}

market {
  net_flow ~ normal(mean 0%, sd 90%) per month
}

trigger 上升 = aum rise 10% over 1 month
trigger 下滑 = aum drop 10% over 1 month

product 存款 {
  kind deposit
  risk R1
  inflow ~ constant(0)
}

channel 短信 {
  cost 0.05 per contact
  reach 100%
}

rule 涨 priority 2 {
  on 上升
  offer 存款 via 短信
  response 0%
}

rule 跌 priority 1 {
  on 下滑
  offer 存款 via 短信
  response 0%
}
"""


@pytest.mark.parametrize(("customers", "seed"), [(1000, 7), (600, 2026)])
def test_aum_events_at_zero_aum_agree_with_the_reference(
    tmp_path: Path, customers: int, seed: int
) -> None:
    model = model_of(tmp_path, HEADER + ZERO_AUM)
    out = simulate(model, customers=customers, months=6, reps=1, seed=seed, threads=2)
    ref = reference_run(model, customers=customers, steps=6, seed=seed)
    total = ref.funnel[1:].sum(axis=(0, 2))
    assert total[0, F["contacted"]] > 0 and total[1, F["contacted"]] > 0
    assert total[:, F["suppressed_arbitration"]].sum() == 0  # nobody both rose and dropped
    _compare(out, ref, 0)


# Each breakage against the strategy where it matters (priority order and the tiebreak only
# order things under priority arbitration; the cost only enters a value).
MUTANTS = {
    "ignore_caps": "multi",
    "priority_ascending": "multi",
    "no_one_offer_per_product": "multi",
    "no_stop_on_response": "multi",
    "capacity_without_tiebreak": "multi",
    "budget_without_window": "value",
    "budget_first_fit": "multi",
    "cooldown_inclusive": "multi",
    "no_fatigue": "multi",
    "effects_never_expire": "multi",
    "holdout_ignored": "multi",
    "value_ignores_cost": "value",
    "nps_ignores_contacts": "multi",
    "model_top_by_score_rank": "value",
    "cap_counts_this_step_late": "multi",
    "book_default_split_everywhere": "multi",
    "book_rate_per_month_as_year": "multi",
    "sizes_not_scaled": "multi",
    "score_noise_redrawn": "value",
    "tier_moves_from_decision": "multi",
    "churn_not_a_stage_move": "multi",
    "drawn_churn_at_mean": "hetero",
    "holdings_mature_at_full_tenor": "multi",
    "switching_as_new_money": "multi",
    "opt_out_ignored": "value",
    "complaint_effect_ignored": "value",
    "detractor_factor_in_full": "value",
}


@pytest.fixture(scope="module")
def kernel_runs(
    multi_model: CheckedStrategy, value_model: CheckedStrategy, hetero_model: CheckedStrategy
) -> dict:
    """The kernels' output on each strategy at 1,200 customers × 12 months, seed 7."""
    models = {"multi": multi_model, "value": value_model, "hetero": hetero_model}
    return {
        name: (model, simulate(model, customers=1200, months=12, reps=1, seed=7, threads=2))
        for name, model in models.items()
    }


def test_every_breakage_is_exercised() -> None:
    assert set(MUTANTS) == set(BREAKAGES)


@pytest.mark.parametrize("breakage", sorted(MUTANTS))
def test_a_broken_reference_disagrees(kernel_runs: dict, breakage: str) -> None:
    """The reference with one deliberate error no longer agrees with the kernels, while the
    intact reference does: the comparison catches that error."""
    model, out = kernel_runs[MUTANTS[breakage]]
    broken = reference_run(model, customers=1200, steps=12, seed=7, breakage=breakage)
    assert not _agrees(out, broken, 0), breakage


@pytest.mark.parametrize("strategy", ["multi", "value", "hetero"])
def test_the_intact_reference_agrees_where_the_mutants_run(
    kernel_runs: dict, strategy: str
) -> None:
    model, out = kernel_runs[strategy]
    _compare(out, reference_run(model, customers=1200, steps=12, seed=7), 0)


def test_an_unknown_breakage_is_refused(tmp_path: Path) -> None:
    model = model_of(tmp_path, HEADER + BASELINE)
    with pytest.raises(ValueError, match="unknown breakage"):
        reference_run(model, customers=10, steps=1, seed=1, breakage="no_such_thing")
