"""Over-contact (营销扰民) has consequences beyond fatigue (issue 16 item 8): a channel's
`complaints … per contact` and `opt out … per contact`, and the lifecycle's `… after complaint`.

Checked against closed forms (complaints and opt-outs ≈ reached contacts × the declared chance,
within Monte Carlo error; a customer who opted out is never contacted on that channel again;
a complaint's effect multiplies churn as declared), the checker's diagnostics, the same bits
with one or two threads, several shards and as a delta variant, and `expect` lines that read
the new metrics. Exact agreement with the NumPy reference: tests/test_sim_reference.py (the
value strategy declares all three)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from checker_support import check, codes
from sim_support import HEADER, model_of
from test_sim_determinism import assert_identical

from simulator.analysis.expectations import evaluate
from simulator.engine.alternatives import simulate_alternatives
from simulator.engine.delta import delta_compatible
from simulator.engine.run import prepare, simulate
from simulator.kernels.common import F
from simulator.output import RunOutput
from strategy_dsl.model import CheckedStrategy
from strategy_dsl.variants import apply_variant

POPULATION = """\
population 客户 {
  size 4000
  aum            ~ lognormal(median 10万, sigma 1.0)
  risk_tolerance ~ categorical(C3 100%)
  stage          ~ categorical(mature 100%)
  consent_call   ~ bernoulli(80%)
  has_app        ~ bernoulli(70%)
}
"""

PRODUCT = """\
product 理财 {
  kind wealth
  risk R1
  margin 1% per year
}
"""

# Every consenting customer is called every month (reach 100%): contacts are plenty, the
# complaint and opt-out chances are easy to hold against their closed forms.
CALLS = (
    POPULATION
    + PRODUCT
    + """\
lifecycle {
  mature -> churned 0.5%
}

channel 外呼 {
  cost 8 per contact
  requires consent_call
  complaints 5% per contact
  opt out 10% per contact
}

channel APP推送 {
  cost 0.1 per contact
  requires has_app
}

rule 月度外呼 priority 50 {
  offer 理财 via 外呼
  response 2%
}

rule 月度推送 priority 40 {
  offer 理财 via APP推送
  response 1%
}
"""
)


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> CheckedStrategy:
    return model_of(tmp_path_factory.mktemp("calls"), HEADER + CALLS)


@pytest.fixture(scope="module")
def run(calls: CheckedStrategy) -> RunOutput:
    return simulate(calls, customers=4000, months=12, reps=2, seed=11, threads=2)


def _within(count: float, trials: float, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - trials * p) <= sigmas * math.sqrt(trials * p * (1 - p))


def test_complaints_are_reached_contacts_times_the_chance(run: RunOutput) -> None:
    """Complaints ≈ reached contacts × 5% (binomial, within 4 sd), on 外呼 only."""
    channels = run.channels
    reached = run.funnel[..., F["reached"]]  # (R, T+1, P, A)
    calls = reached[:, :, run.plays.index("月度外呼")].sum()
    complaints = run.channel_complaints[:, :, channels.index("外呼")].sum()
    assert calls > 10_000
    assert _within(float(complaints), float(calls), 0.05), (complaints, calls)
    assert run.channel_complaints[:, :, channels.index("APP推送")].sum() == 0
    assert run.channel_opt_outs[:, :, channels.index("APP推送")].sum() == 0
    # The control group is never contacted, so it never complains.
    assert run.channel_complaints[..., 1].sum() == 0


def test_opt_outs_in_the_first_step_are_the_chance_of_the_called(run: RunOutput) -> None:
    """At step 1 nobody has opted out yet: opt-outs ≈ reached calls × 10%."""
    channel = run.channels.index("外呼")
    calls = run.funnel[:, 1, run.plays.index("月度外呼"), :, F["reached"]].sum()
    out = run.channel_opt_outs[:, 1, channel].sum()
    assert _within(float(out), float(calls), 0.10), (out, calls)


def test_opted_out_customers_are_suppressed_by_the_consent_check(run: RunOutput) -> None:
    """Calls fall as customers opt out, and each opt-out adds one customer suppressed by the
    channel check from the next step on: the consenting customers called at step t are those
    called at step t − 1 less the opt-outs and the churned."""
    play, channel = run.plays.index("月度外呼"), run.channels.index("外呼")
    contacted = run.funnel[:, :, play, 0, F["contacted"]]  # treatment arm: (R, T+1)
    suppressed = run.funnel[:, :, play, 0, F["suppressed_channel"]]
    opted = run.channel_opt_outs[:, :, channel, 0]
    assert (contacted[:, 2:] < contacted[:, 1:-1]).all()
    # Suppressed at step t: no consent at all, or opted out up to t − 1 (and still live).
    grew = suppressed[:, 2:] - suppressed[:, 1:-1]
    assert (grew <= opted[:, 1:-1]).all()
    assert grew.sum() > 0.8 * opted[:, 1:-1].sum()  # the rest churned


def test_an_opted_out_customer_is_never_called_again(calls: CheckedStrategy) -> None:
    """Customer by customer: after the step a customer opted out of 外呼 (its bit in the
    state), the call play's last contact step never moves; the push play's still does."""
    calls_play, push_play = 0, 1  # rules in declaration order
    out_since: dict[int, int] = {}
    called_after: list[int] = []
    pushed_after = 0

    def observe(rep: int, t: int, states: list) -> None:
        nonlocal pushed_after
        if rep != 0:
            return
        for st in states:
            bits = st.opted_out[:, 0]
            for row in np.nonzero(bits & np.uint64(1))[0]:  # channel 0: 外呼
                cid = int(st.cid[row])
                since = out_since.setdefault(cid, t)
                if since < t and int(st.last_contact[row, calls_play]) > since:
                    called_after.append(cid)
                if since < t and int(st.last_contact[row, push_play]) == t:
                    pushed_after += 1

    simulate(calls, customers=2000, months=8, reps=1, seed=5, threads=1, observe=observe)
    assert len(out_since) > 100
    assert called_after == []
    assert pushed_after > 0  # other channels still reach them


COMPLAINT_CHURN = (
    POPULATION
    + PRODUCT
    + """\
