"""The checker's rules in detail: suggestions, keywords, durations and steps, conditions versus
events, suitability, shadowing, unused declarations, variants and personas."""

from __future__ import annotations

from pathlib import Path

import pytest
from checker_support import POPULATION, check, codes, found

from strategy_dsl.checker.context import distance, suggest
from strategy_dsl.checker.scope import keywords

HEADER = 'strategy "示例" {{\n  horizon 12 months\n  step {step}\n}}\n'
OFFERS = (
    "product 理财 {\n  kind wealth\n  risk R1\n}\n"
    "product 稳健 {\n  kind wealth\n  risk R2\n}\n"
    "channel 外呼 {\n  cost 8 per contact\n}\n"
)


def rule(name: str, body: str, priority: int = 50, offer: str = "理财 via 外呼") -> str:
    return f"rule {name} priority {priority} {{\n{body}  offer {offer}\n  response 5%\n}}\n"


# ------------------------------------------------------------------------------ names


def test_suggestion_names_the_declaration(tmp_path: Path) -> None:
    report = check(
        tmp_path, POPULATION + "segment 临界财富 = aum in 45万 .. 50万\nsegment 目标 = 临界财富s\n"
    )
    (unknown,) = report.diagnostics
    assert unknown.message == "unknown segment `临界财富s`"
    assert unknown.label == "not declared"
    assert unknown.hint == "did you mean `临界财富` (declared at main.strat:5:9)?"


def test_suggestions_rank_by_edit_distance() -> None:
    assert distance("months", "mnoths") == 1  # a swap of neighbours is one edit
    assert suggest("临界财富s", ["临界财富", "临界", "私行"]) == ["临界财富"]
    assert suggest("稳建理财", ["稳健理财", "新客理财", "基金定投"]) == ["稳健理财"]
    assert suggest("重要价值客户", ["重要价值客", "重要价", "重要挽留客户"]) == ["重要价值客"]
    assert suggest("电话", ["外呼", "短信"]) == []
    assert suggest("AUM", ["aum", "age"]) == ["aum"]


def test_keywords_come_from_the_grammar() -> None:
    words = keywords()
    assert {"rule", "when", "offer", "priority", "segment", "stage"} <= words
    assert "aum" not in words and "month" not in words


def test_unknown_name_in_on_is_an_unknown_trigger(tmp_path: Path) -> None:
    report = check(tmp_path, POPULATION + OFFERS + rule("R", "  on 到期\n"))
    assert codes(report) == ["E0205"]


def test_stage_used_as_a_segment_gets_a_hint(tmp_path: Path) -> None:
    report = check(tmp_path, POPULATION + "segment 新 = new\n")
    assert codes(report) == ["E0204"]
    assert report.diagnostics[0].hint == "`new` is a lifecycle stage: write `stage == new`"


@pytest.mark.parametrize(
    ("condition", "code"),
    [
        ("has_app == 1", "E0309"),  # yes/no attributes are not compared
        ("aum", "E0309"),  # an amount does not stand alone
        ("stage < mature", "E0309"),  # stages have no order
        ("stage == matur", "E0210"),
        ("tier == 财富x", "E0204"),
        ("risk_tolerance >= R2", "E0308"),
        ("aum >= 5%", "E0302"),
        ("propensity >= 0.3", "E0301"),  # a share attribute takes percentages
        ('aum > "5万"', "E0309"),
        ("age in 30 .. 40 and stage in (new, growing)", None),
        ("propensity in 10% .. 30%", None),
        ("tier >= 财富 and tier in (财富)", None),
    ],
)
def test_attribute_types(tmp_path: Path, condition: str, code: str | None) -> None:
    text = POPULATION + "tier 长尾 when aum < 50万\ntier 财富 when aum >= 50万\n"
    report = check(tmp_path, text + f"segment 测试 = {condition}\n")
    assert codes(report) == ([code] if code else [])


# ------------------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("step", "duration", "finer"),
    [
        ("month", "10 days", "step day"),
        ("month", "2 weeks", "step week"),
        ("week", "36 months", "step day"),  # 1080 days is not whole weeks (30/360 calendar)
        ("month", "1.5 days", None),
    ],
)
def test_schedule_durations_must_be_whole_steps(
    tmp_path: Path, step: str, duration: str, finer: str | None
) -> None:
    text = HEADER.format(step=step) + OFFERS + rule("R", f"  cooldown {duration}\n")
    report = check(tmp_path, text)
    problems = [d for d in report.diagnostics if d.code == "E0303" and d.span.line > 4]
    assert len(problems) == 1
    hint = problems[0].hint or ""
    assert (f"`{finer}`" in hint) if finer else ("step" not in hint.split(";")[1])


