"""A synthetic live test whose truth is known: a contact list and its outcomes for a map.

    python -m bankdata.synthetic MAP DIR [--customers N] [--seed S] [--response-factor F]

writes ``DIR/list/`` (a contact list, as `stratmap decide` writes one) and
``DIR/outcomes.parquet`` (outcomes v1: no wave), for the docs' example of `stratmap review`
against a forecast, its tests and its benchmark, without a book to decide on; its rows have no
segments. ``bankdata.simulated_outcomes`` answers a list `decide` wrote instead (docs/loop.md).
What it draws:

- each customer is eligible for one or two of the map's plays (rules and journey waves);
- arms: the map's ``control N%`` of customers are 非模型组 (global control); of the rest, each
  play's ``holdout N%`` of its rows are its holdout; the others are treatment;
- a treatment row is contacted (85%) or suppressed for capacity; control and holdout rows are
  suppressed with reason ``control`` / ``holdout``;
- a contact reaches the customer at the channel's ``reach``; a reached customer responds at
  the map's ``response`` × ``response_factor`` (the truth a review should find; default 0.8,
  so the review proposes lower rates); control and holdout customers buy on their own at 0.5%;
- AUM moves by a normal monthly return, plus what a responder bought; churn is 2% (1.5% after
  a response); complaints 0.2%, 0.5% when contacted.

Arms here are a seeded draw, not the keyed hash `decide` uses: the data are made up either way.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bankdata.contact_list import write_list
from strategy_dsl.source_hash import source_hash

if TYPE_CHECKING:
    from strategy_dsl.model import CheckedStrategy

__all__ = ["TRUTH", "LiveTruth", "synthetic_live_test", "write_synthetic_live_test"]


@dataclass(frozen=True)
class LiveTruth:
    """The known truth of a synthetic live test."""

    response_factor: float = 0.8  # actual response among reached = map rate × this
    contact_rate: float = 0.85
    organic_response: float = 0.005
    churn: float = 0.02
    churn_after_response: float = 0.015
    complaint: float = 0.002
    complaint_contacted: float = 0.005


TRUTH = LiveTruth()  # the default truth


def _plays(model: CheckedStrategy) -> pd.DataFrame:
    rows = [
        (r.name, None, r.channel, r.script, r.product, float(r.priority), r.response, r.holdout)
        for r in model.rules
    ]
    for journey in model.journeys:
        for wave in journey.waves:
            rows.append(
                (
                    journey.name,
                    wave.number,
                    wave.channel,
                    wave.script,
                    wave.product,
                    float(journey.priority),
                    wave.response,
                    journey.holdout,
                )
            )
    columns = ["play", "wave", "channel", "script", "product", "priority", "response", "holdout"]
    plays = pd.DataFrame(rows, columns=columns)
    plays["reach"] = [model.channels[c].reach for c in plays["channel"]]
    return plays


def synthetic_live_test(
    model: CheckedStrategy,
    customers: int = 20_000,
    seed: int = 11,
    truth: LiveTruth = TRUTH,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(list rows, outcomes) for ``customers`` customers of ``model``; vectorised."""
    rng = np.random.default_rng(seed)
    plays = _plays(model)
    ids = np.char.add("C", np.char.zfill(np.arange(customers).astype(str), 8))
    in_control = rng.random(customers) < model.policy.control
    second = rng.random(customers) < 0.5
    owner = np.concatenate([np.arange(customers), np.flatnonzero(second)])
    first_play = rng.integers(0, len(plays), customers)
    other_play = (first_play[second] + rng.integers(1, max(len(plays), 2), second.sum())) % len(
        plays
    )
    which = np.concatenate([first_play, other_play])
    rows = plays.iloc[which].reset_index(drop=True)
    rows.insert(0, "customer_id", ids[owner])
    # Two waves of one journey for one customer would be one (customer, play) twice.
    keep = ~rows.duplicated(["customer_id", "play"]).to_numpy()
    rows, owner = rows[keep].reset_index(drop=True), owner[keep]
    n = len(rows)
    holdout = rng.random(n) < rows["holdout"].to_numpy()
    arm = np.where(
        in_control[owner], "global_control", np.where(holdout, "rule_holdout", "treatment")
    )
    contact = (arm == "treatment") & (rng.random(n) < truth.contact_rate)
    reason = np.where(
        contact,
        None,
        np.where(
            arm == "global_control",
            "control",
            np.where(arm == "rule_holdout", "holdout", "capacity"),
        ),
    )
    list_rows = pd.DataFrame(
        {
            "customer_id": rows["customer_id"],
            "play": rows["play"],
            "wave": pd.array(rows["wave"], dtype="Int32"),
            "channel": rows["channel"],
            "script": rows["script"],
            "product": rows["product"],
            "priority": rows["priority"],
            "arm": arm,
            "action": np.where(contact, "contact", "suppress"),
            "reason": reason,
            "segments": None,  # no segments drawn here: the review's per-segment part is empty
        }
    )
    reached = contact & (rng.random(n) < rows["reach"].to_numpy())
    rate = np.minimum(rows["response"].to_numpy() * truth.response_factor, 1.0)
    responded = np.where(
        reached,
        rng.random(n) < rate,
        (arm != "treatment") & (rng.random(n) < truth.organic_response),
    )
    aum_before = np.round(rng.lognormal(np.log(80_000), 1.0, n), 2)
    amount = np.where(responded, np.round(rng.lognormal(np.log(20_000), 0.8, n), 2), np.nan)
    aum_after = np.round(
        aum_before * (1.0 + rng.normal(0.002, 0.03, n)) + np.nan_to_num(amount), 2
    ).clip(0.0)
    churn = np.where(responded, truth.churn_after_response, truth.churn)
    complaint = np.where(contact, truth.complaint_contacted, truth.complaint)
    outcomes = pd.DataFrame(
        {
            "customer_id": rows["customer_id"],
            "play": rows["play"],
            "contacted": contact,
            "reached": reached,
            "responded": responded,
            "product": np.where(responded, rows["product"], None),
            "amount": amount,
            "aum_before": aum_before,
            "aum_after": aum_after,
            "churned": rng.random(n) < churn,
            "complaint": rng.random(n) < complaint,
        }
    )
    return list_rows, outcomes


