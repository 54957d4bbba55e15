"""Suitability (E0501), and plays that can never act: a `when` that never holds (W0102) and a
rule that a higher-priority rule always pre-empts (W0103).

The logic questions (can this hold? does this imply that?) go to ``satisfiability``, which
expands segments and tiers and answers conservatively: when unsure, a condition can hold and
does not imply another. So every finding here rests on a proof, never on a guess.

Suitability: a rule or wave offering a product of risk Rk is an error unless the play says
`suitable only` or its audience (`when` and `on` together, segments expanded) implies
`risk_tolerance >= Ck`. R1 products suit everyone.

Shadowing: rule B is reported as always pre-empted by rule A when all of these hold:
A's priority is higher; both offer the same product via the same channel (so suitability,
"already held" and the channel's `requires` filter both alike); the policy arbitrates by
priority and allows one contact per customer on that channel, or overall, per window of at
least one step (so A takes the only slot); A has no `on`, or the same `on` as B; A has no
holdout, cooldown, budget or `max … per customer` that could leave the slot to B; and B's
`when` implies A's. The search is bounded: each rule is compared with the ``SHADOW_NEIGHBOURS``
nearest higher-priority rules of its channel and product, and a file asks at most
``SHADOW_BUDGET`` implications; past that, nothing more is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from strategy_dsl import syntax as s
from strategy_dsl.checker.context import Context
from strategy_dsl.checker.satisfiability import Reasoner
from strategy_dsl.diagnostics import Related, Span

SHADOW_NEIGHBOURS = 16
SHADOW_BUDGET = 2000
_NOWHERE = Span(file="<checker>", line=1, column=1, end_line=1, end_column=1)


@dataclass(slots=True)
class Play:
    """What the logic checks need of a rule or journey."""

    node: s.Rule | s.Journey
    priority: float
    when: s.Expr | None
    on: s.Expr | None
    offers: list[tuple[s.Name, s.Name | None]]  # (product, channel) of the rule or each wave
    suitable_only: bool
    gated: bool  # holdout, cooldown, budget or a per-customer cap can skip a customer


def play_of(node: s.Rule | s.Journey) -> Play:
    when = on = None
    offers: list[tuple[s.Name, s.Name | None]] = []
    suitable = gated = False
    for setting in node.settings:
        kind = type(setting)
        if kind is s.When:
            when = setting.condition
        elif kind is s.On:
            on = setting.event
        elif kind is s.Offer:
            offers.append((setting.product, setting.channel))
        elif kind is s.SuitableOnly:
            suitable = True
        elif kind in (s.Holdout, s.Cooldown, s.Budget, s.RuleCap):
            gated = True
        elif kind is s.Wave:
            product = next((o.product for o in setting.options if type(o) is s.WaveOffer), None)
            via = next((o.channel for o in setting.options if type(o) is s.WaveChannel), None)
            if product is not None:
                offers.append((product, via))
    if type(node) is s.Journey:
        on = node.trigger
    priority = node.priority.value if node.priority is not None else 0.0
    return Play(node, priority, when, on, offers, suitable, gated)


# ------------------------------------------------------------------------------ suitability


@cache
def _at_least(level: int) -> s.Compare:
    name = s.Name(span=_NOWHERE, text="risk_tolerance")
    return s.Compare(
        span=_NOWHERE, attribute=name, op=">=", value=s.Name(span=_NOWHERE, text=f"C{level}")
    )


def product_risk(ctx: Context, product: s.Name) -> tuple[int, s.Risk] | None:
    decl = ctx.scope.names.get(product.text)
    if decl is None or decl.kind != "product":
        return None
    for setting in decl.node.settings:  # type: ignore[attr-defined]
        if type(setting) is s.Risk and setting.level.text in ("R1", "R2", "R3", "R4", "R5"):
            return int(setting.level.text[1]), setting
    return None


def _floor(expr: s.Expr, ctx: Context, depth: int = 0) -> int:
    """The lowest tolerance a customer meeting ``expr`` can have, read off its top-level
    `and`s (0 when it says nothing): a cheap proof that spares most questions to the solver."""
    kind = type(expr)
    if kind is s.And and depth < 8:
        return max(_floor(e, ctx, depth + 1) for e in expr.operands)
    if kind is s.Ref and depth < 8:
        inner = ctx.scope.expand(expr.name.text)
        return _floor(inner, ctx, depth + 1) if inner is not None else 0
    if kind is s.Compare and expr.attribute.text == "risk_tolerance":
        value = expr.value
        if type(value) is s.Name and value.text in ("C1", "C2", "C3", "C4", "C5"):
            level = int(value.text[1])
            return {">=": level, ">": level + 1, "==": level}.get(expr.op, 0)
    return 0


def suitability(ctx: Context, play: Play, reasoner: Reasoner) -> None:
    if play.suitable_only:
        return
    premise: s.Expr | None
    parts = [e for e in (play.when, play.on) if e is not None]
    premise = (
        parts[0]
        if len(parts) == 1
        else (s.And(span=_NOWHERE, operands=tuple(parts)) if parts else None)
    )
    floor = _floor(premise, ctx) if premise is not None else 0
    for product, _ in play.offers:
        risk = product_risk(ctx, product)
        if risk is None or risk[0] <= max(1, floor):
            continue
        level, declared = risk
        if premise is not None and reasoner.implies(premise, _at_least(level)):
            continue
        ctx.error(
            "E0501",
            f"`{product.text}` (risk R{level}) may be offered to customers below C{level}",
            product.span,
            label=f"risk R{level}",
            hint=f"add `risk_tolerance >= C{level}` to the `when`, or add `suitable only` to "
            f"state that customers below C{level} are filtered out",
            related=(
                Related(span=declared.span, message=f"`{product.text}` is rated R{level} here"),
            ),
        )


def never_holds(ctx: Context, play: Play, reasoner: Reasoner) -> None:
    if play.when is not None and not reasoner.is_satisfiable(play.when):
        ctx.warning(
            "W0102",
            f"the `when` of `{play.node.name.text}` can never hold",
            play.when.span,
            label="no customer matches",
            hint="check `and` against `or`, and which side of each bound is meant",
        )


# ------------------------------------------------------------------------------ shadowing


def single_slot(policy: s.Policy | None, channel: str) -> bool:
    """Whether the policy lets only one contact per customer per step through on
    ``channel``, and gives it by priority."""
    if policy is None:
        return False
    capped = False
    for setting in policy.settings:
        kind = type(setting)
        if kind is s.Arbitrate and setting.by.text != "priority":
            return False
        if kind is s.ContactCap or (kind is s.ChannelCap and setting.channel.text == channel):
            capped = capped or setting.count.value == 1
    return capped


def _shape(value: object) -> object:
    """A node's structure without its spans, to tell whether two `on`s are the same."""
    if isinstance(value, s.Node):
        fields = type(value).model_fields
        return (type(value).__name__, *(_shape(getattr(value, f)) for f in fields if f != "span"))
    if isinstance(value, tuple):
        return tuple(_shape(v) for v in value)
    return value


