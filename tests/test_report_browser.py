"""The 策略管理看板 in a real browser: Debian's Chromium, headless, driven by Playwright's
Python API (``executable_path``: nothing is downloaded), every request that is not ``file:``
blocked and counted.

The page must load with no console error and no network request, draw every chart non-empty,
run nothing from a script text that is markup, and leave a screenshot under ``build/``.
Without Chromium (or Playwright) these tests skip and say why, except where the environment
variable CI is set (``.ci/run`` sets it): there a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_support import (
    ROOT,
    XSS,
    backtest_dir,
    compare_dir,
    hostile_map,
    review_file,
    simulate_dir,
)

from stratmap.cli import main

CHROMIUM = Path("/usr/bin/chromium")
BUILD = ROOT / "build"
LAUNCH_ARGS = [
    "--no-sandbox",  # CI runs as root in a container
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.is_file() and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)"
    return None


def _verdict(reason: str | None, ci: str | None) -> str | None:
    """What a missing browser means: nothing when it is there; a failure under CI (which must
    run these tests); elsewhere a skip that says why."""
    if reason is None:
        return None
    if ci:
        return f"fail: CI must run the browser tests: {reason}"
    return f"skip: browser tests skipped: {reason}"


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere() -> None:
    assert _verdict("no Chromium", "1") == "fail: CI must run the browser tests: no Chromium"
    assert _verdict("no Chromium", None) == "skip: browser tests skipped: no Chromium"
    assert _verdict("no Chromium", "") == "skip: browser tests skipped: no Chromium"
    assert _verdict(None, "1") is None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    verdict = _verdict(_missing(), os.environ.get("CI"))
    if verdict is not None:
        kind, message = verdict.split(": ", 1)
        if kind == "fail":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if CHROMIUM.is_file() else Path(str(shutil.which("chromium")))
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=LAUNCH_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("browser")
    strategy = hostile_map(folder)
    found = {}
    sim = simulate_dir(folder, strategy)
    for name, results in [
        ("sim", sim),
        ("cmp", compare_dir(folder, strategy)),
        ("review", review_file(folder, strategy, sim)),
        ("backtest", backtest_dir(folder)),
    ]:
        out = folder / f"{name}.html"
        assert main(["report", str(results), "-o", str(out), "-q"]) == 0
        found[name] = out
    return found


class Visit:
    """One page opened with every non-``file:`` request blocked and recorded, and every
    console error, page error and dialog (an ``alert``) recorded."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1366, "height": 900})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.as_uri(), wait_until="load")
        self.page.wait_for_function("window.stratmapChartsDrawn !== undefined", timeout=20_000)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            self.requests.append(url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module", params=["sim", "cmp"])
def visit(
    request: pytest.FixtureRequest, browser: Any, reports: dict[str, Path]
) -> Iterator[Visit]:
    opened = Visit(browser, reports[request.param])
    opened.name = request.param  # type: ignore[attr-defined]
    yield opened
    opened.close()


def test_the_page_loads_offline_without_errors(visit: Visit) -> None:
    assert visit.errors == []
    assert visit.requests == []  # nothing but the file itself was asked for


def test_every_chart_renders_non_empty(visit: Visit) -> None:
    assert_charts_drawn(visit, 4)


def assert_charts_drawn(visit: Visit, at_least: int) -> None:
    figures = visit.page.locator("[data-figure]")
    count = figures.count()
    assert count >= at_least
    assert visit.page.evaluate("window.stratmapChartsDrawn") == count
    for index in range(count):
        chart = figures.nth(index)
        name = chart.get_attribute("data-figure")
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 200, name
        # Plotly drew traces: lines, bars, filled areas or a Sankey's links with a real geometry.
        marks = chart.locator(
            ".scatterlayer .trace path.js-line, .scatterlayer .trace path.js-fill, "
            ".barlayer .point path, path.sankey-link"
        )
        assert marks.count() > 0, name
        geometry = marks.first.get_attribute("d") or ""
        assert len(geometry) > 8, name


def test_a_script_text_that_is_markup_shows_literally_and_runs_nothing(visit: Visit) -> None:
    assert visit.dialogs == []  # no alert() ran
    shown = visit.page.locator(".play .script-text").all_inner_texts()
    assert any(XSS in text for text in shown)
    assert visit.page.evaluate("document.scripts.length") == 3  # the page's own three
    # The folder name with markup is text, not an <i> element.
    assert visit.page.locator("header i").count() == 0
    assert "<i>maps</i>" in visit.page.locator("header").inner_text()


def test_chinese_renders_in_a_cjk_font(visit: Visit) -> None:
    # Ask Chromium which installed fonts drew the heading's glyphs (DevTools protocol): a CJK
    # face must draw every one of them, no box of a missing glyph.
    cdp = visit.context.new_cdp_session(visit.page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": ".brand"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cjk = [f for f in fonts if "CJK" in f["familyName"] or "Noto Sans SC" in f["familyName"]]
    assert cjk and sum(f["glyphCount"] for f in cjk) >= len("策略管理看板"), fonts


def test_chinese_is_drawn_with_the_embedded_face(visit: Visit) -> None:
    """The page's own face (a data: URL, no request) draws its Chinese, not the machine's
    Noto CJK: Chromium counts the heading's glyphs as drawn by a web font, and the face is
    loaded and has the page's characters."""
    cdp = visit.context.new_cdp_session(visit.page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": ".brand"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    embedded = [f for f in fonts if f["isCustomFont"]]
    assert embedded and sum(f["glyphCount"] for f in embedded) >= len("策略管理看板"), fonts
    assert all(f["familyName"] == "Noto Sans CJK SC" for f in embedded), fonts
    faces = visit.page.evaluate(
        "Array.from(document.fonts).map(f => [f.family.replace(/\"/g, ''), f.status])"
    )
    assert ["Stratmap Noto Sans SC", "loaded"] in faces
    assert visit.page.evaluate(
        "document.fonts.check('14px \"Stratmap Noto Sans SC\"', '策略管理看板')"
    )
    assert visit.requests == []  # the face came with the page


def test_a_screenshot_is_written(visit: Visit) -> None:
    BUILD.mkdir(exist_ok=True)
    target = BUILD / f"report-{visit.name}.png"  # type: ignore[attr-defined]
    visit.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 50_000


def test_the_print_layout_breaks_pages(visit: Visit) -> None:
    visit.page.emulate_media(media="print")
    try:
        assert visit.page.locator("nav.pages").is_hidden()
        after = visit.page.evaluate(
            "getComputedStyle(document.querySelectorAll('section.page')[1]).breakBefore"
        )
        assert after == "page"
    finally:
        visit.page.emulate_media(media="screen")


# ------------------------------------------------------------------------------ the review page


@pytest.fixture(scope="module")
def review_visit(browser: Any, reports: dict[str, Path]) -> Iterator[Visit]:
    opened = Visit(browser, reports["review"])
    yield opened
    opened.close()


def test_the_review_page_loads_offline_and_draws_its_three_charts(review_visit: Visit) -> None:
    assert review_visit.errors == []
    assert review_visit.requests == []
    assert_charts_drawn(review_visit, 3)
    drawn = review_visit.page.locator("[data-figure]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-figure'))"
    )
    assert drawn == ["review-srm", "review-uplift", "review-funnel"]
    # The actuals are drawn as points on the intervals: markers, not only bars.
    points = review_visit.page.locator("#chart-review-funnel .scatterlayer .point")
    assert points.count() > 0


def test_a_play_name_that_is_markup_shows_literally_on_the_review_page(
    review_visit: Visit,
) -> None:
    assert review_visit.dialogs == []
    cells = review_visit.page.locator("#recalibration td.name").all_inner_texts()
    assert any(text.startswith(XSS) for text in cells)
    assert review_visit.page.evaluate("document.scripts.length") == 3
    assert review_visit.page.locator("header i").count() == 0
    assert "<i>maps</i>" in review_visit.page.locator("header").inner_text()
    # In the charts too: the label is drawn as text (Plotly's own markup escaped).
    ticks = review_visit.page.locator("#chart-review-funnel .ytick text").all_text_contents()
    assert any(XSS in text for text in ticks)


def test_a_screenshot_of_the_review_is_written(review_visit: Visit) -> None:
    BUILD.mkdir(exist_ok=True)
    target = BUILD / "report-review.png"
    review_visit.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 50_000


# ------------------------------------------------------------------------------ the back-test page


@pytest.fixture(scope="module")
def backtest_visit(browser: Any, reports: dict[str, Path]) -> Iterator[Visit]:
    opened = Visit(browser, reports["backtest"])
    yield opened
    opened.close()


def test_the_backtest_page_loads_offline_and_draws_its_charts(backtest_visit: Visit) -> None:
    assert backtest_visit.errors == []
    assert backtest_visit.requests == []
    assert_charts_drawn(backtest_visit, 6)
    drawn = backtest_visit.page.locator("[data-figure]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-figure'))"
    )
    assert drawn == [
        "backtest-periods",
        "backtest-cumulative",
        "backtest-bins",
        "backtest-survivors",
        "backtest-churn",
        "backtest-aum",
    ]
    rows = backtest_visit.page.locator("#backtest-errors tbody tr").count()
    assert rows == 3
    BUILD.mkdir(exist_ok=True)
    target = BUILD / "report-backtest.png"
    backtest_visit.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 50_000