def test_window_durations_may_be_fractions_of_a_step(tmp_path: Path) -> None:
    text = (
        HEADER.format(step="month")
        + OFFERS
        + (
            "trigger 新户 = entered new within 100 days\n"
            "trigger 转出 = outflow >= 10万 within 10 days\n"
            + rule("R", "  on 新户 or 转出 or inactive 45 days\n", offer="理财 via 外呼")
            + "policy {\n  fatigue 10% per extra contact in 10 days\n}\n"
        )
    )
    assert [d.code for d in check(tmp_path, text).diagnostics] == ["W0101"]  # 稳健 unused


def test_same_library_checked_at_each_importers_step(tmp_path: Path) -> None:
    library = "product 理财 {\n  kind wealth\n  risk R1\n  tenor 45 days\n}\n"
    user = "channel 外呼 {\n  cost 1 per contact\n}\n" + rule("R", "")
    report = check(
        tmp_path,
        HEADER.format(step="day") + 'import "lib.strat"\n' + user,
        {"lib.strat": library},
    )
    assert report.diagnostics == []
    monthly = check(tmp_path, HEADER.format(step="month") + 'import "lib.strat"\n' + user)
    assert [(d.code, d.span.file) for d in monthly.diagnostics] == [("E0303", "lib.strat")]


def test_horizon_shorter_than_a_step(tmp_path: Path) -> None:
    text = 'strategy "短" {\n  horizon 3 weeks\n  step month\n}\n'
    assert codes(check(tmp_path, text)) == ["E0303"]
    text = 'strategy "短" {\n  horizon 0 months\n}\n'
    assert codes(check(tmp_path, text)) == ["E0305"]


def test_unknown_step(tmp_path: Path) -> None:
    report = check(tmp_path, 'strategy "x" {\n  step mnoth\n}\n')
    assert codes(report) == ["E0307"]
    assert report.diagnostics[0].hint == "did you mean `month`?"


# ------------------------------------------------------------------------------ state and event


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("segment 老 = inactive 6 months\n", []),  # both a state and an event
        ("trigger 沉睡 = inactive 6 months\n", []),
        ("segment 新 = entered new\n", ["E0411"]),  # the moment of entering: an event
        ("segment 新 = entered new within 3 months\n", []),
        ("segment 生日 = birthday\n", ["E0411"]),
        ("trigger 有钱 = aum >= 50万\n", ["E0411"]),  # a trigger needs an event
        ("trigger 有钱转出 = aum >= 50万 and outflow >= 10万\n", []),
        ("segment 季度 = every 3 months or salary credited\n", ["E0411", "E0411"]),
        ("tier 穷 when aum < 5万\ntier 富 when aum >= 5万\nsegment 富非穷 = 富 and not 穷\n", []),
    ],
)
def test_conditions_and_events(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert codes(check(tmp_path, POPULATION + text)) == expected


# ------------------------------------------------------------------------------ suitability


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  when 临界\n", ["E0501"]),
        ("  when 临界\n  suitable only\n", []),
        ("  when 临界 and risk_tolerance >= C2\n", []),
        ("  when 临界 and risk_tolerance > C1\n", []),
        ("  when 稳健客户\n", []),  # the segment says risk_tolerance >= C3
        ("  when 临界 or risk_tolerance >= C2\n", ["E0501"]),
        ("  when 临界\n  on 到期 and risk_tolerance in (C2, C3)\n", []),
        ("", ["E0501"]),
    ],
)
def test_suitability(tmp_path: Path, body: str, expected: list[str]) -> None:
    text = (
        POPULATION
        + OFFERS
        + (
            "segment 临界 = aum in 45万 .. 50万\n"
            "segment 稳健客户 = risk_tolerance >= C3 and 临界\n"
            "trigger 到期 = matures 理财\n"
        )
        + rule("R", body, offer="稳健 via 外呼")
    )
    assert codes(check(tmp_path, text)) == expected


def test_suitability_of_journey_waves(tmp_path: Path) -> None:
    journey = (
        "trigger 新户 = entered new within 100 days\n"
        "journey 蜜月 on 新户 {{\n"
        "  wave 1 after 0 months via 外呼 offer 理财 response 4%\n"
        "  wave 2 after 1 month via 外呼 offer 稳健 response 8%\n{extra}}}\n"
    )
    report = check(tmp_path, OFFERS + journey.format(extra=""))
    assert found(report) == [("E0501", 15, 37)]
    assert check(tmp_path, OFFERS + journey.format(extra="  suitable only\n")).diagnostics == []


