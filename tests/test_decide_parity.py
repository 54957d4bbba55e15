"""The contract between the rules engine and the forecast (issue 18): `simulate --snapshot-at T`
writes the simulated book as step T + 1's decision reads it; `decide` on that snapshot makes
exactly the decisions the simulation made at step T + 1 — every customer, every candidate play,
its arm and its fate (contacted, or suppressed and why) — for every bundled map.

The simulation's own decisions are read in the run itself: each candidate's status from the
step's state right after its decision and cuts (``kernels.statuses``: the decision's functions
with the step's thresholds), and, independently, the contacts it then made (a play's last
contact is step T + 1 after the step). The snapshot goes through the files a bank would give:
written to disk, read back and validated like any other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankdata.decide import decide
from bankdata.snapshot import read_snapshot, write_snapshot
from bankdata.snapshot_state import as_of_of, play_labels, spec_for
from bankdata.snapshot_writer import ContactLog, snapshot_from_state
from bankdata.tables import TableError
from simulator.engine.run import simulate
from simulator.engine.sizes import compiled_of
from simulator.kernels import common as k
from simulator.kernels.population import State
from simulator.kernels.rng import replication_key
from simulator.kernels.statuses import statuses
from strategy_dsl.checker import check_paths
from strategy_dsl.compile import STAGES

ROOT = Path(__file__).resolve().parent.parent
MAPS = sorted(p.stem for p in (ROOT / "strategies").glob("*.strat"))
CUSTOMERS = 1500


def _model(name: str):
    path = ROOT / "strategies" / f"{name}.strat"
    report = check_paths([path])
    return next(m for p, m in report.models.items() if Path(p).resolve() == path.resolve())


def simulated_decisions(name: str, step: int, shards: int = 2, model=None):
    """The simulation of map ``name`` (or of ``model``) up to step ``step`` + 1: the snapshot
    tables of step ``step`` (written as ``simulate --snapshot-at`` writes them), the statuses
    of step ``step`` + 1 by customer id, and the contacts that step made."""
    model = model or _model(name)
    compiled = compiled_of(model, CUSTOMERS)
    tb = k.make_tables(compiled)
    rk = replication_key(compiled.seed, 0)
    log = ContactLog(compiled)
    seen: dict[str, object] = {}

    def observe_decision(rep: int, t: int, phase: str, states: list[State], extra) -> None:
        if t != step + 1:
            return
        if phase == "book":
            seen["book"] = snapshot_from_state(compiled, model, states, t, rk, extra, log)
            return
        found = [statuses(tb, st, st.cid.size, t, rk, extra)[0] for st in states]
        ids = np.concatenate([st.cid for st in states]).astype(str)
        seen["status"] = pd.DataFrame(np.concatenate(found), index=ids)

    simulate(
        model, customers=CUSTOMERS, months=step + 1, seed=compiled.seed, shards=shards,
        observe=log.observer(), observe_decision=observe_decision,
    )  # fmt: skip
    contacts = log.frame()
    contacts = contacts[contacts["step"] == step + 1]
    return model, compiled, seen["book"], seen["status"], contacts


def _decided(tmp_path: Path, name: str, step: int, model=None):
    model, compiled, (tables, meta), sim_status, sim_contacts = simulated_decisions(
        name, step, model=model
    )
    folder = write_snapshot(tmp_path / "snapshot", tables, meta)
    as_of = as_of_of(step + 1, compiled.step_days)
    spec = spec_for(compiled, model)
    snap = read_snapshot(folder, spec, as_of)
    decision = decide(compiled, model, snap, spec, as_of, compiled.seed)
    mine = pd.DataFrame(decision.status, index=snap.customers["customer_id"].to_numpy())
    return compiled, decision, mine, sim_status, sim_contacts


# The books of steps 0 (the initial population), 2, 5 and 11 (a year of a monthly map) of every
# bundled map, and the 100-day journey of the daily map at day 101.
CASES = [(name, step) for name in MAPS for step in (0, 2, 5, 11)]
CASES.append(("new_customer_100_days", 100))


@pytest.mark.parametrize(("name", "step"), CASES)
def test_decide_on_the_simulated_book_makes_the_simulations_decisions(
    tmp_path: Path, name: str, step: int
) -> None:
    _assert_parity(tmp_path, name, step)


def test_decide_parity_on_a_map_that_draws_churn(tmp_path: Path) -> None:
    """No bundled map draws `churned ~ beta`: the parity on one that does (its snapshot carries
    each customer's own churn chance, docs/snapshot.md)."""
    model = drawn_churn_model(tmp_path, RULES)
    _assert_parity(tmp_path, "drawn churn", 4, model)


def _assert_parity(tmp_path: Path, name: str, step: int, model=None) -> None:
    compiled, decision, mine, sim_status, sim_contacts = _decided(tmp_path, name, step, model)
    assert sorted(mine.index) == sorted(sim_status.index)  # every customer of the book
    sim = sim_status.loc[mine.index]
    differ = np.argwhere(sim.to_numpy() != mine.to_numpy())
    shown = [
        (mine.index[r], compiled.plays[p], int(sim.iat[r, p]), int(mine.iat[r, p]))
        for r, p in differ[:10]
    ]
    assert not shown, f"{len(differ)} (customer, play) decisions differ, e.g. {shown}"
    # The list's contacts are the contacts the simulation then made, customer by customer.
    listed = decision.rows[decision.rows["action"] == "contact"]
    by_label = {label: p for p, label in enumerate(play_labels(compiled))}
    waves = [None if pd.isna(w) else int(w) for w in listed["wave"].astype(object)]
    plays = [by_label[(name, wave)] for name, wave in zip(listed["play"], waves, strict=True)]
    ours = sorted(zip(listed["customer_id"], plays, strict=True))
    cids, made = sim_contacts["cid"].astype(str), sim_contacts["play"].astype(int)
    assert ours == sorted(zip(cids, made, strict=True))
    assert (mine.to_numpy() != 0).sum() > 0  # somebody was a candidate


def test_the_parity_covers_every_kind_of_fate() -> None:
    """Over the bundled maps at step 5, the decisions compared include contacts and every
    suppression the simulator has: the parity is not proved on easy cases only."""
    seen: set[int] = set()
    for name in MAPS:
        status = simulated_decisions(name, 5)[3]
        seen |= set(np.unique(status.to_numpy()).tolist())
    wanted = {k.S_CONTACTED, k.S_SUITABILITY, k.S_CHANNEL, k.S_COOLDOWN, k.S_CONTROL}
    wanted |= {k.S_HOLDOUT, k.S_ARBITRATION, k.S_HELD, k.S_CAP, k.S_CAPACITY, k.S_BUDGET}
    assert wanted <= seen, f"never seen: {wanted - seen}"


DRAWN_CHURN = """
population 客户 {
  size 2000
  aum ~ lognormal(median 10万, sigma 1.0)
  stage ~ categorical(growing 40%, mature 60%)
}
lifecycle {
  growing -> mature 10%, churned ~ beta(0.7, 3.2)
  mature -> churned ~ beta(1.5, 9)
}
"""


RULES = """
product 理财 {
  kind wealth
  risk R1
  margin 1% per year
}
channel 短信 {
  cost 0.05 per contact
  capacity 300 per month
}
rule 月度短信 priority 10 {
  offer 理财 via 短信
  response 3%
}
"""


def drawn_churn_model(tmp_path: Path, rules: str = ""):
    """A map whose lifecycle draws each customer's churn chance in two stages."""
    from sim_support import HEADER, model_of

    return model_of(tmp_path, HEADER + DRAWN_CHURN + rules)


def _drawn_churn_book(tmp_path: Path):
    """The simulated book of step 3 of the drawn-churn map, each customer's own chances as the
    simulation holds them, and the snapshot as written to disk."""
    model = drawn_churn_model(tmp_path)
    compiled = compiled_of(model, 2000)
    rk = replication_key(compiled.seed, 0)
    log = ContactLog(compiled)
    seen: dict[str, object] = {}

    def observe_decision(rep: int, t: int, phase: str, states: list[State], extra) -> None:
        if t == 3 and phase == "book":
            seen["book"] = snapshot_from_state(compiled, model, states, t, rk, extra, log)
            seen["own"] = {
                int(c): p.copy() for st in states for c, p in zip(st.cid, st.churn_p, strict=True)
            }

    simulate(
        model, customers=2000, months=3, seed=compiled.seed, shards=2,
        observe=log.observer(), observe_decision=observe_decision,
    )  # fmt: skip
    tables, meta = seen["book"]
    folder = write_snapshot(tmp_path / "snapshot", tables, meta)
    return model, compiled, seen["own"], folder


def _forecast_book(model, compiled, folder: Path):
    from bankdata.snapshot_state import book_for_forecast

    as_of = as_of_of(3, compiled.step_days)
    spec = spec_for(compiled, model)
    snap = read_snapshot(folder, spec, as_of)
    return book_for_forecast(compiled, k.make_tables(compiled), snap, spec, as_of, compiled.seed)


def test_a_snapshots_customers_keep_their_own_churn_chances(tmp_path: Path) -> None:
    """A map whose lifecycle draws each customer's churn chance (`churned ~ beta`): the chances
    of a snapshot's customers are the simulation's own — not 0 (which would never churn them
    in `simulate --from`); the snapshot's `churn_chance` is the chance of the customer's stage."""
    model, compiled, own, folder = _drawn_churn_book(tmp_path)
    book = _forecast_book(model, compiled, folder)
    st = book.state
    assert st.churn_p.shape[1] == 2 and book.rows > 1000
    for i in range(book.rows):
        assert np.array_equal(st.churn_p[i], own[int(st.cid[i])]), i
    assert (st.churn_p[: book.rows] > 0).all()
    written = pd.read_parquet(folder / "customers.parquet")
    col = compiled.arrays["drawn_col"][[STAGES.index(s) for s in written["stage"]]]
    drawn = col >= 0
    assert drawn.any() and not drawn.all()  # churned customers draw none: left empty
    assert written["churn_chance"][~drawn].isna().all()
    ids = written["customer_id"][drawn]
    expected = [own[int(c)][j] for c, j in zip(ids, col[drawn], strict=True)]
    assert np.array_equal(written["churn_chance"][drawn].to_numpy(np.float32), expected)


def test_a_given_churn_chance_replaces_the_draw_of_the_customers_stage(tmp_path: Path) -> None:
    """A bank's own chance (calibration's posterior) is what the forecast runs: in the row of
    the customer's stage only; an empty value keeps the keyed draw."""
    model, compiled, own, folder = _drawn_churn_book(tmp_path)
    path = folder / "customers.parquet"
    cust = pd.read_parquet(path)
    growing = np.flatnonzero(cust["stage"].to_numpy() == "growing")[:2]
    cust.loc[growing[0], "churn_chance"] = 0.5
    cust.loc[growing[1], "churn_chance"] = np.nan
    cust.to_parquet(path)
    book = _forecast_book(model, compiled, folder)
    st = book.state
    row0 = own[int(cust["customer_id"][growing[0]])].copy()
    row0[compiled.arrays["drawn_col"][STAGES.index("growing")]] = np.float32(0.5)
    assert np.array_equal(st.churn_p[growing[0]], row0)
    assert np.array_equal(st.churn_p[growing[1]], own[int(cust["customer_id"][growing[1]])])


@pytest.mark.parametrize(("value", "says"), [("1.5", "not a chance between 0 and 1"),
                                             ("-0.1", "not a chance between 0 and 1"),
                                             ("often", "not a number")])  # fmt: skip
def test_a_bad_churn_chance_is_refused_naming_the_rows(
    tmp_path: Path, value: str, says: str
) -> None:
    model, compiled, _own, folder = _drawn_churn_book(tmp_path)
    cust = pd.read_parquet(folder / "customers.parquet").astype({"churn_chance": object})
    cust.loc[3, "churn_chance"] = value
    (folder / "customers.parquet").unlink()
    cust.astype(str).replace({"nan": "", "NaT": ""}).to_csv(folder / "customers.csv", index=False)
    with pytest.raises(TableError) as caught:
        read_snapshot(folder, spec_for(compiled, model), as_of_of(3, compiled.step_days))
    message = str(caught.value)
    assert "customers.csv: column churn_chance" in message and says in message
    assert "row 5 (" in message and value in message  # the first data row is the file's 2nd


def test_a_churn_chance_for_a_map_that_draws_none_is_an_error(tmp_path: Path) -> None:
    from bankdata.snapshot_state import SnapshotStateError

    *_, folder = _drawn_churn_book(tmp_path)
    plain = model_of_plain(tmp_path)
    flat = compiled_of(plain, 2000)
    assert not flat.arrays["drawn_a"].size
    with pytest.raises(SnapshotStateError, match="draws no churn chance"):
        _forecast_book(plain, flat, folder)


def model_of_plain(tmp_path: Path):
    from sim_support import HEADER, model_of

    text = DRAWN_CHURN.replace("churned ~ beta(0.7, 3.2)", "churned 3%")
    return model_of(
        tmp_path, HEADER + text.replace("churned ~ beta(1.5, 9)", "churned 2%"), "plain.strat"
    )
