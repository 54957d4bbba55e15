"""`stratmap fmt`: golden cases, the identity file, grammar coverage and the safety rails.

Golden cases live in tests/cases/format/*.strat, black-style: the input, a line ``# output``, and
the expected output. An optional first line ``# flags: crlf`` feeds the input with CRLF line
ends (git would normalise a CRLF file). Regenerate the expected halves with

    STRATMAP_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_formatter.py

and read the diff before committing it. identity.strat is already canonical: formatting it must
give it back byte for byte, and it must use every expansion of the grammar.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from lark import Lark, Tree

from strategy_dsl import formatter
from strategy_dsl import syntax as s
from strategy_dsl.format import printer
from strategy_dsl.formatter import FormatResult, format_file_syntax, format_text, same_tree
from strategy_dsl.parser import GRAMMAR_PATH, _lark, parse_text

CASES = Path(__file__).parent / "cases" / "format"
IDENTITY = CASES / "identity.strat"
OUTPUT_MARK = "# output\n"
FLAGS = re.compile(r"# flags: (?P<flags>.*)\n")
UPDATE = os.environ.get("STRATMAP_UPDATE_GOLDEN") == "1"


# ------------------------------------------------------------------------------ golden cases


def _golden_paths() -> list[Path]:
    return sorted(p for p in CASES.glob("*.strat") if p != IDENTITY)


def _split_case(text: str) -> tuple[set[str], str, str | None]:
    """(flags, input, expected output or None when the case has no ``# output`` yet)."""
    flags: set[str] = set()
    match = FLAGS.match(text)
    if match:
        flags = set(match["flags"].split())
        text = text[match.end() :]
    if text.startswith(OUTPUT_MARK):
        return flags, "", text[len(OUTPUT_MARK) :]
    head, mark, tail = text.partition("\n" + OUTPUT_MARK)
    if not mark:
        return flags, text, None
    return flags, head + "\n", tail


@pytest.mark.parametrize("path", _golden_paths(), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    flags, source, expected = _split_case(text)
    fed = source.replace("\n", "\r\n") if "crlf" in flags else source
    result = format_text(fed, path.name)
    assert result.diagnostics == [], result.diagnostics
    assert result.output is not None
    if UPDATE and result.output != expected:
        header = f"# flags: {' '.join(sorted(flags))}\n" if flags else ""
        path.write_text(header + source + OUTPUT_MARK + result.output, encoding="utf-8")
        expected = result.output
    assert expected is not None, f"{path.name} has no `# output` part; regenerate it"
    assert result.output == expected
    assert result.changed == (result.output != fed)
    # The expected output is canonical itself.
    again = format_text(expected, path.name)
    assert again.output == expected
    assert not again.changed


def test_there_are_enough_golden_cases() -> None:
    assert len(_golden_paths()) >= 12


# ------------------------------------------------------------------------------ identity


def test_identity_file_is_byte_identical() -> None:
    text = IDENTITY.read_text(encoding="utf-8")
    result = format_text(text, "identity.strat")
    assert result.diagnostics == []
    assert result.output == text
    assert not result.changed
    # The printer alone, without the shortcut that skips the rails on unchanged text.
    parsed = parse_text(text, "identity.strat")
    assert parsed.file is not None
    assert format_file_syntax(parsed.file, text) == text


def _grammar_names() -> set[str]:
    """Every name a tree node can carry: rule names (except `_inlined` ones and `?` rules that
    only pass a child through) and every `-> alias`."""
    names: set[str] = set()
    for rule in _lark().rules:
        if rule.alias:
            names.add(rule.alias)
        elif not rule.origin.name.startswith("_") and not rule.options.expand1:
            names.add(rule.origin.name)
    return names


def _tree_names(tree: Tree) -> set[str]:
    return {str(t.data) for t in tree.iter_subtrees()}


def test_identity_uses_every_rule_name_and_alias() -> None:
    tree = _lark().parse(IDENTITY.read_text(encoding="utf-8"))
    missing = _grammar_names() - _tree_names(tree)
    assert not missing, f"identity.strat lacks: {sorted(missing)}"


def test_identity_uses_every_expansion_of_the_grammar() -> None:
    """Stronger than rule names: every alternative, with and without each optional part, and
    each repetition at least twice. A separate Lark instance records which expansions reduce."""
    lark = Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )
    callbacks = lark.parser.parser.parser.callbacks
    used: set[object] = set()

    def recording(rule, callback):
        def call(children):
            used.add(rule)
            return callback(children)

        return call

    for rule, callback in list(callbacks.items()):
        callbacks[rule] = recording(rule, callback)
    lark.parse(IDENTITY.read_text(encoding="utf-8"))
    lark.parse("")  # the empty file is the only way to reach `start: <nothing>`
    missing = [str(rule) for rule in lark.rules if rule not in used]
    assert not missing, "identity.strat lacks:\n" + "\n".join(missing)


def test_every_syntax_node_has_a_printer() -> None:
    """One table entry per construct (as the parser has one method per rule): a node class added
    to the syntax without a way to print it fails here, not as E0900 on a user's file."""
    from strategy_dsl.format import lines

    printed = {*lines.SETTINGS, *lines.ALIGNED, *lines.HEADERS, *lines.ATOMS}
    # Printed as parts of the nodes that hold them, not through a table.
    parts = {s.Node, s.Name, s.Number, s.Text, s.Duration, s.Per, s.Comment, s.DistArg}
    parts |= {s.Distribution, s.Clamp, s.TransitionTarget, s.DrawnTarget, s.HazardTarget}
    parts |= {s.RfmLevel, s.BookShare, s.HeldShare}
    parts |= {s.Confidence, s.Metric, s.And, s.Or, s.Not, s.StrategyFile}
    nodes = {v for v in vars(s).values() if isinstance(v, type) and issubclass(v, s.Node)}
    assert nodes - printed - parts == set()


# ------------------------------------------------------------------------------ the API


def test_unparsable_input_gives_the_parser_diagnostics() -> None:
    result = format_text("rule X { response }\n", "bad.strat")
    assert result.output is None
    assert not result.changed
    assert [d.code for d in result.diagnostics] == ["E0002"]


def test_changed_reports_whether_the_text_differs() -> None:
    assert not format_text("segment a = b\n", "a.strat").changed
    assert format_text("segment a  = b\n", "a.strat").changed
    crlf = format_text("segment a = b\r\n", "a.strat")
    assert crlf.changed
    assert crlf.output == "segment a = b\n"


def test_empty_file_stays_empty() -> None:
    assert format_text("", "e.strat") == FormatResult("", [], False)
    assert format_text("\n\n", "e.strat") == FormatResult("", [], True)


def test_a_printer_that_changes_meaning_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(printer.SETTINGS, s.Response, lambda n: "response 1%")
    result = format_text("rule R {\n response 8%\n}\n", "r.strat")
    assert result.output is None
    assert [d.code for d in result.diagnostics] == ["E0900"]
    assert result.diagnostics[0].hint == "the file is left unchanged"


def test_a_printer_that_drops_a_comment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(printer, "COMMENT_GAP", "  # x ")
    result = format_text("segment a = b  # why\n", "r.strat")
    assert result.output is None
    assert [d.code for d in result.diagnostics] == ["E0900"]


def test_an_unstable_printer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each pass adds one space before `=`: the output means the same but is not a fixed point.
    original = printer.ALIGNED[s.Segment]

    def drifting(node: s.Segment) -> tuple[str, str]:
        key, rest = original(node)
        return key + " " * (node.span.column + node.span.line), rest

    monkeypatch.setitem(printer.ALIGNED, s.Segment, drifting)
    result = format_text("\nsegment a = b\n", "r.strat")
    assert result.output is None
    assert [d.code for d in result.diagnostics] == ["E0900"]


def test_a_crashing_printer_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(node: s.Node) -> str:
        raise KeyError("boom")

    monkeypatch.setitem(printer.SETTINGS, s.Import, boom)
    result = format_text('import "x.strat"\n', "r.strat")
    assert result.output is None
    assert [d.code for d in result.diagnostics] == ["E0900"]


def test_same_tree_ignores_spans_only() -> None:
    a = parse_text("segment a = b and c  # x\n", "a").file
    b = parse_text("\n\nsegment   a =\n b and\n c # x\n", "b").file
    c = parse_text("segment a = b and d  # x\n", "a").file
    d = parse_text("segment a = b and c  # y\n", "a").file
    assert a is not None and b is not None and c is not None and d is not None
    assert same_tree(a, b)
    assert not same_tree(a, c)
    assert not same_tree(a, d)
    assert formatter.strip_spans(a.items[0].name) == ("Name", ("text", "a"))


def test_comments_are_read_as_lark_reads_them() -> None:
    # str.splitlines would cut these comments at \x85 and \u2028, and end the first at \r.
    text = "segment a = b  # x\u2028y\nsegment c = d # z\x85w\nsegment e = f # g\rh\n"
    result = format_text(text, "c.strat")
    assert result.output == (
        "segment a = b  # x\u2028y\nsegment c = d  # z\x85w\nsegment e = f  # g\rh\n"
    )


# ------------------------------------------------------------------------------ speed
