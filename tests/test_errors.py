"""One home for exit codes and errors (stratmap/errors.py), and the import rules of stratmap/:
no command module imports the CLI, no module takes another's private names."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from stratmap import cli, errors
from stratmap.cli import main
from stratmap.errors import CannotRun, UsageError, cannot_run, render, usage

REPO = Path(__file__).resolve().parent.parent
STRATMAP = REPO / "stratmap"


class LowerError(Exception):
    """Shaped as the simulator's, planning's and calibration's errors are."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def test_an_error_is_a_message_a_hint_and_an_exit_code() -> None:
    error = UsageError("--customers 0: must be at least 1", "give a positive number")
    assert error.exit_code == errors.EXIT_USAGE == 2
    assert render("simulate", error) == (
        "stratmap simulate: error: --customers 0: must be at least 1\nhelp: give a positive number"
    )
    assert render("simulate", UsageError("no hint")) == "stratmap simulate: error: no hint"
    assert CannotRun("x").exit_code == errors.EXIT_FINDINGS == 1


def test_a_lower_layers_error_keeps_its_message_and_hint() -> None:
    lower = LowerError("the run needs about 9.0 GiB of memory", "simulate fewer customers")
    assert str(cannot_run(lower)) == lower.message + "\nhelp: simulate fewer customers"
    assert cannot_run(lower).exit_code == 1
    as_usage = usage(LowerError("unknown variant", ""), "--variant X: ")
    assert (as_usage.message, as_usage.hint, as_usage.exit_code) == (
        "--variant X: unknown variant",
        None,
        2,
    )


def test_the_cli_renders_every_command_error_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(args: object) -> int:
        raise CannotRun("cannot run this", "change that")

    monkeypatch.setitem(cli._COMMANDS, "explain", refuse)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["explain", "E0101"])
    assert code == 1
    assert err.getvalue() == "stratmap explain: error: cannot run this\nhelp: change that\n"


def test_the_docs_example_of_an_error_is_what_stratmap_prints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    block = re.search(r"one shape.*?```\n(.*?)```", text, re.S)
    assert block is not None
    runs = re.split(r"^\$ ", block.group(1), flags=re.M)[1:]
    assert len(runs) == 2
    monkeypatch.chdir(REPO)
    for run in runs:
        command, expected = run.split("\n", 1)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(shlex.split(command)[1:])
        assert (code, err.getvalue()) == (2, expected), command


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def test_no_command_module_imports_the_cli() -> None:
    # The command modules took exit codes, UsageError and strategy_files from cli.py, which
    # imports each of them: a cycle. They live in errors.py and inputs.py now.
    offenders = [
        str(path.relative_to(STRATMAP))
        for path in STRATMAP.rglob("*.py")
        if path.name not in ("cli.py", "__main__.py")
        and any(module == "stratmap.cli" for module, _ in _imports(path))
    ]
    assert offenders == []


def test_no_module_takes_another_modules_private_names() -> None:
    # compare_cmd took six `_names` from simulate_cmd, plan_cmd three, suite/report one from
    # the junit renderer, variants the checker's _Run and _Lower, checker/scope the parser's
    # _keywords: the terminal, inputs and errors homes and public names replace them.
    offenders = [
        f"{path.relative_to(REPO)}: {module}.{name}"
        for package in ("stratmap", "strategy_dsl", "simulator", "calibration", "bankdata")
        for path in (REPO / package).rglob("*.py")
        for module, names in _imports(path)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert offenders == []


def test_every_layers_error_has_the_one_shape() -> None:
    from simulator.analysis.expectations import MeasureError
    from simulator.analysis.personas import PersonaError
    from simulator.engine.run import SimulationError
    from simulator.engine.sizes import SizeError
    from simulator.planning import PlanningError
    from strategy_dsl.errors import StratmapError
    from strategy_dsl.variants import VariantError
    from stratmap.report.inputs import ReportInputError

    for kind in (MeasureError, PersonaError, SimulationError, SizeError, VariantError):
        error = kind("what is wrong", "what to change")
        assert isinstance(error, StratmapError), kind
        assert (str(error), error.message, error.hint) == ("what is wrong",) * 2 + (
            "what to change",
        )
        rendered = render("simulate", cannot_run(error))
        assert rendered.endswith("error: what is wrong\nhelp: what to change"), kind
    planning = PlanningError("alpha must lie in (0, 1)", "use 0.05", field="alpha")
    assert isinstance(planning, StratmapError) and planning.field == "alpha"
    assert isinstance(ReportInputError("x"), StratmapError)
    assert isinstance(UsageError("x"), StratmapError)
