"""Bad and messy input to `stratmap calibrate` and `stratmap backtest`, as a real bank's tables
come: each case found by feeding them to the commands (the brief's list and more). Each ends in
a read table or exit 2 with a message naming the file, the column, the rows and a hint; never a
traceback, exit 3, or a file written over the bank's data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankdata.tables import TableError, read_table
from calibration.book import calibrate
from stratmap.cli import main

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["001", "002", "003", "004"],
        "opened": ["2024-01-05", "2024-03-01", "2025-02-10", "2024-06-01"],
        "closed": ["", "2025-01-31", "", "2025-06-30"],
        "aum": ["1000", "0", "2500.5", "300"],
    }
)
AS_OF = pd.Timestamp("2026-06-30")


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def refused(path: Path, *words: str, mapping: dict[str, str] | None = None) -> str:
    with pytest.raises(TableError) as info:
        read_table("customers", path, mapping)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    return message


# --- encodings and formats --------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig"])
def test_a_csv_from_chinese_excel_is_read(tmp_path: Path, encoding: str) -> None:
    """Excel on a Chinese Windows saves "CSV (逗号分隔)" in GBK: was 'utf-8 codec can't
    decode byte 0xbf' (exit 2, no way forward but re-saving)."""
    frame = CUSTOMERS.rename(columns={"customer_id": "客户号"}).assign(
        客户号=["客户一", "客户二", "客户三", "客户四"]
    )
    path = tmp_path / "customers.csv"
    path.write_bytes(frame.to_csv(index=False).encode(encoding))
    table = read_table("customers", path, {"customer_id": "客户号"})
    assert list(table["customer_id"]) == ["客户一", "客户二", "客户三", "客户四"]


def test_a_csv_in_neither_encoding_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(b"customer_id,opened\n\x80\xff\xfe,2024-01-01\n")
    message = refused(path, "not UTF-8 or GB18030", "CSV UTF-8")
    assert message.startswith(f"{path}: not UTF-8")  # was "cannot be read as csv: PATH: not…"


def test_a_zero_byte_csv_says_it_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(b"")
    refused(path, "the file is empty (0 bytes")


def test_timestamps_with_a_zone_are_read_as_the_banks_day(tmp_path: Path) -> None:
    """A warehouse's TIMESTAMP WITH TIME ZONE: was exit 3 (astype from tz-aware)."""
    frame = CUSTOMERS.assign(
        opened=pd.to_datetime(CUSTOMERS["opened"]).dt.tz_localize("Asia/Shanghai")
    )
    table = read_table("customers", write(tmp_path, frame, "customers.parquet"))
    assert table["opened"].dt.strftime("%Y-%m-%d").tolist() == list(CUSTOMERS["opened"])


def test_ids_stored_as_floats_are_the_whole_numbers(tmp_path: Path) -> None:
    """Excel or pandas wrote the ids as 1.0, 2.0: they were read as the text '1.0', another
    customer than '1' (another arm, no join with the snapshot's history)."""
    frame = CUSTOMERS.assign(customer_id=[1.0, 2.0, 3.0, 40000000001.0])
    table = read_table("customers", write(tmp_path, frame, "customers.parquet"))
    assert list(table["customer_id"]) == ["1", "2", "3", "40000000001"]
    fraction = CUSTOMERS.assign(customer_id=[1.0, 2.5, 3.0, 4.0])
    refused(write(tmp_path, fraction, "f.parquet"), "column customer_id", "row 2 (2.5)", "text")


# --- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "Infinity"])
def test_an_infinite_number_is_refused(tmp_path: Path, value: str) -> None:
    """`inf` AUM was exit 3 (an OverflowError writing the fragment); `inf` ages wrote a
    fragment that did not check, blamed on --population."""
    frame = CUSTOMERS.assign(aum=["1000", value, "2500.5", "300"])
    refused(write(tmp_path, frame), "column aum", "not a finite number", f"row 3 ('{value}')")


def test_an_infinite_number_in_parquet_is_refused(tmp_path: Path) -> None:
    frame = CUSTOMERS.assign(aum=[1000.0, np.inf, 2.0, 3.0])
    refused(write(tmp_path, frame, "c.parquet"), "column aum", "not a finite number", "row 2")


