"""Lowering: the syntax of a checked, error-free strategy → the checked model (``model``).

Runs only when the entry and every file it imports are free of errors, so it trusts what the
checks established (names resolve, units are right, durations fit the step) and only converts:
percentages to fractions, rates to per step, durations to steps, risk levels to 1..5, names to
references by kind. Each file is lowered once per step and shared by every strategy that imports
it; the strategy's model is those pieces put together in scope order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strategy_dsl import model as m
from strategy_dsl import syntax as s
from strategy_dsl.calendar import DAYS_PER_UNIT, STEP_DAYS
from strategy_dsl.checker.blocks import tier_bounds
from strategy_dsl.checker.lower_conditions import ConditionLowering
from strategy_dsl.checker.population import FAMILIES
from strategy_dsl.checker.scope import RISK, Scope
from strategy_dsl.library import SourceFile

DEFAULT_HORIZON_DAYS = 360  # 12 months
DEFAULT_CURRENCY = "CNY"


@dataclass
class Lowering:
    """An entry's files in scope order, with what lowering needs to read them; ``cache``
    holds each file's lowered pieces by (file, step), shared across entries."""

    entry: SourceFile
    files: list[SourceFile]
    scopes: dict[Path, Scope]
    step: str
    cache: dict[tuple[Path, str, int], dict[str, list]] = field(default_factory=dict)


def lower(lowering: Lowering) -> m.CheckedStrategy:
    pieces: dict[str, list] = {}
    entry_scope = lowering.scopes[lowering.entry.key]
    for file in lowering.files:
        scope = lowering.scopes[file.key]
        # A file without population uses the attributes of the strategy's population.
        attributes = scope.attributes if "population" in scope.blocks else entry_scope.attributes
        key = (file.key, lowering.step, id(attributes))
        own = lowering.cache.get(key)
        if own is None:
            own = FileLowering(scope, lowering.step, attributes).file(file)
            lowering.cache[key] = own
        for kind, values in own.items():
            pieces.setdefault(kind, []).extend(values)
    one = lambda kind: (pieces.get(kind) or [None])[0]  # noqa: E731
    named = lambda kind: {x.name: x for x in pieces.get(kind, [])}  # noqa: E731
    return m.CheckedStrategy(
        strategy=_header(entry_scope.header, lowering.step, lowering.entry.display),
        population=one("population"),
        acquisition=one("acquisition"),
        lifecycle=one("lifecycle"),
        market=one("market"),
        tiers=tuple(sorted(pieces.get("tiers", []), key=lambda t: t.low)),
        rfm=one("rfm"),
        segments=named("segments"),
        models=named("models"),
        triggers=named("triggers"),
        products=named("products"),
        channels=named("channels"),
        scripts=named("scripts"),
        rules=tuple(pieces.get("rules", [])),
        journeys=tuple(pieces.get("journeys", [])),
        policy=one("policy") or m.PolicySpec((), "priority", 0.0, None, 0.0, None),
        nps=one("nps"),
        expectations=tuple(e for block in pieces.get("expect", []) for e in block),
        variants=named("variants"),
        personas=named("personas"),
        source_files=tuple(f.display for f in lowering.files),
        book=one("book"),
    )


def _header(node: s.StrategyHeader | None, step: str, path: str) -> m.Header:
    days = STEP_DAYS[step]
    if node is None:
        return m.Header(
            Path(path).stem,
            step,
            days,
            DEFAULT_HORIZON_DAYS // days,
            DEFAULT_CURRENCY,
            0,
            None,
            False,
            None,
        )
    horizon, currency, seed, description = DEFAULT_HORIZON_DAYS, DEFAULT_CURRENCY, 0, None
    for setting in node.settings:
        kind = type(setting)
        if kind is s.Horizon:
            horizon = setting.duration.amount.value * DAYS_PER_UNIT[setting.duration.unit.text]
        elif kind is s.Currency:
            currency = setting.code.text
        elif kind is s.Seed:
            seed = int(setting.value.value)
        elif kind is s.Description:
            description = setting.text.value
    return m.Header(
        node.name.value,
        step,
        days,
        round(horizon / days),
        currency,
        seed,
        description,
        True,
        node.span,
    )


def _settings(node: Any, attribute: str = "settings") -> dict[type, Any]:
    """A block's settings by type (the checks made each unique, effects aside)."""
    return {type(x): x for x in getattr(node, attribute)}


