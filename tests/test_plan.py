"""`stratmap plan`: the semantic diff of two checked strategies, and the plan of a git revision
against the working tree (diff entries, forecast deltas, --fail-on thresholds, exit codes,
markdown and JSON output).

Every plan runs in a temporary git repository holding copies of the bundled maps, committed as
the base and then edited in the working tree; git runs without the user's configuration. Sizes
are tiny (2,000 customers, 6 months, 2 replications) so that the forecasts take seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from wcwidth import wcswidth

from strategy_dsl.checker import check_paths
from strategy_dsl.formatter import format_text
from strategy_dsl.model import CheckedStrategy
from strategy_dsl.semantic_diff import StrategyDiff, semantic_diff
from stratmap import cli
from stratmap.errors import UsageError
from stratmap.plan_cmd import parse_fail_on

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ROOT / "strategies"
WEALTH = "wealth_2026q1.strat"
SIZES = ("--customers", "2000", "--months", "6", "--reps", "2", "--threads", "2")

# git without the user's (or the machine's) configuration: tests must pass on a bare CI box.
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "stratmap tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "stratmap tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True)


def make_repo(path: Path, files: dict[str, str]) -> Path:
    """A git repository at ``path`` with ``strategies/common`` and ``files`` committed."""
    shutil.copytree(STRATEGIES / "common", path / "strategies" / "common")
    for name, text in files.items():
        (path / "strategies" / name).write_text(text, encoding="utf-8")
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def change(text: str, pattern: str, new: str) -> tuple[str, str]:
    """Replace group 1 of the first match of ``pattern`` with ``new``; the text and the old
    value. The bundled maps are edited as the library grows, so the tests find the values
    they change rather than assume them."""
    match = re.search(pattern, text, re.S)
    assert match is not None, pattern
    return text[: match.start(1)] + new + text[match.end(1) :], match[1]


def percent_plus(old: str, step: float = 1.5) -> str:
    """``6%`` → ``7.5%``: a different share, written as a strategist would."""
    return f"{float(old.rstrip('%')) + step:g}%"


def shown(old: str) -> str:
    """A written number as the diff shows it (``6.0%`` → ``6%``)."""
    suffix = old.lstrip("0123456789.")
    return f"{float(old.removesuffix(suffix)):g}{suffix}"


UPGRADE_RESPONSE = r"rule 临界提升 priority \d+ \{[^}]*?\n  response ([\d.]+%)"
NO_SILVER_SEGMENT = r"(segment 银发\s*= age >= 60\n)"
SILVER_RULE = r"rule 银发生日关怀 priority \d+ \{\n  when (银发) and"
STRATEGY_NAME = r"strategy (\"[^\"]*\")"


def plan(repo: Path, *argv: str) -> tuple[int, str, str]:
    """`stratmap plan ARGV` in ``repo``, through `stratmap.cli.main`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(repo), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["plan", *argv])
    return code, out.getvalue(), err.getvalue()


def wealth_text() -> str:
    return (STRATEGIES / WEALTH).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ semantic diff


def models(tmp_path: Path, name: str, text: str) -> CheckedStrategy:
    folder = tmp_path / name
    shutil.copytree(STRATEGIES / "common", folder / "common")
    (folder / WEALTH).write_text(text, encoding="utf-8")
    report = check_paths([folder / WEALTH])
    assert not [d for d in report.diagnostics if d.is_error], report.diagnostics
    return next(iter(report.models.values()))


def diff_of(tmp_path: Path, new_text: str) -> StrategyDiff:
    return semantic_diff(models(tmp_path, "old", wealth_text()), models(tmp_path, "new", new_text))


def entry(diff: StrategyDiff, kind: str, name: str | None) -> Any:
    found = [c for c in diff.changes if c.kind == kind and c.name == name]
    assert len(found) == 1, [c.title for c in diff.changes]
    return found[0]


def test_every_bundled_map_diffs_empty_against_itself() -> None:
    report = check_paths([STRATEGIES])
    assert report.models
    for model in report.models.values():
        assert semantic_diff(model, model).empty


