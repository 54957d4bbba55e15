"""How fast `stratmap fmt` is, against the bare parse of the same text (baseline, same run).

pytest bench/bench_fmt.py --benchmark-only -s
"""

from __future__ import annotations

from pathlib import Path

import pytest

from strategy_dsl.formatter import format_file_syntax, format_text
from strategy_dsl.parser import parse_text

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def big() -> str:
    """The bundled library concatenated 10 times under fresh names (~6,000 lines)."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((REPO / "strategies").glob("*.strat"))]
    return "\n".join(
        t.replace('strategy "', f'# copy {i}\nstrategy "') for i in range(10) for t in texts
    )


def _report(benchmark, text: str, what: str) -> None:
    lines = text.count("\n")
    print(f"\n{what}: {lines / benchmark.stats.stats.mean:,.0f} lines/s")


def test_parse_baseline(benchmark, big: str) -> None:
    benchmark.pedantic(parse_text, args=(big, "big.strat"), rounds=3, iterations=1)
    _report(benchmark, big, "parse (baseline)")


def test_printer_alone(benchmark, big: str) -> None:
    parsed = parse_text(big, "big.strat")
    assert parsed.file is not None
    benchmark.pedantic(format_file_syntax, args=(parsed.file, big), rounds=3, iterations=1)
    _report(benchmark, big, "printer alone")


def test_format_already_canonical(benchmark, big: str) -> None:
    canonical = format_text(big, "big.strat").output
    assert canonical is not None
    benchmark.pedantic(format_text, args=(canonical, "big.strat"), rounds=3, iterations=1)
    _report(benchmark, canonical, "fmt, file already canonical")


def test_format_with_changes(benchmark, big: str) -> None:
    messy = big.replace("\n  ", "\n      ")
    result = benchmark.pedantic(format_text, args=(messy, "big.strat"), rounds=3, iterations=1)
    assert result.output is not None and result.changed
    _report(benchmark, messy, "fmt, file that changes (parse twice: safety rails)")
