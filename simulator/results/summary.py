"""Headline numbers of a run with a 95% interval across replications, and the JSON summary.

Method. Each replication is an independent run of the same strategy on a fresh synthetic
population (its own key), so each replication's value of a metric (final AUM, churn rate, …)
is one independent draw. Across R replications the summary gives

    mean  x̄ = Σ xᵢ / R
    95% interval  x̄ ± t(0.975, R − 1) · s / √R,   s² = Σ (xᵢ − x̄)² / (R − 1)

the Student-t interval for the mean of the replication values. It is exact when the values are
normal and close to it otherwise, because each value is itself a sum over many customers. With
R = 1 there is no spread to measure: the mean is that run's value and the interval is absent
(``None``), never a made-up zero width. Uplift (treatment − control) is computed within each
replication, where both arms share the population and the random numbers, then summarised the
same way: a paired interval.

The interval is ``simulator.planning.replications.replication_interval``, the one the
comparison, the plan and the expectations use too.

Definitions used by the headline metrics (docs/results.md has the table):

- *exposed* customers of a period: live at step 0 plus those acquired during the period;
- churn rate: customers who churned during the period ÷ exposed customers of the period, the
  bank's 流失率 with arrivals counted in the base so that the rate stays within 0…1;
- per-customer uplift divides by each arm's exposed customers over the horizon (intention to
  treat: a control customer who churned still counts, with zero AUM).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from simulator.output import RunOutput
from simulator.planning.replications import LEVEL, replication_interval
from strategy_dsl import metrics
from strategy_dsl.calendar import months_to_steps, step_days

__all__ = [
    "HEADLINE_METRICS",
    "SCHEMA",
    "UPLIFT_METRICS",
    "build_summary",
    "headline_values",
    "play_values",
    "top_unserved",
    "uplift_values",
]

SCHEMA = "stratmap.simulation/1"

# name -> (label, unit), from the metric registry (strategy_dsl.metrics, which has the units),
# in the order the summary shows them. Present only when the strategy has a `book`:
# book_revenue; a `lifetime`: customer_value, net_value_beyond; when the run counts them (the
# totals' optional columns): responders, fee_income, products_per_customer, cross_sell_rate.
HEADLINE_METRICS: dict[str, tuple[str, str]] = {
    name: (metrics.metric(name).label, metrics.metric(name).unit)
    for name in (
        "final_aum",
        "aum_growth",
        "customers",
        "acquired",
        "churned",
        "churn_rate",
        "churn_rate_12m",
        "upgraded",
        "downgraded",
        "revenue",
        "book_revenue",
        "cost",
        "net_value",
        "customer_value",
        "net_value_beyond",
        "contacts",
        "responses",
        "responders",
        "complaints",
        "opt_outs",
        "fee_income",
        "products_per_customer",
        "cross_sell_rate",
        "nps",
    )
}
# Treatment − control per exposed customer of each arm; end minus start (增量) for the AUM
# added, and the scaled forms (control scaled to the treatment arm) for the incremental value.
UPLIFT_METRICS: dict[str, tuple[str, str]] = {
    name: (metrics.form(name).label, metrics.form(name).unit)
    for name in (
        "aum_per_customer",
        "aum_added_per_customer",
        "churn_rate",
        "upgraded_per_customer",
        "revenue_per_customer",
        "revenue_scaled",
        "net_value_scaled",
        "net_value_beyond_scaled",
    )
}
PLAY_MEASURES: dict[str, tuple[str, str]] = {
    "contacted": ("contacted", "count"),
    "reached": ("reached", "count"),
    "responded": ("responded", "count"),
    "response_rate": ("responded / contacted", "share"),
    "cost": ("contact cost", "money"),
    "revenue": ("revenue", "money"),
    "net": ("revenue - cost", "money"),
    "inflow": ("AUM brought in", "money"),
}


# ------------------------------------------------------------------------------ per replication


def _per_rep(frame: pd.DataFrame, column: str, reps: int) -> np.ndarray:
    """``column`` summed per replication, as a float array of length ``reps``."""
    sums = frame.groupby("rep", observed=True)[column].sum()
    return sums.reindex(range(reps), fill_value=0).to_numpy(dtype=np.float64)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def _churn_rate(totals: pd.DataFrame, last_step: int, reps: int) -> np.ndarray:
    start = _per_rep(totals[totals["step"] == 0], "customers", reps)
    period = totals[(totals["step"] >= 1) & (totals["step"] <= last_step)]
    churned = _per_rep(period, "churned", reps)
    acquired = _per_rep(period, "acquired", reps)
    return _ratio(churned, start + acquired)


def _tier_moves(
    tables: Mapping[str, pd.DataFrame], reps: int, arm: str | None
) -> dict[str, np.ndarray]:
    """Moves up and down a tier (升层 / 降层) over the horizon per replication, of one arm or
    both; none for results without the table (written before moves were counted)."""
    moves = tables.get("tier_moves")
    if moves is None:
        return {}
    if arm is not None:
        moves = moves[moves["arm"] == arm]
    return {
        f"{direction}graded": _per_rep(moves[moves["direction"] == direction], "customers", reps)
        for direction in ("up", "down")
    }


def headline_values(
    tables: Mapping[str, pd.DataFrame], *, reps: int, steps: int, step_unit: str
) -> dict[str, np.ndarray]:
    """Each headline metric's value in every replication (arms pooled), from the tidy tables.
    ``churn_rate_12m`` is present only when the horizon covers 12 months; ``responders``,
    ``fee_income``, ``products_per_customer`` and ``cross_sell_rate`` only when the run counted
    them."""
    totals, funnel = tables["totals"], tables["funnel"]
    first = totals[totals["step"] == 0]
    last = totals[totals["step"] == steps]
    aum_start = _per_rep(first, "aum", reps)
    final_aum = _per_rep(last, "aum", reps)
    customers = _per_rep(last, "customers", reps)
    values = {
        "final_aum": final_aum,
        "aum_growth": _ratio(final_aum, aum_start) - 1.0,
        "customers": customers,
        "acquired": _per_rep(totals[totals["step"] >= 1], "acquired", reps),
        "churned": _per_rep(totals[totals["step"] >= 1], "churned", reps),
        "churn_rate": _churn_rate(totals, steps, reps),
    }
    values.update(_tier_moves(tables, reps, None))
    twelve = months_to_steps(12, step_days(step_unit))
    if steps >= twelve:
        values["churn_rate_12m"] = _churn_rate(totals, twelve, reps)
    values["revenue"] = _per_rep(totals, "revenue", reps)
    if "book_revenue" in totals and (totals["book_revenue"] != 0).any():
        values["book_revenue"] = _per_rep(totals, "book_revenue", reps)
    values["cost"] = _per_rep(totals, "cost", reps)
    values["net_value"] = _per_rep(totals, "net_value", reps)
    if "customer_value" in totals:
        values["customer_value"] = _per_rep(last, "customer_value", reps)
        values["net_value_beyond"] = values["net_value"] + values["customer_value"]
    values["contacts"] = _per_rep(funnel, "contacted", reps)
    values["responses"] = _per_rep(funnel, "responded", reps)
    if "responders" in totals:
        values["responders"] = _per_rep(totals, "responders", reps)
    channels = tables.get("channels")
    over = ("complaints", "opt_outs")
    counted = channels is not None and all(n in channels for n in over)
    if counted and (channels[list(over)] != 0).any(axis=None):  # both, when there was either
        for name in over:
            values[name] = _per_rep(channels, name, reps)
    if "fee_income" in totals:
        values["fee_income"] = _per_rep(totals, "fee_income", reps)
    if "products_held" in totals:
        values["products_per_customer"] = _ratio(_per_rep(last, "products_held", reps), customers)
    if "cross_sold" in totals:
        values["cross_sell_rate"] = _ratio(_per_rep(last, "cross_sold", reps), customers)
    promoters = _per_rep(last, "promoters", reps)
    detractors = _per_rep(last, "detractors", reps)
    values["nps"] = 100.0 * _ratio(promoters - detractors, customers)
    # In HEADLINE_METRICS order, whatever order they were computed in.
    return {name: values[name] for name in HEADLINE_METRICS if name in values}


def uplift_values(
    tables: Mapping[str, pd.DataFrame], *, reps: int, steps: int
) -> dict[str, dict[str, np.ndarray]] | None:
    """Per-customer metrics of each arm and their difference (treatment − control), per
    replication; ``None`` when the run has no control group (no control customer in any
    replication)."""
    totals = tables["totals"]
    arms: dict[str, dict[str, np.ndarray]] = {}
    for arm in ("treatment", "control"):
        rows = totals[totals["arm"] == arm]
        exposed = _per_rep(rows[rows["step"] == 0], "customers", reps) + _per_rep(
            rows[rows["step"] >= 1], "acquired", reps
        )
        if arm == "control" and not (exposed > 0).any():
            return None
        arms[arm] = {
            "aum_per_customer": _ratio(_per_rep(rows[rows["step"] == steps], "aum", reps), exposed),
            "aum_added_per_customer": _ratio(
                _per_rep(rows[rows["step"] == steps], "aum", reps)
                - _per_rep(rows[rows["step"] == 0], "aum", reps),
                exposed,
            ),
            "churn_rate": _ratio(_per_rep(rows[rows["step"] >= 1], "churned", reps), exposed),
            "revenue_per_customer": _ratio(_per_rep(rows, "revenue", reps), exposed),
        }
        if "tier_moves" in tables:
            up = _tier_moves(tables, reps, arm)["upgraded"]
            arms[arm]["upgraded_per_customer"] = _ratio(up, exposed)
        arms[arm]["exposed"] = exposed
        arms[arm]["net_value_per_customer"] = _ratio(_per_rep(rows, "net_value", reps), exposed)
        if "customer_value" in totals:
            value = _per_rep(rows[rows["step"] == steps], "customer_value", reps)
            arms[arm]["beyond_per_customer"] = _ratio(value, exposed)
    treated = arms["treatment"]["exposed"]
    for parts in arms.values():
        parts["revenue_scaled"] = parts["revenue_per_customer"] * treated
        parts["net_value_scaled"] = parts["net_value_per_customer"] * treated
        if "beyond_per_customer" in parts:
            beyond = parts["net_value_per_customer"] + parts["beyond_per_customer"]
            parts["net_value_beyond_scaled"] = beyond * treated
    return {
        name: {
            "treatment": arms["treatment"][name],
            "control": arms["control"][name],
            "uplift": arms["treatment"][name] - arms["control"][name],
        }
        for name in UPLIFT_METRICS
        if name in arms["treatment"]
    }


def play_values(tables: Mapping[str, pd.DataFrame], *, reps: int) -> pd.DataFrame:
    """Per play and replication, summed over steps and arms: the funnel and the money
    (columns ``PLAY_MEASURES``), in declaration order of the plays."""
    funnel = tables["funnel"]
    sums = funnel.groupby(["play", "rep"], observed=False)[
        ["contacted", "reached", "responded", "cost", "revenue", "inflow"]
    ].sum()
    sums = sums.reset_index()
    sums = sums[sums["rep"].isin(range(reps))]
    sums["response_rate"] = _ratio(
        sums["responded"].to_numpy(np.float64), sums["contacted"].to_numpy(np.float64)
    )
    sums["net"] = sums["revenue"] - sums["cost"]
    meta = funnel.drop_duplicates("play")[["play", "kind", "channel"]]
    return sums.merge(meta, on="play", how="left")


def top_unserved(
    tables: Mapping[str, pd.DataFrame], *, count: int = 10, arm: str = "treatment"
) -> pd.DataFrame:
    """The segment × tier × kind cells with the most unserved customers, as the mean number of
    customers per simulated step (steps ≥ 1, averaged over replications too), in ``arm``
    (treatment by default: control customers are left alone by design). Empty cells are left
    out."""
    unserved = tables["unserved"]
    rows = unserved[(unserved["arm"] == arm) & (unserved["step"] >= 1)]
    if rows.empty:
        return pd.DataFrame(columns=["segment", "tier", "kind", "customers_per_step"])
    cells = rows.groupby(["segment", "tier", "kind"], observed=True)["customers"].mean()
    cells = cells[cells > 0].sort_values(ascending=False, kind="stable").head(count)
    return cells.rename("customers_per_step").reset_index()


# ------------------------------------------------------------------------------ the summary


def _clean(value: Any) -> Any:
    """JSON-ready: NumPy scalars to Python numbers, NaN and infinities to ``None``."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def _notes(out: RunOutput) -> list[object]:
    notes = getattr(out, "notes", None)
    if notes is None:
        notes = out.extra.get("notes", [])
    return list(notes)  # type: ignore[call-overload]