class FileLowering(ConditionLowering):
    """Lowers the items of one file, resolving names in that file's scope."""

    def file(self, file: SourceFile) -> dict[str, list]:
        pieces: dict[str, list] = {}
        assert file.syntax is not None
        for item in file.syntax.items:
            lowered = _ITEMS.get(type(item))
            if lowered is not None:
                kind, build = lowered
                pieces.setdefault(kind, []).append(build(self, item))
        return pieces

    def distribution(self, node: s.Distribution, attribute: str = "") -> m.Distribution:
        if node.family.text == "categorical":
            risk = attribute and self.kind(attribute) == RISK
            categories = tuple(
                (int(a.key.text[1]) if risk else a.key.text, a.value.fraction)  # type: ignore[union-attr]
                for a in node.args
            )
            return m.Distribution("categorical", {}, categories, node.span)
        names = FAMILIES[node.family.text]
        params = {
            (a.key.text if a.key is not None else names[i]): a.value.fraction  # type: ignore[union-attr]
            for i, a in enumerate(node.args)
        }
        return m.Distribution(node.family.text, params, (), node.span)

    def population(self, item: s.Population) -> m.PopulationSpec:
        size = 0
        attributes: dict[str, m.AttributeSpec] = {}
        for setting in item.settings:
            if type(setting) is s.Size:
                size = int(setting.value.value)
                continue
            name = setting.attribute.text
            clamp = setting.clamp
            attributes[name] = m.AttributeSpec(
                name,
                self.kind(name),
                self.distribution(setting.distribution, name),
                None if clamp is None else (clamp.low.fraction, clamp.high.fraction),
                setting.span,
            )
        return m.PopulationSpec(item.name.text, size, attributes, item.span)

    def acquisition(self, item: s.Acquisition) -> m.AcquisitionSpec:
        arrivals, referral = [], 0.0
        for setting in item.settings:
            if type(setting) is s.Referral:
                referral = setting.share.fraction * self.per_step(setting.per)
                continue
            options = {type(o): o for o in setting.options}
            stage = options.get(s.ArrivalStage)
            cost = options.get(s.ArrivalCost)
            via = options.get(s.ArrivalChannel)
            arrivals.append(
                m.Arrival(
                    setting.count.value * self.per_step(setting.per),
                    stage.stage.text if stage else "new",
                    cost.amount.value if cost else 0.0,
                    via.channel.text if via else None,
                    setting.span,
                )
            )
        return m.AcquisitionSpec(tuple(arrivals), referral, item.span)

    def transition(self, source: str, node: s.TransitionTarget | s.DrawnTarget) -> m.Transition:
        if isinstance(node, s.DrawnTarget):
            drawn = self.distribution(node.distribution)
            a, b = drawn.params["a"], drawn.params["b"]
            return m.Transition(source, node.stage.text, a / (a + b), node.span, drawn)
        return m.Transition(source, node.stage.text, node.probability.fraction, node.span)

    def lifecycle(self, item: s.Lifecycle) -> m.LifecycleSpec:
        transitions, modifiers, after_complaint, for_detractors = [], [], [], []
        for setting in item.settings:
            if type(setting) is s.TransitionRow:
                transitions.extend(self.transition(setting.source.text, t) for t in setting.targets)
            elif type(setting) is s.ComplaintModifier:
                target = setting.target
                after_complaint.append(
                    m.Effect(
                        target.source and target.source.text,
                        target.target and target.target.text,
                        setting.factor.value,
                        self.steps(setting.duration),
                        setting.span,
                    )
                )
            elif type(setting) is s.DetractorModifier:
                target = setting.target
                for_detractors.append(
                    m.DetractorModifier(
                        target.source and target.source.text,
                        target.target and target.target.text,
                        setting.factor.value,
                        setting.span,
                    )
                )
            else:
                target = setting.target
                modifiers.append(
                    m.HazardModifier(
                        target.source and target.source.text,
                        target.target and target.target.text,
                        setting.factor.value,
                        self.cond(setting.when),
                        setting.span,
                    )
                )
        return m.LifecycleSpec(
            tuple(transitions),
            tuple(modifiers),
            item.span,
            tuple(after_complaint),
            tuple(for_detractors),
        )

    def market(self, item: s.Market) -> m.MarketSpec:
        variables = {}
        for setting in item.settings:
            dist = self.distribution(setting.distribution)
            share = self.per_step(setting.per)
            # A random walk: the mean scales with time, the spread with its square root.
            scale = {"mean": share, "sd": math.sqrt(share), "value": share}
            params = {k: v * scale[k] for k, v in dist.params.items()}
            variables[setting.variable.text] = m.Distribution(dist.family, params, (), dist.span)
        return m.MarketSpec(variables, item.span)

    def book(self, item: s.Book) -> m.BookSpec:
        balances, splits = [], {}
        lifetime, discount = None, 0.0
        for setting in item.settings:
            if type(setting) is s.Lifetime:
                lifetime = self.steps(setting.duration)
                discount = (1.0 + setting.rate.fraction) ** self.per_step(setting.per) - 1.0
            elif type(setting) is s.Balance:
                rate = setting.rate.fraction * self.per_step(setting.per)
                balances.append(m.BalanceSpec(setting.name.text, setting.kind, rate, setting.span))
            else:
                tier = setting.tier.text if setting.tier else None
                splits[tier] = {x.balance.text: x.share.fraction for x in setting.shares}
        return m.BookSpec(tuple(balances), splits, item.span, lifetime, discount)

    def tier(self, item: s.Tier) -> m.TierSpec:
        low, _, high, _ = tier_bounds(item.when)  # type: ignore[misc]
        return m.TierSpec(item.name.text, low, high, item.span)

    def rfm_block(self, item: s.Rfm) -> m.RfmSpec:
        axes = {a.axis: self.cond(a.condition) for a in item.settings}
        return m.RfmSpec(axes["recency"], axes["frequency"], axes["monetary"], item.span)

    def model(self, item: s.Model) -> m.ModelSpec:
        given = _settings(item)
        predicts = given[s.Predicts]
        return m.ModelSpec(
            item.name.text,
            predicts.event.text,
            self.window(predicts.within),
            given[s.Auc].value.value,
            item.span,
            given[s.Persistence].value.fraction if s.Persistence in given else 0.0,
            given[s.ScoreColumn].column.value if s.ScoreColumn in given else None,
        )

    def product(self, item: s.Product) -> m.ProductSpec:
        given = _settings(item)
        tenor, minimum = given.get(s.Tenor), given.get(s.Minimum)
        margin, fee, inflow = given.get(s.Margin), given.get(s.Fee), given.get(s.Inflow)
        held_by, holding = given.get(s.HeldBy), given.get(s.Holding)
        buys, switching = given.get(s.Buys), given.get(s.Switching)
        held = {
            x.tier.text if x.tier else None: x.share.fraction
            for x in (held_by.shares if held_by else ())
        }
        return m.ProductSpec(
            item.name.text,
            given[s.Kind].value.text,
            int(given[s.Risk].level.text[1]),
            None if tenor is None else self.steps(tenor.duration),
            minimum.amount.value if minimum else 0.0,
            margin.rate.fraction * self.per_step(margin.per) if margin else 0.0,
            fee.rate.fraction if fee else 0.0,
            self.distribution(inflow.distribution) if inflow else None,
            item.span,
            held,
            self.distribution(holding.distribution) if holding else None,
            buys.share.fraction if buys else None,
            buys.cap.value if buys and buys.cap else None,
            switching.share.fraction if switching else 0.0,
        )

    def channel(self, item: s.Channel) -> m.ChannelSpec:
        given = _settings(item)
        capacity, reach = given.get(s.Capacity), given.get(s.Reach)
        complaints, opt_out = given.get(s.Complaints), given.get(s.OptOut)
        return m.ChannelSpec(
            item.name.text,
            given[s.ChannelCost].amount.value,
            capacity.amount.value * self.per_step(capacity.per) if capacity else None,
            reach.share.fraction if reach else 1.0,
            self.maybe(given.get(s.Requires), "condition"),
            item.span,
            complaints.share.fraction if complaints else 0.0,
            opt_out.share.fraction if opt_out else 0.0,
        )

    def script(self, item: s.Script) -> m.ScriptSpec:
        given = _settings(item)
        lift, text = given.get(s.Lift), given.get(s.ScriptText)
        return m.ScriptSpec(
            item.name.text,
            item.channel.text,
            lift.factor.value if lift else 1.0,
            text.text.value if text else None,
            item.span,
        )

    def effects(self, settings: tuple) -> tuple[m.Effect, ...]:
        return tuple(
            m.Effect(
                e.target.source and e.target.source.text,
                e.target.target and e.target.target.text,
                e.factor.value,
                self.steps(e.duration),
                e.span,
            )
            for e in settings
            if type(e) is s.Effect
        )

    def budget(self, setting: s.Budget | None) -> m.Budget | None:
        if setting is None:
            return None
        return m.Budget(setting.amount.value, self.period(setting.per), setting.span)

    def rule(self, item: s.Rule) -> m.RuleSpec:
        given = _settings(item)
        offer, cap = given[s.Offer], given.get(s.RuleCap)
        holdout, cooldown = given.get(s.Holdout), given.get(s.Cooldown)
        return m.RuleSpec(
            item.name.text,
            int(item.priority.value) if item.priority else 0,
            self.maybe(given.get(s.When), "condition"),
            self.maybe(given.get(s.On), "event"),
            offer.product.text,
            offer.channel.text,
            offer.script.text if offer.script else None,
            given[s.Response].rate.fraction,
            self.effects(item.settings),
            self.steps(cooldown.duration) if cooldown else 0,
            holdout.share.fraction if holdout else 0.0,
            self.budget(given.get(s.Budget)),
            None
            if cap is None
            else m.Cap(None, int(cap.count.value), self.period(cap.per), cap.span),
            s.SuitableOnly in given,
            item.span,
        )

    def wave(self, wave: s.Wave) -> m.WaveSpec:
        given = _settings(wave, "options")
        after, using = given.get(s.WaveAfter), given.get(s.WaveScript)
        return m.WaveSpec(
            int(wave.number.value),
            self.steps(after.duration) if after else 0,
            given[s.WaveChannel].channel.text,
            using.script.text if using else None,
            given[s.WaveOffer].product.text,
            given[s.WaveResponse].rate.fraction,
            self.effects(wave.options),
            wave.span,
        )

    def journey(self, item: s.Journey) -> m.JourneySpec:
        given = _settings(item)
        holdout = given.get(s.Holdout)
        return m.JourneySpec(
            item.name.text,
            self.cond(item.trigger),
            int(item.priority.value) if item.priority else 0,
            self.maybe(given.get(s.When), "condition"),
            tuple(self.wave(w) for w in item.settings if type(w) is s.Wave),
            s.StopOnResponse in given,
            s.SuitableOnly in given,
            holdout.share.fraction if holdout else 0.0,
            self.budget(given.get(s.Budget)),
            item.span,
        )

    def policy(self, item: s.Policy) -> m.PolicySpec:
        caps, arbitrate, fatigue, window, control = [], "priority", 0.0, None, 0.0
        for setting in item.settings:
            kind = type(setting)
            if kind is s.ContactCap or kind is s.ChannelCap:
                channel = setting.channel.text if kind is s.ChannelCap else None
                caps.append(
                    m.Cap(channel, int(setting.count.value), self.period(setting.per), setting.span)
                )
            elif kind is s.Arbitrate:
                arbitrate = setting.by.text
            elif kind is s.Fatigue:
                fatigue, window = setting.drop.fraction, self.window(setting.window)
            else:
                control = setting.share.fraction
        return m.PolicySpec(tuple(caps), arbitrate, fatigue, window, control, item.span)

    def nps(self, item: s.Nps) -> m.NpsSpec:
        promoters = detractors = 0.0
        shifts = []
        for setting in item.settings:
            if type(setting) is s.NpsBase:
                promoters, detractors = setting.promoters.fraction, setting.detractors.fraction
            elif type(setting) is s.NpsContact:
                shifts.append(
                    m.NpsShift(
                        setting.group,
                        setting.delta.fraction,
                        self.window(setting.window),
                        True,
                        setting.span,
                    )
                )
            else:
                shifts.append(
                    m.NpsShift(
                        setting.group,
                        setting.delta.fraction,
                        float(self.steps(setting.duration)),
                        False,
                        setting.span,
                    )
                )
        return m.NpsSpec(promoters, detractors, tuple(shifts), item.span)

    def metric(self, node: s.Metric) -> m.MetricRef:
        given = {type(q): q for q in node.qualifiers}
        of, within = given.get(s.MetricOf), given.get(s.MetricWithin)
        uplift, within_variant = given.get(s.MetricUplift), given.get(s.MetricIn)
        of_kind = self.scope.names[of.name.text].kind if of else None
        return m.MetricRef(
            node.name.text,
            of.name.text if of else None,
            of_kind,
            self.window(within.duration) if within else None,
            uplift.baseline.text if uplift else None,
            within_variant.variant.text if within_variant else None,
            node.span,
        )

    def expect(self, item: s.Expect) -> list[m.ExpectationSpec]:
        return [
            m.ExpectationSpec(
                self.metric(e.metric),
                e.op,
                self.metric(e.threshold) if type(e.threshold) is s.Metric else e.threshold.fraction,
                self.period(e.per) if e.per else None,
                e.confidence.level.fraction if e.confidence else None,
                e.span,
            )
            for e in item.settings
        ]

    def variant(self, item: s.Variant) -> m.VariantSpec:
        overrides = tuple(
            m.Override(o.kind, o.name.text if o.name else None, o.settings, o.span)
            for o in item.overrides
        )
        return m.VariantSpec(item.name.text, overrides, item.span)

    def persona(self, item: s.Persona) -> m.PersonaSpec:
        attributes: dict[str, float | str | bool] = {}
        stage, holdings, received, events, outcomes = None, [], [], [], []
        tops: list[tuple[str, float]] = []
        for setting in item.settings:
            if type(setting) is s.PersonaExpect:
                outcomes.append(_outcome(setting.outcome))
                continue
            for fact in setting.items:
                kind = type(fact)
                if kind is s.GivenAttribute:
                    name = fact.attribute.text
                    attributes[name] = True if fact.value is None else self.value(name, fact.value)
                elif kind is s.GivenStage:
                    stage = fact.stage.text
                elif kind is s.GivenHolding:
                    holdings.append(fact.product.text)
                elif kind is s.GivenReceived:
                    received.append((fact.rule.text, self.steps(fact.ago)))
                elif kind is s.GivenTop:
                    tops.append((fact.model.text, fact.share.fraction))
                else:
                    events.append(fact.trigger.text)
        if stage is None and isinstance(attributes.get("stage"), str):
            stage = attributes.pop("stage")  # type: ignore[assignment]
        return m.PersonaSpec(
            item.name.text,
            attributes,
            stage,
            tuple(holdings),
            tuple(received),
            tuple(events),
            tuple(outcomes),
            item.span,
            tuple(tops),
        )


