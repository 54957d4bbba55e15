"""Expectations, variants and personas: checked against the strategy they describe.

Metrics (E0414) are listed in ``METRICS`` with the unit their values are written in; `of` names
a channel, rule, journey, product, segment or tier (E0209 when it is none of those), `uplift vs`
names `control` or a variant, `in` a variant. A variant's block must name an existing rule,
journey, channel, script or product (E0209/E0207/E0208/E0206) and holds settings that are valid
for that kind, checked exactly as in the base declaration. A persona's facts are attributes
with values of their type, a stage, holdings, rules received and trigger events; its outcomes
name rules or journeys, and `suppressed … by` one of ``SUPPRESSION_REASONS``.
"""

from __future__ import annotations

from strategy_dsl import metrics
from strategy_dsl import syntax as s
from strategy_dsl.checker import conditions as c
from strategy_dsl.checker import plays, units
from strategy_dsl.checker.blocks import model_settings
from strategy_dsl.checker.context import Context, Once, suggestion_hint
from strategy_dsl.checker.effective import in_variant
from strategy_dsl.checker.scope import BOOLEAN, DEFERRED, SHARE

SCORE = "score"  # a plain score such as NPS (-100..100): bare numbers

# Every metric a strategy may `expect`, with the unit of its values: the registry's
# (strategy_dsl.metrics), in its order.
_WRITTEN = [m for m in metrics.METRICS if m.written is not None]
METRICS: dict[str, str] = {m.written: metrics.checker_unit(m) for m in _WRITTEN}  # type: ignore[misc]
OF_KINDS = ("channel", "rule", "journey", "product", "segment", "tier")
# What the simulation can measure, and so what an expectation may ask for (E0417): `check`
# promises no more than `stratmap test` measures (tests/test_expectations.py holds the two to
# the same verdict for every combination).
# Sums over time: `per PERIOD` divides them by the window's length.
FLOW_METRICS = frozenset(m.written for m in _WRITTEN if m.kind == metrics.FLOW)
# Measured from the plays' funnels, so they can be restricted `of` a channel, rule, journey or
# the plays offering a product.
FUNNEL_METRICS = frozenset(m.written for m in _WRITTEN if m.funnel)
PLAY_KINDS = ("channel", "rule", "journey", "product")
# Per tier the simulation counts customers (the tier at the end of the window).
TIER_METRICS = frozenset(m.written for m in _WRITTEN if m.per_tier)
# Counted per channel, not per play (complaints, opt-outs): `of` a channel only.
CHANNEL_METRICS = frozenset(m.written for m in _WRITTEN if m.per_channel)
# Contacts the control group never gets: they have no treatment − control difference.
CONTACT_METRICS = frozenset(m.written for m in _WRITTEN if m.contacts)
SUPPRESSION_REASONS = (
    "cooldown",
    "holdout",
    "control",
    "cap",
    "capacity",
    "budget",
    "suitability",
    "priority",
    "requires",
    "held",
)


# ------------------------------------------------------------------------------ expect


def _variant(ctx: Context, name: s.Name, extra: tuple[str, ...] = ()) -> None:
    decl = ctx.scope.names.get(name.text)
    if decl is not None and decl.kind == "variant":
        ctx.uses.add(decl)
        return
    if name.text in extra:
        return
    candidates = {n for n, d in ctx.scope.names.items() if d.kind == "variant"} | set(extra)
    ctx.error(
        "E0414",
        f"`{name.text}` is not a variant" + (" or `control`" if extra else ""),
        name.span,
        label="unknown",
        hint=suggestion_hint(name.text, dict.fromkeys(candidates))
        or "name a variant declared with `variant`" + (", or `control`" if extra else ""),
    )


def metric_unit(name: str, versus_control: bool) -> str | None:
    """The unit of a metric's values (None for an unknown metric): ``METRICS``'s, except that
    `customers … uplift vs control` counts customers per exposed customer of each arm, a
    share (`> 0.5%`)."""
    if name == "customers" and versus_control:
        return SHARE
    return METRICS.get(name)


