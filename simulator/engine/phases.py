"""The phases of a step over rows [0, n) of one state: each runs its kernel phase
(``kernels.baseline``, ``kernels.decide``, ``kernels.apply``) over blocks of rows and sums
the blocks' integer counters, which is why any split of the rows gives the same bits. Also the
empty counters of a run (``empty_output``) and how one shard's accounting is written into
them (``write_counts``). Used by the step loop (``loop``) and by variants run as deltas
(``delta``), which run the same phases over compact copies of rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.engine.customer_value import survival_annuity
from simulator.engine.sizes import Sizes
from simulator.kernels import common as k
from simulator.kernels.apply import apply_step
from simulator.kernels.baseline import C_LABELS, baseline_step
from simulator.kernels.decide import decide_step
from simulator.kernels.population import (
    State,
)
from simulator.output import (
    ARMS,
    FUNNEL_FIELDS,
    SEGMENT_OUTCOMES,
    STAGES,
    UNSERVED_KINDS,
    RunOutput,
)
from strategy_dsl.compile import (
    CompiledStrategy,
)
from strategy_dsl.version import __version__

if TYPE_CHECKING:
    pass

# ------------------------------------------------------------------------------ the phases


def added(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Counters summed key by key."""
    total = {key: value.copy() for key, value in parts[0].items()}
    for part in parts[1:]:
        for key, value in part.items():
            total[key] += value
    return total


def baseline_counts(
    tb: k.Tables,
    state: State,
    rows: int,
    first_new: int,
    t: int,
    rk: np.uint64,
    market: float,
    trace_row: int = -1,
    trace_i: np.ndarray | None = None,
    trace_f: np.ndarray | None = None,
) -> np.ndarray:
    """``baseline_step`` over rows [0, rows) (rows from ``first_new`` arrived this step); its
    counters (``C_*``) summed over blocks."""
    trace_i = np.zeros(k.TRACE_INTS, dtype=np.int64) if trace_i is None else trace_i
    trace_f = np.zeros(k.TRACE_FLOATS, dtype=np.float64) if trace_f is None else trace_f
    found = np.zeros((blocks_of(rows), C_LABELS + tb.model_i.shape[1]), dtype=np.int64)
    baseline_step(
        tb, state, rows, first_new, t, rk, market, found, trace_row, trace_i, trace_f
    )  # fmt: skip
    return found.sum(axis=0)


