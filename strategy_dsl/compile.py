"""Compile a checked strategy into plain NumPy tables: the simulator's only input.

    compiled = compile_strategy(model)      # CheckedStrategy -> CompiledStrategy

The tables are arrays of numbers and tuples of names; nothing in them refers back to the checked
model, so the kernels (Numba) read them without knowing the language. This module also defines
the table *format* (opcodes, attribute codes, distribution families): the kernels import those
integer constants from here, the stage before them, and nothing else of the DSL. The checked
model is imported lazily, so importing this module costs NumPy only.

Conditions become a small jump program: each instruction tests one atom (an attribute
comparison, a segment bit, an event) and jumps to ``true_next`` or ``false_next``; the targets
``TRUE`` and ``FALSE`` end the evaluation. ``and``/``or``/``not`` are compiled into the jumps,
so evaluation short-circuits and needs no stack. Segments are evaluated once per customer per
step into bits that rules read (``OP_SEGMENT``); lifecycle modifiers run before segments exist
in the step, so their segment references are inlined.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from strategy_dsl import model as m

# ------------------------------------------------------------------------------ the format

STAGES = ("prospect", "new", "growing", "mature", "declining", "churned")
STAGE_INDEX = {name: i for i, name in enumerate(STAGES)}
STAGE_PROSPECT, STAGE_NEW, STAGE_CHURNED = 0, 1, 5
N_STAGES = len(STAGES)

# Attribute codes: built-ins below 100; custom numbers 100+column, categories 200+column.
ATTR_AUM, ATTR_AGE, ATTR_STAGE, ATTR_RISK, ATTR_MONTHS_SINCE_TXN = 0, 1, 2, 3, 4
ATTR_TXN_3M, ATTR_TXN_PER_MONTH, ATTR_TENURE, ATTR_PRODUCTS_HELD, ATTR_PROPENSITY = 5, 6, 7, 8, 9
ATTR_NUMBER, ATTR_CATEGORY, ATTR_FLAG = 100, 200, 300
BUILTIN_ATTRIBUTES = {
    "aum": ATTR_AUM,
    "age": ATTR_AGE,
    "stage": ATTR_STAGE,
    "risk_tolerance": ATTR_RISK,
    "months_since_txn": ATTR_MONTHS_SINCE_TXN,
    "txn_3m": ATTR_TXN_3M,
    "txn_per_month": ATTR_TXN_PER_MONTH,
    "tenure_months": ATTR_TENURE,
    "products_held": ATTR_PRODUCTS_HELD,
    "propensity": ATTR_PROPENSITY,
}
# The attribute draws' slot index (x64 sub-slots): fixed for built-ins, so adding an attribute
# to a population never changes the draws of another; custom attributes follow from 16.
BUILTIN_SLOT = {"aum": 0, "age": 1, "risk_tolerance": 2, "stage": 3, "txn_per_month": 4}
BUILTIN_SLOT |= {"propensity": 5, "tenure_months": 6, "months_since_txn": 7}
CUSTOM_SLOT_BASE = 16

# Opcodes of the condition program (operands a, b, c: int64; x, y: float64).
OP_FLAG = 1  # custom yes/no attribute bit a is set
OP_COMPARE = 2  # attribute a, comparison b (CMP_*), value x
OP_RANGE = 3  # x <= attribute a < y
OP_IN_NUMBERS = 4  # attribute a is one of in_values[b : b + c]
OP_IN_CODES = 5  # stage or category a has its code's bit in mask b
OP_SEGMENT = 6  # segment a holds (bits computed earlier in the step)
OP_TIER = 7  # the customer is in tier a
OP_TRIGGER = 8  # trigger a fired this step
OP_MODEL_TOP = 9  # model a's score >= the cutoff of top slot b
OP_RFM = 10  # the RFM bits (R<<2 | F<<1 | M) equal a
OP_ENTERED = 11  # stage a: entered this step (b = 1, event) or within x steps (b = 0)
OP_AUM_CHANGE = 12  # AUM fell (a = 0) / rose (a = 1) by >= x against b steps ago
OP_FLOW = 13  # outflow (a = 0) / inflow (a = 1) summed over the last c steps, compared (b) to x
OP_MATURES = 14  # a holding of product a matured this step
OP_INACTIVE = 15  # no transaction for >= x steps (b = 1: the step this becomes true)
OP_EVERY = 16  # the step is a multiple of a
OP_BIRTHDAY = 17
OP_SALARY = 18
OP_RESPONDED = 19  # responded to group a within x steps (b = 1: responded last step)
OP_HOLDS = 20  # holds product a
TRUE, FALSE = -1, -2  # jump targets that end an evaluation
CMP = {"<": 0, "<=": 1, ">": 2, ">=": 3, "==": 4, "!=": 5}

FAM_NONE, FAM_CONSTANT, FAM_NORMAL, FAM_LOGNORMAL, FAM_POISSON = 0, 1, 2, 3, 4
FAM_UNIFORM, FAM_BETA, FAM_BERNOULLI, FAM_CATEGORICAL, FAM_GAMMA = 5, 6, 7, 8, 9
FAMILY = {"constant": 1, "normal": 2, "lognormal": 3, "poisson": 4, "uniform": 5, "beta": 6}
FAMILY |= {"bernoulli": 7, "categorical": 8, "gamma": 9}
FAMILY_PARAMS = {"constant": ("value", ""), "normal": ("mean", "sd"), "poisson": ("lambda", "")}
FAMILY_PARAMS |= {"lognormal": ("median", "sigma"), "uniform": ("low", "high"), "beta": ("a", "b")}
FAMILY_PARAMS |= {"bernoulli": ("p", ""), "gamma": ("shape", "mean")}

PLAY_RULE, PLAY_WAVE = 0, 1
CAP_ALL, CAP_CHANNEL, CAP_PLAY = 0, 1, 2
MODEL_STAGE, MODEL_LATENT = 0, 1  # predicts entering a stage (churn: churned) / a response
ARBITRATE = {"priority": 0, "value": 1}
RECENT_CONTACTS = 8  # contacts remembered for fatigue and NPS (counts saturate here)
MAX_AUC_SEPARATION = 12.0  # auc 1 → a separation of 12 standard deviations
NEVER_STEP = -32768  # a step stamp that never happened (int16)

# Limits of the kernel's fixed-width fields (bit masks, int16 step stamps).
MAX_PLAYS, MAX_SEGMENTS, MAX_TRIGGERS, MAX_PRODUCTS, MAX_FLAGS = 64, 63, 64, 32, 32
MAX_MODELS = 8
MAX_STEPS = 20000

# Defaults for built-in attributes a population does not draw (docs/simulation.md).
DEFAULTS: dict[str, tuple[str, dict[str, float], tuple[tuple[Any, float], ...]]] = {
    "aum": ("lognormal", {"median": 50000.0, "sigma": 1.4}, ()),
    "age": ("normal", {"mean": 42.0, "sd": 12.0}, ()),
    "risk_tolerance": ("categorical", {}, ((1, 0.10), (2, 0.25), (3, 0.40), (4, 0.20), (5, 0.05))),
    "stage": ("categorical", {}, (("new", 0.08), ("growing", 0.27), ("mature", 0.5))),
    "txn_per_month": ("poisson", {"lambda": 5.0}, ()),
    "propensity": ("constant", {"value": 0.2}, ()),
}
DEFAULTS["stage"] = ("categorical", {}, DEFAULTS["stage"][2] + (("declining", 0.15),))
DEFAULT_CLAMPS = {"age": (18.0, 90.0)}
# Transactions per step scale with the stage: declining customers transact less (DOMAIN.md).
TXN_STAGE_FACTOR = (0.0, 1.0, 1.0, 1.0, 0.5, 0.0)


class CompileError(ValueError):
    """A checked strategy the simulator cannot run (no population, beyond a kernel limit)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _f(values: list | tuple = ()) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _i(values: list | tuple = ()) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