def unmeasurable(
    name: str, of_kind: str | None, versus_control: bool, per: bool
) -> tuple[str, str, str] | None:
    """Why the simulation cannot measure metric ``name`` `of` a declaration of ``of_kind``
    (None: the whole book), `uplift vs control` or not, divided `per` a period or not: the
    message, a short label and a hint; None when it can."""
    if of_kind == "segment":
        return (
            f"`{name}` is not measured per segment",
            "not measured per segment",
            "measure the rule or journey that serves the segment: `… of RULE`",
        )
    if of_kind == "tier" and name not in TIER_METRICS:
        return (
            f"`{name}` is not measured per tier",
            "not measured per tier",
            "per tier the simulation counts `customers` (in the tier at the end of the window)",
        )
    if of_kind == "channel" and name in CHANNEL_METRICS:
        pass
    elif of_kind in PLAY_KINDS and name not in FUNNEL_METRICS:
        return (
            f"`{name}` is not measured per {of_kind}",
            f"not measured per {of_kind}",
            f"per {of_kind} the simulation measures " + ", ".join(sorted(FUNNEL_METRICS)),
        )
    if versus_control and (name in CONTACT_METRICS or of_kind in PLAY_KINDS):
        return (
            f"`{name}`{' of a ' + of_kind if of_kind else ''} has no control-group counterpart "
            "(the control group is never contacted)",
            "no control-group counterpart",
            "measure an outcome per customer of each arm: aum, churn, revenue, net_value, "
            "responders, customers of a tier, …",
        )
    if per and name not in FLOW_METRICS:
        return (
            f"`{name}` is not a flow; `per` divides a sum over time",
            "not a flow",
            "drop `per …`, or measure a flow: " + ", ".join(sorted(FLOW_METRICS)),
        )
    return None


def metric(ctx: Context, node: s.Metric, per: bool = False) -> str | None:
    """The unit of a metric's values, or None when the metric is unknown. A metric the
    simulation cannot measure as qualified (``unmeasurable``) is E0417."""
    unit = METRICS.get(node.name.text)
    if unit is None:
        ctx.error(
            "E0414",
            f"unknown metric `{node.name.text}`",
            node.name.span,
            label="not a metric",
            hint=suggestion_hint(node.name.text, dict.fromkeys(METRICS))
            or "the metrics are " + ", ".join(METRICS),
        )
    once = Once(ctx)
    of_kind: str | None = None
    versus_control = False
    for qualifier in node.qualifiers:
        kind = type(qualifier)
        word = {
            s.MetricOf: "of",
            s.MetricWithin: "within",
            s.MetricUplift: "uplift",
            s.MetricIn: "in",
        }[kind]
        if not once.first(kind, qualifier, word):
            continue
        if kind is s.MetricOf:
            decl = ctx.resolve(
                qualifier.name, OF_KINDS, "E0209", "channel, rule, journey, product or segment"
            )
            of_kind = None if decl is None else decl.kind
        elif kind is s.MetricWithin:
            units.duration(ctx, qualifier.duration, units.WINDOW)
        elif kind is s.MetricUplift:
            _variant(ctx, qualifier.baseline, ("control",))
            versus_control = qualifier.baseline.text == "control"
        else:
            _variant(ctx, qualifier.variant)
    problem = None if unit is None else unmeasurable(node.name.text, of_kind, versus_control, per)
    if problem is not None:
        message, label, hint = problem
        ctx.error("E0417", message, node.span, label=label, hint=hint)
    return None if unit is None else metric_unit(node.name.text, versus_control)


def _threshold(ctx: Context, number: s.Number, unit: str) -> None:
    if unit == SHARE:
        units.share(ctx, number, "this metric", signed=True)
    else:
        units.bare(ctx, number, "this metric")


