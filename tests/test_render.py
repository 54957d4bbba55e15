"""Snapshot and property tests of the diagnostic renderers and the code catalogue.

Every renderer runs on the same hand-built diagnostics (a CJK name, a tab, a span over several
lines, related places, an empty label, a file never read, zero-width spans) and is compared
byte for byte with a file in tests/snapshots/render/. To rewrite the snapshots after an
intended change, run ``STRATMAP_UPDATE_SNAPSHOTS=1 pytest tests/test_render.py`` and read the
diff before committing it.
"""

from __future__ import annotations

import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from wcwidth import wcswidth

from strategy_dsl.catalogue import CATALOGUE, explain, help_uri, main, render_markdown
from strategy_dsl.diagnostics import Diagnostic, Related, SourceMap, Span, error, warning
from strategy_dsl.render.github import render_github
from strategy_dsl.render.json_format import SCHEMA, render_json
from strategy_dsl.render.junit import render_junit
from strategy_dsl.render.sarif import render_sarif
from strategy_dsl.render.text import caret_columns, render_text, should_color, summary_line

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "render"
UPDATE_SNAPSHOTS = os.environ.get("STRATMAP_UPDATE_SNAPSHOTS") == "1"

WEALTH = "strategies/wealth.strat"
OPEN = "strategies/open.strat"
CHANNELS = "strategies/common/channels.strat"
CLEAN = "strategies/clean.strat"
UNREAD = "strategies/broken.strat"

# Files as `stratmap check` would read them. channels.strat is only imported, so it has
# diagnostics but is not among the files checked; broken.strat was never read.
WEALTH_TEXT = """\
strategy "财富客群经营 2026Q1" {
  horizon 36 months
}
segment 临界财富 = aum in 45万 .. 50万
segment 临界财富 = aum in 40万 .. 50万
rule 临界提升 priority 80 {
\twhen 临界财富s and not 私行
  offer 稳健理财 via 外呼 response 0.06
  cooldown 3 months
}
rule 大众提升 priority 90 {
  when aum in 5万 .. 50万
  offer 稳健理财 外呼 response 5%
}
"""
OPEN_TEXT = """\
product 稳健理财 {
  kind wealth
"""
CHANNELS_TEXT = """\
channel 短信 {
  cost 0.05 per contact
}
"""
CLEAN_TEXT = "segment 银发 = age >= 60\n"
FILES_CHECKED = [WEALTH, OPEN, CLEAN, UNREAD]


def span(file: str, line: int, column: int, end_line: int, end_column: int) -> Span:
    return Span(file=file, line=line, column=column, end_line=end_line, end_column=end_column)


def make_sources() -> SourceMap:
    sources = SourceMap()
    for file, text in ((WEALTH, WEALTH_TEXT), (OPEN, OPEN_TEXT), (CHANNELS, CHANNELS_TEXT)):
        sources.add(file, text)
    sources.add(CLEAN, CLEAN_TEXT)
    return sources


