"""`stratmap backtest` on a small book: bad input stops it with exit 2 and a message naming what
is wrong, before anything is written; the same seed gives the same report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratmap.cli import main


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """200 customers opened in January 2025, with about four purchases each over the year."""
    rng = np.random.default_rng(3)
    ids = [f"K{i:04d}" for i in range(200)]
    opened = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 30, 200), unit="D")
    pd.DataFrame({"customer_id": ids, "opened": opened}).to_csv(
        tmp_path / "customers.csv", index=False, date_format="%Y-%m-%d"
    )
    rows = [
        (ids[i], opened[i] + pd.Timedelta(days=int(d)))
        for i in range(200)
        for d in rng.integers(1, 330, rng.poisson(4))
    ]
    pd.DataFrame(rows, columns=["customer_id", "date"]).to_csv(
        tmp_path / "transactions.csv", index=False, date_format="%Y-%m-%d"
    )
    return tmp_path


def _run(book: Path, *extra: str) -> list[str]:
    return [
        "backtest",
        "--customers", str(book / "customers.csv"),
        "--transactions", str(book / "transactions.csv"),
        "--copies", "2",
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--split", "2025-13-01"], "--split '2025-13-01' is not a date"),
        (["--split", "2025-08-31", "--end", "2025-06-30"], "is not after the split"),
        (["--split", "2024-06-30"], "no customer opened on or before the split"),
        (["--split", "2025-08-31", "--copies", "0"], "--copies 0"),
        (["--split", "2025-08-31", "--json", "nowhere/b.json"], "does not exist"),
    ],
)
def test_bad_options_stop_with_exit_2(book: Path, capsys, extra: list[str], words: str) -> None:
    assert main(_run(book, *extra)) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_transaction_of_an_unknown_customer_is_named(book: Path, capsys) -> None:
    with open(book / "transactions.csv", "a", encoding="utf-8") as handle:
        handle.write("陌生人,2025-03-01\n")
    assert main(_run(book, "--split", "2025-08-31", "--json", str(book / "b.json"))) == 2
    err = capsys.readouterr().err
    assert "customers the customers table does not have (first: '陌生人')" in err
    assert not (book / "b.json").exists()


def test_a_transaction_before_the_opening_is_named(book: Path, capsys) -> None:
    with open(book / "transactions.csv", "a", encoding="utf-8") as handle:
        handle.write("K0001,2024-12-01\n")
    assert main(_run(book, "--split", "2025-08-31")) == 2
    assert "K0001 on 2024-12-01" in capsys.readouterr().err


def test_a_missing_column_is_named(book: Path, capsys) -> None:
    frame = pd.read_csv(book / "transactions.csv").rename(columns={"date": "when"})
    frame.to_csv(book / "transactions.csv", index=False)
    assert main(_run(book, "--split", "2025-08-31")) == 2
    err = capsys.readouterr().err
    assert "transactions.csv" in err and "date" in err and "--map" in err


def test_the_same_seed_gives_the_same_report(book: Path, capsys) -> None:
    reports = []
    for name in ("a.json", "b.json"):
        argv = _run(book, "--split", "2025-08-31", "--seed", "4", "--json", str(book / name))
        assert main(argv) == 0
        reports.append(json.loads((book / name).read_text(encoding="utf-8")))
    assert reports[0] == reports[1]
    assert reports[0]["holdout"]["actual"] > 0
    out = capsys.readouterr().out
    assert "by transactions before the split" in out and "carried_forward" in out
