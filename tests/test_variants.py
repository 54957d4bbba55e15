"""`apply_variant`: overrides replace the base's settings, lowered by the checker's lowering."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sim_support import STRATEGIES, bundled

from strategy_dsl.checker import check_paths
from strategy_dsl.variants import VariantError, apply_variant


def test_a_rule_and_policy_override_replace_only_what_they_name() -> None:
    base = bundled("wealth_2026q1.strat")
    varied = apply_variant(base, "激进")
    rule = next(r for r in varied.rules if r.name == "临界提升")
    before = next(r for r in base.rules if r.name == "临界提升")
    assert (rule.response, rule.holdout) == (0.08, 0.05)  # 8%, 5% as fractions
    # Everything else of the rule is the base's: offer, conditions, effects, cooldown.
    assert (rule.when, rule.product, rule.channel, rule.script) == (
        before.when,
        before.product,
        before.channel,
        before.script,
    )
    assert (rule.effects, rule.cooldown_steps, rule.priority) == (
        before.effects,
        before.cooldown_steps,
        before.priority,
    )
    # `max 6 contacts per customer per month` replaces the monthly cap, not the per-channel one.
    caps = {(c.channel, c.window_steps): c.count for c in varied.policy.caps}
    assert caps == {(None, 1.0): 6, ("外呼", 1.0): 1}
    assert varied.policy.control == base.policy.control
    # Untouched entities are the very same objects: the simulator sees the same strategy.
    assert [r for r in varied.rules if r.name != "临界提升"] == [
        r for r in base.rules if r.name != "临界提升"
    ]
    assert varied.population is base.population and varied.journeys is base.journeys


def test_units_are_converted_as_in_the_base_declaration() -> None:
    base = bundled("near_threshold_upgrade.strat")
    varied = apply_variant(base, "临界财富加码")
    # `margin 0.5% per year` with monthly steps: 0.005 / 12 per step, as the checker lowers it.
    assert varied.products["稳健理财"].margin_per_step == pytest.approx(0.005 / 12)
    rule = next(r for r in varied.rules if r.name == "临界财富外呼")
    assert rule.budget is not None and rule.budget.amount == 500_000.0
    assert rule.budget.window_steps == 1.0


def test_journey_waves_are_replaced_by_number_and_scripts_by_name() -> None:
    base = bundled("new_customer_100_days.strat")
    varied = apply_variant(base, "先企微后外呼")
    waves = varied.journeys[0].waves
    # Waves 1-3 are restated; waves 4 and 5, which the variant does not name, are the base's.
    assert [w.number for w in waves] == [1, 2, 3, 4, 5]
    assert [w.channel for w in waves[:3]] == ["企业微信", "APP推送", "外呼"]
    assert waves[3:] == base.journeys[0].waves[3:]
    script = apply_variant(bundled("wealth_2026q1.strat"), "话术B").scripts["到期提醒话术"]
    assert script.lift == 1.4 and script.text is not None  # text kept from the base


def test_an_unknown_variant_names_the_known_ones() -> None:
    with pytest.raises(VariantError) as caught:
        apply_variant(bundled("wealth_2026q1.strat"), "保守")
    assert "`保守`" in caught.value.message
    assert "激进" in caught.value.message and "话术B" in caught.value.message


def test_a_file_edited_since_the_check_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(STRATEGIES, folder)
    path = folder / "wealth_2026q1.strat"
    (model,) = check_paths([path]).models.values()
    path.write_text(path.read_text(encoding="utf-8").replace("response 8%", "response 9%"))
    with pytest.raises(VariantError, match="changed since it was checked"):
        apply_variant(model, "激进")
