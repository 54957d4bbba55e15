"""`churn x F for detractors` in the `lifecycle` (issue 16 item 8): the `nps` block's detractors
churn faster. A customer who is a detractor with chance d this step has the hazard
h × (1 + (F − 1) × d), the marginal of a per-step detractor draw."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from checker_support import check, codes
from sim_support import HEADER, model_of
from test_sim_determinism import assert_identical

from simulator.engine.run import simulate
from simulator.output import RunOutput
from strategy_dsl.model import CheckedStrategy
from strategy_dsl.semantic_diff import semantic_diff

NPS = """\
nps {
  base promoters 30%, detractors 40%
}
"""

LIFECYCLE = """\
lifecycle {
  mature -> churned 2%
  churn x 3 for detractors
}
"""


def test_a_detractors_effect_without_an_nps_block_is_w0109(tmp_path: Path) -> None:
    """Without an `nps` block nobody is a detractor: the line never applies (W0109); with
    one the strategy is clean."""
    assert codes(check(tmp_path, HEADER + LIFECYCLE)) == ["W0109"]
    assert codes(check(tmp_path, HEADER + LIFECYCLE + NPS)) == []


def test_an_imported_nps_block_counts_and_a_library_is_not_judged(tmp_path: Path) -> None:
    """The `nps` block may come from an imported file; a declaration library (no `strategy`
    header) with the line alone is not warned: the strategy importing it may declare it."""
    imported = 'import "common/nps.strat"\n' + HEADER + LIFECYCLE
    assert codes(check(tmp_path, imported, {"common/nps.strat": NPS})) == []
    assert codes(check(tmp_path / "library", LIFECYCLE)) == []


def test_the_multiplier_must_be_above_zero(tmp_path: Path) -> None:
    """F = 0 would make detractors never churn, a negative F a negative chance: E0305; a
    percentage is not a multiplier: E0302."""
    zero = LIFECYCLE.replace("churn x 3", "churn x 0")
    assert codes(check(tmp_path, HEADER + zero + NPS)) == ["E0305"]
    percent = LIFECYCLE.replace("churn x 3", "churn x 30%")
    assert codes(check(tmp_path, HEADER + percent + NPS)) == ["E0302"]


def test_a_transition_may_be_multiplied_for_detractors(tmp_path: Path) -> None:
    """`A -> B x F for detractors` names one transition; an unknown stage is an error."""
    one = LIFECYCLE.replace("churn x 3", "mature -> churned x 3")
    assert codes(check(tmp_path, HEADER + one + NPS)) == []
    bad = LIFECYCLE.replace("churn x 3", "mature -> gone x 3")
    assert codes(check(tmp_path, HEADER + bad + NPS)) != []


def test_the_semantic_diff_lists_the_detractors_effect(tmp_path: Path) -> None:
    """`plan`'s semantic diff shows a new, changed or removed `… for detractors`."""
    plain = LIFECYCLE.replace("  churn x 3 for detractors\n", "")
    old = model_of(tmp_path, HEADER + plain + NPS, "old.strat")
    new = model_of(tmp_path, HEADER + LIFECYCLE + NPS, "new.strat")
    changed = model_of(tmp_path, HEADER + LIFECYCLE.replace("x 3", "x 1.5") + NPS, "changed.strat")

    def fields(a: CheckedStrategy, b: CheckedStrategy) -> dict[tuple[str, str | None], dict]:
        return {
            (c.kind, c.name): {f.field: (f.old, f.new) for f in c.fields}
            for c in semantic_diff(a, b).changes
        }

    assert fields(old, new) == {("lifecycle", None): {"churn for detractors": (None, "x 3")}}
    assert fields(new, changed) == {("lifecycle", None): {"churn for detractors": ("x 3", "x 1.5")}}
    assert fields(new, old) == {("lifecycle", None): {"churn for detractors": ("x 3", None)}}
    assert semantic_diff(new, new).changes == ()


COHORT = """\
population 客户 {
  size 20000
  stage ~ categorical(mature 100%)
}

nps {
  base promoters 30%, detractors 40%
}

lifecycle {
  mature -> churned 5%
  churn x 3 for detractors
}
"""


def _hazard(out: RunOutput) -> tuple[float, float]:
    """Churn per customer-step over the run (both arms; no plays), and its standard error."""
    churned = out.churned[0, 1:].sum(axis=1).astype(float)
    at_risk = out.customers_initial - np.concatenate([[0.0], np.cumsum(churned)[:-1]])
    rate = churned.sum() / at_risk.sum()
    return rate, math.sqrt(rate * (1 - rate) / at_risk.sum())


