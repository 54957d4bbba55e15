"""`stratmap simulate` and `stratmap trace`: the command-line contract.

The simulator core is replaced by a fake ``simulator.engine.run`` module (``fake_core``) whose
``simulate`` returns the hand-built run of ``test_results.make_output``, so these tests pin the
command's behaviour (checking first, validating sizes before any work, the memory check, the
output, the results directory, exit codes) independently of the kernels. The end-to-end test at
the bottom runs the real core on the bundled example when it is there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_results import make_output
from wcwidth import wcswidth

from simulator.engine import sizes as run_sizes
from simulator.results import report_io
from simulator.results.summary import build_summary
from stratmap import inputs, tables, terminal
from stratmap.cli import main

REPO = Path(__file__).resolve().parents[1]
WEALTH = REPO / "strategies" / "wealth_2026q1.strat"
BROKEN = """\
strategy "坏的" {
  horizon 12 months
}

population 客户 {
  size 1000
  has_app ~ bernoulli(50%)
}

segment 有APP = has_ap
"""
GIB = 1024**3


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


class FakeCore:
    """Stands in for ``simulator.engine.run``: records every call, returns the hand-built run."""

    class SimulationError(Exception):
        def __init__(self, message: str, hint: str | None = None) -> None:
            super().__init__(message)
            self.message, self.hint = message, hint

    class UnknownCustomer(SimulationError):
        pass

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.memory = 1024**2  # bytes the fake says a run needs
        self.fail: str | None = None
        self.fail_compile: str | None = None
        self.unknown: str | None = None  # trace: the customer is not in the run
        self.records: list[dict[str, Any]] = [
            {
                "step": 1,
                "stage": "mature",
                "aum": 480_000.0,
                "triggers": ["季度检视"],
                "candidates": ["临界提升", "重要价值检视"],
                "winner": ["临界提升"],
                "suppressed": {"重要价值检视": "arbitration"},
                "responded": ["临界提升"],
                "scores": {"流失模型": 0.125},
            },
            {
                "step": 2,
                "stage": "declining",
                "stage_before": "mature",
                "aum_fen": 56_000_000,
                "triggers": [],
                "candidates": ["临界提升"],
                "winner": [],
                "suppressed": [{"play": "临界提升", "reason": "cooldown"}],
                "responded": [],
                "arm": "treatment",
                "queue": "外呼 full",
            },
        ]

    def module(self) -> types.ModuleType:
        module = types.ModuleType("simulator.engine.run")
        module.SimulationError = self.SimulationError  # type: ignore[attr-defined]
        module.UnknownCustomer = self.UnknownCustomer  # type: ignore[attr-defined]
        module.simulate = self.simulate  # type: ignore[attr-defined]
        module.estimate_memory = self.estimate_memory  # type: ignore[attr-defined]
        module.trace_customer = self.trace_customer  # type: ignore[attr-defined]
        return module

    def simulate(self, model: object, **kwargs: Any) -> Any:
        self.calls.append({"model": model, **kwargs})
        if self.fail:
            raise self.SimulationError(self.fail, "try something else")
        total = 4
        for done in range(total + 1):
            kwargs["progress"](done, total)
        out = make_output(reps=min(kwargs["reps"], 2))
        out.strategy_hash = kwargs["strategy_hash"]
        out.seed = kwargs["seed"]
        return out

    def estimate_memory(self, model: object, **kwargs: Any) -> int:
        if self.fail_compile:
            raise self.SimulationError(self.fail_compile, "change the strategy")
        return self.memory

    def trace_customer(self, model: object, customer: int, rep: int, **kwargs: Any) -> Any:
        self.calls.append({"customer": customer, "rep": rep, **kwargs})
        if self.unknown:
            raise self.UnknownCustomer(self.unknown, "ids run from 0 to 199,999")
        if self.fail:
            raise self.SimulationError(self.fail, "pick a customer below the population size")
        return self.records


@pytest.fixture
def fake_core(monkeypatch: pytest.MonkeyPatch) -> FakeCore:
    core = FakeCore()
    module = core.module()
    monkeypatch.setitem(sys.modules, "simulator.engine.run", module)
    import simulator
    import simulator.engine

    monkeypatch.setattr(simulator, "run", module, raising=False)
    # `from simulator.engine import run` reads the package's attribute, which a real run
    # earlier in the same session (another test file) has set to the real module.
    monkeypatch.setattr(simulator.engine, "run", module, raising=False)
    monkeypatch.setattr(run_sizes, "available_memory", lambda: 64 * GIB)
    return core


# ------------------------------------------------------------------------------ bad input


def test_a_strategy_that_does_not_check_runs_nothing(tmp_path: Path, fake_core: FakeCore) -> None:
    path = tmp_path / "broken.strat"
    path.write_text(BROKEN, encoding="utf-8")
    code, out, err = run("simulate", str(path), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "error[E" in err and "has_ap" in err  # rendered as `stratmap check` renders it
    assert "nothing was run" in err
    assert out == ""
    assert fake_core.calls == []
    assert not (tmp_path / "out").exists()


def test_json_format_reports_check_errors_as_the_diagnostics_document(
    tmp_path: Path, fake_core: FakeCore
) -> None:
    path = tmp_path / "broken.strat"
    path.write_text(BROKEN, encoding="utf-8")
    code, out, _ = run("simulate", str(path), "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert document["schema"] == "stratmap.diagnostics/1"
    assert document["summary"]["errors"] >= 1


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--customers", "-5", "must be at least 1"),
        ("--customers", "0", "must be at least 1"),
        ("--customers", "1000000000000", "more than the 1,000,000,000"),
        ("--customers", "1e12", "more than the 1,000,000,000"),
        ("--customers", "1e99999999999", "more than the 1,000,000,000"),
        ("--customers", "lots", "not a whole number"),
        ("--customers", "2.5", "not a whole number"),
        ("--months", "0", "must be at least 1"),
        ("--months", "601", "more than the 600"),
        ("--reps", "0", "must be at least 1"),
        ("--reps", "-3", "must be at least 1"),
        ("--threads", "0", "must be at least 1"),
        ("--seed", "-1", "must be at least 0"),
        ("--seed", str(2**64), "more than the"),
    ],
)
def test_nonsensical_sizes_exit_2_before_any_work(
    tmp_path: Path, fake_core: FakeCore, option: str, value: str, says: str
) -> None:
    path = tmp_path / "broken.strat"  # not even checked: sizes come first
    path.write_text(BROKEN, encoding="utf-8")
    code, out, err = run("simulate", str(path), f"{option}={value}")
    assert code == 2, err
    assert err.startswith(f"stratmap simulate: error: {option} {value}: {says}"), err
    assert "Traceback" not in err and out == ""
    assert fake_core.calls == []


def test_a_missing_file_or_a_directory_is_a_usage_error(
    tmp_path: Path, fake_core: FakeCore
) -> None:
    assert run("simulate", str(tmp_path / "nope.strat"))[0] == 2
    code, _, err = run("simulate", str(REPO / "strategies"))
    assert code == 2 and "a directory" in err


def test_a_run_that_does_not_fit_in_memory_exits_2_with_the_estimate(
    fake_core: FakeCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_core.memory = 40 * GIB
    monkeypatch.setattr(run_sizes, "available_memory", lambda: 8 * GIB)
    code, _out, err = run("simulate", str(WEALTH), "--customers", "100m")
    assert code == 2
    assert "100,000,000 customers × 36 months × 5 replications" in err
    assert "needs about 40.0 GiB" in err and "8.0 GiB is available" in err
    assert "help: simulate fewer customers" in err
    assert fake_core.calls == []


def test_a_trace_that_does_not_fit_in_memory_exits_2_before_it_runs(
    fake_core: FakeCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_core.memory = 40 * GIB
    monkeypatch.setattr(run_sizes, "available_memory", lambda: 8 * GIB)
    code, _out, err = run("trace", str(WEALTH), "--customer", "1", "--customers", "100m")
    assert code == 2, err
    assert "100,000,000 customers × 36 months × 1 replication needs about 40.0 GiB" in err
    assert "help: simulate fewer customers" in err and "internal error" not in err
    assert fake_core.calls == []


def test_a_bad_columns_is_refused_before_any_work(
    fake_core: FakeCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "abc")
    code, out, err = run("simulate", str(WEALTH), "--reps", "2")
    assert code == 2 and "COLUMNS='abc' is not a width" in err and out == ""
    assert fake_core.calls == []  # refused before the simulation, not after it
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = run("simulate", str(WEALTH), "--reps", "2")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 100


def test_a_results_directory_holding_a_users_files_is_refused_before_the_run(
    tmp_path: Path, fake_core: FakeCore
) -> None:
    # The reproducer of issue 14: any folder with a `summary.json` was taken for results.
    target = tmp_path / "p"
    (target / "src").mkdir(parents=True)
    (target / "summary.json").write_text("{}")
    (target / "src" / "main.py").write_text("code")
    for command in (["simulate", str(WEALTH)], ["compare", str(WEALTH)], ["size", str(WEALTH)]):
        code, _, err = run(*command, "--customers", "2k", "--months", "3", "--out", str(target))
        assert code == 2, (command, err)
        assert "Stratmap did not write" in err and "help:" in err
        assert (target / "src" / "main.py").read_text() == "code"
    assert fake_core.calls == []


def test_output_directory_of_other_files_is_refused_before_the_run(
    tmp_path: Path, fake_core: FakeCore
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run("simulate", str(WEALTH), "--out", str(tmp_path))
    assert code == 2 and "Stratmap did not write" in err
    assert fake_core.calls == []
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_failed_write_still_prints_the_numbers(
    tmp_path: Path, fake_core: FakeCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_io, "write_results", full_disk)
    code, out, err = run("simulate", str(WEALTH), "--reps", "2", "--out", str(tmp_path / "r"))
    assert code == 2
    assert "could not write" in err and "No space left" in err and "Traceback" not in err
    assert "Headline metrics" in out


def test_an_output_folder_we_cannot_write_in_is_refused_before_the_run(
    tmp_path: Path, fake_core: FakeCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs.os, "access", lambda path, mode: False)
    code, _, err = run("simulate", str(WEALTH), "--out", str(tmp_path / "a" / "b"))
    assert code == 2 and f"cannot write in {tmp_path}" in err
    assert fake_core.calls == []


def test_a_strategy_the_simulator_refuses_exits_1(fake_core: FakeCore) -> None:
    fake_core.fail_compile = "a segment the simulator cannot evaluate"
    code, _, err = run("simulate", str(WEALTH))
    assert code == 1 and "cannot evaluate" in err and "help: change the strategy" in err
    assert fake_core.calls == []


def test_a_simulation_error_is_reported_without_a_traceback(fake_core: FakeCore) -> None:
    fake_core.fail = "the horizon is shorter than a step"
    code, _, err = run("simulate", str(WEALTH))
    assert code == 1
    assert "stratmap simulate: error: the horizon is shorter than a step" in err
    assert "help: try something else" in err and "Traceback" not in err


# ------------------------------------------------------------------------------ a run


def test_defaults_come_from_the_file(fake_core: FakeCore) -> None:
    code, _out, err = run("simulate", str(WEALTH), "--threads", "2")
    assert code == 0, err
    (call,) = fake_core.calls
    # months=None: the strategy's own horizon (36 months), counted by the simulator
    assert (call["customers"], call["months"], call["reps"]) == (200_000, None, 5)
    assert (call["seed"], call["threads"], call["shards"]) == (20260101, 2, 1)
    assert call["strategy_hash"] == inputs.strategy_hash(call["model"])
    assert call["model"].strategy.name == "财富客群经营 2026Q1"
    assert "Simulated 200,000 customers × 36 months × 5 replications" in err


def test_more_threads_than_numba_may_use_is_a_usage_error(fake_core: FakeCore) -> None:
    code, _, err = run("simulate", str(WEALTH), "--threads", "1000")
    assert code == 2 and "--threads 1000: at most" in err
    assert fake_core.calls == []


def test_sizes_accept_suffixes(fake_core: FakeCore) -> None:
    code, _, err = run(
        "simulate", str(WEALTH), "--customers", "2k", "--months", "6", "--reps", "2", "-q"
    )
    assert code == 0, err
    assert fake_core.calls[0]["customers"] == 2000 and fake_core.calls[0]["reps"] == 2
    assert fake_core.calls[0]["months"] == 6
    assert err == ""  # -q: no closing line
    assert inputs.parse_count("--customers", "20万", low=1, high=10**9) == 200_000
    assert inputs.parse_count("--customers", "1_500,000", low=1, high=10**9) == 1_500_000
    assert inputs.parse_count("--customers", "1.5m", low=1, high=10**9) == 1_500_000
    top = str(2**64 - 1)
    assert inputs.parse_count("--seed", top, low=0, high=2**64 - 1) == 2**64 - 1  # exact


def test_text_output_shows_the_summary_tables(fake_core: FakeCore) -> None:
    code, out, _ = run("simulate", str(WEALTH), "--reps", "2")
    assert code == 0
    for title in (
        "Headline metrics",
        "Treatment vs control",
        "Plays (funnel over the horizon)",
        "Unserved customers",
    ):
        assert title in out
    assert "测试策略: 100 customers, 2 months, 2 replications, seed 20260101" in out
    assert "临界提升" in out and "蜜月期 wave 1" in out and "临界财富" in out
    assert "119.2万" in out  # final AUM: the mean of 1,202,000 and 1,181,000
    assert "\x1b[" not in out  # no colour when piped


def test_out_writes_parquet_and_a_summary_that_agree(tmp_path: Path, fake_core: FakeCore) -> None:
    target = tmp_path / "runs" / "q1"
    code, out, err = run("simulate", str(WEALTH), "--reps", "2", "--out", str(target), "-q")
    assert code == 0, err
    written, summary = report_io.read_results(target)
    assert set(written) == {
        "population", "tier_moves", "stage_moves", "totals", "funnel", "suppression",
        "unserved", "channels",
    }  # fmt: skip
    assert summary["strategy"]["hash"] == inputs.strategy_hash(fake_core.calls[0]["model"])
    assert summary["strategy"]["file"] == str(WEALTH)
    assert summary["run"]["threads"] >= 1 and summary["run"]["currency"] == "CNY"
    assert set(summary["timings"]) == {"check_s", "simulate_s", "summarise_s"}
    _assert_summary_matches_tables(summary, written)
    code, out, _ = run(
        "simulate", str(WEALTH), "--reps", "2", "--out", str(target), "--format", "json", "-q"
    )
    assert code == 0
    assert out == (target / "summary.json").read_text(encoding="utf-8")  # the very document
    assert sorted(p.name for p in target.parent.iterdir()) == ["q1"]


def test_progress_bar_on_a_terminal(fake_core: FakeCore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal, "stderr_is_terminal", lambda: True)
    code, out, err = run("simulate", str(WEALTH), "--reps", "2")
    assert code == 0, err
    assert "Headline metrics" in out


# ------------------------------------------------------------------------------ trace


def test_trace_prints_one_row_per_step(fake_core: FakeCore) -> None:
    code, out, err = run("trace", str(WEALTH), "--customer", "42", "--rep", "3", "--seed", "7")
    assert code == 0, err
    (call,) = fake_core.calls
    assert (call["customer"], call["rep"], call["seed"], call["customers"]) == (42, 3, 7, 200_000)
    assert call["months"] is None  # the strategy's own horizon
    assert "customer 42, replication 3, seed 7" in out
    for text in ("48.0万", "季度检视", "重要价值检视 (arbitration)", "临界提升 (cooldown)"):
        assert text in out, text
    assert "流失模型=0.125" in out and "mature -> declining" in out
    assert "queue: 外呼 full" in out  # a key the table does not know is shown, not dropped


def test_trace_json(fake_core: FakeCore) -> None:
    code, out, _ = run("trace", str(WEALTH), "--customer", "42", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["schema"] == "stratmap.trace/1"
    assert document["customer"] == 42 and document["rep"] == 0
    assert document["steps"][0]["winner"] == ["临界提升"]


def test_trace_bad_input(fake_core: FakeCore) -> None:
    code, _, err = run("trace", str(WEALTH), "--customer", "-1")
    assert code == 2 and "--customer -1: must be at least 0" in err
    assert run("trace", str(WEALTH))[0] == 2  # --customer is required
    # A customer the run does not have is a usage error like any other bad value (exit 2);
    # a strategy the simulator refuses is a finding (exit 1).
    fake_core.unknown = "customer 10000000 is not in this run"
    code, _, err = run("trace", str(WEALTH), "--customer", "10000000")
    assert code == 2 and "not in this run" in err and "help: ids run from 0" in err
    fake_core.unknown = None
    fake_core.fail = "a segment the simulator cannot evaluate"
    code, _, err = run("trace", str(WEALTH), "--customer", "1")
    assert code == 1 and "cannot evaluate" in err and "help:" in err


# ------------------------------------------------------------------------------ pieces


def test_strategy_hash_follows_content_not_place(tmp_path: Path) -> None:
    from strategy_dsl.checker import check_paths

    def model_of(root: Path) -> Any:
        report = check_paths([root / "main.strat"])
        return next(iter(report.models.values()))

    for name in ("a", "b"):
        (tmp_path / name / "common").mkdir(parents=True)
        (tmp_path / name / "main.strat").write_text(
            'strategy "x" {\n  horizon 12 months\n}\n\nimport "common/p.strat"\n',
            encoding="utf-8",
        )
        (tmp_path / name / "common" / "p.strat").write_text(
            "population 客户 {\n  size 1000\n  has_app ~ bernoulli(50%)\n}\n", encoding="utf-8"
        )
    first = inputs.strategy_hash(model_of(tmp_path / "a"))
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert inputs.strategy_hash(model_of(tmp_path / "b")) == first
    (tmp_path / "b" / "common" / "p.strat").write_text(
        "population 客户 {\n  size 2000\n  has_app ~ bernoulli(50%)\n}\n", encoding="utf-8"
    )
    assert inputs.strategy_hash(model_of(tmp_path / "b")) != first


def test_rich_tables_line_up_with_cjk_names() -> None:
    """rich counts a CJK character as two cells: every line of every table, measured with
    wcwidth, is as wide as the table's top border."""
    out = make_output()
    from simulator.results.tables import all_tables

    summary = build_summary(out, all_tables(out), threads=1)
    with_cjk = 0
    for table in tables.summary_tables(summary):
        buffer = io.StringIO()
        terminal.make_console(buffer, color=False).print(table)
        lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
        border = next(i for i, line in enumerate(lines) if line.startswith("┏"))
        widths = {wcswidth(line) for line in lines[border:]}
        assert widths == {wcswidth(lines[border])}, buffer.getvalue()
        with_cjk += any(re.search(r"[\u4e00-\u9fff]", line) for line in lines)
    assert with_cjk >= 2  # the plays and the unserved cells


