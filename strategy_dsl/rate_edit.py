"""Edit the response rates of a map's plays in its text, and nothing else.

`stratmap review` proposes recalibrated response rates (``response 6%`` → ``response 4.8%``).
The edit must keep the strategist's file as they wrote it: comments, layout, the order of
settings. So it is made on the text, at the source span the parser records for each rate's
number (a rule's ``response N%``, a journey wave's ``response N%``); only those characters
change. Variants' overrides are left alone: they state a different rate on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping

from strategy_dsl import syntax as s
from strategy_dsl.diagnostics import Span
from strategy_dsl.parser import parse_text

__all__ = ["RateEditError", "edit_rates", "format_rate", "response_spans"]


class RateEditError(ValueError):
    """The map does not parse, or a play to edit has no ``response`` in this file."""


def format_rate(rate: float) -> str:
    """A share as the map writes it: ``0.048`` → ``4.8%``; at most three significant digits."""
    percent = rate * 100.0
    text = f"{percent:.3g}"
    if "e" in text:  # 3 significant digits of a tiny share: write it out
        text = f"{percent:.6f}".rstrip("0").rstrip(".")
    return f"{text}%"


def response_spans(text: str, path: str) -> dict[tuple[str, int | None], tuple[Span, str]]:
    """``{(play, wave or None): (span of the rate's number, its text)}`` for the plays this
    file declares (not its imports, not its variants)."""
    parsed = parse_text(text, path)
    if parsed.file is None or any(d.is_error for d in parsed.diagnostics):
        raise RateEditError(f"{path}: does not parse; run `stratmap check {path}`")
    found: dict[tuple[str, int | None], tuple[Span, str]] = {}
    for item in parsed.file.items:
        if isinstance(item, s.Rule):
            for setting in item.settings:
                if isinstance(setting, s.Response):
                    found[(item.name.text, None)] = (setting.rate.span, setting.rate.text)
        elif isinstance(item, s.Journey):
            for setting in item.settings:
                if not isinstance(setting, s.Wave):
                    continue
                for option in setting.options:
                    if isinstance(option, s.WaveResponse):
                        key = (item.name.text, int(setting.number.value))
                        found[key] = (option.rate.span, option.rate.text)
    return found


def edit_rates(text: str, path: str, rates: Mapping[tuple[str, int | None], float]) -> str:
    """``text`` with the response rate of each (play, wave) in ``rates`` replaced; every
    other character as it was."""
    spans = response_spans(text, path)
    lines = text.splitlines(keepends=True)
    edits = []
    for key, rate in rates.items():
        if key not in spans:
            play = key[0] if key[1] is None else f"{key[0]} wave {key[1]}"
            raise RateEditError(f"{path}: no `response` of {play} in this file to edit")
        span, _old = spans[key]
        if span.line != span.end_line:
            raise RateEditError(f"{path}:{span.line}: a rate written over several lines")
        edits.append((span, format_rate(rate)))
    # Right to left within a line, bottom to top: earlier columns stay where they were.
    for span, new in sorted(edits, key=lambda e: (e[0].line, e[0].column), reverse=True):
        line = lines[span.line - 1]
        lines[span.line - 1] = line[: span.column - 1] + new + line[span.end_column - 1 :]
    return "".join(lines)
