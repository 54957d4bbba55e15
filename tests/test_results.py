"""The results layer on a hand-built run: tidy tables, the summary and its intervals, and the
atomic results directory.

``make_output`` builds a small ``RunOutput`` by hand (2 replications, 2 simulated months, two
tiers, two plays, two channels) whose every number is written out below, so the expected
values in the tests can be worked out on paper.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.output import ARMS, FUNNEL_FIELDS, STAGES, SUPPRESSION_REASONS, RunOutput
from simulator.results import report_io
from simulator.results.summary import (
    build_summary,
    headline_values,
    play_values,
    top_unserved,
    uplift_values,
)
from simulator.results.tables import (
    TABLE_NAMES,
    all_tables,
    channel_table,
    funnel_table,
    population_table,
    suppression_table,
    totals_table,
    unserved_table,
)

F = {name: i for i, name in enumerate(FUNNEL_FIELDS)}
S = {name: i for i, name in enumerate(STAGES)}
TREAT, CONTROL = 0, 1

# Live customers per replication, step and arm (treatment, control), all `mature` in tier 0.
LIVE = [[[90, 10], [86, 9], [84, 9]], [[90, 10], [88, 10], [85, 8]]]
CHURNED = [[[0, 0], [6, 1], [4, 0]], [[0, 0], [4, 0], [5, 2]]]
ACQUIRED = [[[0, 0], [2, 0], [2, 0]], [[0, 0], [2, 0], [2, 0]]]
AUM_FEN = [
    [[100_000_000, 10_000_000], [105_000_000, 10_100_000], [110_000_000, 10_200_000]],
    [[100_000_000, 10_000_000], [104_000_000, 10_050_000], [108_000_000, 10_100_000]],
]
REVENUE_FEN = [
    [[0, 0], [50_000, 3_000], [70_001, 3_000]],
    [[0, 0], [40_000, 2_000], [60_000, 4_000]],
]
COST_FEN = [[[0, 0], [20_000, 0], [20_000, 0]], [[0, 0], [10_000, 0], [30_000, 0]]]


def make_output(*, reps: int = 2, control: bool = True) -> RunOutput:
    """A hand-built run: the numbers above, a funnel for two plays, unserved cells, channel
    contacts. ``reps=1`` keeps replication 0 only; ``control=False`` empties the control arm."""
    steps, tiers = 2, ("大众富裕", "财富")
    plays = ("临界提升", "蜜月期 wave 1")
    channels = ("外呼", "APP推送")
    segments = ("临界财富", "(all)")
    n_t, n_a = steps + 1, len(ARMS)
    customers = np.zeros((2, n_t, n_a, len(STAGES), len(tiers)), dtype=np.int64)
    live = np.array(LIVE, dtype=np.int64)
    customers[:, :, :, S["mature"], 0] = live
    churned = np.array(CHURNED, dtype=np.int64)
    customers[:, :, :, S["churned"], 0] = np.cumsum(churned, axis=1)
    promoters = live * 300_000
    promoters[0, 2, TREAT] = 84 * 350_000  # replication 0 ends with more promoters treated
    detractors = live * 200_000

    funnel = np.zeros((2, n_t, len(plays), n_a, len(FUNNEL_FIELDS)), dtype=np.int64)

    def play(rep: int, step: int, index: int, arm: int, **fields: int) -> None:
        for name, value in fields.items():
            funnel[rep, step, index, arm, F[name]] = value

    # 临界提升 via 外呼 (8 per contact)
    play(0, 1, 0, TREAT, eligible=30, holdout=3, suppressed_cap=2, suppressed_capacity=5,
         contacted=20, reached=9, responded=2, cost_fen=16_000, revenue_fen=30_000,
         inflow_fen=16_000_000)  # fmt: skip
    play(0, 2, 0, TREAT, eligible=28, holdout=3, suppressed_cooldown=4, contacted=25, reached=11,
         responded=3, cost_fen=20_000, revenue_fen=45_000, inflow_fen=24_000_000)  # fmt: skip
    play(0, 1, 0, CONTROL, eligible=4, holdout=4)
    play(1, 1, 0, TREAT, eligible=30, holdout=2, contacted=10, reached=5, responded=1,
         cost_fen=8_000, revenue_fen=10_000, inflow_fen=8_000_000)  # fmt: skip
    play(1, 2, 0, TREAT, eligible=31, holdout=3, suppressed_budget=6, contacted=30, reached=14,
         responded=4, cost_fen=24_000, revenue_fen=50_000, inflow_fen=30_000_000)  # fmt: skip
    # 蜜月期 wave 1 via APP推送 (free)
    play(0, 1, 1, TREAT, eligible=2, contacted=2, reached=2, responded=0)
    play(1, 1, 1, TREAT, eligible=2, contacted=2, reached=2, responded=1, revenue_fen=500)

    unserved = np.zeros((2, n_t, len(segments), len(tiers), n_a, 2), dtype=np.int64)
    unserved[0, 1, 0, 1, TREAT, 0] = 5  # 临界财富 × 财富, no play at all
    unserved[0, 2, 0, 1, TREAT, 0] = 7
    unserved[1, 1, 0, 1, TREAT, 0] = 3
    unserved[1, 2, 0, 1, TREAT, 0] = 5
    unserved[:, 1:, 1, 0, TREAT, 1] = 10  # (all) × 大众富裕, eligible but never served
    unserved[:, 1:, 1, 0, CONTROL, 1] = 99  # control: left alone by design, not a gap

    channel_contacts = np.zeros((2, n_t, len(channels), n_a), dtype=np.int64)
    channel_contacts[:, :, 0, TREAT] = funnel[:, :, 0, TREAT, F["contacted"]]
    channel_contacts[:, :, 1, TREAT] = funnel[:, :, 1, TREAT, F["contacted"]]

    # Over-contact on channel 0: complaints in replication 1, opt-outs in replication 0.
    complaints = np.zeros((2, n_t, len(channels), n_a), dtype=np.int64)
    complaints[1, 2, 0, TREAT] = 2
    opt_outs = np.zeros((2, n_t, len(channels), n_a), dtype=np.int64)
    opt_outs[0, 1, 0, TREAT] = 3

    tier_moves = np.zeros((2, n_t, n_a, len(tiers), len(tiers)), dtype=np.int64)
    tier_moves[1, 2, TREAT, 0, 1] = 3  # 大众富裕 → 财富: 升层
    tier_moves[0, 1, TREAT, 0, 1] = 1
    tier_moves[0, 1, CONTROL, 1, 0] = 2  # 财富 → 大众富裕: 降层

    arrays = {
        "customers": customers,
        "tier_moves": tier_moves,
        "aum_fen": np.array(AUM_FEN, dtype=np.int64),
        "churned": churned,
        "acquired": np.array(ACQUIRED, dtype=np.int64),
        "promoters_ppm": promoters,
        "detractors_ppm": detractors,
        "revenue_fen": np.array(REVENUE_FEN, dtype=np.int64),
        "cost_fen": np.array(COST_FEN, dtype=np.int64),
        "funnel": funnel,
        "unserved": unserved,
        "channel_contacts": channel_contacts,
        "channel_complaints": complaints,
        "channel_opt_outs": opt_outs,
    }
    if not control:
        for name, array in arrays.items():
            axis = {"funnel": 3, "unserved": 4}.get(name, 3 if name.startswith("channel_") else 2)
            index = [slice(None)] * array.ndim
            index[axis] = CONTROL
            array[tuple(index)] = 0
    arrays = {name: array[:reps].copy() for name, array in arrays.items()}
    return RunOutput(
        strategy_name="测试策略",
        strategy_hash="ab" * 32,
        tool_version="0.1.0",
        seed=20260101,
        replication_seeds=np.array([2**64 - 5, 12345], dtype=np.uint64)[:reps],
        customers_initial=100,
        steps=steps,
        step_unit="month",
        tiers=tiers,
        plays=plays,
        play_kinds=("rule", "wave"),
        play_channels=("外呼", "APP推送"),
        segments=segments,
        channels=channels,
        **arrays,
    )


def row(frame: pd.DataFrame, **where: object) -> pd.Series:
    """The one row of ``frame`` matching ``where``."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, f"{mask.sum()} rows match {where}"
    return frame[mask].iloc[0]


