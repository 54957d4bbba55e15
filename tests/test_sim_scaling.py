"""`--customers` scales the bank's sizes together (docs/results.md, docs/simulation.md): a run
at half the declared population has half the arrivals, half of each channel's capacity and half
of each play's budget, and says so in its notes; at the declared size nothing is scaled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sim_support import HEADER, LIFECYCLE, POPULATION, model_of

from simulator.engine.run import simulate
from simulator.kernels.common import F
from simulator.output import RunOutput

PLAYS = """\
acquisition {
  arrivals 100 per month stage new
}
product 存款 {
  kind deposit
  risk R1
}
product 储蓄 {
  kind deposit
  risk R1
}
channel 外呼 {
  cost 10 per contact
  capacity 300 per month
}
channel 短信 {
  cost 1 per contact
}
rule 外呼关怀 priority 2 {
  offer 存款 via 外呼
  response 1%
}
rule 短信关怀 priority 1 {
  offer 储蓄 via 短信
  response 1%
  budget 500 per month
}
"""


def _per_step(out: RunOutput, play: int, field: str) -> np.ndarray:
    return np.asarray(out.funnel)[0, 1:, play, :, F[field]].sum(axis=-1)


def test_capacity_budget_and_arrivals_scale_with_customers(tmp_path: Path) -> None:
    model = model_of(tmp_path, HEADER + POPULATION + LIFECYCLE + PLAYS)  # declares 4000
    full = simulate(model, customers=4000, months=3, reps=1, seed=5, threads=2)
    half = simulate(model, customers=2000, months=3, reps=1, seed=5, threads=2)
    # Every customer wants both plays every month: capacity and budget bind at both sizes.
    assert (_per_step(full, 0, "contacted") == 300).all()
    assert (_per_step(half, 0, "contacted") == 150).all()
    assert (_per_step(full, 1, "cost_fen") == 500_00).all()
    assert (_per_step(half, 1, "cost_fen") == 250_00).all()
    assert (np.asarray(full.acquired)[0, 1:].sum(axis=-1) == 100).all()
    assert (np.asarray(half.acquired)[0, 1:].sum(axis=-1) == 50).all()
    notes = half.extra["notes"]
    assert any("x0.5 to 2,000 customers" in n and "capacities and budgets" in n for n in notes)
    assert not any("scaled" in n for n in full.extra["notes"])
