"""The value of a customer beyond the horizon (customer lifetime value, CLV), from the `book`.

A customer live at the end of step t, in lifecycle stage s, whose balances earned r in that
step, is worth the book revenue they are expected to go on earning over the `lifetime` of H
steps, discounted per step at d = 1 / (1 + discount per step) and weighted by the chance of
not having churned:

    value = r × A[s],    A[s] = Σ_{h=1..H} d^h × (1 − (P^h)[s, churned])

where P is the lifecycle's transition matrix per step as declared (each stage's remaining chance
stays; `churned` absorbs), without modifiers or treatment effects: the survival of an average
customer of the stage. Revenue is held at the step's level (no market growth, no flows, no new
products) and product margins are left out. Summed over customers, the value of an arm is
Σ_s B[s] × A[s] with B the book revenue of the step by stage (``RunOutput.book_by_stage_fen``).
"""

from __future__ import annotations

import numpy as np

from strategy_dsl.compile import STAGE_CHURNED


def survival_annuity(trans_p: np.ndarray, steps: int, discount_per_step: float) -> np.ndarray:
    """A[s] for every stage (float64, (S,)), step by step: the distribution over stages h steps
    after starting in each stage is P^h, built by repeated multiplication (``steps`` is at most a
    few hundred)."""
    stages = trans_p.shape[0]
    moves = np.array(trans_p, dtype=np.float64)
    moves[STAGE_CHURNED] = 0.0
    moves[np.arange(stages), np.arange(stages)] = 0.0
    np.fill_diagonal(moves, np.maximum(1.0 - moves.sum(axis=1), 0.0))
    moves[STAGE_CHURNED, STAGE_CHURNED] = 1.0
    discount = 1.0 / (1.0 + discount_per_step)
    where = np.eye(stages)
    weight, value = 1.0, np.zeros(stages)
    for _ in range(steps):
        where = where @ moves
        weight *= discount
        value += weight * (1.0 - where[:, STAGE_CHURNED])
    value[STAGE_CHURNED] = 0.0
    return value


def customer_value(book_by_stage_fen: np.ndarray, annuity: np.ndarray) -> np.ndarray:
    """The value beyond the horizon of the customers live at the end of each step, in currency:
    (..., S) book revenue by stage in fen → (...)."""
    return np.asarray(book_by_stage_fen, dtype=np.float64) @ annuity / 100.0
