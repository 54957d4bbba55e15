"""The published back-test, run in CI: `stratmap backtest` on the CDNOW sample, calibrated on weeks
1-39 (to 1997-09-30) and forecasting weeks 40-78 (to 1998-06-30), against the BG/NBD of Fader,
Hardie & Lee (2005) as the independent reference (tests/bgnbd_reference.py).

The target (issue 17): Stratmap's calibrated simulation at least as accurate as BG/NBD —
aggregate holdout error within ±12 %, cumulative week-78 error within ±4.1 %, per-customer RMSE
≤ 1.61. The figures are printed beside the reference whether or not the target is met, and a
miss fails with the figures reached (the target is never loosened here).
"""

from __future__ import annotations

import json

import bgnbd_reference as bgnbd
import numpy as np
import pandas as pd
import pytest
from cdnow_support import CALIBRATION_END, HOLDOUT_END, read_cdnow
from scipy import special

from stratmap.cli import main

# BG/NBD's published figures on this sample (FHL 2005; tests/test_cdnow_reference.py).
BGNBD = {"holdout": 1653, "holdout_error": -0.121, "cumulative_error": -0.041, "rmse": 1.608}
TARGET = {"holdout_error": 0.12, "cumulative_error": 0.041, "rmse": 1.61}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("cdnow")
    raw = read_cdnow()
    customers = raw.groupby("customer_id", as_index=False)["date"].min()
    customers.columns = ["customer_id", "opened"]
    customers.to_csv(folder / "customers.csv", index=False, date_format="%Y-%m-%d")
    raw[["customer_id", "date"]].to_csv(
        folder / "transactions.csv", index=False, date_format="%Y-%m-%d"
    )
    argv = ["backtest", "--customers", str(folder / "customers.csv")]
    argv += ["--transactions", str(folder / "transactions.csv"), "--merge-same-day"]
    argv += ["--split", "1997-09-30", "--end", "1998-06-30", "--period", "week", "--seed", "1"]
    argv += ["--json", str(folder / "backtest.json"), "--out", str(folder / "backtest")]
    assert main(argv) == 0
    report = json.loads((folder / "backtest.json").read_text(encoding="utf-8"))
    tables = {
        name: pd.read_parquet(folder / "backtest" / f"{name}.parquet")
        for name in ("periods", "bins", "errors", "customers")
    }
    return {"report": report, "tables": tables, "raw": raw}


