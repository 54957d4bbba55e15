"""Declarations never used (W0101) and imports that bring nothing used (W0104).

Both only concern files with a `strategy` header. A file without one is a shared declaration
library: its names are exports for the strategies that import it, and it may import other
libraries only to pass them on. Any use counts, even by a declaration that is itself unused
(a segment used only by another segment is used). Some kinds are never reported: population,
rules, journeys, variants and personas act by being declared, and tiers partition the AUM axis
together, so each is part of the partition whether or not a condition names it.

An import is unused when nothing the imported file (or its own imports) declares is used by the
importing file, and the imported files hold nothing that acts by being there: only segments,
models, triggers, products, channels and scripts.
"""

from __future__ import annotations

from strategy_dsl import syntax as s
from strategy_dsl.checker.scope import Decl
from strategy_dsl.diagnostics import Diagnostic, warning
from strategy_dsl.library import SourceFile, closure

NEVER_UNUSED = frozenset({"population", "rule", "journey", "variant", "persona", "tier"})
_PASSIVE_ITEMS = (s.Import, s.Segment, s.Model, s.Trigger, s.Product, s.Channel, s.Script)


def unused(file: SourceFile, decls: list[Decl], uses: set[Decl]) -> list[Diagnostic]:
    """W0101 and W0104 for ``file``, given what its own text uses."""
    assert file.syntax is not None
    if not any(type(item) is s.StrategyHeader for item in file.syntax.items):
        return []
    found = [
        warning(
            "W0101",
            f"{decl.kind} `{decl.name}` is declared but never used",
            decl.span,
            label="never used",
            hint=f"use it where it was meant to be used, or delete the {decl.kind}",
        )
        for decl in decls
        if decl.kind not in NEVER_UNUSED and decl not in uses
    ]
    used_files = {decl.file for decl in uses}
    for item, imported in file.imports:
        files = closure(imported)
        if any(f.display in used_files for f in files):
            continue
        if all(
            f.syntax is not None and all(isinstance(i, _PASSIVE_ITEMS) for i in f.syntax.items)
            for f in files
        ):
            found.append(
                warning(
                    "W0104",
                    f"nothing that `{item.path.value}` declares is used here",
                    item.path.span,
                    label="unused import",
                    hint="remove the import, or use what it declares",
                )
            )
    return found
