"""The report's charts: Plotly figures (plain dicts of traces and layout) from the result
tables, each with a one-line reading of what it shows.

Numbers are aggregated here (means over replications, 95% Student-t bands as in
``simulator.results.summary``) and rounded to what the eye can see, so the page stays small: money
is drawn in 万 or 亿 (``stratmap.tables.money_scale``), shares in percent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.planning.replications import LEVEL, t_critical
from stratmap.tables import money, money_scale

__all__ = ["ARM_NAMES", "Chart", "band", "colour", "exposed", "layout", "rounded"]

ARM_NAMES = {"treatment": "模型组 treatment", "control": "非模型组 control"}
_ARM_COLOURS = {"treatment": "#1f6feb", "control": "#8a94a6"}
_PALETTE = ["#1f6feb", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0c8599", "#c2255c", "#5c940d"]
_STAGE_COLOURS = {
    "prospect": "#ced4da",
    "new": "#74c0fc",
    "growing": "#38d9a9",
    "mature": "#1f6feb",
    "declining": "#ffa94d",
}


@dataclass(frozen=True)
class Chart:
    """One chart on a page: an id for the element, a title, the one-line reading, and the
    Plotly figure (``data`` and ``layout``)."""

    id: str
    title: str
    reading: str
    figure: dict[str, Any]


def rounded(values: Sequence[float] | np.ndarray, digits: int = 3) -> list[float | None]:
    """Values rounded to ``digits`` decimals; NaN becomes null (JSON has no NaN)."""
    return [
        None if not math.isfinite(v) else round(float(v), digits)
        for v in np.asarray(values, dtype=np.float64)
    ]


def step_label(step_unit: str) -> str:
    return {"month": "月 month", "week": "周 week", "day": "日 day"}.get(step_unit, step_unit)


def layout(*, x_title: str = "", y_title: str = "", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "margin": {"l": 64, "r": 16, "t": 8, "b": 48},
        "height": 320,
        "xaxis": {"title": {"text": x_title}, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "zeroline": False},
        "legend": {"orientation": "h", "y": -0.22},
        "hovermode": "x unified",
    }
    base.update(extra)
    return base


def band(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Per ``by`` (step last): the mean of ``value`` over replications and its 95% interval
    (``low``/``high``, NaN with a single replication)."""
    grouped = frame.groupby(by, observed=True)[value]
    stats = grouped.agg(["mean", "std", "count"]).reset_index()
    half = [
        t_critical(LEVEL, n - 1) * s / math.sqrt(n) if n >= 2 else math.nan
        for s, n in zip(stats["std"].fillna(0.0), stats["count"], strict=True)
    ]
    stats["low"] = stats["mean"] - half
    stats["high"] = stats["mean"] + half
    return stats


def exposed(totals: pd.DataFrame, by: list[str]) -> pd.Series:
    """Customers exposed up to each step: live at step 0 plus everyone acquired since (the
    base of the summary's churn rate and per-customer uplift), aligned with ``totals``."""
    ordered = totals.sort_values([*by, "step"])
    start = ordered.groupby(by, observed=True)["customers"].transform("first")
    arrived = ordered.groupby(by, observed=True)["acquired"].cumsum()
    return (start + arrived).reindex(totals.index)


def _fan(
    stats: pd.DataFrame, name: str, colour: str, scale: float = 1.0, digits: int = 3, **line: Any
) -> list[dict[str, Any]]:
    """A mean line with its interval as a shaded band (the band only with two or more reps)."""
    x = stats["step"].tolist()
    traces: list[dict[str, Any]] = []
    if stats["low"].notna().all():
        traces.append(
            {
                "type": "scatter",
                "x": x + x[::-1],
                "y": rounded(stats["high"] / scale, digits)
                + rounded(stats["low"][::-1] / scale, digits),
                "fill": "toself",
                "fillcolor": colour,
                "opacity": 0.18,
                "line": {"width": 0},
                "hoverinfo": "skip",
                "showlegend": False,
                "name": f"{name} 95%",
            }
        )
    traces.append(
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": rounded(stats["mean"] / scale, digits),
            "name": name,
            "line": {"color": colour, "width": 2, **line},
        }
    )
    return traces


def colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


# ------------------------------------------------------------------------------ trends


def aum_fan(totals: pd.DataFrame, groups: list[str], step_unit: str, *, key: str) -> Chart:
    """AUM per exposed customer over time, one fan per ``key`` (arm, or alternative and arm)."""
    frame = totals.copy()
    frame["per_customer"] = frame["aum"] / exposed(frame, ["rep", *groups])
    traces: list[dict[str, Any]] = []
    ends = []
    scale, unit = money_scale(float(frame["per_customer"].abs().max()))
    for index, (name, rows) in enumerate(frame.groupby(groups, observed=True, sort=False)):
        label = _label(name, groups)
        stats = band(rows, ["step"], "per_customer")
        hue = _hue(name, groups, index)
        dash = "dot" if "control" in (name if isinstance(name, tuple) else (name,)) else None
        traces += _fan(stats, label, hue, scale, **({"dash": dash} if dash else {}))
        ends.append((label, float(stats["mean"].iloc[-1])))
    reading = "At the end, AUM per customer is " + "; ".join(
        f"{money(v)} in {label}" for label, v in ends
    )
    return Chart(
        key,
        "AUM per customer 人均AUM",
        reading + " (mean over replications, band: 95% interval).",
        {
            "data": traces,
            "layout": layout(
                x_title=step_label(step_unit), y_title=f"AUM per exposed customer ({unit})"
            ),
        },
    )


def aum_total(totals: pd.DataFrame, step_unit: str) -> Chart:
    """Total AUM (both arms) over time."""
    per_rep = totals.groupby(["rep", "step"], observed=True)["aum"].sum().reset_index()
    stats = band(per_rep, ["step"], "aum")
    scale, unit = money_scale(float(stats["mean"].abs().max()))
    first, last = float(stats["mean"].iloc[0]), float(stats["mean"].iloc[-1])
    change = (last / first - 1.0) if first else math.nan
    return Chart(
        "aum-total",
        "AUM 总资产",
        f"The book's AUM goes from {money(first)} to {money(last)} "
        f"({change:+.1%}) over the horizon, arrivals included and churned customers' money gone.",
        {
            "data": _fan(stats, "AUM", colour(0), scale),
            "layout": layout(x_title=step_label(step_unit), y_title=f"AUM ({unit})"),
        },
    )


def stages(population: pd.DataFrame, step_unit: str) -> Chart:
    """Live customers by lifecycle stage, stacked."""
    live = population[population["stage"] != "churned"]
    per = live.groupby(["stage", "step", "rep"], observed=True)["customers"].sum()
    means = per.groupby(["stage", "step"], observed=True).mean().reset_index()
    traces = []
    for stage, rows in means.groupby("stage", observed=True, sort=False):
        if rows["customers"].sum() == 0:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "stackgroup": "stages",
                "name": str(stage),
                "x": rows["step"].tolist(),
                "y": rounded(rows["customers"], 0),
                "line": {"width": 0.5, "color": _STAGE_COLOURS.get(str(stage), "#adb5bd")},
            }
        )
    last = means[means["step"] == means["step"].max()]
    biggest = last.sort_values("customers", ascending=False).iloc[0]
    total = last["customers"].sum()
    return Chart(
        "stages",
        "Customers by stage 生命周期",
        f"At the end {total:,.0f} customers are live; the largest stage is "
        f"{biggest['stage']} ({biggest['customers'] / total:.0%}).",
        {
            "data": traces,
            "layout": layout(x_title=step_label(step_unit), y_title="live customers"),
        },
    )


