"""A semantic diff of two checked strategies: what a reviewer needs to know about a change.

    diff = semantic_diff(old_model, new_model)
    for change in diff.changes:
        print(change.title, change.status, [(f.field, f.old, f.new) for f in change.fields])

The diff compares checked models (``strategy_dsl.model``), not text, so a file reformatted by
`stratmap fmt`, a moved declaration, a new comment or a declaration moved into an imported
file makes no difference, and a change in an imported file shows in every strategy that
imports it. Source spans are ignored everywhere.

Entities are matched by kind and name (rules, journeys, segments, triggers, products,
channels, scripts, models, tiers, variants, personas); an expectation by its metric and
operator. A renamed entity reads as one removed and one added. The blocks a strategy has at
most once (the header, population, acquisition, lifecycle, market, rfm, policy, nps) are
compared field by field.

Values are shown in the strategy's own units, the way the file writes them: shares in percent
(``6%``), money in 万 and 亿 (``50万``), durations in the strategy's steps (``3 months``), rates
per step (``20% per month``), margins per year, risk grades ``R2`` / ``C3``. Numbers are shown
exactly (up to 6 significant digits, beyond any written strategy's precision), never rounded
to a table's one decimal: a diff must not hide a change. Equality is decided on the values
themselves (to 9 significant digits, so that a rate written per month or per year that lowers
to the same per-step rate is the same), not on their display.

Every change says whether it can move the forecast (``Change.forecast``): expectations,
personas and variants cannot (they are evaluated against the forecast, or are alternatives to
it); neither can a strategy's name, description or currency, a script's text, nor the sizes
that `stratmap plan` sets the same on both sides (the horizon, seed and population size).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from strategy_dsl import model as m
from strategy_dsl import syntax as s
from strategy_dsl.checker.extras import METRICS
from strategy_dsl.checker.scope import BUILTIN_ATTRIBUTES

__all__ = ["SECTIONS", "Change", "FieldChange", "StrategyDiff", "semantic_diff"]

# Sections in reading order: the kind word used in titles, and whether the section is a
# named collection (True) or a block a strategy has at most once (False).
SECTIONS: tuple[tuple[str, bool], ...] = (
    ("strategy", False),
    ("population", False),
    ("acquisition", False),
    ("lifecycle", False),
    ("market", False),
    ("book", False),
    ("tier", True),
    ("rfm", False),
    ("segment", True),
    ("model", True),
    ("trigger", True),
    ("product", True),
    ("channel", True),
    ("script", True),
    ("rule", True),
    ("journey", True),
    ("policy", False),
    ("nps", False),
    ("expect", True),
    ("variant", True),
    ("persona", True),
)
# Sections whose changes never move a forecast: checks of the forecast and alternatives to it.
_NO_FORECAST_SECTIONS = {"expect", "variant", "persona"}
# Fields that only label the forecast, or that `stratmap plan` sets alike on both sides.
_NO_FORECAST_FIELDS = {
    ("strategy", "name"),
    ("strategy", "description"),
    ("strategy", "currency"),
    ("strategy", "seed"),
    ("strategy", "horizon"),
    ("population", "name"),
    ("population", "size"),
    ("script", "text"),
}


# How fields left at their default read; an added entity does not list them.
_DEFAULT_TEXTS = {"none", "no", "unlimited"}
_DEFAULT_FIELDS = {("holdout", "0%"), ("fee", "0%")}


@dataclass(frozen=True)
class FieldChange:
    """One field of an entity: ``old`` None when the field is new, ``new`` None when gone."""

    field: str
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Change:
    """An entity added, removed or changed. ``name`` is None for a block a strategy has at
    most once; ``fields`` lists the changed fields (for an added entity: all of them, with
    ``old`` None; for a removed one: none)."""

    kind: str
    name: str | None
    status: str  # added | removed | changed
    fields: tuple[FieldChange, ...]
    forecast: bool  # can this change move the forecast?

    @property
    def title(self) -> str:
        return self.kind if self.name is None else f"{self.kind} {self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "affects_forecast": self.forecast,
            "fields": [f.to_dict() for f in self.fields],
        }


@dataclass(frozen=True)
class StrategyDiff:
    changes: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def affects_forecast(self) -> bool:
        return any(change.forecast for change in self.changes)

    def counts(self) -> dict[str, int]:
        """How many entities were added, removed and changed."""
        found = {"added": 0, "removed": 0, "changed": 0}
        for change in self.changes:
            found[change.status] += 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "affects_forecast": self.affects_forecast,
            "counts": self.counts(),
            "changes": [change.to_dict() for change in self.changes],
        }


# ------------------------------------------------------------------------------ equality


def _canon(value: Any) -> Any:
    """A hashable, span-free form of a model value, for equality. Floats are rounded to 9
    significant digits: a rate lowered from `per year` and one from `per month` that mean the
    same differ only in the last bits."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value == 0.0:
            return value + 0.0
        return float(f"{value:.9g}")
    if is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple(
                (f.name, _canon(getattr(value, f.name))) for f in fields(value) if f.name != "span"
            ),
        )
    if isinstance(value, s.Node):  # a syntax node (a variant's settings)
        return _canon_syntax(value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _canon(v)) for k, v in value.items()))
    if isinstance(value, (tuple, list)):
        return tuple(_canon(v) for v in value)
    return repr(value)


