"""The bank's tables, read from Parquet, CSV or Excel and strictly validated (docs/calibration.md).

One home for reading them: `stratmap calibrate`, `backtest`, `review` and the snapshot loader
use it. The files themselves (formats, encodings, separators, headers) are read by
bankdata.table_files; here the columns are mapped, converted and checked. Every problem is a
`TableError` naming the file, the column and the first offending rows, raised before
anything is written.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bankdata.table_files import Source, TableError, excel_hint, read_file

__all__ = ["COLUMNS", "TableError", "parse_mapping", "read_mapping_file", "read_table"]

#: Each table's columns: (name, kind, required). Kinds: id, date, month, number, flag, text.
COLUMNS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "customers": (
        ("customer_id", "id", True),
        ("opened", "date", True),
        ("closed", "date", False),  # empty while the account is open
        ("aum", "money", False),
        ("age", "number", False),
    ),
    "transactions": (
        ("customer_id", "id", True),
        ("date", "date", True),
        ("amount", "number", False),
    ),
    "balances": (
        ("customer_id", "id", True),
        ("month", "date", True),
        ("aum", "money", True),
    ),
    "contacts": (
        ("customer_id", "id", True),
        ("date", "date", True),
        ("play", "text", True),
        ("channel", "text", False),
        ("responded", "flag", True),
    ),
    # What a live test's customers did (`stratmap review`, docs/contact-list.md#outcomes).
    "outcomes": (
        ("customer_id", "id", True),
        ("play", "text", True),
        # Outcomes v2: which wave of a journey the row answers (empty for a rule). Optional:
        # without it a customer's two waves of one journey cannot be told apart.
        ("wave", "number", False),
        ("contacted", "flag", True),
        ("reached", "flag", True),
        ("responded", "flag", True),
        ("product", "text", False),
        ("amount", "money", False),
        ("aum_before", "money", True),
        ("aum_after", "money", True),
        ("churned", "flag", True),
        ("complaint", "flag", True),
    ),
}

_SHOWN_ROWS = 5
_TRUE = {"1", "true", "yes", "y", "t", "是", "1.0"}
_FALSE = {"0", "false", "no", "n", "f", "否", "0.0"}


def parse_mapping(text: str) -> dict[str, str]:
    """`customer_id=客户号,opened=开户日期` → {"customer_id": "客户号", "opened": "开户日期"}."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        ours, sep, theirs = item.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise TableError(
                f"--map: {item!r} is not COLUMN=THEIR_NAME "
                "(example: --map customer_id=客户号,opened=开户日期)"
            )
        mapping[ours.strip()] = theirs.strip()
    return mapping


