"""The per-step tables of every alternative of a comparison, for the report's trends, plays,
channels and map pages: the tables ``simulate --out`` writes (``simulator.results.tables``), one set
per alternative, stacked with an ``alternative`` column (docs/results.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from simulator.analysis.compare import Arm

__all__ = ["SERIES_TABLES", "alternative_tables"]

# The unserved table is left out: segment × tier × kind per step is the largest table and the
# comparison's report draws the map's gaps from the base alone.
SERIES_TABLES = (
    "totals",
    "population",
    "tier_moves",
    "stage_moves",
    "funnel",
    "suppression",
    "channels",
)


def alternative_tables(arms: Sequence[Arm]) -> dict[str, pd.DataFrame]:
    from simulator.results.tables import all_tables

    stacked: dict[str, list[pd.DataFrame]] = {name: [] for name in SERIES_TABLES}
    labels = [arm.label for arm in arms]
    for arm in arms:
        tables = all_tables(arm.output)
        for name in SERIES_TABLES:
            frame = tables[name].copy()
            frame.insert(0, "alternative", pd.Categorical([arm.label] * len(frame), labels))
            stacked[name].append(frame)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in stacked.items()}
