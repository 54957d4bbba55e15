"""The 策略管理看板 as one self-contained HTML file, and its Markdown summary.

The HTML page carries everything it needs: Plotly's ``plotly.min.js`` (from the plotly wheel,
inlined once), the styles, a CJK face cut down to the page's characters (``fonts``), the
figures' data as JSON and the script that draws them. Nothing
is fetched when it opens, so it works offline and can be mailed. Jinja2 renders it with
autoescaping on: every name, script text and path from the strategy is escaped, and the figure
data sits in a ``<script type="application/json">`` block with ``<``, ``>`` and ``&`` written as
JSON escapes, so no text in it can close the block.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

from stratmap import __version__
from stratmap.report.fonts import face_css
from stratmap.report.inputs import Results
from stratmap.report.pages import build_pages
from stratmap.report.source_view import source_css

__all__ = ["plotly_js", "render_html"]


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The Plotly bundle shipped in the plotly wheel (``plotly/package_data/plotly.min.js``)."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_text("utf-8")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("stratmap.report", "templates"),
        autoescape=True,  # every template here writes HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _asset(name: str) -> str:
    return (resources.files("stratmap.report") / "templates" / name).read_text("utf-8")


def _json_for_script(document: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``
    appears literally, so neither ``</script>`` nor ``<!--`` can occur."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# Where the embedded face's @font-face goes: filled in once the page is written, with the
# shipped CJK face cut down to exactly the characters on it (``fonts.face_css``).
_FONT_SLOT = "/* stratmap: the embedded face */"


def render_html(results: Results) -> str:
    pages = build_pages(results)
    figures = {chart.id: chart.figure for page in pages for chart in page.charts}
    template = _environment().get_template("report.html.j2")
    document = template.render(
        font_face=_FONT_SLOT,
        results=results,
        pages=pages,
        title=results.strategy_name or "Stratmap",
        figures_json=_json_for_script(figures),
        plotly_js=plotly_js(),
        dashboard_js=_asset("dashboard.js"),
        style_css=_asset("style.css") + "\n" + source_css(),
        version=__version__,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    return document.replace(_FONT_SLOT, face_css(document), 1)
