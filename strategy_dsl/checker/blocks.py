"""The blocks that describe the world around the plays: header, acquisition, lifecycle, market,
tiers, rfm, segments, models and triggers (the population is in ``population``).

Required settings (E0408): an `rfm` block needs all of recency, frequency and monetary; a model
needs `predicts` and `auc`. The strategy header needs nothing: `step` defaults to month,
`horizon` to 12 months, `currency` to CNY and `seed` to 0. Tiers are `aum < X`,
`aum in A .. B` (A inclusive, B exclusive) or `aum >= X` (E0410).
"""

from __future__ import annotations

import math

from strategy_dsl import syntax as s
from strategy_dsl.checker import conditions as c
from strategy_dsl.checker import units
from strategy_dsl.checker.context import Context, Once, suggestion_hint
from strategy_dsl.checker.population import distribution
from strategy_dsl.checker.scope import NUMBER, SHARE, head

MARKET_VARIABLES = ("return", "net_flow")
PREDICTABLE = ("churn", "response", "purchase")


# ------------------------------------------------------------------------------ header


def header(ctx: Context, item: s.StrategyHeader) -> None:
    once = Once(ctx)
    for setting in item.settings:
        kind = type(setting)
        word = _HEADER_WORDS[kind]
        if not once.first(kind, setting, word):
            continue
        if kind is s.Horizon:
            units.duration(ctx, setting.duration, units.HORIZON)
        elif kind is s.StepSetting:
            units.step_unit(ctx, setting.unit)
        elif kind is s.Seed:
            units.amount(ctx, setting.value, "the seed", minimum=0, integer=True)


_HEADER_WORDS: dict[type, str] = {
    s.Horizon: "horizon",
    s.StepSetting: "step",
    s.Currency: "currency",
    s.Seed: "seed",
    s.Description: "description",
}


# ------------------------------------------------------------------------------ acquisition


def acquisition(ctx: Context, item: s.Acquisition) -> None:
    once = Once(ctx)
    for setting in item.settings:
        if type(setting) is s.Referral:
            if once.first("referral", setting, "referral"):
                units.share(ctx, setting.share, "the referral share")
                units.per_time(ctx, setting.per, "referral")
            continue
        units.amount(ctx, setting.count, "arrivals", minimum=0)
        units.per_time(ctx, setting.per, "arrivals")
        options = Once(ctx)
        for option in setting.options:
            kind = type(option)
            word = {s.ArrivalStage: "stage", s.ArrivalCost: "cost", s.ArrivalChannel: "via"}[kind]
            if not options.first(kind, option, word):
                continue
            if kind is s.ArrivalStage:
                c.stage(ctx, option.stage)
            elif kind is s.ArrivalCost:
                units.amount(ctx, option.amount, "the cost to acquire", minimum=0)
                units.per_unit(ctx, option.per, "customer", "the cost to acquire")
            else:
                ctx.resolve(option.channel, ("channel",), "E0207", "channel")


# ------------------------------------------------------------------------------ lifecycle


def hazard_target(ctx: Context, target: s.HazardTarget) -> None:
    """`churn` or a transition `a -> b` between two known, different stages (E0210/E0415)."""
    if target.source is None or target.target is None:
        return
    if not (c.stage(ctx, target.source) and c.stage(ctx, target.target)):
        return
    _transition(ctx, target.source, target.target)


def _transition(ctx: Context, source: s.Name, target: s.Name) -> bool:
    if source.text == "churned":
        problem, span = "a churned customer does not move on", source.span
    elif source.text == target.text:
        problem, span = "staying in a stage is what is left over, never written", target.span
    else:
        return True
    ctx.error(
        "E0415",
        f"`{source.text} -> {target.text}` is not a lifecycle transition: {problem}",
        span,
        label="invalid transition",
        hint="remove it; the chance of staying is 100% minus the chances written",
    )
    return False