def _canon_syntax(node: Any) -> Any:
    """A syntax node without spans, numbers by value rather than spelling (``8%`` and
    ``8.0%`` are the same setting), strings by value rather than escapes."""
    if isinstance(node, s.Number):
        return ("number", _canon(float(node.value)), node.percent)
    if isinstance(node, s.Node):
        return (
            type(node).__name__,
            tuple(
                (name, _canon_syntax(getattr(node, name)))
                for name in type(node).model_fields
                if name not in ("span", "raw")
            ),
        )
    if isinstance(node, (list, tuple)):
        return tuple(_canon_syntax(v) for v in node)
    return _canon(node)


# ------------------------------------------------------------------------------ numbers


def _num(value: float, digits: int = 6) -> str:
    """A plain number: up to ``digits`` significant digits, thousands grouped, no exponent,
    no trailing zeros, never ``-0``."""
    if not math.isfinite(value):
        return "unlimited" if value > 0 else "-unlimited"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{round(value, decimals) + 0.0:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def pct(value: float) -> str:
    """A fraction as a percentage: 0.06 → ``6%``, 0.005 → ``0.5%``."""
    return f"{_num(value * 100)}%"


def amount(value: float) -> str:
    """Money as the file writes it: ``8``, ``5000``, ``1万``, ``45万``, ``50.001万``,
    ``1.5亿``; exact to 6 significant digits."""
    size = abs(value)
    if size >= 1e8:
        return f"{_num(value / 1e8)}亿"
    if size >= 1e4:
        return f"{_num(value / 1e4)}万"
    return _num(value)


@dataclass(frozen=True)
class _Units:
    """What the strategy's numbers mean: its step and its attributes' kinds."""

    step: str
    step_days: int
    attributes: Mapping[str, str]

    @classmethod
    def of(cls, model: m.CheckedStrategy) -> _Units:
        kinds = dict(BUILTIN_ATTRIBUTES)
        if model.population is not None:
            kinds.update({n: a.type for n, a in model.population.attributes.items()})
        return cls(model.strategy.step, model.strategy.step_days, kinds)

    def steps(self, count: float) -> str:
        """A duration in steps: ``3 months``; a fraction of a step in days (``100 days``)."""
        if abs(count - round(count)) < 1e-9:
            whole = round(count)
            return f"{whole} {self.step}{'' if whole == 1 else 's'}"
        days = count * self.step_days
        return f"{_num(days)} day{'' if days == 1 else 's'}"

    def per(self, count: float) -> str:
        """A window after `per`: ``month``, ``3 months``."""
        text = self.steps(count)
        return text.removeprefix("1 ") if text.startswith("1 ") else text

    def per_step(self, text: str) -> str:
        return f"{text} per {self.step}"

    def per_year(self, rate_per_step: float) -> str:
        return f"{pct(rate_per_step * 360 / self.step_days)} per year"

    def value(self, attribute: str, value: Any) -> str:
        """An attribute's value in its kind's notation (money, share, risk grade, count)."""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, str):
            return value
        kind = self.attributes.get(attribute, "number")
        if kind == "money":
            return amount(value)
        if kind == "share":
            return pct(value)
        if kind == "risk":
            return f"C{round(value)}"
        return _num(value)


