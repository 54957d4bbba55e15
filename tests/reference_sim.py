"""A plain NumPy/Python reference of the simulator's step semantics (``docs/simulation.md``).

It is written from the documented semantics, not from the kernels, and must agree with them
exactly: integer counts to the unit, money to the fen. It draws every random number with the
NumPy side of ``simulator.kernels.rng`` (bit-identical to the Numba side), reads the numbers of the
strategy from ``compile_strategy(model)``'s tables (as the Arithmetic section of the docs
says), but evaluates every *condition* (modifiers, segments, triggers, `when`, `on`, journey
entries, channel `requires`, RFM) from the checked model's syntax tree, by its own
interpreter: the compiled jump programs are never read. The only simulator code it runs is
``simulator.kernels.population.synthesize`` (to draw the same customers: initial population and
arrivals) and ``allocate``/``grow`` (empty arrays).

What it covers (everything a step does):

* baseline: market return and net flows, transactions (recency, ``txn_3m``), maturity of
  holdings, the lifecycle with its modifiers and the response **effects** in force (they
  expire after their `for`), churn; deterministic arrivals and referrals;
* **models**: churn/stage labels by replaying the lifecycle with the future's transition
  uniforms, latent response labels, scores with the declared separation, `MODEL top N%` with the
  cutoff calibrated on all live customers;
* decisions: tiers, RFM, segments, **triggers and events** (`entered`, `inactive`, `responded
  to`, `every`, `matures`, `aum drop/rise`, `outflow/inflow`, `birthday`, `salary credited`);
  **several rules** (`on` and `when`) and **journeys** (entry, waves due `after` steps, **stop
  on response**, re-entry once left); eligibility in order (suitability, held, channel
  `requires`, cooldown, **caps per customer / per channel / per rule**); the **global control
  group and per-rule/journey holdouts**; **arbitration by priority or by expected value**
  within the caps, **one offer per product**;
* couplings: **budgets** (spend of the window) and **channel capacity**, cut by one global
  order (key descending, then the customer's ``tiebreak`` draw, then play);
* contact, reach, response with **fatigue** (the last 8 contacts in the window), purchase
  (holding, inflow, fee), effects, responses; **over-contact**: a reached contact's complaint
  (starting the lifecycle's `… after complaint` effects) and opt-out (the channel's check then
  fails for that customer);
* accounting: customers by stage and tier, moves between tiers (升层 / 降层), AUM, churned,
  acquired, revenue (fees and margins, per play), cost, fee income, responders, products held,
  cross-sold, **NPS** (promoters and detractors in millionths), contacts, complaints and
  opt-outs per channel, the
  funnel of every play, and the unserved customers per segment and tier.

Not covered: ``RunOutput.segment_outcomes``, traces, shards and ``customer_ids`` (other
tests compare those runs with the whole one). Exercised on monthly steps only.

Loops over customers are plain Python where the semantics are per customer (eligibility,
arbitration, contact, NPS); conditions and the baseline are vectorised over customers.

One point the docs leave open, decided as the kernels do: `aum drop` needs AUM above 0 at the
earlier step and `aum rise` needs AUM to have grown, so a customer at 0 neither drops nor rises.

``breakage`` names a deliberate error (``BREAKAGES``) for the tests that show a wrong reference
is caught.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from types import SimpleNamespace
from typing import Any

import numpy as np

from simulator.kernels import rng
from simulator.kernels.common import NO_MATURITY, make_tables
from simulator.kernels.population import State, allocate, grow, synthesize
from simulator.output import FUNNEL_FIELDS, UNSERVED_KINDS
from strategy_dsl.compile import (
    CAP_ALL,
    CAP_CHANNEL,
    CAP_PLAY,
    FAM_CONSTANT,
    FAM_LOGNORMAL,
    FAM_NORMAL,
    FAM_UNIFORM,
    MODEL_STAGE,
    NEVER_STEP,
    STAGE_CHURNED,
    STAGE_INDEX,
    STAGE_NEW,
    CompiledStrategy,
    compile_strategy,
)
from strategy_dsl.model import CheckedStrategy

N_STAGES = 6
N_ARMS = 2
NEVER = -(10**9)  # a step that never happened
RECENT = 8  # contacts remembered for fatigue and NPS (docs: "the last 8 contacts")

# Deliberate errors, each a one-line change of the semantics (tests/test_sim_reference.py
# shows every one of them is caught).
BREAKAGES = (
    "ignore_caps",  # caps never suppress nor limit arbitration
    "priority_ascending",  # arbitration takes the lowest priority first
    "no_one_offer_per_product",  # two winners may offer the same product
    "no_stop_on_response",  # journeys go on after a response
    "capacity_without_tiebreak",  # capacity cut by customer id instead of the keyed tiebreak
    "budget_without_window",  # a budget counts only this step's spend
    "budget_first_fit",  # a budget skips a proposal that does not fit and goes on
    "cooldown_inclusive",  # cooldown suppresses one step too long
    "no_fatigue",  # responses ignore earlier contacts
    "effects_never_expire",  # a response's effect stays for good
    "holdout_ignored",  # a play's own holdout is treated
    "value_ignores_cost",  # expected value without the contact cost
    "nps_ignores_contacts",  # over-contact does not move NPS
    "model_top_by_score_rank",  # `top N%` by a cutoff not calibrated on the labels
    "cap_counts_this_step_late",  # caps ignore this step's earlier winners
    "book_default_split_everywhere",  # a tier's own split of the book is ignored
    "book_rate_per_month_as_year",  # a balance's yearly rate earned in full every month
    "sizes_not_scaled",  # capacities and budgets kept at the declared size's
    "score_noise_redrawn",  # a model's `persistence` ignored: its score noise redrawn each step
    "tier_moves_from_decision",  # 升层/降层 from the tier at decision, not at the step before's end
    "churn_not_a_stage_move",  # stage moves leave out the moves into `churned`
    "drawn_churn_at_mean",  # `churned ~ beta(a, b)`: everyone at the mean chance (no spread)
    "holdings_mature_at_full_tenor",  # step-0 holdings all mature at the tenor, not spread over it
    "switching_as_new_money",  # a purchase's switched part added to AUM as if it were new money
    "opt_out_ignored",  # a customer who opted out of a channel is still contacted on it
    "complaint_effect_ignored",  # `… after complaint` never changes the lifecycle
    "detractor_factor_in_full",  # `… for detractors` multiplies by F, not 1 + (F − 1) × d
)


@dataclass
class ReferenceOutput:
    """The counters of one replication, indexed by step 0 … T (``RunOutput`` without R)."""

    customers: np.ndarray  # (T+1, arm, stage, tier)
    aum_fen: np.ndarray  # (T+1, arm)
    churned: np.ndarray
    acquired: np.ndarray
    cost_fen: np.ndarray
    revenue_fen: np.ndarray  # fees + margin on held products + the book
    fee_income_fen: np.ndarray
    book_revenue_fen: np.ndarray  # revenue on the book's balances
    book_by_stage_fen: np.ndarray  # (T+1, arm, stage) the same by lifecycle stage
    responders: np.ndarray
    products_held: np.ndarray
    cross_sold: np.ndarray
    promoters_ppm: np.ndarray
    detractors_ppm: np.ndarray
    market_return: np.ndarray  # (T+1,)
    funnel: np.ndarray  # (T+1, play, arm, FUNNEL_FIELDS)
    channel_contacts: np.ndarray  # (T+1, channel, arm)
    channel_complaints: np.ndarray  # (T+1, channel, arm) complaints the contacts brought
    channel_opt_outs: np.ndarray  # (T+1, channel, arm) customers who opted out of the channel
    unserved: np.ndarray  # (T+1, segment + (all), tier, arm, UNSERVED_KINDS)
    tier_moves: np.ndarray  # (T+1, arm, tier before, tier after): live customers who moved
    stage_moves: np.ndarray  # (T+1, arm, stage before, stage after): customers who moved
    extra: dict[str, Any] = field(default_factory=dict)


# Counters compared with ``RunOutput`` (same names, one replication).
COUNTERS = (
    "customers",
    "aum_fen",
    "churned",
    "acquired",
    "cost_fen",
    "revenue_fen",
    "fee_income_fen",
    "book_revenue_fen",
    "book_by_stage_fen",
    "responders",
    "products_held",
    "cross_sold",
    "promoters_ppm",
    "detractors_ppm",
    "market_return",
    "funnel",
    "channel_contacts",
    "channel_complaints",
    "channel_opt_outs",
    "unserved",
    "tier_moves",
    "stage_moves",
)


def fen(amount: np.ndarray | float) -> np.ndarray:
    """Money → whole fen, rounding half up: floor(x · 100 + 0.5)."""
    return np.floor(np.asarray(amount, dtype=np.float64) * 100.0 + 0.5).astype(np.int64)


def whole(expected: float) -> int:
    """Whole customers among ``expected`` cumulative ones (with the documented hair of 1e-9)."""
    return math.floor(expected + 1e-9)


def normal_cdf(x: float) -> float:
    """Φ(x) = erfc(−x/√2) / 2."""
    if math.isinf(x):
        return 0.0 if x < 0 else 1.0
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def top_cutoff(prevalence: float, d: float, share: float) -> float:
    """The score c with (1 − π)(1 − Φ(c)) + π(1 − Φ(c − d)) = share: bisection down to adjacent
    floats (the least c whose share above is at most ``share``)."""
    if share >= 1.0:
        return -math.inf
    if share <= 0.0:
        return math.inf

    def above(c: float) -> float:
        return (1 - prevalence) * 0.5 * math.erfc(c / math.sqrt(2.0)) + prevalence * 0.5 * (
            math.erfc((c - d) / math.sqrt(2.0))
        )

    lo, hi = -40.0, 40.0 + d
    while True:
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            return hi
        if above(mid) > share:
            lo = mid
        else:
            hi = mid


def tier_of(tier_low: np.ndarray, aum: np.ndarray) -> np.ndarray:
    """The tier whose [low, next low) holds each AUM (the last tier whose low it reaches)."""
    tier = np.zeros(np.shape(aum), dtype=np.int64)
    for j in range(1, tier_low.size):
        tier[aum >= tier_low[j]] = j
    return tier


def market_return(c: CompiledStrategy, rk: np.uint64, t: int) -> float:
    """r_t = ret_mean + ret_sd · Φ⁻¹(u_global(market_return)); a constant is its mean."""
    family = int(c.ret_family)
    if family == FAM_CONSTANT:
        return float(c.ret_mean)
    if family != FAM_NORMAL:
        return 0.0
    u = rng.global_uniform(rk, t, rng.SLOT_MARKET_RETURN)
    return float(c.ret_mean + c.ret_sd * rng.inv_normal(np.array([u]))[0])


def inflow(c: CompiledStrategy, product: int, u: float) -> float:
    """The amount a purchase of ``product`` brings for uniform ``u`` (at least its minimum)."""
    family = int(c.prod_inflow_family[product])
    p1, p2 = float(c.prod_inflow_p1[product]), float(c.prod_inflow_p2[product])
    if family == FAM_CONSTANT:
        amount = p1
    elif family == FAM_NORMAL:
        amount = p1 + p2 * float(rng.inv_normal(np.array([u]))[0])
    elif family == FAM_LOGNORMAL:
        amount = p1 * float(rng.exp(np.array([p2 * float(rng.inv_normal(np.array([u]))[0])]))[0])
    elif family == FAM_UNIFORM:
        amount = p1 + (p2 - p1) * u
    else:
        amount = 0.0
    return max(amount, float(c.prod_min[product]))


def own_churn(c: CompiledStrategy, rk: np.uint64, cid: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """Each customer's own churn chance per step in its stage where the lifecycle draws one
    (`churned ~ beta(a, b)`): Beta(a, b) from the customer's fixed key (slot drawn_churn + 64 j,
    j the stage's column), kept as float32; NaN in the other stages."""
    own = np.full(cid.size, np.nan)
    static = rng.step_key(rng.customer_key(rk, cid), rng.STATIC_STEP)
    for s in range(N_STAGES):
        j = int(c.drawn_col[s])
        rows = np.nonzero(stage == s)[0]
        if j < 0 or rows.size == 0:
            continue
        a, b = float(c.drawn_a[j]), float(c.drawn_b[j])
        theta = rng.beta(static[rows], rng.SLOT_DRAWN_CHURN + 64 * j, a, b)
        own[rows] = theta.astype(np.float32).astype(np.float64)
    return own


