"""`stratmap test`: exit codes, the report formats, the cache, and bad input.

Strategies here are tiny (a few hundred customers, a few months, 2 replications) so that each
run takes about a second once the kernels are compiled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xmlschema

from strategy_dsl.catalogue import CATALOGUE
from stratmap.cli import main

REPO = Path(__file__).resolve().parents[1]
JUNIT_XSD = Path(__file__).resolve().parent / "data" / "junit.xsd"
COMMON = REPO / "strategies" / "common"

GOOD = """\
strategy "好" {
  horizon 6 months
  seed 3
}
population 客户 {
  size 400
  aum ~ lognormal(median 5万, sigma 1.0)
}
lifecycle {
  mature -> churned 2%
}
expect {
  churn within 6 months < 40%
  customers > 100
}
"""

BAD = GOOD.replace("churn within 6 months < 40%", "churn within 6 months < 0.1%")


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with two maps (one failing) and a declarations file; cwd is the folder and the
    cache is inside it."""
    (tmp_path / "good.strat").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bad.strat").write_text(BAD, encoding="utf-8")
    (tmp_path / "decl.strat").write_text("segment 大 = aum >= 50万\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATMAP_CACHE_DIR", raising=False)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["test", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_passing_library_exits_0(library: Path, capsys) -> None:
    (library / "bad.strat").unlink()
    code, out, _ = _run(capsys, ".", "--reps", "2")
    assert code == 0, out
    assert re.search(r"good\.strat \.\.\.  \(\d+\.\d s\)", out)
    assert "decl.strat ." in out
    assert re.search(r"=+ 4 passed in [\d.]+ s =+", out)


def test_a_failing_expectation_exits_1_and_shows_the_line(library: Path, capsys) -> None:
    code, out, _ = _run(capsys, ".", "--reps", "2")
    assert code == 1
    assert "bad.strat .F." in out
    assert "error[T0101]: expectation not met: `churn within 6 months` is" in out
    assert "--> bad.strat:13:3" in out
    assert "13 |   churn within 6 months < 0.1%" in out
    assert re.search(r"1 failed, 6 passed", out)


def test_cache_serves_unchanged_maps(library: Path, capsys, monkeypatch) -> None:
    _run(capsys, ".", "--reps", "2")
    import stratmap.suite.runner as runner

    def refuse(job):  # a cached map must not be simulated again
        raise AssertionError(f"{job.file} simulated although cached")

    monkeypatch.setattr(runner, "run_job", refuse)
    monkeypatch.setenv("STRATMAP_DEBUG", "1")  # let the refusal through the last line of defence
    code, out, _ = _run(capsys, ".", "--reps", "2")
    assert code == 1 and "(cached)" in out and "2 of 2 maps from cache" in out
    # Another size, another key: simulated again (and refused here).
    with pytest.raises(AssertionError, match="simulated although cached"):
        main(["test", ".", "--reps", "3", "--jobs", "1"])
    # An edited map is simulated again.
    (library / "good.strat").write_text(GOOD.replace("size 400", "size 401"), encoding="utf-8")
    with pytest.raises(AssertionError, match=r"good\.strat simulated"):
        main(["test", "good.strat", "--reps", "2"])


def test_a_cached_verdict_is_reported_where_the_file_is_now(
    library: Path, capsys, monkeypatch
) -> None:
    # The key is the content, not the path: the same map copied elsewhere is served from the
    # cache, and its failure must point at the copy (and quote its line), not at the original.
    _run(capsys, "bad.strat", "--reps", "2")
    (library / "moved").mkdir()
    shutil.copy(library / "bad.strat", library / "moved" / "copy.strat")
    (library / "bad.strat").unlink()
    import stratmap.suite.runner as runner

    def refuse(job):
        raise AssertionError(f"{job.file} simulated although cached")

    monkeypatch.setattr(runner, "run_job", refuse)
    code, out, _ = _run(capsys, "moved", "--reps", "2")
    assert code == 1 and "(cached)" in out
    assert "--> moved/copy.strat:13:3" in out
    assert "13 |   churn within 6 months < 0.1%" in out
    assert "bad.strat" not in out
    code, out, _ = _run(capsys, "moved", "--reps", "2", "--format", "json")
    assert "bad.strat" not in out and "moved/copy.strat" in out


def test_no_cache_simulates_again(library: Path, capsys) -> None:
    _run(capsys, ".", "--reps", "2")
    code, out, _ = _run(capsys, ".", "--reps", "2", "--no-cache")
    assert "(cached)" not in out and code == 1


def test_corrupt_cache_entries_are_ignored_and_rebuilt(library: Path, capsys) -> None:
    _, first, _ = _run(capsys, ".", "--reps", "2", "--format", "json")
    entries = sorted((library / ".stratmap-cache").glob("*.json"))
    assert len(entries) == 2
    entries[0].write_text(entries[0].read_text()[:100], encoding="utf-8")  # truncated
    tampered = json.loads(entries[1].read_text())
    tampered["record"]["expectations"][0]["passed"] = not tampered["record"]["expectations"][0][
        "passed"
    ]
    entries[1].write_text(json.dumps(tampered), encoding="utf-8")  # edited: checksum fails
    _, second, err = _run(capsys, ".", "--reps", "2", "--format", "json")
    assert err.count("ignored corrupt cache entry") == 2
    documents = [json.loads(first), json.loads(second)]
    assert [f["passed"] for f in documents[0]["files"]] == [
        f["passed"] for f in documents[1]["files"]
    ]
    assert documents[1]["summary"]["cached"] == 0
    _, _, err = _run(capsys, ".", "--reps", "2")
    assert "ignored" not in err  # rebuilt entries are trusted again


def test_cache_dir_that_cannot_be_written(library: Path, capsys) -> None:
    blocker = library / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    code, _, err = _run(capsys, "good.strat", "--reps", "2", "--cache-dir", "not-a-dir/cache")
    assert code == 2 and "--cache-dir not-a-dir/cache: " in err
    # The default cache cannot be made: a note, and the run goes on without it.
    os.environ["STRATMAP_CACHE_DIR"] = str(blocker / "cache")
    try:
        code, out, err = _run(capsys, "good.strat", "--reps", "2")
    finally:
        del os.environ["STRATMAP_CACHE_DIR"]
    assert code == 0 and "note: cache disabled:" in err and "passed" in out


def test_junit_validates_against_the_schema(library: Path, capsys) -> None:
    code, _, _ = _run(capsys, ".", "--reps", "2", "--junit", "report.xml")
    assert code == 1
    report = library / "report.xml"
    xmlschema.XMLSchema(JUNIT_XSD).validate(report)
    text = report.read_text(encoding="utf-8")
    assert '<testsuites name="stratmap test" tests="7" failures="1"' in text
    assert 'type="T0101"' in text and "bad.strat:13:3" in text
    assert "<system-out>`customers` is" in text  # passing expectations say what was measured


def test_junit_schema_rejects_a_broken_report(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text('<testsuites><testsuite tests="x"/></testsuites>', encoding="utf-8")
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xmlschema.XMLSchema(JUNIT_XSD).validate(broken)


def test_json_document(library: Path, capsys) -> None:
    code, out, _ = _run(capsys, ".", "--reps", "2", "--format", "json")
    document = json.loads(out)
    assert code == 1 and document["schema"] == "stratmap.test/1"
    summary = document["summary"]
    assert (summary["failed"], summary["passed"], summary["maps"]) == (1, 6, 2)
    bad = next(f for f in document["files"] if f["file"] == "bad.strat")
    expectation = bad["record"]["expectations"][0]
    assert expectation["passed"] is False and expectation["source"].startswith("churn within")
    assert len(expectation["per_rep"]) == 2
    assert bad["cases"][1]["failures"][0]["code"] == "T0101"


def test_github_annotations(library: Path, capsys) -> None:
    code, out, _ = _run(capsys, ".", "--reps", "2", "--format", "github")
    assert code == 1
    assert out.startswith("::error file=bad.strat,line=13,col=3")
    assert "T0101" in out


def test_a_worker_killed_by_the_oom_killer_fails_its_map_alone(
    library: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pool_support

    from stratmap.suite import runner

    monkeypatch.setattr(runner, "run_job", pool_support.run_job_out_of_memory_on_bad)
    code, out, err = _run(capsys, ".", "--reps", "2", "--no-cache", "--jobs", "2")
    assert code == 1, out + err
    assert "internal error" not in err
    assert re.search(r"T0301.*cannot simulate `好`.*killed \(SIGKILL\).*ran out of memory", out)
    assert "bad.strat" in out and "--jobs 1" in out
    assert re.search(r"good\.strat \.\.\.", out)  # the other map ran and passed


_TEST_WITH_HANGING_WORKERS = """
import sys
import time
import pool_support
from stratmap.cli import main
from stratmap.suite import runner

runner.run_job = pool_support.hang_job
sys.exit(main(["test", ".", "--no-cache", "--jobs", "2"]))
"""


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_the_workers_of_a_killed_test_run_die_with_it(library: Path, how: signal.Signals) -> None:
    """The reproducer of issue 14: killing `stratmap test` orphaned its workers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    parent = subprocess.Popen(
        [sys.executable, "-c", _TEST_WITH_HANGING_WORKERS],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        workers = [int(parent.stdout.readline()) for _ in range(2)]
        parent.send_signal(how)
        code = parent.wait(timeout=60)
        assert code == (143 if how == signal.SIGTERM else -signal.SIGKILL)
        deadline = time.monotonic() + 15
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(pid) for pid in workers), "a worker outlived `stratmap test`"
    finally:
        parent.kill()
        parent.wait()


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has ended; only its exit status waits for a reader)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_parallel_jobs_give_the_same_numbers(library: Path, capsys) -> None:
    _, one, _ = _run(capsys, ".", "--reps", "2", "--no-cache", "--jobs", "1", "--format", "json")
    _, two, _ = _run(capsys, ".", "--reps", "2", "--no-cache", "--jobs", "2", "--format", "json")

    def numbers(text: str) -> list:
        return [
            (f["file"], [e["per_rep"] for e in (f["record"] or {}).get("expectations", [])])
            for f in json.loads(text)["files"]
        ]

    assert numbers(one) == numbers(two)


def test_strict_fails_on_warnings(library: Path, capsys) -> None:
    (library / "bad.strat").write_text(GOOD + "segment 大 = aum >= 50万\n", encoding="utf-8")
    assert _run(capsys, "bad.strat", "--reps", "2")[0] == 0  # an unused segment: a warning
    code, out, _ = _run(capsys, "bad.strat", "--reps", "2", "--strict")
    assert code == 1 and "W0101" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["missing/"], "missing/: no such file or directory"),
        (["--reps", "0", "."], "--reps 0: must be at least 1"),
        (["--jobs", "many", "."], "--jobs many: not a whole number"),
        (["--junit", "nowhere/r.xml", "."], "the folder nowhere does not exist"),
    ],
)
def test_usage_errors_exit_2(library: Path, capsys, argv: list[str], needle: str) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2 and needle in err


def test_a_directory_without_strategies(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "empty")
    assert code == 2 and "no .strat files found in empty" in err


def test_unknown_metric_is_a_check_error(library: Path, capsys) -> None:
    (library / "bad.strat").write_text(GOOD.replace("customers > 100", "clients > 100"))
    code, out, _ = _run(capsys, "bad.strat", "--reps", "2")
    assert code == 1 and "error[E0414]: unknown metric `clients`" in out


def test_unreadable_file(library: Path, capsys) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = library / "good.strat"
    path.chmod(0)
    try:
        code, out, _ = _run(capsys, "good.strat")
    finally:
        path.chmod(0o644)
    assert code == 1 and "E0008" in out


T_EXAMPLES = [code for code in CATALOGUE if code.startswith("T") and code != "T0301"]


@pytest.mark.parametrize("code", T_EXAMPLES)
def test_catalogue_example_produces_its_code(code: str, tmp_path: Path, capsys, monkeypatch):
    """The `T` codes' catalogue examples (docs/diagnostics.md) really fail `stratmap test` with
    their code, and with no check error."""
    monkeypatch.chdir(tmp_path)
    example = CATALOGUE[code].example
    if 'import "common/' in example:
        shutil.copytree(COMMON, tmp_path / "common")
    (tmp_path / "example.strat").write_text(example + "\n", encoding="utf-8")
    exit_code, out, _ = _run(capsys, "example.strat", "--reps", "2", "--no-cache")
    assert exit_code == 1
    found = re.findall(r"error\[(\w+)\]", out)
    assert found == [code], out


def test_t0301_is_described(capsys) -> None:
    assert CATALOGUE["T0301"].example.startswith("#")


def test_subprocess_never_shows_a_traceback(library: Path) -> None:
    (library / "odd.strat").write_bytes(b"\xff\xfe\x00garbage")
    done = subprocess.run(
        [sys.executable, "-m", "stratmap", "test", ".", "--reps", "2"],
        capture_output=True,
        text=True,
        cwd=library,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr


PERSONA_MAP = """\
strategy "临界" {
  horizon 3 months
  seed 5
}
import "common/channels.strat"
population 客户 {
  size 300
  aum            ~ lognormal(median 5万, sigma 1.0)
  risk_tolerance ~ categorical(C1 20%, C2 30%, C3 50%)
  has_app        ~ bernoulli(70%)
}
segment 临界 = aum >= 40万 and aum < 50万
rule 临界提升 {
  when 临界
  offer 新客理财 via APP推送
  response 3%
}
"""

PERSONA_TEST = """\
import "map.strat"
persona 有APP {
  given aum 45万, risk_tolerance C3, has_app
  expect gets 临界提升 via APP推送
}
persona 没有APP {
  given aum 45万, risk_tolerance C3
  expect gets 临界提升 via APP推送
}
"""


def test_a_persona_file_beside_a_map(tmp_path: Path, capsys, monkeypatch) -> None:
    """`map_test.strat` imports its map: its personas run once, and it is not simulated."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(COMMON, tmp_path / "common")
    (tmp_path / "map.strat").write_text(PERSONA_MAP, encoding="utf-8")
    (tmp_path / "map_test.strat").write_text(PERSONA_TEST, encoding="utf-8")
    code, out, _ = _run(capsys, "map.strat", "map_test.strat", "--reps", "2", "--format", "json")
    document = json.loads(out)
    assert code == 1
    by_file = {f["file"]: f for f in document["files"]}
    test_file = by_file["map_test.strat"]
    assert [c["passed"] for c in test_file["cases"]] == [True, True, False]
    assert test_file["record"]["expectations"] == [] and "steps" not in test_file["record"]
    assert by_file["map.strat"]["record"]["personas"] == []  # the test file's, not the map's
    failure = test_file["cases"][2]["failures"][0]
    assert failure["code"] == "T0201" and "没有APP" in failure["message"]
    assert failure["span"]["file"] == "map_test.strat" and failure["span"]["line"] == 8
