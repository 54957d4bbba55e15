"""Moves between lifecycle stages (the flows of the stage chart), counted per arm × from × to
at the transition itself. The NumPy reference (tests/test_sim_reference.py) checks every count
exactly; here, that the flows account for the stage sizes exactly, step by step, and the table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, model_of

from simulator.engine.run import simulate
from simulator.output import STAGES
from simulator.results.tables import stage_moves_table

# Customers in four stages, churn from each, a way back (declining -> mature) and arrivals in
# one stage only, so that every stage's change has one known source besides the moves.
FLOWS = """
population 客户 {
  size 3000
  aum   ~ lognormal(median 10万, sigma 1.0)
  stage ~ categorical(new 10%, growing 30%, mature 45%, declining 15%)
}
acquisition {
  arrivals 60 per month stage new cost 100 per customer
}
lifecycle {
  new       -> growing 20%, churned 3%
  growing   -> mature 8%, declining 4%, churned 1%
  mature    -> declining 3%, churned 0.5%
  declining -> mature 30%, churned 40%
}
policy {
  control 30%
}
"""

NEW = STAGES.index("new")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # -> RunOutput
    model = model_of(tmp_path_factory.mktemp("flows"), HEADER + FLOWS)
    return simulate(model, customers=3000, months=12, reps=2, seed=11, shards=2, threads=2)


def test_stage_sizes_are_the_last_sizes_plus_inflows_minus_outflows_plus_arrivals(run) -> None:
    sizes = run.customers.sum(axis=4)  # (R, T+1, A, S): the churned stage holds all who left
    moves = run.stage_moves  # (R, T+1, A, S, S)
    assert moves[:, 0].sum() == 0  # step 0 is the population: nothing has moved yet
    inflow, outflow = moves.sum(axis=3), moves.sum(axis=4)
    arrivals = np.zeros_like(sizes)
    arrivals[..., NEW] = run.acquired  # every arrival opens in `new`
    assert run.acquired[:, 1:].sum() > 0
    expected = sizes[:, :-1] + inflow[:, 1:] - outflow[:, 1:] + arrivals[:, 1:]
    assert np.array_equal(sizes[:, 1:], expected)
    # The moves are not trivial: every declared transition happened, and only those.
    happened = moves[:, 1:].sum(axis=(0, 1, 2)) > 0
    declared = {
        ("new", "growing"), ("new", "churned"), ("growing", "mature"), ("growing", "declining"),
        ("growing", "churned"), ("mature", "declining"), ("mature", "churned"),
        ("declining", "mature"), ("declining", "churned"),
    }  # fmt: skip
    assert {(STAGES[a], STAGES[b]) for a, b in zip(*np.nonzero(happened), strict=True)} == declared


def test_moves_into_churned_are_the_churned_counter(run) -> None:
    into_churned = run.stage_moves[..., STAGES.index("churned")].sum(axis=3)  # (R, T+1, A)
    assert np.array_equal(into_churned, run.churned)
    assert run.churned.sum() > 0


def test_the_table_has_every_move_once_and_none_on_the_diagonal(run) -> None:
    table = stage_moves_table(run)
    n = len(STAGES)
    assert len(table) == 2 * 13 * 2 * n * (n - 1)  # reps × steps 0..12 × arms × ordered pairs
    assert (table["from_stage"] != table["to_stage"]).all()
    assert table["customers"].sum() == run.stage_moves.sum()
    assert list(table["from_stage"].cat.categories) == list(STAGES)
    back = table[(table["from_stage"] == "declining") & (table["to_stage"] == "mature")]
    assert back["customers"].sum() == run.stage_moves[..., 4, 3].sum() > 0


def test_one_shard_and_one_thread_count_the_same_moves(tmp_path: Path, run) -> None:
    model = model_of(tmp_path, HEADER + FLOWS)
    single = simulate(model, customers=3000, months=12, reps=2, seed=11, shards=1, threads=1)
    assert np.array_equal(single.stage_moves, run.stage_moves)


def test_the_documented_example_runs_on_a_run(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "stage_moves" in b]
    out, wealth = tmp_path / "runs" / "q1", ROOT / "strategies" / "wealth_2026q1.strat"
    subprocess.run(
        [sys.executable, "-m", "stratmap", "simulate", str(wealth),
         "--customers", "3000", "--months", "6", "--reps", "2", "--out", str(out), "-q"],
        check=True, capture_output=True,
    )  # fmt: skip
    shown = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout
    assert "churned" in shown and "treatment" in shown and "control" in shown
