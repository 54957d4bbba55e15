"""Satisfiability, implication and tier intervals (``strategy_dsl.checker.satisfiability``).

Unit tests follow the cases in LANGUAGE.md; the property tests compare the decision procedure
with brute-force evaluation over a grid that has a point in every region the thresholds cut.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from strategy_dsl import syntax as s
from strategy_dsl.checker.satisfiability import (
    Reasoner,
    aum_interval,
    implies,
    is_satisfiable,
)
from strategy_dsl.diagnostics import Span
from strategy_dsl.parser import parse_text

TIERS = """
tier 长尾     when aum < 5万
tier 大众富裕 when aum in 5万 .. 50万
tier 财富     when aum in 50万 .. 600万
tier 私行     when aum >= 600万
segment 临界财富 = aum in 45万 .. 50万
"""


def definitions(source: str) -> dict[str, s.Expr]:
    """Name → condition for every tier, segment and trigger in ``source``."""
    result = parse_text(source, "test.strat")
    assert result.file is not None, result.diagnostics
    assert not result.diagnostics, result.diagnostics
    found: dict[str, s.Expr] = {}
    for item in result.file.items:
        if isinstance(item, s.Tier):
            found[item.name.text] = item.when
        elif isinstance(item, s.Segment | s.Trigger):
            found[item.name.text] = item.expr
    return found


class World:
    """A file's definitions plus conditions parsed on the fly against them."""

    def __init__(self, source: str = "") -> None:
        self.defs = definitions(TIERS + source)
        self._count = 0

    def expand(self, name: str) -> s.Expr | None:
        return self.defs.get(name)

    def expr(self, text: str) -> s.Expr:
        self._count += 1
        result = parse_text(f"segment _q{self._count} = {text}\n", "query.strat")
        assert result.file is not None and not result.diagnostics, result.diagnostics
        item = result.file.items[0]
        assert isinstance(item, s.Segment)
        return item.expr

    def sat(self, text: str) -> bool:
        return is_satisfiable(self.expr(text), self.expand)

    def implies(self, premise: str, conclusion: str) -> bool:
        return implies(self.expr(premise), self.expr(conclusion), self.expand)

    def interval(self, text: str) -> tuple[float, float] | None:
        return aum_interval(self.expr(text), self.expand)


@pytest.fixture
def w() -> World:
    return World()


# ---------------------------------------------------------------------- the LANGUAGE.md cases


def test_contradictory_thresholds_never_hold(w: World) -> None:
    assert not w.sat("aum < 5万 and aum >= 50万")


def test_a_range_can_hold(w: World) -> None:
    assert w.sat("aum in 45万 .. 50万")
    assert not w.sat("aum in 50万 .. 45万")  # empty: low above high
    assert not w.sat("aum in 50万 .. 50万")  # [x, x) is empty


def test_segment_and_not_tier_through_definitions(w: World) -> None:
    assert w.sat("临界财富 and not 私行")
    assert not w.sat("临界财富 and 私行")
    assert not w.sat("临界财富 and not 大众富裕")  # 45万..50万 lies inside 大众富裕
    assert w.implies("临界财富", "not 私行")


def test_ordinal_tolerance(w: World) -> None:
    assert w.implies("risk_tolerance >= C3", "risk_tolerance >= C2")
    assert not w.implies("risk_tolerance >= C2", "risk_tolerance >= C3")
    # Tolerance and product risk share the scale: suitability asks this question.
    assert w.implies("risk_tolerance >= C3", "risk_tolerance >= R2")
    # The scale is integers: `> C2` is `>= C3`.
    assert w.implies("risk_tolerance > C2", "risk_tolerance >= C3")
    assert not w.sat("risk_tolerance > C2 and risk_tolerance < C3")
    assert w.implies("risk_tolerance in C2 .. C4", "risk_tolerance <= C3")


def test_range_implies_its_upper_bound(w: World) -> None:
    assert w.implies("aum in 45万 .. 50万", "aum < 50万")
    assert w.implies("aum in 45万 .. 50万", "aum >= 45万")
    assert not w.implies("aum in 45万 .. 50万", "aum < 49万")
    assert not w.implies("aum in 45万 .. 50万", "aum > 45万")  # 45万 itself is in the range


