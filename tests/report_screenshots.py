"""Screenshots of every page of the 策略管理看板 on the bundled wealth map, for docs/report.md
and the README (docs/img/report-*.png).

    python tests/report_screenshots.py [OUT_DIR]

Simulates the wealth map (20,000 customers, 12 months) and compares its variants at the same
sizes, reviews a synthetic live test of it against that forecast (``bankdata.synthetic``),
back-tests the CDNOW sample as the published back-test does (docs/calibration.md), writes the
four reports, and photographs each page in Debian's Chromium (as the browser tests do), at
laptop width, and the stage flows chart on its own. Not a test: run it when the pages change,
and read the pictures.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from stratmap.cli import main  # noqa: E402

WEALTH = ROOT / "strategies" / "wealth_2026q1.strat"
SIZES = ["--customers", "20k", "--months", "12", "-q"]
WIDTH = 1280
# Long pages are cut at this height: a picture shows what a reader sees first.
MAX_HEIGHT = 1200


def _shoot(page: object, html: Path, out: Path, prefix: str, sections: list[str] | None) -> None:
    page.goto(html.as_uri(), wait_until="load")  # type: ignore[attr-defined]
    page.wait_for_function("window.stratmapChartsDrawn !== undefined")  # type: ignore[attr-defined]
    ids = page.evaluate("[...document.querySelectorAll('section.page')].map(s => s.id)")  # type: ignore[attr-defined]
    for section in ids:
        if sections is not None and section not in sections:
            continue
        element = page.locator(f"section#{section}")  # type: ignore[attr-defined]
        box = element.bounding_box()
        target = out / f"{prefix}{section}.png"
        page.screenshot(  # type: ignore[attr-defined]
            path=str(target),
            clip={
                "x": box["x"],
                "y": box["y"],
                "width": box["width"],
                "height": min(box["height"], MAX_HEIGHT),
            },
            full_page=True,
        )
        print(f"{target} ({target.stat().st_size / 1e3:.0f} kB)")


def _review(work: Path) -> None:
    """The review of a synthetic live test of the wealth map against the forecast in q1."""
    from bankdata.synthetic import write_synthetic_live_test

    list_dir, outcomes = write_synthetic_live_test(WEALTH, work / "live")
    argv = ["review", str(WEALTH), "--list", str(list_dir), "--outcomes", str(outcomes)]
    argv += ["--forecast", str(work / "q1"), "--report", str(work / "review.html")]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0


def _backtest(work: Path) -> None:
    """The published CDNOW back-test (tests/test_cdnow_backtest.py's command), with its page."""
    from cdnow_support import read_cdnow

    raw = read_cdnow()
    customers = raw.groupby("customer_id", as_index=False)["date"].min()
    customers.columns = ["customer_id", "opened"]
    customers.to_csv(work / "customers.csv", index=False, date_format="%Y-%m-%d")
    raw[["customer_id", "date"]].to_csv(
        work / "transactions.csv", index=False, date_format="%Y-%m-%d"
    )
    argv = ["backtest", "--customers", str(work / "customers.csv")]
    argv += ["--transactions", str(work / "transactions.csv"), "--merge-same-day"]
    argv += ["--split", "1997-09-30", "--end", "1998-06-30", "--period", "week", "--seed", "1"]
    argv += ["--out", str(work / "backtest"), "--report", str(work / "backtest.html")]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0


def _shoot_chart(page: object, html: Path, target: Path, chart: str) -> None:
    page.goto(html.as_uri(), wait_until="load")  # type: ignore[attr-defined]
    page.wait_for_function("window.stratmapChartsDrawn !== undefined")  # type: ignore[attr-defined]
    page.locator(f"figure:has(#chart-{chart})").screenshot(path=str(target))  # type: ignore[attr-defined]
    print(f"{target} ({target.stat().st_size / 1e3:.0f} kB)")


def run(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with contextlib.redirect_stdout(io.StringIO()):  # the runs' tables: not wanted here
            assert main(["simulate", str(WEALTH), *SIZES, "--out", str(work / "q1")]) == 0
            assert main(["compare", str(WEALTH), *SIZES, "--out", str(work / "cmp")]) == 0
        assert main(["report", str(work / "q1"), "-o", str(work / "q1.html")]) == 0
        assert main(["report", str(work / "cmp"), "-o", str(work / "cmp.html")]) == 0
        _review(work)
        _backtest(work)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            _shoot(page, work / "q1.html", out, "report-", None)
            _shoot(page, work / "cmp.html", out, "report-compare-", ["overview"])
            _shoot(page, work / "review.html", out, "report-", ["review"])
            _shoot(page, work / "backtest.html", out, "report-", ["backtest"])
            _shoot_chart(page, work / "q1.html", out / "report-stage-flows.png", "stage-flows")
            browser.close()


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img")
