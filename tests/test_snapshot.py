"""The customer snapshot format (bankdata/snapshot.py, docs/snapshot.md): strict reading against
what a map needs, the keys of customer ids, and the atomic writer."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankdata.snapshot import (
    SnapshotSpec,
    customer_keys,
    read_snapshot,
    snapshot_hash,
    write_snapshot,
)
from bankdata.tables import TableError

AS_OF = dt.date(2026, 3, 1)
SPEC = SnapshotSpec(
    customers=(
        ("customer_id", "id", True),
        ("stage", "text", True),
        ("aum", "money", True),
        ("risk_tolerance", "text", True),
        ("payroll", "flag", True),
        ("城市", "text", False),
    ),
    vocabulary={"stage": ("new", "mature", "churned"), "risk_tolerance": ("C1", "C2", "C3")},
    names={"holdings": ("稳健理财",), "contacts": ("临界提升",)},
    tables=("holdings", "contacts"),
    why={"holdings": "a play is not offered for a product the customer holds"},
)


def _write(folder: Path, **tables: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


GOOD = {
    "customers": "客户号,stage,aum,risk_tolerance,payroll\n"
    "A001,new,50000,C2,是\nA002,mature,1200000.5,C3,否\n",
    "holdings": "customer_id,product,amount,maturity\nA002,稳健理财,100000,2026-06-30\n",
    "contacts": "customer_id,date,play,responded\nA001,2026-01-15,临界提升,no\n",
}


def test_a_good_snapshot_reads_with_the_banks_column_names(tmp_path: Path) -> None:
    folder = _write(tmp_path / "snap", **GOOD)
    snap = read_snapshot(folder, SPEC, AS_OF, {"customer_id": "客户号"})
    assert list(snap.customers["customer_id"]) == ["A001", "A002"]
    assert list(snap.customers["payroll"]) == [True, False]
    assert snap.customers["aum"].tolist() == [50000.0, 1200000.5]
    assert snap.table("holdings")["maturity"].iloc[0] == pd.Timestamp("2026-06-30")
    assert snap.table("journeys").empty  # not given, not needed
    assert len(snapshot_hash(snap.files)) == 64


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"customers": "客户号,stage,aum,payroll\nA001,new,1,是\n"},
            ["customers.csv", "no column 'risk_tolerance'"],
        ),
        (
            {"customers": "客户号,stage,aum,risk_tolerance,payroll\nA001,nwe,1,C1,是\n"},
            ["customers.csv", "column stage", "row 2 ('nwe')", "expected one of: new"],
        ),
        (
            {"customers": "客户号,stage,aum,risk_tolerance,payroll\nA001,new,lots,C1,是\n"},
            ["customers.csv", "column aum", "not a number at row 2"],
        ),
        (
            {
                "customers": "客户号,stage,aum,risk_tolerance,payroll\n"
                "A1,new,1,C1,是\nA1,new,2,C1,否\n"
            },
            ["customers.csv", "duplicate ids at row 2", "row 3"],
        ),
        (
            {"customers": "客户号,stage,aum,risk_tolerance,payroll\nA001,new,-5,C1,是\n"},
            ["customers.csv", "negative balance"],
        ),
        (
            {"customers": "客户号,stage,aum,risk_tolerance,payroll\nA001,new,,C1,是\n"},
            ["customers.csv", "column aum: empty at row 2"],
        ),
        (
            {"contacts": "customer_id,date,play,responded\nZ9,2026-01-15,临界提升,no\n"},
            ["contacts.csv", "not in the customers table at row 2 ('Z9')"],
        ),
        (
            {"contacts": "customer_id,date,play,responded\nA001,2026-04-15,临界提升,no\n"},
            ["contacts.csv", "dated after the as-of date 2026-03-01", "row 2"],
        ),
        (
            {"holdings": "customer_id,product,amount,maturity\nA002,黄金,1,\n"},
            ["holdings.csv", "column product", "('黄金')", "稳健理财"],
        ),
    ],
)
def test_bad_snapshots_are_refused_naming_file_column_and_rows(
    tmp_path: Path, change: dict[str, str], expected: list[str]
) -> None:
    folder = _write(tmp_path / "snap", **{**GOOD, **change})
    with pytest.raises(TableError) as caught:
        read_snapshot(folder, SPEC, AS_OF, {"customer_id": "客户号"})
    for part in expected:
        assert part in str(caught.value)


def test_a_table_the_map_reads_must_be_there(tmp_path: Path) -> None:
    folder = _write(tmp_path / "snap", customers=GOOD["customers"], contacts=GOOD["contacts"])
    with pytest.raises(TableError, match=r"no holdings table .* the map reads it: a play is not"):
        read_snapshot(folder, SPEC, AS_OF, {"customer_id": "客户号"})


def test_a_history_with_headers_only_is_an_empty_history(tmp_path: Path) -> None:
    folder = _write(tmp_path / "snap", **{**GOOD, "contacts": "customer_id,date,play,responded\n"})
    snap = read_snapshot(folder, SPEC, AS_OF, {"customer_id": "客户号"})
    assert snap.table("contacts").empty


def test_integer_ids_are_their_own_keys_and_others_a_blake2b_digest() -> None:
    keys = customer_keys(pd.Series(["0", "42", "123456789012345678"]))
    assert keys.tolist() == [0, 42, 123456789012345678]
    mixed = customer_keys(pd.Series(["42", "A001", "007"]))
    digest = hashlib.blake2b(b"A001", digest_size=8).digest()
    assert mixed[0] == 42
    assert mixed[1] == int.from_bytes(digest, "little") & (2**63 - 1)
    assert mixed[2] != 7  # a leading zero makes it a name, not a number
    assert (customer_keys(pd.Series(["A001"])) == mixed[1]).all()  # the same every run
    assert mixed.dtype == np.int64 and (mixed >= 0).all()


def test_write_snapshot_is_atomic_and_replaces_only_a_snapshot(tmp_path: Path) -> None:
    frame = pd.DataFrame({"customer_id": ["1"], "stage": ["new"]})
    out = write_snapshot(tmp_path / "book", {"customers": frame}, {"step": 3})
    assert sorted(p.name for p in out.iterdir()) == ["customers.parquet", "snapshot.json"]
    write_snapshot(out, {"customers": frame}, {"step": 4})  # its own: replaced
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(TableError, match="did not write as a snapshot"):
        write_snapshot(foreign, {"customers": frame}, {})
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
