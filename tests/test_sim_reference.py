"""The kernels against the plain NumPy reference (``tests/reference_sim.py``) on small
populations: the same random numbers give the same integer counts exactly and the same money
to the fen, step by step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference_sim import ReferenceOutput, flag, inactive, reference_run
from sim_support import HEADER, model_of

from simulator.output import RunOutput
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
