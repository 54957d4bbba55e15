"""`stratmap size` and ``simulator.analysis.sizing_report``: each metric is measured per customer
the way the bank measures it live, its numbers are the planning functions' on what the simulation
produced (and within 1% of statsmodels'), and bad input is a plain message with exit 2."""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sim_support import HEADER, LIFECYCLE, POPULATION, STRATEGIES, bundled, model_of
from statsmodels.stats.power import NormalIndPower, tt_ind_solve_power
from statsmodels.stats.proportion import (
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
)

from simulator.analysis.compare import FEN_PER_UNIT
from simulator.analysis.sizing_report import (
    ELIGIBLE_BIT,
    EligibleOutcomes,
    SizeReport,
    _size_metric,
    observe_eligible,
    rule_plays,
    size_report,
)
from simulator.engine.run import simulate
from simulator.kernels.population import State
from simulator.planning import (
    mde_means,
    mde_proportions,
    power_proportions,
    ratio_for_control_share,
    sample_size_means,
    sample_size_proportions,
)
from strategy_dsl.model import CheckedStrategy
from strategy_dsl.variants import apply_variant
from stratmap.cli import main

WEALTH = str(STRATEGIES / "wealth_2026q1.strat")
SIZES = ["--customers", "3000", "--months", "6", "--reps", "4", "--seed", "3", "-q"]
RUN: dict[str, Any] = dict(customers=3000, months=6, reps=4, seed=3, threads=2)
TOLERANCE = 0.01  # statsmodels agreement, relative


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _contact_sells_only(model: CheckedStrategy) -> CheckedStrategy:
    """``model`` without its `book` and without the products held at step 0 (`held by`): both
    earn revenue on customers no contact reached."""
    products = {name: replace(p, held={}, holding=None) for name, p in model.products.items()}
    return replace(model, book=None, products=products)


class Sized:
    """The bundled map's base and variant 激进, simulated once with common random numbers,
    with the customers the sizing observed and an independent record of the same run."""

    def __init__(self) -> None:
        # Without its `book`: these tests hold the report's arithmetic where only a contact
        # sells (every fen of revenue traceable to an eligible customer, none in control). The
        # CLI tests below size the map as it is, book included.
        base = bundled("wealth_2026q1.strat")
        self.model = _contact_sells_only(base)
        self.variant = _contact_sells_only(apply_variant(base, "激进"))
        self.base_outcomes, observe = observe_eligible(6)
        self.base_output = simulate(self.model, observe_ledger=observe, **RUN)
        self.outcomes, observe = observe_eligible(6)
        self.seen: dict[int, dict[str, np.ndarray]] = {}
        self.output = simulate(
            self.variant,
            observe_ledger=observe,
            observe=self._record,
            **RUN,
        )

    def _record(self, rep: int, t: int, states: list[State]) -> None:
        """Independently of the sizing: per row, the AUM at the end of the step the customer
        first became eligible, and the arm and AUM at the end."""
        (st,) = states
        seen = self.seen.setdefault(rep, {"first": np.zeros(0, np.int32), "aum": np.zeros(0)})
        if seen["first"].size < st.cid.size:
            first = np.full(st.cid.size, -1, np.int32)
            first[: seen["first"].size] = seen["first"]
            aum = np.zeros(st.cid.size)
            aum[: seen["aum"].size] = seen["aum"]
            seen["first"], seen["aum"] = first, aum
        if t >= 1:
            now = ((st.dec & ELIGIBLE_BIT) != 0) & (st.alive == 1) & (seen["first"] == -1)
            seen["first"][now] = t
            seen["aum"][now] = st.aum[now]
        if t == 6:
            seen["arm"] = st.arm.copy()
            seen["end"] = np.where(st.alive == 1, st.aum, 0.0)

    def report(self, **options: Any) -> SizeReport:
        return size_report(
            self.variant,
            self.output,
            self.outcomes,
            variant="激进",
            base_output=self.base_output,
            base_outcomes=self.base_outcomes,
            **options,
        )


@pytest.fixture(scope="module")
def sized() -> Sized:
    return Sized()


# ------------------------------------------------------------------------------ what is measured


def test_revenue_per_customer_is_the_runs_revenue_customer_by_customer(sized: Sized) -> None:
    """No revenue arises before a customer is eligible (only a contact sells), so the revenue
    of the eligible customers from their first eligible step adds up to the run's revenue of
    the arm, to the fen; the control group is never contacted and earns nothing."""
    revenue = np.asarray(sized.output.revenue_fen, dtype=np.int64).sum(axis=1)  # (R, A)
    for rep in range(4):
        treated = sized.outcomes.revenue[0][rep]
        assert round(float(treated.sum()) * FEN_PER_UNIT) == revenue[rep, 0] > 0
        assert not sized.outcomes.revenue[1][rep].any() and revenue[rep, 1] == 0


