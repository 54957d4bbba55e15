"""The strategy map as the report draws it: ``map.json`` in a results directory.

A results directory holds numbers; the 策略管理看板 also draws the map that produced them (the
grid of customer group × moment → play → product, channel and script), its expectations judged
on the run, and its source. ``simulate --out`` and ``compare --out`` write this document beside
the tables (schema ``stratmap.map/1``, docs/results.md), so the report needs neither the
strategy files nor the simulator: the directory can be mailed on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strategy_dsl import model as m
from strategy_dsl.diagnostics import Span

if TYPE_CHECKING:
    from simulator.output import RunOutput

__all__ = ["MAP_FILE", "MAP_SCHEMA", "map_document"]

MAP_SCHEMA = "stratmap.map/1"
MAP_FILE = "map.json"
# Rows and columns of the grid for plays that name no group or no moment.
EVERYONE = "全部客户"
EVERY_STEP = "每期"


def _span(span: Span | None) -> dict[str, Any] | None:
    if span is None:
        return None
    return {"file": span.file, "line": span.line}


def _groups(condition: m.Condition | None) -> list[str]:
    """Segments and tiers a condition asks for (not those it excludes with ``not``), in the
    order written: the rows of the grid the play sits in."""
    found: dict[str, None] = {}

    def walk(node: Any, negated: bool) -> None:
        if isinstance(node, m.Not):
            walk(node.operand, not negated)
        elif isinstance(node, (m.All, m.Any)):
            for operand in node.operands:
                walk(operand, negated)
        elif negated:
            return
        elif isinstance(node, (m.SegmentRef, m.TierRef)):
            found[node.name] = None
        elif isinstance(node, m.AttributeIn) and node.attribute == "tier":
            for value in node.values:
                found[str(value)] = None

    if condition is not None:
        walk(condition, False)
    return list(found)


def _moments(condition: m.Condition | None) -> list[str]:
    """Triggers a play waits for: the columns of the grid."""
    found: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, m.TriggerRef):
            found[node.name] = None
        elif isinstance(node, (m.All, m.Any)):
            for operand in node.operands:
                walk(operand)
        elif isinstance(node, m.Not):
            walk(node.operand)

    if condition is not None:
        walk(condition)
    return list(found)


def _plays(model: m.CheckedStrategy) -> list[dict[str, Any]]:
    def script_text(name: str | None) -> str | None:
        return None if name is None else model.scripts[name].text

    plays = []
    for rule in model.rules:
        plays.append(
            {
                "play": rule.name,
                "kind": "rule",
                "group": rule.name,
                "priority": rule.priority,
                "segments": _groups(rule.when) or [EVERYONE],
                "triggers": _moments(rule.on) or [EVERY_STEP],
                "product": rule.product,
                "channel": rule.channel,
                "script": rule.script,
                "script_text": script_text(rule.script),
                "source": _span(rule.span),
            }
        )
    for journey in model.journeys:
        for wave in journey.waves:
            plays.append(
                {
                    "play": f"{journey.name} wave {wave.number}",
                    "kind": "wave",
                    "group": journey.name,
                    "priority": journey.priority,
                    "segments": _groups(journey.when) or [EVERYONE],
                    "triggers": _moments(journey.entry) or [EVERY_STEP],
                    "product": wave.product,
                    "channel": wave.channel,
                    "script": wave.script,
                    "script_text": script_text(wave.script),
                    "source": _span(wave.span),
                }
            )
    return plays


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _expectations(
    model: m.CheckedStrategy, runs: Mapping[str | None, RunOutput] | None
) -> list[dict[str, Any]]:
    """Every `expect` line judged on ``runs`` (the base run, and the variants' where a compare
    ran them); a line that needs a run not made here is listed as not measured."""
    if not model.expectations:
        return []
    from simulator.analysis.expectations import evaluate, variants_needed

    records: list[dict[str, Any]] = []
    missing = [name for name in variants_needed(model) if runs is None or name not in runs]
    judged = []
    if runs is not None and not missing:
        judged = evaluate(model, runs)
    elif runs is not None:
        # Judge the lines this run can measure, one at a time.
        for spec in model.expectations:
            needs = {spec.metric.variant, spec.metric.uplift_vs} | (
                {spec.threshold.variant, spec.threshold.uplift_vs}
                if isinstance(spec.threshold, m.MetricRef)
                else set()
            )
            if needs & set(missing):
                judged.append(None)
            else:
                judged.extend(evaluate(replace(model, expectations=(spec,)), runs))
    for index, spec in enumerate(model.expectations):
        result = judged[index] if index < len(judged) else None
        record: dict[str, Any] = {"source": _span(spec.span), "status": "not measured"}
        if result is not None:
            interval = result.interval
            record.update(
                status="pass" if result.passed else "fail",
                value=_finite(result.value),
                bound=_finite(result.bound),
                low=_finite(interval.low) if interval else None,
                high=_finite(interval.high) if interval else None,
                threshold=_finite(result.threshold),
                unit=result.unit,
                error=None if result.error is None else result.error.message,
            )
        else:
            record["error"] = (
                "needs the run of variant "
                + ", ".join(missing)
                + ": `stratmap test` or `stratmap compare` measures it"
            )
        records.append(record)
    return records


def _sources(files: Iterable[str]) -> list[dict[str, str]]:
    sources = []
    for shown in files:
        try:
            text = Path(shown).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # checked a moment ago; a file gone since is left out of the page
        sources.append({"file": shown, "text": text})
    return sources


def map_document(
    model: m.CheckedStrategy, runs: Mapping[str | None, RunOutput] | None = None
) -> dict[str, Any]:
    """The map of ``model`` for the report: plays with their grid position, product, channel
    and script; declared groups, moments and channels; the expectations judged on ``runs``;
    the source files (the strategy's imports first, as the model lists them)."""
    header = model.strategy
    return {
        "schema": MAP_SCHEMA,
        "name": header.name,
        "currency": header.currency,
        "step_unit": header.step,
        "segments": [
            {"name": name, "source": _span(spec.span)} for name, spec in model.segments.items()
        ]
        + [{"name": tier.name, "source": _span(tier.span), "tier": True} for tier in model.tiers],
        "triggers": [
            {"name": name, "source": _span(spec.span)} for name, spec in model.triggers.items()
        ],
        "channels": [
            {
                "name": name,
                "cost_per_contact": spec.cost_per_contact,
                "capacity_per_step": spec.capacity_per_step,
                "source": _span(spec.span),
            }
            for name, spec in model.channels.items()
        ],
        "plays": _plays(model),
        "expectations": _expectations(model, runs),
        "sources": _sources(model.source_files),
    }
