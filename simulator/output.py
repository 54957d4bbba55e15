"""What one simulation run hands to the results layer: plain NumPy counters, no pandas.

This is the contract between the run loop (``simulator.engine.run``) and the results layer
(``simulator.results.tables``): the kernel side fills these arrays, the results side turns them into
tidy pandas tables, summaries and files. Every counter is an integer, and money is in fen
(1/100 of the currency unit) as int64, so that sums do not depend on the order customers were
added in: a run split into shards and merged gives the same bits (``RunOutput.merge``).

Shapes use these letters: R replications, T steps (step 0 is the population before the first
simulated month; steps 1..T are simulated), A arms (0 = treatment 模型组, 1 = control 非模型组:
the strategy's global `control` share), S lifecycle stages (``STAGES``), K tiers, P plays
(rules, then journey waves, in declaration order), F funnel fields (``FUNNEL_FIELDS``),
G segments (declared segments, then ``(all)``), U unserved kinds (``UNSERVED_KINDS``),
O segment outcomes (``SEGMENT_OUTCOMES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STAGES = ("prospect", "new", "growing", "mature", "declining", "churned")
ARMS = ("treatment", "control")

# Per play × arm × step: what happened to the customers the play wanted.
FUNNEL_FIELDS = (
    "eligible",  # conditions held and the offer was allowed (suitability etc. passed)
    "holdout",  # eligible but in the global control or the play's own holdout: not treated
    "suppressed_suitability",  # audience matched, product above the customer's tolerance
    "suppressed_held",  # audience matched, product already held
    "suppressed_channel",  # audience matched, channel precondition (app, consent) failed
    "suppressed_cooldown",
    "suppressed_cap",  # a per-customer contact cap (overall, per channel, per rule)
    "suppressed_arbitration",  # a higher-priority (or higher-value) play took the slot
    "suppressed_capacity",  # the channel's capacity ran out
    "suppressed_budget",  # the play's budget ran out
    "contacted",
    "reached",
    "responded",
    "cost_fen",
    "revenue_fen",  # fees at purchase + margin earned while the product is held
    "inflow_fen",  # AUM brought in by responses
)
SUPPRESSION_REASONS = tuple(
    f.removeprefix("suppressed_") for f in FUNNEL_FIELDS if f.startswith("suppressed_")
)
UNSERVED_KINDS = ("no_play", "never_served")  # eligible for none / eligible but never got one
# Per segment × arm × step: the customers ever in the segment up to the step (intention to
# treat: from the step a customer is first in it, whatever happens after), "(all)" being every
# customer live at step 0 or acquired. Stocks at the end of the step, then flows in the step.
SEGMENT_OUTCOMES = (
    "members",  # customers ever in the segment so far, churned ones included
    "churned",  # of those, churned by the end of the step
    "aum_fen",  # AUM of the live ones at the end of the step
    "revenue_fen",  # their revenue in the step (margin on held products + fees)
    "contact_cost_fen",  # the cost of contacting them in the step (acquisition cost excluded)
    "responders",  # those who responded to at least one play in the step
)


@dataclass
class RunOutput:
    """Counters of one run (all replications). Arrays are owned by the object."""

    strategy_name: str
    strategy_hash: str  # sha256 of the strategy's text and its imports, in order
    tool_version: str
    seed: int
    replication_seeds: np.ndarray  # (R,) uint64: the key of each replication
    customers_initial: int
    steps: int
    step_unit: str  # month | week | day
    tiers: tuple[str, ...]
    plays: tuple[str, ...]  # "临界提升", "蜜月期 wave 2"
    play_kinds: tuple[str, ...]  # rule | wave
    play_channels: tuple[str, ...]
    segments: tuple[str, ...]  # declared segments, then "(all)"
    channels: tuple[str, ...]
    # (R, T+1, A, S, K) customers at the end of each step by stage and tier
    customers: np.ndarray
    # (R, T+1, A) totals at the end of each step
    aum_fen: np.ndarray
    churned: np.ndarray  # churned during the step
    acquired: np.ndarray  # arrived during the step
    promoters_ppm: np.ndarray  # sum over live customers of P(promoter) in millionths
    detractors_ppm: np.ndarray
    revenue_fen: np.ndarray  # all revenue in the step (the book, margin on held products, fees)
    cost_fen: np.ndarray  # contact cost + acquisition cost in the step
    # (R, T+1, P, A, F) the funnel of every play
    funnel: np.ndarray
    # (R, T+1, G, K, A, U) customers a strategist may have forgotten
    unserved: np.ndarray
    # (R, T+1, channel, A) contacts per channel (capacity use)
    channel_contacts: np.ndarray
    extra: dict[str, object] = field(default_factory=dict)
    # Added by the run loop (defaults: empty, for outputs built by hand).
    # (R, T+1, A) fees alone (中收), part of revenue_fen
    fee_income_fen: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2), np.int64))
    # (R, T+1, A) revenue on the book's balances (every live customer, from step 1), part of
    # revenue_fen; zero without a `book`
    book_revenue_fen: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2), np.int64))
    # (R, T+1, A, S) the same by the customer's lifecycle stage (for the value beyond the horizon)
    book_by_stage_fen: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2, 6), np.int64))
    # (S,) a customer's value beyond the horizon per unit of book revenue in a step, by stage
    # (``simulator.engine.customer_value``); empty without a `lifetime` in the book
    value_annuity: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    # (R, T+1, A) customers who responded to at least one play in the step
    responders: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2), np.int64))
    # (R, T+1, A) products held, summed over live customers (产品持有数)
    products_held: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2), np.int64))
    # (R, T+1, A) live customers holding two or more products (交叉销售)
    cross_sold: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2), np.int64))
    # (R, T+1) the market return of each step (common to all customers and shards)
    market_return: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float64))
    # (R, T+1, G, A, O) outcomes of the customers ever in each segment (``SEGMENT_OUTCOMES``)
    segment_outcomes: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0, 0, 2, len(SEGMENT_OUTCOMES)), np.int64)
    )
    # (R, T+1, P, A, O) the same for the customers ever eligible for each play
    play_outcomes: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0, 0, 2, len(SEGMENT_OUTCOMES)), np.int64)
    )
    # (R, T+1, A, K, K) live customers by their tier at the end of the step before and at this
    # step's end, those whose tier changed only (升层 above the diagonal, 降层 below)
    tier_moves: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2, 0, 0), np.int64))
    # (R, T+1, A, S, S) customers whose lifecycle stage moved in the step, by the stage they left
    # and the one they entered (churn included: into ``churned``); arrivals are not moves
    stage_moves: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0, 2, len(STAGES), len(STAGES)), np.int64)
    )
    # (R, T+1, channel, A) complaints (营销扰民) and opt-outs (退订) the channel's contacts brought
    channel_complaints: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 2), np.int64))
    channel_opt_outs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 2), np.int64))

    def merge(self, other: RunOutput) -> RunOutput:
        """Counters of two shards of the same run (same seed, disjoint customers) added."""
        summed = {
            name: getattr(self, name) + getattr(other, name)
            for name in (
                "customers",
                "aum_fen",
                "churned",
                "acquired",
                "promoters_ppm",
                "detractors_ppm",
                "revenue_fen",
                "cost_fen",
                "funnel",
                "unserved",
                "channel_contacts",
                "fee_income_fen",
                "book_revenue_fen",
                "book_by_stage_fen",
                "responders",
                "products_held",
                "cross_sold",
                "segment_outcomes",
                "play_outcomes",
                "tier_moves",
                "stage_moves",
                "channel_complaints",
                "channel_opt_outs",
            )
        }
        merged = RunOutput(**{**self.__dict__, **summed})
        merged.customers_initial = self.customers_initial + other.customers_initial
        return merged
