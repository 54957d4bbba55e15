"""The book customers already hold at step 0 (`held by` / `holding` in a product,
docs/language.md "Held at step 0"): the share holding by tier, the remaining tenor uniform over
the tenor (so maturities happen from step 1), the amount funded out of the customer's AUM, and
the checker's and formatter's side of the construct."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sim_support import HEADER, LIFECYCLE, binomial_bound, model_of

from simulator.engine.run import simulate
from simulator.kernels.population import State
from strategy_dsl.checker import check_paths
from strategy_dsl.formatter import format_text

# Every customer has more AUM than the largest holding, so the shares are exactly the declared
# ones (no customer lacks the money): the closed form is then a plain binomial per tier.
POPULATION = """\
population 客户 {
  size 4000
  aum   ~ uniform(low 20万, high 80万)
  stage ~ categorical(growing 30%, mature 70%)
}
"""

TIERS = """\
tier 大众 when aum < 50万
tier 财富 when aum >= 50万
"""

PRODUCT = """\
product 稳健理财 {
  kind wealth
  risk R2
  tenor 6 months
  min 1万
  held by 30% in 财富, 10%
  holding ~ uniform(low 2万, high 15万)
}
"""

SHARES = {"大众": 0.10, "财富": 0.30}
TENOR = 6


def _run(tmp_path: Path, text: str, customers: int = 20000, months: int = 8) -> list[State]:
    """Each step's state of one replication (the customers' rows, one shard)."""
    model = model_of(tmp_path, text)
    states: list[State] = []

    def observe(rep: int, t: int, shards: list[State]) -> None:
        (st,) = shards
        states.append(State(*(np.array(a, copy=True) for a in st)))

    simulate(model, customers=customers, months=months, reps=1, seed=11, observe=observe)
    return states


def test_shares_held_and_maturities_follow_the_declared_closed_form(tmp_path: Path) -> None:
    states = _run(tmp_path, HEADER + POPULATION + TIERS + LIFECYCLE + PRODUCT)
    first = states[0]
    held = first.hold_amt[:, 0] > 0
    rich = first.aum >= 50e4
    for tier, mask in (("财富", rich), ("大众", ~rich)):
        n = int(mask.sum())
        share = held[mask].mean()
        assert abs(share - SHARES[tier]) <= binomial_bound(np.array(SHARES[tier]), n), tier
    # Funded out of AUM (AUM does not grow), within the declared amounts, sold by no play.
    amounts = first.hold_amt[held, 0]
    assert np.all(amounts <= first.aum[held]) and np.all(amounts >= 2e4 - 1)
    assert np.all(amounts <= 15e4 + 1) and np.all(first.hold_play[held, 0] == -1)
    # The remaining tenor is uniform over 1..tenor steps: each step matures 1/tenor of them.
    until = first.hold_until[held, 0]
    assert until.min() == 1 and until.max() == TENOR
    counts = np.bincount(until, minlength=TENOR + 1)[1:]
    expected = np.full(TENOR, 1 / TENOR)
    bound = binomial_bound(expected, int(held.sum()))
    assert np.all(np.abs(counts / held.sum() - expected) <= bound), counts
    # Each step t matures exactly the holdings of the live customers drawn to mature at t.
    ids = first.cid[held]
    for t in range(1, TENOR + 1):
        st = states[t]
        alive = st.alive == 1
        matured = (st.matured & 1) == 1
        want = set(ids[until == t]) & set(st.cid[alive])
        assert set(st.cid[alive & matured]) == want, t
        assert matured.sum() > 0
    # After the tenor no live customer holds anything held at step 0.
    last = states[TENOR]
    still = (last.hold_amt[:, 0] > 0) & (last.alive == 1)
    assert not np.any(np.isin(last.cid[still], ids))


def test_holdings_leave_the_population_and_its_aum_as_they_were(tmp_path: Path) -> None:
    """The same seed draws the same customers with or without holdings: AUM is not touched."""
    without = PRODUCT.replace("  held by 30% in 财富, 10%\n", "").replace(
        "  holding ~ uniform(low 2万, high 15万)\n", ""
    )
    rule = (
        "channel 短信 {\n  cost 0.05 per contact\n}\n"
        "rule 理财推荐 {\n  offer 稳健理财 via 短信\n  response 0%\n  suitable only\n}\n"
    )
    base = HEADER + POPULATION + TIERS + LIFECYCLE + rule
    a = _run(tmp_path, base + PRODUCT, customers=3000, months=1)[0]
    b = _run(tmp_path, base + without, customers=3000, months=1)[0]
    np.testing.assert_array_equal(a.aum, b.aum)
    np.testing.assert_array_equal(a.stage, b.stage)
    assert (a.hold_amt[:, 0] > 0).sum() > 0 and (b.hold_amt[:, 0] > 0).sum() == 0


def test_a_holding_larger_than_the_aum_takes_what_is_there_or_nothing_below_min(
    tmp_path: Path,
) -> None:
    poor = POPULATION.replace("uniform(low 20万, high 80万)", "uniform(low 0, high 4万)")
    text = HEADER + poor + TIERS + LIFECYCLE + PRODUCT.replace("30% in 财富, 10%", "100%")
    first = _run(tmp_path, text, customers=3000, months=1)[0]
    held = first.hold_amt[:, 0] > 0
    # The holding (2万..15万) is capped at the customer's AUM; below `min` (1万) nothing is held.
    amounts, aum = first.hold_amt[held, 0], first.aum[held].astype(np.float32)
    assert np.all(amounts <= aum)
    assert np.mean(amounts == aum) > 0.8  # most draws exceed an AUM below 4万
    assert np.all(first.aum[held] >= 1e4) and np.all(first.aum[~held] < 1e4)
    assert 0.6 < held.mean() < 0.9  # about 3/4 of uniform(0, 4万) is above 1万


def _codes(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "m.strat"
    path.write_text(text, encoding="utf-8")
    return [d.code for d in check_paths([path]).diagnostics if d.is_error]


def test_checker_reports_bad_holdings(tmp_path: Path) -> None:
    base = HEADER + POPULATION + TIERS + LIFECYCLE
    assert _codes(tmp_path, base + PRODUCT) == []
    unknown = PRODUCT.replace("in 财富", "in 私行")
    assert _codes(tmp_path, base + unknown) == ["E0204"]
    assert _codes(tmp_path, base + PRODUCT.replace("30% in", "30 in")) == ["E0301"]
    twice = PRODUCT.replace("10%", "10%, 20% in 财富")
    assert _codes(tmp_path, base + twice) == ["E0407"]
    no_amount = PRODUCT.replace("  holding ~ uniform(low 2万, high 15万)\n", "")
    assert _codes(tmp_path, base + no_amount) == ["E0408"]
    no_share = PRODUCT.replace("  held by 30% in 财富, 10%\n", "")
    assert _codes(tmp_path, base + no_share) == ["E0408"]


def test_formatter_round_trips_holdings() -> None:
    text = (
        HEADER + TIERS + PRODUCT.replace("held by 30% in 财富, 10%", "held by  30%  in 财富 ,10%")
    )
    result = format_text(text, "m.strat")
    assert "  held by 30% in 财富, 10%\n" in result.output
    assert "  holding ~ uniform(low 2万, high 15万)\n" in result.output
    assert format_text(result.output, "m.strat").output == result.output