@pytest.mark.parametrize("value", ["1,234.50", "¥1234.5", "1234.5元"])
def test_amounts_as_a_person_writes_them_get_a_hint(tmp_path: Path, value: str) -> None:
    frame = CUSTOMERS.assign(aum=["1000", value, "2500.5", "300"])
    refused(write(tmp_path, frame), "not a number", "no thousands separators or currency")


def test_chinese_dates_are_read(tmp_path: Path) -> None:
    frame = CUSTOMERS.assign(
        opened=["2024年1月5日", "2024年3月1日", "2025年2月10日", "2024年6月1日"]
    )
    table = read_table("customers", write(tmp_path, frame))
    assert table["opened"].dt.strftime("%Y-%m-%d").tolist() == list(CUSTOMERS["opened"])


def test_excel_serial_day_numbers_get_a_hint(tmp_path: Path) -> None:
    """A date column formatted as a number in Excel shows 45296: was only 'not a date'."""
    frame = CUSTOMERS.assign(opened=["45296", "45352", "45698", "45444"])
    refused(write(tmp_path, frame), "not a date", "Excel serial day numbers")


# --- the column mapping -----------------------------------------------------------------------


def test_a_mapped_column_the_file_lacks_is_named(tmp_path: Path) -> None:
    """--map aum=资产 on a file with neither 资产 nor aum silently fitted no AUM. (A file
    with our own name instead is read by it: one mapping serves every table.)"""
    path = write(tmp_path, CUSTOMERS.drop(columns="aum"))
    refused(path, "--map aum=资产", "no column '资产'", mapping={"aum": "资产"})
    assert "aum" in read_table("customers", write(tmp_path, CUSTOMERS), {"aum": "资产"})


def test_a_mapped_column_beside_our_own_name_is_ambiguous(tmp_path: Path) -> None:
    """Both `customer_id` and 客户号, 客户号 mapped: was exit 3 (two columns of one name)."""
    path = write(tmp_path, CUSTOMERS.assign(客户号=["9", "8", "7", "6"]))
    refused(path, "both 'customer_id' and '客户号'", mapping={"customer_id": "客户号"})


def test_one_column_mapped_to_two_of_ours_is_refused(tmp_path: Path) -> None:
    """opened=opened,closed=opened said 'no column opened' while listing it."""
    path = write(tmp_path, CUSTOMERS)
    refused(path, "gives the column 'opened' to opened and closed", mapping={
        "opened": "opened", "closed": "opened"})  # fmt: skip


# --- fits at the boundary ---------------------------------------------------------------------


def _book(opened: list[str], closed: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"{i:03d}" for i in range(len(opened))],
            "opened": pd.to_datetime(opened),
            "closed": pd.to_datetime(closed),
        }
    )


def test_a_book_with_no_whole_month_of_tenure_says_so() -> None:
    """Every customer opened within the last 30 days: was exit 3 (division by zero)."""
    book = _book(["2026-06-20", "2026-06-25"], ["NaT", "NaT"])
    with pytest.raises(ValueError, match="no customer was open a whole month"):
        calibrate(book, AS_OF)


def test_a_book_with_nobody_open_says_so() -> None:
    """Every customer closed: was 'the fragment would not check (the population size must be
    at least 1); choose another name' — blamed on --population."""
    book = _book(["2024-01-01", "2024-02-01"], ["2025-01-01", "2025-03-01"])
    with pytest.raises(ValueError, match="no open book"):
        calibrate(book, AS_OF)


def test_no_churn_at_all_says_why_there_is_no_sbg() -> None:
    book = _book(["2024-01-01", "2024-02-01", "2025-01-01"], ["NaT", "NaT", "NaT"])
    result = calibrate(book, AS_OF)
    assert result.churn_sbg is None
    assert any("no customer closed" in note for note in result.not_fitted)
    assert result.to_json()["not_fitted"] == result.not_fitted


def test_an_sbg_at_its_bound_says_its_intervals_are_open() -> None:
    """Every customer closed in their second month: alpha and beta run to the search's
    bound and the summary showed '(0–inf)' without a word."""
    opened = pd.date_range("2026-03-01", periods=60, freq="D")
    closed = [d + pd.Timedelta(days=45) for d in opened]
    book = _book(
        [d.strftime("%Y-%m-%d") for d in opened],
        [d.strftime("%Y-%m-%d") if d <= AS_OF else "NaT" for d in closed],
    )
    result = calibrate(book, pd.Timestamp("2026-05-20"))
    assert result.churn_sbg is not None
    assert any(note.startswith("churn, sBG: alpha and beta ran") for note in result.not_fitted)


