"""Files, signals and processes (issue 14, sections 2-4): Stratmap never deletes what it did
not write, never leaves a results directory missing, never hangs on a path, cleans up after
SIGTERM and after a hard kill, and reports an ordinary failure plainly, with its exit code.

Tests that could hang if the fix regressed run in a subprocess or a thread with a timeout."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from simulator.results import report_io
from strategy_dsl import safe_write
from strategy_dsl.parser import MAX_FILE_BYTES
from strategy_dsl.userfile import FileTooLarge, NotARegularFile, read_user_file
from stratmap.cli import main
from stratmap.suite import pool
from stratmap.suite.cache import Cache

REPO = Path(__file__).resolve().parents[1]
MESSY = "segment   代发=payroll\nrule r priority 5 { when 代发  offer p via c response 5% }\n"
MISTAKE = 'strategy "错" {\n  horizon 12 months\n}\n\nsegment 甲 = 不存在的属性\n'
TIMEOUT_S = 60


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def stratmap(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **kwargs.pop("env", {})}
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "stratmap", *argv],
        stderr=subprocess.PIPE,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        **kwargs,
    )


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def age(path: Path, seconds: float = safe_write.STALE_AFTER_S + 10) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past), follow_symlinks=False)


def tables() -> dict[str, pd.DataFrame]:
    return {"totals": pd.DataFrame({"rep": [0, 1], "aum": [1.5, 2.5]})}


def write_run(target: Path, version: str) -> None:
    report_io.write_results(target, tables(), {"tool_version": version})


def version_in(target: Path) -> str:
    return report_io.read_results(target)[1]["tool_version"]


# ------------------------------------------------------------------------------ 2. lost data


def test_results_replace_only_a_directory_stratmap_wrote(tmp_path: Path) -> None:
    target = tmp_path / "p"
    (target / "src").mkdir(parents=True)
    (target / "summary.json").write_text("{}")
    (target / "src" / "main.py").write_text("code")
    with pytest.raises(report_io.NotAResultsDirectory, match="Stratmap did not write"):
        write_run(target, "new")
    assert (target / "src" / "main.py").read_text() == "code"

    ours = tmp_path / "ours"
    write_run(ours, "old")
    write_run(ours, "new")  # a directory it wrote: replaced
    assert version_in(ours) == "new"
    (ours / "notes.txt").write_text("mine")  # a file of the user's beside our results
    with pytest.raises(report_io.NotAResultsDirectory, match=r"also notes\.txt"):
        write_run(ours, "newer")
    assert (ours / "notes.txt").read_text() == "mine" and version_in(ours) == "new"


def test_results_written_before_manifests_are_still_replaced(tmp_path: Path) -> None:
    target = tmp_path / "legacy"
    write_run(target, "old")
    (target / "manifest.json").unlink()  # as an earlier Stratmap wrote it
    write_run(target, "new")
    assert version_in(target) == "new"
    (target / "manifest.json").unlink()
    (target / "summary.json").write_text('{"files": {"x": {"file": "totals.parquet"}}}')
    (target / "other.csv").write_text("mine")  # not listed by the summary: refused
    with pytest.raises(report_io.NotAResultsDirectory):
        write_run(target, "newer")


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_interrupt_between_the_renames_keeps_old_or_new_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Where no atomic exchange exists, the two renames: an interrupt before or after the
    second one leaves the old or the new results complete in NAME, and no temporary."""
    target = tmp_path / "out"
    write_run(target, "old")
    monkeypatch.setattr(safe_write, "exchange", lambda a, b: False)
    real = os.rename
    calls: list[tuple[str, str]] = []

    def interrupted(source: os.PathLike, destination: os.PathLike) -> None:
        calls.append((Path(source).name, Path(destination).name))
        if len(calls) == 2 and when == "before":
            raise KeyboardInterrupt
        real(source, destination)
        if len(calls) == 2 and when == "after":
            raise KeyboardInterrupt

    monkeypatch.setattr(report_io.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_run(target, "new")
    assert version_in(target) == ("old" if when == "before" else "new")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_signal_during_the_renames_waits_until_they_are_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT arriving between the two renames is delivered after them: the new results are
    in place, nothing is left aside, and the interrupt still stops the command."""
    target = tmp_path / "out"
    write_run(target, "old")
    monkeypatch.setattr(safe_write, "exchange", lambda a, b: False)
    real = os.rename
    calls = []

    def signalled(source: os.PathLike, destination: os.PathLike) -> None:
        real(source, destination)
        calls.append(destination)
        if len(calls) == 1:
            # to this thread, now (os.kill(getpid) lets the kernel pick any of the threads)
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.05)  # the handler would run here, between the renames

    monkeypatch.setattr(report_io.os, "rename", signalled)
    # Python's own SIGINT handler, whatever this process started with: a run started in the
    # background by a shell begins with SIGINT ignored, and then no interrupt would come.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            write_run(target, "new")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(calls) == 2
    assert version_in(target) == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_the_atomic_exchange_is_used_where_the_system_has_it(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "x").write_text("a")
    if not safe_write.exchange(first, second):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    assert (second / "x").read_text() == "a" and not (first / "x").exists()


_KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
import pandas as pd
from simulator.results import report_io
from strategy_dsl import safe_write

safe_write.exchange = lambda a, b: False
real = os.rename
def rename(source, destination):
    real(source, destination)
    os.kill(os.getpid(), signal.SIGKILL)  # a hard kill between the two renames
report_io.os.rename = rename
frame = pd.DataFrame({"rep": [0], "aum": [9.0]})
report_io.write_results(Path(sys.argv[1]), {"totals": frame}, {"tool_version": "new"})
"""


def test_a_hard_kill_between_the_renames_is_recovered_by_the_next_run(tmp_path: Path) -> None:
    target = tmp_path / "out"
    write_run(target, "old")
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(target)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=TIMEOUT_S,
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not target.exists()  # the instant a hard kill can leave
    report_io.check_replaceable(target)  # the next run, before anything else
    assert version_in(target) == "old"
    (left,) = [p for p in tmp_path.iterdir() if p.name != "out"]  # the new one, unfinished
    assert left.name.endswith(".tmp")
    age(left)  # once nobody touched it for STALE_AFTER_S, the next run removes it
    report_io.check_replaceable(target)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_the_next_run_removes_only_stratmaps_temporaries_of_dead_runs(tmp_path: Path) -> None:
    target = tmp_path / "out"
    stale = tmp_path / f".out.{dead_pid()}-0123456789ab.tmp"
    stale.mkdir()
    (stale / "totals.parquet").write_bytes(b"half")
    age(stale)
    fresh = tmp_path / f".out.{dead_pid()}-0123456789ac.tmp"  # touched a moment ago
    fresh.mkdir()
    alive = tmp_path / f".out.{os.getppid()}-0123456789ad.tmp"  # its owner is running
    alive.mkdir()
    age(alive)
    users = [tmp_path / ".out.backup.tmp", tmp_path / ".out.1234.tmp", tmp_path / "out.old"]
    for path in users:
        path.write_text("mine")
        age(path)
    report_io.check_replaceable(target)
    assert not stale.exists()
    assert fresh.exists() and alive.exists()
    assert all(path.read_text() == "mine" for path in users)


_TERMINATED_WHILE_WRITING = """
import sys, time
from pathlib import Path
import pandas as pd
from simulator.results import report_io
from stratmap import signals

signals.install()
def slow(path, frame):
    print("writing", flush=True)
    time.sleep(60)
report_io._write_table = slow
try:
    report_io.write_results(Path(sys.argv[1]), {"totals": pd.DataFrame()}, {})
except signals.Terminated:
    sys.exit(143)
"""


def test_sigterm_removes_the_temporary_results_directory(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _TERMINATED_WHILE_WRITING, str(tmp_path / "out")],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "writing\n"
        assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
        process.terminate()
        assert process.wait(timeout=TIMEOUT_S) == 143
    finally:
        process.kill()
    assert list(tmp_path.iterdir()) == []


def test_a_scratch_directory_is_removed_on_sigterm_and_swept_after_a_kill(
    tmp_path: Path,
) -> None:
    # The plan command's checkout of the base revision lives in one of these.
    with pytest.raises(KeyboardInterrupt), safe_write.scratch_directory(tmp_path, "plan") as d:
        (d / "x.strat").write_text("checkout")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    left = tmp_path / f".plan.{dead_pid()}-0123456789ab.tmp"
    left.mkdir()
    age(left)
    with safe_write.scratch_directory(tmp_path, "plan") as d:
        assert [p.name for p in tmp_path.iterdir()] == [d.name]


def test_fmt_writes_through_a_symlink_and_keeps_hard_links_mode_and_owner(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real.strat"
    real.write_text(MESSY, encoding="utf-8")
    link = tmp_path / "link.strat"
    link.symlink_to("real.strat")
    assert run("fmt", str(link))[0] == 0
    assert link.is_symlink() and os.readlink(link) == "real.strat"
    formatted = real.read_text(encoding="utf-8")
    assert formatted != MESSY
    assert run("fmt", "--check", str(real))[0] == 0

    first = tmp_path / "a.strat"
    first.write_text(MESSY, encoding="utf-8")
    second = tmp_path / "b.strat"
    os.link(first, second)
    first.chmod(0o640)
    inode = first.stat().st_ino
    if os.getuid() == 0:
        os.chown(first, 1234, 1234)
    assert run("fmt", str(first))[0] == 0
    assert second.read_text(encoding="utf-8") == formatted  # the other link sees it
    assert first.stat().st_ino == inode == second.stat().st_ino
    assert first.stat().st_mode & 0o777 == 0o640
    if os.getuid() == 0:
        assert (first.stat().st_uid, first.stat().st_gid) == (1234, 1234)

    owned = tmp_path / "owned.strat"  # one link, another owner: replaced, owner kept
    owned.write_text(MESSY, encoding="utf-8")
    if os.getuid() == 0:
        os.chown(owned, 4321, 4321)
    assert run("fmt", str(owned))[0] == 0
    assert owned.read_text(encoding="utf-8") == formatted
    if os.getuid() == 0:
        assert (owned.stat().st_uid, owned.stat().st_gid) == (4321, 4321)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.strat",
        "b.strat",
        "link.strat",
        "owned.strat",
        "real.strat",
    ]


def test_fmt_sweeps_the_temporary_a_killed_fmt_left_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "x.strat"
    path.write_text(MESSY, encoding="utf-8")
    left = tmp_path / f".x.strat.{dead_pid()}-0123456789ab.tmp"
    left.write_text("")
    mine = tmp_path / ".x.strat.swp.tmp"
    mine.write_text("editor state")
    for each in (left, mine):
        age(each)
    assert run("fmt", str(path))[0] == 0
    assert not left.exists() and mine.read_text() == "editor state"


# ------------------------------------------------------------------------------ 3. hangs


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.strat"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", ["check", "fmt", "simulate", "test", "check-dir"])
def test_a_fifo_is_refused_not_read(tmp_path: Path, fifo: Path, command: str) -> None:
    argv = [command, str(fifo)]
    if command == "check-dir":
        (tmp_path / "good.strat").write_text('strategy "好" {\n  horizon 12 months\n}\n')
        argv = ["check", str(tmp_path)]
    if command == "test":
        argv += ["--no-cache"]
    result = stratmap(*argv, cwd=tmp_path)  # a hang fails on the timeout
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert "E0008" in said and "named pipe (FIFO), not a regular file" in said
    assert "internal error" not in said


