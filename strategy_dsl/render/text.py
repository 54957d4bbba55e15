"""Render diagnostics as human-readable text with quoted source and carets (Rust/Elm style).

The shape, for one diagnostic::

    error[E0204]: unknown segment `临界财富s`
      --> strategies/wealth.strat:54:8
       |
    54 |   when 临界财富s and not 私行
       |        ^^^^^^^^^ not declared
       |
    help: did you mean `临界财富` (declared at strategies/wealth.strat:31:9)?

Carets are placed by terminal column width (a CJK character takes two cells), tabs are expanded
to stops of ``TAB_WIDTH`` in the quoted line and in the caret line alike, and each ``Related``
place follows as ``note: message`` with its own snippet, underlined with ``-`` as rustc marks
secondary places. This text is for people; machines read the JSON, JUnit, GitHub or SARIF forms.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

from wcwidth import wcswidth

from strategy_dsl.diagnostics import Diagnostic, Severity, SourceMap, Span

TAB_WIDTH = 4

# Characters that would move the cursor, recolour the terminal or reorder the line if quoted
# as they are (C0/C1 controls, bidirectional overrides as in "Trojan Source"); each is shown as
# one U+FFFD so a hostile or damaged file cannot rewrite what the reader sees.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_REPLACEMENT = "\ufffd"

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_BOLD_RED = "\x1b[1;31m"
_BOLD_YELLOW = "\x1b[1;33m"
_BOLD_BLUE = "\x1b[1;34m"

_SEVERITY_STYLE = {Severity.ERROR: _BOLD_RED, Severity.WARNING: _BOLD_YELLOW}


class _Painter:
    """Wraps text in ANSI styles, or leaves it alone when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, style: str, text: str) -> str:
        if not self.color or not text:
            return text
        return f"{style}{text}{_RESET}"


def render_text(diagnostics: Sequence[Diagnostic], sources: SourceMap, *, color: bool) -> str:
    """All diagnostics, in the order given, separated by a blank line; ends with a newline
    unless there is nothing to say."""
    paint = _Painter(color)
    blocks = [_render_one(diagnostic, sources, paint) for diagnostic in diagnostics]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _render_one(diagnostic: Diagnostic, sources: SourceMap, paint: _Painter) -> str:
    style = _SEVERITY_STYLE[diagnostic.severity]
    gutter = _gutter_width(diagnostic)
    lines = [
        paint(style, f"{diagnostic.severity.value}[{diagnostic.code}]")
        + paint(_BOLD, f": {diagnostic.message}")
    ]
    snippet, quoted = _snippet(
        diagnostic.span, diagnostic.label, "^", style, sources, gutter, paint
    )
    lines.extend(snippet)
    for related in diagnostic.related:
        lines.extend(_closing_pipe(quoted, gutter, paint))
        lines.append(paint(_BOLD, "note") + f": {related.message}")
        snippet, quoted = _snippet(related.span, "", "-", _BOLD_BLUE, sources, gutter, paint)
        lines.extend(snippet)
    if diagnostic.hint:
        lines.extend(_closing_pipe(quoted, gutter, paint))
        lines.append(paint(_BOLD, "help") + f": {diagnostic.hint}")
    return "\n".join(lines)


def _closing_pipe(quoted: bool, gutter: int, paint: _Painter) -> list[str]:
    # A quoted snippet is closed by an empty gutter line before a note or help; a bare "-->"
    # line (source not at hand) needs none.
    return [_gutter_line(gutter, paint)] if quoted else []


def _gutter_width(diagnostic: Diagnostic) -> int:
    """Digits of the largest line number quoted, shared by all snippets so the pipes align."""
    spans = [diagnostic.span, *(related.span for related in diagnostic.related)]
    return max(len(str(span.line)) for span in spans)


def _gutter_line(gutter: int, paint: _Painter) -> str:
    return " " * (gutter + 1) + paint(_BOLD_BLUE, "|")


