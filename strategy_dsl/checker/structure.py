"""Tiers partition the AUM axis: every amount from 0 up belongs to exactly one tier.

Each tier is a half-open range ``[low, high)`` (``aum < X`` starts at 0, ``aum >= X`` never
ends). Sorted by their lower bound, each tier must start where the previous one ends: earlier is
an overlap (E0401), later a gap (E0402). The messages quote the bounds as the strategist wrote
them (``5万``), so the numbers read the way the file does.
"""

from __future__ import annotations

import math

from strategy_dsl.checker.blocks import Bounds, tier_bounds
from strategy_dsl.checker.scope import Decl, Scope
from strategy_dsl.diagnostics import Diagnostic, Related, Span, error


def tier_partition(scope: Scope) -> list[Diagnostic]:
    tiers: list[tuple[Bounds, Decl]] = []
    for decl in scope.tiers:
        bounds = tier_bounds(decl.node.when)  # type: ignore[attr-defined]
        if bounds is None or bounds[0] >= bounds[2]:
            return []  # E0410/E0305 already says what is wrong; the partition would only echo it
        tiers.append((bounds, decl))
    if not tiers:
        return []
    tiers.sort(key=lambda t: (t[0][0], t[0][2]))
    found: list[Diagnostic] = []
    reach, reach_text, widest = 0.0, "0", None  # how far the tiers so far cover, and by whom
    for (low, low_text, high, high_text), decl in tiers:
        condition = decl.node.when.span  # type: ignore[attr-defined]
        if low < reach and widest is not None:
            found.append(
                error(
                    "E0401",
                    f"tiers `{widest.name}` and `{decl.name}` overlap from {low_text} to "
                    f"{_smaller(high, high_text, reach, reach_text)}",
                    condition,
                    label="overlaps another tier",
                    hint=f"start `{decl.name}` where `{widest.name}` ends ({reach_text}), or end "
                    f"`{widest.name}` where `{decl.name}` starts",
                    related=(
                        Related(
                            span=widest.node.when.span,
                            message=f"`{widest.name}` "  # type: ignore[attr-defined]
                            f"covers up to {reach_text}",
                        ),
                    ),
                )
            )
        elif low > reach:
            found.append(
                _gap(reach_text, low_text, condition, f"start `{decl.name}` at {reach_text}")
            )
        if high > reach:
            reach, reach_text, widest = high, high_text, decl
    if reach != math.inf and widest is not None:
        span = widest.node.when.span  # type: ignore[attr-defined]
        found.append(_gap(reach_text, "∞", span, f"make `{widest.name}` open-ended (`aum >= …`)"))
    return found


def _smaller(a: float, a_text: str, b: float, b_text: str) -> str:
    return a_text if a <= b else b_text


def _gap(low: str, high: str, span: Span, fix: str) -> Diagnostic:
    interval = f"from {low} up" if high == "∞" else f"from {low} to {high}"
    return error(
        "E0402",
        f"no tier covers AUM {interval}",
        span,
        label="gap before this tier" if high != "∞" else "nothing above this tier",
        hint=f"{fix}, or add a tier for AUM {interval}; tiers must cover every amount from 0 up",
    )
