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

The t quantile is computed here (regularised incomplete beta by continued fraction, then
bisection) so that the results layer needs no SciPy; the tests check it against
``scipy.stats.t.ppf``.

Definitions used by the headline metrics (docs/results.md has the table):

- *exposed* customers of a period: live at step 0 plus those acquired during the period;
- churn rate: customers who churned during the period ÷ exposed customers of the period, the
  bank's 流失率 with arrivals counted in the base so that the rate stays within 0…1;
- per-customer uplift divides by each arm's exposed customers over the horizon (intention to
  treat: a control customer who churned still counts, with zero AUM).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from simulator.output import RunOutput

__all__ = [
    "HEADLINE_METRICS",
    "LEVEL",
    "SCHEMA",
    "UPLIFT_METRICS",
    "Interval",
    "build_summary",
    "headline_values",
    "interval",
    "play_values",
    "steps_in_months",
    "t_quantile",
    "top_unserved",
    "uplift_values",
]

SCHEMA = "stratmap.simulation/1"
LEVEL = 0.95
STEP_DAYS = {"day": 1, "week": 7, "month": 30}  # the bank's 30/360 calendar, as the checker

# name -> (label, unit). Units: "money" (currency units), "count", "share" (0…1), "points"
# (NPS), "ratio" (a plain quotient, such as products per customer).
HEADLINE_METRICS: dict[str, tuple[str, str]] = {
    "final_aum": ("AUM at the end of the horizon", "money"),
    "aum_growth": ("AUM growth over the horizon", "share"),
    "customers": ("live customers at the end", "count"),
    "acquired": ("customers acquired", "count"),
    "churned": ("customers churned", "count"),
    "churn_rate": ("churn rate within the horizon", "share"),
    "churn_rate_12m": ("churn rate within 12 months", "share"),
    "revenue": ("revenue", "money"),
    # Present when the strategy has a `book`:
    "book_revenue": ("of which book revenue (every balance, both arms)", "money"),
    "cost": ("cost (contacts and acquisition)", "money"),
    "net_value": ("net value (revenue - cost)", "money"),
    # Present when the book has a `lifetime`:
    "customer_value": ("value beyond the horizon of the customers live at the end", "money"),
    "net_value_beyond": ("net value including the customers' value at the end", "money"),
    "contacts": ("contacts made", "count"),
    "responses": ("responses", "count"),
    # Present when the run counts them (totals' optional columns):
    "responders": ("customer-steps with a response", "count"),
    "fee_income": ("fee income (中收)", "money"),
    "products_per_customer": ("products per customer at the end", "ratio"),
    "cross_sell_rate": ("customers holding 2+ products at the end", "share"),
    "nps": ("NPS at the end", "points"),
}
UPLIFT_METRICS: dict[str, tuple[str, str]] = {
    "aum_per_customer": ("AUM per customer at the end", "money"),
    # End minus start (增量): the arms' chance difference in starting AUM taken out.
    "aum_added_per_customer": ("AUM added per customer", "money"),
    "churn_rate": ("churn rate within the horizon", "share"),
    "revenue_per_customer": ("revenue per customer", "money"),
    # The control arm's revenue per customer scaled to the treatment arm: treatment −
    # scaled control is the revenue the plays added (incremental revenue).
    "revenue_scaled": ("revenue, control scaled to the treatment arm", "money"),
    "net_value_scaled": ("net value, control scaled to the treatment arm", "money"),
    # Present when the book has a `lifetime`:
    "net_value_beyond_scaled": (
        "net value with the value at the end, control scaled to the treatment arm",
        "money",
    ),
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


# ------------------------------------------------------------------------------ the interval


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-16:
            break
    return result


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The continued fraction converges fast on the side of the mean; use the symmetry
    # I_x(a, b) = 1 − I_{1−x}(b, a) on the other.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


@lru_cache(maxsize=64)
def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` degrees of freedom (0.5 < p < 1)."""
    if not 0.5 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0.5 < p < 1 and df > 0, got p={p}, df={df}")
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):  # bisection: slow but sure, and called once per run
        middle = 0.5 * (low + high)
        if _t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-15 * high:
            break
    return 0.5 * (low + high)


@dataclass(frozen=True)
class Interval:
    """Mean of the replication values with its 95% interval (``None`` bounds when fewer than
    two replications have a value)."""

    mean: float | None
    low: float | None
    high: float | None
    n: int  # replications with a value (a rate with no denominator has none)

    def as_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Interval:
    """Student-t interval on the mean of replication values; NaN values are left out."""
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    n = int(data.size)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = float(data.mean())
    if n == 1:
        return Interval(mean, None, None, 1)
    half = t_quantile(0.5 + level / 2.0, n - 1) * float(data.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


# ------------------------------------------------------------------------------ per replication


def steps_in_months(months: float, step_unit: str) -> int:
    """Whole steps that fit in ``months`` (30/360 calendar): 12 months = 12, 51 or 360 steps."""
    return int(months * 30 // STEP_DAYS[step_unit])


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
    twelve = steps_in_months(12, step_unit)
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
        **interval(values).as_dict(),
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
                "treatment": interval(parts["treatment"]).mean,
                "control": interval(parts["control"]).mean,
                **interval(parts["uplift"]).as_dict(),
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