def _factors(
    c: CompiledStrategy,
    p: np.ndarray,
    s: int,
    k: int,
    modbits: np.ndarray,
    effbits: np.ndarray | None,
) -> np.ndarray:
    """``p`` times the factors of the modifiers in force on s → k (declaration order), then
    of the effects in force."""
    for m in range(c.mod_factor.size):
        if c.mod_mask[m, s, k] == 1:
            on = (modbits >> np.uint64(m)) & np.uint64(1) == 1
            p = np.where(on, p * c.mod_factor[m], p)
    if effbits is not None:
        for e in range(c.eff_factor.size):
            if c.eff_mask[e, s, k] == 1:
                on = (effbits >> np.uint64(e)) & np.uint64(1) == 1
                p = np.where(on, p * c.eff_factor[e], p)
    return p


def _detractor(
    c: CompiledStrategy, p: np.ndarray, s: int, k: int, d: np.ndarray | None
) -> np.ndarray:
    """``p`` times 1 + (F − 1) × d for each `… for detractors` on s → k (declaration order)."""
    if d is None:
        return p
    for e in range(c.det_factor.size):
        if c.det_mask[e, s, k] == 1:
            p = p * (1.0 + (float(c.det_factor[e]) - 1.0) * d)
    return p


def transition(
    c: CompiledStrategy,
    stage: np.ndarray,
    u: np.ndarray,
    modbits: np.ndarray,
    effbits: np.ndarray | None = None,
    own: np.ndarray | None = None,
    detractors: np.ndarray | None = None,
) -> np.ndarray:
    """The stage after one step: per current stage s, p(s→k) = trans_p × the factors of the
    modifiers in force (declaration order), then of the effects in force; the targets in stage
    order take consecutive intervals of [0, 1), divided by their sum when it exceeds 1; beyond,
    the customer stays — unless the stage draws its churn chance per customer (``own``, from
    ``own_churn``): then [sum, sum + own × factors) churns, when the sum is below 1. Before the
    modifiers, each `… for detractors` on s → k multiplies the chance by 1 + (F − 1) × d, d the
    row's chance of being a detractor (``detractors``)."""
    out = stage.copy()
    for s in range(N_STAGES):
        rows = np.nonzero(stage == s)[0]
        targets = [k for k in range(N_STAGES) if k != s and c.trans_p[s, k] > 0]
        drawn = own is not None and int(c.drawn_col[s]) >= 0
        if rows.size == 0 or not (targets or drawn):
            continue
        mods, effs = modbits[rows], None if effbits is None else effbits[rows]
        d = None if detractors is None else detractors[rows]
        chances = [
            _factors(
                c,
                _detractor(c, np.full(rows.size, float(c.trans_p[s, k])), s, k, d),
                s,
                k,
                mods,
                effs,
            )
            for k in targets
        ]
        total = np.zeros(rows.size)
        for p in chances:
            total = total + p
        cum = np.zeros(rows.size)
        done = np.zeros(rows.size, dtype=bool)
        for k, p in zip(targets, chances, strict=True):
            cum = cum + np.where(total > 1.0, p / total, p)
            hit = ~done & (u[rows] < cum)
            out[rows[hit]] = k
            done |= hit
        if drawn:
            assert own is not None
            p = _factors(
                c, _detractor(c, own[rows], s, STAGE_CHURNED, d), s, STAGE_CHURNED, mods, effs
            )
            hit = ~done & (total < 1.0) & (u[rows] < total + p)
            out[rows[hit]] = STAGE_CHURNED
    return out


