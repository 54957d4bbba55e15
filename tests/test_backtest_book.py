"""The back-test beyond transactions (issue 17): survivors and churn from the customers table's
closures (the contractual sBG, simulated by the kernels) and AUM from the balances panel, each
against a synthetic bank whose truth is known — and a deliberately wrong fit that fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankdata.tables import read_table
from calibration.backtest_book import aum_table, book_backtest, churn_fit
from calibration.synthetic import TRUTH, synthetic_bank, write_large_bank, write_synthetic_bank
from stratmap.cli import main

SPLIT, END = pd.Timestamp("2025-12-31"), pd.Timestamp("2026-06-30")


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    table = synthetic_bank()["customers"].copy()
    for column in ("opened", "closed"):
        table[column] = pd.to_datetime(table[column])
    return table


def test_forecast_survivors_track_the_actual_within_the_interval(customers) -> None:
    report, tables = book_backtest(customers, None, SPLIT, END, copies=20, seed=0)
    survivors = tables["survivors"]
    after = survivors[survivors["holdout"]]
    assert len(after) == 6 and report["survivors"]["holdout_inside"] == 1.0
    assert after["inside"].all()
    # The kernels' books agree with the closed form Σ S(tenure) at the fitted (α, β).
    assert np.allclose(survivors["simulated"], survivors["expected"], rtol=0.03, atol=3)
    # Closures per period add up: last period's survivors + this one's openings − closures.
    previous = np.r_[0, survivors["actual"].to_numpy()[:-1]]
    assert (
        previous + survivors["opened"] - survivors["churned_actual"] == survivors["actual"]
    ).all()


def test_the_interval_covers_the_truth_and_a_wrong_fit_fails(customers) -> None:
    _, fitted = book_backtest(customers, None, SPLIT, END, copies=20, seed=0)
    truth = (TRUTH["churn_alpha"], TRUTH["churn_beta"])
    _, true = book_backtest(customers, None, SPLIT, END, copies=2, seed=0, fit=truth)
    expected = true["survivors"]["expected"]  # the closed form at the true (α, β)
    assert (fitted["survivors"]["simulated_low"] <= expected).all()
    assert (expected <= fitted["survivors"]["simulated_high"]).all()
    wrong = (TRUTH["churn_alpha"], 2 * TRUTH["churn_beta"])  # half the churn
    report, tables = book_backtest(customers, None, SPLIT, END, copies=20, seed=0, fit=wrong)
    assert report["survivors"]["holdout_inside"] == 0.0
    after = tables["survivors"][tables["survivors"]["holdout"]]
    assert (after["actual"] < after["simulated_low"]).all()


def test_no_closures_no_survivors(customers) -> None:
    report, tables = book_backtest(customers.drop(columns="closed"), None, SPLIT, END, 5, 0)
    assert report == {"survivors": None, "aum": None} and tables == {}


@pytest.fixture(scope="module")
def large_bank(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    paths = write_large_bank(tmp_path_factory.mktemp("bank"), 20_000)
    return {name: read_table(name, paths[name]) for name in ("customers", "balances")}


def test_aum_forecast_tracks_the_panel_and_a_wrong_fit_fails(large_bank) -> None:
    customers, balances = large_bank["customers"], large_bank["balances"]
    fit = churn_fit(customers, SPLIT)
    alpha, beta = fit.params["alpha"].value, fit.params["beta"].value
    aum, flows = aum_table(customers, balances, SPLIT, END, alpha, beta)
    after = aum[aum["holdout"]]
    assert len(after) == 6 and after["inside"].all()
    assert abs(flows["mean"] - 0.005) < 0.001 and abs(flows["sd"] - 0.03) < 0.002
    wrong, _ = aum_table(customers, balances, SPLIT, END, alpha, 3 * beta)
    assert not wrong.loc[wrong["holdout"], "inside"].any()


def test_the_command_writes_survivors_and_aum(tmp_path: Path, capsys) -> None:
    write_synthetic_bank(tmp_path / "bank")
    bank = tmp_path / "bank"
    argv = [
        "backtest", "--customers", str(bank / "customers.csv"),
        "--transactions", str(bank / "transactions.csv"), "--balances", str(bank / "balances.csv"),
        "--split", "2025-12-31", "--end", "2026-06-30", "--copies", "5",
        "--json", str(tmp_path / "b.json"), "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "after the split, per period of 30 days" in out and "AUM after the split" in out
    report = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert len(report["survivors"]["after_split"]) == 6
    assert len(report["aum"]["after_split"]) == 6
    survivors = pd.read_parquet(tmp_path / "out" / "survivors.parquet")
    assert survivors["actual"].iloc[-1] == report["survivors"]["last"]["actual"]


def test_closed_before_opened_stops_the_command_and_writes_nothing(tmp_path: Path, capsys):
    write_synthetic_bank(tmp_path / "bank")
    bank = tmp_path / "bank"
    table = pd.read_csv(bank / "customers.csv", dtype=str)
    table.loc[2, "closed"] = "2000-01-01"
    table.to_csv(bank / "customers.csv", index=False)
    argv = [
        "backtest", "--customers", str(bank / "customers.csv"),
        "--transactions", str(bank / "transactions.csv"), "--balances", str(bank / "balances.csv"),
        "--split", "2025-12-31", "--json", str(tmp_path / "b.json"), "--out", str(tmp_path / "o"),
    ]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "closed before opened at row 4" in err and "Traceback" not in err
    assert not (tmp_path / "b.json").exists() and not (tmp_path / "o").exists()
