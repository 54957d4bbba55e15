"""The report's pages: which page a kind of results gets, and what each page shows.

``PAGES`` lists the page builders in page order. A builder returns a ``Page`` (an id, which
is its anchor and names its template ``pages/<id>.html.j2``, a title, its charts and what its
template shows), or ``None`` when the results have nothing for it (a comparison without
per-step series has no trends page; results without ``map.json`` have no map). Pages for later
kinds of results (back-test, review) are added the same way: one builder, one template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from simulator.planning.replications import replication_interval
from simulator.results.summary import play_values
from stratmap.report import charts
from stratmap.report.backtest_page import backtest_charts, backtest_context
from stratmap.report.inputs import Results
from stratmap.report.review_page import review_charts, review_context
from stratmap.report.source_view import highlighted, line_anchor
from stratmap.report.strategy_map import EVERY_STEP, EVERYONE
from stratmap.tables import format_interval, format_value, money

__all__ = ["BACKTEST_PAGES", "PAGES", "REVIEW_PAGES", "Page", "build_pages"]

# The headline's metrics, in order, each shown when the run has it: tier moves (升层 / 降层)
# when the run counted them, and the net value including the customers' value at the end when
# the map's `book` has a `lifetime` (money beyond the horizon).
HEADLINE = [
    "final_aum",
    "aum_growth",
    "customers",
    "churn_rate",
    "upgraded",
    "downgraded",
    "revenue",
    "cost",
    "net_value",
    "customer_value",
    "net_value_beyond",
    "contacts",
    "responders",
    "nps",
]


@dataclass
class Page:
    id: str
    title: str
    charts: list[charts.Chart] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ helpers


def _cell(value: float | None, unit: str, *, difference: bool = False) -> str:
    return format_value(value, unit, difference=difference)


_interval = format_interval


def _clear_of_zero(low: float | None, high: float | None) -> str:
    """``up`` / ``down`` when the interval excludes zero, else ``""`` (a row's colour)."""
    if low is None or high is None:
        return ""
    return "up" if low > 0 else "down" if high < 0 else ""


def base_tables(results: Results) -> dict[str, pd.DataFrame]:
    """The tables of the strategy as written: a simulation's tables, or a comparison's rows of
    its base (``alternative`` column) when it wrote per-step series."""
    if results.kind == "simulation":
        return results.tables
    base = str(results.summary.get("base", ""))
    found = {}
    for name, frame in results.tables.items():
        if "alternative" in frame.columns:
            rows = frame[frame["alternative"] == base].drop(columns="alternative")
            found[name] = rows.reset_index(drop=True)
    return found


def _reps(results: Results) -> int:
    run = results.summary.get("run") or {}
    return int(run.get("reps") or results.summary.get("replications") or 1)


def source_link(results: Results, source: dict[str, Any] | None) -> str | None:
    """The anchor of a ``{"file", "line"}`` in the source page, or None without a map."""
    if source is None or results.strategy_map is None:
        return None
    files = [s["file"] for s in results.strategy_map.get("sources", [])]
    if source.get("file") not in files:
        return None
    return "#" + line_anchor(files.index(source["file"]), int(source["line"]))


def per_play(results: Results) -> pd.DataFrame | None:
    """Per play: funnel means and money with 95% intervals over replications."""
    tables = base_tables(results)
    if "funnel" not in tables:
        return None
    reps = _reps(results)
    values = play_values(tables, reps=reps)
    funnel = tables["funnel"]
    eligible = funnel.groupby(["play", "rep"], observed=True)["eligible"].sum().reset_index()
    values = values.merge(eligible, on=["play", "rep"], how="left")
    rows = []
    order = list(dict.fromkeys(funnel["play"].astype(str)))
    for play in order:
        group = values[values["play"].astype(str) == play]
        if group.empty:
            continue
        row: dict[str, Any] = {
            "play": play,
            "kind": str(group["kind"].iloc[0]),
            "channel": str(group["channel"].iloc[0]),
        }
        for column in ["eligible", "contacted", "reached", "responded", "cost", "revenue", "net"]:
            found = replication_interval(group[column].to_numpy(float))
            row[column] = found.mean if found.mean is not None else 0.0
            row[f"{column}_mean"] = row[column]
            row[f"{column}_low"], row[f"{column}_high"] = found.low, found.high
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ pages


def _overview(results: Results) -> Page:
    page = Page("overview", "总览 Headline")
    summary = results.summary
    if results.kind == "simulation":
        metrics = summary.get("metrics", {})
        page.context["cards"] = [
            {
                "label": metrics[name]["label"],
                "value": _cell(metrics[name]["mean"], metrics[name]["unit"]),
                "interval": _interval(
                    metrics[name]["low"], metrics[name]["high"], metrics[name]["unit"]
                ),
            }
            for name in HEADLINE
            if name in metrics
        ]
        uplift = summary.get("uplift") or {}
        page.context["uplift"] = [
            {
                "label": row["label"],
                "treatment": _cell(row["treatment"], row["unit"]),
                "control": _cell(row["control"], row["unit"]),
                "uplift": _cell(row["mean"], row["unit"], difference=True),
                "interval": _interval(row["low"], row["high"], row["unit"], difference=True),
                "tone": _clear_of_zero(row["low"], row["high"]),
            }
            for row in uplift.values()
            if row
        ]
    else:
        page.context.update(_comparison_overview(results))
        differences = results.tables["differences"]
        if len(differences) and (differences["metric"] == "net_value").any():
            page.charts.append(
                charts.paired_differences(
                    differences, "net_value", "Net value 净值", results.currency
                )
            )
    page.context["notes"] = [str(n) for n in summary.get("notes", [])]
    return page


def _comparison_overview(results: Results) -> dict[str, Any]:
    # Here, not at the top: simulator.analysis.compare brings SciPy, which a simulation's report
    # skips.
    from simulator.analysis.compare import ARM_METRICS, COMPARE_METRICS, added_by_plays
    from strategy_dsl.variants import NO_PLAYS

    summary = results.summary
    variants = list(summary.get("differences", {}))
    plays_add = []  # `compare --no-plays`: base − (no plays), as the terminal reads it
    for row in added_by_plays(summary.get("differences", {}).get(NO_PLAYS, [])):
        label, unit = COMPARE_METRICS.get(row["metric"], (row["metric"], "count"))
        plays_add.append(
            {
                "label": label,
                "without": _cell(row["without"], unit),
                "with": _cell(row["with"], unit),
                "added": _cell(row["added"], unit, difference=True),
                "interval": _interval(row["low"], row["high"], unit, difference=True),
                "tone": _clear_of_zero(row["low"], row["high"]),
            }
        )
    by_metric: dict[str, dict[str, Any]] = {}
    for variant, rows in summary.get("differences", {}).items():
        for row in rows:
            label, unit = COMPARE_METRICS.get(row["metric"], (row["metric"], "count"))
            entry = by_metric.setdefault(
                row["metric"],
                {"label": label, "base": _cell(row.get("base"), unit), "cells": {}},
            )
            entry["cells"][variant] = {
                "value": _cell(row.get("variant"), unit),
                "difference": _cell(row.get("difference"), unit, difference=True),
                "interval": _interval(row.get("low"), row.get("high"), unit, difference=True),
                "tone": _clear_of_zero(row.get("low"), row.get("high")),
            }
    uplift_rows = []
    for arm, rows in (summary.get("uplift") or {}).items():
        for row in rows or []:
            label, unit = ARM_METRICS.get(row["metric"], (row["metric"], "count"))
            uplift_rows.append(
                {
                    "arm": arm,
                    "label": label,
                    "treatment": _cell(row.get("treatment"), unit),
                    "control": _cell(row.get("control"), unit),
                    "uplift": _cell(row.get("uplift"), unit, difference=True),
                    "interval": _interval(row.get("low"), row.get("high"), unit, difference=True),
                    "tone": _clear_of_zero(row.get("low"), row.get("high")),
                }
            )
    ranking = [
        {
            "rank": row.get("rank"),
            "arm": row.get("arm"),
            "net_value": money(row["net_value"]) if row.get("net_value") is not None else "-",
            "cost": money(row["cost"]) if row.get("cost") is not None else "-",
        }
        for row in summary.get("ranking", [])
    ]
    srm = [
        {"arm": arm, "p_value": None if check is None else check.get("p_value")}
        for arm, check in (summary.get("sample_ratio") or {}).items()
    ]
    return {
        "base": summary.get("base"),
        "variants": variants,
        "plays_add": plays_add,
        "no_plays": NO_PLAYS,
        "differences": list(by_metric.values()),
        "comparison_uplift": uplift_rows,
        "ranking": ranking,
        "srm": srm,
    }


def _trends(results: Results) -> Page | None:
    tables = results.tables
    if "totals" not in tables or "population" not in tables:
        return None
    page = Page("trends", "趋势 Trends")
    unit = results.step_unit
    if results.kind == "simulation":
        page.charts.append(charts.aum_total(tables["totals"], unit))
        page.charts.append(charts.aum_fan(tables["totals"], ["arm"], unit, key="aum-fan"))
        page.charts.append(charts.stages(tables["population"], unit))
        page.charts.append(charts.survival(tables["totals"], ["arm"], unit))
    else:
        page.charts.append(
            charts.aum_fan(tables["totals"], ["alternative", "arm"], unit, key="aum-fan")
        )
        page.charts.append(charts.survival(tables["totals"], ["alternative"], unit))
        page.charts.append(charts.stages(base_tables(results)["population"], unit))
    base = base_tables(results)
    if "stage_moves" in base:  # results from before stage moves were counted have none
        page.charts.append(charts.stage_flows(base["stage_moves"], base["population"]))
    return page


def _tiers(results: Results) -> Page | None:
    population = results.tables.get("population")
    if population is None:
        return None
    order = (
        [str(t) for t in population["tier"].cat.categories]
        if hasattr(population["tier"], "cat")
        else sorted(population["tier"].astype(str).unique())
    )
    groups = ["arm"] if results.kind == "simulation" else ["alternative"]
    page = Page("tiers", "分层 Tiers")
    page.charts.append(charts.tiers(population, groups, results.step_unit, order))
    moves = results.tables.get("tier_moves")
    if moves is not None and len(order) > 1:  # results from before migrations were counted
        page.charts.append(charts.tier_moves(moves, population, groups))
    return page


def _plays(results: Results) -> Page | None:
    table = per_play(results)
    if table is None or table.empty:
        return None
    tables = base_tables(results)
    page = Page("plays", "策略 Plays")
    page.charts.append(charts.play_funnel(table))
    order = table["play"].tolist()
    if "suppression" in tables:
        page.charts.append(charts.suppression(tables["suppression"], _reps(results), order))
    page.charts.append(charts.play_value(table, results.currency))
    links = {p["play"]: p for p in (results.strategy_map or {}).get("plays", [])}
    page.context["rows"] = [
        {
            "play": row["play"],
            "link": source_link(results, links.get(row["play"], {}).get("source")),
            "kind": row["kind"],
            "channel": row["channel"],
            "eligible": _cell(row["eligible"], "count"),
            "contacted": _cell(row["contacted"], "count"),
            "reached": _cell(row["reached"], "count"),
            "responded": _cell(row["responded"], "count"),
            "rate": _cell(row["responded"] / row["contacted"], "share")
            if row["contacted"]
            else "-",
            "cost": money(row["cost"]),
            "revenue": money(row["revenue"]),
            "net": money(row["net"], signed=True),
            "net_interval": _interval(row["net_low"], row["net_high"], "money", difference=True),
        }
        for row in table.to_dict("records")
    ]
    return page


def _channels(results: Results) -> Page | None:
    tables = base_tables(results)
    if "channels" not in tables:
        return None
    capacities = {
        c["name"]: c.get("capacity_per_step")
        for c in (results.strategy_map or {}).get("channels", [])
    }
    page = Page("channels", "渠道 Channels")
    page.charts.append(
        charts.channel_load(tables["channels"], capacities, results.step_unit, _reps(results))
    )
    page.charts.append(charts.cost_per_responder(tables["channels"], results.currency))
    return page


def _map(results: Results) -> Page | None:
    strategy_map = results.strategy_map
    if strategy_map is None:
        return None
    plays = strategy_map.get("plays", [])
    forecast = per_play(results)
    numbers = {} if forecast is None else {r["play"]: r for r in forecast.to_dict("records")}
    rows = [s["name"] for s in strategy_map.get("segments", [])]
    columns = [t["name"] for t in strategy_map.get("triggers", [])]
    for play in plays:
        for name in play["segments"]:
            if name not in rows:
                rows.append(name)
        for name in play["triggers"]:
            if name not in columns:
                columns.append(name)
    if EVERYONE in rows:  # the plays for everyone sit on the first row, the rest as declared
        rows.insert(0, rows.pop(rows.index(EVERYONE)))
    if EVERY_STEP in columns:
        columns.insert(0, columns.pop(columns.index(EVERY_STEP)))
    grid: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for play in plays:
        number = numbers.get(play["play"])
        card = {
            "play": play["play"],
            "link": source_link(results, play.get("source")),
            "product": play["product"],
            "channel": play["channel"],
            "script": play.get("script"),
            "script_text": play.get("script_text"),
            "reached": None if number is None else _cell(number["reached"], "count"),
            "responded": None if number is None else _cell(number["responded"], "count"),
            "net": None if number is None else money(number["net"], signed=True),
            "loss": number is not None and number["net"] < 0,
        }
        for segment in play["segments"]:
            for trigger in play["triggers"]:
                grid.setdefault((segment, trigger), []).append(card)
    unserved = _unserved_by_row(results)
    page = Page("map", "策略图谱 Strategy map")
    page.context.update(
        {
            "columns": columns,
            "rows": [
                {
                    "name": name,
                    "unserved": unserved.get(name),
                    "cells": [grid.get((name, column), []) for column in columns],
                }
                for name in rows
            ],
            "served": len(grid),
            "cells": len(rows) * len(columns),
            "everyone": EVERYONE,
            "every_step": EVERY_STEP,
        }
    )
    return page


def _unserved_by_row(results: Results) -> dict[str, str]:
    """Treatment customers per step eligible for no play at all, by segment (and by tier, from
    the segment ``(all)``): who falls through the map."""
    unserved = base_tables(results).get("unserved")
    if unserved is None:
        return {}
    rows = unserved[
        (unserved["arm"] == "treatment") & (unserved["step"] >= 1) & (unserved["kind"] == "no_play")
    ]
    found: dict[str, str] = {}
    by_segment = rows[rows["segment"] != "(all)"].groupby(["segment", "rep", "step"], observed=True)
    means = by_segment["customers"].sum().groupby("segment", observed=True).mean()
    for name, value in means.items():
        found[str(name)] = _cell(value, "count")
    by_tier = rows[rows["segment"] == "(all)"].groupby(["tier", "rep", "step"], observed=True)
    for name, value in by_tier["customers"].sum().groupby("tier", observed=True).mean().items():
        found.setdefault(str(name), _cell(value, "count"))
    return found


def _expectations(results: Results) -> Page | None:
    strategy_map = results.strategy_map
    if not strategy_map or not strategy_map.get("expectations"):
        return None
    sources = {s["file"]: s["text"].splitlines() for s in strategy_map.get("sources", [])}
    rows = []
    for record in strategy_map["expectations"]:
        source = record.get("source") or {}
        lines = sources.get(source.get("file"), [])
        line = int(source.get("line", 0))
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        unit = record.get("unit", "count")
        rows.append(
            {
                "status": record["status"],
                "text": text.split("#", 1)[0].strip() or text,
                "value": _cell(record.get("value"), unit),
                "interval": _interval(record.get("low"), record.get("high"), unit),
                "threshold": _cell(record.get("threshold"), unit),
                "where": f"{source.get('file')}:{line}" if source else "",
                "link": source_link(results, source or None),
                "error": record.get("error"),
            }
        )
    page = Page("expectations", "预期 Expectations")
    page.context["rows"] = rows
    page.context["passed"] = sum(r["status"] == "pass" for r in rows)
    return page


def _source(results: Results) -> Page | None:
    strategy_map = results.strategy_map
    if not strategy_map or not strategy_map.get("sources"):
        return None
    page = Page("source", "源码 Source")
    page.context["files"] = [
        {"file": s["file"], "html": highlighted(s["text"], index)}
        for index, s in enumerate(strategy_map["sources"])
    ]
    return page


def _review(results: Results) -> Page:
    page = Page("review", "经营回检 Review")
    page.charts = review_charts(results.summary)
    page.context.update(review_context(results.summary))
    return page


def _backtest(results: Results) -> Page:
    page = Page("backtest", "回测 Back-test")
    page.charts = backtest_charts(results.summary, results.tables)
    page.context.update(backtest_context(results.summary, results.tables))
    return page


# Pages per kind of results, in page order.
PAGES: list[Callable[[Results], Page | None]] = [
    _overview,
    _trends,
    _tiers,
    _plays,
    _channels,
    _map,
    _expectations,
    _source,
]


REVIEW_PAGES: list[Callable[[Results], Page | None]] = [_review]

BACKTEST_PAGES: list[Callable[[Results], Page | None]] = [_backtest]

_PAGES_OF = {"review": REVIEW_PAGES, "backtest": BACKTEST_PAGES}


def build_pages(results: Results) -> list[Page]:
    builders = _PAGES_OF.get(results.kind, PAGES)
    return [page for build in builders if (page := build(results)) is not None]
