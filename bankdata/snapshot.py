"""The customer snapshot, format v1: the bank's book on one day, as `stratmap decide` and
`stratmap simulate --from` read it and `stratmap simulate --snapshot-at` writes it
(docs/snapshot.md).

A snapshot is a directory of tables (Parquet, CSV or Excel, one file each, named by the table):

    customers   one row per customer: id, lifecycle stage, AUM, risk tolerance, the attributes
                and model scores the map reads
    holdings    products held, with amounts and maturity dates
    contacts    past contacts by play, with the date and the response (cooldowns, caps, budgets)
    journeys    the date each customer entered each journey (maps with journeys)
    flows       per customer and period: AUM, net flow, transactions (AUM and flow triggers)
    snapshot.json   optional: what wrote it (a simulation says its seed, step and scale)

Which columns the customers table needs depends on the map: ``read_snapshot`` takes a
``SnapshotSpec`` (built by ``bankdata.snapshot_state`` from the compiled map) and refuses,
naming file, column and rows, anything missing, mistyped, outside its vocabulary, duplicated,
about a customer the customers table does not hold, or dated after the as-of date. Nothing is
defaulted. The kernels never see these frames, only the arrays built from them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bankdata.tables import TableError, read_table
from strategy_dsl import safe_write

__all__ = [
    "FORMAT",
    "HISTORY",
    "META_FILE",
    "VERSION",
    "Snapshot",
    "SnapshotSpec",
    "customer_keys",
    "positions",
    "read_meta",
    "read_snapshot",
    "snapshot_hash",
    "write_snapshot",
]

FORMAT = "stratmap.snapshot"
VERSION = 1
META_FILE = "snapshot.json"
SUFFIXES = (".parquet", ".csv", ".xlsx")
# Dates before this are read as this day: far enough back that no condition a map can write
# (months since, in stage for, tenure) tells them apart, and inside every reader's date range.
EARLIEST = dt.date(1900, 1, 1)

Spec = tuple[tuple[str, str, bool], ...]

#: The history tables and their columns (name, kind, required): kinds as ``bankdata.tables``.
HISTORY: dict[str, Spec] = {
    "holdings": (
        ("customer_id", "id", True),
        ("product", "text", True),
        ("amount", "money", True),
        ("maturity", "date", False),  # empty: no maturity (a current account, a fund)
    ),
    "contacts": (
        ("customer_id", "id", True),
        ("date", "date", True),
        ("play", "text", True),
        ("wave", "number", False),  # a journey's wave (empty for a rule)
        ("channel", "text", False),
        ("responded", "flag", True),
    ),
    "journeys": (
        ("customer_id", "id", True),
        ("journey", "text", True),
        ("entered", "date", True),
    ),
    "flows": (
        ("customer_id", "id", True),
        ("date", "date", True),
        ("aum", "money", True),
        ("net_flow", "number", True),
        ("transactions", "number", True),
    ),
}
# The column of each history table whose values must come from the map's names.
_NAMED = {"holdings": "product", "contacts": "play", "journeys": "journey"}


@dataclass(frozen=True)
class SnapshotSpec:
    """What one map needs from a snapshot: the customers table's columns, the allowed values of
    its text columns (stage, risk tolerance, categories) and of the history tables' names
    (products, plays, journeys), and which history tables it reads."""

    customers: Spec
    vocabulary: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    waves: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # journey -> its waves
    scores: tuple[str, ...] = ()  # per model, in the map's order: the column of its score
    tables: tuple[str, ...] = ()  # history tables the map reads: required
    why: Mapping[str, str] = field(default_factory=dict)  # column or table -> what reads it


@dataclass
class Snapshot:
    """A validated snapshot: the frames under our column names, typed. A history table names
    its customer by ``row`` (the customer's row in the customers table) instead of
    ``customer_id``: tens of millions of flow rows need not hold the ids twice."""

    path: Path
    customers: pd.DataFrame
    history: dict[str, pd.DataFrame]
    meta: dict[str, Any]
    files: list[Path]
    released: bool = False

    def table(self, name: str) -> pd.DataFrame:
        """A history table, empty (with its columns) when the snapshot has none."""
        if self.released:
            raise RuntimeError("the snapshot's frames were released (Snapshot.release)")
        if name in self.history:
            return self.history[name]
        columns = [c for c, _k, _r in HISTORY[name] if c != "customer_id"] + ["row"]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})

    def release(self) -> None:
        """Drop every frame but the customers' ids, once the engine's state holds them: for
        ten million customers the frames are gigabytes beside the state (docs/decide.md,
        Speed)."""
        self.customers = self.customers[["customer_id"]]
        self.history = {}
        self.released = True
        pa.default_memory_pool().release_unused()  # Arrow keeps freed string buffers otherwise


def _file_of(folder: Path, table: str) -> Path | None:
    found = [folder / f"{table}{s}" for s in SUFFIXES if (folder / f"{table}{s}").exists()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise TableError(f"{folder}: the {table} table is given twice ({names}); keep one")
    return found[0] if found else None


def read_snapshot(
    path: Path, spec: SnapshotSpec, as_of: dt.date, mapping: Mapping[str, str] | None = None
) -> Snapshot:
    """Read and validate the snapshot at ``path`` (a directory, or a customers table alone)
    for a decision on ``as_of``; ``mapping`` renames the bank's columns to ours in every
    table. ``TableError`` names the file, column and rows of the first problem."""
    path = Path(path)
    if path.is_dir():
        folder, customers_file = path, _file_of(path, "customers")
        if customers_file is None:
            raise TableError(
                f"{path}: no customers table (customers.parquet, customers.csv or "
                "customers.xlsx); docs/snapshot.md describes the snapshot's tables"
            )
    else:
        folder, customers_file = path.parent, path
    customers = read_table("customers", customers_file, mapping, spec.customers)
    files = [customers_file]
    _check_filled(customers, spec, customers_file)
    _check_vocabulary(customers, spec.vocabulary, customers_file)
    _check_not_after(customers, ("stage_since", "opened", "last_txn"), as_of, customers_file)
    _check_chance(customers, OWN_CHURN, customers_file)
    _check_ranges(customers, customers_file)
    ids = customers["customer_id"]
    read: dict[str, tuple[pd.DataFrame, Path]] = {}
    for table, columns in HISTORY.items():
        found = _file_of(folder, table) if path.is_dir() else None
        if found is None:
            if table in spec.tables:
                raise TableError(
                    f"{path}: no {table} table ({table}.parquet, .csv or .xlsx), and the map "
                    f"reads it: {spec.why.get(table, table)}"
                )
            continue
        read[table] = (_read_history(table, found, columns, mapping), found)
        files.append(found)
    # One hash join of every history row's customer with the customers table.
    named = [frame["customer_id"] for frame, _ in read.values()]
    every = positions(named, ids) if named else []
    history: dict[str, pd.DataFrame] = {}
    for (table, (frame, found)), rows in zip(read.items(), every, strict=True):
        frame["row"] = _check_known_customers(frame, rows, found)
        if table in _NAMED:
            allowed = spec.names.get(table, ())
            _check_vocabulary(frame, {_NAMED[table]: allowed}, found)
        if table == "contacts" and "wave" in frame:
            _check_waves(frame, spec.waves, found)
        dated = ("date", "entered")
        _check_not_after(frame, dated, as_of, found)
        if table == "flows":
            _check_unique(frame, ("customer_id", "date"), found, "one row per customer and date")
        if table == "journeys":
            _check_unique(
                frame, ("customer_id", "journey"), found, "one entry per customer and journey"
            )
        history[table] = frame.drop(columns="customer_id")
    meta = read_meta(folder / META_FILE) if path.is_dir() else {}
    return Snapshot(path, customers, history, meta, files)


def _read_history(
    table: str, found: Path, columns: Spec, mapping: Mapping[str, str] | None
) -> pd.DataFrame:
    try:
        return read_table(table, found, mapping, columns)
    except TableError as exc:
        if "is empty (no data rows)" in str(exc):  # a history may be empty: nobody contacted
            return pd.DataFrame({c: pd.Series(dtype=object) for c, _k, _r in columns})
        raise


def _shown(frame: pd.DataFrame, mask: pd.Series, column: str, first_row: int) -> str:
    bad = frame.loc[mask, column]
    shown = ", ".join(f"row {int(i) + first_row} ({_value(v)})" for i, v in bad.head(5).items())
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return shown + more


def _value(value: Any) -> str:
    """A value as the file shows it: a date as 2026-06-30, not Timestamp('2026-06-30 00:00:00')."""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return repr(value)


def _first_row(path: Path) -> int:
    return 1 if path.suffix.lower() == ".parquet" else 2


def _check_vocabulary(
    frame: pd.DataFrame, vocabulary: Mapping[str, tuple[str, ...]], path: Path
) -> None:
    for column, allowed in vocabulary.items():
        if column not in frame:
            continue
        values = frame[column]
        bad = values.notna() & ~values.isin(allowed)
        if values.isna().any():
            bad |= values.isna()
        if bad.any():
            raise TableError(
                f"{path}: column {column}: unknown value at "
                f"{_shown(frame, bad, column, _first_row(path))} "
                f"(expected one of: {', '.join(allowed) or 'none declared in the map'})"
            )


# Columns that may be empty: an empty value has a meaning there, never a default.
MAY_BE_EMPTY = {"last_txn": "never transacted"}


def _check_filled(frame: pd.DataFrame, spec: SnapshotSpec, path: Path) -> None:
    """A column the map reads has a value in every row (but ``MAY_BE_EMPTY``'s)."""
    for name, _kind, required in spec.customers:
        if not required or name in MAY_BE_EMPTY or name not in frame:
            continue
        empty = frame[name].isna()
        if empty.any():
            raise TableError(
                f"{path}: column {name}: empty at {_shown(frame, empty, name, _first_row(path))} "
                f"(the map reads it: {spec.why.get(name, name)}; give every customer a value)"
            )


#: The optional customers column of each customer's own churn chance per step (calibration's
#: posterior mean, ``stratmap calibrate --per-customer``); empty: the keyed draw.
OWN_CHURN = "churn_chance"


def _check_chance(frame: pd.DataFrame, column: str, path: Path) -> None:
    """A chance is between 0 and 1 (an empty one is not given)."""
    if column not in frame:
        return
    values = frame[column]
    bad = values.notna() & ~values.between(0.0, 1.0)
    if bad.any():
        raise TableError(
            f"{path}: column {column}: not a chance between 0 and 1 at "
            f"{_shown(frame, bad, column, _first_row(path))} (a per-step chance, 0.02 for 2%; "
            "leave it empty for the map's own draw)"
        )


#: The customers columns with a range, beyond being a number: (low, high, whole, what it is).
#: Outside it the kernels would read nonsense (a propensity of 2 responds more than always, a
#: payday of 40 falls on no day of the month) without a word: refused, as a bad date is.
RANGES: dict[str, tuple[float, float, bool, str]] = {
    "propensity": (0.0, 1.0, False, "a chance between 0 and 1"),
    "txn_per_month": (0.0, np.inf, False, "transactions a month, 0 or more"),
    "payday": (1.0, 31.0, True, "a day of the month, 1 to 31"),
    "age": (0.0, 150.0, False, "years, 0 to 150"),
}


def _check_ranges(frame: pd.DataFrame, path: Path) -> None:
    for column, (low, high, whole, meaning) in RANGES.items():
        if column not in frame:
            continue
        values = frame[column]
        bad = values.notna() & ~values.between(low, high)
        if whole:
            bad |= values.notna() & (values != values.round())
        if bad.any():
            raise TableError(
                f"{path}: column {column}: out of range at "
                f"{_shown(frame, bad, column, _first_row(path))} (expected {meaning})"
            )


def _check_waves(frame: pd.DataFrame, waves: Mapping[str, tuple[int, ...]], path: Path) -> None:
    """A contact's wave is one its journey declares (a rule's contact has none)."""
    given = frame["wave"].notna()
    known = pd.Series(False, index=frame.index)
    for journey, numbers in waves.items():
        known |= (frame["play"] == journey) & frame["wave"].isin(numbers)
    bad = given & ~known
    if bad.any():
        raise TableError(
            f"{path}: column wave: not a wave of the row's journey at "
            f"{_shown(frame, bad, 'wave', _first_row(path))} (the map's journeys: "
            + "; ".join(f"{j} waves {', '.join(map(str, w))}" for j, w in waves.items())
            + "; empty for a rule)"
        )


def _check_not_after(frame: pd.DataFrame, columns: tuple[str, ...], as_of: dt.date, path: Path):
    limit = pd.Timestamp(as_of)
    for column in columns:
        if column not in frame:
            continue
        late = frame[column].notna() & (frame[column] > limit)
        if late.any():
            raise TableError(
                f"{path}: column {column}: dated after the as-of date {as_of} at "
                f"{_shown(frame, late, column, _first_row(path))} (the snapshot holds the "
                "book up to the as-of date: give a later --as-of, or a snapshot taken then)"
            )


def positions(values: list[pd.Series], keys: pd.Series) -> list[np.ndarray]:
    """The position of each value among ``keys``, for each Series of ``values`` (int64; -1
    where it is not one): by one Arrow hash join of them all, which takes seconds for forty
    million ids where pandas' ``isin`` on Arrow strings takes minutes. The values are joined as
    Arrow holds them, without a copy of every id to concatenate them or change their type."""
    arrays = [_arrow(v) for v in values]
    wide = any(pa.types.is_large_string(a.type) for a in arrays)
    kind = pa.large_string() if wide else pa.string()
    pieces = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
    chunks = pa.chunked_array([c.cast(kind) for c in pieces], type=kind)
    found = pc.index_in(chunks, value_set=_arrow(keys).cast(kind))
    every = found.fill_null(-1).to_numpy().astype(np.int64)
    bounds = np.cumsum([0, *(len(a) for a in arrays)])
    return [every[lo:hi] for lo, hi in itertools.pairwise(bounds)]


def _arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    array = pa.Array.from_pandas(values)
    string = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    return array if string else array.cast(pa.string())


def _check_known_customers(frame: pd.DataFrame, rows: np.ndarray, path: Path) -> np.ndarray:
    """Each row's customer's row in the customers table (``Snapshot``'s ``row`` column):
    ``rows``, with -1 for a customer it does not hold, which is an error."""
    unknown = pd.Series(rows < 0, index=frame.index)
    if unknown.any():
        raise TableError(
            f"{path}: column customer_id: not in the customers table at "
            f"{_shown(frame, unknown, 'customer_id', _first_row(path))} "
            "(every history row is about a customer of the snapshot)"
        )
    return rows


def _check_unique(frame: pd.DataFrame, key: tuple[str, ...], path: Path, rule: str) -> None:
    second = frame[key[1]]
    codes = (
        second.to_numpy("datetime64[D]").astype(np.int64)
        if pd.api.types.is_datetime64_any_dtype(second)
        else pd.factorize(second)[0].astype(np.int64)
    )
    combined = frame["row"].to_numpy(np.int64) * (1 << 24) + (codes - codes.min(initial=0))
    order = np.argsort(combined, kind="stable")
    same = combined[order][1:] == combined[order][:-1]
    twice = np.zeros(combined.size, dtype=bool)
    twice[order[1:][same]] = True
    twice[order[:-1][same]] = True
    dup = pd.Series(twice, index=frame.index)
    if dup.any():
        raise TableError(
            f"{path}: columns {', '.join(key)}: duplicate rows at "
            f"{_shown(frame, dup, key[0], _first_row(path))} ({rule})"
        )


def read_meta(path: Path) -> dict[str, Any]:
    """A snapshot's ``snapshot.json`` (empty when there is none)."""
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: not a readable snapshot description: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TableError(f'{path}: not a snapshot description (expected "format": "{FORMAT}")')
    if meta.get("version") != VERSION:
        raise TableError(
            f"{path}: snapshot format version {meta.get('version')!r}; this Stratmap reads "
            f"version {VERSION}"
        )
    _check_cutoffs(path, meta.get("model_cutoffs", {}))
    return meta


def _check_cutoffs(path: Path, cutoffs: Any) -> None:
    """ "model_cutoffs": {model: {share: score}}, every score a finite number: a NaN or a text
    would put nobody (or everybody) in a model's top without a word."""
    shape = '"model_cutoffs": {"MODEL": {"0.2": 1.37}}'
    if not isinstance(cutoffs, dict):
        raise TableError(f"{path}: model_cutoffs is {cutoffs!r}, expected an object of models "
                         f"({shape})")  # fmt: skip
    for model, shares in cutoffs.items():
        if not isinstance(shares, dict):
            raise TableError(
                f"{path}: model_cutoffs.{model} is {shares!r}, expected an object of shares and "
                f"scores ({shape})"
            )
        for share, score in shares.items():
            ok = isinstance(score, int | float) and not isinstance(score, bool)
            if not ok or not math.isfinite(score):
                raise TableError(
                    f"{path}: model_cutoffs.{model}.{share} is {score!r}, expected a finite "
                    f"score ({shape})"
                )


_INTEGER_ID = re.compile(r"0|[1-9][0-9]{0,17}")


def customer_keys(ids: pd.Series) -> np.ndarray:
    """Each customer's key (int64, non-negative): the key of the arm and holdout draws and of
    the tie-break among equals. An id written as a whole number without leading zeros (up to
    18 digits) is its own key, so a simulated book's customer 42 keeps the draws it had in the
    simulation; any other id is the first 8 bytes of its BLAKE2b digest (UTF-8), little-endian,
    with the top bit cleared. The same id gives the same key in every run, every day."""
    text = ids.astype(str)
    whole = text.str.fullmatch(_INTEGER_ID.pattern)
    keys = np.empty(len(text), dtype=np.int64)
    if whole.all():
        return text.astype(np.int64).to_numpy()
    for i, (value, is_whole) in enumerate(zip(text, whole, strict=True)):
        if is_whole:
            keys[i] = int(value)
        else:
            digest = hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest()
            keys[i] = int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF
    return keys


def snapshot_hash(files: list[Path]) -> str:
    """sha256 over the snapshot's table files (name and bytes, in name order)."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        h.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def write_snapshot(
    out_dir: Path, tables: Mapping[str, pd.DataFrame], meta: Mapping[str, Any]
) -> Path:
    """Write a snapshot directory (one Parquet file per table, ``snapshot.json`` last)
    atomically: into a hidden sibling first, then moved into place. An existing directory is
    replaced only when it is empty or a snapshot Stratmap wrote (its ``snapshot.json`` and
    nothing but table files)."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = safe_write.temporary_name(out_dir.parent, out_dir.name)
    staging.mkdir()
    try:
        for name, frame in tables.items():
            frame.to_parquet(staging / f"{name}.parquet", index=False)
        document = {**dict(meta), "format": FORMAT, "version": VERSION}
        text = json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
        (staging / META_FILE).write_text(text, encoding="utf-8")
        for entry in staging.iterdir():
            with open(entry, "rb") as handle:
                os.fsync(handle.fileno())
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _check_replaceable(out_dir: Path) -> None:
    if not out_dir.is_dir():
        raise TableError(f"{out_dir}: exists and is not a directory; choose another place")
    entries = [e.name for e in out_dir.iterdir()]
    if not entries:
        return
    ours = {f"{t}.parquet" for t in ("customers", *HISTORY)} | {META_FILE}
    if META_FILE in entries and set(entries) <= ours:
        return
    raise TableError(
        f"{out_dir}: holds files Stratmap did not write as a snapshot; choose an empty or new "
        "directory"
    )
