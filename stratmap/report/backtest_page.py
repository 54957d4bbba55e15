"""The back-test page (回测) of the report: what the calibrated map forecast after the split date
against what the customers did, from the directory `stratmap backtest --out` writes (schema
``stratmap.backtest/1``, docs/results.md).

Charts, each with its reading: transactions per period and cumulative, actual against the
simulated book with the 95% range of a book like it (the spread over the simulated copies);
the binned table (customers by their transactions before the split: mean after it, actual,
Stratmap's per-customer forecast and the two naive baselines); then every other per-period
table the directory holds (a column ``period``), drawn the same way, so that tables added to
`backtest --out` later are drawn without a change here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stratmap.report.charts import Chart, colour, layout, rounded
from stratmap.tables import money_scale

__all__ = ["BACKTEST_TABLES", "backtest_charts", "backtest_context"]

# The tables this page reads by name; any other table with a `period` column is drawn as it is.
BACKTEST_TABLES = ("periods", "bins", "errors", "customers", "survivors", "aum")
FORECASTS = {
    "stratmap": "Stratmap",
    "carried_forward": "carried forward 延续",
    "no_change": "no change 持平",
}
_ACTUAL = "#212529"
_SPLIT = "#d9480f"


def _dates(frame: pd.DataFrame) -> list[str]:
    if "start" in frame.columns:
        return [str(pd.Timestamp(d).date()) for d in frame["start"]]
    return [str(p) for p in frame["period"]]


def _split_marker(summary: dict[str, Any]) -> dict[str, Any]:
    """A vertical line at the split, labelled: calibration on its left, forecast on its right."""
    split = str(summary.get("split", ""))
    return {
        "shapes": [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": split,
                "x1": split,
                "y0": 0,
                "y1": 1,
                "line": {"color": _SPLIT, "width": 1.5, "dash": "dash"},
            }
        ],
        "annotations": [
            {
                "x": split,
                "xref": "x",
                "y": 1,
                "yref": "paper",
                "text": "split 切分",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "top",
                "font": {"color": _SPLIT},
            }
        ],
    }


def _band(x: list[str], low: pd.Series, high: pd.Series, name: str, hue: str) -> dict[str, Any]:
    return {
        "type": "scatter",
        "x": x + x[::-1],
        "y": rounded(high, 1) + rounded(low[::-1], 1),
        "fill": "toself",
        "fillcolor": hue,
        "opacity": 0.2,
        "line": {"width": 0},
        "hoverinfo": "skip",
        "showlegend": True,
        "name": f"{name} 95%",
    }


def _lines(frame: pd.DataFrame, summary: dict[str, Any], cumulative: bool) -> Chart:
    """Actual and simulated transactions per period (or summed to each period's end)."""
    prefix = "cumulative_" if cumulative else ""
    x = _dates(frame)
    simulated = frame[f"{prefix}simulated"]
    traces: list[dict[str, Any]] = []
    low, high = f"{prefix}simulated_low", f"{prefix}simulated_high"
    has_band = low in frame.columns and high in frame.columns and frame[low].notna().all()
    if has_band:
        traces.append(_band(x, frame[low], frame[high], "Stratmap", colour(0)))
    traces.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Stratmap (simulated 模拟)",
            "x": x,
            "y": rounded(simulated, 1),
            "line": {"color": colour(0), "width": 2},
        }
    )
    traces.append(
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "actual 实际",
            "x": x,
            "y": rounded(frame[f"{prefix}actual"], 1),
            "line": {"color": _ACTUAL, "width": 1.5},
            "marker": {"size": 5},
        }
    )
    after = frame[frame["holdout"].astype(bool)]
    if cumulative:
        end = frame.iloc[-1]
        error = (
            end["cumulative_simulated"] / end["cumulative_actual"] - 1
            if end["cumulative_actual"]
            else float("nan")
        )
        reading = (
            f"To {summary.get('end')}: {end['cumulative_actual']:,.0f} transactions happened, "
            f"the simulated book made {end['cumulative_simulated']:,.0f} ({error:+.1%})"
        )
        if has_band:
            reading += (
                f"; a book like it falls in [{end[low]:,.0f}, {end[high]:,.0f}] 95% of the time"
            )
        title = "Cumulative transactions 累计交易"
    else:
        inside = (
            int(((after["actual"] >= after[low]) & (after["actual"] <= after[high])).sum())
            if has_band
            else None
        )
        reading = (
            f"After the split ({len(after)} {summary.get('period', 'period')}s): actual "
            f"{after['actual'].sum():,.0f}, simulated {after['simulated'].sum():,.0f}"
        )
        if inside is not None and len(after):
            reading += f"; {inside} of {len(after)} periods inside the simulated book's 95% range"
        title = "Transactions per period 每期交易"
    return Chart(
        "backtest-cumulative" if cumulative else "backtest-periods",
        title,
        reading + ".",
        {
            "data": traces,
            "layout": layout(
                x_title=f"period start ({summary.get('period', 'period')})",
                y_title="transactions",
                **_split_marker(summary),
            ),
        },
    )


