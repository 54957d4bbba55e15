"""Purchases sized to the customer (`buys … of aum`, `switching` in a product,
docs/language.md "Purchases sized to the customer"): the amount is a share of the customer's AUM
between the product's `min` and `max`, a customer below `min` does not buy, and only the new
money changes the customer's AUM (conservation: the switched part moves between balances)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, model_of

from simulator.engine.run import simulate
from simulator.kernels.common import F
from simulator.kernels.population import State
from strategy_dsl.checker import check_paths

# No market and no lifecycle: a customer's AUM changes only by what a purchase brings.
MAP = """\
population 客户 {
  size 4000
  aum            ~ lognormal(median 10万, sigma 1.2)
  risk_tolerance ~ categorical(C3 100%)
  stage          ~ categorical(mature 100%)
  propensity     ~ constant(50%)
}

product 大额存单 {
  kind deposit
  risk R1
  tenor 12 months
  min 5万
  buys 30% of aum max 20万
  switching 70%
}

channel 短信 {
  cost 0.05 per contact
}

rule 存单推荐 {
  offer 大额存单 via 短信
  response 50%
}
"""

SHARE, LEAST, MOST, SWITCHING = 0.30, 5e4, 20e4, 0.70


def _two_steps(tmp_path: Path, text: str) -> tuple[State, State, object]:
    model = model_of(tmp_path, HEADER + text)
    states: list[State] = []

    def observe(rep: int, t: int, shards: list[State]) -> None:
        (st,) = shards
        states.append(State(*(np.array(a, copy=True) for a in st)))

    out = simulate(model, customers=6000, months=1, reps=1, seed=5, observe=observe)
    return states[0], states[1], out


def test_purchases_are_a_share_of_aum_and_only_new_money_adds_aum(tmp_path: Path) -> None:
    before, after, out = _two_steps(tmp_path, MAP)
    assert np.array_equal(before.cid, after.cid)
    bought = after.hold_amt[:, 0] > 0
    assert bought.sum() > 500
    aum = before.aum[bought]
    want = np.minimum(np.maximum(SHARE * aum, LEAST), MOST)
    np.testing.assert_allclose(after.hold_amt[bought, 0], want.astype(np.float32), rtol=1e-6)
    # Conservation: the change in AUM is the new money, (1 − switching) of the purchase.
    np.testing.assert_allclose(after.aum[bought] - aum, (1 - SWITCHING) * want, rtol=1e-9)
    np.testing.assert_array_equal(after.aum[~bought], before.aum[~bought])
    # The funnel's inflow is the new money only.
    inflow = out.funnel[0, 1, 0, :, F["inflow_fen"]].sum()
    assert inflow == pytest.approx(100 * (1 - SWITCHING) * want.sum(), rel=1e-6)


def test_a_customer_below_min_does_not_buy(tmp_path: Path) -> None:
    before, after, out = _two_steps(tmp_path, MAP)
    poor = before.aum < LEAST
    reached = out.funnel[0, 1, 0, 0, F["reached"]] + out.funnel[0, 1, 0, 1, F["reached"]]
    assert poor.sum() > 1000 and reached > 0
    assert not np.any(after.hold_amt[poor, 0] > 0)
    # Among those who can afford it, about half respond (response 50%, reach 100%).
    rich = ~poor & (before.arm == 0)
    assert 0.45 < (after.hold_amt[rich, 0] > 0).mean() < 0.55


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "m.strat"
    path.write_text(HEADER + text, encoding="utf-8")
    return [d.code for d in check_paths([path]).diagnostics if d.is_error]


def test_checker_reports_bad_purchase_sizes(tmp_path: Path) -> None:
    assert _errors(tmp_path, MAP) == []
    assert _errors(tmp_path, MAP.replace("buys 30%", "buys 30")) == ["E0301"]
    assert _errors(tmp_path, MAP.replace("buys 30%", "buys 0%")) == ["E0305"]
    assert _errors(tmp_path, MAP.replace("max 20万", "max 0")) == ["E0305"]
    assert _errors(tmp_path, MAP.replace("switching 70%", "switching 170%")) == ["E0304"]
    assert _errors(tmp_path, MAP.replace("of aum", "of assets")) == ["E0203"]
