"""The review page (经营回检) of the report: a live test's outcomes held against the forecast,
from the document `stratmap review` makes (schema ``stratmap.review/1``, docs/review.md).

Three charts, each with its reading: the sample-ratio check (observed share of each arm
against the share the map declares), the actual uplift per play drawn as a point on the
forecast's predictive interval at the live test's size (inside or outside), and the funnel
rates the same way; then the proposed recalibration as a table.
"""

from __future__ import annotations

from typing import Any

from stratmap.report.charts import Chart, colour, layout
from stratmap.tables import format_interval, format_value, money

__all__ = ["review_charts", "review_context"]

_INSIDE = "#2b8a3e"
_OUTSIDE = "#d9480f"
_NO_FORECAST = "#8a94a6"
_ARM_LABELS = {
    "model_group": "模型组 model group",
    "global_control": "非模型组 global control",
    "treatment": "treatment",
    "rule_holdout": "rule holdout",
}


def _play(row: dict[str, Any]) -> str:
    return row["play"] if row["wave"] is None else f"{row['play']} wave {row['wave']}"


def _round(value: float | None, digits: int = 5) -> float | None:
    return None if value is None else round(float(value), digits)


def sample_ratio_chart(entries: list[dict[str, Any]]) -> Chart:
    """Per scope, one bar of the arms' observed shares stacked to 100%, and black marks where
    the declared shares put the boundaries between them: a broken holdout shows as a bar
    boundary away from its mark."""
    arms = list(dict.fromkeys(arm for entry in entries for arm in entry["counts"]))
    scopes = [str(entry["scope"]) for entry in entries]
    traces: list[dict[str, Any]] = []
    for index, arm in enumerate(arms):
        observed = []
        for entry in entries:
            n = entry["counts"].get(arm)
            total = max(sum(entry["counts"].values()), 1)
            observed.append(None if n is None else round(n / total * 100, 2))
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": _ARM_LABELS.get(arm, arm),
                "y": scopes,
                "x": observed,
                "marker": {"color": colour(index)},
            }
        )
    marks_y, marks_x = [], []
    for entry, scope in zip(entries, scopes, strict=True):
        boundary = 0.0
        for arm in arms[:-1]:
            if arm in entry["declared"]:
                boundary += entry["declared"][arm] * 100
                if boundary < 99.99:
                    marks_y.append(scope)
                    marks_x.append(round(boundary, 2))
    traces.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "declared boundary",
            "y": marks_y,
            "x": marks_x,
            "marker": {
                "symbol": "line-ns-open",
                "size": 22,
                "color": "#212529",
                "line": {"width": 3},
            },
        }
    )
    broken = [str(e["scope"]) for e in entries if e["mismatch"]]
    reading = (
        f"{len(broken)} of {len(entries)} scopes do not have the arms the map declares "
        f"({', '.join(broken[:3])}): every uplift there is suspect."
        if broken
        else f"All {len(entries)} scopes have the arm sizes the map declares (no p below "
        "0.001): each boundary between the arms sits on its black mark."
    )
    return Chart(
        "review-srm",
        "Sample-ratio check 样本比例检验",
        reading,
        {
            "data": traces,
            "layout": layout(
                x_title="share of the scope's customers (%)",
                yaxis={"autorange": "reversed", "automargin": True},
                xaxis={"range": [0, 100], "title": {"text": "share of the scope's customers (%)"}},
                barmode="stack",
                height=max(320, 100 + 30 * len(scopes)),
                hovermode="y unified",
            ),
        },
    )


def _held_chart(
    key: str, title: str, rows: list[dict[str, Any]], labels: list[str], x_title: str, scale: float
) -> Chart:
    """Each row's forecast interval as a bar from low to high, its actual as a point: green
    inside, orange outside, grey without a forecast."""
    forecast = [row for row in rows if row["forecast"] is not None]
    held = [label for label, row in zip(labels, rows, strict=True) if row["forecast"] is not None]
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "orientation": "h",
            "name": "forecast at the live size (95%)",
            "y": held,
            "base": [_round(row["forecast"]["low"] * scale, 3) for row in forecast],
            "x": [
                _round((row["forecast"]["high"] - row["forecast"]["low"]) * scale, 3)
                for row in forecast
            ],
            "marker": {"color": "rgba(31, 111, 235, 0.25)"},
            "hoverinfo": "y+name",
        }
    ]
    for name, tone, pick in (
        ("actual, inside", _INSIDE, True),
        ("actual, OUTSIDE", _OUTSIDE, False),
        ("actual, no forecast", _NO_FORECAST, None),
    ):
        chosen = [
            (label, row) for label, row in zip(labels, rows, strict=True) if row["inside"] is pick
        ]
        chosen = [(label, row) for label, row in chosen if row["actual"] is not None]
        if not chosen:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": name,
                "y": [label for label, _ in chosen],
                "x": [_round(row["actual"] * scale, 3) for _, row in chosen],
                "marker": {"color": tone, "size": 10, "symbol": "diamond"},
            }
        )
    outside = [label for label, row in zip(labels, rows, strict=True) if row["inside"] is False]
    if not forecast:
        reading = (
            f"No actual has a forecast (review with --forecast RESULTS_DIR to hold them "
            f"against one): the {len(rows)} grey points are the actuals alone."
        )
        return _held_figure(key, title, reading, traces, labels, x_title)
    reading = (
        f"{len(outside)} of {len(forecast)} actuals with a forecast fall outside it "
        f"({', '.join(outside[:3])}{', …' if len(outside) > 3 else ''}): the map's numbers "
        "there are not what the bank saw."
        if outside
        else f"Every one of the {len(forecast)} actuals with a forecast lies inside it."
    )
    if len(forecast) < len(rows):
        reading += f" {len(rows) - len(forecast)} have no forecast (grey)."
    return _held_figure(key, title, reading, traces, labels, x_title)