# ------------------------------------------------------------------------------ shadowing

POLICY = "policy {\n  max 1 外呼 per customer per month\n}\n"


@pytest.mark.parametrize(
    ("high", "low", "policy", "shadowed"),
    [
        ("  when aum >= 5万\n", "  when aum >= 50万\n", POLICY, True),
        ("", "  when aum >= 50万\n", POLICY, True),  # no `when`: everyone
        ("  when aum >= 5万\n", "  when aum >= 50万\n", "", False),  # no cap: both act
        ("  when aum >= 50万\n", "  when aum >= 5万\n", POLICY, False),  # wider than the winner
        ("  when aum >= 5万\n  cooldown 3 months\n", "  when aum >= 50万\n", POLICY, False),
        ("  when aum >= 5万\n  holdout 10%\n", "  when aum >= 50万\n", POLICY, False),
        ("  when aum >= 5万\n  on birthday\n", "  when aum >= 50万\n", POLICY, False),
        ("  when aum >= 5万\n  on birthday\n", "  when aum >= 50万\n  on birthday\n", POLICY, True),
        (
            "  when aum >= 5万\n",
            "  when aum >= 50万\n",
            "policy {\n  max 1 contacts per customer per month\n  arbitrate by value\n}\n",
            False,
        ),
        (
            "  when aum >= 5万\n",
            "  when aum >= 50万\n",
            "policy {\n  max 1 contacts per customer per month\n}\n",
            True,
        ),
    ],
)
def test_shadowing(tmp_path: Path, high: str, low: str, policy: str, shadowed: bool) -> None:
    text = (
        HEADER.format(step="month")
        + OFFERS.replace("risk R2", "risk R1")
        + rule("宽", high, 90)
        + rule("窄", low, 80)
        + policy
        + rule("用稳健", "", 10, "稳健 via 外呼")
    )
    report = check(tmp_path, text)
    assert codes(report) == (["W0103"] if shadowed else [])
    if shadowed:
        (warning,) = report.diagnostics
        assert "`宽`" in warning.message and warning.related[0].span.line == 16


def test_different_products_do_not_shadow(tmp_path: Path) -> None:
    text = (
        HEADER.format(step="month")
        + OFFERS.replace("risk R2", "risk R1")
        + POLICY
        + rule("宽", "", 90)
        + rule("窄", "  when aum >= 50万\n", 80, "稳健 via 外呼")
    )
    assert check(tmp_path, text).diagnostics == []


def test_dead_when_is_not_also_shadowed_noise(tmp_path: Path) -> None:
    text = (
        HEADER.format(step="month")
        + OFFERS.replace("risk R2", "risk R1")
        + rule("空", "  when aum < 5万 and aum >= 50万\n")
        + rule("用稳健", "", 10, "稳健 via 外呼")
    )
    assert codes(check(tmp_path, text)) == ["W0102"]


def test_logic_checks_around_errors(tmp_path: Path) -> None:
    # A misspelt attribute: no "never holds" on top of it; suitability is still judged (the
    # `when` does not restrict the tolerance whatever `agee` is).
    text = POPULATION + OFFERS + rule("R", "  when agee < 5 and aum > 50\n", offer="稳健 via 外呼")
    assert codes(check(tmp_path, text)) == ["E0203", "E0501"]
    text = POPULATION + OFFERS + rule("R", "  when agee < 5 and agee > 50\n")
    assert codes(check(tmp_path, text)) == ["E0203", "E0203"]
    text = (
        POPULATION
        + OFFERS
        + rule("R", "  when agee < 5 and risk_tolerance >= C2\n", offer="稳健 via 外呼")
    )
    assert codes(check(tmp_path, text)) == ["E0203"]


# ------------------------------------------------------------------------------ unused


def test_unused_rules(tmp_path: Path) -> None:
    text = (
        HEADER.format(step="month")
        + POPULATION
        + (
            "tier 长尾 when aum < 5万\ntier 富 when aum >= 5万\n"  # tiers are never unused
            "segment 老 = age >= 60\nsegment 老富 = 老 and 富\n"  # 老 is used by 老富
            "model 模型 {\n  predicts churn within 3 months\n  auc 0.7\n}\n"
            "variant 空 {\n}\n"
            "persona 某人 {\n  given aum 5万\n  expect gets nothing\n}\n"
        )
    )
    report = check(tmp_path, text)
    assert [(d.code, d.message) for d in report.diagnostics] == [
        ("W0101", "segment `老富` is declared but never used"),
        ("W0101", "model `模型` is declared but never used"),
    ]


