"""The report's own CJK face: the shipped subset of Noto Sans CJK SC (its characters, size and
licence, in the package data), and the face each page embeds, cut down to that page's
characters. The browser test (test_report_browser.py) checks Chromium draws the page's Chinese
with it."""

from __future__ import annotations

import base64
import fnmatch
import io
import re
import tomllib
from pathlib import Path

from fontTools.ttLib import TTFont

from stratmap.report.fonts import FACE, SHIPPED, face_css, shipped_characters

ROOT = Path(__file__).resolve().parent.parent
FONTS = ROOT / "stratmap" / "report" / "fonts"


def _embedded(css: str) -> TTFont:
    (data,) = re.findall(r"base64,([A-Za-z0-9+/=]+)\)", css)
    return TTFont(io.BytesIO(base64.b64decode(data)))


def test_the_shipped_face_covers_ascii_and_gb2312_level_1_and_is_small() -> None:
    font = TTFont(FONTS / SHIPPED)
    assert font.flavor == "woff2"
    cmap = font.getBestCmap()
    wanted = shipped_characters()
    assert all(ord(c) in cmap for c in wanted)
    hanzi = [c for c in wanted if "\u4e00" <= c <= "\u9fff"]
    assert len(hanzi) == 3755  # GB2312 level 1: rows 16-55
    assert all(c in wanted for c in "策略管理看板客户财富万亿升层降层，。（）")
    assert "龘" not in wanted  # level 2 and beyond fall back to the reader's fonts
    assert (FONTS / SHIPPED).stat().st_size <= 1_500_000
    # The copyright and licence travel with the file, and the OFL beside it.
    names = {record.nameID: record.toUnicode() for record in font["name"].names}
    assert "Adobe" in names[0] and "Noto Sans CJK SC" in names[1]
    assert "SIL OPEN FONT LICENSE Version 1.1" in (FONTS / "OFL.txt").read_text("utf-8")


def test_the_font_and_its_licence_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["stratmap"]
    for name in (SHIPPED, "OFL.txt"):
        path = f"report/fonts/{name}"
        assert any(fnmatch.fnmatch(path, pattern) for pattern in patterns), path


def test_a_page_embeds_only_the_characters_it_uses() -> None:
    text = "策略管理看板 <b>AUM</b> 1.2亿 龘"
    css = face_css(text)
    assert css.startswith("@font-face") and f'font-family: "{FACE}"' in css
    assert 'format("woff")' in css
    cmap = _embedded(css).getBestCmap()
    kept = {chr(c) for c in cmap}
    assert kept == set(text) - {"龘"}  # everything the face has, and nothing more
    assert len(css) < 40_000  # a few glyphs, not the 650 kB face


def test_a_text_without_a_character_of_the_face_embeds_nothing() -> None:
    assert face_css("龘") == ""
