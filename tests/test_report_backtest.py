"""The back-test page (回测) of `stratmap report`, without a browser (the browser test is in
test_report_browser.py): tracking per period and cumulative with the simulated book's band, the
binned table, the baselines; a per-period table the page does not know by name drawn as it is;
`backtest --report`; bad directories (exit 2); the Markdown summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_support import backtest_dir

from stratmap.cli import main
from stratmap.report.inputs import load_results
from stratmap.report.pages import build_pages
from stratmap.report.render import render_html


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return backtest_dir(tmp_path_factory.mktemp("backtest"))


def test_backtest_writes_a_band_around_the_simulated_book(backtest: Path) -> None:
    periods = pd.read_parquet(backtest / "periods.parquet")
    for prefix in ("", "cumulative_"):
        low, mid, high = (periods[f"{prefix}simulated{s}"] for s in ("_low", "", "_high"))
        assert (low <= mid).all() and (mid <= high).all()
        assert (high - low).iloc[-1] > 0  # eight copies: a real spread, not a point
    # The band's middle is the simulated mean, the same as before the band existed: the sum
    # over the copies of whole transactions, divided by the copies.
    assert np.allclose(periods["cumulative_simulated"], periods["simulated"].cumsum())
    summary = json.loads((backtest / "summary.json").read_text(encoding="utf-8"))
    assert summary["schema"] == "stratmap.backtest/1"


def test_a_backtest_gets_its_page_with_tracking_bins_and_baselines(backtest: Path) -> None:
    results = load_results(backtest)
    assert results.kind == "backtest"
    assert "customers" not in results.tables  # one row per customer: listed, not read
    assert {"periods", "bins", "errors", "survivors", "aum"} <= set(results.tables)
    (page,) = build_pages(results)
    assert page.id == "backtest"
    assert [c.id for c in page.charts] == [
        "backtest-periods",
        "backtest-cumulative",
        "backtest-bins",
        "backtest-survivors",  # the customers table records closures
        "backtest-churn",
        "backtest-aum",  # --balances
    ]
    survivors = pd.read_parquet(backtest / "survivors.parquet")
    band, _, actual = page.charts[3].figure["data"]
    assert band["name"].endswith("95%") and actual["y"] == [float(v) for v in survivors["actual"]]
    periods = pd.read_parquet(backtest / "periods.parquet")
    tracking = page.charts[0].figure["data"]
    band, simulated, actual = tracking
    assert band["fill"] == "toself" and band["name"].endswith("95%")
    assert len(simulated["x"]) == len(periods)
    assert actual["y"] == [round(v, 1) for v in periods["actual"]]
    assert page.charts[0].figure["layout"]["shapes"][0]["x0"] == "2026-03-31"  # the split
    bins = page.charts[2].figure["data"]
    assert [t["name"] for t in bins] == [
        "actual 实际",
        "Stratmap",
        "carried forward 延续",
        "no change 持平",
    ]
    assert bins[0]["x"][-1] == "7+"
    assert [row["bin"] for row in page.context["bins"]][-1] == "7+"
    assert {row["forecast"] for row in page.context["errors"]} == {
        "Stratmap",
        "carried forward 延续",
        "no change 持平",
    }
    assert sum(row["best"] for row in page.context["errors"]) == 1
    html = render_html(results)
    assert "回测 Back-test" in html and 'id="backtest-errors"' in html


def test_another_per_period_table_is_drawn_as_it_is(backtest: Path, tmp_path: Path) -> None:
    """A per-period table `backtest --out` may add later is drawn without a change to the
    page: each numeric column a line, X_low / X_high its band."""
    copy = tmp_path / "bt"
    shutil.copytree(backtest, copy)
    frame = pd.DataFrame(
        {
            "period": [1, 2, 3],
            "start": pd.to_datetime(["2026-01-01", "2026-01-31", "2026-03-02"]),
            "actual": [100.0, 96.0, 91.0],
            "simulated": [100.0, 95.0, 90.5],
            "simulated_low": [98.0, 92.0, 86.0],
            "simulated_high": [102.0, 98.0, 95.0],
        }
    )
    frame.to_parquet(copy / "retention.parquet")
    summary = json.loads((copy / "summary.json").read_text(encoding="utf-8"))
    summary["files"]["retention"] = {"file": "retention.parquet"}
    (copy / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (page,) = build_pages(load_results(copy))
    chart = page.charts[-1]
    assert chart.id == "backtest-retention"
    names = [trace["name"] for trace in chart.figure["data"]]
    assert names == ["actual", "simulated 95%", "simulated"]


def test_backtest_writes_its_page_with_report(tmp_path: Path, backtest: Path) -> None:
    bank = backtest.parent / "bank"
    out = tmp_path / "bt.html"
    argv = [
        "backtest", "--customers", str(bank / "customers.csv"),
        "--transactions", str(bank / "transactions.csv"), "--split", "2026-03-31",
        "--copies", "2", "--report", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    html = out.read_text(encoding="utf-8")
    assert "回测 Back-test" in html and "backtest-cumulative" in html


def test_an_unwritable_report_is_refused_before_the_backtest(
    tmp_path: Path, backtest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bank = backtest.parent / "bank"
    argv = [
        "backtest", "--customers", str(bank / "customers.csv"),
        "--transactions", str(bank / "transactions.csv"), "--split", "2026-03-31",
        "--report", str(tmp_path / "nowhere" / "bt.html"),
    ]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--report" in err and "does not exist" in err and "Traceback" not in err


def test_a_backtest_without_a_column_the_page_reads_is_refused(
    tmp_path: Path, backtest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "bt"
    shutil.copytree(backtest, copy)
    bins = pd.read_parquet(copy / "bins.parquet").drop(columns="no_change")
    bins.to_parquet(copy / "bins.parquet")
    out = tmp_path / "r.html"
    assert main(["report", str(copy), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "bins.parquet has no column `no_change`" in err and "Traceback" not in err
    assert not out.exists()
    (copy / "bins.parquet").unlink()
    assert main(["report", str(copy), "-o", str(out), "-q"]) == 2
    assert "stratmap backtest … --out DIR" in capsys.readouterr().err
    shutil.copy(backtest / "bins.parquet", copy / "bins.parquet")
    (copy / "customers.parquet").unlink()  # not read, but listed: the directory is incomplete
    assert main(["report", str(copy), "-o", str(out), "-q"]) == 2
    assert "customers.parquet is listed in summary.json but missing" in capsys.readouterr().err


def test_markdown_of_a_backtest(backtest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(backtest), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "### 回测 back-test: calibrated to 2026-03-31" in text
    assert "| carried forward 延续 |" in text and "| 7+ |" in text
