"""Render diagnostics as a stable, versioned JSON document for scripts and dashboards.

The shape is ``stratmap.diagnostics/1``; a change that could break a reader gets a new version
number rather than a silent change. Diagnostics keep the order they are given in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from strategy_dsl.catalogue import help_uri
from strategy_dsl.diagnostics import Diagnostic, Span

SCHEMA = "stratmap.diagnostics/1"


def render_json(diagnostics: Sequence[Diagnostic], *, files_checked: int) -> str:
    """The whole document, indented, UTF-8 names kept as they are, ending with a newline."""
    errors = sum(1 for diagnostic in diagnostics if diagnostic.is_error)
    document = {
        "schema": SCHEMA,
        "summary": {
            "errors": errors,
            "warnings": len(diagnostics) - errors,
            "files": files_checked,
        },
        "diagnostics": [diagnostic_record(diagnostic) for diagnostic in diagnostics],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def diagnostic_record(diagnostic: Diagnostic) -> dict[str, Any]:
    """One diagnostic as a JSON object. ``label`` is "" and ``hint`` null when absent."""
    return {
        "code": diagnostic.code,
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "label": diagnostic.label,
        "hint": diagnostic.hint,
        **_location(diagnostic.span),
        "related": [
            {"message": related.message, **_location(related.span)}
            for related in diagnostic.related
        ],
        "url": help_uri(diagnostic.code),
    }


def _location(span: Span) -> dict[str, Any]:
    return {
        "file": span.file,
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
    }