def make_diagnostics() -> list[Diagnostic]:
    found = [
        error(
            "E0204",
            "unknown segment `临界财富s`",
            span(WEALTH, 7, 7, 7, 12),  # after a tab: `\twhen ` is 6 code points
            label="not declared",
            hint=f"did you mean `临界财富` (declared at {WEALTH}:4:9)?",
        ),
        error(
            "E0201",
            "`临界财富` is declared twice",
            span(WEALTH, 5, 9, 5, 13),
            label="declared again here",
            hint="rename one of them, or delete the one you do not mean",
            related=(Related(span=span(WEALTH, 4, 9, 4, 13), message="first declared here"),),
        ),
        error(
            "E0301",
            "`response` is a probability, written as a percentage",
            span(WEALTH, 8, 30, 8, 34),
            label="a bare number",
            hint="write `response 6%`",
        ),
        warning(  # a span over several lines, no label
            "W0103",
            "rule `临界提升` is always pre-empted by rule `大众提升`",
            span(WEALTH, 6, 1, 10, 2),
            related=(
                Related(
                    span=span(WEALTH, 11, 6, 11, 10),
                    message="`大众提升` has priority 90 and reaches every customer `临界提升` does",
                ),
            ),
        ),
        error(  # zero width in the middle of a line
            "E0002",
            "expected `via` between the product and the channel",
            span(WEALTH, 13, 14, 13, 14),
            label="`via` goes here",
            hint="write `offer 稳健理财 via 外呼`",
        ),
        error(  # zero width just past the last line
            "E0003",
            "the file ends inside `product 稳健理财 { … }`",
            span(OPEN, 3, 1, 3, 1),
            label="file ends here",
            hint="close the block with `}`",
            related=(Related(span=span(OPEN, 1, 14, 1, 15), message="the block opens here"),),
        ),
        warning(
            "W0101",
            "channel `短信` is declared but never used",
            span(CHANNELS, 1, 9, 1, 11),
            label="never used",
        ),
        error(  # the file was never read, so there is no line to quote
            "E0008",
            "cannot read `strategies/broken.strat`: permission denied",
            span(UNREAD, 1, 1, 1, 1),
            hint="check the file's permissions (ls -l); 100% of a library must be readable",
        ),
    ]
    return sorted(found, key=Diagnostic.sort_key)


@pytest.fixture
def diagnostics() -> list[Diagnostic]:
    return make_diagnostics()


@pytest.fixture
def sources() -> SourceMap:
    return make_sources()


def assert_snapshot(name: str, actual: str) -> None:
    """Compare with the stored snapshot byte for byte, or rewrite it when asked to."""
    path = SNAPSHOTS / name
    if UPDATE_SNAPSHOTS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}; create it with STRATMAP_UPDATE_SNAPSHOTS=1")
    # Bytes, not text mode, so that a changed line ending is a difference too.
    assert actual == path.read_bytes().decode("utf-8")


# ---------------------------------------------------------------------- snapshots


def test_text_snapshot(diagnostics: list[Diagnostic], sources: SourceMap) -> None:
    assert_snapshot("text.txt", render_text(diagnostics, sources, color=False))


def test_text_color_snapshot(diagnostics: list[Diagnostic], sources: SourceMap) -> None:
    assert_snapshot("text_color.txt", render_text(diagnostics, sources, color=True))


def test_json_snapshot(diagnostics: list[Diagnostic]) -> None:
    assert_snapshot("json.json", render_json(diagnostics, files_checked=len(FILES_CHECKED)))


def test_junit_snapshot(diagnostics: list[Diagnostic], sources: SourceMap) -> None:
    assert_snapshot("junit.xml", render_junit(diagnostics, sources, FILES_CHECKED, strict=False))


def test_github_snapshot(diagnostics: list[Diagnostic]) -> None:
    assert_snapshot("github.txt", render_github(diagnostics))


def test_sarif_snapshot(diagnostics: list[Diagnostic]) -> None:
    assert_snapshot("sarif.json", render_sarif(diagnostics))


# ---------------------------------------------------------------------- text


def test_carets_under_a_cjk_name_are_as_wide_as_the_terminal_shows_it() -> None:
    line = "  when 临界财富s and not 私行"
    name = "临界财富s"
    column = line.index(name) + 1
    shown, offset, width = caret_columns(line, span(WEALTH, 1, column, 1, column + len(name)))
    assert width == wcswidth(name) == 9
    assert offset == wcswidth(line[: column - 1])
    assert shown == line


def test_the_language_reference_example_renders_exactly() -> None:
    sources = SourceMap()
    lines = [""] * 60
    lines[53] = "  when 临界财富s and not 私行"
    sources.add(WEALTH, "\n".join(lines))
    found = error(
        "E0204",
        "unknown segment `临界财富s`",
        span(WEALTH, 54, 8, 54, 13),
        label="not declared",
        hint=f"did you mean `临界财富` (declared at {WEALTH}:31:9)?",
    )
    assert render_text([found], sources, color=False) == (
        "error[E0204]: unknown segment `临界财富s`\n"
        "  --> strategies/wealth.strat:54:8\n"
        "   |\n"
        "54 |   when 临界财富s and not 私行\n"
        "   |        ^^^^^^^^^ not declared\n"
        "   |\n"
        "help: did you mean `临界财富` (declared at strategies/wealth.strat:31:9)?\n"
    )


