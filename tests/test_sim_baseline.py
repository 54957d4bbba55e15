"""Baseline behaviour without plays against closed forms: the lifecycle is the Markov chain of
the `lifecycle` block, and AUM grows as the market says."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from sim_support import HEADER, LIFECYCLE, binomial_bound, model_of, transition_matrix

from simulator.engine.run import simulate
from simulator.output import STAGES

N = 30_000


def test_stage_distribution_follows_the_matrix_power(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + LIFECYCLE
        + """
        population 客户 {
          size 30000
          stage ~ categorical(new 25%, growing 25%, mature 25%, declining 25%)
        }
        """,
    )
    out = simulate(model, customers=N, months=12, reps=1, seed=11, threads=2)
    _, matrix = transition_matrix(model)
    by_stage = out.customers[0].sum(axis=(1, 3))  # (T+1, S)
    start = by_stage[0] / N
    for t in (1, 3, 6, 12):
        expected = start @ np.linalg.matrix_power(matrix, t)
        observed = by_stage[t] / N
        assert np.all(np.abs(observed - expected) <= binomial_bound(expected, N)), (t, observed)
    assert by_stage.sum(axis=1).tolist() == [N] * 13  # customers in = customers out + churned


def test_churn_within_twelve_months_matches_the_closed_form(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + LIFECYCLE
        + """
        population 客户 {
          size 30000
          stage ~ categorical(new 10%, growing 30%, mature 45%, declining 15%)
        }
        """,
    )
    out = simulate(model, customers=N, months=12, reps=2, seed=3, threads=2)
    _, matrix = transition_matrix(model)
    churned = STAGES.index("churned")
    power = np.linalg.matrix_power(matrix, 12)
    for r in range(2):
        start = out.customers[r, 0].sum(axis=(0, 2)) / N
        expected = float(start @ power[:, churned])
        observed = out.churned[r, 1:].sum() / N
        assert abs(observed - expected) <= binomial_bound(np.array(expected), N), (r, observed)
        assert out.churned[r, 1:].sum() == out.customers[r, 12, :, churned].sum()


def test_market_only_growth_matches_its_expectation(tmp_path: Path) -> None:
    """E[AUM_t | market returns r] = AUM_0 · Π (1 + r_s + mean net flow); the spread around it
    comes from the customers' own flows: sd ≈ AUM_0 · sd_flow · √t / √N."""
    model = model_of(
        tmp_path,
        HEADER
        + """
        population 客户 {
          size 30000
          aum ~ constant(10万)
        }
        market {
          return   ~ normal(mean 0.3%, sd 1.5%) per month
          net_flow ~ normal(mean 0.2%, sd 3%) per month
        }
        """,
    )
    out = simulate(model, customers=N, months=12, reps=3, seed=5, threads=2)
    aum = out.aum_fen.sum(axis=2) / 100  # (R, T+1)
    assert np.all(aum[:, 0] == N * 100_000)
    for r in range(3):
        growth = np.cumprod(1 + out.market_return[r, 1:] + 0.002)
        expected = N * 100_000 * growth
        spread = N * 100_000 * 0.03 * np.sqrt(np.arange(1, 13)) / math.sqrt(N) * growth
        assert np.all(np.abs(aum[r, 1:] - expected) <= 5 * spread), r
    # The market return is one draw per step, common to all: its mean and sd over the steps.
    returns = out.market_return[:, 1:].ravel()
    assert abs(returns.mean() - 0.003) < 5 * 0.015 / math.sqrt(returns.size)
    assert 0.005 < returns.std() < 0.03


def test_without_market_or_lifecycle_nothing_moves(tmp_path: Path) -> None:
    model = model_of(tmp_path, HEADER + "population 客户 {\n  size 100\n}\n")
    out = simulate(model, customers=500, months=6, reps=1, seed=1)
    assert np.all(out.aum_fen[0] == out.aum_fen[0, 0])
    assert np.all(out.customers[0] == out.customers[0, 0])
    assert out.churned.sum() == 0 and out.funnel.sum() == 0
