"""Numbers and units: percentages versus plain numbers, value ranges, durations and `per` units.

Kinds of numbers. A probability, share or rate (response, reach, holdout, control, transition
chances, categorical shares, `bernoulli` p, `top` shares, fatigue, NPS shares, referral, margins,
fees) is written with `%`; a bare number there is E0301 (zero alone is accepted: it means the
same either way). Money, counts and multipliers (cost, capacity, budget, size, lift, `x`
factors, AUC) are bare; a percentage there is E0302.

Calendar. Durations convert to days by the bank's 30/360 convention: 1 week = 7 days, 1 month =
30 days, 1 year = 12 months = 360 days. Steps are `day`, `week` or `month` (the numbers live in
strategy_dsl/calendar.py).

Schedule and window durations (a design decision). A *schedule* duration says when something
happens or how long it lasts: `horizon`, a product's `tenor`, `cooldown`, a wave's `after`,
`every`, an effect's `for`, NPS `for … after responded`, a persona's `received … ago`. The
simulation can only act at step boundaries, so a schedule duration must be a whole number of
steps (E0303, whose hint names the finer step that would fit). A *window* duration is a
threshold on elapsed time: `within`, `over`, `inactive`, fatigue and NPS `in 30 days`, a model's
`predicts … within`, an expectation's `within`, and the `per` window of a cap or budget. It may
be a fraction of a step (`entered new within 100 days` with `step month` is 3.33 months), and the
simulator compares elapsed time with it.

A `per <time>` unit may be the step or coarser (`margin 0.6% per year` with monthly steps is
0.05% per step); finer than the step (`capacity 700 per day` with monthly steps) is E0307,
because spreading it over the step would be a guess. Whether a duration or rate fits the step is
decided per strategy: an imported declaration file has no step of its own, so its durations are
checked with the step of each strategy that imports it (and, checked on its own, at `day`).
"""

from __future__ import annotations

import math

from strategy_dsl import syntax as s
from strategy_dsl.calendar import DAYS_PER_UNIT, STEP_DAYS
from strategy_dsl.checker.context import Context, suggestion_hint
from strategy_dsl.diagnostics import Diagnostic, error

# An imported declaration file checked on its own is checked at the finest step.
LIBRARY_STEP = "day"

SCHEDULE = "schedule"
WINDOW = "window"
HORIZON = "horizon"  # a schedule duration that must also be at least one step

_EPSILON = 1e-9


def show(value: float) -> str:
    """A number as a strategist writes it: no trailing `.0`, no float noise."""
    text = f"{value:.10g}"
    return text


def _as_percent(value: float) -> str:
    return show(value * 100 if abs(value) <= 1 else value)


# ------------------------------------------------------------------------------ numbers


def share(ctx: Context, number: s.Number, what: str, *, signed: bool = False) -> bool:
    """A percentage in [0, 100%] (or [-100%, 100%] when ``signed``): E0301 / E0304."""
    if not number.percent:
        if number.value == 0:
            return True
        ctx.error(
            "E0301",
            f"{what} is a percentage, not a bare number",
            number.span,
            label="needs `%`",
            hint=f"write `{_as_percent(number.value)}%`",
        )
        return False
    low = -100.0 if signed else 0.0
    if not low <= number.value <= 100.0:
        ctx.error(
            "E0304",
            f"{what} `{number.text}` is outside {'-100%' if signed else '0%'}–100%",
            number.span,
            label="not a probability",
            hint="a share is at least 0% and at most 100%; to scale a chance use a multiplier "
            "(`x 0.8`, `lift 1.3`)",
        )
        return False
    return True


def bare(ctx: Context, number: s.Number, what: str, example: str = "") -> bool:
    """A plain number (money, a count, a multiplier): E0302 when written as a percentage."""
    if number.percent:
        ctx.error(
            "E0302",
            f"{what} is a plain number, not a percentage",
            number.span,
            label="no `%` here",
            hint=f"write the amount itself{f', e.g. `{example}`' if example else ''}",
        )
        return False
    return True


def in_range(
    ctx: Context,
    number: s.Number,
    what: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
) -> bool:
    """E0305 when ``number`` is below ``minimum``, not above ``above``, over ``maximum`` or
    not a whole number."""
    value = number.value
    problem = None
    if integer and value != math.floor(value):
        problem = "a whole number"
    if minimum is not None and value < minimum:
        problem = f"at least {show(minimum)}"
    if above is not None and value <= above:
        problem = f"more than {show(above)}"
    if maximum is not None and value > maximum:
        problem = f"at most {show(maximum)}"
    if problem is None:
        return True
    ctx.error(
        "E0305",
        f"{what} must be {problem}",
        number.span,
        label=f"`{number.text}` is out of range",
        hint=f"give {what} a value that is {problem}",
    )
    return False


