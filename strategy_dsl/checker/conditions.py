"""Conditions and events: names, attribute types and which atoms may appear where.

A *condition* says who a customer is now; it is what a `when`, a segment, a tier, a channel's
`requires`, a lifecycle modifier's `when` and an `rfm` score hold. An *event* says what happens
at a moment; it is what a trigger and an `on` hold. Conditions and events share one expression
grammar, so the checker sorts the atoms (E0411):

| atom                                                  | condition    | event        |
|-------------------------------------------------------|--------------|--------------|
| segment, tier, yes/no attribute, comparison, `in`,    | yes          | yes, as a    |
| `top`, `rfm(…)`, `holds`                              |              | filter       |
| trigger name                                          | no           | yes          |
| `every`, `matures`, `birthday`, `salary credited`,    | no           | yes          |
| `inflow`/`outflow …`, `aum drop/rise …`, `entered X`  |              |              |
| `inactive N`, `entered X within N`,                   | yes: it has  | yes: it      |
| `responded to X [within N]`                           | been so      | becomes so   |

An event expression (a trigger, an `on`) must contain at least one atom that can be an event;
one made only of conditions is E0411 (it belongs in `when`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from strategy_dsl import syntax as s
from strategy_dsl.checker import units
from strategy_dsl.checker.context import Context, suggestion_hint
from strategy_dsl.checker.scope import (
    BOOLEAN,
    CATEGORICAL,
    DEFERRED,
    MONEY,
    NUMBER,
    RISK,
    SHARE,
    STAGE,
    STAGES,
    TIER,
    Attribute,
)

STATE = "state"
EVENT = "event"

RISK_LEVELS = ("C1", "C2", "C3", "C4", "C5")
PRODUCT_RISKS = ("R1", "R2", "R3", "R4", "R5")
RFM_AXES = ("R", "F", "M")
RFM_LEVELS = ("high", "low")
_ORDER_OPS = ("<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class Place:
    """Where an expression stands: a condition (STATE) or an event (EVENT) place, and how to
    name it in messages."""

    kind: str
    what: str


WHEN = Place(STATE, "a `when`")
SEGMENT = Place(STATE, "a segment")
REQUIRES = Place(STATE, "a channel's `requires`")
MODIFIER = Place(STATE, "a lifecycle modifier's `when`")
RFM_SCORE = Place(STATE, "an `rfm` score")
ON = Place(EVENT, "`on`")
TRIGGER = Place(EVENT, "a trigger")


def check_condition(ctx: Context, expr: s.Expr, place: Place) -> bool:
    """Check ``expr`` in ``place``; True when it raised no error."""
    before = ctx.errors
    eventful = _walk(ctx, expr, place)
    clean = ctx.errors == before
    if not clean:
        ctx.broken.add(id(expr))
    if place.kind == EVENT and not eventful and clean:
        ctx.error(
            "E0411",
            f"{place.what} needs an event, and this is only a condition",
            expr.span,
            label="no event here",
            hint="a condition on who the customer is belongs in `when`; an event is a trigger "
            "or `every`, `matures`, `entered`, `outflow`, `aum drop`, `salary credited`, …",
        )
        ctx.broken.add(id(expr))
        clean = False
    return clean


def _walk(ctx: Context, expr: s.Expr, place: Place) -> bool:
    """Check one node; True when it holds an atom that can be an event (or a name that did
    not resolve, so that one mistake is not reported twice)."""
    kind = type(expr)
    if kind is s.And or kind is s.Or:
        found = False
        for operand in expr.operands:  # type: ignore[union-attr]
            found = _walk(ctx, operand, place) or found
        return found
    if kind is s.Not:
        return _walk(ctx, expr.operand, place)  # type: ignore[union-attr]
    return _ATOMS[kind](ctx, expr, place)


def _event_only(ctx: Context, expr: s.Expr, place: Place, shown: str) -> bool:
    if place.kind == STATE:
        ctx.error(
            "E0411",
            f"`{shown}` is an event, and {place.what} describes who a customer is",
            expr.span,
            label="an event",
            hint=(
                "declare it as a trigger instead (`trigger NAME = …`) and use it in a rule's `on`"
                if place is SEGMENT
                else "move it to `on` (or name it with `trigger` and use the trigger in `on`)"
            ),
        )
    return True


# ------------------------------------------------------------------------------ names


def _ref(ctx: Context, expr: s.Ref, place: Place) -> bool:
    name = expr.name
    decl = ctx.scope.names.get(name.text)
    if decl is not None:
        ctx.uses.add(decl)
        if decl.kind in ("segment", "tier"):
            return False
        if decl.kind == "trigger":
            if place.kind == STATE:
                ctx.error(
                    "E0411",
                    f"`{name.text}` is a trigger (an event), and {place.what} describes who a "
                    "customer is",
                    name.span,
                    label="a trigger",
                    hint=(
                        f"a segment cannot contain an event; use `on {name.text}` in the rule"
                        if place is SEGMENT
                        else f"move it to `on`: `on {name.text}`"
                    ),
                    related=(),
                )
            return True
        hint = {
            "product": f"to mean customers who hold it, write `holds {name.text}`",
            "model": f"to use the model's ranking, write `{name.text} top 10%`",
        }.get(decl.kind)
        ctx.wrong_kind(name, decl, "segment, tier or yes/no attribute", hint)
        return True
    attribute = ctx.scope.attributes.get(name.text)
    if attribute is not None:
        if attribute.type != BOOLEAN:
            ctx.error(
                "E0309",
                f"`{name.text}` is not a yes/no attribute, so it cannot stand alone",
                name.span,
                label=_type_word(attribute.type),
                hint=f"compare it, e.g. `{name.text} {_example(attribute)}`",
            )
        return False
    candidates: dict = {
        n: d for n, d in ctx.scope.names.items() if d.kind in ("segment", "tier", "trigger")
    }
    candidates.update({a.name: None for a in ctx.scope.attributes.values() if a.type == BOOLEAN})
    if ctx.open_attributes:
        ctx.deferred.append((name, None, "flag"))  # a yes/no attribute of the importer's?
        return False
    hint = ctx.suggestion(name.text, candidates)
    if hint is None and name.text in STAGES:
        hint = f"`{name.text}` is a lifecycle stage: write `stage == {name.text}`"
    if place.kind == EVENT:
        code, what = "E0205", "trigger"
        hint = hint or f"declare it: `trigger {name.text} = …`, or import the file that does"
    else:
        code, what = "E0204", "segment"
        hint = hint or f"declare it: `segment {name.text} = …`, or import the file that does"
    ctx.error(code, f"unknown {what} `{name.text}`", name.span, label="not declared", hint=hint)
    return True


def _type_word(kind: str) -> str:
    """The kind of value, with its article: `aum` is *an amount*."""
    return {
        MONEY: "an amount",
        NUMBER: "a number",
        SHARE: "a share",
        RISK: "a risk level",
        STAGE: "a lifecycle stage",
        TIER: "a tier",
        CATEGORICAL: "a category",
        BOOLEAN: "a yes/no attribute",
    }.get(kind, "a value")


def _example(attribute: Attribute) -> str:
    return {
        MONEY: ">= 50万",
        NUMBER: ">= 60",
        SHARE: ">= 30%",
        RISK: ">= C2",
        STAGE: "== mature",
        TIER: "== " + "财富",
        CATEGORICAL: "== " + (attribute.categories[0] if attribute.categories else "…"),
    }.get(attribute.type, "…")


# ------------------------------------------------------------------------------ comparisons


def check_value(ctx: Context, attribute: Attribute, value: s.Value, op: str) -> None:
    """``value`` must be of ``attribute``'s type (E0302/E0301/E0308/E0309/E0210/E0204)."""
    kind = attribute.type
    name = attribute.name
    if kind == DEFERRED:
        ctx.deferred.append((s.Name(span=attribute.span, text=name), value, op))  # type: ignore[arg-type]
        return
    if kind == BOOLEAN:
        ctx.error(
            "E0309",
            f"`{name}` is yes/no and is not compared with a value",
            value.span,
            label="nothing to compare",
            hint=f"write `{name}` or `not {name}`",
        )
        return
    if type(value) is s.Text:
        _mismatch(ctx, attribute, value, "a text")
        return
    if kind in (STAGE, CATEGORICAL) and op in _ORDER_OPS:
        ctx.error(
            "E0309",
            f"`{name}` has no order, so `{op}` means nothing for it",
            value.span,
            label=f"`{op}` on {_type_word(kind)}",
            hint=f"use `==`, `!=` or `{name} in (…)`",
        )
        return
    if kind in (MONEY, NUMBER, SHARE):
        if type(value) is not s.Number:
            _mismatch(ctx, attribute, value, f"`{value.text}`")
        elif kind == SHARE:
            units.share(ctx, value, f"`{name}`", signed=True)
        else:
            units.bare(ctx, value, f"`{name}`", _example(attribute).split()[-1])
        return
    if type(value) is s.Number:
        _mismatch(ctx, attribute, value, "a number")
        return
    assert type(value) is s.Name
    if kind == RISK:
        risk_level(ctx, value, RISK_LEVELS, "a customer's risk tolerance")
    elif kind == STAGE:
        stage(ctx, value)
    elif kind == TIER:
        ctx.resolve(value, ("tier",), "E0204", "tier")
    elif value.text not in attribute.categories:
        ctx.error(
            "E0309",
            f"`{value.text}` is not one of the values of `{name}`",
            value.span,
            label="not a value of " + name,
            hint=suggestion_hint(value.text, dict.fromkeys(attribute.categories))
            or f"`{name}` takes " + ", ".join(f"`{c}`" for c in attribute.categories),
        )


