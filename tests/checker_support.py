"""Helpers for the checker tests: write a small library to a temporary folder and check it."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from strategy_dsl.checker import CheckReport, check_paths

# A population, so that attribute names resolve against something; four lines long.
POPULATION = """\
population 客户 {
  size 1000
  has_app ~ bernoulli(50%)
}
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def check(root: Path, text: str, files: dict[str, str] | None = None) -> CheckReport:
    """Check ``main.strat`` (``text``) beside ``files``, from inside ``root`` so that display
    paths are relative (`main.strat`, `common/x.strat`)."""
    write(root, {"main.strat": text, **(files or {})})
    cwd = Path.cwd()
    os.chdir(root)
    try:
        return check_paths([Path("main.strat")])
    finally:
        os.chdir(cwd)


def found(report: CheckReport) -> list[tuple[str, int, int]]:
    """(code, line, column) of every diagnostic, in order."""
    return [(d.code, d.span.line, d.span.column) for d in report.diagnostics]


def codes(report: CheckReport) -> list[str]:
    return [d.code for d in report.diagnostics]