class _Book:
    """What the reference remembers per customer beyond the drawn state: contacts (step, play,
    channel), responses, journeys, effects, and the histories that events look back on."""

    def __init__(self, c: CompiledStrategy, rows: int) -> None:
        n_groups, n_journeys = c.group_holdout.size, c.journey_last_after.size
        self.contacts: list[list[tuple[int, int, int]]] = [[] for _ in range(rows)]
        self.last_resp = np.full((rows, max(n_groups, 1)), NEVER, dtype=np.int64)
        self.last_resp_any = np.full(rows, NEVER, dtype=np.int64)
        self.journey_start = np.full((rows, max(n_journeys, 1)), NEVER, dtype=np.int64)
        self.effect_until = np.full((rows, max(c.eff_factor.size, 1)), NEVER, dtype=np.int64)
        self.matured = np.zeros((rows, max(len(c.products), 1)), dtype=bool)
        self.opted_out = np.zeros((rows, max(len(c.channels), 1)), dtype=bool)
        self.initial_aum = np.zeros(rows, dtype=np.float32)
        self.first_step = np.zeros(rows, dtype=np.int64)  # arrival step (0: initial)
        self.aum_at_decision: dict[int, np.ndarray] = {}  # step → float32 per row
        self.flows: dict[int, np.ndarray] = {}  # step → float32 net flow per row
        self.txns: dict[int, np.ndarray] = {}  # step → transactions per row (≤ 255)
        self.past_txns: np.ndarray = np.zeros((rows, 0), dtype=np.int64)  # steps 0, −1, …

    def grow(self, rows: int) -> None:
        for name in ("last_resp", "journey_start", "effect_until", "matured", "opted_out"):
            old = getattr(self, name)
            fill = NEVER if old.dtype == np.int64 else False
            new = np.full((rows, old.shape[1]), fill, dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)
        for name, fill in (("last_resp_any", NEVER), ("initial_aum", 0), ("first_step", 0)):
            old = getattr(self, name)
            new = np.full(rows, fill, dtype=old.dtype)
            new[: old.size] = old
            setattr(self, name, new)
        past = np.zeros((rows, self.past_txns.shape[1]), dtype=np.int64)
        past[: self.past_txns.shape[0]] = self.past_txns
        self.past_txns = past
        self.contacts.extend([] for _ in range(rows - len(self.contacts)))


@dataclass
class _Proposal:
    row: int
    play: int
    key: float  # priority, or expected value
    tiebreak: int
    verdict: str = "contact"  # contact | budget | capacity


