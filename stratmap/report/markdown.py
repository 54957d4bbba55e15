"""The report as Markdown for a pull-request comment: the headline with intervals, the uplift
of treatment vs control, a comparison's key paired differences and ranking, the expectations.

Names from the strategy are written inside code spans or table cells with ``|`` and backticks
escaped, so a name cannot break the table or inject markup into the comment.
"""

from __future__ import annotations

from stratmap.report.inputs import Results
from stratmap.report.pages import HEADLINE
from stratmap.tables import format_interval, format_value, markdown_cell, money

__all__ = ["render_markdown"]


_interval = format_interval


def _mark(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return ""
    return " ▲" if low > 0 else " ▼" if high < 0 else ""


def _simulation(results: Results) -> list[str]:
    summary = results.summary
    run = summary.get("run", {})
    lines = [
        f"{run.get('customers', 0):,} customers × {run.get('steps')} {run.get('step_unit')}s × "
        f"{run.get('reps')} replications, seed {run.get('seed')}; 95% intervals over "
        "replications.",
        "",
        "| metric | forecast | 95% interval |",
        "|---|---:|---:|",
    ]
    metrics = summary.get("metrics", {})
    for name in HEADLINE:
        if name in metrics:
            m = metrics[name]
            lines.append(
                f"| {markdown_cell(m['label'])} | {format_value(m['mean'], m['unit'])} | "
                f"{_interval(m['low'], m['high'], m['unit'])} |"
            )
    uplift = [row for row in (summary.get("uplift") or {}).values() if row]
    if uplift:
        lines += [
            "",
            "**模型组 vs 非模型组** (treatment vs control, per exposed customer; ▲/▼ the "
            "interval is clear of zero)",
            "",
            "| metric | treatment | control | uplift | 95% interval |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in uplift:
            unit = row["unit"]
            lines.append(
                f"| {markdown_cell(row['label'])} | {format_value(row['treatment'], unit)} | "
                f"{format_value(row['control'], unit)} | "
                f"{format_value(row['mean'], unit, difference=True)}"
                f"{_mark(row['low'], row['high'])} | "
                f"{_interval(row['low'], row['high'], unit, difference=True)} |"
            )
    return lines


# The deltas a reviewer reads first; the HTML report has them all.
KEY_DIFFERENCES = ("final_aum", "churn_rate", "responders", "revenue", "cost", "net_value")


def _comparison(results: Results) -> list[str]:
    # Here: simulator.analysis.compare brings SciPy, only for a comparison.
    from simulator.analysis.compare import COMPARE_METRICS, added_by_plays
    from strategy_dsl.variants import NO_PLAYS

    summary = results.summary
    lines = [
        f"Base **{markdown_cell(summary.get('base'))}** against "
        + ", ".join(f"**{markdown_cell(v)}**" for v in summary.get("differences", {}))
        + f"; {summary.get('replications')} replications, common random numbers; "
        "paired differences with 95% intervals (▲/▼ clear of zero).",
        "",
        "| variant | metric | base | variant | difference | 95% interval |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for variant, rows in summary.get("differences", {}).items():
        for row in rows:
            if row["metric"] not in KEY_DIFFERENCES:
                continue
            label, unit = COMPARE_METRICS[row["metric"]]
            lines.append(
                f"| {markdown_cell(variant)} | {markdown_cell(label)} | "
                f"{format_value(row.get('base'), unit)} | "
                f"{format_value(row.get('variant'), unit)} | "
                f"{format_value(row.get('difference'), unit, difference=True)}"
                f"{_mark(row.get('low'), row.get('high'))} | "
                f"{_interval(row.get('low'), row.get('high'), unit, difference=True)} |"
            )
    added = added_by_plays(summary.get("differences", {}).get(NO_PLAYS, []))
    if added:  # `compare --no-plays`: base − (no plays), as the terminal reads it
        lines += [
            "",
            f"What the plays add ({markdown_cell(summary.get('base'))} − {NO_PLAYS}, the same "
            "customers with nobody contacted):",
            "",
            "| metric | without plays | with | added | 95% interval |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in added:
            if row["metric"] not in KEY_DIFFERENCES:
                continue
            label, unit = COMPARE_METRICS[row["metric"]]
            lines.append(
                f"| {markdown_cell(label)} | {format_value(row['without'], unit)} | "
                f"{format_value(row['with'], unit)} | "
                f"{format_value(row['added'], unit, difference=True)}"
                f"{_mark(row['low'], row['high'])} | "
                f"{_interval(row['low'], row['high'], unit, difference=True)} |"
            )
    ranking = summary.get("ranking", [])
    if ranking:
        lines += ["", "| rank | alternative | net value |", "|---:|---|---:|"]
        for row in ranking:
            net = row.get("net_value")
            lines.append(
                f"| {row.get('rank')} | {markdown_cell(row.get('arm'))} | "
                f"{'-' if net is None else money(net)} |"
            )
    return lines


def _expectations(results: Results) -> list[str]:
    records = (results.strategy_map or {}).get("expectations") or []
    if not records:
        return []
    sources = {s["file"]: s["text"].splitlines() for s in results.strategy_map.get("sources", [])}
    passed = sum(r["status"] == "pass" for r in records)
    lines = ["", f"**Expectations**: {passed} of {len(records)} hold", ""]
    for record in records:
        source = record.get("source") or {}
        text_lines = sources.get(source.get("file"), [])
        line = int(source.get("line", 0))
        text = text_lines[line - 1].split("#", 1)[0].strip() if 0 < line <= len(text_lines) else ""
        mark = {"pass": "✅", "fail": "❌"}.get(record["status"], "➖")
        unit = record.get("unit", "count")
        measured = (
            f" — measured {format_value(record.get('value'), unit)}"
            if record.get("value") is not None
            else f" — {markdown_cell(record.get('error') or record['status'])}"
        )
        lines.append(
            f"- {mark} {markdown_cell(text)}{measured} ({markdown_cell(source.get('file'))}:{line})"
        )
    return lines


def _backtest(results: Results) -> str:
    """The back-test: after the split, actual against each forecast, and the binned table."""
    from stratmap.report.backtest_page import FORECASTS

    summary = results.summary
    holdout = summary.get("holdout") or {}
    lines = [
        f"### 回测 back-test: calibrated to {summary.get('split')}, forecast to "
        f"{summary.get('end')}",
        "",
        f"{summary.get('customers', 0):,} customers; after the split {holdout.get('actual', 0):,} "
        f"transactions happened.",
        "",
        "| forecast | total after the split | error | RMSE | MAE |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in results.tables["errors"].to_dict("records"):
        error = row["holdout_error"]
        shown = "-" if error is None or error != error else f"{error:+.1%}"
        name = FORECASTS.get(str(row["forecast"]), str(row["forecast"]))
        lines.append(
            f"| {markdown_cell(name)} | {row['holdout_total']:,.0f} | {shown} | "
            f"{row['rmse']:.3f} | {row['mae']:.3f} |"
        )
    lines += [
        "",
        "| before the split | customers | actual | Stratmap | carried forward | no change |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results.tables["bins"].to_dict("records"):
        means = " | ".join(f"{row[k]:.2f}" for k in ("actual", *FORECASTS))
        lines.append(f"| {markdown_cell(str(row['bin']))} | {row['customers']:,} | {means} |")
    return "\n".join([*lines, "", "<sub>stratmap report</sub>", ""])


def render_markdown(results: Results) -> str:
    if results.kind == "review":
        from stratmap.review_tables import review_markdown  # the review's one Markdown form

        return review_markdown(results.summary)
    if results.kind == "backtest":
        return _backtest(results)
    title = markdown_cell(results.strategy_name or "Stratmap")
    kind = "forecast" if results.kind == "simulation" else "comparison"
    lines = [f"### 策略管理看板 · {title} ({kind})", ""]
    lines += _simulation(results) if results.kind == "simulation" else _comparison(results)
    lines += _expectations(results)
    lines += [
        "",
        f"<sub>{markdown_cell(results.currency)} · money in 万/亿 · stratmap report</sub>",
        "",
    ]
    return "\n".join(lines)