def test_a_changed_response_rate_is_one_field_old_to_new_in_percent(tmp_path: Path) -> None:
    text = wealth_text()
    old = re.search(UPGRADE_RESPONSE, text, re.S)[1]  # type: ignore[index]
    text, _ = change(text, UPGRADE_RESPONSE, percent_plus(old))
    diff = diff_of(tmp_path, text)
    found = entry(diff, "rule", "临界提升")
    assert found.status == "changed"
    assert [(f.field, f.old, f.new) for f in found.fields] == [
        ("response", shown(old), percent_plus(old))
    ]
    assert diff.affects_forecast and len(diff.changes) == 1


def test_added_rule_removed_segment_and_money_in_wan(tmp_path: Path) -> None:
    text, _ = change(wealth_text(), NO_SILVER_SEGMENT, "")
    text, _ = change(text, SILVER_RULE, "age >= 65")
    budget = r"rule 临界提升 priority \d+ \{[^}]*?\n  budget ([\d.]+)万 per month"
    text, old_budget = change(text, budget, f"{float(re.search(budget, text, re.S)[1]) + 0.5:g}")  # type: ignore[index]
    text += (
        "\nrule 代发关怀 priority 20 {\n  when 代发 and risk_tolerance >= C2\n"
        "  offer 稳健理财 via 企业微信\n  response 3%\n  cooldown 2 months\n}\n"
    )
    diff = diff_of(tmp_path, text)
    assert entry(diff, "segment", "银发").status == "removed"
    added = entry(diff, "rule", "代发关怀")
    assert added.status == "added" and added.forecast
    assert {(f.field, f.new) for f in added.fields} >= {
        ("offer", "稳健理财"),
        ("via", "企业微信"),
        ("response", "3%"),
        ("cooldown", "2 months"),
        ("when", "代发 and risk_tolerance >= C2"),
    }
    assert all(f.old is None for f in added.fields)
    (birthday,) = entry(diff, "rule", "银发生日关怀").fields
    assert birthday.field == "when" and birthday.old is not None
    assert birthday.old.startswith("银发 and ")
    assert birthday.new == birthday.old.replace("银发", "age >= 65", 1)
    upgrade = entry(diff, "rule", "临界提升")
    assert [(f.field, f.old, f.new) for f in upgrade.fields] == [
        ("budget", f"{shown(old_budget)}万 per month", f"{float(old_budget) + 0.5:g}万 per month")
    ]
    assert diff.counts() == {"added": 1, "removed": 1, "changed": 2}


def test_a_file_reformatted_by_fmt_with_new_comments_has_an_empty_diff(tmp_path: Path) -> None:
    # Undo the canonical layout (indentation, spacing, alignment) and add comments; fmt
    # rewrites it; neither version differs from the original in meaning.
    def undo(line: str) -> str:
        if not line.startswith("  "):
            return line
        # Wider spacing between tokens, but never inside a string.
        return "      " + (line.strip() if '"' in line else line.strip().replace(" ", "   "))

    messy = "# a new comment on top\n" + "\n".join(map(undo, wealth_text().splitlines()))
    formatted = format_text(messy, WEALTH)
    assert formatted.output is not None and formatted.changed
    assert diff_of(tmp_path / "messy", messy).empty
    assert diff_of(tmp_path / "formatted", formatted.output).empty


def test_changes_that_cannot_move_the_forecast_are_marked_so(tmp_path: Path) -> None:
    churn = r"\n  churn within 12 months < ([\d.]+%)"
    text = wealth_text()
    text, old_churn = change(text, churn, percent_plus(re.search(churn, text)[1]))  # type: ignore[index]
    text, _ = change(text, r'script 欢迎话术 on \S+ \{[^}]*?\n  text ("[^"\n]*")', '"您好!"')
    variant = r"variant 激进 \{\n  rule 临界提升 \{\n    response ([\d.]+)%"
    written = re.search(variant, text)[1]  # type: ignore[index]
    text, _ = change(text, variant, written + ("0" if "." in written else ".0"))
    diff = diff_of(tmp_path, text)
    expectation = entry(diff, "expect", "churn within 12 months <")
    assert [(f.old, f.new) for f in expectation.fields] == [
        (shown(old_churn), percent_plus(old_churn))
    ]
    script = entry(diff, "script", "欢迎话术")
    assert [f.field for f in script.fields] == ["text"]
    # `8%` → `8.0%` in a variant is the same setting: no variant change at all.
    assert not [c for c in diff.changes if c.kind == "variant"]
    assert not diff.affects_forecast and not expectation.forecast and not script.forecast


