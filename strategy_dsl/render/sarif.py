"""Render diagnostics as SARIF 2.1.0, the format code-scanning services (GitHub code scanning,
Azure DevOps, many IDEs) import.

One run, the tool ``stratmap``, one rule per catalogue code that occurs. Columns are counted in
code points, as in ``Span``, which SARIF must be told (its default is UTF-16 code units); the
end column is exclusive in both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from strategy_dsl.catalogue import CATALOGUE, CodeInfo, help_uri, plain_text
from strategy_dsl.diagnostics import Diagnostic, Span
from strategy_dsl.version import __version__

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"


def render_sarif(diagnostics: Sequence[Diagnostic]) -> str:
    """The SARIF log as indented JSON, ending with a newline."""
    rules = [info for code, info in sorted(CATALOGUE.items()) if _occurs(code, diagnostics)]
    rule_index = {info.code: index for index, info in enumerate(rules)}
    run = {
        "tool": {
            "driver": {
                "name": "stratmap",
                "version": __version__,
                "rules": [_rule(info) for info in rules],
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": [_result(diagnostic, rule_index) for diagnostic in diagnostics],
    }
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, ensure_ascii=False, indent=2) + "\n"


def _occurs(code: str, diagnostics: Sequence[Diagnostic]) -> bool:
    return any(diagnostic.code == code for diagnostic in diagnostics)


def _rule(info: CodeInfo) -> dict[str, Any]:
    return {
        "id": info.code,
        "name": info.title,
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": " ".join(info.explanation.split())},
        "help": {"text": plain_text(info.fix), "markdown": info.fix},
        "helpUri": help_uri(info.code),
        "defaultConfiguration": {"level": info.severity.value},
    }


def _result(diagnostic: Diagnostic, rule_index: dict[str, int]) -> dict[str, Any]:
    message = diagnostic.message
    if diagnostic.hint:
        message += f" (help: {diagnostic.hint})"
    location: dict[str, Any] = {"physicalLocation": _physical(diagnostic.span)}
    if diagnostic.label:
        location["message"] = {"text": diagnostic.label}
    result: dict[str, Any] = {"ruleId": diagnostic.code}
    # A code missing from the catalogue still reports; it just has no rule to point at.
    if diagnostic.code in rule_index:
        result["ruleIndex"] = rule_index[diagnostic.code]
    result |= {
        "level": diagnostic.severity.value,
        "message": {"text": message},
        "locations": [location],
    }
    if diagnostic.related:
        result["relatedLocations"] = [
            {
                "id": index,
                "physicalLocation": _physical(related.span),
                "message": {"text": related.message},
            }
            for index, related in enumerate(diagnostic.related, start=1)
        ]
    return result


def _physical(span: Span) -> dict[str, Any]:
    return {
        # SARIF wants a URI reference: a relative path, "/"-separated, non-ASCII percent-encoded.
        "artifactLocation": {"uri": quote(span.file.replace("\\", "/"), safe="/")},
        "region": {
            "startLine": span.line,
            "startColumn": span.column,
            "endLine": span.end_line,
            "endColumn": span.end_column,
        },
    }