def test_atoms(w: World) -> None:
    assert not w.sat("payroll and not payroll")
    assert w.sat("payroll and not has_app")
    assert w.implies("payroll and has_app", "payroll")
    assert not w.implies("payroll", "has_app")
    # A trigger or condition written twice is the same atom, whatever its span.
    assert not w.sat("entered new within 100 days and not entered new within 100 days")
    assert w.sat("entered new within 100 days and not entered new within 30 days")


def test_nested_not_and_or(w: World) -> None:
    assert not w.sat("not (aum < 5万 or aum >= 50万) and aum < 5万")
    assert w.implies("not (payroll or has_app)", "not payroll")
    assert w.implies("not (not payroll and not has_app)", "payroll or has_app")
    assert w.implies("payroll or has_app", "not (not payroll and not has_app)")
    assert not w.sat("not (payroll or not (has_app and (aum < 5万 or not has_app))) and aum >= 5万")
    assert not w.sat("not not (payroll and not payroll)")


def test_not_equal_splits_the_line(w: World) -> None:
    assert not w.sat("aum != 5万 and aum >= 5万 and aum <= 5万")
    assert w.sat("aum != 5万 and aum >= 5万")
    assert not w.implies("age != 30", "age > 30")
    assert w.implies("age != 30 and age >= 30", "age > 30")
    assert w.implies("age == 30", "age in 30 .. 31")
    assert not w.sat("risk_tolerance != C3 and risk_tolerance > C2 and risk_tolerance < C4")


def test_numeric_sets(w: World) -> None:
    assert not w.sat("age in (30, 40) and age > 30 and age < 40")
    assert w.implies("age in (30, 40)", "age >= 30 and age <= 40")
    assert not w.sat("not age in (30, 40) and age >= 30 and age <= 30")
    assert w.implies("risk_tolerance in (C3, C4)", "risk_tolerance >= C2")
    assert not w.sat("risk_tolerance in (C1, C2) and risk_tolerance >= C3")


def test_categorical_attributes(w: World) -> None:
    assert not w.sat("stage == new and stage == mature")
    assert w.sat("stage != new")
    assert w.sat("stage != new and stage != growing and stage != mature")  # open value set
    assert w.sat("stage in (new, growing) and stage != new")
    assert w.implies("stage in (new, growing) and stage != new", "stage == growing")
    assert not w.sat("stage in (new) and not stage in (new, growing)")
    assert w.implies('stage == "new"', "stage == new")
    assert not w.implies("stage != new", "stage == growing")
    # An ordering between names that are no scale is an opaque atom, not an error.
    assert w.sat("stage > new")
    assert not w.sat("stage > new and not stage > new")


def test_a_value_set_satisfies_a_choice_only_when_every_value_does(w: World) -> None:
    assert w.sat("stage in (new, growing) and (stage != new or payroll) and not payroll")
    assert w.sat("stage in (new, growing) and (stage == new or payroll) and not payroll")
    # `stage == new` must not count as already true while `growing` is still possible: the
    # branches on a/b rule out `new` only later.
    assert not w.sat(
        "stage in (new, growing) and (stage == new or payroll) and not payroll"
        " and (a or b) and (not a or stage != new) and (not b or stage != new)"
    )
    assert not w.sat(
        "stage != new and (stage != growing or payroll) and not payroll"
        " and (a or b) and (not a or stage in (new, growing)) and (not b or stage == growing)"
    )


def test_tier_attribute_means_the_tiers(w: World) -> None:
    assert not w.sat("tier in (财富, 私行) and aum < 5万")
    assert w.sat("tier in (财富, 私行) and aum >= 100万")
    assert w.implies("tier == 财富", "aum >= 50万")
    assert w.implies("tier != 长尾", "aum >= 5万")
    assert w.implies("私行", "tier in (财富, 私行)")
    assert w.implies("not tier in (长尾, 大众富裕)", "tier in (财富, 私行)")
    # A name no tier has stays a categorical value.
    assert not w.sat("tier == 未知 and tier != 未知")
    assert w.sat("tier == 未知 and aum < 5万")


def test_percentages_are_fractions(w: World) -> None:
    assert not w.sat("propensity >= 20% and propensity < 0.1")
    assert w.sat("propensity >= 20% and churn_score < 10%")  # different attributes


