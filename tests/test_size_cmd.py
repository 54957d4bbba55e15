"""`stratmap size` and ``simulator.sizing_report``: the numbers are the planning functions'
on what the simulation produced, and bad input is a plain message with exit 2."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sim_support import HEADER, LIFECYCLE, POPULATION, STRATEGIES, bundled, model_of

from simulator.planning import (
    mde_means,
    mde_proportions,
    power_proportions,
    ratio_for_control_share,
    sample_size_means,
    sample_size_proportions,
)
from simulator.run import simulate
from simulator.sizing_report import _size_metric, observe_eligible, size_report
from stratmap.cli import main

WEALTH = str(STRATEGIES / "wealth_2026q1.strat")
SIZES = ["--customers", "3000", "--months", "6", "--reps", "4", "--seed", "3", "-q"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_size_report_equals_direct_calls_of_the_planning_functions() -> None:
    model = bundled("wealth_2026q1.strat")
    outcomes, observe = observe_eligible(6)
    out = simulate(model, customers=3000, months=6, reps=4, seed=3, threads=2, observe=observe)
    report = size_report(model, out, outcomes, alpha=0.05, power=0.8, n=30_000)
    ratio = ratio_for_control_share(0.1)
    assert report.ratio == ratio
    churn, aum = report.metrics
    # The inputs are the observed eligible customers' outcomes, arm by arm.
    treated, held = outcomes.arm(0, "churned"), outcomes.arm(1, "churned")
    assert churn.baseline == held.mean() and churn.effect == treated.mean() - held.mean()
    direct = sample_size_proportions(churn.baseline, churn.effect, ratio=ratio, method="z")
    assert churn.sample_size == direct
    assert churn.at_n == power_proportions(churn.baseline, churn.effect, 30_000, ratio=ratio)
    direction = "increase" if churn.effect > 0 else "decrease"
    assert churn.mde == mde_proportions(churn.baseline, 30_000, ratio=ratio, direction=direction)
    assert churn.months == direct.months_to_reach(report.eligible_per_month)
    sd_c = float(outcomes.arm(1, "aum").std(ddof=1))
    sd_t = float(outcomes.arm(0, "aum").std(ddof=1))
    assert (aum.sd_control, aum.sd_treatment) == (sd_c, sd_t)
    means = sample_size_means(aum.effect, sd_c, sd_t, baseline=aum.baseline, ratio=ratio)
    assert aum.sample_size == means
    assert aum.mde == mde_means(30_000, sd_c, sd_t, baseline=aum.baseline, ratio=ratio)
    assert aum.opportunity_cost == pytest.approx(report.value_per_treated * means.n_control)


def test_size_command_json_text_and_parquet_agree(tmp_path: Path) -> None:
    out_dir = tmp_path / "size"
    code, document, err = run(
        "size", WEALTH, *SIZES, "--method", "arcsine", "--format", "json", "--out", str(out_dir)
    )
    assert code == 0, err
    data = json.loads(document)
    churn = data["metrics"][0]
    assert churn["method_name"] == "arcsine (Cohen's h)"
    direct = sample_size_proportions(
        churn["baseline"], churn["effect"], ratio=data["ratio"], method="arcsine"
    )
    assert (churn["n_treatment"], churn["n_control"]) == (direct.n_treatment, direct.n_control)
    aum = data["metrics"][1]
    assert aum["method_name"] == "Welch t test"  # arcsine is for proportions: means keep Welch
    table = pd.read_parquet(out_dir / "sizing.parquet")
    assert table["n_treatment"].tolist() == [m["n_treatment"] for m in data["metrics"]]
    code, text, err = run("size", WEALTH, *SIZES, "--n", "20k")
    assert code == 0, err
    assert "pooled-variance z test" in text and "Welch t test" in text
    assert "power at n = 20,000 treated" in text


NO_CONTROL = (
    HEADER
    + POPULATION
    + LIFECYCLE
    + """
product 存款 {
  kind deposit
  risk R1
}
channel 外呼 {
  cost 8 per contact
}
rule 全员 priority 1 {
  offer 存款 via 外呼
  response 5%
}
"""
)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--alpha", "1.5"], "--alpha 1.5: must lie strictly between 0 and 1"),
        (["--power", "0"], "--power 0: must lie strictly between 0 and 1"),
        (["--alpha", "5%"], "--alpha 5%: not a number"),
        (["--variant", "保守"], "the strategy's variants: 激进, 话术B"),
    ],
)
def test_bad_size_input_exits_2_and_says_what_to_change(argv: list[str], says: str) -> None:
    code, _, err = run("size", WEALTH, *argv)
    assert code == 2
    assert says in err and "Traceback" not in err


def test_a_strategy_without_control_group_cannot_be_sized(tmp_path: Path) -> None:
    path = tmp_path / "s.strat"
    path.write_text(NO_CONTROL, encoding="utf-8")
    model_of(tmp_path, NO_CONTROL, "check.strat")  # it checks
    code, _, err = run("size", str(path), "--customers", "500", "--months", "2", "--reps", "2")
    assert code == 2
    assert "no control group" in err and "control 10%" in err and "Traceback" not in err


def test_a_zero_effect_says_that_no_sample_size_detects_it() -> None:
    same = np.array([0.0, 1.0, 0.0, 0.0, 1.0])
    row = _size_metric(
        "churn_rate",
        "churn",
        "proportion",
        same,
        same,
        method="z",
        alpha=0.05,
        power=0.8,
        ratio=1 / 9,
        flow=100.0,
        n=None,
        value_per_treated=1.0,
    )
    assert row.sample_size is None and row.error_field == "effect"
    assert row.error is not None and "effect is 0" in row.error and row.hint
