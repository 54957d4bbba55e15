"""The contact list (定名单), format v2: what `stratmap decide` writes and `stratmap review` reads.

One home for the format (docs/contact-list.md): the columns as data (``COLUMNS``), the arm,
action and reason vocabularies, ``write_list`` and ``read_list``. A list is a directory:

    list.parquet  list.csv (UTF-8 with BOM, so Excel shows Chinese)  list.xlsx  manifest.json

the same rows in three formats, one row per (eligible customer, play). The manifest says which
format and version the directory holds, the map and snapshot it was decided from, and counts.
Another system may write a list too: ``read_list`` trusts nothing and names the file, column
and rows of whatever does not fit. Version 2 added the ``segments`` column (the customer's
segments at decision time, for the review's uplift per segment); version 1 lists are still
read, their ``segments`` empty.

Writing is atomic: every file goes into a hidden temporary sibling directory
(``strategy_dsl.safe_write`` names, swept after a hard kill), the manifest last, and only a
complete directory is moved into place. An existing directory is replaced only when it is
empty or a contact list Stratmap wrote (its manifest and nothing but the list's files).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from strategy_dsl import safe_write
from strategy_dsl.checker.extras import SUPPRESSION_REASONS
from strategy_dsl.userfile import FileTooLarge, read_user_json

__all__ = [
    "ACTIONS",
    "ARMS",
    "COLUMNS",
    "FILES",
    "FORMAT",
    "MANIFEST_FILE",
    "READ_VERSIONS",
    "REASONS",
    "SEGMENT_SEPARATOR",
    "VERSION",
    "Column",
    "ContactList",
    "ContactListError",
    "check_list_dir",
    "read_list",
    "segment_members",
    "segment_names",
    "write_list",
]

FORMAT = "stratmap.contact-list"
VERSION = 2  # what write_list writes
READ_VERSIONS = (1, 2)  # what read_list reads: a v1 list has no segments column
MANIFEST_FILE = "manifest.json"
PARQUET_FILE, CSV_FILE, XLSX_FILE = "list.parquet", "list.csv", "list.xlsx"
FILES = (PARQUET_FILE, CSV_FILE, XLSX_FILE, MANIFEST_FILE)

ARMS = ("treatment", "global_control", "rule_holdout")
ACTIONS = ("contact", "suppress")
# The suppression reasons are the simulator's own words (docs/results.md, `suppression`), and
# `consent`, which the format admits for a list another system writes.
REASONS = (*SUPPRESSION_REASONS, "consent")
# Excel's sheet holds 1,048,576 rows; the header takes one. A longer list continues on further
# sheets (list, list_2, …) in the same workbook.
XLSX_ROWS_PER_SHEET = 1_048_575
_SHOWN_ROWS = 5
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Column:
    """One column of the list: its name, its type (``string``, ``int32``, ``float64``), whether
    it may be empty, and the words the vocabulary allows (empty: any text)."""

    name: str
    kind: str
    nullable: bool
    vocabulary: tuple[str, ...] = ()


COLUMNS_V1: tuple[Column, ...] = (
    Column("customer_id", "string", False),
    Column("play", "string", False),
    Column("wave", "int32", True),
    Column("channel", "string", False),
    Column("script", "string", True),
    Column("product", "string", True),
    Column("priority", "float64", False),
    Column("arm", "string", False, ARMS),
    Column("action", "string", False, ACTIONS),
    Column("reason", "string", True, REASONS),
)
# v2: the declared segments the customer was in at decision time, in the map's order, joined
# by SEGMENT_SEPARATOR (segments overlap: a customer can be in several); empty for none. Last,
# so that a reader of v1's columns by position still finds them where they were.
SEGMENT_SEPARATOR = "|"
COLUMNS: tuple[Column, ...] = (*COLUMNS_V1, Column("segments", "string", True))
_COLUMNS_OF = {1: COLUMNS_V1, 2: COLUMNS}
_ARROW = {"string": pa.string(), "int32": pa.int32(), "float64": pa.float64()}
SCHEMA = pa.schema([pa.field(c.name, _ARROW[c.kind], nullable=c.nullable) for c in COLUMNS])


class ContactListError(ValueError):
    """A list (or its manifest) that does not fit its format version; the message names
    file, column and rows, and says what was expected."""


@dataclass(frozen=True)
class ContactList:
    """A list as read back: its rows (typed as ``COLUMNS`` says) and its manifest."""

    rows: pd.DataFrame
    manifest: dict[str, Any]
    path: Path


# ------------------------------------------------------------------------------ validation


def _rows(frame_index: pd.Index, values: pd.Series | None = None, first_row: int = 1) -> str:
    shown = ", ".join(
        f"row {int(i) + first_row}" + ("" if values is None else f" ({values[i]!r})")
        for i in frame_index[:_SHOWN_ROWS]
    )
    more = f" and {len(frame_index) - _SHOWN_ROWS} more" if len(frame_index) > _SHOWN_ROWS else ""
    return shown + more


def _blank(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):  # typed Parquet numbers: only nulls are blank
        return values.isna()
    return values.isna() | (values.astype(str).str.strip() == "")


def _text(values: pd.Series, unique: bool, strip: bool) -> pd.Series:
    """Text, blanks missing; surrounding spaces stripped from every name, and from the ids of
    a CSV file (a Parquet file's ids are taken exactly as typed). The customer id (one per
    row) stays plain strings; every other column has a few distinct values and becomes
    categorical, so that a million rows are cleaned by cleaning their handful of names."""
    if unique:
        text = values if pd.api.types.is_object_dtype(values) else values.astype(object)
        text = text.where(text.isna(), text.astype(str))  # an id written as a number is text
        if strip:
            text = text.str.strip()
        return text.where(text.notna() & (text != ""), None)
    codes, names = pd.factorize(values, use_na_sentinel=True)
    cleaned = pd.Index([str(name).strip() for name in names], dtype=object)
    categories = pd.Index(cleaned.unique()).drop("", errors="ignore")
    positions = categories.get_indexer(cleaned)  # "" (blank) → -1, missing
    return pd.Series(
        pd.Categorical.from_codes(
            np.where(codes >= 0, positions[codes] if len(positions) else -1, -1), categories
        ),
        index=values.index,
    )


def segment_names(value: object) -> list[str]:
    """The segments of one list row's ``segments`` cell (empty or missing: none)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return []
    return [name.strip() for name in str(value).split(SEGMENT_SEPARATOR) if name.strip()]


