"""The bank's calendar: the 30/360 convention, the step units, and months <-> steps.

A month is 30 days and a year 360 (12 months), the convention the bank's interest and
reporting already use; a week is 7 days. A strategy moves in steps of a `day`, a `week` or a
`month`. This is the one home of those numbers and of the conversions between a horizon in
months (the unit of `--months`, of persona facts and of the reports) and whole steps. The Numba
kernels keep the same constants inline (they never import the DSL); they receive the step's
days from the compiled tables.

Months to steps rounds to the nearest whole step (Python's round, ties to even): a 2-month
horizon with weekly steps is 60/7 = 8.57 -> 9 steps, the horizon `simulate --months 2` runs.
A count that floored (8) would describe a shorter run than the one simulated.
"""

from __future__ import annotations

DAYS_PER_MONTH = 30
DAYS_PER_YEAR = 360

# Days in each duration unit a strategy may write, singular and plural.
DAYS_PER_UNIT: dict[str, int] = {
    "day": 1,
    "days": 1,
    "week": 7,
    "weeks": 7,
    "month": DAYS_PER_MONTH,
    "months": DAYS_PER_MONTH,
    "year": DAYS_PER_YEAR,
    "years": DAYS_PER_YEAR,
}
# The units a strategy may step in, and the days each covers.
STEP_DAYS: dict[str, int] = {"day": 1, "week": 7, "month": DAYS_PER_MONTH}
DEFAULT_STEP = "month"


def step_days(step_unit: str) -> int:
    """Days in one step of ``step_unit``; a month for a unit this calendar does not know (an
    output written before the unit was recorded)."""
    return STEP_DAYS.get(step_unit, DAYS_PER_MONTH)


def months_to_steps(months: float, days_per_step: int) -> int:
    """The nearest whole number of steps to ``months`` (may be 0): 12 months is 12 monthly,
    51 weekly or 360 daily steps; 2 months is 9 weekly steps."""
    return round(months * DAYS_PER_MONTH / days_per_step)


def horizon_steps(months: float, days_per_step: int) -> int:
    """Steps a run of ``months`` simulates: the nearest whole number, at least one."""
    return max(1, months_to_steps(months, days_per_step))


def steps_to_months(steps: float, days_per_step: int) -> float:
    """``steps`` of ``days_per_step`` days, in months (30/360)."""
    return steps * days_per_step / DAYS_PER_MONTH


def steps_text(steps: int, step_unit: str) -> str:
    """``36 months``, ``1 week``, ``1,080 days``: a number of steps as messages and captions
    write it."""
    return f"{steps:,} {step_unit}{'s' if steps != 1 else ''}"
