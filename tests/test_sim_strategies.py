"""The bundled strategy library simulates; traces tell one customer's story exactly; nonsense
is refused before any work; the state stays within its memory budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, ROOT, STRATEGIES, bundled, model_of

from simulator.engine.run import SimulationError, estimate_memory, simulate, trace_customer
from simulator.kernels.common import F, make_tables
from simulator.kernels.population import bytes_per_customer, layout
from simulator.output import STAGES
from strategy_dsl.checker import check_paths
from strategy_dsl.compile import compile_strategy

MAPS = sorted(p.name for p in STRATEGIES.glob("*.strat"))


@pytest.mark.parametrize("name", MAPS)
def test_every_bundled_map_simulates(name: str) -> None:
    model = bundled(name)
    months = 3 if model.strategy.step == "day" else 6
    steps = months * 30 // model.strategy.step_days
    out = simulate(model, customers=3000, months=months, reps=2, seed=1)
    assert out.steps == steps and out.customers.shape[:2] == (2, steps + 1)
    assert out.funnel[..., F["contacted"]].sum() > 0, "no play ever contacted anyone"
    live_or_churned = out.customers.sum(axis=(2, 3, 4))
    assert np.all(live_or_churned[:, 0] == 3000)
    assert np.all(live_or_churned[:, -1] == 3000 + out.acquired.sum(axis=(1, 2)))
    assert np.all(out.aum_fen >= 0) and np.all(out.cost_fen >= 0)
    assert np.all(out.funnel >= 0) and np.all(out.unserved >= 0)


def test_library_files_without_a_population_are_refused() -> None:
    report = check_paths([STRATEGIES / "common" / "channels.strat"])
    (model,) = report.models.values()
    with pytest.raises(SimulationError, match="no population"):
        simulate(model, customers=10, months=1)


@pytest.mark.parametrize(
    "sizes",
    [
        {"customers": 0},
        {"customers": -5},
        {"customers": 10**12 * 10},
        {"months": 0},
        {"months": 10**9},
        {"reps": 0},
        {"seed": -1},
        {"threads": 0},
        {"shards": 0},
        {"customers": 2.5},
    ],
)
def test_nonsense_sizes_are_refused_before_any_work(sizes: dict) -> None:
    model = bundled("wealth_2026q1.strat")
    with pytest.raises(SimulationError) as caught:
        simulate(model, **{"customers": 100, "months": 1, **sizes})
    assert caught.value.hint


def test_a_run_beyond_memory_is_refused_with_the_estimate() -> None:
    model = bundled("wealth_2026q1.strat")
    with pytest.raises(SimulationError, match="GiB") as caught:
        simulate(model, customers=10**9, months=36)
    assert "fewer customers" in caught.value.hint
    small = estimate_memory(model, customers=10_000, months=12)
    large = estimate_memory(model, customers=10_000_000, months=36)
    assert small < large < 6 * 2**30  # 10M customers x 36 months fits the 6 GiB budget


def test_state_is_at_most_256_bytes_per_customer() -> None:
    for name in MAPS:
        tables = make_tables(compile_strategy(bundled(name)))
        assert bytes_per_customer(tables) <= 256, (name, layout(tables))


def test_a_trace_is_the_story_the_run_tells(tmp_path: Path) -> None:
    model = bundled("wealth_2026q1.strat")
    sizes = {"customers": 4000, "months": 6, "seed": 5}
    out = simulate(model, reps=1, observe=None, **sizes)
    contacted = {}

    def observe(rep: int, t: int, states: list) -> None:
        (st,) = states
        for p in range(len(out.plays)):
            for cid in st.cid[st.last_contact[:, p] == t]:
                contacted.setdefault(int(cid), set()).add((t, out.plays[p]))

    simulate(model, reps=1, observe=observe, **sizes)
    customer = min(contacted, key=lambda c: (-len(contacted[c]), c))
    story = trace_customer(model, customer, 0, **sizes)
    steps = [record["step"] for record in story]
    assert steps == list(range(steps[0], steps[0] + len(steps)))
    assert steps[0] == 0 if customer < 4000 else steps[0] <= min(t for t, _ in contacted[customer])
    told = {(r["step"], play) for r in story for play in r.get("winner", [])}
    assert told == contacted[customer]
    for record in story:
        assert record["stage"] in STAGES
        for play, why in record.get("suppressed", {}).items():
            assert play in out.plays and why


def test_traces_of_unknown_customers_are_refused() -> None:
    model = bundled("wealth_2026q1.strat")
    with pytest.raises(SimulationError, match="not in this run"):
        trace_customer(model, 10**9, customers=100, months=1)


def test_acquisition_ids_do_not_depend_on_shards(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + """
        population 客户 {
          size 100
        }
        acquisition {
          arrivals 150 per month stage new cost 100 per customer
        }
        """,
    )
    seen: dict[int, list] = {1: [], 3: []}
    for shards in seen:
        simulate(
            model,
            customers=100,
            months=3,
            shards=shards,
            observe=lambda r, t, states, s=shards: seen[s].append(
                sorted(int(c) for st in states for c in st.cid)
            ),
        )
    assert seen[1] == seen[3]
    assert seen[1][-1] == list(range(100 + 3 * 150))


def test_kernels_never_import_the_language_front_end() -> None:
    code = (
        "import sys, simulator.kernels.apply, simulator.kernels.decide, "
        "simulator.kernels.population;"
        "print(sorted(m for m in sys.modules if m.startswith('strategy_dsl')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert found.strip() == "['strategy_dsl', 'strategy_dsl.compile']"


def test_a_slice_of_customers_is_the_same_customers() -> None:
    model = bundled("wealth_2026q1.strat")
    first: dict[str, np.ndarray] = {}
    part: dict[str, np.ndarray] = {}

    def keep(into: dict) -> object:
        def observe(rep: int, t: int, states: list) -> None:
            if t == 0:
                (st,) = states
                into.update(cid=st.cid.copy(), aum=st.aum.copy(), risk=st.risk.copy())

        return observe

    simulate(model, customers=1000, months=1, observe=keep(first))
    out = simulate(
        model, customers=1000, months=1, customer_ids=slice(200, 700), observe=keep(part)
    )
    assert out.customers_initial == 500
    for name in ("cid", "aum", "risk"):
        assert np.array_equal(part[name], first[name][200:700])


def test_progress_is_reported_after_every_step() -> None:
    model = bundled("near_threshold_upgrade.strat")
    calls: list[tuple[int, int]] = []
    simulate(model, customers=500, months=3, reps=2, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(d, 6) for d in range(1, 7)]


def test_arrivals_scale_with_the_population_a_run_replaces() -> None:
    """`arrivals 3000 per month` is written for the declared population; a run with a tenth
    of the customers sees a tenth of the arrivals."""
    from pathlib import Path

    from simulator.engine.run import simulate
    from strategy_dsl.checker import check_paths

    path = Path(__file__).resolve().parents[1] / "strategies" / "wealth_2026q1.strat"
    model = next(iter(check_paths([path]).models.values()))
    declared = model.population.size
    per_month = sum(a.per_step for a in model.acquisition.arrivals)
    small = simulate(model, customers=declared // 10, months=4, reps=1, seed=3)
    acquired = int(small.acquired[0, 1:].sum())
    assert abs(acquired - 4 * per_month / 10) <= 4
