"""Rendering `stratmap test` records: failures as diagnostics, a pytest-like summary, JSON,
GitHub annotations and JUnit XML.

A record (``runner.run_job``) is plain data. Every failure becomes a ``Diagnostic`` with a
`T` code from the catalogue (T0101 expectation not met, T0102 cannot be measured, T0201 persona
outcome not met, T0301 cannot be simulated), pointing at the source line, so the text, GitHub
and JUnit outputs show it the way `stratmap check` shows a finding: file, line, column, caret,
what was measured and a hint.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from strategy_dsl.diagnostics import Diagnostic, Severity, SourceMap, Span
from strategy_dsl.render.junit import xml_safe
from strategy_dsl.render.text import render_text
from stratmap import __version__

SCHEMA = "stratmap.test/1"
SUITE_CLASS = "stratmap.test"


@dataclass
class FileResult:
    """What `stratmap test` found for one file: check diagnostics (errors fail it), and for a
    map its record. ``cached`` when the record came from the cache."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    record: dict[str, Any] | None = None
    cached: bool = False
    is_map: bool = False

    def cases(self) -> list[Case]:
        return list(_cases(self))

    @property
    def failed(self) -> bool:
        return any(not case.passed for case in self.cases())


@dataclass(frozen=True)
class Case:
    """One test: the check of a file, an expectation, a persona, or the simulation itself."""

    name: str
    kind: str  # check | expectation | persona | simulation
    passed: bool
    failures: tuple[Diagnostic, ...] = ()
    detail: str = ""  # shown for passing cases too (the measured value)


def format_value(value: float | None, unit: str, *, difference: bool = False) -> str:
    """``stratmap.tables.format_value``, imported when first used: `stratmap check` builds
    the command line (this module included) and must start without rich."""
    from stratmap.tables import format_value as formatted

    return formatted(value, unit, difference=difference)


def _span(data: Mapping[str, Any]) -> Span:
    return Span(**data)


def _unit(record: Mapping[str, Any]) -> tuple[str, bool]:
    """How to show an expectation's value: its unit, and whether it is a difference (signed,
    shares in percentage points)."""
    difference = " uplift vs " in f" {record['metric']} " or record.get("against") is not None
    return record["unit"], difference


def measured(record: Mapping[str, Any]) -> str:
    """``16.2% [15.9%, 16.5%]``: the mean and its 95% interval across replications."""
    unit, difference = _unit(record)
    text = format_value(record.get("value"), unit, difference=difference)
    if record.get("low") is not None and record.get("high") is not None:
        low = format_value(record["low"], unit, difference=difference)
        high = format_value(record["high"], unit, difference=difference)
        text += f" [{low}, {high}]"
    return text


def _expected(record: Mapping[str, Any]) -> str:
    unit, difference = _unit(record)
    if record.get("against") is not None:
        return f"{record['op']} 0"  # the difference of the two metrics
    return f"{record['op']} {format_value(record['threshold'], unit, difference=difference)}"


def expectation_message(record: Mapping[str, Any]) -> str:
    """One line saying what was measured against what was expected."""
    unit, difference = _unit(record)
    what = record.get("metric_source") or record["metric"]
    if record.get("against") is not None:
        what = f"{what} − {record.get('against_source') or record['against']}"
    if record.get("confidence") is not None:
        side = "lower" if record["op"] in (">", ">=") else "upper"
        level = f"{record['confidence'] * 100:g}%"
        bound = format_value(record.get("bound"), unit, difference=difference)
        return (
            f"the {level} {side} bound of `{what}` is {bound} (mean {measured(record)}); "
            f"expected {_expected(record)} with {level} confidence"
        )
    return f"`{what}` is {measured(record)}; expected {_expected(record)}"


def _diagnostic(code: str, message: str, span: Span, label: str, hint: str | None) -> Diagnostic:
    return Diagnostic(
        code=code, severity=Severity.ERROR, message=message, span=span, label=label, hint=hint
    )


def _expectation_case(record: Mapping[str, Any]) -> Case:
    span = _span(record["span"])
    name = "expect " + (record.get("source") or f"{record['metric']} {_expected(record)}")
    if record.get("error"):
        failure = _diagnostic(
            "T0102",
            f"expectation cannot be measured: {record['error']}",
            span,
            "cannot be measured",
            record.get("hint"),
        )
        return Case(name, "expectation", False, (failure,))
    detail = expectation_message(record)
    if record["passed"]:
        return Case(name, "expectation", True, detail=detail)
    failure = _diagnostic(
        "T0101",
        f"expectation not met: {detail}",
        span,
        f"measured {measured(record)}",
        "see the forecast with `stratmap simulate FILE`; fix the strategy, or state a promise "
        "the forecast supports",
    )
    return Case(name, "expectation", False, (failure,))


def _persona_case(record: Mapping[str, Any]) -> Case:
    failures = tuple(
        _diagnostic(
            "T0201",
            f"persona `{record['name']}`: expected {o['text']}, but {o['message']}",
            _span(o["span"]),
            "not what the strategy decided",
            "run the persona's customer through `stratmap trace` to see every candidate, or "
            "fix the rule if the persona states what the bank wants",
        )
        for o in record["outcomes"]
        if not o["passed"]
    )
    return Case(f"persona {record['name']}", "persona", not failures, failures)