def write_synthetic_live_test(
    map_path: Path,
    out: Path,
    customers: int = 20_000,
    seed: int = 11,
    truth: LiveTruth = TRUTH,
) -> tuple[Path, Path]:
    """Write ``out/list/`` and ``out/outcomes.parquet``; returns their paths."""
    from strategy_dsl.checker import check_paths

    report = check_paths([Path(map_path)])
    if any(d.is_error for d in report.diagnostics) or not report.models:
        raise ValueError(f"{map_path}: does not check; run `stratmap check {map_path}`")
    model = next(iter(report.models.values()))
    list_rows, outcomes = synthetic_live_test(model, customers, seed, truth)
    manifest = {
        "map": str(map_path),
        "map_hash": source_hash(model.source_files),
        "snapshot_hash": None,
        "as_of": "2026-06-30",
        "seed": seed,
        "capacity_used": {},
        "synthetic": True,
    }
    out.mkdir(parents=True, exist_ok=True)
    list_dir = write_list(out / "list", list_rows, manifest)
    outcomes_path = out / "outcomes.parquet"
    outcomes.to_parquet(outcomes_path, index=False)
    return list_dir, outcomes_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankdata.synthetic", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("map", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--response-factor", type=float, default=LiveTruth.response_factor)
    args = parser.parse_args(argv)
    truth = LiveTruth(response_factor=args.response_factor)
    list_dir, outcomes = write_synthetic_live_test(
        args.map, args.out, args.customers, args.seed, truth
    )
    print(f"wrote {list_dir}/ and {outcomes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