def _drawn_chance(ctx: Context, source: s.Name, target: s.DrawnTarget) -> float | None:
    """`churned ~ beta(a, b)`: each customer's own churn chance (E0415 for another target,
    E0306 for another distribution); its mean a / (a + b) counts towards the row's 100%."""
    if target.stage.text != "churned":
        ctx.error(
            "E0415",
            f"`{source.text} -> {target.stage.text}` cannot be drawn per customer: only the "
            "chance of churning is",
            target.stage.span,
            label="drawn chance of a move",
            hint=f"give `{target.stage.text}` one chance (`{target.stage.text} 5%`), or draw "
            "`churned ~ beta(a, b)`",
        )
        return None
    params = distribution(ctx, target.distribution, NUMBER, ("beta",))
    if params is None:
        return None
    a, b = params.get("a"), params.get("b")
    if not (isinstance(a, s.Number) and isinstance(b, s.Number)) or min(a.value, b.value) <= 0:
        return None
    return a.value / (a.value + b.value)


def _complaints_declared(ctx: Context, setting: s.ComplaintModifier) -> None:
    """W0108 when a strategy's `… after complaint` can never apply: none of the channels it
    sees declares a chance of complaints (a declaration library is not judged: the strategy
    that imports it may declare them)."""
    if ctx.scope.header is None:
        return
    for decl in ctx.scope.names.values():
        if decl.kind == "channel" and any(
            type(x) is s.Complaints and x.share.value > 0 for x in decl.node.settings
        ):
            return
    ctx.warning(
        "W0108",
        "`… after complaint` never applies: no channel declares `complaints`",
        setting.span,
        label="no complaint can happen",
        hint="declare the chance on the channels that bring complaints, e.g. `complaints 0.3% "
        "per contact` in `channel 外呼 { … }`, or remove this line",
    )


def _nps_declared(ctx: Context, setting: s.DetractorModifier) -> None:
    """W0109 when a strategy's `… for detractors` can never apply: without an `nps` block no
    customer is ever a detractor (a declaration library is not judged: the strategy that
    imports it may declare the block)."""
    if ctx.scope.header is None or "nps" in ctx.scope.blocks:
        return
    ctx.warning(
        "W0109",
        "`… for detractors` never applies: the strategy has no `nps` block",
        setting.span,
        label="no customer is a detractor",
        hint="declare the shares in an `nps` block, e.g. `base promoters 30%, detractors 20%`, "
        "or remove this line",
    )


def lifecycle(ctx: Context, item: s.Lifecycle) -> None:
    rows = Once(ctx)
    for setting in item.settings:
        if type(setting) is s.HazardModifier:
            hazard_target(ctx, setting.target)
            if units.bare(ctx, setting.factor, "a hazard multiplier"):
                units.in_range(ctx, setting.factor, "a hazard multiplier", minimum=0)
            c.check_condition(ctx, setting.when, c.MODIFIER)
            continue
        if type(setting) is s.ComplaintModifier:
            hazard_target(ctx, setting.target)
            units.amount(ctx, setting.factor, "a complaint's multiplier", minimum=0)
            units.duration(ctx, setting.duration, units.SCHEDULE)
            _complaints_declared(ctx, setting)
            continue
        if type(setting) is s.DetractorModifier:
            hazard_target(ctx, setting.target)
            units.amount(ctx, setting.factor, "a detractor's multiplier", above=0)
            _nps_declared(ctx, setting)
            continue
        source = setting.source
        if not rows.first(source.text, source, source.text) or not c.stage(ctx, source):
            continue
        targets = Once(ctx)
        total, valid = 0.0, True
        for target in setting.targets:
            ok = c.stage(ctx, target.stage) and _transition(ctx, source, target.stage)
            ok = targets.first(target.stage.text, target.stage, target.stage.text) and ok
            if type(target) is s.DrawnTarget:
                mean = _drawn_chance(ctx, source, target)
                ok = mean is not None and ok
                total += mean or 0.0
            else:
                ok = units.share(ctx, target.probability, "a transition chance") and ok
                total += target.probability.fraction
            valid = valid and ok
        if valid and total > 1 + 1e-9:
            ctx.error(
                "E0403",
                f"the chances of leaving `{source.text}` add up to {units.show(total * 100)}%",
                source.span,
                label="more than 100%",
                hint="lower them so that they add up to 100% or less; the rest is the chance "
                "of staying",
            )


