"""The developer scripts of bench/ answer nonsense with a message and exit 2, no traceback."""

from __future__ import annotations

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
