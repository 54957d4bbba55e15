"""The contact list v2 (bankdata.contact_list): written in three formats atomically, read back
strictly; every misfit names the file, the column and the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bankdata import contact_list
from bankdata.contact_list import ContactListError, read_list, write_list


def sample_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["000123", "000124", "000125", "000126"],
            "play": ["临界提升", "临界提升", "蜜月期 wave 2", "沉睡唤醒"],
            "wave": pd.array([None, None, 2, None], dtype="Int32"),
            "channel": ["外呼", "外呼", "外呼", "APP推送"],
            "script": ["到期提醒话术", "到期提醒话术", "欢迎话术", None],
            "product": ["稳健理财", "稳健理财", "稳健理财", "现金管理"],
            "priority": [80.0, 80.0, 50.0, 30.0],
            "arm": ["treatment", "rule_holdout", "treatment", "global_control"],
            "action": ["contact", "suppress", "suppress", "suppress"],
            "reason": [None, "holdout", "capacity", "control"],
            "segments": ["临界客户|高净值", "临界客户", None, "沉睡客户"],
        }
    )


MANIFEST = {"map": "wealth.strat", "map_hash": "ab" * 32, "as_of": "2026-06-30", "seed": 7}


def csv_only(out: Path) -> None:
    """The list as a system that writes no Parquet (nor xlsx) would leave it."""
    (out / "list.parquet").unlink()
    (out / "list.xlsx").unlink()
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    (out / "manifest.json").write_text(json.dumps({**manifest, "files": ["list.csv"]}), "utf-8")


def test_round_trip_in_three_formats(tmp_path: Path) -> None:
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    assert sorted(p.name for p in out.iterdir()) == sorted(contact_list.FILES)
    back = read_list(out)
    pd.testing.assert_frame_equal(back.rows, contact_list._typed(sample_rows(), out, 1))
    assert back.rows["customer_id"].tolist()[0] == "000123"  # leading zeros kept
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["format"] == "stratmap.contact-list" and manifest["version"] == 2
    assert manifest["rows"] == 4
    assert manifest["counts"]["arm"] == {"global_control": 1, "rule_holdout": 1, "treatment": 2}
    assert manifest["counts"]["action"] == {"contact": 1, "suppress": 3}
    # The Parquet types are the documented ones.
    schema = pq.read_schema(out / "list.parquet")
    assert str(schema.field("wave").type) == "int32"
    assert str(schema.field("priority").type) == "double"
    # The CSV starts with a BOM (Excel then reads it as UTF-8) and holds the Chinese names.
    raw = (out / "list.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "临界提升".encode() in raw
    # The workbook holds the same rows.
    sheet = pd.read_excel(out / "list.xlsx", dtype={"customer_id": str})
    assert sheet["customer_id"].tolist() == ["000123", "000124", "000125", "000126"]
    assert sheet["play"].tolist() == sample_rows()["play"].tolist()


def test_read_from_csv_when_another_system_writes_no_parquet(tmp_path: Path) -> None:
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    csv_only(out)
    back = read_list(out)
    assert back.rows["wave"].tolist()[2] == 2 and back.rows["reason"].isna().tolist()[0]


@pytest.mark.parametrize("gone", ["list.parquet", "list.csv"])
def test_a_table_the_manifest_lists_but_the_directory_lost_is_refused(
    tmp_path: Path, gone: str
) -> None:
    # Was: with list.parquet gone, the list was read from list.csv without a word.
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    (out / gone).unlink()
    with pytest.raises(ContactListError) as error:
        read_list(out)
    assert f"{gone}: missing, though manifest.json lists it" in str(error.value)
    assert "help: the directory is incomplete" in str(error.value)
    (out / "list.xlsx").unlink()  # the copy for people is not needed to read the list
    (out / gone).write_bytes(b"")
    write_list(out, sample_rows(), MANIFEST)
    (out / "list.xlsx").unlink()
    assert len(read_list(out).rows) == 4


def test_a_csv_list_saved_as_gbk_says_so(tmp_path: Path) -> None:
    # Was "cannot be read as CSV: 'utf-8' codec can't decode byte 0xc1 …", with no way out.
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    csv_only(out)
    text = (out / "list.csv").read_text(encoding="utf-8-sig")
    (out / "list.csv").write_bytes(text.encode("gbk"))
    with pytest.raises(ContactListError) as error:
        read_list(out)
    assert f"{out / 'list.csv'}: not UTF-8" in str(error.value)
    assert "help: save it as UTF-8 (Excel: CSV UTF-8" in str(error.value)


def test_ids_stay_text_in_the_workbook_and_the_csv(tmp_path: Path) -> None:
    # Excel opens a CSV's long or zero-led ids as numbers (6.22202E+18, 123): the workbook is
    # the copy for people, so its ids are text cells; the CSV keeps the digits as written.
    from openpyxl import load_workbook

    ids = ["6222020200000000001", "000123", "000124", "000125"]
    out = write_list(tmp_path / "list", sample_rows().assign(customer_id=ids), MANIFEST)
    sheet = load_workbook(out / "list.xlsx", read_only=True)["list"]
    cells = [row[0] for row in sheet.iter_rows(min_row=2, max_col=1)]
    assert [(c.value, c.data_type) for c in cells] == [(i, "s") for i in ids]
    text = (out / "list.csv").read_text(encoding="utf-8-sig")
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == ids


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="arm"), "no column arm"),
        (lambda f: f.assign(extra=1), "unknown column extra"),
        (
            lambda f: f.assign(arm=["treatment", "模型组", "treatment", "global_control"]),
            "column arm: unknown value at row 2 ('模型组') (expected one of treatment",
        ),
        (
            lambda f: f.assign(priority=["80", "x", "1", "2"]),
            "column priority: not a number at row 2",
        ),
        (
            lambda f: f.assign(wave=[1.5, None, None, None]),
            "column wave: not a whole number at row 1",
        ),
        (lambda f: f.assign(customer_id=["1", "", "3", "4"]), "column customer_id: empty at row 2"),
        (
            lambda f: f.assign(reason=["cap", "holdout", "capacity", "control"]),
            "a contacted row has no reason; not so at row 1",
        ),
        (
            lambda f: f.assign(
                action=["contact", "contact", "suppress", "suppress"],
                reason=[None, None, "capacity", "control"],
            ),
            "only the treatment arm is contacted",
        ),
        (
            lambda f: f.assign(customer_id=["1", "1", "3", "4"]),
            "duplicate rows (customer_id, play, wave) at row 1 ('1'), row 2 ('1')",
        ),
    ],
)
def test_rows_that_do_not_fit_are_named(tmp_path: Path, change, message) -> None:
    good = write_list(tmp_path / "good", sample_rows(), MANIFEST)
    bad = change(sample_rows().astype({"priority": object}))
    with pytest.raises(ContactListError) as writing:
        write_list(tmp_path / "bad", bad, MANIFEST)
    assert message in str(writing.value)
    assert not (tmp_path / "bad").exists()
    # The same rows written by another system, as CSV, are refused by the reader.
    csv_only(good)
    bad.to_csv(good / "list.csv", index=False, encoding="utf-8-sig")
    with pytest.raises(ContactListError) as reading:
        read_list(good)
    assert str(good / "list.csv") in str(reading.value)
    assert message.split(" at row")[0] in str(reading.value)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"format": "stratmap.results-manifest/1"}, "expected 'stratmap.contact-list'"),
        (
            {"format": "stratmap.contact-list", "version": 3},
            "version 3; this Stratmap reads versions 1, 2 (upgrade Stratmap)",
        ),
        ({"format": "stratmap.contact-list", "version": 2, "rows": 4}, "key 'map_hash'"),
        (
            {"format": "stratmap.contact-list", "version": 2, "rows": 9, "map_hash": "x"},
            "says 9 rows, list.parquet holds 4",
        ),
    ],
)
def test_manifests_that_do_not_fit_are_refused(tmp_path: Path, manifest, message) -> None:
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ContactListError, match=r"manifest\.json") as error:
        read_list(out)
    assert message in str(error.value)


def test_missing_directory_and_manifest(tmp_path: Path) -> None:
    with pytest.raises(ContactListError, match="no such directory"):
        read_list(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ContactListError, match=r"manifest\.json: missing"):
        read_list(tmp_path / "empty")


def test_replaces_only_its_own_list(tmp_path: Path) -> None:
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    write_list(out, sample_rows().iloc[:2], MANIFEST)  # an earlier list: replaced
    assert read_list(out).manifest["rows"] == 2
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ContactListError, match=r"also notes\.txt"):
        write_list(out, sample_rows(), MANIFEST)
    assert (out / "notes.txt").read_text("utf-8") == "mine"
    home = tmp_path / "home"
    home.mkdir()
    (home / "report.docx").write_text("x", encoding="utf-8")
    with pytest.raises(ContactListError, match="not a contact list Stratmap wrote"):
        write_list(home, sample_rows(), MANIFEST)
    assert sorted(p.name for p in home.iterdir()) == ["report.docx"]


def test_a_link_to_a_list_is_named_as_a_link_and_left_alone(tmp_path: Path) -> None:
    # Was "exists and is not a directory", of a link to a list directory.
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    link = tmp_path / "latest"
    link.symlink_to(out)
    with pytest.raises(ContactListError) as error:
        write_list(link, sample_rows().iloc[:2], MANIFEST)
    assert f"{link}: a symbolic link (to {out})" in str(error.value)
    assert "help: name the directory itself" in str(error.value)
    assert link.is_symlink() and read_list(out).manifest["rows"] == 4


def test_an_unwritable_folder_is_an_os_error_and_nothing_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a read-only folder answers a user who is not root (decide says "cannot write: …").
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(PermissionError):
        write_list(tmp_path / "list", sample_rows(), MANIFEST)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_previous_list(tmp_path: Path, monkeypatch) -> None:
    out = write_list(tmp_path / "list", sample_rows().iloc[:2], MANIFEST)

    def full_disk(path, rows):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(contact_list, "_write_xlsx", full_disk)
    with pytest.raises(OSError):
        write_list(out, sample_rows(), MANIFEST)
    assert read_list(out).manifest["rows"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list"]  # no temporary left


def test_long_lists_continue_on_further_sheets(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(contact_list, "XLSX_ROWS_PER_SHEET", 3)
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    sheets = pd.read_excel(out / "list.xlsx", sheet_name=None, dtype={"customer_id": str})
    assert list(sheets) == ["list", "list_2"]
    assert [len(s) for s in sheets.values()] == [3, 1]


def test_a_caller_may_leave_out_the_copies_for_people(tmp_path: Path) -> None:
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST, formats=("parquet",))
    assert sorted(p.name for p in out.iterdir()) == ["list.parquet", "manifest.json"]
    assert read_list(out).manifest["files"] == ["list.parquet"]
    full = write_list(tmp_path / "full", sample_rows(), MANIFEST)
    assert read_list(full).manifest["files"] == ["list.parquet", "list.csv", "list.xlsx"]
    with pytest.raises(ValueError, match="unknown list formats"):
        write_list(tmp_path / "x", sample_rows(), MANIFEST, formats=("pdf",))


def test_a_list_a_hard_kill_moved_aside_is_put_back(tmp_path: Path) -> None:
    """A kill between the two renames (systems without an atomic exchange) leaves the old
    list aside under a dead process's name; the next write puts it back before anything."""
    out = write_list(tmp_path / "list", sample_rows().iloc[:2], MANIFEST)
    aside = tmp_path / ".list.999999999-0123456789ab.old"
    out.rename(aside)
    # A file of the user's in it shows where the list went: back, and so not replaced.
    (aside / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ContactListError, match="also notes"):
        write_list(tmp_path / "list", sample_rows(), MANIFEST)
    assert (tmp_path / "list" / "notes.txt").read_text("utf-8") == "mine"
    assert not aside.exists()
    (tmp_path / "list" / "notes.txt").unlink()
    assert read_list(write_list(tmp_path / "list", sample_rows(), MANIFEST)).manifest["rows"] == 4


