"""`stratmap decide` and `stratmap simulate --snapshot-at` from the command line: docs/decide.md's
walk-through as written, the list it writes, and bad input answered with a message and the
documented exit code, nothing half-written."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bankdata.contact_list import read_list, segment_names
from strategy_dsl.checker import check_paths
from strategy_dsl.source_hash import source_hash
from stratmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "decide.md"


def _walkthrough() -> list[list[str]]:
    """The `stratmap` lines of docs/decide.md's walk-through (its first sh block)."""
    block = re.search(r"```sh\n(stratmap simulate.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block, "docs/decide.md has lost its walk-through"
    return [line.split()[1:] for line in block[1].strip().splitlines()]


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/decide.md's two commands, run in a folder beside the bundled strategies."""
    here = tmp_path_factory.mktemp("walk")
    (here / "strategies").symlink_to(ROOT / "strategies")
    import os

    before = Path.cwd()
    os.chdir(here)
    try:
        for argv in _walkthrough():
            assert main([*argv, "-q"]) == 0, argv
    finally:
        os.chdir(before)
    return here


def test_the_walkthrough_writes_a_snapshot_and_a_list(walked: Path) -> None:
    snapshot = walked / "runs" / "book"
    meta = json.loads((snapshot / "snapshot.json").read_text(encoding="utf-8"))
    assert meta["format"] == "stratmap.snapshot" and meta["simulated"]["step"] == 2
    listed = read_list(walked / "runs" / "list")
    rows, manifest = listed.rows, listed.manifest
    assert manifest["as_of"] == "2000-03-01" and manifest["step"] == 3
    assert len(manifest["snapshot_hash"]) == 64
    model = next(iter(check_paths([ROOT / "strategies" / "wealth_2026q1.strat"]).models.values()))
    assert manifest["map_hash"] == source_hash(model.source_files)  # what review compares
    assert set(rows["action"]) == {"contact", "suppress"}
    assert set(rows["arm"]) >= {"treatment", "global_control"}
    assert (rows.loc[rows["action"] == "contact", "reason"].isna()).all()
    assert rows.loc[rows["action"] == "suppress", "reason"].notna().all()
    used = manifest["capacity_used"]
    assert sum(c["used"] for c in used.values()) == int((rows["action"] == "contact").sum())
    text = (walked / "runs" / "list" / "list.csv").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese names
    customers = pd.read_parquet(snapshot / "customers.parquet")
    assert set(rows["customer_id"]) <= set(customers["customer_id"])


def test_each_row_names_the_segments_its_customer_was_in(walked: Path) -> None:
    """The list v2's `segments` are the step's segment bits named in the map's order: 代发
    (`payroll`) exactly for the customers with the flag, and each rule's row in the segment
    its `when` requires."""
    rows = read_list(walked / "runs" / "list").rows
    customers = pd.read_parquet(walked / "runs" / "book" / "customers.parquet")
    payroll = dict(zip(customers["customer_id"].astype(str), customers["payroll"], strict=True))
    names = rows["segments"].astype(object).map(segment_names)
    in_payroll = names.map(lambda found: "代发" in found)
    assert in_payroll.tolist() == [bool(payroll[c]) for c in rows["customer_id"]]
    assert in_payroll.any() and not in_payroll.all()
    for play, segment in (
        ("重要价值检视", "重要价值"),
        ("银发生日关怀", "银发"),
        ("代发定投", "代发"),
    ):
        of_play = names[rows["play"] == play]
        assert len(of_play) and of_play.map(lambda found, s=segment: s in found).all(), play
    order = ["重要价值", "重要挽留", "临界财富", "银发", "代发", "高流失风险"]  # the map's
    for found in names:
        assert found == sorted(found, key=order.index)


def test_deciding_again_gives_the_same_list(walked: Path, tmp_path: Path) -> None:
    argv = _walkthrough()[1]
    out = argv.index("-o") + 1
    argv = [a if i != out else str(tmp_path / "again") for i, a in enumerate(argv)]
    snapshot = argv.index("--customers") + 1
    argv[snapshot] = str(walked / argv[snapshot])
    argv[1] = str(ROOT / argv[1])
    assert main([*argv, "-q"]) == 0
    first = read_list(walked / "runs" / "list").rows
    again = read_list(tmp_path / "again").rows
    pd.testing.assert_frame_equal(first, again)


def _decide(tmp_path: Path, snapshot: Path, *extra: str) -> int:
    return main([
        "decide", str(ROOT / "strategies" / "wealth_2026q1.strat"), "--customers", str(snapshot),
        "--as-of", "2000-03-01", "-o", str(tmp_path / "list"), "-q", *extra,
    ])  # fmt: skip


def _copy(walked: Path, tmp_path: Path) -> Path:
    snapshot = tmp_path / "snapshot"
    shutil.copytree(walked / "runs" / "book", snapshot)
    return snapshot


def _edit(snapshot: Path, table: str, change) -> None:
    frame = pd.read_parquet(snapshot / f"{table}.parquet")
    change(frame).to_parquet(snapshot / f"{table}.parquet", index=False)


@pytest.mark.parametrize(
    ("table", "change", "words"),
    [
        (
            "customers",
            lambda f: f.drop(columns=["risk_tolerance"]),
            ["no column 'risk_tolerance'"],
        ),
        (
            "customers",
            lambda f: f.rename(columns={"aum": "AUM余额"}),
            ["no column 'aum'", "AUM余额"],
        ),
        ("customers", lambda f: f.assign(stage="vip"), ["column stage: unknown value", "'vip'"]),
        ("customers", lambda f: f.assign(aum="many"), ["column aum: not a number"]),
        ("customers", lambda f: pd.concat([f, f.head(1)]), ["duplicate ids"]),
        ("contacts", lambda f: f.assign(date=pd.Timestamp("2001-01-01")), ["after the as-of date"]),
        (
            "contacts",
            lambda f: pd.concat([f, f.head(1).assign(play="蜜月期", wave=9)]),
            ["column wave: not a wave", "(9", "蜜月期 waves 1, 2, 3"],
        ),
        (
            "holdings",
            lambda f: pd.concat([f, f.head(1).assign(customer_id="nobody")]),
            ["not in the customers table", "'nobody'"],
        ),
    ],
)
def test_bad_snapshots_exit_2_naming_file_column_and_rows(
    walked: Path, tmp_path: Path, capsys, table: str, change, words: list[str]
) -> None:
    snapshot = _copy(walked, tmp_path)
    _edit(snapshot, table, change)
    assert _decide(tmp_path, snapshot) == 2
    err = capsys.readouterr().err
    assert f"{table}.parquet" in err and "Traceback" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "list").exists()  # nothing half-written