# ------------------------------------------------------------------------------ conditions

_OR, _AND, _NOT, _ATOM = 0, 1, 2, 3


def condition(node: m.Condition, units: _Units, context: int = _OR) -> str:
    """A checked condition as the language writes it (``临界财富 and not 私行``)."""
    if isinstance(node, m.Any):
        strength = _OR
        text = " or ".join(condition(o, units, _AND) for o in node.operands)
    elif isinstance(node, m.All):
        strength = _AND
        text = " and ".join(condition(o, units, _NOT) for o in node.operands)
    elif isinstance(node, m.Not):
        strength, text = _NOT, "not " + condition(node.operand, units, _NOT)
    else:
        strength, text = _ATOM, _atom(node, units)
    return f"({text})" if strength < context else text


def _within(steps: float | None, units: _Units) -> str:
    return "" if steps is None else f" within {units.steps(steps)}"


def _atom(node: Any, units: _Units) -> str:
    if isinstance(node, (m.SegmentRef, m.TierRef, m.TriggerRef)):
        return node.name
    if isinstance(node, m.AttributeFlag):
        return node.attribute
    if isinstance(node, m.AttributeCompare):
        return f"{node.attribute} {node.op} {units.value(node.attribute, node.value)}"
    if isinstance(node, m.AttributeRange):
        low, high = (units.value(node.attribute, v) for v in (node.low, node.high))
        return f"{node.attribute} in {low} .. {high}"
    if isinstance(node, m.AttributeIn):
        values = ", ".join(units.value(node.attribute, v) for v in node.values)
        return f"{node.attribute} in ({values})"
    if isinstance(node, m.ModelTop):
        return f"{node.model} top {pct(node.share)}"
    if isinstance(node, m.RfmQuadrant):
        levels = (node.recency, node.frequency, node.monetary)
        return (
            "rfm("
            + ", ".join(
                f"{axis} {'high' if high else 'low'}"
                for axis, high in zip("RFM", levels, strict=True)
            )
            + ")"
        )
    if isinstance(node, m.EnteredStage):
        return f"entered {node.stage}{_within(node.within_steps, units)}"
    if isinstance(node, m.AumChange):
        return f"aum {node.direction} {pct(node.share)} over {units.steps(node.over_steps)}"
    if isinstance(node, m.Flow):
        return (
            f"{node.direction} {node.op} {amount(node.amount)}{_within(node.within_steps, units)}"
        )
    if isinstance(node, m.Matures):
        return f"matures {node.product}"
    if isinstance(node, m.Inactive):
        return f"inactive {units.steps(node.steps)}"
    if isinstance(node, m.Every):
        return f"every {units.steps(node.steps)}"
    if isinstance(node, m.Birthday):
        return "birthday"
    if isinstance(node, m.SalaryCredited):
        return "salary credited"
    if isinstance(node, m.RespondedTo):
        return f"responded to {node.target}{_within(node.within_steps, units)}"
    if isinstance(node, m.Holds):
        return f"holds {node.product}"
    return repr(node)  # a condition kind newer than this module: still shown, never lost


# ------------------------------------------------------------------------------ fields

# An entity described for the diff: field name -> (value for equality, text for people).
Fields = dict[str, tuple[Any, str]]


def _field(found: Fields, name: str, value: Any, text: str) -> None:
    found[name] = (_canon(value), text)


def _hazard(source: str | None, target: str | None) -> str:
    return "churn" if source is None or target is None else f"{source} -> {target}"


def _effect(effect: m.Effect, units: _Units) -> str:
    return (
        f"{_hazard(effect.source, effect.target)} x {_num(effect.factor)} "
        f"for {units.steps(effect.steps)}"
    )


