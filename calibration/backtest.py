"""The back-test (`stratmap backtest`, docs/calibration.md): calibrate on the data before a split
date, forecast what comes after it, and compare with what happened.

The model is the customer the simulator runs for a map with `churned ~ beta(a, b)` and
`txn_per_month ~ gamma(...)` at `step day`: each day alive, Poisson(λ) transactions, then churn
with chance θ; λ ~ Gamma(r, α) and θ ~ Beta(a, b) fixed per customer. Churn is not observed
(the transactions table says when a customer bought, not when they left), so the four numbers
are fitted jointly on each customer's transactions before the split
(``fits.fit_latent_churn_nbd``). Then:

* **per period** and **cumulative**: the calibrated map is simulated (the kernels), every
  customer from the day they opened to the end date, ``copies`` simulated customers for each
  real one (Monte Carlo error down by √copies), and its transactions per period are set beside
  the actual ones, with the 95% range of a simulated book's (the spread over the copies);
* **per customer**: each customer's expected transactions after the split given their own
  history — the posterior chance of being alive, the posterior mean rate (Gamma(r + x, α + T))
  and the posterior survival (Beta(a, b + T)) — against what they did, with RMSE and MAE, and
  binned by the count before the split (0 … 7+);
* two naive baselines: each customer's rate before the split carried forward (x / T per day),
  and no change (the count of the same number of days just before the split).

A transaction on the day a customer opened is the opening itself, not counted; customers who
opened after the split have no history and are left out.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calibration.book import transactions_before_opening
from calibration.fits import Fit, fit_latent_churn_nbd, latent_churn_nbd_forecast
from strategy_dsl.version import __version__

__all__ = ["SCHEMA", "Histories", "backtest", "histories", "simulate_transactions"]

SCHEMA = "stratmap.backtest/1"  # the report's and summary.json's: `stratmap report` reads it

BINS = 8  # calibration-period counts 0 … 6 and 7+
PERIOD_DAYS = {"day": 1, "week": 7, "month": 30}


@dataclass(frozen=True)
class Histories:
    """Per customer (days since opening): transactions before the split ``x``, the day of the
    last one ``t_x`` (0: none), days observed ``T``; after it ``actual``; the count of the last
    ``holdout_days`` before the split ``recent``."""

    ids: np.ndarray
    opened: pd.DatetimeIndex
    x: np.ndarray
    t_x: np.ndarray
    big_t: np.ndarray
    actual: np.ndarray
    recent: np.ndarray
    holdout_days: int
    events: pd.DataFrame  # customer_id, date, day: every counted transaction up to the end


def histories(
    customers: pd.DataFrame,
    transactions: pd.DataFrame,
    split: pd.Timestamp,
    end: pd.Timestamp,
    merge_same_day: bool = False,
) -> Histories:
    """The customers opened by the split and their transactions, per customer. Raises
    ValueError (a message for the user) for data the back-test cannot use."""
    if end <= split:
        raise ValueError(f"the end date {end.date()} is not after the split {split.date()}")
    book = customers[customers["opened"] <= split]
    if book.empty:
        raise ValueError(f"no customer opened on or before the split {split.date()}")
    opened = book.set_index("customer_id")["opened"]
    unknown = ~transactions["customer_id"].isin(customers["customer_id"])
    if unknown.any():
        ids = ", ".join(map(repr, transactions.loc[unknown, "customer_id"].unique()[:5]))
        raise ValueError(
            f"transactions: column customer_id: {int(unknown.sum())} rows name customers the "
            f"customers table does not have (first: {ids})"
        )
    events = transactions.loc[
        transactions["customer_id"].isin(opened.index), ["customer_id", "date"]
    ]
    events = events[events["date"] <= end]
    if merge_same_day:
        events = events.drop_duplicates(["customer_id", "date"])
    events = events.assign(day=(events["date"] - events["customer_id"].map(opened)).dt.days)
    early = events["day"] < 0
    if early.any():
        raise transactions_before_opening(events[early])
    events = events[events["day"] > 0]  # the opening day's transaction is the opening
    before = events[events["date"] <= split]
    after = events[events["date"] > split]
    holdout_days = int((end - split).days)
    recent = before[before["date"] > split - pd.Timedelta(days=holdout_days)]
    index = opened.index

    def per_customer(frame: pd.DataFrame, how: str = "size") -> np.ndarray:
        grouped = frame.groupby("customer_id", sort=False)
        values = grouped.size() if how == "size" else grouped["day"].max()
        return values.reindex(index, fill_value=0).to_numpy(float)

    return Histories(
        ids=index.to_numpy(),
        opened=pd.DatetimeIndex(opened.to_numpy()),
        x=per_customer(before),
        t_x=per_customer(before, "last"),
        big_t=((split - opened).dt.days).to_numpy(float),
        actual=per_customer(after),
        recent=per_customer(recent),
        holdout_days=holdout_days,
        events=events,
    )


def _number(value: float) -> str:
    """A positive number as the language writes it (no exponent)."""
    return f"{value:.12f}".rstrip("0").rstrip(".")


def calibrated_map(params: dict[str, float], customers: int, days: int, seed: int) -> str:
    """The calibrated map the back-test simulates: one cohort of new customers at `step day`."""
    r, alpha, a, b = (params[n] for n in ("r", "alpha", "a", "b"))
    return f"""\