def _wash(hex_colour: str, alpha: float = 0.4) -> str:
    """``#rrggbb`` as a translucent ``rgba(…)`` (a Sankey link in its source's colour)."""
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def stage_flows(moves: pd.DataFrame, population: pd.DataFrame) -> Chart:
    """Moves between lifecycle stages over the horizon as a Sankey per arm: stages at the start
    of a step on the left, where the movers went on the right (two columns, so that a way back,
    declining → mature, is a link rather than a loop); a link's width is the customers who made
    that move, mean over replications."""
    reps = max(int(moves["rep"].nunique()), 1)
    total = moves.groupby(["arm", "from_stage", "to_stage"], observed=True)["customers"].sum()
    total = (total / reps).reset_index()
    start = population[(population["step"] == 0) & (population["stage"] != "churned")]
    base = start.groupby("arm", observed=True)["customers"].sum() / max(start["rep"].nunique(), 1)
    arms = [str(a) for a in base.index if base[a] > 0]
    stages_ = (
        [str(s) for s in population["stage"].cat.categories]
        if hasattr(population["stage"], "cat")
        else sorted(population["stage"].astype(str).unique())
    )
    traces: list[dict[str, Any]] = []
    annotations = []
    for index, arm in enumerate(arms):
        rows = total[(total["arm"].astype(str) == arm) & (total["customers"] > 0)]
        used = [s for s in stages_ if s in set(rows["from_stage"].astype(str))]
        into = [s for s in stages_ if s in set(rows["to_stage"].astype(str))]
        node = {s: i for i, s in enumerate(used)}
        node.update({f"→{s}": len(used) + i for i, s in enumerate(into)})
        left, width = index / len(arms), 1 / len(arms)
        traces.append(
            {
                "type": "sankey",
                "name": ARM_NAMES.get(arm, arm),
                "domain": {"x": [left + 0.02, left + width - 0.02], "y": [0, 0.9]},
                "arrangement": "fixed",
                "valueformat": ",.0f",
                "node": {
                    "label": used + [f"→ {s}" for s in into],
                    "color": [_STAGE_COLOURS.get(s, "#868e96") for s in used + into],
                    "pad": 12,
                    "thickness": 14,
                },
                "link": {
                    "source": [node[str(s)] for s in rows["from_stage"]],
                    "target": [node[f"→{s}"] for s in rows["to_stage"]],
                    "value": rounded(rows["customers"], 1),
                    "color": [
                        _wash(_STAGE_COLOURS.get(str(s), "#868e96")) for s in rows["from_stage"]
                    ],
                },
            }
        )
        annotations.append(
            {
                "text": ARM_NAMES.get(arm, arm),
                "x": left + width / 2,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "showarrow": False,
                "xanchor": "center",
                "yanchor": "bottom",
            }
        )
    per_10k = total.assign(
        per_10k=total["customers"] / total["arm"].astype(str).map(base).to_numpy() * 10_000
    )
    movers = per_10k[per_10k["to_stage"].astype(str) != "churned"]
    if len(movers) and movers["customers"].sum() > 0:
        top = movers.groupby(["from_stage", "to_stage"], observed=True)["per_10k"].sum().idxmax()
        shown = movers[(movers["from_stage"] == top[0]) & (movers["to_stage"] == top[1])].set_index(
            "arm"
        )["per_10k"]
        parts = [f"{value:,.0f} in {ARM_NAMES.get(str(a), str(a))}" for a, value in shown.items()]
        reading = (
            f"The largest flow between live stages is {top[0]} → {top[1]}: per 10,000 "
            "customers at the start, " + "; ".join(parts)
        )
    else:
        reading = "No customer moved between live stages over the horizon"
    churn = per_10k[per_10k["to_stage"].astype(str) == "churned"]
    if len(churn) and churn["customers"].sum() > 0:
        worst = churn.groupby("from_stage", observed=True)["customers"].sum().idxmax()
        reading += f"; most of those who churned left from {worst}"
    return Chart(
        "stage-flows",
        "Stage-to-stage flows 生命周期流转",
        reading + ".",
        {
            "data": traces,
            "layout": {
                "margin": {"l": 16, "r": 16, "t": 28, "b": 16},
                "height": 380,
                "annotations": annotations,
            },
        },
    )


