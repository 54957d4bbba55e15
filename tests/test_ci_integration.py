"""The CI integration documented in docs/ci.md works as written: the pre-commit hooks run the
commands they name with the exit codes pre-commit expects, and every `stratmap` command of the
GitHub Actions workflow is one the command line accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from stratmap.cli import _parser, main

REPO = Path(__file__).resolve().parents[1]
HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
CI_DOC = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")

GOOD = "segment 大 = aum >= 50万\n"
UNFORMATTED = "segment  大 =   aum >= 50万\n"
BROKEN = "segment 大 = aum >= \n"


def _yaml_blocks() -> list[object]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", CI_DOC, re.S)]


def test_hooks_are_well_formed() -> None:
    ids = [hook["id"] for hook in HOOKS]
    assert ids == ["stratmap-check", "stratmap-fmt", "stratmap-fmt-check"]
    for hook in HOOKS:
        assert {"id", "name", "entry", "language", "files"} <= hook.keys()
        assert hook["language"] == "python" and hook["entry"].startswith("stratmap ")
        assert re.search(hook["files"], "strategies/财富.strat")
        assert not re.search(hook["files"], "README.md")


def _hook(hook_id: str, files: list[str]) -> int:
    """Run a hook the way pre-commit does: its entry, then the staged file names."""
    (hook,) = [h for h in HOOKS if h["id"] == hook_id]
    return main([*shlex.split(hook["entry"])[1:], *files])


@pytest.mark.parametrize(
    ("hook_id", "text", "code", "after"),
    [
        ("stratmap-check", GOOD, 0, GOOD),
        ("stratmap-check", BROKEN, 1, BROKEN),
        ("stratmap-fmt", UNFORMATTED, 0, GOOD),  # rewritten: pre-commit sees the file change
        ("stratmap-fmt", GOOD, 0, GOOD),
        ("stratmap-fmt-check", UNFORMATTED, 1, UNFORMATTED),
        ("stratmap-fmt-check", GOOD, 0, GOOD),
    ],
)
def test_hooks_run(tmp_path, monkeypatch, capsys, hook_id, text, code, after) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.strat").write_text(text, encoding="utf-8")
    assert _hook(hook_id, ["a.strat"]) == code
    assert Path("a.strat").read_text(encoding="utf-8") == after


def test_workflow_commands_parse() -> None:
    workflow = next(b for b in _yaml_blocks() if isinstance(b, dict) and "jobs" in b)
    steps = workflow["jobs"]["test"]["steps"]
    commands = []
    for step in steps:
        for line in step.get("run", "").replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+>\s+\S+$", "", line.strip())  # `> plan.md` is the shell's
            if line.startswith("stratmap "):
                commands.append(line)
    assert [c.split()[1] for c in commands] == ["check", "fmt", "test", "plan"]
    parser = _parser()
    for command in commands:
        argv = shlex.split(command.replace("${{ github.base_ref }}", "main"))[1:]
        parser.parse_args(argv)  # SystemExit (a failure here) on an option that does not exist


def test_pre_commit_config_names_our_hooks() -> None:
    config = next(b for b in _yaml_blocks() if isinstance(b, dict) and "repos" in b)
    used = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert used <= {hook["id"] for hook in HOOKS}