def read_mapping_file(path: Path) -> dict[str, str]:
    """A TOML or JSON file mapping our column names to the bank's: `opened = "开户日期"`."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise TableError(f"{path}: cannot read the column mapping: {exc.strerror}") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise TableError(f"{path}: not a valid column mapping: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise TableError(f'{path}: a column mapping is flat: our_name = "their name", one a line')
    return data


def read_table(
    table: str,
    path: Path,
    mapping: Mapping[str, str] | None = None,
    spec: tuple[tuple[str, str, bool], ...] | None = None,
) -> pd.DataFrame:
    """Read and validate one table; columns come back under our names with their types.
    ``spec`` gives the columns (name, kind, required) of a table whose columns depend on the
    strategy map (the snapshot's customers table: ``bankdata.snapshot``); by default they are
    ``COLUMNS[table]``."""
    path = Path(path)
    spec = COLUMNS[table] if spec is None else spec
    wanted = {name for name, _kind, _required in spec} | set((mapping or {}).values())
    frame, source = read_file(path, wanted)
    frame = _rename(table, frame, source, mapping or {}, spec)
    if frame.empty:
        raise TableError(f"{path}: the {table} table is empty (no data rows)")
    columns = {name: (kind, required) for name, kind, required in spec}
    out = pd.DataFrame(index=frame.index)
    for name, (kind, _required) in columns.items():
        if name in frame.columns:  # each raw column let go once converted: half the peak
            out[name] = _convert(frame.pop(name), kind, name, source)
    _check_rules(table, out, source, spec)
    return out.reset_index(drop=True)


def _rename(
    table: str,
    frame: pd.DataFrame,
    source: Source,
    mapping: Mapping[str, str],
    spec: tuple[tuple[str, str, bool], ...],
) -> pd.DataFrame:
    frame = frame.rename(columns={str(c): str(c).strip() for c in frame.columns})
    known = {name for name, _kind, _req in spec}
    _check_mapping(table, frame, source, mapping, known)
    renames = {theirs: ours for ours, theirs in mapping.items() if theirs in frame.columns}
    frame = frame.rename(columns=renames)
    for name, _kind, required in spec:
        if required and name not in frame.columns:
            theirs = mapping.get(name)
            wanted = f"{theirs!r} (mapped to {name})" if theirs else repr(name)
            present = source.columns or tuple(map(str, frame.columns))
            close = difflib.get_close_matches(theirs or name, present, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            if source.path.suffix.lower() in {".xlsx", ".xlsm"}:
                hint += excel_hint(source.path, theirs or name)
            raise TableError(
                f"{source.path}: the {table} table has no column {wanted}{hint} "
                f"(columns: {', '.join(present)}; "
                f"map the bank's names with --map {name}=THEIR_NAME)"
            )
    return frame[[c for c in frame.columns if c in known]]


def _check_mapping(
    table: str,
    frame: pd.DataFrame,
    source: Source,
    mapping: Mapping[str, str],
    known: set[str],
) -> None:
    """A mapping of this table's columns that cannot be meant as written: one of the bank's
    columns given to two of ours; a mapped column the file lacks under either name (an
    optional column, say `aum`, would otherwise be dropped without a word; a table that has
    our own name instead is read by it, as one mapping serves every table); or a mapped column
    beside one already under our name (two candidates: which one is the bank's?)."""
    ours_of: dict[str, list[str]] = {}
    for ours, theirs in mapping.items():
        if ours in known:
            ours_of.setdefault(theirs, []).append(ours)
    present = source.columns or tuple(map(str, frame.columns))
    for theirs, ours in ours_of.items():
        if len(ours) > 1:
            raise TableError(
                f"{source.path}: --map gives the column {theirs!r} to {' and '.join(ours)}; "
                f"each column of the {table} table is one of ours: map each to its own"
            )
        if ours == [theirs]:  # opened=opened: our own name, nothing renamed
            continue
        if theirs not in frame.columns and ours[0] not in frame.columns:
            close = difflib.get_close_matches(theirs, present, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TableError(
                f"{source.path}: --map {ours[0]}={theirs}: the {table} table has no column "
                f"{theirs!r}{hint} (columns: {', '.join(present)})"
            )
        if theirs in frame.columns and ours[0] in frame.columns:
            raise TableError(
                f"{source.path}: the {table} table has both {ours[0]!r} and {theirs!r} "
                f"(mapped to {ours[0]}): say which is meant (drop the mapping to read "
                f"{ours[0]!r}, or rename or drop {ours[0]!r} in the file)"
            )


def _rows(source: Source, mask: pd.Series, values: pd.Series) -> str:
    bad = values[mask]
    shown = ", ".join(
        f"row {int(i) + source.first_row} ({v!r})" for i, v in bad.head(_SHOWN_ROWS).items()
    )
    more = f" and {len(bad) - _SHOWN_ROWS} more" if len(bad) > _SHOWN_ROWS else ""
    return shown + more


def _blank(values: pd.Series) -> pd.Series:
    # Only text can be blank without being missing; typed columns (Parquet, Excel numbers and
    # dates) skip the conversion to text, which costs seconds on millions of rows.
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values.isna()
    return values.isna() | (values.astype(str).str.strip() == "")


def _convert(values: pd.Series, kind: str, name: str, source: Source) -> pd.Series:
    if kind == "id" and values.dtype.kind == "f":
        values = _whole_ids(values, name, source)
    if kind == "id":  # stripped once: on 30 M transactions each pass over the text counts
        ids = values.astype(str).str.strip()
        blank = values.isna() | (ids == "")
        if blank.any():
            raise TableError(
                f"{source.path}: column {name}: empty id at {_rows(source, blank, values)}"
            )
        return ids
    blank = _blank(values)
    if kind == "text":
        return values.where(blank, values.astype(str).str.strip())
    if kind == "date" and isinstance(values.dtype, pd.DatetimeTZDtype):
        # A warehouse's timestamps with a zone: the day as the bank's clock read it there.
        return values.dt.tz_localize(None).astype("datetime64[ns]")
    if kind == "date" and values.dtype.kind == "M":  # Parquet dates and timestamps: no parsing
        return values.astype("datetime64[ns]")
    if kind == "date":
        return _parse_dates(values, blank, name, source)
    if kind == "flag":
        if pd.api.types.is_bool_dtype(values):  # Parquet booleans: nothing to parse
            return values.astype(bool)
        lowered = values.astype(str).str.strip().str.lower()
        bad = ~lowered.isin(_TRUE | _FALSE)
        if bad.any():
            raise TableError(
                f"{source.path}: column {name}: not yes/no at {_rows(source, bad, values)} "
                "(expected 1/0, true/false, yes/no or 是/否)"
            )
        return lowered.isin(_TRUE)
    if pd.api.types.is_bool_dtype(values):  # pandas counts booleans as numbers; a bank's do not
        raise TableError(
            f"{source.path}: column {name}: true/false where a number is expected "
            f"(the file's column is boolean; map the right column with --map)"
        )
    if pd.api.types.is_numeric_dtype(values):  # typed already: no copy masked for parsing
        numbers = values.astype(float)
    else:
        numbers = pd.to_numeric(values.where(~blank), errors="coerce")
    bad = numbers.isna() & ~blank
    if bad.any():
        raise TableError(
            f"{source.path}: column {name}: not a number at {_rows(source, bad, values)}"
            f"{_number_hint(values[bad])}"
        )
    infinite = np.isinf(numbers.to_numpy())
    if infinite.any():  # `inf`, or 1e400 beyond a float: no balance, age or amount is that
        raise TableError(
            f"{source.path}: column {name}: not a finite number at "
            f"{_rows(source, pd.Series(infinite, index=values.index), values)} "
            "(infinite or beyond 1.8e308)"
        )
    if kind == "money" and (numbers < 0).any():
        raise TableError(
            f"{source.path}: column {name}: negative balance at "
            f"{_rows(source, numbers < 0, values)} (a balance is 0 or more)"
        )
    return numbers.astype(float)


_CHINESE_DATE = r"(\d{4})年(\d{1,2})月(\d{1,2})日"


def _whole_ids(values: pd.Series, name: str, source: Source) -> pd.Series:
    """Ids a spreadsheet or a warehouse stored as floats (1.0): as whole numbers (1), the id the
    bank means; as text "1.0" they would be other customers, in other arms. A fraction, or a
    number beyond 2^53 where a float no longer holds every whole number, is refused."""
    given = values.notna()
    bad = given & ((values != values.round()) | (values.abs() > 2**53))
    if bad.any():
        raise TableError(
            f"{source.path}: column {name}: an id stored as a number that is not a whole "
            f"number a float holds exactly at {_rows(source, bad, values)} (store ids as text)"
        )
    return values.astype("Int64").astype(object).where(given)


def _parse_dates(values: pd.Series, blank: pd.Series, name: str, source: Source) -> pd.Series:
    """ISO 8601 (2026-01-05, 2026/1/5), else YYYYMMDD as core banking writes, else
    2026年1月5日; anything else is refused with the rows, and a hint where the values look
    like Excel's serial day numbers (a date column formatted as a number)."""
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    unparsed = parsed.isna() & ~blank
    if unparsed.any():  # only these rows are looked at as text
        text = values[unparsed].astype(str).str.strip()
        compact = text[text.str.fullmatch(r"\d{8}")]  # 20240131, as core banking writes
        parsed[compact.index] = pd.to_datetime(compact, format="%Y%m%d", errors="coerce")
        chinese = text.str.extract(_CHINESE_DATE + "$").dropna()
        if not chinese.empty:
            iso = chinese[0] + "-" + chinese[1].str.zfill(2) + "-" + chinese[2].str.zfill(2)
            parsed[iso.index] = pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna() & ~blank
    if bad.any():
        text = values[bad].astype(str).str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        hint = ""
        if text.str.fullmatch(r"\d{4}(0[1-9]|1[0-2])").all():
            hint = "; these look like months written YYYYMM: write them YYYY-MM"
        elif numbers.notna().all() and numbers.between(1, 99_999).all():  # to year 2173
            hint = (
                "; these look like Excel serial day numbers: format the column as a date in "
                "Excel, or export it as YYYY-MM-DD"
            )
        raise TableError(
            f"{source.path}: column {name}: not a date at {_rows(source, bad, values)} "
            f"(expected YYYY-MM-DD, YYYYMMDD or YYYY年M月D日{hint})"
        )
    return parsed.astype("datetime64[ns]")


def _number_hint(bad: pd.Series) -> str:
    """Why a number a person can read did not parse: thousands separators or a currency."""
    text = bad.astype(str)
    if text.str.contains(r"^[\s¥￥$€£]|[¥￥元]\s*$|\d,\d{3}", regex=True).any():
        return (
            " (write plain numbers: no thousands separators or currency signs, "
            "e.g. 1234.5 for ¥1,234.50)"
        )
    return ""


def _has_duplicates(ids: pd.Series) -> bool:
    """Whether some id is there twice: Arrow's hash of ten million ids takes a second, where
    pandas' ``duplicated`` takes several; pandas then finds the rows to show."""
    return len(pc.unique(pa.array(ids))) < len(ids)


def _check_rules(
    table: str, out: pd.DataFrame, source: Source, spec: tuple[tuple[str, str, bool], ...]
) -> None:
    # The bank's tables (calibrate, backtest, review) hold a value in every required cell: a
    # contact with no play, a balance with no amount, is a row no fit can use. A snapshot's
    # customers table (its own spec) says which may be empty and why (bankdata.snapshot).
    own = spec is COLUMNS.get(table)
    required_blank = [
        (name, kind)
        for name, kind, required in spec
        if required
        and (
            kind == "date"
            or (kind == "money" and table == "outcomes")
            or (own and kind in ("text", "money", "number"))
        )
        and _blank(out[name]).any()
    ]
    what = {"date": "date", "money": "amount", "number": "number", "text": "value"}
    for name, kind in required_blank:
        raise TableError(
            f"{source.path}: column {name}: empty {what[kind]} at "
            f"{_rows(source, _blank(out[name]), out[name])} (the column is required: every row "
            "needs one)"
        )
    if table == "outcomes":
        key = ["customer_id", "play", "wave"] if "wave" in out else ["customer_id", "play"]
        dup = out.duplicated(key, keep=False)
        if dup.any():
            raise TableError(
                f"{source.path}: duplicate rows ({', '.join(key)}) at "
                f"{_rows(source, dup, out['customer_id'])} (one outcome per customer and play"
                f"{', and wave' if 'wave' in out else ''})"
            )
    if table == "customers":
        dup = (
            out["customer_id"].duplicated(keep=False)
            if _has_duplicates(out["customer_id"])
            else pd.Series(False, index=out.index)
        )
        if dup.any():
            raise TableError(
                f"{source.path}: column customer_id: duplicate ids at "
                f"{_rows(source, dup, out['customer_id'])} (one row per customer)"
            )
        if "closed" in out and "opened" in out:
            early = out["closed"] < out["opened"]
            if early.any():
                raise TableError(
                    f"{source.path}: column closed: closed before opened at "
                    f"{_rows(source, early, out['closed'].dt.strftime('%Y-%m-%d'))}"
                )