def _budget(budget: m.Budget | None, units: _Units) -> str:
    if budget is None:
        return "none"
    return f"{amount(budget.amount)} per {units.per(budget.window_steps)}"


def _cap(cap: m.Cap, units: _Units) -> str:
    what = "contacts" if cap.channel is None else cap.channel
    return f"max {cap.count} {what} per customer per {units.per(cap.window_steps)}"


def _distribution(dist: m.Distribution, unit: str) -> str:
    """``normal(mean 42, sd 12)`` with values in ``unit`` (money, share, risk, number)."""
    if dist.family == "categorical":
        parts = [
            f"{f'C{value}' if isinstance(value, int) else value} {pct(share)}"
            for value, share in dist.categories
        ]
        return f"categorical({', '.join(parts)})"

    def shown(key: str, value: float) -> str:
        if key == "p":
            return pct(value)
        if key in ("mean", "sd", "median", "low", "high", "value"):
            if unit == "money":
                return amount(value)
            if unit == "share":
                return pct(value)
        return _num(value)

    return f"{dist.family}({', '.join(f'{k} {shown(k, v)}' for k, v in dist.params.items())})"


def _strategy(header: m.Header, units: _Units) -> Fields:
    found: Fields = {}
    _field(found, "name", header.name, header.name)
    _field(found, "step", header.step, header.step)
    _field(found, "horizon", header.horizon_steps, units.steps(header.horizon_steps))
    _field(found, "currency", header.currency, header.currency)
    _field(found, "seed", header.seed, str(header.seed))
    _field(found, "description", header.description, header.description or "none")
    return found


def _population(spec: m.PopulationSpec, units: _Units) -> Fields:
    found: Fields = {}
    _field(found, "name", spec.name, spec.name)
    _field(found, "size", spec.size, f"{spec.size:,}")
    for name, attribute in spec.attributes.items():
        text = _distribution(attribute.distribution, attribute.type)
        if attribute.clamp is not None:
            low, high = (units.value(name, v) for v in attribute.clamp)
            text += f" clamp {low}..{high}"
        _field(found, f"attribute {name}", attribute, text)
    return found


def _acquisition(spec: m.AcquisitionSpec, units: _Units) -> Fields:
    found: Fields = {}
    for index, arrival in enumerate(spec.arrivals, start=1):
        text = f"{_num(arrival.per_step)} per {units.step} stage {arrival.stage}"
        text += f" cost {amount(arrival.cost_per_customer)} per customer"
        if arrival.channel is not None:
            text += f" via {arrival.channel}"
        label = "arrivals" if len(spec.arrivals) == 1 else f"arrivals {index}"
        _field(found, label, arrival, text)
    _field(
        found,
        "referral",
        spec.referral_per_step,
        f"{pct(spec.referral_per_step)} of responders per {units.step}",
    )
    return found


def _lifecycle(spec: m.LifecycleSpec, units: _Units) -> Fields:
    found: Fields = {}
    for row in spec.transitions:
        if row.drawn is not None:  # each customer's own chance: its distribution, per step
            text = f"~ {_distribution(row.drawn, 'number')} per {units.step}"
            _field(found, f"{row.source} -> {row.target}", row.drawn, text)
            continue
        _field(
            found,
            f"{row.source} -> {row.target}",
            row.probability,
            units.per_step(pct(row.probability)),
        )
    for modifier in spec.modifiers:
        target = _hazard(modifier.source, modifier.target)
        label = f"{target} when {condition(modifier.condition, units)}"
        _field(found, label, modifier.factor, f"x {_num(modifier.factor)}")
    for effect in spec.after_complaint:
        label = f"{_hazard(effect.source, effect.target)} after complaint"
        _field(found, label, effect, f"x {_num(effect.factor)} for {units.steps(effect.steps)}")
    for modifier in spec.for_detractors:
        label = f"{_hazard(modifier.source, modifier.target)} for detractors"
        _field(found, label, modifier, f"x {_num(modifier.factor)}")
    return found