def _cases(result: FileResult):
    errors = [d for d in result.diagnostics if d.is_error]
    yield Case("check", "check", not errors, tuple(errors))
    record = result.record
    if record is None:
        return
    if record.get("error"):
        span = Span(file=result.file, line=1, column=1, end_line=1, end_column=2)
        failure = _diagnostic(
            "T0301",
            f"cannot simulate `{record.get('strategy')}`: {record['error']}",
            span,
            "not simulated",
            record.get("hint"),
        )
        yield Case("simulate", "simulation", False, (failure,))
    for persona in record.get("personas", []):
        yield _persona_case(persona)
    for expectation in record.get("expectations", []):
        yield _expectation_case(expectation)


# ------------------------------------------------------------------------------ text


def failure_text(results: Sequence[FileResult], sources: SourceMap, *, color: bool) -> str:
    """Every failing case rendered as `stratmap check` renders a diagnostic."""
    found = [d for result in results for case in result.cases() for d in case.failures]
    return render_text(found, sources, color=color) if found else ""


def progress_line(result: FileResult) -> str:
    """``strategies/x.strat ....F.  (5.2 s)``: one character per case, as pytest does."""
    marks = "".join("." if case.passed else "F" for case in result.cases())
    record = result.record
    if record is None:
        timing = "checked" if not result.is_map else ""
    elif result.cached:
        timing = "cached"
    else:
        timing = f"{record.get('seconds', 0):.1f} s"
    return f"{result.file} {marks}" + (f"  ({timing})" if timing else "")


def counts(results: Sequence[FileResult]) -> dict[str, int]:
    cases = [case for result in results for case in result.cases()]
    return {
        "files": len(results),
        "maps": sum(1 for r in results if r.is_map),
        "cached": sum(1 for r in results if r.cached),
        "passed": sum(1 for c in cases if c.passed),
        "failed": sum(1 for c in cases if not c.passed),
        "expectations": sum(1 for c in cases if c.kind == "expectation"),
        "personas": sum(1 for c in cases if c.kind == "persona"),
    }


def summary_line(results: Sequence[FileResult], seconds: float) -> str:
    n = counts(results)
    parts = []
    if n["failed"]:
        parts.append(f"{n['failed']} failed")
    parts.append(f"{n['passed']} passed")
    cached = f", {n['cached']} of {n['maps']} maps from cache" if n["cached"] else ""
    return f"{', '.join(parts)} in {seconds:.1f} s{cached}"


# ------------------------------------------------------------------------------ json, github


def render_json(results: Sequence[FileResult], seconds: float) -> str:
    document = {
        "schema": SCHEMA,
        "tool_version": __version__,
        "summary": {**counts(results), "seconds": round(seconds, 3)},
        "files": [
            {
                "file": result.file,
                "passed": not result.failed,
                "cached": result.cached,
                "diagnostics": [d.model_dump(mode="json") for d in result.diagnostics],
                "cases": [
                    {
                        "name": case.name,
                        "kind": case.kind,
                        "passed": case.passed,
                        "detail": case.detail or None,
                        "failures": [d.model_dump(mode="json") for d in case.failures],
                    }
                    for case in result.cases()
                ],
                "record": result.record,
            }
            for result in results
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def render_github(results: Sequence[FileResult]) -> str:
    from strategy_dsl.render.github import github_command

    lines = [
        github_command(d) for result in results for case in result.cases() for d in case.failures
    ]
    lines += [
        github_command(d)
        for result in results
        for d in result.diagnostics
        if not d.is_error  # warnings: annotations that do not fail
    ]
    return "".join(line + "\n" for line in lines)


# ------------------------------------------------------------------------------ junit


def render_junit(results: Sequence[FileResult], sources: SourceMap, seconds: float) -> str:
    """One ``<testsuite>`` per file, one ``<testcase>`` per check, persona and expectation; a
    failing case carries a ``<failure>`` with the rendered diagnostic; a passing expectation
    says what was measured in ``<system-out>``."""
    n = counts(results)
    root = ET.Element(
        "testsuites",
        name="stratmap test",
        tests=str(n["passed"] + n["failed"]),
        failures=str(n["failed"]),
        errors="0",
        time=f"{seconds:.3f}",
    )
    for index, result in enumerate(results):
        cases = result.cases()
        record = result.record or {}
        suite = ET.SubElement(
            root,
            "testsuite",
            name=xml_safe(result.file),
            tests=str(len(cases)),
            failures=str(sum(1 for c in cases if not c.passed)),
            errors="0",
            skipped="0",
            time=f"{0.0 if result.cached else record.get('seconds', 0.0):.3f}",
            id=str(index),
        )
        for case in cases:
            element = ET.SubElement(
                suite,
                "testcase",
                name=xml_safe(case.name),
                classname=xml_safe(f"{SUITE_CLASS}.{result.file}"),
                time="0.000",
            )
            if case.failures:
                failure = ET.SubElement(
                    element,
                    "failure",
                    message=xml_safe("; ".join(d.message for d in case.failures)),
                    type=",".join(dict.fromkeys(d.code for d in case.failures)),
                )
                failure.text = xml_safe(render_text(list(case.failures), sources, color=False))
            elif case.detail:
                ET.SubElement(element, "system-out").text = xml_safe(case.detail)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
