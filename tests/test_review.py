"""`stratmap review` (经营回检): its statistics checked against scipy/statsmodels and for
coverage on synthetic live tests with a known effect; its bad input refused with exit 2,
naming file, column and rows, and nothing written; its recalibration written only on request,
changing only the numbers."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from bankdata.outcomes import match_list
from bankdata.synthetic import TRUTH, LiveTruth, synthetic_live_test, write_synthetic_live_test
from simulator.analysis.review import predictive_rate, predictive_uplift, review
from strategy_dsl.checker import check_paths
from stratmap.cli import main

ROOT = Path(__file__).resolve().parents[1]
WEALTH = ROOT / "strategies" / "wealth_2026q1.strat"
ONE_RULE = """\
strategy "回检示例" {
  horizon 3 months
}

product 稳健理财 {
  kind wealth
  risk R1
}

channel 外呼 {
  cost 8 per contact
  reach 45%
}

rule 临界提升 priority 80 {
  offer 稳健理财 via 外呼
  response 6%  # base response among reached
  holdout 10%
}

policy {
  control 10%  # 非模型组
}
"""


@pytest.fixture(scope="module")
def one_rule(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("map") / "one.strat"
    path.write_text(ONE_RULE, encoding="utf-8")
    return path, next(iter(check_paths([path]).models.values()))


def _joined(model, customers: int, seed: int, truth: LiveTruth = TRUTH) -> pd.DataFrame:
    rows, outcomes = synthetic_live_test(model, customers, seed, truth)
    return match_list(rows, outcomes, Path("outcomes.parquet"))


def _row(document, metric: str, versus: str = "global_control") -> dict:
    return next(r for r in document["uplift"] if r["metric"] == metric and r["versus"] == versus)


# ------------------------------------------------------------------------------ the statistics


def test_intervals_agree_with_statsmodels(one_rule) -> None:
    _path, model = one_rule
    joined = _joined(model, 6000, 3)
    document = review(joined, model)
    treated = joined[joined["arm"] == "treatment"]
    for versus in ("global_control", "rule_holdout"):
        other = joined[joined["arm"] == versus]
        for metric, column in (("response_rate", "responded"), ("churn_rate", "churned")):
            got = _row(document, metric, versus)["actual"]
            low, high = confint_proportions_2indep(
                treated[column].sum(),
                len(treated),
                other[column].sum(),
                len(other),
                method="newcomb",
                compare="diff",
            )
            assert got["low"] == pytest.approx(low, abs=1e-12)
            assert got["high"] == pytest.approx(high, abs=1e-12)
            assert got["method"] == "Newcombe hybrid score"
        change = (treated["aum_after"] - treated["aum_before"]).to_numpy()
        change_c = (other["aum_after"] - other["aum_before"]).to_numpy()
        low, high = CompareMeans(DescrStatsW(change), DescrStatsW(change_c)).tconfint_diff(
            usevar="unequal"
        )
        got = _row(document, "aum_change", versus)["actual"]
        assert got["low"] == pytest.approx(low, rel=1e-9)
        assert got["high"] == pytest.approx(high, rel=1e-9)


def test_sample_ratio_agrees_with_scipy(one_rule) -> None:
    _path, model = one_rule
    joined = _joined(model, 6000, 4)
    entry = next(e for e in review(joined, model)["sample_ratio"] if e["scope"] == "临界提升")
    counts = [entry["counts"][a] for a in ("treatment", "global_control", "rule_holdout")]
    expected = np.array([0.81, 0.10, 0.09]) * sum(counts)
    statistic, p_value = stats.chisquare(counts, expected)
    assert entry["statistic"] == pytest.approx(statistic) and entry["p_value"] == pytest.approx(
        p_value
    )
    assert entry["mismatch"] is False


def test_contacts_against_the_list_are_counted(one_rule) -> None:
    _path, model = one_rule
    joined = _joined(model, 3000, 12)
    suppressed = joined.index[(joined["arm"] == "treatment") & (joined["action"] == "suppress")]
    control = joined.index[joined["arm"] == "global_control"]
    joined.loc[suppressed[:7], "contacted"] = True
    joined.loc[control[:3], "contacted"] = True
    notes = review(joined, model)["notes"]
    assert any(n.startswith("7 treatment row(s) the list suppressed were contacted") for n in notes)
    assert any(n.startswith("3 control or holdout row(s) were contacted") for n in notes)


def test_a_broken_holdout_is_a_sample_ratio_mismatch(one_rule) -> None:
    _path, model = one_rule
    joined = _joined(model, 6000, 5)
    # A CRM that dropped most of the control arm after assignment.
    control = joined.index[joined["arm"] == "global_control"]
    leaky = joined.drop(control[: len(control) * 2 // 3])
    entry = review(leaky, model)["sample_ratio"][0]
    assert entry["scope"] == "(customers)" and entry["mismatch"] is True
    assert "sample ratio mismatch" in entry["verdict"]


def test_uplift_interval_covers_the_known_effect(one_rule) -> None:
    """500 synthetic live tests with a known response uplift; the 95% Newcombe interval the
    review reports must cover it in 95% of them, within a binomial band (±3 sd)."""
    _path, model = one_rule
    truth = LiveTruth()
    true_uplift = truth.contact_rate * 0.45 * 0.06 * truth.response_factor - truth.organic_response
    covered = 0
    reps = 500
    for seed in range(reps):
        document = review(_joined(model, 2000, 1000 + seed, truth), model)
        interval = _row(document, "response_rate")["actual"]
        covered += interval["low"] <= true_uplift <= interval["high"]
    sd = math.sqrt(0.95 * 0.05 / reps)
    assert 0.95 - 3 * sd <= covered / reps <= 0.95 + 3 * sd, covered / reps


def test_predictive_intervals_cover_a_live_test_of_a_right_forecast() -> None:
    """The forecast is R replications at a simulated size m of the true rates; the live test
    n customers of the same truth. The predictive interval at the live size must hold the
    live result 95% of the time (binomial band ±3 sd); without its Monte Carlo part it would
    not (checked: it then covers clearly less at these sizes)."""
    rng = np.random.default_rng(20261206)
    reps, trials = 5, 500
    p_t, p_c, m, n_t, n_c = 0.05, 0.01, 3000, 4000, 450
    rate_hits = uplift_hits = narrow_hits = 0
    for _ in range(trials):
        sim_t = rng.binomial(m, p_t, reps) / m
        sim_c = rng.binomial(m // 9, p_c, reps) / (m // 9)
        live_t = rng.binomial(n_t, p_t) / n_t
        live_c = rng.binomial(n_c, p_c) / n_c
        rate = predictive_rate(sim_t, n_t)
        rate_hits += rate.contains(live_t)
        uplift = predictive_uplift(sim_t, sim_c, n_t, n_c)
        uplift_hits += uplift.contains(live_t - live_c)
        half = 1.96 * math.sqrt(sim_t.mean() * (1 - sim_t.mean()) / n_t)
        narrow_hits += abs(live_t - sim_t.mean()) <= half
    sd = math.sqrt(0.95 * 0.05 / trials)
    for hits in (rate_hits, uplift_hits):
        assert 0.95 - 3 * sd <= hits / trials <= 0.95 + 3 * sd, hits / trials
    assert narrow_hits / trials < rate_hits / trials


def test_recalibration_moves_towards_the_truth_and_keeps_a_right_rate(one_rule) -> None:
    _path, model = one_rule
    lower = review(_joined(model, 40_000, 6, LiveTruth(response_factor=0.6)), model)
    row = lower["recalibration"][0]
    # The truth is 3.6% among the reached (map 6% x 0.6), some 12,000 reached: se 0.17pp.
    assert row["changed"] and abs(row["proposed_rate"] - 0.036) < 0.006
    strength = lower["prior_strength"]
    assert row["posterior_rate_among_reached"] == pytest.approx(
        (strength * 0.06 + row["responded"]) / (strength + row["reached"])
    )
    right = review(_joined(model, 40_000, 7, LiveTruth(response_factor=1.0)), model)
    assert not right["recalibration"][0]["changed"]
    assert right["recalibration"][0]["proposed_rate"] == 0.06


def test_an_uplift_that_cannot_be_measured_is_noted_not_left_blank(one_rule) -> None:
    # Was silent: a play whose global control had no measured row got no uplift row at all,
    # and an AUM change with one holdout row was shown as "-", with no note saying why.
    _path, model = one_rule
    joined = _joined(model, 3000, 11)
    arm = joined["arm"]
    holdout_rows = np.flatnonzero(arm.to_numpy() == "rule_holdout")
    measured = (arm != "global_control").to_numpy() & ~np.isin(
        np.arange(len(joined)), holdout_rows[1:]
    )
    document = review(joined.assign(has_outcome=joined["has_outcome"] & measured), model)
    assert not [r for r in document["uplift"] if r["versus"] == "global_control"]
    treated = int(((arm == "treatment") & joined["has_outcome"]).sum())
    notes = "\n".join(document["notes"])
    assert (
        f"no uplift where an arm has no measured row (treatment or control): 临界提升 vs "
        f"global_control ({treated}/0 rows)" in notes
    ), notes
    aum = _row(document, "aum_change", "rule_holdout")
    assert aum["actual"] is None and aum["n_control"] == 1
    assert (
        f"no interval for the AUM change (Welch needs 2 rows in each arm and some "
        f"spread): 临界提升 vs rule_holdout ({treated}/1 rows)" in notes
    ), notes
    for row in document["uplift"]:  # every other interval is a number, none NaN
        if row["actual"] is not None:
            assert all(math.isfinite(row["actual"][k]) for k in ("estimate", "low", "high"))


# ------------------------------------------------------------------------------ the command


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def live_data(tmp_path_factory: pytest.TempPathFactory, one_rule):
    path, _model = one_rule
    folder = tmp_path_factory.mktemp("live")
    truth = LiveTruth(response_factor=0.6)
    list_dir, outcomes = write_synthetic_live_test(path, folder, 8000, 8, truth)
    return list_dir, outcomes


@pytest.fixture()
def live(tmp_path: Path, one_rule, live_data):
    """A copy of the map (same bytes, same hash) beside the list and outcomes it answers."""
    path, _model = one_rule
    map_path = tmp_path / "one.strat"
    shutil.copy(path, map_path)
    return map_path, *live_data


def test_review_as_text_json_and_markdown(capsys, live) -> None:
    map_path, list_dir, outcomes = live
    base = ["review", map_path, "--list", list_dir, "--outcomes", outcomes]
    code, out, err = run(capsys, *base)
    assert code == 0, err
    assert "Sample-ratio check" in out and "response 6% →" in out and "-  response 6%" in out
    code, out, _ = run(capsys, *base, "--format", "json")
    document = json.loads(out)
    assert code == 0 and document["schema"] == "stratmap.review/1"
    assert document["rows"]["measured"] == document["rows"]["list"]
    assert document["diff"].startswith("--- a/one.strat")
    code, out, _ = run(capsys, *base, "--format", "markdown")
    assert code == 0 and "## Sample-ratio check" in out and "```diff" in out
    assert map_path.read_text("utf-8") == ONE_RULE  # nothing written without --write


def test_write_changes_only_the_number(capsys, live) -> None:
    map_path, list_dir, outcomes = live
    code, _out, err = run(
        capsys, "review", map_path, "--list", list_dir, "--outcomes", outcomes, "--write"
    )
    assert code == 0, err
    written = map_path.read_text("utf-8")
    before, after = ONE_RULE.splitlines(), written.splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1
    old, new = changed[0]
    assert old == "  response 6%  # base response among reached"
    assert new.startswith("  response 4.") and new.endswith("%  # base response among reached")
    assert main(["check", str(map_path)]) == 0
    assert main(["fmt", "--check", str(map_path)]) == 0
    # The list was decided with the map as it was: against the edited map it is refused.
    code, _out, err = run(capsys, "review", map_path, "--list", list_dir, "--outcomes", outcomes)
    assert code == 2 and "decided with another map" in err


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (
            lambda f: pd.concat([f, f.iloc[[3]]]),
            "duplicate rows (customer_id, play) at row 5 ('C00000003'), row 8002",
        ),
        (
            lambda f: pd.concat(
                [f, f.iloc[[0]].assign(customer_id="X1"), f.iloc[[1]].assign(play="别的")]
            ),
            "2 outcome(s) for a customer and play not on the list, at row",
        ),
        (  # was "row 8002 (nan)": a rule's empty wave made the whole label missing
            lambda f: pd.concat([f, f.iloc[[0]].assign(customer_id="X1")]).assign(wave=None),
            "1 outcome(s) for a customer, play and wave not on the list, at row 8002 "
            "('X1 / 临界提升 / wave -')",
        ),
        (  # an id as Excel shows a long number it opened: the digits are gone
            lambda f: f.assign(customer_id=["6.22202E+18", *f["customer_id"][1:]]),
            "help: ids like '6.22202E+18' are numbers Excel made of the ids",
        ),
        (lambda f: f.drop(columns="churned"), "has no column 'churned'"),
        (  # was accepted: "0 or more", and every AUM mean it entered became infinite
            lambda f: f.assign(aum_after=[float("inf")] + [1.0] * (len(f) - 1)),
            "column aum_after: not a finite number at row 2 ('inf')",
        ),
        (lambda f: f.assign(wave=2.5), "column wave: not a wave number at row 2 (2.5)"),
        (
            lambda f: f.assign(wave=[2] + [None] * (len(f) - 1)),
            "1 outcome(s) for a customer, play and wave not on the list, at row 2",
        ),
        (lambda f: f.assign(responded="maybe"), "column responded: not yes/no at row 2 ('maybe')"),
        (
            lambda f: f.assign(aum_before=["x"] + ["1"] * (len(f) - 1)),
            "column aum_before: not a number at row 2 ('x')",
        ),
    ],
)
def test_bad_outcomes_are_named_and_nothing_is_written(capsys, live, spoil, message) -> None:
    map_path, list_dir, outcomes = live
    bad = map_path.parent / "回检.csv"
    spoil(pd.read_parquet(outcomes)).to_csv(bad, index=False, encoding="utf-8-sig")
    code, out, err = run(
        capsys, "review", map_path, "--list", list_dir, "--outcomes", bad, "--write"
    )
    assert code == 2 and out == ""
    assert f"--outcomes {bad}" in err and message in err, err
    assert "Traceback" not in err
    assert map_path.read_text("utf-8") == ONE_RULE


def test_bank_column_names_map(capsys, live) -> None:
    map_path, list_dir, outcomes = live
    theirs = map_path.parent / "回检.csv"
    names = {"customer_id": "客户号", "responded": "是否成交"}
    pd.read_parquet(outcomes).rename(columns=names).to_csv(theirs, index=False)
    code, out, err = run(
        capsys,
        "review",
        map_path,
        "--list",
        list_dir,
        "--outcomes",
        theirs,
        "--map",
        "customer_id=客户号,responded=是否成交",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["rows"]["measured"] > 0


def test_a_bad_column_mapping_is_a_usage_error(capsys, live) -> None:
    map_path, list_dir, outcomes = live
    code, _out, err = run(
        capsys, "review", map_path, "--list", list_dir, "--outcomes", outcomes, "--map", "客户号"
    )
    assert code == 2 and "--map: '客户号' is not COLUMN=THEIR_NAME" in err
    assert "--outcomes" not in err


def test_a_list_from_another_map_is_refused(capsys, live) -> None:
    _map_path, list_dir, outcomes = live
    code, out, err = run(capsys, "review", WEALTH, "--list", list_dir, "--outcomes", outcomes)
    assert code == 2 and out == ""
    assert f"--list {list_dir}: decided with another map" in err
    assert "help: review a list against the map it was decided with" in err


def test_a_list_that_is_not_one_is_refused(capsys, live, tmp_path) -> None:
    map_path, _list_dir, outcomes = live
    code, _out, err = run(
        capsys, "review", map_path, "--list", tmp_path / "nowhere", "--outcomes", outcomes
    )
    assert code == 2 and "no such directory" in err


def test_missing_outcomes_rows_are_counted_per_arm(capsys, live) -> None:
    map_path, list_dir, outcomes = live
    fewer = map_path.parent / "fewer.parquet"
    pd.read_parquet(outcomes).iloc[100:].to_parquet(fewer)
    code, out, err = run(
        capsys, "review", map_path, "--list", list_dir, "--outcomes", fewer, "--format", "json"
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["rows"]["missing_outcome"] == 100
    assert any("100 list row(s) have no outcome" in note for note in document["notes"])


def test_a_bad_prior_strength_is_a_usage_error(capsys, live) -> None:
    map_path, list_dir, outcomes = live
    code, _out, err = run(
        capsys,
        "review",
        map_path,
        "--list",
        list_dir,
        "--outcomes",
        outcomes,
        "--prior-strength",
        "-1",
    )
    assert code == 2 and "--prior-strength -1" in err


# ------------------------------------------------------------------------------ the forecast


@pytest.fixture(scope="module")
def wealth_forecast(tmp_path_factory: pytest.TempPathFactory):
    """A small forecast of the wealth map and a synthetic live test of it."""
    folder = tmp_path_factory.mktemp("wealth")
    sizes = ["--customers", "4k", "--months", "3", "--reps", "3", "--seed", "5", "-q"]
    code = main(["simulate", str(WEALTH), *sizes, "--out", str(folder / "forecast")])
    assert code == 0
    list_dir, outcomes = write_synthetic_live_test(WEALTH, folder, 6000, 9)
    return folder / "forecast", list_dir, outcomes


def test_actuals_are_held_against_the_forecast(capsys, wealth_forecast) -> None:
    forecast, list_dir, outcomes = wealth_forecast
    code, out, err = run(
        capsys,
        "review",
        WEALTH,
        "--list",
        list_dir,
        "--outcomes",
        outcomes,
        "--forecast",
        forecast,
        "--format",
        "json",
    )
    assert code == 0, err
    document = json.loads(out)
    held = [row for row in document["funnel"] if row["forecast"] is not None]
    assert held, "no play has a forecast"
    for row in held:
        interval = row["forecast"]
        assert row["inside"] == (interval["low"] <= row["actual"] <= interval["high"])
        assert interval["uncertainty"] == "live-test"
    reach = [row for row in held if row["stage"] == "reach"]
    # The synthetic test reaches at the channel's declared reach, as the simulator does.
    assert sum(row["inside"] for row in reach) >= len(reach) - 1
    # The synthetic test contacts 85% of the treatment rows; the simulation contacts nearly
    # all eligible customers of a play with spare capacity: outside, as it should be.
    contact = [row for row in held if row["stage"] == "contact" and row["forecast"]["low"] > 0.9]
    assert contact and not any(row["inside"] for row in contact)
    assert any(r["forecast"] is not None for r in document["uplift"])


def test_a_forecast_of_another_map_is_refused(capsys, wealth_forecast, tmp_path) -> None:
    forecast, list_dir, outcomes = wealth_forecast
    other = tmp_path / "other"
    shutil.copytree(forecast, other)
    summary = json.loads((other / "summary.json").read_text("utf-8"))
    summary["strategy"]["hash"] = "0" * 64
    (other / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    base = ["review", WEALTH, "--list", list_dir, "--outcomes", outcomes, "--forecast"]
    code, out, err = run(capsys, *base, other)
    assert code == 2 and out == "" and "simulated another map" in err
    code, out, err = run(capsys, *base, tmp_path)
    assert code == 2 and "not a results directory" in err


def _spoiled_forecast(forecast: Path, folder: Path, spoil) -> Path:
    copy = folder / "forecast"
    shutil.copytree(forecast, copy)
    spoil(copy)
    return copy


def _edit_summary(folder: Path, **keys: object) -> None:
    summary = json.loads((folder / "summary.json").read_text("utf-8"))
    (folder / "summary.json").write_text(json.dumps({**summary, **keys}), encoding="utf-8")
    shutil.copy(folder / "funnel.parquet", folder.parent / "funnel.parquet")


def _as_compare(folder: Path) -> None:
    summary = json.loads((folder / "summary.json").read_text("utf-8"))
    (folder / "summary.json").write_text(json.dumps({**summary, "schema": "stratmap.compare/1"}))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (  # was "simulated another map (strategy.hash None…)"
            _as_compare,
            "the results of `stratmap compare`, not of `stratmap simulate`",
        ),
        (  # was "cannot be read: …/funnel.parquet", missing or not unsaid
            lambda f: (f / "funnel.parquet").unlink(),
            "funnel.parquet is missing (summary.json lists it)",
        ),
        (  # was "cannot be read: Expecting property name …", the file unnamed
            lambda f: (f / "summary.json").write_text("{", encoding="utf-8"),
            "summary.json: not JSON (",
        ),
        (
            lambda f: (f / "funnel.parquet").write_bytes(b"PAR1"),
            "cannot be read: ",
        ),
        (  # was exit 3: AttributeError in the results reader
            lambda f: _edit_summary(f, files=None),
            "summary.json: lists no funnel table (files.funnel.file is None)",
        ),
        (  # was read, out of the directory: a path in summary.json is never followed
            lambda f: _edit_summary(f, files={"funnel": {"file": "../funnel.parquet"}}),
            "lists no funnel table (files.funnel.file is '../funnel.parquet')",
        ),
        (  # was exit 3: KeyError deep in the forecast's rates
            lambda f: _edit_summary(f, files={"funnel": {"file": "totals.parquet"}}),
            "totals.parquet: no column play, eligible",
        ),
    ],
)
def test_a_forecast_that_is_not_a_whole_simulation_is_named(
    capsys, wealth_forecast, tmp_path, spoil, message
) -> None:
    forecast, list_dir, outcomes = wealth_forecast
    spoiled = _spoiled_forecast(forecast, tmp_path, spoil)
    base = ["review", WEALTH, "--list", list_dir, "--outcomes", outcomes, "--forecast"]
    code, out, err = run(capsys, *base, spoiled)
    assert code == 2 and out == "", err
    assert message in err and "help: " in err and "Traceback" not in err, err


def test_a_fifo_for_the_list_manifest_or_the_forecast_summary_is_refused_not_read(
    live, tmp_path: Path
) -> None:
    # Was a hang: both were read with a plain read, which blocks on a FIFO with no writer.
    map_path, list_dir, outcomes = live
    fifo_list = tmp_path / "list"
    shutil.copytree(list_dir, fifo_list)
    (fifo_list / "manifest.json").unlink()
    os.mkfifo(fifo_list / "manifest.json")
    forecast = tmp_path / "forecast"
    forecast.mkdir()
    os.mkfifo(forecast / "summary.json")
    base = [sys.executable, "-m", "stratmap", "review", str(map_path), "--outcomes", str(outcomes)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for extra, where in (
        (["--list", str(fifo_list)], fifo_list / "manifest.json"),
        (["--list", str(list_dir), "--forecast", str(forecast)], forecast / "summary.json"),
    ):
        done = subprocess.run(
            [*base, *extra], capture_output=True, text=True, timeout=120, env=env
        )  # a hang fails on the timeout
        assert done.returncode == 2, done.stderr
        assert f"{where}: cannot be read: a named pipe (FIFO), not a regular file" in done.stderr
        assert done.stdout == "" and "Traceback" not in done.stderr


def test_an_output_over_an_input_is_refused_and_the_input_kept(
    capsys, wealth_forecast, tmp_path
) -> None:
    # Was exit 0: `--out` onto the forecast replaced the forecast by the review, `--report`
    # onto the outcomes wrote the page over them.
    forecast, list_dir, outcomes = wealth_forecast
    mine = tmp_path / "forecast"
    shutil.copytree(forecast, mine)
    theirs = tmp_path / "outcomes.parquet"
    shutil.copy(outcomes, theirs)
    base = ["review", WEALTH, "--list", list_dir, "--outcomes", theirs, "--forecast", mine]
    for extra, message in (
        (["--out", mine], f"--out {mine}: is --forecast {mine}"),
        (["--report", theirs], f"--report {theirs}: is --outcomes {theirs}"),
        (["--report", list_dir / "r.html"], f"--report {list_dir / 'r.html'}: is inside --list"),
    ):
        code, out, err = run(capsys, *base, *extra)
        assert code == 2 and out == "" and message in err, err
    assert theirs.read_bytes() == Path(outcomes).read_bytes()
    summary = json.loads((mine / "summary.json").read_text("utf-8"))
    assert summary["schema"] == "stratmap.simulation/1"
    assert not (list_dir / "r.html").exists()


def test_a_fifo_as_the_column_mapping_file_is_refused_not_read(live, tmp_path: Path) -> None:
    # Was a hang: --map-file was read plainly (shared by decide, review, calibrate, backtest).
    map_path, list_dir, outcomes = live
    fifo = tmp_path / "map.toml"
    os.mkfifo(fifo)
    argv = ["review", str(map_path), "--list", str(list_dir), "--outcomes", str(outcomes)]
    done = subprocess.run(
        [sys.executable, "-m", "stratmap", *argv, "--map-file", str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # a hang fails on the timeout
    assert done.returncode == 2 and f"--map-file {fifo}: not a regular file" in done.stderr


def test_a_list_whose_csv_went_through_excel_gets_the_excel_hint(capsys, live, tmp_path) -> None:
    # The list's own CSV re-saved by Excel ("C00000001" kept, but numeric ids become "1.0"):
    # no outcome matches, and the message now says why.
    map_path, list_dir, outcomes = live
    copy = tmp_path / "list"
    shutil.copytree(list_dir, copy)
    rows = pd.read_parquet(copy / "list.parquet")
    numeric = {old: f"{n}.0" for n, old in enumerate(rows["customer_id"].unique(), start=1)}
    rows["customer_id"] = rows["customer_id"].map(numeric)
    rows.to_csv(copy / "list.csv", index=False, encoding="utf-8-sig")
    (copy / "list.parquet").unlink()
    manifest = json.loads((copy / "manifest.json").read_text("utf-8"))
    (copy / "manifest.json").write_text(json.dumps({**manifest, "files": ["list.csv"]}), "utf-8")
    code, out, err = run(capsys, "review", map_path, "--list", copy, "--outcomes", outcomes)
    assert code == 2 and out == ""
    assert "not on the list" in err and "help: ids like '1.0' are numbers Excel made" in err


def test_a_map_that_is_a_folder_is_not_called_missing(capsys, live, tmp_path) -> None:
    _map_path, list_dir, outcomes = live
    code, _out, err = run(capsys, "review", tmp_path, "--list", list_dir, "--outcomes", outcomes)
    assert code == 2 and f"{tmp_path}: not a regular file" in err  # was "no such map file"
    code, _out, err = run(capsys, "review", tmp_path / "no.strat", "--list", list_dir,
                          "--outcomes", outcomes)  # fmt: skip
    assert code == 2 and "no such map file" in err


def test_a_list_with_no_rows_is_said_to_be_empty(capsys, live, tmp_path) -> None:
    # Was "--outcomes …: the outcomes table is empty": the list, not the outcomes, is empty.
    from bankdata.contact_list import read_list, write_list

    map_path, list_dir, outcomes = live
    listed = read_list(list_dir)
    keep = ("map", "map_hash", "snapshot_hash", "as_of", "seed", "step", "stratmap_version")
    empty = write_list(
        tmp_path / "empty", listed.rows.iloc[:0], {k: listed.manifest.get(k) for k in keep}
    )
    code, out, err = run(capsys, "review", map_path, "--list", empty, "--outcomes", outcomes)
    assert code == 2 and out == ""
    assert f"--list {empty}: holds no rows" in err and "nothing to review" in err


DEEP = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError on it


def test_a_json_nested_100000_deep_is_a_usage_error_wherever_it_is_read(
    capsys, wealth_forecast, tmp_path
) -> None:
    # Each was exit 3 (RecursionError): the list's manifest, the forecast's summary, the
    # column mapping, the page's summary and a review document, the snapshot's description.
    forecast, list_dir, outcomes = wealth_forecast
    deep_list, deep_forecast = tmp_path / "list", tmp_path / "forecast"
    shutil.copytree(list_dir, deep_list)
    shutil.copytree(forecast, deep_forecast)
    (deep_list / "manifest.json").write_text(DEEP, encoding="utf-8")
    (deep_forecast / "summary.json").write_text(DEEP, encoding="utf-8")
    (tmp_path / "map.json").write_text(DEEP, encoding="utf-8")
    (tmp_path / "review.json").write_text(DEEP, encoding="utf-8")
    base = ["review", WEALTH, "--outcomes", outcomes]
    for argv in (
        [*base, "--list", deep_list],
        [*base, "--list", list_dir, "--forecast", deep_forecast],
        [*base, "--list", list_dir, "--map-file", tmp_path / "map.json"],
        ["report", deep_forecast, "--format", "markdown"],
        ["report", tmp_path / "review.json", "--format", "markdown"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and "nested too deeply" in err, (argv, err)
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "snapshot.json").write_text(DEEP, encoding="utf-8")
    argv = ["--customers", snapshot, "--as-of", "2000-03-01", "-o", tmp_path / "out"]
    code, _out, err = run(capsys, "decide", WEALTH, *argv)
    assert code == 2 and "snapshot.json: not a readable snapshot description" in err, err


# ------------------------------------------------------------------------------ the docs


def _console_commands(page: Path) -> tuple[list[str], list[str]]:
    """The first ```console block of a page: its `$` commands (continuation lines joined) and
    the output lines it shows (`…` lines mark what is left out)."""
    block = page.read_text("utf-8").split("```console\n", 1)[1].split("```\n", 1)[0]
    commands, shown = [], []
    for line in block.splitlines():
        if line.startswith("$ "):
            commands.append(line[2:])
        elif line and line != "…":
            shown.append(line.rstrip())
    return commands, shown


def test_the_docs_walk_through_runs_as_shown(tmp_path: Path) -> None:
    """docs/review.md's example, command by command, in a fresh folder: every command exits
    0 and every output line the page shows is printed."""
    import os
    import shlex
    import subprocess
    import sys

    (tmp_path / "strategies").symlink_to(ROOT / "strategies")
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    environment.pop("COLUMNS", None)
    commands, shown = _console_commands(ROOT / "docs" / "review.md")
    printed: list[str] = []
    for command in commands:
        words = shlex.split(command)
        if words[0] == "stratmap":
            words = [sys.executable, "-m", "stratmap", *words[1:]]
        elif words[0] == "python":
            words = [sys.executable, *words[1:]]
        done = subprocess.run(
            words, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (command, done.stderr)
        printed += [line.rstrip() for line in (done.stdout + done.stderr).splitlines()]
    missing = [line for line in shown if line not in printed]
    assert not missing, missing


def test_a_map_that_does_not_check_is_a_finding(capsys, live, tmp_path) -> None:
    _map_path, list_dir, outcomes = live
    broken = tmp_path / "broken.strat"
    broken.write_text(ONE_RULE.replace("via 外呼", "via 不存在"), encoding="utf-8")
    code, out, err = run(capsys, "review", broken, "--list", list_dir, "--outcomes", outcomes)
    assert code == 1 and out == ""
    assert "does not check; nothing was reviewed" in err and "不存在" in err


def test_a_map_that_cannot_be_written_is_left_as_it_was(capsys, live, monkeypatch) -> None:
    from strategy_dsl import safe_write

    map_path, list_dir, outcomes = live

    def full_disk(path, text):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(safe_write, "write_text", full_disk)
    code, _out, err = run(
        capsys, "review", map_path, "--list", list_dir, "--outcomes", outcomes, "--write"
    )
    assert code == 2 and "cannot write: No space left on device" in err
    assert map_path.read_text("utf-8") == ONE_RULE
