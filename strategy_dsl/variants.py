"""Applying a `variant`: the base strategy with one variant's overrides in place.

    model = next(iter(check_paths([path]).models.values()))
    aggressive = apply_variant(model, "激进")

A variant block names a rule, journey, channel, script, product or model (or the policy) and
gives settings that replace the base's for that entity (docs/language.md, *Alternatives*).
The checked model keeps those settings as syntax (``Override.settings``); this module turns them
into model specs with the checker's own lowering (``checker.lower.FileLowering``), so that units,
defaults and conversions are exactly those of the base declaration. It does so by merging
syntax, not specs: the base item's settings with every setting the override restates replaced
(the "same setting" of the checker's E0407: one `response`, one `effect` per transition, one
`max … per customer` per window and channel, and for journeys one wave per number), then
lowering the merged item whole (``checker.effective.merged``, the merge the checker checks each
variant's effective strategy with). The merged item is also put through the checker's own item
check, a safety net: `check` already reports a combination that is only wrong together (a new
offer channel that no longer matches the rule's script, say) as the variant's error.

The model does not keep the syntax of the base items, so the entry file and its imports are
read again (``model.source_files``) and their scope rebuilt; a file edited since the model was
checked is refused rather than mixed with it. Everything the variant does not name is shared
with the base, object for object, which is what lets the simulator give both the same
population and the same random draws (common random numbers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from strategy_dsl import model as m
from strategy_dsl import syntax as s
from strategy_dsl.checker import ITEM_CHECKS, CheckRun
from strategy_dsl.checker.context import Context
from strategy_dsl.checker.effective import merged
from strategy_dsl.checker.lower import FileLowering, lower
from strategy_dsl.checker.scope import Scope
from strategy_dsl.checker.units import check_against_step
from strategy_dsl.errors import StratmapError
from strategy_dsl.library import Library

__all__ = ["NO_PLAYS", "VariantError", "apply_variant", "variant_names", "without_plays"]

# Override kind -> the model field that holds that kind's specs.
_FIELDS = {
    "rule": "rules",
    "journey": "journeys",
    "channel": "channels",
    "script": "scripts",
    "product": "products",
    "model": "models",
}


class VariantError(StratmapError):
    """A variant that cannot be applied: a message for a person and a hint to fix it."""


# The name of ``without_plays``'s alternative: parentheses, which no variant name can have.
NO_PLAYS = "(no plays)"


def without_plays(model: m.CheckedStrategy) -> m.CheckedStrategy:
    """The book as it would run without the strategy's plays: ``model`` with every customer in
    the global control group (`control 100%`), so that nobody is contacted. Everything else is
    the base's, object for object, so the simulator gives it the same customers and the same
    draws: against it, the base's paired difference is what deploying the map adds, the
    treated share's effect measured customer for customer rather than between two random arms
    (whose starting AUM differs by chance: `compare --no-plays`, docs/cli.md)."""
    return replace(model, policy=replace(model.policy, control=1.0))


def variant_names(model: m.CheckedStrategy) -> list[str]:
    """The variants the strategy declares, in declaration order."""
    return list(model.variants)


def apply_variant(model: m.CheckedStrategy, name: str) -> m.CheckedStrategy:
    """``model`` with the overrides of its variant ``name`` in place of the base's settings.

    ``VariantError`` for an unknown name (the message lists the known ones), for source files
    changed since ``model`` was checked, and for an override whose merged settings the checker
    refuses."""
    variant = model.variants.get(name)
    if variant is None:
        known = variant_names(model)
        listed = ", ".join(known) if known else "none: the file declares no `variant`"
        raise VariantError(
            f"unknown variant `{name}`; the strategy's variants: {listed}",
            "name one of those, or add a `variant` block to the strategy (docs/language.md)",
        )
    sources = _Sources.load(model)
    if sources.model != model:
        raise VariantError(
            f"{model.source_files[-1]} (or a file it imports) changed since it was checked, "
            f"or the model is not the file's base strategy",
            "apply variants to the model `check` produced, and check the file again after editing",
        )
    changed: dict[str, Any] = {}
    for override in variant.overrides:
        if override.kind == "policy":
            base = sources.scope.blocks.get("policy")
            item = base if isinstance(base, s.Policy) else s.Policy(span=override.span, settings=())
            changed["policy"] = sources.lower(merged(item, override), FileLowering.policy)
            continue
        field = _FIELDS[override.kind]
        assert override.target is not None  # every kind but the policy names its target
        decl = sources.scope.names[override.target]
        spec = sources.lower(merged(decl.node, override), _LOWERINGS[override.kind])
        current = changed.get(field, getattr(model, field))
        if isinstance(current, dict):
            changed[field] = {**current, spec.name: spec}
        else:
            changed[field] = tuple(spec if x.name == spec.name else x for x in current)
    return replace(model, **changed)


_LOWERINGS = {
    "rule": FileLowering.rule,
    "journey": FileLowering.journey,
    "channel": FileLowering.channel,
    "script": FileLowering.script,
    "product": FileLowering.product,
    "model": FileLowering.model,
}


@dataclass
class _Sources:
    """The entry file of a checked model read again: its scope and step, for lowering."""

    model: m.CheckedStrategy  # the base as lowered now: equal to the caller's when unchanged
    scope: Scope
    step: str
    display: str
    syntax: s.StrategyFile

    @classmethod
    def load(cls, model: m.CheckedStrategy) -> _Sources:
        entry_path = Path(model.source_files[-1])  # closure order: imports first, entry last
        missing = [f for f in model.source_files if not Path(f).is_file()]
        if missing:
            raise VariantError(
                f"cannot read {', '.join(missing)} again to apply the variant",
                "run from the folder the strategy was checked in",
            )
        # The widest root that holds every file the model was built from, so that imports the
        # original check allowed (perhaps with --root) resolve again.
        root = Path(
            os.path.commonpath([os.path.abspath(Path(f).parent) for f in model.source_files])
        )
        library = Library()
        (entry,) = library.entries([entry_path], root)
        run = CheckRun()
        problems = [d for d in run.entry(entry) if d.is_error]
        if entry.syntax is None or problems:
            raise VariantError(
                f"{entry.display} no longer checks",
                f"run `stratmap check {entry.display}` and fix what it reports",
            )
        lowering = run.lowering(entry)
        return cls(
            lower(lowering), lowering.scopes[entry.key], lowering.step, entry.display, entry.syntax
        )

    def lower(self, item: Any, build: Any) -> Any:
        """Check the merged ``item`` as the checker checks a base item, then lower it."""
        ctx = Context(self.scope, self.display)
        ITEM_CHECKS[type(item)](ctx, item)
        found = [d for d in ctx.diagnostics if d.is_error]
        found += [d for d in check_against_step(ctx.durations, ctx.rates, self.step) if d.is_error]
        if found:
            first = found[0]
            where = f"{first.span.file}:{first.span.line}:{first.span.column}"
            raise VariantError(
                f"the variant's settings do not fit the base: error[{first.code}] "
                f"{first.message} ({where})",
                first.hint or "change the variant so that the merged settings check",
            )
        return build(FileLowering(self.scope, self.step, self.scope.attributes), item)
