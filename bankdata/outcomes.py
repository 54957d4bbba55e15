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

import numpy as np
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
    returned none). An outcome whose (customer_id, play) is not on the list → ``TableError``.

    Outcomes are one per (customer_id, play) (``read_outcomes`` refuses duplicates), so each
    list row finds at most one: the pair is turned into one integer per row (the id's code
    among both tables' ids × the number of plays + the play's code) and looked up in an
    index, which on a million rows is several times faster than a two-column join."""
    n_list = len(list_rows)
    id_codes, _ids = pd.factorize(
        pd.concat([list_rows["customer_id"], outcomes["customer_id"]], ignore_index=True)
    )
    list_play, names = pd.factorize(list_rows["play"])
    names = pd.Index(names)
    their_play = names.get_indexer(outcomes["play"])  # -1: a play not on the list
    width = len(names) + 1
    list_key = id_codes[:n_list].astype(np.int64) * width + list_play
    their_key = id_codes[n_list:].astype(np.int64) * width + their_play
    found = pd.Index(their_key).get_indexer(list_key)  # per list row: its outcome row or -1
    answered = np.zeros(len(outcomes), dtype=bool)
    answered[found[found >= 0]] = True
    stray = ~answered | (their_play < 0)
    if stray.any():
        mask = pd.Series(stray, index=outcomes.index)
        labels = outcomes["customer_id"].astype(str) + " / " + outcomes["play"].astype(str)
        raise TableError(
            f"{path}: {int(stray.sum())} outcome(s) for a customer and play not on the list, at "
            f"{_rows(path, mask, labels)} (outcomes answer the list they were decided with: "
            "check the ids kept their leading zeros and the play names match the list's)"
        )
    has = found >= 0
    take = np.where(has, found, 0)
    joined = list_rows.copy()
    for column in outcomes.columns:
        if column in ("customer_id", "play"):
            continue
        values = outcomes[column].to_numpy()[take] if len(outcomes) else None
        name = f"{column}_bought" if column in joined.columns else column
        if column in FLAGS:
            joined[name] = has & values.astype(bool) if values is not None else has
        else:
            taken = pd.Series(values, index=joined.index) if values is not None else None
            joined[name] = taken.where(has) if taken is not None else np.nan
    joined["has_outcome"] = has
    return joined