def decide_counts(
    tb: k.Tables,
    state: State,
    rows: int,
    t: int,
    rk: np.uint64,
    cutoffs: np.ndarray,
    trace_row: int = -1,
    trace_i: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``decide_step`` over rows [0, rows): the funnel counters (P, 2, F) summed over blocks,
    and the proposals per block and play (for ``couplings.shard_keys``)."""
    trace_i = np.zeros(k.TRACE_INTS, dtype=np.int64) if trace_i is None else trace_i
    n_plays, blocks = tb.play_i.shape[1], blocks_of(rows)
    funnel = np.zeros((blocks, n_plays, 2, k.N_FUNNEL), dtype=np.int64)
    found = np.zeros((blocks, n_plays), dtype=np.int64)
    decide_step(tb, state, rows, t, rk, cutoffs, funnel, found, trace_row, trace_i)
    return funnel.sum(axis=0), found


def apply_counts(
    tb: k.Tables,
    c: CompiledStrategy,
    state: State,
    rows: int,
    t: int,
    rk: np.uint64,
    thresholds: tuple,
    decided: bool,
    seg_ever: np.ndarray,
    ledger: np.ndarray,
    trace_row: int = -1,
    trace_i: np.ndarray | None = None,
    trace_f: np.ndarray | None = None,
    select: np.ndarray | None = None,
    want: int = 0,
) -> dict[str, np.ndarray]:
    """``apply_step`` over rows [0, rows) (those whose ``select`` is ``want``, if given):
    its counters summed over blocks, by name."""
    select = np.zeros(0, dtype=np.uint8) if select is None else select
    trace_i = np.zeros(k.TRACE_INTS, dtype=np.int64) if trace_i is None else trace_i
    trace_f = np.zeros(k.TRACE_FLOATS, dtype=np.float64) if trace_f is None else trace_f
    counters = apply_counters(c, blocks_of(rows))
    apply_step(
        tb, state, rows, t, rk, *thresholds, decided, counters["funnel"], counters["cust"],
        counters["misc"], counters["unserved"], counters["chan"], trace_row, trace_i, trace_f,
        seg_ever, counters["outcomes"], ledger, select, want, counters["play_outcomes"],
        counters["tier_moves"],
    )  # fmt: skip
    return {key: value.sum(axis=0) for key, value in counters.items()}


def apply_counters(c: CompiledStrategy, blocks: int) -> dict[str, np.ndarray]:
    """``apply_step``'s counters, zero, per block."""
    n_plays, tiers, segments = len(c.plays), len(c.tiers), len(c.segments) + 1

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros((blocks, *shape), dtype=np.int64)

    return {
        "funnel": zeros(n_plays, 2, k.N_FUNNEL),
        "cust": zeros(2, len(STAGES), tiers),
        "misc": zeros(2, k.N_MISC),
        "unserved": zeros(segments, tiers, 2, len(UNSERVED_KINDS)),
        "chan": zeros(len(c.channels), 2, k.N_CHANNEL_COUNTS),
        "outcomes": zeros(segments, 2, len(SEGMENT_OUTCOMES)),
        "play_outcomes": zeros(n_plays, 2, len(SEGMENT_OUTCOMES)),
        "tier_moves": zeros(2, tiers, tiers),
    }


def write_counts(out: RunOutput, r: int, t: int, counts: dict[str, np.ndarray]) -> None:
    """One shard's accounting counters of step t into its output."""
    misc = counts["misc"]
    out.funnel[r, t] += counts["funnel"]
    out.customers[r, t] = counts["cust"]
    out.aum_fen[r, t] = misc[:, k.M_AUM]
    out.promoters_ppm[r, t] = misc[:, k.M_PROMOTERS]
    out.detractors_ppm[r, t] = misc[:, k.M_DETRACTORS]
    out.revenue_fen[r, t] = misc[:, k.M_REVENUE]
    out.cost_fen[r, t] += misc[:, k.M_COST]
    out.fee_income_fen[r, t] = misc[:, k.M_FEES]
    out.book_revenue_fen[r, t] = misc[:, k.M_BOOK_REVENUE]
    out.book_by_stage_fen[r, t] = misc[:, k.M_BOOK_BY_STAGE : k.M_BOOK_BY_STAGE + len(STAGES)]
    out.responders[r, t] = misc[:, k.M_RESPONDERS]
    out.products_held[r, t] = misc[:, k.M_PRODUCTS]
    out.cross_sold[r, t] = misc[:, k.M_CROSS_SOLD]
    out.unserved[r, t] = counts["unserved"]
    out.channel_contacts[r, t] = counts["chan"][..., k.CC_CONTACTS]
    out.channel_complaints[r, t] = counts["chan"][..., k.CC_COMPLAINTS]
    out.channel_opt_outs[r, t] = counts["chan"][..., k.CC_OPT_OUTS]
    out.segment_outcomes[r, t] = counts["outcomes"]
    out.play_outcomes[r, t] = counts["play_outcomes"]
    out.tier_moves[r, t] = counts["tier_moves"]


def no_cuts(n_plays: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds that cut no proposal (``apply_step``'s ``thr_*``)."""
    return (
        np.zeros((n_plays, 2), dtype=np.int64),
        np.zeros((n_plays, 2), dtype=np.float64),
        np.zeros((n_plays, 2), dtype=np.uint64),
    )


def blocks_of(rows: int) -> int:
    return max(1, (rows + k.BLOCK - 1) // k.BLOCK)


def rows_from(state: State, first: int) -> State:
    """The state from row ``first`` on, as views (the kernels run on any rows [0, n))."""
    return state if first == 0 else State(*(array[first:] for array in state))


def value_annuity(compiled: CompiledStrategy) -> np.ndarray:
    """Per stage, the discounted survival over the book's `lifetime` (empty without one)."""
    steps = int(compiled.scalars.get("lifetime_steps", -1))
    if steps < 0:
        return np.zeros(0, dtype=np.float64)
    discount = float(compiled.scalars["discount_per_step"])
    # A churn chance drawn per customer counts at its mean here.
    return survival_annuity(compiled.trans_mean, steps, discount)


def empty_output(
    compiled: CompiledStrategy, sizes: Sizes, strategy_hash: str, initial: int
) -> RunOutput:
    R, T = sizes.reps, sizes.steps + 1
    A, S, K = len(ARMS), len(STAGES), len(compiled.tiers)
    P, G, C = len(compiled.plays), len(compiled.segments) + 1, len(compiled.channels)

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.int64)

    return RunOutput(
        strategy_name=compiled.name,
        strategy_hash=strategy_hash,
        tool_version=__version__,
        seed=sizes.seed,
        replication_seeds=np.zeros(R, dtype=np.uint64),
        customers_initial=initial,
        steps=sizes.steps,
        step_unit=compiled.step_unit,
        tiers=compiled.tiers,
        plays=compiled.plays,
        play_kinds=compiled.play_kinds,
        play_channels=compiled.play_channels,
        segments=(*compiled.segments, "(all)"),
        channels=compiled.channels,
        customers=zeros(R, T, A, S, K),
        aum_fen=zeros(R, T, A),
        churned=zeros(R, T, A),
        acquired=zeros(R, T, A),
        promoters_ppm=zeros(R, T, A),
        detractors_ppm=zeros(R, T, A),
        revenue_fen=zeros(R, T, A),
        cost_fen=zeros(R, T, A),
        funnel=zeros(R, T, P, A, len(FUNNEL_FIELDS)),
        unserved=zeros(R, T, G, K, A, len(UNSERVED_KINDS)),
        channel_contacts=zeros(R, T, C, A),
        channel_complaints=zeros(R, T, C, A),
        channel_opt_outs=zeros(R, T, C, A),
        fee_income_fen=zeros(R, T, A),
        book_revenue_fen=zeros(R, T, A),
        book_by_stage_fen=zeros(R, T, A, S),
        value_annuity=value_annuity(compiled),
        responders=zeros(R, T, A),
        products_held=zeros(R, T, A),
        cross_sold=zeros(R, T, A),
        segment_outcomes=zeros(R, T, G, A, len(SEGMENT_OUTCOMES)),
        play_outcomes=zeros(R, T, P, A, len(SEGMENT_OUTCOMES)),
        tier_moves=zeros(R, T, A, K, K),
        stage_moves=zeros(R, T, A, S, S),
        market_return=np.zeros((R, T), dtype=np.float64),
    )
