"""Kernels over scattered rows, for variants run as deltas of their base
(``simulator.engine.delta``): rows copied between a shard and a compact copy a word at a time,
compared byte for byte; a variant's contact ring brought up to date for rows served as the
base served them; the rows whose place in a model's top differs between two arms' cutoffs; the
rows a contact cap could stop."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels import common as k
from simulator.kernels.population import State, allocate, zeros
from simulator.kernels.predicates import in_top

# ------------------------------------------------------------------------------ row copies


def as_words(array: np.ndarray) -> np.ndarray:
    """A field as (rows, words per row) of the widest unsigned word its row's bytes divide
    into: four compiled copy loops serve every dtype, and rows move a word at a time."""
    rows = array.shape[0]
    size = array.strides[0] if array.ndim > 1 else array.itemsize
    if array.size == 0 and rows > 0:
        return np.zeros((rows, 0), dtype=np.uint8)
    word = 8 if size % 8 == 0 else 4 if size % 4 == 0 else 2 if size % 2 == 0 else 1
    return array.reshape(rows, size // array.itemsize).view(WORDS[word])


WORDS = {
    8: np.dtype(np.uint64),
    4: np.dtype(np.uint32),
    2: np.dtype(np.uint16),
    1: np.dtype(np.uint8),
}
MIN_RUN = 512  # diverged rows in a block this long run in place rather than on copies
PARALLEL_ROWS = 4096  # rows below which a kernel here runs on one thread
PARALLEL_BYTES = 1 << 18  # copies smaller than this run on one thread: a parallel launch costs
# tens of microseconds, more than copying a few thousand short rows


@njit(cache=True, nogil=True)
def _take_rows(
    lo: int,
    hi: int,
    dst: np.ndarray,
    src: np.ndarray,
    other: np.ndarray,
    idx: np.ndarray,
    use_other: np.ndarray,
) -> None:
    """dst[k] = src[idx[k]], or other[idx[k]] where use_other[k], for k in [lo, hi)."""
    width = src.shape[1]
    for j in range(lo, hi):
        r = idx[j]
        if use_other[j]:
            for c in range(width):
                dst[j, c] = other[r, c]
        else:
            for c in range(width):
                dst[j, c] = src[r, c]


@njit(cache=True, nogil=True)
def _put_rows(
    lo: int, hi: int, dst: np.ndarray, src: np.ndarray, idx: np.ndarray, pick: np.ndarray
) -> None:
    """dst[idx[k]] = src[k] where pick[k], for k in [lo, hi)."""
    width = src.shape[1]
    for j in range(lo, hi):
        if pick[j]:
            r = idx[j]
            for c in range(width):
                dst[r, c] = src[j, c]


@njit(cache=True, nogil=True)
def _same_rows(
    lo: int,
    hi: int,
    equal: np.ndarray,
    mine: np.ndarray,
    at: np.ndarray,
    theirs: np.ndarray,
    idx: np.ndarray,
) -> None:
    """equal[j] &= mine[at[j]] == theirs[idx[j]], word for word (where equal[j] holds), for
    j in [lo, hi)."""
    width = mine.shape[1]
    for j in range(lo, hi):
        if equal[j]:
            m, r = at[j], idx[j]
            for c in range(width):
                if mine[m, c] != theirs[r, c]:
                    equal[j] = False
                    break


_KERNELS = {"take": _take_rows, "put": _put_rows, "same": _same_rows}


def _run(name: str, rows: int, width: np.ndarray, *args: np.ndarray) -> None:
    """Kernel ``name`` on one thread for a small copy, on all for a large one."""
    kernel = _KERNELS[name]
    threads = 0 if rows * width.shape[1] * width.itemsize >= PARALLEL_BYTES else 1
    k.on_threads(lambda lo, hi: kernel(lo, hi, *args), rows, threads)


def take(
    dst: np.ndarray, src: np.ndarray, other: np.ndarray, idx: np.ndarray, use_other: np.ndarray
) -> None:
    _run("take", idx.size, src, dst, src, other, idx, use_other)


def put(dst: np.ndarray, src: np.ndarray, idx: np.ndarray, pick: np.ndarray) -> None:
    _run("put", idx.size, src, dst, src, idx, pick)


def same(
    equal: np.ndarray, mine: np.ndarray, at: np.ndarray, theirs: np.ndarray, idx: np.ndarray
) -> None:
    _run("same", idx.size, mine, equal, mine, at, theirs, idx)


@k.block_kernel
def _record_contacts_block(
    tb: k.Tables,
    ring: np.ndarray,
    last_contact: np.ndarray,
    rows: np.ndarray,
    lo: int,
    hi: int,
    t: int,
) -> None:
    for j in range(lo, hi):
        i = rows[j]
        for p in range(last_contact.shape[1]):
            if last_contact[i, p] != t:
                continue
            channel = tb.play_i[k.PL_CHANNEL, p]
            for c in range(tb.cap_i.shape[1]):
                if k.cap_applies(tb, c, p, channel):
                    k.ring_insert(ring, i, tb.cap_i[k.CP_OFFSET, c], tb.cap_i[k.CP_COUNT, c], t)
            if tb.sc_i[k.SC_RECENT_LEN] > 0:
                k.ring_insert(ring, i, tb.sc_i[k.SC_RECENT_OFFSET], tb.sc_i[k.SC_RECENT_LEN], t)


@k.thread_kernel
def _record_contacts_rows(
    tb: k.Tables,
    ring: np.ndarray,
    last_contact: np.ndarray,
    rows: np.ndarray,
    t: int,
    b0: int,
    b1: int,
) -> None:
    for b in range(b0, b1):
        lo, hi = b * k.BLOCK, min(rows.size, (b + 1) * k.BLOCK)
        _record_contacts_block(tb, ring, last_contact, rows, lo, hi, t)


def record_contacts(
    tb: k.Tables, ring: np.ndarray, last_contact: np.ndarray, rows: np.ndarray, t: int
) -> None:
    """The contact ring entries ``kernels.apply.contact`` makes, under ``tb``, for every play
    contacted at step t (``last_contact == t``) of each row: for rows the variant serves as
    the base does, in its own ring."""
    k.on_threads(
        lambda b0, b1: _record_contacts_rows(tb, ring, last_contact, rows, t, b0, b1),
        k.blocks_of(rows.size),
        0 if rows.size >= PARALLEL_ROWS else 1,
    )


@njit(cache=True, nogil=True)
def moved_rows(
    lo: int,
    hi: int,
    moved: np.ndarray,
    cid: np.ndarray,
    labels: np.ndarray,
    rk: np.uint64,
    t: int,
    m: int,
    q: int,
    cutoffs: np.ndarray,
    base_cutoffs: np.ndarray,
) -> None:
    """moved[i] |= row i's noise uniform of model m (``kernels.predicates.model_top``) is in
    the top q under one arm's cutoffs and not the other's, for rows i in [lo, hi)."""
    for i in range(lo, hi):
        y = (labels[i] >> m) & 1
        if in_top(rk, cid[i], t, m, y, cutoffs, q) != in_top(rk, cid[i], t, m, y, base_cutoffs, q):
            moved[i] = True


@k.block_kernel
def _caps_block(
    tb: k.Tables,
    ring: np.ndarray,
    cands: np.ndarray,
    rows: np.ndarray,
    lo: int,
    hi: int,
    t: int,
    caps: np.ndarray,
    out: np.ndarray,
) -> None:
    for j in range(lo, hi):
        i = rows[j]
        candidates = cands[i]
        for c in range(tb.cap_i.shape[1]):
            if not caps[c]:
                continue
            covered = 0
            for p in range(tb.play_i.shape[1]):
                held = (candidates >> np.uint64(p)) & np.uint64(1) == np.uint64(1)
                if held and k.cap_applies(tb, c, p, tb.play_i[k.PL_CHANNEL, p]):
                    covered += 1
            start, count = tb.cap_i[k.CP_OFFSET, c], tb.cap_i[k.CP_COUNT, c]
            used = k.count_within(ring, i, start, count, t, tb.cap_window[c])
            if used + covered > count:
                out[j] = True
                break


@k.thread_kernel
def _caps_may_bind_rows(
    tb: k.Tables,
    ring: np.ndarray,
    cands: np.ndarray,
    rows: np.ndarray,
    t: int,
    caps: np.ndarray,
    out: np.ndarray,
    b0: int,
    b1: int,
) -> None:
    for b in range(b0, b1):
        lo, hi = b * k.BLOCK, min(rows.size, (b + 1) * k.BLOCK)
        _caps_block(tb, ring, cands, rows, lo, hi, t, caps, out)


def caps_may_bind(
    tb: k.Tables, ring: np.ndarray, cands: np.ndarray, rows: np.ndarray, t: int, caps: np.ndarray
) -> np.ndarray:
    """Rows one of the ``caps`` (bools) of ``tb`` could stop at step t: the contacts in its
    window (``ring``) plus the candidates it covers exceed its count
    (``kernels.decide.eligibility`` and ``arbitrate`` never stop a row otherwise)."""
    out = np.zeros(rows.size, dtype=bool)
    k.on_threads(
        lambda b0, b1: _caps_may_bind_rows(tb, ring, cands, rows, t, caps, out, b0, b1),
        k.blocks_of(rows.size),
    )
    return out


def compile_kernels(tables: k.Tables) -> None:
    """Compile this module's kernels for ``tables``' state layout, over no rows (the first
    run's helper process: ``simulator.engine.warmup``), so that a first `compare` finds them
    in the disk cache."""
    state = allocate(tables, 1)
    none, no = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.bool_)
    arrays = [getattr(state, f) for f in State._fields]
    arrays += [zeros(1, dtype=np.uint64), zeros((1, 2), dtype=np.float64)]
    for words in {as_words(a).dtype: as_words(a) for a in arrays}.values():
        _take_rows(0, 0, words, words, words, none, no)
        _put_rows(0, 0, words, words, none, no)
        _same_rows(0, 0, no, words, none, words, none)
    cutoffs = np.zeros((2, 1), dtype=np.float64)
    moved_rows(0, 0, no, state.cid, state.labels, np.uint64(0), 0, 0, 0, cutoffs, cutoffs)
    record_contacts(tables, state.ring, state.last_contact, none, 0)
    caps_may_bind(tables, state.ring, state.cands, none, 0, np.zeros(1, dtype=np.bool_))
