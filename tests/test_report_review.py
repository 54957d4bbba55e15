"""The review page of the 策略管理看板 (`stratmap report REVIEW.json`, `stratmap review
--report FILE`), and the headline's money beyond the horizon and tier moves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_support import XSS, hostile_map, review_file, simulate_dir

from stratmap.cli import main
from stratmap.report.inputs import load_results
from stratmap.report.pages import build_pages


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("review-report")
    strategy = hostile_map(folder)
    sim = simulate_dir(folder, strategy)
    return {
        "strategy": strategy,
        "sim": sim,
        "review": review_file(folder, strategy, sim),
        "folder": folder,
    }


def _html(runs: dict[str, Path], source: Path, name: str) -> str:
    out = runs["folder"] / name
    assert main(["report", str(source), "-o", str(out), "-q"]) == 0
    return out.read_text(encoding="utf-8")


def test_a_review_gets_its_page_with_the_three_charts(runs: dict[str, Path]) -> None:
    results = load_results(runs["review"])
    assert results.kind == "review"
    pages = build_pages(results)
    assert [p.id for p in pages] == ["review"]
    charts = {c.id: c for c in pages[0].charts}
    assert set(charts) == {"review-srm", "review-uplift", "review-funnel"}
    for chart in charts.values():
        assert chart.reading and chart.figure["data"], chart.id
    document = json.loads(runs["review"].read_text(encoding="utf-8"))
    # The funnel chart: one forecast bar per row with a forecast, the actual as a point, each
    # actual in the trace of its verdict.
    funnel = charts["review-funnel"].figure["data"]
    held = [r for r in document["funnel"] if r["forecast"] is not None]
    assert len(funnel[0]["y"]) == len(held)
    outside = [t for t in funnel if t["name"] == "actual, OUTSIDE"]
    n_outside = sum(r["inside"] is False for r in document["funnel"])
    assert (outside[0]["x"] if outside else []) == pytest.approx(
        [round(r["actual"] * 100, 3) for r in document["funnel"] if r["inside"] is False]
    )
    assert f"{n_outside} of {len(held)} actuals" in charts["review-funnel"].reading
    # The sample-ratio chart: observed shares of each scope sum to 100%.
    srm = charts["review-srm"].figure["data"]
    observed = [t for t in srm if t["type"] == "bar"]
    first = sum(t["x"][0] for t in observed if t["x"][0] is not None)
    assert first == pytest.approx(100.0, abs=0.05)


def test_the_review_page_shows_recalibration_and_escapes_names(runs: dict[str, Path]) -> None:
    html = _html(runs, runs["review"], "review.html")
    document = json.loads(runs["review"].read_text(encoding="utf-8"))
    assert 'id="review"' in html and 'id="recalibration"' in html
    edits = [r for r in document["recalibration"] if r.get("edit")]
    for row in edits:
        assert f"response {row['edit']['from']} → {row['edit']['to']}" in html
    # The play renamed to markup and the folder with <i> are text, never markup.
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<i>maps</i>" not in html


def test_review_writes_its_report_with_report(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = runs["folder"]
    out = folder / "live-review.html"
    code = main(
        [
            "review",
            str(runs["strategy"]),
            "--list",
            str(folder / "live" / "list"),
            "--outcomes",
            str(folder / "live" / "outcomes.parquet"),
            "--forecast",
            str(runs["sim"]),
            "--report",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Sample-ratio check" in captured.out  # the review is printed as before
    assert f"Wrote the html report of this review to {out}" in captured.err
    html = out.read_text(encoding="utf-8")
    assert 'data-figure="review-funnel"' in html


def test_review_refuses_an_unwritable_report_before_reading(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = runs["folder"]
    code = main(
        [
            "review",
            str(runs["strategy"]),
            "--list",
            str(folder / "live" / "list"),
            "--outcomes",
            str(folder / "live" / "outcomes.parquet"),
            "--report",
            str(folder / "no-such-folder" / "r.html"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--report" in err and "does not exist" in err
    assert "Traceback" not in err


def test_markdown_of_a_review_is_the_reviews_tables(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(runs["review"]), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# 经营回检: ")
    assert "## Sample-ratio check (observed vs declared share)" in text
    assert "## Funnel, actual vs forecast at the live size (95%)" in text
    assert "| play | stage | n | actual | forecast | held |" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": "stratmap.simulation/1"}', "must be a review"),
        ('{"schema": "stratmap.review/1", "funnel": []}', "the review has no `sample_ratio`"),
        ('{"schema": "stratmap.review/9"}', "results of schema `stratmap.review/9`"),
        ("not json", "cannot be read as JSON"),
    ],
)
def test_a_json_file_that_is_not_a_review_is_refused(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = runs["folder"] / "bad.json"
    bad.write_text(content, encoding="utf-8")
    out = runs["folder"] / "bad.html"
    code = main(["report", str(bad), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "help:" in err, err
    assert "Traceback" not in err and not out.exists()


# ------------------------------------------------------------------------------ the headline


def test_the_headline_has_money_beyond_the_horizon_and_tier_moves(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    summary = json.loads((runs["sim"] / "summary.json").read_text(encoding="utf-8"))
    metrics = summary["metrics"]
    assert {"net_value_beyond", "upgraded", "downgraded"} <= set(metrics)
    overview = build_pages(load_results(runs["sim"]))[0]
    labels = [card["label"] for card in overview.context["cards"]]
    for name in ("net_value", "net_value_beyond", "upgraded", "downgraded"):
        assert metrics[name]["label"] in labels, name
    uplift = [row["label"] for row in overview.context["uplift"]]
    assert summary["uplift"]["net_value_beyond_scaled"]["label"] in uplift
    assert main(["report", str(runs["sim"]), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    for name in ("net_value_beyond", "upgraded", "downgraded"):
        assert f"| {metrics[name]['label']} |" in text, name


def test_a_review_directory_reports_like_its_document(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # review_file also wrote `review --out`: the report of that directory has the same page.
    directory = runs["folder"] / "review-out"
    results = load_results(directory)
    assert results.kind == "review"
    pages = build_pages(results)
    assert [c.id for c in pages[0].charts] == ["review-srm", "review-uplift", "review-funnel"]
    html = _html(runs, directory, "review-dir.html")
    assert 'data-figure="review-funnel"' in html and 'id="recalibration"' in html


def test_review_refuses_an_out_directory_it_did_not_write(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = runs["folder"]
    mine = folder / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("keep me", encoding="utf-8")
    code = main(
        [
            "review",
            str(runs["strategy"]),
            "--list",
            str(folder / "live" / "list"),
            "--outcomes",
            str(folder / "live" / "outcomes.parquet"),
            "--out",
            str(mine),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2 and f"--out {mine}" in captured.err and "help:" in captured.err
    assert captured.out == ""  # refused before anything was reviewed or printed
    assert sorted(p.name for p in mine.iterdir()) == ["todo.txt"]


def test_markdown_of_a_review_escapes_names(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The document's play renamed to markup: the comment shows it as text, the table intact.
    assert main(["report", str(runs["review"]), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert XSS not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    header = "| play | stage | n | actual | forecast | held |"
    rows = text.split(header)[1].split("\n\n")[0].strip().splitlines()[1:]
    assert rows and all(row.count(" | ") == 5 for row in rows)


def test_the_review_page_says_what_its_intervals_are(runs: dict[str, Path]) -> None:
    html = _html(runs, runs["review"], "review-footer.html")
    footer = html.split("<footer>")[1].split("</footer>")[0]
    assert "predictive interval at the live test's size" in footer
    assert "over replications" not in footer