def test_names_are_never_read_as_rich_markup() -> None:
    out = make_output()
    out.strategy_name = "[bold]策略[/bold]"
    out.plays = ("[red]临界提升", "蜜月期 wave 1")
    from simulator.results.tables import all_tables

    summary = build_summary(out, all_tables(out), threads=1)
    summary["notes"] = ["`x` is [derived]"]
    buffer = io.StringIO()
    tables.render_summary(summary, terminal.make_console(buffer, color=False))
    text = buffer.getvalue()
    assert "[bold]策略[/bold]" in text and "[red]临界提升" in text
    assert "note: `x` is [derived]" in text


def test_number_formats() -> None:
    assert tables.money(1_202_000) == "120.2万"
    assert tables.money(3.2e9) == "32.00亿"
    assert tables.money(8_500) == "8,500" and tables.money(12.5) == "12.50"
    assert tables.money(11_702.4) == "11,702" and tables.money(-250_000) == "-25.0万"
    assert tables.format_value(0.0812, "share") == "8.12%"
    assert tables.format_value(-0.0052, "share", difference=True) == "-0.52 pp"
    assert tables.format_value(1502.1, "money", difference=True) == "+1,502"
    assert tables.format_value(23.44, "points") == "+23.4"
    assert tables.format_value(-0.04, "points") == "+0.0"  # never "-0.0"
    assert tables.format_value(-0.00001, "share", difference=True) == "0.00 pp"
    assert tables.format_value(-0.004, "money") == "0.00"
    # Ratios: two decimals, or two significant digits below 0.1 (moves up a tier per customer).
    assert tables.format_value(0.031, "ratio") == "0.031"
    assert tables.format_value(1.234, "ratio") == "1.23"
    assert tables.format_value(0.00037, "ratio", difference=True) == "+0.00037"
    assert tables.format_value(0.0, "ratio") == "0.00"
    assert tables.format_value(None, "count") == "-"
    assert tables.format_value(42.5, "count") == "42.5"
    assert tables.format_value(42.0, "count") == "42"