def _held_figure(
    key: str,
    title: str,
    reading: str,
    traces: list[dict[str, Any]],
    labels: list[str],
    x_title: str,
) -> Chart:
    return Chart(
        key,
        title,
        reading,
        {
            "data": traces,
            "layout": layout(
                x_title=x_title,
                yaxis={"autorange": "reversed", "automargin": True},
                barmode="overlay",
                height=max(320, 80 + 26 * len(labels)),
                hovermode="closest",
            ),
        },
    )


def uplift_chart(document: dict[str, Any]) -> Chart | None:
    """The actual uplift of the rates (treatment − control, pp) against the forecast's."""
    rows = [
        {**row, "actual": row["actual"]["estimate"] if row["actual"] else None}
        for row in document["uplift"]
        if row["unit"] == "share"
    ]
    if not rows:
        return None
    labels = [f"{_play(r)} · {r['metric']} · {r['label']}" for r in rows]
    return _held_chart(
        "review-uplift",
        "Actual uplift vs forecast 实际提升 vs 预测",
        rows,
        labels,
        "treatment − control (percentage points)",
        100.0,
    )


def funnel_chart(document: dict[str, Any]) -> Chart | None:
    rows = [dict(row) for row in document["funnel"]]
    if not rows:
        return None
    labels = [f"{_play(r)} · {r['meaning']}" for r in rows]
    return _held_chart(
        "review-funnel",
        "Funnel, actual vs forecast 漏斗 实际 vs 预测",
        rows,
        labels,
        "rate (%)",
        100.0,
    )


def review_charts(document: dict[str, Any]) -> list[Chart]:
    found = [sample_ratio_chart(document["sample_ratio"])] if document["sample_ratio"] else []
    found += [c for c in (uplift_chart(document), funnel_chart(document)) if c is not None]
    return found


def _pct(value: float | None) -> str:
    return format_value(value, "share")


def _pp(value: float) -> str:
    return f"{value * 100:+.2f}pp"


def _segment_rows(document: dict[str, Any]) -> list[dict[str, str]]:
    """The response uplift per play and segment, as the review's text table shows it (a
    review written before segments has none)."""
    return [
        {
            "play": _play(row),
            "segment": row["segment"],
            "label": row["label"],
            "n": f"{row['n_treatment']:,}/{row['n_control']:,}",
            "actual": "-" if row["actual"] is None else _pp(row["actual"]["estimate"]),
            "interval": "-"
            if row["actual"] is None
            else f"[{_pp(row['actual']['low'])}, {_pp(row['actual']['high'])}]",
        }
        for row in document.get("uplift_by_segment", [])
        if row["metric"] == "response_rate"
    ]


def review_context(document: dict[str, Any]) -> dict[str, Any]:
    """What the review template shows besides the charts: the uplift of money (AUM change)
    as a table, and the recalibration."""
    money_rows = [
        {
            "play": _play(row),
            "label": row["label"],
            "metric": row["metric"],
            "n": f"{row['n_treatment']:,}/{row['n_control']:,}",
            "actual": "-"
            if row["actual"] is None
            else money(row["actual"]["estimate"], signed=True),
            "forecast": "-"
            if row["forecast"] is None
            else format_interval(
                row["forecast"]["low"], row["forecast"]["high"], "money", difference=True
            ),
            "held": {None: "-", True: "inside", False: "OUTSIDE"}[row["inside"]],
        }
        for row in document["uplift"]
        if row["unit"] != "share"
    ]
    recalibration = [
        {
            "play": _play(row),
            "map": _pct(row["map_rate"]),
            "forecast": _pct(row["forecast_rate_among_reached"]),
            "observed": f"{row['responded']:,}/{row['reached']:,}",
            "posterior": f"{_pct(row['posterior_rate_among_reached'])} "
            f"[{_pct(row['posterior_low'])}, {_pct(row['posterior_high'])}]",
            "edit": "keep"
            if not row.get("edit")
            else f"response {row['edit']['from']} → {row['edit']['to']}",
            "changed": bool(row.get("edit")),
        }
        for row in document["recalibration"]
    ]
    return {
        "rows": document.get("rows", {}),
        "money_rows": money_rows,
        "segment_rows": _segment_rows(document),
        "recalibration": recalibration,
        "prior_strength": document.get("prior_strength"),
        "diff": document.get("diff") or "",
        "notes": [str(n) for n in document.get("notes", [])],
    }
