"""Persona tests (simulator.analysis.personas): the bundled maps' personas pass; wrong expectations
fail and say what was decided instead; every outcome kind and suppression reason on small inline
strategies; sibling `*_test.strat` files; the decision agrees with the simulator's own trace of
a customer with the same facts; bad input gives clear errors."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, POPULATION, STRATEGIES, model_of

from simulator.analysis.personas import (
    NOT_CANDIDATE,
    WON,
    PersonaError,
    PersonaResult,
    decide,
    persona_coverage,
    personas_for,
    run_personas,
)
from simulator.engine.run import simulate, trace_customer
from simulator.kernels import common as k
from strategy_dsl.checker import check_paths
from strategy_dsl.compile import compile_strategy
from strategy_dsl.model import CheckedStrategy, PersonaSpec

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------ the bundled maps

BUNDLED = sorted(p.name for p in STRATEGIES.glob("*.strat"))
WITH_PERSONAS = (
    "wealth_2026q1.strat",
    "new_customer_100_days.strat",
    "churn_winback.strat",
    "near_threshold_upgrade.strat",
)


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_persona_passes(name: str) -> None:
    model, personas = personas_for(STRATEGIES / name)
    results = run_personas(model, personas)
    failed = [
        f"{r.name}: {o.text} — {o.message}" for r in results for o in r.outcomes if not o.passed
    ]
    assert not failed, "\n".join(failed)
    assert len(results) == len(model.personas)
    if name in WITH_PERSONAS:
        assert results, f"{name} lost its personas"


def test_the_language_examples_decide_as_their_comments_say() -> None:
    model, personas = personas_for(STRATEGIES / "wealth_2026q1.strat")
    by_name = {r.name: r for r in run_personas(model, personas)}
    assert by_name["临界客户"].won == {"临界提升"}
    conservative = by_name["保守老客户"].decision
    assert conservative is not None
    # C1 is outside `risk_tolerance >= C2`: not even a candidate, so never offered.
    assert conservative.of("临界提升")[0].status == NOT_CANDIDATE
    assert "银发" in conservative.segments
    assert by_name["刚被联系过"].decision.of("临界提升")[0].status == "cooldown"  # type: ignore[union-attr]
    assert by_name["已持有"].decision.of("临界提升")[0].status == "held"  # type: ignore[union-attr]
    payroll = by_name["代发客户发薪"].decision
    assert payroll is not None and "工资到账" in payroll.triggers


# ------------------------------------------------------------------------------ test files


def _library(tmp_path: Path) -> Path:
    """A copy of the bundled maps (with common/), where test files can sit beside a map."""
    target = tmp_path / "strategies"
    shutil.copytree(STRATEGIES, target)
    return target


def test_a_sibling_test_file_tests_the_map_it_imports(tmp_path: Path) -> None:
    folder = _library(tmp_path)
    test_file = folder / "wealth_2026q1_test.strat"
    test_file.write_text(
        textwrap.dedent(
            """\
            import "wealth_2026q1.strat"

            persona 临界进取客户 {
              given aum 46万, risk_tolerance C4, consent_call, stage growing
              expect gets 临界提升 via 外呼
            }
            """
        ),
        encoding="utf-8",
    )
    model, personas = personas_for(test_file)
    assert model.strategy.name == "财富客群经营 2026Q1"  # the imported map's header
    assert model.population is not None and model.population.size == 200_000
    assert [p.name for p in personas] == ["临界进取客户"]  # only the file's own personas
    (result,) = run_personas(model, personas)
    assert result.passed, result.outcomes
    _, everyone = personas_for(test_file, own_only=False)
    assert [p.name for p in everyone][-1] == "临界进取客户" and len(everyone) == 6  # the map's 5


def test_wrong_expectations_fail_and_say_what_happened(tmp_path: Path) -> None:
    folder = _library(tmp_path)
    test_file = folder / "wealth_2026q1_test.strat"
    test_file.write_text(
        textwrap.dedent(
            """\
            import "wealth_2026q1.strat"

            persona 走错渠道 {
              given aum 48万, risk_tolerance C3, consent_call, stage mature
              expect gets 临界提升 via 企业微信
            }
            persona 以为没有 {
              given aum 48万, risk_tolerance C3, consent_call, stage mature
              expect gets nothing
            }
            persona 以为封顶 {
              given aum 48万, risk_tolerance C3, consent_call, stage mature
              given received 临界提升 1 month ago
              expect suppressed 临界提升 by cap
            }
            persona 以为会得 {
              given aum 48万, risk_tolerance C1, consent_call, stage mature
              expect gets 临界提升
            }
            persona 以为不会 {
              given aum 48万, risk_tolerance C3, consent_call, stage mature
              expect never 临界提升
            }
            """
        ),
        encoding="utf-8",
    )
    model, personas = personas_for(test_file)
    results = {r.name: r for r in run_personas(model, personas)}
    assert not any(r.passed for r in results.values())

    def message(name: str) -> str:
        (outcome,) = results[name].outcomes
        assert not outcome.passed
        return outcome.message

    assert message("走错渠道") == "got 临界提升 via 外呼: 临界提升 came via 外呼, not 企业微信"
    assert message("以为没有") == "got 临界提升 via 外呼"
    assert message("以为封顶") == "got nothing; 临界提升 was suppressed by cooldown"
    assert message("以为会得").startswith(
        "got nothing; 临界提升 was not a candidate (tier 大众富裕;"
    )
    assert message("以为不会") == "got 临界提升 via 外呼"


# ------------------------------------------------------------------------------ inline strategies

PLAYS = """
tier 大众 when aum < 50万
tier 财富 when aum >= 50万
segment 临界 = aum in 45万 .. 50万
segment 银发 = age >= 60
trigger 大额转出 = outflow >= 10万 within 1 month
trigger 季度检视 = every 3 months