def segment_members(cells: pd.Series) -> dict[str, np.ndarray]:
    """Per segment named in a ``segments`` column, which rows are in it (a boolean mask
    aligned with ``cells``); the segments in the order the cells first name them. The cells'
    distinct values are split once each, not once per row."""
    codes, combos = pd.factorize(cells)  # missing → -1: in no segment
    members: dict[str, list[int]] = {}
    for code, combo in enumerate(combos):
        for name in segment_names(combo):
            members.setdefault(name, []).append(code)
    return {name: np.isin(codes, found) for name, found in members.items()}


def _typed(
    frame: pd.DataFrame,
    where: Path,
    first_row: int,
    *,
    strip_ids: bool = False,
    version: int = VERSION,
) -> pd.DataFrame:
    """The columns of ``version``, in order and typed (a v1 list gains an empty
    ``segments``); raises on a missing, extra or mistyped column."""
    columns = _COLUMNS_OF[version]
    names = [c.name for c in columns]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ContactListError(
            f"{where}: no column {', '.join(missing)} (a contact list v{version} has the "
            f"columns {', '.join(names)}; see docs/contact-list.md)"
        )
    extra = [str(c) for c in frame.columns if c not in names]
    if extra:
        raise ContactListError(
            f"{where}: unknown column {', '.join(extra)} (a contact list v{version} has only "
            f"{', '.join(names)}; keep the bank's own columns in another file)"
        )
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        values = frame[column.name]
        if column.kind == "string":
            converted = _text(values, column.name == "customer_id", strip=strip_ids)
        else:
            text_blank = _blank(values)
            numbers = pd.to_numeric(values.where(~text_blank), errors="coerce")
            bad = numbers.isna() & ~text_blank
            if column.kind == "int32":
                bad |= numbers.notna() & (numbers != numbers.round())
            if bad.any():
                raise ContactListError(
                    f"{where}: column {column.name}: not "
                    f"{'a whole number' if column.kind == 'int32' else 'a number'} at "
                    f"{_rows(values.index[bad], values, first_row)}"
                )
            converted = numbers.astype("Int32" if column.kind == "int32" else "float64")
        if not column.nullable and converted.isna().any():
            empty = converted.index[converted.isna()]
            raise ContactListError(
                f"{where}: column {column.name}: empty at {_rows(empty, None, first_row)} "
                "(every row needs one)"
            )
        if column.vocabulary:
            bad = converted.notna() & ~converted.isin(column.vocabulary)
            if bad.any():
                raise ContactListError(
                    f"{where}: column {column.name}: unknown value at "
                    f"{_rows(converted.index[bad], converted, first_row)} "
                    f"(expected one of {', '.join(column.vocabulary)})"
                )
        out[column.name] = converted
    if "segments" not in out:  # a v1 list: nobody recorded the segments
        out["segments"] = pd.Categorical([None] * len(out), categories=[])
    _check_rules(out, where, first_row)
    return out