def _mismatch(ctx: Context, attribute: Attribute, value: s.Value, shown: str) -> None:
    ctx.error(
        "E0309",
        f"`{attribute.name}` is {_type_word(attribute.type)} and cannot be compared with {shown}",
        value.span,
        label="incompatible value",
        hint=f"compare it with a value of its own kind, e.g. `{attribute.name} "
        f"{_example(attribute)}`",
    )


def risk_level(ctx: Context, name: s.Name, scale: tuple[str, ...], what: str) -> int | None:
    """``C1``..``C5`` or ``R1``..``R5`` as 1..5; E0308 otherwise."""
    if name.text in scale:
        return int(name.text[1])
    other = PRODUCT_RISKS if scale is RISK_LEVELS else RISK_LEVELS
    if name.text in other:
        hint = (
            f"{what} is graded {scale[0]}..{scale[-1]}; `{name.text}` is on the other scale "
            f"(write `{scale[0][0]}{name.text[1]}`)"
        )
    else:
        hint = f"{what} is graded {scale[0]} (lowest) to {scale[-1]}"
    ctx.error(
        "E0308",
        f"`{name.text}` is not on the scale of {what} ({scale[0]}..{scale[-1]})",
        name.span,
        label=f"expected {scale[0]}..{scale[-1]}",
        hint=hint,
    )
    return None