def test_events_with_a_size(w: World) -> None:
    assert w.implies("流失模型 top 10%", "流失模型 top 20%")
    assert not w.implies("流失模型 top 20%", "流失模型 top 10%")
    assert not w.implies("流失模型 top 10%", "响应模型 top 20%")
    assert w.implies("outflow >= 10万 within 1 month", "outflow >= 5万 within 1 month")
    assert not w.implies("outflow >= 10万 within 1 month", "outflow >= 5万 within 3 months")
    assert not w.sat("aum drop 30% over 3 months and aum rise 10% over 3 months")
    assert w.implies("aum drop 30% over 3 months", "aum drop 20% over 3 months")
    assert w.implies("inactive 6 months", "inactive 3 months")
    assert not w.implies("inactive 3 months", "inactive 6 months")
    assert not w.sat("rfm(R high, F high, M high) and rfm(R low, F high, M high)")
    assert w.implies("rfm(R high, F high, M high)", "not rfm(R low, F high, M high)")


def test_empty_premise_implies_anything(w: World) -> None:
    assert w.implies("aum < 0", "payroll")
    assert not w.sat("aum < 0")  # AUM is never negative
    assert w.implies("payroll", "aum >= 0")


# ---------------------------------------------------------------------- cycles, depth, bounds


def test_cycles_in_definitions_terminate() -> None:
    w = World(
        """
segment 甲 = 乙 and payroll
segment 乙 = 甲 or not 甲
segment 丙 = not 丙
"""
    )
    started = time.perf_counter()
    for text in ("甲", "乙", "丙", "甲 and not 乙", "丙 and 甲"):
        assert isinstance(w.sat(text), bool)
        assert isinstance(w.implies(text, "甲"), bool)
    assert not w.sat("甲 and not payroll")  # the part outside the cycle is still exact
    assert w.implies("甲", "payroll")
    assert time.perf_counter() - started < 5


def test_long_chains_are_cut_conservatively() -> None:
    def chain(length: int) -> World:
        lines = [f"segment s{i} = s{i + 1}" for i in range(length)]
        lines.append(f"segment s{length} = aum < 5万 and aum >= 50万")
        return World("\n".join(lines))

    assert not chain(10).sat("s0")  # followed to the end: exact
    assert chain(100).sat("s0")  # cut after MAX_EXPANSION_DEPTH names: satisfiable


def test_shared_definitions_do_not_blow_up() -> None:
    # Each level uses the previous one twice: 2**25 leaves as a tree, 25 nodes as a graph.
    lines = ["segment d0 = aum < 5万 and payroll"]
    lines += [f"segment d{i} = d{i - 1} and (d{i - 1} or x{i})" for i in range(1, 26)]
    w = World("\n".join(lines))
    started = time.perf_counter()
    assert w.sat("d25")
    assert w.implies("d25", "payroll")
    assert not w.implies("d25", "x3")
    assert time.perf_counter() - started < 5


def test_exponential_search_is_cut_quickly() -> None:
    # Both branches of every level contain the level below, so a search without learning
    # revisits 2**25 branches to see that d25 needs payroll: the budget stops it.
    lines = ["segment d0 = aum < 5万 and payroll"]
    lines += [f"segment d{i} = d{i - 1} or (d{i - 1} and x{i})" for i in range(1, 26)]
    w = World("\n".join(lines))
    started = time.perf_counter()
    assert w.sat("d25")
    assert w.implies("d25", "payroll") is False  # true, but undecided within the budget
    assert time.perf_counter() - started < 5


XOR_SQUARE = "(p or q) and (p or not q) and (not p or q) and (not p or not q)"


def test_budget_exhausted_gives_the_conservative_answers(w: World) -> None:
    hard = w.expr(XOR_SQUARE)
    assert Reasoner(w.expand).decide_satisfiable(hard) is False  # decidable with a budget
    tight = Reasoner(w.expand, max_branches=1)
    assert tight.decide_satisfiable(hard) is None
    assert tight.is_satisfiable(hard) is True
    assert tight.decide_implies(w.expr("payroll"), w.expr(f"not ({XOR_SQUARE})")) is None
    assert tight.implies(w.expr("payroll"), w.expr(f"not ({XOR_SQUARE})")) is False
    short = Reasoner(w.expand, max_steps=5)
    assert short.is_satisfiable(hard) is True
    assert short.aum_interval(w.expr("aum < 5万 and aum < 6万 and aum < 7万")) is None