def _bins(bins: pd.DataFrame) -> Chart:
    """Mean transactions after the split per customer, by their count before it."""
    x = [str(b) for b in bins["bin"]]
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": "actual 实际",
            "x": x,
            "y": rounded(bins["actual"], 3),
            "marker": {"color": _ACTUAL},
        }
    ]
    for index, (column, name) in enumerate(FORECASTS.items()):
        traces.append(
            {
                "type": "bar",
                "name": name,
                "x": x,
                "y": rounded(bins[column], 3),
                "marker": {"color": colour(index if index == 0 else index + 2)},
            }
        )
    gap = (bins["stratmap"] - bins["actual"]).abs()
    worst = bins.iloc[int(gap.to_numpy().argmax())] if len(bins) else None
    reading = (
        "Customers grouped by their transactions before the split; the bars are the mean after it"
    )
    if worst is not None:
        reading += (
            f". Stratmap is furthest off for the customers with {worst['bin']} before "
            f"({worst['customers']:,} customers: {worst['stratmap']:.2f} forecast, "
            f"{worst['actual']:.2f} actual)"
        )
    return Chart(
        "backtest-bins",
        "By transactions before the split 按切分前交易数分组",
        reading + ".",
        {
            "data": traces,
            "layout": layout(
                x_title="transactions before the split",
                y_title="mean transactions after the split",
                barmode="group",
                hovermode="closest",
                xaxis={"title": {"text": "transactions before the split"}, "type": "category"},
            ),
        },
    )


def _other_periods(name: str, frame: pd.DataFrame, summary: dict[str, Any]) -> Chart | None:
    """A per-period table this page does not know by name: each numeric column a line, a
    column ``X_low`` / ``X_high`` pair the band of ``X``."""
    numeric = [
        c
        for c in frame.columns
        if c != "period" and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool
    ]
    bounds = {c for c in numeric if c.endswith(("_low", "_high"))}
    drawn = [c for c in numeric if c not in bounds]
    if not drawn:
        return None
    frame = frame.sort_values("period")
    x = _dates(frame)
    traces: list[dict[str, Any]] = []
    for index, column in enumerate(drawn):
        hue = _ACTUAL if column.startswith("actual") else colour(index)
        if f"{column}_low" in bounds and f"{column}_high" in bounds:
            traces.append(_band(x, frame[f"{column}_low"], frame[f"{column}_high"], column, hue))
        line = {"color": hue}
        y = rounded(frame[column], 3)
        traces.append(
            {"type": "scatter", "mode": "lines", "name": column, "x": x, "y": y, "line": line}
        )
    return Chart(
        f"backtest-{name}",
        f"{name} per period",
        f"Per period from `{name}.parquet`: " + ", ".join(drawn) + ".",
        {"data": traces, "layout": layout(x_title="period start", **_split_marker(summary))},
    )


def _tracked(
    key: str,
    title: str,
    x: list[str],
    actual: pd.Series,
    forecast: pd.Series,
    low: pd.Series,
    high: pd.Series,
    summary: dict[str, Any],
    y_title: str,
    reading: str,
    digits: int = 1,
) -> Chart:
    """Actual against a forecast with its 95% interval, the split marked."""
    traces: list[dict[str, Any]] = []
    if low.notna().any():
        keep = low.notna().to_numpy()
        shown = [v for v, k in zip(x, keep, strict=True) if k]
        traces.append(_band(shown, low[keep], high[keep], "Stratmap", colour(0)))
    line = {"color": colour(0), "width": 2}
    traces.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Stratmap",
            "x": x,
            "y": rounded(forecast, digits),
            "line": line,
        }
    )
    traces.append(
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "actual 实际",
            "x": x,
            "y": rounded(actual, digits),
            "line": {"color": _ACTUAL, "width": 1.5},
            "marker": {"size": 5},
        }
    )
    return Chart(
        key,
        title,
        reading + ".",
        {"data": traces, "layout": layout(y_title=y_title, **_split_marker(summary))},
    )