def survival(totals: pd.DataFrame, groups: list[str], step_unit: str) -> Chart:
    """Share of exposed customers still live, per arm (or alternative)."""
    frame = totals.groupby(["rep", *groups, "step"], observed=True)[["customers", "acquired"]].sum()
    frame = frame.reset_index()
    frame["survival"] = frame["customers"] / exposed(frame, ["rep", *groups])
    traces: list[dict[str, Any]] = []
    ends = []
    for index, (name, rows) in enumerate(frame.groupby(groups, observed=True, sort=False)):
        label = _label(name, groups)
        stats = band(rows, ["step"], "survival")
        hue = _hue(name, groups, index)
        traces += _fan(stats, label, hue, 0.01, 2)
        ends.append((label, float(stats["mean"].iloc[-1])))
    return Chart(
        "survival",
        "Survival 留存",
        "Still a customer at the end: "
        + "; ".join(f"{v:.1%} of {label}" for label, v in ends)
        + " (live ÷ exposed: live at the start plus arrivals).",
        {
            "data": traces,
            "layout": layout(
                x_title=step_label(step_unit), y_title="still live (%)", yaxis={"ticksuffix": "%"}
            ),
        },
    )


def tiers(
    population: pd.DataFrame, groups: list[str], step_unit: str, tier_order: list[str]
) -> Chart:
    """Each tier's share of live customers over time, one panel per tier (each with its own
    scale: a tier of 0.1% moves as visibly as one of 50%), a line per arm (or alternative)."""
    live = population[population["stage"] != "churned"]
    per = live.groupby(["rep", *groups, "step", "tier"], observed=True)["customers"].sum()
    shares = (per / per.groupby(["rep", *groups, "step"], observed=True).transform("sum")).rename(
        "share"
    )
    means = shares.groupby([*groups, "tier", "step"], observed=True).mean().reset_index()
    tiers_shown = [t for t in tier_order if t in set(means["tier"].astype(str))]
    keys = list(means[groups].drop_duplicates().itertuples(index=False, name=None))
    traces = []
    annotations = []
    panel_layout: dict[str, Any] = {}
    for panel, tier in enumerate(tiers_shown, start=1):
        suffix = "" if panel == 1 else str(panel)
        for index, key in enumerate(keys):
            mask = means["tier"].astype(str) == tier
            for group, value in zip(groups, key, strict=True):
                mask &= means[group].astype(str) == str(value)
            rows = means[mask]
            label = _label(key, groups)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": label,
                    "legendgroup": label,
                    "showlegend": panel == 1,
                    "x": rows["step"].tolist(),
                    "y": rounded(rows["share"] * 100, 3),
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                    "line": {
                        "color": _hue(key, groups, index),
                        "dash": "dot" if "control" in key else "solid",
                    },
                }
            )
        panel_layout[f"xaxis{suffix}"] = {"title": {"text": step_label(step_unit)}}
        panel_layout[f"yaxis{suffix}"] = {"ticksuffix": "%", "rangemode": "tozero"}
        annotations.append(
            {
                "text": tier,
                "xref": f"x{suffix} domain",
                "yref": f"y{suffix} domain",
                "x": 0.5,
                "y": 1.08,
                "showarrow": False,
                "font": {"size": 13},
            }
        )
    top = tier_order[-2] if len(tier_order) >= 2 else (tier_order[0] if tier_order else "")
    parts = []
    for key in keys:
        mask = means["tier"].astype(str) == top
        for group, value in zip(groups, key, strict=True):
            mask &= means[group].astype(str) == str(value)
        rows = means[mask].sort_values("step")
        if len(rows):
            start, end = rows["share"].iloc[0], rows["share"].iloc[-1]
            parts.append(f"{start:.2%} → {end:.2%} in {_label(key, groups)}")
    reading = (
        f"Share of live customers in {top}: " + "; ".join(parts) + "."
        if parts
        else "Each tier's share of live customers."
    )
    return Chart(
        "tiers",
        "Tiers 分层",
        reading,
        {
            "data": traces,
            "layout": layout(
                grid={"rows": 1, "columns": max(len(tiers_shown), 1), "pattern": "independent"},
                annotations=annotations,
                margin={"l": 48, "r": 16, "t": 32, "b": 48},
                **panel_layout,
            ),
        },
    )


