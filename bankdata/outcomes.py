"""The outcomes of a live test, format v1: what the bank returns after launch for `review`.

One row per (customer_id, play) of the contact list: contacted, reached, responded, product
and amount bought, AUM before and after the measurement window, churned, complaint (columns in
``bankdata.tables.COLUMNS["outcomes"]``; docs/contact-list.md). Read through the one strict
reader of the bank's tables, so the bank's own column names map the same way as calibrate's
(``--map customer_id=客户号``), and every problem names the file, the column and the rows.

``match_list`` joins the outcomes to the list they answer: an outcome for a customer and play
that is not on the list is an error (a list from another run, ids reformatted by a spreadsheet);
list rows with no outcome are kept and counted, so the review can say how much is missing in
each arm.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from bankdata.tables import TableError, read_table

__all__ = ["FLAGS", "match_list", "read_outcomes"]

FLAGS = ("contacted", "reached", "responded", "churned", "complaint")
_SHOWN_ROWS = 5


def read_outcomes(path: Path, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The outcomes table, typed; raises ``TableError`` naming file, column and rows."""
    frame = read_table("outcomes", Path(path), mapping)
    # A customer can take up the product without a contact (the control arm's own purchases
    # are what uplift is measured against), but cannot be reached without one.
    bad = frame["reached"] & ~frame["contacted"]
    if bad.any():
        raise TableError(
            f"{path}: column reached: reached without being contacted at "
            f"{_rows(path, bad, frame['customer_id'])} (the funnel is contacted → reached; "
            "check the contacted column)"
        )
    return frame


def _first_row(path: Path) -> int:
    # A CSV or a sheet has its header on line 1; a Parquet file's rows count from 1.
    return 1 if Path(path).suffix.lower() in {".parquet", ".pq"} else 2


def _rows(path: Path, mask: pd.Series, values: pd.Series) -> str:
    first = _first_row(path)
    bad = values[mask]
    shown = ", ".join(f"row {int(i) + first} ({v!r})" for i, v in bad.head(_SHOWN_ROWS).items())
    more = f" and {len(bad) - _SHOWN_ROWS} more" if len(bad) > _SHOWN_ROWS else ""
    return shown + more


def match_list(list_rows: pd.DataFrame, outcomes: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The list's rows with their outcomes beside them (``has_outcome`` False where the bank
    returned none). An outcome whose (customer_id, play) is not on the list → ``TableError``."""
    key = ["customer_id", "play"]
    on_list = list_rows[key].astype(str).drop_duplicates()
    found = outcomes[key].merge(on_list, on=key, how="left", indicator=True)["_merge"]
    stray = (found == "left_only").to_numpy()
    if stray.any():
        mask = pd.Series(stray, index=outcomes.index)
        labels = outcomes["customer_id"] + " / " + outcomes["play"]
        raise TableError(
            f"{path}: {int(stray.sum())} outcome(s) for a customer and play not on the list, at "
            f"{_rows(path, mask, labels)} (outcomes answer the list they were decided with: "
            "check the ids kept their leading zeros and the play names match the list's)"
        )
    joined = list_rows.merge(outcomes, on=key, how="left", suffixes=("", "_bought"), indicator=True)
    joined["has_outcome"] = joined.pop("_merge") == "both"
    for flag in FLAGS:
        joined[flag] = joined[flag].astype("boolean").fillna(False).astype(bool)
    return joined
