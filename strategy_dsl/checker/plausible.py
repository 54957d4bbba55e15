"""Settings that are valid but almost certainly not meant: warnings, not errors.

- W0105: a setting that switches a play, a channel or the whole map off: `response 0%`,
  `reach 0%`, `budget 0`, `max 0 contacts`, `holdout 100%`, `control 100%`. The simulator would
  run it faithfully and report a strategy that does nothing (or has no treated customers).
- W0106: something timed beyond the strategy's `horizon`: a journey wave that is sent after
  the forecast ends, a product whose tenor ends after it (it never matures in the forecast).
- W0107: a script `lift` above ``LIFT_LIMIT``: a multiplier of every response, where a real
  script changes responses by tens of percent (a `lift 1000` is a typo for 1.0 or 10%).

The horizon is the header's in the file's scope; a declaration library has none and is
checked against each strategy's horizon only through that strategy's own settings.
"""

from __future__ import annotations

from strategy_dsl import calendar
from strategy_dsl import syntax as s
from strategy_dsl.checker.context import Context

LIFT_LIMIT = 5.0  # a script at most quintuples responses; real ones are 1.1–1.5


def switched_off(ctx: Context, number: s.Number, what: str, consequence: str, hint: str) -> None:
    """W0105 when ``number`` is zero."""
    if number.value == 0:
        ctx.warning(
            "W0105",
            f"{what} of {number.text} {consequence}",
            number.span,
            label="switches it off",
            hint=hint,
        )


def everyone(ctx: Context, number: s.Number, what: str, consequence: str, hint: str) -> None:
    """W0105 when the share ``number`` is 100%."""
    if number.percent and number.value == 100:
        ctx.warning(
            "W0105",
            f"{what} of {number.text} {consequence}",
            number.span,
            label="everyone",
            hint=hint,
        )


def horizon_days(ctx: Context) -> float | None:
    """The forecast's length in days, when the file's scope has a valid `horizon`."""
    header = ctx.scope.header
    if header is None:
        return None
    for setting in header.settings:
        if type(setting) is s.Horizon:
            days = calendar.DAYS_PER_UNIT.get(setting.duration.unit.text)
            if days is not None and not setting.duration.amount.percent:
                return days * setting.duration.amount.value
    return None


def _horizon_text(ctx: Context) -> str:
    header = ctx.scope.header
    assert header is not None
    duration = next(x.duration for x in header.settings if type(x) is s.Horizon)
    return f"{duration.amount.text} {duration.unit.text}"


def beyond_horizon(ctx: Context, duration: s.Duration, what: str, hint: str) -> None:
    """W0106 when ``duration`` is longer than the forecast."""
    horizon = horizon_days(ctx)
    days = calendar.DAYS_PER_UNIT.get(duration.unit.text)
    if horizon is None or days is None or duration.amount.percent:
        return
    if days * duration.amount.value > horizon:
        ctx.warning(
            "W0106",
            f"{what} `{duration.amount.text} {duration.unit.text}` is beyond the strategy's "
            f"horizon of {_horizon_text(ctx)}",
            duration.span,
            label="after the forecast ends",
            hint=hint,
        )


def lift(ctx: Context, number: s.Number) -> None:
    """W0107 for a lift above ``LIFT_LIMIT``."""
    if not number.percent and number.value > LIFT_LIMIT:
        ctx.warning(
            "W0107",
            f"a lift of {number.text} multiplies every response by {number.text}",
            number.span,
            label="implausibly large",
            hint="a lift is a multiplier: `lift 1.3` is 30% more responses than the rule's own "
            "rate; a real script's lift is close to 1 (the bundled maps use 1.1 to 1.5)",
        )