class Reference:
    """One replication of a strategy, step by step."""

    def __init__(
        self,
        model: CheckedStrategy,
        *,
        customers: int,
        steps: int,
        seed: int,
        rep: int = 0,
        breakage: str | None = None,
    ) -> None:
        if breakage is not None and breakage not in BREAKAGES:
            raise ValueError(f"unknown breakage {breakage!r}; one of {', '.join(BREAKAGES)}")
        self.model, self.breakage = model, breakage
        compiled = compile_strategy(model)
        self.tb = make_tables(compiled)
        c = self.c = _plain(compiled)
        self.customers, self.steps = customers, steps
        self.rk = rng.replication_key(seed, rep)
        self.days = int(c.step_days)
        scale = customers / c.population_size if c.population_size > 0 else 1.0
        self.arrival_rates = [float(x) * scale for x in c.arr_per_step]
        # Capacities and budgets are the bank's sizes too: scaled alike (budgets to the fen).
        if breakage == "sizes_not_scaled":
            scale = 1.0
        self.capacity = [x * scale if x >= 0 else x for x in map(float, c.chan_capacity)]
        self.budget = [
            math.floor(b * scale + 0.5) if b >= 0 else b for b in map(int, c.group_budget_fen)
        ]
        planned = sum(math.floor(r * steps) for r in self.arrival_rates)
        capacity = customers + planned + 16
        self.st = allocate(self.tb, capacity)
        self.book = _Book(c, capacity)
        self.rows = 0
        self.next_id = customers
        self.referrals = 0.0
        self.responded_last = 0
        self.spend: list[dict[int, int]] = [{} for _ in range(c.group_holdout.size)]
        self.n_plays = len(c.plays)
        # Plays in priority order (higher first, ties in play order).
        self.priority_order = sorted(
            range(self.n_plays), key=lambda p: (-float(c.play_priority[p]), p)
        )
        if breakage == "priority_ascending":
            self.priority_order = sorted(
                range(self.n_plays), key=lambda p: (float(c.play_priority[p]), p)
            )
        self.caps_of = [self._find_caps(p) for p in range(self.n_plays)]
        self.tops = self._model_tops()
        self.txn_window = math.ceil(90 / self.days - 1e-9)
        n_tiers, T = c.tier_low.size, steps + 1
        self.out = ReferenceOutput(
            customers=np.zeros((T, N_ARMS, N_STAGES, n_tiers), dtype=np.int64),
            **{
                name: np.zeros((T, N_ARMS), dtype=np.int64)
                for name in COUNTERS
                if name
                not in (
                    "customers",
                    "book_by_stage_fen",
                    "market_return",
                    "funnel",
                    "channel_contacts",
                    "channel_complaints",
                    "channel_opt_outs",
                    "unserved",
                    "tier_moves",
                    "stage_moves",
                )
            },
            book_by_stage_fen=np.zeros((T, N_ARMS, N_STAGES), dtype=np.int64),
            market_return=np.zeros(T),
            funnel=np.zeros((T, self.n_plays, N_ARMS, len(FUNNEL_FIELDS)), dtype=np.int64),
            channel_contacts=np.zeros((T, len(c.channels), N_ARMS), dtype=np.int64),
            channel_complaints=np.zeros((T, len(c.channels), N_ARMS), dtype=np.int64),
            channel_opt_outs=np.zeros((T, len(c.channels), N_ARMS), dtype=np.int64),
            unserved=np.zeros(
                (T, len(c.segments) + 1, n_tiers, N_ARMS, len(UNSERVED_KINDS)), dtype=np.int64
            ),
            tier_moves=np.zeros((T, N_ARMS, n_tiers, n_tiers), dtype=np.int64),
            stage_moves=np.zeros((T, N_ARMS, N_STAGES, N_STAGES), dtype=np.int64),
        )

    # ------------------------------------------------------------------------ the run

    def run(self) -> ReferenceOutput:
        self._arrive(np.arange(self.customers, dtype=np.int64), 0, -1)
        self.t = 0
        self.tier = tier_of(self.c.tier_low, self.st.aum[: self.rows])
        self._account(0, decided=False, responded=np.zeros(self.rows, dtype=bool))
        for t in range(1, self.steps + 1):
            self.t = t
            first_new = self._arrivals(t)
            self._baseline(t, first_new)
            self._labels(t)
            proposals = self._decide(t)
            self._cut(t, proposals)
            responded = self._serve(t, proposals)
            self._account(t, decided=True, responded=responded)
        return self.out

    def _arrive(self, ids: np.ndarray, t: int, stage: int) -> None:
        n = ids.size
        if self.rows + n > self.st.cid.shape[0]:
            size = (self.rows + n) * 2
            self.st = grow(self.tb, self.st, size)
            self.book.grow(size)
        synthesize(self.tb, self.st, self.rows, ids, self.rk, t, stage)
        new = slice(self.rows, self.rows + n)
        if stage < 0:
            self._holdings(new, ids)
        self.book.initial_aum[new] = self.st.aum[new].astype(np.float32)
        self.book.first_step[new] = t
        if t == 0:
            # Transactions before step 0 (k steps back), for txn_3m: what synthesis drew.
            width = self.st.txn_ring.shape[1]
            past = np.zeros((n, width), dtype=np.int64)
            for k in range(width):
                past[:, k] = self.st.txn_ring[new, (-k) % width]
            self.book.past_txns = np.zeros((self.book.initial_aum.size, width), dtype=np.int64)
            self.book.past_txns[new] = past
        self.rows += n

    def _holdings(self, new: slice, ids: np.ndarray) -> None:
        """The products the initial customers hold at step 0 (`held by`), redrawn here from
        the docs' rule after clearing what synthesis drew: held with the share of the
        customer's tier (live customers only), the `holding` amount capped at the AUM not yet
        held in earlier products, none below the product's `min` (or at 0), maturing at a step
        uniform over 1..tenor."""
        st, c = self.st, self.c
        st.hold_amt[new] = 0.0
        st.hold_until[new] = NEVER_STEP
        st.hold_play[new] = -1
        sk = rng.step_key(rng.customer_key(self.rk, ids), 0)
        aum = st.aum[new].astype(np.float64)
        tier = tier_of(c.tier_low, aum)
        free = aum.copy()
        alive = st.alive[new] == 1
        for d in range(c.held_share.shape[1]):
            share = c.held_share[tier, d]
            base = rng.SLOT_HOLDING + 4 * d
            chosen = rng.to_uniform(rng.draw(sk, base)) < share
            family, p1, p2 = int(c.prod_held_family[d]), c.prod_held_p1[d], c.prod_held_p2[d]
            drawn = _money(family, float(p1), float(p2), rng.to_uniform(rng.draw(sk, base + 1)))
            amount = np.minimum(drawn, free)
            held = alive & (share > 0.0) & chosen & (amount > 0.0)
            held &= amount >= float(c.prod_min[d])
            free[held] -= amount[held]
            rows = np.arange(new.start, new.stop)[held]
            st.hold_amt[rows, d] = amount[held].astype(np.float32)
            tenor = int(c.prod_tenor[d])
            if tenor <= 0:
                st.hold_until[rows, d] = NO_MATURITY
                continue
            left = rng.to_uniform(rng.draw(sk, base + 2))[held]
            until = 1 + np.minimum((left * tenor).astype(np.int64), tenor - 1)
            if self.breakage == "holdings_mature_at_full_tenor":
                until[:] = tenor
            st.hold_until[rows, d] = until

    def _arrivals(self, t: int) -> int:
        """Arrivals of step t (the arrival lines, then referrals from last step's responders);
        returns the first row that arrived (rows from there skip the baseline)."""
        c, first_new = self.c, self.rows
        lines = []
        for rate, stage, cost in zip(self.arrival_rates, c.arr_stage, c.arr_cost_fen, strict=True):
            lines.append((whole(rate * t) - whole(rate * (t - 1)), int(stage), int(cost)))
        before = whole(self.referrals)
        self.referrals += float(c.referral_per_step) * self.responded_last
        lines.append((whole(self.referrals) - before, STAGE_NEW, 0))
        for count, stage, cost in lines:
            if count <= 0:
                continue
            rows = slice(self.rows, self.rows + count)
            self._arrive(np.arange(self.next_id, self.next_id + count, dtype=np.int64), t, stage)
            self.next_id += count
            arms = self.st.arm[rows]
            for arm in range(N_ARMS):
                n = int(np.count_nonzero(arms == arm))
                self.out.acquired[t, arm] += n
                self.out.cost_fen[t, arm] += n * cost
        return first_new

    # ------------------------------------------------------------------------ baseline

    def _baseline(self, t: int, first_new: int) -> None:
        """Market and flows, transactions, maturity (rows before ``first_new``), then the
        lifecycle with modifiers and effects in force; churn."""
        c, st, book = self.c, self.st, self.book
        r_t = market_return(c, self.rk, t)
        self.out.market_return[t] = r_t
        old = np.nonzero(st.alive[:first_new] == 1)[0]
        sk = rng.step_key(rng.customer_key(self.rk, st.cid[old]), t)
        family = int(c.flow_family)
        if family == FAM_NORMAL:
            f = c.flow_mean + c.flow_sd * rng.inv_normal(rng.to_uniform(rng.draw(sk, 0)))
        elif family == FAM_CONSTANT:
            f = np.full(old.size, float(c.flow_mean))
        else:
            f = np.zeros(old.size)
        flows = np.zeros(self.rows, dtype=np.float32)
        flows[old] = (st.aum[old] * f).astype(np.float32)
        book.flows[t] = flows
        aum = st.aum[old] * ((1.0 + r_t) + f)
        st.aum[old] = np.where(aum > 0.0, aum, 0.0)
        rate = st.txn_rate[old].astype(np.float64) * c.txn_stage_factor[st.stage[old]]
        u = rng.to_uniform(rng.draw(sk, rng.SLOT_TXN))
        n_txn = rng.poisson(u, rate * self.days / 30.0)
        st.last_txn[old[n_txn > 0]] = t
        txns = np.zeros(self.rows, dtype=np.int64)
        txns[old] = np.minimum(n_txn, 255)
        book.txns[t] = txns
        book.matured[: self.rows] = False
        for d in range(len(c.products)):
            ends = (st.hold_amt[old, d] > 0.0) & (st.hold_until[old, d].astype(np.int64) == t)
            st.hold_amt[old[ends], d] = 0.0
            book.matured[old[ends], d] = True
        # Lifecycle: the modifiers' conditions now (tier after the market), for every live row.
        live = st.alive[: self.rows] == 1
        self.tier = tier_of(c.tier_low, st.aum[: self.rows])
        self.modbits = np.zeros(self.rows, dtype=np.uint64)
        mods = self.model.lifecycle.modifiers if self.model.lifecycle else ()
        for m, mod in enumerate(mods):
            on = self.holds(mod.condition, event=False) & live
            self.modbits[on] |= np.uint64(1) << np.uint64(m)
        effbits = np.zeros(self.rows, dtype=np.uint64)
        for e in range(c.eff_factor.size):
            until = book.effect_until[: self.rows, e]
            on = until >= t if self.breakage != "effects_never_expire" else until > NEVER
            effbits[on] |= np.uint64(1) << np.uint64(e)
        u = rng.to_uniform(rng.draw(sk, rng.SLOT_TRANSITION))
        stage = st.stage[old].astype(np.int64)
        own = self._own_churn(st.cid[old], stage)
        detractors = self._detractors(old, t)
        nxt = transition(c, stage, u, self.modbits[old], effbits[old], own, detractors)
        moved = old[nxt != stage]
        counted = nxt != stage
        if self.breakage == "churn_not_a_stage_move":
            counted &= nxt != STAGE_CHURNED
        where = (st.arm[old[counted]], stage[counted], nxt[counted])
        np.add.at(self.out.stage_moves[t], where, 1)
        st.stage[moved] = nxt[nxt != stage]
        st.stage_since[moved] = t
        st.acquired[moved[st.stage[moved] == STAGE_NEW]] = t
        gone = old[nxt == STAGE_CHURNED]
        st.alive[gone] = 0
        self.out.churned[t] = np.bincount(st.arm[gone], minlength=N_ARMS)

    def _detractors(self, rows: np.ndarray, t: int) -> np.ndarray | None:
        """Each row's chance of being a detractor going into step t (its contacts and responses
        before this step), for `… for detractors`; None when the lifecycle has none."""
        if self.c.det_factor.size == 0:
            return None
        if self.model.nps is None:
            return np.zeros(rows.size)
        if self.breakage == "detractor_factor_in_full":
            return np.ones(rows.size)
        return np.array([self._nps(int(i), t)[1] for i in rows])

    def _own_churn(self, cid: np.ndarray, stage: np.ndarray) -> np.ndarray:
        own = own_churn(self.c, self.rk, cid, stage)
        if self.breakage == "drawn_churn_at_mean":
            at_mean = self.c.drawn_a / (self.c.drawn_a + self.c.drawn_b)
            cols = self.c.drawn_col[stage]
            own = np.where(cols >= 0, at_mean[np.maximum(cols, 0)] if at_mean.size else 0, own)
        return own

    # ------------------------------------------------------------------------ models

    def _model_tops(self) -> dict[tuple[str, float], tuple[int, float]]:
        """(model, share) of every `top N%` in the strategy → (model index, separation d)."""
        from strategy_dsl.model import ModelTop

        found: dict[tuple[str, float], tuple[int, float]] = {}
        for node in _conditions(self.model):
            if isinstance(node, ModelTop):
                m = self.c.models.index(node.model)
                found[(node.model, node.share)] = (m, float(self.c.model_d[m]))
        return found

    def _labels(self, t: int) -> None:
        """Each model's label per live row after the transition: a stage model replays the
        lifecycle over t+1 … t+W with those steps' transition uniforms, today's modifiers and no
        effects; a response model draws a latent Bernoulli(propensity). Then the cutoff of every
        `top N%`, calibrated on the share of labels among all live customers."""
        c, st = self.c, self.st
        self.labels = np.zeros((len(c.models), self.rows), dtype=np.int64)
        live = np.nonzero(st.alive[: self.rows] == 1)[0]
        ck = rng.customer_key(self.rk, st.cid[live])
        for m in range(len(c.models)):
            if int(c.model_kind[m]) != MODEL_STAGE:
                u = rng.to_uniform(rng.draw(rng.step_key(ck, t), rng.SLOT_MODEL_LABEL + m))
                self.labels[m, live] = u < st.propensity[live].astype(np.float64)
                continue
            target = int(c.model_target[m])
            s = st.stage[live].astype(np.int64)
            y = np.zeros(live.size, dtype=bool)
            for k in range(1, int(c.model_window[m]) + 1):
                u = rng.to_uniform(rng.draw(rng.step_key(ck, t + k), rng.SLOT_TRANSITION))
                going = s != STAGE_CHURNED
                own = self._own_churn(st.cid[live], s)
                nxt = transition(c, s, u, self.modbits[live], own=own)
                y |= going & (nxt == target) & (s != target)
                s = np.where(going, nxt, s)
            self.labels[m, live] = y
        self.cutoffs: dict[tuple[str, float], tuple[float, float]] = {}
        self.score_cutoffs: dict[tuple[str, float], tuple[float, float]] = {}
        for key, (m, d) in self.tops.items():
            prevalence = float(self.labels[m, live].sum()) / live.size if live.size else 0.0
            if self.breakage == "model_top_by_score_rank":
                prevalence = 0.0
            cut = top_cutoff(prevalence, d, key[1])
            self.cutoffs[key] = (normal_cdf(cut), normal_cdf(cut - d))
            self.score_cutoffs[key] = (cut, cut - d)

    # ------------------------------------------------------------------------ conditions

    def value(self, name: str) -> np.ndarray:
        """Attribute ``name`` of every row at step t, as float64."""
        st, t, n, d = self.st, self.t, self.rows, self.days
        c = self.c
        if name == "aum":
            return st.aum[:n].copy()
        if name == "age":
            return st.age0[:n].astype(np.float64) + (t * d) / 360.0
        if name == "stage":
            return st.stage[:n].astype(np.float64)
        if name == "risk_tolerance":
            return st.risk[:n].astype(np.float64)
        if name == "months_since_txn":
            return ((t - st.last_txn[:n].astype(np.int64)) * d) / 30.0
        if name == "tenure_months":
            return ((t - st.acquired[:n].astype(np.int64)) * d) / 30.0
        if name == "txn_3m":
            total = np.zeros(n, dtype=np.int64)
            for s in range(t - self.txn_window + 1, t + 1):
                if s >= 1:
                    total += _padded(self.book.txns.get(s), n).astype(np.int64)
                else:
                    total += np.where(self.book.first_step[:n] == 0, self.book.past_txns[:n, -s], 0)
            return total.astype(np.float64)
        if name == "txn_per_month":
            return st.txn_rate[:n].astype(np.float64)
        if name == "products_held":
            return (st.hold_amt[:n] > 0.0).sum(axis=1).astype(np.float64)
        if name == "propensity":
            return st.propensity[:n].astype(np.float64)
        if name in c.numbers:
            return st.nums[:n, c.numbers.index(name)].astype(np.float64)
        if name in c.categories:
            return st.cats[:n, c.categories.index(name)].astype(np.float64)
        raise ValueError(f"the reference does not know attribute `{name}`")

    def holds(self, node: Any, event: bool) -> np.ndarray:
        """Whether condition ``node`` (checked model) holds for every row at step t; ``event``:
        read as an event (a trigger, an `on`, a journey's entry)."""
        st, t, n, book = self.st, self.t, self.rows, self.book
        kind = type(node).__name__
        if kind == "All":
            out = np.ones(n, dtype=bool)
            for x in node.operands:
                out &= self.holds(x, event)
            return out
        if kind == "Any":
            out = np.zeros(n, dtype=bool)
            for x in node.operands:
                out |= self.holds(x, event)
            return out
        if kind == "Not":
            return ~self.holds(node.operand, event)
        if kind == "SegmentRef":
            return self.holds(self.model.segments[node.name].condition, False)
        if kind == "TriggerRef":
            return self.holds(self.model.triggers[node.name].condition, True)
        if kind == "TierRef":
            return self.tier == self.c.tiers.index(node.name)
        if kind == "AttributeFlag":
            if node.attribute in self.c.flags:
                bit = np.uint32(1 << self.c.flags.index(node.attribute))
                return (st.flags[:n] & bit) != 0
            return self.value(node.attribute) != 0.0
        if kind == "AttributeCompare":
            return _compare(self.value(node.attribute), node.op, float(node.value))
        if kind == "AttributeRange":
            v = self.value(node.attribute)
            return (node.low <= v) & (v < node.high)
        if kind == "AttributeIn":
            v = self.value(node.attribute)
            if node.attribute == "stage":
                codes = [STAGE_INDEX[str(x)] for x in node.values if str(x) in STAGE_INDEX]
            elif node.attribute in self.c.categories:
                dist = self.model.population.attributes[node.attribute].distribution  # type: ignore[union-attr]
                names = [str(name) for name, _ in dist.categories]
                codes = [names.index(str(x)) for x in node.values if str(x) in names]
            else:
                codes = [float(x) for x in node.values]
            return np.isin(v, np.array(codes, dtype=np.float64))
        if kind == "ModelTop":
            m, _ = self.tops[(node.model, node.share)]
            low0, low1 = self.cutoffs[(node.model, node.share)]
            u = rng.uniform(self.rk, st.cid[:n], t, rng.SLOT_MODEL_NOISE + m)
            rho = self.model.models[node.model].persistence
            if self.breakage == "score_noise_redrawn":
                rho = 0.0
            if rho <= 0.0:
                return u >= np.where(self.labels[m, :n] == 1, low1, low0)
            # A persistent score: the customer's own term (fixed for the run) and this step's
            # innovation, weighted so that the noise stays N(0, 1) with correlation rho.
            a = rng.uniform(self.rk, st.cid[:n], rng.STATIC_STEP, rng.SLOT_MODEL_PERSISTENT + m)
            z = math.sqrt(rho) * rng.inv_normal(a) + math.sqrt(1.0 - rho) * rng.inv_normal(u)
            cut0, cut1 = self.score_cutoffs[(node.model, node.share)]
            return z >= np.where(self.labels[m, :n] == 1, cut1, cut0)
        if kind == "RfmQuadrant":
            rfm = self.model.rfm
            assert rfm is not None
            out = np.ones(n, dtype=bool)
            for axis, high in ((rfm.recency, node.recency), (rfm.frequency, node.frequency),
                               (rfm.monetary, node.monetary)):  # fmt: skip
                on = self.holds(axis, False)
                out &= on if high else ~on
            return out
        if kind == "EnteredStage":
            since = t - st.stage_since[:n].astype(np.int64)
            here = st.stage[:n] == STAGE_INDEX[node.stage]
            if event or node.within_steps is None:
                return here & (since == 0)
            return here & (since <= node.within_steps)
        if kind == "Inactive":
            idle = t - st.last_txn[:n].astype(np.int64)
            if event:
                return (idle >= node.steps) & (idle - 1 < node.steps)
            return idle >= node.steps
        if kind == "Every":
            return np.full(n, t % max(1, node.steps) == 0)
        if kind == "Matures":
            return book.matured[:n, self.c.products.index(node.product)].copy()
        if kind == "Holds":
            return st.hold_amt[:n, self.c.products.index(node.product)] > 0.0
        if kind == "RespondedTo":
            last = book.last_resp[:n, self.c.groups.index(node.target)]
            within = math.inf if node.within_steps is None else node.within_steps
            if event:
                return (last != NEVER) & (last == t - 1) & (within >= 1)
            return (last != NEVER) & (t - last <= within)
        if kind == "AumChange":
            lag = max(1, math.floor(node.over_steps + 1e-9))
            then = book.initial_aum[:n].astype(np.float64)
            past = book.aum_at_decision.get(t - lag)
            if past is not None:
                seen = book.first_step[:n] <= t - lag
                then = np.where(seen, _padded(past, n).astype(np.float64), then)
            now = st.aum[:n]
            # docs/simulation.md's table leaves out the cases of no AUM: a drop needs AUM then
            # (from nothing there is nothing to lose) and a rise needs AUM to have grown, or a
            # customer at 0 would both "drop" and "rise" every step (the kernels agree).
            if node.direction == "drop":
                return (then > 0.0) & (now <= then * (1.0 - node.share))
            return (now >= then * (1.0 + node.share)) & (now > then)
        if kind == "Flow":
            window = 1.0 if node.within_steps is None else node.within_steps
            total = np.zeros(n)
            for k in range(max(1, math.ceil(window - 1e-9))):
                f = _padded(book.flows.get(t - k), n).astype(np.float64)
                total += -np.minimum(f, 0.0) if node.direction == "outflow" else np.maximum(f, 0.0)
            return _compare(total, node.op, float(node.amount))
        if kind == "Birthday":
            return _in_step(st.birthday[:n].astype(np.int64), t, self.days, 360)
        if kind == "SalaryCredited":
            if "payroll" not in self.c.flags:
                return np.zeros(n, dtype=bool)
            bit = np.uint32(1 << self.c.flags.index("payroll"))
            paid = _in_step(st.payday[:n].astype(np.int64), t, self.days, 30)
            return ((st.flags[:n] & bit) != 0) & paid
        raise ValueError(f"the reference does not know the condition {kind}")

    # ------------------------------------------------------------------------ decisions

    def _decide(self, t: int) -> dict[int, list[_Proposal]]:
        """Candidates, eligibility, holdouts and arbitration for every live row; the funnel's
        eligibility counts. Returns each row's winners in its arbitration order."""
        c, st, book, model = self.c, self.st, self.book, self.model
        n = self.rows
        live = st.alive[:n] == 1
        self.tier = tier_of(c.tier_low, st.aum[:n])
        self.decision_tier = self.tier.copy()
        self.segbits = [self.holds(s.condition, False) & live for s in model.segments.values()]
        # Journeys: running, or entered now (their entry event while not running).
        running = np.zeros((max(len(model.journeys), 1), n), dtype=bool)
        for j, journey in enumerate(model.journeys):
            start = book.journey_start[:n, j]
            on = live & (start != NEVER) & (t - start <= int(c.journey_last_after[j]))
            if int(c.journey_stop[j]) == 1 and self.breakage != "no_stop_on_response":
                on &= ~(book.last_resp[:n, int(c.journey_group[j])] >= start)
            enter = live & ~on & self.holds(journey.entry, True)
            book.journey_start[np.nonzero(enter)[0], j] = t
            running[j] = on | enter
        candidates = np.zeros((self.n_plays, n), dtype=bool)
        rules = list(model.rules)
        for p in range(self.n_plays):
            j = int(c.play_journey[p])
            if j < 0:
                rule = rules[p]
                cand = live.copy()
                if rule.on is not None:
                    cand &= self.holds(rule.on, True)
                if rule.when is not None:
                    cand &= self.holds(rule.when, False)
            else:
                due = t - book.journey_start[:n, j] == int(c.play_after[p])
                cand = running[j] & due
                if model.journeys[j].when is not None:
                    cand &= self.holds(model.journeys[j].when, False)
            candidates[p] = cand
        channel_ok = np.ones((len(c.channels), n), dtype=bool)
        for ch, name in enumerate(c.channels):
            requires = model.channels[name].requires
            if requires is not None:
                channel_ok[ch] = self.holds(requires, False)
            if self.breakage != "opt_out_ignored":  # consent withdrawn: `requires` fails
                channel_ok[ch] &= ~book.opted_out[:n, ch]
        book.aum_at_decision[t] = st.aum[:n].astype(np.float32)
        # The keyed draws of the decisions, for every row at once: each play's own holdout (a
        # static uniform per rule or journey) and the customer's tiebreak of the step.
        ck = rng.customer_key(self.rk, st.cid[:n])
        static = rng.step_key(ck, rng.STATIC_STEP)
        self.holdout_u = [
            rng.to_uniform(rng.draw(static, rng.SLOT_HOLDOUT + g))
            for g in range(c.group_holdout.size)
        ]
        self.tiebreak = rng.draw(rng.step_key(ck, t), rng.SLOT_TIEBREAK)
        self.eligible_any = np.zeros(n, dtype=bool)
        winners: dict[int, list[_Proposal]] = {}
        for i in np.nonzero(candidates.any(axis=0))[0]:
            won = self._decide_customer(t, int(i), candidates[:, i], channel_ok[:, i])
            if won:
                winners[int(i)] = won
        return winners

    def _decide_customer(
        self, t: int, i: int, candidate: np.ndarray, channel_ok: np.ndarray
    ) -> list[_Proposal]:
        c, st, funnel = self.c, self.st, self.out.funnel[t]
        arm = int(st.arm[i])
        contacts = self.book.contacts[i]
        treated: list[int] = []
        for p in self.priority_order:
            if not candidate[p]:
                continue
            product, channel = int(c.play_product[p]), int(c.play_channel[p])
            cooldown = int(c.play_cooldown[p])
            last = max([s for s, q, _ in contacts if q == p], default=NEVER)
            if self.breakage == "cooldown_inclusive":
                cooling = cooldown > 0 and t - last <= cooldown
            else:
                cooling = cooldown > 0 and t - last < cooldown
            if int(c.prod_risk[product]) > int(st.risk[i]):
                reason = "suppressed_suitability"
            elif st.hold_amt[i, product] > 0.0:
                reason = "suppressed_held"
            elif not channel_ok[channel]:
                reason = "suppressed_channel"
            elif cooling:
                reason = "suppressed_cooldown"
            elif any(self._cap_used(i, t, cap) >= int(c.cap_count[cap])
                     for cap in self._caps_of(p)) and self.breakage != "ignore_caps":  # fmt: skip
                reason = "suppressed_cap"
            else:
                reason = "eligible"
            funnel[p, arm, FUNNEL_FIELDS.index(reason)] += 1
            if reason != "eligible":
                continue
            self.eligible_any[i] = True
            group = int(c.play_group[p])
            share = float(c.group_holdout[group])
            u = self.holdout_u[group][i]
            held_out = share > 0.0 and u < share and self.breakage != "holdout_ignored"
            if arm == 1 or held_out:
                funnel[p, arm, FUNNEL_FIELDS.index("holdout")] += 1
                continue
            treated.append(p)
        if not treated:
            return []
        earlier = self._recent(i, t)
        keys = {p: self._key(i, p, earlier) for p in treated}
        if int(c.arbitrate) == 1:  # by value, highest first; ties keep the priority order
            treated.sort(key=lambda p: -keys[p])
        taken: dict[int, int] = {}
        products: set[int] = set()
        won: list[_Proposal] = []
        tiebreak = int(self.tiebreak[i])
        for p in treated:
            product = int(c.play_product[p])
            ok = product not in products or self.breakage == "no_one_offer_per_product"
            if self.breakage != "ignore_caps":
                for cap in self._caps_of(p):
                    now = taken.get(cap, 0) if self.breakage != "cap_counts_this_step_late" else 0
                    if self._cap_used(i, t, cap) + now >= int(c.cap_count[cap]):
                        ok = False
            if not ok:
                funnel[p, arm, FUNNEL_FIELDS.index("suppressed_arbitration")] += 1
                continue
            for cap in self._caps_of(p):
                taken[cap] = taken.get(cap, 0) + 1
            products.add(product)
            won.append(_Proposal(i, p, keys[p], tiebreak))
        return won

    def _caps_of(self, p: int) -> list[int]:
        """The caps that apply to play p: overall, its channel's, its own (a rule's)."""
        return self.caps_of[p]

    def _find_caps(self, p: int) -> list[int]:
        c, channel = self.c, int(self.c.play_channel[p])
        found = []
        for cap in range(c.cap_scope.size):
            scope, index = int(c.cap_scope[cap]), int(c.cap_index[cap])
            mine = (
                scope == CAP_ALL
                or (scope == CAP_CHANNEL and index == channel)
                or (scope == CAP_PLAY and index == p)
            )
            if mine:
                found.append(cap)
        return found

    def _cap_used(self, i: int, t: int, cap: int) -> int:
        """The customer's contacts that count for ``cap`` in its window ending now."""
        window = float(self.c.cap_window[cap])
        return sum(
            1 for s, p, _ in self.book.contacts[i] if t - s < window and cap in self._caps_of(p)
        )

    def _recent(self, i: int, t: int) -> int:
        """Contacts in the fatigue window among the last 8 remembered."""
        c = self.c
        if float(c.fatigue_rate) <= 0.0 or self.breakage == "no_fatigue":
            return 0
        window = float(c.fatigue_window)
        return sum(1 for s, _, _ in self.book.contacts[i][-RECENT:] if t - s < window)

    def _chance(self, i: int, p: int, earlier: int) -> float:
        """p = min(1, max(0, response × propensity / mean × lift × fatigue))."""
        c = self.c
        mean = float(c.mean_propensity)
        ratio = float(self.st.propensity[i]) / mean if mean > 0.0 else 1.0
        rate = float(c.fatigue_rate)
        fatigue = max(0.0, 1.0 - rate * earlier) if rate > 0.0 else 1.0
        chance = ((float(c.play_response[p]) * ratio) * float(c.play_lift[p])) * fatigue
        return min(max(chance, 0.0), 1.0)

    def _key(self, i: int, p: int, earlier: int) -> float:
        """The proposal's ordering key: priority, or its expected value."""
        c = self.c
        if int(c.arbitrate) == 0:
            return float(c.play_priority[p])
        channel = int(c.play_channel[p])
        reach = float(c.chan_reach[channel]) * self._chance(i, p, earlier)
        cost = int(c.chan_cost_fen[channel]) / 100.0
        if self.breakage == "value_ignores_cost":
            cost = 0.0
        return reach * float(c.play_value_revenue[p]) - cost

    # ------------------------------------------------------------------------ cuts

    def _cut(self, t: int, winners: dict[int, list[_Proposal]]) -> None:
        """Budgets, then channel capacities, over all proposals in one global order: key
        descending, tiebreak ascending, play ascending."""
        c = self.c
        every = [x for won in winners.values() for x in won]
        if self.breakage == "capacity_without_tiebreak":
            every.sort(key=lambda x: (-x.key, int(self.st.cid[x.row]), x.play))
        else:
            every.sort(key=lambda x: (-x.key, x.tiebreak, x.play))
        cost = c.chan_cost_fen[c.play_channel]
        for g in range(c.group_holdout.size):
            budget = self.budget[g]
            if budget < 0:
                continue
            window = float(c.group_budget_window[g])
            if self.breakage == "budget_without_window":
                window = 1.0
            spent = sum(v for s, v in self.spend[g].items() if t - s < window)
            remaining, total = max(budget - spent, 0), 0
            full = False
            for x in every:
                if int(c.play_group[x.play]) != g:
                    continue
                if self.breakage == "budget_first_fit":  # skips what does not fit, goes on
                    if total + int(cost[x.play]) > remaining:
                        x.verdict = "budget"
                    else:
                        total += int(cost[x.play])
                    continue
                total += int(cost[x.play])
                full = full or total > remaining  # accepted *while* the spend fits
                if full:
                    x.verdict = "budget"
        for ch in range(len(c.channels)):
            rate = self.capacity[ch]
            if rate < 0:
                continue
            allowed = whole(rate * t) - whole(rate * (t - 1))
            for x in every:
                if int(c.play_channel[x.play]) == ch and x.verdict == "contact":
                    if allowed > 0:
                        allowed -= 1
                    else:
                        x.verdict = "capacity"

    # ------------------------------------------------------------------------ contacts

    def _over_contact(self, t: int, i: int, p: int, channel: int, sk: np.ndarray) -> None:
        """A reached customer may complain (starting the complaint's lifecycle effects) and
        may opt out of the channel (once: a second contact in the step finds them out)."""
        c, arm = self.c, int(self.st.arm[i])
        if _u(sk, rng.SLOT_COMPLAINT + p) < float(c.chan_complaint[channel]):
            self.out.channel_complaints[t, channel, arm] += 1
            start = int(c.complaint_effect_start)
            if self.breakage != "complaint_effect_ignored":
                for e in range(start, start + int(c.complaint_effect_count)):
                    self.book.effect_until[i, e] = t + int(c.eff_steps[e])
        out = _u(sk, rng.SLOT_OPT_OUT + p) < float(c.chan_opt_out[channel])
        if out and not self.book.opted_out[i, channel]:
            self.book.opted_out[i, channel] = True
            self.out.channel_opt_outs[t, channel, arm] += 1

    def _serve(self, t: int, winners: dict[int, list[_Proposal]]) -> np.ndarray:
        """Each customer's proposals in arbitration order: cut ones counted, the others
        contacted (cost, reach, response, purchase, effects). Returns who responded."""
        c, st, book = self.c, self.st, self.book
        funnel = self.out.funnel[t]
        responded = np.zeros(self.rows, dtype=bool)
        spend = np.zeros(c.group_holdout.size, dtype=np.int64)
        for i, won in winners.items():
            arm = int(st.arm[i])
            sk = rng.step_key(rng.customer_key(self.rk, st.cid[i : i + 1]), t)
            for x in won:
                p = x.play
                if x.verdict != "contact":
                    funnel[p, arm, FUNNEL_FIELDS.index(f"suppressed_{x.verdict}")] += 1
                    continue
                channel, product = int(c.play_channel[p]), int(c.play_product[p])
                cost = int(c.chan_cost_fen[channel])
                earlier = self._recent(i, t)  # this step's earlier contacts included
                funnel[p, arm, FUNNEL_FIELDS.index("contacted")] += 1
                funnel[p, arm, FUNNEL_FIELDS.index("cost_fen")] += cost
                self.out.cost_fen[t, arm] += cost
                self.out.channel_contacts[t, channel, arm] += 1
                spend[int(c.play_group[p])] += cost
                book.contacts[i].append((t, p, channel))
                if _u(sk, rng.SLOT_REACH + p) >= float(c.chan_reach[channel]):
                    continue
                funnel[p, arm, FUNNEL_FIELDS.index("reached")] += 1
                self._over_contact(t, i, p, channel, sk)
                share, aum = float(c.prod_buy_share[product]), float(st.aum[i])
                if share >= 0.0 and aum < float(c.prod_min[product]):
                    continue  # a purchase sized to the customer: below `min`, no purchase
                if _u(sk, rng.SLOT_RESPONSE + p) >= self._chance(i, p, earlier):
                    continue
                funnel[p, arm, FUNNEL_FIELDS.index("responded")] += 1
                responded[i] = True
                if share >= 0.0:  # `buys`: a share of AUM, at least `min`, at most `max`
                    amount = min(
                        max(share * aum, float(c.prod_min[product])), c.prod_buy_cap[product]
                    )
                else:
                    amount = inflow(c, product, _u(sk, rng.SLOT_INFLOW + p))
                switching = float(c.prod_switching[product])
                if self.breakage == "switching_as_new_money":
                    switching = 0.0
                # The switched part leaves the customer's balances: only new money adds AUM.
                new_money = amount - min(amount * switching, aum)
                st.aum[i] += new_money
                funnel[p, arm, FUNNEL_FIELDS.index("inflow_fen")] += int(fen(new_money))
                st.hold_amt[i, product] = np.float32(amount)
                tenor = int(c.prod_tenor[product])
                st.hold_until[i, product] = (
                    min(t + tenor, NO_MATURITY - 1) if tenor > 0 else (NO_MATURITY)
                )
                st.hold_play[i, product] = p
                fee = int(fen(amount * float(c.prod_fee[product])))
                funnel[p, arm, FUNNEL_FIELDS.index("revenue_fen")] += fee
                self.out.revenue_fen[t, arm] += fee
                self.out.fee_income_fen[t, arm] += fee
                start = int(c.play_effect_start[p])
                for e in range(start, start + int(c.play_effect_count[p])):
                    book.effect_until[i, e] = t + int(c.eff_steps[e])
                book.last_resp[i, int(c.play_group[p])] = t
                book.last_resp_any[i] = t
        for g in range(c.group_holdout.size):
            if int(c.group_budget_fen[g]) >= 0:
                self.spend[g][t] = int(spend[g])
        self.responded_last = int(responded.sum())
        return responded

    # ------------------------------------------------------------------------ accounting

    def _book_revenue(self, aum: np.ndarray, tier: np.ndarray) -> np.ndarray:
        """Each live customer's revenue on the book in fen: Σ over balance types (in the
        book's order) of AUM × the tier's share × the type's rate per step, rounded once. Read
        from the checked model (not the compiled tables): a tier without its own split takes
        the default one; a yearly rate earns step days / 360 of it per step."""
        book, days = self.model.book, self.days
        tiers = [x.name for x in self.model.tiers] or [None]
        if self.breakage == "book_default_split_everywhere":
            tiers = [None] * len(tiers)
        earned = np.zeros(aum.size)
        for balance in book.balances:
            rate = balance.rate_per_step
            if self.breakage == "book_rate_per_month_as_year":
                rate = rate * 360 / days
            splits = [book.splits.get(k, book.splits.get(None, {})) for k in tiers]
            share = np.array([split.get(balance.name, 0.0) for split in splits])
            earned = earned + aum * share[tier] * rate
        return fen(earned)

    def _account(self, t: int, decided: bool, responded: np.ndarray) -> None:
        c, st, out, book = self.c, self.st, self.out, self.book
        n = self.rows
        alive = st.alive[:n]
        counted = np.nonzero(alive >= 0)[0]
        arm = st.arm[counted].astype(np.int64)
        stage = np.where(alive[counted] == 0, STAGE_CHURNED, st.stage[counted]).astype(np.int64)
        tier = tier_of(c.tier_low, st.aum[counted])
        np.add.at(out.customers[t], (arm, stage, tier), 1)
        live = np.nonzero(alive == 1)[0]
        larm = st.arm[live].astype(np.int64)
        now = tier_of(c.tier_low, st.aum[live])
        # st.tier: the tier each row was counted in at the end of the last step (-1: never;
        # allocate and the drawing of new customers set it so).
        before = st.tier[live].astype(np.int64)
        if self.breakage == "tier_moves_from_decision" and t > 0:
            before = np.where(before >= 0, self.decision_tier[live], before)
        moved = (before >= 0) & (before != now)
        np.add.at(out.tier_moves[t], (larm[moved], before[moved], now[moved]), 1)
        st.tier[live] = now
        out.aum_fen[t] = _by_arm(larm, fen(st.aum[live]))
        held = st.hold_amt[live] > 0.0
        out.products_held[t] = _by_arm(larm, held.sum(axis=1))
        out.cross_sold[t] = _by_arm(larm, (held.sum(axis=1) >= 2).astype(np.int64))
        out.responders[t] = _by_arm(larm, responded[live].astype(np.int64))
        for d in range(len(c.products)):
            rows = live[held[:, d]]
            margin = fen(st.hold_amt[rows, d].astype(np.float64) * float(c.prod_margin[d]))
            out.revenue_fen[t] += _by_arm(st.arm[rows], margin)
            for p in range(self.n_plays):
                mine = st.hold_play[rows, d] == p
                col = FUNNEL_FIELDS.index("revenue_fen")
                out.funnel[t, p, :, col] += _by_arm(st.arm[rows][mine], margin[mine])
        if t > 0 and self.model.book is not None:
            earned = self._book_revenue(st.aum[live], tier[alive[counted] == 1])
            out.revenue_fen[t] += _by_arm(larm, earned)
            out.book_revenue_fen[t] += _by_arm(larm, earned)
            np.add.at(out.book_by_stage_fen[t], (larm, st.stage[live].astype(np.int64)), earned)
        if self.model.nps is not None:
            # Customers never contacted and who never responded have the base shares.
            base = self._nps(-1, t)
            for i in live:
                touched = bool(book.contacts[i]) or book.last_resp_any[i] != NEVER
                promoters, detractors = self._nps(int(i), t) if touched else base
                a = int(st.arm[i])
                out.promoters_ppm[t, a] += math.floor(promoters * 1e6 + 0.5)
                out.detractors_ppm[t, a] += math.floor(detractors * 1e6 + 0.5)
        if not decided:
            return
        n_segments = len(c.segments)
        for i in live:
            if self.eligible_any[i]:
                if book.contacts[i]:
                    continue
                kind = UNSERVED_KINDS.index("never_served")
            else:
                kind = UNSERVED_KINDS.index("no_play")
            a, k = int(st.arm[i]), int(self.decision_tier[i])
            for g in range(n_segments):
                if self.segbits[g][i]:
                    out.unserved[t, g, k, a, kind] += 1
            out.unserved[t, n_segments, k, a, kind] += 1

    def _nps(self, i: int, t: int) -> tuple[float, float]:
        """P(promoter), P(detractor): base shares moved by extra contacts in a window and by a
        recent response, clipped to [0, 1] with P(detractor) ≤ 1 − P(promoter)."""
        nps = self.model.nps
        assert nps is not None
        promoters, detractors = float(self.c.nps_promoters), float(self.c.nps_detractors)
        for s in range(self.c.nps_delta.size):
            delta, steps = float(self.c.nps_delta[s]), float(self.c.nps_steps[s])
            shift = 0.0
            if int(self.c.nps_per_contact[s]) == 1:
                if self.breakage == "nps_ignores_contacts":
                    continue
                recent = self.book.contacts[i][-RECENT:] if i >= 0 else []
                extra = sum(1 for step, _, _ in recent if t - step < steps)
                if extra > 1:
                    shift = delta * (extra - 1)
            else:
                last = int(self.book.last_resp_any[i]) if i >= 0 else NEVER
                if last != NEVER and t - last < steps:
                    shift = delta
            if int(self.c.nps_group[s]) == 0:
                promoters += shift
            else:
                detractors += shift
        promoters = min(max(promoters, 0.0), 1.0)
        detractors = min(max(detractors, 0.0), 1.0 - promoters)
        return promoters, detractors