def _survivors(frame: pd.DataFrame, summary: dict[str, Any]) -> list[Chart]:
    """Customers still open per period, and closures per period: actual against the
    simulated books (survivors.parquet, written where the customers table records closures)."""
    frame = frame.sort_values("period")
    x = _dates(frame)
    after = frame[frame["holdout"].astype(bool)]
    inside = int(after["inside"].astype(bool).sum()) if "inside" in after else 0
    last = frame.iloc[-1]
    found = [
        _tracked(
            "backtest-survivors",
            "Customers still open 存量客户",
            x,
            frame["actual"],
            frame["simulated"],
            frame["simulated_low"],
            frame["simulated_high"],
            summary,
            "customers open at the period's end",
            f"At the end {last['actual']:,.0f} customers are open, the simulated books "
            f"{last['simulated']:,.0f} [{last['simulated_low']:,.0f}, "
            f"{last['simulated_high']:,.0f}]; {inside} of {len(after)} periods after the split "
            "inside the interval",
            0,
        )
    ]
    if {"churned_actual", "churned_simulated"} <= set(frame.columns):
        empty = pd.Series([np.nan] * len(frame), index=frame.index)
        found.append(
            _tracked(
                "backtest-churn",
                "Closures per period 流失",
                x,
                frame["churned_actual"],
                frame["churned_simulated"],
                empty,
                empty,
                summary,
                "customers who closed in the period",
                f"After the split {after['churned_actual'].sum():,.0f} customers closed, the "
                f"simulated books {after['churned_simulated'].sum():,.0f}",
            )
        )
    return found


def _aum(frame: pd.DataFrame, summary: dict[str, Any]) -> Chart:
    """Month-end AUM of the book: actual against the forecast after the split (aum.parquet,
    written with --balances)."""
    frame = frame.sort_values("month")
    scale, unit = money_scale(float(frame["actual"].abs().max() or 0.0))
    x = [str(pd.Timestamp(m).date()) for m in frame["month"]]
    after = frame[frame["holdout"].astype(bool)]
    inside = int(after["inside"].astype(bool).sum()) if len(after) else 0
    return _tracked(
        "backtest-aum",
        "AUM at month end 资产规模",
        x,
        frame["actual"] / scale,
        frame["forecast"] / scale,
        frame["forecast_low"] / scale,
        frame["forecast_high"] / scale,
        summary,
        f"AUM ({unit or 'currency'})",
        f"After the split {inside} of {len(after)} months' AUM inside the forecast's 95% interval",
        2,
    )


def backtest_charts(summary: dict[str, Any], tables: dict[str, pd.DataFrame]) -> list[Chart]:
    periods = tables["periods"].sort_values("period")
    found = [
        _lines(periods, summary, cumulative=False),
        _lines(periods, summary, cumulative=True),
        _bins(tables["bins"]),
    ]
    if "survivors" in tables and len(tables["survivors"]):
        found += _survivors(tables["survivors"], summary)
    if "aum" in tables and len(tables["aum"]):
        found.append(_aum(tables["aum"], summary))
    for name, frame in tables.items():
        if name not in BACKTEST_TABLES and "period" in frame.columns:
            chart = _other_periods(name, frame, summary)
            if chart is not None:
                found.append(chart)
    return found


def _share(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:+.1%}"


def backtest_context(summary: dict[str, Any], tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    holdout, cumulative = summary.get("holdout") or {}, summary.get("cumulative") or {}
    fit = (summary.get("fit") or {}).get("params") or {}
    cards = [
        {"label": "customers 客户", "value": f"{summary.get('customers', 0):,}", "note": ""},
        {
            "label": "after the split: actual 实际",
            "value": f"{holdout.get('actual', 0):,}",
            "note": f"{summary.get('holdout_days')} days to {summary.get('end')}",
        },
        {
            "label": "Stratmap's forecast 预测",
            "value": f"{holdout.get('stratmap', 0):,.0f}",
            "note": f"error {_share(holdout.get('error'))}",
        },
        {
            "label": "cumulative, simulated 累计",
            "value": f"{cumulative.get('simulated', 0):,.0f}",
            "note": f"actual {cumulative.get('actual', 0):,.0f}, "
            f"error {_share(cumulative.get('error'))}",
        },
    ]
    errors = [
        {
            "forecast": FORECASTS.get(str(row["forecast"]), str(row["forecast"])),
            "total": f"{row['holdout_total']:,.0f}",
            "error": _share(row["holdout_error"]),
            "rmse": f"{row['rmse']:.3f}",
            "mae": f"{row['mae']:.3f}",
            "best": False,
        }
        for row in tables["errors"].to_dict("records")
    ]
    if errors:
        best = int(tables["errors"]["mae"].to_numpy().argmin())
        errors[best]["best"] = True
    bins = [
        {
            "bin": str(row["bin"]),
            "customers": f"{row['customers']:,}",
            **{key: f"{row[key]:.2f}" for key in ("actual", *FORECASTS)},
        }
        for row in tables["bins"].to_dict("records")
    ]
    return {
        "cards": cards,
        "errors": errors,
        "bins": bins,
        "fit": [
            {"name": name, "value": f"{entry.get('value', float('nan')):.4g}"}
            for name, entry in fit.items()
            if isinstance(entry, dict)
        ],
    }
