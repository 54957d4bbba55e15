"""`stratmap calibrate` on a synthetic bank recovers its known parameters within their intervals,
and the fragment it writes is a library file a map imports and `stratmap check` accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calibration.synthetic import TRUTH, write_synthetic_bank
from stratmap.cli import main


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, dict, str]:
    folder = tmp_path_factory.mktemp("bank")
    write_synthetic_bank(folder, customers=4000, seed=17)
    argv = ["calibrate", "--as-of", "2026-06-30", "-o", str(folder / "calibrated.strat")]
    for table in ("customers", "transactions", "balances", "contacts"):
        argv += [f"--{table}", str(folder / f"{table}.csv")]
    assert main([*argv, "--json", str(folder / "calibration.json")]) == 0
    report = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
    return folder, report, (folder / "calibrated.strat").read_text(encoding="utf-8")


def recovered(report: dict) -> list[tuple[str, float, dict]]:
    churn, txn = report["churn"]["sbg"]["params"], report["transactions"]["nbd"]["params"]
    rows = [
        ("churn alpha (sBG)", TRUTH["churn_alpha"], churn["alpha"]),
        ("churn beta (sBG)", TRUTH["churn_beta"], churn["beta"]),
        ("transactions r (NBD)", TRUTH["txn_r"], txn["r"]),
        ("transactions alpha (NBD)", TRUTH["txn_alpha"], txn["alpha"]),
        ("AUM median", TRUTH["aum_median"], report["aum"]["params"]["median"]),
        ("AUM sigma", TRUTH["aum_sigma"], report["aum"]["params"]["sigma"]),
        ("age mean", TRUTH["age_mean"], report["age"]["params"]["mean"]),
        ("AUM change a month, mean", TRUTH["flow_mean"], report["flows"]["params"]["mean"]),
        ("AUM change a month, sd", TRUTH["flow_sd"], report["flows"]["params"]["sd"]),
    ]
    for row in report["responses"]:
        rows.append((f"response {row['play']}", TRUTH["response"][row["play"]], row))
    return rows


def test_true_parameters_lie_within_the_fitted_intervals(calibrated) -> None:
    _folder, report, _fragment = calibrated
    print("\nparameter                      true      fitted   95% interval")
    for name, true, fit in recovered(report):
        value = fit.get("value", fit.get("rate"))
        print(f"{name:<28} {true:>8.4g} {value:>10.4g}   {fit['low']:.4g}–{fit['high']:.4g}")
    misses = [
        name for name, true, fit in recovered(report) if not fit["low"] <= true <= fit["high"]
    ]
    assert misses == []
    # The book is heterogeneous on purpose: the fit must say so for churn and transactions.
    assert not report["churn"]["likelihood_ratio"]["simpler_is_as_good"]
    assert not report["transactions"]["likelihood_ratio"]["simpler_is_as_good"]


def test_fragment_holds_the_numbers_with_their_provenance(calibrated) -> None:
    _folder, report, fragment = calibrated
    assert f"size {report['active']}  # customers open on 2026-06-30" in fragment
    # The book is heterogeneous (the LR tests reject the simpler models): the fragment draws
    # each customer's own churn chance (sBG) and transaction rate (NBD), as fitted.
    sbg, nbd = report["churn"]["sbg"]["params"], report["transactions"]["nbd"]["params"]
    alpha, beta = sbg["alpha"]["value"], sbg["beta"]["value"]
    assert f"new       -> churned ~ beta({alpha:.3g}, {beta:.3g})" in fragment
    r, a = nbd["r"]["value"], nbd["alpha"]["value"]
    assert f"txn_per_month ~ gamma(shape {r:.3g}, mean {r / a:.3g})" in fragment
    assert "customer-months" in fragment and "poisson(" not in fragment
    assert "net_flow ~ normal(mean" in fragment
    assert "#   理财到期提醒 via 外呼:" in fragment


def test_fragment_passes_check_when_a_map_imports_it(calibrated, capsys) -> None:
    folder, _report, _fragment = calibrated
    strategy = folder / "map.strat"
    strategy.write_text(
        'import "calibrated.strat"\n\nstrategy "校准示例" {\n  horizon 12 months\n}\n',
        encoding="utf-8",
    )
    assert main(["check", "--strict", str(strategy)]) == 0, capsys.readouterr().out


def test_fragment_is_formatted_and_is_the_one_docs_show(calibrated, capsys) -> None:
    folder, _report, fragment = calibrated
    assert main(["fmt", "--check", str(folder / "calibrated.strat")]) == 0
    capsys.readouterr()
    doc = (Path(__file__).resolve().parents[1] / "docs" / "calibration.md").read_text("utf-8")
    shown = doc.split("## The fragment", 1)[1].split("```strat\n", 1)[1].split("```\n", 1)[0]
    assert shown == fragment