def test_a_change_in_an_imported_file_shows_in_the_map_that_imports_it(tmp_path: Path) -> None:
    old = models(tmp_path, "old", wealth_text())
    folder = tmp_path / "new"
    shutil.copytree(STRATEGIES / "common", folder / "common")
    (folder / WEALTH).write_text(wealth_text(), encoding="utf-8")
    channels = folder / "common" / "channels.strat"
    cost = r"channel 企业微信 \{\n  cost ([\d.]+) per contact"
    written = re.search(cost, channels.read_text(encoding="utf-8"))[1]  # type: ignore[index]
    dearer = f"{float(written) + 0.5:g}"
    channels.write_text(
        change(channels.read_text(encoding="utf-8"), cost, dearer)[0], encoding="utf-8"
    )
    new = next(iter(check_paths([folder / WEALTH]).models.values()))
    found = entry(semantic_diff(old, new), "channel", "企业微信")
    assert [(f.field, f.old, f.new) for f in found.fields] == [
        ("cost", f"{shown(written)} per contact", f"{dearer} per contact")
    ]


# ------------------------------------------------------------------------------ --fail-on


@pytest.mark.parametrize(
    ("expression", "name", "op", "value", "relative"),
    [
        ("churn > +0.3pp", "churn_rate", ">", 0.003, False),
        ("churn_rate>=0.5PP", "churn_rate", ">=", 0.005, False),
        ("net_value < -50万", "net_value", "<", -500_000.0, False),
        ("aum < -1%", "final_aum", "<", -0.01, True),
        ("cost > 1.5亿", "cost", ">", 1.5e8, False),
        ("responders <= -2k", "responders", "<=", -2000.0, False),
        ("revenue < -20,000", "revenue", "<", -20_000.0, False),
        ("uplift.aum_per_customer < 0", "uplift.aum_per_customer", "<", 0.0, False),
        ("uplift.churn > +0.1pp", "uplift.churn_rate", ">", 0.001, False),
        ("churn > 0", "churn_rate", ">", 0.0, False),
    ],
)
def test_fail_on_expressions_parse(
    expression: str, name: str, op: str, value: float, relative: bool
) -> None:
    threshold = parse_fail_on(expression)
    assert (threshold.name, threshold.op, threshold.relative) == (name, op, relative)
    assert threshold.value == pytest.approx(value)


