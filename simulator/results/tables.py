"""Turn a run's NumPy counters (``RunOutput``) into tidy, long-format pandas tables.

One row per combination of the dimensions a table is about (replication, step, arm, …), one
column per measure; names (arm, stage, tier, play, channel, segment, reason) are categorical
with their categories in declaration order, so that ``groupby`` and sorting follow the order a
strategist wrote them in. Every combination is present, zeros included: averaging over
replications or steps then never silently skips an empty cell.

Money is int64 fen in ``RunOutput``; it becomes a float in currency units (fen / 100) here and
only here, at the edge where people read it. A fen count below 2**53 converts exactly.

The tables (docs/results.md lists every column):

==============  ==========================================================================
population      rep, step, arm, stage, tier, customers
tier_moves      rep, step, arm, from_tier, to_tier, direction (up, down), customers
stage_moves     rep, step, arm, from_stage, to_stage, customers
totals          rep, step, arm, customers, aum, churned, acquired, revenue, cost, net_value,
                promoters, detractors, promoters_share, detractors_share, nps; when the run
                has them: fee_income, book_revenue, responders, products_held, cross_sold,
                market_return; with a book's `lifetime`: customer_value
funnel          rep, step, play, kind, channel, arm, eligible, holdout, suppressed_<reason>…,
                contacted, reached, responded, cost, revenue, inflow
suppression     rep, step, play, kind, channel, arm, reason, count
unserved        rep, step, segment, tier, arm, kind, customers
channels        rep, step, channel, arm, contacts, reached, responded, cost, revenue
==============  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.engine.customer_value import customer_value
from simulator.output import (
    ARMS,
    FUNNEL_FIELDS,
    STAGES,
    SUPPRESSION_REASONS,
    UNSERVED_KINDS,
    RunOutput,
)

__all__ = [
    "TABLE_NAMES",
    "all_tables",
    "channel_table",
    "funnel_table",
    "population_table",
    "stage_moves_table",
    "suppression_table",
    "tier_moves_table",
    "totals_table",
    "typed_table",
    "unserved_table",
]

TABLE_NAMES = (
    "population",
    "tier_moves",
    "stage_moves",
    "totals",
    "funnel",
    "suppression",
    "unserved",
    "channels",
)

FEN_PER_UNIT = 100
_MONEY_FIELDS = {"cost_fen": "cost", "revenue_fen": "revenue", "inflow_fen": "inflow"}
_LIVE_STAGES = [i for i, stage in enumerate(STAGES) if stage != "churned"]


def typed_table(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, str]) -> pd.DataFrame:
    """``rows`` (dicts) as a table with exactly the columns of ``schema``, in its order, each of
    its pandas dtype: "string", "float64", "Int64" or "boolean" (missing values are <NA> or
    NaN). A report's file then has the same columns and types whatever the data: a column
    that is empty in this run (no control group, one replication) is not written as nulls of
    no type, nor an integer column as floats (docs/results.md documents them)."""
    columns = list(schema)
    frame = pd.DataFrame(list(rows), columns=columns)
    return frame.astype(dict(schema))


def _money(fen: np.ndarray) -> np.ndarray:
    """Fen (int64) to currency units (float64): the one place money stops being an integer."""
    return np.asarray(fen, dtype=np.int64).astype(np.float64) / FEN_PER_UNIT


def _categorical(codes: np.ndarray, labels: Sequence[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int64), categories=list(labels))


def _grid(shape: tuple[int, ...]) -> np.ndarray:
    """Index of every cell of an array of ``shape`` in C order, one row per axis: column j of
    the result addresses element j of ``array.reshape(-1)``."""
    return np.indices(shape).reshape(len(shape), -1)


# ------------------------------------------------------------------------------ population


def population_table(out: RunOutput) -> pd.DataFrame:
    """Customers at the end of each step by arm, lifecycle stage and tier (the ``churned``
    stage holds everyone who has left so far)."""
    counts = np.asarray(out.customers)
    r, t, a, s, k = _grid(counts.shape)
    return pd.DataFrame(
        {
            "rep": r,
            "step": t,
            "arm": _categorical(a, ARMS),
            "stage": _categorical(s, STAGES),
            "tier": _categorical(k, out.tiers),
            "customers": counts.reshape(-1).astype(np.int64),
        }
    )


def tier_moves_table(out: RunOutput) -> pd.DataFrame:
    """Live customers whose tier at the end of a step differs from the one they ended the step
    before in (升层 / 降层), by arm and the pair of tiers: one row per ordered pair of
    different tiers, zeros included. Arrivals and churned customers are not moves; tiers are
    in ascending order of AUM, so a move to a later tier is ``up``."""
    counts = np.asarray(out.tier_moves)
    if counts.ndim != 5 or counts.shape[-1] != len(out.tiers):  # results from before migrations
        counts = np.zeros((*np.asarray(out.customers).shape[:3], len(out.tiers), len(out.tiers)))
    r, t, a, low, high = _grid(counts.shape)
    keep = low != high
    return pd.DataFrame(
        {
            "rep": r[keep],
            "step": t[keep],
            "arm": _categorical(a[keep], ARMS),
            "from_tier": _categorical(low[keep], out.tiers),
            "to_tier": _categorical(high[keep], out.tiers),
            "direction": _categorical((high[keep] < low[keep]).astype(np.int64), ("up", "down")),
            "customers": counts.reshape(-1)[keep].astype(np.int64),
        }
    )


def stage_moves_table(out: RunOutput) -> pd.DataFrame:
    """Customers whose lifecycle stage moved in a step (the flows between the ``population``
    table's stages), by arm and the pair of stages: one row per ordered pair of different
    stages, zeros included. Churn is a move into ``churned``; arrivals are not moves, so a
    stage's customers at the end of a step are those at the end of the step before, plus its
    inflows, minus its outflows, plus the step's arrivals into it."""
    counts = np.asarray(out.stage_moves)
    steps = np.asarray(out.customers).shape[:3]
    if counts.shape != (*steps, len(STAGES), len(STAGES)):  # counters made without stage moves
        counts = np.zeros((*steps, len(STAGES), len(STAGES)), dtype=np.int64)
    r, t, a, before, after = _grid(counts.shape)
    keep = before != after
    return pd.DataFrame(
        {
            "rep": r[keep],
            "step": t[keep],
            "arm": _categorical(a[keep], ARMS),
            "from_stage": _categorical(before[keep], STAGES),
            "to_stage": _categorical(after[keep], STAGES),
            "customers": counts.reshape(-1)[keep].astype(np.int64),
        }
    )


# ------------------------------------------------------------------------------ totals


def totals_table(out: RunOutput) -> pd.DataFrame:
    """Per replication × step × arm: live customers, AUM, flows, money and NPS.

    ``customers`` counts live customers (every stage but ``churned``). NPS follows the bank's
    survey definition: the share of promoters minus the share of detractors, in points
    (−100…100); ``promoters``/``detractors`` are the expected numbers of each among the live
    customers (the kernel sums each customer's probability), so arms and replications can be
    pooled by adding them.
    """
    live = np.asarray(out.customers)[:, :, :, _LIVE_STAGES, :].sum(axis=(3, 4)).astype(np.int64)
    r, t, a = _grid(live.shape)
    promoters = np.asarray(out.promoters_ppm, dtype=np.float64).reshape(-1) / 1e6
    detractors = np.asarray(out.detractors_ppm, dtype=np.float64).reshape(-1) / 1e6
    customers = live.reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # An arm with no live customers (no control group) has no NPS: NaN, not 0.
        promoters_share = np.where(customers > 0, promoters / customers, np.nan)
        detractors_share = np.where(customers > 0, detractors / customers, np.nan)
    revenue = _money(np.asarray(out.revenue_fen).reshape(-1))
    cost = _money(np.asarray(out.cost_fen).reshape(-1))
    net_fen = np.asarray(out.revenue_fen, dtype=np.int64) - np.asarray(out.cost_fen, np.int64)
    return pd.DataFrame(
        {
            "rep": r,
            "step": t,
            "arm": _categorical(a, ARMS),
            "customers": customers,
            "aum": _money(np.asarray(out.aum_fen).reshape(-1)),
            "churned": np.asarray(out.churned).reshape(-1).astype(np.int64),
            "acquired": np.asarray(out.acquired).reshape(-1).astype(np.int64),
            "revenue": revenue,
            "cost": cost,
            # From fen, so that net_value is exact to the fen rather than a float difference.
            "net_value": _money(net_fen.reshape(-1)),
            "promoters": promoters,
            "detractors": detractors,
            "promoters_share": promoters_share,
            "detractors_share": detractors_share,
            "nps": 100.0 * (promoters_share - detractors_share),
            **_optional_totals(out, live.shape),
        }
    )


def _optional_totals(out: RunOutput, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Counters the run loop adds beyond the core contract, as columns when present (a run
    built by hand leaves them empty): fee income (中收), revenue on the book's balances,
    customers who responded to at least one play, products held (产品持有数), customers holding
    two or more (交叉销售), the step's market return, common to both arms, and with a book's
    `lifetime` the value beyond the horizon of the customers live at the end of the step."""
    columns: dict[str, np.ndarray] = {}
    fees = np.asarray(getattr(out, "fee_income_fen", np.zeros(0)))
    if fees.shape == shape:
        columns["fee_income"] = _money(fees.reshape(-1))
    book = np.asarray(getattr(out, "book_revenue_fen", np.zeros(0)))
    if book.shape == shape:
        columns["book_revenue"] = _money(book.reshape(-1))
    annuity = np.asarray(getattr(out, "value_annuity", np.zeros(0)))
    by_stage = np.asarray(getattr(out, "book_by_stage_fen", np.zeros(0)))
    if annuity.size and by_stage.shape == (*shape, annuity.size):
        columns["customer_value"] = customer_value(by_stage, annuity).reshape(-1)
    for name in ("responders", "products_held", "cross_sold"):
        counts = np.asarray(getattr(out, name, np.zeros(0)))
        if counts.shape == shape:
            columns[name] = counts.reshape(-1).astype(np.int64)
    market = np.asarray(getattr(out, "market_return", np.zeros(0)), dtype=np.float64)
    if market.shape == shape[:2]:
        columns["market_return"] = np.repeat(market.reshape(-1), shape[2])
    return columns


# ------------------------------------------------------------------------------ funnel


def _channel_labels(out: RunOutput) -> list[str]:
    """The run's channels, then any channel a play names that the run did not list (defensive:
    a play's channel must always have a category)."""
    labels = list(out.channels)
    labels.extend(c for c in dict.fromkeys(out.play_channels) if c not in labels)
    return labels


def _play_columns(out: RunOutput, p: np.ndarray) -> dict[str, pd.Categorical]:
    channels = _channel_labels(out)
    play_channel = np.array([channels.index(c) for c in out.play_channels], dtype=np.int64)
    kinds = list(dict.fromkeys(("rule", "wave", *out.play_kinds)))
    play_kind = np.array([kinds.index(k) for k in out.play_kinds], dtype=np.int64)
    return {
        "play": _categorical(p, out.plays),
        "kind": _categorical(play_kind[p], kinds),
        "channel": _categorical(play_channel[p], channels),
    }


def funnel_table(out: RunOutput) -> pd.DataFrame:
    """Per replication × step × play × arm, the play's funnel: who was eligible, who was held
    out, who was suppressed and why, who was contacted, reached, responded, and the money."""
    funnel = np.asarray(out.funnel)
    cells = funnel.reshape(-1, funnel.shape[-1])
    r, t, p, a = _grid(funnel.shape[:-1])
    columns: dict[str, object] = {"rep": r, "step": t, **_play_columns(out, p)}
    columns["arm"] = _categorical(a, ARMS)
    for index, name in enumerate(FUNNEL_FIELDS):
        if name in _MONEY_FIELDS:
            columns[_MONEY_FIELDS[name]] = _money(cells[:, index])
        else:
            columns[name] = cells[:, index].astype(np.int64)
    return pd.DataFrame(columns)


def suppression_table(out: RunOutput) -> pd.DataFrame:
    """The funnel's ``suppressed_<reason>`` columns in long form: one row per reason.

    Holdout is not a reason here: a held-out customer is left alone by design (that is what
    makes the control arm), and the funnel's ``holdout`` column counts them.
    """
    funnel = np.asarray(out.funnel)
    fields = [FUNNEL_FIELDS.index(f"suppressed_{reason}") for reason in SUPPRESSION_REASONS]
    counts = funnel[..., fields]  # (R, T+1, P, A, reasons)
    r, t, p, a, why = _grid(counts.shape)
    columns: dict[str, object] = {"rep": r, "step": t, **_play_columns(out, p)}
    columns["arm"] = _categorical(a, ARMS)
    columns["reason"] = _categorical(why, SUPPRESSION_REASONS)
    columns["count"] = counts.reshape(-1).astype(np.int64)
    return pd.DataFrame(columns)


# ------------------------------------------------------------------------------ unserved


def unserved_table(out: RunOutput) -> pd.DataFrame:
    """Customers a strategist may have forgotten, per replication × step × segment × tier ×
    arm × kind: ``no_play`` (eligible for no play at all) or ``never_served`` (eligible, but
    never got one). The segment ``(all)`` counts every customer, whatever their segments."""
    unserved = np.asarray(out.unserved)
    r, t, g, k, a, u = _grid(unserved.shape)
    return pd.DataFrame(
        {
            "rep": r,
            "step": t,
            "segment": _categorical(g, out.segments),
            "tier": _categorical(k, out.tiers),
            "arm": _categorical(a, ARMS),
            "kind": _categorical(u, UNSERVED_KINDS),
            "customers": unserved.reshape(-1).astype(np.int64),
        }
    )


# ------------------------------------------------------------------------------ channels


def channel_table(out: RunOutput) -> pd.DataFrame:
    """Per replication × step × channel × arm: contacts made (the capacity the channel used),
    and what those contacts reached, brought back and cost, summed over the plays that use the
    channel, and the complaints and opt-outs they brought."""
    contacts = np.asarray(out.channel_contacts)
    channels = _channel_labels(out)
    n_r, n_t, _, n_a = contacts.shape
    # (R, T+1, P, A, F) -> (R, T+1, C, A, F): add each play's funnel into its channel's row.
    funnel = np.asarray(out.funnel, dtype=np.int64)
    by_channel = np.zeros((n_r, n_t, len(channels), n_a, funnel.shape[-1]), dtype=np.int64)
    for play, channel in enumerate(out.play_channels):
        by_channel[:, :, channels.index(channel)] += funnel[:, :, play]
    if len(channels) > contacts.shape[2]:  # a play's channel the run did not count
        pad = np.zeros((n_r, n_t, len(channels) - contacts.shape[2], n_a), dtype=np.int64)
        contacts = np.concatenate([contacts, pad], axis=2)
    r, t, c, a = _grid(contacts.shape)
    cells = by_channel.reshape(-1, funnel.shape[-1])
    field = FUNNEL_FIELDS.index
    return pd.DataFrame(
        {
            "rep": r,
            "step": t,
            "channel": _categorical(c, channels),
            "arm": _categorical(a, ARMS),
            "contacts": contacts.reshape(-1).astype(np.int64),
            "reached": cells[:, field("reached")],
            "responded": cells[:, field("responded")],
            "cost": _money(cells[:, field("cost_fen")]),
            "revenue": _money(cells[:, field("revenue_fen")]),
            "complaints": _per_channel(out.channel_complaints, contacts.shape),
            "opt_outs": _per_channel(out.channel_opt_outs, contacts.shape),
        }
    )


def _per_channel(counts: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A (R, T+1, C, A) channel counter flattened like the contacts (zeros where the run did not
    count it: outputs built by hand, channels it did not know)."""
    counts = np.asarray(counts, dtype=np.int64)
    full = np.zeros(shape, dtype=np.int64)
    if counts.ndim == 4 and counts.shape[:2] == shape[:2]:
        full[:, :, : counts.shape[2]] = counts
    return full.reshape(-1)


# ------------------------------------------------------------------------------ all


def all_tables(out: RunOutput) -> dict[str, pd.DataFrame]:
    """Every table, by the name its Parquet file takes (``TABLE_NAMES`` order)."""
    return {
        "population": population_table(out),
        "tier_moves": tier_moves_table(out),
        "stage_moves": stage_moves_table(out),
        "totals": totals_table(out),
        "funnel": funnel_table(out),
        "suppression": suppression_table(out),
        "unserved": unserved_table(out),
        "channels": channel_table(out),
    }
