"""The published CDNOW back-test, reproduced from the data by an independent BG/NBD (issue 17).

Fader, Hardie & Lee (2005), "Counting your customers the easy way": calibrate on weeks 1-39
(1997-01-01 to 1997-09-30), forecast weeks 40-78 (to 1998-06-30). The data is the 2,357-customer
CDNOW sample shipped in the `lifetimes==0.11.3` wheel (a test dependency); the file is read
without importing `lifetimes`, whose imports fail on current pandas.
"""

from __future__ import annotations

import bgnbd_reference as bgnbd
import numpy as np
import pandas as pd
import pytest
from cdnow_support import CALIBRATION_END, HOLDOUT_END, read_cdnow


@pytest.fixture(scope="module")
def cdnow() -> dict:
    raw = read_cdnow()
    # Several lines of one customer on one day are one transaction (as in FHL 2005).
    days = raw.drop_duplicates(["customer_id", "date"])
    first = days.groupby("customer_id")["date"].min()
    calibration = days[days["date"] <= CALIBRATION_END].groupby("customer_id")["date"]
    holdout = days[(days["date"] > CALIBRATION_END) & (days["date"] <= HOLDOUT_END)]
    week = pd.Timedelta(days=7)
    x = (calibration.count() - 1).to_numpy(float)
    t_x = ((calibration.max() - first) / week).to_numpy()
    big_t = ((CALIBRATION_END - first) / week).to_numpy()
    actual = holdout.groupby("customer_id").size().reindex(first.index, fill_value=0).to_numpy()
    params, log_lik = bgnbd.fit(x, t_x, big_t)
    horizon = (HOLDOUT_END - CALIBRATION_END) / week
    return {
        "x": x,
        "t_x": t_x,
        "T": big_t,
        "actual": actual,
        "params": params,
        "log_lik": log_lik,
        "horizon": horizon,
        "expected": bgnbd.conditional_expected(params, horizon, x, t_x, big_t),
        "weeks_to_end": ((HOLDOUT_END - first) / week).to_numpy(),
    }


def test_sample_is_the_published_one(cdnow: dict) -> None:
    assert len(cdnow["x"]) == 2357
    assert cdnow["x"].sum() == 2457  # repeat transactions in weeks 1-39
    assert cdnow["horizon"] == 39


def test_bgnbd_parameters_and_log_likelihood(cdnow: dict) -> None:
    r, alpha, a, b = cdnow["params"]
    # The paper prints three decimals; the optimum is flat enough that 0.002 is a fair tolerance.
    assert r == pytest.approx(0.243, abs=0.002)
    assert alpha == pytest.approx(4.414, abs=0.002)
    assert a == pytest.approx(0.793, abs=0.002)
    assert b == pytest.approx(2.426, abs=0.002)
    assert cdnow["log_lik"] == pytest.approx(-9582.4, abs=0.05)


def test_holdout_aggregate(cdnow: dict) -> None:
    assert cdnow["actual"].sum() == 1882
    assert cdnow["expected"].sum() == pytest.approx(1653, abs=1)


def test_cumulative_at_week_78(cdnow: dict) -> None:
    actual = cdnow["x"].sum() + cdnow["actual"].sum()
    assert actual == 4339
    forecast = bgnbd.expected_cumulative(cdnow["params"], cdnow["weeks_to_end"]).sum()
    assert forecast == pytest.approx(4161, abs=1)


def test_per_customer_errors(cdnow: dict) -> None:
    error = cdnow["expected"] - cdnow["actual"]
    assert np.sqrt(np.mean(error**2)) == pytest.approx(1.608, abs=0.001)
    assert np.mean(np.abs(error)) == pytest.approx(0.786, abs=0.001)


def test_naive_rate_carried_forward(cdnow: dict) -> None:
    # Each customer's calibration repeat rate x / T, carried over the 39 holdout weeks.
    naive = cdnow["x"] / cdnow["T"] * cdnow["horizon"]
    assert naive.sum() == pytest.approx(2930, abs=1)
    assert np.sqrt(np.mean((naive - cdnow["actual"]) ** 2)) == pytest.approx(2.212, abs=0.001)


def test_binned_table(cdnow: dict) -> None:
    """By calibration-period repeat count 0…7+: customers, actual holdout mean, BG/NBD mean."""
    bins = np.minimum(cdnow["x"], 7).astype(int)
    table = (
        pd.DataFrame({"bin": bins, "actual": cdnow["actual"], "bgnbd": cdnow["expected"]})
        .groupby("bin")
        .agg(customers=("actual", "size"), actual=("actual", "mean"), bgnbd=("bgnbd", "mean"))
    )
    table.index = [*map(str, range(7)), "7+"]
    print("\nCDNOW holdout weeks 40-78 by calibration-period repeat transactions")
    print(table.round(2).to_string())
    assert table["customers"].sum() == 2357
    assert table.loc["0", "customers"] == 1411  # 60 % of the sample never bought again in 1-39
    # BG/NBD tracks the bins: each conditional mean within 0.8 transactions of the actual one.
    assert (table["bgnbd"] - table["actual"]).abs().max() < 0.8
