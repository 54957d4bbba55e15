"""`stratmap calibrate --per-customer`: each customer's posterior from the population's fits
(docs/calibration.md), checked on the synthetic bank whose true per-customer hazards are known:
the posterior means of the open customers average back to the true mean hazard of those
survivors, overall and by tenure, within Monte Carlo error; long-tenure customers get lower
chances; the posterior transaction rates average back to the fitted population mean."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from calibration.synthetic import AS_OF, TRUTH, write_synthetic_bank
from stratmap.cli import main

CUSTOMERS = 20_000
SEED = 17


def true_hazards(customers: int, seed: int) -> np.ndarray:
    """The hazards ``synthetic_bank`` drew (its first two draws: the opening days, then each
    customer's monthly churn chance)."""
    rng = np.random.default_rng(seed)
    rng.integers(1, 36 * 30, customers)
    return rng.beta(TRUTH["churn_alpha"], TRUTH["churn_beta"], customers)


@pytest.fixture(scope="module")
def posteriors(tmp_path_factory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("bank")
    write_synthetic_bank(folder, customers=CUSTOMERS, seed=SEED)
    argv = ["calibrate", "--as-of", str(AS_OF.date()), "-o", str(folder / "calibrated.strat")]
    argv += ["--customers", str(folder / "customers.csv")]
    argv += ["--transactions", str(folder / "transactions.csv")]
    argv += ["--json", str(folder / "calibration.json")]
    assert main([*argv, "--per-customer", str(folder / "posteriors.parquet")]) == 0
    customers = pd.read_csv(folder / "customers.csv", dtype={"customer_id": str})
    return folder, pd.read_parquet(folder / "posteriors.parquet"), customers


def fitted_survivors_mean(a: float, b: float, months: np.ndarray, seed: int = 1) -> tuple:
    """By simulation, independently of the formula: the fitted population's customers
    (θ ~ Beta(a, b)) who stay ``months`` whole months, their mean θ, averaged over the open
    customers' tenures; with its Monte Carlo standard error."""
    rng = np.random.default_rng(seed)
    tenures, weight = np.unique(months, return_counts=True)
    means, variances = [], []
    for n in tenures:
        theta = rng.beta(a, b, 40_000)
        kept = theta[rng.random(theta.size) < (1 - theta) ** n]
        means.append(kept.mean())
        variances.append(kept.var() / kept.size)
    w = weight / weight.sum()
    return float(w @ np.array(means)), float(np.sqrt(w**2 @ np.array(variances)))


def test_posterior_churn_chances_are_the_fitted_populations_survivors(posteriors) -> None:
    folder, post, customers = posteriors
    assert list(post["customer_id"]) == list(customers["customer_id"])  # the bank's ids
    still = customers["closed"].isna().to_numpy()
    chance = post["churn_chance"].to_numpy()
    assert np.isnan(chance[~still]).all() and not np.isnan(chance[still]).any()
    sbg = json.loads((folder / "calibration.json").read_text())["churn"]["sbg"]["params"]
    a, b = sbg["alpha"]["value"], sbg["beta"]["value"]
    months = (AS_OF - pd.to_datetime(customers["opened"][still])).dt.days.to_numpy() // 30
    simulated, se = fitted_survivors_mean(a, b, months)
    print(f"\nposterior mean {chance[still].mean():.5f}, simulated survivors {simulated:.5f} "
          f"(se {se:.5f})")  # fmt: skip
    assert abs(chance[still].mean() - simulated) < 4 * se


def test_long_tenure_customers_get_lower_chances_as_their_true_hazards_are(posteriors) -> None:
    """Against the synthetic bank's true hazards of the open customers, by thirds of tenure.
    The posterior counts whole months only (a customer's current, partial month is left out),
    so it runs a little above the truth: held within 10 %."""
    _folder, post, customers = posteriors
    still = customers["closed"].isna().to_numpy()
    truth = true_hazards(CUSTOMERS, SEED)[still]
    mine = post["churn_chance"].to_numpy()[still]
    tenure = (AS_OF - pd.to_datetime(customers["opened"][still])).dt.days.to_numpy() // 30
    thirds = np.array_split(np.argsort(tenure, kind="stable"), 3)
    means = []
    for part in thirds:
        print(f"tenure {tenure[part].min()}–{tenure[part].max()} months: posterior "
              f"{mine[part].mean():.4f}, true {truth[part].mean():.4f}")  # fmt: skip
        assert abs(mine[part].mean() / truth[part].mean() - 1) < 0.10
        means.append(mine[part].mean())
    assert means[0] > means[1] > means[2]  # the longer a customer stayed, the lower the chance
    assert truth[thirds[0]].mean() > truth[thirds[1]].mean() > truth[thirds[2]].mean()


def test_posterior_transaction_rates_average_back_to_the_fitted_mean(posteriors) -> None:
    folder, post, _customers = posteriors
    nbd = json.loads((folder / "calibration.json").read_text())["transactions"]["nbd"]
    r, alpha = nbd["params"]["r"]["value"], nbd["params"]["alpha"]["value"]
    rate = post["txn_per_month"].dropna().to_numpy()
    assert rate.size > CUSTOMERS * 0.6  # those closed before the 12-month window: none
    # E[(r + x) / (alpha + T)] = r / alpha under the fit; its MC error from the prior's spread
    se = np.sqrt(r) / alpha / np.sqrt(rate.size)
    assert abs(rate.mean() - r / alpha) < 4 * se
    assert abs(r / alpha - TRUTH["txn_r"] / TRUTH["txn_alpha"]) < 0.2


def test_per_customer_refuses_an_unknown_format_before_fitting(tmp_path: Path, capsys) -> None:
    write_synthetic_bank(tmp_path, customers=200, seed=3)
    argv = ["calibrate", "--as-of", "2026-06-30", "-o", str(tmp_path / "c.strat")]
    argv += ["--customers", str(tmp_path / "customers.csv")]
    assert main([*argv, "--per-customer", str(tmp_path / "p.xlsx")]) == 2
    assert "--per-customer" in capsys.readouterr().err and not (tmp_path / "c.strat").exists()
    assert main([*argv, "--per-customer", str(tmp_path / "nowhere" / "p.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "c.strat").exists()


def test_per_customer_as_csv_keeps_the_ids(tmp_path: Path) -> None:
    write_synthetic_bank(tmp_path, customers=300, seed=5)
    argv = ["calibrate", "--as-of", "2026-06-30", "-o", str(tmp_path / "c.strat")]
    argv += ["--customers", str(tmp_path / "customers.csv")]
    assert main([*argv, "--per-customer", str(tmp_path / "p.csv")]) == 0
    written = pd.read_csv(tmp_path / "p.csv", dtype={"customer_id": str})
    assert list(written.columns) == ["customer_id", "churn_chance", "txn_per_month"]
    assert written["customer_id"].iloc[0] == "C000000"
    assert written["txn_per_month"].isna().all()  # no transactions table: none given
