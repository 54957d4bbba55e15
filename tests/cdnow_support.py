"""The CDNOW sample (2,357 customers, 1997-98 CD purchases) for the published back-test: shipped
in the `lifetimes==0.11.3` wheel (a test dependency) and read without importing `lifetimes`,
whose imports fail on current pandas."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

START = pd.Timestamp("1997-01-01")
CALIBRATION_END = pd.Timestamp("1997-09-30")  # weeks 1-39
HOLDOUT_END = pd.Timestamp("1998-06-30")  # weeks 40-78


def cdnow_sample_path() -> Path:
    spec = importlib.util.find_spec("lifetimes")  # locates the package; does not import it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("lifetimes==0.11.3 (the `test` extra) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_sample.txt"


def read_cdnow() -> pd.DataFrame:
    """Every purchase line: customer_id (text), date, cds, amount."""
    raw = pd.read_csv(
        cdnow_sample_path(),
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"date": str, "customer_id": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw
