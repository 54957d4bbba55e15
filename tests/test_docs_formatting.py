"""docs/formatting.md shows a file before and after `stratmap fmt`: the "after" must be what
the formatter really prints for the "before"."""

from __future__ import annotations

import re
from pathlib import Path

from strategy_dsl.formatter import format_text

DOC = Path(__file__).resolve().parents[1] / "docs" / "formatting.md"


def test_before_and_after_example_is_true() -> None:
    blocks = re.findall(r"```strat fragment\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    before, after = blocks[:2]
    result = format_text(before, "formatting.md")
    assert result.diagnostics == []
    assert result.output == after