def market(ctx: Context, item: s.Market) -> None:
    once = Once(ctx)
    for setting in item.settings:
        variable = setting.variable
        if variable.text not in MARKET_VARIABLES:
            ctx.error(
                "E0203",
                f"unknown market variable `{variable.text}`",
                variable.span,
                label="not a market variable",
                hint=suggestion_hint(variable.text, dict.fromkeys(MARKET_VARIABLES))
                or "the market moves `return` and `net_flow`",
            )
            continue
        if once.first(variable.text, setting, variable.text):
            distribution(ctx, setting.distribution, SHARE, ("normal", "constant"))
            units.per_time(ctx, setting.per, f"`{variable.text}`")


# ------------------------------------------------------------------------------ audiences


Bounds = tuple[float, str, float, str]  # low, as written, high, as written


def tier_bounds(expr: s.Expr) -> Bounds | None:
    """``[low, high)`` of a tier condition written as an AUM range, with the texts written."""
    if type(expr) is s.Compare and expr.attribute.text == "aum":
        value = expr.value
        if type(value) is s.Number and not value.percent:
            if expr.op == "<":
                return (0.0, "0", value.value, value.text)
            if expr.op == ">=":
                return (value.value, value.text, math.inf, "∞")
    if type(expr) is s.InRange and expr.attribute.text == "aum":
        low, high = expr.low, expr.high
        numbers = type(low) is s.Number and type(high) is s.Number
        if numbers and not (low.percent or high.percent):  # type: ignore[union-attr]
            return (low.value, low.text, high.value, high.text)  # type: ignore[union-attr]
    return None


def tier(ctx: Context, item: s.Tier) -> None:
    when = item.when
    attribute = getattr(when, "attribute", None)
    if isinstance(attribute, s.Name) and ctx.attribute(attribute) is None:
        return
    bounds = tier_bounds(when)
    if bounds is None:
        ctx.error(
            "E0410",
            f"tier `{item.name.text}` is not a range of `aum`",
            when.span,
            label="not an AUM range",
            hint="write `aum < 5万`, `aum in 5万 .. 50万` or `aum >= 600万`; to group customers "
            "by anything else, declare a segment",
        )
        return
    numbers = [
        v
        for v in (
            getattr(when, "value", None),
            getattr(when, "low", None),
            getattr(when, "high", None),
        )
        if isinstance(v, s.Number)
    ]
    for number in numbers:
        units.in_range(ctx, number, "a tier bound", minimum=0)
    if bounds[0] >= bounds[2]:
        units.in_range(ctx, numbers[-1], "the upper bound of a tier", above=bounds[0])


def rfm(ctx: Context, item: s.Rfm) -> None:
    once = Once(ctx)
    for setting in item.settings:
        if once.first(setting.axis, setting, setting.axis):
            c.check_condition(ctx, setting.condition, c.RFM_SCORE)
    for axis, example in (
        ("recency", "recency months_since_txn <= 1"),
        ("frequency", "frequency txn_3m >= 9"),
        ("monetary", "monetary aum >= 50万"),
    ):
        once.require(axis, axis, head(item.span, 3), example, "the `rfm` block")


def segment(ctx: Context, item: s.Segment) -> None:
    c.check_condition(ctx, item.expr, c.SEGMENT)


def trigger(ctx: Context, item: s.Trigger) -> None:
    c.check_condition(ctx, item.expr, c.TRIGGER)


def _predicts(ctx: Context, setting: s.Predicts) -> None:
    event = setting.event.text
    if event not in PREDICTABLE and event not in c.STAGES:
        ctx.error(
            "E0412",
            f"a model cannot predict `{event}`",
            setting.event.span,
            label="not predictable",
            hint=suggestion_hint(event, dict.fromkeys(PREDICTABLE + c.STAGES))
            or "a model predicts `churn`, `response`, `purchase` or entering a stage",
        )
    units.duration(ctx, setting.within, units.WINDOW)


def _auc(ctx: Context, setting: s.Auc) -> None:
    if units.bare(ctx, setting.value, "AUC", "0.78") and not 0.5 < setting.value.value <= 1:
        ctx.error(
            "E0412",
            f"AUC `{setting.value.text}` is not in (0.5, 1]",
            setting.value.span,
            label="impossible AUC",
            hint="AUC is above 0.5 (guessing) and at most 1 (perfect), e.g. `auc 0.78`",
        )


