"""The kernels against the plain NumPy reference (``tests/reference_sim.py``) on small
populations: the same random numbers give the same integer counts exactly and the same money
to the fen, step by step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference_sim import ReferenceOutput, at_least, flag, inactive, reference_run
from sim_support import HEADER, model_of

from simulator.kernels import F
from simulator.output import FUNNEL_FIELDS, RunOutput
from simulator.run import simulate
from strategy_dsl.compile import compile_strategy
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

policy {
  control 10%
}
"""


def _compare(out_kernel: RunOutput, ref: ReferenceOutput, r: int) -> None:
    """Every baseline counter of replication ``r``, step by step, exactly."""
    for name in ("customers", "aum_fen", "churned", "acquired", "cost_fen"):
        got = getattr(out_kernel, name)[r]
        want = getattr(ref, name)
        for t in range(want.shape[0]):
            assert np.array_equal(got[t], want[t]), (name, t, got[t], want[t])
    assert np.array_equal(out_kernel.market_return[r], ref.market_return)


@pytest.fixture(scope="module")
def baseline_model(tmp_path_factory: pytest.TempPathFactory) -> CheckedStrategy:
    return model_of(tmp_path_factory.mktemp("ref"), HEADER + BASELINE)


@pytest.mark.parametrize(("customers", "months", "seed"), [(1500, 12, 7), (700, 8, 2026)])
def test_baseline_agrees_with_the_reference(
    baseline_model: CheckedStrategy, customers: int, months: int, seed: int
) -> None:
    """Stage × tier counts by arm, churned, acquired, acquisition cost and AUM in fen equal
    the reference at every step, for two replications."""
    out = simulate(baseline_model, customers=customers, months=months, reps=2, seed=seed, threads=2)
    compiled = compile_strategy(baseline_model)
    conditions = (flag(compiled, "payroll"), inactive(2))
    for rep in range(2):
        ref = reference_run(
            compiled, customers=customers, steps=months, seed=seed, rep=rep, conditions=conditions
        )
        assert ref.churned[1:].sum() > 0 and ref.acquired[1:].sum() > 0
        assert ref.customers[-1].sum() == customers + ref.acquired.sum()
        _compare(out, ref, rep)


def test_reference_sees_the_modifiers(baseline_model: CheckedStrategy) -> None:
    """The comparison is not vacuous: without its modifiers the reference churns differently."""
    compiled = compile_strategy(baseline_model)
    with_mods = reference_run(
        compiled,
        customers=1500,
        steps=12,
        seed=7,
        conditions=(flag(compiled, "payroll"), inactive(2)),
    )
    without = reference_run(compiled, customers=1500, steps=12, seed=7, conditions=(_never, _never))
    assert not np.array_equal(with_mods.churned, without.churned)


def _never(st: object, n: int, t: int) -> np.ndarray:
    """A modifier condition that never holds."""
    return np.zeros(n, dtype=bool)


def test_reference_refuses_what_it_does_not_cover(tmp_path: Path) -> None:
    model = model_of(tmp_path, HEADER + BASELINE)
    with pytest.raises(ValueError, match="condition"):
        reference_run(compile_strategy(model), customers=100, steps=2, seed=1)


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

FUNNEL_CHECKED = (
    "eligible",
    "holdout",
    "suppressed_suitability",
    "suppressed_held",
    "suppressed_channel",
    "suppressed_cooldown",
    "suppressed_capacity",
    "contacted",
    "reached",
    "responded",
    "cost_fen",
    "revenue_fen",
    "inflow_fen",
)


@pytest.fixture(scope="module")
def rule_model(tmp_path_factory: pytest.TempPathFactory) -> CheckedStrategy:
    return model_of(tmp_path_factory.mktemp("ref_rule"), HEADER + ONE_RULE)


