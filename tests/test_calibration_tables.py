"""The bank's tables: formats, column mapping, and every bad input a clear exit-2 message."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bankdata.tables import TableError, parse_mapping, read_mapping_file, read_table
from stratmap.cli import main

GOOD = pd.DataFrame(
    {
        "customer_id": ["001", "002", "003"],
        "opened": ["2024-01-05", "2024-03-01", "2025-02-10"],
        "closed": ["", "2025-01-31", ""],
        "aum": ["1000", "0", "2500.5"],
    }
)


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("name", ["customers.csv", "customers.xlsx", "customers.parquet"])
def test_each_format_reads_the_same(tmp_path: Path, name: str) -> None:
    table = read_table("customers", write(tmp_path, GOOD, name))
    assert list(table["customer_id"]) == ["001", "002", "003"]  # leading zeros kept
    assert table["opened"].dt.year.tolist() == [2024, 2024, 2025]
    assert table["closed"].isna().tolist() == [True, False, True]
    assert table["aum"].tolist() == [1000.0, 0.0, 2500.5]


def test_column_mapping_from_the_command_line_and_a_file(tmp_path: Path) -> None:
    bank = GOOD.rename(
        columns={"customer_id": "客户号", "opened": "开户日期", "closed": "销户日期"}
    )
    path = write(tmp_path, bank)
    mapping = parse_mapping("customer_id=客户号, opened=开户日期,closed=销户日期")
    assert read_table("customers", path, mapping)["closed"].notna().sum() == 1
    toml = tmp_path / "map.toml"
    toml.write_text('customer_id = "客户号"\nopened = "开户日期"\nclosed = "销户日期"\n')
    assert read_mapping_file(toml) == mapping


def test_compact_dates_as_core_banking_exports_write_them(tmp_path: Path) -> None:
    frame = GOOD.assign(opened=["20240105", "20240301", "20250210"])
    assert read_table("customers", write(tmp_path, frame))["opened"].dt.day.tolist() == [5, 1, 10]


BAD = {
    "missing column": (
        GOOD.drop(columns="opened").assign(open_date="2024-01-01"),
        ["no column 'opened'", "did you mean 'open_date'", "--map opened="],
    ),
    "bad date": (
        GOOD.assign(opened=["2024-01-05", "2024-13-45", "soon"]),
        ["column opened", "not a date", "row 3 ('2024-13-45')", "row 4 ('soon')"],
    ),
    "closed before opened": (
        GOOD.assign(closed=["", "2023-12-31", ""]),
        ["column closed", "closed before opened", "row 3"],
    ),
    "duplicate ids": (
        GOOD.assign(customer_id=["001", "002", "001"]),
        ["column customer_id", "duplicate ids", "row 2 ('001')", "row 4 ('001')"],
    ),
    "negative balance": (
        GOOD.assign(aum=["1000", "-5", "0"]),
        ["column aum", "negative balance", "row 3 ('-5')"],
    ),
    "not a number": (GOOD.assign(aum=["1000", "lots", "0"]), ["column aum", "row 3 ('lots')"]),
    "empty table": (GOOD.iloc[:0], ["customers table is empty"]),
    "empty id": (GOOD.assign(customer_id=["001", "", "003"]), ["empty id", "row 3"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_table_is_a_clear_error(tmp_path: Path, case: str) -> None:
    frame, expected = BAD[case]
    path = write(tmp_path, frame)
    with pytest.raises(TableError) as error:
        read_table("customers", path)
    message = str(error.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message


@pytest.mark.parametrize("case", ["bad date", "negative balance"])
def test_cli_exits_2_and_writes_nothing(tmp_path: Path, case: str, capsys) -> None:
    path = write(tmp_path, BAD[case][0])
    out = tmp_path / "calibrated.strat"
    code = main(
        [
            "calibrate",
            "--customers",
            str(path),
            "--as-of",
            "2026-06-30",
            "-o",
            str(out),
            "--json",
            str(tmp_path / "report.json"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("stratmap calibrate: error: ") and str(path) in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv"]


def test_negative_balance_in_the_panel(tmp_path: Path) -> None:
    panel = pd.DataFrame(
        {"customer_id": ["1", "1"], "month": ["2026-01", "2026-02"], "aum": [10.0, -1.0]}
    )
    with pytest.raises(
        TableError, match=r"balances.parquet: column aum: negative balance at row 2"
    ):
        read_table("balances", write(tmp_path, panel, "balances.parquet"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--as-of", "someday"], "--as-of 'someday' is not a date"),
        (["--as-of", "2026-06-30", "--map", "opened"], "is not COLUMN=THEIR_NAME"),
        (["--as-of", "2026-06-30", "--transactions", "nowhere.csv"], "nowhere.csv: no such file"),
        (["--as-of", "2020-01-01"], "no customer opened on or before the as-of date 2020-01-01"),
        (
            ["--as-of", "2026-06-30", "--population", "零售 客户"],
            "--population '零售 客户' is not a",
        ),
        (["--as-of", "2026-06-30", "--population", "for"], "the fragment would not check"),
        (["--as-of", "2026-06-30", "--transactions", "."], ".: not a regular file"),
    ],
)
def test_cli_usage_errors(tmp_path: Path, argv: list[str], message: str, capsys) -> None:
    path = write(tmp_path, GOOD)
    code = main(["calibrate", "--customers", str(path), "-o", str(tmp_path / "c.strat"), *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c.strat").exists()


def test_excel_saved_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(GOOD.to_csv(index=False).encode("utf-8-sig"))
    assert read_table("customers", path)["customer_id"].tolist() == ["001", "002", "003"]


def test_an_existing_output_is_left_alone_on_error(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, BAD["duplicate ids"][0])
    out = tmp_path / "calibrated.strat"
    out.write_text("# last month's calibration\n", encoding="utf-8")
    assert (
        main(["calibrate", "--customers", str(path), "--as-of", "2026-06-30", "-o", str(out)]) == 2
    )
    assert out.read_text(encoding="utf-8") == "# last month's calibration\n"
    assert "duplicate ids" in capsys.readouterr().err


def test_a_tiny_book_with_an_open_ended_interval_still_writes_its_fragment(
    tmp_path: Path, capsys
) -> None:
    # Three customers: an sBG interval is open-ended (it was an internal error, exit 3, an
    # OverflowError formatting infinity); the fragment says ∞ and still parses.
    path = write(tmp_path, GOOD)
    out = tmp_path / "c.strat"
    assert (
        main(["calibrate", "--customers", str(path), "--as-of", "2026-06-30", "-o", str(out)]) == 0
    )
    text = out.read_text(encoding="utf-8")
    assert "∞" in text
    assert main(["check", str(out)]) == 0


def test_parquet_dates_and_unused_columns(tmp_path: Path) -> None:
    """A warehouse export: DATE columns (read as dates, not text) and columns no table uses
    (not read, yet named when a needed one is missing)."""
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "customers.parquet"
    pq.write_table(
        pa.table(
            {
                "customer_id": ["001", "002"],
                "opened": pa.array([datetime.date(2024, 1, 5), datetime.date(2024, 3, 1)]),
                "closed": pa.array([None, datetime.date(2025, 1, 31)], pa.date32()),
                "branch_notes": [[1, 2], [3]],  # a list column: pandas would hold objects
            }
        ),
        path,
    )
    table = read_table("customers", path)
    assert list(table.columns) == ["customer_id", "opened", "closed"]
    assert str(table["opened"].dtype) == "datetime64[ns]"
    assert table["closed"].isna().tolist() == [True, False]
    pq.write_table(pq.read_table(path).drop_columns(["opened"]), path)
    with pytest.raises(
        TableError, match=r"no column 'opened' .*columns: customer_id, closed, branch_"
    ):
        read_table("customers", path)


def test_a_boolean_column_where_a_number_is_expected_is_refused(tmp_path: Path) -> None:
    """pandas counts booleans as numbers, so a flag column mapped onto `aum` would read as
    balances of 0 and 1 yuan; the reader names the column instead."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "customers.parquet"
    pq.write_table(
        pa.table(
            {
                "customer_id": ["a", "b"],
                "opened": ["2024-01-05", "2024-03-01"],
                "aum": [True, False],
            }
        ),
        path,
    )
    with pytest.raises(TableError, match=r"column aum: true/false where a number is expected"):
        read_table("customers", path)