def test_a_threshold_tests_the_change_with_its_operator() -> None:
    threshold = parse_fail_on("churn > +0.3pp")
    assert threshold.breached(0.004) and not threshold.breached(0.003)
    assert parse_fail_on("net_value <= -50万").breached(-500_000.0)


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("churn > 0.3", "percentage points"),
        ("net_value < -5pp", "`pp` (percentage points) is for shares"),
        ("profit > 0", "unknown metric `profit`"),
        ("uplift.nps > 0", "unknown metric `uplift.nps`"),
        ("churn == 1pp", "not METRIC OP VALUE"),
        ("churn >", "not METRIC OP VALUE"),
        ("", "not METRIC OP VALUE"),
    ],
)
def test_bad_fail_on_expressions_say_what_to_write(expression: str, why: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_fail_on(expression)
    message = str(raised.value)
    assert why in message
    assert 'help: write METRIC OP VALUE, e.g. --fail-on "churn > +0.3pp"' in message


# ------------------------------------------------------------------------------ the plan


RENAMED = "renamed.strat"  # a segment renamed: a refactoring that moves nothing
FORMATTED = "formatted.strat"  # reformatted by fmt
GONE = "gone.strat"  # removed in the working tree
NEW = "new_map.strat"  # added in the working tree


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose working tree edits a rule's response rate, adds a rule and removes a
    segment (wealth), renames a segment (renamed), reformats a map (formatted), removes one
    map and adds another."""
    text = wealth_text()
    renamed, _ = change(text, STRATEGY_NAME, '"重命名演练"')
    formatted, _ = change(text, STRATEGY_NAME, '"格式演练"')
    messy = "\n".join(
        "    " + line.strip() if line.startswith("  ") else line for line in formatted.splitlines()
    )
    repo = make_repo(
        tmp_path_factory.mktemp("plan") / "repo",
        {WEALTH: text, RENAMED: renamed, FORMATTED: messy, GONE: renamed.replace("重命名", "移除")},
    )
    maps = repo / "strategies"
    edited, old_response = change(text, UPGRADE_RESPONSE, "9.5%")
    assert old_response != "9.5%"
    edited, _ = change(edited, NO_SILVER_SEGMENT, "")
    edited, _ = change(edited, SILVER_RULE, "age >= 60")
    (maps / WEALTH).write_text(
        edited + "\nrule 代发关怀 priority 20 {\n  when 代发 and risk_tolerance >= C2\n"
        "  offer 稳健理财 via 企业微信\n  response 3%\n}\n",
        encoding="utf-8",
    )
    (maps / RENAMED).write_text(renamed.replace("临界财富", "临界客群"), encoding="utf-8")
    result = format_text(messy, FORMATTED)
    assert result.output is not None and result.changed
    (maps / FORMATTED).write_text(result.output, encoding="utf-8")
    (maps / GONE).unlink()
    (maps / NEW).write_text(renamed.replace("重命名", "新增"), encoding="utf-8")
    (repo / "old_response").write_text(old_response, encoding="utf-8")  # for the asserts
    return repo


@pytest.fixture(scope="module")
def planned(library: Path) -> dict[str, Any]:
    code, out, err = plan(library, "--base", "HEAD", *SIZES, "--format", "json", "-q")
    assert code == 0, err
    document = json.loads(out)
    assert document["schema"] == "stratmap.plan/1"
    return {m["file"].removeprefix("strategies/"): m for m in document["maps"]} | {
        "_document": document,
        "_old_response": (library / "old_response").read_text(encoding="utf-8"),
    }


def test_maps_are_added_removed_changed_or_unchanged(planned: dict[str, Any]) -> None:
    statuses = {name: m["status"] for name, m in planned.items() if not name.startswith("_")}
    assert statuses == {
        WEALTH: "changed",
        RENAMED: "changed",
        FORMATTED: "unchanged",
        GONE: "removed",
        NEW: "added",
    }
    assert planned["_document"]["base"]["rev"] == "HEAD"
    assert len(planned["_document"]["base"]["commit"]) == 40
    # Libraries without a `strategy` header are no maps of their own.
    assert not any(name.startswith("common/") for name in planned)


def test_the_diff_lists_the_edits_with_their_fields(planned: dict[str, Any]) -> None:
    changes = {(c["kind"], c["name"]): c for c in planned[WEALTH]["diff"]["changes"]}
    assert changes[("rule", "临界提升")]["fields"] == [
        {"field": "response", "old": shown(planned["_old_response"]), "new": "9.5%"}
    ]
    assert changes[("segment", "银发")]["status"] == "removed"
    assert changes[("rule", "代发关怀")]["status"] == "added"
    assert set(changes) == {
        ("rule", "临界提升"),
        ("segment", "银发"),
        ("rule", "代发关怀"),
        ("rule", "银发生日关怀"),
    }


def test_unchanged_and_reformatted_maps_are_not_simulated(planned: dict[str, Any]) -> None:
    formatted = planned[FORMATTED]
    assert formatted["forecast"] is None
    assert formatted["diff"]["changes"] == []
    assert "text changed" in formatted["note"]
    assert planned[NEW]["forecast"] is None and planned[GONE]["forecast"] is None


def test_forecast_deltas_come_with_intervals_and_sizes(planned: dict[str, Any]) -> None:
    forecast = planned[WEALTH]["forecast"]
    assert forecast["customers"] == 2000 and forecast["replications"] == 2
    assert forecast["horizon"] == {"steps": 6, "step_unit": "month"}
    deltas = {d["metric"]: d for d in forecast["deltas"]}
    assert set(deltas) == {
        "final_aum", "churn_rate", "upgraded", "downgraded", "responders", "revenue", "cost",
        "net_value", "net_value_beyond",  # the wealth map's book has a `lifetime`
        "complaints", "opt_outs",  # its 外呼 declares complaints and opt-outs, and had some
    }  # fmt: skip
    for delta in deltas.values():
        assert delta["change"] == pytest.approx(delta["working"] - delta["base"])
        assert delta["low"] <= delta["change"] <= delta["high"]
    # A higher response rate and a new rule: more responders and more contact cost.
    assert deltas["responders"]["change"] > 0 and deltas["cost"]["change"] > 0
    assert {d["metric"] for d in forecast["uplift_deltas"]} >= {"aum_per_customer", "churn_rate"}


def test_a_model_that_behaves_identically_gives_exactly_zero(planned: dict[str, Any]) -> None:
    renamed = planned[RENAMED]
    kinds = {(c["kind"], c["status"]) for c in renamed["diff"]["changes"]}
    assert kinds == {("segment", "removed"), ("segment", "added"), ("rule", "changed")}
    forecast = renamed["forecast"]
    assert forecast is not None  # a renamed segment can move the forecast: it is simulated
    for delta in forecast["deltas"] + forecast["uplift_deltas"]:
        assert delta["change"] == 0.0, delta
        assert delta["low"] == delta["high"] == 0.0, delta


def test_markdown_comment_with_thresholds_fails_the_check(library: Path) -> None:
    code, out, _ = plan(
        library,
        "--base",
        "HEAD",
        "strategies/renamed.strat",
        *SIZES,
        "--format",
        "markdown",
        "--fail-on",
        "net_value >= 0",  # exactly 0 >= 0: breached, on purpose
        "--fail-on",
        "churn > +50pp",
    )
    assert code == 1
    assert out.startswith("## ❌ stratmap plan: `strategies/renamed.strat` vs `HEAD`")
    assert "### `strategies/renamed.strat`: 重命名演练 (changed)" in out
    assert "- ➖ removed segment **临界财富**" in out
    assert "- ➕ added segment **临界客群**: condition aum in 45万 .. 50万" in out
    assert "- ❌ `net_value >= 0`" in out
    assert "- ✅ `churn > +50pp`" in out
    assert "| metric | base@HEAD | working tree | change | 95% interval |" in out
    assert "| net value (revenue - cost) |" in out


def test_a_threshold_that_holds_exits_zero(library: Path) -> None:
    code, out, _ = plan(
        library,
        "--base",
        "HEAD",
        "strategies/renamed.strat",
        *SIZES,
        "--fail-on",
        "net_value < -1万",
        "--fail-on",
        "aum < -1%",
    )
    assert code == 0
    assert "ok  --fail-on 'net_value < -1万'" in out
    assert "ok    strategies/renamed.strat: change 0%" in out  # aum < -1%: relative


def test_text_tables_line_up_in_terminal_columns(library: Path) -> None:
    code, out, _ = plan(library, "--base", "HEAD", "strategies/wealth_2026q1.strat", *SIZES)
    assert code == 0
    table = [line for line in out.splitlines() if line and line[0] in "┏┃┡│└"]
    assert any("代发关怀" in line for line in table)
    widths: list[int] = []
    for line in table:
        if line.startswith("┏"):
            widths.append(wcswidth(line))
        assert wcswidth(line) == widths[-1], line


def test_a_committed_file_name_with_a_newline_does_not_shift_the_other_maps(
    tmp_path: Path,
) -> None:
    # Git allows any byte but NUL in a name. A newline in a name sent to `cat-file --batch`
    # (newline-delimited) split the request in two and every later blob went to the wrong
    # file: every map was reported "added".
    text = wealth_text()
    renamed, _ = change(text, STRATEGY_NAME, '"换行演练"')
    repo = make_repo(tmp_path / "repo", {"a\nb.strat": renamed, WEALTH: text})
    code, out, err = plan(repo, "--base", "HEAD", *SIZES, "--format", "json", "-q")
    assert code == 0, err
    statuses = {m["file"]: m["status"] for m in json.loads(out)["maps"]}
    assert statuses == {"strategies/a\nb.strat": "unchanged", f"strategies/{WEALTH}": "unchanged"}


# ------------------------------------------------------------------------------ exit codes


def test_a_change_that_cannot_move_the_forecast_is_not_simulated(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {WEALTH: wealth_text()})
    nps = r"\n  nps >= (\d+)"
    path = repo / "strategies" / WEALTH
    text = path.read_text(encoding="utf-8")
    path.write_text(change(text, nps, str(int(re.search(nps, text)[1]) + 5))[0], encoding="utf-8")  # type: ignore[index]
    code, out, _ = plan(repo, "--base", "HEAD", *SIZES, "--format", "json", "--fail-on", "churn>0")
    assert code == 0
    (found,) = json.loads(out)["maps"]
    assert found["status"] == "changed" and found["forecast"] is None
    assert "not simulated" in found["note"]
    assert json.loads(out)["verdicts"] == []


def test_the_base_checkout_is_removed_and_one_a_killed_plan_left_is_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from strategy_dsl import safe_write

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    left = scratch / f".stratmap-plan.{ended.pid}-0123456789ab.tmp"  # a SIGKILL'd plan's
    (left / "strategies").mkdir(parents=True)
    past = time.time() - safe_write.STALE_AFTER_S - 10
    os.utime(left, (past, past))
    mine = scratch / "stratmap-plan-notes.txt"
    mine.write_text("not Stratmap's")
    repo = make_repo(tmp_path / "repo", {WEALTH: wealth_text()})
    code, _, err = plan(repo, "--base", "HEAD", *SIZES, "--format", "json")
    assert code == 0, err
    ours = [p.name for p in scratch.iterdir() if "stratmap-plan" in p.name]
    assert ours == ["stratmap-plan-notes.txt"]  # no checkout left, the user's file kept


def test_a_map_that_does_not_check_in_the_working_tree_exits_one(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {WEALTH: wealth_text()})
    edit(repo / "strategies" / WEALTH, "when 临界财富 and", "when 临界财富s and")
    code, out, err = plan(repo, "--base", "HEAD", *SIZES, "--format", "markdown")
    assert code == 1
    assert "error[E0204]: unknown segment `临界财富s`" in err  # as `stratmap check` shows it
    assert f"### `strategies/{WEALTH}`: 财富客群经营 2026Q1 (does not check)" in out
    assert "E0204" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--base", "no-such-branch"], "--base no-such-branch: unknown revision"),
        (["--base", "HEAD", "missing/"], "missing/: no such file or directory"),
        (["--base", "HEAD", "--fail-on", "churn > 0.3"], "help: write METRIC OP VALUE"),
        (["--base", "HEAD", "--reps", "0"], "--reps 0: must be at least 1"),
    ],
)
def test_usage_errors_exit_two_with_a_message(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    repo = make_repo(tmp_path / "repo", {WEALTH: wealth_text()})
    code, out, err = plan(repo, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert out == ""


def test_outside_a_git_repository_is_a_usage_error(tmp_path: Path) -> None:
    shutil.copytree(STRATEGIES / "common", tmp_path / "strategies" / "common")
    code, _, err = plan(tmp_path, "--base", "HEAD")
    assert code == 2
    assert "is not inside a git repository" in err


def test_a_path_without_strategy_files_is_a_usage_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {WEALTH: wealth_text()})
    (repo / "empty").mkdir()
    code, _, err = plan(repo, "--base", "HEAD", "empty")
    assert code == 2
    assert "no .strat files in empty, in the working tree or at HEAD" in err


def test_an_intervals_money_bounds_share_one_unit() -> None:
    """A bound under 10万 beside one above it was written in full (``[+96,393, +14.2万]``):
    both bounds now take the larger's unit, everywhere an interval is shown."""
    from stratmap.tables import format_interval

    assert format_interval(96_393, 142_000, "money", difference=True) == "[+9.6万, +14.2万]"
    assert format_interval(-73_255, 105_000, "money", difference=True) == "[-7.3万, +10.5万]"
    assert format_interval(5e7, 2e8, "money") == "[0.50亿, 2.00亿]"
    assert format_interval(-89.39, 354, "money", difference=True) == "[-89, +354]"
    assert format_interval(12.5, 80.3, "money") == "[12.50, 80.30]"
    assert format_interval(0.01, 0.02, "share", difference=True) == "[+1.00 pp, +2.00 pp]"
    assert format_interval(None, 1.0, "money") == "-"
