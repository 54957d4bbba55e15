"""The same seed gives the same bits: twice, with one or two threads, and with the population
split into shards simulated separately and merged. Variants see common random numbers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, LIFECYCLE, POPULATION, bundled, model_of

from simulator.engine.run import simulate
from simulator.output import RunOutput
from strategy_dsl.model import CheckedStrategy

SIZES = {"customers": 6000, "months": 8, "reps": 2, "seed": 20260101}


def _arrays(out: RunOutput) -> dict[str, np.ndarray]:
    return {
        f.name: getattr(out, f.name)
        for f in dataclasses.fields(out)
        if isinstance(getattr(out, f.name), np.ndarray)
    }


def assert_identical(a: RunOutput, b: RunOutput) -> None:
    left, right = _arrays(a), _arrays(b)
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].dtype == right[name].dtype, name
        assert np.array_equal(left[name], right[name]), name
    assert a.customers_initial == b.customers_initial


@pytest.fixture(scope="module")
def wealth() -> object:
    return bundled("wealth_2026q1.strat")


@pytest.fixture(scope="module")
def reference(wealth: object) -> RunOutput:
    return simulate(wealth, threads=1, **SIZES)  # type: ignore[arg-type]


def test_the_run_does_something(reference: RunOutput) -> None:
    """The comparisons below are not of empty arrays: plays contact, capacity binds."""
    funnel = reference.funnel.sum(axis=(0, 1, 3))
    assert funnel[:, 10].sum() > 100  # contacted
    assert reference.acquired.sum() > 0 and reference.churned.sum() > 0


def test_same_seed_twice_and_with_two_threads(wealth: object, reference: RunOutput) -> None:
    assert_identical(reference, simulate(wealth, threads=1, **SIZES))  # type: ignore[arg-type]
    assert_identical(reference, simulate(wealth, threads=2, **SIZES))  # type: ignore[arg-type]


@pytest.mark.parametrize("shards", [2, 3])
def test_shards_merge_to_the_same_bits(wealth: object, reference: RunOutput, shards: int) -> None:
    assert_identical(reference, simulate(wealth, threads=2, shards=shards, **SIZES))  # type: ignore[arg-type]


def capacity_model(tmp_path: Path) -> CheckedStrategy:
    """A channel far below demand and a budget that binds (also run on a cluster:
    tests/test_cluster.py)."""
    return model_of(
        tmp_path,
        HEADER
        + POPULATION
        + LIFECYCLE
        + """
        product 理财 {
          kind wealth
          risk R1
          tenor 3 months
          inflow ~ lognormal(median 2万, sigma 0.5)
        }
        channel 外呼 {
          cost 8 per contact
          capacity 150 per month
          reach 50%
        }
        channel 短信 {
          cost 0.05 per contact
          capacity 300 per month
          reach 40%
        }
        rule 高 priority 90 {
          when aum >= 10万
          offer 理财 via 外呼
          response 20%
          budget 1000 per month
        }
        rule 低 priority 50 {
          when stage == growing
          offer 理财 via 短信
          response 5%
          cooldown 2 months
        }
        policy {
          max 2 contacts per customer per month
          arbitrate by value
        }
        """,
    )


def test_capacity_binding_is_shard_independent(tmp_path: Path) -> None:
    """A channel far below demand and a budget that binds: the global cut, with shards."""
    model = capacity_model(tmp_path)
    sizes = {"customers": 5000, "months": 6, "reps": 1, "seed": 9}
    one = simulate(model, threads=1, **sizes)
    contacts = one.channel_contacts[0, 1:].sum(axis=2)
    # Declared for 4,000 customers, run at 5,000: capacity and budget scale by 1.25.
    assert np.all(contacts[:, 1] == 375)  # SMS capacity binds exactly every month
    assert np.all(contacts[:, 0] <= 156)  # the call budget (1250 / 8) binds before capacity
    for shards in (2, 3, 7):
        assert_identical(one, simulate(model, threads=2, shards=shards, **sizes))


def test_variants_see_common_random_numbers(tmp_path: Path) -> None:
    """Two strategies that differ only in a rule's response: the same customers, the same
    baseline, the same contacts up to the first response that differs."""
    text = (
        HEADER
        + POPULATION
        + LIFECYCLE
        + """
        product 理财 {
          kind wealth
          risk R1
          inflow ~ constant(1万)
        }
        channel 短信 {
          cost 0.05 per contact
          reach 40%
        }
        rule 唤醒 priority 10 {
          when stage == declining
          offer 理财 via 短信
          response RESPONSE
          cooldown 1 month
        }
        """
    )
    low = model_of(tmp_path, text.replace("RESPONSE", "2%"), "low.strat")
    high = model_of(tmp_path, text.replace("RESPONSE", "6%"), "high.strat")
    sizes = {"customers": 5000, "months": 6, "reps": 1, "seed": 4}
    a, b = simulate(low, **sizes), simulate(high, **sizes)
    assert np.array_equal(a.customers[0, 0], b.customers[0, 0])  # the same population
    assert np.array_equal(a.aum_fen[0, 0], b.aum_fen[0, 0])
    assert np.array_equal(a.market_return, b.market_return)
    # Step 1: the same customers eligible and reached (responses differ only by the threshold).
    funnel_a, funnel_b = a.funnel[0, 1, 0, 0], b.funnel[0, 1, 0, 0]
    assert np.array_equal(funnel_a[:12], funnel_b[:12])
    # Responders at 2% are a subset of responders at 6%: the same uniform decides both.
    assert funnel_a[12] < funnel_b[12]
    # Nothing in the baseline depends on the response: churn in step 1 is identical.
    assert np.array_equal(a.churned[0, 1], b.churned[0, 1])


def test_customers_who_differ_are_shard_and_thread_independent(tmp_path: Path) -> None:
    """Own churn chances and transaction rates are keyed by the customer alone: the same bits
    with one thread or two, one shard or three, arrivals included."""
    model = model_of(
        tmp_path,
        HEADER
        + """
        population 客户 {
          size          3000
          stage         ~ categorical(new 30%, mature 70%)
          payroll       ~ bernoulli(30%)
          txn_per_month ~ gamma(shape 0.5, mean 2)
        }
        acquisition {
          arrivals 50 per month stage new
        }
        lifecycle {
          new    -> mature 20%, churned ~ beta(1, 9)
          mature -> churned ~ beta(0.7, 3.2)
          churn x 0.6 when payroll
        }
        """,
    )
    sizes = {"customers": 3000, "months": 12, "reps": 2, "seed": 5}
    one = simulate(model, threads=1, **sizes)
    assert one.churned.sum() > 0 and one.acquired.sum() > 0
    assert_identical(one, simulate(model, threads=2, **sizes))
    assert_identical(one, simulate(model, threads=2, shards=3, **sizes))
