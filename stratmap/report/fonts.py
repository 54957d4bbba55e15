"""The report's own CJK face: Noto Sans CJK SC (SIL OFL 1.1, ``fonts/OFL.txt``), shipped as a
subset and embedded in each page, cut down to the characters that page uses.

The package ships ``fonts/NotoSansSC-GB2312.woff2``: the Regular weight of Noto Sans CJK SC
reduced to printable ASCII, the symbols and punctuation of GB2312 (rows 1–9: ，。、：（）《》
→ ▲ ▼ and the like) and its level-1 hanzi (the 3,755 常用字 of rows 16–55, which cover the
bank's words: 策略 客户 财富 万 亿 …). At report time ``face_css`` subsets that again to the
characters of the page and writes it as a base64 ``@font-face`` of woff: the page carries a
few hundred glyphs, not the font, and renders alike on every machine, offline. A character
outside the shipped set (a rare name, a traditional form) falls back to the reader's fonts,
which the style sheet lists after this face.

``python -m stratmap.report.fonts SOURCE`` rebuilds the shipped file from the Noto Sans CJK
collection (Debian's ``fonts-noto-cjk``: /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc).
"""

from __future__ import annotations

import base64
import io
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["FACE", "SHIPPED", "face_css", "shipped_characters"]

FACE = "Stratmap Noto Sans SC"  # the family name the page's style sheet asks for first
SHIPPED = "NotoSansSC-GB2312.woff2"
_SC_IN_COLLECTION = "Noto Sans CJK SC"


def shipped_characters() -> str:
    """Printable ASCII, GB2312's symbols (rows 1–9) and its level-1 hanzi (rows 16–55)."""
    found = [chr(c) for c in range(0x20, 0x7F)]
    for row in [*range(1, 10), *range(16, 56)]:
        for cell in range(1, 95):
            try:
                found.append(bytes([0xA0 + row, 0xA0 + cell]).decode("gb2312"))
            except UnicodeDecodeError:  # the unassigned cells of a row
                continue
    return "".join(dict.fromkeys(found))


def _subset(font: object, text: str, flavor: str) -> bytes:
    """``font`` (a fontTools TTFont) cut down to ``text``'s characters, as ``flavor`` (woff2 or
    woff)."""
    from fontTools import subset

    options = subset.Options()
    options.flavor = flavor
    # No OpenType layout (vertical forms, kerning: the page sets Chinese horizontally, one
    # glyph per character) and no hinting: a third of the size, and the subsetting at report
    # time has no layout tables to decode.
    options.layout_features = []
    options.hinting = False
    options.name_IDs = ["*"]  # the copyright and licence fields travel with every copy
    options.notdef_outline = True
    options.recalc_bounds = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.flavor = flavor  # type: ignore[attr-defined]
    font.save(buffer)  # type: ignore[attr-defined]
    return buffer.getvalue()


@lru_cache(maxsize=1)
def _shipped() -> bytes:
    return (resources.files("stratmap.report") / "fonts" / SHIPPED).read_bytes()


def face_css(text: str) -> str:
    """An ``@font-face`` rule embedding the shipped face cut down to the characters of
    ``text`` that it has (none of them: an empty string)."""
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(_shipped()), recalcBBoxes=False)  # built already: bounds are kept
    cmap = font.getBestCmap()
    wanted = {character for character in set(text) if ord(character) in cmap}
    if not wanted:
        return ""
    # woff (zlib), not woff2: brotli at woff2's setting takes four times as long to compress
    # a page's few hundred glyphs, for a file 8% smaller.
    data = base64.b64encode(_subset(font, "".join(sorted(wanted)), "woff")).decode("ascii")
    return (
        f'@font-face {{ font-family: "{FACE}"; font-style: normal; font-weight: 400; '
        f'font-display: block; src: url(data:font/woff;base64,{data}) format("woff"); }}'
    )


def build(source: Path, target: Path) -> int:
    """The shipped file from the Noto Sans CJK collection ``source``; its size in bytes."""
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(source))
    (font,) = [f for f in collection.fonts if f["name"].getDebugName(1) == _SC_IN_COLLECTION]
    data = _subset(font, shipped_characters(), "woff2")
    target.write_bytes(data)
    return len(data)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent / "fonts" / SHIPPED
    size = build(Path(sys.argv[1]), here)
    print(f"wrote {here} ({size / 1e6:.2f} MB, {len(shipped_characters())} characters)")
