"""Rich tables for people: a run's summary (headline metrics with intervals, uplift, the
per-play funnel, unserved cells) and one customer's trace.

Column widths are measured by rich in terminal cells, and rich counts a CJK character as two
cells (``rich.cells.cell_len``), so tables of Chinese play, segment and tier names line up; a
test renders one and measures every line with ``wcwidth``. Cells avoid East Asian *ambiguous*
characters (``±``, ``×``, ``—``), which some CJK terminals draw two cells wide: intervals are
written ``[low, high]`` and missing values ``-``.

Numbers read the way a Chinese retail bank writes them: money in 万 (10⁴) and 亿 (10⁸), shares
in percent, uplift of a share in percentage points, NPS in signed points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from strategy_dsl.calendar import steps_text

__all__ = [
    "format_value",
    "markdown_cell",
    "money",
    "money_scale",
    "render_summary",
    "summary_tables",
    "trace_table",
]

# Piped output (a file, CI log) is not wrapped at 80 columns: a table is as wide as it needs,
# up to this.


# ------------------------------------------------------------------------------ numbers


def _fixed(value: float, digits: int, *, signed: bool = False, grouped: bool = True) -> str:
    """``value`` with ``digits`` decimals; a value that rounds to zero is written ``0``, never
    ``-0.0``; ``signed`` puts ``+`` before a positive value."""
    shown = round(value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = f"{shown:,.{digits}f}" if grouped else f"{shown:.{digits}f}"
    return f"+{text}" if signed and shown > 0 else text


def money_scale(size: float) -> tuple[float, str]:
    """The unit amounts of about ``size`` are written in: ``(1e8, "亿")`` from 10⁸,
    ``(1e4, "万")`` from 10⁵ (up to 99,999 in full), else ``(1.0, "")``. ``money`` writes one
    amount with it; a chart's axis uses it for all its amounts."""
    size = abs(size)
    if size >= 1e8:
        return 1e8, "亿"
    if size >= 1e5:
        return 1e4, "万"
    return 1.0, ""


def money(value: float, *, signed: bool = False, size: float | None = None) -> str:
    """Amounts as a Chinese bank writes them: up to 99,999 in full (below 100 with fen), then
    in 万 (10⁴) with one decimal, from 10⁸ in 亿 with two. ``size`` picks the unit instead of
    the value itself (and whether fen are shown): an interval's bounds share the larger's."""
    size = abs(value) if size is None else abs(size)
    scale, unit = money_scale(size)
    if unit:
        return _fixed(value / scale, 2 if unit == "亿" else 1, signed=signed) + unit
    if size >= 100 or value == 0:
        return _fixed(value, 0, signed=signed)
    return _fixed(value, 2, signed=signed)


def _count(value: float, *, signed: bool = False) -> str:
    whole = abs(value - round(value)) < 1e-9
    return _fixed(value, 0 if whole else 1, signed=signed)


