"""What `stratmap test strategies/` costs on this machine, cold and warm, as a user runs it.

- cold: an empty result cache, so every map of the bundled library is simulated at its
  declared sizes (5 replications), in parallel worker processes (one per core). The Numba
  kernels are compiled beforehand (a first run on a fresh machine compiles them once, about
  two minutes, which no later run pays);
- warm: the same command again with the cache filled: every map's record is read back, only
  the check runs;
- baseline, measured in the same run: `stratmap check strategies/`, the floor a warm run
  cannot go below.

Targets (issue #6): cold <= 120 s, warm <= 3 s.

    pytest bench/bench_test_cmd.py --benchmark-only -s
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TIMES: dict[str, float] = {}


def _stratmap(*argv: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "stratmap", *argv], cwd=REPO, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    assert done.returncode in (0, 1), done.stderr  # 1: a failing expectation is still a run
    return seconds


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator.engine.run import simulate
    from strategy_dsl.checker import check_paths

    (model,) = check_paths([REPO / "strategies" / "wealth_2026q1.strat"]).models.values()
    simulate(model, customers=500, months=2)  # compile (or load) the kernels once
    return tmp_path_factory.mktemp("bench-cache")


def test_check_baseline(benchmark) -> None:
    benchmark.pedantic(_stratmap, args=("check", "strategies/"), rounds=3, iterations=1)
    TIMES["check"] = benchmark.stats.stats.min


def test_cold(benchmark, cache: Path) -> None:
    def cold() -> float:
        shutil.rmtree(cache, ignore_errors=True)
        return _stratmap("test", "strategies/", "--cache-dir", str(cache), "-q")

    benchmark.pedantic(cold, rounds=1, iterations=1)
    TIMES["cold"] = benchmark.stats.stats.min
    print(f"\nstratmap test strategies/ cold: {TIMES['cold']:.1f} s (target <= 120 s)")


def test_warm(benchmark, cache: Path) -> None:
    _stratmap("test", "strategies/", "--cache-dir", str(cache), "-q")  # fill, if cold did not
    benchmark.pedantic(
        _stratmap,
        args=("test", "strategies/", "--cache-dir", str(cache), "-q"),
        rounds=3,
        iterations=1,
    )
    TIMES["warm"] = benchmark.stats.stats.min
    check = TIMES.get("check")
    ratio = f" = {TIMES['warm'] / check:.2f} x `stratmap check` ({check:.2f} s)" if check else ""
    print(f"\nstratmap test strategies/ warm: {TIMES['warm']:.2f} s{ratio} (target <= 3 s)")
