"""The work `stratmap test` does for one strategy map, as a picklable job for a worker process.

A job simulates the map (and every variant its expectations read) at the requested sizes with
common random numbers, judges the expectations, runs the personas through the decision code,
and records which plays the simulated customers and the personas reached. The result is a
plain JSON-able record, so that it can be cached and rendered without the simulator loaded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strategy_dsl.model import CheckedStrategy, ExpectationSpec, MetricRef

if TYPE_CHECKING:
    from simulator.engine.cluster import Cluster


@dataclass(frozen=True)
class Job:
    """One map to run: its display path, model, sizes and the threads it may use."""

    file: str
    model: CheckedStrategy
    customers: int | None
    months: int | None
    reps: int
    seed: int
    threads: int
    strategy_hash: str
    simulate: bool  # False for a persona-only file (`*_test.strat`)


def _number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _span(span: Any) -> dict[str, Any]:
    return span.model_dump()  # file, line, column, end_line, end_column


def _metric_text(ref: MetricRef) -> str:
    parts = [ref.name]
    if ref.of:
        parts.append(f"of {ref.of}")
    if ref.variant:
        parts.append(f"in {ref.variant}")
    if ref.uplift_vs:
        parts.append(f"uplift vs {ref.uplift_vs}")
    return " ".join(parts)


def _expectation_record(result: Any) -> dict[str, Any]:
    spec: ExpectationSpec = result.spec
    interval = result.interval
    record: dict[str, Any] = {
        "kind": "expectation",
        "span": _span(spec.span),
        "metric_span": _span(spec.metric.span),
        "against_span": (
            _span(spec.threshold.span) if isinstance(spec.threshold, MetricRef) else None
        ),
        "metric": _metric_text(spec.metric),
        "against": _metric_text(spec.threshold) if isinstance(spec.threshold, MetricRef) else None,
        "op": spec.op,
        "threshold": _number(result.threshold),
        "confidence": spec.confidence,
        "unit": result.unit,
        "passed": bool(result.passed),
        "value": _number(result.value),
        "bound": _number(result.bound),
        "low": _number(interval.low) if interval is not None else None,
        "high": _number(interval.high) if interval is not None else None,
        "per_rep": [_number(v) for v in result.per_rep],
        "error": None,
        "hint": None,
    }
    if result.error is not None:
        record["error"] = result.error.message
        record["hint"] = result.error.hint or None
    return record


def _coverage(model: CheckedStrategy, output: Any) -> dict[str, dict[str, int]]:
    """Per play: customer-steps where it was a candidate (its conditions held: eligible,
    held out or suppressed) and contacts made, summed over replications, steps and arms."""
    import numpy as np

    from simulator.output import FUNNEL_FIELDS

    funnel = np.asarray(output.funnel, dtype=np.int64)  # (R, T+1, P, A, F)
    # A candidate is eligible (held out or not) or suppressed before arbitration; arbitration,
    # capacity and budget cut among the eligible, so they are not added again.
    before = ("eligible", "suppressed_suitability", "suppressed_held", "suppressed_channel")
    wanted = [
        FUNNEL_FIELDS.index(name) for name in (*before, "suppressed_cooldown", "suppressed_cap")
    ]
    contacted = FUNNEL_FIELDS.index("contacted")
    by_play = funnel.sum(axis=(0, 1, 3))  # (P, F)
    return {
        play: {
            "candidates": int(by_play[p, wanted].sum()),
            "contacted": int(by_play[p, contacted]),
        }
        for p, play in enumerate(output.plays)
    }


def _personas(job: Job) -> tuple[list[dict[str, Any]], list[str]]:
    """The personas declared in the job's own file, each outcome judged; and the rules and
    journeys some persona got. (A `*_test.strat` file imports its map: the map's own personas
    are the map's job, so each persona runs once.)"""
    own = [p for p in job.model.personas.values() if p.span.file == job.file]
    if not own:
        return [], []
    from simulator.analysis.personas import run_personas

    records: list[dict[str, Any]] = []
    reached: set[str] = set()
    for result in run_personas(job.model, own):
        reached.update(result.won)
        outcomes = [
            {
                "span": _span(o.outcome.span),
                "text": o.text,
                "passed": bool(o.passed),
                "message": o.message,
            }
            for o in result.outcomes
        ]
        if result.error is not None:  # a fact the simulator cannot represent: every outcome fails
            outcomes = [{**o, "passed": False, "message": result.error} for o in outcomes]
        records.append(
            {
                "kind": "persona",
                "name": result.name,
                "span": _span(result.span),
                "outcomes": outcomes,
                "warnings": list(result.warnings),
            }
        )
    return records, sorted(reached)


def run_job(job: Job, cluster: Cluster | None = None) -> dict[str, Any]:
    """Simulate, judge and record one map (on ``cluster``, a Dask cluster, if given: the same
    numbers). Never raises for a strategy the simulator refuses: the record carries the error
    instead."""
    from simulator.analysis.expectations import evaluate, variants_needed
    from simulator.engine.run import SimulationError, simulate
    from strategy_dsl.variants import apply_variant

    started = time.perf_counter()
    record = _record(job)
    try:
        record["personas"], record["persona_reached"] = _personas(job)
        if job.simulate:
            runs = {}
            for name in [None, *variants_needed(job.model)]:
                model = job.model if name is None else apply_variant(job.model, name)
                runs[name] = simulate(
                    model,
                    customers=job.customers,
                    months=job.months,
                    reps=job.reps,
                    seed=job.seed,
                    threads=job.threads,
                    strategy_hash=job.strategy_hash,
                    cluster=cluster,
                )
            base = runs[None]
            record["customers"] = int(base.customers_initial)
            record["steps"], record["step_unit"] = int(base.steps), base.step_unit
            record["expectations"] = [_expectation_record(r) for r in evaluate(job.model, runs)]
            record["coverage"] = _coverage(job.model, base)
    except SimulationError as exc:
        record["error"] = getattr(exc, "message", str(exc))
        record["hint"] = getattr(exc, "hint", None) or None
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record


def _record(job: Job) -> dict[str, Any]:
    """A job's record before anything ran: what it is, no results, no error."""
    return {
        "file": job.file,
        "strategy": job.model.strategy.name,
        "hash": job.strategy_hash,
        "seed": job.seed,
        "reps": job.reps,
        "customers": job.customers,
        "months": job.months,
        "expectations": [],
        "personas": [],
        "coverage": {},
        "persona_reached": [],
        "error": None,
        "hint": None,
    }


def failed_record(job: Job, error: str, hint: str | None) -> dict[str, Any]:
    """The record of a job that could not run at all (its worker process died)."""
    return {**_record(job), "error": error, "hint": hint}