def amount(ctx: Context, number: s.Number, what: str, **limits: float | bool) -> bool:
    """A bare number within limits (see ``in_range``)."""
    return bare(ctx, number, what) and in_range(ctx, number, what, **limits)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ durations


def duration(ctx: Context, node: s.Duration, role: str) -> float | None:
    """The duration in days (None when its unit is unknown); recorded for the step checks."""
    days = DAYS_PER_UNIT.get(node.unit.text)
    if days is None:
        ctx.error(
            "E0307",
            f"unknown time unit `{node.unit.text}`",
            node.unit.span,
            label="not a unit",
            hint=suggestion_hint(node.unit.text, dict.fromkeys(DAYS_PER_UNIT))
            or "durations are in days, weeks, months or years",
        )
        return None
    if not bare(ctx, node.amount, "a duration"):
        return None
    total = node.amount.value * days
    ctx.durations.append((node, role, total))
    return total


def per_time(ctx: Context, per: s.Per, what: str) -> float | None:
    """The days a `per` unit of time stands for; E0307 when it is not a time unit."""
    days = DAYS_PER_UNIT.get(per.unit.text)
    if days is None:
        close = suggestion_hint(per.unit.text, dict.fromkeys(("day", "week", "month", "year")))
        ctx.error(
            "E0307",
            f"{what} is counted per unit of time, not per `{per.unit.text}`",
            per.unit.span,
            label="not a time unit",
            hint=close or "write `per day`, `per week`, `per month` or `per year`",
        )
        return None
    ctx.rates.append((per, days))
    return days


def per_unit(ctx: Context, per: s.Per, expected: str, what: str) -> bool:
    """A `per` that must name one fixed unit (`per contact`, `per customer`): E0307."""
    if per.unit.text == expected:
        return True
    ctx.error(
        "E0307",
        f"{what} is counted per {expected}, not per `{per.unit.text}`",
        per.unit.span,
        label=f"expected `per {expected}`",
        hint=f"write `per {expected}`",
    )
    return False


def step_unit(ctx: Context, name: s.Name) -> bool:
    if name.text in STEP_DAYS:
        return True
    ctx.error(
        "E0307",
        f"`{name.text}` is not a simulation step",
        name.span,
        label="not a step",
        hint=suggestion_hint(name.text, dict.fromkeys(STEP_DAYS))
        or "the step is `month`, `week` or `day`",
    )
    return False


# ------------------------------------------------------------------------------ fitting the step


def whole(value: float) -> bool:
    return abs(value - round(value)) < _EPSILON


def check_against_step(
    durations: list[tuple[s.Duration, str, float]],
    rates: list[tuple[s.Per, float]],
    step: str,
) -> list[Diagnostic]:
    """E0303 for schedule durations that are not whole steps, E0305 for a horizon shorter than
    a step, E0307 for rates counted per a unit finer than the step."""
    step_days = STEP_DAYS[step]
    found: list[Diagnostic] = []
    for node, role, days in durations:
        if role == WINDOW:
            continue
        steps = days / step_days
        if not whole(steps):
            found.append(_not_whole(node, days, step))
        elif role == HORIZON and steps < 1:
            found.append(
                error(
                    "E0305",
                    "the horizon must be at least one step",
                    node.span,
                    label=f"shorter than a {step}",
                    hint=f"give a horizon of at least 1 {step}",
                )
            )
    for per, days in rates:
        if days < step_days:
            found.append(
                error(
                    "E0307",
                    f"`per {per.unit.text}` is finer than the simulation step ({step})",
                    per.unit.span,
                    label="finer than a step",
                    hint=f"state it per {step} (or coarser), or make the step finer in the "
                    f"strategy header (`step {per.unit.text.removesuffix('s')}`)",
                )
            )
    return found


def _not_whole(node: s.Duration, days: float, step: str) -> Diagnostic:
    written = f"{node.amount.text} {node.unit.text}"
    plural = f"{step}s"
    finer = [
        f for f in ("week", "day") if STEP_DAYS[f] < STEP_DAYS[step] and whole(days / STEP_DAYS[f])
    ]
    nearest = max(1, round(days / STEP_DAYS[step]))
    rewrite = f"write it in {plural} (e.g. `{nearest} {step if nearest == 1 else plural}`)"
    if finer:
        hint = f"`{written}` is not a whole number of {plural}; use `step {finer[0]}` or {rewrite}"
    else:
        hint = f"`{written}` is not a whole number of {plural}; {rewrite}"
    return error(
        "E0303",
        f"`{written}` is not a whole number of steps ({plural})",
        node.span,
        label=f"{days / STEP_DAYS[step]:.3g} {plural}",
        hint=hint,
    )