def _metric(meta: tuple[str, str], values: np.ndarray) -> dict[str, Any]:
    label, unit = meta
    return {
        "label": label,
        "unit": unit,
        **replication_interval(values).as_dict(),
        "values": values,
    }


def build_summary(
    out: RunOutput,
    tables: Mapping[str, pd.DataFrame],
    *,
    threads: int,
    shards: int = 1,
    timings: Mapping[str, float] | None = None,
    currency: str = "CNY",
    strategy_file: str | None = None,
    unserved_top: int = 10,
) -> dict[str, Any]:
    """The JSON summary of a run (schema ``stratmap.simulation/1``, docs/results.md): what was
    run, so that any number can be reproduced, and the headline metrics, uplift and per-play
    results with their intervals. Numbers come from ``tables``, so the summary and the Parquet
    tables agree."""
    reps = len(out.replication_seeds)
    headline = headline_values(tables, reps=reps, steps=out.steps, step_unit=out.step_unit)
    uplift = uplift_values(tables, reps=reps, steps=out.steps)
    plays = play_values(tables, reps=reps)
    play_rows = []
    for play, rows in plays.groupby("play", observed=False, sort=False):
        rows = rows.sort_values("rep")
        entry: dict[str, Any] = {
            "play": str(play),
            "kind": str(rows["kind"].iloc[0]),
            "channel": str(rows["channel"].iloc[0]),
        }
        for measure, meta in PLAY_MEASURES.items():
            entry[measure] = _metric(meta, rows[measure].to_numpy(np.float64))
        play_rows.append(entry)
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "tool_version": out.tool_version,
        "strategy": {"name": out.strategy_name, "hash": out.strategy_hash, "file": strategy_file},
        "run": {
            "seed": int(out.seed),
            "replication_seeds": [int(seed) for seed in np.asarray(out.replication_seeds)],
            "customers": int(out.customers_initial),
            "steps": int(out.steps),
            "step_unit": out.step_unit,
            "reps": reps,
            "threads": int(threads),
            "shards": int(shards),
            "currency": currency,
        },
        "timings": dict(timings or {}),
        "interval": {
            "method": "student_t",
            "level": LEVEL,
            "over": "replications",
            "note": (
                "mean ± t(0.975, R−1)·s/√R over the R replication values"
                if reps >= 2
                else "one replication: no interval (run two or more replications for one)"
            ),
        },
        "metrics": {
            name: _metric(HEADLINE_METRICS[name], values) for name, values in headline.items()
        },
        "uplift": None
        if uplift is None
        else {
            name: {
                "label": UPLIFT_METRICS[name][0],
                "unit": UPLIFT_METRICS[name][1],
                "treatment": replication_interval(parts["treatment"]).mean,
                "control": replication_interval(parts["control"]).mean,
                **replication_interval(parts["uplift"]).as_dict(),
                "values": parts["uplift"],
            }
            for name, parts in uplift.items()
        },
        "plays": play_rows,
        # What the simulator had to approximate (e.g. an attribute it derives itself).
        "notes": [str(note) for note in _notes(out)],
        "unserved_top": top_unserved(tables, count=unserved_top).to_dict(orient="records"),
    }
    return _clean(summary)