def test_tabs_expand_to_the_same_stops_in_the_line_and_under_it() -> None:
    shown, offset, width = caret_columns("a\tb\t临", span(WEALTH, 1, 5, 1, 6))
    assert shown == "a   b   临"
    assert (offset, width) == (8, 2)


def test_controls_and_bidi_overrides_are_not_passed_to_the_terminal() -> None:
    shown, offset, width = caret_columns("x\x1b[31m\u202ey", span(WEALTH, 1, 8, 1, 9))
    assert "\x1b" not in shown and "\u202e" not in shown
    assert (offset, width) == (7, 1)


def test_an_empty_span_gets_one_caret() -> None:
    assert caret_columns("abc", span(WEALTH, 1, 4, 1, 4))[1:] == (3, 1)
    assert caret_columns("", span(WEALTH, 1, 1, 1, 1))[1:] == (0, 1)


def test_a_related_place_in_a_file_never_read_is_named_not_quoted(sources: SourceMap) -> None:
    found = error(
        "E0201",
        "`银发` is declared twice",
        span(CLEAN, 1, 9, 1, 11),
        hint="rename one",
        related=(Related(span=span(UNREAD, 3, 9, 3, 11), message="first declared here"),),
    )
    assert render_text([found], sources, color=False).splitlines()[-4:] == [
        "  |",
        "note: first declared here",
        f" --> {UNREAD}:3:9",
        "help: rename one",
    ]


def test_nothing_to_render_is_empty() -> None:
    assert render_text([], SourceMap(), color=True) == ""


def test_colour_only_when_asked(diagnostics: list[Diagnostic], sources: SourceMap) -> None:
    assert "\x1b[" not in render_text(diagnostics, sources, color=False)
    assert "\x1b[1;31m" in render_text(diagnostics, sources, color=True)


@pytest.mark.parametrize(
    ("errors", "warnings", "files", "expected"),
    [
        (3, 1, 2, "Found 3 errors and 1 warning in 2 files."),
        (1, 0, 1, "Found 1 error in 1 file."),
        (0, 2, 5, "Found 2 warnings in 5 files."),
        (0, 0, 12, "All checks passed (12 files)."),
        (0, 0, 1, "All checks passed (1 file)."),
    ],
)
def test_summary_line(errors: int, warnings: int, files: int, expected: str) -> None:
    where = span(WEALTH, 1, 1, 1, 2)
    found = [error("E0204", "x", where)] * errors + [warning("W0101", "y", where)] * warnings
    assert summary_line(found, files) == expected


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),
        (True, {"TERM": "dumb"}, False),
        (False, {"FORCE_COLOR": "1"}, True),
        (True, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
    ],
)
def test_should_color(
    monkeypatch: pytest.MonkeyPatch, tty: bool, env: dict[str, str], expected: bool
) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert should_color(_Stream(tty)) is expected


# ---------------------------------------------------------------------- machine formats


def test_json_document_shape(diagnostics: list[Diagnostic]) -> None:
    document = json.loads(render_json(diagnostics, files_checked=4))
    assert document["schema"] == SCHEMA
    assert document["summary"] == {"errors": 6, "warnings": 2, "files": 4}
    assert [item["code"] for item in document["diagnostics"]] == [d.code for d in diagnostics]
    assert document["diagnostics"][0]["url"] == help_uri(diagnostics[0].code)


def test_junit_parses_and_counts(diagnostics: list[Diagnostic], sources: SourceMap) -> None:
    root = ET.fromstring(render_junit(diagnostics, sources, FILES_CHECKED, strict=False))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    # The four files checked, then the imported file that has a warning.
    assert list(cases) == [*FILES_CHECKED, CHANNELS]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "3", "0")
    assert cases[CLEAN].find("failure") is None
    assert cases[CHANNELS].find("failure") is None
    assert "W0101" in (cases[CHANNELS].findtext("system-out") or "")
    failure = cases[WEALTH].find("failure")
    assert failure is not None
    assert failure.get("type") == "E0201,E0204,E0301,E0002"
    assert "\x1b" not in (failure.text or "")


