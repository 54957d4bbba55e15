"""Usage errors exit 2 with a message, whatever the command: a run too large for memory
(`simulate`, `compare`, `size` alike), an empty `--out`, a customer `trace` cannot find.
Exit 1 is kept for findings (a strategy that does not check or cannot be simulated)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from simulator.engine import sizes as run_sizes
from stratmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
WEALTH = str(ROOT / "strategies" / "wealth_2026q1.strat")
TINY = ["--customers", "2k", "--months", "3", "--reps", "2", "-q"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


COMMANDS = {
    "simulate": ["simulate", WEALTH],
    "compare": ["compare", WEALTH, "--variant", "激进"],
    "size": ["size", WEALTH],
}


@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any simulation fails the test: a usage error is found before anything runs."""
    from simulator.engine import alternatives
    from simulator.engine import run as simulator_run

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("simulated although the command line was wrong")

    for name in ("simulate", "trace_customer"):
        monkeypatch.setattr(simulator_run, name, refuse)
    monkeypatch.setattr(alternatives, "simulate_alternatives", refuse)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_run_too_large_for_memory_exits_2(
    command: str, monkeypatch: pytest.MonkeyPatch, nothing_runs: None
) -> None:
    monkeypatch.setattr(run_sizes, "available_memory", lambda: 1024**2)
    code, _, err = run(*COMMANDS[command], *TINY)
    assert code == 2, err
    assert "of memory;" in err and "1.0 MiB is available" in err
    assert "help: simulate fewer customers" in err and "Traceback" not in err


def test_compare_counts_every_alternative_against_memory(
    monkeypatch: pytest.MonkeyPatch, nothing_runs: None
) -> None:
    monkeypatch.setattr(run_sizes, "available_memory", lambda: 1024**2)
    _, _, err = run(*COMMANDS["compare"], *TINY)
    assert "2 alternatives of 2,000 customers × 3 months × 2 replications needs about" in err


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("out", ["", "  "])
def test_an_empty_out_is_a_usage_error(command: str, out: str, nothing_runs: None) -> None:
    code, stdout, err = run(*COMMANDS[command], *TINY, "--out", out)
    assert code == 2
    assert f"--out {out!r}: an empty path" in err and "e.g. --out runs/q1" in err
    assert stdout == ""


def test_trace_of_a_customer_not_in_the_run_is_a_usage_error() -> None:
    code, out, err = run(
        "trace", WEALTH, "--customer", "99999", "--customers", "2k", "--months", "3"
    )
    assert code == 2
    assert "customer 99999 is not in this run" in err
    assert "help: ids run from 0 to" in err and "Traceback" not in err
    assert out == ""
