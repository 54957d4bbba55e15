"""strategy_dsl.rate_edit: a recalibrated response rate changes the characters of its number
and nothing else — comments, layout, variants and other plays stay as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from strategy_dsl.formatter import format_text
from strategy_dsl.rate_edit import RateEditError, edit_rates, format_rate, response_spans

ROOT = Path(__file__).resolve().parents[1]
WEALTH = ROOT / "strategies" / "wealth_2026q1.strat"


@pytest.mark.parametrize(
    ("rate", "text"),
    [(0.06, "6%"), (0.048, "4.8%"), (0.0933, "9.33%"), (0.12345, "12.3%"), (0.000123, "0.0123%")],
)
def test_rates_are_written_as_the_map_writes_them(rate: float, text: str) -> None:
    assert format_rate(rate) == text


def test_rules_and_waves_have_their_number_spans() -> None:
    text = WEALTH.read_text("utf-8")
    spans = response_spans(text, str(WEALTH))
    span, written = spans[("临界提升", None)]
    assert written == "6%"
    assert text.splitlines()[span.line - 1][span.column - 1 : span.end_column - 1] == "6%"
    assert spans[("蜜月期", 2)][1] == "8%"
    # The variant 激进 overrides 临界提升's response with 8%: not a play of its own.
    assert len([key for key in spans if key[0] == "临界提升"]) == 1


def test_only_the_numbers_change() -> None:
    text = WEALTH.read_text("utf-8")
    edited = edit_rates(text, str(WEALTH), {("临界提升", None): 0.048, ("蜜月期", 2): 0.0712})
    changed = [
        (a, b) for a, b in zip(text.splitlines(), edited.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        (
            "  response 6%  # base response among reached, eligible customers",
            "  response 4.8%  # base response among reached, eligible customers",
        ),
        (
            "  wave 2 after 1 month via 外呼 using 欢迎话术 offer 稳健理财 response 8%",
            "  wave 2 after 1 month via 外呼 using 欢迎话术 offer 稳健理财 response 7.12%",
        ),
    ]
    assert "    response 8%\n    holdout 5%" in edited  # the variant is as it was
    assert format_text(edited, "w.strat").changed is False  # still canonical


def test_a_play_not_in_the_file_is_refused() -> None:
    text = WEALTH.read_text("utf-8")
    with pytest.raises(RateEditError, match="no `response` of 不存在 in this file"):
        edit_rates(text, "w.strat", {("不存在", None): 0.05})
    with pytest.raises(RateEditError, match="does not parse"):
        response_spans("rule {", "bad.strat")
