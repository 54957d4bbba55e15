"""The back-test beyond transactions: survivors, churn and AUM per period (docs/calibration.md,
"Survivors, churn and AUM").

Where the customers table records closures, churn is observed, not latent: the contractual sBG
(each customer's monthly chance θ ~ Beta(α, β), fixed) is fitted on the closures before the
split (``calibration.book.calibrate``, the fit `stratmap calibrate` writes), and the calibrated
map — `churned ~ beta(α, β)` at `step month` — is simulated by the kernels, every customer from
the month they opened, once for each of ``copies`` books, each book with (α, β) refitted on a
bootstrap resample of the customers (the fit's uncertainty beside each closure's chance). Per
period of 30 days from the first opening the survivors at its end are set beside the actual
ones, with the books' mean and 95 % interval (mean ± 1.96 sd across the books) and the closed
form Σ_i S(tenure_i) = Σ_i B(α, β + n_i) / B(α, β) beside them.

Survivors are counted on the fit's clock: a customer who closed in their k-th month of tenure
(day 30(k−1) … 30k−1 after opening) is gone from the end of that month, 30k days after
opening — the periods the sBG is fitted on, and the step at whose end the simulator churns.

AUM (with a balances panel): per month the actual total AUM of the book's customers, and after
the split the forecast of those open at the split: each one's balance in the split's month
grown by the fitted monthly change (mean μ, sd σ, fitted on the months before the split of the
customers open at it, so that no closure is in it) for k months, times their chance of still
being open given their tenure n at the split, S(n + k) / S(n). Customers are independent, so
the forecast's variance is Σ_i a_i² (p_i E[G²] − p_i² E[G]²) with E[G] = (1 + μ)^k and
E[G²] = ((1 + μ)² + σ²)^k, and its interval the normal one: the model's exact moments, not a
simulation.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calibration.book import DAYS_PER_MONTH, calibrate, churn_periods, finite_or_null
from calibration.fits import Fit, fit_sbg, sbg_survival

__all__ = [
    "aum_table",
    "book_backtest",
    "bootstrap_fits",
    "churn_fit",
    "simulate_survivors",
    "survivors_table",
]

Z95 = 1.959963984540054


def churn_fit(customers: pd.DataFrame, split: pd.Timestamp) -> Fit | None:
    """The sBG fitted on the closures up to the split (None without closures to fit on)."""
    if "closed" not in customers or not (customers["closed"] <= split).any():
        return None
    return calibrate(customers, split).churn_sbg


def _number(value: float) -> str:
    return f"{value:.12f}".rstrip("0").rstrip(".")


def survivors_map(alpha: float, beta: float, customers: int, months: int, seed: int) -> str:
    """The calibrated map simulated for survivors: one cohort, each customer's own chance."""
    return f"""\
strategy "回测存续" {{
  horizon {months} months
  step month
  seed {seed}
}}

population 回测客户 {{
  size  {customers}
  stage ~ categorical(new 100%)
}}

lifecycle {{
  new -> churned ~ beta({_number(alpha)}, {_number(beta)})
}}
"""


def bootstrap_fits(
    customers: pd.DataFrame, split: pd.Timestamp, copies: int, seed: int
) -> np.ndarray:
    """(α, β) refitted on ``copies`` resamples of the book's customers (with replacement): the
    fit's own uncertainty, carried into the simulated books (rows: α, β per book)."""
    book = customers[customers["opened"] <= split]
    periods, gone, _end = churn_periods(book, split)
    at_risk = periods > 0
    periods, gone = periods[at_risk], gone.to_numpy()[at_risk]
    rng = np.random.default_rng([seed, 17])
    draws = np.empty((copies, 2))
    for r in range(copies):
        pick = rng.integers(0, periods.size, periods.size)
        fit = fit_sbg(periods[pick], gone[pick])
        draws[r] = fit.params["alpha"].value, fit.params["beta"].value
    return draws