def test_a_cohort_churns_at_the_marginal_chance(tmp_path: Path) -> None:
    """A cohort whose detractor share is fixed at d = 40% (no contacts, no responses) with
    churn h = 5% and F = 3 churns at h × (1 + (F − 1) × d) = 9% a step, within MC error; the
    same cohort without the line churns at 5%."""
    model = model_of(tmp_path, HEADER + COHORT, "with.strat")
    plain = model_of(
        tmp_path, HEADER + COHORT.replace("  churn x 3 for detractors\n", ""), "plain.strat"
    )
    sizes = {"customers": 20000, "months": 6, "reps": 1, "seed": 11, "threads": 2}
    rate, se = _hazard(simulate(model, **sizes))  # type: ignore[arg-type]
    assert abs(rate - 0.05 * (1 + (3 - 1) * 0.40)) < 4 * se
    rate, se = _hazard(simulate(plain, **sizes))  # type: ignore[arg-type]
    assert abs(rate - 0.05) < 4 * se


def test_the_row_is_capped_at_100_percent(tmp_path: Path) -> None:
    """With every customer a detractor (d = 100%) and F = 3, mature's chances 50% declining +
    40% × 3 churned add up to 170%: divided by their sum, churn takes 120/170 of the first step
    and declining the rest, nobody stays."""
    text = COHORT.replace(
        "base promoters 30%, detractors 40%", "base promoters 0%, detractors 100%"
    ).replace("mature -> churned 5%", "mature -> declining 50%, churned 40%")
    model = model_of(tmp_path, HEADER + text)
    out = simulate(model, customers=20000, months=1, reps=1, seed=5, threads=2)
    share = out.churned[0, 1].sum() / out.customers_initial
    expected = 1.2 / 1.7
    assert abs(share - expected) < 4 * math.sqrt(expected * (1 - expected) / 20000)


def test_a_factor_of_one_changes_no_bit(tmp_path: Path) -> None:
    """`churn x 1 for detractors` gives the very numbers of the map without it (g = 1 + 0 × d
    is exactly 1, whatever d)."""
    with_one = model_of(tmp_path, HEADER + COHORT.replace("x 3", "x 1"), "one.strat")
    plain = model_of(
        tmp_path, HEADER + COHORT.replace("  churn x 3 for detractors\n", ""), "plain.strat"
    )
    sizes = {"customers": 3000, "months": 4, "reps": 2, "seed": 3, "threads": 2}
    assert_identical(simulate(with_one, **sizes), simulate(plain, **sizes))  # type: ignore[arg-type]


CONTACTED = """\
population 客户 {
  size 3000
  stage ~ categorical(mature 70%, declining 30%)
  consent_call ~ bernoulli(80%)
}

nps {
  base promoters 30%, detractors 20%
  detractors +15% per extra contact in 60 days
  promoters +10% for 2 months after responded
}

lifecycle {
  mature -> declining 3%, churned 2%
  declining -> mature 10%, churned 8%
  churn x 4 for detractors
  declining -> mature x 0.5 for detractors
}

product 理财 {
  kind wealth
  risk R1
}

channel 外呼 {
  cost 8 per contact
  requires consent_call
}

rule 月度外呼 {
  offer 理财 via 外呼
  response 5%
}

policy {
  control 30%
}
"""


def test_threads_and_shards_give_the_same_bits(tmp_path: Path) -> None:
    """Detractor shares that move with each customer's contacts and responses (so d differs
    from row to row and step to step): the same numbers on one thread, two, and three shards."""
    model = model_of(tmp_path, HEADER + CONTACTED)
    sizes = {"customers": 3000, "months": 6, "reps": 2, "seed": 20260101}
    one = simulate(model, threads=1, **sizes)  # type: ignore[arg-type]
    assert_identical(one, simulate(model, threads=2, **sizes))  # type: ignore[arg-type]
    assert_identical(one, simulate(model, threads=2, shards=3, **sizes))  # type: ignore[arg-type]
    live = one.customers[:, 1:].sum(axis=(0, 1, 3, 4))  # customer-steps per arm
    detractors = one.detractors_ppm[:, 1:].sum(axis=(0, 1)) / 1e6 / live
    assert detractors[0] > detractors[1] + 0.02  # the called arm's shares moved
    assert one.churned[:, 1:].sum() > 0