# ------------------------------------------------------------------------------ tables


def test_population_table_is_long_and_complete() -> None:
    out = make_output()
    table = population_table(out)
    assert list(table.columns) == ["rep", "step", "arm", "stage", "tier", "customers"]
    assert len(table) == 2 * 3 * 2 * len(STAGES) * 2  # every cell, zeros included
    assert table["customers"].sum() == out.customers.sum()
    assert (
        row(table, rep=1, step=2, arm="treatment", stage="mature", tier="大众富裕")["customers"]
        == 85
    )
    assert (
        row(table, rep=0, step=2, arm="control", stage="churned", tier="大众富裕")["customers"] == 1
    )
    assert row(table, rep=0, step=0, arm="treatment", stage="new", tier="财富")["customers"] == 0
    for column, categories in (
        ("arm", list(ARMS)),
        ("stage", list(STAGES)),
        ("tier", ["大众富裕", "财富"]),
    ):
        assert isinstance(table[column].dtype, pd.CategoricalDtype)
        assert list(table[column].cat.categories) == categories
    assert table["customers"].dtype == np.int64


def test_totals_table_converts_money_and_computes_nps() -> None:
    table = totals_table(make_output())
    assert list(table.columns) == [
        "rep", "step", "arm", "customers", "aum", "churned", "acquired", "revenue", "cost",
        "net_value", "promoters", "detractors", "promoters_share", "detractors_share", "nps",
    ]  # fmt: skip
    assert len(table) == 2 * 3 * 2
    last = row(table, rep=0, step=2, arm="treatment")
    assert last["customers"] == 84
    assert last["aum"] == 1_100_000.0
    assert last["churned"] == 4 and last["acquired"] == 2
    assert last["revenue"] == 700.01
    assert last["cost"] == 200.0
    assert last["net_value"] == 500.01
    assert last["promoters"] == pytest.approx(29.4)
    assert last["promoters_share"] == pytest.approx(0.35)
    assert last["detractors_share"] == pytest.approx(0.2)
    assert last["nps"] == pytest.approx(15.0)
    assert row(table, rep=1, step=1, arm="control")["nps"] == pytest.approx(10.0)
    assert table["aum"].dtype == np.float64


