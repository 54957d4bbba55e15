"""Every candidate play's fate for every customer of one decision step: what a contact list
(定名单) says per (customer, play). The same functions as the step itself decide with
(``kernel_decide.choose`` for eligibility, the control group, holdouts and arbitration;
``kernel_apply.passes`` for the budget and capacity cuts, in ``serve``'s order), run after
``decide_step`` on its state (``st.cands``, ``st.chans``) and with the step's thresholds.
"""

from __future__ import annotations

import numpy as np

from simulator.kernels.apply import passes
from simulator.kernels.common import (
    BLOCK,
    N_FUNNEL,
    S_BUDGET,
    S_CAPACITY,
    S_CONTACTED,
    S_WINNER,
    TR_PLAYS,
    Tables,
    blocks_of,
    earlier_contacts,
    on_threads,
    proposal_value,
    thread_kernel,
)
from simulator.kernels.decide import choose, tiebreak
from simulator.kernels.population import State


@thread_kernel
def status_blocks(
    tb: Tables,
    st: State,
    b0: int,
    b1: int,
    n_rows: int,
    t: int,
    rk: np.uint64,
    thr_mode: np.ndarray,
    thr_value: np.ndarray,
    thr_tiebreak: np.ndarray,
    status: np.ndarray,
    value: np.ndarray,
    funnel: np.ndarray,
    proposals: np.ndarray,
    treated: np.ndarray,
    values: np.ndarray,
    per_cap: np.ndarray,
    trace: np.ndarray,
) -> None:
    """Rows of blocks [b0, b1): ``status[i, p]`` (int8, (rows, P)) the status of play p for
    row i (``kernels.S_*``: S_NONE when not a candidate; a winner becomes S_BUDGET,
    S_CAPACITY or S_CONTACTED), ``value[i, p]`` (float64) its arbitration key."""
    n_plays = tb.play_i.shape[1]
    for b in range(b0, b1):
        for i in range(b * BLOCK, min(n_rows, (b + 1) * BLOCK)):
            if st.alive[i] != 1:
                continue
            per_cap[:] = 0
            choose(
                tb, st, i, t, rk, st.cands[i], st.chans[i], funnel, proposals, treated, values,
                per_cap, True, trace,
            )  # fmt: skip
            h = tiebreak(rk, st.cid[i], t)
            earlier = earlier_contacts(tb, st.ring, i, t)
            propensity = float(st.propensity[i])
            for p in range(n_plays):
                s = trace[TR_PLAYS + p]
                v = proposal_value(tb, p, propensity, earlier)
                if s == S_WINNER:
                    if not passes(thr_mode[p, 0], thr_value[p, 0], thr_tiebreak[p, 0], v, h):
                        s = S_BUDGET
                    elif not passes(thr_mode[p, 1], thr_value[p, 1], thr_tiebreak[p, 1], v, h):
                        s = S_CAPACITY
                    else:
                        s = S_CONTACTED
                status[i, p] = s
                value[i, p] = v


def statuses(
    tb: Tables, st: State, n_rows: int, t: int, rk: np.uint64, thresholds: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """(status int8 (rows, P), value float64 (rows, P)) of step t's decisions for rows
    [0, n_rows) of a state whose decision phase has run; ``thresholds`` as ``apply_step``'s
    (mode, value, tiebreak), each (P, 2)."""
    n_plays, n_caps = max(tb.play_i.shape[1], 1), max(tb.cap_i.shape[1], 1)
    status = np.zeros((n_rows, tb.play_i.shape[1]), dtype=np.int8)
    value = np.zeros((n_rows, tb.play_i.shape[1]), dtype=np.float64)
    mode, level, tie = thresholds

    def run_blocks(b0: int, b1: int) -> None:
        status_blocks(
            tb, st, b0, b1, n_rows, t, rk, mode, level, tie, status, value,
            np.zeros((n_plays, 2, N_FUNNEL), dtype=np.int64), np.zeros(n_plays, dtype=np.int64),
            np.zeros(n_plays, dtype=np.int64), np.zeros(n_plays, dtype=np.float64),
            np.zeros((2, n_caps), dtype=np.int64), np.zeros(TR_PLAYS + n_plays, dtype=np.int64),
        )  # fmt: skip

    on_threads(run_blocks, blocks_of(n_rows))
    return status, value
