"""The files the bank's tables come in: Parquet, CSV (UTF-8 or GB18030; comma, `;`, tab or
`|`) and Excel, read as they are, before any column is looked at (bankdata.tables validates
the columns). A file that cannot be read as a table is a `TableError` naming it, with what
to do: a 0-byte CSV, a CSV named .xlsx, a header naming a column twice, a workbook whose
header is below a title row or on another sheet.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["Source", "TableError", "excel_hint", "read_file"]


class TableError(ValueError):
    """A table that cannot be used as it is; the message names file, column and rows."""


@dataclass(frozen=True)
class Source:
    path: Path
    first_row: int  # the file's row number of the first data row (a header line before it)
    columns: tuple[str, ...] = ()  # every column the file has, read or not (for messages)


def _read_parquet(path: Path, wanted: set[str]) -> tuple[pd.DataFrame, Source]:
    """Only the columns a table uses (a warehouse export may hold hundreds), and DATE columns
    as datetime64, not one Python object a row: 30 M of those cost more than the read."""
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    _check_header(path, names, wanted)
    used = [name for name in names if str(name).strip() in wanted]
    table = pq.read_table(path, columns=used)
    # Each Arrow column let go as soon as it is in pandas: the read costs one copy, not two.
    frame = table.to_pandas(date_as_object=False, self_destruct=True, split_blocks=True)
    del table
    return frame, Source(path, 1, tuple(map(str, names)))


def read_file(path: Path, wanted: set[str]) -> tuple[pd.DataFrame, Source]:
    suffix = path.suffix.lower()
    if not path.exists():
        raise TableError(f"{path}: no such file")
    if not path.is_file():  # a folder, a pipe or a device: never opened (a FIFO would hang)
        raise TableError(f"{path}: not a regular file (a table is a Parquet, CSV or Excel file)")
    try:
        if suffix in {".parquet", ".pq"}:
            return _read_parquet(path, wanted)
        if suffix == ".csv":
            frame, header = _read_csv(path)
            _check_header(path, header, wanted)
            return frame, Source(path, 2)
        if suffix in {".xlsx", ".xlsm"}:
            _check_header(path, _excel_header(path), wanted)
            return pd.read_excel(path, engine="openpyxl", dtype=object), Source(path, 2)
    except TableError:  # already says what is wrong (a ValueError: not to be wrapped below)
        raise
    except pd.errors.EmptyDataError:  # a 0-byte file: not even a header line
        raise TableError(
            f"{path}: the file is empty (0 bytes; expected a header line, then one row a line)"
        ) from None
    except zipfile.BadZipFile:  # an .xlsx is a zip: this is a CSV or an old .xls renamed
        raise TableError(
            f"{path}: not an Excel workbook (.xlsx is a zip file; this one is not: a CSV or an "
            "old .xls renamed?); save it from Excel as .xlsx, or name a CSV .csv"
        ) from None
    except (OSError, ValueError, ImportError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise TableError(f"{path}: cannot be read as {suffix[1:]}: {reason}") from None
    raise TableError(f"{path}: unknown table format {suffix!r}; use .parquet, .csv or .xlsx")


def _check_header(path: Path, names: list[str], wanted: set[str]) -> None:
    """A column Stratmap reads named twice in the header: pandas would read the first and call
    the other `opened.1`, Arrow would refuse with its schema. Which one is the bank's?"""
    stripped = [str(name).strip() for name in names]
    for name in sorted({n for n in stripped if n in wanted and stripped.count(n) > 1}):
        where = [str(i + 1) for i, n in enumerate(stripped) if n == name]
        raise TableError(
            f"{path}: the header names {name!r} {len(where)} times (columns "
            f"{', '.join(where)}): keep one, or rename the others"
        )


def _excel_header(path: Path) -> list[str]:
    """The first sheet's first row, as written (pandas renames a repeated name `x.1`)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        row = next(book.worksheets[0].iter_rows(max_row=1, values_only=True), ())
        return [str(v) for v in row if v is not None]
    finally:
        book.close()


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """A CSV as text (ids keep their leading zeros; parsing is ours to check), in UTF-8 (with or
    without BOM) or else GB18030: what Excel writes on a Chinese Windows ("CSV (逗号分隔)"),
    a superset of GBK and GB2312. A file that is neither is refused, naming the byte. Also
    the header's names as written (pandas renames a repeated name `x.1`)."""
    sep = _separator(path)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, sep=sep)
            header = pd.read_csv(
                path, dtype=str, keep_default_na=False, encoding=encoding, sep=sep,
                header=None, nrows=1,
            )  # fmt: skip
            return frame, [str(v) for v in header.iloc[0]] if len(header) else []
        except UnicodeDecodeError as exc:
            error = exc
    raise _not_text(path, error)


def _not_text(path: Path, exc: UnicodeDecodeError) -> TableError:
    return TableError(
        f"{path}: not UTF-8 or GB18030 text (byte {exc.object[exc.start]:#04x} at offset "
        f"{exc.start}); save it from Excel as 'CSV UTF-8' and try again"
    )


def _separator(path: Path) -> str:
    """The header line's separator: a comma, else the one of ; tab | it holds (a European
    Excel's "CSV" uses ;, a warehouse's export often tab or |). Only the first line is read."""
    with path.open("rb") as handle:
        header = handle.readline(64 * 1024)
    if b"," in header:
        return ","
    counts = {sep: header.count(sep.encode()) for sep in (";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def excel_hint(path: Path, name: str) -> str:
    """Where in the workbook the missing column is, when it is there at all: a header below a
    title row (merged cells above it), or another sheet (the data on the second sheet).
    Stratmap reads the first sheet's first row as the header, and says so."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (OSError, ValueError, KeyError):
        return ""
    try:
        for index, sheet in enumerate(book.worksheets):
            rows = sheet.iter_rows(min_row=1, max_row=10, values_only=True)
            for number, row in enumerate(rows, start=1):
                if name not in {str(v).strip() for v in row if v is not None}:
                    continue
                if index == 0:
                    return (
                        f"; the header {name!r} is on row {number}: Stratmap reads row 1 as "
                        "the header, so delete the rows above it (a title, merged cells)"
                    )
                return (
                    f"; sheet {sheet.title!r} has it: Stratmap reads the first sheet, so move "
                    "that sheet first or save it alone"
                )
    finally:
        book.close()
    return ""
