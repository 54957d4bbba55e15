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
from simulator.engine.run import simulate
from simulator.engine.sizes import compiled_of
from simulator.kernels import common as k
from simulator.kernels.population import State
from simulator.kernels.rng import replication_key
from simulator.kernels.statuses import statuses
from strategy_dsl.checker import check_paths

ROOT = Path(__file__).resolve().parent.parent
MAPS = sorted(p.stem for p in (ROOT / "strategies").glob("*.strat"))
CUSTOMERS = 1500


def _model(name: str):
    path = ROOT / "strategies" / f"{name}.strat"
    report = check_paths([path])
    return next(m for p, m in report.models.items() if Path(p).resolve() == path.resolve())


def simulated_decisions(name: str, step: int, shards: int = 2):
    """The simulation of map ``name`` up to step ``step`` + 1: the snapshot tables of step
    ``step`` (written as ``simulate --snapshot-at`` writes them), the statuses of step
    ``step`` + 1 by customer id, and the contacts that step made."""
    model = _model(name)
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


def _decided(tmp_path: Path, name: str, step: int):
    model, compiled, (tables, meta), sim_status, sim_contacts = simulated_decisions(name, step)
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
    compiled, decision, mine, sim_status, sim_contacts = _decided(tmp_path, name, step)
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


def test_a_snapshots_customers_keep_their_own_churn_chances(tmp_path: Path) -> None:
    """A map whose lifecycle draws each customer's churn chance (`churned ~ beta`): the chances
    of a snapshot's customers, built from their ids, are the simulation's own — not 0 (which
    would never churn them in `simulate --from`)."""
    from sim_support import HEADER, model_of

    from bankdata.snapshot_state import book_for_forecast

    model = model_of(
        tmp_path,
        HEADER
        + """
        population 客户 {
          size 2000
          aum ~ lognormal(median 10万, sigma 1.0)
          stage ~ categorical(growing 40%, mature 60%)
        }
        lifecycle {
          growing -> mature 10%, churned ~ beta(0.7, 3.2)
          mature -> churned ~ beta(1.5, 9)
        }
        """,
    )
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
    as_of = as_of_of(3, compiled.step_days)
    spec = spec_for(compiled, model)
    snap = read_snapshot(folder, spec, as_of)
    book = book_for_forecast(compiled, k.make_tables(compiled), snap, spec, as_of, compiled.seed)
    own = seen["own"]
    st = book.state
    assert st.churn_p.shape[1] == 2 and book.rows > 1000
    for i in range(book.rows):
        assert np.array_equal(st.churn_p[i], own[int(st.cid[i])]), i
    assert (st.churn_p[: book.rows] > 0).all()