strategy "回测" {{
  horizon {days} days
  step day
  seed {seed}
}}

population 回测客户 {{
  size          {customers}
  stage         ~ categorical(new 100%)
  txn_per_month ~ gamma(shape {_number(r)}, mean {_number(r / alpha * 30)})
}}

lifecycle {{
  new -> churned ~ beta({_number(a)}, {_number(b)})
}}

segment 近三月有交易 = txn_3m >= 1  # keeps each day's transactions in the state for counting
"""


def simulate_transactions(
    params: dict[str, float], start_days: np.ndarray, days: int, copies: int, seed: int
) -> np.ndarray:
    """Transactions per calendar day 0 … days of the calibrated map simulated for customers
    opening on days ``start_days``: ``copies`` simulated customers for each, each followed from
    its opening day to day ``days``. One row per copy, (copies, days + 1): copy c is the
    simulated customers c·n … c·n + n − 1 (n real ones), a whole simulated book of its own, so
    the spread of the rows is how much a book like this one varies by chance."""
    from simulator.engine.run import simulate
    from strategy_dsl.checker import check_paths

    n = start_days.size * copies
    horizon = int(days - start_days.min())
    text = calibrated_map(params, n, max(horizon, 1), seed)
    with tempfile.TemporaryDirectory(prefix="stratmap-backtest-") as scratch:
        path = Path(scratch) / "backtest.strat"
        path.write_text(text, encoding="utf-8")
        report = check_paths([path])
        problems = [d.message for d in report.diagnostics if d.is_error]
        if problems:  # our own map: anything else is a bug, not bad data
            raise RuntimeError(f"the calibrated back-test map does not check: {problems[0]}")
        (model,) = report.models.values()
    per_day = np.zeros(copies * (days + 1))

    def observe(rep: int, t: int, states: list) -> None:
        if t == 0:
            return
        for st in states:
            twin = st.cid % start_days.size  # simulated customer → the real one it stands for
            copy = st.cid // start_days.size
            day = start_days[twin] + t
            # Alive during step t: alive now, or churned at its end (a churned customer's ring
            # slot keeps the count of 90 steps ago).
            during = (st.alive == 1) | (st.stage_since == t)
            kept = (day <= days) & during
            counts = st.txn_ring[:, t % st.txn_ring.shape[1]]
            cell = copy[kept] * (days + 1) + day[kept]
            per_day[:] += np.bincount(cell, weights=counts[kept], minlength=per_day.size)

    simulate(model, reps=1, seed=seed, observe=observe)
    return per_day.reshape(copies, days + 1)


def _finite(value: Any) -> Any:
    """JSON has no infinity: an open-ended interval's bound (the data cannot bound it) is null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _errors(name: str, forecast: np.ndarray, actual: np.ndarray) -> dict[str, Any]:
    error = forecast - actual
    total = float(forecast.sum())
    return {
        "forecast": name,
        "holdout_total": total,
        "holdout_error": total / float(actual.sum()) - 1 if actual.sum() else None,
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
    }


