"""`churn x F for detractors` in the `lifecycle` (issue 16 item 8): the `nps` block's detractors
churn faster. A customer who is a detractor with chance d this step has the hazard
h × (1 + (F − 1) × d), the marginal of a per-step detractor draw."""

from __future__ import annotations

from pathlib import Path

from checker_support import check, codes
from sim_support import HEADER, model_of

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
