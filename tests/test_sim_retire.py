"""Churned customers are retired: their rows are removed from a shard's state once they are a
share of it, and their accounting is carried by the shard's ``retired`` counters
(``simulator.engine.local_shards.LocalShards.retire``). The outputs must not change by a bit,
whatever the shards and threads; the row mover (``population.remove_rows``) is checked against
NumPy's indexing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_support import bundled
from test_sim_determinism import assert_identical

import simulator.engine.local_shards as local_shards
from simulator.engine.run import simulate
from simulator.kernels.population import State, remove_rows
from simulator.output import RunOutput

SIZES = {"customers": 5000, "months": 14, "reps": 2, "seed": 7}
BUNDLED = ["wealth_2026q1.strat", "churn_winback.strat", "mgm_referral.strat", "nba_by_value.strat"]


def _run(
    model: object, monkeypatch: pytest.MonkeyPatch, share: float, **kwargs: object
) -> tuple[RunOutput, int]:
    """The run with churned customers retired once they are ``share`` of a shard's rows
    (every step for a small share; never for inf); and how many times rows were removed."""
    monkeypatch.setattr(local_shards, "RETIRE_SHARE", share)
    monkeypatch.setattr(local_shards, "RETIRE_AT_LEAST", 1)
    moves = []
    real = local_shards.remove_rows

    def counting(arrays: object, gone: np.ndarray, rows: int, threads: int = 1) -> int:
        moves.append(int(np.count_nonzero(gone)))
        return real(arrays, gone, rows, threads)  # type: ignore[arg-type]

    monkeypatch.setattr(local_shards, "remove_rows", counting)
    out = simulate(model, **{**SIZES, **kwargs})  # type: ignore[arg-type]
    return out, len(moves)


@pytest.mark.parametrize("name", BUNDLED)
def test_retiring_churned_customers_changes_no_output(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = bundled(name)
    kept, never = _run(model, monkeypatch, math.inf, threads=1)
    assert never == 0
    retired, moves = _run(model, monkeypatch, 0.0, threads=2)
    assert moves >= SIZES["months"]  # rows moved at (almost) every step of both replications
    assert kept.churned.sum() > 0
    assert_identical(kept, retired)


@pytest.mark.parametrize("shards", [2, 3])
def test_retiring_now_and_then_with_shards(shards: int, monkeypatch: pytest.MonkeyPatch) -> None:
    model = bundled("wealth_2026q1.strat")
    kept, _ = _run(model, monkeypatch, math.inf, threads=1)
    retired, moves = _run(model, monkeypatch, 0.02, threads=2, shards=shards)
    assert moves > 0
    assert_identical(kept, retired)


def test_nothing_is_retired_where_rows_are_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    """An observer sees every customer, churned ones included, at every step."""
    model = bundled("wealth_2026q1.strat")
    churned_rows: list[int] = []

    def observe(rep: int, t: int, states: list[State]) -> None:
        churned_rows.append(int(np.count_nonzero(states[0].alive == 0)))

    monkeypatch.setattr(local_shards, "RETIRE_SHARE", 0.0)
    monkeypatch.setattr(local_shards, "RETIRE_AT_LEAST", 1)
    simulate(model, customers=3000, months=6, observe=observe)
    assert churned_rows[-1] > churned_rows[1] > 0


@pytest.mark.parametrize(
    ("dtype", "width"),
    [(np.int8, 1), (np.int16, 1), (np.float32, 3), (np.uint8, 3), (np.int16, 15), (np.float64, 2),
     (np.uint64, 1), (np.int16, 0), (np.float32, 5)],
)  # fmt: skip
def test_remove_rows_matches_numpy_indexing(dtype: type, width: int) -> None:
    rng = np.random.default_rng(width)
    rows, capacity = 1000, 1200
    shape = (capacity,) if width == 1 and dtype != np.float32 else (capacity, width)
    a = (rng.random(shape) * 100).astype(dtype)
    before = a.copy()
    gone = np.zeros(rows, dtype=bool)
    gone[rng.choice(rows, size=383, replace=False)] = True
    b = before.copy()
    kept = remove_rows([a], gone, rows)
    assert kept == rows - 383
    assert remove_rows([b[:, None] if b.ndim == 1 else b, b.copy()], gone, rows, threads=2) == kept
    # The rows kept below ``kept`` stay where they are; those above fill the gaps in order.
    stay = np.flatnonzero(~gone[:kept])
    assert np.array_equal(a[stay], before[stay])
    holes, movers = np.flatnonzero(gone[:kept]), kept + np.flatnonzero(~gone[kept:])
    assert np.array_equal(a[holes], before[movers])
    assert sorted(r.tobytes() for r in a[:kept]) == sorted(
        r.tobytes() for r in before[:rows][~gone]
    )
    assert np.array_equal(b, a)  # the same, several arrays at once on two threads
    assert not a[kept:rows].any()  # cleared, as a fresh allocation
    assert np.array_equal(a[rows:], before[rows:])  # beyond the rows in use: untouched