def backtest(
    h: Histories,
    split: pd.Timestamp,
    end: pd.Timestamp,
    period: str = "week",
    copies: int = 20,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The report (JSON-ready) and its tables: periods, bins, errors, customers."""
    fit: Fit = fit_latent_churn_nbd(h.x, h.t_x, h.big_t)
    params = {name: est.value for name, est in fit.params.items()}
    forecast = latent_churn_nbd_forecast(params, h.x, h.t_x, h.big_t, h.holdout_days)
    stratmap = forecast["expected"]
    carried = np.divide(h.x, h.big_t, out=np.zeros_like(h.x), where=h.big_t > 0) * h.holdout_days
    customers = pd.DataFrame(
        {
            "customer_id": h.ids,
            "opened": h.opened,
            "transactions_before": h.x.astype(np.int64),
            "last_day": h.t_x.astype(np.int64),
            "days_observed": h.big_t.astype(np.int64),
            "actual": h.actual.astype(np.int64),
            "stratmap": stratmap,
            "p_alive": forecast["p_alive"],
            "carried_forward": carried,
            "no_change": h.recent,
        }
    )
    errors = pd.DataFrame(
        [
            _errors("stratmap", stratmap, h.actual),
            _errors("carried_forward", carried, h.actual),
            _errors("no_change", h.recent, h.actual),
        ]
    )
    bins = (
        customers.assign(bin=np.minimum(h.x, BINS - 1).astype(int))
        .groupby("bin")
        .agg(
            customers=("actual", "size"),
            actual=("actual", "mean"),
            stratmap=("stratmap", "mean"),
            carried_forward=("carried_forward", "mean"),
            no_change=("no_change", "mean"),
        )
        .reset_index()
    )
    bins["bin"] = [str(b) if b < BINS - 1 else f"{BINS - 1}+" for b in bins["bin"]]
    periods = _periods(h, params, split, end, period, copies, seed)
    total_actual = float(h.x.sum() + h.actual.sum())
    total_simulated = float(periods["simulated"].sum())
    report = {
        "schema": SCHEMA,
        "tool_version": __version__,
        "split": str(split.date()),
        "end": str(end.date()),
        "customers": int(h.ids.size),
        "transactions_before": int(h.x.sum()),
        "holdout_days": h.holdout_days,
        "period": period,
        "simulated_copies": copies,
        "seed": seed,
        "fit": _finite(fit.to_json()),
        "holdout": {
            "actual": int(h.actual.sum()),
            "stratmap": float(stratmap.sum()),
            "error": float(stratmap.sum() / h.actual.sum() - 1) if h.actual.sum() else None,
            "simulated": float(periods.loc[periods["holdout"], "simulated"].sum()),
        },
        "cumulative": {
            "actual": total_actual,
            "simulated": total_simulated,
            "error": total_simulated / total_actual - 1 if total_actual else None,
        },
        "errors": errors.to_dict("records"),
        "bins": bins.to_dict("records"),
    }
    return report, {"periods": periods, "bins": bins, "errors": errors, "customers": customers}


def _periods(
    h: Histories,
    params: dict[str, float],
    split: pd.Timestamp,
    end: pd.Timestamp,
    period: str,
    copies: int,
    seed: int,
) -> pd.DataFrame:
    """Actual and simulated transactions per period from the first opening to the end date."""
    first = h.opened.min()
    days = int((end - first).days)
    start_days = np.asarray((h.opened - first).days, dtype=np.int64)
    by_copy = simulate_transactions(params, start_days, days, copies, seed)
    actual = np.bincount((h.events["date"] - first).dt.days, minlength=days + 1)[: days + 1]
    width = PERIOD_DAYS[period]
    index = np.arange(days + 1) // width + 1  # period k: days (k-1)·width … k·width − 1
    frame = (
        pd.DataFrame(
            {"period": index, "actual": actual.astype(float), "simulated": by_copy.mean(axis=0)}
        )
        .groupby("period", as_index=False)
        .sum()
    )
    frame.insert(1, "start", first + pd.to_timedelta((frame["period"] - 1) * width, unit="D"))
    frame["holdout"] = frame["start"] > split
    frame["cumulative_actual"] = frame["actual"].cumsum()
    frame["cumulative_simulated"] = frame["simulated"].cumsum()
    # Each copy is a whole simulated book: the spread of the copies' totals is the range a book
    # of these customers falls in by chance under the fitted model (normal approximation, 95%;
    # the fit's own uncertainty is not in it).
    per_period = np.add.reduceat(by_copy, np.flatnonzero(np.diff(index, prepend=0)), axis=1)
    for name, values in (("", per_period), ("cumulative_", per_period.cumsum(axis=1))):
        spread = 1.96 * values.std(axis=0, ddof=1) if copies > 1 else np.full(len(frame), np.nan)
        middle = frame[f"{name}simulated"].to_numpy()
        frame[f"{name}simulated_low"] = np.maximum(middle - spread, 0.0)
        frame[f"{name}simulated_high"] = middle + spread
    return frame