# --- the commands -----------------------------------------------------------------------------


def _calibrate(tmp_path: Path, capsys, *argv: str) -> tuple[int, str]:
    code = main(["calibrate", *argv])
    return code, capsys.readouterr().err


def test_an_output_over_an_input_table_is_refused(tmp_path: Path, capsys) -> None:
    """-o customers.csv overwrote the bank's table with the fragment (exit 0)."""
    path = write(tmp_path, CUSTOMERS)
    before = path.read_bytes()
    code, err = _calibrate(
        tmp_path, capsys, "--customers", str(path), "--as-of", "2026-06-30", "-o", str(path)
    )
    assert code == 2 and "that is an input table" in err
    assert path.read_bytes() == before


def test_two_outputs_to_one_file_are_refused(tmp_path: Path, capsys) -> None:
    """--json and -o the same file: the report silently replaced the fragment."""
    path = write(tmp_path, CUSTOMERS)
    out = tmp_path / "c.strat"
    code, err = _calibrate(tmp_path, capsys, "--customers", str(path), "--as-of", "2026-06-30",
                           "-o", str(out), "--json", str(out))  # fmt: skip
    assert code == 2 and "-o writes the same file" in err
    assert not out.exists()


@pytest.mark.parametrize("as_of", ["", "now", "today", "2026-06-30T12:00", "2026-02-30"])
def test_an_as_of_that_is_not_a_day_is_refused(tmp_path: Path, capsys, as_of: str) -> None:
    """'now' calibrated as of the clock's day; '' said 'the as-of date NaT'."""
    path = write(tmp_path, CUSTOMERS)
    code, err = _calibrate(tmp_path, capsys, "--customers", str(path), "--as-of", as_of,
                           "-o", str(tmp_path / "c.strat"))  # fmt: skip
    assert code == 2 and f"--as-of {as_of!r} is not a date" in err


def test_the_summary_says_what_was_not_fitted(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, CUSTOMERS.assign(closed=""))
    late = {"customer_id": ["001"], "date": ["2027-01-01"], "play": ["理财"], "responded": ["1"]}
    contacts = write(tmp_path, pd.DataFrame(late), "contacts.csv")
    code = main(["calibrate", "--customers", str(path), "--contacts", str(contacts),
                 "--as-of", "2026-06-30", "-o", str(tmp_path / "c.strat"),
                 "--json", str(tmp_path / "c.json")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "not fitted: churn, sBG: no customer closed" in out
    assert "not fitted: contacts: none dated on or before 2026-06-30" in out
    report = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert len(report["not_fitted"]) == 2


def _backtest_tables(tmp_path: Path) -> tuple[Path, Path]:
    customers = write(tmp_path, CUSTOMERS.assign(closed=""))
    transactions = write(
        tmp_path,
        pd.DataFrame({"customer_id": ["001", "001", "003", "002"],
                      "date": ["2025-03-01", "2025-06-01", "2025-04-01", "2025-08-01"]}),
        "transactions.csv",
    )  # fmt: skip
    return customers, transactions


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--seed", "-1"], "--seed -1: must be at least 0"),
        (["--end", "now"], "--end 'now' is not a date"),
    ],
)
def test_backtest_refuses_a_bad_seed_or_day(tmp_path: Path, capsys, extra, words) -> None:
    """--seed -1 was exit 3 (the calibrated map's `seed -1` did not parse)."""
    customers, transactions = _backtest_tables(tmp_path)
    code = main(["backtest", "--customers", str(customers), "--transactions",
                 str(transactions), "--split", "2025-05-01", *extra])  # fmt: skip
    assert code == 2 and words in capsys.readouterr().err