def reference_run(
    model: CheckedStrategy,
    *,
    customers: int,
    steps: int,
    seed: int,
    rep: int = 0,
    breakage: str | None = None,
) -> ReferenceOutput:
    """One replication of ``model`` (arrivals scaled to ``customers`` as ``simulate`` does),
    step by step, in plain NumPy/Python."""
    return Reference(
        model, customers=customers, steps=steps, seed=seed, rep=rep, breakage=breakage
    ).run()


# ------------------------------------------------------------------------------ helpers


def _plain(c: CompiledStrategy) -> Any:
    """The compiled tables as plain attributes (``c.play_product``), quicker to read per
    customer than the dataclass's lookups."""
    values: dict[str, Any] = {**c.arrays, **c.scalars}
    for item in fields(c):
        if item.name not in ("arrays", "scalars"):
            values[item.name] = getattr(c, item.name)
    return SimpleNamespace(**values)


def _money(family: int, p1: float, p2: float, u: np.ndarray) -> np.ndarray:
    """Amounts from a `holding` (or `inflow`) distribution at uniforms ``u`` (0 for none)."""
    if family == FAM_CONSTANT:
        return np.full(u.shape, p1)
    if family == FAM_NORMAL:
        return p1 + p2 * rng.inv_normal(u)
    if family == FAM_LOGNORMAL:
        return p1 * rng.exp(p2 * rng.inv_normal(u))
    if family == FAM_UNIFORM:
        return p1 + (p2 - p1) * u
    return np.zeros(u.shape)


