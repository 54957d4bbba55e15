"""The metric registry (strategy_dsl/metrics.py): one entry per metric, read by the checker,
the expectations, the summary, compare, plan and the sizing report."""

from __future__ import annotations

from simulator.analysis import compare, expectations
from simulator.results import summary
from strategy_dsl import metrics
from strategy_dsl.checker import extras
from stratmap.plan_cmd import parse_fail_on


def test_every_name_results_show_is_a_registry_entry() -> None:
    for name in [*summary.HEADLINE_METRICS, *compare.COMPARE_METRICS]:
        assert metrics.metric(name).name == name
    for name in [*summary.UPLIFT_METRICS, *compare.ARM_METRICS]:
        assert metrics.form(name).name == name


def test_a_name_means_one_label_and_unit_wherever_it_is_shown() -> None:
    # The summary called the AUM added "AUM added per customer" where compare and plan said
    # "AUM added per customer (end - start)": two homes, two labels for one metric.
    shown = [summary.HEADLINE_METRICS, summary.UPLIFT_METRICS]
    shown += [compare.COMPARE_METRICS, compare.ARM_METRICS]
    seen: dict[str, tuple[str, str]] = {}
    for table in shown:
        for name, label_unit in table.items():
            assert seen.setdefault(name, label_unit) == label_unit, name
    assert (
        summary.UPLIFT_METRICS["aum_added_per_customer"]
        == compare.ARM_METRICS["aum_added_per_customer"]
    )


def test_the_checker_and_the_expectations_read_the_registry() -> None:
    written = [m for m in metrics.METRICS if m.written is not None]
    assert list(extras.METRICS) == [m.written for m in written]
    assert extras.METRICS["nps"] == "score" and extras.METRICS["products_per_customer"] == "number"
    assert {m.written: m.unit for m in written} == expectations.UNITS
    assert {m.written for m in written if m.kind == metrics.FLOW} == extras.FLOW_METRICS
    assert {
        "contacts",
        "response_rate",
        "suppressed",
        "complaints",
        "opt_outs",
    } == extras.CONTACT_METRICS
    # Counted per channel (not per play): `complaints of 外呼`.
    assert {"complaints", "opt_outs"} == extras.CHANNEL_METRICS
    assert {
        "aum",
        "customers",
        "retention",
        "nps",
        "products_per_customer",
        "cross_sell_rate",
    } == expectations.STOCKS


def test_plan_accepts_the_names_a_strategy_writes() -> None:
    # `--fail-on` takes compare's names and the registry's written names for them.
    assert parse_fail_on("aum < -1%").metric == "final_aum"
    assert parse_fail_on("churn > +0.3pp").metric == "churn_rate"
    assert parse_fail_on("uplift.aum < 0").metric == "aum_added_per_customer"
    assert parse_fail_on("uplift.responders < 0").metric == "responders_per_customer"
    assert parse_fail_on("net < -50万").metric == "net_value"


def test_uplift_is_the_first_form_per_customer() -> None:
    assert metrics.written("aum").uplift == metrics.form("aum_added_per_customer")  # type: ignore[union-attr]
    assert metrics.written("revenue").uplift.name == "revenue_per_customer"  # type: ignore[union-attr]
    assert metrics.written("nps").uplift is None  # type: ignore[union-attr]
    assert metrics.metric("net_value_beyond").uplift is None  # only a control-scaled form


def test_the_docs_table_of_metrics_is_the_registrys() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "testing.md").read_text("utf-8")
    table = text[text.index("| metric | value in one replication | unit |") :]
    documented: dict[str, str] = {}
    for row in table.splitlines()[2:]:
        if not row.startswith("|"):
            break
        names_cell, _, unit_cell = row.strip("|").split(" | ")
        names = re.findall(r"`(\w+)`", names_cell)
        units = [u.strip() for u in unit_cell.split(",")]
        if len(units) == 1:
            units *= len(names)
        documented.update(zip(names, units, strict=True))
    assert documented == {m.written: m.unit for m in metrics.METRICS if m.written is not None}