def test_backtest_refuses_an_output_over_an_input(tmp_path: Path, capsys) -> None:
    customers, transactions = _backtest_tables(tmp_path)
    before = transactions.read_bytes()
    code = main(["backtest", "--customers", str(customers), "--transactions", str(transactions),
                 "--split", "2025-05-01", "--json", str(transactions)])  # fmt: skip
    assert code == 2 and "that is an input table" in capsys.readouterr().err
    assert transactions.read_bytes() == before


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ({"customer_id": "陌生人", "date": "2025-03-01"}, "customers table does not have"),
        ({"customer_id": "001", "date": "2023-12-01"}, "001 on 2023-12-01"),
    ],
)
def test_calibrate_refuses_transactions_backtest_refuses(
    tmp_path: Path, capsys, row: dict[str, str], words: str
) -> None:
    """A transaction of a customer the customers table lacks was dropped without a word, and
    one before its customer opened was counted (a higher rate); `backtest` refused both."""
    customers, transactions = _backtest_tables(tmp_path)
    frame = pd.concat([pd.read_csv(transactions, dtype=str), pd.DataFrame([row])])
    frame.to_csv(transactions, index=False)
    out = tmp_path / "c.strat"
    code = main(["calibrate", "--customers", str(customers), "--transactions", str(transactions),
                 "--as-of", "2026-06-30", "-o", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and words in err
    assert f"error: {transactions}: " in err  # the file, not the table's name
    assert not out.exists()


def test_a_customer_opened_after_the_as_of_date_may_have_transactions(tmp_path: Path) -> None:
    """Not in the book yet, but in the table: their transactions are known, not counted."""
    customers = pd.DataFrame(
        {"customer_id": ["001", "002", "003"],
         "opened": pd.to_datetime(["2024-01-01", "2024-02-01", "2026-08-01"]),
         "closed": pd.to_datetime(["NaT", "2025-01-01", "NaT"])}
    )  # fmt: skip
    transactions = pd.DataFrame(
        {"customer_id": ["001", "003", "001"],
         "date": pd.to_datetime(["2025-01-01", "2026-08-02", "2025-03-01"])}
    )  # fmt: skip
    result = calibrate(customers, AS_OF, transactions)
    assert result.customer_data is not None
    assert result.customer_data["transactions"].tolist() == [2.0, 0.0]


def test_an_as_of_long_after_the_data_is_cautioned() -> None:
    """--as-of 2100 on a book seen to 2025 calibrated (exit 0) a churn near 0 without a word:
    every open customer counted as surviving 75 years."""
    book = _book(["2024-01-01", "2024-02-01", "2024-03-01"], ["2025-01-01", "NaT", "NaT"])
    far = calibrate(book, pd.Timestamp("2100-01-01"))
    assert len(far.cautions) == 1
    assert "is 27393 days after the latest date in the tables (2025-01-01)" in far.cautions[0]
    assert calibrate(book, pd.Timestamp("2025-01-20")).cautions == []


def test_excel_data_on_another_sheet_or_below_a_title_gets_a_hint(tmp_path: Path) -> None:
    """Both said only "no column 'customer_id' (columns: 说明)" or "(columns: 客户信息,
    Unnamed: 1, …)"."""
    from openpyxl import Workbook

    path = tmp_path / "customers.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"说明": ["导出说明"]}).to_excel(writer, sheet_name="说明", index=False)
        CUSTOMERS.to_excel(writer, sheet_name="客户", index=False)
    refused(path, "sheet '客户' has it", "move that sheet first")
    book = Workbook()
    sheet = book.active
    sheet.append(["客户信息表", None, None])
    sheet.merge_cells("A1:C1")
    sheet.append(["customer_id", "opened", "closed"])
    sheet.append(["001", "2024-01-05", None])
    titled = tmp_path / "titled.xlsx"
    book.save(titled)
    refused(titled, "the header 'customer_id' is on row 2", "delete the rows above it")


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_csv_with_another_separator_is_read(tmp_path: Path, sep: str) -> None:
    """A European Excel's ';' or a warehouse's tab or '|': was "no column 'customer_id'
    (columns: customer_id;opened;closed;aum)"."""
    path = tmp_path / "customers.csv"
    CUSTOMERS.to_csv(path, index=False, sep=sep)
    assert list(read_table("customers", path)["customer_id"]) == ["001", "002", "003", "004"]


def test_a_csv_named_xlsx_says_what_it_is(tmp_path: Path) -> None:
    """Was exit 3 (zipfile.BadZipFile)."""
    path = tmp_path / "customers.xlsx"
    CUSTOMERS.to_csv(path, index=False)
    refused(path, "not an Excel workbook", "name a CSV .csv")


def test_months_written_yyyymm_get_their_own_hint(tmp_path: Path) -> None:
    """202507 was called an Excel serial day number."""
    frame = CUSTOMERS.assign(opened=["202401", "202403", "202502", "202406"])
    message = refused(write(tmp_path, frame), "months written YYYYMM")
    assert "Excel serial" not in message


def test_backtest_refuses_a_folder_it_did_not_write_before_the_work(tmp_path: Path, capsys) -> None:
    """--out into a folder holding the bank's own file: was exit 3 after the whole run."""
    customers, transactions = _backtest_tables(tmp_path)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("the bank's", encoding="utf-8")
    code = main(["backtest", "--customers", str(customers), "--transactions", str(transactions),
                 "--split", "2025-05-01", "--out", str(folder)])  # fmt: skip
    assert code == 2 and "Stratmap did not write" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


def test_backtest_refuses_a_panel_about_no_customer_of_the_book(tmp_path: Path, capsys) -> None:
    """A balances panel whose ids are none of the customers table's: was exit 3 (KeyError)."""
    customers, transactions = _backtest_tables(tmp_path)
    panel = pd.DataFrame({"customer_id": ["X1", "X2"], "month": ["2025-04-01", "2025-05-01"],
                          "aum": ["10", "20"]})  # fmt: skip
    balances = write(tmp_path, panel, "balances.csv")
    code = main(["backtest", "--customers", str(customers), "--transactions", str(transactions),
                 "--balances", str(balances), "--split", "2025-05-01"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and f"{balances}: no row names a customer opened by the split" in err


@pytest.mark.parametrize(
    ("table", "frame", "words"),
    [
        (
            "contacts",
            pd.DataFrame(
                {
                    "customer_id": ["001", "002"],
                    "date": ["2025-01-01", "2025-01-02"],
                    "play": ["理财", " "],
                    "responded": ["1", "0"],
                }
            ),
            "column play: empty value at row 3",
        ),
        (
            "balances",
            pd.DataFrame(
                {
                    "customer_id": ["001", "002"],
                    "month": ["2025-01-01", "2025-01-01"],
                    "aum": ["", "10"],
                }
            ),
            "column aum: empty amount at row 2",
        ),
    ],
)
def test_a_required_cell_left_empty_is_refused(
    tmp_path: Path, table: str, frame: pd.DataFrame, words: str
) -> None:
    """A contact with no play was fitted as the play '' (a response rate for nothing); a
    balance with no amount went into the flows as NaN."""
    path = write(tmp_path, frame, f"{table}.csv")
    with pytest.raises(TableError, match=words):
        read_table(table, path)


@pytest.mark.parametrize("name", ["customers.csv", "customers.xlsx", "customers.parquet"])
def test_a_column_named_twice_in_the_header_is_refused(tmp_path: Path, name: str) -> None:
    """CSV and Excel read the first `opened` and ignored the second (pandas calls it
    `opened.1`); Parquet said 'Multiple matches for FieldRef.Name(opened)' and its schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [["001", "2024-01-05", "2025-01-01"], ["002", "2024-03-01", "2025-02-01"]]
    header = ["customer_id", "opened", "opened"]
    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    elif name.endswith(".xlsx"):
        pd.DataFrame(rows, columns=header).to_excel(path, index=False)
    else:
        columns = [pa.array([r[i] for r in rows]) for i in range(3)]
        pq.write_table(pa.table(columns, names=header), path)
    message = refused(path, "the header names 'opened' 2 times (columns 2, 3)", "keep one")
    assert message.startswith(f"{path}: the header names")  # said once, not wrapped


@pytest.mark.parametrize("late", ["--json", "--per-customer"])
def test_an_output_that_cannot_be_written_stops_before_any_is(
    tmp_path: Path, capsys, late: str
) -> None:
    """--json (or --per-customer) naming a folder: exit 2, but the fragment (and the
    posteriors) were written first — a half-written set."""
    path = write(tmp_path, CUSTOMERS)
    folder = tmp_path / "a_folder.csv"
    folder.mkdir()
    fragment, posteriors = tmp_path / "c.strat", tmp_path / "p.parquet"
    others = ["--per-customer", str(posteriors)] if late == "--json" else []
    code = main(["calibrate", "--customers", str(path), "--as-of", "2026-06-30",
                 "-o", str(fragment), *others, late, str(folder)])  # fmt: skip
    assert code == 2 and f"{late} {folder}: a folder" in capsys.readouterr().err
    assert not fragment.exists() and not posteriors.exists()