def test_totals_of_an_empty_arm_have_no_nps() -> None:
    table = totals_table(make_output(control=False))
    control = table[table["arm"] == "control"]
    assert (control["customers"] == 0).all()
    assert control["nps"].isna().all()


def test_funnel_table_has_every_field() -> None:
    table = funnel_table(make_output())
    suppressed = [f"suppressed_{reason}" for reason in SUPPRESSION_REASONS]
    assert list(table.columns) == [
        "rep", "step", "play", "kind", "channel", "arm", "eligible", "holdout", *suppressed,
        "contacted", "reached", "responded", "cost", "revenue", "inflow",
    ]  # fmt: skip
    assert len(table) == 2 * 3 * 2 * 2
    cell = row(table, rep=0, step=1, play="临界提升", arm="treatment")
    assert cell["kind"] == "rule" and cell["channel"] == "外呼"
    assert (cell["eligible"], cell["holdout"], cell["suppressed_cap"]) == (30, 3, 2)
    assert cell["suppressed_capacity"] == 5
    assert (cell["contacted"], cell["reached"], cell["responded"]) == (20, 9, 2)
    assert (cell["cost"], cell["revenue"], cell["inflow"]) == (160.0, 300.0, 160_000.0)
    wave = row(table, rep=1, step=1, play="蜜月期 wave 1", arm="treatment")
    assert wave["kind"] == "wave" and wave["channel"] == "APP推送" and wave["revenue"] == 5.0
    assert list(table["play"].cat.categories) == ["临界提升", "蜜月期 wave 1"]
    assert list(table["channel"].cat.categories) == ["外呼", "APP推送"]


