"""`expect` lines judged on simulated runs (``simulator.expectations``).

The values are checked against an independent path through the same counters: the tidy pandas
tables of ``simulator.results`` and the headline metrics of ``simulator.summary`` that
`stratmap simulate` prints. The confidence bound is checked against SciPy's t quantile and for
coverage on simulated data with a known mean.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sim_support import HEADER, LIFECYCLE, POPULATION, model_of

from simulator.expectations import evaluate, one_sided_bound, variants_needed
from simulator.results import all_tables
from simulator.run import simulate
from simulator.summary import headline_values, uplift_values
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


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("customers of 外呼 > 0", "not measured per channel"),
        ("aum > 0 per month", "not a flow"),
        ("contacts uplift vs control > 0", "no control-group counterpart"),
        ("churn within 24 months < 10%", "longer than the run"),
    ],
)
def test_what_cannot_be_measured_says_why(tmp_path, base_run, line: str, needle: str) -> None:
    (result,) = _judge(tmp_path, base_run, line)
    assert not result.passed and result.error is not None
    assert needle in result.error.message
    assert result.error.hint


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