def format_value(value: float | None, unit: str, *, difference: bool = False) -> str:
    """A number for a table cell, by unit (``money``, ``count``, ``share``, ``points``,
    ``ratio``); ``difference`` signs it and writes a share's difference in percentage points."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if unit == "money":
        return money(value, signed=difference)
    if unit == "share":
        if difference:
            return _fixed(value * 100, 2, signed=True) + " pp"
        return _fixed(value * 100, 2) + "%"
    if unit == "points":
        text = _fixed(value, 1, signed=True)
        return text if text.startswith(("+", "-")) else f"+{text}"  # NPS is always signed
    if unit == "ratio":
        return _fixed(value, ratio_decimals(abs(value)), signed=difference)
    return _count(value, signed=difference)


def ratio_decimals(size: float) -> int:
    """Decimals for a ratio of magnitude ``size``: two, or as many as show two significant
    digits of a small one (at most six). Moves up a tier per customer are a few in a thousand:
    with two decimals every plan said 0.00."""
    if not math.isfinite(size) or size == 0 or size >= 0.1:
        return 2
    return min(6, 1 - math.floor(math.log10(size)))


def format_interval(
    low: float | None, high: float | None, unit: str, *, difference: bool = False
) -> str:
    """``[low, high]`` for a table cell, by unit as ``format_value``; money bounds both in the
    unit of the larger one (``[+9.6万, +14.2万]``, not ``[+96,393, +14.2万]``)."""
    if low is None or high is None:
        return "-"
    if unit == "money" and all(math.isfinite(v) for v in (low, high)):
        size = max(abs(low), abs(high))
        low_text, high_text = (money(v, signed=difference, size=size) for v in (low, high))
        return f"[{low_text}, {high_text}]"
    if unit == "ratio" and all(math.isfinite(v) for v in (low, high)):
        places = ratio_decimals(max(abs(low), abs(high)))  # both bounds to the same places
        low_text, high_text = (_fixed(v, places, signed=difference) for v in (low, high))
        return f"[{low_text}, {high_text}]"
    low_text = format_value(low, unit, difference=difference)
    return f"[{low_text}, {format_value(high, unit, difference=difference)}]"


def _interval(metric: Mapping[str, Any], unit: str, *, difference: bool = False) -> str:
    return format_interval(metric.get("low"), metric.get("high"), unit, difference=difference)


# ------------------------------------------------------------------------------ summary


def _add_row(table: Table, *cells: str) -> None:
    # Text, not markup: a strategy's names and numbers like "[1.2万, 3.4万]" are shown as they
    # are, never read as rich style tags.
    table.add_row(*(Text(cell) for cell in cells))


def _headline(summary: Mapping[str, Any]) -> Table:
    table = Table(title="Headline metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("95% interval", justify="right")
    for metric in summary["metrics"].values():
        unit = metric["unit"]
        _add_row(
            table, metric["label"], format_value(metric["mean"], unit), _interval(metric, unit)
        )
    return table


def _uplift(summary: Mapping[str, Any]) -> Table | None:
    uplift = summary.get("uplift")
    if not uplift:
        return None
    table = Table(title="Treatment vs control (per customer)", title_justify="left")
    for name, justify in (
        ("metric", "left"),
        ("treatment", "right"),
        ("control", "right"),
        ("uplift", "right"),
        ("95% interval", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for metric in uplift.values():
        unit = metric["unit"]
        _add_row(
            table,
            metric["label"],
            format_value(metric["treatment"], unit),
            format_value(metric["control"], unit),
            format_value(metric["mean"], unit, difference=True),
            _interval(metric, unit, difference=True),
        )
    # Two random arms of a lognormal book differ in starting AUM by chance, often more than
    # the plays move it: say where the paired measure is.
    table.caption = (
        "between two random arms, whose starting AUM differs by chance; what the plays add "
        "customer for customer: stratmap compare FILE --no-plays"
    )
    return table


def _plays(summary: Mapping[str, Any]) -> Table | None:
    plays = summary.get("plays") or []
    if not plays:
        return None
    table = Table(title="Plays (funnel over the horizon)", title_justify="left")
    table.add_column("play")
    table.add_column("channel")
    for name in ("contacted", "reached", "responded", "response rate", "cost", "revenue", "net"):
        table.add_column(name, justify="right")
    table.add_column("net 95% interval", justify="right")
    for play in plays:
        cells = [
            format_value(play[measure]["mean"], play[measure]["unit"])
            for measure in ("contacted", "reached", "responded", "response_rate", "cost")
        ]
        cells += [
            format_value(play["revenue"]["mean"], "money"),
            format_value(play["net"]["mean"], "money", difference=True),
            _interval(play["net"], "money", difference=True),
        ]
        _add_row(table, play["play"], play["channel"], *cells)
    return table


_UNSERVED_KINDS = {"no_play": "no play", "never_served": "never served"}


def _unserved(summary: Mapping[str, Any]) -> Table | None:
    cells = summary.get("unserved_top") or []
    if not cells:
        return None
    step = summary["run"].get("step_unit", "step")
    table = Table(title="Unserved customers (top cells, treatment arm)", title_justify="left")
    table.add_column("segment")
    table.add_column("tier")
    table.add_column("why")
    table.add_column(f"customers per {step}", justify="right")
    for cell in cells:
        _add_row(
            table,
            cell["segment"],
            cell["tier"],
            _UNSERVED_KINDS.get(cell["kind"], cell["kind"]),
            _count(round(cell["customers_per_step"], 1)),
        )
    return table


def run_caption(summary: Mapping[str, Any]) -> str:
    """One line naming what was run: strategy, sizes, seed and content hash."""
    run = summary["run"]
    reps = run["reps"]
    return (
        f"{summary['strategy']['name']}: {run['customers']:,} customers, "
        f"{steps_text(run['steps'], run['step_unit'])}, "
        f"{reps} replication{'s' if reps != 1 else ''}, seed {run['seed']}, "
        f"strategy sha256 {str(summary['strategy']['hash'])[:12]}, "
        f"money in {run.get('currency', 'CNY')}"
    )


def summary_tables(summary: Mapping[str, Any]) -> list[Table]:
    """The tables of a summary, in reading order; sections with nothing to show are left
    out."""
    found = [_headline(summary), _uplift(summary), _plays(summary), _unserved(summary)]
    return [table for table in found if table is not None]


def render_summary(summary: Mapping[str, Any], console: Console) -> None:
    console.print(run_caption(summary), markup=False)
    if summary["run"]["reps"] < 2:
        console.print("One replication: no intervals (run --reps 2 or more for them).")
    for table in summary_tables(summary):
        console.print()
        console.print(table)
    for note in summary.get("notes") or []:
        console.print(f"note: {note}", markup=False)


# ------------------------------------------------------------------------------ trace

# Where each column of a trace finds its value: the first key present in a step's record.
_TRACE_COLUMNS: dict[str, tuple[str, ...]] = {
    "step": ("step",),
    "arm": ("arm",),
    "stage": ("stage",),  # "mature -> declining" when the record has stage_before
    "tier": ("tier",),
    "AUM": ("aum", "aum_fen"),
    "txns": ("transactions",),
    "triggers fired": ("triggers", "triggers_fired", "fired"),
    "segments": ("segments",),
    "candidates": ("candidates", "candidate_plays"),
    "winner": ("winner", "winners", "won", "served"),
    "suppressed (why)": ("suppressed", "suppressed_plays"),
    "responded": ("responded", "response"),
    "model scores": ("scores",),
}
_CONSUMED = {"stage_before"}  # shown inside another column


def _names(value: Any) -> str:
    if value is None or value == [] or value == ():
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        # {play: reason} reads "play (reason)"; {model: score} reads "model=score".
        return ", ".join(
            f"{key}={why}" if isinstance(why, (int, float)) else f"{key} ({_names(why)})"
            for key, why in value.items()
        )
    if isinstance(value, Iterable):
        parts = []
        for item in value:
            if isinstance(item, Mapping):
                play = item.get("play", item.get("name", ""))
                reason = item.get("reason", item.get("why"))
                parts.append(f"{play} ({reason})" if reason else str(play))
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                parts.append(f"{item[0]} ({item[1]})")
            else:
                parts.append(str(item))
        return ", ".join(parts) if parts else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _trace_cell(column: str, record: Mapping[str, Any]) -> str | None:
    for key in _TRACE_COLUMNS[column]:
        if key in record:
            value = record[key]
            if column == "AUM" and value is not None:
                amount = float(value) / 100 if key == "aum_fen" else float(value)
                return money(amount)
            before = record.get("stage_before")
            if column == "stage" and before and before != value:
                return f"{before} -> {value}"  # ASCII: arrows are ambiguous-width in CJK
            return _names(value)
    return None


def trace_table(records: Sequence[Mapping[str, Any]], *, title: str) -> Table:
    """One row per step of a customer's story; columns no record has are left out, and keys
    the columns do not know are shown under ``other`` rather than dropped."""
    known = {key for keys in _TRACE_COLUMNS.values() for key in keys} | _CONSUMED
    columns = [c for c in _TRACE_COLUMNS if any(_trace_cell(c, r) is not None for r in records)]
    extra = any(set(record) - known for record in records)
    table = Table(title=Text(title), title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in ("step", "AUM") else "left")
    if extra:
        table.add_column("other")
    for record in records:
        cells = [_trace_cell(column, record) or "-" for column in columns]
        if extra:
            others = sorted(set(record) - known)
            cells.append("; ".join(f"{key}: {_names(record[key])}" for key in others) or "-")
        _add_row(table, *cells)
    return table


def markdown_cell(value: object) -> str:
    """Text for a Markdown table cell or line (a pull-request comment): pipes, backticks,
    angle brackets and newlines can neither end the cell nor become markup, so a name from the
    strategy cannot break the table or inject HTML into the comment."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())
