"""`stratmap review`'s uplift per play and segment (a list v2's `segments`), on lists whose
outcomes `bankdata.simulated_outcomes` draws from a known truth: the truth is recovered in the
segment it was put in, and the table reaches text, JSON, Markdown and `--out`."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankdata.contact_list import read_list, segment_members, write_list
from bankdata.outcomes import match_list
from bankdata.simulated_outcomes import Truth, simulate_outcomes, true_uplift
from bankdata.simulated_outcomes import main as simulated_outcomes
from bankdata.synthetic import synthetic_live_test
from simulator.analysis.review import review
from strategy_dsl.checker import check_paths
from strategy_dsl.source_hash import source_hash
from stratmap.cli import main

MAP = """\
strategy "分群回检" {
  horizon 3 months
}

product 稳健理财 {
  kind wealth
  risk R1
}

channel 外呼 {
  cost 8 per contact
  reach 60%
}

segment 高净值 = aum >= 100万
segment 临界客户 = aum in 45万 .. 50万

rule 临界提升 priority 80 {
  offer 稳健理财 via 外呼
  response 5%
  holdout 10%
}

policy {
  control 20%
}
"""
TRUTH = Truth(base=0.03, uplift=0.0, reach=0.6, by_segment={"高净值": 0.25})


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory):
    """A list of 12,000 customers of one rule, a third of them 高净值 (some also 临界客户),
    its outcomes drawn from TRUTH: only 高净值's reached customers respond to the contact."""
    folder = tmp_path_factory.mktemp("segments")
    path = folder / "map.strat"
    path.write_text(MAP, encoding="utf-8")
    model = next(iter(check_paths([path]).models.values()))
    rows, _ = synthetic_live_test(model, 12_000, 5)
    draw = np.random.default_rng(99).random(len(rows))  # not the arms' own seed
    rows["segments"] = np.where(
        draw < 0.15, "临界客户|高净值", np.where(draw < 0.33, "高净值", None)
    )
    manifest = {"map": str(path), "map_hash": source_hash(model.source_files)}
    list_dir = write_list(folder / "list", rows, manifest, formats=("parquet",))
    typed = read_list(list_dir).rows
    outcomes = folder / "outcomes.parquet"
    simulate_outcomes(typed, TRUTH, 3).to_parquet(outcomes, index=False)
    return path, model, list_dir, outcomes, typed


def _segment_row(document: dict, segment: str, metric: str = "response_rate") -> dict:
    return next(
        r
        for r in document["uplift_by_segment"]
        if r["segment"] == segment and r["metric"] == metric and r["versus"] == "global_control"
    )


def test_the_uplift_is_found_in_the_segment_it_was_put_in(decided) -> None:
    _path, model, _list_dir, outcomes, rows = decided
    joined = match_list(rows, pd.read_parquet(outcomes), outcomes)
    document = review(joined, model, segments=segment_members(joined["segments"]))
    truth = true_uplift(rows, TRUTH).set_index(["play", "segment"])["uplift"]
    rich, edge = _segment_row(document, "高净值"), _segment_row(document, "临界客户")
    assert [r["segment"] for r in document["uplift_by_segment"][:1]] == ["高净值"]
    for row in (rich, edge):
        actual = row["actual"]
        assert actual["low"] <= truth[("临界提升", row["segment"])] <= actual["high"], row
        assert row["forecast"] is None and row["inside"] is None  # no forecast per segment
    assert truth[("临界提升", "高净值")] > 0.1 and rich["actual"]["low"] > 0.05
    # every customer of 临界客户 is also 高净值: the same truth, on fewer rows
    assert truth[("临界提升", "临界客户")] == pytest.approx(truth[("临界提升", "高净值")], 0.1)
    # the play as a whole: diluted by the two thirds who are in no segment
    whole = next(
        r
        for r in document["uplift"]
        if r["metric"] == "response_rate" and r["versus"] == "global_control"
    )
    assert whole["actual"]["low"] <= truth[("临界提升", "")] <= whole["actual"]["high"]
    assert whole["actual"]["estimate"] < rich["actual"]["estimate"]
    # same methods as the play's: Newcombe for rates, Welch for the AUM change
    assert rich["actual"]["method"] == whole["actual"]["method"]
    assert "Welch" in _segment_row(document, "高净值", "aum_change")["actual"]["method"]
    assert rich["n_treatment"] + rich["n_control"] < whole["n_treatment"] + whole["n_control"]


