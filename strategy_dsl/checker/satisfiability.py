"""Can a condition ever hold, does one condition imply another, which AUM interval is a tier?

The checker asks these of ``when`` conditions, segments and tiers: a rule whose ``when`` can never
hold is dead; a rule whose audience implies a higher-priority rule's audience on the same channel
is always pre-empted; suitability asks whether an audience implies ``risk_tolerance >= R2``; tiers
must partition the AUM axis. Those diagnostics are only as good as these answers, so the procedure
is exact for the conditions strategists write (thresholds on attributes, sets, named segments and
tiers, boolean atoms) and errs in one known direction everywhere else.

The model
---------
* A *numeric* variable is an attribute compared with a number (``aum``, ``age``, ``propensity``)
  and is real-valued; ``aum`` is never negative. ``attr in low .. high`` is the half-open
  ``[low, high)``, like the tiers. A percentage stands for its fraction (``20%`` is 0.2).
* ``C1``..``C5`` and ``R1``..``R5`` are the integers 1..5 (a customer's tolerance compares with a
  product's risk), and such a comparison snaps to integers: ``risk_tolerance > C2`` is
  ``>= 3``, so it implies ``>= C3``, which suitability relies on.
* An attribute compared with other names (``stage == new``, ``stage in (new, growing)``) is
  *categorical*, over an open set of values: ``stage != new`` is satisfiable whatever else is
  known. ``tier == 财富`` and ``tier in (财富, 私行)`` mean the tiers' own conditions when
  ``expand`` knows them, and a bare tier name does the same: that is what makes
  ``临界财富 and not 私行`` decidable.
* Events with a size are numeric too: ``流失模型 top 10%`` is a rank ``<= 10%`` (so it implies
  ``top 20%``), ``outflow >= 10万 within 1 month`` an amount in that window, ``aum drop 30% over
  3 months`` a change ``<= -30%``, ``inactive 6 months`` a time ``>= 6`` in that unit.
  ``rfm(R high, F low, M high)`` is three boolean axes, so distinct quadrants exclude each other.
* Everything else (``entered``, ``matures``, ``holds``, ``every``, a name ``expand`` does not know,
  a ``>`` between names) is an *opaque atom*: a free boolean identified by its structure without
  spans, so ``x and not x`` is unsatisfiable and ``x and not y`` satisfiable.

The method
----------
An expression is compiled once into negation normal form over light tuples (no pydantic objects
in the loop): ``and``/``or`` nodes over literals, each literal an interval on a numeric variable
(open or closed ends, already cut to the variable's domain and snapped for ordinals), a
membership test on a categorical variable, or an atom with a polarity. Negating a threshold or a
set becomes a union of intervals, so ``!=`` is an ``or`` of two. Named segments and tiers are
compiled once per polarity and shared, so a segment used by every rule costs nothing after the
first.

The search is a small DPLL over disjunctions: assert every literal that a branch forces, drop a
disjunction one of whose literals already holds, drop the literals the branch refutes, force one
that is left alone, and only then branch, on the narrowest disjunction. A branch is consistent iff
every numeric variable's interval is non-empty, every categorical variable has a value left and
no atom has both polarities. ``implies(p, c)`` is ``not is_satisfiable(p and not c)``.

Bounds and what is conservative
-------------------------------
Each question has a budget: ``max_branches`` branches (4096) and ``max_steps`` node visits
(200,000: a few hundredths of a second of search). Past either, and for an expression nested
deeper than ``MAX_COMPILE_DEPTH``, the answer is the conservative one: satisfiable, does not
imply, no single AUM interval. A name met again while expanding itself (a cycle) or
``MAX_EXPANSION_DEPTH`` names down is an opaque atom, which is also conservative. Integer-valued
attributes other than the ordinal scales are treated as reals, and categorical values that are
never listed are assumed to exist: both only make more conditions satisfiable, never fewer.
So a "can never hold" or "always pre-empted" warning never rests on a wrong answer; a suitability
check (``implies(audience, risk_tolerance >= R2)``) may fail where a finer model would pass it,
which is the safe side for compliance. The three-valued ``Reasoner.decide_*`` methods tell
"undecided" apart for callers that want to say so.

Cost: compiling is linear in the expression plus the named definitions not yet compiled; the
search is linear in the compiled size per branch when no disjunction needs a real choice (the
common case), and at most ``max_steps`` in any case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable
from typing import Any

from strategy_dsl import syntax as s

__all__ = [
    "MAX_BRANCHES",
    "MAX_COMPILE_DEPTH",
    "MAX_EXPANSION_DEPTH",
    "MAX_STEPS",
    "TIER_ATTRIBUTE",
    "Expand",
    "Reasoner",
    "aum_interval",
    "implies",
    "is_satisfiable",
]

Expand = Callable[[str], s.Expr | None]

MAX_BRANCHES = 4096
MAX_STEPS = 200_000
# Named definitions nest a few levels in real files; past this a name is left opaque.
MAX_EXPANSION_DEPTH = 32
# Syntax recursion (parentheses, `not`, expansions together) before giving up: stays well under
# Python's recursion limit, whatever nesting the parser let through.
MAX_COMPILE_DEPTH = 200

TIER_ATTRIBUTE = "tier"
AUM_ATTRIBUTE = "aum"

_INF = math.inf

# An interval on a numeric variable: (low, low_closed, high, high_closed). Infinite ends are open.
Interval = tuple[float, bool, float, bool]
_REALS: Interval = (-_INF, False, _INF, False)
_AUM_AXIS: Interval = (0.0, True, _INF, False)

# Compiled nodes are plain tuples whose first item is one of these tags. Literals have tags
# >= _NUM, which lets the hot loops tell a literal from a connective with one comparison.
#   (_TRUE,) (_FALSE,)
#   (_AND, children) (_OR, children)
#   (_NUM, variable, low, low_closed, high, high_closed)  variable within the interval
#   (_CAT, variable, values, member)                        variable in (member) / not in values
#   (_ATOM, key, polarity)                                  an opaque boolean is true / false
_TRUE, _FALSE, _AND, _OR, _NUM, _CAT, _ATOM = range(7)
_Node = tuple[Any, ...]
# A branch still to explore: nodes to assert, open disjunctions, variable state, held ids.
_Frame = tuple[list[_Node], list[tuple[_Node, ...]], dict[Hashable, Any], set[int]]
TRUE: _Node = (_TRUE,)
FALSE: _Node = (_FALSE,)

_NEGATED_OP = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_ORDINAL = re.compile(r"^[CR]([0-9]+)$")
_UNITS = {"days": "day", "weeks": "week", "months": "month", "years": "year"}
_RFM_AXES = {"r": "R", "recency": "R", "f": "F", "frequency": "F", "m": "M", "monetary": "M"}
_RFM_LEVELS = {"high": True, "h": True, "高": True, "low": False, "l": False, "低": False}


class _Undecided(Exception):
    """The budget ran out or the expression is too deep: answer conservatively."""


# ------------------------------------------------------------------------------ public API


def is_satisfiable(expr: s.Expr, expand: Expand) -> bool:
    """Whether some customer can satisfy ``expr``; True when undecided (conservative)."""
    return Reasoner(expand).is_satisfiable(expr)


def implies(premise: s.Expr, conclusion: s.Expr, expand: Expand) -> bool:
    """Whether every customer who satisfies ``premise`` satisfies ``conclusion``; False when
    undecided (conservative). An unsatisfiable premise implies everything."""
    return Reasoner(expand).implies(premise, conclusion)


def aum_interval(expr: s.Expr, expand: Expand) -> tuple[float, float] | None:
    """The half-open AUM interval ``[low, high)`` that ``expr`` denotes, on the AUM axis
    ``[0, inf)``: ``aum < 5万`` is (0.0, 50000.0), ``aum >= 600万`` is (6e6, inf).

    None when ``expr`` is not exactly one such interval: it mentions anything but ``aum``, it is
    empty, it is two intervals with a gap, or an end has the other closedness (``aum > 5万``,
    ``aum <= 5万``), which cannot tile the axis with the ``[low, high)`` tiers beside it.
    """
    return Reasoner(expand).aum_interval(expr)


class Reasoner:
    """The three questions, sharing compiled definitions between calls.

    The module functions build one per call; the checker, which asks thousands of questions of
    one file, should build one per file and reuse it. ``expand`` must not change meaning during
    the reasoner's life (its answers are cached).
    """

    def __init__(
        self,
        expand: Expand,
        *,
        max_branches: int = MAX_BRANCHES,
        max_steps: int = MAX_STEPS,
    ) -> None:
        self._expand = expand
        self.max_branches = max_branches
        self.max_steps = max_steps
        self._named: dict[tuple[str, bool], _Node | None] = {}
        self._scratch: dict[tuple[str, bool], _Node] = {}  # per question, see _named_node
        # Keyed by id(); the expression is kept in the value so the id cannot be reused.
        self._compiled: dict[tuple[int, bool], tuple[s.Expr, _Node]] = {}
        self._expanding: list[str] = []
        self._truncations = 0  # cycles and depth cut-offs met: results then depend on context
        self._steps = 0

    # -- answers with the conservative default -------------------------------------------

    def is_satisfiable(self, expr: s.Expr) -> bool:
        answer = self.decide_satisfiable(expr)
        return True if answer is None else answer

    def implies(self, premise: s.Expr, conclusion: s.Expr) -> bool:
        answer = self.decide_implies(premise, conclusion)
        return False if answer is None else answer

    # -- three-valued answers: None when the budget ran out -------------------------------

    def decide_satisfiable(self, expr: s.Expr) -> bool | None:
        self._start()
        try:
            return self._solve(self._compile_top(expr, True))
        except (_Undecided, RecursionError):
            return None

    def decide_implies(self, premise: s.Expr, conclusion: s.Expr) -> bool | None:
        self._start()
        try:
            counter = _conj(
                [self._compile_top(premise, True), self._compile_top(conclusion, False)]
            )
            return not self._solve(counter)
        except (_Undecided, RecursionError):
            return None

    def aum_interval(self, expr: s.Expr) -> tuple[float, float] | None:
        self._start()
        try:
            pieces = self._aum_set(self._compile_top(expr, True), {})
        except (_Undecided, RecursionError, _NotAum):
            return None
        if len(pieces) != 1:
            return None
        low, low_closed, high, high_closed = pieces[0]
        if not low_closed or (high_closed and high != _INF):
            return None
        return (low, high)

    # -- compiling: syntax -> negation normal form ----------------------------------------

    def _start(self) -> None:
        self._steps = 0
        self._scratch.clear()

    def _tick(self) -> None:
        self._steps += 1
        if self._steps > self.max_steps:
            raise _Undecided

    def _compile_top(self, expr: s.Expr, positive: bool) -> _Node:
        key = (id(expr), positive)
        hit = self._compiled.get(key)
        if hit is not None and hit[0] is expr:
            return hit[1]
        before = self._truncations
        node = self._compile(expr, positive, 0)
        if self._truncations == before:
            if len(self._compiled) > 50_000:  # a long-lived reasoner must not grow forever
                self._compiled.clear()
            self._compiled[key] = (expr, node)
        return node

    def _compile(self, expr: s.Expr, positive: bool, depth: int) -> _Node:
        if depth > MAX_COMPILE_DEPTH:
            raise _Undecided
        self._tick()
        kind = type(expr)
        if kind is s.And or kind is s.Or:
            parts = [self._compile(e, positive, depth + 1) for e in expr.operands]
            return _conj(parts) if (kind is s.And) == positive else _disj(parts)
        if kind is s.Not:
            return self._compile(expr.operand, not positive, depth + 1)
        if kind is s.Ref:
            name = expr.name.text
            node = self._named_node(name, positive, depth)
            return _atom(("ref", name), positive) if node is None else node
        if kind is s.Compare:
            return self._compare(expr, positive, depth)
        if kind is s.InRange:
            return self._in_range(expr, positive)
        if kind is s.InSet:
            return self._in_set(expr, positive, depth)
        if kind is s.Top:
            # A rank in (0, 1], best first: top 10% is rank <= 10%, so it implies top 20%.
            # Without `%` the share means something else (a count?): left opaque.
            if expr.share.percent:
                var = ("top", expr.model.text)
                return _numeric(var, [(-_INF, False, expr.share.fraction, True)], positive, False)
        elif kind is s.Flow:
            op = expr.op if positive else _NEGATED_OP.get(expr.op)
            if op is not None and not expr.amount.percent:
                var = ("flow", expr.direction, _duration_key(expr.within))
                return _numeric(var, _op_intervals(op, expr.amount.value), True, False)
        elif kind is s.AumChange and expr.share.percent:
            # The relative change over the window: `drop 30%` is <= -30%, `rise 10%` >= +10%.
            var = ("change", expr.attribute.text, _duration_key(expr.over))
            share = expr.share.fraction
            if expr.direction == "drop":
                interval = (-_INF, False, -share, True)
            else:
                interval = (share, True, _INF, False)
            return _numeric(var, [interval], positive, False)
        elif kind is s.Inactive:
            # Inactive for at least this long; different units stay different variables.
            amount, unit = _duration_key(expr.duration)
            var = ("inactive", unit)
            return _numeric(var, [(amount, True, _INF, False)], positive, False)
        elif kind is s.RfmQuadrant:
            axes = self._rfm(expr)
            if axes is not None:
                literals = [_atom(("rfm", axis), high == positive) for axis, high in axes]
                return _conj(literals) if positive else _disj(literals)
        return _atom(_structure(expr), positive)

    def _named_node(self, name: str, positive: bool, depth: int) -> _Node | None:
        """The compiled definition of a segment or tier, or None when ``expand`` has none."""
        key = (name, positive)
        if key in self._named:
            return self._named[key]
        if key in self._scratch:
            self._truncations += 1  # what uses it is as context-dependent as it is
            return self._scratch[key]
        if name in self._expanding or len(self._expanding) >= MAX_EXPANSION_DEPTH:
            # A cycle, or a chain too long to follow: the name stands for itself. That is sound
            # (the atom can take whatever value the name has) but depends on where we entered,
            # so nothing compiled around it is cached.
            self._truncations += 1
            return _atom(("ref", name), positive)
        definition = self._expand(name)
        if definition is None:
            self._named[key] = None
            return None
        before = self._truncations
        self._expanding.append(name)
        try:
            node = self._compile(definition, positive, depth + 1)
        finally:
            self._expanding.pop()
        # Cut short somewhere inside, the node is still sound but may be less exact than from
        # the top; it serves this question only (else a shared segment cut at depth would be
        # compiled again at every use, exponentially).
        (self._named if self._truncations == before else self._scratch)[key] = node
        return node

    def _compare(self, expr: s.Compare, positive: bool, depth: int) -> _Node:
        attribute = expr.attribute.text
        op = expr.op if positive else _NEGATED_OP.get(expr.op)
        value = expr.value
        if op is None:
            return _atom(_structure(expr), positive)
        if isinstance(value, s.Number):
            return _numeric(attribute, _op_intervals(op, value.fraction), True, False)
        text = value.text if isinstance(value, s.Name) else value.value
        if attribute == TIER_ATTRIBUTE and op in ("==", "!=") and isinstance(value, s.Name):
            tier = self._named_node(text, op == "==", depth)
            if tier is not None:
                return tier
        rank = _ordinal(value)
        if rank is not None:
            return _numeric(attribute, _op_intervals(op, float(rank)), True, True)
        if op in ("==", "!="):
            return (_CAT, ("cat", attribute), frozenset((text,)), op == "==")
        return _atom(_structure(expr), positive)  # an ordering between names: no order known

    def _in_range(self, expr: s.InRange, positive: bool) -> _Node:
        bounds = [_numeric_value(v) for v in (expr.low, expr.high)]
        if bounds[0] is None or bounds[1] is None:
            return _atom(_structure(expr), positive)
        integer = _ordinal(expr.low) is not None or _ordinal(expr.high) is not None
        interval = (bounds[0], True, bounds[1], False)
        return _numeric(expr.attribute.text, [interval], positive, integer)

    def _in_set(self, expr: s.InSet, positive: bool, depth: int) -> _Node:
        attribute = expr.attribute.text
        points: list[Interval] = []
        names: list[str] = []
        tiers: list[_Node] = []
        integer = False
        for item in expr.items:
            number = _numeric_value(item)
            if number is not None:
                points.append((number, True, number, True))
                integer = integer or _ordinal(item) is not None
                continue
            text = item.text if isinstance(item, s.Name) else item.value
            if attribute == TIER_ATTRIBUTE and isinstance(item, s.Name):
                tier = self._named_node(text, positive, depth)
                if tier is not None:
                    tiers.append(tier)
                    continue
            names.append(text)
        # Numbers and names on one attribute are kept as two independent variables: odd input,
        # and treating them apart only makes more conditions satisfiable.
        parts = list(tiers)
        if points:
            parts.append(_numeric(attribute, points, positive, integer))
        if names:
            parts.append((_CAT, ("cat", attribute), frozenset(names), positive))
        return _disj(parts) if positive else _conj(parts)

    def _rfm(self, expr: s.RfmQuadrant) -> list[tuple[str, bool]] | None:
        axes: list[tuple[str, bool]] = []
        for level in expr.levels:
            axis = _RFM_AXES.get(level.axis.text.lower())
            high = _RFM_LEVELS.get(level.level.text.lower())
            if axis is None or high is None:
                return None
            axes.append((axis, high))
        return axes

    # -- searching ------------------------------------------------------------------------

    def _solve(self, root: _Node) -> bool:
        """DPLL over the compiled tree: True iff some branch is consistent."""
        if root[0] == _TRUE:
            return True
        if root[0] == _FALSE:
            return False
        frames: list[_Frame] = [([root], [], {}, set())]
        branches = 0
        while frames:
            todo, pending, state, held = frames.pop()
            choices = self._propagate(todo, pending, state, held)
            if choices is None:
                continue
            if not choices:
                return True
            # Branch on the narrowest disjunction: fewest branches, and its literals prune most.
            best = min(range(len(choices)), key=lambda i: len(choices[i]))
            rest = choices[:best] + choices[best + 1 :]
            alternatives = choices[best]
            branches += len(alternatives)
            if branches > self.max_branches:
                raise _Undecided
            for alternative in reversed(alternatives):
                frames.append(([alternative], rest, dict(state), set(held)))
        return False

    def _propagate(
        self,
        todo: list[_Node],
        pending: list[tuple[_Node, ...]],
        state: dict[Hashable, Any],
        held: set[int],
    ) -> list[tuple[_Node, ...]] | None:
        """Assert what is forced; return the disjunctions still open, or None on a conflict.

        ``state`` maps a variable to its interval, allowed/forbidden values or polarity;
        ``held`` has the ids of the connectives already required in this branch: one met again
        (a segment used twice) is not walked again, and a disjunction with a held branch is
        satisfied.
        """
        steps = self._steps
        limit = self.max_steps
        ors = list(pending)
        while True:
            while todo:
                node = todo.pop()
                steps += 1
                tag = node[0]
                if tag >= _NUM:
                    if not _assert(state, node):
                        self._steps = steps
                        return None
                elif tag in (_AND, _OR):
                    if id(node) in held:
                        continue
                    held.add(id(node))
                    if tag == _AND:
                        todo.extend(node[1])
                    else:
                        ors.append(node[1])
                elif tag == _FALSE:
                    self._steps = steps
                    return None
            if steps > limit:
                self._steps = steps
                raise _Undecided
            open_ors: list[tuple[_Node, ...]] = []
            for alternatives in ors:
                live: list[_Node] = []
                satisfied = False
                for alternative in alternatives:
                    steps += 1
                    if alternative[0] >= _NUM:
                        status = _status(state, alternative)
                        if status > 0:
                            satisfied = True
                            break
                        if status < 0:
                            continue
                    elif id(alternative) in held:
                        satisfied = True
                        break
                    live.append(alternative)
                if satisfied:
                    continue
                if not live:
                    self._steps = steps
                    return None
                if len(live) == 1:
                    todo.append(live[0])
                else:
                    open_ors.append(alternatives if len(live) == len(alternatives) else tuple(live))
            ors = open_ors
            if steps > limit:
                self._steps = steps
                raise _Undecided
            if not todo:
                self._steps = steps
                return ors

    # -- the AUM set a tier denotes -------------------------------------------------------

    def _aum_set(self, node: _Node, memo: dict[int, list[Interval]]) -> list[Interval]:
        """The exact set of AUM values, as sorted disjoint intervals; _NotAum if the
        expression mentions anything else."""
        hit = memo.get(id(node))
        if hit is not None:
            return hit
        self._tick()
        tag = node[0]
        if tag == _TRUE:
            result = [_AUM_AXIS]
        elif tag == _FALSE:
            result = []
        elif tag == _NUM and node[1] == AUM_ATTRIBUTE:
            result = [node[2:]]
        elif tag == _AND:
            result = [_AUM_AXIS]
            for child in node[1]:
                result = _intersect_sets(result, self._aum_set(child, memo))
        elif tag == _OR:
            result = []
            for child in node[1]:
                result = _union(result + self._aum_set(child, memo))
        else:
            raise _NotAum
        memo[id(node)] = result
        return result


class _NotAum(Exception):
    """The expression constrains something besides AUM."""


# ------------------------------------------------------------------------------ literals


def _atom(key: Hashable, polarity: bool) -> _Node:
    return (_ATOM, ("atom", key), polarity)


def _ordinal(value: s.Value) -> int | None:
    """``C3`` / ``R3`` → 3: tolerance and risk share one scale."""
    if isinstance(value, s.Name):
        match = _ORDINAL.match(value.text)
        if match:
            return int(match.group(1))
    return None


def _numeric_value(value: s.Value) -> float | None:
    if isinstance(value, s.Number):
        return value.fraction
    rank = _ordinal(value)
    return None if rank is None else float(rank)


def _op_intervals(op: str, v: float) -> list[Interval]:
    if op == "<":
        return [(-_INF, False, v, False)]
    if op == "<=":
        return [(-_INF, False, v, True)]
    if op == ">":
        return [(v, False, _INF, False)]
    if op == ">=":
        return [(v, True, _INF, False)]
    if op == "==":
        return [(v, True, v, True)]
    return [(-_INF, False, v, False), (v, False, _INF, False)]  # !=


def _domain(variable: Hashable) -> Interval:
    """Values a numeric variable can take at all; cutting literals to it at compile time makes
    ``aum < 0`` false and ``aum >= 0`` true without the search knowing about domains."""
    if variable == AUM_ATTRIBUTE:
        return _AUM_AXIS
    if isinstance(variable, tuple):
        tag = variable[0]
        if tag == "top":
            return (0.0, False, 1.0, True)
        if tag in ("flow", "inactive"):
            return _AUM_AXIS
    return _REALS


def _numeric(variable: Hashable, intervals: list[Interval], positive: bool, integer: bool) -> _Node:
    """``variable`` within the union of ``intervals`` (outside it when not ``positive``), cut to
    the variable's domain and, for ordinal scales, snapped to integers."""
    pieces = _union(intervals)
    if not positive:
        pieces = _complement(pieces)
    domain = _domain(variable)
    cut = [_intersect(p, domain) for p in pieces]
    if integer:
        cut = [_snap(p) for p in cut if p is not None]
    kept = [p for p in cut if p is not None]
    if not kept:
        return FALSE
    if len(kept) == 1 and kept[0] == domain:
        return TRUE
    literals = [(_NUM, variable, *p) for p in kept]
    return literals[0] if len(literals) == 1 else (_OR, tuple(literals))


