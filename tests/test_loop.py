"""docs/loop.md: the loop on a synthetic bank (snapshot → `decide`'s list → outcomes drawn from
a known truth → `review`), run command by command as the page shows it; every line it shows is
printed, and every true uplift the outcome simulator prints lies inside the review's interval
for that play (and that play within that segment)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "loop.md"
TRUTH_LINE = re.compile(r"  (?P<play>.+?)(?: in (?P<segment>\S+))?: (?P<pp>[+-][\d.]+)pp \(")


def _console(page: Path) -> tuple[list[str], list[str]]:
    """The page's first ```console block: its `$` commands and the output lines it shows."""
    block = page.read_text("utf-8").split("```console\n", 1)[1].split("```\n", 1)[0]
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    shown = [
        line.rstrip()
        for line in block.splitlines()
        if line and not line.startswith("$ ") and line != "…"
    ]
    return commands, shown


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    here = tmp_path_factory.mktemp("loop")
    (here / "strategies").symlink_to(ROOT / "strategies")
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    environment.pop("COLUMNS", None)
    printed: dict[str, list[str]] = {}
    for command in _console(PAGE)[0]:
        words = shlex.split(command)
        if words[0] == "stratmap":
            words = [sys.executable, "-m", "stratmap", *words[1:]]
        elif words[0] == "python":
            words = [sys.executable, *words[1:]]
        done = subprocess.run(
            words, cwd=here, env=environment, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, (command, done.stderr)
        printed[command] = [line.rstrip() for line in (done.stdout + done.stderr).splitlines()]
    return here, printed


def test_the_walk_through_runs_as_shown(walked) -> None:
    _here, printed = walked
    every = [line for lines in printed.values() for line in lines]
    missing = [line for line in _console(PAGE)[1] if line not in every]
    assert not missing, missing


def _name(row: dict) -> str:
    return row["play"] if row["wave"] is None else f"{row['play']} wave {row['wave']}"


def test_the_review_finds_the_true_uplift_of_every_play_and_segment(walked) -> None:
    here, printed = walked
    (truth_command,) = [c for c in printed if "bankdata.simulated_outcomes" in c]
    truth = {
        (m["play"], m["segment"] or ""): float(m["pp"]) / 100
        for m in map(TRUTH_LINE.match, printed[truth_command])
        if m
    }
    document = json.loads((here / "bank" / "review" / "summary.json").read_text("utf-8"))
    measured = {
        (_name(row), row.get("segment", "")): row["actual"]
        for row in document["uplift"] + document["uplift_by_segment"]
        if row["metric"] == "response_rate" and row["versus"] == "global_control"
    }
    checked = [key for key in truth if key in measured]
    # every play with a control row, and the silver-haired within most of them
    assert len([k for k in checked if not k[1]]) >= 8
    assert len([k for k in checked if k[1] == "银发"]) >= 6
    outside = [
        (key, truth[key], measured[key]["low"], measured[key]["high"])
        for key in checked
        if not measured[key]["low"] <= truth[key] <= measured[key]["high"]
    ]
    assert not outside, outside
    # and it tells a real effect from none: every play given more than 3 points of true uplift
    # measures above zero (all five by chance alone: 1 in 32) and at least one proves it
    large = [key for key in checked if not key[1] and truth[key] > 0.03]
    assert len(large) >= 4, large
    assert all(measured[key]["estimate"] > 0 for key in large), large
    assert any(measured[key]["low"] > 0 for key in large), large