def test_a_missing_snapshot_a_bad_date_and_a_foreign_folder_are_usage_errors(
    walked: Path, tmp_path: Path, capsys
) -> None:
    assert _decide(tmp_path, tmp_path / "nowhere") == 2
    snapshot = _copy(walked, tmp_path)
    wealth = str(ROOT / "strategies" / "wealth_2026q1.strat")
    bad_date = main(
        ["decide", wealth, "--customers", str(snapshot), "--as-of", "2000-13-01", "-o", "l"]
    )
    assert bad_date == 2
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "mine.txt").write_text("keep", encoding="utf-8")
    assert _decide(tmp_path, snapshot) == 2
    assert (tmp_path / "list" / "mine.txt").read_text(encoding="utf-8") == "keep"
    err = capsys.readouterr().err
    assert "no such snapshot" in err and "not a date" in err and "Traceback" not in err


def test_a_map_that_does_not_check_exits_1(walked: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.strat"
    broken.write_text(
        (ROOT / "strategies" / "wealth_2026q1.strat").read_text(encoding="utf-8")
        .replace('import "common/channels.strat"', 'import "common/nowhere.strat"'),
        encoding="utf-8",
    )  # fmt: skip
    code = main(["decide", str(broken), "--customers", str(walked / "runs/book"),
                 "--as-of", "2000-03-01", "-o", str(tmp_path / "list"), "-q"])  # fmt: skip
    assert code == 1 and not (tmp_path / "list").exists()


def test_snapshot_at_must_fall_within_the_horizon(tmp_path: Path, capsys) -> None:
    wealth = str(ROOT / "strategies" / "wealth_2026q1.strat")
    code = main(
        ["simulate", wealth, "--customers", "500", "--months", "2", "--snapshot-at", "2",
         "--snapshot", str(tmp_path / "r")]
    )  # fmt: skip
    assert code == 2
    assert "--snapshot-at 2" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_snapshot_too_large_for_the_memory_is_refused_before_it_is_read(
    walked: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simulator.engine import sizes

    monkeypatch.setattr(sizes, "available_memory", lambda: 64 * 2**20)  # 64 MiB left
    read: list[Path] = []
    import bankdata.snapshot

    real = bankdata.snapshot.read_snapshot

    def reading(*args, **kwargs):  # type: ignore[no-untyped-def]
        read.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(bankdata.snapshot, "read_snapshot", reading)
    assert _decide(tmp_path, walked / "runs" / "book") == 2
    err = capsys.readouterr().err
    assert "customers need about" in err and "GiB is available" in err
    assert read == [] and not (tmp_path / "list").exists()


@pytest.mark.parametrize(("available_gib", "code"), [(8, 0), (5, 2)])
def test_ten_million_customers_are_estimated_to_fit_in_8_gib(
    walked: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, available_gib, code
) -> None:
    """The up-front estimate follows the footprint measured at 10,450,570 customers (7.04 GiB,
    docs/decide.md, Speed): such a book is decided with 8 GiB free, refused with 5."""
    from simulator.engine import sizes
    from stratmap import decide_cmd

    monkeypatch.setattr(sizes, "available_memory", lambda: available_gib * 2**30)
    monkeypatch.setattr(decide_cmd, "_row_estimate", lambda _snapshot: 10_450_570)
    assert _decide(tmp_path, walked / "runs" / "book") == code
    if code:
        estimate = re.search(r"about ([\d.]+) GiB of memory", capsys.readouterr().err)
        assert estimate and 7.04 <= float(estimate[1]) < 8.0


def test_arms_are_the_same_on_another_day(walked: Path, tmp_path: Path) -> None:
    """Control and holdout membership is a keyed hash of the customer id: deciding the same
    book a step later puts every customer listed both times in the same arm for each play."""
    snapshot = walked / "runs" / "book"
    assert _decide(tmp_path, snapshot, "--as-of", "2000-04-01") == 0
    later = read_list(tmp_path / "list").rows
    first = read_list(walked / "runs" / "list").rows
    both = first.merge(later, on=["customer_id", "play"], suffixes=("", "_later"))
    assert len(both) > 100
    assert (both["arm"] == both["arm_later"]).all()
    assert set(both["arm"]) == {"treatment", "global_control", "rule_holdout"}


def test_a_banks_csv_snapshot_with_its_own_names_and_text_ids(walked: Path, tmp_path: Path) -> None:
    """CSV tables, the bank's column names mapped, ids that are names (hashed to their keys):
    decided, and every id comes back as the bank wrote it."""
    bank = tmp_path / "bank"
    bank.mkdir()
    for table in (walked / "runs" / "book").glob("*.parquet"):
        frame = pd.read_parquet(table)
        frame["customer_id"] = "KH" + frame["customer_id"].astype(str).str.zfill(9)
        frame = frame.rename(columns={"customer_id": "客户号", "aum": "资产余额"})
        frame.to_csv(bank / f"{table.stem}.csv", index=False, encoding="utf-8-sig")
    assert _decide(tmp_path, bank, "--map", "customer_id=客户号,aum=资产余额") == 0
    rows = read_list(tmp_path / "list").rows
    assert rows["customer_id"].str.fullmatch(r"KH\d{9}").all()
    shares = rows.drop_duplicates("customer_id")["arm"].value_counts(normalize=True)
    assert 0.02 < shares.get("global_control", 0) < 0.3  # the map's control group, by key


def test_formats_choose_the_files_and_auto_leaves_out_a_workbook_beyond_one_sheet(
    walked: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = walked / "runs" / "book"
    assert _decide(tmp_path / "a", book, "--formats", "parquet") == 0
    assert sorted(p.name for p in (tmp_path / "a" / "list").iterdir()) == [
        "list.parquet", "manifest.json",
    ]  # fmt: skip
    assert read_list(tmp_path / "a" / "list").manifest["files"] == ["list.parquet"]
    # auto: a list longer than one Excel sheet (made short here) is written without its xlsx.
    import bankdata.contact_list

    monkeypatch.setattr(bankdata.contact_list, "XLSX_ROWS_PER_SHEET", 10)
    capsys.readouterr()
    assert _decide(tmp_path / "b", book, "--formats", "auto") == 0
    written = sorted(p.name for p in (tmp_path / "b" / "list").iterdir())
    assert written == ["list.csv", "list.parquet", "manifest.json"]
    listed = read_list(tmp_path / "b" / "list")
    assert any("list.xlsx left out" in note for note in listed.manifest["notes"])
    for bad in ("xlsx", "pdf", ""):
        assert _decide(tmp_path / "c", book, "--formats", bad) == 2
        assert "--formats" in capsys.readouterr().err
    assert not (tmp_path / "c" / "list").exists()


@pytest.mark.parametrize("as_of", ["2300-03-01", "9999-12-31"])
def test_a_date_beyond_the_engines_reach_is_a_usage_error(
    walked: Path, tmp_path: Path, capsys, as_of: str
) -> None:
    # Was exit 3: pandas' nanosecond timestamps overflow past 2262, the engine's int16 step
    # stamps past 32,767 steps from 2000-01-01 (2089 for a map stepped by day).
    snapshot = _copy(walked, tmp_path)
    wealth = str(ROOT / "strategies" / "wealth_2026q1.strat")
    argv = ["--customers", str(snapshot), "--as-of", as_of, "-o", str(tmp_path / "list")]
    assert main(["decide", wealth, *argv]) == 2
    err = capsys.readouterr().err
    assert f"--as-of {as_of}: too far ahead" in err and "up to 2262-04-10" in err, err
    assert "internal error" not in err and not (tmp_path / "list").exists()
    code = main(["simulate", wealth, "--from", str(snapshot), "--as-of", as_of, "--months", "2"])
    assert code == 2
    assert "too far ahead" in capsys.readouterr().err


def test_the_latest_date_follows_the_maps_step() -> None:
    from stratmap.inputs import LAST_STEP, latest_as_of

    by_day = latest_as_of(1, 360)
    assert by_day == dt.date(2000, 1, 1) + dt.timedelta(days=LAST_STEP - 360 - 1)
    assert latest_as_of(30, 36) == dt.date(2262, 4, 10)  # pandas' last day, not the steps'


_SLOW_XLSX = """
import sys, time
from bankdata import contact_list
from stratmap.cli import main

def slow(path, rows):
    print("writing", flush=True)
    time.sleep(60)

contact_list._write_xlsx = slow
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(("how", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_the_list_is_written_keeps_the_earlier_list(
    walked: Path, tmp_path: Path, how: signal.Signals, code: int
) -> None:
    """SIGTERM or Ctrl-C while the files are written (the workbook, here held up): the earlier
    list stays whole, no temporary is left, the exit code says which signal."""
    snapshot = _copy(walked, tmp_path)
    assert _decide(tmp_path, snapshot) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "list").iterdir()}
    argv = [
        "decide", str(ROOT / "strategies" / "wealth_2026q1.strat"), "--customers",
        str(snapshot), "--as-of", "2000-04-01", "-o", str(tmp_path / "list"), "-q",
    ]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_XLSX, *argv],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Python's own Ctrl-C handling, whatever this process started with (a shell's
        # background job starts with SIGINT ignored).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "writing\n"
        process.send_signal(how)
        assert process.wait(timeout=60) == code
    finally:
        process.kill()
    assert process.stderr is not None and "Traceback" not in process.stderr.read()
    assert {p.name: p.read_bytes() for p in (tmp_path / "list").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list", "snapshot"]


def test_a_fifo_for_the_snapshot_description_or_the_lists_manifest_is_not_read(
    walked: Path, tmp_path: Path
) -> None:
    # Was a hang: snapshot.json was read plainly (blocks on a FIFO with no writer), and so
    # was the manifest.json of the directory -o would replace.
    snapshot = _copy(walked, tmp_path)
    (snapshot / "snapshot.json").rename(tmp_path / "snapshot.json")
    os.mkfifo(snapshot / "snapshot.json")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    os.mkfifo(earlier / "manifest.json")
    wealth = str(ROOT / "strategies" / "wealth_2026q1.strat")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cases = [
        (snapshot, tmp_path / "list", "snapshot.json: not a regular file"),
        (tmp_path / "copy", earlier, "a directory that is not a contact list Stratmap wrote"),
    ]
    shutil.copytree(walked / "runs" / "book", tmp_path / "copy")
    for customers, out, message in cases:
        argv = ["decide", wealth, "--customers", str(customers), "--as-of", "2000-03-01"]
        done = subprocess.run(
            [sys.executable, "-m", "stratmap", *argv, "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )  # a hang fails on the timeout
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "list").exists()
    assert [p.name for p in earlier.iterdir()] == ["manifest.json"]
    argv = ["simulate", wealth, "--from", str(snapshot), "--as-of", "2000-03-01", "--months", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "stratmap", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )  # simulate --from read it plainly too
    assert done.returncode == 2 and "snapshot.json: not a regular file" in done.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [  # each was exit 3 (ValueError, AttributeError) or, worse, exit 0 with other arms or caps
        ({"simulated": {"seed": "x"}}, "simulated.seed is 'x', expected a whole number"),
        ({"simulated": {"seed": -1}}, "simulated.seed is -1"),  # was: other arms, exit 0
        ({"simulated": {"customers": 0}}, "simulated.customers is 0"),  # was: no contact
        ({"simulated": []}, "simulated is [], expected an object"),
        ({"model_cutoffs": "x"}, "model_cutoffs is 'x', expected an object of models"),
        ({"model_cutoffs": {"流失模型": {"0.1": "abc"}}}, "model_cutoffs.流失模型.0.1 is 'abc'"),
    ],
)
def test_a_snapshot_description_of_the_wrong_kind_is_a_usage_error(
    walked: Path, tmp_path: Path, capsys, change: dict, message: str
) -> None:
    snapshot = _copy(walked, tmp_path)
    meta = json.loads((snapshot / "snapshot.json").read_text("utf-8"))
    (snapshot / "snapshot.json").write_text(json.dumps({**meta, **change}), encoding="utf-8")
    assert _decide(tmp_path, snapshot) == 2
    err = capsys.readouterr().err
    assert f"snapshot.json: {message}" in err and "help: docs/snapshot.md" in err, err
    assert "internal error" not in err and not (tmp_path / "list").exists()
    wealth = str(ROOT / "strategies" / "wealth_2026q1.strat")
    assert main(["simulate", wealth, "--from", str(snapshot), "--months", "2", "-q"]) == 2
    assert message in capsys.readouterr().err


def test_an_output_the_list_may_not_replace_is_refused_before_any_work(
    walked: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was refused only after the snapshot was read and decided (a minute at 10 M customers);
    # `-o FILE/list` said "cannot write: File exists".
    import bankdata.snapshot

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the snapshot was read")

    monkeypatch.setattr(bankdata.snapshot, "read_snapshot", never)
    snapshot = walked / "runs" / "book"
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "mine.txt").write_text("keep", encoding="utf-8")
    assert _decide(tmp_path, snapshot) == 2
    assert "not a contact list Stratmap wrote" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    wealth = str(ROOT / "strategies" / "wealth_2026q1.strat")
    argv = ["decide", wealth, "--customers", str(snapshot), "--as-of", "2000-03-01"]
    assert main([*argv, "-o", str(tmp_path / "afile" / "list")]) == 2
    assert f"{tmp_path / 'afile'} is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "list" / "mine.txt").read_text(encoding="utf-8") == "keep"