def test_aum_added_starts_from_the_aum_before_the_first_eligible_steps_contacts(
    sized: Sized,
) -> None:
    """A control customer is never contacted, so the AUM before the contacts of the step it
    first became eligible is the AUM at the end of that step, recorded independently; a
    treated customer who bought that step started lower by the purchase."""
    for rep in range(4):
        seen = sized.seen[rep]
        ever = seen["first"] >= 0
        for arm in (0, 1):
            rows = ever & (seen["arm"] == arm)
            added = sized.outcomes.aum_added[arm][rep]
            assert np.array_equal(sized.outcomes.aum_end[arm][rep], seen["end"][rows])
            entry = seen["end"][rows] - added
            if arm == 1:
                assert np.allclose(entry, seen["aum"][rows], rtol=0, atol=1e-6)
            else:
                assert np.all(entry <= seen["aum"][rows] + 1e-6)
                assert np.any(entry < seen["aum"][rows] - 1.0)  # purchases at the first step


def test_aum_added_varies_far_less_than_the_aum_at_the_end(
    sized: Sized, capsys: pytest.CaptureFixture[str]
) -> None:
    report = sized.report()
    added = report.metric("aum_added_per_customer")
    assert added.sd_control is not None and report.aum_end_sd_control is not None
    ratio = added.sd_control / report.aum_end_sd_control
    with capsys.disabled():
        print(
            f"\nAUM added vs AUM at the end, control sd: {added.sd_control:,.0f} / "
            f"{report.aum_end_sd_control:,.0f} = {ratio:.3f} (n shrinks {1 / ratio**2:,.0f}x)"
        )
    assert ratio < 0.5
    assert added.note is not None and f"{ratio:.2f}x" in added.note


# ------------------------------------------------------------------------------ the numbers


def test_size_report_equals_direct_calls_of_the_planning_functions(sized: Sized) -> None:
    outcomes = sized.outcomes
    report = sized.report(alpha=0.05, power=0.8, n=30_000)
    ratio = ratio_for_control_share(0.1)
    assert report.ratio == ratio
    churn = report.metric("churn_rate")
    # The inputs are the observed eligible customers' outcomes, arm by arm.
    treated, held = outcomes.arm(0, "churned"), outcomes.arm(1, "churned")
    assert churn.baseline == held.mean() and churn.effect == treated.mean() - held.mean()
    direct = sample_size_proportions(churn.baseline, churn.effect, ratio=ratio, method="z")
    assert churn.sample_size == direct
    assert churn.at_n == power_proportions(churn.baseline, churn.effect, 30_000, ratio=ratio)
    direction = "increase" if churn.effect > 0 else "decrease"
    assert churn.mde == mde_proportions(churn.baseline, 30_000, ratio=ratio, direction=direction)
    assert churn.months == direct.months_to_reach(report.eligible_per_month)
    added = report.metric("aum_added_per_customer")
    sd_c = float(outcomes.arm(1, "aum_added").std(ddof=1))
    sd_t = float(outcomes.arm(0, "aum_added").std(ddof=1))
    assert (added.sd_control, added.sd_treatment) == (sd_c, sd_t)
    means = sample_size_means(added.effect, sd_c, sd_t, baseline=added.baseline, ratio=ratio)
    assert added.sample_size == means
    assert added.mde == mde_means(30_000, sd_c, sd_t, baseline=added.baseline, ratio=ratio)
    assert added.opportunity_cost == pytest.approx(report.value_per_treated * means.n_control)
    # Revenue: the control arm earns 0 in the simulation, so both arms take the treated sd.
    revenue = report.metric("revenue_per_customer")
    sd_t = float(outcomes.arm(0, "revenue").std(ddof=1))
    assert revenue.baseline == 0.0 and revenue.sd_control == revenue.sd_treatment == sd_t
    assert revenue.note is not None and "no revenue without a contact" in revenue.note
    assert revenue.sample_size == sample_size_means(
        revenue.effect, sd_t, sd_t, baseline=0.0, ratio=ratio
    )