def test_suppression_table_is_the_funnel_in_long_form() -> None:
    out = make_output()
    table = suppression_table(out)
    assert list(table.columns) == [
        "rep", "step", "play", "kind", "channel", "arm", "reason", "count",
    ]  # fmt: skip
    assert len(table) == 2 * 3 * 2 * 2 * len(SUPPRESSION_REASONS)
    assert list(table["reason"].cat.categories) == list(SUPPRESSION_REASONS)
    assert "holdout" not in set(table["reason"])
    found = table[table["count"] > 0].sort_values(["rep", "step", "reason"])
    assert [(r.rep, r.step, r.play, r.reason, r.count) for r in found.itertuples()] == [
        (0, 1, "临界提升", "cap", 2),
        (0, 1, "临界提升", "capacity", 5),
        (0, 2, "临界提升", "cooldown", 4),
        (1, 2, "临界提升", "budget", 6),
    ]
    wide = funnel_table(out)
    for reason in SUPPRESSION_REASONS:
        assert table[table["reason"] == reason]["count"].sum() == wide[f"suppressed_{reason}"].sum()


def test_unserved_table() -> None:
    table = unserved_table(make_output())
    assert list(table.columns) == ["rep", "step", "segment", "tier", "arm", "kind", "customers"]
    assert len(table) == 2 * 3 * 2 * 2 * 2 * 2
    assert (
        row(table, rep=0, step=2, segment="临界财富", tier="财富", arm="treatment", kind="no_play")[
            "customers"
        ]
        == 7
    )
    assert list(table["segment"].cat.categories) == ["临界财富", "(all)"]
    assert list(table["kind"].cat.categories) == ["no_play", "never_served"]


def test_channel_table_adds_plays_into_their_channel() -> None:
    table = channel_table(make_output())
    assert list(table.columns) == [
        "rep", "step", "channel", "arm", "contacts", "reached", "responded", "cost", "revenue",
        "complaints", "opt_outs",
    ]  # fmt: skip
    call = row(table, rep=1, step=2, channel="外呼", arm="treatment")
    assert (call["contacts"], call["reached"], call["responded"]) == (30, 14, 4)
    assert (call["cost"], call["revenue"]) == (240.0, 500.0)
    app = row(table, rep=1, step=1, channel="APP推送", arm="treatment")
    assert (app["contacts"], app["responded"], app["revenue"]) == (2, 1, 5.0)
    assert (call["complaints"], call["opt_outs"]) == (2, 0)
    assert table["complaints"].sum() == 2 and table["opt_outs"].sum() == 3
    first = row(table, rep=0, step=1, channel="外呼", arm="treatment")
    assert (first["complaints"], first["opt_outs"]) == (0, 3)


def test_all_tables_by_name() -> None:
    tables = all_tables(make_output())
    assert tuple(tables) == TABLE_NAMES
    assert all(tables[name]["rep"].dtype == np.int64 for name in TABLE_NAMES)


# ------------------------------------------------------------------------------ summary


def test_headline_values_by_hand() -> None:
    tables = all_tables(make_output())
    values = headline_values(tables, reps=2, steps=2, step_unit="month")
    assert "churn_rate_12m" not in values  # 2 months < 12
    expected = {
        "final_aum": [1_202_000.0, 1_181_000.0],
        "aum_growth": [1_202_000 / 1_100_000 - 1, 1_181_000 / 1_100_000 - 1],
        "customers": [93, 93],
        "acquired": [4, 4],
        "churned": [11, 11],
        "churn_rate": [11 / 104, 11 / 104],  # churned ÷ (100 at the start + 4 acquired)
        "upgraded": [1, 3],
        "downgraded": [2, 0],
        "revenue": [1260.01, 1060.0],
        "cost": [400.0, 400.0],
        "net_value": [860.01, 660.0],
        "contacts": [47, 42],
        "responses": [5, 6],
        "complaints": [0, 2],
        "opt_outs": [3, 0],
        "nps": [100 * (84 * 0.35 + 9 * 0.3 - 93 * 0.2) / 93, 10.0],
    }
    assert set(values) == set(expected)
    for name, numbers in expected.items():
        assert values[name] == pytest.approx(numbers, rel=1e-12), name