def _snap(interval: Interval) -> Interval | None:
    """The integers of an interval, as a closed interval (None if there are none)."""
    low, low_closed, high, high_closed = interval
    if low != -_INF:
        low = math.floor(low) + 1.0 if (not low_closed and low.is_integer()) else math.ceil(low)
        low_closed = True
    if high != _INF:
        high = (
            math.ceil(high) - 1.0 if (not high_closed and high.is_integer()) else math.floor(high)
        )
        high_closed = True
    return _nonempty((float(low), low_closed, float(high), high_closed))


def _nonempty(interval: Interval) -> Interval | None:
    low, low_closed, high, high_closed = interval
    if low < high or (low == high and low_closed and high_closed):
        return interval
    return None


def _intersect(a: Interval, b: Interval) -> Interval | None:
    if a[0] != b[0]:
        low, low_closed = (a[0], a[1]) if a[0] > b[0] else (b[0], b[1])
    else:
        low, low_closed = a[0], a[1] and b[1]
    if a[2] != b[2]:
        high, high_closed = (a[2], a[3]) if a[2] < b[2] else (b[2], b[3])
    else:
        high, high_closed = a[2], a[3] and b[3]
    return _nonempty((low, low_closed, high, high_closed))


def _union(intervals: list[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-touching intervals covering the same values."""
    merged: list[Interval] = []
    for piece in sorted(intervals, key=lambda p: (p[0], not p[1])):
        if merged:
            low, low_closed, high, high_closed = merged[-1]
            if piece[0] < high or (piece[0] == high and (high_closed or piece[1])):
                if piece[2] > high or (piece[2] == high and piece[3]):
                    high, high_closed = piece[2], piece[3] or (piece[2] == high and high_closed)
                merged[-1] = (low, low_closed, high, high_closed)
                continue
        merged.append(piece)
    return merged


def _complement(pieces: list[Interval]) -> list[Interval]:
    """The reals outside sorted, disjoint intervals."""
    gaps: list[Interval] = []
    low, low_closed = -_INF, False
    for start, start_closed, end, end_closed in pieces:
        gap = _nonempty((low, low_closed, start, not start_closed))
        if gap is not None:
            gaps.append(gap)
        low, low_closed = end, not end_closed
    gap = _nonempty((low, low_closed and low != _INF, _INF, False))
    if gap is not None:
        gaps.append(gap)
    return gaps


def _intersect_sets(a: list[Interval], b: list[Interval]) -> list[Interval]:
    cut = [_intersect(x, y) for x in a for y in b]
    return _union([p for p in cut if p is not None])


# ------------------------------------------------------------------------------ connectives


def _connect(tag: int, unit: _Node, zero: _Node, parts: list[_Node]) -> _Node:
    """``and``/``or`` of ``parts`` without units, duplicates collapsed.

    Nested connectives are kept, not flattened: a named segment stays one node wherever it is
    used, and the search relies on that identity (a disjunction one of whose branches is a
    segment already in force is satisfied).
    """
    children: dict[Hashable, _Node] = {}
    for part in parts:
        ptag = part[0]
        if ptag == zero[0]:
            return zero
        if ptag != unit[0]:
            # Literals are small and compare by value; connectives by identity (hashing a deep
            # tuple walks all of it, every time).
            children.setdefault(part if ptag >= _NUM else id(part), part)
    if not children:
        return unit
    if len(children) == 1:
        return next(iter(children.values()))
    return (tag, tuple(children.values()))


def _conj(parts: list[_Node]) -> _Node:
    return _connect(_AND, TRUE, FALSE, parts)


def _disj(parts: list[_Node]) -> _Node:
    return _connect(_OR, FALSE, TRUE, parts)


# ------------------------------------------------------------------------------ the state


def _assert(state: dict[Hashable, Any], literal: _Node) -> bool:
    """Add a literal to a branch's state; False if the branch becomes inconsistent."""
    tag = literal[0]
    variable = literal[1]
    current = state.get(variable)
    if tag == _NUM:
        if current is None:
            state[variable] = literal[2:]
            return True
        narrowed = _intersect(current, literal[2:])
        if narrowed is None:
            return False
        state[variable] = narrowed
        return True
    if tag == _CAT:
        values, member = literal[2], literal[3]
        allowed, forbidden = current if current is not None else (None, frozenset())
        if member:
            allowed = values if allowed is None else allowed & values
        else:
            forbidden = forbidden | values
        # The values are an open set: with nothing required, some unlisted value is left.
        if allowed is not None and allowed <= forbidden:
            return False
        state[variable] = (allowed, forbidden)
        return True
    polarity = literal[2]
    if current is None:
        state[variable] = polarity
        return True
    return current == polarity


def _status(state: dict[Hashable, Any], literal: _Node) -> int:
    """1 if the branch already makes the literal true, -1 if false, 0 if it depends."""
    tag = literal[0]
    current = state.get(literal[1])
    if current is None:
        return 0
    if tag == _NUM:
        low, low_closed, high, high_closed = literal[2:]
        if _intersect(current, literal[2:]) is None:
            return -1
        c_low, c_low_closed, c_high, c_high_closed = current
        inside_low = low < c_low or (low == c_low and (low_closed or not c_low_closed))
        inside_high = high > c_high or (high == c_high and (high_closed or not c_high_closed))
        return 1 if inside_low and inside_high else 0
    if tag == _CAT:
        values, member = literal[2], literal[3]
        allowed, forbidden = current
        left = None if allowed is None else allowed - forbidden
        if member:
            if left is not None:
                if left <= values:
                    return 1
                if not (left & values):
                    return -1
            return -1 if values <= forbidden else 0
        if values <= forbidden or (left is not None and not (left & values)):
            return 1
        return -1 if left is not None and left <= values else 0
    return 1 if current == literal[2] else -1


# ------------------------------------------------------------------------------ opaque atoms


def _duration_key(duration: s.Duration | None) -> tuple[float, str] | None:
    if duration is None:
        return None
    unit = duration.unit.text
    return (duration.amount.value, _UNITS.get(unit, unit))


_FIELDS: dict[type, tuple[str, ...]] = {}


def _structure(value: Any) -> Hashable:
    """A node's identity without its spans: the same words written twice are the same atom."""
    if isinstance(value, s.Name):
        return value.text
    if isinstance(value, s.Number):
        return (value.value, value.percent)
    if isinstance(value, s.Text):
        return ("text", value.value)
    if isinstance(value, s.Duration):
        return _duration_key(value)
    if isinstance(value, s.Node):
        kind = type(value)
        fields = _FIELDS.get(kind)
        if fields is None:
            fields = _FIELDS[kind] = tuple(f for f in kind.model_fields if f != "span")
        return (kind.__name__, *(_structure(getattr(value, f)) for f in fields))
    if isinstance(value, tuple):
        return tuple(_structure(v) for v in value)
    return value