def test_response_rate_is_base_vs_variant_among_contacted_customers(sized: Sized) -> None:
    report = sized.report(n=5000, variant_share=0.25)
    response = report.metric("response_rate")
    base, variant = sized.base_outcomes.responses(), sized.outcomes.responses()
    assert base.size == sum(sized.base_outcomes.contacted) > 100
    assert (response.baseline, response.treatment) == (base.mean(), variant.mean())
    ratio = 0.75 / 0.25  # n_base / n_variant
    assert report.variant_test is not None and report.variant_test.ratio == ratio
    design = sample_size_proportions(response.baseline, response.effect, ratio=ratio)
    assert response.sample_size == design
    flow_b = report.variant_test.contacted_per_month_base
    flow_v = report.variant_test.contacted_per_month_variant
    # 3,000 simulated customers rehearse the declared 200k: the bank's flows are 200k/3k times.
    assert report.scale == 200_000 / 3000
    assert flow_b == pytest.approx(report.scale * np.mean(sized.base_outcomes.contacted) / 6)
    assert report.eligible_per_month == pytest.approx(
        report.scale * np.mean(sized.outcomes.first_eligible) / 6
    )
    assert response.months == pytest.approx(
        max(design.n_treatment / (flow_v * 0.25), design.n_control / (flow_b * 0.75))
    )
    assert response.at_n == power_proportions(response.baseline, response.effect, 5000, ratio=ratio)