def stage(ctx: Context, name: s.Name) -> bool:
    if name.text in STAGES:
        return True
    ctx.error(
        "E0210",
        f"unknown lifecycle stage `{name.text}`",
        name.span,
        label="not a stage",
        hint=suggestion_hint(name.text, dict.fromkeys(STAGES))
        or "the stages are " + ", ".join(STAGES),
    )
    return False


def _compare(ctx: Context, expr: s.Compare, place: Place) -> bool:
    attribute = ctx.attribute(expr.attribute)
    if attribute is not None:
        check_value(ctx, attribute, expr.value, expr.op)
    return False


def _in_range(ctx: Context, expr: s.InRange, place: Place) -> bool:
    attribute = ctx.attribute(expr.attribute)
    if attribute is None:
        return False
    if attribute.type not in (MONEY, NUMBER, SHARE, RISK, DEFERRED):
        ctx.error(
            "E0309",
            f"`{attribute.name}` is {_type_word(attribute.type)} and has no range",
            expr.attribute.span,
            label="no `..` range",
            hint=f"list the values instead: `{attribute.name} in (…)`",
        )
        return False
    check_value(ctx, attribute, expr.low, ">=")
    check_value(ctx, attribute, expr.high, "<")
    return False


def _in_set(ctx: Context, expr: s.InSet, place: Place) -> bool:
    attribute = ctx.attribute(expr.attribute)
    if attribute is not None:
        for item in expr.items:
            check_value(ctx, attribute, item, "==")
    return False


def _top(ctx: Context, expr: s.Top, place: Place) -> bool:
    model_top(ctx, expr.model, expr.share)
    return False


def model_top(ctx: Context, model: s.Name, share: s.Number) -> None:
    """`MODEL top SHARE`, in a condition or a persona's facts."""
    ctx.resolve(model, ("model",), "E0211", "model")
    if not share.percent and share.value != 0:
        units.share(ctx, share, "a model's `top` share")
    elif not 0 < share.value <= 100:
        ctx.error(
            "E0412",
            f"`top {share.text}` is not a share of customers in (0%, 100%]",
            share.span,
            label="out of range",
            hint="pick the top share of the model's scores, e.g. `top 10%`",
        )


