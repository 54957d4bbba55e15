"""`expect` lines judged on simulated runs (``simulator.analysis.expectations``).

The values are checked against an independent path through the same counters: the tidy pandas
tables of ``simulator.results.tables`` and the headline metrics of ``simulator.results.summary``
that `stratmap simulate` prints. The confidence bound is checked against SciPy's t quantile and for
coverage on simulated data with a known mean.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sim_support import HEADER, LIFECYCLE, POPULATION, model_of

from simulator.analysis.expectations import (
    UnsupportedMetric,
    evaluate,
    one_sided_bound,
    variants_needed,
)
from simulator.engine.run import simulate
from simulator.results.summary import headline_values, uplift_values
from simulator.results.tables import all_tables
from strategy_dsl.checker import check_paths
from strategy_dsl.checker.extras import METRICS
from strategy_dsl.variants import apply_variant

PLAYS = """\
channel 外呼 {
  cost 5 per contact
  capacity 100k per month
  reach 60%
}
product 理财 {
  kind wealth
  risk R1
  margin 0.6% per year
  inflow ~ lognormal(median 5万, sigma 0.5)
}
segment 临界 = aum >= 5万
rule 提升 {
  when 临界
  offer 理财 via 外呼
  response 8%
  cooldown 2 months
}
policy {
  control 20%
}
variant 强 {
  rule 提升 {
    response 16%
  }
}
"""

SIZES = {"customers": 3000, "months": 12, "reps": 4, "seed": 11}


def _model(tmp_path: Path, expect: str):
    return model_of(tmp_path, HEADER + POPULATION + LIFECYCLE + PLAYS + expect)


def _run(model, **overrides):
    return simulate(model, **{**SIZES, **overrides})


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory):
    model = _model(tmp_path_factory.mktemp("base"), "")
    return model, _run(model)


def _judge(tmp_path: Path, base_run, lines: str, runs=None):
    """Evaluate ``lines`` as an expect block of the shared strategy, on the shared run."""
    model = _model(tmp_path, "expect {\n" + lines + "\n}\n")
    _, out = base_run
    return evaluate(model, runs or {None: out})


def test_values_match_the_summary_tables(tmp_path: Path, base_run) -> None:
    _, out = base_run
    tables = all_tables(out)
    headline = headline_values(
        tables, reps=out.replication_seeds.size, steps=out.steps, step_unit="month"
    )
    uplift = uplift_values(tables, reps=out.replication_seeds.size, steps=out.steps)
    results = _judge(
        tmp_path,
        base_run,
        "\n".join(
            [
                "churn within 12 months < 100%",
                "aum > 0",
                "revenue > 0",
                "cost > 0",
                "net_value > -1亿",
                "nps > -100",
                "customers > 0",
                "contacts > 0",
                "aum uplift vs control > -1亿",
                "churn uplift vs control < 100%",
                "revenue uplift vs control > -1亿",
            ]
        ),
    )
    # AUM uplift is the AUM each arm added since step 0, per exposed customer.
    totals = tables["totals"]
    reps = out.replication_seeds.size
    added = {}
    for arm in ("treatment", "control"):
        rows = totals[totals["arm"] == arm]
        by_step = rows.groupby(["rep", "step"], observed=True)
        aum = by_step["aum"].sum().unstack()
        exposed = (
            rows[rows["step"] == 0].groupby("rep")["customers"].sum()
            + rows[rows["step"] >= 1].groupby("rep")["acquired"].sum()
        )
        added[arm] = ((aum[out.steps] - aum[0]) / exposed).to_numpy()
    assert len(added["control"]) == reps
    expected = [
        headline["churn_rate_12m"],
        headline["final_aum"],
        headline["revenue"],
        headline["cost"],
        headline["net_value"],
        headline["nps"],
        headline["customers"],
        headline["contacts"],
        added["treatment"] - added["control"],
        uplift["churn_rate"]["uplift"],
        uplift["revenue_per_customer"]["uplift"],
    ]
    for result, values in zip(results, expected, strict=True):
        assert result.error is None, result.error
        assert result.passed
        np.testing.assert_allclose(result.per_rep, values, rtol=1e-9, atol=1e-6)


def test_windows_and_per_month(tmp_path: Path, base_run) -> None:
    _, out = base_run
    tables = all_tables(out)
    totals = tables["totals"]
    six = totals[(totals["step"] >= 1) & (totals["step"] <= 6)].groupby("rep")["cost"].sum()
    results = _judge(
        tmp_path,
        base_run,
        "cost within 6 months > 0\ncost within 6 months > 0 per month\ncost of 外呼 > 0 per month",
    )
    np.testing.assert_allclose(results[0].per_rep, six.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(results[1].per_rep, six.to_numpy() / 6, rtol=1e-12)
    funnel = tables["funnel"]
    contact_cost = funnel[funnel["channel"] == "外呼"].groupby("rep", observed=True)["cost"].sum()
    np.testing.assert_allclose(results[2].per_rep, contact_cost.to_numpy() / 12, rtol=1e-12)


def test_rule_funnel_and_response_rate(tmp_path: Path, base_run) -> None:
    _, out = base_run
    funnel = all_tables(out)["funnel"]
    rows = funnel[funnel["play"] == "提升"].groupby("rep", observed=True)
    responded, contacted = rows["responded"].sum(), rows["contacted"].sum()
    results = _judge(
        tmp_path, base_run, "response_rate of 提升 > 0\nresponders of 提升 > 0\nsuppressed > 0"
    )
    np.testing.assert_allclose(results[0].per_rep, (responded / contacted).to_numpy())
    np.testing.assert_allclose(results[1].per_rep, responded.to_numpy())
    assert 0.02 < results[0].value < 0.15  # about the declared 8% response
    assert results[2].value > 0  # the 2-month cooldown suppresses repeat offers


def test_confidence_uses_the_one_sided_bound(tmp_path: Path, base_run) -> None:
    (result,) = _judge(tmp_path, base_run, "aum uplift vs control > 0 with 90% confidence")
    values = np.asarray(result.per_rep)
    n = values.size
    low = values.mean() - stats.t.ppf(0.90, n - 1) * values.std(ddof=1) / math.sqrt(n)
    assert result.bound == pytest.approx(low, rel=1e-9)
    assert result.passed == (low > 0)


def test_bound_matches_scipy_and_covers() -> None:
    rng = np.random.default_rng(5)
    for n, level in [(2, 0.9), (5, 0.95), (20, 0.99)]:
        values = rng.normal(3.0, 2.0, n)
        half = stats.t.ppf(level, n - 1) * values.std(ddof=1) / math.sqrt(n)
        assert one_sided_bound(values, level, ">") == pytest.approx(values.mean() - half)
        assert one_sided_bound(values, level, "<=") == pytest.approx(values.mean() + half)
    # Coverage: with a known mean of 1.0, the 95% lower bound is below it in ~95% of 2,000
    # experiments of 5 replications each (binomial sd 0.5%, so 93.5–96.5% is ±3 sd).
    hits = sum(one_sided_bound(rng.normal(1.0, 0.3, 5), 0.95, ">") < 1.0 for _ in range(2000))
    assert 0.935 <= hits / 2000 <= 0.965


def test_a_variant_beating_the_base(tmp_path: Path, base_run) -> None:
    model = _model(tmp_path, "expect {\n  responders in 强 > responders\n}\n")
    assert variants_needed(model) == ["强"]
    runs = {None: _run(model), "强": _run(apply_variant(model, "强"))}
    (result,) = evaluate(model, runs)
    base = np.asarray(runs[None].responders).sum(axis=(1, 2))
    strong = np.asarray(runs["强"].responders).sum(axis=(1, 2))
    np.testing.assert_allclose(result.per_rep, strong - base)
    assert result.passed  # twice the response rate, the same customers and draws


def test_a_strategy_against_itself_is_exactly_zero(tmp_path: Path, base_run) -> None:
    model, out = base_run
    text = "expect {\n  net_value uplift vs 强 == 0\n}\n"
    model = _model(tmp_path, text)
    (result,) = evaluate(model, {None: out, "强": out})
    assert result.per_rep == (0.0,) * 4 and result.passed


def test_what_cannot_be_measured_on_this_run_says_why(tmp_path, base_run) -> None:
    (result,) = _judge(tmp_path, base_run, "churn within 24 months < 10%")
    assert not result.passed and result.error is not None
    assert "longer than the run" in result.error.message
    assert result.error.hint


# ------------------------------------------------------------------------------ check = test

# Every way to qualify a metric, held to one verdict by `check` and by the simulation: what
# `check` accepts is measured on a run (no T0102 after minutes of simulation), what it rejects
# (E0417) the simulation cannot measure either.
COMBINATIONS = """tier 大众 when aum < 10万
tier 财富 when aum >= 10万
trigger 下滑 = entered declining within 30 days
journey 挽回 on 下滑 {
  wave 1 after 0 days via 外呼 offer 理财 response 10%
}
"""
OF_NAMES = {
    None: None,
    "channel": "外呼",
    "rule": "提升",
    "journey": "挽回",
    "product": "理财",
    "segment": "临界",
    "tier": "财富",
}


def _combinations() -> list[tuple[str, str | None, str | None, str | None, bool]]:
    return [
        (name, of_kind, uplift, variant, per)
        for name in METRICS
        for of_kind in OF_NAMES
        for uplift in (None, "control", "强")
        for variant in (None, "强")
        for per in (False, True)
    ]


def _line(name: str, of_kind: str | None, uplift: str | None, variant: str | None, per: bool):
    metric = name + (f" of {OF_NAMES[of_kind]}" if of_kind else "")
    metric += f" in {variant}" if variant else ""
    metric += f" uplift vs {uplift}" if uplift else ""
    threshold = "0%" if METRICS[name] == "share" else "0"
    return f"{metric} >= {threshold}" + (" per month" if per else "")


def test_check_and_the_simulation_agree_on_what_can_be_measured(tmp_path: Path) -> None:
    combinations = _combinations()
    lines = [_line(*combination) for combination in combinations]
    text = HEADER + POPULATION + LIFECYCLE + PLAYS + COMBINATIONS
    first = text.count("\n") + 2  # the line of the first expectation
    path = tmp_path / "all.strat"
    path.write_text(text + "expect {\n" + "\n".join(lines) + "\n}\n", encoding="utf-8")
    errors = [d for d in check_paths([path]).diagnostics if d.is_error]
    assert {d.code for d in errors} <= {"E0417"}, [(d.code, d.message) for d in errors]
    rejected = {d.span.line - first for d in errors}
    assert all(d.hint for d in errors)
    accepted = [c for i, c in enumerate(combinations) if i not in rejected]
    assert 0 < len(rejected) < len(combinations)
    assert ("customers", "tier", "control", None, False) in accepted  # the expectation

    model = model_of(
        tmp_path, text + "expect {\n" + "\n".join(_line(*c) for c in accepted) + "\n}\n"
    )
    sizes = {"customers": 2000, "months": 3, "reps": 2, "seed": 5}
    runs = {None: simulate(model, **sizes), "强": simulate(apply_variant(model, "强"), **sizes)}
    failed = [
        (_line(*c), r.error.message)
        for c, r in zip(accepted, evaluate(model, runs), strict=True)
        if r.error is not None
    ]
    assert failed == []  # everything `check` accepts is measured

    # What `check` rejects, asked of the simulation all the same, is refused as unmeasurable.
    template = model.expectations[0]
    specs = []
    for index in sorted(rejected):
        name, of_kind, uplift, variant, per = combinations[index]
        ref = replace(
            template.metric,
            name=name,
            of=OF_NAMES[of_kind],
            of_kind=of_kind,
            within_steps=None,
            uplift_vs=uplift,
            variant=variant,
        )
        specs.append(
            replace(
                template,
                metric=ref,
                op=">=",
                threshold=0.0,
                per_steps=1.0 if per else None,
                confidence=None,
            )
        )
    results = evaluate(replace(model, expectations=tuple(specs)), runs)
    refused = [isinstance(r.error, UnsupportedMetric) for r in results]
    assert all(refused), [
        _line(*combinations[i]) for i, ok in zip(sorted(rejected), refused, strict=True) if not ok
    ]


def test_a_confidence_on_equality_is_rejected_by_check(tmp_path: Path, base_run) -> None:
    path = tmp_path / "eq.strat"
    text = HEADER + POPULATION + LIFECYCLE + PLAYS + "expect {\n  aum == 0 with 95% confidence\n}\n"
    path.write_text(text, encoding="utf-8")
    (error,) = [d for d in check_paths([path]).diagnostics if d.is_error]
    assert error.code == "E0417" and "<, <=, > or >=" in error.message
    model, out = base_run
    template = _model(tmp_path, "expect {\n  aum > 0 with 95% confidence\n}\n").expectations[0]
    spec = replace(template, op="==")
    (result,) = evaluate(replace(model, expectations=(spec,)), {None: out})
    assert isinstance(result.error, UnsupportedMetric)


def test_tier_membership_uplift_is_the_share_of_each_arm_in_the_tier(tmp_path: Path) -> None:
    text = HEADER + POPULATION + LIFECYCLE + PLAYS + COMBINATIONS
    model = model_of(
        tmp_path, text + "expect {\n  customers of 财富 uplift vs control >= -0.5%\n}\n"
    )
    out = simulate(model, customers=2000, months=3, reps=3, seed=2)
    (result,) = evaluate(model, {None: out})
    assert result.error is None
    # Independently, from the tidy population table: live customers in the tier at the
    # horizon per exposed customer of each arm (live at step 0 plus arrivals).
    tables = all_tables(out)
    population = tables["population"]
    live = population[population["stage"] != "churned"]
    acquired = (
        tables["totals"].query("step >= 1").groupby(["rep", "arm"], observed=True)["acquired"].sum()
    )
    expected = []
    for rep in range(3):
        share = {}
        for arm in ("treatment", "control"):
            rows = live[(live["rep"] == rep) & (live["arm"] == arm)]
            in_tier = rows[(rows["step"] == out.steps) & (rows["tier"] == "财富")][
                "customers"
            ].sum()
            exposed = rows[rows["step"] == 0]["customers"].sum() + acquired.get((rep, arm), 0)
            share[arm] = in_tier / exposed
        expected.append(share["treatment"] - share["control"])
    np.testing.assert_allclose(result.per_rep, expected)
    assert result.interval is not None
    assert result.unit == "share"  # customers per exposed customer: written `> 0.5%`


def test_no_control_group(tmp_path: Path) -> None:
    text = HEADER + POPULATION + LIFECYCLE + "expect {\n  aum uplift vs control > 0\n}\n"
    model = model_of(tmp_path, text)
    (result,) = evaluate(model, {None: simulate(model, customers=500, months=3, reps=2)})
    assert result.error is not None and "no control group" in result.error.message
    assert "control N%" in result.error.hint


def test_confidence_needs_two_replications(tmp_path: Path, base_run) -> None:
    model = _model(tmp_path, "expect {\n  aum > 0 with 95% confidence\n}\n")
    (result,) = evaluate(model, {None: _run(model, reps=1)})
    assert result.error is not None and "2 replications" in result.error.message