def _relative(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / theirs


def test_every_new_metrics_n_agrees_with_statsmodels(
    sized: Sized, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each method against its own statsmodels counterpart, on the report's own inputs."""
    worst: dict[str, float] = {}
    for method in ("welch", "normal", "z", "arcsine"):
        report = sized.report(method=method, alpha=0.05, power=0.8)
        for row in report.metrics:
            design = row.sample_size
            if design is None or row.method != method:
                continue
            assert row.effect is not None and row.baseline is not None
            if method == "welch":
                theirs = tt_ind_solve_power(
                    effect_size=design.standardized_effect,
                    alpha=0.05,
                    power=0.8,
                    ratio=design.ratio,
                )
            elif method == "normal":
                theirs = NormalIndPower().solve_power(
                    effect_size=design.standardized_effect,
                    alpha=0.05,
                    power=0.8,
                    ratio=design.ratio,
                )
            elif method == "z":
                theirs = samplesize_proportions_2indep_onetail(
                    row.effect, row.baseline, 0.8, ratio=design.ratio, alpha=0.05
                )
            else:
                h = proportion_effectsize(row.baseline + row.effect, row.baseline)
                theirs = NormalIndPower().solve_power(
                    effect_size=h, alpha=0.05, power=0.8, ratio=design.ratio
                )
            key = f"{row.metric} ({design.method})"
            worst[key] = _relative(design.n_treatment_exact, float(theirs))
    with capsys.disabled():
        print()
        for key, deviation in worst.items():
            print(f"  {key}: n within {deviation:.2e} of statsmodels")
    assert set(worst) >= {
        "aum_added_per_customer (Welch t test)",
        "aum_added_per_customer (normal approximation (z test on means))",
        "revenue_per_customer (Welch t test)",
        "response_rate (pooled-variance z test)",
        "response_rate (arcsine (Cohen's h))",
    }
    assert max(worst.values()) < TOLERANCE


# ------------------------------------------------------------------------------ the command


def test_size_command_json_text_and_parquet_agree(tmp_path: Path) -> None:
    out_dir = tmp_path / "size"
    code, document, err = run(
        "size", WEALTH, *SIZES, "--method", "arcsine", "--format", "json", "--out", str(out_dir)
    )
    assert code == 0, err
    data = json.loads(document)
    assert data["schema"] == "stratmap.size/2"
    rows = {m["metric"]: m for m in data["metrics"]}
    assert list(rows) == [
        "churn_rate",
        "aum_added_per_customer",
        "revenue_per_customer",
        "response_rate",
    ]
    churn = rows["churn_rate"]
    assert churn["method_name"] == "arcsine (Cohen's h)"
    direct = sample_size_proportions(
        churn["baseline"], churn["effect"], ratio=data["ratio"], method="arcsine"
    )
    assert (churn["n_treatment"], churn["n_control"]) == (direct.n_treatment, direct.n_control)
    # arcsine is for proportions: means keep Welch
    assert rows["aum_added_per_customer"]["method_name"] == "Welch t test"
    assert rows["aum_added_per_customer"]["label"] == "AUM added per eligible customer"
    # Without a variant the response rate is explained, not sized.
    response = rows["response_rate"]
    assert response["n_treatment"] is None and "never contacted" in response["error"]
    assert data["variant_test"] is None
    table = pd.read_parquet(out_dir / "sizing.parquet")
    assert table["metric"].tolist() == list(rows)
    assert str(table["n_treatment"].dtype) == "Int64"  # counts stay integers, <NA> if unsized
    for column in ("n_treatment", "effect", "sd_control", "months_to_reach", "opportunity_cost"):
        assert table[column].astype("float64").tolist() == pytest.approx(
            [math.nan if m[column] is None else m[column] for m in data["metrics"]], nan_ok=True
        )
    code, text, err = run("size", WEALTH, *SIZES, "--n", "20k")
    assert code == 0, err
    assert "pooled-variance z test" in text and "Welch t test" in text
    assert "AUM added per eligible customer" in text and "revenue per eligible customer" in text
    assert "power at n = 20,000 treated" in text
    assert "response rate (contacted customers): not sized" in text and "--variant" in text
    # The same sizes and seed: the text shows the JSON's numbers (means use Welch in both).
    added = rows["aum_added_per_customer"]
    assert f"{added['n_treatment']:,} / {added['n_control']:,}" in text


def test_size_with_a_variant_sizes_the_response_rate_against_the_base() -> None:
    code, document, err = run(
        "size", WEALTH, *SIZES, "--variant", "激进", "--variant-share", "0.3", "--format", "json"
    )
    assert code == 0, err
    data = json.loads(document)
    response = data["metrics"][-1]
    assert response["comparison"] == "variant vs base" and response["error"] is None
    assert data["variant_test"]["variant_share"] == 0.3
    direct = sample_size_proportions(
        response["baseline"], response["effect"], ratio=0.7 / 0.3, method="z"
    )
    assert (response["n_treatment"], response["n_control"]) == (
        direct.n_treatment,
        direct.n_control,
    )
    code, text, err = run("size", WEALTH, *SIZES, "--variant", "激进")
    assert code == 0, err
    assert "Variant test: base vs 激进 among contacted customers, 50% of the test" in text
    assert "customers per arm (variant / base)" in text


def test_rule_measures_the_response_of_the_customers_one_rule_contacted() -> None:
    """话术B changes the script of 临界提升 alone: among that rule's contacted customers the
    effect is the script's, undiluted by the other plays' contacts."""
    model = bundled("wealth_2026q1.strat")
    variant = apply_variant(model, "话术B")
    group, plays = rule_plays(model, "临界提升") or (None, None)
    assert group == 0 and plays is not None and plays.tolist() == [0]
    runs = []
    for alternative in (model, variant):
        outcomes, observe = observe_eligible(6, (group, plays))
        seen: list[int] = []

        def count(rep: int, t: int, states: list[State], seen: list[int] = seen) -> None:
            (st,) = states
            if t == 6:  # treated customers whose last contact by the rule fell in the horizon
                seen.append(int(((st.last_contact[:, 0] >= 1) & (st.arm == 0)).sum()))

        output = simulate(alternative, observe_ledger=observe, observe=count, **RUN)
        assert outcomes.contacted == seen
        runs.append((output, outcomes))
    report = size_report(
        variant,
        runs[1][0],
        runs[1][1],
        variant="话术B",
        base_output=runs[0][0],
        base_outcomes=runs[0][1],
        rule="临界提升",
    )
    response = report.metric("response_rate")
    assert response.label == "response rate (customers 临界提升 contacted)"
    assert report.variant_test is not None and report.variant_test.rule == "临界提升"
    assert response.baseline == runs[0][1].responses().mean()


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
        (["--variant", "激进", "--variant-share", "1"], "--variant-share 1: must lie strictly"),
        (["--variant-share", "0.3"], "--variant-share is the variant's share"),
        (["--rule", "临界提升"], "--rule measures the response rate of a base vs variant test"),
        (["--variant", "话术B", "--rule", "没有"], "--rule 没有: no rule or journey of that name"),
    ],
)
def test_bad_size_input_exits_2_and_says_what_to_change(argv: list[str], says: str) -> None:
    code, _, err = run("size", WEALTH, *argv)
    assert code == 2
    assert says in err and "Traceback" not in err