def _market(spec: m.MarketSpec, units: _Units) -> Fields:
    found: Fields = {}
    for name, dist in spec.variables.items():
        _field(found, name, dist, units.per_step(_distribution(dist, "share")))
    return found


def _book(spec: m.BookSpec, units: _Units) -> Fields:
    found: Fields = {}
    for balance in spec.balances:
        text = f"{balance.kind} {units.per_year(balance.rate_per_step)}"
        _field(found, f"balance {balance.name}", (balance.kind, balance.rate_per_step), text)
    for tier, shares in spec.splits.items():
        text = ", ".join(f"{name} {pct(share)}" for name, share in shares.items())
        _field(found, "split" if tier is None else f"split in {tier}", shares, text)
    if spec.lifetime_steps is not None:
        text = f"{spec.lifetime_steps} steps, discount {units.per_year(spec.discount_per_step)}"
        _field(found, "lifetime", (spec.lifetime_steps, spec.discount_per_step), text)
    return found


def _tier(spec: m.TierSpec, units: _Units) -> Fields:
    if math.isinf(spec.high):
        text = f"aum >= {amount(spec.low)}"
    elif spec.low <= 0:
        text = f"aum < {amount(spec.high)}"
    else:
        text = f"aum in {amount(spec.low)} .. {amount(spec.high)}"
    found: Fields = {}
    _field(found, "when", (spec.low, spec.high), text)
    return found


def _rfm(spec: m.RfmSpec, units: _Units) -> Fields:
    found: Fields = {}
    for axis in ("recency", "frequency", "monetary"):
        cond = getattr(spec, axis)
        _field(found, axis, cond, condition(cond, units))
    return found


def _conditioned(cond: m.Condition, units: _Units) -> Fields:
    found: Fields = {}
    _field(found, "condition", cond, condition(cond, units))
    return found


def _model(spec: m.ModelSpec, units: _Units) -> Fields:
    found: Fields = {}
    _field(
        found,
        "predicts",
        (spec.predicts, spec.within_steps),
        f"{spec.predicts} within {units.steps(spec.within_steps)}",
    )
    _field(found, "auc", spec.auc, _num(spec.auc))
    if spec.persistence:
        _field(found, "persistence", spec.persistence, pct(spec.persistence))
    if spec.score_column is not None:
        _field(found, "score column", spec.score_column, repr(spec.score_column))
    return found


def _product(spec: m.ProductSpec, units: _Units) -> Fields:
    found: Fields = {}
    _field(found, "kind", spec.kind, spec.kind)
    _field(found, "risk", spec.risk, f"R{spec.risk}")
    tenor = "none" if spec.tenor_steps is None else units.steps(spec.tenor_steps)
    _field(found, "tenor", spec.tenor_steps, tenor)
    _field(found, "min", spec.minimum, amount(spec.minimum))
    _field(found, "margin", spec.margin_per_step, units.per_year(spec.margin_per_step))
    _field(found, "fee", spec.fee, pct(spec.fee))
    inflow = "none" if spec.inflow is None else _distribution(spec.inflow, "money")
    _field(found, "inflow", spec.inflow, inflow)
    for tier, share in spec.held.items():
        _field(found, "held by" if tier is None else f"held by in {tier}", share, pct(share))
    holding = "none" if spec.holding is None else _distribution(spec.holding, "money")
    _field(found, "holding", spec.holding, holding)
    if spec.buy_share is not None:
        cap = "" if spec.buy_cap is None else f" max {amount(spec.buy_cap)}"
        _field(found, "buys", (spec.buy_share, spec.buy_cap), f"{pct(spec.buy_share)} of aum{cap}")
    _field(found, "switching", spec.switching, pct(spec.switching))
    return found


