"""`stratmap fmt`: print a `.strat` file in the one canonical layout, keeping its meaning and
every comment.

The canonical layout
--------------------
- Indentation is two spaces per block level. A block is ``header {`` on one line, one
  statement per line inside, and ``}`` alone; a variant's overrides are blocks nested the same
  way. A block with nothing inside is ``policy {}``.
- Every statement is one line: tokens are separated by single spaces, with no space inside
  parentheses or before a comma (``normal(mean 42, sd 12)``, ``tier in (财富, 私行)``,
  ``rfm(R high, F high, M high)``, ``new -> growing 20%, churned 3%``). Lines are never
  wrapped. ``clamp 18..90`` has no spaces around ``..``; a range in a condition has them
  (``aum in 45万 .. 50万``).
- Numbers, names and strings are printed exactly as written (``5万`` stays ``5万``, ``1_000``
  stays ``1_000``, escapes in strings are kept).
- Conditions: ``a and b``, ``not a``. Parentheses are kept only where precedence needs them
  (``not`` binds tighter than ``and``, ``and`` tighter than ``or``): ``(a or b) and c`` and
  ``not (a and b)`` keep theirs, ``(a and b) or c`` becomes ``a and b or c``, and ``(a)``
  becomes ``a``.
- Alignment, measured in terminal columns (a CJK character is two): in a run of consecutive
  statements of one kind the text after the name is lined up, by padding the name with spaces:
  the ``~`` of population attributes and of market variables, the ``->`` of lifecycle rows,
  the condition of rfm axes, and, at the top level, the ``when`` of tiers and the ``=`` of
  segments and triggers. A blank line or a statement of another kind ends a run; a comment
  line does not.
- Blank lines: one blank line is kept wherever the source had one or more between two
  statements or comments, at the top level and inside blocks; none right after ``{`` or before
  ``}``, none at the start of the file. The file ends with exactly one newline (an empty file
  stays empty), lines have no trailing whitespace, and CRLF line ends become LF.
- Comments are kept verbatim (only trailing whitespace is removed), in their order:
  a comment on its own line stays on its own line before the statement that follows it, at
  that statement's indentation; one at the end of a line stays at the end of its statement's
  line, two spaces after it (after a block's ``}`` it stays after ``}``; after a block written on
  one line it goes to the header line, ``rule X {  # why``); comments before a closing ``}``
  stay inside the block, and comments at the end of the file stay there. A comment inside a
  statement written over several lines, or inside a block header, moves to the end of that
  statement's (header's) line; when there are several, the last one does and the others go on
  their own lines just before the statement.
- A comment wrapped over several lines, an end-of-line comment followed by own-line comments
  that start in the same terminal column, stays one: the continuation lines follow it and start
  under it wherever it goes (under its new column when the line got shorter).
- End-of-line comments are not aligned with each other: each is two spaces after its code.

Safety rails (as black's ``assert_equivalent`` and ``assert_stable``) run on every format: the
output must parse to the same tree as the input (spans aside), keep the same comments in the
same order, and formatting it again must change nothing. If any of these fails, the file is
left alone and E0900 is reported. ``format_text`` never raises. (When the output equals the
input, all three hold by construction and the second parse is skipped.)
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from strategy_dsl import syntax as s
from strategy_dsl.diagnostics import Diagnostic, Span, error
from strategy_dsl.format.printer import comment_texts, print_file
from strategy_dsl.parser import parse_text

__all__ = ["FormatResult", "format_file_syntax", "format_text", "same_tree", "strip_spans"]


@dataclass
class FormatResult:
    output: str | None  # None when the input does not parse (the diagnostics say why) or E0900
    diagnostics: list[Diagnostic] = field(default_factory=list)
    changed: bool = False


def format_file_syntax(file: s.StrategyFile, source: str) -> str:
    """The printer itself: ``file`` parsed from ``source`` → canonical text. No safety rails
    (``format_text`` adds them); ``source`` is needed for comment placement and blank lines."""
    return print_file(file, source.replace("\r\n", "\n"))


# Fields that say where a node was written, not what it says.
_WHERE = frozenset({"span", "path"})
# Field names of each node class except those, in declaration order (computed once per class:
# the rails walk every node of every formatted file).
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(kind: type[BaseModel]) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(n for n in kind.model_fields if n not in _WHERE)
    return names


def strip_spans(node: Any) -> Any:
    """A node as nested tuples without spans (nor the file's path): ``(class name, (field,
    value), ...)``. Two trees that differ only in where things were written strip to equal
    values; comments (``StrategyFile.comments``) count, by text and order."""
    if isinstance(node, BaseModel):
        kind = type(node)
        return (kind.__name__, *((n, strip_spans(getattr(node, n))) for n in _fields(kind)))
    if isinstance(node, tuple | list):
        return tuple(strip_spans(item) for item in node)
    return node


def same_tree(a: Any, b: Any) -> bool:
    """Whether two syntax trees (or nodes, or tuples of them) are equal when spans (and the
    file's path) are ignored: ``strip_spans(a) == strip_spans(b)``, walked without building
    the stripped copies and stopping at the first difference."""
    if isinstance(a, BaseModel):
        kind = type(a)
        return type(b) is kind and all(
            same_tree(getattr(a, n), getattr(b, n)) for n in _fields(kind)
        )
    if isinstance(a, tuple | list):
        return (
            isinstance(b, tuple | list)
            and len(a) == len(b)
            and all(same_tree(x, y) for x, y in zip(a, b, strict=True))
        )
    return bool(a == b)


def _internal_error(path: str, detail: str) -> Diagnostic:
    return error(
        "E0900",
        "the formatter could not keep the meaning of this file; please report it",
        Span(file=path, line=1, column=1, end_line=1, end_column=1),
        label=detail,
        hint="the file is left unchanged",
    )


def format_text(text: str, path: str) -> FormatResult:
    """Format one file's text. ``output`` is None when it does not parse (the parser's
    diagnostics are returned) or when the safety rails fail (E0900). Never raises."""
    # Printing and checking allocate many small objects and no cycles: as in the parser,
    # pausing the cyclic collector meanwhile roughly doubles the speed.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _format_text(text, path)
    except Exception as exc:  # a bug in the printer must not crash `stratmap fmt`
        return FormatResult(None, [_internal_error(path, f"internal error: {type(exc).__name__}")])
    finally:
        if was_enabled:
            gc.enable()


def _format_text(text: str, path: str) -> FormatResult:
    source = text.replace("\r\n", "\n")
    parsed = parse_text(source, path)
    if parsed.file is None:
        return FormatResult(None, parsed.diagnostics)
    output = print_file(parsed.file, source)
    if output == source:
        # Same text, same tree, same second pass: both rails hold without reparsing.
        return FormatResult(output, [], output != text)
    reparsed = parse_text(output, path)
    if reparsed.file is None or not same_tree(parsed.file.items, reparsed.file.items):
        return FormatResult(None, [_internal_error(path, "the output means something else")])
    # Comments are compared as Lark reads them, which is what the printer keeps (see
    # ``printer.scan_comments``), not through ``StrategyFile.comments``: that list can see a
    # comment inside a string holding \r, \f, \x85 or \u2028, and would refuse such files.
    if comment_texts(source) != comment_texts(output):
        return FormatResult(None, [_internal_error(path, "a comment would change")])
    if print_file(reparsed.file, output) != output:
        return FormatResult(None, [_internal_error(path, "a second pass changes the output")])
    return FormatResult(output, [], output != text)
