"""Bad and messy snapshots to `stratmap simulate MAP --from SNAPSHOT` (docs/snapshot.md): each
case found by feeding them to the command. Each ends in exit 2 with a message naming the file,
the column and the rows; before, these ran to exit 0 on nonsense, or said the wrong thing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankdata.snapshot import read_meta
from bankdata.tables import TableError
from stratmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
WEALTH = ROOT / "strategies" / "wealth_2026q1.strat"


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "book"
    argv = ["simulate", str(WEALTH), "--customers", "300", "--months", "4", "--snapshot-at",
            "3", "--snapshot", str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    return out


def _changed(book: Path, tmp_path: Path, column: str, value: object) -> Path:
    folder = tmp_path / "snap"
    shutil.copytree(book, folder)
    customers = pd.read_parquet(folder / "customers.parquet")
    if isinstance(value, float):
        customers[column] = customers[column].astype(float)
    customers.loc[0, column] = value
    customers.to_parquet(folder / "customers.parquet", index=False)
    return folder


def _forecast(folder: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["simulate", str(WEALTH), "--from", str(folder), "--months", "1", "-q", *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        # Each of these forecast without a word (exit 0).
        ("aum", np.inf, "column aum: not a finite number at row 1"),
        ("age", np.inf, "column age: not a finite number at row 1"),
        ("propensity", 2.0, "column propensity: out of range at row 1 (2.0) (expected a chance"),
        ("txn_per_month", -1.0, "column txn_per_month: out of range at row 1 (-1.0)"),
        ("payday", 40.0, "column payday: out of range at row 1 (40.0) (expected a day"),
        ("payday", 2.5, "column payday: out of range at row 1 (2.5)"),
        ("age", -3.0, "column age: out of range at row 1 (-3.0)"),
    ],
)
def test_a_value_no_customer_can_have_is_refused(
    book: Path, tmp_path: Path, capsys, column: str, value: float, words: str
) -> None:
    code, err = _forecast(_changed(book, tmp_path, column, value), capsys)
    assert code == 2, err
    assert "customers.parquet" in err and words in err


def test_a_date_in_a_message_reads_as_a_date(book: Path, tmp_path: Path, capsys) -> None:
    """Was "(Timestamp('2001-01-01 00:00:00'))"."""
    folder = _changed(book, tmp_path, "stage_since", pd.Timestamp("2001-01-01"))
    code, err = _forecast(folder, capsys)
    assert code == 2 and "at row 1 (2001-01-01)" in err


def test_an_empty_as_of_is_refused(book: Path, capsys) -> None:
    """--as-of '' fell back to snapshot.json's date without a word."""
    code, err = _forecast(book, capsys, "--as-of", "")
    assert code == 2 and "--as-of '' is not a date" in err


def test_a_fifo_or_an_empty_folder_is_named_for_what_it_is(tmp_path: Path, capsys) -> None:
    """Both said "give its date with --as-of YYYY-MM-DD"."""
    fifo = tmp_path / "customers.csv"
    os.mkfifo(fifo)
    code, err = _forecast(fifo, capsys)
    assert code == 2 and "not a folder or a regular file" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = _forecast(empty, capsys)
    assert code == 2 and "no customers table" in err


@pytest.mark.parametrize("cutoff", ["nan", "high", None, float("inf")])
def test_a_model_cutoff_that_is_not_a_number_is_refused(
    book: Path, tmp_path: Path, cutoff: object
) -> None:
    """A NaN cutoff put nobody in the model's top 10% without a word."""
    meta = json.loads((book / "snapshot.json").read_text(encoding="utf-8"))
    model = next(iter(meta["model_cutoffs"]))
    meta["model_cutoffs"][model] = {"0.1": cutoff}
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(TableError, match="expected a finite score"):
        read_meta(path)


def test_the_snapshots_own_cutoffs_are_read(book: Path) -> None:
    meta = read_meta(book / "snapshot.json")
    assert all(
        np.isfinite(score) for shares in meta["model_cutoffs"].values() for score in shares.values()
    )


def test_an_as_of_other_than_the_snapshots_own_is_noted(book: Path, capsys) -> None:
    """--as-of 2100-01-01 on a book taken on 2000-03-31 forecast it without a word."""
    code, err = _forecast(book, capsys, "--as-of", "2100-01-01")
    assert code == 0
    assert "note: --as-of 2100-01-01 is not the snapshot's own date (2000-03-31" in err
    code, err = _forecast(book, capsys)
    assert code == 0 and "not the snapshot's own date" not in err
