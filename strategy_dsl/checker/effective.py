"""A variant's effective strategy: the base with the variant's overrides merged in, as syntax.

A variant is a strategy a bank may deploy, so every check that applies to the base applies to
what each variant makes of it (suitability, units, channel/script pairing, waves, …). The
checker (``checker.CheckRun``) checks each variant's effective files exactly as it checks the base;
this module builds those files and turns what that check finds into the variant's diagnostics:

- ``merged``: a base item with an override's settings in place of the same settings (the
  checker's "same setting" of E0407; a journey's waves by number, each restated wave replacing
  the base's wave of that number whole). ``strategy_dsl.variants`` lowers the same merge.
- ``effective_syntax``: each file of a scope with the overridden items replaced.
- ``for_variant``: the diagnostics the base does not already have, named after the variant and
  pointing at the variant's lines (the base line they concern becomes a related place).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from strategy_dsl import syntax as s
from strategy_dsl.checker.plays import same_setting
from strategy_dsl.checker.scope import Decl, Scope, head
from strategy_dsl.diagnostics import Diagnostic, Related, Span

__all__ = [
    "Overrides",
    "for_variant",
    "in_variant",
    "merged",
    "named_after_variants",
    "overrides_of",
]

# Override kind -> the declaration kind it names.
_KINDS = ("rule", "journey", "channel", "script", "product", "model")


def _identity(setting: s.Node) -> object:
    """What makes an override setting replace a base setting: the checker's notion of "the
    same setting" (E0407), and for a journey's waves their number."""
    if type(setting) is s.Wave:
        return (s.Wave, setting.number.value)
    return same_setting(setting)


def merged(item: Any, override: s.Override) -> Any:
    """``item`` (syntax) with the override's settings replacing the same settings, in the
    base's order; settings new to the item follow. Waves stay ordered by number."""
    replacing = {}
    for setting in override.settings:
        replacing.setdefault(_identity(setting), setting)  # a repeat is E0407: the first counts
    settings = [replacing.pop(_identity(x), x) for x in item.settings]
    settings.extend(x for x in override.settings if replacing.get(_identity(x)) is x)
    if any(type(x) is s.Wave for x in settings):
        waves = sorted((x for x in settings if type(x) is s.Wave), key=lambda w: w.number.value)
        settings = [x for x in settings if type(x) is not s.Wave] + waves
    return item.model_copy(update={"settings": tuple(settings)})


@dataclass
class Overrides:
    """What one variant replaces: base node id -> merged node, the base node each override
    names, and a policy the variant adds to a base that has none."""

    variant: s.Variant
    replaced: dict[int, Any]
    targets: list[tuple[s.Override, s.Node]]
    new_policy: s.Policy | None


def overrides_of(variant: s.Variant, scope: Scope) -> Overrides:
    """The variant's overrides that name something in ``scope`` (the others are already
    errors of the variant's own check), merged with the base items they name."""
    replaced: dict[int, Any] = {}
    targets: list[tuple[s.Override, s.Node]] = []
    new_policy = None
    seen: set[tuple[str, str | None]] = set()
    for override in variant.overrides:
        key = (override.kind, override.name and override.name.text)
        if key in seen:  # a repeated block is E0407; the first one counts
            continue
        seen.add(key)
        if override.kind == "policy":
            base = scope.policy
            if base is None:
                new_policy = merged(s.Policy(span=override.span, settings=()), override)
            else:
                replaced[id(base)] = merged(replaced.get(id(base), base), override)
                targets.append((override, base))
            continue
        assert override.name is not None
        decl: Decl | None = scope.names.get(override.name.text)
        if decl is None or decl.kind != override.kind or override.kind not in _KINDS:
            continue
        replaced[id(decl.node)] = merged(decl.node, override)
        targets.append((override, decl.node))
    return Overrides(variant, replaced, targets, new_policy)


def effective_syntax(syntax: s.StrategyFile, overrides: Overrides, declaring: bool) -> Any:
    """``syntax`` with the overridden items replaced (and, in the file that declares the
    variant, the policy the variant adds); the same object when nothing in it changes."""
    items = [overrides.replaced.get(id(i), i) for i in syntax.items]
    if declaring and overrides.new_policy is not None:
        items.append(overrides.new_policy)
    if len(items) == len(syntax.items) and all(
        a is b for a, b in zip(items, syntax.items, strict=True)
    ):
        return syntax
    return syntax.model_copy(update={"items": tuple(items)})


def _inside(span: Span, outer: Span) -> bool:
    return (
        span.file == outer.file
        and (outer.line, outer.column) <= (span.line, span.column)
        and (span.end_line, span.end_column) <= (outer.end_line, outer.end_column)
    )


def _override_span(override: s.Override) -> Span:
    return override.name.span if override.name is not None else head(override.span, 6)


def _culprit(diagnostic: Diagnostic, overrides: Overrides) -> Span:
    """Where in the variant a finding on a base line belongs: the override of the item it is
    in, else the override of a name the message quotes, else the variant's name."""
    for override, base in overrides.targets:
        if _inside(diagnostic.span, base.span):
            return _override_span(override)
    quoted = set(re.findall(r"`([^`]+)`", diagnostic.message))
    named = [o for o, _ in overrides.targets if o.name is not None and o.name.text in quoted]
    if len(named) == 1:
        return _override_span(named[0])
    if len(overrides.targets) == 1 and overrides.new_policy is None:
        return _override_span(overrides.targets[0][0])
    return overrides.variant.name.span


def in_variant(diagnostic: Diagnostic, variant: s.Variant) -> Diagnostic:
    """``diagnostic`` as variant ``variant``'s: its message names the variant."""
    return diagnostic.model_copy(
        update={"message": f"in variant `{variant.name.text}`: {diagnostic.message}"}
    )


def named_after_variants(found: list[Diagnostic], variants: list[s.Variant]) -> list[Diagnostic]:
    """``found``, each finding inside a variant's block named after that variant."""
    if not variants:
        return found
    named = []
    for diagnostic in found:
        owner = next((v for v in variants if _inside(diagnostic.span, v.span)), None)
        named.append(diagnostic if owner is None else in_variant(diagnostic, owner))
    return named


def for_variant(
    found: list[Diagnostic], base: list[Diagnostic], overrides: Overrides
) -> list[Diagnostic]:
    """The findings of a variant's effective check that the base (or the variant's own
    check of its settings) does not have, as the variant's: "in variant `X`: …", at the
    variant's line; a finding on a base line keeps that line as a related place."""
    known = {(d.code, d.span, d.message) for d in base}
    variant = overrides.variant
    result: list[Diagnostic] = []
    for diagnostic in found:
        named = in_variant(diagnostic, variant)
        if (diagnostic.code, diagnostic.span, diagnostic.message) in known or (
            named.code,
            named.span,
            named.message,
        ) in known:
            continue
        if not _inside(diagnostic.span, variant.span):
            related = (Related(span=diagnostic.span, message="in the base strategy"),)
            named = named.model_copy(
                update={
                    "span": _culprit(diagnostic, overrides),
                    "related": related + diagnostic.related,
                }
            )
        result.append(named)
    return result
