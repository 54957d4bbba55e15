"""The checker: strategy files in, diagnostics and checked models out.

    report = check_paths([Path("strategies/")])

The pipeline, per run:

1. ``library``: read and parse each file once, follow its imports (E0101–E0103).
2. ``scope``: each file's scope, its own declarations plus its imports' (E0201, E0202, E0409),
   and the tier partition of that scope (E0401, E0402).
3. ``CheckRun.check``: every item of every file against that file's scope, one function per item
   kind (``ITEM_CHECKS``: ``blocks``, ``population``, ``plays``, ``extras``, with
   ``conditions`` and ``units`` beneath them): names, units, structure, conditions and events
   (E02xx–E04xx); then ``compliance`` (E0501, W0102, W0103); then each ``variant``'s
   effective strategy, the files that see an overridden item checked again with the overrides
   merged in (``effective``: what the base does not already report is the variant's); then
   ``usage`` (W0101, W0104). Each file is checked once, however many files import it.
4. ``CheckRun.entry``, per entry file: durations and rates against the entry's step (E0303,
   E0307), attributes a shared file borrows from the entry's population; then, when the entry
   and everything it imports are free of errors, ``lower`` builds its checked model.

Diagnostics are deduplicated (a shared file's problems appear once) and sorted by place.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from strategy_dsl import calendar
from strategy_dsl import syntax as s
from strategy_dsl.checker import (
    blocks,
    compliance,
    conditions,
    effective,
    extras,
    plays,
    population,
    units,
    usage,
)
from strategy_dsl.checker.context import Context
from strategy_dsl.checker.cycles import definition_cycles
from strategy_dsl.checker.lower import Lowering, lower
from strategy_dsl.checker.satisfiability import Reasoner
from strategy_dsl.checker.scope import Decl, Scope, file_declarations
from strategy_dsl.checker.structure import tier_partition
from strategy_dsl.diagnostics import Diagnostic, SourceMap
from strategy_dsl.library import Library, SourceFile, closure
from strategy_dsl.model import CheckedStrategy

__all__ = ["CheckReport", "check_file", "check_paths"]


@dataclass
class CheckReport:
    diagnostics: list[Diagnostic]  # deduplicated, sorted by file, line, column
    files: list[str]  # display paths of every file checked (entries and imports)
    sources: SourceMap  # the text of every file read, for rendering
    models: dict[str, CheckedStrategy]  # entry display path -> model (entries without errors)


def check_paths(paths: Sequence[Path], *, root: Path | None = None) -> CheckReport:
    """Check files and directories (every ``*.strat`` below, hidden folders skipped), each
    entry with its imports. ``root`` is the library root imports may not leave; by default the
    directory given, or a file's own folder (see ``strategy_dsl.library``)."""
    # The run keeps every file's syntax tree alive, hundreds of thousands of small objects and
    # none in a reference cycle; with the cyclic collector on, its full passes over that
    # growing heap tripled the cost of a large check.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _check_paths(paths, root)
    finally:
        if was_enabled:
            gc.enable()


def _check_paths(paths: Sequence[Path], root: Path | None) -> CheckReport:
    library = Library()
    entries = library.entries(paths, root)
    run = CheckRun()
    found: list[Diagnostic] = []
    models: dict[str, CheckedStrategy] = {}
    for entry in entries:
        diagnostics = run.entry(entry)
        found.extend(diagnostics)
        if entry.syntax is not None and not any(d.is_error for d in diagnostics):
            models[entry.display] = lower(run.lowering(entry))
    return CheckReport(
        diagnostics=_unique_sorted(found),
        files=[f.display for f in library.files.values()],
        sources=library.sources,
        models=models,
    )


def check_file(path: Path, *, root: Path | None = None) -> CheckReport:
    """Check one file with its imports."""
    return check_paths([path], root=root)


def _unique_sorted(found: list[Diagnostic]) -> list[Diagnostic]:
    unique: dict[tuple[str, object, str], Diagnostic] = {}
    for diagnostic in found:
        unique.setdefault((diagnostic.code, diagnostic.span, diagnostic.message), diagnostic)
    return sorted(unique.values(), key=Diagnostic.sort_key)


# ------------------------------------------------------------------------------ per item

# Items that describe the map rather than being part of what a bank deploys: a variant's
# effective strategy is checked without them (its expectations and personas are the base's).
_NOT_DEPLOYED = (s.Variant, s.Persona, s.Expect)

