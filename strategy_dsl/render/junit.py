"""Render diagnostics as JUnit XML, the report format that Jenkins, GitLab and GitHub test
reporters read: one test case per file, failing when the file has errors.

Each file checked is a ``<testcase>``; a file with errors (and, with ``strict``, warnings) gets
one ``<failure>`` whose body is the plain text rendering. Warnings that do not fail go to the
test case's ``<system-out>``. ``errors`` (crashes, in JUnit's sense) is always 0: a finding in a
strategy is a failed test, not a broken test run.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from strategy_dsl.diagnostics import Diagnostic, SourceMap
from strategy_dsl.render.text import render_text

SUITE_NAME = "stratmap check"
CLASS_NAME = "stratmap.check"

# XML 1.0 cannot carry these at all, escaped or not; ElementTree would write them raw and make
# the report unreadable to every CI system, so they become U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render_junit(
    diagnostics: Sequence[Diagnostic],
    sources: SourceMap,
    files: Sequence[str],
    *,
    strict: bool,
) -> str:
    """The whole XML document, with declaration, ending with a newline. ``files`` are the files
    checked, in report order; a file that only has diagnostics (an import) is added after them."""
    by_file = _group_by_file(diagnostics, files)
    suite = ET.Element("testsuite", name=SUITE_NAME)
    failures = sum(
        _testcase(suite, file, found, sources, strict=strict) for file, found in by_file.items()
    )
    counts = {"tests": str(len(by_file)), "failures": str(failures), "errors": "0"}
    for key, value in counts.items():
        suite.set(key, value)
    root = ET.Element("testsuites", name="stratmap", **counts)
    root.append(suite)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _group_by_file(
    diagnostics: Sequence[Diagnostic], files: Sequence[str]
) -> dict[str, list[Diagnostic]]:
    by_file: dict[str, list[Diagnostic]] = {file: [] for file in files}
    for diagnostic in diagnostics:
        by_file.setdefault(diagnostic.span.file, []).append(diagnostic)
    return by_file


def _testcase(
    suite: ET.Element,
    file: str,
    found: list[Diagnostic],
    sources: SourceMap,
    *,
    strict: bool,
) -> bool:
    """Add the file's test case to ``suite``; True if it fails."""
    case = ET.SubElement(suite, "testcase", classname=CLASS_NAME, name=xml_safe(file))
    failing = [diagnostic for diagnostic in found if strict or diagnostic.is_error]
    passing = [diagnostic for diagnostic in found if diagnostic not in failing]
    if failing:
        codes = dict.fromkeys(diagnostic.code for diagnostic in failing)
        message = "; ".join(f"{diagnostic.code}: {diagnostic.message}" for diagnostic in failing)
        failure = ET.SubElement(case, "failure", type=",".join(codes), message=xml_safe(message))
        failure.text = xml_safe(render_text(failing, sources, color=False))
    if passing:
        ET.SubElement(case, "system-out").text = xml_safe(
            render_text(passing, sources, color=False)
        )
    return bool(failing)


def xml_safe(text: str) -> str:
    """``text`` with what XML 1.0 cannot hold (control characters) as U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)
