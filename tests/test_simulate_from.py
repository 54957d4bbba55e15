"""`stratmap simulate MAP --from SNAPSHOT` (issue 18 item 3): the forecast starts from the bank's
own customers, as the snapshot holds them, instead of synthetic draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankdata.snapshot import read_meta, read_snapshot
from bankdata.snapshot_state import book_for_forecast, spec_for
from simulator.engine.run import simulate
from simulator.engine.sizes import compiled_of
from simulator.kernels import common as k
from simulator.kernels.population import State
from strategy_dsl.checker import check_paths
from stratmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
WEALTH = ROOT / "strategies" / "wealth_2026q1.strat"


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("from") / "book"
    argv = ["simulate", str(WEALTH), "--customers", "1500", "--months", "4", "--snapshot-at",
            "3", "--snapshot", str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    return out


def _forecast(book: Path, months: int = 3):
    model = next(iter(check_paths([WEALTH]).models.values()))
    meta = read_meta(book / "snapshot.json")
    as_of = pd.Timestamp(meta["as_of"]).date()
    spec = spec_for(compiled_of(model), model, forecast=True)
    snap = read_snapshot(book, spec, as_of)
    compiled = compiled_of(model, len(snap.customers))
    given = book_for_forecast(compiled, k.make_tables(compiled), snap, spec, as_of, 7)
    seen: dict[int, State] = {}

    def observe(rep: int, t: int, states: list[State]) -> None:
        if rep == 0 and t == 0:
            seen[t] = State(*(a.copy() for a in states[0]))

    output = simulate(
        model, customers=len(snap.customers), months=months, seed=7, reps=2, book=given.state,
        observe=observe,
    )  # fmt: skip
    return snap, given, output, seen[0]


def test_the_forecast_starts_from_the_snapshots_customers(book: Path) -> None:
    snap, given, output, start = _forecast(book)
    for name in ("cid", "stage", "aum", "arm", "risk", "hold_amt", "last_contact", "ring"):
        assert np.array_equal(getattr(start, name), getattr(given.state, name)), name
    assert list(start.cid.astype(str)) == list(snap.customers["customer_id"])
    # Step 0 counts the book itself: its customers by stage, its AUM to the fen.
    stages = output.customers[0, 0].sum(axis=(0, 2))
    expected = snap.customers["stage"].value_counts()
    for s, name in enumerate(("prospect", "new", "growing", "mature", "declining", "churned")):
        assert stages[s] == expected.get(name, 0), name
    live = snap.customers["stage"] != "churned"
    total_fen = output.aum_fen[0, 0].sum()
    assert abs(total_fen - round(snap.customers.loc[live, "aum"].sum() * 100)) <= live.sum()
    assert output.steps == 3 and output.funnel[:, 1:].sum() > 0  # it ran on


def test_the_forecast_from_a_snapshot_is_deterministic(book: Path) -> None:
    first, again = _forecast(book)[2], _forecast(book)[2]
    assert np.array_equal(first.aum_fen, again.aum_fen)
    assert np.array_equal(first.funnel, again.funnel)


def test_from_on_the_command_line_and_its_usage_errors(book: Path, tmp_path: Path, capsys) -> None:
    assert main(["simulate", str(WEALTH), "--from", str(book), "--months", "2", "-q",
                 "--out", str(tmp_path / "runs")]) == 0  # fmt: skip
    assert (tmp_path / "runs" / "summary.json").exists()
    both = main(["simulate", str(WEALTH), "--from", str(book), "--customers", "10", "-q"])
    assert both == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    customers = pd.read_parquet(book / "customers.parquet").drop(columns=["txn_per_month"])
    customers.to_parquet(broken / "customers.parquet")
    missing = main(["simulate", str(WEALTH), "--from", str(broken), "--as-of", "2000-04-01"])
    assert missing == 2
    err = capsys.readouterr().err
    assert "leave out --customers" in err
    assert "customers.parquet" in err and "txn_per_month" in err and "Traceback" not in err


def test_a_churn_chance_the_map_does_not_draw_is_a_usage_error(
    book: Path, tmp_path: Path, capsys
) -> None:
    """The wealth map's churn is a fixed chance per stage: a snapshot giving each customer's own
    churn chance would be silently ignored, so `--from` refuses it (exit 2, no traceback);
    `--snapshot-at` did not write the column for it."""
    customers = pd.read_parquet(book / "customers.parquet")
    assert "churn_chance" not in customers
    given = tmp_path / "given"
    given.mkdir()
    for path in book.iterdir():
        (given / path.name).write_bytes(path.read_bytes())
    customers["churn_chance"] = 0.02
    customers.to_parquet(given / "customers.parquet")
    code = main(["simulate", str(WEALTH), "--from", str(given), "--months", "2", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "churn_chance" in err and "draws no churn" in err
    assert "Traceback" not in err