def tier_moves(moves: pd.DataFrame, population: pd.DataFrame, groups: list[str]) -> Chart:
    """Customers who moved between tiers over the horizon (升层 / 降层), per 10,000 customers
    live at step 0 of each arm (or alternative): the arms differ in size, so counts alone would
    favour the larger; one bar per arm for each move that happened."""
    start = population[(population["step"] == 0) & (population["stage"] != "churned")]
    base = start.groupby([*groups], observed=True)["customers"].sum() / start["rep"].nunique()
    total = moves.groupby([*groups, "from_tier", "to_tier", "direction"], observed=True)[
        "customers"
    ].sum() / max(moves["rep"].nunique(), 1)
    total = total[total.groupby(["from_tier", "to_tier"], observed=True).transform("sum") > 0]
    rate = (total / base.reindex(total.index.droplevel([-3, -2, -1])).to_numpy() * 10_000).rename(
        "per_10k"
    )
    rows = rate.reset_index()
    rows["move"] = rows["from_tier"].astype(str) + " → " + rows["to_tier"].astype(str)
    rows = rows.sort_values(["direction", "to_tier", "from_tier"])
    order = list(dict.fromkeys(rows["move"]))
    keys = list(rows[groups].drop_duplicates().itertuples(index=False, name=None))
    traces = []
    for index, key in enumerate(keys):
        mask = np.ones(len(rows), dtype=bool)
        for group, value in zip(groups, key, strict=True):
            mask &= (rows[group].astype(str) == str(value)).to_numpy()
        mine = rows[mask].set_index("move").reindex(order)
        traces.append(
            {
                "type": "bar",
                "name": _label(key, groups),
                "x": order,
                "y": rounded(mine["per_10k"].fillna(0.0), 1),
                "marker": {"color": _hue(key, groups, index)},
            }
        )
    up = rows[rows["direction"] == "up"]
    if len(up):
        top = up.groupby("move", observed=True)["per_10k"].max().idxmax()
        parts = [
            f"{value:,.1f} in {_label(key, groups)}"
            for key, value in up[up["move"] == top].set_index(groups)["per_10k"].items()
        ]
        reading = f"The most common move up is {top}: per 10,000 customers, " + "; ".join(parts)
    else:
        reading = "No customer moved up a tier over the horizon"
    return Chart(
        "tier-moves",
        "Tier moves 升层 / 降层",
        reading + ".",
        {
            "data": traces,
            "layout": layout(
                x_title="from → to (moves up first)",
                y_title="per 10,000 customers over the horizon",
                barmode="group",
            ),
        },
    )


def _hue(key: Any, groups: list[str], index: int) -> str:
    """The arm's own colour when the chart is per arm, else the palette's."""
    values = key if isinstance(key, tuple) else (key,)
    if groups == ["arm"]:
        return _ARM_COLOURS.get(str(values[0]), colour(index))
    return colour(index)


def _label(key: Any, groups: list[str]) -> str:
    values = key if isinstance(key, tuple) else (key,)
    parts = [
        ARM_NAMES.get(str(v), str(v)) if g == "arm" else str(v)
        for g, v in zip(groups, values, strict=False)
    ]
    return " · ".join(parts)


# ------------------------------------------------------------------------------ plays, channels

FUNNEL_STEPS = [
    ("eligible", "eligible 符合条件"),
    ("contacted", "contacted 触达"),
    ("reached", "reached 接通"),
    ("responded", "responded 响应"),
]


def play_funnel(per_play: pd.DataFrame) -> Chart:
    """Per play, summed over steps and arms, mean over replications: eligible → contacted →
    reached → responded (log scale: eligible counts dwarf responses)."""
    plays = per_play["play"].tolist()
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": plays,
            "x": rounded(per_play[column], 1),
            "marker": {"color": colour(index)},
        }
        for index, (column, label) in enumerate(FUNNEL_STEPS)
    ]
    best = per_play.sort_values("responded", ascending=False).iloc[0]
    return Chart(
        "funnel",
        "Funnel per play 策略漏斗",
        f"{best['play']} brings the most responses ({best['responded']:,.0f} from "
        f"{best['contacted']:,.0f} contacts); the rest of each bar is who fell out on the way.",
        {
            "data": traces,
            "layout": layout(
                x_title="customer-steps over the horizon (log)",
                xaxis={
                    "type": "log",
                    "dtick": 1,
                    "title": {"text": "customer-steps over the horizon (log)"},
                },
                yaxis={"autorange": "reversed", "automargin": True},
                barmode="group",
                height=max(320, 60 + 56 * len(plays)),
                hovermode="y unified",
            ),
        },
    )


