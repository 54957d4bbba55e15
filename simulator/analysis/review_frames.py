"""A review document (schema ``stratmap.review/1``) as flat tables, for `stratmap review --out
DIR` (docs/results.md, "`stratmap review MAP … --out DIR`"): one row per scope and arm, per
uplift, per funnel stage, per play's recalibration, per uplift within a segment. Each column
has one type whatever the data (a review without a forecast has its forecast columns all
missing, still float64), so a reader of the Parquet files can rely on the page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["review_frames"]


def _bounds(prefix: str, interval: Mapping[str, Any] | None) -> dict[str, float | None]:
    interval = interval or {}
    return {
        prefix: interval.get("estimate"),
        f"{prefix}_low": interval.get("low"),
        f"{prefix}_high": interval.get("high"),
    }


def _frame(rows: list[dict[str, Any]], types: Mapping[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(types))
    return frame.astype(dict(types))


_PLAY = {"play": "string", "wave": "Int64"}
_SAMPLE_RATIO = {
    "scope": "string",
    "arm": "string",
    "customers": "int64",
    "observed_share": "float64",
    "declared_share": "float64",
    "p_value": "float64",
    "mismatch": "boolean",
}
_UPLIFT = {
    **_PLAY,
    "versus": "string",
    "metric": "string",
    "unit": "string",
    "n_treatment": "int64",
    "n_control": "int64",
    "actual": "float64",
    "actual_low": "float64",
    "actual_high": "float64",
    "forecast": "float64",
    "forecast_low": "float64",
    "forecast_high": "float64",
    "inside": "boolean",
}
_UPLIFT_BY_SEGMENT = {
    **_PLAY,
    "segment": "string",
    **{key: kind for key, kind in _UPLIFT.items() if key not in _PLAY},
}
_FUNNEL = {
    **_PLAY,
    "stage": "string",
    "n": "int64",
    "count": "int64",
    "actual": "float64",
    "forecast": "float64",
    "forecast_low": "float64",
    "forecast_high": "float64",
    "inside": "boolean",
}
_RECALIBRATION = {
    **_PLAY,
    "reached": "int64",
    "responded": "int64",
    "map_rate": "float64",
    "forecast_rate_among_reached": "float64",
    "posterior_rate_among_reached": "float64",
    "posterior_low": "float64",
    "posterior_high": "float64",
    "changed": "bool",
    "proposed_rate": "float64",
}


def review_frames(document: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """``sample_ratio``, ``uplift``, ``funnel``, ``recalibration`` and
    ``uplift_by_segment`` of a review document."""
    sample_ratio = [
        {
            "scope": entry["scope"],
            "arm": arm,
            "customers": n,
            "observed_share": n / max(sum(entry["counts"].values()), 1),
            "declared_share": entry["declared"].get(arm),
            "p_value": entry["p_value"],
            "mismatch": entry["mismatch"],
        }
        for entry in document["sample_ratio"]
        for arm, n in entry["counts"].items()
    ]
    uplift = [_uplift(row) for row in document["uplift"]]
    by_segment = [
        {"segment": row["segment"], **_uplift(row)}
        for row in document.get("uplift_by_segment", [])  # absent from an older review
    ]
    funnel = [
        {
            **{key: row[key] for key in ("play", "wave", "stage", "n", "count", "actual")},
            **{k: v for k, v in _bounds("forecast", row["forecast"]).items()},
            "inside": row["inside"],
        }
        for row in document["funnel"]
    ]
    recalibration = [{key: row[key] for key in _RECALIBRATION} for row in document["recalibration"]]
    return {
        "sample_ratio": _frame(sample_ratio, _SAMPLE_RATIO),
        "uplift": _frame(uplift, _UPLIFT),
        "funnel": _frame(funnel, _FUNNEL),
        "recalibration": _frame(recalibration, _RECALIBRATION),
        "uplift_by_segment": _frame(by_segment, _UPLIFT_BY_SEGMENT),
    }


def _uplift(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **{key: row[key] for key in ("play", "wave", "versus", "metric", "unit")},
        "n_treatment": row["n_treatment"],
        "n_control": row["n_control"],
        **_bounds("actual", row["actual"]),
        **_bounds("forecast", row["forecast"]),
        "inside": row["inside"],
    }