def _channel(spec: m.ChannelSpec, units: _Units) -> Fields:
    found: Fields = {}
    _field(found, "cost", spec.cost_per_contact, f"{amount(spec.cost_per_contact)} per contact")
    capacity = (
        "unlimited"
        if spec.capacity_per_step is None
        else units.per_step(_num(spec.capacity_per_step))
    )
    _field(found, "capacity", spec.capacity_per_step, capacity)
    _field(found, "reach", spec.reach, pct(spec.reach))
    requires = "none" if spec.requires is None else condition(spec.requires, units)
    _field(found, "requires", spec.requires, requires)
    # Over-contact: listed when declared, so maps without it read as before.
    if spec.complaint_rate > 0:
        text = f"{pct(spec.complaint_rate)} per contact"
        _field(found, "complaints", spec.complaint_rate, text)
    if spec.opt_out_rate > 0:
        _field(found, "opt out", spec.opt_out_rate, f"{pct(spec.opt_out_rate)} per contact")
    return found


def _script(spec: m.ScriptSpec, units: _Units) -> Fields:
    found: Fields = {}
    _field(found, "channel", spec.channel, spec.channel)
    _field(found, "lift", spec.lift, _num(spec.lift))
    _field(found, "text", spec.text, "none" if spec.text is None else f'"{spec.text}"')
    return found


def _optional_condition(cond: m.Condition | None, units: _Units) -> str:
    return "none" if cond is None else condition(cond, units)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _rule(spec: m.RuleSpec, units: _Units) -> Fields:
    found: Fields = {}
    _field(found, "priority", spec.priority, str(spec.priority))
    _field(found, "when", spec.when, _optional_condition(spec.when, units))
    _field(found, "on", spec.on, _optional_condition(spec.on, units))
    _field(found, "offer", spec.product, spec.product)
    _field(found, "via", spec.channel, spec.channel)
    _field(found, "using", spec.script, spec.script or "none")
    _field(found, "response", spec.response, pct(spec.response))
    effects = "; ".join(_effect(e, units) for e in spec.effects) or "none"
    _field(found, "effect", spec.effects, effects)
    cooldown = "none" if spec.cooldown_steps == 0 else units.steps(spec.cooldown_steps)
    _field(found, "cooldown", spec.cooldown_steps, cooldown)
    _field(found, "holdout", spec.holdout, pct(spec.holdout))
    _field(found, "budget", spec.budget, _budget(spec.budget, units))
    _field(found, "max", spec.cap, "none" if spec.cap is None else _cap(spec.cap, units))
    _field(found, "suitable only", spec.suitable_only, _yes(spec.suitable_only))
    return found


def _wave(wave: m.WaveSpec, units: _Units) -> str:
    text = f"after {units.steps(wave.after_steps)} via {wave.channel}"
    if wave.script is not None:
        text += f" using {wave.script}"
    text += f" offer {wave.product} response {pct(wave.response)}"
    for effect in wave.effects:
        text += f" effect {_effect(effect, units)}"
    return text


def _journey(spec: m.JourneySpec, units: _Units) -> Fields:
    found: Fields = {}
    _field(found, "on", spec.entry, condition(spec.entry, units))
    _field(found, "priority", spec.priority, str(spec.priority))
    _field(found, "when", spec.when, _optional_condition(spec.when, units))
    for wave in spec.waves:
        _field(found, f"wave {wave.number}", wave, _wave(wave, units))
    _field(found, "stop when responded", spec.stop_on_response, _yes(spec.stop_on_response))
    _field(found, "suitable only", spec.suitable_only, _yes(spec.suitable_only))
    _field(found, "holdout", spec.holdout, pct(spec.holdout))
    _field(found, "budget", spec.budget, _budget(spec.budget, units))
    return found


def _policy(spec: m.PolicySpec, units: _Units) -> Fields:
    found: Fields = {}
    for cap in spec.caps:
        what = "contacts" if cap.channel is None else cap.channel
        label = f"max {what} per {units.per(cap.window_steps)}"
        _field(found, label, cap.count, _cap(cap, units))
    _field(found, "arbitrate", spec.arbitrate, f"by {spec.arbitrate}")
    fatigue = pct(spec.fatigue)
    if spec.fatigue_window_steps is not None:
        fatigue += f" per extra contact in {units.steps(spec.fatigue_window_steps)}"
    _field(found, "fatigue", (spec.fatigue, spec.fatigue_window_steps), fatigue)
    _field(found, "control", spec.control, pct(spec.control))
    return found


