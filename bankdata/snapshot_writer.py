"""A simulated book written as a customer snapshot (``bankdata.snapshot``): what
``stratmap simulate --snapshot-at T`` writes, from the state step T + 1's decision reads (after
the step's market, flows and lifecycle, before its decisions), so that ``decide`` on it makes
the simulation's decisions (tests/test_decide_parity.py). The inverse of
``bankdata.snapshot_state``; the contacts come from a log kept while the simulation runs
(``ContactLog``), since the state remembers only each play's last contact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bankdata.snapshot import OWN_CHURN
from bankdata.snapshot_state import (
    MONTH_DAYS,
    RISKS,
    YEAR_DAYS,
    Timeline,
    as_of_of,
    opt_out_columns,
    play_labels,
    score_columns,
)
from simulator.engine.couplings import model_scores
from simulator.kernels import common as k
from simulator.kernels.common import NO_MATURITY
from simulator.kernels.population import State
from simulator.kernels.predicates import CUT_Z0
from strategy_dsl.compile import NEVER_STEP, STAGES, CompiledStrategy
from strategy_dsl.model import CheckedStrategy

FLOW_COLUMNS = ("customer_id", "date", "aum", "net_flow", "transactions")


@dataclass
class ContactLog:
    """Every contact of a simulation, from the state after each step (``simulate``'s
    ``observe``): a play contacted a customer at step t when its last contact is t."""

    c: CompiledStrategy
    parts: list[pd.DataFrame] = field(default_factory=list)

    def observer(self, rep: int = 0) -> Callable[[int, int, list[State]], None]:
        def observe(r: int, t: int, states: list[State]) -> None:
            if r != rep or t == 0:
                return
            for st in states:
                self.record(st, t)

        return observe

    def record(self, st: State, t: int) -> None:
        group = self.c.arrays["play_group"]
        rows, plays = np.nonzero(st.last_contact == t)
        if rows.size == 0:
            return
        responded = st.last_resp[rows, group[plays]] == t
        self.parts.append(pd.DataFrame(
            {"cid": st.cid[rows], "play": plays, "step": t, "responded": responded}
        ))  # fmt: skip

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({"cid": [], "play": [], "step": [], "responded": []})
        return pd.concat(self.parts, ignore_index=True)


def snapshot_from_state(
    c: CompiledStrategy,
    model: CheckedStrategy,
    states: list[State],
    t: int,
    rk: np.uint64,
    sim_cutoffs: np.ndarray,
    log: ContactLog,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The book as step t's decision reads it (``states``: every shard's rows in use, after
    the step's market, flows and lifecycle, before its decisions), as snapshot tables and the
    ``snapshot.json`` extras (the models' cutoffs of that step)."""
    st = State(*(np.concatenate([getattr(s, f) for s in states]) for f in State._fields))
    tl = Timeline(as_of_of(t, c.step_days), t, c.step_days)
    tb = k.make_tables(c)
    ids = pd.Series(st.cid.astype(str))
    cust = pd.DataFrame({"customer_id": ids})
    cust["stage"] = np.asarray(STAGES)[st.stage.astype(np.int64)]
    cust["stage_since"] = tl.dates(st.stage_since)
    cust["opened"] = tl.dates(st.acquired)
    cust["last_txn"] = tl.dates(st.last_txn)
    cust["aum"] = st.aum.astype(np.float64)
    cust["risk_tolerance"] = np.asarray(RISKS)[np.clip(st.risk.astype(np.int64) - 1, 0, 4)]
    cust["age"] = st.age0.astype(np.float64) + t * c.step_days / 360.0
    cust["txn_per_month"] = st.txn_rate.astype(np.float64)
    cust["propensity"] = st.propensity.astype(np.float64)
    if tb.drawn_a.size:  # each customer's own churn chance of the stage it is in (if drawn)
        col = tb.drawn_col[st.stage.astype(np.int64)]
        own = st.churn_p[np.arange(col.size), np.maximum(col, 0)].astype(np.float64)
        cust[OWN_CHURN] = np.where(col >= 0, own, np.nan)
    first = (t - 1) * c.step_days
    ahead = (st.birthday.astype(np.int64) - first) % YEAR_DAYS
    birthday = np.datetime64(tl.as_of, "D") + ahead.astype("timedelta64[D]")
    years_back = np.array([40 * 12], dtype="timedelta64[M]")  # a leap day stays a leap day
    cust["birthday"] = pd.Series(
        (birthday.astype("datetime64[M]") - years_back).astype("datetime64[D]")
        + (birthday - birthday.astype("datetime64[M]").astype("datetime64[D]"))
    ).astype("datetime64[ms]")
    ahead_pay = (st.payday.astype(np.int64) - first) % MONTH_DAYS
    cust["payday"] = (ahead_pay + tl.as_of.day - 1) % MONTH_DAYS + 1
    for b, name in enumerate(c.flags):
        cust[name] = (st.flags >> np.uint32(b)) & 1 == 1
    for x, name, _ in opt_out_columns(c):
        cust[name] = (st.opted_out[:, 0] >> np.uint64(x)) & np.uint64(1) == 1
    assert model.population is not None
    for x, name in enumerate(c.categories):
        values = [str(v) for v, _ in model.population.attributes[name].distribution.categories]
        cust[name] = np.asarray(values)[st.cats[:, x].astype(np.int64)]
    for x, name in enumerate(c.numbers):
        cust[name] = st.nums[:, x].astype(np.float64)
    if c.models:
        scores = model_scores(c, st, rk, t)
        for m, column in enumerate(score_columns(c, model)):
            cust[column] = scores[:, m]
    tables = {
        "customers": cust,
        "holdings": _holdings_table(c, st, ids, tl),
        "contacts": _contacts_table(c, log, st, tl),
        "journeys": _journeys_table(c, st, ids, tl),
        "flows": _flows_table(tb, st, ids, tl),
    }
    model_cutoffs: dict[str, dict[str, float]] = {}
    for q, m in enumerate(c.arrays["top_model"]):
        share = f"{float(c.arrays['top_share'][q]):.6g}"
        model_cutoffs.setdefault(c.models[int(m)], {})[share] = float(sim_cutoffs[CUT_Z0, q])
    return tables, {"model_cutoffs": model_cutoffs}