def model_settings(ctx: Context, settings: tuple[s.Node, ...]) -> Once:
    once = Once(ctx)
    for setting in settings:
        if type(setting) is s.Predicts:
            if once.first(s.Predicts, setting, "predicts"):
                _predicts(ctx, setting)
        elif type(setting) is s.Persistence:
            if once.first(s.Persistence, setting, "persistence"):
                units.share(ctx, setting.value, "a score's persistence")
        elif type(setting) is s.ScoreColumn:
            once.first(s.ScoreColumn, setting, "score column")
        elif once.first(s.Auc, setting, "auc"):
            _auc(ctx, setting)  # type: ignore[arg-type]
    return once


def model(ctx: Context, item: s.Model) -> None:
    once = model_settings(ctx, item.settings)
    owner = f"model `{item.name.text}`"
    once.require(s.Predicts, "predicts", item.name.span, "predicts churn within 3 months", owner)
    once.require(s.Auc, "auc", item.name.span, "auc 0.78", owner)


# ------------------------------------------------------------------------------ the book


EXAMPLE_BALANCE = "balance 活期 margin 1.5% per year"


def book(ctx: Context, item: s.Book) -> None:
    """Balance types declared once with a rate per unit of time (E0407, E0301/E0304, E0307);
    a `lifetime` at most once, whole steps long (E0303), its discount a percentage per time;
    each split names declared balances (E0213), sums to 100% (E0404), is given once per tier
    (E0407) for a declared tier; every tier has a split, its own or the default (E0408)."""
    once = Once(ctx)
    balances: set[str] = set()
    for setting in item.settings:
        if type(setting) is s.Balance and once.first(
            ("balance", setting.name.text), setting, "balance"
        ):
            balances.add(setting.name.text)
            units.share(ctx, setting.rate, f"the {setting.kind} of `{setting.name.text}`")
            units.per_time(ctx, setting.per, f"the {setting.kind} of `{setting.name.text}`")
    if not balances:
        once.require("balance", "balance", head(item.span, 4), EXAMPLE_BALANCE, "the `book` block")
        return
    for setting in item.settings:
        if type(setting) is s.Lifetime and once.first("lifetime", setting, "lifetime"):
            units.duration(ctx, setting.duration, units.HORIZON)
            units.share(ctx, setting.rate, "a discount rate")
            units.per_time(ctx, setting.per, "a discount rate")
    splits: set[str | None] = set()
    for setting in item.settings:
        if type(setting) is s.Split:
            tier = setting.tier.text if setting.tier else None
            if once.first(("split", tier), setting, "split"):
                splits.add(tier)
                _split(ctx, setting, balances)
    if None in splits:
        return
    missing = [n for n, d in ctx.scope.names.items() if d.kind == "tier" and n not in splits]
    if missing or not splits:
        what = f"tier `{missing[0]}`" if missing else "the book"
        ctx.error(
            "E0408",
            f"{what} has no `split`: its customers' AUM is not spread over balance types",
            head(item.span, 4),
            label="no `split`",
            hint="add a default, e.g. `split 活期 40%, 定期 60%`, or `split in "
            f"{missing[0] if missing else 'TIER'} …`",
        )


def _split(ctx: Context, setting: s.Split, balances: set[str]) -> None:
    if setting.tier is not None:
        ctx.resolve(setting.tier, ("tier",), "E0204", "tier")
    total, ok = 0.0, True
    seen: set[str] = set()
    for share in setting.shares:
        name = share.balance.text
        if name not in balances:
            ok = False
            ctx.error(
                "E0213",
                f"unknown balance type `{name}`",
                share.balance.span,
                label="not a balance of the book",
                hint=suggestion_hint(name, dict.fromkeys(balances))
                or f"declare it in the book: `balance {name} margin 1% per year`",
            )
        elif name in seen:
            ok = False
            ctx.error(
                "E0407",
                f"`{name}` is given twice in this split",
                share.balance.span,
                label="given again",
                hint="give each balance type one share",
            )
        seen.add(name)
        ok = units.share(ctx, share.share, f"the share of `{name}`") and ok
        total += share.share.fraction
    if ok and abs(total - 1.0) > 1e-9:
        ctx.error(
            "E0404",
            f"the shares of this split add up to {units.show(total * 100)}%",
            setting.span,
            label="not 100%",
            hint="a split spreads all of a customer's AUM: make the shares add up to 100%",
        )
