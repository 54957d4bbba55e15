"""The population block and the distributions it draws customers from (also used by the
market and by products' inflows).

Distributions (E0306): `normal(mean, sd)`, `lognormal(median, sigma)` (a lognormal is given by
its median, never its mean), `categorical(NAME share, …)`, `bernoulli(p)`, `poisson(lambda)`,
`beta(a, b)`, `gamma(shape, mean)`, `uniform(low, high)`, `constant(value)`. Parameters may be
named or given in that order. A population needs `size` (E0408). A built-in attribute keeps its
type whatever it is drawn from: `risk_tolerance` and `stage` are drawn with `categorical` over
C1..C5 and the stage names, `tier` is never drawn (it follows from `aum`).
"""

from __future__ import annotations

from collections.abc import Callable

from strategy_dsl import syntax as s
from strategy_dsl.checker import conditions as c
from strategy_dsl.checker import units
from strategy_dsl.checker.context import Context, Once, suggestion_hint
from strategy_dsl.checker.scope import BUILTIN_ATTRIBUTES, MONEY, NUMBER, RISK, SHARE, STAGE, TIER

FAMILIES: dict[str, tuple[str, ...]] = {
    "normal": ("mean", "sd"),
    "lognormal": ("median", "sigma"),
    "categorical": (),
    "bernoulli": ("p",),
    "poisson": ("lambda",),
    "beta": ("a", "b"),
    # A positive number, uneven between customers: a transaction rate drawn per customer (NBD).
    "gamma": ("shape", "mean"),
    "uniform": ("low", "high"),
    "constant": ("value",),
}
# Parameters in the distribution's own unit (money, a count, or a share); the others are shape
# parameters, always bare.
_VALUE_PARAMS = {"mean", "sd", "median", "low", "high", "value"}
_POSITIVE_PARAMS = {"sd", "sigma", "a", "b", "median", "shape"}


def distribution(
    ctx: Context, node: s.Distribution, unit: str, families: tuple[str, ...] | None = None
) -> dict[str, s.Value] | None:
    """Check a distribution whose values are in ``unit`` (MONEY/NUMBER: bare, SHARE: `%`, or
    "auto": the first value decides); the parameters by name, or None when unusable."""
    family = node.family.text
    if family not in FAMILIES or (families is not None and family not in families):
        allowed = families or tuple(FAMILIES)
        ctx.error(
            "E0306",
            f"`{family}` is not a distribution that can be used here",
            node.family.span,
            label="unknown distribution",
            hint=suggestion_hint(family, dict.fromkeys(allowed))
            or "use one of " + ", ".join(f"`{f}`" for f in allowed),
        )
        return None
    if family == "categorical":
        return {}
    params = _parameters(ctx, node)
    if params is None:
        return None
    if unit == "auto":
        first = next((v for k, v in params.items() if k in _VALUE_PARAMS), None)
        unit = SHARE if isinstance(first, s.Number) and first.percent else NUMBER
    for key, value in params.items():
        if type(value) is not s.Number:
            ctx.error(
                "E0306",
                f"`{key}` of `{family}` must be a number",
                value.span,
                label="not a number",
                hint=f"give `{key}` a number",
            )
            continue
        what = f"`{key}` of `{family}`"
        if key == "p":
            units.share(ctx, value, what)
        elif key in _VALUE_PARAMS and unit == SHARE:
            units.share(ctx, value, what, signed=True)
        elif units.bare(ctx, value, what) and key in _POSITIVE_PARAMS:
            units.in_range(ctx, value, what, above=0)
        elif key == "lambda" or (key == "mean" and family == "gamma"):
            units.in_range(ctx, value, what, minimum=0)
    low, high = params.get("low"), params.get("high")
    if isinstance(low, s.Number) and isinstance(high, s.Number) and low.value >= high.value:
        units.in_range(ctx, high, "`high` of `uniform`", above=low.value)
    return params


def _parameters(ctx: Context, node: s.Distribution) -> dict[str, s.Value] | None:
    family = node.family.text
    names = FAMILIES[family]
    params: dict[str, s.Value] = {}
    for index, arg in enumerate(node.args):
        key = arg.key.text if arg.key is not None else (names[index] if index < len(names) else "")
        if key not in names or key in params:
            if key == "mean" and family == "lognormal":
                hint = "a lognormal is given by its median: `lognormal(median 5万, sigma 1.4)`"
            else:
                hint = f"`{family}` takes " + ", ".join(f"`{n}`" for n in names)
            ctx.error(
                "E0306",
                f"`{family}` has no {'further' if not key else f'`{key}`'} parameter"
                if key not in params
                else f"`{key}` is given twice",
                (arg.key or arg).span,
                label="wrong parameter",
                hint=hint,
            )
            return None
        params[key] = arg.value
    missing = [n for n in names if n not in params]
    if missing:
        ctx.error(
            "E0306",
            f"`{family}` needs " + ", ".join(f"`{m}`" for m in missing),
            node.family.span,
            label="missing parameter",
            hint=f"write `{family}(" + ", ".join(f"{n} …" for n in names) + ")`",
        )
        return None
    return params


