"""What couples customers, computed between the kernel phases from all shards together: the
market return, the models' calibration, and the cuts of channel capacity and play budgets.

Everything here is plain NumPy on global quantities (per-play counts of proposals, label
counts, the keys of proposals where a cut binds), so any split of the population into shards
gives the same numbers; a distributed backend would reduce the same per-shard quantities.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from simulator.kernels.population import State
from simulator.kernels.predicates import (
    CUT_PERSISTENCE,
    CUT_U0,
    CUT_U1,
    CUT_Z0,
    CUT_Z1,
    N_CUTOFF_ROWS,
)
from simulator.kernels.rng import (
    SLOT_MARKET_RETURN,
    SLOT_MODEL_NOISE,
    SLOT_MODEL_PERSISTENT,
    STATIC_STEP,
    global_uniform,
    inv_normal,
    uniform,
)
from strategy_dsl.compile import FAM_CONSTANT, FAM_NORMAL, CompiledStrategy

# Threshold modes of a cut, per play (see ``kernels.apply``).
CUT_NONE, CUT_THRESHOLD, CUT_ALL = 0, 1, 2  # no cut / up to a key / nothing passes

Keys = dict[int, tuple[np.ndarray, np.ndarray]]  # play -> (values, tiebreaks) of its proposals


def whole(expected: float) -> int:
    """Whole units among ``expected`` cumulative ones (a hair of tolerance, so that
    3 × 133.33… gives 400): the step's share is whole(t·n) − whole((t − 1)·n)."""
    return math.floor(expected + 1e-9)


def market_return(c: CompiledStrategy, rk: np.uint64, t: int) -> float:
    """The market return of step t, common to every customer (one draw per step)."""
    family = int(c.ret_family)
    if family == FAM_CONSTANT:
        return float(c.ret_mean)
    if family != FAM_NORMAL:
        return 0.0
    u = global_uniform(rk, t, SLOT_MARKET_RETURN)
    return float(c.ret_mean + c.ret_sd * inv_normal(np.array([u]))[0])


# ------------------------------------------------------------------------------ models


def model_cutoffs(c: CompiledStrategy, live: int, labels: np.ndarray) -> np.ndarray:
    """(2, Q): for each model top slot q, the least noise uniform u that puts a customer with
    label 0 (row 0) or 1 (row 1) in the top. With binormal scores d·y + Φ⁻¹(u) around labels of
    prevalence π (all shards together), the score cutoff c solves
    (1 - π)·(1 - Φ(c)) + π·(1 - Φ(c - d)) = share, and score ≥ c ⇔ u ≥ Φ(c - d·y)."""
    cutoffs = np.zeros((N_CUTOFF_ROWS, c.top_model.size), dtype=np.float64)
    for q in range(c.top_model.size):
        m = int(c.top_model[q])
        d = float(c.model_d[m])
        prevalence = float(labels[m]) / live if live > 0 else 0.0
        cut = model_cutoff(prevalence, d, float(c.top_share[q]))
        cutoffs[CUT_U0, q], cutoffs[CUT_U1, q] = normal_cdf(cut), normal_cdf(cut - d)
        cutoffs[CUT_Z0, q], cutoffs[CUT_Z1, q] = cut, cut - d
        cutoffs[CUT_PERSISTENCE, q] = float(c.model_persistence[m])
    return cutoffs


def normal_cdf(x: float) -> float:
    if math.isinf(x):
        return 0.0 if x < 0 else 1.0
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def model_cutoff(prevalence: float, separation: float, share: float) -> float:
    """The score cutoff that flags ``share`` of customers in expectation (bisection, run until
    the interval stops shrinking: deterministic to the last bit)."""
    if share >= 1.0:
        return -math.inf
    if share <= 0.0:
        return math.inf

    def above(x: float) -> float:
        negatives = (1 - prevalence) * 0.5 * math.erfc(x / math.sqrt(2.0))
        return negatives + prevalence * 0.5 * math.erfc((x - separation) / math.sqrt(2.0))

    lo, hi = -40.0, 40.0 + separation
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if above(mid) > share:
            lo = mid
        else:
            hi = mid
    return hi


def model_scores(c: CompiledStrategy, st: State, rk: np.uint64, t: int) -> np.ndarray:
    """(rows, M) the models' scores d·y + z at step t, from the labels the kernel kept and the
    noise (``kernels.predicates.in_top``), computed on the NumPy side."""
    scores = np.zeros((st.cid.size, len(c.models)))
    for m in range(len(c.models)):
        y = (st.labels.astype(np.int64) >> m) & 1
        z = inv_normal(uniform(rk, st.cid, t, SLOT_MODEL_NOISE + m))
        rho = float(c.model_persistence[m])
        if rho > 0.0:
            own = inv_normal(uniform(rk, st.cid, STATIC_STEP, SLOT_MODEL_PERSISTENT + m))
            z = math.sqrt(rho) * own + math.sqrt(1.0 - rho) * z
        scores[:, m] = float(c.model_d[m]) * y + z
    return scores


# ------------------------------------------------------------------------------ cuts


