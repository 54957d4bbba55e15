"""The developer scripts of bench/ answer nonsense with a message and exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["no-such-revision"], "invalid reference: no-such-revision"),
        (["HEAD", "--customers", "-5"], "--customers must be at least 1, not -5"),
        (["HEAD", "--rounds", "0"], "--rounds must be at least 1, not 0"),
    ],
)
def test_ab_revisions_refuses_bad_input(args: list[str], said: str) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "ab_revisions.py"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    listed = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True)
    assert "earlier" not in listed.stdout  # no worktree left behind


def test_bench_calibrate_runs_at_a_ci_size(tmp_path: Path) -> None:
    """bench/bench_calibrate.py at 2,000 customers: the generated bank calibrates in a new
    process and the figures line is printed (the 1,000,000 run is docs/calibration.md's)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "bench" / "bench_calibrate.py"),
         "--benchmark-only", "-s", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "STRATMAP_BENCH_CALIBRATE": "2000"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "stratmap calibrate, 2,000 customers:" in done.stdout
    assert "x its wall" in done.stdout
