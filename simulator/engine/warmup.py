"""The first run's compile on two cores at once.

Numba compiles under one lock per process, so a run that finds the disk cache empty
(``simulator.kernels.cache``) compiles every kernel one after the other. ``warm_up`` splits that
work: a helper process first compiles the row-by-row condition interpreter (``atom``), while this
process compiles synthesis; this process then compiles the rest of the interpreter
(``evaluate_block``, loading ``atom`` from the cache) and the baseline, while the helper
compiles the contacts and accounting, what only later commands call, then the decisions, which
call the interpreter too (it waits for it in the cache rather than compiling it a second
time). Each side calls the phases' drivers over no rows at all, with arguments built as the run
builds them, so that what is compiled is what the run calls (tests/test_kernel_cache.py checks
it); ``atom`` alone is compiled for its signature without being called. Both write the disk
cache; the run then loads the helper's kernels from it. Where the cache is warm, one core is all
there is, or anything goes wrong in the helper, the run compiles what it needs as before: the
helper only saves time.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HELPER_WAIT_S = 900  # the longest the run waits for the helper before compiling on its own
# This package's folder: the helper must compile into this installation's cache, not another
# copy's. ``python -m`` (and ``-c``) put the working directory first on the path, so from a
# checkout's root an installed run's helper imported the checkout's `simulator`, compiled into
# its cache, and waited there for an interpreter the run had put in the installation's: the run
# hung for HELPER_WAIT_S. The helper takes the run's own path, in the run's order, and checks
# that it imported this very package before doing anything.
PACKAGE = str(Path(__file__).resolve().parent)
_HELPER = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from simulator.engine.warmup import main; sys.exit(main(sys.argv[2:]))"
)
_started: set[bytes] = set()


def _cold(kernel: Any) -> bool:
    """Whether the disk cache holds no machine code of ``kernel`` under the current digest."""
    try:
        return not kernel._cache._cache_file._load_index()
    except Exception:  # another Numba's private cache API: compile as usual
        return False


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def warm_up(compiled: Any, tables: Any) -> None:
    """Compile the kernels on two processes if the disk cache does not hold them (once per
    process; nothing at all when it does)."""
    from simulator.kernels.decide import decide_blocks

    key = kernel_cache_key()
    if key in _started or _cores() < 2 or not _cold(decide_blocks):
        return
    _started.add(key)
    with tempfile.TemporaryDirectory(prefix="stratmap-warmup-") as tmp:
        inputs = Path(tmp) / "tables.pickle"
        inputs.write_bytes(pickle.dumps((compiled, tables)))
        try:
            helper = subprocess.Popen(
                helper_command(inputs),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return
        try:
            compile_the_rest(compiled, tables, helper)
            helper.wait(timeout=HELPER_WAIT_S)
        except Exception:  # only time is at stake: the run compiles what it needs
            pass
        finally:
            if helper.poll() is None:
                helper.kill()
                helper.wait()


def helper_command(inputs: Path) -> list[str]:
    """The helper's command line: this interpreter, this process's import path, this package."""
    return [sys.executable, "-c", _HELPER, json.dumps(sys.path), PACKAGE, str(inputs)]


def kernel_cache_key() -> bytes:
    from simulator.kernels.cache import kernel_sources_digest

    return kernel_sources_digest()


def compile_the_rest(compiled: Any, tables: Any, helper: Any = None) -> None:
    """The run's share: synthesis, then the condition interpreter (once the helper, while it
    runs, has put ``atom`` in the cache), then the baseline and the proposals' gathering for
    the capacity cuts (each over no rows)."""
    from simulator.engine import phases
    from simulator.kernels.common import BLOCK, N_BITS, N_FLAGS, N_INTS
    from simulator.kernels.decide import gather
    from simulator.kernels.population import allocate, synthesize
    from simulator.kernels.predicates import atom, evaluate_block

    st = allocate(tables, 1)
    rk = np.uint64(0)
    synthesize(tables, st, 0, np.zeros(0, dtype=np.int64), rk, 0, -1)
    while helper is not None and helper.poll() is None and _cold(atom):
        time.sleep(0.1)
    cutoffs = _cutoffs(compiled)
    flags = np.zeros((N_FLAGS, BLOCK), dtype=np.bool_)
    evaluate_block(
        tables, st, 0, 0, 0, -1, rk, np.zeros((N_INTS, BLOCK), dtype=np.int64),
        np.zeros((N_BITS, BLOCK), dtype=np.uint64), cutoffs, flags[0], flags[1],
    )  # fmt: skip
    phases.baseline_counts(tables, st, 0, 0, 0, rk, 0.0)
    n_plays = len(compiled.plays)
    gather(
        tables, st, 0, 0, rk, np.zeros(n_plays, dtype=np.int64),
        np.zeros((0, n_plays), dtype=np.int64), np.zeros(0, dtype=np.float64),
        np.zeros(0, dtype=np.uint64),
    )  # fmt: skip


def compile_atom(compiled: Any, tables: Any) -> None:
    """The row-by-row interpreter for the signature its callers (``atom_rows``,
    ``follow_rows``, ``holds_at``) call it with: compiled, not called (a call would read an
    instruction a map may not have)."""
    from numba import typeof, types

    from simulator.kernels.population import allocate
    from simulator.kernels.predicates import atom

    i64, u64 = types.int64, types.uint64
    atom.compile((
        typeof(tables), typeof(allocate(tables, 1)), i64, i64, i64, u64, i64, i64, u64, u64,
        typeof(_cutoffs(compiled)),
    ))  # fmt: skip


def compile_decisions(compiled: Any, tables: Any) -> None:
    """The helper's share: the row-by-row interpreter ``atom`` first (the run waits for it
    after synthesis), the contacts and accounting, what only later commands call (`compare`'s
    decisions again and row copies, retiring rows, a trace's tier),
    while the run compiles the rest of the interpreter; then the decision kernels, once the
    interpreter is in the cache (all over no rows)."""
    from simulator.engine import phases
    from simulator.kernels import rows
    from simulator.kernels.apply import N_LEDGER
    from simulator.kernels.common import N_FUNNEL, tier_of
    from simulator.kernels.decide import decide_again
    from simulator.kernels.population import allocate, remove_rows
    from simulator.kernels.predicates import evaluate_block

    compile_atom(compiled, tables)
    st = allocate(tables, 1)
    rk = np.uint64(0)
    seg_ever = np.zeros(1, dtype=np.uint64)
    ledger = np.zeros((1, N_LEDGER), dtype=np.float64)
    n_plays = len(compiled.plays)
    phases.apply_counts(
        tables, compiled, st, 0, 0, rk, phases.no_cuts(n_plays), True, seg_ever, ledger
    )
    none = np.zeros(0, dtype=np.int64)
    decide_again(
        tables, st, none, 0, rk, np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint8),
        np.zeros(0, dtype=np.uint64), np.zeros((0, n_plays, 2, N_FUNNEL), dtype=np.int64),
        np.zeros((0, n_plays), dtype=np.int64),
    )  # fmt: skip
    remove_rows(allocate(tables, 1), np.zeros(1, dtype=np.bool_), 1)
    tier_of(tables, 0.0)
    rows.compile_kernels(tables)
    waited = 0.0
    while _cold(evaluate_block) and waited < HELPER_WAIT_S:
        time.sleep(0.25)
        waited += 0.25
    phases.decide_counts(tables, st, 0, 0, np.uint64(0), _cutoffs(compiled))


def _cutoffs(compiled: Any) -> np.ndarray:
    return np.zeros((2, compiled.top_model.size), dtype=np.float64)


def main(argv: list[str]) -> int:
    """The helper process: ``main([PACKAGE, TABLES.pickle])``, PACKAGE the run's own folder of
    this package (exit 2, compiling nothing, if this process imported another copy)."""
    from simulator.kernels import cache as kernel_cache

    if str(Path(__file__).resolve().parent) != argv[0]:
        return 2
    argv = argv[1:]
    kernel_cache.announcing = False  # the run has said it
    compiled, tables = pickle.loads(Path(argv[0]).read_bytes())
    compile_decisions(compiled, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