def binding(
    c: CompiledStrategy, t: int, per_play: np.ndarray, spend: list[dict[int, int]]
) -> tuple[dict[int, int], dict[int, int]]:
    """The budgets (rule or journey → fen that remain) and capacities (channel → contacts
    allowed this step) that the proposals of step t exceed; ``per_play`` counts proposals of
    every play over all shards, ``spend[g]`` the spend of group g per earlier step."""
    cost = c.chan_cost_fen[c.play_channel]
    budgets = {}
    for g in range(c.group_holdout.size):
        budget = int(c.group_budget_fen[g])
        if budget < 0:
            continue
        window = float(c.group_budget_window[g])
        remaining = max(budget - sum(v for s, v in spend[g].items() if t - s < window), 0)
        plays = np.nonzero(c.play_group == g)[0]
        if int((per_play[plays] * cost[plays]).sum()) > remaining:
            budgets[g] = remaining
    capacities = {}
    for ch in range(len(c.channels)):
        rate = float(c.chan_capacity[ch])
        if rate < 0:
            continue
        allowed = whole(rate * t) - whole(rate * (t - 1))
        if int(per_play[c.play_channel == ch].sum()) > allowed:
            capacities[ch] = allowed
    return budgets, capacities


def wanted_plays(
    c: CompiledStrategy, budgets: dict[int, int], capacities: dict[int, int]
) -> np.ndarray:
    """Per play (int64, (P,)), 1 when its budget or its channel binds (``binding``): the
    plays whose proposals' keys a cut needs."""
    wanted = np.zeros(len(c.plays), dtype=np.int64)
    for g in budgets:
        wanted[c.play_group == g] = 1
    for ch in capacities:
        wanted[c.play_channel == ch] = 1
    return wanted


def shard_keys(
    state: State,
    rows: int,
    found: np.ndarray,
    wanted: np.ndarray,
    gather: Callable[[State, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None],
) -> Keys:
    """The keys of one shard's proposals of each ``wanted`` play: ``found`` its proposals per
    block and play (the decision phase's), ``gather(state, rows, wanted, offsets, values,
    tiebreaks)`` fills them, play after play."""
    counts = found * wanted[None, :]  # (blocks, P)
    flat = counts.T.reshape(-1)  # play-major: a play's proposals together, block by block
    starts = np.concatenate([[0], np.cumsum(flat)[:-1]]).reshape(counts.T.shape).T
    values = np.empty(int(flat.sum()), dtype=np.float64)
    ties = np.empty(values.size, dtype=np.uint64)
    gather(state, rows, wanted, np.ascontiguousarray(starts), values, ties)
    ends = starts[-1] + counts[-1]
    keys: Keys = {}
    for p in np.nonzero(wanted)[0]:
        lo, hi = int(starts[0, p]), int(ends[p])
        keys[int(p)] = (values[lo:hi], ties[lo:hi])
    return keys


def merged_keys(parts: list[Keys]) -> Keys:
    """The shards' keys together, play by play, in shard order (on the driver: ``cut``
    orders them globally, so any split of the customers gives the same cuts)."""
    plays: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for keys in parts:
        for p, pair in keys.items():
            plays.setdefault(p, []).append(pair)
    return {
        p: (np.concatenate([v for v, _ in x]), np.concatenate([h for _, h in x]))
        for p, x in plays.items()
    }


def cut(
    c: CompiledStrategy, keys: Keys, budgets: dict[int, int], capacities: dict[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per play, the thresholds (mode, value, tiebreak), each (P, 2): column 0 its budget's,
    column 1 its channel's. Proposals are put in one global order — value (or priority)
    descending, tiebreak ascending, play ascending — and accepted budget by budget while the
    spend fits, then channel by channel, among the budgets' survivors, up to the capacity. A
    play's accepted proposals are a prefix of its own order, so one key per play and cut says
    which pass: its last accepted one."""
    n_plays = c.play_group.size
    mode = np.zeros((n_plays, 2), dtype=np.int64)
    value = np.zeros((n_plays, 2), dtype=np.float64)
    tie = np.zeros((n_plays, 2), dtype=np.uint64)
    plays = sorted(keys)
    v = np.concatenate([keys[p][0] for p in plays])
    h = np.concatenate([keys[p][1] for p in plays])
    play = np.concatenate([np.full(keys[p][0].size, p, dtype=np.int64) for p in plays])
    order = np.lexsort((play, h, -v))
    v, h, play = v[order], h[order], play[order]
    alive = np.ones(v.size, dtype=bool)
    for g, remaining in budgets.items():
        mine = np.nonzero(c.play_group[play] == g)[0]
        spent = np.cumsum(c.chan_cost_fen[c.play_channel[play[mine]]])
        passed = mine[spent <= remaining]
        alive[mine] = False
        alive[passed] = True
        _thresholds(c.play_group == g, 0, mine, passed, v, h, play, (mode, value, tie))
    for ch, allowed in capacities.items():
        mine = np.nonzero((c.play_channel[play] == ch) & alive)[0]
        passed = mine[:allowed]
        _thresholds(c.play_channel == ch, 1, mine, passed, v, h, play, (mode, value, tie))
    return mode, value, tie


def _thresholds(
    owned: np.ndarray,
    column: int,
    mine: np.ndarray,
    passed: np.ndarray,
    v: np.ndarray,
    h: np.ndarray,
    play: np.ndarray,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    mode, value, tie = out
    for p in np.nonzero(owned)[0]:
        got = passed[play[passed] == p]
        wanted = mine[play[mine] == p]
        if got.size == wanted.size:
            mode[p, column] = CUT_NONE
        elif got.size == 0:
            mode[p, column] = CUT_ALL
        else:
            last = got[-1]
            mode[p, column], value[p, column], tie[p, column] = CUT_THRESHOLD, v[last], h[last]
