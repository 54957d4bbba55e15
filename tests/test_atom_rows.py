"""``kernels.predicates.atom_rows`` (the dense path of the atoms ``atom_block`` has no loop of its
own for) gives, row for row, what the interpreter ``atom`` gives: it has loops of its own for a
list of numbers, a set of codes and a response, rather than an inlined copy of the whole
interpreter (a sixth of the first run's compile, issue 14 §6)."""

from __future__ import annotations

import ast

import numpy as np
import pytest
from sim_support import STRATEGIES

from simulator.kernels import cache as kernel_cache
from simulator.kernels.common import (
    B_SEGMENTS,
    B_TRIGGERS,
    BLOCK,
    N_BITS,
    N_INTS,
    PF_X,
    PI_A,
    PI_B,
    PI_C,
    PI_F,
    PI_OP,
    PI_T,
    R_RFM,
    R_TIER,
    make_tables,
)
from simulator.kernels.population import allocate, synthesize
from simulator.kernels.predicates import atom, atom_rows
from simulator.kernels.rng import replication_key
from strategy_dsl.checker import check_paths
from strategy_dsl.compile import (
    ATTR_AGE,
    ATTR_AUM,
    ATTR_CATEGORY,
    ATTR_NUMBER,
    ATTR_PRODUCTS_HELD,
    ATTR_RISK,
    ATTR_STAGE,
    ATTR_TXN_3M,
    FALSE,
    NEVER_STEP,
    OP_IN_CODES,
    OP_IN_NUMBERS,
    OP_RESPONDED,
    OP_TIER,
    TRUE,
    compile_strategy,
)

ROWS = 700  # not a whole block, starting mid-array
LO = 300
T = 5


@pytest.fixture(scope="module")
def population() -> tuple:
    report = check_paths([STRATEGIES / "wealth_2026q1.strat"])
    (model,) = report.models.values()
    tb = make_tables(compile_strategy(model))
    st = allocate(tb, LO + ROWS)
    rk = replication_key(7, 0)
    synthesize(tb, st, 0, np.arange(LO + ROWS, dtype=np.int64), rk, 0, -1)
    draws = np.random.default_rng(3)
    # Responses: never, this step, last step, a few steps ago.
    steps = draws.choice([NEVER_STEP, T, T - 1, T - 2, T - 4], size=st.last_resp.shape)
    st.last_resp[:] = steps.astype(st.last_resp.dtype)
    st.hold_amt[:, 0] = np.where(draws.random(LO + ROWS) < 0.3, 5e4, 0.0)
    return tb, st, rk


def atoms(tb, st) -> list[tuple[int, int, int, int, float, list[float]]]:
    """(op, a, b, c, x, numbers) of the atoms ``atom_rows`` loops over, and one it hands to
    ``atom`` (a tier)."""
    codes = [ATTR_AUM, ATTR_AGE, ATTR_STAGE, ATTR_RISK, ATTR_TXN_3M, ATTR_PRODUCTS_HELD]
    codes += [ATTR_CATEGORY + j for j in range(st.cats.shape[1])]
    codes += [ATTR_NUMBER + j for j in range(st.nums.shape[1])]
    found = []
    for code in codes:
        values = sorted({float(v) for v in _values(tb, st, code)})[:3]
        found.append((OP_IN_NUMBERS, code, 0, len(values), 0.0, values))
        found.append((OP_IN_CODES, code, 0b1011010, 0, 0.0, []))
    for group in range(st.last_resp.shape[1]):
        for event, within in ((0, 0.0), (0, 2.0), (1, 1.0), (1, 0.0)):
            found.append((OP_RESPONDED, group, event, 0, within, []))
    found.append((OP_TIER, 1, 0, 0, 0.0, []))
    return found


def _values(tb, st, code: int) -> np.ndarray:
    """The attribute's values of a few rows, as ``atom`` reads them (to make lists that hold)."""
    from simulator.kernels.predicates import attribute

    return np.array([attribute(tb, st, LO + k, T, code) for k in range(0, ROWS, 97)])


def program(tb, op: int, a: int, b: int, c: int, x: float, numbers: list[float]):
    """``tb`` with a one-atom program at pc 0 (numbers at in_values[0:])."""
    prog_i = np.zeros((tb.prog_i.shape[0], 1), dtype=tb.prog_i.dtype)
    prog_i[PI_OP, 0], prog_i[PI_A, 0], prog_i[PI_B, 0], prog_i[PI_C, 0] = op, a, b, c
    prog_i[PI_T, 0], prog_i[PI_F, 0] = TRUE, FALSE
    prog_v = np.zeros((tb.prog_v.shape[0], 1), dtype=tb.prog_v.dtype)
    prog_v[PF_X, 0] = x
    in_values = np.array(numbers or [0.0], dtype=tb.in_values.dtype)
    return tb._replace(prog_i=prog_i, prog_v=prog_v, in_values=in_values)


def test_atom_rows_agrees_with_the_interpreter_row_for_row(population: tuple) -> None:
    tb, st, rk = population
    draws = np.random.default_rng(11)
    ints = np.zeros((N_INTS, BLOCK), dtype=np.int64)
    bits = np.zeros((N_BITS, BLOCK), dtype=np.uint64)
    ints[R_TIER, :ROWS] = draws.integers(0, 3, ROWS)
    ints[R_RFM, :ROWS] = draws.integers(0, 8, ROWS)
    bits[B_SEGMENTS, :ROWS] = draws.integers(0, 2**20, ROWS).astype(np.uint64)
    bits[B_TRIGGERS, :ROWS] = draws.integers(0, 2**20, ROWS).astype(np.uint64)
    cutoffs = np.zeros((5, 1), dtype=np.float64)
    here = draws.random(ROWS) < 0.8
    held_somewhere = set()
    for op, a, b, c, x, numbers in atoms(tb, st):
        tp = program(tb, op, a, b, c, x, numbers)
        expected = np.array([
            atom(tp, st, LO + k, T, 0, rk, ints[R_TIER, k], ints[R_RFM, k],
                 bits[B_SEGMENTS, k], bits[B_TRIGGERS, k], cutoffs)
            for k in range(ROWS)
        ])  # fmt: skip
        for negate in (False, True):
            out = np.ones(ROWS, dtype=np.bool_)
            held = atom_rows(
                tp, st, LO, ROWS, T, 0, rk, ints, bits, cutoffs, here, out, np.bool_(negate)
            )
            want = here & (expected != negate)
            assert np.array_equal(out, want), (op, a, b, c, x, numbers, negate)
            assert held == int(want.sum())
        if expected[here].any() and not expected[here].all():
            held_somewhere.add(op)
    # The check has teeth: every kind of atom held for some rows and not for others.
    assert held_somewhere == {OP_IN_NUMBERS, OP_IN_CODES, OP_RESPONDED, OP_TIER}


def test_no_kernel_inlines_the_interpreter() -> None:
    """``atom`` is compiled once and called (``follow_rows``, ``holds_at``, the fallback of
    ``atom_rows``): no ``inlined(atom)`` copy in any kernel source."""
    copies = []
    for path in kernel_cache.KERNEL_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "inlined"
                and [ast.unparse(arg) for arg in node.args] == ["atom"]
            ):
                copies.append(f"{path.name}:{node.lineno}")
    assert copies == []
