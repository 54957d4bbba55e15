"""The value of customers beyond the horizon (``simulator.engine.customer_value``,
docs/simulation.md "Value beyond the horizon"): the discounted survival per stage against an
independent closed form (a matrix geometric series), the `lifetime` line lowered to steps and a
compounded discount, and a retention play whose worth shows only once the value at the end
counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, LIFECYCLE, POPULATION, model_of, transition_matrix

from simulator.engine.customer_value import customer_value, survival_annuity
from simulator.output import STAGES
from strategy_dsl.compile import compile_strategy

BOOK = """\
book {
  balance 活期 margin 1.6% per year
  balance 理财 fee 0.5% per year
  split 活期 70%, 理财 30%
  lifetime 5 years discount 8% per year
}
"""


def _closed_form(matrix: np.ndarray, steps: int, discount: float) -> np.ndarray:
    """Σ_{h=1..H} (dP)^h = (dP − (dP)^{H+1}) (I − dP)^{-1}, times the live stages' indicator."""
    q = matrix / (1.0 + discount)
    eye = np.eye(len(q))
    series = (q - np.linalg.matrix_power(q, steps + 1)) @ np.linalg.inv(eye - q)
    alive = np.array([stage != "churned" for stage in STAGES], dtype=np.float64)
    value = series @ alive
    value[STAGES.index("churned")] = 0.0
    return value


def test_lifetime_is_lowered_to_steps_and_a_compounded_discount(tmp_path: Path) -> None:
    model = model_of(tmp_path, HEADER + BOOK)
    assert model.book is not None and model.book.lifetime_steps == 60
    assert model.book.discount_per_step == pytest.approx(1.08 ** (1 / 12) - 1, rel=1e-12)
    assert model.book.balances[0].rate_per_step == pytest.approx(0.016 / 12, rel=1e-12)


def test_annuity_matches_the_matrix_closed_form(tmp_path: Path) -> None:
    model = model_of(tmp_path, HEADER + POPULATION + LIFECYCLE + BOOK)
    compiled = compile_strategy(model)
    steps = int(compiled.scalars["lifetime_steps"])
    discount = float(compiled.scalars["discount_per_step"])
    got = survival_annuity(compiled.trans_p, steps, discount)
    _, matrix = transition_matrix(model)
    want = _closed_form(matrix, steps, discount)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    # Ordered as the lifecycle says: a declining customer is worth less than a mature one.
    mature, declining = STAGES.index("mature"), STAGES.index("declining")
    assert got[mature] > got[declining] > 0


def test_one_stage_is_a_geometric_series() -> None:
    """One live stage with churn q: A = x (1 − x^H) / (1 − x), x = (1 − q) / (1 + r)."""
    trans = np.zeros((len(STAGES), len(STAGES)))
    mature, churned = STAGES.index("mature"), STAGES.index("churned")
    trans[mature, churned] = 0.02
    x = 0.98 / 1.005
    got = survival_annuity(trans, 36, 0.005)
    assert got[mature] == pytest.approx(x * (1 - x**36) / (1 - x), rel=1e-12)
    assert got[churned] == 0.0
    # A stage that never churns is a plain discounted annuity.
    new = STAGES.index("new")
    d = 1 / 1.005
    assert got[new] == pytest.approx(d * (1 - d**36) / (1 - d), rel=1e-12)


def test_value_of_an_arm_is_book_revenue_by_stage_times_the_annuity() -> None:
    annuity = np.array([0.0, 10.0, 20.0, 30.0, 5.0, 0.0])
    by_stage = np.array([[0, 100, 0, 200, 300, 0], [0, 0, 50, 0, 0, 0]])  # fen, two arms
    # 100 × 10 + 200 × 30 + 300 × 5 = 8,500 fen; 50 × 20 = 1,000 fen.
    np.testing.assert_allclose(customer_value(by_stage, annuity), [85.0, 10.0])


RETENTION = """\
product 关怀礼 {
  kind deposit
  risk R1
}
channel 外呼 {
  cost 2 per contact
}
segment 衰退客户 = stage == declining
rule 挽留 priority 50 {
  when 衰退客户
  offer 关怀礼 via 外呼
  response 60%
  effect churn x 0.2 for 6 months
  cooldown 6 months
}
policy {
  control 50%
}
"""


def test_a_retention_play_is_worth_more_beyond_the_horizon(tmp_path: Path) -> None:
    """Within the horizon the play only costs (its product earns nothing); with the value of
    the customers it kept, counted from the book, it pays: the uplift of net value including
    the value at the end exceeds the uplift within the horizon by the kept customers' value."""
    from simulator.engine.run import simulate
    from simulator.results.summary import uplift_values
    from simulator.results.tables import all_tables

    model = model_of(tmp_path, HEADER + POPULATION + LIFECYCLE + BOOK + RETENTION)
    out = simulate(model, customers=4000, months=12, reps=2, seed=3, threads=2)
    tables = all_tables(out)
    totals = tables["totals"]
    want = customer_value(out.book_by_stage_fen, out.value_annuity).reshape(-1)
    np.testing.assert_allclose(totals["customer_value"].to_numpy(), want)
    uplift = uplift_values(tables, reps=2, steps=12)
    assert uplift is not None
    within = uplift["net_value_scaled"]["uplift"]
    beyond = uplift["net_value_beyond_scaled"]["uplift"]
    assert (beyond > within).all() and (beyond > 0).all(), (within, beyond)
