"""Diagnostics are values: a code, a severity, where, what, and how to fix it.

Nothing here renders text for a terminal; see ``strategy_dsl.render`` for that. Every code used
anywhere must be listed in ``docs/diagnostics.md`` (a test enforces it), so that
``stratmap explain CODE`` can show an example and a fix.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A region of a source file. Lines and columns are 1-based; columns count characters
    (code points), not bytes or terminal cells. ``end_column`` is exclusive."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def merge(self, other: Span) -> Span:
        """The smallest span covering both (same file)."""
        start = min((self.line, self.column), (other.line, other.column))
        end = max((self.end_line, self.end_column), (other.end_line, other.end_column))
        return Span(
            file=self.file, line=start[0], column=start[1], end_line=end[0], end_column=end[1]
        )

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Related(BaseModel):
    """Another place that explains a diagnostic (the first declaration of a duplicate, the
    rule that shadows another)."""

    model_config = ConfigDict(frozen=True)

    span: Span
    message: str


class Diagnostic(BaseModel):
    """One finding. ``label`` is the short text printed beside the carets; ``message`` the
    title line; ``hint`` the ``help:`` line. ``code`` is stable and what tests assert on."""

    model_config = ConfigDict(frozen=True)

    code: str
    severity: Severity
    message: str
    span: Span
    label: str = ""
    hint: str | None = None
    related: tuple[Related, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.line, self.span.column, self.code)


def error(
    code: str,
    message: str,
    span: Span,
    label: str = "",
    hint: str | None = None,
    related: tuple[Related, ...] = (),
) -> Diagnostic:
    return Diagnostic(
        code=code,
        severity=Severity.ERROR,
        message=message,
        span=span,
        label=label,
        hint=hint,
        related=related,
    )


def warning(
    code: str,
    message: str,
    span: Span,
    label: str = "",
    hint: str | None = None,
    related: tuple[Related, ...] = (),
) -> Diagnostic:
    return Diagnostic(
        code=code,
        severity=Severity.WARNING,
        message=message,
        span=span,
        label=label,
        hint=hint,
        related=related,
    )


class SourceMap:
    """The text of every file a run has read, so renderers can quote lines."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}

    def add(self, file: str, text: str) -> None:
        # Split on "\n" only, as Lark counts lines: str.splitlines() would also break at form
        # feeds and U+2028, and a quoted line would then be the wrong one.
        self._lines[file] = [line.removesuffix("\r") for line in text.split("\n")]

    def line(self, file: str, number: int) -> str | None:
        lines = self._lines.get(file)
        if lines is None or not 1 <= number <= len(lines):
            return None
        return lines[number - 1]

    def __contains__(self, file: str) -> bool:
        return file in self._lines