def expect(ctx: Context, item: s.Expect) -> None:
    for expectation in item.settings:
        per = expectation.per is not None
        unit = metric(ctx, expectation.metric, per)
        threshold = expectation.threshold
        if type(threshold) is s.Metric:
            other = metric(ctx, threshold, per)
            if unit is not None and other is not None and unit != other:
                ctx.error(
                    "E0309",
                    f"`{expectation.metric.name.text}` and `{threshold.name.text}` are "
                    "measured in different units",
                    threshold.name.span,
                    label="incompatible metric",
                    hint="compare a metric with one of the same kind, or with a number",
                )
        elif unit is not None:
            _threshold(ctx, threshold, unit)
        if expectation.per is not None:
            units.per_time(ctx, expectation.per, "this metric")
        confidence = expectation.confidence
        if confidence is not None and expectation.op in ("==", "!="):
            ctx.error(
                "E0417",
                f"a confidence applies to <, <=, > or >=, not `{expectation.op}`",
                confidence.span,
                label="a bound needs a side",
                hint="drop `with … confidence`, or compare with <, <=, > or >=",
            )
        elif (
            confidence is not None
            and units.share(ctx, confidence.level, "a confidence level")
            and not 0 < confidence.level.value < 100
        ):
            ctx.error(
                "E0304",
                f"a confidence level of {confidence.level.text} is not possible",
                confidence.level.span,
                label="must be between 0% and 100%",
                hint="use e.g. `with 95% confidence`",
            )


# ------------------------------------------------------------------------------ variants

_OVERRIDE_TARGETS = {
    "rule": (("rule",), "E0209", "rule"),
    "journey": (("journey",), "E0209", "journey"),
    "channel": (("channel",), "E0207", "channel"),
    "script": (("script",), "E0208", "script"),
    "product": (("product",), "E0206", "product"),
    "model": (("model",), "E0211", "model"),
}
_OVERRIDE_CHECKS = {
    "rule": plays.RULE,
    "channel": plays.CHANNEL,
    "script": plays.SCRIPT,
    "product": plays.PRODUCT,
    "policy": plays.POLICY,
}


def variant(ctx: Context, item: s.Variant) -> None:
    """Each override's own settings, reported as the variant's (the checker then checks the
    variant's effective strategy as a whole: ``checker.effective``)."""
    own = Context(ctx.scope, ctx.path)
    once = Once(own)
    for override in item.overrides:
        name = override.name
        if not once.first((override.kind, name and name.text), override, override.kind):
            continue
        if name is not None:
            kinds, code, what = _OVERRIDE_TARGETS[override.kind]
            own.resolve(name, kinds, code, what)
        if override.kind == "journey":
            plays.journey_settings(own, override.settings, whole=False)
        elif override.kind == "model":
            model_settings(own, override.settings)
        else:
            plays.settings(own, override.settings, _OVERRIDE_CHECKS[override.kind])
    ctx.uses |= own.uses
    ctx.deferred.extend(own.deferred)
    ctx.durations.extend(own.durations)  # fitted to each entry's step, named by `CheckRun.fit`
    ctx.rates.extend(own.rates)
    for diagnostic in own.diagnostics:
        ctx.report(in_variant(diagnostic, item))


# ------------------------------------------------------------------------------ personas


def _given_declared(ctx: Context, item: s.GivenAttribute) -> bool:
    """E0212 for `given NAME` where NAME is a segment, tier or model rather than an attribute:
    a persona gives facts, so the hint says which facts (a segment defined by a model's top
    share is given as that top share)."""
    decl = ctx.scope.names.get(item.attribute.text)
    if decl is None or decl.kind not in ("segment", "tier", "model") or item.value is not None:
        return False
    name = item.attribute.text
    if decl.kind == "model":
        hint = f"give the model's top share the customer is in, e.g. `given {name} top 10%`"
    elif decl.kind == "tier":
        hint = f"give the tier as an attribute: `given tier {name}`"
    else:
        expr = ctx.scope.expand(name)
        if type(expr) is s.Top:
            hint = f"give the fact that puts the customer in it: `given {expr.model.text} top "
            hint += f"{expr.share.text}`"
        else:
            hint = f"give the facts that put the customer in `{name}` (the attributes its "
            "definition tests, e.g. `given aum 48万, risk_tolerance C3`)"
    ctx.wrong_kind(item.attribute, decl, "customer attribute or fact", hint)
    return True