def _as_version_1(out: Path, rows: pd.DataFrame) -> None:
    """Rewrite a list directory as a v1 list another system wrote: CSV, v1 manifest."""
    csv_only(out)
    rows.to_csv(out / "list.csv", index=False, encoding="utf-8-sig")
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    (out / "manifest.json").write_text(json.dumps({**manifest, "version": 1}), encoding="utf-8")


def test_a_version_1_list_is_still_read_with_no_segments(tmp_path: Path) -> None:
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    _as_version_1(out, sample_rows().drop(columns="segments"))
    back = read_list(out)
    assert back.manifest["version"] == 1
    assert back.rows["segments"].isna().all() and len(back.rows) == 4
    assert list(back.rows.columns) == [c.name for c in contact_list.COLUMNS]


@pytest.mark.parametrize(
    ("version", "rows", "message"),
    [
        (1, sample_rows(), "unknown column segments (a contact list v1 has only"),
        (2, sample_rows().drop(columns="segments"), "no column segments (a contact list v2"),
    ],
)
def test_the_segments_column_belongs_to_version_2(
    tmp_path: Path, version: int, rows: pd.DataFrame, message: str
) -> None:
    out = write_list(tmp_path / "list", sample_rows(), MANIFEST)
    _as_version_1(out, rows)
    if version == 2:
        manifest = json.loads((out / "manifest.json").read_text("utf-8"))
        (out / "manifest.json").write_text(json.dumps({**manifest, "version": 2}), "utf-8")
    with pytest.raises(ContactListError) as error:
        read_list(out)
    assert str(out / "list.csv") in str(error.value) and message in str(error.value)


def test_segment_names_split_a_cell() -> None:
    assert contact_list.segment_names("临界客户| 高净值") == ["临界客户", "高净值"]
    assert contact_list.segment_names(None) == contact_list.segment_names(pd.NA) == []
    assert contact_list.segment_names(float("nan")) == []