def _nps(spec: m.NpsSpec, units: _Units) -> Fields:
    found: Fields = {}
    _field(found, "promoters", spec.promoters, pct(spec.promoters))
    _field(found, "detractors", spec.detractors, pct(spec.detractors))
    for shift in spec.shifts:
        sign = "+" if shift.delta >= 0 else ""
        if shift.per_contact:
            label = f"{shift.group} per extra contact"
            text = f"{sign}{pct(shift.delta)} per extra contact in {units.steps(shift.steps)}"
        else:
            label = f"{shift.group} after responded"
            text = f"{sign}{pct(shift.delta)} for {units.steps(shift.steps)} after responded"
        _field(found, label, shift, text)
    return found


def _metric(ref: m.MetricRef, units: _Units) -> str:
    text = ref.name
    if ref.of is not None:
        text += f" of {ref.of}"
    if ref.within_steps is not None:
        text += f" within {units.steps(ref.within_steps)}"
    if ref.uplift_vs is not None:
        text += f" uplift vs {ref.uplift_vs}"
    if ref.variant is not None:
        text += f" in {ref.variant}"
    return text


def _threshold(spec: m.ExpectationSpec, units: _Units) -> str:
    if isinstance(spec.threshold, m.MetricRef):
        text = _metric(spec.threshold, units)
    else:
        unit = METRICS.get(spec.metric.name, "number")  # the checker's unit of each metric
        value = spec.threshold
        text = amount(value) if unit == "money" else pct(value) if unit == "share" else _num(value)
    if spec.per_steps is not None:
        text += f" per {units.per(spec.per_steps)}"
    if spec.confidence is not None:
        text += f" with {pct(spec.confidence)} confidence"
    return text


def _expectations(specs: Iterable[m.ExpectationSpec], units: _Units) -> dict[str, Fields]:
    """Expectations keyed by ``metric op`` (a second one alike gets ``#2``): changing a
    threshold reads as a change, not as one removed and one added."""
    found: dict[str, Fields] = {}
    for spec in specs:
        key = f"{_metric(spec.metric, units)} {spec.op}"
        number = 2
        unique = key
        while unique in found:
            unique, number = f"{key} #{number}", number + 1
        fields_: Fields = {}
        _field(fields_, "threshold", spec, _threshold(spec, units))
        found[unique] = fields_
    return found


def _variant(spec: m.VariantSpec, units: _Units) -> Fields:
    from strategy_dsl.format.lines import setting

    found: Fields = {}
    for override in spec.overrides:
        label = override.kind if override.target is None else f"{override.kind} {override.target}"
        text = "; ".join(setting(node) for node in override.settings) or "(empty)"
        _field(found, label, override.settings, text)
    return found


def _persona(spec: m.PersonaSpec, units: _Units) -> Fields:
    found: Fields = {}
    given = [
        name if value is True else f"{name} {units.value(name, value)}"
        for name, value in spec.attributes.items()
    ]
    _field(found, "given", spec.attributes, ", ".join(given) or "none")
    _field(found, "stage", spec.stage, spec.stage or "none")
    _field(found, "holds", spec.holdings, ", ".join(spec.holdings) or "none")
    received = ", ".join(f"{play} {units.steps(ago)} ago" for play, ago in spec.received)
    _field(found, "received", spec.received, received or "none")
    _field(found, "events", spec.events, ", ".join(spec.events) or "none")
    tops = ", ".join(f"{model} top {pct(share)}" for model, share in spec.tops)
    _field(found, "top", spec.tops, tops or "none")
    outcomes = []
    for outcome in spec.outcomes:
        text = outcome.kind if outcome.play is None else f"{outcome.kind} {outcome.play}"
        if outcome.channel is not None:
            text += f" via {outcome.channel}"
        if outcome.reason is not None:
            text += f" by {outcome.reason}"
        outcomes.append(text)
    _field(found, "expect", spec.outcomes, "; ".join(outcomes) or "none")
    return found


# ------------------------------------------------------------------------------ the diff

_Describe = Callable[[Any, _Units], Fields]


