"""The map's source, highlighted (Pygments), with an anchor on every line so that the plays and
expectations in the report's tables link to where they are written.

Pygments escapes every character of the text it is given, so a script text with markup in it is
shown, never run. The keywords come from the grammar itself (its quoted literals), so the
highlighting follows the language without a second list of its words.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import RegexLexer, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text

from strategy_dsl.parser import GRAMMAR_PATH

__all__ = ["StratLexer", "highlighted", "line_anchor", "source_css"]


@lru_cache(maxsize=1)
def _keywords() -> tuple[str, ...]:
    grammar = GRAMMAR_PATH.read_text(encoding="utf-8")
    found = set(re.findall(r'"([a-z][a-z_]*)"i?', grammar))
    return tuple(sorted(found, key=len, reverse=True))


class StratLexer(RegexLexer):
    """``.strat`` text: comments, strings, amounts with their units, keywords, names."""

    name = "Stratmap"
    aliases = ["strat"]  # noqa: RUF012 (Pygments reads these class attributes)
    filenames = ["*.strat"]  # noqa: RUF012
    tokens = {  # noqa: RUF012
        "root": [
            (r"#[^\n]*", Comment.Single),
            (r'"(\\\\|\\"|[^"\\])*"', String.Double),
            (r"\d[\d_,]*(\.\d+)?(\s?(万|亿|k|m|%|pp)(?![\w]))?", Number),
            (words(_keywords(), prefix=r"(?<![\w])", suffix=r"(?![\w])"), Keyword),
            (r"[^\W\d]\w*", Name),
            (r"(>=|<=|==|!=|->|\.\.|[<>~=x+\-*/])", Operator),
            (r"[{}(),:]", Punctuation),
            (r"\s+", Text.Whitespace),
            (r".", Text),
        ]
    }


def line_anchor(file_index: int, line: int) -> str:
    """The element id of a source line: ``src-<file>-<line>``."""
    return f"src-{file_index}-{line}"


def highlighted(text: str, file_index: int) -> Markup:
    """The file as HTML: one ``<span id="src-F-L">`` per line, line numbers in a gutter."""
    formatter = HtmlFormatter(
        linenos="inline",
        linespans=f"src-{file_index}",
        cssclass="source",
        wrapcode=True,
    )
    return Markup(highlight(text, StratLexer(), formatter))


def source_css() -> str:
    return HtmlFormatter(style="friendly").get_style_defs(".source")