ITEM_CHECKS: dict[type, Callable[[Context, s.Node], None]] = {
    s.StrategyHeader: blocks.header,
    s.Import: lambda ctx, item: None,  # followed by the library
    s.Population: population.population,
    s.Acquisition: blocks.acquisition,
    s.Lifecycle: blocks.lifecycle,
    s.Market: blocks.market,
    s.Book: blocks.book,
    s.Tier: blocks.tier,
    s.Rfm: blocks.rfm,
    s.Segment: blocks.segment,
    s.Model: blocks.model,
    s.Trigger: blocks.trigger,
    s.Product: plays.product,
    s.Channel: plays.channel,
    s.Script: plays.script,
    s.Rule: plays.rule,
    s.Journey: plays.journey,
    s.Policy: plays.policy,
    s.Nps: plays.nps,
    s.Expect: extras.expect,
    s.Variant: extras.variant,
    s.Persona: extras.persona,
}


def _logic(ctx: Context, mine: list[compliance.Play], everyone: list[compliance.Play]) -> None:
    """Suitability for every play (a name that does not resolve is an unknown fact to the
    solver, so a proof can still be found in the rest); dead and shadowed plays only for
    plays whose own conditions are free of errors, so as not to pile warnings on a line
    that is already wrong. ``everyone``: the plays in scope, ``mine`` last."""
    reasoner = Reasoner(ctx.scope.expand)
    sound = [p for p in mine if id(p.when) not in ctx.broken and id(p.on) not in ctx.broken]
    for play in mine:
        compliance.suitability(ctx, play, reasoner)
    for play in sound:
        compliance.never_holds(ctx, play, reasoner)
    compliance.shadowing(ctx, sound, everyone, reasoner)


@dataclass
class FileCheck:
    """What checking one file found, and what the later phases need from it."""

    diagnostics: list[Diagnostic]
    durations: list[tuple[s.Duration, str, float]]
    rates: list[tuple[s.Per, float]]
    deferred: list[tuple[s.Name, s.Value | None, str | None]]
    plays: list[compliance.Play] = field(default_factory=list)


