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
    """The outcomes table, typed; raises ``TableError`` naming file, column and rows. The
    optional ``wave`` column (outcomes v2) comes back as nullable integers (``Int32``)."""
    # An infinite amount or balance (which would pass "0 or more" and make every mean
    # infinite) is refused by the table reader, for every number column of every table.
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
    if "wave" in frame:
        wave = frame["wave"]
        bad = wave.notna() & ((wave != wave.round()) | (wave < 1))
        if bad.any():
            raise TableError(
                f"{path}: column wave: not a wave number at {_rows(path, bad, wave)} "
                "(a journey's wave is a whole number from 1; empty for a rule)"
            )
        frame["wave"] = wave.astype("Int32")
    return frame


def _first_row(path: Path) -> int:
    # A CSV or a sheet has its header on line 1; a Parquet file's rows count from 1.
    return 1 if Path(path).suffix.lower() in {".parquet", ".pq"} else 2


def _rows(path: Path, mask: pd.Series, values: pd.Series, count: int | None = None) -> str:
    """The first rows ``mask`` marks, each with its value; ``values`` may hold only those
    first rows, with ``count`` the number marked."""
    first = _first_row(path)
    bad = values[mask.reindex(values.index, fill_value=False)]
    count = len(bad) if count is None else count
    shown = ", ".join(f"row {int(i) + first} ({v!r})" for i, v in bad.head(_SHOWN_ROWS).items())
    more = f" and {count - _SHOWN_ROWS} more" if count > _SHOWN_ROWS else ""
    return shown + more


def match_list(list_rows: pd.DataFrame, outcomes: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The list's rows with their outcomes beside them (``has_outcome`` False where the bank
    returned none). An outcome whose (customer_id, play[, wave]) is not on the list →
    ``TableError``; so are outcomes without a ``wave`` column for a list that holds two waves
    of one journey for one customer (which of them would the outcome answer?).

    Outcomes are one per key (``read_outcomes`` refuses duplicates), so each list row finds
    at most one: the key is turned into one integer per row (the id's code among both tables'
    ids × the number of (play, wave) pairs + the pair's code) and looked up in an index, which
    on a million rows is several times faster than a multi-column join."""
    by_wave = "wave" in outcomes.columns
    if not by_wave:
        _check_one_wave_per_play(list_rows, path)
    n_list = len(list_rows)
    id_codes, _ids = pd.factorize(
        pd.concat([list_rows["customer_id"], outcomes["customer_id"]], ignore_index=True)
    )
    list_play, names = pd.factorize(list_rows["play"])
    names = pd.Index(names)
    their_play = names.get_indexer(outcomes["play"])  # -1: a play not on the list
    if by_wave:  # the pair (play, wave): a wave number past the list's is no pair of it
        waves = int(max(_wave_codes(list_rows["wave"]).max(initial=0), 0)) + 1
        their_wave = _wave_codes(outcomes["wave"])
        their_play = np.where((their_play >= 0) & (their_wave < waves), their_play, -1)
        list_play = list_play * waves + _wave_codes(list_rows["wave"])
        their_play = np.where(their_play >= 0, their_play * waves + their_wave, -1)
        width = len(names) * waves + 1
    else:
        width = len(names) + 1
    list_key = id_codes[:n_list].astype(np.int64) * width + list_play
    their_key = id_codes[n_list:].astype(np.int64) * width + their_play
    found = pd.Index(their_key).get_indexer(list_key)  # per list row: its outcome row or -1
    answered = np.zeros(len(outcomes), dtype=bool)
    answered[found[found >= 0]] = True
    stray = ~answered | (their_play < 0)
    if stray.any():
        mask = pd.Series(stray, index=outcomes.index)
        # Each part as text, a missing one as "-": a missing value in a string sum (a rule's
        # empty wave) made the whole label NaN, and the message showed "(nan)".
        # Only the stray rows, which may be all of a million.
        shown = outcomes[mask].head(_SHOWN_ROWS)
        parts = [shown["customer_id"], shown["play"]]
        if by_wave:
            parts.append(shown["wave"].map(lambda w: "wave -" if pd.isna(w) else f"wave {w}"))
        labels = pd.Series(
            [
                " / ".join("-" if pd.isna(v) else str(v) for v in row)
                for row in zip(*parts, strict=True)
            ],
            index=shown.index,
        )
        what = "customer, play and wave" if by_wave else "customer and play"
        count = int(stray.sum())
        raise TableError(
            f"{path}: {count} outcome(s) for a {what} not on the list, at "
            f"{_rows(path, mask, labels, count)} (outcomes answer the list they were decided with: "
            "check the ids kept their leading zeros and the play names"
            f"{' and waves' if by_wave else ''} match the list's)"
            # Either side may have been through Excel: a list re-saved from its CSV too.
            + _excel_hint(
                pd.concat([outcomes["customer_id"][mask], list_rows["customer_id"]]).head(
                    _EXCEL_SAMPLE
                )
            )
        )
    has = found >= 0
    take = np.where(has, found, 0)
    joined = list_rows.copy()
    for column in outcomes.columns:
        if column in ("customer_id", "play", "wave"):
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


_EXCEL_SAMPLE = 100_000  # ids looked at for Excel's numbers: enough, and quick on a million
_EXCEL_NUMBER = r"\d+(\.\d+)?[eE][+-]?\d+|\d+\.0+"


def _excel_hint(ids: pd.Series) -> str:
    """A hint when ids look like what Excel makes of a long or zero-led id it opened as a
    number (``6.22202E+18``, ``1001.0``): the digits are gone and cannot be matched."""
    looks = ids.astype(str).str.fullmatch(_EXCEL_NUMBER)
    if not looks.fillna(False).any():
        return ""
    example = ids[looks.fillna(False).to_numpy(bool)].iloc[0]
    return (
        f"\nhelp: ids like {example!r} are numbers Excel made of the ids (digits and leading "
        "zeros lost); take the ids from the list's list.parquet or list.xlsx (ids as text), "
        "or import the CSV in Excel with the customer_id column as Text"
    )


def _wave_codes(wave: pd.Series) -> np.ndarray:
    """A wave number as a code: 0 for a rule's row (no wave), the number itself for a wave."""
    return pd.to_numeric(wave, errors="coerce").fillna(0).to_numpy(np.int64)


def _check_one_wave_per_play(list_rows: pd.DataFrame, path: Path) -> None:
    """Outcomes v1 (no ``wave``) answer a (customer, play): refused for a list with two
    waves of one journey for the same customer."""
    # A list holds one row per (customer, play, wave): only journey rows can repeat a pair.
    journeys = list_rows.loc[list_rows["wave"].notna().to_numpy(bool), ["customer_id", "play"]]
    twice = journeys.duplicated(keep=False)
    if twice.any():
        first = journeys[twice].iloc[0]
        raise TableError(
            f"{path}: no column wave, but the list holds {int(twice.sum())} rows that are "
            f"two waves of one journey for one customer (first: {first['customer_id']!r}, "
            f"{first['play']!r}); an outcome without its wave cannot say which it answers\n"
            "help: add a wave column (the list's wave number; empty for a rule), "
            "docs/contact-list.md"
        )