def _snippet(
    span: Span,
    label: str,
    marker: str,
    style: str,
    sources: SourceMap,
    gutter: int,
    paint: _Painter,
) -> tuple[list[str], bool]:
    """The ``-->`` line and, when the source is at hand, the quoted line with its underline;
    also whether a line was quoted."""
    arrow = " " * gutter + paint(_BOLD_BLUE, "-->") + f" {span}"
    source_line = _quoted_line(span, sources)
    if source_line is None:
        # No line to quote (the file could not be read or decoded): keep the label, which
        # says what was found there ("byte 0xc1 is not UTF-8").
        if label:
            return [arrow, " " * (gutter + 1) + paint(style, f"= {label}")], False
        return [arrow], False
    shown, offset, width = caret_columns(source_line, span)
    number = paint(_BOLD_BLUE, f"{span.line:>{gutter}} |")
    underline = paint(style, f"{marker * width} {label}".rstrip())
    lines = [
        arrow,
        _gutter_line(gutter, paint),
        f"{number} {shown}".rstrip(),
        f"{_gutter_line(gutter, paint)} {' ' * offset}{underline}",
    ]
    return lines, True


def _quoted_line(span: Span, sources: SourceMap) -> str | None:
    """The text of the span's first line; an empty line for the line just past the end of the
    file (where "unexpected end of file" points); None when the file was never read."""
    if span.file not in sources:
        return None
    text = sources.line(span.file, span.line)
    if text is not None:
        return text
    past_the_end = span.line == 1 or sources.line(span.file, span.line - 1) is not None
    return "" if past_the_end else None


def caret_columns(line: str, span: Span) -> tuple[str, int, int]:
    """The line as it is printed, the terminal cell where the span starts, and how many cells
    to mark.

    Only the span's first line is marked: a span that runs on is underlined to the end of that
    line. An empty span (end of file, a missing token) gets one caret.
    """
    start = min(max(span.column, 1), len(line) + 1) - 1
    if span.end_line > span.line:
        end = len(line)
    elif span.end_line == span.line:
        end = min(max(span.end_column - 1, start), len(line))
    else:
        end = start
    # Printed piece by piece because a tab's width depends on the cell it starts in.
    before = _printable(line[:start], 0)
    offset = _cells(before)
    marked = _printable(line[start:end], offset)
    after = _printable(line[end:], offset + _cells(marked))
    return before + marked + after, offset, max(_cells(marked), 1)


def _printable(text: str, column: int) -> str:
    """``text`` as it is printed when it starts at terminal cell ``column``: tabs expanded to the
    next stop, controls and bidi overrides replaced."""
    out: list[str] = []
    for char in text:
        if char == "\t":
            pad = TAB_WIDTH - column % TAB_WIDTH
            out.append(" " * pad)
            column += pad
            continue
        if _is_control(char):
            char = _REPLACEMENT
        out.append(char)
        column += _cells(char)
    return "".join(out)


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or char in _BIDI_CONTROLS


def _cells(text: str) -> int:
    width = wcswidth(text)
    # wcswidth says -1 for anything it cannot measure; _printable has removed controls, so
    # this is a last resort that keeps the carets near the right place.
    return width if width >= 0 else len(text)


def summary_line(diagnostics: Sequence[Diagnostic], files_checked: int) -> str:
    """One closing line, e.g. "Found 3 errors and 1 warning in 2 files." or
    "All checks passed (12 files)."; ``files_checked`` is how many files the run read."""
    errors = sum(1 for diagnostic in diagnostics if diagnostic.is_error)
    warnings = len(diagnostics) - errors
    files = _plural(files_checked, "file")
    if not diagnostics:
        return f"All checks passed ({files})."
    found = [_plural(count, noun) for count, noun in ((errors, "error"), (warnings, "warning"))]
    return f"Found {' and '.join(part for part in found if not part.startswith('0 '))} in {files}."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def should_color(stream: TextIO) -> bool:
    """Whether to colour output written to ``stream``.

    ``NO_COLOR`` (non-empty) always turns colour off (https://no-color.org); otherwise a
    non-empty ``FORCE_COLOR`` turns it on even when piped (CI logs that understand ANSI);
    otherwise colour is used only on a terminal whose ``TERM`` is not ``dumb``. This is the
    order CPython's own ``_colorize`` uses.
    """
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False