def test_libraries_export_their_names(tmp_path: Path) -> None:
    assert check(tmp_path, "segment 老 = age >= 60\n" + OFFERS).diagnostics == []


# ------------------------------------------------------------------------------ variants, personas


def test_variants_are_checked_like_their_target(tmp_path: Path) -> None:
    text = (
        OFFERS
        + rule("R", "")
        + (
            "variant V {\n"
            "  rule R { response 0.08 }\n"  # E0301, as in the rule itself
            "  channel 外呼 { reach 120% }\n"  # E0304
            "  product 外呼 { risk R2 }\n"  # E0212: 外呼 is a channel
            "  rule R { holdout 5% }\n"  # E0407: R twice in one variant
            "}\n"
        )
    )
    assert codes(check(tmp_path, text)) == ["E0301", "E0304", "E0212", "E0407"]


def test_personas_are_checked(tmp_path: Path) -> None:
    text = (
        POPULATION
        + OFFERS
        + rule("R", "")
        + (
            "trigger 生日 = birthday\n"
            "persona P {\n"
            "  given aum C3, has_app, stage 成熟, holds 理财, received R 1 month ago, event 生日\n"
            "  expect suppressed R by 冷却\n"
            "  expect gets X via 外呼\n"
            "}\n"
            "persona Q {\n  given age\n}\n"
        )
    )
    assert codes(check(tmp_path, text)) == ["E0309", "E0210", "E0305", "E0209", "E0408", "E0309"]


def test_expectations_are_checked(tmp_path: Path) -> None:
    text = (
        OFFERS
        + rule("R", "")
        + (
            "variant V {\n}\n"
            "expect {\n"
            "  cost of 外呼 <= 5% per month with 90% confidence\n"  # E0302: cost is money
            "  cost of 短信 <= 5万\n"  # E0209: nothing called 短信
            "  aum uplift vs 激进 > 0\n"  # E0414: no such variant
            "  churn < 8\n"  # E0301: churn is a share
            "  revenue in V > cost in V with 100% confidence\n"  # E0304
            "  nps > churn\n"  # E0309: a score against a share
            "}\n"
        )
    )
    assert codes(check(tmp_path, text)) == ["E0302", "E0209", "E0414", "E0301", "E0304", "E0309"]


def test_diagnostics_are_sorted_and_unique(tmp_path: Path) -> None:
    report = check(
        tmp_path, "segment b = agee > 1\nsegment a = agee > 1 and ages > 2\n", {"lib.strat": ""}
    )
    places = [(d.span.file, d.span.line, d.span.column) for d in report.diagnostics]
    assert places == sorted(places) and len(set(places)) == len(places)


def test_a_typo_is_one_diagnostic(tmp_path: Path) -> None:
    # The segment the typo meant is not also reported as unused.
    text = (
        HEADER.format(step="month")
        + POPULATION
        + OFFERS.replace("risk R2", "risk R1")
        + ("segment 临界财富 = aum in 45万 .. 50万\n")
        + rule("R", "  when 临界财富s\n")
        + rule("S", "", 10, "稳健 via 外呼")
    )
    assert codes(check(tmp_path, text)) == ["E0204"]


def test_definition_cycles_are_reported_once_with_every_member(tmp_path) -> None:
    from pathlib import Path

    from strategy_dsl.checker import check_paths

    path = Path(tmp_path) / "c.strat"
    path.write_text(
        "segment a = b\nsegment b = c and payroll\nsegment c = a\n"
        "trigger t = u or birthday\ntrigger u = t\nsegment ok = a or b\n",
        encoding="utf-8",
    )
    report = check_paths([path])
    cycles = [d for d in report.diagnostics if d.code == "E0416"]
    assert [(d.span.line, len(d.related)) for d in cycles] == [(1, 2), (4, 1)]


def test_a_long_chain_of_segments_is_not_a_cycle(tmp_path) -> None:
    from pathlib import Path

    from strategy_dsl.checker import check_paths

    lines = ["segment s0 = payroll"] + [f"segment s{i} = s{i - 1}" for i in range(1, 3000)]
    path = Path(tmp_path) / "chain.strat"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert [d.code for d in check_paths([path]).diagnostics if d.code == "E0416"] == []