def _given_attribute(ctx: Context, item: s.GivenAttribute) -> None:
    if _given_declared(ctx, item):
        return
    attribute = ctx.attribute(item.attribute)
    if attribute is None:
        return
    if attribute.type == DEFERRED:  # checked against each importing strategy's population
        ctx.deferred.append((item.attribute, item.value, "==" if item.value else "flag"))
        return
    if item.value is not None:
        c.check_value(ctx, attribute, item.value, "==")
    elif attribute.type != BOOLEAN:
        ctx.error(
            "E0309",
            f"`{attribute.name}` needs a value",
            item.attribute.span,
            label="no value",
            hint=f"write e.g. `{attribute.name} {c._example(attribute).split()[-1]}`",
        )


_GIVEN = {
    s.GivenAttribute: _given_attribute,
    s.GivenStage: lambda ctx, x: c.stage(ctx, x.stage),
    s.GivenHolding: lambda ctx, x: ctx.resolve(x.product, ("product",), "E0206", "product"),
    s.GivenReceived: lambda ctx, x: (
        ctx.resolve(x.rule, ("rule", "journey"), "E0209", "rule or journey"),
        units.duration(ctx, x.ago, units.SCHEDULE),
    ),
    s.GivenEvent: lambda ctx, x: ctx.resolve(x.trigger, ("trigger",), "E0205", "trigger"),
    s.GivenTop: lambda ctx, x: c.model_top(ctx, x.model, x.share),
}


def _given_key(item: s.Node) -> tuple[str, str]:
    if type(item) is s.GivenAttribute:
        return ("attribute", item.attribute.text)
    if type(item) is s.GivenStage:
        return ("attribute", "stage")
    if type(item) is s.GivenTop:
        return ("top", item.model.text)
    name = getattr(item, "product", None) or getattr(item, "rule", None) or item.trigger
    return (type(item).__name__, name.text)


def _outcome(ctx: Context, outcome: s.Node) -> None:
    kind = type(outcome)
    if kind is s.GetsNothing:
        return
    ctx.resolve(outcome.rule, ("rule", "journey"), "E0209", "rule or journey")
    if kind is s.Gets and outcome.channel is not None:
        ctx.resolve(outcome.channel, ("channel",), "E0207", "channel")
    if kind is s.Suppressed and outcome.reason.text not in SUPPRESSION_REASONS:
        ctx.error(
            "E0305",
            f"`{outcome.reason.text}` is not a reason an offer is suppressed",
            outcome.reason.span,
            label="unknown reason",
            hint=suggestion_hint(outcome.reason.text, dict.fromkeys(SUPPRESSION_REASONS))
            or "the reasons are " + ", ".join(SUPPRESSION_REASONS),
        )


def persona(ctx: Context, item: s.Persona) -> None:
    given = Once(ctx)
    expects = 0
    for setting in item.settings:
        if type(setting) is s.PersonaExpect:
            expects += 1
            _outcome(ctx, setting.outcome)
            continue
        for fact in setting.items:
            key = _given_key(fact)
            if given.first(key, fact, key[1]):
                _GIVEN[type(fact)](ctx, fact)
    if not expects:
        ctx.error(
            "E0408",
            f"persona `{item.name.text}` has no `expect`",
            item.name.span,
            label="nothing expected",
            hint="add what the strategy must decide, e.g. `expect gets 临界提升 via 外呼`",
        )