# ------------------------------------------------------------------------------ the tables


@dataclass(frozen=True)
class CompiledStrategy:
    """A strategy as arrays. Sizes: G segments, T triggers, K tiers, P plays (rules, then
    journey waves, in declaration order), Q groups (rules, then journeys), C channels,
    D products (those offered or named), M models, E effects, S stages."""

    name: str
    step_unit: str
    step_days: int
    horizon_steps: int
    seed: int
    population_size: int
    tiers: tuple[str, ...]
    segments: tuple[str, ...]
    triggers: tuple[str, ...]
    plays: tuple[str, ...]
    play_kinds: tuple[str, ...]
    play_channels: tuple[str, ...]
    groups: tuple[str, ...]
    channels: tuple[str, ...]
    products: tuple[str, ...]
    models: tuple[str, ...]
    numbers: tuple[str, ...]  # custom numeric attributes, by column
    categories: tuple[str, ...]  # custom categorical attributes, by column
    flags: tuple[str, ...]  # custom yes/no attributes, by bit
    notes: tuple[str, ...]
    arrays: dict[str, np.ndarray] = field(repr=False)
    scalars: dict[str, float] = field(repr=False)

    def __getattr__(self, name: str) -> Any:
        # Tables read like fields (``compiled.trans_p``); dataclass fields take precedence.
        arrays = object.__getattribute__(self, "arrays")
        if name in arrays:
            return arrays[name]
        scalars = object.__getattribute__(self, "scalars")
        if name in scalars:
            return scalars[name]
        raise AttributeError(name)


def compile_strategy(model: m.CheckedStrategy) -> CompiledStrategy:
    """The tables of ``model``; raises ``CompileError`` for what the simulator cannot run."""
    return _Compiler(model).build()


# ------------------------------------------------------------------------------ compiler


@dataclass
class _Ctx:
    event: bool = False  # atoms that can be events are read as events
    inline: bool = False  # before segments and triggers exist in the step: inline segments


