"""Render diagnostics as GitHub Actions workflow commands, which GitHub shows as annotations on
the pull request's changed lines.

One command per diagnostic::

    ::error file=F,line=L,col=C,endLine=EL,endColumn=EC,title=E0204::message (help: hint)

GitHub reads ``endColumn`` as the last column marked (inclusive) and supports columns only on a
single line, so a span over several lines gives ``col`` without ``endColumn``.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategy_dsl.diagnostics import Diagnostic

# https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts (escapeData,
# escapeProperty): "%" first, so that the escapes themselves are not escaped again.
_DATA_ESCAPES = (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY_ESCAPES = (*_DATA_ESCAPES, (":", "%3A"), (",", "%2C"))


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    """One workflow command per line, in the order given; empty when there is nothing."""
    return "".join(github_command(diagnostic) + "\n" for diagnostic in diagnostics)


def github_command(diagnostic: Diagnostic) -> str:
    span = diagnostic.span
    properties = [("file", span.file), ("line", str(span.line)), ("col", str(span.column))]
    if span.end_line == span.line:
        last_column = max(span.column, span.end_column - 1)
        properties += [("endLine", str(span.end_line)), ("endColumn", str(last_column))]
    else:
        properties.append(("endLine", str(span.end_line)))
    properties.append(("title", diagnostic.code))
    listed = ",".join(f"{key}={_escape(value, _PROPERTY_ESCAPES)}" for key, value in properties)
    message = diagnostic.message
    if diagnostic.hint:
        message += f" (help: {diagnostic.hint})"
    return f"::{diagnostic.severity.value} {listed}::{_escape(message, _DATA_ESCAPES)}"


def _escape(text: str, escapes: tuple[tuple[str, str], ...]) -> str:
    for raw, escaped in escapes:
        text = text.replace(raw, escaped)
    return text