def test_the_table_reaches_text_json_markdown_out_and_the_page(
    capsys, decided, tmp_path: Path
) -> None:
    path, _model, list_dir, outcomes, _rows = decided
    base = ["review", str(path), "--list", str(list_dir), "--outcomes", str(outcomes)]
    page = tmp_path / "review.html"
    assert main([*base, "--out", str(tmp_path / "review"), "--report", str(page)]) == 0
    out = capsys.readouterr().out
    html = page.read_text("utf-8")
    assert 'id="uplift-by-segment"' in html and "<td>高净值</td>" in html
    assert "Response uplift per play and segment" in out and "高净值" in out
    assert main([*base, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {r["segment"] for r in document["uplift_by_segment"]} == {"高净值", "临界客户"}
    assert main([*base, "--format", "markdown"]) == 0
    assert "## Response uplift per play and segment" in capsys.readouterr().out
    frame = pd.read_parquet(tmp_path / "review" / "uplift_by_segment.parquet")
    assert len(frame) == len(document["uplift_by_segment"]) == 2 * 2 * 4  # segments×arms×metrics
    assert frame["segment"].dtype == "string" and frame["actual_low"].dtype == "float64"


def test_a_version_1_list_is_reviewed_without_segments(capsys, decided, tmp_path: Path) -> None:
    path, _model, list_dir, outcomes, rows = decided
    old = tmp_path / "v1"
    old.mkdir()
    rows.drop(columns="segments").to_csv(old / "list.csv", index=False, encoding="utf-8-sig")
    manifest = json.loads((list_dir / "manifest.json").read_text("utf-8"))
    v1 = {**manifest, "version": 1, "files": ["list.csv"]}  # as a CSV-only system writes it
    (old / "manifest.json").write_text(json.dumps(v1), "utf-8")
    argv = ["review", str(path), "--list", str(old), "--outcomes", str(outcomes)]
    assert main([*argv, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["uplift_by_segment"] == [] and document["uplift"]
    assert any("version 1 list" in note for note in document["notes"])


def test_a_segment_the_map_does_not_declare_is_refused(capsys, decided, tmp_path) -> None:
    path, _model, list_dir, outcomes, rows = decided
    other = write_list(
        tmp_path / "list",
        rows.assign(segments=rows["segments"].astype(object).replace("高净值", "大客户")),
        json.loads((list_dir / "manifest.json").read_text("utf-8")),
        formats=("parquet",),
    )
    argv = ["review", str(path), "--list", str(other), "--outcomes", str(outcomes)]
    assert main([*argv, "--out", str(tmp_path / "review")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert "column segments: '大客户' is not a segment of the map (first at row" in captured.err
    assert "the map declares 高净值, 临界客户" in captured.err
    assert not (tmp_path / "review").exists()


def test_the_outcome_simulator_refuses_bad_input(capsys, decided, tmp_path: Path) -> None:
    _path, _model, list_dir, _outcomes, _rows = decided
    out = tmp_path / "o.parquet"
    for argv, message in [
        (["--uplift", "120%"], "a rate is between 0% and 100%"),
        (["--uplift-in", "高净值"], "is not SEGMENT=RATE"),
        (["--uplift-in", "无此分群=5%"], "no row of the list is in 无此分群"),
        (["--base", "two"], "'two' is not a rate (example: 3% or 0.03)"),
        (["--seed", "-1"], "--seed -1: a seed is 0 or more"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            simulated_outcomes([str(list_dir), "-o", str(out), *argv])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        simulated_outcomes([str(list_dir), "-o", str(tmp_path / "o.xlsx")])
    assert exit_.value.code == 2 and "name a .parquet or .csv file" in capsys.readouterr().err
    assert simulated_outcomes([str(tmp_path / "none"), "-o", str(out)]) == 2
    assert "not a contact-list directory" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "o.xlsx").exists()  # nothing written


def test_the_outcome_simulator_writes_neither_into_its_list_nor_over_a_fifo(
    capsys, decided, tmp_path: Path
) -> None:
    # Was exit 0: `-o LIST/list.parquet` wrote the outcomes over the list they answer, and a
    # FIFO named by -o was replaced by a regular file.
    _path, _model, list_dir, _outcomes, _rows = decided
    copy = tmp_path / "list"
    shutil.copytree(list_dir, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for out, message in (
        (copy / "list.parquet", f"-o {copy / 'list.parquet'}: is inside the list {copy}"),
        (copy / "outcomes.csv", "is inside the list"),
        (fifo, f"-o {fifo}: not a regular file"),
    ):
        with pytest.raises(SystemExit) as exit_:
            simulated_outcomes([str(copy), "-o", str(out)])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_the_outcome_simulator_is_seeded_and_writes_outcomes_v2(capsys, decided, tmp_path) -> None:
    from bankdata.outcomes import read_outcomes

    _path, _model, list_dir, _outcomes, rows = decided
    first, second = tmp_path / "a" / "o.csv", tmp_path / "b.csv"
    for out in (first, second):
        assert simulated_outcomes([str(list_dir), "-o", str(out), "--seed", "4"]) == 0
    assert first.read_bytes() == second.read_bytes()
    printed = capsys.readouterr().out
    assert f"wrote {second}: {len(rows)} outcomes" in printed and "临界提升: " in printed
    back = read_outcomes(first)
    assert "wave" in back and len(match_list(rows, back, first)) == len(rows)
    assert not list(tmp_path.glob("**/.*.tmp"))  # no temporary left beside them
