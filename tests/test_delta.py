"""Variants run as deltas of their base (`simulator.engine.delta`): the same counters, bit for bit,
as simulating every alternative in full — on every bundled variant, with shards and threads —
while the variant's kernels run on a fraction of the rows; and breaking the delta's
bookkeeping is caught."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, LIFECYCLE, POPULATION, STRATEGIES, bundled, model_of
from test_sim_determinism import assert_identical

import simulator.engine.alternatives as alternatives_module
import simulator.engine.delta as delta_module
from simulator.engine.alternatives import simulate_alternatives
from simulator.engine.run import prepare, simulate
from simulator.output import FUNNEL_FIELDS
from strategy_dsl.variants import apply_variant, variant_names

SIZES = {"customers": 2500, "months": 12, "reps": 2, "seed": 3, "threads": 2}
WITH_VARIANTS = sorted(
    p.name for p in STRATEGIES.glob("*.strat") if "\nvariant " in p.read_text(encoding="utf-8")
)

# Capacity and a budget that bind, value arbitration, a journey, a cap: a variant changing
# what decides and serves a contact (response, holdout, capacity, a cap, a cooldown).
BUSY = (
    HEADER
    + POPULATION
    + LIFECYCLE
    + """
acquisition {
  arrivals 150 per month stage new
  referral 10% of responders per month
}
product 存款 {
  kind deposit
  risk R1
  tenor 3 months
  inflow ~ lognormal(median 2万, sigma 0.5)
  margin 1% per year
}
product 基金 {
  kind fund
  risk R3
  inflow ~ lognormal(median 5万, sigma 0.8)
  margin 1.5% per year
}
channel 外呼 {
  cost 8 per contact
  capacity 300 per month
  reach 60%
}
channel 短信 {
  cost 0.1 per contact
}
rule 存款推荐 priority 2 {
  when aum >= 5万
  offer 存款 via 外呼
  response 6%
  budget 2万 per month
}
rule 基金推荐 priority 1 {
  when risk_tolerance >= C3
  offer 基金 via 外呼
  response 4%
  holdout 10%
}
rule 短信关怀 priority 3 {
  offer 存款 via 短信
  response 1%
  cooldown 2 months
}
policy {
  control 10%
  max 2 contacts per customer per month
  arbitrate by value
}
variant 激进 {
  rule 存款推荐 { response 12% }
  rule 基金推荐 { holdout 2% }
  channel 外呼 { capacity 600 per month }
  policy { max 2 contacts per customer per year }
}
variant 换节奏 {
  rule 短信关怀 { cooldown 1 month }
}
variant 改条件 {
  rule 基金推荐 { when risk_tolerance >= C4 }
}
"""
)


def _spy_deltas(monkeypatch: pytest.MonkeyPatch) -> list[delta_module.Delta]:
    """Record the deltas every replication runs."""
    seen: list[delta_module.Delta] = []
    original = alternatives_module.run_together

    def spy(*args: object, **kwargs: object) -> list[delta_module.Delta]:
        deltas = original(*args, **kwargs)
        seen.extend(deltas)
        return deltas

    monkeypatch.setattr(alternatives_module, "run_together", spy)
    return seen


@pytest.mark.parametrize("name", WITH_VARIANTS)
def test_every_bundled_variant_gives_the_counters_of_a_full_run(name: str) -> None:
    model = bundled(name)
    models = [model, *(apply_variant(model, v) for v in variant_names(model))]
    together = simulate_alternatives(models, **SIZES)
    alone = simulate_alternatives(models, delta=False, **SIZES)
    for a, b in zip(together, alone, strict=True):
        assert_identical(a, b)


@pytest.mark.parametrize(("shards", "threads"), [(1, 1), (3, 2)])
def test_shards_and_threads_change_no_bit(shards: int, threads: int) -> None:
    model = bundled("wealth_2026q1.strat")
    models = [model, apply_variant(model, "激进"), apply_variant(model, "话术B")]
    sizes = {**SIZES, "shards": shards, "threads": threads}
    together = simulate_alternatives(models, **sizes)
    for output, alternative in zip(together, models, strict=True):
        assert_identical(output, simulate(alternative, **sizes))


def test_a_busy_strategy_with_binding_cuts_gives_the_counters_of_a_full_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = model_of(tmp_path, BUSY)
    names = ["激进", "换节奏", "改条件"]
    models = [model, *(apply_variant(model, v) for v in names)]
    seen = _spy_deltas(monkeypatch)
    sizes = {**SIZES, "customers": 4000, "reps": 3}
    together = simulate_alternatives(models, **sizes)
    for output, alternative in zip(together, models, strict=True):
        assert_identical(output, simulate(alternative, **sizes))
    # the capacity binds in the base (300 a month for thousands of candidates)
    funnel = together[0].funnel[:, 1:, :, :, :]
    capacity = FUNNEL_FIELDS.index("suppressed_capacity")
    assert funnel[..., capacity].sum() > 0
    # 激进 and 换节奏 ran beside the base; 改条件 changes a condition and ran in full
    assert len(seen) == 2 * sizes["reps"]
    prepared = [prepare(m, 4000, 12, 1, 3, 2, 1, "") for m in models]
    compatible = [delta_module.delta_compatible(prepared[0].run, p.run) for p in prepared[1:]]
    assert compatible == [True, True, False]


def test_the_variant_runs_its_kernels_on_a_fraction_of_the_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the delta is for: on the bundled example, the variant's kernels see far fewer
    rows than a full run would (three phases over every row of every step)."""
    model = bundled("wealth_2026q1.strat")
    seen = _spy_deltas(monkeypatch)
    sizes = {**SIZES, "customers": 5000, "reps": 1}
    simulate_alternatives([model, apply_variant(model, "激进")], **sizes)
    (delta,) = seen
    rows = sum(shard.rows for shard in delta.step.shards)
    full = 3 * rows * 12
    assert 0 < delta.ran < 0.5 * full


@pytest.mark.parametrize(
    "breakage",
    ["what contacts write left out of the comparison", "contacts not recorded in the ring"],
)
def test_broken_bookkeeping_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breakage: str
) -> None:
    """The comparison above can fail: a delta that forgets what contacts change (AUM,
    holdings, the last contact and response), or that the variant's own contact ring (its
    caps) must record the contacts it shares with the base, gives other counters than the
    full run."""
    if breakage.startswith("what contacts write"):
        written = {"aum", "hold_amt", "hold_until", "hold_play", "last_contact"}
        written |= {"last_contact_any", "last_resp", "last_resp_any", "effect_until", "ledger"}
        monkeypatch.setattr(delta_module, "WRITTEN", delta_module.WRITTEN - written)
    else:
        monkeypatch.setattr(delta_module, "record_contacts", lambda *args: None)
    model = model_of(tmp_path, BUSY)  # 激进's cap looks back a year: the ring counts
    models = [model, apply_variant(model, "激进")]
    sizes = {**SIZES, "customers": 4000}
    together = simulate_alternatives(models, **sizes)
    alone = simulate_alternatives(models, delta=False, **sizes)
    assert_identical(together[0], alone[0])  # the base is untouched
    differs = [
        name
        for name in ("aum_fen", "funnel", "customers", "responders", "revenue_fen")
        if not np.array_equal(getattr(together[1], name), getattr(alone[1], name))
    ]
    assert differs, breakage
