"""Snapshots of what the commands print: `simulate`, `compare`, `size`, `plan` and `test`, as text
and as JSON, on a small bank the tests own (tests/cases/commands/main.strat), kept under
tests/snapshots/commands/. A change to any output — a number, a label, a column, a key — shows
as a diff to be read before it is committed, as `check`'s golden diagnostics do (and with the
same one flag): `STRATMAP_UPDATE_GOLDEN=1 pytest tests/test_command_snapshots.py`, then
`git diff tests/snapshots`.

What differs from run to run and machine to machine is masked before comparing: seconds taken,
the tool's version, temporary paths, and (JSON) the timings and thread counts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stratmap.cli import main

CASE = Path(__file__).parent / "cases" / "commands" / "main.strat"
SNAPSHOTS = Path(__file__).parent / "snapshots" / "commands"
UPDATE = os.environ.get("STRATMAP_UPDATE_GOLDEN") == "1"
SMALL = ["--customers", "1500", "--reps", "2"]

# name -> the command's arguments after the map (the map is always `main.strat` in the cwd).
COMMANDS: dict[str, list[str]] = {
    "simulate": ["simulate", "main.strat", *SMALL],
    "compare": ["compare", "main.strat", "--variant", "加大外呼", *SMALL],
    "size": ["size", "main.strat", *SMALL],
    "test": ["test", "main.strat", "--no-cache", "--jobs", "1", *SMALL],
}
_SECONDS = re.compile(r"\b\d+(?:\.\d+)? ?(s|ms|seconds)\b")
_VOLATILE_KEYS = {"timings", "threads", "tool_version", "stratmap_version", "version", "seconds"}


def _masked_text(text: str, where: Path) -> str:
    text = text.replace(str(where), "<dir>")
    return _SECONDS.sub(r"<t> \1", text)


def _masked_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: "<masked>" if key in _VOLATILE_KEYS else _masked_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked_json(item) for item in value]
    return value


def _run(
    argv: list[str], where: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    monkeypatch.chdir(where)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("STRATMAP_CACHE_DIR", str(where / ".cache"))
    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().out


def _compare(name: str, produced: str) -> None:
    expected = SNAPSHOTS / name
    if UPDATE:
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(produced, encoding="utf-8")
    assert expected.exists(), f"no snapshot {expected}: run with STRATMAP_UPDATE_GOLDEN=1"
    assert produced == expected.read_text(encoding="utf-8"), (
        f"{name} changed: run with STRATMAP_UPDATE_GOLDEN=1 and read `git diff tests/snapshots`"
    )


@pytest.fixture
def bank(tmp_path: Path) -> Path:
    shutil.copy(CASE, tmp_path / "main.strat")
    return tmp_path


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_text(command: str, bank: Path, capsys, monkeypatch) -> None:
    code, out = _run(COMMANDS[command], bank, capsys, monkeypatch)
    assert code in (0, 1), out
    _compare(f"{command}.txt", f"exit {code}\n" + _masked_text(out, bank))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_json(command: str, bank: Path, capsys, monkeypatch) -> None:
    code, out = _run([*COMMANDS[command], "--format", "json"], bank, capsys, monkeypatch)
    assert code in (0, 1), out
    document = _masked_json(json.loads(out))
    shown = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True)
    _compare(f"{command}.json", f"exit {code}\n" + _masked_text(shown, bank) + "\n")


def _git(where: Path, *argv: str) -> None:
    # A fixed author, committer and date: the base commit's id, which plan prints, is the same
    # in every run.
    when = "2026-01-01T00:00:00+0800"
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
         "-c", "commit.gpgsign=false", *argv],
        cwd=where, check=True, capture_output=True, env=env,
    )  # fmt: skip


@pytest.mark.parametrize("form", ["text", "json", "markdown"])
def test_plan(form: str, bank: Path, capsys, monkeypatch) -> None:
    """`plan` against the map's last commit, after a reviewed change: a doubled call capacity."""
    _git(bank, "init", "-q")
    _git(bank, "add", "main.strat")
    _git(bank, "commit", "-q", "-m", "base")
    source = (bank / "main.strat").read_text(encoding="utf-8")
    changed = source.replace("capacity 200 per month", "capacity 400 per month")
    assert changed != source
    (bank / "main.strat").write_text(changed, encoding="utf-8")
    argv = ["plan", "main.strat", "--base", "HEAD", *SMALL, "--format", form]
    code, out = _run(argv, bank, capsys, monkeypatch)
    assert code in (0, 1), out
    if form == "json":
        out = json.dumps(
            _masked_json(json.loads(out)), ensure_ascii=False, indent=1, sort_keys=True
        )
    suffix = {"text": "txt", "json": "json", "markdown": "md"}[form]
    _compare(f"plan.{suffix}", f"exit {code}\n" + _masked_text(out, bank).rstrip("\n") + "\n")
