"""Good strategies check clean, and their checked model has names resolved and units normalised.

`tests/cases/checker/good/wealth.strat` is the whole-file example of the language reference
(LANGUAGE.md), its `import` served by `common/channels.strat` (channels APP推送, 企业微信, RM拜访;
products 新客理财 R1 and 基金定投 R3), followed by the reference's three personas. The reference
example on its own declares four segments and three triggers that nothing uses (W0101), so the
copy adds four plays that use them; nothing else is changed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from strategy_dsl import model as m
from strategy_dsl.checker import check_file, check_paths

REPO = Path(__file__).resolve().parents[1]
GOOD = Path(__file__).parent / "cases" / "checker" / "good"


@pytest.fixture(scope="module")
def wealth() -> m.CheckedStrategy:
    report = check_file(GOOD / "wealth.strat")
    assert report.diagnostics == []
    (model,) = report.models.values()
    return model


def test_reference_example_checks_clean(wealth: m.CheckedStrategy) -> None:
    assert wealth.strategy.name == "财富客群经营 2026Q1"
    assert [Path(f).name for f in wealth.source_files] == ["channels.strat", "wealth.strat"]


def test_bundled_strategies_check_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = check_paths([Path("strategies")])
    assert [(d.code, str(d.span), d.message) for d in report.diagnostics] == []
    assert len(report.models) == len(report.files)


def test_header_and_step(wealth: m.CheckedStrategy) -> None:
    header = wealth.strategy
    assert (header.step, header.step_days, header.horizon_steps) == ("month", 30, 36)
    assert (header.currency, header.seed, header.declared) == ("CNY", 20260101, True)


def test_population_is_normalised(wealth: m.CheckedStrategy) -> None:
    population = wealth.population
    assert population is not None and population.size == 200_000
    aum = population.attributes["aum"].distribution
    assert (aum.family, aum.params) == ("lognormal", {"median": 50_000.0, "sigma": 1.4})
    tolerance = population.attributes["risk_tolerance"]
    assert tolerance.type == "risk"
    assert tolerance.distribution.categories == ((1, 0.1), (2, 0.25), (3, 0.4), (4, 0.2), (5, 0.05))
    assert population.attributes["has_app"].type == "boolean"
    assert population.attributes["age"].clamp == (18.0, 90.0)
    assert population.attributes["propensity"].type == "share"


def test_rates_are_per_step(wealth: m.CheckedStrategy) -> None:
    assert wealth.products["稳健理财"].margin_per_step == pytest.approx(0.006 / 12)
    assert wealth.channels["外呼"].capacity_per_step == 20_000
    assert wealth.acquisition is not None
    assert wealth.acquisition.arrivals[0].per_step == 3000
    assert wealth.acquisition.referral_per_step == pytest.approx(0.02)
    market = wealth.market
    assert market is not None and market.variables["return"].params == pytest.approx(
        {"mean": 0.003, "sd": 0.015}
    )


def test_durations_are_steps(wealth: m.CheckedStrategy) -> None:
    assert wealth.products["稳健理财"].tenor_steps == 6
    entered = wealth.triggers["新户百日"].condition
    assert isinstance(entered, m.EnteredStage)
    assert entered.within_steps == pytest.approx(100 / 30)  # a window may be a fraction
    every = wealth.triggers["季度检视"].condition
    assert isinstance(every, m.Every) and every.steps == 3
    journey = wealth.journeys[0]
    assert [w.after_steps for w in journey.waves] == [0, 1, 2]
    assert journey.stop_on_response and journey.suitable_only


def test_tiers_are_ordered_ranges(wealth: m.CheckedStrategy) -> None:
    assert [(t.name, t.low, t.high) for t in wealth.tiers] == [
        ("长尾", 0.0, 50_000.0),
        ("大众富裕", 50_000.0, 500_000.0),
        ("财富", 500_000.0, 6_000_000.0),
        ("私行", 6_000_000.0, math.inf),
    ]


def test_conditions_reference_by_kind(wealth: m.CheckedStrategy) -> None:
    rule = next(r for r in wealth.rules if r.name == "临界提升")
    assert isinstance(rule.when, m.All)
    segment, not_tier, tolerance = rule.when.operands
    assert segment == m.SegmentRef("临界财富", segment.span)
    assert isinstance(not_tier, m.Not) and isinstance(not_tier.operand, m.TierRef)
    assert isinstance(tolerance, m.AttributeCompare)
    assert (tolerance.attribute, tolerance.op, tolerance.value) == ("risk_tolerance", ">=", 2)
    assert (rule.product, rule.channel, rule.script) == ("稳健理财", "外呼", "到期提醒话术")
    assert (rule.response, rule.holdout, rule.cooldown_steps) == (0.06, 0.1, 3)
    assert rule.budget is not None and rule.budget.amount == 500_000
    assert rule.effects[0].factor == 0.8 and rule.effects[0].steps == 6
    winback = next(r for r in wealth.rules if r.name == "流失挽回")
    assert isinstance(winback.on, m.Any)
    assert [type(x) for x in winback.on.operands] == [m.TriggerRef, m.TriggerRef]
    top = wealth.segments["高流失风险"].condition
    assert isinstance(top, m.ModelTop) and top.share == pytest.approx(0.1)
    quadrant = wealth.segments["重要挽留"].condition
    assert quadrant == m.RfmQuadrant(False, True, True, quadrant.span)
    assert wealth.channels["外呼"].requires == m.AttributeFlag(
        "consent_call",
        wealth.channels["外呼"].requires.span,  # type: ignore[union-attr]
    )


def test_policy_nps_expectations_variants(wealth: m.CheckedStrategy) -> None:
    policy = wealth.policy
    assert [(c.channel, c.count, c.window_steps) for c in policy.caps] == [
        (None, 4, 1.0),
        ("外呼", 1, 1.0),
    ]
    assert (policy.arbitrate, policy.fatigue, policy.control) == ("priority", 0.1, 0.1)
    assert wealth.nps is not None and (wealth.nps.promoters, wealth.nps.detractors) == (0.3, 0.2)
    churn, uplift, cost, nps = wealth.expectations
    assert (churn.metric.name, churn.metric.within_steps, churn.threshold) == ("churn", 12, 0.08)
    assert (uplift.metric.uplift_vs, uplift.confidence) == ("control", 0.95)
    assert (cost.metric.of, cost.metric.of_kind, cost.threshold) == ("外呼", "channel", 2e6)
    assert nps.threshold == 20
    variant = wealth.variants["激进"]
    assert [(o.kind, o.target) for o in variant.overrides] == [
        ("rule", "临界提升"),
        ("policy", None),
    ]


def test_model_spans_point_at_declarations(wealth: m.CheckedStrategy) -> None:
    channel = wealth.channels["APP推送"]
    assert channel.span.file.endswith("common/channels.strat") and channel.span.line == 3
    # The shared file's `requires has_app` is typed by the strategy's population.
    assert isinstance(channel.requires, m.AttributeFlag) and channel.requires.attribute == "has_app"


def test_default_policy_and_library_header(tmp_path: Path) -> None:
    library = tmp_path / "lib.strat"
    library.write_text("segment 银发 = age >= 60\n", encoding="utf-8")
    (model,) = check_file(library).models.values()
    assert model.strategy.declared is False and model.strategy.step == "day"
    assert model.policy == m.PolicySpec((), "priority", 0.0, None, 0.0, None)
    assert model.population is None and model.segments["银发"].condition == m.AttributeCompare(
        "age",
        ">=",
        60.0,
        model.segments["银发"].condition.span,  # type: ignore[union-attr]
    )


def test_personas_are_lowered(wealth: m.CheckedStrategy) -> None:
    persona = wealth.personas["刚被联系过"]
    assert persona.attributes == {"aum": 480_000.0, "risk_tolerance": 3.0, "consent_call": True}
    assert persona.stage == "mature"
    assert persona.received == (("临界提升", 1),)
    assert persona.outcomes[0] == m.Outcome(
        "suppressed", "临界提升", None, "cooldown", persona.outcomes[0].span
    )


def test_library_alone_lowers_untyped_attributes(tmp_path: Path) -> None:
    library = tmp_path / "lib.strat"
    library.write_text(
        "segment 华东 = region == 华东\nsegment 中 = grade in C2 .. C4 and score > 3\n",
        encoding="utf-8",
    )
    report = check_file(library)
    assert report.diagnostics == []
    (model,) = report.models.values()
    east = model.segments["华东"].condition
    assert isinstance(east, m.AttributeIn) and east.values == ("华东",)
    middle = model.segments["中"].condition
    assert isinstance(middle, m.All)
    grade = middle.operands[0]
    assert isinstance(grade, m.AttributeRange) and (grade.low, grade.high) == (2.0, 4.0)
