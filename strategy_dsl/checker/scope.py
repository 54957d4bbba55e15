"""Scopes: the names a file can see, the customer attributes, and names declared twice.

A file's scope is its own declarations plus every declaration of the files it imports,
transitively. All declaration kinds (population, tier, segment, model, trigger, product, channel,
script, rule, journey, variant, persona) share one namespace, so a segment and a rule may not
share a name (E0201), and no declaration may be named after a keyword (E0202) or an attribute.
Blocks that a strategy has once (the header, population, acquisition, lifecycle, market, rfm,
policy, nps) may appear once in a scope (E0409).

Attributes are the built-ins below plus those the scope's ``population`` gives a distribution.
A population attribute's type follows its distribution: ``bernoulli`` is yes/no, ``categorical``
takes the names it lists, ``beta`` (or any distribution written in ``%``) is a share, the rest
are plain numbers. A built-in keeps its own type whatever its distribution.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from strategy_dsl import syntax as s
from strategy_dsl.diagnostics import Diagnostic, Related, Span, error
from strategy_dsl.parser import grammar_keywords

# Attribute types: what a condition may compare an attribute with.
MONEY = "money"  # an amount in the strategy's currency: bare numbers (5万)
NUMBER = "number"  # a count or a measure: bare numbers
SHARE = "share"  # a fraction of one: percentages (30%)
RISK = "risk"  # a customer's risk tolerance: C1..C5
STAGE = "stage"  # a lifecycle stage name
TIER = "tier"  # a tier name
BOOLEAN = "boolean"  # yes/no: used bare (`has_app`, `not payroll`)
CATEGORICAL = "categorical"  # one of the names a `categorical` distribution lists
DEFERRED = "deferred"  # used in a file without population: checked in each importing strategy

# Attributes every customer has, whether or not the population gives them a distribution. The
# simulator maintains them; the population may set their starting distribution.
BUILTIN_ATTRIBUTES: dict[str, str] = {
    "aum": MONEY,  # assets under management; moved by the market, flows and purchases
    "age": NUMBER,  # years; customers grow older as the simulation runs
    "stage": STAGE,  # lifecycle stage, moved by `lifecycle` (prospect … churned)
    "risk_tolerance": RISK,  # suitability grade C1 (cautious) … C5; bounds products R1..R5
    "tier": TIER,  # the tier whose AUM range holds the customer's AUM (derived, never drawn)
    "months_since_txn": NUMBER,  # recency: months since the last transaction
    "txn_3m": NUMBER,  # frequency: transactions in the last 3 months
    "txn_per_month": NUMBER,  # the rate from which each step's transactions are drawn
    "tenure_months": NUMBER,  # months since the customer was acquired
    "products_held": NUMBER,  # how many products the customer holds now
    "propensity": SHARE,  # latent response propensity (0..1); multiplies every response
}

# The customer lifecycle (客户生命周期), in order. `prospect` is before acquisition (潜客).
STAGES: tuple[str, ...] = ("prospect", "new", "growing", "mature", "declining", "churned")

# Blocks a strategy has at most once, by the word that opens them.
SINGLETON_BLOCKS: dict[type[s.Node], str] = {
    s.StrategyHeader: "strategy",
    s.Population: "population",
    s.Acquisition: "acquisition",
    s.Lifecycle: "lifecycle",
    s.Market: "market",
    s.Book: "book",
    s.Rfm: "rfm",
    s.Policy: "policy",
    s.Nps: "nps",
}


@cache
def keywords() -> frozenset[str]:
    """The language's keywords, from the grammar's own string terminals."""
    return grammar_keywords()


@dataclass(slots=True, eq=False)
class Decl:
    """A declaration: its name, its kind (``segment``, ``product``…), its syntax node, the file
    that declares it and the span of its name."""

    name: str
    kind: str
    node: s.Node
    file: str
    span: Span

    @property
    def where(self) -> str:
        return f"{self.span.file}:{self.span.line}:{self.span.column}"


@dataclass(slots=True, frozen=True)
class Attribute:
    name: str
    type: str
    categories: tuple[str, ...] = ()
    span: Span | None = None  # where the population gives it; None for a built-in


def head(span: Span, width: int) -> Span:
    """The first ``width`` characters of ``span``: the keyword that opens a block or setting."""
    return Span(
        file=span.file,
        line=span.line,
        column=span.column,
        end_line=span.line,
        end_column=span.column + width,
    )


def file_declarations(items: Iterable[s.Item], path: str) -> tuple[list[Decl], list[Diagnostic]]:
    """The declarations of one file, and E0202 for those named after a keyword."""
    decls: list[Decl] = []
    problems: list[Diagnostic] = []
    words = keywords()
    kinds = s.DECLARATION_KINDS
    for item in items:
        kind = kinds.get(type(item))
        if kind is None:
            continue
        name: s.Name = item.name  # type: ignore[union-attr]
        decls.append(Decl(name.text, kind, item, path, name.span))
        if name.text in words:
            problems.append(
                error(
                    "E0202",
                    f"`{name.text}` is a keyword and cannot name a {kind}",
                    name.span,
                    label="keyword",
                    hint=f"choose another name for this {kind}; Chinese names never clash "
                    "with keywords",
                )
            )
    return decls, problems


class Scope:
    """What one file sees: names, attributes, and the once-per-strategy blocks.

    ``files`` is the file's import closure, dependencies first and the file itself last; a
    name or block met a second time in that order is reported where it is met again.
    """

    def __init__(self, files: list[tuple[str, s.StrategyFile, list[Decl]]]) -> None:
        self.names: dict[str, Decl] = {}
        self.blocks: dict[str, s.Node] = {}
        self.tiers: list[Decl] = []
        self.diagnostics: list[Diagnostic] = []
        for _, syntax, decls in files:
            for decl in decls:
                self._declare(decl)
            for item in syntax.items:
                word = SINGLETON_BLOCKS.get(type(item))
                if word is not None:
                    self._block(word, item)
        population = self.blocks.get("population")
        self.attributes = attributes_of(
            population if isinstance(population, s.Population) else None
        )
        self._check_attribute_clashes()

    # -- lookups ---------------------------------------------------------------------------

    @property
    def header(self) -> s.StrategyHeader | None:
        return self.blocks.get("strategy")  # type: ignore[return-value]

    @property
    def rfm(self) -> s.Rfm | None:
        return self.blocks.get("rfm")  # type: ignore[return-value]

    @property
    def policy(self) -> s.Policy | None:
        return self.blocks.get("policy")  # type: ignore[return-value]

    def expand(self, name: str) -> s.Expr | None:
        """A segment's or a tier's condition, for the satisfiability questions."""
        decl = self.names.get(name)
        if decl is None:
            return None
        if decl.kind == "segment":
            return decl.node.expr  # type: ignore[attr-defined]
        if decl.kind == "tier":
            return decl.node.when  # type: ignore[attr-defined]
        return None

    # -- building --------------------------------------------------------------------------

    def _declare(self, decl: Decl) -> None:
        first = self.names.get(decl.name)
        if first is None:
            self.names[decl.name] = decl
            if decl.kind == "tier":
                self.tiers.append(decl)
            return
        self.diagnostics.append(
            error(
                "E0201",
                f"`{decl.name}` is declared twice",
                decl.span,
                label=f"{decl.kind} `{decl.name}` declared again",
                hint=f"rename this {decl.kind} or remove one of the two; every name must be "
                "unique across the file and its imports",
                related=(Related(span=first.span, message=f"first declared here ({first.kind})"),),
            )
        )

    def _block(self, word: str, item: s.Node) -> None:
        first = self.blocks.get(word)
        if first is None:
            self.blocks[word] = item
            return
        self.diagnostics.append(
            error(
                "E0409",
                f"a strategy has one `{word}` block, and this is the second",
                head(item.span, len(word)),
                label=f"second `{word}`",
                hint=f"merge the two `{word}` blocks into one",
                related=(Related(span=head(first.span, len(word)), message="the first one"),),
            )
        )

    def _check_attribute_clashes(self) -> None:
        for decl in self.names.values():
            attribute = self.attributes.get(decl.name)
            if attribute is None:
                continue
            related = (
                ()
                if attribute.span is None
                else (Related(span=attribute.span, message="the attribute is given here"),)
            )
            what = "a built-in attribute" if attribute.span is None else "a customer attribute"
            self.diagnostics.append(
                error(
                    "E0201",
                    f"`{decl.name}` is already {what}",
                    decl.span,
                    label=f"{decl.kind} named like an attribute",
                    hint=f"rename the {decl.kind}: a condition naming `{decl.name}` would be "
                    "ambiguous",
                    related=related,
                )
            )


def attributes_of(population: s.Population | None) -> dict[str, Attribute]:
    """Built-in attributes plus the population's own, typed by their distribution."""
    table = {name: Attribute(name, kind) for name, kind in BUILTIN_ATTRIBUTES.items()}
    if population is None:
        return table
    for setting in population.settings:
        if type(setting) is not s.AttributeDist:
            continue
        name = setting.attribute.text
        if name in BUILTIN_ATTRIBUTES:
            table[name] = Attribute(name, BUILTIN_ATTRIBUTES[name], span=setting.attribute.span)
            continue
        kind, categories = _distribution_type(setting.distribution)
        table[name] = Attribute(name, kind, categories, setting.attribute.span)
    return table


def _distribution_type(distribution: s.Distribution) -> tuple[str, tuple[str, ...]]:
    family = distribution.family.text
    if family == "bernoulli":
        return BOOLEAN, ()
    if family == "categorical":
        return CATEGORICAL, tuple(a.key.text for a in distribution.args if a.key is not None)
    if family == "beta":
        return SHARE, ()
    first = distribution.args[0].value if distribution.args else None
    if isinstance(first, s.Number) and first.percent:
        return SHARE, ()
    return NUMBER, ()
