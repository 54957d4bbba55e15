"""The review's tables as text cells (`stratmap review`'s terminal tables) and as Markdown
(``--format markdown``, and `stratmap report REVIEW.json --format markdown`): one home for
both, below the review command and the report, which each import it."""

from __future__ import annotations

from typing import Any

__all__ = ["review_markdown", "review_tables"]


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def _pp(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.2f}pp"


def _money(value: float | None) -> str:
    from stratmap.tables import money

    return "-" if value is None else money(value, signed=True)


def _bounds(interval: dict[str, Any] | None, unit: str) -> str:
    if interval is None:
        return "-"
    if unit == "share":
        return f"[{_pp(interval['low'])}, {_pp(interval['high'])}]"
    from stratmap.tables import format_interval

    return format_interval(interval["low"], interval["high"], "money", difference=True)


def _inside(value: bool | None) -> str:
    return "-" if value is None else ("inside" if value else "OUTSIDE")


def _play(row: dict[str, Any]) -> str:
    return row["play"] if row["wave"] is None else f"{row['play']} wave {row['wave']}"


def review_tables(document: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table of the review as (title, headers, rows of cells)."""
    srm = [
        [
            entry["scope"],
            ", ".join(
                f"{arm} {n} ({n / max(sum(entry['counts'].values()), 1):.1%} vs "
                f"{entry['declared'][arm]:.1%})"
                for arm, n in entry["counts"].items()
            ),
            "-" if entry["p_value"] is None else f"{entry['p_value']:.2g}",
            "MISMATCH" if entry["mismatch"] else "ok",
        ]
        for entry in document["sample_ratio"]
    ]
    by_segment = [
        [
            _play(row),
            row["segment"],
            row["label"],
            f"{row['n_treatment']}/{row['n_control']}",
            "-" if row["actual"] is None else _pp(row["actual"]["estimate"]),
            _bounds(row["actual"], row["unit"]),
        ]
        for row in document.get("uplift_by_segment", [])  # absent from an older review
        if row["metric"] == "response_rate"
    ]
    uplift = [
        [
            _play(row),
            row["label"],
            row["metric"],
            f"{row['n_treatment']}/{row['n_control']}",
            "-"
            if row["actual"] is None
            else (_pp if row["unit"] == "share" else _money)(row["actual"]["estimate"]),
            _bounds(row["actual"], row["unit"]),
            _bounds(row["forecast"], row["unit"]),
            _inside(row["inside"]),
        ]
        for row in document["uplift"]
    ]
    funnel = [
        [
            _play(row),
            row["meaning"],
            str(row["n"]),
            _pct(row["actual"]),
            "-"
            if row["forecast"] is None
            else f"{_pct(row['forecast']['estimate'])} "
            f"[{_pct(row['forecast']['low'])}, {_pct(row['forecast']['high'])}]",
            _inside(row["inside"]),
        ]
        for row in document["funnel"]
    ]
    recalibration = [
        [
            _play(row),
            _pct(row["map_rate"], 1),
            _pct(row["forecast_rate_among_reached"]),
            f"{row['responded']}/{row['reached']}",
            f"{_pct(row['posterior_rate_among_reached'])} "
            f"[{_pct(row['posterior_low'])}, {_pct(row['posterior_high'])}]",
            "keep"
            if row["edit"] is None
            else f"response {row['edit']['from']} → {row['edit']['to']}",
        ]
        for row in document["recalibration"]
    ]
    tables = [
        ("Sample-ratio check (observed vs declared share)", ["scope", "arms", "p", "check"], srm),
        (
            "Actual uplift, treatment − control (95%), against the forecast at the live size",
            ["play", "versus", "metric", "n t/c", "uplift", "interval", "forecast", "held"],
            uplift,
        ),
        (
            "Funnel, actual vs forecast at the live size (95%)",
            ["play", "stage", "n", "actual", "forecast", "held"],
            funnel,
        ),
        (
            f"Recalibration (prior {document['prior_strength']:g} reached customers)",
            ["play", "map", "forecast among reached", "responded/reached", "posterior", "edit"],
            recalibration,
        ),
    ]
    if by_segment:  # after the play's own tables: a list with no segments has none
        tables.insert(
            2,
            (
                "Response uplift per play and segment, treatment − control (95%; every metric "
                "in --format json and --out)",
                ["play", "segment", "versus", "n t/c", "uplift", "interval"],
                by_segment,
            ),
        )
    return tables


def review_markdown(document: dict[str, Any]) -> str:
    """The review as Markdown tables and a ``diff`` block (``--format markdown``, and
    `stratmap report REVIEW.json --format markdown`)."""
    from stratmap.tables import markdown_cell

    out = [f"# 经营回检: {markdown_cell(document['map']['file'])}", ""]
    for title, headers, rows in review_tables(document):
        out += [f"## {title}", "", "| " + " | ".join(headers) + " |"]
        out.append("|" + "---|" * len(headers))
        out += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
        out.append("")
    if document["diff"]:
        out += ["## Proposed edit of the map", "", "```diff", document["diff"].rstrip(), "```", ""]
    out += [f"- {markdown_cell(note)}" for note in document["notes"]]
    return "\n".join(out).rstrip() + "\n"
