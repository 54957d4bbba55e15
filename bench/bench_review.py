"""How fast `stratmap review` is on 1,000,000 outcomes, against reading the same two tables with
pyarrow alone (baseline, same run). Target (issue 18): ≤ 10 s.

The list and outcomes are the synthetic live test of the wealth map (bankdata.synthetic),
about 1,000,000 rows (customer, play); the list directory holds list.parquet and its manifest
(the review reads the Parquet file; the CSV and xlsx copies `decide` writes are for people).
Each row is given a random set of the map's segments (each with probability 0.3) and each
outcome its wave, so the review does everything a list v2 and outcomes v2 ask: the uplift
per play and segment, the outcomes matched by wave.

    pytest bench/bench_review.py --benchmark-only -s
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bankdata import contact_list
from bankdata.synthetic import synthetic_live_test
from strategy_dsl.checker import check_paths
from strategy_dsl.source_hash import source_hash
from stratmap.cli import main

REPO = Path(__file__).resolve().parents[1]
WEALTH = REPO / "strategies" / "wealth_2026q1.strat"
CUSTOMERS = 670_000  # one or two plays each: about 1,000,000 rows
TARGET_S = 10.0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    model = next(iter(check_paths([WEALTH]).models.values()))
    rows, outcomes = synthetic_live_test(model, CUSTOMERS, 3)
    rows["segments"] = _random_segments(list(model.segments), len(rows))
    outcomes.insert(2, "wave", rows["wave"])  # the synthetic outcomes follow the list's rows
    folder = tmp_path_factory.mktemp("live")
    list_dir = folder / "list"
    list_dir.mkdir()
    table = pa.Table.from_pandas(rows, schema=contact_list.SCHEMA, preserve_index=False)
    pq.write_table(table, list_dir / contact_list.PARQUET_FILE)
    manifest = {
        "format": contact_list.FORMAT,
        "version": contact_list.VERSION,
        "map": str(WEALTH),
        "map_hash": source_hash(model.source_files),
        "rows": len(rows),
    }
    (list_dir / contact_list.MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    outcomes_path = folder / "outcomes.parquet"
    outcomes.to_parquet(outcomes_path, index=False)
    return list_dir, outcomes_path, len(outcomes)


def _random_segments(names: list[str], n: int) -> np.ndarray:
    inside = np.random.default_rng(17).random((n, len(names))) < 0.3
    codes = inside @ (1 << np.arange(len(names)))
    combos, which = np.unique(codes, return_inverse=True)
    cells = [
        contact_list.SEGMENT_SEPARATOR.join(g for b, g in enumerate(names) if c >> b & 1) or None
        for c in combos
    ]
    return np.asarray(cells, dtype=object)[which]


def test_read_baseline(benchmark, live) -> None:
    """The floor: pyarrow reads both tables into pandas, nothing checked or computed."""
    list_dir, outcomes, n = live

    def read() -> None:
        pq.read_table(list_dir / contact_list.PARQUET_FILE).to_pandas()
        pq.read_table(outcomes).to_pandas()

    benchmark.pedantic(read, rounds=3, iterations=1)
    print(f"\npyarrow read of list + outcomes ({n:,} rows): {benchmark.stats.stats.mean:.2f} s")


def test_review_one_million_outcomes(benchmark, live) -> None:
    list_dir, outcomes, n = live
    argv = ["review", str(WEALTH), "--list", str(list_dir), "--outcomes", str(outcomes)]
    argv += ["--format", "json"]

    def review() -> int:
        with contextlib.redirect_stdout(io.StringIO()):
            return main(argv)

    code = benchmark.pedantic(review, rounds=3, iterations=1)
    assert code == 0
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update(rows=n, seconds=round(mean, 2))
    print(f"\nstratmap review of {n:,} outcomes: {mean:.2f} s (target ≤ {TARGET_S:g} s)")
    assert mean <= TARGET_S