def _holdings_table(c: CompiledStrategy, st: State, ids: pd.Series, tl: Timeline) -> pd.DataFrame:
    rows, products = np.nonzero(st.hold_amt > 0)
    until = st.hold_until[rows, products].astype(np.int64)
    maturity = tl.dates(until).where(until != NO_MATURITY)
    m_rows, m_products = (
        np.nonzero((st.matured[:, None] >> np.arange(len(c.products), dtype=np.uint32)) & 1)
        if c.products
        else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    )
    held = pd.DataFrame({
        "customer_id": ids.to_numpy()[rows],
        "product": np.asarray(c.products, dtype=object)[products] if rows.size else [],
        "amount": st.hold_amt[rows, products].astype(np.float64),
        "maturity": maturity.to_numpy(),
    })  # fmt: skip
    matured = pd.DataFrame({
        "customer_id": ids.to_numpy()[m_rows],
        "product": np.asarray(c.products, dtype=object)[m_products] if m_rows.size else [],
        "amount": np.zeros(m_rows.size),
        "maturity": pd.Series([pd.Timestamp(tl.as_of)] * m_rows.size, dtype="datetime64[ms]"),
    })  # fmt: skip
    frame = pd.concat([held, matured], ignore_index=True)
    frame["maturity"] = frame["maturity"].astype("datetime64[ms]")
    return frame


def _contacts_table(c: CompiledStrategy, log: ContactLog, st: State, tl: Timeline) -> pd.DataFrame:
    frame = log.frame()
    frame = frame[frame["cid"].isin(st.cid) & (frame["step"] < tl.step)]  # before the decision
    labels = play_labels(c)
    plays = frame["play"].to_numpy(np.int64)
    return pd.DataFrame({
        "customer_id": frame["cid"].astype(np.int64).astype(str).to_numpy(),
        "date": tl.dates(frame["step"].to_numpy(np.int64)).to_numpy(),
        "play": [labels[p][0] for p in plays],
        "wave": pd.array([labels[p][1] for p in plays], dtype="Int32"),
        "channel": [c.play_channels[p] for p in plays],
        "responded": frame["responded"].to_numpy(bool),
    })  # fmt: skip


def _journeys_table(c: CompiledStrategy, st: State, ids: pd.Series, tl: Timeline) -> pd.DataFrame:
    rows, which = np.nonzero(st.journey_start != NEVER_STEP)
    names = [c.groups[int(g)] for g in c.arrays["journey_group"]]
    return pd.DataFrame({
        "customer_id": ids.to_numpy()[rows],
        "journey": np.asarray(names, dtype=object)[which] if rows.size else [],
        "entered": tl.dates(st.journey_start[rows, which].astype(np.int64)).to_numpy(),
    })  # fmt: skip


def _flows_table(tb: k.Tables, st: State, ids: pd.Series, tl: Timeline) -> pd.DataFrame:
    """One row per customer and step of the rings: AUM of the steps before the decision's (the
    AUM ring), net flow and transactions up to it."""
    t, n = tl.step, st.cid.size
    aum_len = int(tb.sc_i[k.SC_AUM_RING_LEN])
    flow_len = int(tb.sc_i[k.SC_FLOW_RING_LEN])
    txn_len = int(tb.sc_i[k.SC_TXN_RING_LEN])
    back = max(aum_len, flow_len - 1, txn_len - 1, 0)
    if not (aum_len or flow_len or txn_len):
        return pd.DataFrame({c: [] for c in FLOW_COLUMNS})
    parts = []
    for s in range(t - back, t + 1):
        aum = np.full(n, np.nan)
        if aum_len and s <= t - 1:
            aum = st.aum_ring[:, s % aum_len].astype(np.float64)
        elif s == t:
            aum = st.aum.astype(np.float64)
        flow = txn = np.full(n, np.nan)
        if flow_len and s > t - flow_len:
            flow = st.flow_ring[:, s % flow_len].astype(np.float64)
        if txn_len and s > t - txn_len:
            txn = st.txn_ring[:, s % txn_len].astype(np.float64)
        parts.append(pd.DataFrame({
            "customer_id": ids.to_numpy(), "date": tl.dates(np.full(n, s)).to_numpy(),
            "aum": aum, "net_flow": flow, "transactions": txn,
        }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)