def _u(sk: np.ndarray, slot: int) -> float:
    """The customer's uniform of ``slot`` at the step of ``sk`` (one key)."""
    return float(rng.to_uniform(rng.draw(sk, slot))[0])


def _padded(values: np.ndarray | None, n: int) -> np.ndarray:
    """``values`` for rows [0, n): rows that did not exist then count 0."""
    out = np.zeros(n, dtype=np.float64 if values is None else values.dtype)
    if values is not None:
        out[: min(n, values.size)] = values[:n]
    return out


def _compare(value: np.ndarray, op: str, x: float) -> np.ndarray:
    ops = {
        "<": np.less,
        "<=": np.less_equal,
        ">": np.greater,
        ">=": np.greater_equal,
        "==": np.equal,
        "!=": np.not_equal,
    }
    return ops[op](value, x)


def _in_step(day: np.ndarray, t: int, step_days: int, period: int) -> np.ndarray:
    """Day ``day`` of a ``period``-day cycle falls in step t, which covers the days
    [(t − 1)·d, t·d) since the start."""
    first = ((t - 1) * step_days) % period
    return (day - first) % period < step_days


def _by_arm(arm: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Exact integer sums of ``values`` per arm."""
    arm = np.asarray(arm, dtype=np.int64)
    return np.array([int(values[arm == a].sum()) for a in range(N_ARMS)], dtype=np.int64)


def _conditions(model: CheckedStrategy) -> list[Any]:
    """Every condition node of the strategy (for the models' `top N%` it uses)."""
    roots: list[Any] = [s.condition for s in model.segments.values()]
    roots += [x.condition for x in model.triggers.values()]
    roots += [r.when for r in model.rules] + [r.on for r in model.rules]
    roots += [j.when for j in model.journeys] + [j.entry for j in model.journeys]
    roots += [ch.requires for ch in model.channels.values()]
    found = []
    stack = [r for r in roots if r is not None]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(getattr(node, "operands", ()))
        if hasattr(node, "operand"):
            stack.append(node.operand)
    return found


__all__ = ["BREAKAGES", "COUNTERS", "Reference", "ReferenceOutput", "State", "reference_run"]