def test_a_variant_identical_to_the_base_cannot_be_sized(tmp_path: Path) -> None:
    """A variant that restates the base's settings gives the same response rate (common
    random numbers: exactly): effect 0, a message, exit 2."""
    text = Path(WEALTH).read_text(encoding="utf-8")
    shutil.copytree(STRATEGIES / "common", tmp_path / "common")  # its import
    path = tmp_path / "same.strat"
    path.write_text(
        text + "\nvariant 照旧 {\n  rule 临界提升 {\n    response 6%\n  }\n}\n", encoding="utf-8"
    )
    code, _, err = run("size", str(path), *SIZES, "--variant", "照旧")
    assert code == 2, err
    assert "variant 照旧 gives the same response rate" in err and "effect is 0" in err
    assert "help:" in err and "Traceback" not in err


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
        n=None,
        months=lambda design: design.months_to_reach(100.0),
        forgone_per_customer=1.0,
    )
    assert row.sample_size is None and row.error_field == "effect"
    assert row.error is not None and "effect is 0" in row.error and row.hint


def test_outcomes_of_an_empty_run_are_empty() -> None:
    found = EligibleOutcomes(steps=3)
    assert found.arm(0, "aum_added").size == 0 and found.responses().size == 0


# --------------------------------------------------------------------- the effect's own uncertainty


def test_each_effect_carries_its_interval_across_replications(sized: Sized) -> None:
    """The effect a test is sized on is itself a forecast: its 95% interval is Student t on
    each replication's treatment − control difference (scipy computes it independently here),
    and where it holds 0 the row says that the sizes rest on an effect of unknown sign."""
    from scipy import stats

    report = sized.report()
    for name, what in (
        ("churn_rate", "churned"),
        ("aum_added_per_customer", "aum_added"),
        ("revenue_per_customer", "revenue"),
    ):
        row = report.metric(name)
        per_rep = getattr(sized.outcomes, what)
        diffs = np.array([t.mean() - c.mean() for t, c in zip(per_rep[0], per_rep[1], strict=True)])
        assert diffs.size == RUN["reps"]
        low, high = stats.t.interval(0.95, diffs.size - 1, loc=diffs.mean(), scale=stats.sem(diffs))
        assert (row.effect_low, row.effect_high) == (pytest.approx(low), pytest.approx(high))
        unknown = low <= 0 <= high
        said = row.note is not None and "cannot tell the effect from 0" in row.note
        assert said == unknown, (name, low, high, row.note)
    # The response rate (variant vs base) is not a treatment vs control effect: no interval.
    response = report.metric("response_rate")
    assert response.effect_low is None and response.effect_high is None


def test_an_effect_of_unknown_sign_and_a_test_too_long_are_said() -> None:
    from simulator.analysis.sizing_report import (
        LONGEST_TEST_MONTHS,
        MetricSizing,
        with_forecast_interval,
    )

    def row(effect: float, months: float | None, kind: str = "mean") -> MetricSizing:
        return MetricSizing(
            "aum_added_per_customer", "AUM added", kind, "treatment vs control", "welch",
            "Welch t test", 0.0, effect, effect, 1.0, 1.0, months=months,
        )  # fmt: skip

    clear = with_forecast_interval(row(2.0, 6.0), np.array([1.9, 2.0, 2.1]))
    half = 4.302653 * 0.1 / 3**0.5  # t(0.975, 2) × s / √R
    assert clear.note is None
    assert clear.effect_low == pytest.approx(2.0 - half)
    assert clear.effect_high == pytest.approx(2.0 + half)
    unknown = with_forecast_interval(row(0.5, 6.0), np.array([-1.0, 0.5, 2.0]))
    assert unknown.note is not None and "cannot tell the effect from 0: +0.50" in unknown.note
    assert "[-3.23, +4.23]" in unknown.note  # 0.5 ± 4.3027 × 1.5 / √3
    long = with_forecast_interval(row(2.0, LONGEST_TEST_MONTHS + 1.0), np.array([1.9, 2.0, 2.1]))
    assert long.note is not None and "25 months (2 years)" in long.note
    assert "cannot tell" not in long.note
    share = with_forecast_interval(row(0.01, 6.0, "proportion"), np.array([-0.01, 0.01, 0.03]))
    assert share.note is not None and "+1.00 pp, 95% interval [-3.97 pp, +5.97 pp]" in share.note
    from dataclasses import replace as changed

    from simulator.analysis.sizing_report import VARIANT_VS_BASE, with_duration_note

    variant = with_duration_note(changed(row(0.01, 30.0), comparison=VARIANT_VS_BASE))
    assert variant.note is not None and "30 months (2 years) of contacted customers" in variant.note
    one = with_forecast_interval(row(0.5, 6.0), np.array([0.5, np.nan]))
    assert one.note is None and one.effect_low is None  # one replication: no spread to measure
