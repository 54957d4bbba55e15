"""One home for a run's sizes (simulator/engine/sizes.py): the same limits, defaults and memory rule
for the command line and the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_support import bundled

from simulator.engine import sizes as run_sizes
from simulator.engine.run import SimulationError, simulate
from simulator.engine.sizes import MAX_REPS, SizeError, Sizes, available_memory, strategy_seed

GIB = 2**30


def _meminfo(tmp_path: Path, available_kib: int) -> Path:
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal: 99999999 kB\nMemAvailable: {available_kib} kB\n")
    return path


def test_available_memory_is_the_containers_when_that_is_smaller(tmp_path: Path) -> None:
    meminfo = _meminfo(tmp_path, 20 * 2**20)  # the host: 20 GiB available
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{4 * GIB}\n")  # the container: a 4 GiB limit
    (cgroup / "memory.current").write_text(f"{1 * GIB}\n")  # of which 1 GiB is used
    assert available_memory(meminfo, cgroup) == 3 * GIB
    (cgroup / "memory.max").write_text("max\n")  # no limit: the host's
    assert available_memory(meminfo, cgroup) == 20 * GIB
    assert available_memory(meminfo, tmp_path / "no-cgroup") == 20 * GIB


def test_the_engine_refuses_a_run_the_container_cannot_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The engine read only /proc/meminfo: in a container it let a run start that the
    # container's limit would kill. It now asks the one cgroup-aware function.
    monkeypatch.setattr(run_sizes, "available_memory", lambda: 64 * 2**20)
    with pytest.raises(SimulationError, match="GiB of memory") as caught:
        simulate(bundled("wealth_2026q1.strat"), customers=1_000, months=1)
    assert "fewer customers" in caught.value.hint


def test_the_engine_and_the_command_line_share_the_limits() -> None:
    # The engine allowed 100,000 replications and 2^40 customers where the CLI stops at
    # 10,000 and a billion: one table of limits now.
    model = bundled("wealth_2026q1.strat")
    with pytest.raises(SimulationError, match=r"reps 10,001 is outside 1\.\.10,000"):
        simulate(model, customers=100, months=1, reps=MAX_REPS + 1)
    with pytest.raises(SimulationError, match="customers"):
        simulate(model, customers=2**39, months=1)


def test_resolve_fills_from_the_strategy() -> None:
    model = bundled("wealth_2026q1.strat")
    resolved = Sizes(months=2, reps=3).resolve(model)
    assert resolved.customers == model.population.size  # type: ignore[union-attr]
    assert resolved.seed == strategy_seed(model)
    assert resolved.steps == 2 and resolved.step_unit == model.strategy.step == "month"
    assert resolved.horizon() == "2 months"
    assert Sizes(customers=7, seed=11).resolve(model).seed == 11


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"customers": 0}, "customers 0 is outside"),
        ({"reps": 2.5}, "reps must be a whole number"),
        ({"seed": -1}, "seed -1 is outside"),
        ({"months": True}, "months must be a whole number"),
        ({"customers": 3, "shards": 4}, r"shards 4 is outside 1\.\.3"),
    ],
)
def test_nonsense_is_a_size_error_with_a_hint(given: dict, message: str) -> None:
    with pytest.raises(SizeError, match=message) as caught:
        Sizes(**given).check()
    assert caught.value.hint


def test_the_command_line_estimates_a_runs_memory_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `simulate` checked the memory before the run (with the result tables counted in), then
    # the engine estimated it again: two compiles of the strategy for one number.
    import simulator.engine.run as engine_run
    from stratmap.cli import main

    calls: list[int] = []
    estimate = engine_run.estimate_memory

    def counted(*args: object, **kwargs: object) -> int:
        calls.append(1)
        return estimate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_run, "estimate_memory", counted)
    wealth = Path(__file__).resolve().parent.parent / "strategies" / "wealth_2026q1.strat"
    argv = ["simulate", str(wealth), "--customers", "300", "--months", "1", "--reps", "1", "-q"]
    assert main([*argv, "--format", "json"]) == 0
    assert len(calls) == 1