def flat_output(steps: int, step_unit: str = "month") -> RunOutput:
    """A run of one replication where, in the treatment arm, 1,000 customers start, 10 churn
    and 5 arrive every step (no control group, no plays)."""
    base = make_output(reps=1, control=False)
    n_t = steps + 1
    customers = np.zeros((1, n_t, 2, len(STAGES), 2), dtype=np.int64)
    customers[0, :, TREAT, S["mature"], 0] = 1000 - 5 * np.arange(n_t)
    flows = np.zeros((1, n_t, 2), dtype=np.int64)
    churned, acquired = flows.copy(), flows.copy()
    churned[0, 1:, TREAT], acquired[0, 1:, TREAT] = 10, 5
    return RunOutput(
        **{
            **base.__dict__,
            "steps": steps,
            "step_unit": step_unit,
            "customers": customers,
            "aum_fen": flows.copy(),
            "churned": churned,
            "acquired": acquired,
            "promoters_ppm": flows.copy(),
            "detractors_ppm": flows.copy(),
            "revenue_fen": flows.copy(),
            "cost_fen": flows.copy(),
            "funnel": np.zeros((1, n_t, 2, 2, len(FUNNEL_FIELDS)), dtype=np.int64),
            "unserved": np.zeros((1, n_t, 2, 2, 2, 2), dtype=np.int64),
            "channel_contacts": np.zeros((1, n_t, 2, 2), dtype=np.int64),
        }
    )


def with_run_loop_counters(out: RunOutput) -> RunOutput:
    """``out`` with the counters the run loop adds beyond the core contract."""
    shape = out.aum_fen.shape  # (R, T+1, A)
    out.fee_income_fen = np.full(shape, 1_000, dtype=np.int64)  # 10.00 per step and arm
    out.responders = np.full(shape, 2, dtype=np.int64)
    out.products_held = np.array(LIVE, dtype=np.int64)[: shape[0]] * 2  # two per customer
    out.cross_sold = np.array(LIVE, dtype=np.int64)[: shape[0]] // 2
    out.market_return = np.tile(np.array([0.0, 0.01, -0.02]), (shape[0], 1))
    return out


def test_run_loop_counters_become_columns_and_metrics() -> None:
    out = with_run_loop_counters(make_output())
    tables = all_tables(out)
    totals = tables["totals"]
    assert list(totals.columns[-5:]) == [
        "fee_income", "responders", "products_held", "cross_sold", "market_return",
    ]  # fmt: skip
    cell = row(totals, rep=1, step=2, arm="control")
    assert (cell["fee_income"], cell["responders"], cell["products_held"]) == (10.0, 2, 16)
    assert cell["cross_sold"] == 4 and cell["market_return"] == -0.02
    assert "fee_income" not in totals_table(make_output())  # absent from a hand-built run
    values = headline_values(tables, reps=2, steps=2, step_unit="month")
    assert list(values["fee_income"]) == [60.0, 60.0]  # 10.00 × 3 steps × 2 arms
    assert list(values["responders"]) == [12, 12]
    assert values["products_per_customer"] == pytest.approx([2.0, 2.0])
    assert values["cross_sell_rate"] == pytest.approx([(42 + 4) / 93, (42 + 4) / 93])


def test_churn_within_12_months_only_when_the_horizon_covers_it() -> None:
    values = headline_values(all_tables(flat_output(36)), reps=1, steps=36, step_unit="month")
    assert values["churn_rate_12m"] == pytest.approx([120 / (1000 + 60)])
    assert values["churn_rate"] == pytest.approx([360 / (1000 + 180)])
    assert values["nps"] == pytest.approx([0.0])
    short = headline_values(all_tables(flat_output(11)), reps=1, steps=11, step_unit="month")
    assert "churn_rate_12m" not in short
    weeks = headline_values(all_tables(flat_output(51)), reps=1, steps=51, step_unit="week")
    assert weeks["churn_rate_12m"] == pytest.approx([510 / (1000 + 255)])
    assert "churn_rate_12m" not in headline_values(
        all_tables(flat_output(50)), reps=1, steps=50, step_unit="week"
    )


