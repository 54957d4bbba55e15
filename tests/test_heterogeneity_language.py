"""Customers who differ, in the language: `churned ~ beta(a, b)` in a lifecycle row and
`gamma(shape, mean)` in the population — the formatter keeps them, the checker refuses what
they cannot mean, the compiled tables hand the kernels the drawn rows apart from the fixed
chances, and the semantic diff shows a changed distribution."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from sim_support import HEADER, model_of

from strategy_dsl.checker import check_paths
from strategy_dsl.compile import STAGE_INDEX, compile_strategy
from strategy_dsl.formatter import format_text
from strategy_dsl.semantic_diff import semantic_diff

MAP = """\
population 客户 {
  size          1000
  stage         ~ categorical(new 20%, mature 80%)
  txn_per_month ~ gamma(shape 0.24, mean 1.2)
}

lifecycle {
  new    -> growing 20%, churned ~ beta(1, 9)
  mature -> declining 3%, churned ~ beta(a 0.7, b 3.2)
}
"""


def test_the_formatter_keeps_drawn_chances_as_written() -> None:
    messy = (
        "lifecycle {\n new -> growing 20% ,churned~beta( 1,9 )\n"
        " mature->churned ~ beta(a 0.7,b 3.2)}\n"
    )
    out = format_text(messy, "x.strat").output
    assert out == (
        "lifecycle {\n"
        "  new    -> growing 20%, churned ~ beta(1, 9)\n"
        "  mature -> churned ~ beta(a 0.7, b 3.2)\n"
        "}\n"
    )
    assert format_text(out, "x.strat").output == out  # a fixed point


def test_compiled_tables_keep_drawn_chances_apart(tmp_path: Path) -> None:
    compiled = compile_strategy(model_of(tmp_path, HEADER + MAP))
    new, mature, churned = STAGE_INDEX["new"], STAGE_INDEX["mature"], STAGE_INDEX["churned"]
    # The kernels' fixed chances leave the drawn ones out; the means stay for one-number uses.
    assert (
        compiled.trans_p[new, churned] == 0 and compiled.trans_p[new, STAGE_INDEX["growing"]] == 0.2
    )
    assert compiled.trans_mean[new, churned] == pytest.approx(0.1)
    assert compiled.trans_mean[mature, churned] == pytest.approx(0.7 / 3.9)
    assert compiled.drawn_col[new] == 0 and compiled.drawn_col[mature] == 1
    assert (compiled.drawn_col[[STAGE_INDEX["growing"], STAGE_INDEX["declining"]]] == -1).all()
    np.testing.assert_array_equal(compiled.drawn_a, [1.0, 0.7])
    np.testing.assert_array_equal(compiled.drawn_b, [9.0, 3.2])
    assert compiled.leave_p[mature] == pytest.approx(0.03 + 0.7 / 3.9)


def _codes(tmp_path: Path, lifecycle: str) -> list[tuple[str, str]]:
    path = tmp_path / "m.strat"
    path.write_text(HEADER + textwrap.dedent(lifecycle), encoding="utf-8")
    return [(d.code, d.message) for d in check_paths([path]).diagnostics if d.is_error]


@pytest.mark.parametrize(
    ("row", "code", "words"),
    [
        ("mature -> declining ~ beta(1, 30)", "E0415", "only the chance of churning"),
        ("mature -> churned ~ gamma(shape 1, mean 0.1)", "E0306", "`gamma` is not"),
        ("mature -> churned ~ beta(0, 3)", "E0305", "`a` of `beta`"),
        ("mature -> churned ~ beta(1, 3)", "", ""),
        ("mature -> declining 80%, churned ~ beta(1, 3)", "E0403", "add up to 105%"),
    ],
)
def test_the_checker_refuses_what_a_drawn_chance_cannot_mean(
    tmp_path: Path, row: str, code: str, words: str
) -> None:
    found = _codes(tmp_path, f"lifecycle {{\n  {row}\n}}\n")
    if not code:
        assert found == []
        return
    assert [c for c, _ in found] == [code], found
    assert words in found[0][1]


def test_a_gamma_needs_a_positive_shape_and_mean(tmp_path: Path) -> None:
    text = "population 客户 {\n  size 10\n  txn_per_month ~ gamma(shape 0, mean -1)\n}\n"
    assert [c for c, _ in _codes(tmp_path, text)] == ["E0305", "E0305"]


def test_the_semantic_diff_shows_a_changed_distribution(tmp_path: Path) -> None:
    old = model_of(tmp_path, HEADER + MAP, "old.strat")
    new = model_of(tmp_path, HEADER + MAP.replace("b 3.2", "b 4"), "new.strat")
    (change,) = semantic_diff(old, new).changes
    (field,) = change.fields
    assert field.field == "mature -> churned"
    assert (field.old, field.new) == (
        "~ beta(a 0.7, b 3.2) per month",
        "~ beta(a 0.7, b 4) per month",
    )