def _rfm(ctx: Context, expr: s.RfmQuadrant, place: Place) -> bool:
    if ctx.scope.rfm is None:
        ctx.error(
            "E0413",
            "`rfm(…)` is used, but there is no `rfm` block to say what high and low mean",
            expr.span,
            label="no `rfm` block",
            hint="add an `rfm { recency … frequency … monetary … }` block (or import the file "
            "that has it)",
        )
    wrong = None
    if len(expr.levels) != 3:
        wrong = expr.span
    for index, level in enumerate(expr.levels[:3]):
        if level.axis.text != RFM_AXES[index]:
            wrong = wrong or level.axis.span
        elif level.level.text not in RFM_LEVELS:
            wrong = wrong or level.level.span
    if wrong is not None:
        ctx.error(
            "E0413",
            "an RFM quadrant names R, F and M, in that order, each `high` or `low`",
            wrong,
            label="not an RFM level",
            hint="write e.g. `rfm(R high, F low, M high)`",
        )
    return False


# ------------------------------------------------------------------------------ events


def _entered(ctx: Context, expr: s.Entered, place: Place) -> bool:
    stage(ctx, expr.stage)
    if expr.within is None:
        return _event_only(ctx, expr, place, f"entered {expr.stage.text}")
    units.duration(ctx, expr.within, units.WINDOW)
    return True


def _aum_change(ctx: Context, expr: s.AumChange, place: Place) -> bool:
    attribute = ctx.attribute(expr.attribute)
    if attribute is not None and attribute.name != "aum":
        ctx.error(
            "E0309",
            f"only `aum` is followed over time; `{attribute.name}` cannot {expr.direction}",
            expr.attribute.span,
            label="not `aum`",
            hint=f"write `aum {expr.direction} {expr.share.text} over …`",
        )
    if units.share(ctx, expr.share, f"an AUM {expr.direction}") and expr.share.value == 0:
        units.in_range(ctx, expr.share, f"an AUM {expr.direction}", above=0)
    units.duration(ctx, expr.over, units.WINDOW)
    return _event_only(ctx, expr, place, f"aum {expr.direction} …")


def _flow(ctx: Context, expr: s.Flow, place: Place) -> bool:
    units.amount(ctx, expr.amount, f"an {expr.direction} amount", minimum=0)
    if expr.within is not None:
        units.duration(ctx, expr.within, units.WINDOW)
    return _event_only(ctx, expr, place, f"{expr.direction} …")


def _matures(ctx: Context, expr: s.Matures, place: Place) -> bool:
    ctx.resolve(expr.product, ("product",), "E0206", "product")
    return _event_only(ctx, expr, place, f"matures {expr.product.text}")


def _inactive(ctx: Context, expr: s.Inactive, place: Place) -> bool:
    units.duration(ctx, expr.duration, units.WINDOW)
    return True


def _every(ctx: Context, expr: s.Every, place: Place) -> bool:
    if units.duration(ctx, expr.duration, units.SCHEDULE) == 0:
        units.in_range(ctx, expr.duration.amount, "`every`", above=0)
    return _event_only(ctx, expr, place, "every …")


def _birthday(ctx: Context, expr: s.Birthday, place: Place) -> bool:
    return _event_only(ctx, expr, place, "birthday")


def _salary(ctx: Context, expr: s.SalaryCredited, place: Place) -> bool:
    return _event_only(ctx, expr, place, "salary credited")


def _responded(ctx: Context, expr: s.RespondedTo, place: Place) -> bool:
    ctx.resolve(expr.target, ("rule", "journey"), "E0209", "rule or journey")
    if expr.within is not None:
        units.duration(ctx, expr.within, units.WINDOW)
    return True


def _holds(ctx: Context, expr: s.Holds, place: Place) -> bool:
    ctx.resolve(expr.product, ("product",), "E0206", "product")
    return False


_ATOMS: dict[type, Callable[[Context, object, Place], bool]] = {
    s.Ref: _ref,
    s.Compare: _compare,
    s.InRange: _in_range,
    s.InSet: _in_set,
    s.Top: _top,
    s.RfmQuadrant: _rfm,
    s.Entered: _entered,
    s.AumChange: _aum_change,
    s.Flow: _flow,
    s.Matures: _matures,
    s.Inactive: _inactive,
    s.Every: _every,
    s.Birthday: _birthday,
    s.SalaryCredited: _salary,
    s.RespondedTo: _responded,
    s.Holds: _holds,
}


def check_deferred(records: list[tuple[s.Name, s.Value | None, str | None]], ctx: Context) -> None:
    """Check attribute uses of a file without population against the population in
    ``ctx.scope`` (a strategy that imports the file)."""
    attributes = ctx.scope.attributes
    for name, value, op in records:
        if op == "flag":
            _ref(ctx, s.Ref(span=name.span, name=name), WHEN)
        elif value is None:
            ctx.attribute(name)
        elif name.text in attributes:
            check_value(ctx, attributes[name.text], value, op or "==")