@pytest.fixture(scope="module")
def flag_rule_model(tmp_path_factory: pytest.TempPathFactory) -> CheckedStrategy:
    """The rule with the flag ``payroll`` as its `when`, a channel without `requires` or
    capacity, no holdout of its own, and a product without tenor (held for good: its margin
    accrues every step) whose uniform inflow is often below its minimum."""
    text = (
        ONE_RULE.replace("  consent_call   ~ bernoulli(60%)", "  payroll        ~ bernoulli(40%)")
        .replace("  capacity 1700 per year\n", "")
        .replace("  requires consent_call\n", "")
        .replace("  tenor 2 months\n", "")
        .replace("  min 1万", "  min 2万")
        .replace("lognormal(median 8万, sigma 0.8)", "uniform(low 1万, high 5万)")
        .replace("  when aum >= 3万", "  when payroll")
        .replace("  holdout 10%\n", "")
    )
    return model_of(tmp_path_factory.mktemp("ref_flag_rule"), HEADER + text)


def _compare_funnel(out: RunOutput, ref: ReferenceOutput, rep: int) -> None:
    """Every column of the rule's funnel (those outside the slice: 0 on both sides) and the
    total revenue, step by step."""
    for name in FUNNEL_FIELDS:
        got, want = out.funnel[rep, :, 0, :, F[name]], ref.funnel[:, 0, :, F[name]]
        for t in range(want.shape[0]):
            assert np.array_equal(got[t], want[t]), (name, rep, t, got[t], want[t])
    assert np.array_equal(out.revenue_fen[rep], ref.revenue_fen)


@pytest.mark.parametrize(("customers", "months", "seed"), [(1500, 12, 11), (1000, 8, 2027)])
def test_one_rule_agrees_with_the_reference(
    rule_model: CheckedStrategy, customers: int, months: int, seed: int
) -> None:
    """The rule's funnel (eligibility reasons, holdout, capacity, contacted, reached,
    responded, cost, revenue, inflow), total revenue and cost, and every baseline counter
    (AUM included, which the inflows move) equal the reference at every step."""
    out = simulate(rule_model, customers=customers, months=months, reps=2, seed=seed, threads=2)
    compiled = compile_strategy(rule_model)
    for rep in range(2):
        ref = reference_run(
            compiled,
            customers=customers,
            steps=months,
            seed=seed,
            rep=rep,
            when=at_least("aum", 30_000.0),
            requires=flag(compiled, "consent_call"),
        )
        total = ref.funnel[1:, 0].sum(axis=(0, 1))
        for name in FUNNEL_CHECKED:  # the comparison is not vacuous
            assert total[F[name]] > 0, name
        _compare_funnel(out, ref, rep)
        _compare(out, ref, rep)


@pytest.mark.parametrize(("customers", "months", "seed"), [(1200, 10, 5), (2000, 6, 99)])
def test_flag_rule_without_capacity_agrees_with_the_reference(
    flag_rule_model: CheckedStrategy, customers: int, months: int, seed: int
) -> None:
    """A flag as the `when`, no channel precondition, capacity or own holdout, holdings that
    never mature: the same counters equal the reference at every step."""
    out = simulate(
        flag_rule_model, customers=customers, months=months, reps=2, seed=seed, threads=2
    )
    compiled = compile_strategy(flag_rule_model)
    assert float(compiled.chan_capacity[0]) < 0 and float(compiled.group_holdout[0]) == 0.0
    for rep in range(2):
        ref = reference_run(
            compiled,
            customers=customers,
            steps=months,
            seed=seed,
            rep=rep,
            when=flag(compiled, "payroll"),
        )
        total = ref.funnel[1:, 0].sum(axis=(0, 1))
        for name in ("holdout", "suppressed_held", "suppressed_cooldown", "responded"):
            assert total[F[name]] > 0, name
        _compare_funnel(out, ref, rep)
        _compare(out, ref, rep)


def test_reference_refuses_a_rule_beyond_it(tmp_path: Path) -> None:
    """A budget (like caps, fatigue, value arbitration, `on`, journeys) is outside the slice."""
    text = ONE_RULE.replace("  holdout 10%\n", "  holdout 10%\n  budget 1万 per month\n")
    model = model_of(tmp_path, HEADER + text)
    with pytest.raises(ValueError, match="budget"):
        reference_run(compile_strategy(model), customers=100, steps=2, seed=1)
