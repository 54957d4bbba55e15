"""What one file's checks share: its scope, the diagnostics found so far, and name resolution.

Every use of a name goes through ``Context.resolve`` (declared names) or ``Context.attribute``
(customer attributes), so unknown names (E0203–E0211), names of the wrong kind (E0212) and
near-miss suggestions are handled in one place, and every resolved use is recorded for the
unused-declaration warnings. Durations and ``per`` rates are recorded too: whether they fit the
simulation step is decided later, once per strategy, because an imported file has no step of
its own (see ``units``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from strategy_dsl import syntax as s
from strategy_dsl.checker.scope import DEFERRED, Attribute, Decl, Scope, head
from strategy_dsl.diagnostics import Diagnostic, Related, Span, error, warning


class Context:
    def __init__(self, scope: Scope, path: str) -> None:
        self.scope = scope
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self.errors = 0
        self.uses: set[Decl] = set()
        # (duration, "schedule" | "window", days) for the step checks, once the step is known.
        self.durations: list[tuple[s.Duration, str, float]] = []
        # (`per` unit, days it stands for) for rates and windows counted in time units.
        self.rates: list[tuple[s.Per, float]] = []
        # Attribute uses in a file whose scope has no population, to be checked against the
        # population of each strategy that imports it: (name, value compared, op or "flag").
        self.deferred: list[tuple[s.Name, s.Value | None, str | None]] = []
        # Only a shared declaration file (no population, no `strategy` header) leaves attribute
        # names open for its importers: a strategy map is never imported, so whatever it names
        # must resolve now, or a typo would pass unreported.
        self.open_attributes = "population" not in scope.blocks and "strategy" not in scope.blocks
        self.broken: set[int] = set()  # ids of conditions that had errors

    # -- reporting -------------------------------------------------------------------------

    def error(
        self,
        code: str,
        message: str,
        span: Span,
        label: str = "",
        hint: str | None = None,
        related: tuple[Related, ...] = (),
    ) -> None:
        self.errors += 1
        self.diagnostics.append(error(code, message, span, label, hint, related))

    def report(self, diagnostic: Diagnostic) -> None:
        """A diagnostic found elsewhere (a sub-check) reported as this file's."""
        self.errors += diagnostic.is_error
        self.diagnostics.append(diagnostic)

    def warning(
        self,
        code: str,
        message: str,
        span: Span,
        label: str = "",
        hint: str | None = None,
        related: tuple[Related, ...] = (),
    ) -> None:
        self.diagnostics.append(warning(code, message, span, label, hint, related))

    # -- names -----------------------------------------------------------------------------

    def resolve(
        self,
        name: s.Name,
        kinds: tuple[str, ...],
        code: str,
        what: str,
        missing_hint: str | None = None,
    ) -> Decl | None:
        """The declaration ``name`` refers to when it is one of ``kinds``; otherwise report
        ``code`` (not declared) or E0212 (declared as something else) and return None."""
        decl = self.scope.names.get(name.text)
        if decl is not None and decl.kind in kinds:
            self.uses.add(decl)
            return decl
        if decl is not None:
            self.uses.add(decl)  # it is used, if wrongly: do not also call it unused
            self.wrong_kind(name, decl, what)
            return None
        candidates = {n: d for n, d in self.scope.names.items() if d.kind in kinds}
        missing_hint = missing_hint or (
            f"declare it with `{kinds[0]} {name.text} …`, or import the file that declares it"
        )
        self.unknown(name, code, what, candidates, missing_hint)
        return None

    def wrong_kind(self, name: s.Name, decl: Decl, what: str, hint: str | None = None) -> None:
        self.error(
            "E0212",
            f"`{name.text}` is a {decl.kind}, but a {what} is expected here",
            name.span,
            label=f"a {decl.kind}",
            hint=hint or f"name a {what} here",
            related=(Related(span=decl.span, message=f"`{name.text}` is declared here"),),
        )

    def unknown(
        self,
        name: s.Name,
        code: str,
        what: str,
        candidates: dict[str, Decl | None],
        missing_hint: str | None = None,
    ) -> None:
        """Report an unknown name, suggesting the closest of ``candidates`` (a declaration, or
        None for a built-in name that has no declaration to point at)."""
        self.error(
            code,
            f"unknown {what} `{name.text}`",
            name.span,
            label="not declared",
            hint=self.suggestion(name.text, candidates) or missing_hint,
        )

    def suggestion(self, word: str, candidates: dict[str, Decl | None]) -> str | None:
        """The near-miss hint; the declaration it proposes counts as used, so that one typo
        is one diagnostic, not also "`临界财富` is never used"."""
        close = suggest(word, candidates, limit=1)
        if close and candidates[close[0]] is not None:
            self.uses.add(candidates[close[0]])  # type: ignore[arg-type]
        return suggestion_hint(word, candidates)

    def attribute(self, name: s.Name) -> Attribute | None:
        """The customer attribute ``name``, or E0203 / E0212 and None."""
        found = self.scope.attributes.get(name.text)
        if found is not None:
            return found
        decl = self.scope.names.get(name.text)
        if decl is None and self.open_attributes:
            # A shared file without a population may use the attributes that each importing
            # strategy's population declares; they are checked there.
            self.deferred.append((name, None, None))
            return Attribute(name.text, DEFERRED, span=name.span)
        if decl is not None:
            self.uses.add(decl)
            self.wrong_kind(
                name,
                decl,
                "customer attribute",
                hint=f"a {decl.kind} is not compared; use "
                f"`{name.text}` on its own, or compare an attribute such as `aum`",
            )
            return None
        self.unknown(
            name,
            "E0203",
            "attribute",
            dict.fromkeys(self.scope.attributes),
            "attributes are the built-in ones (aum, age, stage, risk_tolerance, …) and those "
            "the `population` block gives a distribution with `~`",
        )
        return None