def suppression(suppressed: pd.DataFrame, reps: int, play_order: list[str]) -> Chart:
    """Why eligible customers were not contacted, per play and reason (stacked)."""
    sums = suppressed.groupby(["play", "reason"], observed=True)["count"].sum() / max(reps, 1)
    sums = sums.reset_index()
    traces = []
    for index, (reason, rows) in enumerate(sums.groupby("reason", observed=True, sort=False)):
        if rows["count"].sum() == 0:
            continue
        counts = rows.set_index(rows["play"].astype(str))["count"]
        counts = counts.reindex(play_order, fill_value=0)
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": str(reason),
                "y": play_order,
                "x": rounded(counts, 1),
                "marker": {"color": colour(index)},
            }
        )
    totals = sums.groupby("reason", observed=True)["count"].sum().sort_values(ascending=False)
    reading = (
        f"The main reason eligible customers go uncontacted is {totals.index[0]} "
        f"({totals.iloc[0] / totals.sum():.0%} of suppressions)."
        if len(totals) and totals.sum() > 0
        else "No eligible customer was suppressed."
    )
    return Chart(
        "suppression",
        "Suppressed, by reason 抑制原因",
        reading,
        {
            "data": traces,
            "layout": layout(
                x_title="customer-steps suppressed",
                yaxis={"autorange": "reversed", "automargin": True},
                barmode="stack",
                height=max(320, 60 + 32 * len(play_order)),
                hovermode="y unified",
            ),
        },
    )


def play_value(per_play: pd.DataFrame, currency: str) -> Chart:
    """Net value per play with its 95% interval (error bars), cost and revenue beside it."""
    scale, unit = money_scale(
        float(per_play[["net_mean", "cost_mean", "revenue_mean"]].abs().max().max())
    )
    traces = []
    for index, (column, label) in enumerate(
        [("revenue", "revenue 收入"), ("cost", "cost 成本"), ("net", "net value 净值")]
    ):
        trace: dict[str, Any] = {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": per_play["play"].tolist(),
            "x": rounded(per_play[f"{column}_mean"] / scale, 2),
            "marker": {"color": ["#2b8a3e", "#e03131", "#1f6feb"][index]},
        }
        if column == "net" and per_play["net_low"].notna().all():
            trace["error_x"] = {
                "type": "data",
                "symmetric": False,
                "array": rounded((per_play["net_high"] - per_play["net_mean"]) / scale, 2),
                "arrayminus": rounded((per_play["net_mean"] - per_play["net_low"]) / scale, 2),
            }
        traces.append(trace)
    best = per_play.sort_values("net_mean", ascending=False).iloc[0]
    worst = per_play.sort_values("net_mean").iloc[0]
    return Chart(
        "play-value",
        "Money per play 策略收益",
        f"{best['play']} earns the most ({money(best['net_mean'], signed=True)} net); "
        f"{worst['play']} the least ({money(worst['net_mean'], signed=True)}).",
        {
            "data": traces,
            "layout": layout(
                x_title=f"{currency} {unit} over the horizon",
                yaxis={"autorange": "reversed", "automargin": True},
                barmode="group",
                height=max(320, 60 + 48 * len(per_play)),
                hovermode="y unified",
            ),
        },
    )