def test_pigeonhole_hits_the_default_budget_quickly(w: World) -> None:
    # Seven pigeons, six holes: unsatisfiable, and exponential for any DPLL.
    pigeons, holes = range(7), range(6)
    each_placed = [" or ".join(f"p{i}h{j}" for j in holes) for i in pigeons]
    no_sharing = [
        f"not p{i}h{j} or not p{k}h{j}"
        for j in holes
        for i, k in itertools.combinations(pigeons, 2)
    ]
    text = " and ".join(f"({c})" for c in each_placed + no_sharing)
    expr = w.expr(text)
    started = time.perf_counter()
    assert Reasoner(w.expand).decide_satisfiable(expr) is None
    assert is_satisfiable(expr, w.expand) is True
    assert time.perf_counter() - started < 10


# ------------------------------------------------------------------------------ tier intervals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aum < 5万", (0.0, 50000.0)),
        ("aum in 5万 .. 50万", (50000.0, 500000.0)),
        ("aum >= 600万", (6e6, math.inf)),
        ("not aum < 5万", (50000.0, math.inf)),
        ("aum >= 0", (0.0, math.inf)),
        ("aum in 5万 .. 50万 or aum in 50万 .. 60万", (50000.0, 600000.0)),  # adjacent: one piece
        ("aum >= 5万 and aum < 50万 and aum < 80万", (50000.0, 500000.0)),
        ("私行", (6e6, math.inf)),  # through a tier's definition
        ("临界财富 and not 私行", (450000.0, 500000.0)),
        # Not a half-open interval on AUM:
        ("aum > 5万", None),
        ("aum <= 5万", None),
        ("aum == 5万", None),
        ("aum < 5万 or aum >= 50万", None),
        ("aum < 5万 and aum >= 50万", None),
        ("aum < 0", None),
        ("age < 5", None),
        ("aum < 5万 and payroll", None),
        ("aum < 5万 and age < 5", None),
    ],
)
def test_aum_interval(w: World, text: str, expected: tuple[float, float] | None) -> None:
    assert w.interval(text) == expected


def test_module_functions_agree_with_a_shared_reasoner(w: World) -> None:
    reasoner = Reasoner(w.expand)
    for text in ("临界财富 and not 私行", "aum < 5万 and aum >= 50万", "payroll"):
        e = w.expr(text)
        assert reasoner.is_satisfiable(e) == is_satisfiable(e, w.expand)
        assert reasoner.is_satisfiable(e) == reasoner.is_satisfiable(e)  # cached compile


def test_a_library_of_rules_is_fast() -> None:
    # 300 rule audiences over shared segments, every pair asked both ways.
    segments = [
        "segment 年轻 = age < 30",
        "segment 银发 = age >= 60",
        "segment 代发 = payroll",
        "segment 稳健 = risk_tolerance >= C2",
        "segment 进取 = risk_tolerance >= C4",
        "segment 高流失风险 = 流失模型 top 10%",
    ]
    w = World("\n".join(segments))
    parts = [
        "临界财富",
        "tier in (财富, 私行)",
        "not 私行",
        "银发",
        "年轻 or 代发",
        "稳健",
        "进取",
        "高流失风险",
        "stage != new",
        "has_app",
    ]
    audiences = [
        w.expr(" and ".join(f"({p})" for p in combo))
        for combo in itertools.islice(itertools.combinations(parts, 3), 120)
    ]
    reasoner = Reasoner(w.expand)
    started = time.perf_counter()
    for a in audiences:
        reasoner.is_satisfiable(a)
    for a, b in itertools.permutations(audiences, 2):
        reasoner.implies(a, b)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"{len(audiences) ** 2} questions took {elapsed:.2f}s"


# ------------------------------------------------------------------------------ brute force


SPAN = Span(file="gen.strat", line=1, column=1, end_line=1, end_column=2)
THRESHOLDS = (0.0, 10.0, 20.0, 30.0)
OPS = ("<", "<=", ">", ">=", "==", "!=")


def _name(text: str) -> s.Name:
    return s.Name(span=SPAN, text=text)


def _number(value: float) -> s.Number:
    return s.Number(span=SPAN, text=str(value), value=value, percent=False)


def _ref(text: str) -> s.Expr:
    return s.Ref(span=SPAN, name=_name(text))


def _compare(attribute: str, op: str, value: s.Value) -> s.Expr:
    return s.Compare(span=SPAN, attribute=_name(attribute), op=op, value=value)


def _in_range(attribute: str, low: s.Value, high: s.Value) -> s.Expr:
    return s.InRange(span=SPAN, attribute=_name(attribute), low=low, high=high)


def _in_set(attribute: str, items: list[s.Value]) -> s.Expr:
    return s.InSet(span=SPAN, attribute=_name(attribute), items=tuple(items))


