"""`stratmap report`: the 策略管理看板 from a results directory, without a browser (the browser
tests are in test_report_browser.py): what the pages hold, escaping in the HTML and in
Markdown, the map document, bad results directories (exit 2), ``--report`` on simulate and
compare, and the time it takes."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from report_support import (
    SIZES,
    XSS,
    backtest_dir,
    compare_dir,
    hostile_map,
    review_file,
    simulate_dir,
)

from stratmap.cli import main
from stratmap.report.inputs import load_results
from stratmap.report.pages import build_pages
from stratmap.report.render import plotly_js, render_html
from stratmap.report.strategy_map import EVERY_STEP, EVERYONE, MAP_FILE


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("report")
    strategy = hostile_map(folder)
    sim = simulate_dir(folder, strategy)
    return {
        "strategy": strategy,
        "sim": sim,
        "cmp": compare_dir(folder, strategy),
        "review": review_file(folder, strategy, sim),
        "backtest": backtest_dir(folder),
        "folder": folder,
    }


def _report(runs: dict[str, Path], name: str, *extra: str) -> tuple[int, str]:
    out = runs["folder"] / f"{name}-{len(extra)}.html"
    code = main(["report", str(runs[name]), "-o", str(out), "-q", *extra])
    return code, out.read_text(encoding="utf-8") if out.exists() else ""


# ------------------------------------------------------------------------------ the map document


def test_simulate_writes_the_map_with_plays_placed_on_the_grid(runs: dict[str, Path]) -> None:
    document = json.loads((runs["sim"] / MAP_FILE).read_text(encoding="utf-8"))
    assert document["schema"] == "stratmap.map/1"
    plays = {p["play"]: p for p in document["plays"]}
    # `when 临界财富 and not 私行`: the row is 临界财富, never the excluded tier.
    assert plays["临界提升"]["segments"] == ["临界财富"]
    assert plays["临界提升"]["triggers"] == [EVERY_STEP]
    assert plays["临界提升"]["script_text"] == XSS
    assert plays["流失挽回"]["segments"] == ["高流失风险", "财富", "私行"]
    assert plays["流失挽回"]["triggers"] == ["资产下滑", "大额转出"]
    assert plays["到期续作"]["segments"] == [EVERYONE]
    assert plays["蜜月期 wave 2"]["triggers"] == ["新户百日"]
    files = [Path(s["file"]).name for s in document["sources"]]
    assert "channels.strat" in files and files[-1] == "wealth.strat"
    # Every expect line of the map is judged on the run (none needs a variant's run).
    assert [e["status"] for e in document["expectations"]].count("not measured") == 0
    assert len(document["expectations"]) == 4


def test_compare_writes_each_alternatives_series(runs: dict[str, Path]) -> None:
    totals = pd.read_parquet(runs["cmp"] / "totals.parquet")
    assert set(totals["alternative"].astype(str)) == {"base", "激进"}
    assert (runs["cmp"] / MAP_FILE).is_file()


# ------------------------------------------------------------------------------ pages


def test_a_simulation_gets_every_page_with_non_empty_charts(runs: dict[str, Path]) -> None:
    results = load_results(runs["sim"])
    pages = build_pages(results)
    assert [p.id for p in pages] == [
        "overview",
        "trends",
        "tiers",
        "plays",
        "channels",
        "map",
        "expectations",
        "source",
    ]
    charts = [chart for page in pages for chart in page.charts]
    assert len(charts) >= 9
    for chart in charts:
        assert chart.reading and chart.figure["data"], chart.id
        assert any(
            any(v is not None for v in trace.get("x") or [])
            or any(v for v in (trace.get("link") or {}).get("value", []))  # a Sankey's flows
            for trace in chart.figure["data"]
        ), chart.id
    assert "stage-flows" in [chart.id for chart in charts]


def test_the_stage_flows_are_the_runs_moves(runs: dict[str, Path]) -> None:
    """The Sankey of the trends page: per arm, a link per move that happened, its width the
    customers who made it over the horizon (mean of the replications)."""
    results = load_results(runs["sim"])
    (trends,) = [p for p in build_pages(results) if p.id == "trends"]
    (flows,) = [c for c in trends.charts if c.id == "stage-flows"]
    moves = results.tables["stage_moves"]
    reps = moves["rep"].nunique()
    for trace in flows.figure["data"]:
        arm = "treatment" if "treatment" in trace["name"] else "control"
        mine = moves[moves["arm"] == arm]
        total = mine.groupby(["from_stage", "to_stage"], observed=True)["customers"].sum()
        total = total[total > 0] / reps
        labels = trace["node"]["label"]
        drawn = {
            (labels[s], labels[t].removeprefix("→ ")): v
            for s, t, v in zip(
                trace["link"]["source"], trace["link"]["target"], trace["link"]["value"],
                strict=True,
            )
        }  # fmt: skip
        assert drawn == {key: round(value, 1) for key, value in total.items()}
        assert ("growing", "mature") in drawn


def test_the_map_grid_has_gaps_and_forecasts(runs: dict[str, Path]) -> None:
    page = next(p for p in build_pages(load_results(runs["sim"])) if p.id == "map")
    context = page.context
    assert 0 < context["served"] < context["cells"]  # some cells are gaps
    row = next(r for r in context["rows"] if r["name"] == "临界财富")
    cell = row["cells"][context["columns"].index(EVERY_STEP)]
    assert [card["play"] for card in cell] == ["临界提升"]
    assert cell[0]["reached"] not in (None, "-") and cell[0]["link"].startswith("#src-")


def test_money_is_written_in_wan_and_yi(runs: dict[str, Path]) -> None:
    code, html = _report(runs, "sim")
    assert code == 0
    assert re.search(r"\d\.\d{2}亿|\d\.\d万", html)


def test_a_comparison_shows_variants_side_by_side(runs: dict[str, Path]) -> None:
    pages = {p.id: p for p in build_pages(load_results(runs["cmp"]))}
    assert {"overview", "trends", "tiers", "plays", "map", "source"} <= set(pages)
    overview = pages["overview"].context
    assert overview["variants"] == ["激进"] and overview["differences"]
    assert {"base", "激进"} == {row["arm"] for row in overview["ranking"]}


# ------------------------------------------------------------------------------ the HTML file


def test_an_interval_clear_of_zero_is_marked(runs: dict[str, Path]) -> None:
    # On a copy of the results, one uplift made clear of zero either way and the rest made to
    # straddle it: exactly those two rows are marked (the wealth map's own intervals, with its
    # book earning in both arms, may or may not clear zero at this size).
    copy = runs["folder"] / "sim-marked"
    shutil.copytree(runs["sim"], copy)
    path = copy / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8"))
    rows = [row for row in summary["uplift"].values() if row["low"] is not None]
    assert len(rows) >= 3
    for row in rows:
        row["low"], row["high"] = -1.0, 1.0
    rows[0]["low"], rows[0]["high"] = 0.5, 2.0
    rows[1]["low"], rows[1]["high"] = -2.0, -0.5
    path.write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    runs = {**runs, "marked": copy}
    _, html = _report(runs, "marked")
    assert html.count('<tr class="up">') == 1 and html.count('<tr class="down">') == 1
    assert "built-in method" not in html


def test_the_page_is_self_contained(runs: dict[str, Path]) -> None:
    code, html = _report(runs, "sim")
    assert code == 0
    assert html.count(plotly_js()[:200]) == 1  # Plotly inlined once
    # No element loads anything: no src=, no <link>, no url() outside data: URIs.
    body = html.replace(plotly_js(), "")
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=", body, re.I)
    assert "<link" not in body.lower()
    assert not re.search(r"url\((?!data:)", body)


def test_user_text_is_escaped_in_the_html(runs: dict[str, Path]) -> None:
    _, html = _report(runs, "sim")
    body = html.replace(plotly_js(), "")
    assert XSS not in body  # never written as markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # but shown
    assert "<i>maps</i>" not in body and "&lt;i&gt;maps&lt;/i&gt;" in body
    figures = re.search(r'<script type="application/json" id="figures">(.*?)</script>', html, re.S)
    assert figures and "<" not in figures.group(1)
    assert body.count("<script") == 3  # the figures, Plotly, the dashboard: nothing else


def test_the_report_of_the_wealth_map_takes_under_5_s(runs: dict[str, Path]) -> None:
    started = time.perf_counter()
    code, html = _report(runs, "sim")
    elapsed = time.perf_counter() - started
    assert code == 0 and elapsed < 5.0, f"{elapsed:.1f} s"
    # Plotly (4.8 MB) plus data rounded to what the eye sees.
    assert len(html.encode()) < len(plotly_js().encode()) + 1_000_000


def test_the_command_prints_the_file_size(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = runs["folder"] / "sized.html"
    assert main(["report", str(runs["sim"]), "-o", str(out)]) == 0
    assert re.search(r"\(\d+\.\d MB\) in \d+\.\d s", capsys.readouterr().err)


# ------------------------------------------------------------------------------ markdown


def test_markdown_summary_for_a_pull_request(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(runs["cmp"]), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "| variant | metric | base | variant | difference | 95% interval |" in text
    assert "| 激进 | net value" in text
    assert "Expectations" in text
    assert "<script" not in text and len(text.splitlines()) < 60
    # The folder's name is markup: escaped in the expectations' source paths.
    assert "<i>" not in text and "&lt;i&gt;maps&lt;/i&gt;" in text


def test_markdown_of_a_simulation_has_the_headline_and_uplift(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(runs["sim"]), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "| AUM at the end of the horizon |" in text
    assert "模型组 vs 非模型组" in text


# ------------------------------------------------------------------------------ bad input


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["report", *argv]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_bad_results_directories_exit_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "r.html")
    assert "no such directory" in _error(capsys, str(tmp_path / "nope"), "-o", out)
    (tmp_path / "empty").mkdir()
    assert "no summary.json" in _error(capsys, str(tmp_path / "empty"), "-o", out)

    broken = tmp_path / "broken"
    broken.mkdir()
    for file in runs["sim"].iterdir():
        if file.name != "funnel.parquet":
            (broken / file.name).write_bytes(file.read_bytes())
    assert "funnel.parquet is listed in summary.json but missing" in _error(
        capsys, str(broken), "-o", out
    )

    other = tmp_path / "other"
    other.mkdir()
    summary = json.loads((runs["sim"] / "summary.json").read_text(encoding="utf-8"))
    summary.update(schema="stratmap.simulation/9", tool_version="9.0.0")
    (other / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    err = _error(capsys, str(other), "-o", out)
    assert "stratmap.simulation/9" in err and "9.0.0" in err and "help:" in err
    assert not Path(out).exists()  # nothing half-written


@pytest.mark.parametrize(
    ("name", "key", "expected"),
    [  # each was exit 3 (TypeError, AttributeError deep in a page)
        ("sim", "run", "an object"),
        ("sim", "notes", "a list"),
        ("sim", "metrics", "an object"),
        ("cmp", "ranking", "a list"),
        ("review", "prior_strength", "a number"),
    ],
)
def test_a_summary_key_of_the_wrong_kind_is_named(
    runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    key: str,
    expected: str,
) -> None:
    if runs[name].is_dir():
        given = tmp_path / name
        shutil.copytree(runs[name], given)
        document = given / "summary.json"
    else:
        given = document = tmp_path / "review.json"
        shutil.copy(runs[name], document)
    summary = json.loads(document.read_text(encoding="utf-8"))
    assert key in summary
    document.write_text(json.dumps({**summary, key: None}), encoding="utf-8")
    for form in (["-o", str(tmp_path / "r.html")], ["--format", "markdown"]):
        err = _error(capsys, str(given), *form)
        assert (
            f"{document if given.is_dir() else given}: `{key}` is null, expected {expected}" in err
        )
        assert "help: the file was edited or is damaged" in err
    assert not (tmp_path / "r.html").exists()


def test_a_table_without_a_column_the_report_reads_is_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for file in runs["sim"].iterdir():
        (old / file.name).write_bytes(file.read_bytes())
    totals = pd.read_parquet(old / "totals.parquet").drop(columns="acquired")
    totals.to_parquet(old / "totals.parquet")
    err = _error(capsys, str(old), "-o", str(tmp_path / "r.html"))
    assert "totals.parquet has no column `acquired`" in err


def test_html_needs_an_output_file(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert "needs -o FILE" in _error(capsys, str(runs["sim"]))


def test_results_without_a_map_still_report_with_a_note(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    older = tmp_path / "older"
    older.mkdir()
    for file in runs["sim"].iterdir():
        if file.name != MAP_FILE:
            (older / file.name).write_bytes(file.read_bytes())
    results = load_results(older)
    assert results.notes and "no map.json" in results.notes[0]
    assert "map" not in [p.id for p in build_pages(results)]
    assert "no map.json" in render_html(results)


# ------------------------------------------------------------------------------ --report


def test_simulate_and_compare_write_the_report_with_report(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    sim = tmp_path / "sim.html"
    assert main(["simulate", str(runs["strategy"]), *SIZES, "--report", str(sim)]) == 0
    assert "策略图谱" in sim.read_text(encoding="utf-8")
    cmp = tmp_path / "cmp.html"
    argv = ["compare", str(runs["strategy"]), "--variant", "激进", *SIZES, "--report", str(cmp)]
    assert main(argv) == 0
    assert "激进" in cmp.read_text(encoding="utf-8")


def test_an_unwritable_report_path_is_refused_before_the_run(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", str(runs["strategy"]), *SIZES, "--report", str(tmp_path / "no" / "r.html")]
    assert main(argv) == 2
    assert "--report " in (err := capsys.readouterr().err) and "does not exist" in err


def test_a_fifo_or_a_device_as_the_output_is_refused_and_left_alone(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was exit 0: the page was renamed over the node, so `-o /dev/full` replaced the device
    # with a 5 MB regular file, and a FIFO a reader waited on became a file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    err = _error(capsys, str(runs["sim"]), "-o", str(fifo))
    assert f"-o {fifo}: not a regular file" in err and "help:" in err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    argv = ["simulate", str(runs["strategy"]), *SIZES, "--report", str(fifo)]
    assert main(argv) == 2  # refused before the run
    assert f"--report {fifo}: not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    socket_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(socket_path))
        assert "not a regular file" in _error(capsys, str(runs["sim"]), "-o", str(socket_path))
        assert stat.S_ISSOCK(socket_path.lstat().st_mode)


def test_a_fifo_for_a_summary_or_a_review_document_is_refused_not_read(
    tmp_path: Path,
) -> None:
    # Was: a FIFO review document was "no such file"; read, either would have blocked.
    results = tmp_path / "results"
    results.mkdir()
    os.mkfifo(results / "summary.json")
    os.mkfifo(tmp_path / "review.json")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for given in (results, tmp_path / "review.json"):
        done = subprocess.run(
            [sys.executable, "-m", "stratmap", "report", str(given), "--format", "markdown"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )  # a hang fails on the timeout
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert "a named pipe (FIFO), not a regular file" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_report_over_or_into_what_the_command_reads_is_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was exit 0: `-o RESULTS/summary.json` wrote the page over the results' summary (the
    # directory could no longer be read), `--report` over the map or into `--out`.
    results = tmp_path / "results"
    shutil.copytree(runs["sim"], results)
    before = {p.name: p.read_bytes() for p in results.iterdir()}
    for target in (results / "summary.json", results / "report.html"):
        err = _error(capsys, str(results), "-o", str(target))
        assert f"-o {target}: is" in err and f"RESULTS_DIR {results}" in err and "help:" in err
    review = tmp_path / "review.json"
    shutil.copy(runs["review"], review)
    assert f"-o {review}: is RESULTS_DIR" in _error(capsys, str(review), "-o", str(review))
    assert {p.name: p.read_bytes() for p in results.iterdir()} == before
    assert review.read_bytes() == runs["review"].read_bytes()
    strategy = tmp_path / "maps" / "map.strat"
    shutil.copytree(runs["strategy"].parent, strategy.parent)
    shutil.copy(runs["strategy"], strategy)
    for report, extra in ((strategy, []), (tmp_path / "out" / "r.html", ["--out", "out"])):
        argv = ["simulate", str(strategy), *SIZES, "--report", str(report), *extra]
        assert main([*argv[:-1], str(tmp_path / "out")] if extra else argv) == 2
        assert f"--report {report}: is" in capsys.readouterr().err
    assert strategy.read_bytes() == runs["strategy"].read_bytes()
    assert not (tmp_path / "out").exists()
    shutil.copytree(runs["sim"], tmp_path / "out")  # an earlier run, to be replaced
    argv = ["simulate", str(strategy), *SIZES, "--out", str(tmp_path / "out")]
    assert main([*argv, "--report", str(tmp_path / "out" / "r.html")]) == 2
    assert "is inside --out" in capsys.readouterr().err
    assert {p.name for p in (tmp_path / "out").iterdir()} == set(before)


def test_a_report_is_written_through_a_symbolic_link(runs: dict[str, Path], tmp_path: Path) -> None:
    # Was: the link was replaced by a regular file, its target left as it was.
    target = tmp_path / "shared" / "看板.html"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    link = tmp_path / "report.html"
    link.symlink_to(target)
    assert main(["report", str(runs["sim"]), "-o", str(link), "-q"]) == 0
    assert link.is_symlink() and "策略管理看板" in target.read_text(encoding="utf-8")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["看板.html"]  # no temporary


# ------------------------------------------------------------------------------ the docs


def test_the_report_commands_in_the_docs_run(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every `stratmap report` line of docs/report.md, on this module's results directories."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "report.md").read_text("utf-8")
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    commands = [line for line in lines if line.startswith("stratmap report ")]
    assert len(commands) >= 3
    for line in commands:
        argv = shlex.split(line.split(">")[0])[1:]
        named = {
            "runs/q1": runs["sim"],
            "runs/cmp": runs["cmp"],
            "review.json": runs["review"],
            "runs/review": runs["folder"] / "review-out",
            "runs/backtest": runs["backtest"],
        }
        argv = [str(named.get(a, a)) for a in argv]
        argv = [str(tmp_path / a) if a.endswith((".html", ".md")) else a for a in argv]
        assert main(argv) == 0, line
    printed = capsys.readouterr().out
    assert "| variant | metric |" in printed
    assert "### 回测 back-test" in printed
    assert "回测 Back-test" in (tmp_path / "backtest.html").read_text(encoding="utf-8")
    assert "经营回检" in (tmp_path / "review.md").read_text(encoding="utf-8")


def test_a_comparison_of_two_files_reports(runs: dict[str, Path], tmp_path: Path) -> None:
    # Two maps with different plays: the stacked tables' play names are no longer one
    # categorical (this once failed drawing the suppression chart).
    other = Path(__file__).resolve().parents[1] / "strategies" / "stock_mot.strat"
    out = tmp_path / "two.html"
    argv = ["compare", str(other), str(runs["strategy"]), *SIZES, "--report", str(out)]
    assert main(argv) == 0
    assert "suppression" in out.read_text(encoding="utf-8")
