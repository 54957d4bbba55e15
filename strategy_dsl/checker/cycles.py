"""Segments, triggers and tiers defined in terms of themselves (E0416).

`segment a = b and x` with `segment b = a` has no meaning: neither can be evaluated first. The
simulator evaluates each definition once per step in dependency order, so a cycle must be an
error here, before anything is compiled. Each cycle is reported once, at the declaration of its
first member in source order, with the other members as related spans.
"""

from __future__ import annotations

from collections.abc import Iterator

from strategy_dsl import syntax as s
from strategy_dsl.checker.scope import Decl, Scope
from strategy_dsl.diagnostics import Diagnostic, Related, error

_DEFINED = {"segment": "expr", "trigger": "expr", "tier": "when"}


def _refs(expr: s.Node) -> Iterator[str]:
    """Names referred to by bare references anywhere in an expression."""
    stack: list[s.Node] = [expr]
    while stack:
        node = stack.pop()
        if type(node) is s.Ref:
            yield node.name.text
        elif type(node) is s.And or type(node) is s.Or:
            stack.extend(node.operands)
        elif type(node) is s.Not:
            stack.append(node.operand)


def definition_cycles(scope: Scope) -> list[Diagnostic]:
    defined = {name: d for name, d in scope.names.items() if d.kind in _DEFINED}
    edges = {
        name: [r for r in _refs(getattr(d.node, _DEFINED[d.kind])) if r in defined]
        for name, d in defined.items()
    }
    found: list[Diagnostic] = []
    done: set[str] = set()
    for start in defined:  # declaration order
        if start in done:
            continue
        cycle = _cycle_from(start, edges, done)
        if cycle:
            found.append(_report([defined[n] for n in cycle]))
    return found


def _cycle_from(start: str, edges: dict[str, list[str]], done: set[str]) -> list[str] | None:
    """Depth-first from ``start`` (iteratively: chains of definitions may be long); the first
    cycle met, as the list of its members, or None. Every name fully explored joins ``done``."""
    path: list[str] = [start]
    on_path = {start}
    iterators = [iter(edges[start])]
    while iterators:
        following = next(iterators[-1], None)
        if following is None:
            finished = path.pop()
            on_path.discard(finished)
            done.add(finished)
            iterators.pop()
            continue
        if following in on_path:
            return path[path.index(following) :]
        if following in done:
            continue
        path.append(following)
        on_path.add(following)
        iterators.append(iter(edges[following]))
    return None


def _report(members: list[Decl]) -> Diagnostic:
    first = min(members, key=lambda d: (d.span.file, d.span.line, d.span.column))
    loop = " → ".join(f"`{d.name}`" for d in [*members, members[0]])
    return error(
        "E0416",
        f"{first.kind} `{first.name}` is defined in terms of itself",
        first.span,
        label="part of a cycle",
        hint=f"break the cycle {loop}: define one of them without the others",
        related=tuple(
            Related(span=d.span, message=f"`{d.name}` is part of the cycle")
            for d in members
            if d is not first
        ),
    )