def simulate_survivors(
    params: np.ndarray, open_month: np.ndarray, periods: int, seed: int
) -> np.ndarray:
    """Survivors at the end of periods 1 … ``periods`` (columns; column 0 unused) in each
    simulated book (rows), book r with churn ~ Beta(params[r]): customer i opens in period
    open_month[i] + 1 and, after t steps, is counted at the end of period t + open_month[i] + 1."""
    from simulator.engine.run import simulate
    from strategy_dsl.checker import check_paths

    n = open_month.size
    counts = np.zeros((len(params), periods + 1))
    with tempfile.TemporaryDirectory(prefix="stratmap-backtest-") as scratch:
        for r, (alpha, beta) in enumerate(params):
            path = Path(scratch) / f"survivors{r}.strat"
            text = survivors_map(alpha, beta, n, periods, seed + r)
            path.write_text(text, encoding="utf-8")
            report = check_paths([path])
            problems = [d.message for d in report.diagnostics if d.is_error]
            if problems:  # our own map: anything else is a bug, not bad data
                raise RuntimeError(f"the back-test's survivors map does not check: {problems[0]}")
            (model,) = report.models.values()

            def observe(rep: int, t: int, states: list, row: np.ndarray = counts[r]) -> None:
                # Step t (0: the start, everyone open) of customer i ends calendar period
                # open_month[i] + t + 1.
                for st in states:
                    period = open_month[st.cid] + t + 1
                    kept = (period <= periods) & (st.alive == 1)
                    row += np.bincount(period[kept], minlength=periods + 1)

            simulate(model, reps=1, seed=seed + r, observe=observe)
    return counts


