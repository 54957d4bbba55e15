"""`decide` on ten million customers within 8 GiB (issue 18, Speed; docs/decide.md): the frames
are released once the engine's state holds them, flows become ring places a chunk at a time
(with the same places as one pass), and dates become steps without a Series of timedeltas."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bankdata.snapshot_state as snapshot_state
from bankdata.decide import decide
from bankdata.snapshot import read_snapshot, write_snapshot
from bankdata.snapshot_state import Timeline, as_of_of, decision_step, spec_for
from simulator.engine.sizes import compiled_of
from simulator.kernels import common as k
from simulator.kernels.rng import replication_key
from strategy_dsl.checker import check_paths
from stratmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
WEALTH = ROOT / "strategies" / "wealth_2026q1.strat"
STEP = 2


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("book") / "snapshot"
    argv = ["simulate", str(WEALTH), "--customers", "400", "--months", str(STEP + 1)]
    assert main([*argv, "--snapshot-at", str(STEP), "--snapshot", str(out), "-q"]) == 0
    return out


def _map():  # type: ignore[no-untyped-def]
    model = next(iter(check_paths([WEALTH]).models.values()))
    compiled = compiled_of(model, 400)
    return model, compiled, spec_for(compiled, model), as_of_of(STEP + 1, compiled.step_days)


def test_decide_releases_the_frames_once_the_state_holds_them(book: Path) -> None:
    model, compiled, spec, as_of = _map()
    snap = read_snapshot(book, spec, as_of)
    ids = snap.customers["customer_id"].tolist()
    assert "flows" in snap.history and len(snap.customers.columns) > 1
    decision = decide(compiled, model, snap, spec, as_of, compiled.seed)
    assert snap.released and snap.history == {}
    assert list(snap.customers.columns) == ["customer_id"]  # the ids stay: the list names them
    assert snap.customers["customer_id"].tolist() == ids
    assert len(decision.rows) > 0
    with pytest.raises(RuntimeError, match="released"):
        snap.table("flows")


def _rings(book: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> dict[str, np.ndarray]:
    _model, compiled, spec, as_of = _map()
    monkeypatch.setattr(snapshot_state, "FLOW_CHUNK_ROWS", chunk)
    snap = read_snapshot(book, spec, as_of)
    tb = k.make_tables(compiled)
    timeline = Timeline(as_of, decision_step(as_of, compiled.step_days), compiled.step_days)
    built = snapshot_state.state_from_snapshot(
        compiled, tb, snap, spec, timeline, replication_key(compiled.seed, 0)
    )
    st = built.state
    return {"aum": st.aum_ring.copy(), "flow": st.flow_ring.copy(), "txn": st.txn_ring.copy()}


def test_flows_a_chunk_at_a_time_fill_the_rings_as_one_pass_later_rows_winning(
    book: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every flow row again, a day earlier (the same step) and with other amounts, at the end of
    the file: the later rows win each ring place, whether they fall in the first row's chunk or
    in another."""
    tables = {p.stem: pd.read_parquet(p) for p in book.glob("*.parquet")}
    flows = tables["flows"]
    again = flows.assign(
        date=flows["date"] - pd.Timedelta(days=1),
        aum=flows["aum"] * 0.5,
        net_flow=flows["net_flow"].fillna(0.0) - 7.0,
        transactions=flows["transactions"].fillna(0.0) + 2.0,
    )
    tables["flows"] = pd.concat([flows, again], ignore_index=True)
    import json

    meta = json.loads((book / "snapshot.json").read_text(encoding="utf-8"))
    doubled = write_snapshot(tmp_path / "doubled", tables, meta)
    whole = _rings(doubled, monkeypatch, 1 << 22)
    for chunk in (7, len(flows) // 3, len(flows)):
        parts = _rings(doubled, monkeypatch, chunk)
        for name in whole:
            assert np.array_equal(parts[name], whole[name], equal_nan=True), (chunk, name)
    # The later rows won: each customer's AUM of the last step before this one is the copy's.
    _model, compiled, spec, as_of = _map()
    step = decision_step(as_of, compiled.step_days)
    snap = read_snapshot(doubled, spec, as_of)
    timeline = Timeline(as_of, step, compiled.step_days)
    late = snap.table("flows").iloc[len(flows) :]
    last = late[timeline.steps(late["date"]) == step - 1]
    length = whole["aum"].shape[1]
    assert len(last) > 0
    got = whole["aum"][last["row"].to_numpy(), (step - 1) % length]
    assert np.array_equal(got, last["aum"].to_numpy(np.float32))


def test_dates_with_a_time_of_day_fall_in_the_step_a_timedelta_says() -> None:
    """A timestamp late on a day is that day's for the step (whole days floored, as pandas'
    ``Timedelta.days``), also before 1970 and for the as-of date itself."""
    as_of = dt.date(2000, 3, 1)
    timeline = Timeline(as_of, 3, 30)
    dates = pd.Series(
        pd.to_datetime(
            ["1999-12-31 23:59", "2000-01-31 00:01", "2000-03-01 00:00", "1965-03-01 12:00"],
            format="ISO8601",
        )
    )
    days = (pd.Timestamp(as_of) - dates).dt.days.to_numpy()
    expected = np.maximum(3 - np.floor_divide(days, 30), -snapshot_state.STAGE_AGE_CAP)
    assert timeline.steps(dates).tolist() == expected.tolist()
    assert timeline.steps(dates).tolist()[:3] == [1, 3, 3]  # 60 days 00:01; 29 days 23:59


def test_stages_risks_and_categories_are_the_simulations_own(tmp_path: Path) -> None:
    """A simulated book with a categorical attribute and risks written as C1 … C5: the state a
    snapshot builds (codes by Arrow's lookup of the validated names) holds each customer's
    stage, risk tolerance and category as the simulation held them."""
    from sim_support import HEADER, model_of

    from bankdata.snapshot_state import book_for_forecast
    from bankdata.snapshot_writer import ContactLog, snapshot_from_state
    from simulator.engine.run import simulate
    from simulator.kernels.population import State

    model = model_of(
        tmp_path,
        HEADER
        + """
        population 客户 {
          size 1500
          aum ~ lognormal(median 10万, sigma 1.0)
          risk_tolerance ~ categorical(C1 20%, C2 20%, C3 20%, C4 20%, C5 20%)
          stage ~ categorical(new 20%, growing 30%, mature 30%, declining 20%)
          客群 ~ categorical(白领 50%, 退休 30%, 学生 20%)
        }
        lifecycle {
          growing -> mature 10%, churned 5%
        }
        """,
    )
    compiled = compiled_of(model, 1500)
    rk = replication_key(compiled.seed, 0)
    log = ContactLog(compiled)
    seen: dict[str, object] = {}

    def observe_decision(rep: int, t: int, phase: str, states: list[State], extra) -> None:
        if t == 3 and phase == "book":
            seen["book"] = snapshot_from_state(compiled, model, states, t, rk, extra, log)
            seen["own"] = {
                int(st.cid[i]): (int(st.stage[i]), int(st.risk[i]), st.cats[i].tolist())
                for st in states
                for i in range(st.cid.size)
            }

    simulate(
        model, customers=1500, months=3, seed=compiled.seed, shards=2,
        observe=log.observer(), observe_decision=observe_decision,
    )  # fmt: skip
    tables, meta = seen["book"]
    assert set(tables["customers"]["客群"]) == {"白领", "退休", "学生"}
    folder = write_snapshot(tmp_path / "snapshot", tables, meta)
    as_of = as_of_of(3, compiled.step_days)
    spec = spec_for(compiled, model)
    snap = read_snapshot(folder, spec, as_of)
    book = book_for_forecast(compiled, k.make_tables(compiled), snap, spec, as_of, compiled.seed)
    st, own = book.state, seen["own"]
    assert book.rows > 1000 and len({own[int(c)][2][0] for c in st.cid[: book.rows]}) == 3
    for i in range(book.rows):
        mine = (int(st.stage[i]), int(st.risk[i]), st.cats[i].tolist())
        assert mine == own[int(st.cid[i])], i
