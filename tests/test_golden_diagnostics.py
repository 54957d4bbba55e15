"""Golden diagnostics: every catalogue code, rendered as text and as JSON from a small bad file.

Each case is a directory `tests/cases/diagnostics/<CODE>/` holding `main.strat` (plus any files
it imports) and the expected renderings `expected.txt` and `expected.json`. The golden files are
read by a person before they are committed: regenerate with `STRATMAP_UPDATE_GOLDEN=1 pytest
tests/test_golden_diagnostics.py`, then read `git diff`.

A case is small and produces its own code; anything else it produces may only be a warning. Most
cases use Chinese names, so that the carets under double-width characters are checked too.
E0008's `main.strat` is a symbolic link to a file that does not exist (a broken link is one of
the ways a file cannot be read). The `.gitattributes` beside the cases keeps every byte as it is
(E0004 is GBK, E0005 holds NUL bytes, and no line ending may be converted).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from strategy_dsl.catalogue import CATALOGUE
from strategy_dsl.checker import check_paths
from strategy_dsl.render.json_format import render_json
from strategy_dsl.render.text import render_text

CASES = Path(__file__).parent / "cases" / "diagnostics"
UPDATE = os.environ.get("STRATMAP_UPDATE_GOLDEN") == "1"
# Codes a file on disk cannot produce in a golden case, because `check` never reports them.
NOT_REPRODUCIBLE_HERE: set[str] = {
    # `stratmap fmt` reports it when its safety rails fail; no known input does that, so
    # tests/test_formatter.py breaks the printer on purpose (test_a_printer_that_…_is_refused,
    # test_a_crashing_printer_is_reported_not_raised) to test it.
    "E0900",
    # `stratmap test` finds the `T` codes on simulated numbers and personas, not `check`;
    # tests/test_suite_cmd.py asserts their rendered text and runs their catalogue examples.
    "T0101",
    "T0102",
    "T0201",
    "T0301",
}
# The one case allowed to be large: it is about file size.
LARGE_CASES = {"E0006"}


def _main(case: Path) -> Path:
    return case / "main.strat"


def _cases() -> list[str]:
    # is_symlink: E0008's main.strat is a broken link, which exists() calls absent.
    return sorted(p.name for p in CASES.iterdir() if _main(p).exists() or _main(p).is_symlink())


def _render(case: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str, str]:
    monkeypatch.chdir(case)
    report = check_paths([Path("main.strat")], root=Path("."))
    text = render_text(report.diagnostics, report.sources, color=False)
    document = render_json(report.diagnostics, files_checked=len(report.files))
    return [d.code for d in report.diagnostics], text, document


@pytest.mark.parametrize("code", _cases())
def test_golden(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES / code
    codes, text, document = _render(case, monkeypatch)
    assert code in codes, f"{code} case produced {codes}"
    others = [c for c in codes if c != code and c.startswith("E")]
    assert not others, f"{code} case also produced {others}: keep each case to its own code"
    assert "Traceback" not in text
    json.loads(document)
    expected_text, expected_json = case / "expected.txt", case / "expected.json"
    if UPDATE:
        expected_text.write_text(text, encoding="utf-8")
        expected_json.write_text(document, encoding="utf-8")  # render_json ends with "\n"
    assert text == expected_text.read_text(encoding="utf-8")
    assert document == expected_json.read_text(encoding="utf-8")


def test_every_code_has_a_golden_case() -> None:
    missing = sorted(set(CATALOGUE) - set(_cases()) - NOT_REPRODUCIBLE_HERE)
    assert missing == []


def test_cases_are_catalogued_codes() -> None:
    folders = sorted(p.name for p in CASES.iterdir() if p.is_dir())
    assert [f for f in folders if f not in CATALOGUE] == []
    assert folders == _cases(), "every case folder needs a main.strat"
    assert NOT_REPRODUCIBLE_HERE.issubset(CATALOGUE)
    assert NOT_REPRODUCIBLE_HERE.isdisjoint(folders)


def test_cases_are_small() -> None:
    for code in _cases():
        if code in LARGE_CASES:
            continue
        for path in (CASES / code).rglob("*.strat"):
            if path.is_file():
                assert path.stat().st_size <= 1024, f"{path} is not a small case"


def test_golden_cases_include_a_cjk_line() -> None:
    cjk = [
        c
        for c in _cases()
        if any(
            "\u4e00" <= ch <= "\u9fff"
            for ch in (CASES / c / "expected.txt").read_text(encoding="utf-8")
        )
    ]
    assert len(cjk) >= 10
