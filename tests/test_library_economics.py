"""The bundled library in a bank's numbers (issue 16 item 9): every map earns on its whole book
a plausible share of AUM, in both arms, sizes its purchases to the customer, starts with the
products its customers already hold, and values customers beyond the horizon; the economics
table of docs/strategies.md is what docs/make_economics_table.py makes of it."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from sim_support import STRATEGIES

from strategy_dsl.checker import check_paths

ROOT = Path(__file__).resolve().parent.parent
MAPS = sorted(p.name for p in STRATEGIES.glob("*.strat"))


@functools.cache
def _table_script() -> ModuleType:
    """docs/make_economics_table.py as a module (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "make_economics_table", ROOT / "docs" / "make_economics_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_library_is_all_there() -> None:
    assert len(MAPS) == 14, MAPS


@pytest.mark.parametrize("name", MAPS)
def test_map_is_written_in_a_banks_money(name: str) -> None:
    """A book with a lifetime, holdings at step 0, and every product a play sells (cards
    aside: their amount is the autopay balance, not an investment) sized to the customer."""
    (model,) = check_paths([STRATEGIES / name]).models.values()
    assert model.book is not None and model.book.lifetime_steps, name
    assert any(p.held for p in model.products.values()), f"{name}: nobody holds anything"
    offered = {w.product for j in model.journeys for w in j.waves} | {
        r.product for r in model.rules
    }
    unsized = [
        p
        for p in sorted(offered)
        if model.products[p].kind != "card" and model.products[p].buy_share is None
    ]
    assert not unsized, f"{name}: purchases not sized to the customer: {unsized}"


@pytest.mark.parametrize("name", MAPS)
def test_book_revenue_is_a_banks_margin_on_aum(name: str) -> None:
    """Book revenue ÷ mean AUM per year within the issue's sanity band (0.3–1.5%), and the
    control arm earns on its balances too (at 3,000 customers over 12 months: the band is a
    property of the book's split and rates, not of the size)."""
    script = _table_script()
    e = script.economics(STRATEGIES / name, customers=3000, months=12, reps=1)
    assert 0.003 < e.book_yield < 0.015, (name, e.book_yield)
    assert e.control_revenue > 0, name
    assert e.book_revenue > 0.5 * e.revenue, (name, e.book_revenue, e.revenue)


@pytest.mark.slow  # every map at its declared size, five replications: minutes, not seconds
def test_doc_economics_table_is_what_the_script_makes() -> None:
    """The table in docs/strategies.md, regenerated at the maps' declared sizes."""
    script = _table_script()
    made = script.table([script.economics(path) for path in script.map_paths()])
    doc = script.doc_table(script.DOC.read_text(encoding="utf-8"))
    assert doc == made, "run python docs/make_economics_table.py --write"