def _grid_points(low_bound: float | None) -> list[float]:
    """Every threshold, a point between each neighbouring pair, and one beyond each end."""
    points = [THRESHOLDS[0] - 5, *THRESHOLDS, THRESHOLDS[-1] + 5]
    points += [(a + b) / 2 for a, b in itertools.pairwise(THRESHOLDS)]
    return sorted(p for p in points if low_bound is None or p >= low_bound)


# Definitions the generated expressions may refer to; tiers partition [0, inf) on the grid.
GEN_DEFS: dict[str, s.Expr] = {
    "小额": s.And(
        span=SPAN,
        operands=(_compare("aum", "<", _number(10.0)), s.Not(span=SPAN, operand=_ref("payroll"))),
    ),
    "低": _compare("aum", "<", _number(10.0)),
    "中": _in_range("aum", _number(10.0), _number(20.0)),
    "高": _compare("aum", ">=", _number(20.0)),
}
TIER_NAMES = ("低", "中", "高")
STAGES = ("new", "growing", "mature")
RANKS = tuple(f"C{n}" for n in range(1, 6))


def gen_expand(name: str) -> s.Expr | None:
    return GEN_DEFS.get(name)


def _value(value: s.Value) -> float | str:
    if isinstance(value, s.Number):
        return value.fraction
    if isinstance(value, s.Name):
        text = value.text
        return float(text[1:]) if text in RANKS else text
    return value.value


def evaluate(expr: s.Expr, point: dict[str, object]) -> bool:
    """The reference semantics, straight from the syntax tree."""
    if isinstance(expr, s.And):
        return all(evaluate(e, point) for e in expr.operands)
    if isinstance(expr, s.Or):
        return any(evaluate(e, point) for e in expr.operands)
    if isinstance(expr, s.Not):
        return not evaluate(expr.operand, point)
    if isinstance(expr, s.Ref):
        definition = gen_expand(expr.name.text)
        return bool(point[expr.name.text]) if definition is None else evaluate(definition, point)
    if isinstance(expr, s.Compare):
        x, v = point[expr.attribute.text], _value(expr.value)
        compare: dict[str, Callable[[object, object], bool]] = {
            "<": lambda a, b: a < b,  # type: ignore[operator]
            "<=": lambda a, b: a <= b,  # type: ignore[operator]
            ">": lambda a, b: a > b,  # type: ignore[operator]
            ">=": lambda a, b: a >= b,  # type: ignore[operator]
            "==": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
        }
        return compare[expr.op](x, v)
    if isinstance(expr, s.InRange):
        x = point[expr.attribute.text]
        return _value(expr.low) <= x < _value(expr.high)  # type: ignore[operator]
    if isinstance(expr, s.InSet):
        return point[expr.attribute.text] in {_value(v) for v in expr.items}
    raise AssertionError(f"unexpected node {expr!r}")


def _with_tier(point: dict[str, object]) -> dict[str, object]:
    (tier,) = [t for t in TIER_NAMES if evaluate(GEN_DEFS[t], point)]
    return {**point, "tier": tier}


BASIC_GRID = [
    {"aum": aum, "age": age, "payroll": payroll, "has_app": has_app}
    for aum in _grid_points(0.0)
    for age in _grid_points(None)
    for payroll in (False, True)
    for has_app in (False, True)
]
# risk_tolerance is an integer scale: 0..6 has a point below, on and above every C1..C5.
EXTENDED_GRID = [
    _with_tier({"aum": aum, "risk_tolerance": float(risk), "stage": stage, "payroll": payroll})
    for aum in _grid_points(0.0)
    for risk in range(7)
    for stage in (*STAGES, "other")
    for payroll in (False, True)
]


def _thresholds() -> st.SearchStrategy[s.Value]:
    return st.sampled_from(THRESHOLDS).map(_number)


def _numeric_leaves(attribute: str) -> st.SearchStrategy[s.Expr]:
    return st.one_of(
        st.builds(_compare, st.just(attribute), st.sampled_from(OPS), _thresholds()),
        st.builds(_in_range, st.just(attribute), _thresholds(), _thresholds()),
        st.builds(_in_set, st.just(attribute), st.lists(_thresholds(), min_size=1, max_size=3)),
    )


def _names(options: tuple[str, ...]) -> st.SearchStrategy[s.Value]:
    return st.sampled_from(options).map(_name)


