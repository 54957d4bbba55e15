"""The first run on a fresh installation: how long the kernels take to compile into an empty
cache, against `python -c "import numba"` timed in the same run (issue 14, section 6).

    python bench/bench_first_run.py
    python bench/bench_first_run.py --commands simulate compare   # a subset

The packages are copied to a temporary directory, so that the kernel cache (``__pycache__``
beside the kernel modules: ``simulator/kernels/cache.py``) starts empty, and every command runs
there in a new process, without ``NUMBA_CACHE_DIR``: first the README's `simulate` of the bundled
example (the compile), then once more (warm); then `compare`, `size`, `trace` and `test`, each
twice: its first run's extra compile is its first run less its second. Wall and CPU (user +
sys of the process and its workers) for each; the machine may be shared, so CPU says how much
work it was. Whether stderr said the kernels were compiling, each time.

Targets: the first `simulate` ≤ 45 s wall on the 2-core development machine; the first of each
later command ≤ 5 s of extra compile; the compiling line only when a compile happens.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "strategy_dsl", "stratmap", "grammar", "strategies")
EXAMPLE = "strategies/wealth_2026q1.strat"
SIMULATE = ["simulate", EXAMPLE, "--customers", "20k", "--months", "12"]
LATER = {
    "compare": ["compare", EXAMPLE, "--customers", "3000", "--months", "6", "--reps", "4"],
    "size": ["size", EXAMPLE, "--customers", "3000", "--months", "6", "--reps", "4"],
    "trace": ["trace", EXAMPLE, "--customer", "42", "--customers", "20k", "--seed", "7"],
    "test": ["test", EXAMPLE, "--no-cache"],
}
COMPILING = "compiling the simulation kernels"


def fresh_copy(into: Path) -> Path:
    """The packages, without any ``__pycache__`` (so without compiled kernels)."""
    for name in PACKAGES:
        shutil.copytree(REPO / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def timed(argv: list[str], cwd: Path) -> tuple[float, float, str, int]:
    """Wall and CPU seconds of ``argv`` in a new process (with its children), its stderr and
    its exit status."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(cwd)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr, done.returncode


def stratmap(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "stratmap", *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", nargs="*", default=list(LATER), choices=list(LATER))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stratmap-first-run-") as tmp:
        root = fresh_copy(Path(tmp))
        rows = []

        def run(label: str, argv: list[str]) -> tuple[float, float]:
            wall, cpu, stderr, status = timed(argv, root)
            said = COMPILING in stderr
            rows.append((label, wall, cpu, said, status))
            print(f"{label:<24} {wall:7.1f} s wall {cpu:7.1f} s CPU  compiling line: "
                  f"{'yes' if said else 'no'}  exit {status}", flush=True)  # fmt: skip
            if status not in (0, 1):
                print(stderr[-2000:], file=sys.stderr)
            return wall, cpu

        numba_wall, numba_cpu = run(
            "python -c 'import numba'", [sys.executable, "-c", "import numba"]
        )
        first, first_cpu = run("simulate (first)", stratmap(SIMULATE))
        warm, warm_cpu = run("simulate (again)", stratmap(SIMULATE))
        extras = {"simulate": (first - warm, first_cpu - warm_cpu)}
        for name in args.commands:
            a, a_cpu = run(f"{name} (first)", stratmap(LATER[name]))
            b, b_cpu = run(f"{name} (again)", stratmap(LATER[name]))
            extras[name] = (a - b, a_cpu - b_cpu)
    print()
    print(f"import numba: {numba_wall:.1f} s wall, {numba_cpu:.1f} s CPU")
    print(f"first simulate: {first:.1f} s wall, {first_cpu:.1f} s CPU (target ≤ 45 s wall); "
          f"{first / numba_wall:.0f}× import numba")  # fmt: skip
    for name, (wall, cpu) in extras.items():
        target = "" if name == "simulate" else " (target ≤ 5 s)"
        print(f"extra compile, first {name}: {wall:.1f} s wall, {cpu:.1f} s CPU{target}")
    # The compiling line: on the first simulate, never on a run that found the cache warm.
    wrong = [label for label, _, _, said, _ in rows if said and label.endswith("(again)")]
    if not rows[1][3] or wrong:
        print(f"the compiling line was missing from the first simulate or shown on {wrong}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