def test_dev_zero_is_refused_and_every_read_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = stratmap("check", "/dev/zero")
    assert result.returncode == 1 and "a device, not a regular file" in result.stdout
    big = tmp_path / "big.strat"
    big.write_bytes(b"#" * (3 * MAX_FILE_BYTES))
    read = []
    real = os.read

    def counting(fd: int, size: int) -> bytes:
        data = real(fd, size)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting)
    with pytest.raises(FileTooLarge):
        read_user_file(big, MAX_FILE_BYTES)
    assert sum(read) == MAX_FILE_BYTES + 1  # not the 6 MB the file holds
    code, out, _ = run("check", str(big))
    assert code == 1 and "E0006" in out
    with pytest.raises(NotARegularFile):
        read_user_file(tmp_path, 10)


def _within(seconds: float, function, *args):
    """``function(*args)`` in a thread; fails (rather than hangs) if it blocks."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(function(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__} blocked"
    return result[0]


FILES = ["map.strat"]  # the files a cached record was made from


def test_a_fifo_or_a_deep_json_as_cache_entry_is_ignored_and_rebuilt(tmp_path: Path) -> None:
    cache = Cache.open(tmp_path)
    os.mkfifo(tmp_path / f"{'a' * 64}.json")
    assert _within(10, cache.get, "a" * 64, FILES) is None
    deep = "[" * 100_000 + "]" * 100_000
    shapes = [deep, "[]", "3", '{"schema": 1}', "\x00\xff", '{"record": []}']
    for number, text in enumerate(shapes):
        key = f"{number:064d}"
        (tmp_path / f"{key}.json").write_text(text, encoding="latin-1")
        assert cache.get(key, FILES) is None
        cache.put(key, {"n": number}, FILES)  # rebuilt
        assert cache.get(key, FILES) == {"n": number}
    cache.put("a" * 64, {"n": "fifo"}, FILES)
    assert cache.get("a" * 64, FILES) == {"n": "fifo"}
    assert len(cache.notes) == len(shapes) + 1 and all("rebuilt" in n for n in cache.notes)


def test_a_full_disk_leaves_no_cache_entry_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache.open(tmp_path)

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safe_write.os, "write", full)
    cache.put("b" * 64, {"n": 1}, FILES)
    assert list(tmp_path.iterdir()) == []
    assert cache.directory is None and "No space left" in cache.notes[0]


def test_the_cache_sweeps_what_a_killed_run_left(tmp_path: Path) -> None:
    left = tmp_path / f".{'c' * 64}.json.{dead_pid()}-0123456789ab.tmp"
    left.write_text("")  # the 0-byte entry a full disk and a kill left
    age(left)
    Cache.open(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_worker_killed_by_sigkill_is_named_and_the_others_finish() -> None:
    import pool_support

    results, deaths = {}, {}
    pool.run_in_workers(
        ["a", "huge", "b", "c"],
        pool_support.die_on_oom,
        2,
        lambda job, result: results.__setitem__(job, result),
        lambda job, code: deaths.__setitem__(job, code),
    )
    assert results == {"a": "done a", "b": "done b", "c": "done c"}
    assert deaths == {"huge": -signal.SIGKILL}
    message, hint = pool.describe_death(-signal.SIGKILL)
    assert "ran out of memory" in message and "--jobs 1" in hint


def test_an_exception_in_a_worker_is_raised_in_the_parent() -> None:
    import pool_support

    with pytest.raises(Exception, match="ValueError: a bug while running x"):
        pool.run_in_workers(["x"], pool_support.fail, 2, print, print)


_PARENT_OF_WORKERS = """
import sys
from stratmap import signals
from stratmap.suite import pool
import pool_support