def test_uplift_is_treatment_minus_control_per_replication() -> None:
    tables = all_tables(make_output())
    uplift = uplift_values(tables, reps=2, steps=2)
    assert uplift is not None
    aum = uplift["aum_per_customer"]
    # exposed: treatment 90 + 4 acquired, control 10
    assert aum["treatment"] == pytest.approx([1_100_000 / 94, 1_080_000 / 94])
    assert aum["control"] == pytest.approx([102_000 / 10, 101_000 / 10])
    assert aum["uplift"] == pytest.approx([1_100_000 / 94 - 10_200, 1_080_000 / 94 - 10_100])
    churn = uplift["churn_rate"]
    assert churn["uplift"] == pytest.approx([10 / 94 - 1 / 10, 9 / 94 - 2 / 10])
    revenue = uplift["revenue_per_customer"]
    assert revenue["uplift"] == pytest.approx([1200.01 / 94 - 60 / 10, 1000 / 94 - 60 / 10])
    # Incremental revenue: treatment revenue − the control arm's per customer × 94 treated.
    scaled = uplift["revenue_scaled"]
    assert scaled["treatment"] == pytest.approx([1200.01, 1000])
    assert scaled["uplift"] == pytest.approx([1200.01 - 60 / 10 * 94, 1000 - 60 / 10 * 94])
    assert "net_value_scaled" in uplift and "net_value_beyond_scaled" not in uplift  # no book
    up = uplift["upgraded_per_customer"]  # moves up a tier (升层) per exposed customer
    assert up["treatment"] == pytest.approx([1 / 94, 3 / 94])
    assert up["uplift"] == pytest.approx([1 / 94, 3 / 94])  # the control arm moved only down


def test_no_control_group_means_no_uplift() -> None:
    tables = all_tables(make_output(control=False))
    assert uplift_values(tables, reps=2, steps=2) is None


def test_play_values_and_top_unserved() -> None:
    tables = all_tables(make_output())
    plays = play_values(tables, reps=2)
    first = plays[plays["play"] == "临界提升"].sort_values("rep")
    assert list(first["contacted"]) == [45, 40]
    assert list(first["responded"]) == [5, 5]
    assert list(first["response_rate"]) == pytest.approx([5 / 45, 5 / 40])
    assert list(first["cost"]) == [360.0, 320.0]
    assert list(first["net"]) == pytest.approx([750.0 - 360.0, 600.0 - 320.0])
    assert set(first["channel"]) == {"外呼"}
    top = top_unserved(tables)
    assert [(r.segment, r.tier, r.kind, r.customers_per_step) for r in top.itertuples()] == [
        ("(all)", "大众富裕", "never_served", 10.0),
        ("临界财富", "财富", "no_play", 5.0),  # (5 + 7 + 3 + 5) / 4 steps
    ]


def test_build_summary_records_the_run_and_the_intervals() -> None:
    stats = pytest.importorskip("scipy.stats")
    out = make_output()
    summary = build_summary(
        out, all_tables(out), threads=2, timings={"simulate_s": 1.5}, strategy_file="x.strat"
    )
    json.dumps(summary, allow_nan=False)  # JSON-ready: no NaN, no NumPy types
    assert summary["schema"] == "stratmap.simulation/1"
    assert summary["strategy"] == {"name": "测试策略", "hash": "ab" * 32, "file": "x.strat"}
    run = summary["run"]
    assert run["replication_seeds"] == [2**64 - 5, 12345]  # exact, beyond 2**53
    assert (run["seed"], run["customers"], run["steps"], run["reps"]) == (20260101, 100, 2, 2)
    assert (run["threads"], run["shards"], run["step_unit"]) == (2, 1, "month")
    final = summary["metrics"]["final_aum"]
    assert final["values"] == [1_202_000.0, 1_181_000.0]
    low, high = stats.t.interval(0.95, 1, loc=1_191_500.0, scale=stats.sem([1_202_000, 1_181_000]))
    assert final["mean"] == 1_191_500.0
    assert (final["low"], final["high"]) == (pytest.approx(low), pytest.approx(high))
    assert summary["uplift"]["churn_rate"]["values"] == pytest.approx(
        [10 / 94 - 1 / 10, 9 / 94 - 2 / 10]
    )
    plays = {p["play"]: p for p in summary["plays"]}
    assert plays["临界提升"]["contacted"]["values"] == [45.0, 40.0]
    assert plays["蜜月期 wave 1"]["kind"] == "wave"
    assert summary["unserved_top"][0] == {
        "segment": "(all)",
        "tier": "大众富裕",
        "kind": "never_served",
        "customers_per_step": 10.0,
    }


