"""How fast `stratmap decide` is (issue 18): one decision step of the wealth map on a large
snapshot, against reading the same snapshot with pyarrow alone in the same run.

The snapshot is the documented one: `stratmap simulate --snapshot-at 2 --snapshot DIR` on
STRATMAP_BENCH_DECIDE customers (default 1,000,000), so it carries the history a bank's would
(holdings, every past contact, journeys, the flows the map's triggers look back on). Beyond
1,000,000 the simulated book is copied under new ids (``tile_book``) until it holds that many:
simulating ten million customers would hold the shared machine for an hour, and a decision
is every customer's own but for the capacity and budget cuts, which `snapshot.json` scales.
STRATMAP_BENCH_DECIDE_SNAPSHOT names a snapshot already written (a bank's, or an earlier run's)
instead.

Target (issue 18): 10,000,000 customers with history in ≤ 60 s and ≤ 8 GiB.

    pytest bench/bench_decide.py --benchmark-only -s
    STRATMAP_BENCH_DECIDE=10000000 pytest bench/bench_decide.py -s -k command

Figures: docs/decide.md, Speed.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from bankdata.contact_list import write_list
from bankdata.decide import decide
from bankdata.snapshot import read_snapshot
from bankdata.snapshot_state import as_of_of, spec_for
from simulator.engine.sizes import compiled_of
from strategy_dsl.checker import check_paths

REPO = Path(__file__).resolve().parents[1]
WEALTH = REPO / "strategies" / "wealth_2026q1.strat"
CUSTOMERS = int(os.environ.get("STRATMAP_BENCH_DECIDE", 1_000_000))
GIVEN = os.environ.get("STRATMAP_BENCH_DECIDE_SNAPSHOT")
SIMULATED = 1_000_000  # the most customers simulated; a larger book is copies of this one
STEP = 2  # the book of step 2, decided at step 3 (2000-03-01)
TARGET_S, TARGET_GIB, TARGET_CUSTOMERS = 60.0, 8.0, 10_000_000
_PEAK = (
    "import resource, sys; from stratmap.cli import main; code = main(sys.argv[1:]); "
    "print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)
_FLOOR = (
    "import sys, pathlib, pyarrow.parquet as pq; "
    "files = sorted(pathlib.Path(sys.argv[1]).glob('*.parquet')); "
    "print(sum(pq.read_table(p).num_rows for p in files))"
)


def tile_book(book: Path, copies: int, out: Path) -> Path:
    """``copies`` copies of a simulated book's tables under new ids (copy k adds k times a power
    of ten above every id), with ``snapshot.json`` scaling the capacities and budgets to the
    whole: a book of ``copies`` times the customers, each as the simulation left it."""
    out.mkdir(parents=True)
    ids = pq.read_table(book / "customers.parquet", columns=["customer_id"])["customer_id"]
    shift = 10 ** len(str(pc.max(pc.cast(ids, pa.int64())).as_py()))
    for path in sorted(book.glob("*.parquet")):
        table = pq.read_table(path)
        column = table.schema.get_field_index("customer_id")
        number = pc.cast(table["customer_id"], pa.int64())
        with pq.ParquetWriter(out / path.name, table.schema) as writer:
            for k in range(copies):
                moved = pc.cast(pc.add(number, k * shift), table.schema.field(column).type)
                writer.write_table(table.set_column(column, "customer_id", moved))
    meta = json.loads((book / "snapshot.json").read_text(encoding="utf-8"))
    meta["simulated"]["customers"] *= copies
    (out / "snapshot.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    return out


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if GIVEN:
        return Path(GIVEN)
    out = tmp_path_factory.mktemp("book") / "snapshot"
    started = time.perf_counter()
    copies = math.ceil(CUSTOMERS / SIMULATED)
    simulated = out if copies == 1 else out.with_name("simulated")
    subprocess.run(
        [sys.executable, "-m", "stratmap", "simulate", str(WEALTH), "--customers",
         str(CUSTOMERS // copies), "--months", str(STEP + 1), "--snapshot-at", str(STEP),
         "--snapshot", str(simulated), "-q"],
        check=True, cwd=REPO,
    )  # fmt: skip
    if copies > 1:
        tile_book(simulated, copies, out)
    files = sorted(out.glob("*.parquet"))
    rows = {p.stem: pq.ParquetFile(p).metadata.num_rows for p in files}
    size = sum(p.stat().st_size for p in files) / 2**20
    print(f"\nsnapshot of {CUSTOMERS:,} customers ({copies} copies) in "
          f"{time.perf_counter() - started:.1f} s: "
          f"{rows} rows, {size:,.0f} MiB of Parquet")  # fmt: skip
    return out


def _read_floor(folder: Path) -> int:
    return sum(pq.read_table(p).num_rows for p in sorted(folder.glob("*.parquet")))


def test_read_floor(benchmark, snapshot: Path) -> None:
    """The baseline: every table of the snapshot read by pyarrow, nothing checked."""
    rows = benchmark.pedantic(_read_floor, args=(snapshot,), rounds=3, iterations=1)
    benchmark.extra_info.update(rows=rows)
    print(f"\npyarrow alone: {rows:,} rows in {benchmark.stats.stats.mean:.2f} s")


def test_decide_in_process(benchmark, snapshot: Path, tmp_path: Path) -> None:
    """Reading and validating the snapshot, the decision, and the list's three files, each
    timed; the benchmark is the first two (what `decide` adds to a read)."""
    path = WEALTH
    model = next(iter(check_paths([path]).models.values()))
    meta = json.loads((snapshot / "snapshot.json").read_text(encoding="utf-8"))
    compiled = compiled_of(model, meta["simulated"]["customers"])
    spec = spec_for(compiled, model)
    as_of = as_of_of(STEP + 1, compiled.step_days)
    decide(compiled, model, read_snapshot(snapshot, spec, as_of), spec, as_of, compiled.seed)

    def read_and_decide():  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        snap = read_snapshot(snapshot, spec, as_of)
        read = time.perf_counter() - started
        return read, decide(compiled, model, snap, spec, as_of, compiled.seed)

    read, decision = benchmark.pedantic(read_and_decide, rounds=3, iterations=1)
    floor_started = time.perf_counter()
    _read_floor(snapshot)
    floor = time.perf_counter() - floor_started
    started = time.perf_counter()
    write_list(tmp_path / "list", decision.rows, {"map_hash": "-"})
    written = time.perf_counter() - started
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        customers=CUSTOMERS, list_rows=len(decision.rows), read_s=read, floor_s=floor,
        write_s=written,
    )  # fmt: skip
    print(
        f"\ndecide on {CUSTOMERS:,} customers: {mean:.2f} s (read and validate {read:.2f} s, "
        f"decision {mean - read:.2f} s) = {mean / floor:.1f}x pyarrow's {floor:.2f} s read; "
        f"the list ({len(decision.rows):,} rows) written in {written:.1f} s "
        f"(Parquet, CSV, xlsx); at {TARGET_CUSTOMERS:,}: about "
        f"{mean * TARGET_CUSTOMERS / CUSTOMERS:.0f} s + the list (target ≤ {TARGET_S:.0f} s)"
    )


def _child_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def test_decide_command_peak_memory(snapshot: Path, tmp_path: Path) -> None:
    """`stratmap decide` in a new process, default formats, against pyarrow reading every
    table of the snapshot in a new process of its own, the same run: wall time, CPU time (user
    and system) and peak memory."""
    cpu, started = _child_cpu(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, "decide", str(WEALTH), "--customers", str(snapshot),
         "--as-of", "2000-03-01", "-o", str(tmp_path / "list"), "-q"],
        check=True, cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - started, _child_cpu() - cpu
    peak = int(done.stderr.split("peak_kib")[1].split()[0]) / 2**20
    floor_cpu, started = _child_cpu(), time.perf_counter()
    read = subprocess.run(
        [sys.executable, "-c", _FLOOR, str(snapshot)],
        check=True, cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    floor_wall, floor_cpu = time.perf_counter() - started, _child_cpu() - floor_cpu
    customers = pq.ParquetFile(snapshot / "customers.parquet").metadata.num_rows
    manifest = json.loads((tmp_path / "list" / "manifest.json").read_text(encoding="utf-8"))
    load = os.getloadavg()[0]
    print(
        f"\nstratmap decide, {customers:,} customers ({int(read.stdout):,} rows), new process: "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU, peak {peak:.2f} GiB; the list {manifest['rows']:,} "
        f"rows ({', '.join(manifest['files'])}); pyarrow reading the snapshot alone: "
        f"{floor_wall:.1f} s wall, {floor_cpu:.1f} s CPU; decide = {wall / floor_wall:.1f}x "
        f"its wall, {cpu / floor_cpu:.1f}x its CPU (load average {load:.1f} on "
        f"{os.cpu_count()} cores; target at {TARGET_CUSTOMERS:,}: ≤ {TARGET_S:.0f} s, "
        f"≤ {TARGET_GIB:.0f} GiB)"
    )
    assert peak < TARGET_GIB
