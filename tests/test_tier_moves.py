"""升层 / 降层: moves between tiers, counted per arm against the tier each customer ended the
step before in. The NumPy reference (tests/test_sim_reference.py) checks every count exactly;
here, a play with a known effect, the results table and the documented example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, model_of

from simulator.engine.run import simulate
from simulator.kernels.common import F
from simulator.results.tables import tier_moves_table

ROOT = Path(__file__).resolve().parent.parent
WEALTH = ROOT / "strategies" / "wealth_2026q1.strat"

# Everyone starts just below 10万; a response buys a deposit of 5万 at once, so a responder of
# step 1 ends it in 高端 whatever the market did; everyone else moves only with the market.
NEAR_THE_LINE = """
population 客户 {
  size 20000
  aum ~ uniform(8万, 10万)
  propensity ~ constant(30%)
}
tier 普通 when aum < 10万
tier 高端 when aum >= 10万
product 存款 {
  kind deposit
  risk R1
  inflow ~ constant(5万)
}
channel 外呼 {
  cost 2 per contact
  reach 80%
}
rule 临界提升 priority 1 {
  when aum < 10万
  offer 存款 via 外呼
  response 30%
}
policy {
  control 50%
}
"""


def test_a_play_that_lifts_customers_over_the_line_moves_them_up(tmp_path: Path) -> None:
    model = model_of(tmp_path, HEADER + NEAR_THE_LINE)
    out = simulate(model, customers=20_000, months=1, reps=1, seed=3)
    moves = out.tier_moves[0, 1]  # step 1: (arm, from, to)
    live = out.customers[0, 0].sum(axis=(1, 2))  # step 0: everyone in 普通
    assert out.customers[0, 0, :, :, 1].sum() == 0
    assert out.tier_moves[0, 0].sum() == 0  # step 0 counts, it does not move
    responders = out.funnel[0, 1, 0, 0, F["responded"]]
    treated_up, control_up = moves[0, 0, 1], moves[1, 0, 1]
    assert responders > 1000
    # Every responder crossed the line; the others moved as the control arm did.
    assert treated_up >= responders
    rate = control_up / live[1]
    others = live[0] - responders
    spread = 5 * np.sqrt(others * rate * (1 - rate)) + 5
    assert abs((treated_up - responders) - others * rate) <= spread
    assert moves[:, 1, 0].sum() == 0  # nobody was in 高端 to come down from


def test_the_table_has_every_move_once_and_none_on_the_diagonal(tmp_path: Path) -> None:
    model = model_of(tmp_path, HEADER + NEAR_THE_LINE)
    out = simulate(model, customers=4_000, months=6, reps=2, seed=5)
    table = tier_moves_table(out)
    assert len(table) == 2 * 7 * 2 * 2  # reps × steps 0..6 × arms × ordered pairs of tiers
    assert (table["from_tier"] != table["to_tier"]).all()
    up = table[table["direction"] == "up"]
    assert (up["from_tier"].astype(str) == "普通").all()
    assert table["customers"].sum() == out.tier_moves.sum()
    assert up["customers"].sum() == out.tier_moves[:, :, :, 0, 1].sum()


def _documented_example() -> str:
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    (block,) = [b for b in blocks if "tier_moves.parquet" in b]
    return block


def test_the_documented_example_runs_on_a_run(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "q1"
    subprocess.run(
        [sys.executable, "-m", "stratmap", "simulate", str(WEALTH),
         "--customers", "3000", "--months", "6", "--reps", "2", "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    shown = subprocess.run(
        [sys.executable, "-c", _documented_example()],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "treatment" in shown and "control" in shown
    assert "财富" in shown


def test_expect_measures_moves_up_and_their_uplift(tmp_path: Path) -> None:
    """`upgraded` counts the table's moves up; `upgraded of TIER uplift vs control` is the
    difference per exposed customer of the arms, and holds on a play with a known effect."""
    from simulator.analysis.expectations import evaluate

    lines = (
        "expect {\n"
        "  upgraded within 1 month > 0\n"
        "  upgraded of 高端 within 1 month uplift vs control > 0.05 with 95% confidence\n"
        "  downgraded within 1 month >= 0\n"
        "}\n"
    )
    model = model_of(tmp_path, HEADER + NEAR_THE_LINE + lines)
    out = simulate(model, customers=20_000, months=1, reps=2, seed=3)
    results = evaluate(model, {None: out})
    assert [r.passed for r in results] == [True, True, True], results
    up = out.tier_moves[:, 1, :, 0, 1]  # (reps, arms)
    assert results[0].value == pytest.approx(up.sum(axis=1).mean())
    exposed = out.customers[:, 0].sum(axis=(2, 3))  # live at step 0, per rep and arm (no arrivals)
    per_customer = up / exposed
    uplift = (per_customer[:, 0] - per_customer[:, 1]).mean()
    assert results[1].value == pytest.approx(uplift)
    # Each responder crossed the line (test above): the uplift is about the response rate.
    responders = out.funnel[:, 1, 0, 0, F["responded"]] / exposed[:, 0]
    assert uplift == pytest.approx(responders.mean(), abs=0.02)