def _bgnbd_per_customer(raw: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    """The reference's conditional expectation for weeks 40-78, in the order of ``ids``."""
    days = raw.drop_duplicates(["customer_id", "date"])
    first = days.groupby("customer_id")["date"].min()
    calibration = days[days["date"] <= CALIBRATION_END].groupby("customer_id")["date"]
    week = pd.Timedelta(days=7)
    x = (calibration.count() - 1).to_numpy(float)
    t_x = ((calibration.max() - first) / week).to_numpy()
    big_t = ((CALIBRATION_END - first) / week).to_numpy()
    params, _ = bgnbd.fit(x, t_x, big_t)
    expected = bgnbd.conditional_expected(params, 39.0, x, t_x, big_t)
    return pd.Series(expected, index=first.index).reindex(ids).to_numpy()


def test_the_data_is_the_published_sample(run: dict) -> None:
    report = run["report"]
    assert report["customers"] == 2357
    assert report["transactions_before"] == 2457  # repeat transactions in weeks 1-39
    assert report["holdout"]["actual"] == 1882
    assert report["cumulative"]["actual"] == 4339
    assert report["holdout_days"] == 273  # 39 weeks


def test_stratmap_is_at_least_as_accurate_as_bgnbd(run: dict) -> None:
    report, tables = run["report"], run["tables"]
    errors = {row["forecast"]: row for row in report["errors"]}
    reached = {
        "holdout_error": report["holdout"]["error"],
        "cumulative_error": report["cumulative"]["error"],
        "rmse": errors["stratmap"]["rmse"],
    }
    customers = tables["customers"]
    bgnbd_expected = _bgnbd_per_customer(run["raw"], customers["customer_id"].to_numpy())
    bins = tables["bins"].set_index("bin")
    bins["bgnbd"] = (
        customers.assign(bin=np.minimum(customers["transactions_before"], 7), bgnbd=bgnbd_expected)
        .groupby("bin")["bgnbd"]
        .mean()
        .to_numpy()
    )
    print("\nCDNOW, calibrated on weeks 1-39, forecast weeks 40-78 (figures: Stratmap | BG/NBD)")
    print(
        f"  holdout: actual 1,882; Stratmap {report['holdout']['stratmap']:,.0f}"
        f" ({reached['holdout_error']:+.1%}) | BG/NBD 1,653 (-12.1%)"
    )
    print(
        f"  cumulative at week 78: actual 4,339; Stratmap {report['cumulative']['simulated']:,.0f}"
        f" ({reached['cumulative_error']:+.1%}, simulated) | BG/NBD 4,161 (-4.1%)"
    )
    print(
        f"  per customer: Stratmap RMSE {reached['rmse']:.3f}, MAE {errors['stratmap']['mae']:.3f}"
        " | BG/NBD RMSE 1.608, MAE 0.786; carried forward: sum"
        f" {errors['carried_forward']['holdout_total']:,.0f}, RMSE"
        f" {errors['carried_forward']['rmse']:.3f} (reference 2,930, 2.212)"
    )
    print("  by repeat transactions in weeks 1-39:")
    print(bins[["customers", "actual", "stratmap", "bgnbd"]].round(2).to_string())
    assert bgnbd_expected.sum() == pytest.approx(BGNBD["holdout"], abs=1)  # the reference holds
    misses = [
        f"{name} {value:+.4f} (target within ±{TARGET[name]})"
        if name != "rmse"
        else f"rmse {value:.4f} (target ≤ {TARGET[name]})"
        for name, value in reached.items()
        if (abs(value) > TARGET[name] if name != "rmse" else value > TARGET[name])
    ]
    assert not misses, "target not met: " + "; ".join(misses)


def test_the_naive_baselines_are_the_published_ones(run: dict) -> None:
    errors = {row["forecast"]: row for row in run["report"]["errors"]}
    # Each customer's calibration rate carried forward: FHL's 2,930 (+56 %), RMSE 2.212.
    assert errors["carried_forward"]["holdout_total"] == pytest.approx(2930, abs=1)
    assert errors["carried_forward"]["rmse"] == pytest.approx(2.212, abs=0.001)
    assert errors["stratmap"]["rmse"] < errors["no_change"]["rmse"]


def test_the_simulation_tracks_its_own_closed_form(run: dict) -> None:
    """The kernels' cumulative transactions equal the model's expectation, customer by
    customer summed, within Monte Carlo error: E[X(t)] = (r/α) Σ_k B(a, b+k-1) / B(a, b)."""
    report, customers = run["report"], run["tables"]["customers"]
    p = {k: v["value"] for k, v in report["fit"]["params"].items()}
    horizon = (HOLDOUT_END - pd.to_datetime(customers["opened"])).dt.days.to_numpy()
    k = np.arange(1, horizon.max() + 1)
    alive = np.exp(special.betaln(p["a"], p["b"] + k - 1) - special.betaln(p["a"], p["b"]))
    expected = p["r"] / p["alpha"] * np.cumsum(alive)[horizon - 1]
    simulated = report["cumulative"]["simulated"]
    print(f"\nsimulated {simulated:,.0f}, closed form {expected.sum():,.0f}")
    # 20 copies of 2,357 customers: the Monte Carlo error is about 1.5 % of the total.
    assert simulated == pytest.approx(expected.sum(), rel=0.05)


def test_periods_add_up_and_mark_the_holdout(run: dict) -> None:
    periods = run["tables"]["periods"]
    assert periods["period"].tolist() == list(range(1, 79))  # weeks 1-78
    assert periods["actual"].sum() == 4339
    holdout = periods[periods["holdout"]]
    assert holdout["period"].min() == 40 and holdout["actual"].sum() == 1882