def _outcome(outcome: s.Node) -> m.Outcome:
    kind = type(outcome)
    if kind is s.GetsNothing:
        return m.Outcome("nothing", None, None, None, outcome.span)
    play = outcome.rule.text  # type: ignore[attr-defined]
    if kind is s.Gets:
        channel = outcome.channel.text if outcome.channel else None
        return m.Outcome("gets", play, channel, None, outcome.span)
    if kind is s.Never:
        return m.Outcome("never", play, None, None, outcome.span)
    return m.Outcome("suppressed", play, None, outcome.reason.text, outcome.span)


_ITEMS: dict[type, tuple[str, Callable[[FileLowering, Any], Any]]] = {
    s.Population: ("population", FileLowering.population),
    s.Acquisition: ("acquisition", FileLowering.acquisition),
    s.Lifecycle: ("lifecycle", FileLowering.lifecycle),
    s.Market: ("market", FileLowering.market),
    s.Book: ("book", FileLowering.book),
    s.Tier: ("tiers", FileLowering.tier),
    s.Rfm: ("rfm", FileLowering.rfm_block),
    s.Segment: ("segments", lambda lo, i: m.SegmentSpec(i.name.text, lo.cond(i.expr), i.span)),
    s.Model: ("models", FileLowering.model),
    s.Trigger: ("triggers", lambda lo, i: m.TriggerSpec(i.name.text, lo.cond(i.expr), i.span)),
    s.Product: ("products", FileLowering.product),
    s.Channel: ("channels", FileLowering.channel),
    s.Script: ("scripts", FileLowering.script),
    s.Rule: ("rules", FileLowering.rule),
    s.Journey: ("journeys", FileLowering.journey),
    s.Policy: ("policy", FileLowering.policy),
    s.Nps: ("nps", FileLowering.nps),
    s.Expect: ("expect", FileLowering.expect),
    s.Variant: ("variants", FileLowering.variant),
    s.Persona: ("personas", FileLowering.persona),
}