def test_check_does_not_import_pandas_or_numba() -> None:
    code = (
        "import sys\n"
        "from stratmap.cli import main\n"
        f"assert main(['check', '-q', {str(WEALTH)!r}]) == 0\n"
        "heavy = [m for m in ('pandas', 'numba', 'pyarrow', 'numpy', 'simulator', 'rich') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_docs_example_runs(tmp_path: Path, fake_core: FakeCore) -> None:
    """The Python example in docs/results.md runs on a results directory."""
    target = tmp_path / "runs" / "q1"
    assert run("simulate", str(WEALTH), "--reps", "2", "--out", str(target), "-q")[0] == 0
    text = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    # The tier and stage moves examples need a real run's moves: tests/test_tier_moves.py and
    # tests/test_stage_moves.py run them.
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    (example,) = [b for b in blocks if "tier_moves" not in b and "stage_moves" not in b]
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(example.replace("runs/q1", str(target)), "docs/results.md", "exec"), {})
    assert "临界提升" in printed.getvalue()


# ------------------------------------------------------------------------------ consistency


def _assert_summary_matches_tables(summary: dict[str, Any], written: dict[str, Any]) -> None:
    """Recompute headline numbers from the Parquet tables, independently of summary.py, and
    compare them with summary.json: the same numbers in both."""
    totals, funnel = written["totals"], written["funnel"]
    steps, reps = summary["run"]["steps"], summary["run"]["reps"]
    last = totals[totals["step"] == steps].groupby("rep")
    metrics = summary["metrics"]

    def same(name: str, values: Any) -> None:
        assert metrics[name]["values"] == pytest.approx(list(values), rel=1e-12, abs=1e-9), name
        assert metrics[name]["mean"] == pytest.approx(float(np.mean(values)), rel=1e-12)

    same("final_aum", last["aum"].sum())
    same("customers", last["customers"].sum())
    same("revenue", totals.groupby("rep")["revenue"].sum())
    same("cost", totals.groupby("rep")["cost"].sum())
    same("net_value", totals.groupby("rep")["net_value"].sum())
    same("contacts", funnel.groupby("rep")["contacted"].sum())
    same("responses", funnel.groupby("rep")["responded"].sum())
    if "responders" in metrics:
        same("responders", totals.groupby("rep")["responders"].sum())
    start = totals[totals["step"] == 0].groupby("rep")["customers"].sum()
    moved = totals[totals["step"] >= 1].groupby("rep")[["churned", "acquired"]].sum()
    same("churn_rate", moved["churned"] / (start + moved["acquired"]))
    assert len(metrics["final_aum"]["values"]) == reps
    plays = funnel.groupby("play", observed=True)[["contacted", "cost"]].sum() / reps
    for play in summary["plays"]:
        assert play["contacted"]["mean"] == pytest.approx(plays.loc[play["play"], "contacted"])
        assert play["cost"]["mean"] == pytest.approx(plays.loc[play["play"], "cost"])
    assert isinstance(written["funnel"]["play"].dtype, pd.CategoricalDtype)
    # The tables agree with one another: live customers in totals are the population's
    # customers in every stage but churned.
    population = written["population"]
    live = population[population["stage"] != "churned"]
    by_cell = live.groupby(["rep", "step", "arm"], observed=True)["customers"].sum()
    keyed = totals.set_index(["rep", "step", "arm"])["customers"]
    assert (by_cell.reindex(keyed.index, fill_value=0) == keyed).all()