class _Compiler:
    def __init__(self, model: m.CheckedStrategy) -> None:
        if model.population is None:
            raise CompileError(
                f"`{model.strategy.name}` has no population: there is nobody to simulate",
                "simulate a strategy map that declares (or imports) a `population` block",
            )
        self.model = model
        self.prog: dict[str, list] = {k: [] for k in ("op", "a", "b", "c", "x", "y", "t", "f")}
        self.in_values: list[float] = []
        self.notes: list[str] = []
        self.max_lag = self.max_flow = 0
        self.uses_txn_3m = False
        self.tiers = tuple(t.name for t in model.tiers)
        self.segments = tuple(model.segments)
        self.triggers = tuple(model.triggers)
        self.groups = tuple(r.name for r in model.rules) + tuple(j.name for j in model.journeys)
        self.models: list[str] = []
        self.tops: list[tuple[int, float]] = []
        self._population_columns()
        self._used_names()

    # -- names ---------------------------------------------------------------------------

    def _population_columns(self) -> None:
        self.numbers: list[str] = []
        self.categories: list[str] = []
        self.category_codes: dict[str, dict[str, int]] = {}
        self.flags: list[str] = []
        assert self.model.population is not None
        for name, spec in self.model.population.attributes.items():
            if name in BUILTIN_ATTRIBUTES:
                continue
            if spec.type == "boolean":
                self.flags.append(name)
            elif spec.type == "categorical":
                self.categories.append(name)
                codes = {str(v): i for i, (v, _) in enumerate(spec.distribution.categories)}
                self.category_codes[name] = codes
            else:
                self.numbers.append(name)
        if len(self.flags) > MAX_FLAGS:
            raise CompileError(f"more than {MAX_FLAGS} yes/no attributes", "")

    def _used_names(self) -> None:
        model = self.model
        products: list[str] = []
        channels: list[str] = []
        for play in self._play_specs():
            products.append(play[3])
            channels.append(play[4])
        for node in _walk_all(model):
            kind = type(node).__name__
            if kind in ("Holds", "Matures"):
                products.append(node.product)
        # Products customers hold at step 0 (`held by`), after those offered or named, so that
        # a map without holdings keeps its product order.
        products.extend(name for name, spec in model.products.items() if spec.held)
        self.products = tuple(dict.fromkeys(p for p in products if p in model.products))
        self.channels = tuple(dict.fromkeys(channels))
        self.product_index = {p: i for i, p in enumerate(self.products)}
        self.channel_index = {c: i for i, c in enumerate(self.channels)}
        limits = (
            (len(self._play_specs()), MAX_PLAYS, "rules and journey waves"),
            (len(self.segments), MAX_SEGMENTS, "segments"),
            (len(self.triggers), MAX_TRIGGERS, "triggers"),
            (len(self.products), MAX_PRODUCTS, "products offered or named"),
        )
        for count, limit, what in limits:
            if count > limit:
                raise CompileError(
                    f"the strategy has {count} {what}; the simulator handles at most {limit}",
                    "split the map into several strategies",
                )

    def _play_specs(self) -> list[tuple]:
        """(name, kind, spec, product, channel, journey index) of every play, in P order."""
        plays = [(r.name, "rule", r, r.product, r.channel, -1) for r in self.model.rules]
        for j, journey in enumerate(self.model.journeys):
            plays.extend(
                (f"{journey.name} wave {w.number}", "wave", w, w.product, w.channel, j)
                for w in journey.waves
            )
        return plays

    # -- conditions ----------------------------------------------------------------------

    def emit(self, op: int, t: int, f: int, a: int = 0, b: int = 0, c: int = 0,
             x: float = 0.0, y: float = 0.0) -> int:  # fmt: skip
        for key, value in zip(
            ["op", "a", "b", "c", "x", "y", "t", "f"], (op, a, b, c, x, y, t, f), strict=True
        ):
            self.prog[key].append(value)
        return len(self.prog["op"]) - 1

    def cond(self, node: m.Condition | None, ctx: _Ctx, t: int = TRUE, f: int = FALSE) -> int:
        """The entry of a program for ``node`` that ends in ``t`` when it holds, else ``f``."""
        if node is None:
            return t
        return _ATOMS[type(node).__name__](self, node, ctx, t, f)

    def _all(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        entry = t
        for operand in reversed(node.operands):
            entry = self.cond(operand, ctx, entry, f)
        return entry

    def _any(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        entry = f
        for operand in reversed(node.operands):
            entry = self.cond(operand, ctx, t, entry)
        return entry

    def _segment(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        if ctx.inline:
            return self.cond(self.model.segments[node.name].condition, ctx, t, f)
        return self.emit(OP_SEGMENT, t, f, a=self.segments.index(node.name))

    def _trigger(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        if ctx.inline:
            raise CompileError(f"trigger `{node.name}` used where only conditions are allowed")
        return self.emit(OP_TRIGGER, t, f, a=self.triggers.index(node.name))

    def _flag(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        if node.attribute in self.flags:
            return self.emit(OP_FLAG, t, f, a=self.flags.index(node.attribute))
        return self.emit(OP_COMPARE, t, f, a=self.attribute(node.attribute), b=CMP["!="])

    def _compare(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        code = self.attribute(node.attribute)
        return self.emit(OP_COMPARE, t, f, a=code, b=CMP[node.op], x=node.value)

    def _range(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        code = self.attribute(node.attribute)
        return self.emit(OP_RANGE, t, f, a=code, x=node.low, y=node.high)

    def _in(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        name = node.attribute
        if name == "stage" or name in self.categories:
            codes = STAGE_INDEX if name == "stage" else self.category_codes[name]
            mask = 0
            for value in node.values:
                if str(value) in codes:
                    mask |= 1 << codes[str(value)]
            return self.emit(OP_IN_CODES, t, f, a=self.attribute(name), b=mask)
        start = len(self.in_values)
        self.in_values.extend(float(v) for v in node.values)
        code = self.attribute(name)
        return self.emit(OP_IN_NUMBERS, t, f, a=code, b=start, c=len(node.values))

    def _model_top(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        if ctx.inline:
            raise CompileError(
                f"model `{node.model}` is used in a lifecycle modifier or an RFM score",
                "a churn model cannot change the hazard it predicts; use it in a segment or rule",
            )
        if node.model not in self.models:
            self.models.append(node.model)
        key = (self.models.index(node.model), node.share)
        if key not in self.tops:
            self.tops.append(key)
        return self.emit(OP_MODEL_TOP, t, f, a=key[0], b=self.tops.index(key))

    def _rfm(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        if self.model.rfm is None:
            raise CompileError("an RFM quadrant is used but the strategy has no `rfm` block")
        if ctx.inline:
            axes = (self.model.rfm.recency, self.model.rfm.frequency, self.model.rfm.monetary)
            wanted = (node.recency, node.frequency, node.monetary)
            entry = t
            for axis, high in reversed(list(zip(axes, wanted, strict=True))):
                entry = self.cond(axis, ctx, entry, f) if high else self.cond(axis, ctx, f, entry)
            return entry
        pattern = (node.recency << 2) | (node.frequency << 1) | int(node.monetary)
        return self.emit(OP_RFM, t, f, a=pattern)

    def _entered(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        within = math.inf if node.within_steps is None else node.within_steps
        event = int(ctx.event or node.within_steps is None)
        return self.emit(OP_ENTERED, t, f, a=STAGE_INDEX[node.stage], b=event, x=within)

    def _aum_change(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        lag = max(1, math.floor(node.over_steps + 1e-9))
        self.max_lag = max(self.max_lag, lag)
        direction = 0 if node.direction == "drop" else 1
        return self.emit(OP_AUM_CHANGE, t, f, a=direction, b=lag, x=node.share)

    def _flow(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        window = 1.0 if node.within_steps is None else node.within_steps
        count = max(1, math.ceil(window - 1e-9))
        self.max_flow = max(self.max_flow, count)
        direction = 0 if node.direction == "outflow" else 1
        return self.emit(OP_FLOW, t, f, a=direction, b=CMP[node.op], c=count, x=node.amount)

    def _inactive(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        return self.emit(OP_INACTIVE, t, f, b=int(ctx.event), x=node.steps)

    def _responded(self, node: Any, ctx: _Ctx, t: int, f: int) -> int:
        within = math.inf if node.within_steps is None else node.within_steps
        group = self.groups.index(node.target)
        return self.emit(OP_RESPONDED, t, f, a=group, b=int(ctx.event), x=within)

    def attribute(self, name: str) -> int:
        if name in BUILTIN_ATTRIBUTES:
            if name == "txn_3m":
                self.uses_txn_3m = True
            return BUILTIN_ATTRIBUTES[name]
        if name in self.numbers:
            return ATTR_NUMBER + self.numbers.index(name)
        if name in self.categories:
            return ATTR_CATEGORY + self.categories.index(name)
        raise CompileError(
            f"attribute `{name}` is not drawn by the population",
            f"add a distribution for `{name}` to the `population` block",
        )

    # -- the whole strategy --------------------------------------------------------------

    def build(self) -> CompiledStrategy:
        arrays: dict[str, np.ndarray] = {}
        scalars: dict[str, float] = {}
        self._lifecycle(arrays)
        self._predicates(arrays)
        self._plays(arrays, scalars)
        self._policy(arrays, scalars)
        self._models(arrays)
        self._population(arrays, scalars)
        self._world(arrays, scalars)
        self._book(arrays, scalars)
        # Each condition is a run of instructions whose jumps go to lower indices: its first
        # instruction is the least one reachable from its entry.
        first = []
        for pc, (t, f) in enumerate(zip(self.prog["t"], self.prog["f"], strict=True)):
            first.append(min([pc] + [first[x] for x in (t, f) if x >= 0]))
        self.prog["first"] = first
        scalars["max_program"] = max([pc - lo + 1 for pc, lo in enumerate(first)] or [1])
        for key in ("op", "a", "b", "c", "t", "f", "first"):
            arrays[f"prog_{key}"] = _i(self.prog[key])
        arrays["prog_x"], arrays["prog_y"] = _f(self.prog["x"]), _f(self.prog["y"])
        self._transitions(arrays)
        arrays["in_values"] = _f(self.in_values)
        header = self.model.strategy
        plays = self._play_specs()
        return CompiledStrategy(
            name=header.name,
            step_unit=header.step,
            step_days=header.step_days,
            horizon_steps=header.horizon_steps,
            seed=header.seed,
            population_size=self.model.population.size,  # type: ignore[union-attr]
            tiers=self.tiers or ("(all)",),
            segments=self.segments,
            triggers=self.triggers,
            plays=tuple(p[0] for p in plays),
            play_kinds=tuple(p[1] for p in plays),
            play_channels=tuple(p[4] for p in plays),
            groups=self.groups,
            channels=self.channels,
            products=self.products,
            models=tuple(self.models),
            numbers=tuple(self.numbers),
            categories=tuple(self.categories),
            flags=tuple(self.flags),
            notes=tuple(self.notes),
            arrays=arrays,
            scalars=scalars,
        )

    def _lifecycle(self, arrays: dict[str, np.ndarray]) -> None:
        """``trans_p``: the fixed chances the kernels tabulate; a churn chance drawn per
        customer (`churned ~ beta(a, b)`) is left out of it and listed in ``drawn_*`` (column
        j: its stage's ``drawn_col``, shapes ``drawn_a``/``drawn_b``); ``trans_mean`` holds
        every chance, a drawn one at its mean (for the lifetime annuity and stage ages)."""
        trans = np.zeros((N_STAGES, N_STAGES))
        mean = np.zeros((N_STAGES, N_STAGES))
        drawn_col = np.full(N_STAGES, -1, dtype=np.int64)
        drawn: list[tuple[float, float]] = []
        mods = self.model.lifecycle.modifiers if self.model.lifecycle else ()
        if self.model.lifecycle is not None:
            for row in self.model.lifecycle.transitions:
                s, k = STAGE_INDEX[row.source], STAGE_INDEX[row.target]
                mean[s, k] = row.probability
                if row.drawn is None:
                    trans[s, k] = row.probability
                else:
                    drawn_col[s] = len(drawn)
                    drawn.append((row.drawn.params["a"], row.drawn.params["b"]))
        arrays["trans_p"] = trans
        arrays["trans_mean"] = mean
        arrays["drawn_col"] = drawn_col
        arrays["drawn_a"] = _f([a for a, _ in drawn])
        arrays["drawn_b"] = _f([b for _, b in drawn])
        arrays["txn_stage_factor"] = _f(TXN_STAGE_FACTOR)
        inline = _Ctx(inline=True)
        arrays["mod_pred"] = _i([self.cond(x.condition, inline) for x in mods])
        arrays["mod_factor"] = _f([x.factor for x in mods])
        arrays["mod_mask"] = _masks(mods)
        # `churn x 1.4 for detractors`: the kernels multiply the hazard by 1 + (F - 1) × d, d the
        # row's chance of being a detractor this step (the `nps` block's shares).
        dets = self.model.lifecycle.for_detractors if self.model.lifecycle else ()
        arrays["det_factor"] = _f([x.factor for x in dets])
        arrays["det_mask"] = _masks(dets)

    def _transitions(self, arrays: dict[str, np.ndarray]) -> None:
        """Per stage, the targets it can move to (in stage order), and whether its chances stay
        within 1 whatever modifiers and effects do (then no division by their sum is needed:
        one pass over the targets decides)."""
        trans = arrays["trans_p"]
        targets = np.full((N_STAGES, N_STAGES), -1, dtype=np.int64)
        bound = trans.copy()
        for masks, factors in ((arrays["mod_mask"], arrays["mod_factor"]),
                               (arrays["det_mask"], arrays["det_factor"]),
                               (arrays["eff_mask"], arrays["eff_factor"])):  # fmt: skip
            for mask, factor in zip(masks, factors, strict=True):
                bound = np.where(mask == 1, bound * max(1.0, factor), bound)
        for s in range(N_STAGES):
            ks = [k for k in range(N_STAGES) if k != s and trans[s, k] > 0]
            targets[s, : len(ks)] = ks
        arrays["trans_targets"] = targets
        arrays["trans_single"] = (bound.sum(axis=1) <= 1.0).astype(np.int64)

    def _predicates(self, arrays: dict[str, np.ndarray]) -> None:
        rfm = self.model.rfm
        inline = _Ctx(inline=True)
        axes = (rfm.recency, rfm.frequency, rfm.monetary) if rfm else ()
        arrays["rfm_pred"] = _i([self.cond(axis, inline) for axis in axes])
        decision = _Ctx()
        arrays["seg_pred"] = _i(
            [self.cond(self.model.segments[g].condition, decision) for g in self.segments]
        )
        arrays["seg_order"] = _i(_segment_order(self.model, self.segments))
        event = _Ctx(event=True)
        arrays["trig_pred"] = _i(
            [self.cond(self.model.triggers[k].condition, event) for k in self.triggers]
        )
        arrays["tier_low"] = _f([t.low for t in self.model.tiers] or [-math.inf])
        arrays["model_persistence"] = _f([self.model.models[m].persistence for m in self.models])

    def _book(self, arrays: dict[str, np.ndarray], scalars: dict[str, float]) -> None:
        """``book_rate`` (B,): what each balance type earns per step; ``book_share`` (K, B):
        the share of a tier's AUM in each type (the default split for a tier without its
        own). No book: B = 0, and the kernels add no book revenue. ``lifetime_steps`` (−1:
        none) and ``discount_per_step`` value customers beyond the horizon
        (``simulator.engine.customer_value``)."""
        book = self.model.book
        tiers = self.tiers or ("(all)",)
        lifetime = book.lifetime_steps if book is not None else None
        # Not kernel tables: the value beyond the horizon is computed from the run's counters.
        scalars["lifetime_steps"] = -1 if lifetime is None else lifetime
        scalars["discount_per_step"] = book.discount_per_step if book else 0.0
        if book is None:
            arrays["book_rate"] = _f()
            arrays["book_share"] = np.zeros((len(tiers), 0), dtype=np.float64)
            return
        names = [b.name for b in book.balances]
        arrays["book_rate"] = _f([b.rate_per_step for b in book.balances])
        rows = []
        for tier in tiers:
            split = book.splits.get(tier, book.splits.get(None, {}))
            rows.append([split.get(name, 0.0) for name in names])
        arrays["book_share"] = np.asarray(rows, dtype=np.float64).reshape(len(tiers), len(names))

    def _plays(self, arrays: dict[str, np.ndarray], scalars: dict[str, float]) -> None:
        model = self.model
        decision, event = _Ctx(), _Ctx(event=True)
        cols: dict[str, list] = {}
        effects: list[Any] = []
        per_year = 360 / model.strategy.step_days
        for p, (_, kind, spec, product, channel, j) in enumerate(self._play_specs()):
            journey = model.journeys[j] if j >= 0 else None
            script = model.scripts.get(spec.script) if spec.script else None
            prod = model.products[product]
            horizon = prod.tenor_steps if prod.tenor_steps else per_year
            amount = self._purchase_mean(prod)
            row = {
                "kind": PLAY_RULE if kind == "rule" else PLAY_WAVE,
                "group": p if journey is None else len(model.rules) + j,
                "priority": float(spec.priority if journey is None else journey.priority),
                "product": self.product_index[product],
                "channel": self.channel_index[channel],
                "lift": script.lift if script else 1.0,
                "response": spec.response,
                "cooldown": spec.cooldown_steps if journey is None else 0,
                "when": self.cond(spec.when if journey is None else journey.when, decision),
                "on": self.cond(spec.on, event) if journey is None else TRUE,
                "journey": j,
                "after": spec.after_steps if journey is not None else 0,
                "effect_start": len(effects),
                "effect_count": len(spec.effects),
                "value_revenue": amount * (prod.fee + prod.margin_per_step * horizon),
            }
            effects.extend(spec.effects)
            for key, value in row.items():
                cols.setdefault(key, []).append(value)
        for key in ("kind", "group", "product", "channel", "cooldown", "when", "on", "journey"):
            arrays[f"play_{key}"] = _i(cols.get(key, []))
        for key in ("after", "effect_start", "effect_count"):
            arrays[f"play_{key}"] = _i(cols.get(key, []))
        for key in ("priority", "lift", "response", "value_revenue"):
            arrays[f"play_{key}"] = _f(cols.get(key, []))
        priority = cols.get("priority", [])
        arrays["play_order"] = _i(sorted(range(len(priority)), key=lambda p: (-priority[p], p)))
        # A complaint's effects (`… for 3 months after complaint`) follow the plays' effects:
        # the kernels start them as they start a response's (``complaint_effect_*``).
        scalars["complaint_effect_start"] = len(effects)
        lifecycle = model.lifecycle
        effects.extend(lifecycle.after_complaint if lifecycle is not None else ())
        scalars["complaint_effect_count"] = len(effects) - scalars["complaint_effect_start"]
        arrays["eff_factor"] = _f([e.factor for e in effects])
        arrays["eff_steps"] = _i([e.steps for e in effects])
        arrays["eff_mask"] = _masks(effects)
        # Groups: rules, then journeys.
        owners = list(model.rules) + list(model.journeys)
        arrays["group_holdout"] = _f([o.holdout for o in owners])
        arrays["group_budget_fen"] = _i([_fen(o.budget.amount) if o.budget else -1 for o in owners])
        arrays["group_budget_window"] = _f(
            [o.budget.window_steps if o.budget else 1 for o in owners]
        )
        arrays["journey_entry"] = _i([self.cond(x.entry, event) for x in model.journeys])
        arrays["journey_last_after"] = _i([x.waves[-1].after_steps for x in model.journeys])
        arrays["journey_stop"] = _i([int(x.stop_on_response) for x in model.journeys])
        arrays["journey_group"] = _i([len(model.rules) + j for j in range(len(model.journeys))])
        # Channels and products.
        chans = [model.channels[c] for c in self.channels]
        arrays["chan_cost_fen"] = _i([_fen(c.cost_per_contact) for c in chans])
        arrays["chan_capacity"] = _f(
            [-1.0 if c.capacity_per_step is None else c.capacity_per_step for c in chans]
        )
        arrays["chan_reach"] = _f([c.reach for c in chans])
        arrays["chan_complaint"] = _f([c.complaint_rate for c in chans])
        arrays["chan_opt_out"] = _f([c.opt_out_rate for c in chans])
        arrays["chan_requires"] = _i([self.cond(c.requires, decision) for c in chans])
        prods = [model.products[p] for p in self.products]
        arrays["prod_risk"] = _i([p.risk for p in prods])
        arrays["prod_tenor"] = _i([p.tenor_steps or -1 for p in prods])
        arrays["prod_min"] = _f([p.minimum for p in prods])
        arrays["prod_margin"] = _f([p.margin_per_step for p in prods])
        arrays["prod_fee"] = _f([p.fee for p in prods])
        fam = [_family(p.inflow) for p in prods]
        arrays["prod_inflow_family"] = _i([x[0] for x in fam])
        arrays["prod_inflow_p1"] = _f([x[1] for x in fam])
        arrays["prod_inflow_p2"] = _f([x[2] for x in fam])
        arrays["prod_buy_share"] = _f([-1.0 if p.buy_share is None else p.buy_share for p in prods])
        arrays["prod_buy_cap"] = _f([math.inf if p.buy_cap is None else p.buy_cap for p in prods])
        arrays["prod_switching"] = _f([p.switching for p in prods])
        self._holdings(arrays, prods)

    def _purchase_mean(self, prod: Any) -> float:
        """What a purchase brings on average, for value arbitration: the `inflow`'s mean, or
        for a purchase sized to the customer (`buys`) its share of the population's mean AUM
        (capped); at least the product's `min`."""
        if prod.buy_share is None:
            return max(_mean(prod.inflow), prod.minimum)
        population = self.model.population
        aum = population.attributes.get("aum") if population is not None else None
        mean = _mean(aum.distribution) if aum is not None else 0.0
        return max(min(prod.buy_share * mean, prod.buy_cap or math.inf), prod.minimum)

    def _holdings(self, arrays: dict[str, np.ndarray], prods: list[Any]) -> None:
        """``held_share`` (K, P): the share of a tier's customers holding each product at step
        0 (the share without `in` for a tier not named; 0 without `held by`); the amount
        held is drawn from ``prod_held_*``."""
        tiers = self.tiers or ("(all)",)
        rows = [[p.held.get(tier, p.held.get(None, 0.0)) for p in prods] for tier in tiers]
        arrays["held_share"] = np.asarray(rows, dtype=np.float64).reshape(len(tiers), len(prods))
        fam = [_family(p.holding) for p in prods]
        arrays["prod_held_family"] = _i([x[0] for x in fam])
        arrays["prod_held_p1"] = _f([x[1] for x in fam])
        arrays["prod_held_p2"] = _f([x[2] for x in fam])

    def _policy(self, arrays: dict[str, np.ndarray], scalars: dict[str, float]) -> None:
        model, policy = self.model, self.model.policy
        caps: list[tuple[int, int, int, float]] = []
        for cap in policy.caps:
            if cap.channel is None:
                caps.append((CAP_ALL, 0, cap.count, cap.window_steps))
            elif cap.channel in self.channel_index:
                caps.append(
                    (CAP_CHANNEL, self.channel_index[cap.channel], cap.count, cap.window_steps)
                )
        for p, rule in enumerate(model.rules):
            if rule.cap is not None:
                caps.append((CAP_PLAY, p, rule.cap.count, rule.cap.window_steps))
        offsets = np.cumsum([0] + [c[2] for c in caps])
        arrays["cap_scope"] = _i([c[0] for c in caps])
        arrays["cap_index"] = _i([c[1] for c in caps])
        arrays["cap_count"] = _i([c[2] for c in caps])
        arrays["cap_window"] = _f([c[3] for c in caps])
        arrays["cap_offset"] = _i(offsets[:-1])
        nps = model.nps
        shifts = nps.shifts if nps else ()
        needs_recent = policy.fatigue > 0 or any(s.per_contact for s in shifts)
        scalars["recent_offset"] = int(offsets[-1])
        scalars["recent_len"] = RECENT_CONTACTS if needs_recent else 0
        scalars["ring_len"] = int(offsets[-1]) + scalars["recent_len"]
        scalars["fatigue_rate"] = policy.fatigue
        scalars["fatigue_window"] = policy.fatigue_window_steps or 0.0
        scalars["control_share"] = policy.control
        scalars["arbitrate"] = ARBITRATE[policy.arbitrate]
        scalars["has_nps"] = int(nps is not None)
        scalars["nps_promoters"] = nps.promoters if nps else 0.0
        scalars["nps_detractors"] = nps.detractors if nps else 0.0
        arrays["nps_group"] = _i([0 if s.group == "promoters" else 1 for s in shifts])
        arrays["nps_delta"] = _f([s.delta for s in shifts])
        arrays["nps_steps"] = _f([s.steps for s in shifts])
        arrays["nps_per_contact"] = _i([int(s.per_contact) for s in shifts])

    def _models(self, arrays: dict[str, np.ndarray]) -> None:
        if len(self.models) > MAX_MODELS:
            raise CompileError(
                f"the strategy uses {len(self.models)} models; the simulator handles at most "
                f"{MAX_MODELS}",
                "split the map into several strategies",
            )
        kinds, targets, windows, separations = [], [], [], []
        for name in self.models:
            spec = self.model.models[name]
            stage = "churned" if spec.predicts == "churn" else spec.predicts
            kinds.append(MODEL_STAGE if stage in STAGE_INDEX else MODEL_LATENT)
            targets.append(STAGE_INDEX.get(stage, -1))
            windows.append(max(1, math.floor(spec.within_steps + 1e-9)))
            # Binormal scores: AUC = Φ(d / √2).
            z = statistics.NormalDist().inv_cdf(spec.auc) if spec.auc < 1 else math.inf
            separations.append(min(math.sqrt(2.0) * z, MAX_AUC_SEPARATION))
        arrays["model_kind"] = _i(kinds)
        arrays["model_target"] = _i(targets)
        arrays["model_window"] = _i(windows)
        arrays["model_d"] = _f(separations)
        arrays["top_model"] = _i([t[0] for t in self.tops])
        arrays["top_share"] = _f([t[1] for t in self.tops])

    def _population(self, arrays: dict[str, np.ndarray], scalars: dict[str, float]) -> None:
        assert self.model.population is not None
        given = self.model.population.attributes
        rows: list[tuple] = []
        cats: list[tuple[float, int]] = []
        for name in ("aum", "age", "risk_tolerance", "stage", "txn_per_month", "propensity"):
            spec = given.get(name)
            if spec is not None:
                dist = spec.distribution
                family, params, categories, clamp = (
                    dist.family,
                    dist.params,
                    dist.categories,
                    spec.clamp,
                )
            else:
                family, params, categories = DEFAULTS[name]
                clamp = DEFAULT_CLAMPS.get(name)
            rows.append(
                (BUILTIN_ATTRIBUTES[name], BUILTIN_SLOT[name], family, params, categories, clamp)
            )
        for name in ("tenure_months", "months_since_txn"):
            if name in given:
                spec = given[name]
                d = spec.distribution
                rows.append(
                    (
                        BUILTIN_ATTRIBUTES[name],
                        BUILTIN_SLOT[name],
                        d.family,
                        d.params,
                        d.categories,
                        spec.clamp,
                    )
                )
        for name in ("txn_3m", "products_held"):
            if name in given:
                self.notes.append(
                    f"`{name}` is derived by the simulator; its distribution is ignored"
                )
        custom = [n for n in given if n not in BUILTIN_ATTRIBUTES]
        for k, name in enumerate(custom):
            spec = given[name]
            d = spec.distribution
            if name in self.flags:
                target = ATTR_FLAG + self.flags.index(name)
            elif name in self.categories:
                target = ATTR_CATEGORY + self.categories.index(name)
            else:
                target = ATTR_NUMBER + self.numbers.index(name)
            rows.append(
                (target, CUSTOM_SLOT_BASE + k, d.family, d.params, d.categories, spec.clamp)
            )
        table: dict[str, list] = {
            k: [] for k in ("target", "slot", "family", "p1", "p2", "lo", "hi", "cs", "cn")
        }
        for target, slot, family, params, categories, clamp in rows:
            names = FAMILY_PARAMS.get(family, ("", ""))
            table["target"].append(target)
            table["slot"].append(slot)
            table["family"].append(FAMILY[family])
            table["p1"].append(params.get(names[0], 0.0))
            table["p2"].append(params.get(names[1], 0.0))
            table["lo"].append(-math.inf if clamp is None else clamp[0])
            table["hi"].append(math.inf if clamp is None else clamp[1])
            table["cs"].append(len(cats))
            table["cn"].append(len(categories))
            total = 0.0
            for i, (value, share) in enumerate(categories):
                total += share
                cats.append((total, _category_code(target, value, i)))
        for key in ("target", "slot", "family", "cs", "cn"):
            arrays[f"attr_{key}"] = _i(table[key])
        for key in ("p1", "p2", "lo", "hi"):
            arrays[f"attr_{key}"] = _f(table[key])
        arrays["cat_cum"] = _f([c[0] for c in cats])
        arrays["cat_code"] = _i([c[1] for c in cats])
        prop = given.get("propensity")
        scalars["mean_propensity"] = (
            _mean(prop.distribution) if prop is not None else DEFAULTS["propensity"][1]["value"]
        )
        scalars["payroll_bit"] = self.flags.index("payroll") if "payroll" in self.flags else -1
        scalars["n_flags"], scalars["n_numbers"] = len(self.flags), len(self.numbers)
        scalars["n_categories"] = len(self.categories)
        scalars["has_tenure"] = int("tenure_months" in given)
        scalars["has_recency"] = int("months_since_txn" in given)

    def _world(self, arrays: dict[str, np.ndarray], scalars: dict[str, float]) -> None:
        model = self.model
        market = model.market.variables if model.market else {}
        for key, name in (("ret", "return"), ("flow", "net_flow")):
            dist = market.get(name)
            family, p1, p2 = _family(dist)
            scalars[f"{key}_family"], scalars[f"{key}_mean"], scalars[f"{key}_sd"] = family, p1, p2
        acq = model.acquisition
        arrivals = acq.arrivals if acq else ()
        arrays["arr_per_step"] = _f([a.per_step for a in arrivals])
        arrays["arr_stage"] = _i([STAGE_INDEX[a.stage] for a in arrivals])
        arrays["arr_cost_fen"] = _i([_fen(a.cost_per_customer) for a in arrivals])
        scalars["referral_per_step"] = acq.referral_per_step if acq else 0.0
        scalars["step_days"] = model.strategy.step_days
        scalars["aum_ring_len"] = self.max_lag
        scalars["flow_ring_len"] = self.max_flow
        scalars["txn_ring_len"] = (
            math.ceil(90 / model.strategy.step_days - 1e-9) if self.uses_txn_3m else 0
        )
        scalars["forced_triggers"] = 0  # persona tests fire triggers by decree; runs never
        leave = arrays["trans_mean"].sum(axis=1)
        arrays["leave_p"] = leave


# ------------------------------------------------------------------------------ helpers


_ATOMS: dict[str, Any] = {
    "All": _Compiler._all,
    "Any": _Compiler._any,
    "Not": lambda self, node, ctx, t, f: self.cond(node.operand, ctx, f, t),
    "SegmentRef": _Compiler._segment,
    "TierRef": lambda self, node, ctx, t, f: self.emit(
        OP_TIER, t, f, a=self.tiers.index(node.name)
    ),
    "TriggerRef": _Compiler._trigger,
    "AttributeFlag": _Compiler._flag,
    "AttributeCompare": _Compiler._compare,
    "AttributeRange": _Compiler._range,
    "AttributeIn": _Compiler._in,
    "ModelTop": _Compiler._model_top,
    "RfmQuadrant": _Compiler._rfm,
    "EnteredStage": _Compiler._entered,
    "AumChange": _Compiler._aum_change,
    "Flow": _Compiler._flow,
    "Matures": lambda self, node, ctx, t, f: self.emit(
        OP_MATURES, t, f, a=self.product_index[node.product]
    ),
    "Holds": lambda self, node, ctx, t, f: self.emit(
        OP_HOLDS, t, f, a=self.product_index[node.product]
    ),
    "Inactive": _Compiler._inactive,
    "Every": lambda self, node, ctx, t, f: self.emit(OP_EVERY, t, f, a=max(1, node.steps)),
    "Birthday": lambda self, node, ctx, t, f: self.emit(OP_BIRTHDAY, t, f),
    "SalaryCredited": lambda self, node, ctx, t, f: self.emit(OP_SALARY, t, f),
    "RespondedTo": _Compiler._responded,
}


def _walk(node: Any) -> Any:
    yield node
    for child in getattr(node, "operands", ()):
        yield from _walk(child)
    if hasattr(node, "operand"):
        yield from _walk(node.operand)


def _walk_all(model: m.CheckedStrategy) -> Any:
    """Every condition node of the strategy."""
    roots: list[Any] = [s.condition for s in model.segments.values()]
    roots += [t.condition for t in model.triggers.values()]
    roots += [r.when for r in model.rules] + [r.on for r in model.rules]
    roots += [j.when for j in model.journeys] + [j.entry for j in model.journeys]
    roots += [c.requires for c in model.channels.values()]
    if model.lifecycle is not None:
        roots += [x.condition for x in model.lifecycle.modifiers]
    for root in roots:
        if root is not None:
            yield from _walk(root)


def _segment_order(model: m.CheckedStrategy, names: tuple[str, ...]) -> list[int]:
    """Segments in an order where each comes after the segments it names."""
    order: list[int] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise CompileError(f"segment `{name}` is defined in terms of itself")
        state[name] = 1
        for node in _walk(model.segments[name].condition):
            if type(node).__name__ == "SegmentRef":
                visit(node.name)
        state[name] = 2
        order.append(names.index(name))

    for name in names:
        visit(name)
    return order


def _masks(items: Any) -> np.ndarray:
    """(n, S, S) 0/1: which transitions each modifier or effect multiplies (churn: all into
    churned)."""
    masks = np.zeros((len(items), N_STAGES, N_STAGES), dtype=np.int64)
    for i, item in enumerate(items):
        if item.source is None and item.target is None:
            masks[i, :STAGE_CHURNED, STAGE_CHURNED] = 1
        elif item.source is None:
            masks[i, :, STAGE_INDEX[item.target]] = 1
        elif item.target is None:
            masks[i, STAGE_INDEX[item.source], :] = 1
        else:
            masks[i, STAGE_INDEX[item.source], STAGE_INDEX[item.target]] = 1
    return masks


def _family(dist: Any) -> tuple[int, float, float]:
    if dist is None:
        return FAM_NONE, 0.0, 0.0
    names = FAMILY_PARAMS.get(dist.family, ("", ""))
    return FAMILY[dist.family], dist.params.get(names[0], 0.0), dist.params.get(names[1], 0.0)


def _mean(dist: Any) -> float:
    """The mean of a distribution (0 for none)."""
    if dist is None:
        return 0.0
    p = dist.params
    return {
        "constant": lambda: p.get("value", 0.0),
        "normal": lambda: p.get("mean", 0.0),
        "lognormal": lambda: p["median"] * math.exp(p["sigma"] ** 2 / 2),
        "poisson": lambda: p.get("lambda", 0.0),
        "uniform": lambda: (p["low"] + p["high"]) / 2,
        "beta": lambda: p["a"] / (p["a"] + p["b"]),
        "gamma": lambda: p["mean"],
        "bernoulli": lambda: p.get("p", 0.0),
    }.get(dist.family, lambda: 0.0)()


def _category_code(target: int, value: Any, position: int) -> int:
    if target == ATTR_STAGE:
        return STAGE_INDEX[str(value)]
    if target == ATTR_RISK:
        return int(value)
    return position


def _fen(amount: float) -> int:
    return math.floor(amount * 100 + 0.5)
