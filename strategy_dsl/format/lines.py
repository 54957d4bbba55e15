"""One syntax node → the canonical text of one line: values, expressions, settings, headers.

Everything here is a pure function of the node (spans are never read), dispatched through
tables keyed by node type, one entry per construct of the grammar. Numbers, names and strings
are printed exactly as written (``Number.text``, ``Name.text``, ``Text.raw``): the formatter
changes layout, never spelling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strategy_dsl import syntax as s

# ------------------------------------------------------------------------------ values


def value(node: s.Value) -> str:
    return node.raw if isinstance(node, s.Text) else node.text


def duration(node: s.Duration) -> str:
    return f"{node.amount.text} {node.unit.text}"


def per(node: s.Per) -> str:
    return f"per {node.unit.text}"


def _within(node: s.Duration | None) -> str:
    return "" if node is None else f" within {duration(node)}"


def distribution(node: s.Distribution) -> str:
    args = ", ".join(
        value(arg.value) if arg.key is None else f"{arg.key.text} {value(arg.value)}"
        for arg in node.args
    )
    return f"{node.family.text}({args})"


def _transition_target(node: s.TransitionTarget | s.DrawnTarget) -> str:
    if isinstance(node, s.DrawnTarget):
        return f"{node.stage.text} ~ {distribution(node.distribution)}"
    return f"{node.stage.text} {node.probability.text}"


def hazard_target(node: s.HazardTarget) -> str:
    if node.source is None or node.target is None:
        return "churn"
    return f"{node.source.text} -> {node.target.text}"


# ------------------------------------------------------------------------------ expressions

# Binding strength: `not` binds tighter than `and`, which binds tighter than `or`. A child is
# parenthesised only when it binds looser than its place requires, so `(a or b) and c` and
# `not (a and b)` keep their parentheses and `(a and b) or c` loses them.
_OR, _AND, _NOT, _ATOM = 0, 1, 2, 3

ATOMS: dict[type, Callable[[Any], str]] = {
    s.Ref: lambda e: e.name.text,
    s.Compare: lambda e: f"{e.attribute.text} {e.op} {value(e.value)}",
    s.InRange: lambda e: f"{e.attribute.text} in {value(e.low)} .. {value(e.high)}",
    s.InSet: lambda e: f"{e.attribute.text} in ({', '.join(value(v) for v in e.items)})",
    s.Top: lambda e: f"{e.model.text} top {e.share.text}",
    s.RfmQuadrant: lambda e: (
        "rfm(" + ", ".join(f"{lv.axis.text} {lv.level.text}" for lv in e.levels) + ")"
    ),
    s.Entered: lambda e: f"entered {e.stage.text}{_within(e.within)}",
    s.AumChange: lambda e: (
        f"{e.attribute.text} {e.direction} {e.share.text} over {duration(e.over)}"
    ),
    s.Flow: lambda e: f"{e.direction} {e.op} {e.amount.text}{_within(e.within)}",
    s.Matures: lambda e: f"matures {e.product.text}",
    s.Inactive: lambda e: f"inactive {duration(e.duration)}",
    s.Every: lambda e: f"every {duration(e.duration)}",
    s.Birthday: lambda e: "birthday",
    s.SalaryCredited: lambda e: "salary credited",
    s.RespondedTo: lambda e: f"responded to {e.target.text}{_within(e.within)}",
    s.Holds: lambda e: f"holds {e.product.text}",
}


def expr(node: s.Expr, context: int = _OR) -> str:
    """An expression in a place that needs at least ``context`` binding strength."""
    if isinstance(node, s.Or):
        strength, text = _OR, " or ".join(expr(o, _AND) for o in node.operands)
    elif isinstance(node, s.And):
        strength, text = _AND, " and ".join(expr(o, _NOT) for o in node.operands)
    elif isinstance(node, s.Not):
        strength, text = _NOT, "not " + expr(node.operand, _NOT)
    else:
        strength, text = _ATOM, ATOMS[type(node)](node)
    return f"({text})" if strength < context else text


# ------------------------------------------------------------------------------ settings


def _optional(prefix: str, node: s.Node | None, show: Callable[[Any], str]) -> str:
    return "" if node is None else f" {prefix}{show(node)}"


def effect(node: s.Effect) -> str:
    return f"effect {hazard_target(node.target)} x {node.factor.text} for {duration(node.duration)}"


def setting(node: s.Node) -> str:
    """A one-line setting, or a part of one (a wave option, a metric qualifier, ...)."""
    return SETTINGS[type(node)](node)


def _wave(node: s.Wave) -> str:
    return " ".join([f"wave {node.number.text}", *map(setting, node.options)])


def _arrivals(node: s.Arrivals) -> str:
    return " ".join([f"arrivals {node.count.text} {per(node.per)}", *map(setting, node.options)])


def metric(node: s.Metric) -> str:
    return " ".join([node.name.text, *map(setting, node.qualifiers)])


def _expectation(node: s.Expectation) -> str:
    threshold = node.threshold
    threshold_text = threshold.text if isinstance(threshold, s.Number) else metric(threshold)
    text = f"{metric(node.metric)} {node.op} {threshold_text}"
    text += _optional("", node.per, per)
    return text + _optional("with ", node.confidence, lambda c: f"{c.level.text} confidence")


# Settings that are printed on one line, and the parts of expressions and waves that are
# settings-like (wave options, metric qualifiers, given items, persona outcomes).
SETTINGS: dict[type, Callable[[Any], str]] = {
    # strategy header and top-level one-liners
    s.Horizon: lambda n: f"horizon {duration(n.duration)}",
    s.StepSetting: lambda n: f"step {n.unit.text}",
    s.Currency: lambda n: f"currency {n.code.text}",
    s.Seed: lambda n: f"seed {n.value.text}",
    s.Description: lambda n: f"description {n.text.raw}",
    s.Import: lambda n: f"import {n.path.raw}",
    # population and acquisition
    s.Size: lambda n: f"size {n.value.text}",
    s.Arrivals: _arrivals,
    s.ArrivalStage: lambda n: f"stage {n.stage.text}",
    s.ArrivalCost: lambda n: f"cost {n.amount.text} {per(n.per)}",
    s.ArrivalChannel: lambda n: f"via {n.channel.text}",
    s.Referral: lambda n: f"referral {n.share.text} of responders {per(n.per)}",
    # book
    s.Lifetime: lambda n: f"lifetime {duration(n.duration)} discount {n.rate.text} {per(n.per)}",
    s.Split: lambda n: (
        "split "
        + ("" if n.tier is None else f"in {n.tier.text} ")
        + ", ".join(f"{x.balance.text} {x.share.text}" for x in n.shares)
    ),
    # lifecycle
    s.HazardModifier: lambda n: f"{hazard_target(n.target)} x {n.factor.text} when {expr(n.when)}",
    s.ComplaintModifier: lambda n: (
        f"{hazard_target(n.target)} x {n.factor.text} for {duration(n.duration)} after complaint"
    ),
    s.DetractorModifier: lambda n: f"{hazard_target(n.target)} x {n.factor.text} for detractors",
    # model
    s.Predicts: lambda n: f"predicts {n.event.text} within {duration(n.within)}",
    s.Auc: lambda n: f"auc {n.value.text}",
    s.Persistence: lambda n: f"persistence {n.value.text}",
    s.ScoreColumn: lambda n: f"score column {n.column.raw}",
    # product
    s.Kind: lambda n: f"kind {n.value.text}",
    s.Risk: lambda n: f"risk {n.level.text}",
    s.Tenor: lambda n: f"tenor {duration(n.duration)}",
    s.Minimum: lambda n: f"min {n.amount.text}",
    s.Margin: lambda n: f"margin {n.rate.text} {per(n.per)}",
    s.Fee: lambda n: f"fee {n.rate.text}",
    s.Inflow: lambda n: f"inflow ~ {distribution(n.distribution)}",
    s.HeldBy: lambda n: (
        "held by "
        + ", ".join(
            x.share.text + ("" if x.tier is None else f" in {x.tier.text}") for x in n.shares
        )
    ),
    s.Holding: lambda n: f"holding ~ {distribution(n.distribution)}",
    s.Buys: lambda n: (
        f"buys {n.share.text} of {n.basis.text}" + _optional("max ", n.cap, lambda x: x.text)
    ),
    s.Switching: lambda n: f"switching {n.share.text}",
    # channel and script
    s.ChannelCost: lambda n: f"cost {n.amount.text} {per(n.per)}",
    s.Capacity: lambda n: f"capacity {n.amount.text} {per(n.per)}",
    s.Reach: lambda n: f"reach {n.share.text}",
    s.Requires: lambda n: f"requires {expr(n.condition)}",
    s.Complaints: lambda n: f"complaints {n.share.text} per contact",
    s.OptOut: lambda n: f"opt out {n.share.text} per contact",
    s.Lift: lambda n: f"lift {n.factor.text}",
    s.ScriptText: lambda n: f"text {n.text.raw}",
    # rule and journey
    s.When: lambda n: f"when {expr(n.condition)}",
    s.On: lambda n: f"on {expr(n.event)}",
    s.Offer: lambda n: (
        f"offer {n.product.text} via {n.channel.text}"
        + _optional("using ", n.script, lambda x: x.text)
    ),
    s.Response: lambda n: f"response {n.rate.text}",
    s.Effect: effect,
    s.Cooldown: lambda n: f"cooldown {duration(n.duration)}",
    s.Holdout: lambda n: f"holdout {n.share.text}",
    s.Budget: lambda n: f"budget {n.amount.text} {per(n.per)}",
    s.RuleCap: lambda n: f"max {n.count.text} per customer {per(n.per)}",
    s.SuitableOnly: lambda n: "suitable only",
    s.Wave: _wave,
    s.WaveAfter: lambda n: f"after {duration(n.duration)}",
    s.WaveChannel: lambda n: f"via {n.channel.text}",
    s.WaveScript: lambda n: f"using {n.script.text}",
    s.WaveOffer: lambda n: f"offer {n.product.text}",
    s.WaveResponse: lambda n: f"response {n.rate.text}",
    s.StopOnResponse: lambda n: "stop when responded",
    # policy and nps
    s.ContactCap: lambda n: f"max {n.count.text} contacts per customer {per(n.per)}",
    s.ChannelCap: lambda n: f"max {n.count.text} {n.channel.text} per customer {per(n.per)}",
    s.Arbitrate: lambda n: f"arbitrate by {n.by.text}",
    s.Fatigue: lambda n: f"fatigue {n.drop.text} per extra contact in {duration(n.window)}",
    s.Control: lambda n: f"control {n.share.text}",
    s.NpsBase: lambda n: f"base promoters {n.promoters.text}, detractors {n.detractors.text}",
    s.NpsContact: lambda n: f"{n.group} {n.delta.text} per extra contact in {duration(n.window)}",
    s.NpsResponse: lambda n: f"{n.group} {n.delta.text} for {duration(n.duration)} after responded",
    # expectations
    s.Expectation: _expectation,
    s.MetricOf: lambda n: f"of {n.name.text}",
    s.MetricWithin: lambda n: f"within {duration(n.duration)}",
    s.MetricUplift: lambda n: f"uplift vs {n.baseline.text}",
    s.MetricIn: lambda n: f"in {n.variant.text}",
    # personas
    s.Given: lambda n: "given " + ", ".join(map(setting, n.items)),
    s.GivenAttribute: lambda n: n.attribute.text + _optional("", n.value, value),
    s.GivenStage: lambda n: f"stage {n.stage.text}",
    s.GivenHolding: lambda n: f"holds {n.product.text}",
    s.GivenReceived: lambda n: f"received {n.rule.text} {duration(n.ago)} ago",
    s.GivenEvent: lambda n: f"event {n.trigger.text}",
    s.GivenTop: lambda n: f"{n.model.text} top {n.share.text}",
    s.PersonaExpect: lambda n: "expect " + setting(n.outcome),
    s.Gets: lambda n: f"gets {n.rule.text}" + _optional("via ", n.channel, lambda x: x.text),
    s.GetsNothing: lambda n: "gets nothing",
    s.Never: lambda n: f"never {n.rule.text}",
    s.Suppressed: lambda n: f"suppressed {n.rule.text} by {n.reason.text}",
}


def _clamp(node: s.Clamp | None) -> str:
    return "" if node is None else f" clamp {node.low.text}..{node.high.text}"


# Settings whose lines are aligned with their neighbours: each gives (key, rest), and a run of
# consecutive settings of one kind pads every key to the run's widest, so that the `~`, `->`,
# `=` or `when` after it lines up (see ``printer``). Top-level items and block settings alike.
ALIGNED: dict[type, Callable[[Any], tuple[str, str]]] = {
    s.AttributeDist: lambda n: (
        n.attribute.text,
        f"~ {distribution(n.distribution)}{_clamp(n.clamp)}",
    ),
    s.MarketSetting: lambda n: (
        n.variable.text,
        f"~ {distribution(n.distribution)} {per(n.per)}",
    ),
    s.TransitionRow: lambda n: (
        n.source.text,
        "-> " + ", ".join(_transition_target(t) for t in n.targets),
    ),
    s.Balance: lambda n: (f"balance {n.name.text}", f"{n.kind} {n.rate.text} {per(n.per)}"),
    s.RfmAxis: lambda n: (n.axis, expr(n.condition)),
    s.Tier: lambda n: (f"tier {n.name.text}", f"when {expr(n.when)}"),
    s.Segment: lambda n: (f"segment {n.name.text}", f"= {expr(n.expr)}"),
    s.Trigger: lambda n: (f"trigger {n.name.text}", f"= {expr(n.expr)}"),
}


# ------------------------------------------------------------------------------ blocks


def _priority(node: s.Number | None) -> str:
    return "" if node is None else f" priority {node.text}"


# The header of each block (the text before ` {`) and its statements.
HEADERS: dict[type, Callable[[Any], str]] = {
    s.StrategyHeader: lambda n: f"strategy {n.name.raw}",
    s.Population: lambda n: f"population {n.name.text}",
    s.Acquisition: lambda n: "acquisition",
    s.Lifecycle: lambda n: "lifecycle",
    s.Market: lambda n: "market",
    s.Book: lambda n: "book",
    s.Rfm: lambda n: "rfm",
    s.Model: lambda n: f"model {n.name.text}",
    s.Product: lambda n: f"product {n.name.text}",
    s.Channel: lambda n: f"channel {n.name.text}",
    s.Script: lambda n: f"script {n.name.text} on {n.channel.text}",
    s.Rule: lambda n: f"rule {n.name.text}{_priority(n.priority)}",
    s.Journey: lambda n: f"journey {n.name.text} on {expr(n.trigger)}{_priority(n.priority)}",
    s.Policy: lambda n: "policy",
    s.Nps: lambda n: "nps",
    s.Expect: lambda n: "expect",
    s.Variant: lambda n: f"variant {n.name.text}",
    s.Override: lambda n: n.kind if n.name is None else f"{n.kind} {n.name.text}",
    s.Persona: lambda n: f"persona {n.name.text}",
}


def block_statements(node: s.Node) -> tuple[s.Node, ...]:
    """The statements inside a block's braces (a variant holds overrides, which are blocks)."""
    if isinstance(node, s.Variant):
        return node.overrides
    return node.settings  # type: ignore[attr-defined]  # every other block has `settings`