lifecycle {
  mature -> churned 1%
  churn x 20 for 2 months after complaint
}

channel 外呼 {
  cost 8 per contact
  requires consent_call
  complaints 30% per contact
}

rule 月度外呼 {
  offer 理财 via 外呼
  response 1%
}

policy {
  control 50%
}
"""
)


def test_a_complaint_multiplies_churn_for_its_months(tmp_path: Path) -> None:
    """With a 30% complaint chance and churn × 20 for 2 months after one, the called arm churns
    far more than the control arm (which is never called); without the line it churns alike."""
    model = model_of(tmp_path, HEADER + COMPLAINT_CHURN, "with.strat")
    plain = model_of(
        tmp_path,
        HEADER + COMPLAINT_CHURN.replace("  churn x 20 for 2 months after complaint\n", ""),
        "without.strat",
    )
    sizes = {"customers": 4000, "months": 6, "reps": 1, "seed": 3, "threads": 2}
    angry, calm = simulate(model, **sizes), simulate(plain, **sizes)
    rate = [
        x.churned[0, 1:].sum(axis=0) / x.customers[0, 0].sum(axis=(1, 2)) for x in (angry, calm)
    ]
    assert rate[0][0] > 2.5 * rate[0][1]  # treatment (called) vs control
    assert abs(rate[1][0] - rate[1][1]) < 0.03
    # The complaints themselves do not depend on the lifecycle line until churn differs.
    assert angry.channel_complaints[0, 1].sum() == calm.channel_complaints[0, 1].sum() > 0


SIZES = {"customers": 3000, "months": 6, "reps": 2, "seed": 20260101}


def test_threads_and_shards_give_the_same_bits(calls: CheckedStrategy, run: RunOutput) -> None:
    one = simulate(calls, threads=1, **SIZES)  # type: ignore[arg-type]
    assert one.channel_complaints.sum() > 0 and one.channel_opt_outs.sum() > 0
    assert_identical(one, simulate(calls, threads=2, **SIZES))  # type: ignore[arg-type]
    assert_identical(one, simulate(calls, threads=2, shards=3, **SIZES))  # type: ignore[arg-type]


VARIANT = """\
variant 少打扰 {
  channel 外呼 { opt out 30% per contact complaints 1% per contact }
}
"""


def test_a_variant_of_the_rates_runs_as_a_delta_to_the_same_bits(tmp_path: Path) -> None:
    """A variant that changes a channel's complaint and opt-out chances is run as a delta of
    the base; it gives what a separate run of the variant gives, bit for bit."""
    model = model_of(tmp_path, HEADER + CALLS + VARIANT)
    variant = apply_variant(model, "少打扰")
    base, delta = simulate_alternatives([model, variant], threads=2, **SIZES)
    alone = simulate(variant, threads=2, **SIZES)  # type: ignore[arg-type]
    assert_identical(delta, alone)
    assert delta.channel_opt_outs.sum() > base.channel_opt_outs.sum()
    # It did run as a delta: the rates are among what a delta variant may change.
    prepared = [prepare(m, 3000, 6, 2, 20260101, 2, 1, "") for m in (model, variant)]
    assert delta_compatible(prepared[0].run, prepared[1].run)


def test_expect_reads_complaints_and_opt_outs(tmp_path: Path) -> None:
    text = (
        HEADER
        + CALLS
        + """\
