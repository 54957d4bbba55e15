"""What the bank offers and how: products, channels, scripts, rules, journeys, policy and NPS.

Required settings (E0408): a product needs `kind` and `risk`; a channel needs `cost`; a rule
needs `offer` and `response`; a journey needs at least one `wave`, and each wave `via`, `offer`
and `response` (`after` defaults to 0). Defaults otherwise: a script's `lift` is 1; a channel's
`reach` is 100% and its capacity unlimited; a rule's or journey's `priority` is 0. Each
setting is checked by one function, shared with the variants that override it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from strategy_dsl import calendar
from strategy_dsl import syntax as s
from strategy_dsl.checker import conditions as c
from strategy_dsl.checker import plausible, units
from strategy_dsl.checker.blocks import hazard_target
from strategy_dsl.checker.context import Context, Once, suggestion_hint
from strategy_dsl.checker.population import distribution
from strategy_dsl.checker.scope import MONEY, Decl, head
from strategy_dsl.diagnostics import Related

PRODUCT_KINDS = ("deposit", "wealth", "fund", "insurance", "card", "payroll", "loan")
ARBITRATION = ("priority", "value")

WORDS: dict[type, str] = {
    s.Kind: "kind",
    s.Risk: "risk",
    s.Tenor: "tenor",
    s.Minimum: "min",
    s.Margin: "margin",
    s.Fee: "fee",
    s.Inflow: "inflow",
    s.HeldBy: "held by",
    s.Holding: "holding",
    s.Buys: "buys",
    s.Switching: "switching",
    s.ChannelCost: "cost",
    s.Capacity: "capacity",
    s.Reach: "reach",
    s.Requires: "requires",
    s.Complaints: "complaints",
    s.OptOut: "opt out",
    s.Lift: "lift",
    s.ScriptText: "text",
    s.When: "when",
    s.On: "on",
    s.Offer: "offer",
    s.Response: "response",
    s.Effect: "effect",
    s.Cooldown: "cooldown",
    s.Holdout: "holdout",
    s.Budget: "budget",
    s.RuleCap: "max",
    s.SuitableOnly: "suitable only",
    s.StopOnResponse: "stop when responded",
    s.Wave: "wave",
    s.WaveAfter: "after",
    s.WaveChannel: "via",
    s.WaveScript: "using",
    s.WaveOffer: "offer",
    s.WaveResponse: "response",
    s.ContactCap: "max",
    s.ChannelCap: "max",
    s.Arbitrate: "arbitrate",
    s.Fatigue: "fatigue",
    s.Control: "control",
    s.NpsBase: "base",
    s.NpsContact: "",
    s.NpsResponse: "",
}


def same_setting(setting: s.Node) -> object:
    """What makes two settings "the same setting" for E0407."""
    kind = type(setting)
    if kind is s.Effect:
        target = setting.target
        return (kind, target.source and target.source.text, target.target and target.target.text)
    if kind is s.ContactCap:
        return (kind, setting.per.unit.text.removesuffix("s"))
    if kind is s.ChannelCap:
        return (kind, setting.channel.text, setting.per.unit.text.removesuffix("s"))
    if kind is s.NpsContact or kind is s.NpsResponse:
        return (kind, setting.group)
    return kind


def _word(setting: s.Node) -> str:
    return WORDS[type(setting)] or setting.group  # type: ignore[attr-defined]


def settings(ctx: Context, items: Sequence[s.Node], checks: dict[type, Callable]) -> Once:
    """Check each setting once (E0407 for a repeat); the ``Once`` tells what was given."""
    once = Once(ctx)
    for setting in items:
        if once.first(same_setting(setting), setting, _word(setting)):
            checks[type(setting)](ctx, setting)
    return once


def priority(ctx: Context, number: s.Number | None) -> None:
    if number is not None and units.bare(ctx, number, "a priority"):
        units.in_range(ctx, number, "a priority", minimum=0, integer=True)


def script_channel(ctx: Context, script: s.Name, decl: Decl, channel: Decl) -> None:
    """E0406 when a script written for one channel is used on another."""
    declared = decl.node.channel  # type: ignore[attr-defined]
    if declared.text == channel.name:
        return
    ctx.error(
        "E0406",
        f"script `{script.text}` is written for `{declared.text}`, but used via `{channel.name}`",
        script.span,
        label=f"a `{declared.text}` script",
        hint=f"use it via `{declared.text}`, or write a script for `{channel.name}` "
        f"(`script … on {channel.name} {{ … }}`)",
        related=(Related(span=declared.span, message="the script's channel"),),
    )


def _product(ctx: Context, name: s.Name) -> Decl | None:
    return ctx.resolve(name, ("product",), "E0206", "product")


def _channel(ctx: Context, name: s.Name) -> Decl | None:
    return ctx.resolve(name, ("channel",), "E0207", "channel")


def _script(ctx: Context, name: s.Name) -> Decl | None:
    return ctx.resolve(name, ("script",), "E0208", "script")


# ------------------------------------------------------------------------------ products


def _kind(ctx: Context, setting: s.Kind) -> None:
    if setting.value.text not in PRODUCT_KINDS:
        ctx.error(
            "E0305",
            f"`{setting.value.text}` is not a kind of product",
            setting.value.span,
            label="unknown kind",
            hint=suggestion_hint(setting.value.text, dict.fromkeys(PRODUCT_KINDS))
            or "the kinds are " + ", ".join(PRODUCT_KINDS),
        )


def _tenor(ctx: Context, setting: s.Tenor) -> None:
    if units.duration(ctx, setting.duration, units.SCHEDULE) == 0:
        units.in_range(ctx, setting.duration.amount, "a tenor", above=0)
    plausible.beyond_horizon(
        ctx,
        setting.duration,
        "a tenor of",
        "the product never matures in the forecast (its `matures` event never fires): "
        "lengthen the `horizon`, or check the tenor's unit",
    )


def _margin(ctx: Context, setting: s.Margin) -> None:
    units.share(ctx, setting.rate, "a margin", signed=True)
    units.per_time(ctx, setting.per, "a margin")


def _held_by(ctx: Context, setting: s.HeldBy) -> None:
    """Each share a percentage (E0301/E0304) of a declared tier (E0204), each tier and the
    default (no `in`) once (E0407)."""
    seen: set[str | None] = set()
    for share in setting.shares:
        tier = share.tier.text if share.tier else None
        if share.tier is not None:
            ctx.resolve(share.tier, ("tier",), "E0204", "tier")
        if tier in seen:
            ctx.error(
                "E0407",
                f"{'tier `' + tier + '`' if tier else 'the share without `in`'} is given twice "
                "in this `held by`",
                share.span,
                label="given again",
                hint="give each tier one share; a share without `in` covers the tiers not named",
            )
        seen.add(tier)
        units.share(ctx, share.share, "the share of customers holding the product")


def _buys(ctx: Context, setting: s.Buys) -> None:
    """A share of AUM above 0 (E0301/E0304/E0305), of `aum` (E0203), capped above 0 (E0305)."""
    what = "a purchase's share of AUM"
    if units.share(ctx, setting.share, what):
        units.in_range(ctx, setting.share, what, above=0)
    if setting.basis.text != "aum":
        ctx.error(
            "E0203",
            f"a purchase is sized on the customer's `aum`, not `{setting.basis.text}`",
            setting.basis.span,
            label="not `aum`",
            hint=f"write `buys {setting.share.text} of aum`",
        )
    if setting.cap is not None:
        units.amount(ctx, setting.cap, "a purchase's largest amount", above=0)


PRODUCT: dict[type, Callable] = {
    s.Kind: _kind,
    s.Risk: lambda ctx, x: c.risk_level(ctx, x.level, c.PRODUCT_RISKS, "a product's risk"),
    s.Tenor: _tenor,
    s.Minimum: lambda ctx, x: units.amount(ctx, x.amount, "a minimum amount", minimum=0),
    s.Margin: _margin,
    s.Fee: lambda ctx, x: units.share(ctx, x.rate, "a fee"),
    s.Inflow: lambda ctx, x: distribution(
        ctx, x.distribution, MONEY, ("lognormal", "normal", "uniform", "constant")
    ),
    s.HeldBy: _held_by,
    s.Buys: _buys,
    s.Switching: lambda ctx, x: units.share(ctx, x.share, "the share switched"),
    s.Holding: lambda ctx, x: distribution(
        ctx, x.distribution, MONEY, ("lognormal", "normal", "uniform", "constant")
    ),
}


def product(ctx: Context, item: s.Product) -> None:
    once = settings(ctx, item.settings, PRODUCT)
    owner = f"product `{item.name.text}`"
    once.require(s.Kind, "kind", item.name.span, "kind wealth", owner)
    once.require(s.Risk, "risk", item.name.span, "risk R2", owner)
    # Held at step 0: `held by` (who) and `holding` (how much) come together.
    if s.HeldBy in once.seen:
        example = "holding ~ lognormal(median 10万, sigma 0.6)"
        once.require(s.Holding, "holding", item.name.span, example, owner + " (`held by`)")
    if s.Holding in once.seen:
        once.require(s.HeldBy, "held by", item.name.span, "held by 30% in 财富, 10%", owner)


# ------------------------------------------------------------------------------ channels, scripts


def _capacity(ctx: Context, setting: s.Capacity) -> None:
    units.amount(ctx, setting.amount, "a capacity", above=0)
    units.per_time(ctx, setting.per, "a capacity")


CHANNEL: dict[type, Callable] = {
    s.ChannelCost: lambda ctx, x: (
        units.amount(ctx, x.amount, "a cost", minimum=0),
        units.per_unit(ctx, x.per, "contact", "a channel's cost"),
    ),
    s.Capacity: _capacity,
    s.Reach: lambda ctx, x: (
        units.share(ctx, x.share, "reach")
        and plausible.switched_off(
            ctx,
            x.share,
            "a reach",
            "means no contact through this channel ever arrives",
            "give the share of contacts that reach the customer, e.g. `reach 60%`",
        )
    ),
    s.Requires: lambda ctx, x: c.check_condition(ctx, x.condition, c.REQUIRES),
    s.Complaints: lambda ctx, x: units.share(ctx, x.share, "a complaint chance"),
    s.OptOut: lambda ctx, x: units.share(ctx, x.share, "an opt-out chance"),
}


def channel(ctx: Context, item: s.Channel) -> None:
    once = settings(ctx, item.settings, CHANNEL)
    once.require(
        s.ChannelCost, "cost", item.name.span, "cost 8 per contact", f"channel `{item.name.text}`"
    )


SCRIPT: dict[type, Callable] = {
    s.Lift: lambda ctx, x: (
        units.amount(ctx, x.factor, "a lift", above=0) and plausible.lift(ctx, x.factor)
    ),
    s.ScriptText: lambda ctx, x: None,
}


def script(ctx: Context, item: s.Script) -> None:
    _channel(ctx, item.channel)
    settings(ctx, item.settings, SCRIPT)


# ------------------------------------------------------------------------------ rules


def _offer(ctx: Context, setting: s.Offer) -> None:
    _product(ctx, setting.product)
    via = _channel(ctx, setting.channel)
    if setting.script is not None:
        used = _script(ctx, setting.script)
        if used is not None and via is not None:
            script_channel(ctx, setting.script, used, via)


def _effect(ctx: Context, setting: s.Effect) -> None:
    hazard_target(ctx, setting.target)
    units.amount(ctx, setting.factor, "an effect's multiplier", minimum=0)
    units.duration(ctx, setting.duration, units.SCHEDULE)


def _budget(ctx: Context, setting: s.Budget) -> None:
    if units.amount(ctx, setting.amount, "a budget", minimum=0):
        plausible.switched_off(
            ctx,
            setting.amount,
            "a budget",
            "means the play never contacts anyone",
            "give the budget per period, e.g. `budget 50万 per month`, or remove it for none",
        )
    units.per_time(ctx, setting.per, "a budget")


def _rule_cap(ctx: Context, setting: s.RuleCap) -> None:
    units.amount(ctx, setting.count, "a contact cap", minimum=1, integer=True)
    units.per_time(ctx, setting.per, "a contact cap")


def _response(ctx: Context, rate: s.Number) -> None:
    if units.share(ctx, rate, "a response rate"):
        plausible.switched_off(
            ctx,
            rate,
            "a response rate",
            "means no customer ever responds: the play only costs contacts",
            "give the expected response, e.g. `response 4%`",
        )


def _holdout(ctx: Context, setting: s.Holdout) -> None:
    if units.share(ctx, setting.share, "a holdout"):
        plausible.everyone(
            ctx,
            setting.share,
            "a holdout",
            "holds every eligible customer out: the play never contacts anyone",
            "a holdout is a small share kept back to measure the play, e.g. `holdout 5%`",
        )


RULE: dict[type, Callable] = {
    s.When: lambda ctx, x: c.check_condition(ctx, x.condition, c.WHEN),
    s.On: lambda ctx, x: c.check_condition(ctx, x.event, c.ON),
    s.Offer: _offer,
    s.Response: lambda ctx, x: _response(ctx, x.rate),
    s.Effect: _effect,
    s.Cooldown: lambda ctx, x: units.duration(ctx, x.duration, units.SCHEDULE),
    s.Holdout: _holdout,
    s.Budget: _budget,
    s.RuleCap: _rule_cap,
    s.SuitableOnly: lambda ctx, x: None,
}


def rule(ctx: Context, item: s.Rule) -> None:
    priority(ctx, item.priority)
    once = settings(ctx, item.settings, RULE)
    owner = f"rule `{item.name.text}`"
    once.require(s.Offer, "offer", item.name.span, "offer 稳健理财 via 外呼", owner)
    once.require(s.Response, "response", item.name.span, "response 6%", owner)


# ------------------------------------------------------------------------------ journeys


def _wave_after(ctx: Context, setting: s.WaveAfter) -> None:
    if units.duration(ctx, setting.duration, units.SCHEDULE) is not None:
        plausible.beyond_horizon(
            ctx,
            setting.duration,
            "a wave sent after",
            "no customer ever gets the wave in the forecast: bring it forward, or lengthen "
            "the `horizon`",
        )


WAVE: dict[type, Callable] = {
    s.WaveAfter: _wave_after,
    s.WaveChannel: lambda ctx, x: None,  # resolved with the script, below
    s.WaveScript: lambda ctx, x: None,
    s.WaveOffer: lambda ctx, x: _product(ctx, x.product),
    s.WaveResponse: lambda ctx, x: _response(ctx, x.rate),
    s.Effect: _effect,
}


def _wave(ctx: Context, wave: s.Wave) -> None:
    once = settings(ctx, wave.options, WAVE)
    via = once.seen.get(s.WaveChannel)
    using = once.seen.get(s.WaveScript)
    channel_decl = _channel(ctx, via.channel) if isinstance(via, s.WaveChannel) else None
    if isinstance(using, s.WaveScript):
        script_decl = _script(ctx, using.script)
        if script_decl is not None and channel_decl is not None:
            script_channel(ctx, using.script, script_decl, channel_decl)
    owner = f"wave {wave.number.text}"
    once.require(s.WaveChannel, "via", wave.number.span, "via APP推送", owner)
    once.require(s.WaveOffer, "offer", wave.number.span, "offer 新客理财", owner)
    once.require(s.WaveResponse, "response", wave.number.span, "response 4%", owner)


def waves(ctx: Context, items: Sequence[s.Node]) -> None:
    """Each wave, numbered 1, 2, 3… in order, each later than the one before (E0405)."""
    previous_days = -1.0
    for index, wave in enumerate(w for w in items if type(w) is s.Wave):
        _wave(ctx, wave)
        number = wave.number
        if number.percent or number.value != index + 1:
            ctx.error(
                "E0405",
                f"this is wave {index + 1} of the journey, but it is numbered {number.text}",
                number.span,
                label=f"expected {index + 1}",
                hint="number the waves 1, 2, 3… in the order of their delays",
            )
        after = next((o for o in wave.options if type(o) is s.WaveAfter), None)
        days = 0.0
        if after is not None:
            days = (
                calendar.DAYS_PER_UNIT.get(after.duration.unit.text, 0)
                * after.duration.amount.value
            )
        if days <= previous_days:
            ctx.error(
                "E0405",
                "this wave is not later than the wave before it",
                after.duration.span if after is not None else wave.number.span,
                label="not later",
                hint="each wave's `after` must be later than the previous wave's; reorder the "
                "waves by delay",
            )
        previous_days = max(previous_days, days)


JOURNEY: dict[type, Callable] = {
    s.Wave: lambda ctx, x: None,  # checked in order by `waves`
    s.When: RULE[s.When],
    s.StopOnResponse: lambda ctx, x: None,
    s.SuitableOnly: lambda ctx, x: None,
    s.Holdout: RULE[s.Holdout],
    s.Budget: _budget,
}


def journey_settings(ctx: Context, items: Sequence[s.Node], *, whole: bool = True) -> Once:
    """A journey's settings; ``whole=False`` for a variant's, which restates only the waves
    it changes: each is checked on its own, and their numbering and order in the merged
    journey (the variant's effective strategy)."""
    once = Once(ctx)
    for setting in items:
        if type(setting) is s.Wave or once.first(same_setting(setting), setting, _word(setting)):
            JOURNEY[type(setting)](ctx, setting)
    if whole:
        waves(ctx, items)
    else:
        for wave in (w for w in items if type(w) is s.Wave):
            if once.first((s.Wave, wave.number.value), wave, f"wave {wave.number.text}"):
                _wave(ctx, wave)
    return once


def journey(ctx: Context, item: s.Journey) -> None:
    c.check_condition(ctx, item.trigger, c.ON)
    priority(ctx, item.priority)
    journey_settings(ctx, item.settings)
    if not any(type(x) is s.Wave for x in item.settings):
        ctx.error(
            "E0408",
            f"journey `{item.name.text}` has no `wave`",
            item.name.span,
            label="no waves",
            hint="add a wave, e.g. `wave 1 after 0 months via APP推送 offer 新客理财 response 4%`",
        )


# ------------------------------------------------------------------------------ policy, nps


def _arbitrate(ctx: Context, setting: s.Arbitrate) -> None:
    if setting.by.text not in ARBITRATION:
        ctx.error(
            "E0305",
            f"`arbitrate by {setting.by.text}` is not a way to arbitrate",
            setting.by.span,
            label="unknown arbitration",
            hint=suggestion_hint(setting.by.text, dict.fromkeys(ARBITRATION))
            or "arbitrate `by priority` or `by value`",
        )


def _channel_cap(ctx: Context, setting: s.ChannelCap) -> None:
    _channel(ctx, setting.channel)
    _cap(ctx, setting)


def _cap(ctx: Context, setting: s.ContactCap | s.ChannelCap) -> None:
    if units.amount(ctx, setting.count, "a contact cap", minimum=0, integer=True):
        where = (
            f"no contact via `{setting.channel.text}`"
            if type(setting) is s.ChannelCap
            else "no contact at all"
        )
        plausible.switched_off(
            ctx,
            setting.count,
            "a contact cap",
            f"allows {where}: every play it covers is suppressed",
            "give the most contacts a customer may get, e.g. `max 4 contacts per customer per "
            "month`",
        )
    units.per_time(ctx, setting.per, "a contact cap")


def _control(ctx: Context, setting: s.Control) -> None:
    if units.share(ctx, setting.share, "the control group"):
        plausible.everyone(
            ctx,
            setting.share,
            "a control group",
            "leaves no treated customers: the strategy is never applied",
            "the control group is the share kept untreated to measure the whole map, e.g. "
            "`control 10%`",
        )


POLICY: dict[type, Callable] = {
    s.ContactCap: _cap,
    s.ChannelCap: _channel_cap,
    s.Arbitrate: _arbitrate,
    s.Fatigue: lambda ctx, x: (
        units.share(ctx, x.drop, "fatigue"),
        units.duration(ctx, x.window, units.WINDOW),
    ),
    s.Control: _control,
}


def policy(ctx: Context, item: s.Policy) -> None:
    settings(ctx, item.settings, POLICY)


def _nps_base(ctx: Context, setting: s.NpsBase) -> None:
    ok = units.share(ctx, setting.promoters, "the promoters' share")
    ok = units.share(ctx, setting.detractors, "the detractors' share") and ok
    total = setting.promoters.fraction + setting.detractors.fraction
    if ok and total > 1 + 1e-9:
        ctx.error(
            "E0304",
            f"promoters and detractors add up to {units.show(total * 100)}%",
            setting.detractors.span,
            label="more than 100%",
            hint="promoters and detractors are shares of the same customers: at most 100% together",
        )


NPS: dict[type, Callable] = {
    s.NpsBase: _nps_base,
    s.NpsContact: lambda ctx, x: (
        units.share(ctx, x.delta, "an NPS change", signed=True),
        units.duration(ctx, x.window, units.WINDOW),
    ),
    s.NpsResponse: lambda ctx, x: (
        units.share(ctx, x.delta, "an NPS change", signed=True),
        units.duration(ctx, x.duration, units.SCHEDULE),
    ),
}


def nps(ctx: Context, item: s.Nps) -> None:
    once = settings(ctx, item.settings, NPS)
    example = "base promoters 30%, detractors 20%"
    once.require(s.NpsBase, "base", head(item.span, 3), example, "the `nps` block")
