"""Lowering conditions and units: syntax expressions → the model's condition tree, durations →
steps, `per` rates → per step. The base of the item lowering in ``lower``.

Conditions name declared things by kind (segment, tier, trigger refs) and compare attributes
with normalised values: money as written, shares as fractions, risk levels as 1..5, stages and
categories by name. `tier == 财富` is a tier reference and `tier >= 财富` the AUM bound it
stands for, since tiers are ordered by AUM.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from strategy_dsl import model as m
from strategy_dsl import syntax as s
from strategy_dsl.calendar import DAYS_PER_UNIT, STEP_DAYS
from strategy_dsl.checker.blocks import tier_bounds
from strategy_dsl.checker.scope import CATEGORICAL, DEFERRED, RISK, STAGE, TIER, Attribute, Scope

_LEVEL = re.compile(r"^[CR][1-5]$")  # a risk level, C1..C5 or R1..R5


class ConditionLowering:
    """Units and conditions, resolving names in one file's scope."""

    def __init__(self, scope: Scope, step: str, attributes: dict[str, Attribute]) -> None:
        self.scope = scope
        self.attributes = attributes
        self.step_days = STEP_DAYS[step]

    # -- units -----------------------------------------------------------------------------

    def steps(self, duration: s.Duration | None, default: int = 0) -> int:
        if duration is None:
            return default
        return round(self.window(duration))

    def window(self, duration: s.Duration) -> float:
        return duration.amount.value * DAYS_PER_UNIT[duration.unit.text] / self.step_days

    def maybe_window(self, duration: s.Duration | None) -> float | None:
        return None if duration is None else self.window(duration)

    def per_step(self, per: s.Per) -> float:
        """The share of a `per` period that one step is."""
        return self.step_days / DAYS_PER_UNIT[per.unit.text]

    def period(self, per: s.Per) -> float:
        return DAYS_PER_UNIT[per.unit.text] / self.step_days

    # -- conditions ------------------------------------------------------------------------

    def cond(self, expr: s.Expr) -> m.Condition:
        return _CONDITIONS[type(expr)](self, expr)

    def maybe(self, setting: Any, attribute: str) -> m.Condition | None:
        return None if setting is None else self.cond(getattr(setting, attribute))

    def kind(self, attribute: str) -> str:
        """The attribute's type; a library checked on its own may use attributes no
        population declares (DEFERRED): their values are lowered as written."""
        known = self.attributes.get(attribute)
        return DEFERRED if known is None else known.type

    def value(self, attribute: str, value: s.Value) -> float | str:
        if isinstance(value, s.Number):
            return value.fraction
        text = value.text if isinstance(value, s.Name) else value.value
        if self.kind(attribute) in (RISK, DEFERRED) and _LEVEL.match(text):
            return float(text[1])
        return text

    def number(self, attribute: str, value: s.Value) -> float:
        """A range bound: a number, or NaN for a name only a library checked on its own (with
        no population to type its attributes) can leave here."""
        found = self.value(attribute, value)
        return found if isinstance(found, float) else math.nan

    def compare(self, expr: s.Compare) -> m.Condition:
        attribute, op, span = expr.attribute.text, expr.op, expr.span
        kind = self.kind(attribute)
        if kind == TIER:
            return self._tier_compare(expr)
        value = self.value(attribute, expr.value)
        if kind in (STAGE, CATEGORICAL) or isinstance(value, str):
            inside = m.AttributeIn(attribute, (value,), span)
            return inside if op == "==" else m.Not(inside, span)
        return m.AttributeCompare(attribute, op, self.number(attribute, expr.value), span)

    def _tier_compare(self, expr: s.Compare) -> m.Condition:
        name = expr.value.text  # type: ignore[union-attr]
        tier = m.TierRef(name, expr.span)
        if expr.op in ("==", "!="):
            return tier if expr.op == "==" else m.Not(tier, expr.span)
        # Tiers are ordered by AUM: `tier >= 财富` is `aum >= ` the low bound of 财富.
        low, _, high, _ = tier_bounds(self.scope.names[name].node.when)  # type: ignore[misc, attr-defined]
        op, value = {">=": (">=", low), ">": (">=", high), "<": ("<", low), "<=": ("<", high)}[
            expr.op
        ]
        return m.AttributeCompare("aum", op, value, expr.span)

    def ref(self, expr: s.Ref) -> m.Condition:
        name, span = expr.name.text, expr.span
        decl = self.scope.names.get(name)
        kind = decl.kind if decl is not None else "attribute"
        return {"segment": m.SegmentRef, "tier": m.TierRef, "trigger": m.TriggerRef}.get(
            kind, m.AttributeFlag
        )(name, span)

    def in_set(self, expr: s.InSet) -> m.Condition:
        attribute = expr.attribute.text
        if self.kind(attribute) == TIER:
            refs = tuple(m.TierRef(v.text, v.span) for v in expr.items)  # type: ignore[union-attr]
            return m.Any(refs, expr.span)
        values = tuple(self.value(attribute, v) for v in expr.items)
        return m.AttributeIn(attribute, values, expr.span)

    def in_range(self, expr: s.InRange) -> m.Condition:
        attribute = expr.attribute.text
        low, high = self.number(attribute, expr.low), self.number(attribute, expr.high)
        return m.AttributeRange(attribute, low, high, expr.span)

    def rfm(self, expr: s.RfmQuadrant) -> m.Condition:
        high = [level.level.text == "high" for level in expr.levels]
        return m.RfmQuadrant(high[0], high[1], high[2], expr.span)


_CONDITIONS: dict[type, Callable[[ConditionLowering, Any], m.Condition]] = {
    s.Ref: ConditionLowering.ref,
    s.Compare: ConditionLowering.compare,
    s.InRange: ConditionLowering.in_range,
    s.InSet: ConditionLowering.in_set,
    s.Top: lambda lo, e: m.ModelTop(e.model.text, e.share.fraction, e.span),
    s.RfmQuadrant: ConditionLowering.rfm,
    s.Entered: lambda lo, e: m.EnteredStage(e.stage.text, lo.maybe_window(e.within), e.span),
    s.AumChange: lambda lo, e: m.AumChange(
        e.direction, e.share.fraction, lo.window(e.over), e.span
    ),
    s.Flow: lambda lo, e: m.Flow(
        e.direction, e.op, e.amount.value, lo.maybe_window(e.within), e.span
    ),
    s.Matures: lambda lo, e: m.Matures(e.product.text, e.span),
    s.Inactive: lambda lo, e: m.Inactive(lo.window(e.duration), e.span),
    s.Every: lambda lo, e: m.Every(lo.steps(e.duration), e.span),
    s.Birthday: lambda lo, e: m.Birthday(e.span),
    s.SalaryCredited: lambda lo, e: m.SalaryCredited(e.span),
    s.RespondedTo: lambda lo, e: m.RespondedTo(e.target.text, lo.maybe_window(e.within), e.span),
    s.Holds: lambda lo, e: m.Holds(e.product.text, e.span),
    s.And: lambda lo, e: m.All(tuple(lo.cond(x) for x in e.operands), e.span),
    s.Or: lambda lo, e: m.Any(tuple(lo.cond(x) for x in e.operands), e.span),
    s.Not: lambda lo, e: m.Not(lo.cond(e.operand), e.span),
}

# Item type → (piece, lowering); a piece is one list in the assembled model.
