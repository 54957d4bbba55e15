"""The flagship map in a bank's money (issue 16): its book earns 0.3–1.5% of mean AUM a year,
the control arm earns revenue too, and the book is most of the revenue."""

from __future__ import annotations

import numpy as np
from sim_support import bundled

from simulator.engine.run import simulate


def test_wealth_map_book_revenue_is_a_banks_margin_on_aum() -> None:
    model = bundled("wealth_2026q1.strat")
    out = simulate(model, customers=20_000, months=12, reps=2, seed=3, threads=2)
    aum = np.asarray(out.aum_fen, dtype=np.float64).sum(axis=2)  # (R, T+1), both arms
    book = np.asarray(out.book_revenue_fen, dtype=np.float64)[:, 1:].sum(axis=(1, 2))
    yearly = book / aum.mean(axis=1)  # 12 monthly steps: one year
    assert ((yearly > 0.003) & (yearly < 0.015)).all(), yearly
    revenue = np.asarray(out.revenue_fen, dtype=np.int64)[:, 1:].sum(axis=1)  # (R, A)
    assert (revenue[:, 1] > 0).all()  # control customers earn on their balances
    assert (book > 0.9 * revenue.sum(axis=1)).all()
