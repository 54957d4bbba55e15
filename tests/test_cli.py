"""The command line contract: exit codes, output formats, atomic writes, and no traceback for
any input (hypothesis feeds random bytes and mutated strategies through `check` and `fmt`)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategy_dsl.parser import decode_source, parse_text
from stratmap.cli import main

REPO = Path(__file__).resolve().parents[1]
GOOD = """\
strategy "测试" {
  horizon 12 months
}

population 客户 {
  size 10k
  payroll ~ bernoulli(30%)
}
"""
# Three different mistakes: an unknown segment (with a near miss), a bare number where a
# probability belongs, and a product offered above the audience's risk tolerance.
THREE_MISTAKES = """\
strategy "三个错误" {
  horizon 12 months
}

population 客户 {
  size 10k
  aum            ~ lognormal(median 5万, sigma 1.4)
  risk_tolerance ~ categorical(C1 20%, C2 40%, C3 40%)
  consent_call   ~ bernoulli(60%)
}

segment 临界财富 = aum in 45万 .. 50万

product 稳健理财 {
  kind wealth
  risk R2
}

channel 外呼 {
  cost 8 per contact
  reach 45%
  requires consent_call
}

rule 临界提升 priority 80 {
  when 临界财富s
  offer 稳健理财 via 外呼
  response 6
}
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ check


def test_clean_file_is_quiet_with_a_summary(tmp_path: Path) -> None:
    path = write(tmp_path, "good.strat", GOOD)
    code, out, err = run("check", str(path))
    assert (code, out) == (0, "")
    assert err.strip() != ""
    assert run("check", "-q", str(path)) == (0, "", "")


def test_three_mistakes_exit_1_with_all_three_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.strat", THREE_MISTAKES)
    code, out, _ = run("check", str(path))
    assert code == 1
    codes = {
        line.split("[")[1].split("]")[0]
        for line in out.splitlines()
        if line.startswith(("error[", "warning["))
    }
    assert {"E0204", "E0301", "E0501"} <= codes


def test_json_format_matches_text_findings(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.strat", THREE_MISTAKES)
    code, out, _ = run("check", "--format", "json", str(path))
    assert code == 1
    document = json.loads(out)
    assert {d["code"] for d in document["diagnostics"]} >= {"E0204", "E0301", "E0501"}


def test_junit_and_sarif_are_well_formed(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.strat", THREE_MISTAKES)
    code, out, _ = run("check", "--format", "junit", str(path))
    assert code == 1
    assert ET.fromstring(out).tag == "testsuites"
    code, out, _ = run("check", "--format", "sarif", str(path))
    assert code == 1
    assert json.loads(out)["version"] == "2.1.0"


def test_github_annotations(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.strat", THREE_MISTAKES)
    code, out, _ = run("check", "--format", "github", str(path))
    assert code == 1
    assert out.startswith("::error file=")


def test_strict_makes_warnings_fail(tmp_path: Path) -> None:
    path = write(tmp_path, "warn.strat", GOOD + "segment 银发 = age >= 60\n")
    code, out, _ = run("check", str(path))
    assert code == 0 and "W0101" in out
    assert run("check", "--strict", str(path))[0] == 1


def test_directories_are_searched_recursively(tmp_path: Path) -> None:
    write(tmp_path, "a/one.strat", GOOD)
    write(tmp_path, "a/b/two.strat", GOOD.replace("测试", "测试二"))
    write(tmp_path, "a/.hidden/skip.strat", "this is not a strategy")
    code, _, err = run("check", str(tmp_path / "a"))
    assert code == 0
    assert "2 files" in err


@pytest.mark.parametrize(
    "argv",
    [
        ("check",),
        ("check", "no/such/path.strat"),
        ("check", "--format", "xml", "x.strat"),
        ("fmt",),
        ("explain", "E9999"),
        ("nonsense",),
    ],
)
def test_usage_errors_exit_2(argv: tuple[str, ...]) -> None:
    code, _, err = run(*argv)
    assert code == 2
    assert "Traceback" not in err


def test_empty_directory_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("check", str(tmp_path))
    assert code == 2 and "no .strat files" in err


def test_explain_prints_the_catalogue_page() -> None:
    code, out, _ = run("explain", "e0204")
    assert code == 0 and "E0204" in out


# ------------------------------------------------------------------------------ fmt

MESSY = "segment   代发=payroll\nrule r priority 5 { when 代发  offer p via c response 5% }\n"


def test_fmt_rewrites_then_is_clean(tmp_path: Path) -> None:
    path = write(tmp_path, "messy.strat", MESSY)
    assert run("fmt", "--check", str(path))[0] == 1
    assert path.read_text(encoding="utf-8") == MESSY  # --check writes nothing
    code, out, _ = run("fmt", "--diff", str(path))
    assert code == 1 and out.startswith("---")
    assert path.read_text(encoding="utf-8") == MESSY  # --diff writes nothing
    assert run("fmt", str(path))[0] == 0
    formatted = path.read_text(encoding="utf-8")
    assert formatted != MESSY
    assert run("fmt", "--check", str(path))[0] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["messy.strat"]  # no temporary left


def test_fmt_refuses_a_file_that_does_not_parse(tmp_path: Path) -> None:
    broken = "rule r {\n  response 5%\n"
    path = write(tmp_path, "broken.strat", broken)
    code, _, err = run("fmt", str(path))
    assert code == 1 and "E0003" in err
    assert path.read_text(encoding="utf-8") == broken


def test_fmt_keeps_file_mode(tmp_path: Path) -> None:
    path = write(tmp_path, "messy.strat", MESSY)
    path.chmod(0o640)
    assert run("fmt", str(path))[0] == 0
    assert path.stat().st_mode & 0o777 == 0o640


# ------------------------------------------------------------------------------ any input

_FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _assert_answered(path: Path, before: bytes) -> None:
    """check and fmt answer with an exit code of 0 or 1, never a traceback, and fmt never
    leaves a file that does not parse."""
    code, _, err = run("check", str(path))
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err
    code, _, err = run("fmt", str(path))
    assert code in (0, 1), err
    assert "internal error" not in err
    after = path.read_bytes()
    if after != before:
        assert parse_text(after.decode("utf-8"), "x").file is not None
    else:
        text, _problem = decode_source(before, "x")
        parses = text is not None and parse_text(text, "x").file is not None
        assert code == (0 if parses else 1)


@_FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.strat"
    path.write_bytes(data)
    _assert_answered(path, data)


def _examples() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((REPO / "strategies").rglob("*.strat"))]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_examples() or [GOOD]))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        start = draw(st.integers(0, len(text) - 1))
        end = min(len(text), start + draw(st.integers(0, 12)))
        action = draw(st.sampled_from(["delete", "duplicate", "insert", "truncate"]))
        if action == "delete":
            text = text[:start] + text[end:]
        elif action == "duplicate":
            text = text[:end] + text[start:end] + text[end:]
        elif action == "insert":
            text = text[:start] + draw(st.text(max_size=6)) + text[start:]
        else:
            text = text[:start]
    return text


@_FUZZ
@given(text=mutated())
def test_mutated_strategies_never_crash(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mutant.strat"
    data = text.encode("utf-8", errors="surrogatepass")
    path.write_bytes(data)
    _assert_answered(path, data)


def test_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "junk.strat"
    path.write_bytes(b"\xff\xfe\x00garbage")
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "stratmap", "check", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "E0005" in result.stdout