def _named_leaves(
    attribute: str, options: tuple[str, ...], ops: tuple[str, ...]
) -> st.SearchStrategy[s.Expr]:
    leaves = [
        st.builds(_compare, st.just(attribute), st.sampled_from(ops), _names(options)),
        st.builds(_in_set, st.just(attribute), st.lists(_names(options), min_size=1, max_size=3)),
    ]
    if "<" in ops:
        leaves.append(st.builds(_in_range, st.just(attribute), _names(options), _names(options)))
    return st.one_of(leaves)


def _trees(leaves: st.SearchStrategy[s.Expr]) -> st.SearchStrategy[s.Expr]:
    def extend(children: st.SearchStrategy[s.Expr]) -> st.SearchStrategy[s.Expr]:
        operands = st.lists(children, min_size=2, max_size=3).map(tuple)
        return st.one_of(
            children.map(lambda e: s.Not(span=SPAN, operand=e)),
            operands.map(lambda ops: s.And(span=SPAN, operands=ops)),
            operands.map(lambda ops: s.Or(span=SPAN, operands=ops)),
        )

    return st.recursive(leaves, extend, max_leaves=10)


BASIC = _trees(
    st.one_of(
        _numeric_leaves("aum"),
        _numeric_leaves("age"),
        st.sampled_from(("payroll", "has_app", "小额")).map(_ref),
    )
)
EXTENDED = _trees(
    st.one_of(
        _numeric_leaves("aum"),
        _named_leaves("risk_tolerance", RANKS, OPS),
        _named_leaves("stage", STAGES, ("==", "!=")),
        _named_leaves("tier", TIER_NAMES, ("==", "!=")),
        st.sampled_from(("payroll", *TIER_NAMES)).map(_ref),
    )
)

PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_satisfiable(expr: s.Expr, grid: list[dict[str, object]]) -> None:
    expected = any(evaluate(expr, p) for p in grid)
    event("satisfiable" if expected else "unsatisfiable")
    assert Reasoner(gen_expand).decide_satisfiable(expr) is expected


def _check_implies(premise: s.Expr, conclusion: s.Expr, grid: list[dict[str, object]]) -> None:
    expected = all(evaluate(conclusion, p) for p in grid if evaluate(premise, p))
    event("implies" if expected else "does not imply")
    assert Reasoner(gen_expand).decide_implies(premise, conclusion) is expected


@PROPERTY
@given(BASIC)
def test_satisfiable_matches_brute_force(expr: s.Expr) -> None:
    _check_satisfiable(expr, BASIC_GRID)


@PROPERTY
@given(BASIC, BASIC)
def test_implies_matches_brute_force(premise: s.Expr, conclusion: s.Expr) -> None:
    _check_implies(premise, conclusion, BASIC_GRID)


@PROPERTY
@given(EXTENDED)
def test_satisfiable_matches_brute_force_with_scales_sets_and_tiers(expr: s.Expr) -> None:
    _check_satisfiable(expr, EXTENDED_GRID)


@PROPERTY
@given(EXTENDED, EXTENDED)
def test_implies_matches_brute_force_with_scales_sets_and_tiers(
    premise: s.Expr, conclusion: s.Expr
) -> None:
    _check_implies(premise, conclusion, EXTENDED_GRID)


def _expected_interval(points: list[float], inside: list[bool]) -> tuple[float, float] | None:
    """The half-open interval a grid pattern shows, if it shows one: a run of points that starts
    on a threshold and ends between thresholds or beyond the last."""
    run = [i for i, hit in enumerate(inside) if hit]
    if not run or run != list(range(run[0], run[-1] + 1)):
        return None
    first, last = points[run[0]], points[run[-1]]
    if first not in THRESHOLDS:
        return None
    if run[-1] == len(points) - 1:
        return (first, math.inf)
    if last in THRESHOLDS:
        return None
    return (first, points[run[-1] + 1])


@PROPERTY
@given(st.lists(_numeric_leaves("aum"), min_size=1, max_size=3), st.booleans())
def test_aum_interval_matches_brute_force(parts: list[s.Expr], conjoin: bool) -> None:
    if len(parts) == 1:
        expr = parts[0]
    elif conjoin:
        expr = s.And(span=SPAN, operands=tuple(parts))
    else:
        expr = s.Or(span=SPAN, operands=tuple(parts))
    points = _grid_points(0.0)
    expected = _expected_interval(points, [evaluate(expr, {"aum": p}) for p in points])
    event("an interval" if expected else "none")
    assert aum_interval(expr, gen_expand) == expected
