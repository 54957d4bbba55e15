"""Helpers for the report tests: one small simulation and one small comparison of the bundled
wealth map, written once per test module, with a script text that is markup
(``<script>alert(1)</script>``) and a folder name with angle brackets, so every page shows
strategy text that must be escaped."""

from __future__ import annotations

import shutil
from pathlib import Path

from stratmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
WEALTH = ROOT / "strategies" / "wealth_2026q1.strat"
XSS = "<script>alert(1)</script>"
# Small enough to run in about a second once the kernels are compiled.
SIZES = ["--customers", "2k", "--months", "6", "--reps", "2", "-q"]


def hostile_map(folder: Path) -> Path:
    """The wealth map in a folder named with markup, its maturity talk track's text an XSS
    attempt (the map still checks: a script's text is any string)."""
    home = folder / "<i>maps</i>"
    shutil.copytree(ROOT / "strategies" / "common", home / "common")
    text = WEALTH.read_text(encoding="utf-8")
    original = 'text "您好,您持有的理财即将到期,我们为您准备了……"'
    assert original in text
    path = home / "wealth.strat"
    path.write_text(text.replace(original, f'text "{XSS}"'), encoding="utf-8")
    return path


def simulate_dir(folder: Path, strategy: Path) -> Path:
    out = folder / "sim"
    assert main(["simulate", str(strategy), *SIZES, "--out", str(out)]) == 0
    return out


def compare_dir(folder: Path, strategy: Path) -> Path:
    out = folder / "cmp"
    assert main(["compare", str(strategy), "--variant", "激进", *SIZES, "--out", str(out)]) == 0
    return out


def review_file(folder: Path, strategy: Path, forecast: Path) -> Path:
    """`stratmap review --format json` of a synthetic live test of ``strategy`` held against
    ``forecast`` (a `simulate --out` of it), written to ``folder/review.json`` (and, as
    `review --out` writes it, to ``folder/review-out``); one play is renamed to markup in the
    JSON document, so the review page shows text that must be escaped."""
    import contextlib
    import io
    import json

    from bankdata.synthetic import write_synthetic_live_test

    list_dir, outcomes = write_synthetic_live_test(strategy, folder / "live", 6000, 9)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "review",
                str(strategy),
                "--list",
                str(list_dir),
                "--outcomes",
                str(outcomes),
                "--forecast",
                str(forecast),
                "--format",
                "json",
                "--out",
                str(folder / "review-out"),
            ]
        )
    assert code == 0
    document = json.loads(printed.getvalue())
    renamed = document["funnel"][0]["play"]
    for key in ("uplift", "funnel", "recalibration"):
        for row in document[key]:
            if row["play"] == renamed:
                row["play"] = f"{XSS}{renamed}"
    path = folder / "review.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def backtest_dir(folder: Path) -> Path:
    """`stratmap backtest --out` on a small synthetic book (calibration.synthetic): 600
    customers with closures, a year of transactions and month-end balances, calibrated to the
    end of March, tracked per month (so the directory has survivors and AUM too)."""
    from calibration.synthetic import write_synthetic_bank

    bank = folder / "bank"
    write_synthetic_bank(bank, customers=600, seed=5)
    out = folder / "backtest"
    argv = [
        "backtest",
        "--customers", str(bank / "customers.csv"),
        "--transactions", str(bank / "transactions.csv"),
        "--balances", str(bank / "balances.csv"),
        "--split", "2026-03-31", "--end", "2026-06-30", "--period", "month",
        "--copies", "8", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    return out
