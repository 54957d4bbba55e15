"""How fast `stratmap check` is: throughput on a 20,000-line library, and start-up time.

Each figure comes with a baseline measured in the same run, so the report is a ratio:
  - check throughput vs. the bare Lark LALR parse of the same text (the floor we build on);
  - `stratmap check` start-up vs. `python -c pass` (the interpreter's own start-up).
Targets (issue #3): ≥ 20,000 lines/s; start-up ≤ 0.5 s.

    pytest bench/bench_check.py --benchmark-only -s
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from strategy_dsl.checker import check_paths
from strategy_dsl.parser import _lark

REPO = Path(__file__).resolve().parents[1]
TARGET_LINES = 20_000


def _library(root: Path) -> tuple[list[Path], int]:
    """Copies of the bundled library (imports and all) until it holds TARGET_LINES lines."""
    lines = 0
    copies = 0
    while lines < TARGET_LINES:
        destination = root / f"branch_{copies:03d}"
        shutil.copytree(REPO / "strategies", destination)
        lines += sum(
            p.read_text(encoding="utf-8").count("\n") for p in destination.rglob("*.strat")
        )
        copies += 1
    return sorted(root.rglob("*.strat")), lines


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], int]:
    return _library(tmp_path_factory.mktemp("library"))


def test_check_throughput(benchmark, library) -> None:
    files, lines = library
    report = benchmark.pedantic(check_paths, args=(files,), rounds=3, iterations=1)
    assert not [d for d in report.diagnostics if d.is_error]
    per_second = lines / benchmark.stats.stats.mean
    benchmark.extra_info.update(lines=lines, lines_per_second=round(per_second))
    print(
        f"\ncheck: {lines} lines in {benchmark.stats.stats.mean:.3f} s = "
        f"{per_second:,.0f} lines/s (target ≥ 20,000)"
    )


def test_parse_floor(benchmark, library) -> None:
    """The baseline: Lark alone on the same text, no syntax tree, no checking."""
    files, lines = library
    texts = [p.read_text(encoding="utf-8") for p in files]
    parser = _lark()

    def parse_all() -> None:
        for text in texts:
            parser.parse(text)

    benchmark.pedantic(parse_all, rounds=3, iterations=1)
    per_second = lines / benchmark.stats.stats.mean
    benchmark.extra_info.update(lines=lines, lines_per_second=round(per_second))
    print(f"\nbare Lark parse: {per_second:,.0f} lines/s")


def _run(command: list[str]) -> None:
    subprocess.run(command, check=False, capture_output=True)


def test_startup_check_one_file(benchmark) -> None:
    small = sorted((REPO / "strategies").glob("*.strat"))[0]
    # The console script of this interpreter's environment (the venv need not be on PATH).
    script = Path(sys.executable).with_name("stratmap")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "stratmap"]
    command += ["check", str(small)]
    _run(command)  # warm the grammar cache and the OS file cache
    benchmark.pedantic(_run, args=(command,), rounds=10, iterations=1)
    print(f"\nstratmap check {small.name}: {benchmark.stats.stats.mean:.3f} s (target ≤ 0.5 s)")


def test_startup_python_baseline(benchmark) -> None:
    benchmark.pedantic(_run, args=([sys.executable, "-c", "pass"],), rounds=10, iterations=1)
    print(f"\npython -c pass: {benchmark.stats.stats.mean:.3f} s")