def test_junit_strict_fails_on_warnings(diagnostics: list[Diagnostic], sources: SourceMap) -> None:
    root = ET.fromstring(render_junit(diagnostics, sources, FILES_CHECKED, strict=True))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "4"


def test_junit_survives_characters_xml_cannot_hold(sources: SourceMap) -> None:
    found = error("E0001", "unexpected character `\x01`", span(CLEAN, 1, 1, 1, 2))
    ET.fromstring(render_junit([found], sources, [CLEAN], strict=False))


def test_github_escapes_properties_and_data() -> None:
    found = error(
        "E0204",
        "50% of\nit",
        span("a,b:c.strat", 2, 3, 2, 7),
        hint="x\r",
    )
    assert render_github([found]) == (
        "::error file=a%2Cb%3Ac.strat,line=2,col=3,endLine=2,endColumn=6,title=E0204"
        "::50%25 of%0Ait (help: x%0D)\n"
    )


def test_sarif_is_structurally_valid(diagnostics: list[Diagnostic]) -> None:
    log = json.loads(render_sarif(diagnostics))
    assert log["version"] == "2.1.0" and "$schema" in log
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "stratmap" and driver["version"]
    rules = driver["rules"]
    assert [rule["id"] for rule in rules] == sorted({d.code for d in diagnostics})
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning"}
        assert rule["helpUri"] == f"docs/diagnostics.md#{rule['id'].lower()}"
    assert len(run["results"]) == len(diagnostics)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"error", "warning"} and result["message"]["text"]
        for location in result["locations"] + result.get("relatedLocations", []):
            physical = location["physicalLocation"]
            assert physical["artifactLocation"]["uri"]
            region = physical["region"]
            assert all(region[key] >= 1 for key in ("startLine", "startColumn", "endLine"))


def test_sarif_uris_are_percent_encoded() -> None:
    found = error("E0204", "x", span("strategies/财富 客群.strat", 1, 1, 1, 2))
    (result,) = json.loads(render_sarif([found]))["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "strategies/%E8%B4%A2%E5%AF%8C%20%E5%AE%A2%E7%BE%A4.strat"


# ---------------------------------------------------------------------- catalogue


def test_every_code_is_complete_and_well_formed() -> None:
    for code, info in CATALOGUE.items():
        assert code == info.code and re.fullmatch(r"[EWT]\d{4}", code)  # T: `stratmap test`
        assert info.severity.value == ("warning" if code.startswith("W") else "error")
        for field in (info.title, info.explanation, info.example, info.fix):
            assert field.strip(), f"{code} has an empty field"


def test_fixture_codes_are_catalogued(diagnostics: list[Diagnostic]) -> None:
    assert {d.code for d in diagnostics} <= CATALOGUE.keys()


def test_docs_page_is_generated_from_the_catalogue() -> None:
    page = ROOT / "docs" / "diagnostics.md"
    assert page.read_bytes().decode("utf-8") == render_markdown(), (
        "docs/diagnostics.md is stale: python -m strategy_dsl.catalogue --write docs/diagnostics.md"
    )


def test_every_code_has_an_anchor_in_the_docs() -> None:
    page = render_markdown()
    for code in CATALOGUE:
        assert f'<a id="{code.lower()}"></a>\n\n## {code} — ' in page


def test_explain_ignores_case_and_knows_only_catalogued_codes() -> None:
    page = explain("e0204")
    assert page is not None and page.startswith("E0204: unknown segment (error)")
    assert "when 临界财富s" in page
    assert explain("E9999") is None


def test_catalogue_command_writes_and_checks(tmp_path: Path) -> None:
    page = tmp_path / "diagnostics.md"
    assert main(["--check", str(page)]) == 1
    assert main(["--write", str(page)]) == 0
    assert main(["--check", str(page)]) == 0
    page.write_text("stale\n", encoding="utf-8")
    assert main(["--check", str(page)]) == 1
