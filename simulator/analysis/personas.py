"""Persona tests: hand-made customers and what the strategy must decide for them.

    model, personas = personas_for(Path("strategies/wealth_2026q1.strat"))
    for result in run_personas(model, personas):
        print(result.name, result.passed, [o.message for o in result.outcomes])

A persona runs through the simulator's own decision kernel (``kernels.decide.decide_step``:
facts, audience, channels, eligibility, arbitration) on a one-row customer state built from the
persona's facts, with the randomness of the decision switched off: the persona is in the
treatment arm, outside every play's holdout, and in no model's top share unless its facts put it
in one (`given 流失模型 top 10%`). Nothing here decides
anything itself; it only builds the row, calls the kernel and reads the statuses the kernel
traces for that row (``kernels.S_*``). So a persona's decision is exactly the decision a
simulated customer with the same facts gets in the step the persona describes.

The semantics (docs/ci.md, "Persona tests"):

* The decision is taken at step 1 of a run. Facts not given take the population's typical
  value: yes/no attributes are no; numbers are the median of their distribution; categories
  (risk tolerance and stage included) the most common one. The persona has been in its stage,
  and a customer, for a long time, transacted in the current step, holds nothing, was never
  contacted, and no trigger fires unless its facts make it fire or it is given as an `event`.
* `holds P`: an amount of P (its minimum, at least 1) that does not mature this step.
  `received P D ago`: P's last contact D steps before the decision, counted in the policy's
  contact caps and fatigue too; for a journey, its first wave came D steps ago and every wave
  due since then was received on time. `event T`: trigger T fires in this step (the kernel's
  forced-trigger bits, ``SC_FORCED_TRIGGERS``, which are 0 in every simulation).
* `M top S`: the customer is in model M's top S of scores, so in every top share of M of at
  least S (`top 10%` and `top 20%` hold, `top 5%` does not); every other model's top misses it.
* Channel capacity and play budgets are shared by many customers; for one customer they never
  bind, so `suppressed … by capacity | budget | holdout | control` cannot hold.

When an outcome's result changes with an attribute the persona does not give, the result
carries a warning that names it (``PersonaResult.warnings``): the test passes by accident of
the default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator.analysis.persona_results import (
    NOT_CANDIDATE,
    REASON_OF_STATUS,
    WON,
    Decision,
    OutcomeResult,
    PersonaError,
    PersonaResult,
    PlayCoverage,
    PlayDecision,
    judge,
    outcome_text,
)
from simulator.kernels import common as k
from simulator.kernels.decide import decide_step
from simulator.kernels.population import STAGE_AGE_CAP, State, allocate
from simulator.kernels.rng import SLOT_HOLDOUT, STATIC_STEP, replication_key, uniform
from strategy_dsl.calendar import months_to_steps, steps_to_months
from strategy_dsl.compile import (
    ATTR_AGE,
    ATTR_AUM,
    ATTR_CATEGORY,
    ATTR_MONTHS_SINCE_TXN,
    ATTR_NUMBER,
    ATTR_PROPENSITY,
    ATTR_STAGE,
    ATTR_TENURE,
    ATTR_TXN_3M,
    ATTR_TXN_PER_MONTH,
    CMP,
    DEFAULT_CLAMPS,
    DEFAULTS,
    NEVER_STEP,
    OP_COMPARE,
    OP_ENTERED,
    OP_IN_CODES,
    OP_IN_NUMBERS,
    OP_INACTIVE,
    OP_RANGE,
    STAGE_INDEX,
    CompileError,
    compile_strategy,
)
from strategy_dsl.model import CheckedStrategy, PersonaSpec

__all__ = [
    "NOT_CANDIDATE",
    "WON",
    "Decision",
    "OutcomeResult",
    "PersonaError",
    "PersonaResult",
    "PlayCoverage",
    "PlayDecision",
    "decide",
    "outcome_text",
    "persona_coverage",
    "personas_for",
    "run_personas",
]

DECISION_STEP = 1  # the step every persona's decision is taken at (the first of a run)
_LONG_AGO = STAGE_AGE_CAP  # steps: "for a long time" (stage entered, customer acquired)
_NOT_IN_TOP = 2.0  # a model cutoff no noise uniform reaches: in no model's top share
_CIDS_SEARCHED = 4096  # customer ids tried for one outside every holdout
_STAGES_LIVE = ("new", "growing", "mature", "declining")
_IN_STEPS = ("months_since_txn", "tenure_months")  # stored as the step of an event


# ------------------------------------------------------------------------------ entry points


def personas_for(path: Path, *, own_only: bool = True) -> tuple[CheckedStrategy, list[PersonaSpec]]:
    """The checked strategy of ``path`` and its personas. A test file beside a map
    (``foo_test.strat`` with ``import "foo.strat"``) is the map plus its own personas; with
    ``own_only`` (the default) only the personas declared in ``path`` itself are returned, so
    that testing a folder runs each persona once. Raises ``PersonaError`` when the file does
    not check."""
    from strategy_dsl.checker import check_file

    if path.is_dir():
        raise PersonaError(
            f"{path} is a folder", "give one strategy file: a map, or a test file beside it"
        )
    report = check_file(path)
    errors = [d for d in report.diagnostics if d.is_error]
    shown = next(iter(report.models), None) or str(path)
    if errors:
        first = errors[0]
        where = f"{first.span.file}:{first.span.line}:{first.span.column}"
        raise PersonaError(
            f"{shown} has {len(errors)} error{'s' if len(errors) > 1 else ''}; the first: "
            f"{where}: {first.message}",
            f"run `stratmap check {path}` and fix the errors before testing personas",
        )
    if not report.models:
        raise PersonaError(f"{path} has no strategy to test", "check the path")
    (entry, model), *_ = report.models.items()
    personas = [p for p in model.personas.values() if not own_only or p.span.file == entry]
    return model, personas


def run_personas(
    model: CheckedStrategy,
    personas: Iterable[PersonaSpec] | None = None,
    *,
    sensitivity: bool = True,
) -> list[PersonaResult]:
    """Run ``personas`` (default: all of the model's) through the decision kernel and judge
    each outcome. ``sensitivity`` also re-decides each persona with other values of the
    attributes it does not give, and warns where an outcome's result would change."""
    chosen = list(model.personas.values()) if personas is None else list(personas)
    if not chosen:
        return []
    bench = _Bench(model)
    return [bench.run(persona, sensitivity) for persona in chosen]


def decide(model: CheckedStrategy, persona: PersonaSpec) -> Decision:
    """The decision for one persona (no outcomes judged)."""
    bench = _Bench(model)
    facts, problem = bench.facts(persona)
    if problem is not None:
        raise PersonaError(f"persona `{persona.name}`: {problem}")
    return bench.decide(facts)


def persona_coverage(
    model: CheckedStrategy, results: Sequence[PersonaResult]
) -> list[PlayCoverage]:
    """Every rule and journey of ``model`` with the personas that reached it (as decided for
    the facts given; the sensitivity re-runs do not count)."""
    owners = [(r.name, "rule") for r in model.rules] + [(j.name, "journey") for j in model.journeys]
    return [
        PlayCoverage(
            owner,
            kind,
            tuple(r.name for r in results if owner in r.candidates),
            tuple(r.name for r in results if owner in r.won),
        )
        for owner, kind in owners
    ]


# ------------------------------------------------------------------------------ facts


@dataclass
class _Facts:
    """A persona's customer, every attribute resolved (given or default)."""

    values: dict[str, Any]  # attribute → value (risk as 1..5, flags as bool, categories str)
    stage: str
    holdings: tuple[str, ...]
    received: tuple[tuple[str, int], ...]
    events: tuple[str, ...]
    given: frozenset[str] = field(default_factory=frozenset)  # attributes the persona gives
    tops: tuple[tuple[str, float], ...] = ()  # (model, share): in that model's top share
    notes: list[str] = field(default_factory=list)  # facts kept differently than written


def _median(family: str, params: dict[str, float], categories: Sequence[tuple[Any, float]]) -> Any:
    """The typical value of a distribution: its median (the most common category; no for a
    yes/no attribute, whatever its share)."""
    p = params
    if family == "categorical":
        best = max(share for _, share in categories)
        return next(value for value, share in categories if share == best)
    if family == "bernoulli":
        return False
    if family == "constant":
        return p.get("value", 0.0)
    if family == "normal":
        return p.get("mean", 0.0)
    if family == "lognormal":
        return p.get("median", 0.0)
    if family == "poisson":
        lam = p.get("lambda", 0.0)
        return float(math.floor(lam + 1 / 3 - 0.02 / lam)) if lam > 0 else 0.0
    if family == "uniform":
        return (p.get("low", 0.0) + p.get("high", 0.0)) / 2
    if family == "beta":
        a, b = p.get("a", 1.0), p.get("b", 1.0)
        return (a - 1 / 3) / (a + b - 2 / 3) if a > 1 and b > 1 else a / (a + b)
    return 0.0


class _Bench:
    """One strategy's decision kernel, ready for one-row customers."""

    def __init__(self, model: CheckedStrategy) -> None:
        try:
            compiled = compile_strategy(model)
        except CompileError as exc:
            raise PersonaError(exc.message, exc.hint) from None
        self.model, self.c = model, compiled
        self.tb = k.make_tables(compiled)
        self.t = DECISION_STEP
        self.step_days = int(compiled.step_days)
        self.rk = replication_key(compiled.seed, 0)
        self.cid = self._outside_holdouts()
        shares = np.asarray(compiled.top_share, dtype=np.float64)
        # Every model's top share misses the persona, except a top of 100% (everyone).
        row = np.where(shares >= 1.0, 0.0, _NOT_IN_TOP)
        # (Persistence row 0: the uniform test decides, for a persona as for any customer.)
        zeros = np.zeros_like(row)
        self.cutoffs = np.ascontiguousarray(np.vstack([row, row, zeros, zeros, zeros]))
        groups = np.asarray(compiled.play_group, dtype=np.int64)
        self.owners = tuple(compiled.groups[int(g)] for g in groups)
        self.population = model.population.attributes if model.population else {}
        self.typical = self._typical_values()
        self.atoms = self._atoms()

    # -- the customer ------------------------------------------------------------------------

    def _outside_holdouts(self) -> int:
        """A customer id whose holdout draws put it outside every play's holdout."""
        shares = np.asarray(self.tb.group_holdout, dtype=np.float64)
        cids = np.arange(_CIDS_SEARCHED, dtype=np.int64)
        ok = np.ones(cids.size, dtype=bool)
        for g, share in enumerate(shares):
            if share > 0.0:
                ok &= uniform(self.rk, cids, STATIC_STEP, SLOT_HOLDOUT + g) >= share
        found = np.nonzero(ok)[0]
        return int(found[0]) if found.size else 0

    def _spec(self, name: str) -> tuple[str, dict[str, float], Sequence[tuple[Any, float]]] | None:
        spec = self.population.get(name)
        if spec is not None:
            d = spec.distribution
            return d.family, d.params, d.categories
        return DEFAULTS.get(name)

    def _typical_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in ("aum", "age", "risk_tolerance", "stage", "txn_per_month"):
            family, params, categories = self._spec(name)  # type: ignore[misc]
            values[name] = self._clamp(name, _median(family, params, categories))
        values["risk_tolerance"] = int(values["risk_tolerance"])
        # Propensity at the population's mean: response and value exactly as the average.
        values["propensity"] = float(self.tb.sc_f[k.SCF_MEAN_PROPENSITY])
        for name in ("tenure_months", "months_since_txn"):
            spec = self.population.get(name)
            if spec is not None:
                d = spec.distribution
                values[name] = self._clamp(name, _median(d.family, d.params, d.categories))
            else:
                values[name] = None  # tenure: long ago; recency: a transaction this step
        values["txn_3m"] = None  # derived from the transaction rate
        for name, spec in self.population.items():
            if name in values or name in ("products_held",):
                continue
            d = spec.distribution
            values[name] = self._clamp(name, _median(d.family, d.params, d.categories))
        return values

    def _clamp(self, name: str, value: Any) -> Any:
        spec = self.population.get(name)
        clamp = spec.clamp if spec is not None else DEFAULT_CLAMPS.get(name)
        if clamp is None or isinstance(value, (str, bool)):
            return value
        return min(max(value, clamp[0]), clamp[1])

    def facts(self, persona: PersonaSpec) -> tuple[_Facts, str | None]:
        """The persona's customer, or a problem that makes it impossible to build."""
        values = dict(self.typical)
        given = dict(persona.attributes)
        tier = given.pop("tier", None)
        held = given.pop("products_held", None)
        values.update(given)
        stage = persona.stage or str(values.pop("stage"))
        values.pop("stage", None)
        facts = _Facts(
            values,
            stage,
            tuple(persona.holdings),
            tuple(persona.received),
            tuple(persona.events),
            frozenset(persona.attributes) | ({"stage"} if persona.stage else set()),
            tuple(persona.tops),
        )
        if tier is not None:
            problem = self._tier(facts, str(tier), "aum" in given)
            if problem:
                return facts, problem
        if held is not None:
            count = len(set(facts.holdings))
            if int(held) != count:
                return facts, (
                    f"`products_held {held:g}` is counted from the persona's holdings, and it "
                    f"holds {count}; give the products with `holds PRODUCT` instead"
                )
        facts.notes = self._notes(persona)
        return facts, None

    def _notes(self, persona: PersonaSpec) -> list[str]:
        """Facts the simulator keeps differently from how the persona wrote them."""
        notes = []
        for product in persona.holdings:
            if product not in self.c.products:
                notes.append(
                    f"`holds {product}` changes nothing: the strategy neither offers nor names "
                    f"{product}, so the simulator does not keep it"
                )
        for name in _IN_STEPS:
            months = persona.attributes.get(name)
            if isinstance(months, float) and months * 30 / self.step_days != self._steps(months):
                shown = self._steps(months) * self.step_days / 30
                notes.append(
                    f"`{name} {months:g}` is not a whole number of steps "
                    f"({self.c.step_unit}s); it is taken as {shown:g}"
                )
        return notes

    def _tier(self, facts: _Facts, tier: str, aum_given: bool) -> str | None:
        spec = next((t for t in self.model.tiers if t.name == tier), None)
        if spec is None:
            return f"tier `{tier}` is not declared"
        aum = facts.values["aum"]
        if aum_given:
            if not spec.low <= aum < spec.high:
                return f"aum {aum:,.0f} is not in tier {tier} ({_range(spec.low, spec.high)})"
            return None
        # AUM inside the tier: the middle of its range (twice the low of an open top tier).
        if math.isinf(spec.high):
            facts.values["aum"] = max(spec.low * 2, spec.low + 1.0)
        elif math.isinf(spec.low) or spec.low <= 0:
            facts.values["aum"] = spec.high / 2
        else:
            facts.values["aum"] = (spec.low + spec.high) / 2
        return None

    def row(self, facts: _Facts) -> State:
        """A one-row state holding the persona's customer at the decision step."""
        tb, c, t = self.tb, self.c, self.t
        st = allocate(tb, 1)
        v = facts.values
        st.cid[0] = self.cid
        st.alive[0] = 0 if facts.stage == "churned" else 1
        st.arm[0] = 0
        st.stage[0] = STAGE_INDEX[facts.stage]
        st.risk[0] = int(v["risk_tolerance"])
        st.aum[0] = float(v["aum"])
        st.age0[0] = self._f32(ATTR_AGE, float(v["age"]), t * self.step_days / 360.0)
        st.propensity[0] = self._f32(ATTR_PROPENSITY, float(v["propensity"]))
        st.txn_rate[0] = self._f32(ATTR_TXN_PER_MONTH, float(v["txn_per_month"]))
        st.stage_since[0] = t - _LONG_AGO
        tenure = v.get("tenure_months")
        st.acquired[0] = t - (_LONG_AGO if tenure is None else self._steps(tenure))
        recency = v.get("months_since_txn")
        st.last_txn[0] = t - (0 if recency is None else self._steps(recency))
        st.last_resp_any[0] = NEVER_STEP
        st.last_contact_any[0] = NEVER_STEP
        flags = 0
        for bit, name in enumerate(c.flags):
            if v.get(name) is True:
                flags |= 1 << bit
        st.flags[0] = flags
        # Birthdays and paydays away from the decision step, so that calendar triggers fire only
        # as `event`s (or always, when a step covers the whole cycle: salary with `step month`).
        st.birthday[0] = self._off_step(360)
        st.payday[0] = self._off_step(30)
        for col, name in enumerate(c.categories):
            st.cats[0, col] = self._category_code(name, v.get(name))
        for col, name in enumerate(c.numbers):
            st.nums[0, col] = self._f32(ATTR_NUMBER + col, float(v.get(name, 0.0)))
        st.hold_amt[0, :] = 0.0
        st.hold_until[0, :] = NEVER_STEP
        st.hold_play[0, :] = -1
        for product in facts.holdings:
            if product in c.products:
                d = c.products.index(product)
                st.hold_amt[0, d] = max(float(tb.prod_f[k.PRF_MIN, d]), 1.0)
                st.hold_until[0, d] = k.NO_MATURITY
        st.last_contact[0, :] = NEVER_STEP
        st.last_resp[0, :] = NEVER_STEP
        st.journey_start[0, :] = NEVER_STEP
        st.ring[0, :] = NEVER_STEP
        st.effect_until[0, :] = NEVER_STEP
        st.aum_ring[0, :] = np.float32(st.aum[0])  # AUM steady: no rise or drop
        st.flow_ring[0, :] = 0.0  # no inflow or outflow
        self._transactions(st, v)
        for owner, ago in facts.received:
            self._received(st, owner, ago)
        return st

    def _steps(self, months: float) -> int:
        """Months (a fact's unit) as whole steps before the decision."""
        return min(max(months_to_steps(months, self.step_days), 0), _LONG_AGO)

    def _off_step(self, period: int) -> int:
        """A day of a ``period``-day cycle outside the decision step (any day when a step
        covers the cycle)."""
        first = ((self.t - 1) * self.step_days) % period
        return (first + self.step_days) % period if self.step_days < period else 0

    def _category_code(self, name: str, value: Any) -> int:
        spec = self.population[name]
        for i, (category, _) in enumerate(spec.distribution.categories):
            if str(category) == str(value):
                return i
        return 0

    def _transactions(self, st: State, v: dict[str, Any]) -> None:
        """``txn_3m`` in the transaction ring: as given, else the rate's three months (none
        when the last transaction is older than the ring)."""
        length = int(self.tb.sc_i[k.SC_TXN_RING_LEN])
        if length == 0:
            return
        count = v.get("txn_3m")
        if count is None:
            idle = self.t - int(st.last_txn[0])
            rate = float(v["txn_per_month"])
            count = 0 if idle >= length else max(1, round(rate * 3))
        left = max(round(float(count)), 0)
        for slot in range(length):
            st.txn_ring[0, slot] = min(left, 255)
            left -= int(st.txn_ring[0, slot])

    def _received(self, st: State, owner: str, ago: int) -> None:
        c, tb, t = self.c, self.tb, self.t
        when = t - min(max(int(ago), 0), _LONG_AGO)
        plays = [p for p, o in enumerate(self.owners) if o == owner]
        if not plays:
            return
        if c.play_kinds[plays[0]] == "rule":
            self._contact(st, plays[0], when)
            return
        j = int(tb.play_i[k.PL_JOURNEY, plays[0]])
        start = when - int(tb.play_i[k.PL_AFTER, plays[0]])
        st.journey_start[0, j] = max(start, NEVER_STEP + 1)
        for p in plays:  # every wave due since the first, received on time
            step = start + int(tb.play_i[k.PL_AFTER, p])
            if step < t:
                self._contact(st, p, step)

    def _contact(self, st: State, p: int, step: int) -> None:
        """Stamp a contact of play p at ``step``: cooldown, every cap that counts it, the
        recent contacts (fatigue), the last contact."""
        tb = self.tb
        st.last_contact[0, p] = max(int(st.last_contact[0, p]), step)
        st.last_contact_any[0] = max(int(st.last_contact_any[0]), step)
        channel = int(tb.play_i[k.PL_CHANNEL, p])
        rings = []
        for cap in range(tb.cap_i.shape[1]):
            scope, index = int(tb.cap_i[k.CP_SCOPE, cap]), int(tb.cap_i[k.CP_INDEX, cap])
            if scope == 0 or (scope == 1 and index == channel) or (scope == 2 and index == p):
                rings.append((int(tb.cap_i[k.CP_OFFSET, cap]), int(tb.cap_i[k.CP_COUNT, cap])))
        if tb.sc_i[k.SC_RECENT_LEN] > 0:
            rings.append((int(tb.sc_i[k.SC_RECENT_OFFSET]), int(tb.sc_i[k.SC_RECENT_LEN])))
        for start, length in rings:
            if length <= 0:
                continue
            ring = st.ring[0, start : start + length]
            ring[int(np.argmin(ring))] = step  # over the oldest entry

    # -- float32 fields -----------------------------------------------------------------------

    def _atoms(self) -> dict[int, list[tuple[int, int, float, float, tuple[float, ...]]]]:
        """Per attribute code, the comparisons the strategy makes on it: (op, cmp, x, y,
        values)."""
        tb = self.tb
        found: dict[int, list[tuple[int, int, float, float, tuple[float, ...]]]] = {}
        for pc in range(tb.prog_i.shape[1]):
            op = int(tb.prog_i[k.PI_OP, pc])
            if op not in (OP_COMPARE, OP_RANGE, OP_IN_NUMBERS):
                continue
            a, b, cnt = (int(tb.prog_i[r, pc]) for r in (k.PI_A, k.PI_B, k.PI_C))
            x, y = float(tb.prog_v[k.PF_X, pc]), float(tb.prog_v[k.PF_Y, pc])
            listed = tb.in_values[b : b + cnt] if op == OP_IN_NUMBERS else ()
            values = tuple(float(v) for v in listed)
            found.setdefault(a, []).append((op, b, x, y, values))
        return found

    def _truths(self, code: int, value: float) -> tuple[bool, ...]:
        out = []
        for op, cmp, x, y, values in self.atoms.get(code, ()):
            if op == OP_COMPARE:
                out.append(_compare(value, cmp, x))
            elif op == OP_RANGE:
                out.append(x <= value < y)
            else:
                out.append(value in values)
        return tuple(out)

    def _f32(self, code: int, value: float, offset: float = 0.0) -> np.float32:
        """The float32 the state stores for ``value`` (read back as stored + ``offset``) that
        every comparison the strategy makes on the attribute sees as the value itself: the
        nearest float32 can land on the wrong side of a threshold equal to the value."""
        near = np.float32(value - offset)
        wanted = self._truths(code, value)
        up, down = near, near
        candidates = [near]
        for _ in range(3):
            up = np.nextafter(up, np.float32(np.inf), dtype=np.float32)
            down = np.nextafter(down, np.float32(-np.inf), dtype=np.float32)
            candidates += [up, down]
        for candidate in candidates:
            if self._truths(code, float(candidate) + offset) == wanted:
                return candidate
        return near

    # -- deciding -----------------------------------------------------------------------------

    def _cutoffs(self, tops: Sequence[tuple[str, float]]) -> np.ndarray:
        """The model cutoffs for a persona: a top slot of a model the persona is in the top
        share of, for a share at least as large, lets every score through (cutoff 0)."""
        if not tops:
            return self.cutoffs
        given = dict(tops)
        cutoffs = self.cutoffs.copy()
        for slot, (model, share) in enumerate(zip(self.c.top_model, self.c.top_share, strict=True)):
            within = given.get(self.c.models[int(model)])
            if within is not None and float(share) >= within - 1e-12:
                cutoffs[:, slot] = 0.0
        return np.ascontiguousarray(cutoffs)

    def decide(self, facts: _Facts) -> Decision:
        tb, c = self.tb, self.c
        st = self.row(facts)
        forced = 0
        for name in facts.events:
            forced |= 1 << c.triggers.index(name)
        tables = tb
        if forced:
            sc_i = tb.sc_i.copy()
            sc_i[k.SC_FORCED_TRIGGERS] = np.uint64(forced).astype(np.int64)
            tables = tb._replace(sc_i=sc_i)
        n_plays = len(c.plays)
        funnel = np.zeros((1, n_plays, 2, k.N_FUNNEL), dtype=np.int64)
        proposals = np.zeros((1, n_plays), dtype=np.int64)
        trace = np.zeros(k.TRACE_INTS, dtype=np.int64)
        cutoffs = self._cutoffs(facts.tops)
        decide_step(tables, st, 1, self.t, self.rk, cutoffs, funnel, proposals, 0, trace)
        plays = []
        for p, name in enumerate(c.plays):
            code = int(trace[k.TR_PLAYS + p])
            status = (
                WON
                if code == k.S_WINNER
                else NOT_CANDIDATE
                if code == k.S_NONE
                else REASON_OF_STATUS[code]
            )
            plays.append(PlayDecision(name, self.owners[p], c.play_channels[p], status))
        alive = int(st.alive[0]) == 1
        return Decision(
            tuple(plays),
            c.tiers[int(trace[k.TR_TIER])] if alive else "",
            _bits(int(trace[k.TR_SEGMENTS]), c.segments),
            _bits(int(trace[k.TR_TRIGGERS]), c.triggers),
            _bits(int(trace[k.TR_JOURNEYS]), tuple(j.name for j in self.model.journeys)),
            alive,
        )

    def run(self, persona: PersonaSpec, sensitivity: bool) -> PersonaResult:
        facts, problem = self.facts(persona)
        if problem is not None:
            failed = tuple(
                OutcomeResult(o, False, f"not decided: {problem}") for o in persona.outcomes
            )
            return PersonaResult(persona.name, persona.span, failed, None, (), problem)
        decision = self.decide(facts)
        judged = tuple(judge(o, decision) for o in persona.outcomes)
        warnings = tuple(facts.notes)
        if sensitivity:
            warnings += self._sensitivity(persona, facts, judged)
        return PersonaResult(persona.name, persona.span, judged, decision, warnings)

    # -- unstated attributes ----------------------------------------------------------------

    def _sensitivity(
        self, persona: PersonaSpec, facts: _Facts, judged: tuple[OutcomeResult, ...]
    ) -> tuple[str, ...]:
        """Re-decide with other values of each attribute the persona does not give; one
        warning per attribute that changes an outcome's result."""
        warnings = []
        base = tuple(o.passed for o in judged)
        for name, default, alternatives in self._alternatives(facts):
            for value in alternatives:
                other = dataclasses.replace(facts, values=dict(facts.values))
                if name == "stage":
                    other.stage = str(value)
                else:
                    other.values[name] = value
                decision = self.decide(other)
                again = tuple(judge(o.outcome, decision) for o in judged)
                changed = [
                    (o, n) for o, n, was in zip(judged, again, base, strict=True) if n.passed != was
                ]
                if not changed:
                    continue
                first, now = changed[0]
                verdict = "pass" if now.passed else "fail"
                warnings.append(
                    f"`{persona.name}` does not give `{name}` (taken as {_show(name, default)}): "
                    f"with {name} {_show(name, value)}, `{first.text}` would {verdict} "
                    f"({now.message}); give `{name}` to make the test say what it means"
                )
                break
        return tuple(warnings)

    def _alternatives(self, facts: _Facts) -> list[tuple[str, Any, list[Any]]]:
        """(attribute, default, other values) for every attribute the persona does not give
        and the decision can read: each category, and both sides of every threshold the
        strategy compares a number with. Yes/no attributes are not among them: a persona lists
        those that hold, so one it leaves out is a stated no (the language has no other way to
        say no)."""
        c, tb, given = self.c, self.tb, facts.given
        out: list[tuple[str, Any, list[Any]]] = []
        v = facts.values
        ops = {int(o) for o in tb.prog_i[k.PI_OP]}
        pairs = list(zip(tb.prog_i[k.PI_OP].tolist(), tb.prog_i[k.PI_A].tolist(), strict=True))
        codes = {a for o, a in pairs if o == OP_IN_CODES}  # stages and categories named
        if "risk_tolerance" not in given:
            levels = self._levels("risk_tolerance") or [1, 2, 3, 4, 5]
            out.append(("risk_tolerance", v["risk_tolerance"],
                        [x for x in levels if x != v["risk_tolerance"]]))  # fmt: skip
        reads_stage = ATTR_STAGE in codes or ATTR_STAGE in self.atoms or OP_ENTERED in ops
        if "stage" not in given and reads_stage:
            stages = [s for s in (self._levels("stage") or _STAGES_LIVE) if s in _STAGES_LIVE]
            out.append(("stage", facts.stage, [s for s in stages if s != facts.stage]))
        for col, name in enumerate(c.categories):
            if name not in given and ATTR_CATEGORY + col in codes:
                levels = [str(x) for x in self._levels(name)]
                out.append((name, v.get(name), [x for x in levels if x != str(v.get(name))]))
        numbers: list[tuple[str, int]] = [
            ("aum", ATTR_AUM),
            ("age", ATTR_AGE),
            ("txn_per_month", ATTR_TXN_PER_MONTH),
            ("txn_3m", ATTR_TXN_3M),
            ("tenure_months", ATTR_TENURE),
            ("months_since_txn", ATTR_MONTHS_SINCE_TXN),
            ("propensity", ATTR_PROPENSITY),
        ] + [(name, ATTR_NUMBER + col) for col, name in enumerate(c.numbers)]
        for name, code in numbers:
            if name in given or (name == "aum" and "tier" in given):
                continue
            points = [p for atom in self.atoms.get(code, ()) for p in _points(atom)]
            if name == "aum":
                points += [float(x) for x in tb.tier_low if math.isfinite(float(x))]
            if name == "months_since_txn" and OP_INACTIVE in ops:
                for pc in np.nonzero(tb.prog_i[k.PI_OP] == OP_INACTIVE)[0]:
                    points.append(steps_to_months(float(tb.prog_v[k.PF_X, pc]), self.step_days))
            if name == "propensity" and tb.sc_i[k.SC_ARBITRATE] == 1:
                mean = float(tb.sc_f[k.SCF_MEAN_PROPENSITY])
                points += [mean / 4, min(1.0, mean * 4)]
            if name in _IN_STEPS:  # kept as whole steps: the steps around each threshold
                per = self.step_days / 30
                points = [n * per for p in points for n in _whole_around(p / per)]
                values = sorted({x for x in points if x >= 0})
            else:
                values = sorted({x for p in points for x in _around(p) if x >= 0})
            default = v.get(name)
            values = [x for x in values if default is None or x != default]
            if values:
                out.append((name, default, values))
        return out

    def _levels(self, name: str) -> list[Any]:
        found = self._spec(name)
        if found is None or found[0] != "categorical":
            return []
        return [value for value, share in found[2] if share > 0]


# ------------------------------------------------------------------------------ helpers


def _compare(value: float, cmp: int, x: float) -> bool:
    return {
        CMP["<"]: value < x,
        CMP["<="]: value <= x,
        CMP[">"]: value > x,
        CMP[">="]: value >= x,
        CMP["=="]: value == x,
    }.get(cmp, value != x)


def _points(atom: tuple[int, int, float, float, tuple[float, ...]]) -> list[float]:
    op, _, x, y, values = atom
    if op == OP_COMPARE:
        return [x]
    if op == OP_RANGE:
        return [p for p in (x, y) if math.isfinite(p)]
    return list(values)


def _around(point: float) -> tuple[float, ...]:
    """A threshold and both sides of it, a hair apart (what decides a comparison)."""
    if not math.isfinite(point):
        return ()
    hair = max(abs(point), 1.0) * 1e-5
    return (point - hair, point, point + hair)


def _bits(value: int, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for b, name in enumerate(names) if (value >> b) & 1)


def _range(low: float, high: float) -> str:
    if math.isinf(high):
        return f">= {low:,.0f}"
    if math.isinf(low):
        return f"< {high:,.0f}"
    return f"{low:,.0f} .. {high:,.0f}"


def _show(name: str, value: Any) -> str:
    if value is None:
        return {"months_since_txn": "0", "tenure_months": "long", "txn_3m": "derived"}.get(
            name, "none"
        )
    if name == "risk_tolerance":
        return f"C{int(value)}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _whole_around(steps: float) -> tuple[int, ...]:
    if not math.isfinite(steps):
        return ()
    low = math.floor(steps)
    return tuple(range(max(low - 1, 0), low + 3))
