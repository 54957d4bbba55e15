"""Reading a results directory for the report, or taking a run's results still in memory.

What a report needs from each kind of directory is named here, so that a directory with a
file missing, a table without a column the report reads, or one written by another version of
the results format is refused with one plain message (``ReportInputError``: the command exits
2), never a traceback half-way through drawing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from strategy_dsl.errors import StratmapError
from strategy_dsl.userfile import read_user_json
from stratmap.report.strategy_map import MAP_FILE, MAP_SCHEMA

__all__ = [
    "KINDS",
    "ReportInputError",
    "Results",
    "load_results",
    "results_from_review",
    "results_from_run",
]

SUMMARY_FILE = "summary.json"

# Schema of summary.json → the kind of results, and the tables (with the columns the report
# reads) each kind must have. Optional tables are drawn when present.
KINDS = {
    "stratmap.simulation/1": "simulation",
    "stratmap.compare/1": "comparison",
    "stratmap.review/1": "review",  # `stratmap review --format json`: one document, no tables
    "stratmap.backtest/1": "backtest",  # `stratmap backtest --out DIR`
}
# The command that writes each kind of results directory (for the hint of a refusal).
_WRITTEN_BY = {
    "simulation": "simulate FILE --out DIR",
    "comparison": "compare FILE --out DIR",
    "review": "review MAP … --out DIR",
    "backtest": "backtest … --out DIR",
}
_SERIES = {
    "totals": ["rep", "step", "arm", "customers", "aum", "acquired", "churned"],
    "population": ["rep", "step", "arm", "stage", "tier", "customers"],
}
_REQUIRED = {
    "simulation": {
        **_SERIES,
        "funnel": ["rep", "step", "play", "kind", "channel", "arm", "eligible", "contacted"],
        "suppression": ["rep", "step", "play", "arm", "reason", "count"],
        "channels": ["rep", "step", "channel", "arm", "contacts", "responded", "cost"],
    },
    "comparison": {
        "differences": ["variant", "metric", "difference", "low", "high"],
        "ranking": ["rank", "arm", "net_value"],
    },
    "review": {},
    "backtest": {
        "periods": [
            "period",
            "start",
            "actual",
            "simulated",
            "holdout",
            "cumulative_actual",
            "cumulative_simulated",
        ],
        "bins": ["bin", "customers", "actual", "stratmap", "carried_forward", "no_change"],
        "errors": ["forecast", "holdout_total", "holdout_error", "rmse", "mae"],
    },
}
# Tables a kind's directory lists that no page reads: checked to be there, not read (a
# back-test's per-customer table has a row per customer of the bank).
_NOT_READ = {"backtest": {"customers"}}
# Tier and stage moves are optional: directories written before they were counted have none.
_MOVES = {
    "tier_moves": ["rep", "step", "arm", "from_tier", "to_tier", "direction", "customers"],
    "stage_moves": ["rep", "step", "arm", "from_stage", "to_stage", "customers"],
}
_OPTIONAL = {
    "simulation": _MOVES,
    "comparison": {name: [*cols, "alternative"] for name, cols in {**_SERIES, **_MOVES}.items()},
    "review": {},
    "backtest": {},
}
# The JSON kind of each top-level key the pages read, per kind of results: a key present with
# another kind (a hand edit, a damaged file: `null` for an object) is refused by name rather
# than failing deep in a page. A back-test's summary is read by its own page's checks.
_NUMBER = (int, float)
_KEY_KINDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "simulation": {
        "strategy": dict,
        "run": dict,
        "interval": dict,
        "metrics": dict,
        "uplift": dict,
        "plays": list,
        "notes": list,
        "unserved_top": list,
        "files": dict,
    },
    "comparison": {
        "base": str,
        "arms": list,
        "horizon": dict,
        "differences": dict,
        "uplift": dict,
        "uplift_by_play": dict,
        "uplift_by_segment": dict,
        "sample_ratio": dict,
        "ranking": list,
        "notes": list,
        "strategy": dict,
        "files": dict,
    },
    "review": {
        "confidence": _NUMBER,
        "prior_strength": _NUMBER,
        "rows": dict,
        "sample_ratio": list,
        "uplift": list,
        "funnel": list,
        "recalibration": list,
        "uplift_by_segment": list,
        "notes": list,
        "map": dict,
        "list": dict,
        "diff": str,
    },
    "backtest": {"files": dict},
}
_JSON_KIND = {dict: "an object", list: "a list", str: "a string", _NUMBER: "a number"}


def _check_key_kinds(kind: str, summary: Mapping[str, Any], where: str) -> None:
    for key, expected in _KEY_KINDS[kind].items():
        value = summary.get(key)
        if key in summary and (not isinstance(value, expected) or isinstance(value, bool)):
            found = "null" if summary[key] is None else type(summary[key]).__name__
            raise ReportInputError(
                f"{where}: `{key}` is {found}, expected {_JSON_KIND[expected]}",
                "the file was edited or is damaged: write it again with "
                f"`stratmap {_WRITTEN_BY[kind]}`",
            )


# The keys of a review document the report reads (docs/review.md).
_REVIEW_KEYS = ("sample_ratio", "uplift", "funnel", "recalibration", "notes")


class ReportInputError(StratmapError):
    """Results the report cannot read: ``message`` says what, ``hint`` what to do."""


@dataclass
class Results:
    """One run's results: its kind, ``summary.json``, the tables, and ``map.json`` when the
    run wrote one (older directories have none: the map, expectations and source pages are
    then left out)."""

    kind: str
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    strategy_map: dict[str, Any] | None
    origin: str  # the directory, or "this run"
    notes: list[str] = field(default_factory=list)

    @property
    def currency(self) -> str:
        run = self.summary.get("run") or {}
        if run.get("currency"):
            return str(run["currency"])
        return str((self.strategy_map or {}).get("currency") or "CNY")

    @property
    def step_unit(self) -> str:
        run = self.summary.get("run") or self.summary.get("horizon") or {}
        return str(run.get("step_unit") or "month")

    @property
    def strategy_name(self) -> str:
        if self.kind == "review":
            return Path(str((self.summary.get("map") or {}).get("file") or "")).stem
        if self.kind == "backtest":
            return f"回测 back-test {self.summary.get('split')} → {self.summary.get('end')}"
        return str((self.summary.get("strategy") or {}).get("name") or "")


def _check_tables(kind: str, tables: Mapping[str, pd.DataFrame], where: str) -> None:
    for required, columns in [*_REQUIRED[kind].items(), *_OPTIONAL[kind].items()]:
        if required not in tables:
            if required in _OPTIONAL[kind]:
                continue
            raise ReportInputError(
                f"{where}: the {kind} results have no `{required}` table ({required}.parquet)",
                f"the directory is incomplete: write it again with `stratmap {_WRITTEN_BY[kind]}`",
            )
        absent = [c for c in columns if c not in tables[required].columns]
        if absent:
            raise ReportInputError(
                f"{where}: {required}.parquet has no column " + ", ".join(f"`{c}`" for c in absent),
                "it was written by another version of Stratmap; write it again with this one",
            )


def _kind(summary: Mapping[str, Any], where: str) -> str:
    schema = summary.get("schema")
    if schema not in KINDS:
        wrote = summary.get("tool_version")
        by = f" (written by stratmap {wrote})" if wrote else ""
        raise ReportInputError(
            f"{where}: results of schema `{schema}`{by}; this version reports on "
            + " and ".join(f"`{s}`" for s in KINDS),
            "write the results again with this version (`stratmap simulate … --out DIR`), or "
            "report on them with the version that wrote them",
        )
    return KINDS[schema]


_MAX_JSON_BYTES = 256 * 2**20  # a review of a million outcomes is a few MB


def _read_json(path: Path, shown: str, hint: str | None = None) -> Any:
    """A JSON document, from a regular file only and bounded (a FIFO would block forever)."""
    try:
        return read_user_json(path, _MAX_JSON_BYTES)
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, not JSON, too deep
        raise ReportInputError(
            f"{shown}: cannot be read as JSON ({exc})",
            hint or "the directory is damaged: write it again with `stratmap simulate … --out DIR`",
        ) from None


def _check_map(document: Any, shown: str) -> dict[str, Any]:
    if not isinstance(document, dict) or document.get("schema") != MAP_SCHEMA:
        schema = document.get("schema") if isinstance(document, dict) else None
        raise ReportInputError(
            f"{shown}: a map of schema `{schema}`; this version reads `{MAP_SCHEMA}`",
            "write the results again with this version of Stratmap",
        )
    return document


def load_results(directory: Path) -> Results:
    """The results in ``directory`` (as ``simulate``, ``compare``, ``review`` or ``backtest``
    ``--out`` wrote them)."""
    shown = str(directory)
    if directory.suffix.lower() == ".json":
        if not os.path.lexists(directory):
            raise ReportInputError(
                f"{shown}: no such file",
                "write a review's document with `stratmap review … --format json > FILE`",
            )
        return _review_file(directory)
    if not directory.is_dir():
        what = "not a directory" if directory.exists() else "no such directory"
        raise ReportInputError(
            f"{shown}: {what}",
            "pass the directory `stratmap simulate FILE --out DIR` or `compare --out` wrote",
        )
    summary_path = directory / SUMMARY_FILE
    if not os.path.lexists(summary_path):
        raise ReportInputError(
            f"{shown}: not a results directory (no {SUMMARY_FILE})",
            "write one with `stratmap simulate FILE --out DIR` (or `compare … --out DIR`)",
        )
    summary = _read_json(summary_path, f"{shown}/{SUMMARY_FILE}")
    if not isinstance(summary, dict):
        raise ReportInputError(f"{shown}/{SUMMARY_FILE}: not a results summary (not an object)")
    kind = _kind(summary, f"{shown}/{SUMMARY_FILE}")
    _check_key_kinds(kind, summary, f"{shown}/{SUMMARY_FILE}")
    if kind == "review":
        return results_from_review(summary, shown)
    tables: dict[str, pd.DataFrame] = {}
    for name, entry in (summary.get("files") or {}).items():
        file_name = str(entry.get("file", f"{name}.parquet")) if isinstance(entry, dict) else ""
        path = directory / file_name
        if not file_name or Path(file_name).name != file_name or not path.is_file():
            raise ReportInputError(
                f"{shown}: {file_name or name} is listed in {SUMMARY_FILE} but missing",
                f"the directory is incomplete: write it again with `stratmap {_WRITTEN_BY[kind]}`",
            )
        if name in _NOT_READ.get(kind, ()):
            continue
        try:
            tables[name] = pd.read_parquet(path, engine="pyarrow")
        except Exception as exc:  # pyarrow raises several kinds for a damaged file
            raise ReportInputError(
                f"{shown}/{file_name}: cannot be read as Parquet ({type(exc).__name__}: {exc})",
                "the file is damaged: write the results again",
            ) from None
    _check_tables(kind, tables, shown)
    strategy_map = None
    map_path = directory / MAP_FILE
    notes = []
    if kind == "backtest":  # a back-test simulates a map of its own making: nothing to draw
        pass
    elif map_path.is_file():
        strategy_map = _check_map(
            _read_json(map_path, f"{shown}/{MAP_FILE}"), f"{shown}/{MAP_FILE}"
        )
    else:
        notes.append(
            f"{shown} has no {MAP_FILE} (written by an earlier version): the strategy map, "
            "expectations and source pages are left out"
        )
    return Results(kind, summary, tables, strategy_map, shown, notes)


def results_from_run(
    summary: dict[str, Any],
    tables: Mapping[str, pd.DataFrame],
    strategy_map: dict[str, Any] | None,
) -> Results:
    """A run's results still in memory (``simulate --report`` without ``--out``)."""
    kind = _kind(summary, "this run")
    _check_tables(kind, tables, "this run")
    return Results(kind, summary, dict(tables), strategy_map, "this run")


def _review_file(path: Path) -> Results:
    """A review document (`stratmap review --format json > FILE`)."""
    shown = str(path)
    hint = "write it again: `stratmap review … --format json > FILE`"
    document = _read_json(path, shown, hint)
    if not isinstance(document, dict) or _kind(document, shown) != "review":
        schema = document.get("schema") if isinstance(document, dict) else None
        raise ReportInputError(
            f"{shown}: a JSON file of schema `{schema}`; a file passed to `stratmap report` "
            "must be a review (`stratmap.review/1`)",
            "write it with `stratmap review MAP --list DIR --outcomes FILE --format json > "
            "FILE`, or pass a results directory",
        )
    return results_from_review(document, shown)


def results_from_review(document: dict[str, Any], origin: str) -> Results:
    """A `stratmap review` document, from a file or still in memory (``review --report``)."""
    _check_key_kinds("review", document, origin)
    absent = [key for key in _REVIEW_KEYS if not isinstance(document.get(key), list)]
    if absent:
        raise ReportInputError(
            f"{origin}: the review has no " + ", ".join(f"`{k}`" for k in absent),
            "it was written by another version of Stratmap; run `stratmap review` again",
        )
    return Results("review", document, {}, None, origin)