def shadowing(ctx: Context, mine: list[Play], everyone: list[Play], reasoner: Reasoner) -> None:
    """W0103 for the rules of this file (``mine``) against every rule in scope."""
    groups: dict[tuple[str, str], list[Play]] = {}
    for play in everyone:
        if type(play.node) is s.Rule and len(play.offers) == 1 and play.offers[0][1] is not None:
            product, channel = play.offers[0]
            groups.setdefault((product.text, channel.text), []).append(play)  # type: ignore[union-attr]
    budget = SHADOW_BUDGET
    own = {id(p.node) for p in mine}
    for (_, channel), group in groups.items():
        if len(group) < 2 or not single_slot(ctx.scope.policy, channel):
            continue
        group.sort(key=lambda p: -p.priority)
        for index, low in enumerate(group):
            if id(low.node) not in own:
                continue
            higher = [p for p in group[:index] if p.priority > low.priority]
            for high in higher[-SHADOW_NEIGHBOURS:]:
                if budget <= 0:
                    return
                if high.gated or (
                    high.on is not None and (low.on is None or _shape(high.on) != _shape(low.on))
                ):
                    continue
                if high.when is not None:
                    if low.when is None:
                        continue
                    budget -= 1
                    if not reasoner.implies(low.when, high.when):
                        continue
                _report_shadow(ctx, low, high)
                break


def _report_shadow(ctx: Context, low: Play, high: Play) -> None:
    name, winner = low.node.name, high.node.name
    ctx.warning(
        "W0103",
        f"rule `{name.text}` is always pre-empted by `{winner.text}`",
        name.span,
        label=f"`{winner.text}` always wins",
        hint=f"give `{name.text}` a higher priority than `{winner.text}`, or take its audience "
        f"out of `{winner.text}`'s `when`",
        related=(
            Related(
                span=winner.span,
                message=f"`{winner.text}` has a higher priority, the "
                "same channel and product, and every customer of this rule",
            ),
        ),
    )