class CheckRun:
    """Caches for one run: declarations, scopes and file checks, each computed once."""

    def __init__(self) -> None:
        self.decls: dict[Path, tuple[list[Decl], list[Diagnostic]]] = {}
        self.scopes: dict[Path, Scope] = {}
        self.partitions: dict[Path, list[Diagnostic]] = {}
        self.checks: dict[Path, FileCheck] = {}
        self.fitted: dict[tuple[Path, str], list[Diagnostic]] = {}
        self.lowered: dict[tuple[Path, str, int], dict[str, list]] = {}
        self.borrowed: dict[tuple[Path, Path], list[Diagnostic]] = {}

    def declarations(self, file: SourceFile) -> list[Decl]:
        known = self.decls.get(file.key)
        if known is None:
            assert file.syntax is not None
            known = self.decls[file.key] = file_declarations(file.syntax.items, file.display)
        return known[0]

    def scope(self, file: SourceFile) -> Scope:
        known = self.scopes.get(file.key)
        if known is None:
            files = [
                (f.display, f.syntax, self.declarations(f))
                for f in closure(file)
                if f.syntax is not None
            ]
            known = self.scopes[file.key] = Scope(files)  # type: ignore[arg-type]
            self.partitions[file.key] = tier_partition(known) + definition_cycles(known)
        return known

    def check(self, file: SourceFile) -> FileCheck:
        known = self.checks.get(file.key)
        if known is None:
            known = self.checks[file.key] = self._check(file)
        return known

    def _check(self, file: SourceFile) -> FileCheck:
        assert file.syntax is not None
        scope = self.scope(file)
        ctx = Context(scope, file.display)
        for item in file.syntax.items:
            ITEM_CHECKS[type(item)](ctx, item)
        result = FileCheck(ctx.diagnostics, ctx.durations, ctx.rates, ctx.deferred)
        result.plays = [
            compliance.play_of(i)
            for i in file.syntax.items
            if type(i) is s.Rule or type(i) is s.Journey
        ]
        if result.plays:
            everyone = [
                p for f in closure(file)[:-1] if f.syntax is not None for p in self.check(f).plays
            ] + result.plays
            _logic(ctx, result.plays, everyone)
        base = list(ctx.diagnostics)
        for item in file.syntax.items:
            if type(item) is s.Variant:
                result.diagnostics.extend(self._variant(file, item, base))
        result.diagnostics.extend(usage.unused(file, self.declarations(file), ctx.uses))
        return result

    def _variant(self, file: SourceFile, variant: s.Variant, base: list[Diagnostic]) -> list:
        """What is wrong with the strategy ``variant`` makes of the base: every file of
        ``file``'s scope that sees an overridden item is checked again with the overrides
        merged in (``effective``), and what the base does not have is the variant's."""
        overrides = effective.overrides_of(variant, self.scope(file))
        files = [f for f in closure(file) if f.syntax is not None]
        syntax = {
            f.key: effective.effective_syntax(f.syntax, overrides, f is file)  # type: ignore[arg-type]
            for f in files
        }
        changed = {f.key for f in files if syntax[f.key] is not f.syntax}
        if not changed:  # it names nothing that resolves: its own check says so
            return []
        decls = {
            f.key: (
                file_declarations(syntax[f.key].items, f.display)[0]
                if f.key in changed
                else self.declarations(f)
            )
            for f in files
        }
        found: list[Diagnostic] = []
        plays_of: dict[Path, list[compliance.Play]] = {}
        for current in files:  # dependencies first, so their plays are known for shadowing
            scope_files = [f for f in closure(current) if f.syntax is not None]
            if not any(f.key in changed for f in scope_files):
                plays_of[current.key] = self.check(current).plays
                continue
            scope = Scope([(f.display, syntax[f.key], decls[f.key]) for f in scope_files])
            ctx = Context(scope, current.display)
            items = [i for i in syntax[current.key].items if type(i) not in _NOT_DEPLOYED]
            for item in items:
                ITEM_CHECKS[type(item)](ctx, item)
            mine = [compliance.play_of(i) for i in items if type(i) in (s.Rule, s.Journey)]
            plays_of[current.key] = mine
            if mine:
                everyone = [p for f in scope_files[:-1] for p in plays_of[f.key]] + mine
                _logic(ctx, mine, everyone)
            known = base if current is file else self.check(current).diagnostics
            found.extend(effective.for_variant(ctx.diagnostics, known, overrides))
        return found

    # -- entries ---------------------------------------------------------------------------

    def entry(self, entry: SourceFile) -> list[Diagnostic]:
        """Everything wrong with ``entry`` and the files it imports."""
        found: list[Diagnostic] = []
        files = closure(entry)
        step = self.step(entry)
        scope = self.scope(entry) if entry.syntax is not None else None
        for file in files:
            found.extend(file.diagnostics)
            if file.syntax is None:
                continue
            self.declarations(file)
            found.extend(self.decls[file.key][1])  # keywords used as names (E0202)
            found.extend(self.scope(file).diagnostics)
            found.extend(self.partitions[file.key])
            found.extend(self.check(file).diagnostics)
            found.extend(self.fit(file, step))
            if scope is not None:
                found.extend(self.borrowed_attributes(file, entry, scope))
        return found

    def borrowed_attributes(
        self, file: SourceFile, entry: SourceFile, scope: Scope
    ) -> list[Diagnostic]:
        """The attributes a file without population uses, checked against the population of
        the strategy ``entry`` that imports it (nothing to check when it has none either)."""
        records = self.check(file).deferred
        if not records or "population" not in scope.blocks:
            return []
        key = (file.key, entry.key)
        known = self.borrowed.get(key)
        if known is None:
            ctx = Context(scope, file.display)
            conditions.check_deferred(records, ctx)
            known = self.borrowed[key] = ctx.diagnostics
        return known

    def step(self, entry: SourceFile) -> str:
        """The step the entry's durations must fit: its header's, or `day` for a declaration
        library checked on its own (each strategy importing it checks it at its own step)."""
        if entry.syntax is None:
            return units.LIBRARY_STEP
        header = self.scope(entry).header
        if header is None:
            return units.LIBRARY_STEP
        for setting in header.settings:
            if type(setting) is s.StepSetting and setting.unit.text in calendar.STEP_DAYS:
                return setting.unit.text
        return calendar.DEFAULT_STEP

    def fit(self, file: SourceFile, step: str) -> list[Diagnostic]:
        key = (file.key, step)
        known = self.fitted.get(key)
        if known is None:
            checked = self.check(file)
            found = units.check_against_step(checked.durations, checked.rates, step)
            assert file.syntax is not None
            variants = [i for i in file.syntax.items if type(i) is s.Variant]
            known = self.fitted[key] = effective.named_after_variants(found, variants)
        return known

    def lowering(self, entry: SourceFile) -> Lowering:
        files = [f for f in closure(entry) if f.syntax is not None]
        scopes = {f.key: self.scope(f) for f in files}
        return Lowering(entry, files, scopes, self.step(entry), self.lowered)