def _check_rules(rows: pd.DataFrame, where: Path, first_row: int) -> None:
    """What the columns mean together: a contacted row has no reason, a suppressed one has
    one; the control arms are never contacted; one row per customer, play and wave."""
    contacted = rows["action"] == "contact"
    checks = [
        (contacted & rows["reason"].notna(), "reason", "a contacted row has no reason"),
        (~contacted & rows["reason"].isna(), "reason", "a suppressed row needs its reason"),
        (
            contacted & (rows["arm"] != "treatment"),
            "arm",
            "only the treatment arm is contacted (global_control and rule_holdout are "
            "eligible, never treated)",
        ),
    ]
    for bad, column, expected in checks:
        bad = bad.fillna(False).astype(bool)
        if bad.any():
            raise ContactListError(
                f"{where}: column {column}: {expected}; not so at "
                f"{_rows(rows.index[bad], None, first_row)}"
            )
    key = ["customer_id", "play", "wave"]
    dup = rows.duplicated(key, keep=False)
    if dup.any():
        raise ContactListError(
            f"{where}: duplicate rows (customer_id, play, wave) at "
            f"{_rows(rows.index[dup], rows['customer_id'], first_row)} "
            "(one row per customer and play)"
        )


# ------------------------------------------------------------------------------ writing


def _counts(rows: pd.DataFrame) -> dict[str, dict[str, int]]:
    return {
        name: {str(k): int(v) for k, v in rows[name].value_counts(sort=False).sort_index().items()}
        for name in ("play", "channel", "arm", "action")
    }