# ------------------------------------------------------------------------------ end to end

_HAS_CORE = importlib.util.find_spec("simulator.engine.run") is not None


@pytest.mark.skipif(
    not _HAS_CORE, reason="the simulator core (simulator/engine/run.py) is not built"
)
def test_end_to_end_on_the_bundled_example(tmp_path: Path) -> None:
    target = tmp_path / "run"
    argv = ["simulate", str(WEALTH), "--customers", "2000", "--months", "6", "--reps", "2"]
    code, out, err = run(*argv, "--threads", "2", "--out", str(target))
    assert code == 0, err
    assert "Headline metrics" in out
    written, summary = report_io.read_results(target)
    assert summary["run"]["customers"] == 2000 and summary["run"]["reps"] == 2
    assert summary["run"]["steps"] == 6
    assert len(summary["run"]["replication_seeds"]) == 2
    assert summary["tool_version"]
    assert len(summary["strategy"]["hash"]) == 64
    _assert_summary_matches_tables(summary, written)
    start = written["totals"].query("step == 0 and rep == 0")["customers"].sum()
    assert start == 2000
    # The same seed gives the same numbers, whatever the number of threads.
    code, again, err = run(*argv, "--threads", "1", "--format", "json", "-q")
    assert code == 0, err
    assert json.loads(again)["metrics"] == summary["metrics"]
