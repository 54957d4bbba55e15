"""Every counter and results table of every bundled map, bit for bit as stored in
tests/data/golden_counters.json (tests/make_golden_counters.py writes it; regenerate only for a
change of the simulation's semantics made on purpose)."""

from __future__ import annotations

import json

import pytest
from make_golden_counters import GOLDEN, map_digests, map_names

STORED = json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_every_bundled_map_has_golden_counters() -> None:
    assert sorted(STORED) == map_names(), "run tests/make_golden_counters.py for a new map"


@pytest.mark.parametrize("name", map_names())
def test_counters_are_bit_identical_to_the_golden_revision(name: str) -> None:
    found = map_digests(name)
    expected = STORED[name]
    assert sorted(found) == sorted(expected), "the map's variants changed"
    for alternative, digests in expected.items():
        changed = sorted(k for k, v in digests.items() if found[alternative].get(k) != v)
        assert not changed, f"{name} {alternative}: {changed} differ from the golden revision"
        assert sorted(found[alternative]) == sorted(digests)