def _named(model: m.CheckedStrategy, kind: str, units: _Units) -> dict[str, Fields]:
    """A named section of ``model``: name -> fields."""
    collections: dict[str, tuple[Iterable[Any], _Describe]] = {
        "tier": (model.tiers, _tier),
        "segment": (model.segments.values(), lambda s, u: _conditioned(s.condition, u)),
        "model": (model.models.values(), _model),
        "trigger": (model.triggers.values(), lambda t, u: _conditioned(t.condition, u)),
        "product": (model.products.values(), _product),
        "channel": (model.channels.values(), _channel),
        "script": (model.scripts.values(), _script),
        "rule": (model.rules, _rule),
        "journey": (model.journeys, _journey),
        "variant": (model.variants.values(), _variant),
        "persona": (model.personas.values(), _persona),
    }
    if kind == "expect":
        return _expectations(model.expectations, units)
    items, describe = collections[kind]
    return {item.name: describe(item, units) for item in items}


def _single(model: m.CheckedStrategy, kind: str, units: _Units) -> Fields | None:
    """A block a strategy has at most once; None when absent."""
    blocks: dict[str, tuple[Any, _Describe]] = {
        "strategy": (model.strategy, _strategy),
        "population": (model.population, _population),
        "acquisition": (model.acquisition, _acquisition),
        "lifecycle": (model.lifecycle, _lifecycle),
        "market": (model.market, _market),
        "book": (model.book, _book),
        "rfm": (model.rfm, _rfm),
        "policy": (model.policy, _policy),
        "nps": (model.nps, _nps),
    }
    block, describe = blocks[kind]
    return None if block is None else describe(block, units)


def _compare(old: Fields, new: Fields) -> tuple[FieldChange, ...]:
    changed = []
    for name, (value, text) in new.items():
        before = old.get(name)
        if before is None:
            changed.append(FieldChange(name, None, text))
        elif before[0] != value:
            changed.append(FieldChange(name, before[1], text))
    changed.extend(
        FieldChange(name, text, None) for name, (_, text) in old.items() if name not in new
    )
    return tuple(changed)


def _moves_forecast(kind: str, changed: Iterable[FieldChange]) -> bool:
    if kind in _NO_FORECAST_SECTIONS:
        return False
    return any((kind, f.field) not in _NO_FORECAST_FIELDS for f in changed)


def _entity(kind: str, name: str | None, old: Fields | None, new: Fields | None) -> Change | None:
    if old is None and new is None:
        return None
    if old is None:
        assert new is not None
        # An added entity lists what it sets; settings left at their default are left out.
        added = tuple(
            FieldChange(field, None, text)
            for field, (_, text) in new.items()
            if text not in _DEFAULT_TEXTS and (field, text) not in _DEFAULT_FIELDS
        )
        return Change(kind, name, "added", added, _moves_forecast(kind, added))
    if new is None:
        gone = tuple(FieldChange(field, text, None) for field, (_, text) in old.items())
        return Change(kind, name, "removed", (), _moves_forecast(kind, gone))
    changed = _compare(old, new)
    if not changed:
        return None
    return Change(kind, name, "changed", changed, _moves_forecast(kind, changed))


def semantic_diff(old: m.CheckedStrategy, new: m.CheckedStrategy) -> StrategyDiff:
    """What changed from ``old`` to ``new``: entities added, removed and changed (with the
    changed fields, old → new), in the order of ``SECTIONS``, names in the new model's order
    (removed ones after, in the old model's order)."""
    old_units, new_units = _Units.of(old), _Units.of(new)
    changes: list[Change] = []
    for kind, named in SECTIONS:
        if not named:
            found = _entity(
                kind, None, _single(old, kind, old_units), _single(new, kind, new_units)
            )
            if found is not None:
                changes.append(found)
            continue
        before, after = _named(old, kind, old_units), _named(new, kind, new_units)
        for name in [*after, *(n for n in before if n not in after)]:
            found = _entity(kind, name, before.get(name), after.get(name))
            if found is not None:
                changes.append(found)
    return StrategyDiff(tuple(changes))