product 存款 {
  kind deposit
  risk R1
  inflow ~ constant(5000)
}
product 理财 {
  kind wealth
  risk R2
  min 1万
  inflow ~ constant(5万)
}
product 基金 {
  kind fund
  risk R3
  inflow ~ constant(2万)
}

channel 外呼 {
  cost 8 per contact
  reach 45%
  requires consent_call
}
channel 短信 {
  cost 0.05 per contact
  reach 90%
}

rule 转出挽留 priority 90 {
  on 大额转出
  offer 存款 via 外呼
  response 5%
}
rule 临界外呼 priority 80 {
  when 临界 and risk_tolerance >= C2
  offer 理财 via 外呼
  response 6%
  cooldown 3 months
  holdout 40%
  budget 1万 per month
}
rule 基金短信 priority 60 {
  when 临界
  offer 基金 via 短信
  response 2%
  suitable only
  max 1 per customer per year
}
rule 存款短信 priority 20 {
  when 临界
  offer 存款 via 短信
  response 1%
}
rule 银发检视 priority 50 {
  when 银发 and age > 70
  on 季度检视
  offer 存款 via 短信
  response 1%
}

journey 蜜月 on 大额转出 priority 10 {
  wave 1 after 0 months via 短信 offer 基金 response 4%
  wave 2 after 1 month via 外呼 offer 理财 response 8%
  suitable only
}

