"""How fast `stratmap calibrate` is (issue 17, "Speed"): 1,000,000 customers with 24 monthly
balances each (24 M rows) and 30 M transactions, against reading the same three files with
pyarrow alone, measured in the same run.

The bank is generated once (seeded) as Parquet, the way a warehouse exports it (ids as text,
dates as DATE), into a temporary folder kept for the module. STRATMAP_BENCH_CALIBRATE sets the
customers (default 1,000,000); balances are 24 a customer, transactions 30 a customer
(calibration.synthetic.write_large_bank).

Target (issue 17): ≤ 60 s and ≤ 4 GiB at 1,000,000 customers.

    pytest bench/bench_calibrate.py --benchmark-only -s
    STRATMAP_BENCH_CALIBRATE=100000 pytest bench/bench_calibrate.py --benchmark-only -s

Figures: docs/calibration.md, Speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from calibration.synthetic import write_large_bank

REPO = Path(__file__).resolve().parents[1]
CUSTOMERS = int(os.environ.get("STRATMAP_BENCH_CALIBRATE", 1_000_000))
TARGET_S, TARGET_GIB = 60.0, 4.0
_MEASURED = (
    "import resource, sys, time; t = time.perf_counter(); c = time.process_time(); "
    "from stratmap.cli import main; code = main(sys.argv[1:]); "
    "wall, cpu = time.perf_counter() - t, time.process_time() - c; "
    "print('measured', wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
    "file=sys.stderr); sys.exit(code)"
)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    started = time.perf_counter()
    paths = write_large_bank(tmp_path_factory.mktemp("bank"), CUSTOMERS)
    rows = {name: pq.ParquetFile(p).metadata.num_rows for name, p in paths.items()}
    size = sum(p.stat().st_size for p in paths.values()) / 2**20
    print(
        f"\nbank of {CUSTOMERS:,} customers generated in {time.perf_counter() - started:.1f} s: "
        f"{rows} rows, {size:,.0f} MiB of Parquet"
    )
    return paths


_FLOOR = (
    "import resource, sys, time; t = time.perf_counter(); c = time.process_time(); "
    "import pandas, pyarrow.parquet as pq; [pq.read_table(p).to_pandas() for p in sys.argv[1:]]; "
    "wall, cpu = time.perf_counter() - t, time.process_time() - c; "
    "print('measured', wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
    "file=sys.stderr)"
)


def _command(paths: dict[str, Path], out: Path) -> list[str]:
    return [
        "-c", _MEASURED, "calibrate",
        "--customers", str(paths["customers"]),
        "--balances", str(paths["balances"]),
        "--transactions", str(paths["transactions"]),
        "--as-of", "2026-06-30",
        "-o", str(out / "calibrated.strat"),
        "--json", str(out / "calibration.json"),
    ]  # fmt: skip


def _measured(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak GiB of one run in a new process (the interpreter's
    start and imports not counted in wall and CPU; they are in the peak)."""
    done = subprocess.run(
        [sys.executable, *argv], check=True, cwd=REPO, capture_output=True, text=True
    )
    wall, cpu, peak_kib = done.stderr.split("measured")[1].split()
    return float(wall), float(cpu), int(peak_kib) / 2**20


def test_calibrate_against_pyarrow(benchmark, bank: dict[str, Path], tmp_path: Path) -> None:
    """`stratmap calibrate` in a new process — wall, CPU, peak memory — against pyarrow reading
    every column of the same three files into pandas in another, in the same run."""
    floor = _measured(["-c", _FLOOR, *map(str, bank.values())])
    wall, cpu, peak = benchmark.pedantic(
        _measured, args=(_command(bank, tmp_path),), rounds=1, iterations=1
    )
    benchmark.extra_info.update(
        customers=CUSTOMERS, wall_s=wall, cpu_s=cpu, peak_gib=peak, floor_wall_s=floor[0],
        floor_cpu_s=floor[1], floor_peak_gib=floor[2],
    )  # fmt: skip
    print(
        f"\nstratmap calibrate, {CUSTOMERS:,} customers: {wall:.1f} s wall, {cpu:.1f} s CPU, "
        f"peak {peak:.2f} GiB; pyarrow reading the same files: {floor[0]:.1f} s wall, "
        f"{floor[1]:.1f} s CPU, peak {floor[2]:.2f} GiB → {wall / floor[0]:.1f}x its wall, "
        f"{cpu / floor[1]:.1f}x its CPU, {peak / floor[2]:.1f}x its memory "
        f"(target at 1,000,000: ≤ {TARGET_S:.0f} s, ≤ {TARGET_GIB:.0f} GiB)"
    )
    assert (tmp_path / "calibrated.strat").exists()
    assert peak < TARGET_GIB