def categorical(ctx: Context, node: s.Distribution, check_key: Callable[[s.Name], object]) -> None:
    """`categorical(NAME share, …)`: named shares summing to 100% (E0404)."""
    total = 0.0
    once = Once(ctx)
    valid = True
    for arg in node.args:
        value = arg.value
        if arg.key is None or type(value) is not s.Number:
            ctx.error(
                "E0306",
                "each category of `categorical` is a name and a share",
                arg.span,
                label="not `NAME share%`",
                hint="write e.g. `categorical(C1 10%, C2 90%)`",
            )
            valid = False
            continue
        check_key(arg.key)
        once.first(arg.key.text, arg.key, arg.key.text)
        valid = units.share(ctx, value, f"the share of `{arg.key.text}`") and valid
        total += value.fraction
    if valid and abs(total - 1.0) > 1e-9:
        ctx.error(
            "E0404",
            f"the shares of `categorical` add up to {units.show(total * 100)}%, not 100%",
            node.family.span,
            label=f"{units.show(total * 100)}%",
            hint="correct the shares, or add the missing category, so that they add up to 100%",
        )


# ------------------------------------------------------------------------------ population


def population(ctx: Context, item: s.Population) -> None:
    once = Once(ctx)
    for setting in item.settings:
        if type(setting) is s.Size:
            if once.first("size", setting, "size"):
                units.amount(ctx, setting.value, "the population size", minimum=1, integer=True)
            continue
        assert type(setting) is s.AttributeDist
        if once.first(setting.attribute.text, setting, setting.attribute.text):
            _attribute_distribution(ctx, setting)
    once.require("size", "size", item.name.span, "size 200k", f"population `{item.name.text}`")


def _attribute_distribution(ctx: Context, setting: s.AttributeDist) -> None:
    name = setting.attribute.text
    node = setting.distribution
    builtin = BUILTIN_ATTRIBUTES.get(name)
    family = node.family.text
    if builtin == TIER:
        ctx.error(
            "E0306",
            "`tier` is not drawn: it follows from `aum` and the tiers",
            setting.attribute.span,
            label="derived attribute",
            hint="remove this line; give `aum` a distribution instead",
        )
        return
    if builtin in (RISK, STAGE) and family != "categorical":
        ctx.error(
            "E0306",
            f"`{name}` is drawn with `categorical(…)`",
            node.family.span,
            label="expected `categorical`",
            hint="write e.g. `categorical(C1 10%, C2 25%, C3 40%, C4 20%, C5 5%)`"
            if builtin == RISK
            else "write e.g. `categorical(new 8%, growing 27%, mature 50%, declining 15%)`",
        )
        return
    if builtin in (MONEY, NUMBER, SHARE) and family in ("categorical", "bernoulli"):
        ctx.error(
            "E0306",
            f"`{name}` is a number and cannot be drawn with `{family}`",
            node.family.span,
            label="wrong distribution",
            hint="use `normal`, `lognormal`, `poisson`, `gamma`, `uniform`, `beta` or `constant`",
        )
        return
    if family == "categorical":
        if builtin == RISK:
            check = lambda key: c.risk_level(ctx, key, c.RISK_LEVELS, "risk tolerance")  # noqa: E731
        elif builtin == STAGE:
            check = lambda key: c.stage(ctx, key)  # noqa: E731
        else:
            check = lambda key: None  # noqa: E731
        if distribution(ctx, node, NUMBER) is not None:
            categorical(ctx, node, check)
        return
    unit = "auto" if builtin is None else builtin
    params = distribution(ctx, node, unit)
    if params is not None and setting.clamp is not None:
        clamp = setting.clamp
        if family == "bernoulli":
            ctx.error(
                "E0306",
                "a yes/no attribute cannot be clamped",
                clamp.span,
                label="nothing to clamp",
                hint="remove `clamp`",
            )
        elif clamp.low.value >= clamp.high.value:
            units.in_range(ctx, clamp.high, "the upper clamp", above=clamp.low.value)
