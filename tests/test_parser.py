"""Parser: numbers, names, spans, every grammar rule built, and bad input as diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest

from strategy_dsl import syntax as s
from strategy_dsl.parser import (
    MAX_FILE_BYTES,
    _Builder,
    _lark,
    decode_source,
    parse_file,
    parse_number,
    parse_text,
)


@pytest.mark.parametrize(
    ("text", "value", "percent"),
    [
        ("200k", 200_000.0, False),
        ("2m", 2_000_000.0, False),
        ("5万", 50_000.0, False),
        ("1.5亿", 150_000_000.0, False),
        ("1_000", 1000.0, False),
        ("3%", 3.0, True),
        ("0.5%", 0.5, True),
        ("20k", 20_000.0, False),
    ],
)
def test_numbers_apply_suffixes(text: str, value: float, percent: bool) -> None:
    assert parse_number(text) == (value, percent)


def _only(text: str) -> s.Node:
    result = parse_text(text, "t.strat")
    assert result.diagnostics == [], result.diagnostics
    assert result.file is not None
    (item,) = result.file.items
    return item


def test_chinese_names_and_spans_count_characters() -> None:
    item = _only("segment 临界财富 = aum in 45万 .. 50万")
    assert isinstance(item, s.Segment)
    assert item.name.text == "临界财富"
    assert (item.name.span.line, item.name.span.column, item.name.span.end_column) == (1, 9, 13)
    assert isinstance(item.expr, s.InRange)
    assert item.expr.low.value == 450_000.0  # type: ignore[union-attr]


def test_and_chains_are_flat_and_precedence_is_not_and_or() -> None:
    item = _only("segment x = a and not b and c or d")
    assert isinstance(item, s.Segment)
    assert isinstance(item.expr, s.Or)
    first, second = item.expr.operands
    assert isinstance(first, s.And) and len(first.operands) == 3
    assert isinstance(first.operands[1], s.Not)
    assert isinstance(second, s.Ref)


def test_statements_are_not_newline_sensitive() -> None:
    one_line = _only("variant 激进 { rule 临界提升 { response 8% holdout 5% } }")
    spread = _only("variant 激进 {\n  rule 临界提升 {\n response 8%\n\n holdout 5%\n}\n}")
    assert isinstance(one_line, s.Variant) and isinstance(spread, s.Variant)
    assert [type(x) for x in one_line.overrides[0].settings] == [s.Response, s.Holdout]
    assert [type(x) for x in spread.overrides[0].settings] == [s.Response, s.Holdout]


def test_keywords_are_contextual() -> None:
    # `tier` and `cost` are keywords elsewhere, names here.
    item = _only("segment 高端 = tier in (财富, 私行) and cost > 3")
    assert isinstance(item, s.Segment)


def test_comments_are_kept_and_hash_in_strings_is_not_a_comment() -> None:
    text = 'script 话术 on 外呼 {  # trailing\n  text "第#1号"\n}\n# last\n'
    result = parse_text(text, "t.strat")
    assert result.file is not None
    assert [c.text for c in result.file.comments] == ["# trailing", "# last"]
    assert result.file.comments[0].span.column == 20


def test_every_grammar_rule_has_a_builder_method() -> None:
    needed = set()
    for rule in _lark().rules:
        name = str(rule.alias) if rule.alias else rule.origin.name
        # `?x` rules without an alias pass their single child through; `_x` rules are inlined
        # (Lark's own generated helper rules start with `__`).
        if rule.alias or not (rule.options.expand1 or name.startswith("_")):
            needed.add(name)
    assert len(needed) > 100
    missing = sorted(name for name in needed if not hasattr(_Builder, name))
    assert missing == []


def test_lark_tree_never_leaks() -> None:
    result = parse_text(
        Path(__file__).with_name("test_parser.py").read_text()[:0] or "segment a = b", "t.strat"
    )
    assert result.file is not None
    for item in result.file.items:
        assert isinstance(item, s.Node)


# ------------------------------------------------------------------------------ bad input


def _codes(text: str) -> list[tuple[str, int, int]]:
    result = parse_text(text, "t.strat")
    assert result.file is None
    return [(d.code, d.span.line, d.span.column) for d in result.diagnostics]


def test_unexpected_character_points_at_it() -> None:
    assert _codes("segment a = b\nsegment c = d € e") == [("E0001", 2, 15)]


def test_unclosed_string() -> None:
    assert _codes('script a on b {\n  text "未闭合\n}') == [("E0001", 2, 8)]


def test_unexpected_token_says_what_was_expected() -> None:
    result = parse_text("rule 临界提升 priority {\n}", "t.strat")
    (diag,) = result.diagnostics
    assert (diag.code, diag.span.line, diag.span.column) == ("E0002", 1, 20)
    assert "a number" in diag.label


def test_keyword_where_a_name_belongs_has_a_hint() -> None:
    result = parse_text("population rule", "t.strat")
    (diag,) = result.diagnostics
    assert diag.code in {"E0002", "E0003"}


def test_truncated_file_points_at_the_unclosed_block() -> None:
    result = parse_text("rule a {\n  response 5%\n", "t.strat")
    (diag,) = result.diagnostics
    assert diag.code == "E0003"
    assert diag.related and diag.related[0].span.line == 1


def test_deep_parentheses_are_refused_before_parsing() -> None:
    text = "segment a = " + "(" * 5000 + "b" + ")" * 5000
    assert _codes(text)[0][0] == "E0007"


def test_long_not_chains_are_refused() -> None:
    text = "segment a = " + "not " * 3000 + "b"
    assert _codes(text)[0][0] == "E0007"


def test_long_and_chain_is_fine() -> None:
    item = _only("segment a = " + " and ".join(f"x{i}" for i in range(3000)))
    assert isinstance(item, s.Segment) and isinstance(item.expr, s.And)
    assert len(item.expr.operands) == 3000


def test_binary_file() -> None:
    text, diag = decode_source(b"segment a = b\n\x00\x01\x02", "bin.strat")
    assert text is None and diag is not None and diag.code == "E0005"
    assert (diag.span.line, diag.span.column) == (2, 1)


def test_gbk_file_gets_an_iconv_hint() -> None:
    data = "segment 临界财富 = aum < 5万\n".encode("gb18030")
    text, diag = decode_source(data, "gbk.strat")
    assert text is None and diag is not None and diag.code == "E0004"
    assert diag.hint is not None and "iconv" in diag.hint


def test_bom_is_accepted() -> None:
    text, diag = decode_source("\ufeffsegment a = b".encode(), "bom.strat")
    assert diag is None and text == "segment a = b"


def test_huge_file_is_refused_without_parsing() -> None:
    text, diag = decode_source(b"#" * (MAX_FILE_BYTES + 1), "big.strat")
    assert text is None and diag is not None and diag.code == "E0006"


def test_unreadable_path(tmp_path: Path) -> None:
    result = parse_file(tmp_path / "missing.strat")
    assert [d.code for d in result.diagnostics] == ["E0008"]
    result = parse_file(tmp_path)  # a directory
    assert [d.code for d in result.diagnostics] == ["E0008"]


def test_grammar_loads_as_lalr() -> None:
    assert _lark().options.parser == "lalr"


@pytest.mark.parametrize(
    "text",
    [
        "population p {\n  size 10\n  risk ~ bernoulli(5%)\n}",
        "expect {\n  aum >= 1\n  churn within 12 months < 8%\n  nps >= 20\n}",
        "persona p {\n  given aum 48万, cost 3\n}",
    ],
)
def test_keyword_offered_by_a_merged_state_is_read_as_a_name(text: str) -> None:
    assert parse_text(text, "t.strat").diagnostics == []


def test_syntax_errors_in_several_items_are_all_reported() -> None:
    text = (
        "segment a = payroll\n"
        "rule r1 {\n  response 5%\n  offer x via\n}\n"  # a name missing after `via`
        "segment b = (a\n"  # never closed: the error shows on the next item's first word
        "rule r2 priority { }\n"  # a number missing
        "segment c = a\n"
    )
    found = [(d.code, d.span.line, d.span.column) for d in parse_text(text, "t").diagnostics]
    assert found == [("E0002", 5, 1), ("E0002", 7, 1), ("E0002", 7, 18)]


def test_error_recovery_stops_at_a_bound() -> None:
    text = "".join(f"rule r{i} priority {{ }}\n" for i in range(50))
    assert len(parse_text(text, "t").diagnostics) == 10


def test_expect_metrics_spelled_like_keywords_follow_any_line() -> None:
    """`churn`, `cost` and `nps` are keywords elsewhere; after a line ending in a number they
    still start a new expectation (docs/language.md, "Keywords")."""
    text = (
        "expect {\n  customers > 100\n  churn within 12 months < 40%\n  aum > 0\n"
        "  cost <= 5\n  nps >= -100\n  nps >= 5\n}\n"
    )
    result = parse_text(text, "x.strat")
    assert result.file is not None and not result.diagnostics
    (block,) = result.file.items
    assert [e.metric.name.text for e in block.settings] == [
        "customers", "churn", "aum", "cost", "nps", "nps",
    ]  # fmt: skip


# Issue 14, section 7: the mistakes strategists make get a message that says what was meant.
@pytest.mark.parametrize(
    ("text", "code", "meant"),
    [
        ("segment A = aum >= 40 万\n", "E0002", "`40万`"),
        ("segment A = aum >= 40w\n", "E0002", "`40万`"),
        ("segment A = aum in 40万 - 50万\n", "E0002", "`40万 .. 50万`"),
        ("rule R {\n  budget 3万/月\n}\n", "E0001", "`3万 per month`"),
        ("segment A = aum >= 40万\u3000and age > 60\n", "E0001", "full-width space"),
        ("segment A = aum >= 40万 且 age > 60\n", "E0002", "`and` for `且`"),
        ("segment A = aum < 5万 或 age > 60\n", "E0002", "`or` for `或`"),
        ("segment A = 非 payroll\n", "E0002", "`not` for `非`"),
        ("segment A ： aum >= 40万\n", "E0001", "`segment NAME = condition`"),
        ("segment A: aum >= 40万\n", "E0001", "`segment NAME = condition`"),
    ],
)
def test_a_strategists_slip_gets_a_hint_that_says_what_was_meant(
    text: str, code: str, meant: str
) -> None:
    diag = parse_text(text, "t.strat").diagnostics[0]
    assert diag.code == code
    assert meant in f"{diag.label} {diag.hint}", (diag.label, diag.hint)


def test_a_block_left_open_mid_file_is_pointed_at() -> None:
    result = parse_text("rule R {\n  response 3%\n\nrule S {\n  response 2%\n}\n", "t.strat")
    diag = result.diagnostics[0]
    assert (diag.code, diag.span.line) == ("E0002", 4)  # reported at the next block …
    assert [r.span.line for r in diag.related] == [1]  # … and at the block left open
    assert diag.hint is not None and "never closed" in diag.hint


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_called_utf16(encoding: str) -> None:
    text, diag = decode_source("segment 临界 = aum >= 5万\n".encode(encoding), "u.strat")
    assert text is None and diag is not None and diag.code == "E0005"
    assert "UTF-16" in diag.message and "UTF-8" in (diag.hint or "")


@pytest.mark.parametrize("colon", ["：", ":"])
def test_a_colon_is_not_told_to_be_a_colon(colon: str) -> None:
    """The language has no `:`, so a full-width colon is not told to be typed as one."""
    diag = parse_text(f"rule R {{\n  response{colon} 6%\n}}\n", "t.strat").diagnostics[0]
    assert diag.code == "E0001" and diag.hint is not None
    assert "`response 6%`" in diag.hint and "type the ASCII colon" not in diag.hint
