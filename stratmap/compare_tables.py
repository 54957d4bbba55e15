"""Rich tables for `stratmap compare` and `stratmap size`, from the very documents their
``--format json`` prints (so the terminal and the JSON cannot disagree). Numbers are written as
in ``stratmap.tables``: money in 万/亿, shares in percent, differences of shares in points,
intervals ``[low, high]``, missing values ``-``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from simulator.analysis.compare import (
    ARM_METRICS,
    COMPARE_METRICS,
    FORECAST_LABEL,
    PLAY_METRICS,
    SEGMENT_METRICS,
    added_by_plays,
)
from strategy_dsl.variants import NO_PLAYS
from stratmap.tables import format_interval, format_value

__all__ = ["render_comparison", "render_size"]


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table


def _row(table: Table, *cells: str) -> None:
    table.add_row(*(Text(cell) for cell in cells))  # Text: names are never rich markup


def _bounds(row: Mapping[str, Any], unit: str) -> str:
    return format_interval(row.get("low"), row.get("high"), unit, difference=True)


def render_comparison(document: Mapping[str, Any], console: Console, currency: str) -> None:
    """The comparison: paired differences per alternative, uplift and SRM per arm, ranking."""
    reps = document["replications"]
    console.print(
        Text(
            f"{document['strategy']['name']}: {len(document['arms'])} alternatives, "
            f"{document['customers']:,} customers, {document['horizon']['steps']} "
            f"{document['horizon']['step_unit']}s, {reps} replications, seed {document['seed']} "
            f"(common random numbers); money in {currency}"
        )
    )
    base = document["base"]
    for label, rows in document["differences"].items():
        # Against the book without plays the question is what the plays add: base − it.
        added = label == NO_PLAYS
        title = f"what the plays add: {base} - {label}" if added else f"{label} - {base}"
        first, second = (label, base) if added else (base, label)
        table = _table(
            f"{title} (paired, per replication)", "metric", first, second, "difference",
            "95% interval",
        )  # fmt: skip
        keys = ("without", "with", "added") if added else ("base", "variant", "difference")
        for row in added_by_plays(rows) if added else rows:
            label_text, unit = COMPARE_METRICS[row["metric"]]
            _row(
                table,
                label_text,
                format_value(row[keys[0]], unit),
                format_value(row[keys[1]], unit),
                format_value(row[keys[2]], unit, difference=True),
                _bounds(row, unit),
            )
        table.caption = f"interval: {FORECAST_LABEL}, Student t across {reps} replications"
        console.print(table)
    for label, rows in document["uplift"].items():
        if rows is None:
            continue
        table = _table(
            f"{label}: treatment vs control (per exposed customer)",
            "metric",
            "treatment",
            "control",
            "uplift",
            "95% interval",
        )
        for row in rows:
            label_text, unit = ARM_METRICS[row["metric"]]
            _row(
                table,
                label_text,
                format_value(row["treatment"], unit),
                format_value(row["control"], unit),
                format_value(row["uplift"], unit, difference=True),
                _bounds(row, unit),
            )
        table.caption = f"interval: {FORECAST_LABEL}"
        console.print(table)
    for label, rows in document.get("uplift_by_segment", {}).items():
        if rows:
            console.print(_group_table(label, rows, "segment", reps))
    for label, rows in document.get("uplift_by_play", {}).items():
        if rows:
            console.print(_group_table(label, rows, "play", reps))
    for label, rows in document.get("uplift_by_play_customers", {}).items():
        if rows:
            console.print(_group_table(label, rows, "play_customers", reps))
    for label, check in document["sample_ratio"].items():
        verdict = "one arm only: nothing to check" if check is None else check["verdict"]
        console.print(Text(f"sample ratio, {label}: {verdict}"))
    table = _table(
        "Ranking by net value",
        "rank",
        "alternative",
        "net value",
        f"vs {base} [95% interval]",
        "cost",
        "net / cost",
        "net / budget",
    )
    for row in document["ranking"]:
        diff = "-"
        if row["difference_vs_base"] is not None:
            diff = format_value(row["difference_vs_base"], "money", difference=True)
            if row["difference_low"] is not None:
                bounds = (row["difference_low"], row["difference_high"])
                diff += " " + format_interval(*bounds, "money", difference=True)
        _row(
            table,
            str(row["rank"]),
            row["arm"],
            format_value(row["net_value"], "money"),
            diff,
            format_value(row["cost"], "money"),
            format_value(row["net_per_cost"], "ratio"),
            format_value(row["net_per_budget"], "ratio"),
        )
    console.print(table)
    for note in document["notes"]:
        console.print(Text(f"note: {note}"))


def _group_table(label: str, rows: list[Mapping[str, Any]], kind: str, reps: int) -> Table:
    """Treatment vs control within each play or segment: one row per metric, the group's name
    and its exposed customers (mean per replication) on its first row."""
    if kind in ("segment", "play_customers"):
        title = f"{label}: treatment vs control by segment (per customer ever in the segment)"
        if kind == "play_customers":
            title = f"{label}: treatment vs control by play (per customer ever eligible)"
        exposed = "customers"
        units = {name: unit for name, (_, unit) in SEGMENT_METRICS.items()}
        labels = {name: text for name, (text, _) in SEGMENT_METRICS.items()}
    else:
        title = f"{label}: treatment vs control by play (per eligible customer-step)"
        exposed = "eligible"
        units = {name: unit for name, (_, unit, _) in PLAY_METRICS.items()}
        labels = {name: text for name, (text, _, _) in PLAY_METRICS.items()}
    heading = "play" if kind == "play_customers" else kind
    table = _table(
        title, heading, f"{exposed} (T / C)", "metric", "treatment", "control", "uplift",
        "95% interval",
    )  # fmt: skip
    previous = None
    for row in rows:
        if not (row["exposed_treatment"] or row["exposed_control"]):
            continue  # never eligible (a play) or never anyone in it (a segment): nothing to show
        first = row["group"] != previous
        previous = row["group"]
        unit = units[row["metric"]]
        name = f"{row['group']} ({row['kind']})" if kind != "segment" else row["group"]
        _row(
            table,
            name if first else "",
            f"{_count(row['exposed_treatment'])} / {_count(row['exposed_control'])}"
            if first
            else "",
            labels[row["metric"]],
            format_value(row["treatment"], unit),
            format_value(row["control"], unit),
            format_value(row["uplift"], unit, difference=True),
            _bounds(row, unit),
        )
    note = (
        "the control arm is never contacted, so a play's own counters are 0 there by design"
        if kind == "play"
        else "intention to treat: from the step a customer is first in the segment"
    )
    table.caption = f"interval: {FORECAST_LABEL}, Student t across {reps} replications; {note}"
    return table


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render_size(document: Mapping[str, Any], console: Console) -> None:
    """The live-test design of every metric, with what it rests on: the treatment vs control
    test, then the base vs variant test of the response rate (or why there is none)."""
    variant = f" (variant {document['variant']})" if document["variant"] else ""
    console.print(
        Text(
            f"{document['strategy']}{variant}: alpha {document['alpha']:g}, power "
            f"{document['power']:g}, two-sided; control group {document['control_share']:.1%} "
            f"(n_control/n_treatment = {document['ratio']:.4g}); eligible customers "
            f"{document['eligible_per_month']:,.0f} a month (first time eligible, over "
            f"{document['horizon_months']:g} months, {document['replications']} replications"
            f"{_scaled(document)})"
        )
    )
    n = document["n"]
    metrics = [m for m in document["metrics"] if m["comparison"] == "treatment vs control"]
    # One column per metric, one row per quantity: narrow enough for a terminal.
    table = _table(
        "Live test: treatment vs control (模型组 vs 非模型组), customers from the step they "
        "first became eligible",
        "",
        *(m["label"] for m in metrics),
    )
    rows = _design_rows(metrics, "treated / control", "control group's opportunity cost")
    if n is not None:
        rows.append((f"power at n = {n:,} treated", [_power(m) for m in metrics]))
        rows.append((f"MDE at n = {n:,} treated", [_mde(m) for m in metrics]))
    for name, cells in rows:
        _row(table, name, *cells)
    table.caption = (
        "effect = treatment - control over the horizon, from the simulation; AUM added = AUM "
        "at the end (0 after churn) - AUM when first eligible, before contacts; live-test "
        "interval: sampling uncertainty at the planned size (not the forecast's); opportunity "
        "cost: forecast net value uplift per treated customer x n_control"
    )
    console.print(table)
    _notes(console, metrics)
    for row in document["metrics"]:
        if row["comparison"] == "variant vs base":
            _render_variant_test(console, document, row)


def _design_rows(
    metrics: list[Mapping[str, Any]], arms: str, cost: str
) -> list[tuple[str, list[str]]]:
    first, second = arms.split(" / ")
    return [
        ("method", [m["method_name"] for m in metrics]),
        (f"{second} (baseline)", [_cell(m, "baseline") for m in metrics]),
        (first, [_cell(m, "treatment") for m in metrics]),
        ("effect to detect", [_cell(m, "effect", difference=True) for m in metrics]),
        ("its forecast 95% interval", [_forecast(m) for m in metrics]),
        (
            "standard deviation per customer",
            [_sd(m) if m["kind"] == "mean" else "-" for m in metrics],
        ),
        (f"customers per arm ({arms})", [_n(m) for m in metrics]),
        ("months to reach power", [_months(m) for m in metrics]),
        ("live-test 95% interval at that size", [_live(m) for m in metrics]),
        (cost, [_money(m) for m in metrics]),
    ]


def _render_variant_test(
    console: Console, document: Mapping[str, Any], row: Mapping[str, Any]
) -> None:
    test = document["variant_test"]
    if test is None:
        console.print(Text(f"{row['label']}: not sized: {row['error']}\nhelp: {row['hint']}"))
        return
    contacted = test["contacted_per_month"]
    who = (
        "contacted customers" if test["rule"] is None else f"the customers {test['rule']} contacted"
    )
    console.print(
        Text(
            f"Variant test: base vs {test['variant']} among {who}, "
            f"{test['variant_share']:.0%} of the test on the variant (n_base/n_variant = "
            f"{test['ratio']:.4g}); treated customers first contacted a month: base "
            f"{contacted['base']:,.0f}, variant {contacted['variant']:,.0f} (common random "
            f"numbers{_scaled(document)})"
        )
    )
    table = _table("Live test: base vs variant", "", row["label"])
    rows = _design_rows([row], "variant / base", "base arm's opportunity cost")
    n = document["n"]
    if n is not None:
        rows.append((f"power at n = {n:,} on the variant", [_power(row)]))
        rows.append((f"MDE at n = {n:,} on the variant", [_mde(row)]))
    for name, cells in rows:
        _row(table, name, *cells)
    table.caption = (
        "per contacted customer: responded at least once within the horizon; effect = variant "
        "- base; opportunity cost: forecast net value (variant - base) per customer the base "
        "contacts x n_base (negative: the variant loses value)"
    )
    console.print(table)
    _notes(console, [row])


def _scaled(document: Mapping[str, Any]) -> str:
    """Where the flows were scaled from a smaller simulated population to the declared one."""
    scale = document.get("population_scale", 1.0)
    if scale == 1.0:
        return ""
    return f"; flows scaled x{scale:,.4g} from the simulated customers to the declared population"


def _notes(console: Console, metrics: list[Mapping[str, Any]]) -> None:
    for row in metrics:
        if row.get("note"):
            console.print(Text(f"{row['label']}: {row['note']}"))
        if row["error"] is not None:
            console.print(Text(f"{row['label']}: cannot size: {row['error']}\nhelp: {row['hint']}"))


def _unit(row: Mapping[str, Any]) -> str:
    return "share" if row["kind"] == "proportion" else "money"


def _cell(row: Mapping[str, Any], key: str, *, difference: bool = False) -> str:
    return format_value(row[key], _unit(row), difference=difference)


def _n(row: Mapping[str, Any]) -> str:
    if row["error"] is not None:
        return "cannot size (below)"
    return f"{row['n_treatment']:,} / {row['n_control']:,}"


def _sd(row: Mapping[str, Any]) -> str:
    if row["sd_treatment"] is None or row["sd_control"] is None:
        return "-"
    first, second = (format_value(row[k], "money") for k in ("sd_treatment", "sd_control"))
    return f"{first} / {second}"


def _months(row: Mapping[str, Any]) -> str:
    return "-" if row["months_to_reach"] is None else f"{row['months_to_reach']:,.1f}"


def _forecast(row: Mapping[str, Any]) -> str:
    """The effect's interval across replications (treatment vs control rows only)."""
    low, high = row.get("effect_low"), row.get("effect_high")
    return format_interval(low, high, _unit(row), difference=True)


def _live(row: Mapping[str, Any]) -> str:
    return format_interval(row["live_test_low"], row["live_test_high"], _unit(row), difference=True)


def _money(row: Mapping[str, Any]) -> str:
    return format_value(row["opportunity_cost"], "money")


def _power(row: Mapping[str, Any]) -> str:
    return format_value(row["power_at_n"], "share")


def _mde(row: Mapping[str, Any]) -> str:
    return format_value(row["mde_at_n"], _unit(row), difference=True)