expect {
  complaints of 外呼 > 100
  complaints of APP推送 == 0
  opt_outs < 10
  complaints < 1 per month
}
"""
    )
    model = model_of(tmp_path, text)
    out = simulate(model, customers=2000, months=6, reps=2, seed=1, threads=2)
    verdicts = [r.passed for r in evaluate(model, {None: out})]
    assert verdicts == [True, True, False, False]


@pytest.mark.parametrize(
    ("setting", "code"),
    [
        ("complaints 120% per contact", "E0304"),
        ("complaints 0.3 per contact", "E0301"),
        ("opt out 1% per contact\n  opt out 2% per contact", "E0407"),
    ],
)
def test_bad_rates_are_errors(tmp_path: Path, setting: str, code: str) -> None:
    text = f"channel 外呼 {{\n  cost 8 per contact\n  {setting}\n}}\n"
    assert code in codes(check(tmp_path, text))


def test_complaints_per_rule_cannot_be_measured(tmp_path: Path) -> None:
    report = check(tmp_path, HEADER + CALLS + "expect {\n  complaints of 月度外呼 < 5\n}\n")
    assert codes(report) == ["E0417"]


def test_a_complaint_effect_without_complaints_is_a_warning(tmp_path: Path) -> None:
    text = HEADER + CALLS.replace("  complaints 5% per contact\n", "").replace(
        "  mature -> churned 0.5%\n",
        "  mature -> churned 0.5%\n  churn x 2 for 1 month after complaint\n",
    )
    assert codes(check(tmp_path, text)) == ["W0108"]
    assert codes(check(tmp_path, HEADER + CALLS)) == []


def test_a_snapshot_carries_opt_outs_to_decide(
    tmp_path: Path, calls: CheckedStrategy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot of a simulated book has the consent column ``opted_out_外呼`` (the map's
    外呼 declares `opt out`), and `decide` on it suppresses those customers by `requires` as
    the simulation did: the same decisions, customer by customer (as tests/test_decide_parity.py
    shows for every bundled map, the flagship's 外呼 included). With the column's values
    forgotten, decide would offer them the calls the simulation never made."""
    import test_decide_parity

    from bankdata.decide import decide
    from bankdata.snapshot import read_snapshot, write_snapshot
    from bankdata.snapshot_state import as_of_of, spec_for
    from simulator.kernels import common as k

    monkeypatch.setattr(test_decide_parity, "_model", lambda name: calls)
    model, compiled, (tables, meta), sim_status, _ = test_decide_parity.simulated_decisions(
        "calls", 3
    )
    customers = tables["customers"]
    assert customers["opted_out_外呼"].sum() > 50
    spec = spec_for(compiled, model)
    assert ("opted_out_外呼", "flag", True) in spec.customers
    call = compiled.plays.index("月度外呼")
    as_of = as_of_of(4, compiled.step_days)

    def decided(frame: dict, folder: str) -> np.ndarray:
        written = write_snapshot(tmp_path / folder, frame, meta)
        snap = read_snapshot(written, spec, as_of)
        decision = decide(compiled, model, snap, spec, as_of, compiled.seed)
        mine = pd.DataFrame(decision.status, index=snap.customers["customer_id"].to_numpy())
        return mine.loc[sim_status.index].to_numpy()

    sim = sim_status.to_numpy()
    assert np.array_equal(decided(tables, "as_written"), sim)
    book = customers.set_index("customer_id").loc[sim_status.index]
    opted = book["opted_out_外呼"].to_numpy(bool) & (book["stage"] != "churned").to_numpy()
    assert (sim[opted, call] == k.S_CHANNEL).all()
    forgotten = {**tables, "customers": customers.assign(**{"opted_out_外呼": False})}
    differ = decided(forgotten, "forgotten") != sim
    assert differ[opted, call].all()
    assert not differ[~opted].any()


def test_the_semantic_diff_lists_the_over_contact_settings(tmp_path: Path) -> None:
    """`plan`'s semantic diff shows a channel's new complaint and opt-out chances and a new
    complaint effect; a map without them lists no such field."""
    from strategy_dsl.semantic_diff import semantic_diff

    old_text = CALLS.replace("  complaints 5% per contact\n", "").replace(
        "  opt out 10% per contact\n", "  opt out 5% per contact\n"
    )
    new_text = CALLS.replace(
        "  mature -> churned 0.5%\n",
        "  mature -> churned 0.5%\n  churn x 1.5 for 3 months after complaint\n",
    )
    old = model_of(tmp_path, HEADER + old_text, "old.strat")
    new = model_of(tmp_path, HEADER + new_text, "new.strat")
    changes = {
        (c.kind, c.name): {f.field: (f.old, f.new) for f in c.fields}
        for c in semantic_diff(old, new).changes
    }
    assert changes == {
        ("lifecycle", None): {"churn after complaint": (None, "x 1.5 for 3 months")},
        ("channel", "外呼"): {
            "complaints": (None, "5% per contact"),
            "opt out": ("5% per contact", "10% per contact"),
        },
    }
    assert semantic_diff(old, old).changes == ()
