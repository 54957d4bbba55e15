"""Outcomes for a contact list, drawn from a known truth: the loop's last step before review.

    python -m bankdata.simulated_outcomes LIST_DIR -o OUTCOMES [--base 2%] [--uplift 3%]
        [--uplift-in SEGMENT=RATE ...] [--reach 60%] [--seed N]

reads a contact list (`stratmap decide -o LIST_DIR`, docs/contact-list.md) and writes outcomes
(v2, with each row's `wave`) as if the bank had run it, with a response whose truth is known,
so that `stratmap review` can be seen to find it (docs/loop.md):

- the list is followed: a row is contacted when its action is `contact`, never otherwise;
- a contact reaches the customer with probability ``reach``;
- every customer, in every arm, responds at the ``base`` rate on their own; a reached customer
  responds at ``base + uplift`` instead, where the uplift is ``--uplift-in``'s for the first
  segment given there that the row is in (the list's ``segments``), else ``--uplift``;
- so the true response uplift of treatment over control, by intention to treat (every
  treatment row counts, contacted or not), is the mean over a play's treatment rows of
  uplift × reach × contacted: ``true_uplift`` computes it per play (and per segment) from the
  list alone, and the command prints it;
- churn (2%) and complaints (0.3%) have no effect, AUM moves by a normal monthly return plus
  what a responder bought.

A development tool for the docs' walk-through and its test, not part of `stratmap`: real
outcomes come from the bank.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bankdata.contact_list import ContactListError, read_list, segment_members
from strategy_dsl import safe_write

__all__ = ["Truth", "simulate_outcomes", "true_uplift"]

CHURN, COMPLAINT = 0.02, 0.003


@dataclass(frozen=True)
class Truth:
    """The known truth: a base response for everyone, and the uplift of a reached contact,
    by segment (the first of ``by_segment`` a row is in) or else ``uplift``."""

    base: float = 0.02
    uplift: float = 0.03
    reach: float = 0.6
    by_segment: dict[str, float] = field(default_factory=dict)

    def row_uplift(self, rows: pd.DataFrame) -> np.ndarray:
        """The uplift a reached contact of each list row gets."""
        uplift = np.full(len(rows), self.uplift)
        decided = np.zeros(len(rows), dtype=bool)
        members = segment_members(rows["segments"])
        for segment, rate in self.by_segment.items():
            inside = members.get(segment, np.zeros(len(rows), dtype=bool)) & ~decided
            uplift[inside] = rate
            decided |= inside
        return uplift


def simulate_outcomes(rows: pd.DataFrame, truth: Truth, seed: int) -> pd.DataFrame:
    """One outcome per list row (the contact list's typed rows), drawn from ``truth``."""
    rng = np.random.default_rng(seed)
    n = len(rows)
    contacted = (rows["action"] == "contact").to_numpy(bool)
    reached = contacted & (rng.random(n) < truth.reach)
    rate = np.clip(truth.base + np.where(reached, truth.row_uplift(rows), 0.0), 0.0, 1.0)
    responded = rng.random(n) < rate
    aum_before = np.round(rng.lognormal(np.log(80_000), 1.0, n), 2)
    amount = np.where(responded, np.round(rng.lognormal(np.log(20_000), 0.8, n), 2), np.nan)
    aum_after = np.round(
        aum_before * (1.0 + rng.normal(0.002, 0.03, n)) + np.nan_to_num(amount), 2
    ).clip(0.0)
    return pd.DataFrame(
        {
            "customer_id": rows["customer_id"].to_numpy(object),
            "play": rows["play"].to_numpy(object),
            "wave": pd.array(rows["wave"], dtype="Int32"),
            "contacted": contacted,
            "reached": reached,
            "responded": responded,
            "product": np.where(responded, rows["product"].to_numpy(object), None),
            "amount": amount,
            "aum_before": aum_before,
            "aum_after": aum_after,
            "churned": rng.random(n) < CHURN,
            "complaint": rng.random(n) < COMPLAINT,
        }
    )


def _play_name(play: str, wave: object) -> str:
    return play if pd.isna(wave) else f"{play} wave {int(wave)}"  # as review names it


def true_uplift(rows: pd.DataFrame, truth: Truth) -> pd.DataFrame:
    """The true response uplift, treatment − control by intention to treat, per play and per
    play and segment (``segment`` empty for the play's own): the mean over the treatment rows
    of uplift × reach × contacted. Conditional on the list's contacts, which are fixed."""
    effect = truth.row_uplift(rows) * truth.reach * (rows["action"] == "contact").to_numpy()
    frame = pd.DataFrame(
        {
            "play": [_play_name(p, w) for p, w in zip(rows["play"], rows["wave"], strict=True)],
            "effect": effect,
            "treatment": (rows["arm"] == "treatment").to_numpy(bool),
        }
    )
    parts = [frame.assign(segment="")]
    for segment, inside in segment_members(rows["segments"]).items():
        parts.append(frame[inside].assign(segment=segment))
    treated = pd.concat(parts)
    treated = treated[treated["treatment"]]
    # plays in the list's order of first appearance, each play's own line before its segments
    treated["order"] = pd.factorize(treated["play"])[0]
    treated = treated.sort_values(["order", "segment"], kind="stable")
    out = treated.groupby(["play", "segment"], sort=False)["effect"].agg(["mean", "size"])
    return out.rename(columns={"mean": "uplift", "size": "treatment_rows"}).reset_index()


# ------------------------------------------------------------------------------ the command


def _rate(text: str) -> float:
    """``3%`` or ``0.03`` → 0.03; a rate outside [0, 1] is refused."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate (example: 3% or 0.03)") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{text}: a rate is between 0% and 100%")
    return value


def _segment_rate(text: str) -> tuple[str, float]:
    segment, sep, rate = text.partition("=")
    if not sep or not segment.strip():
        raise ValueError(f"{text!r} is not SEGMENT=RATE (example: 高净值=6%)")
    return segment.strip(), _rate(rate.strip())


def _write(path: Path, outcomes: pd.DataFrame) -> None:
    """Parquet or CSV by the name's suffix, written beside and renamed over: a file that
    exists is replaced whole or not at all."""
    temporary = safe_write.temporary_name(path.parent, path.name)
    try:
        if path.suffix.lower() == ".csv":
            outcomes.to_csv(temporary, index=False, encoding="utf-8-sig")
        else:
            outcomes.to_parquet(temporary, index=False)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankdata.simulated_outcomes", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("list", type=Path, metavar="LIST_DIR", help="a contact-list directory")
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="OUTCOMES")
    parser.add_argument("--base", default="2%", help="everyone's own response rate (2%%)")
    parser.add_argument("--uplift", default="3%", help="a reached contact's uplift (3%%)")
    parser.add_argument(
        "--uplift-in",
        action="append",
        default=[],
        metavar="SEGMENT=RATE",
        help="the uplift of a reached contact in that segment (first given wins)",
    )
    parser.add_argument("--reach", default="60%", help="the share of contacts reached (60%%)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        truth = Truth(
            base=_rate(args.base),
            uplift=_rate(args.uplift),
            reach=_rate(args.reach),
            by_segment=dict(_segment_rate(item) for item in args.uplift_in),
        )
        if truth.base + max([truth.uplift, *truth.by_segment.values()]) > 1.0:
            raise ValueError("base + uplift is above 100%")
    except ValueError as exc:
        parser.error(str(exc))  # exit 2
    if args.seed < 0:
        parser.error(f"--seed {args.seed}: a seed is 0 or more")
    if args.out.suffix.lower() not in {".parquet", ".csv"}:
        parser.error(f"-o {args.out}: name a .parquet or .csv file")
    if args.out.is_dir():
        parser.error(f"-o {args.out}: is a directory; name a .parquet or .csv file")
    if args.out.exists() and not args.out.is_file():  # renaming over it replaces the node
        parser.error(f"-o {args.out}: not a regular file (a FIFO, a device or a socket)")
    where = safe_write.overlap(args.out, args.list)
    if where is not None:  # the outcomes written over the list they answer
        parser.error(f"-o {args.out}: {where} the list {args.list}; name a file outside it")
    try:
        rows = read_list(args.list).rows
    except ContactListError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    unknown = set(truth.by_segment) - set(segment_members(rows["segments"]))
    if unknown:
        parser.error(f"--uplift-in: no row of the list is in {', '.join(sorted(unknown))}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _write(args.out, simulate_outcomes(rows, truth, args.seed))
    print(f"wrote {args.out}: {len(rows)} outcomes")
    print("true response uplift, treatment − control (intention to treat):")
    for row in true_uplift(rows, truth).itertuples():
        if not row.segment or row.segment in truth.by_segment:
            where = f"{row.play} in {row.segment}" if row.segment else row.play
            print(f"  {where}: {row.uplift * 100:+.2f}pp ({row.treatment_rows} treatment rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