signals.install()
try:
    pool.run_in_workers(["a", "b"], pool_support.hang, 2, print, print)
except signals.Terminated:
    sys.exit(143)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_workers_die_with_their_parent(how: signal.Signals) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT_OF_WORKERS],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])},
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        workers = [int(parent.stdout.readline()) for _ in range(2)]
        parent.send_signal(how)
        code = parent.wait(timeout=TIMEOUT_S)
        assert code == (143 if how == signal.SIGTERM else -signal.SIGKILL)
        deadline = time.monotonic() + 15
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_alive, workers)), "a worker outlived its parent"
    finally:
        parent.kill()


# ------------------------------------------------------------------------------ 4. plain failures


def test_fmt_that_cannot_write_says_so_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "x.strat"
    path.write_text(MESSY, encoding="utf-8")
    real_open = os.open

    def read_only(file, flags, *args):
        if flags & os.O_CREAT:  # as in a read-only folder, which root would not feel
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, flags, *args)

    monkeypatch.setattr(safe_write.os, "open", read_only)
    code, _, err = run("fmt", str(path))
    assert code == 2, err
    assert f"cannot write {path}: Permission denied; the file is unchanged" in err
    assert "internal error" not in err and path.read_text(encoding="utf-8") == MESSY


def test_fmt_on_a_full_disk_leaves_the_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.strat"
    path.write_text(MESSY, encoding="utf-8")

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safe_write.os, "write", full)
    code, _, err = run("fmt", str(path))
    assert code == 2 and "No space left on device" in err
    assert path.read_text(encoding="utf-8") == MESSY
    assert [p.name for p in tmp_path.iterdir()] == ["x.strat"]