def channel_load(
    channels: pd.DataFrame, capacities: dict[str, float | None], step_unit: str, reps: int
) -> Chart:
    """Each channel's contacts per step as a share of its capacity (100%: the channel is full),
    so a channel of 3,000 visits and one of 2 million pushes read on one scale; channels
    without a capacity are named in the reading."""
    per = channels.groupby(["channel", "step"], observed=True)["contacts"].sum() / max(reps, 1)
    per = per.reset_index()
    per = per[per["step"] >= 1]
    traces = []
    busiest = None
    unlimited = []
    steps: list[int] = sorted(per["step"].unique().tolist())
    for index, (name, rows) in enumerate(per.groupby("channel", observed=True, sort=False)):
        capacity = capacities.get(str(name))
        if not capacity:
            unlimited.append(str(name))
            continue
        use = rows["contacts"] / capacity
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": str(name),
                "x": rows["step"].tolist(),
                "y": rounded(use * 100, 2),
                "customdata": rounded(rows["contacts"], 0),
                "hovertemplate": "%{y}% of capacity (%{customdata} contacts)",
                "line": {"color": colour(index)},
            }
        )
        if busiest is None or float(use.max()) > busiest[1]:
            busiest = (str(name), float(use.max()))
    if steps:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "capacity 产能 (100%)",
                "x": [steps[0], steps[-1]],
                "y": [100, 100],
                "line": {"color": "#c92a2a", "dash": "dash", "width": 1},
                "hoverinfo": "skip",
            }
        )
    reading = (
        f"The busiest channel against its capacity is {busiest[0]}, at up to {busiest[1]:.0%} "
        "of it in a step."
        if busiest
        else "No channel declares a capacity."
    )
    if unlimited:
        reading += " Without a capacity: " + ", ".join(unlimited) + "."
    return Chart(
        "channel-load",
        "Contacts against capacity 渠道产能",
        reading,
        {
            "data": traces,
            "layout": layout(
                x_title=step_label(step_unit),
                y_title="contacts ÷ capacity (%)",
                yaxis={"ticksuffix": "%", "rangemode": "tozero"},
            ),
        },
    )


def cost_per_responder(channels: pd.DataFrame, currency: str) -> Chart:
    """Contact cost per responder, per channel, over the horizon."""
    sums = channels.groupby("channel", observed=True)[["cost", "responded"]].sum()
    sums = sums[sums["responded"] > 0]
    ratio = (sums["cost"] / sums["responded"]).sort_values()
    return Chart(
        "cost-per-responder",
        "Cost per responder 单客响应成本",
        (
            f"{ratio.index[0]} is the cheapest way to a response ({money(ratio.iloc[0])} "
            f"{currency}); {ratio.index[-1]} the dearest ({money(ratio.iloc[-1])})."
            if len(ratio)
            else "No channel had a responder."
        ),
        {
            "data": [
                {
                    "type": "bar",
                    "x": [str(c) for c in ratio.index],
                    "y": rounded(ratio, 2),
                    "marker": {"color": colour(0)},
                    "name": "cost per responder",
                }
            ],
            "layout": layout(y_title=f"{currency} per responder", hovermode="closest"),
        },
    )


# ------------------------------------------------------------------------------ comparison


def paired_differences(differences: pd.DataFrame, metric: str, label: str, currency: str) -> Chart:
    """One metric's paired difference (variant − base) per variant, with its 95% interval."""
    rows = differences[differences["metric"] == metric]
    scale, unit = money_scale(float(rows[["difference", "low", "high"]].abs().max().max() or 0))
    trace: dict[str, Any] = {
        "type": "bar",
        "x": [str(v) for v in rows["variant"]],
        "y": rounded(rows["difference"] / scale, 2),
        "marker": {"color": [colour(i + 1) for i in range(len(rows))]},
        "name": label,
    }
    if rows["low"].notna().all():
        trace["error_y"] = {
            "type": "data",
            "symmetric": False,
            "array": rounded((rows["high"] - rows["difference"]) / scale, 2),
            "arrayminus": rounded((rows["difference"] - rows["low"]) / scale, 2),
        }
    parts = []
    for row in rows.to_dict("records"):
        low, high = row.get("low"), row.get("high")
        where = (
            "clear of zero"
            if low is not None and high is not None and (low > 0 or high < 0)
            else "not clear of zero"
        )
        parts.append(f"{row['variant']} {money(row['difference'], signed=True)} ({where})")
    return Chart(
        f"difference-{metric}",
        f"{label}: variant − base 方案差异",
        "Paired difference against the base, common random numbers: " + "; ".join(parts) + ".",
        {
            "data": [trace],
            "layout": layout(y_title=f"{currency} {unit}", hovermode="closest"),
        },
    )