def test_summary_of_one_replication_says_there_is_no_interval() -> None:
    out = make_output(reps=1, control=False)
    summary = build_summary(out, all_tables(out), threads=1)
    assert summary["run"]["reps"] == 1
    final = summary["metrics"]["final_aum"]
    assert final["mean"] == 1_100_000.0 and final["low"] is None and final["high"] is None
    assert "no interval" in summary["interval"]["note"]
    assert summary["uplift"] is None


# ------------------------------------------------------------------------------ files


def _summary() -> tuple[dict[str, pd.DataFrame], dict]:
    out = make_output()
    tables = all_tables(out)
    return tables, build_summary(out, tables, threads=1)


def test_results_round_trip(tmp_path: Path) -> None:
    tables, summary = _summary()
    target = tmp_path / "runs" / "q1"
    report_io.write_results(target, tables, summary)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [*(f"{name}.parquet" for name in tables), "summary.json", "manifest.json"]
    )
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == {
        "schema": "stratmap.results-manifest/1",
        "files": [*(f"{name}.parquet" for name in tables), "summary.json"],
    }
    read_tables, read_summary = report_io.read_results(target)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(read_tables[name], frame)
    files = read_summary.pop("files")
    assert read_summary == summary
    assert files["funnel"]["rows"] == len(tables["funnel"])
    assert files["totals"]["columns"][:3] == ["rep", "step", "arm"]
    assert [p.name for p in target.parent.iterdir()] == ["q1"]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask  # as mkdir makes it, not 0700


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_an_interrupted_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    tables, summary = _summary()
    calls = []
    real = report_io._write_table

    def fail_on_third(path: Path, frame: pd.DataFrame) -> None:
        calls.append(path.name)
        if len(calls) == 3:
            raise error
        real(path, frame)

    monkeypatch.setattr(report_io, "_write_table", fail_on_third)
    with pytest.raises(type(error)):
        report_io.write_results(tmp_path / "out", tables, summary)
    assert list(tmp_path.iterdir()) == []  # no DIR, no temporary directory


def test_an_interrupted_replacement_keeps_the_old_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables, summary = _summary()
    target = tmp_path / "out"
    report_io.write_results(target, tables, {**summary, "tool_version": "old"})

    def fail(path: Path, summary: dict) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(report_io, "_write_summary", fail)
    with pytest.raises(OSError):
        report_io.write_results(target, tables, summary)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert report_io.read_results(target)[1]["tool_version"] == "old"


def test_a_complete_write_replaces_earlier_results(tmp_path: Path) -> None:
    tables, summary = _summary()
    target = tmp_path / "out"
    report_io.write_results(target, tables, {**summary, "tool_version": "old"})
    report_io.write_results(target, {"totals": tables["totals"]}, summary)
    assert sorted(p.name for p in target.iterdir()) == [
        "manifest.json",
        "summary.json",
        "totals.parquet",
    ]
    assert report_io.read_results(target)[1]["tool_version"] == "0.1.0"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_directory_of_other_files_is_never_replaced(tmp_path: Path) -> None:
    tables, summary = _summary()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.docx").write_text("years of work")
    with pytest.raises(report_io.NotAResultsDirectory):
        report_io.write_results(tmp_path / "home", tables, summary)
    assert (tmp_path / "home" / "thesis.docx").read_text() == "years of work"
    (tmp_path / "file").write_text("x")
    with pytest.raises(report_io.NotAResultsDirectory):
        report_io.check_replaceable(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    report_io.write_results(tmp_path / "empty", tables, summary)
    assert (tmp_path / "empty" / "summary.json").is_file()