def test_a_full_stdout_is_a_plain_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.strat"
    path.write_text(MISTAKE, encoding="utf-8")
    with open("/dev/full", "w") as full:
        result = stratmap("check", str(path), "--format", "json", stdout=full)
    assert result.returncode == 2, result.stderr
    assert "cannot write standard output: No space left on device" in result.stderr
    assert "internal error" not in result.stderr and "Exception ignored" not in result.stderr


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    path = tmp_path / "bad.strat"
    path.write_text(MISTAKE * 200, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "stratmap", "check", str(path)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # `| head -0`: the reader is gone before anything is written
    _, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 141, err
    assert "internal error" not in err and "Traceback" not in err and "Exception" not in err


def test_an_ascii_stdout_shows_escapes_and_says_so(tmp_path: Path) -> None:
    result = stratmap("explain", "E0501", env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert "\\u" in result.stdout and "internal error" not in result.stderr
    assert "cannot show Chinese text" in result.stderr
    path = tmp_path / "bad.strat"
    path.write_text(MISTAKE, encoding="utf-8")
    report = stratmap("check", str(path), "--format", "json", env={"PYTHONIOENCODING": "ascii"})
    assert report.returncode == 1, report.stderr
    document = json.loads(report.stdout)  # the escapes are JSON's own: nothing is lost
    assert "不存在的属性" in json.dumps(document, ensure_ascii=False)


def test_a_bad_columns_is_a_usage_error_before_any_work() -> None:
    result = stratmap("check", str(REPO / "strategies"), env={"COLUMNS": "abc"})
    assert result.returncode == 2 and "COLUMNS='abc' is not a width" in result.stderr


def test_a_dead_worker_is_reported_against_its_map(tmp_path: Path) -> None:
    from stratmap.suite.report import FileResult, render_json
    from stratmap.suite.runner import failed_record

    class Job:
        file = "wealth.strat"
        strategy_hash = "0" * 64
        seed, reps, customers, months = 1, 2, 2000, 3

        class model:
            class strategy:
                name = "财富"

    message, hint = pool.describe_death(-signal.SIGKILL)
    result = FileResult("wealth.strat")
    result.is_map = True
    result.record = failed_record(Job, message, hint)  # type: ignore[arg-type]
    document = json.loads(render_json([result], 1.0))
    text = json.dumps(document, ensure_ascii=False)
    assert "cannot simulate `财富`" in text and "ran out of memory" in text
    assert textwrap.shorten(hint, 30)[:10] in text


def test_a_failed_rewrite_in_place_puts_the_previous_text_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "a.strat"
    first.write_text("short\n", encoding="utf-8")
    os.link(first, tmp_path / "b.strat")  # two links: rewritten in place
    real_fsync = os.fsync
    calls = []

    def full_on_second(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the temporary's fsync passes, the in-place one fails
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(safe_write.os, "fsync", full_on_second)
    with pytest.raises(OSError, match="No space left"):
        safe_write.write_text(first, "a much longer text than before\n" * 10)
    assert (tmp_path / "b.strat").read_text(encoding="utf-8") == "short\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.strat", "b.strat"]


def test_a_target_named_near_the_file_systems_limit_can_be_written(tmp_path: Path) -> None:
    """A page named with 80 Chinese characters (240 bytes) could not be written: its
    temporary, `.NAME.<pid>-<hex>.tmp`, passed the 255 bytes a file name may have."""
    name = "经" * 80 + ".html"
    assert len(name.encode()) == 245
    temporary = safe_write.temporary_name(tmp_path, name)
    assert len(temporary.name.encode()) <= 255
    assert safe_write.is_temporary(temporary.name, name) is not None  # found again, for a sweep
    assert safe_write.is_temporary(temporary.name, "经" * 79 + "纬.html") is None
    target = tmp_path / name
    safe_write.write_text(target, "<html></html>")
    assert target.read_text() == "<html></html>"
    assert os.listdir(tmp_path) == [name]  # no temporary left
    short = safe_write.temporary_name(tmp_path, "page.html")
    assert short.name.startswith(".page.html.")  # a usual name is carried whole