def survivors_table(
    customers: pd.DataFrame,
    split: pd.Timestamp,
    end: pd.Timestamp,
    alpha: float,
    beta: float,
    draws: np.ndarray,
    seed: int,
) -> pd.DataFrame:
    """Per period of 30 days from the first opening, up to the last one ending by ``end``: the
    book's customers opened by the split, actual and simulated survivors and closures. One
    simulated book per row of ``draws`` (α, β); ``expected`` is the closed form at (α, β)."""
    book = customers[customers["opened"] <= split]
    first = book["opened"].min()
    opened = (book["opened"] - first).dt.days.to_numpy()
    periods = max(int(((end - first).days + 1) // DAYS_PER_MONTH), 1)
    closed = book["closed"] if "closed" in book else pd.Series(pd.NaT, index=book.index)
    known = (closed <= end).to_numpy()
    tenure = (closed - book["opened"]).dt.days.to_numpy()
    # Gone from the end of the month of tenure the closure fell in (the fit's clock).
    months = np.nan_to_num(tenure) // DAYS_PER_MONTH + 1
    exit_day = np.where(known, opened + months * DAYS_PER_MONTH, np.inf)
    k = np.arange(1, periods + 1)
    period_end = k * DAYS_PER_MONTH - 1
    open_by = opened[None, :] <= period_end[:, None]
    actual = np.sum(open_by & (exit_day[None, :] > period_end[:, None]), axis=1)
    open_month = opened // DAYS_PER_MONTH
    openings = np.bincount(open_month, minlength=periods)[:periods]  # period k: index k − 1
    simulated = simulate_survivors(draws, open_month, periods, seed)[:, 1:]
    mean = simulated.mean(axis=0)
    sd = simulated.std(axis=0, ddof=1) if len(draws) > 1 else np.zeros(periods)
    whole = np.where(open_by, (period_end[:, None] - opened[None, :]) // DAYS_PER_MONTH, 0)
    expected = np.sum(np.where(open_by, sbg_survival(alpha, beta, whole), 0.0), axis=1)
    low, high = np.maximum(mean - Z95 * sd, 0.0), mean + Z95 * sd
    start = first + pd.to_timedelta((k - 1) * DAYS_PER_MONTH, unit="D")
    previous_actual = np.r_[0, actual[:-1]]
    previous_mean = np.r_[0.0, mean[:-1]]
    return pd.DataFrame(
        {
            "period": k.astype(np.int64),
            "start": start,
            "holdout": start > split,
            "opened": openings.astype(np.int64),
            "actual": actual.astype(np.int64),
            "simulated": mean,
            "simulated_low": low,
            "simulated_high": high,
            "expected": expected,
            "inside": (actual >= low) & (actual <= high),
            "churned_actual": (previous_actual + openings - actual).astype(np.int64),
            "churned_simulated": previous_mean + openings - mean,
        }
    )


def aum_table(
    customers: pd.DataFrame,
    balances: pd.DataFrame,
    split: pd.Timestamp,
    end: pd.Timestamp,
    alpha: float,
    beta: float,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per month of the panel up to ``end``: the book's actual AUM and, after the split's
    month, the forecast with its interval. Also the flows fit it used."""
    book = customers[customers["opened"] <= split]
    closed = book["closed"] if "closed" in book else pd.Series(pd.NaT, index=book.index)
    open_ids = book.loc[~(closed <= split), "customer_id"]
    panel = balances[balances["customer_id"].isin(book["customer_id"])]
    panel = panel.assign(month=panel["month"].dt.to_period("M"))
    panel = panel[panel["month"] <= end.to_period("M")]
    totals = panel.groupby("month")["aum"].agg(["sum", "size"])
    base = split.to_period("M")
    flows = calibrate(
        book,
        split,
        balances=panel[panel["customer_id"].isin(open_ids)].assign(
            month=lambda f: f["month"].dt.to_timestamp()
        ),
    ).flows
    mu = flows.params["mean"].value if flows is not None else 0.0
    sigma = flows.params["sd"].value if flows is not None else 0.0
    at_base = (
        panel[(panel["month"] == base) & panel["customer_id"].isin(open_ids)]
        .groupby("customer_id")["aum"]
        .sum()
    )
    opened = book.set_index("customer_id")["opened"].reindex(at_base.index)
    tenure = (split - opened).dt.days.to_numpy(float)
    amounts = at_base.to_numpy(float)

    def open_at(days: np.ndarray) -> np.ndarray:
        """S at a tenure in days, closures spread evenly over each month of tenure."""
        whole, part = np.divmod(days, DAYS_PER_MONTH)
        step = part / DAYS_PER_MONTH
        return (1 - step) * sbg_survival(alpha, beta, whole) + step * sbg_survival(
            alpha, beta, whole + 1
        )

    rows = []
    for month, (total, count) in totals.iterrows():
        steps = (month - base).n
        row = {
            "month": month.to_timestamp(),
            "holdout": steps > 0,
            "customers": int(count),
            "actual": float(total),
            "forecast": np.nan,
            "forecast_low": np.nan,
            "forecast_high": np.nan,
        }
        if steps > 0 and amounts.size:  # no balance in the split's month: nothing to grow
            ahead = float((month.to_timestamp(how="end").normalize() - split).days)
            alive = open_at(tenure + ahead) / open_at(tenure)
            growth, growth2 = (1 + mu) ** steps, ((1 + mu) ** 2 + sigma**2) ** steps
            mean = float(np.sum(amounts * alive) * growth)
            variance = float(np.sum(amounts**2 * (alive * growth2 - alive**2 * growth**2)))
            half = Z95 * np.sqrt(max(variance, 0.0))
            row |= {"forecast": mean, "forecast_low": mean - half, "forecast_high": mean + half}
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["month"] = frame["month"].astype("datetime64[ns]")
    inside = (frame["actual"] >= frame["forecast_low"]) & (
        frame["actual"] <= frame["forecast_high"]
    )
    frame["inside"] = inside.astype("boolean")
    frame.loc[~frame["holdout"], "inside"] = pd.NA
    fit = {"mean": mu, "sd": sigma, "customer_months": flows.n if flows is not None else 0}
    return frame, fit


def check_panel(
    customers: pd.DataFrame, balances: pd.DataFrame, split: pd.Timestamp, end: pd.Timestamp
) -> None:
    """A balances panel with no row about a customer opened by the split, up to the end's
    month, has nothing to hold the AUM forecast against (an id column mapped differently from
    the customers table's, or another period's panel): ValueError, named for the user."""
    book = customers.loc[customers["opened"] <= split, "customer_id"]
    about = balances["customer_id"].isin(book)
    within = balances["month"].dt.to_period("M") <= end.to_period("M")
    if not (about & within).any():
        why = (
            f"no row names a customer opened by the split {split.date()} "
            f"(first ids: {', '.join(map(repr, balances['customer_id'].unique()[:3]))})"
            if not about.any()
            else f"no month up to the end {end.date()}"
        )
        raise ValueError(
            f"balances: {why}: nothing to hold the AUM forecast against; check that the id "
            "column is mapped as in the customers table, and the panel's months"
        )


def book_backtest(
    customers: pd.DataFrame,
    balances: pd.DataFrame | None,
    split: pd.Timestamp,
    end: pd.Timestamp,
    copies: int,
    seed: int,
    fit: tuple[float, float] | None = None,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The report's `survivors` and `aum` entries (None where the data has no closures, or no
    panel) and their tables: ``copies`` simulated books, each with its own bootstrap refit.
    ``fit`` replaces the fit (α, β) in every book, with no uncertainty (a test's known or
    wrong parameters)."""
    sbg = churn_fit(customers, split)
    report: dict[str, Any] = {"survivors": None, "aum": None}
    tables: dict[str, pd.DataFrame] = {}
    if sbg is None and fit is None:
        return report, tables
    if fit is not None:  # given: no uncertainty of its own
        alpha, beta = fit
        draws = np.tile([alpha, beta], (copies, 1))
    else:
        alpha, beta = sbg.params["alpha"].value, sbg.params["beta"].value
        draws = bootstrap_fits(customers, split, copies, seed)
    survivors = survivors_table(customers, split, end, alpha, beta, draws, seed)
    tables["survivors"] = survivors
    holdout = survivors[survivors["holdout"]]
    last = survivors.iloc[-1]
    report["survivors"] = {
        "fit": sbg.to_json() if sbg is not None else None,
        "alpha": alpha,
        "beta": beta,
        "periods": len(survivors),
        "holdout_periods": len(holdout),
        "holdout_inside": float(holdout["inside"].mean()) if len(holdout) else None,
        "after_split": [
            {
                "start": str(row.start.date()),
                "actual": int(row.actual),
                "simulated": float(row.simulated),
                "low": float(row.simulated_low),
                "high": float(row.simulated_high),
                "churned_actual": int(row.churned_actual),
                "churned_simulated": float(row.churned_simulated),
            }
            for row in holdout.itertuples()
        ],
        "last": {
            "start": str(last["start"].date()),
            "actual": int(last["actual"]),
            "simulated": float(last["simulated"]),
            "low": float(last["simulated_low"]),
            "high": float(last["simulated_high"]),
            "expected": float(last["expected"]),
        },
    }
    if balances is not None:
        aum, flows = aum_table(customers, balances, split, end, alpha, beta)
        tables["aum"] = aum
        held = aum[aum["holdout"]]
        report["aum"] = {
            "flows": flows,
            "months": len(aum),
            "holdout_months": len(held),
            "holdout_inside": float(held["inside"].astype(bool).mean()) if len(held) else None,
            "after_split": [
                {
                    "month": str(row.month.date()),
                    "actual": float(row.actual),
                    "forecast": float(row.forecast),
                    "low": float(row.forecast_low),
                    "high": float(row.forecast_high),
                }
                for row in held.itertuples()
            ],
            "last": None
            if held.empty
            else {
                "month": str(held["month"].iloc[-1].date()),
                "actual": float(held["actual"].iloc[-1]),
                "forecast": float(held["forecast"].iloc[-1]),
                "low": float(held["forecast_low"].iloc[-1]),
                "high": float(held["forecast_high"].iloc[-1]),
            },
        }
    return finite_or_null(report), tables