class Once:
    """The settings of one block: E0407 when one is given twice, E0408 when one is missing."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.seen: dict[Hashable, s.Node] = {}

    def first(self, key: Hashable, node: s.Node, word: str) -> bool:
        previous = self.seen.get(key)
        if previous is None:
            self.seen[key] = node
            return True
        self.ctx.error(
            "E0407",
            f"`{word}` is given twice in this block",
            head(node.span, len(word)),
            label="given again",
            hint="keep one of the two; to compare values, put the other in a `variant`",
            related=(Related(span=head(previous.span, len(word)), message="first given here"),),
        )
        return False

    def require(self, key: Hashable, word: str, span: Span, example: str, owner: str) -> None:
        if key in self.seen:
            return
        self.ctx.error(
            "E0408",
            f"{owner} has no `{word}`",
            span,
            label=f"no `{word}`",
            hint=f"add it, e.g. `{example}`",
        )


# ------------------------------------------------------------------------------ suggestions


def distance(a: str, b: str) -> int:
    """Optimal string alignment distance: edits, counting a swap of neighbours as one."""
    if a == b:
        return 0
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        previous2, previous = previous, current
    return previous[len(b)]


def suggest(word: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """The candidates closest to ``word``, best first. The allowed distance grows with the
    word's length (one edit up to 7 characters, two up to 11, …), never reaching the whole
    word, so `临界财富s` finds `临界财富` but `电话` does not find `外呼`."""
    allowed = max(1, len(word) // 4)
    folded = word.casefold()
    scored: list[tuple[int, str]] = []
    for candidate in candidates:
        if abs(len(candidate) - len(word)) > allowed:
            continue
        d = distance(folded, candidate.casefold())
        if d <= allowed and d < len(word):
            scored.append((d, candidate))
    scored.sort()
    return [c for _, c in scored[:limit]]


def suggestion_hint(word: str, candidates: dict[str, Decl | None]) -> str | None:
    close = suggest(word, candidates)
    if not close:
        return None
    best = candidates[close[0]]
    where = f" (declared at {best.where})" if best is not None else ""
    hint = f"did you mean `{close[0]}`{where}?"
    if len(close) > 1:
        hint += " Also close: " + ", ".join(f"`{c}`" for c in close[1:])
    return hint
