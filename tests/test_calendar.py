"""The one calendar (strategy_dsl/calendar.py) and the one table of magnitude suffixes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from simulator.engine.run import steps_of
from strategy_dsl.calendar import (
    STEP_DAYS,
    horizon_steps,
    months_to_steps,
    step_days,
    steps_text,
    steps_to_months,
)
from strategy_dsl.magnitudes import magnitude
from strategy_dsl.parser import parse_number


def test_a_twelve_month_year_in_each_step() -> None:
    assert months_to_steps(12, STEP_DAYS["month"]) == 12
    assert months_to_steps(12, STEP_DAYS["week"]) == 51  # 360/7 = 51.4
    assert months_to_steps(12, STEP_DAYS["day"]) == 360


def test_months_round_to_the_nearest_step_as_the_run_does() -> None:
    # 2 months of weeks is 60/7 = 8.57 steps: the run simulates 9, so every count of "steps in
    # 2 months" is 9. The summary's old floor said 8, a shorter horizon than the one run.
    assert months_to_steps(2, STEP_DAYS["week"]) == 9
    assert months_to_steps(1, STEP_DAYS["week"]) == 4  # 4.29
    assert horizon_steps(0.01, STEP_DAYS["month"]) == 1  # a run is at least one step
    assert months_to_steps(0.01, STEP_DAYS["month"]) == 0  # a persona fact may be 0 steps ago


def test_the_run_and_the_calendar_agree_on_every_horizon() -> None:
    weekly = SimpleNamespace(step_days=7, horizon_steps=52)  # what steps_of reads of a compiled map
    assert steps_of(weekly, None) == 52  # type: ignore[arg-type]
    for months in range(1, 37):
        assert steps_of(weekly, months) == months_to_steps(months, 7)  # type: ignore[arg-type]


def test_steps_back_to_months_and_unknown_units() -> None:
    assert steps_to_months(51, STEP_DAYS["week"]) == pytest.approx(11.9, abs=0.01)
    assert steps_to_months(360, 1) == 12
    assert step_days("fortnight") == 30  # an output from before the unit was recorded


def test_steps_as_messages_write_them() -> None:
    assert steps_text(1, "week") == "1 week"
    assert steps_text(36, "month") == "36 months"
    assert steps_text(1080, "day") == "1,080 days"


@pytest.mark.parametrize(
    ("text", "value"),
    [("5万", 50_000.0), ("1.5亿", 1.5e8), ("2k", 2000.0), ("2K", 2000.0), ("1.5M", 1.5e6)],
)
def test_magnitudes_in_a_strategy_file(text: str, value: float) -> None:
    assert parse_number(text) == (value, False)


def test_magnitude_table() -> None:
    assert magnitude("") == 1
    assert magnitude("万") == 10_000
    assert magnitude("x") is None