def write_list(
    out_dir: Path,
    rows: pd.DataFrame,
    manifest: Mapping[str, Any],
    *,
    formats: tuple[str, ...] = ("parquet", "csv", "xlsx"),
) -> Path:
    """Write a list directory (``FILES``) atomically; returns ``out_dir``.

    ``rows`` must hold the columns of ``VERSION`` (checked as ``read_list`` checks them).
    ``manifest`` is the caller's part of the manifest (map, map_hash, snapshot_hash, as_of, seed,
    capacity_used, stratmap_version …); ``format``, ``version``, ``rows`` and ``counts`` are
    filled in here from the rows themselves, with ``files``: the files written. ``formats``
    leaves out CSV or xlsx where a caller must (the workbook takes about a minute per million
    rows); Parquet is always written. Raises ``ContactListError`` for rows that do not
    fit or a directory that is not Stratmap's to replace, ``OSError`` when the disk refuses;
    either way nothing is left half-written."""
    out_dir = Path(out_dir)
    typed = _typed(rows.reset_index(drop=True), Path("the rows to write"), 1)
    unknown = set(formats) - {"parquet", "csv", "xlsx"}
    if unknown:
        raise ValueError(f"unknown list formats {sorted(unknown)}; use parquet, csv, xlsx")
    written = [PARQUET_FILE]
    written += [CSV_FILE] if "csv" in formats else []
    written += [XLSX_FILE] if "xlsx" in formats else []
    document = {
        **dict(manifest),
        "files": written,
        "format": FORMAT,
        "version": VERSION,
        "rows": len(typed),
        "counts": _counts(typed),
    }
    text = json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    check_list_dir(out_dir)
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = safe_write.temporary_name(parent, out_dir.name)
    staging.mkdir()
    try:
        plain = typed.astype({c.name: object for c in COLUMNS if c.kind == "string"})
        table = pa.Table.from_pandas(plain, schema=SCHEMA, preserve_index=False)
        pq.write_table(table, staging / PARQUET_FILE)
        if CSV_FILE in written:
            typed.to_csv(staging / CSV_FILE, index=False, encoding="utf-8-sig")
        if XLSX_FILE in written:
            _write_xlsx(staging / XLSX_FILE, typed)
        (staging / MANIFEST_FILE).write_text(text, encoding="utf-8")  # last: complete
        for name in [*written, MANIFEST_FILE]:
            with open(staging / name, "rb") as handle:
                os.fsync(handle.fileno())
        safe_write.replace_directory(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _write_xlsx(path: Path, rows: pd.DataFrame) -> None:
    # openpyxl's write-only workbook streams rows to disk: twice as fast as pandas' writer
    # (about 18,000 rows a second here) and in constant memory.
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    cells = rows.astype(object).where(rows.notna(), None)
    for number, start in enumerate(range(0, max(len(rows), 1), XLSX_ROWS_PER_SHEET)):
        sheet = book.create_sheet("list" if number == 0 else f"list_{number + 1}")
        sheet.append(list(rows.columns))
        part = cells.iloc[start : start + XLSX_ROWS_PER_SHEET]
        for row in part.itertuples(index=False, name=None):
            sheet.append(row)
    book.save(path)


def check_list_dir(out_dir: Path) -> None:
    """Refuse (``ContactListError``), before any work, a list directory ``write_list`` would
    refuse: one that holds what Stratmap did not write, a link, a file, or a path under a
    file."""
    out_dir = Path(out_dir)
    for folder in out_dir.parents:
        if os.path.lexists(folder):
            if not folder.is_dir():
                raise ContactListError(
                    f"{out_dir}: {folder} is a file, not a folder\nhelp: name a list "
                    "directory in a folder"
                )
            break
    _check_replaceable(out_dir)


def _check_replaceable(out_dir: Path) -> None:
    safe_write.recover_directory(out_dir)  # what a killed write left beside it
    if not os.path.lexists(out_dir):
        return
    if out_dir.is_symlink():  # replacing it would put a directory where the link was
        raise ContactListError(
            f"{out_dir}: a symbolic link (to {os.readlink(out_dir)}); a list replaces a "
            "directory, not a link\nhelp: name the directory itself with -o"
        )
    if not out_dir.is_dir():
        raise ContactListError(f"{out_dir}: exists and is not a directory")
    present = set(os.listdir(out_dir))
    if not present:
        return
    if MANIFEST_FILE not in present or _format_of(out_dir / MANIFEST_FILE) != FORMAT:
        raise ContactListError(
            f"{out_dir}: a directory that is not a contact list Stratmap wrote (no list "
            f"{MANIFEST_FILE}); a list replaces only an empty directory or an earlier list\n"
            "help: name a new directory with -o, or empty this one yourself"
        )
    foreign = sorted(present - set(FILES))
    if foreign:
        raise ContactListError(
            f"{out_dir}: holds an earlier list and also {', '.join(foreign[:3])}, which "
            "Stratmap did not write; replacing it would delete them\n"
            "help: move those elsewhere, or name a new directory with -o"
        )


def _format_of(path: Path) -> str | None:
    try:  # a FIFO in place of the manifest would block a plain read forever
        document = read_user_json(path, _MAX_MANIFEST_BYTES)
    except (OSError, ValueError):
        return None
    return document.get("format") if isinstance(document, dict) else None


# ------------------------------------------------------------------------------ reading


def read_list(path: Path) -> ContactList:
    """Read and validate a list directory (its manifest and ``list.parquet``, or ``list.csv``
    when a system that writes no Parquet wrote it). Raises ``ContactListError``."""
    path = Path(path)
    if not path.is_dir():
        what = "a file" if path.exists() else "no such directory"
        raise ContactListError(
            f"{path}: not a contact-list directory ({what}; "
            "give the folder `stratmap decide -o` wrote)"
        )
    manifest = _read_manifest(path / MANIFEST_FILE)
    # A table the manifest says was written but is gone: the directory was copied in part or
    # changed. Falling back to the other table would review rows nobody can vouch for.
    named = manifest.get("files")
    for name in (PARQUET_FILE, CSV_FILE):
        if isinstance(named, list) and name in named and not (path / name).is_file():
            raise ContactListError(
                f"{path / name}: missing, though {MANIFEST_FILE} lists it among the list's "
                f"files ({', '.join(map(str, named))})\n"
                "help: the directory is incomplete: copy the whole list directory, or decide "
                "the list again"
            )
    if (path / PARQUET_FILE).is_file():
        source = path / PARQUET_FILE
        try:
            frame = pq.read_table(source).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise ContactListError(f"{source}: cannot be read as Parquet: {exc}") from None
        first_row = 1
    elif (path / CSV_FILE).is_file():
        source = path / CSV_FILE
        try:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ContactListError(
                f"{source}: not UTF-8 ({exc.reason} at byte {exc.start})\nhelp: save it as "
                "UTF-8 (Excel: CSV UTF-8; GBK is not read), or use list.parquet"
            ) from None
        except (OSError, ValueError) as exc:
            raise ContactListError(f"{source}: cannot be read as CSV: {exc}") from None
        first_row = 2  # the header is line 1
    else:
        raise ContactListError(f"{path}: holds neither {PARQUET_FILE} nor {CSV_FILE}")
    rows = _typed(
        frame, source, first_row, strip_ids=source.suffix == ".csv", version=manifest["version"]
    )
    if manifest["rows"] != len(rows):
        raise ContactListError(
            f"{path / MANIFEST_FILE}: says {manifest['rows']} rows, {source.name} holds "
            f"{len(rows)} (a file was changed after the list was written)"
        )
    return ContactList(rows=rows.reset_index(drop=True), manifest=manifest, path=path)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:  # only a regular file, and a bounded read: a FIFO would block a plain read forever
        document = read_user_json(path, _MAX_MANIFEST_BYTES)
    except FileTooLarge:
        raise ContactListError(f"{path}: too large for a list manifest") from None
    except FileNotFoundError:
        raise ContactListError(
            f"{path}: missing (a contact-list directory holds {MANIFEST_FILE} beside its rows)"
        ) from None
    except OSError as exc:
        raise ContactListError(f"{path}: cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise ContactListError(f"{path}: not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ContactListError(
            f"{path}: format {document.get('format') if isinstance(document, dict) else None!r}"
            f", expected {FORMAT!r} (is this a contact list?)"
        )
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ContactListError(f"{path}: version {version!r} is not a whole number")
    if version not in READ_VERSIONS:
        hint = "upgrade Stratmap" if version > VERSION else "write it again with this Stratmap"
        raise ContactListError(
            f"{path}: a contact list of version {version}; this Stratmap reads versions "
            f"{', '.join(map(str, READ_VERSIONS))} ({hint})"
        )
    for key, kind in (("map_hash", str), ("rows", int)):
        value = document.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ContactListError(
                f"{path}: key {key!r} is {value!r}, expected {kind.__name__} "
                "(see docs/contact-list.md)"
            )
    return document