policy {
  max 1 外呼 per customer per month
  control 30%
}
"""


def _personas(tmp_path: Path, personas: str) -> list[PersonaResult]:
    model = model_of(tmp_path, HEADER + POPULATION + PLAYS + textwrap.dedent(personas))
    return run_personas(model)


def _one(tmp_path: Path, given: str, *expects: str) -> PersonaResult:
    lines = "\n".join(f"  expect {e}" for e in expects)
    (result,) = _personas(tmp_path, f"persona 某客户 {{\n  given {given}\n{lines}\n}}\n")
    return result


NEAR = "aum 48万, risk_tolerance C3, consent_call, stage mature"


def test_gets_via_the_channel(tmp_path: Path) -> None:
    result = _one(tmp_path, NEAR, "gets 临界外呼 via 外呼", "gets 临界外呼", "gets 基金短信")
    assert result.passed, [o.message for o in result.outcomes]
    statuses = result.decision.statuses()  # type: ignore[union-attr]
    # Three products, one call: every candidate wins.
    assert statuses == {"临界外呼": WON, "基金短信": WON, "存款短信": WON}


def test_gets_nothing_and_never(tmp_path: Path) -> None:
    far = "aum 10万, risk_tolerance C3, consent_call, stage mature"
    result = _one(tmp_path, far, "gets nothing", "never 临界外呼")
    assert result.passed
    assert "临界外呼 was not a candidate (tier 大众; segments: none" in result.outcomes[1].message
    wrong = _one(tmp_path, NEAR, "gets nothing", "never 基金短信")
    assert [o.passed for o in wrong.outcomes] == [False, False]
    assert wrong.outcomes[1].message.startswith("got 临界外呼 via 外呼 and 基金短信 via 短信")


def test_suppressed_by_suitability(tmp_path: Path) -> None:
    result = _one(
        tmp_path,
        "aum 48万, risk_tolerance C2, consent_call, stage mature",
        "suppressed 基金短信 by suitability",
        "never 基金短信",
    )
    assert result.passed, [o.message for o in result.outcomes]


def test_suppressed_by_held(tmp_path: Path) -> None:
    result = _one(tmp_path, NEAR + ", holds 理财", "suppressed 临界外呼 by held")
    assert result.passed, result.outcomes[0].message


def test_suppressed_by_requires(tmp_path: Path) -> None:
    result = _one(
        tmp_path,
        "aum 48万, risk_tolerance C3, stage mature",
        "suppressed 临界外呼 by requires",
        "gets 基金短信 via 短信",
    )
    assert result.passed, [o.message for o in result.outcomes]


def test_suppressed_by_cooldown_and_cap(tmp_path: Path) -> None:
    result = _one(
        tmp_path,
        NEAR + ", received 临界外呼 2 months ago, received 基金短信 6 months ago",
        "suppressed 临界外呼 by cooldown",  # 3-month cooldown
        "suppressed 基金短信 by cap",  # max 1 per customer per year
        "gets 存款短信",
    )
    assert result.passed, [o.message for o in result.outcomes]
    later = _one(tmp_path, NEAR + ", received 临界外呼 3 months ago", "gets 临界外呼 via 外呼")
    assert later.passed, later.outcomes[0].message


def test_a_received_contact_fills_the_channel_cap(tmp_path: Path) -> None:
    # `max 1 外呼 per customer per month`: a call this month (0 months ago) fills it.
    result = _one(tmp_path, NEAR + ", received 转出挽留 0 months ago", "suppressed 临界外呼 by cap")
    assert result.passed, result.outcomes[0].message


def test_suppressed_by_priority(tmp_path: Path) -> None:
    # 转出挽留 (priority 90) takes the one call of the month; 存款短信 loses its product to it.
    result = _one(
        tmp_path,
        NEAR + ", event 大额转出",
        "gets 转出挽留 via 外呼",
        "suppressed 临界外呼 by priority",
        "suppressed 存款短信 by priority",
    )
    assert result.passed, [o.message for o in result.outcomes]
    assert "大额转出" in result.decision.triggers  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("holdout", "a persona is in the treatment arm and outside every holdout"),
        ("control", "a persona is in the treatment arm, never in the control group"),
        ("capacity", "channel capacity is shared by many customers and never binds for one"),
        ("budget", "a play's budget is shared by many customers and never binds for one"),
    ],
)
def test_reasons_that_never_hold_for_one_customer(tmp_path: Path, reason: str, why: str) -> None:
    # 临界外呼 has a 40% holdout and a budget, and the policy a 30% control group: the persona
    # is in none of them.
    result = _one(tmp_path, NEAR, f"suppressed 临界外呼 by {reason}")
    (outcome,) = result.outcomes
    assert not outcome.passed
    assert outcome.message == f"{why}, so `{reason}` cannot happen; got 临界外呼 via 外呼 and " + (
        "基金短信 via 短信 and 存款短信 via 短信; 临界外呼 won via 外呼"
    )


def test_journey_waves_follow_the_event_and_received(tmp_path: Path) -> None:
    entered = _one(tmp_path, "aum 10万, risk_tolerance C3, consent_call, event 大额转出",
                   "gets 蜜月 via 短信", "gets 转出挽留 via 外呼")  # fmt: skip
    assert entered.passed, [o.message for o in entered.outcomes]
    assert entered.decision.journeys == ("蜜月",)  # type: ignore[union-attr]
    # Entered a month ago: wave 1 came then, wave 2 (a call) is due now.
    due = _one(tmp_path, "aum 10万, risk_tolerance C3, consent_call, received 蜜月 1 month ago",
               "gets 蜜月 via 外呼", "never 转出挽留")  # fmt: skip
    assert due.passed, [o.message for o in due.outcomes]
    assert due.decision.statuses() == {"蜜月 wave 2": WON}  # type: ignore[union-attr]
    cautious = _one(tmp_path, "aum 10万, risk_tolerance C1, received 蜜月 1 month ago",
                    "suppressed 蜜月 by suitability")  # fmt: skip
    assert cautious.passed, cautious.outcomes[0].message


def test_calendar_triggers_fire_only_as_events(tmp_path: Path) -> None:
    quiet = _one(tmp_path, "aum 10万, age 75, risk_tolerance C3", "never 银发检视")
    assert quiet.passed and quiet.decision.triggers == ()  # type: ignore[union-attr]
    review = _one(tmp_path, "aum 10万, age 75, risk_tolerance C3, event 季度检视", "gets 银发检视")
    assert review.passed, review.outcomes[0].message


def test_thresholds_hold_exactly_at_the_given_value(tmp_path: Path) -> None:
    # age is stored as float32 at step 0 and grows with t: 70 must still be exactly 70.
    at = _one(tmp_path, "aum 10万, age 70, risk_tolerance C3, event 季度检视", "never 银发检视")
    assert at.passed and "银发" in at.decision.segments  # type: ignore[union-attr]
    above = _one(tmp_path, "aum 10万, age 70.5, risk_tolerance C3, event 季度检视", "gets 银发检视")
    assert above.passed
    edge = _one(tmp_path, "aum 50万, risk_tolerance C3, consent_call", "never 临界外呼")
    assert edge.passed and edge.decision.tier == "财富"  # type: ignore[union-attr]


def test_a_churned_persona_gets_nothing(tmp_path: Path) -> None:
    result = _one(tmp_path, NEAR.replace("mature", "churned"), "gets nothing", "gets 临界外呼")
    assert [o.passed for o in result.outcomes] == [True, False]
    assert "(the persona has churned)" in result.outcomes[1].message


def test_an_outcome_that_rests_on_an_unstated_attribute_is_flagged(tmp_path: Path) -> None:
    loose = _one(tmp_path, "aum 48万, consent_call, stage mature", "gets 临界外呼 via 外呼")
    assert loose.passed  # the population's most common tolerance is C2 or C3 (both suitable)
    (warning,) = loose.warnings
    assert warning.startswith("`某客户` does not give `risk_tolerance` (taken as C")
    assert "with risk_tolerance C1, `gets 临界外呼 via 外呼` would fail" in warning
    stated = _one(tmp_path, NEAR, "gets 临界外呼 via 外呼")
    assert stated.warnings == ()
    # The AUM threshold: without aum (median 10万) the persona is nowhere near 临界.
    no_aum = _one(tmp_path, "risk_tolerance C3, consent_call", "never 临界外呼")
    assert any("`aum`" in w and "would fail" in w for w in no_aum.warnings)


def test_coverage_lists_what_the_personas_reached(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + POPULATION
        + PLAYS
        + f"persona 甲 {{\n  given {NEAR}\n  expect gets 临界外呼\n}}\n"
        + "persona 乙 {\n  given aum 48万, risk_tolerance C2, stage mature\n"
        + "  expect never 基金短信\n}\n",
    )
    results = run_personas(model)
    coverage = {c.owner: c for c in persona_coverage(model, results)}
    assert set(coverage) == {"转出挽留", "临界外呼", "基金短信", "存款短信", "银发检视", "蜜月"}
    assert coverage["临界外呼"].candidate_for == ("甲", "乙")
    assert coverage["临界外呼"].won_for == ("甲",)  # 乙 has no call consent
    assert coverage["基金短信"].candidate_for == ("甲", "乙") and coverage["基金短信"].won_for == (
        "甲",
    )
    assert coverage["转出挽留"].candidate_for == () and coverage["蜜月"].kind == "journey"


# ------------------------------------------------------------------------------ agreement


AGREEMENT = """
strategy "一致" {
  horizon 12 months
  step month
  seed 11
}
population 客户 {
  size 400
  aum            ~ lognormal(median 30万, sigma 1.2)
  age            ~ normal(mean 45, sd 15) clamp 18..90
  risk_tolerance ~ categorical(C1 20%, C2 30%, C3 30%, C4 15%, C5 5%)
  stage          ~ categorical(new 10%, growing 30%, mature 45%, declining 15%)
  has_app        ~ bernoulli(60%)
  consent_call   ~ bernoulli(50%)
  propensity     ~ beta(2, 8)
}
tier 大众 when aum < 50万
tier 财富 when aum >= 50万
segment 临界 = aum in 20万 .. 50万
segment 银发 = age >= 60
product 存款 {
  kind deposit
  risk R1
  inflow ~ constant(5000)
}
product 理财 {
  kind wealth
  risk R2
  inflow ~ constant(5万)
}
product 基金 {
  kind fund
  risk R3
  inflow ~ constant(2万)
}
channel 外呼 {
  cost 8 per contact
  reach 45%
  requires consent_call
}
channel APP推送 {
  cost 0.02 per contact
  reach 30%
  requires has_app
}
channel 短信 {
  cost 0.05 per contact
  reach 90%
}
rule 财富外呼 priority 90 {
  when 财富 and stage in (growing, mature)
  offer 理财 via 外呼
  response 0%
  suitable only
  cooldown 2 months
}
rule 临界外呼 priority 80 {
  when 临界 and not 银发
  offer 理财 via 外呼
  response 0%
  suitable only
  cooldown 2 months
}
rule 基金推送 priority 70 {
  when aum >= 10万
  offer 基金 via APP推送
  response 0%
  suitable only
  max 1 per customer per year
}
rule 银发短信 priority 60 {
  when 银发
  offer 存款 via 短信
  response 0%
}
rule 存款外呼 priority 50 {
  when stage == declining
  offer 存款 via 外呼
  response 0%
}
policy {
  max 1 外呼 per customer per month
  max 2 contacts per customer per month
  arbitrate by value
}
"""

_TRACE_WORDS = {"contacted": WON, "reached": WON, "responded": WON}
_TRACE_WORDS |= {"arbitration": "priority", "channel": "requires"}


def _from_trace(step: dict) -> dict[str, str]:
    """A traced step's decision in the personas' words."""
    out = {}
    for play in step["candidates"]:
        status = WON if play in step["winner"] else step["suppressed"][play]
        out[play] = _TRACE_WORDS.get(status, status)
    return out


def test_personas_decide_as_the_simulator_traces_a_customer(tmp_path: Path) -> None:
    """Customers of a static world (no market, lifecycle or responses) are personas: given
    their step-0 facts, each one's persona decision is what the simulator's trace shows at
    step 1; and given the plays it got at step 1 as `received … 1 month ago`, at step 2."""
    model = model_of(tmp_path, AGREEMENT)
    compiled = compile_strategy(model)
    states: dict[int, object] = {}
    simulate(model, months=1, seed=5, observe=lambda rep, t, sts: states.setdefault(t, sts[0]))
    st = states[0]
    span = model.strategy.span
    codes = {name: i for i, name in enumerate(("prospect", "new", "growing", "mature"))}
    stages = {i: name for name, i in codes.items()} | {4: "declining"}
    seen: set[str] = set()
    for cid in range(0, 400, 7):
        attributes: dict[str, float | str | bool] = {
            "aum": float(st.aum[cid]),  # type: ignore[attr-defined]
            "age": float(st.age0[cid]) + 30 / 360,  # type: ignore[attr-defined]
            "risk_tolerance": float(st.risk[cid]),  # type: ignore[attr-defined]
            "propensity": float(st.propensity[cid]),  # type: ignore[attr-defined]
        }
        for bit, flag in enumerate(compiled.flags):
            if int(st.flags[cid]) >> bit & 1:  # type: ignore[attr-defined]
                attributes[flag] = True
        stage = stages[int(st.stage[cid])]  # type: ignore[attr-defined]
        story = trace_customer(model, cid, months=2, seed=5)
        persona = PersonaSpec(f"客户{cid}", attributes, stage, (), (), (), (), span)
        decision = decide(model, persona)
        assert decision.statuses() == _from_trace(story[1]), (cid, story[1])
        got = tuple((p, 1) for p in story[1]["winner"])
        older = attributes | {"age": float(st.age0[cid]) + 60 / 360}  # type: ignore[attr-defined]
        again = PersonaSpec(f"客户{cid}", older, stage, (), got, (), (), span)
        assert decide(model, again).statuses() == _from_trace(story[2]), (cid, story[2])
        seen |= set(decision.statuses().values()) | set(_from_trace(story[2]).values())
    # The sample met every status these plays can have.
    assert seen >= {WON, "priority", "requires", "cap", "cooldown", "suitability"}, seen


# ------------------------------------------------------------------------------ bad input


def _codes(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "bad.strat"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return [d.code for d in check_paths([path]).diagnostics if d.is_error]


def test_a_persona_naming_an_unknown_play_is_a_checker_error(tmp_path: Path) -> None:
    body = HEADER + POPULATION + PLAYS
    assert _codes(tmp_path, body + "persona P {\n  given aum 1万\n  expect gets 不存在\n}\n") == [
        "E0209"
    ]
    wrong_reason = "persona P {\n  given aum 1万\n  expect suppressed 临界外呼 by 忙\n}\n"
    assert _codes(tmp_path, body + wrong_reason) == ["E0305"]
    unknown_event = "persona P {\n  given aum 1万, event 发薪\n  expect gets nothing\n}\n"
    assert _codes(tmp_path, body + unknown_event) == ["E0205"]


def test_a_file_with_errors_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.strat"
    path.write_text(
        HEADER + POPULATION + PLAYS + "persona P {\n  given aum 1万\n  expect gets 不存在\n}\n",
        encoding="utf-8",
    )
    with pytest.raises(PersonaError) as caught:
        personas_for(path)
    assert re.match(
        r".*bad\.strat has 1 error; the first: .*bad\.strat:\d+:\d+: ", caught.value.message
    )
    assert "stratmap check" in caught.value.hint


def test_a_map_without_population_cannot_run_personas(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + """
        product 存款 {
          kind deposit
          risk R1
        }
        channel 短信 {
          cost 0.05 per contact
        }
        rule 全员 {
          offer 存款 via 短信
          response 1%
        }
        persona P {
          given aum 1万
          expect gets 全员
        }
        """,
    )
    with pytest.raises(PersonaError, match="has no population"):
        run_personas(model)


def test_facts_the_simulator_cannot_represent_fail_the_persona(tmp_path: Path) -> None:
    results = _personas(
        tmp_path,
        """
        persona 数错了 {
          given aum 48万, products_held 2, holds 理财
          expect gets nothing
        }
        persona 层级不符 {
          given aum 48万, tier 财富
          expect gets nothing
        }
        persona 只给层级 {
          given tier 财富, risk_tolerance C3, consent_call
          expect never 临界外呼
        }
        """,
    )
    wrong_count, wrong_tier, tier_only = results
    assert not wrong_count.passed and wrong_count.error is not None
    assert "`products_held 2` is counted from the persona's holdings, and it holds 1" in (
        wrong_count.error
    )
    assert wrong_count.outcomes[0].message.startswith("not decided: ")
    assert wrong_tier.error == "aum 480,000 is not in tier 财富 (>= 500,000)"
    assert tier_only.passed and tier_only.decision.tier == "财富"  # type: ignore[union-attr]


def test_facts_kept_differently_than_written_are_noted(tmp_path: Path) -> None:
    extra = "product 私行专属 {\n  kind wealth\n  risk R4\n}\n"
    (result,) = _personas(
        tmp_path,
        extra
        + """
        persona 备注 {
          given aum 10万, risk_tolerance C3, months_since_txn 1.5, holds 私行专属
          expect gets nothing
        }
        """,
    )
    assert result.passed
    assert result.warnings[:2] == (
        "`holds 私行专属` changes nothing: the strategy neither offers nor names 私行专属, so "
        "the simulator does not keep it",
        "`months_since_txn 1.5` is not a whole number of steps (months); it is taken as 2",
    )


def test_paths_that_are_not_a_strategy_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="is a folder"):
        personas_for(tmp_path)
    with pytest.raises(PersonaError, match=r"has 1 error; the first: .*cannot read .*No such file"):
        personas_for(tmp_path / "missing.strat")


def test_simulations_never_force_triggers(tmp_path: Path) -> None:
    """The persona hook in the decision kernel is off in every compiled strategy."""
    model = model_of(tmp_path, HEADER + POPULATION + PLAYS)
    tables = k.make_tables(compile_strategy(model))
    assert tables.sc_i[k.SC_FORCED_TRIGGERS] == 0
    assert k.PACKED["sc_i"][k.SC_FORCED_TRIGGERS] == "forced_triggers"


# ------------------------------------------------------------------------------ the docs


def _doc_example() -> str:
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    section = text.split("## Persona tests", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```strat\n(.*?)^```", section, re.M | re.S)
    assert blocks, "the Persona tests section has no complete ```strat example"
    return blocks[0]


def test_the_documented_example_passes(tmp_path: Path) -> None:
    shutil.copytree(STRATEGIES / "common", tmp_path / "common")
    model: CheckedStrategy = model_of(tmp_path, _doc_example(), "example.strat")
    results = run_personas(model)
    assert results and all(r.passed for r in results), [
        (r.name, [o.message for o in r.outcomes]) for r in results
    ]
    assert np.all([not r.warnings for r in results])


# ------------------------------------------------------------------------------ model top shares

WINBACK = """\
model 流失模型 {
  predicts churn within 3 months
  auc 0.75
}
segment 高流失风险 = 流失模型 top 10%
channel 外呼 {
  cost 8 per contact
}
product 存单 {
  kind deposit
  risk R1
}
rule 挽回 priority 90 {
  when 高流失风险
  offer 存单 via 外呼
  response 6%
}
rule 前五挽回 priority 80 {
  when 流失模型 top 5%
  offer 存单 via 外呼
  response 8%
}
"""


def test_a_persona_can_be_in_a_models_top_share(tmp_path: Path) -> None:
    """Issue 14, section 7: model-flagged customers are what win-back rules target, so a
    persona reaches them with `given MODEL top SHARE` (in every top of that model at least as
    large, in no smaller one)."""
    personas = """\
    persona 高风险 {
      given 流失模型 top 10%
      expect gets 挽回 via 外呼
      expect never 前五挽回
    }
    persona 最高风险 {
      given 流失模型 top 5%
      expect gets 挽回
      expect suppressed 前五挽回 by priority  # a candidate: in the top 5% as well
    }
    persona 前两成 {
      given 流失模型 top 20%
      expect gets nothing
    }
    persona 未被模型标记 {
      given stage mature
      expect gets nothing
    }
    """
    model = model_of(tmp_path, HEADER + POPULATION + WINBACK + textwrap.dedent(personas))
    results = run_personas(model)
    failed = [
        f"{r.name}: {o.text} — {o.message}" for r in results for o in r.outcomes if not o.passed
    ]
    assert not failed, "\n".join(failed)
    assert [r.name for r in results] == ["高风险", "最高风险", "前两成", "未被模型标记"]


def test_a_segment_given_as_a_fact_gets_a_hint_with_the_fact(tmp_path: Path) -> None:
    """`given 高流失风险` names a segment: the hint gives the fact that puts a customer in it,
    not what was already written."""
    path = tmp_path / "main.strat"
    text = (
        HEADER
        + POPULATION
        + WINBACK
        + "persona 某客户 {\n  given 高流失风险\n  expect gets 挽回\n}\n"
    )
    path.write_text(text, encoding="utf-8")
    (diag,) = [d for d in check_paths([path]).diagnostics if d.is_error]
    assert diag.code == "E0212"
    assert diag.hint is not None and "`given 流失模型 top 10%`" in diag.hint
