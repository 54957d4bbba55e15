"""`--backend dask` on the command line: `simulate --out` writes the local backend's tables and
summary.json; `compare`, `size` and `test` print the same numbers; options that do not go
together, a missing Dask and a scheduler that cannot be reached exit 2 before any work, with what
to do."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from stratmap.cli import main

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
WEALTH = str(ROOT / "strategies" / "wealth_2026q1.strat")
REFERRAL = str(ROOT / "strategies" / "mgm_referral.strat")
TINY = ["--customers", "3000", "--months", "4", "--reps", "2", "-q"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 1,000 customers, so that a small run spreads over both workers."""
    from simulator.engine import cluster

    monkeypatch.setattr(cluster, "BLOCK_CUSTOMERS", 1000)


def _summary(folder: Path) -> dict:
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    summary.pop("timings")
    return summary


def test_simulate_out_on_two_workers_writes_the_local_tables(
    tmp_path: Path, small_blocks: None
) -> None:
    local, remote = tmp_path / "local", tmp_path / "dask"
    assert run("simulate", WEALTH, *TINY, "--out", str(local))[0] == 0
    code, _, err = run(
        "simulate", WEALTH, *TINY, "--out", str(remote), "--backend", "dask", "--workers", "2"
    )
    assert code == 0, err
    assert _summary(local) == _summary(remote)
    tables = sorted(p.name for p in local.glob("*.parquet"))
    assert tables and tables == sorted(p.name for p in remote.glob("*.parquet"))
    for name in tables:
        pd.testing.assert_frame_equal(
            pd.read_parquet(local / name), pd.read_parquet(remote / name), check_exact=True
        )


def test_compare_and_test_print_the_same_numbers(tmp_path: Path, small_blocks: None) -> None:
    dask = ["--backend", "dask", "--workers", "2"]
    compare = ["compare", WEALTH, "--variant", "激进", *TINY, "--format", "json"]
    local, remote = run(*compare), run(*compare, *dask)
    assert local[0] == remote[0] == 0, remote[2]
    assert json.loads(local[1]) == json.loads(remote[1])
    test = ["test", REFERRAL, "--customers", "3000", "--months", "4", "--reps", "2"]
    test += ["--no-cache", "--format", "json"]
    local, remote = run(*test), run(*test, *dask)
    assert local[0] == remote[0] and local[0] in (0, 1), remote[2]

    def numbers(text: str) -> list:
        files = json.loads(text)["files"]
        for entry in files:  # how long each took is not a number of the run
            entry.pop("seconds", None)
            entry["record"].pop("seconds")
        return files

    assert numbers(local[1]) == numbers(remote[1])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_size_on_the_cluster_prints_the_local_sizing(small_blocks: None, workers: str) -> None:
    """`size` follows every eligible customer: on a cluster each worker follows its blocks'
    (treatment vs control, and base vs variant with --variant), the same sizing to the bit."""
    size = ["size", WEALTH, "--variant", "激进", *TINY, "--format", "json"]
    local, remote = run(*size), run(*size, "--backend", "dask", "--workers", workers)
    assert local[0] == remote[0] == 0, remote[2]
    document = json.loads(remote[1])
    assert document == json.loads(local[1])
    sized = [m for m in document["metrics"] if m["error"] is None]
    assert len(sized) >= 3 and all(m["sd_control"] is not None for m in sized[:3])
    assert document["variant_test"]["contacted_per_month"]["variant"] > 0


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--workers", "2"], "--workers is for a Dask cluster"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler is for a Dask cluster"),
        (["--backend", "dask", "--workers", "2", "--scheduler", "tcp://x:1"], "give one"),
        (["--backend", "dask", "--workers", "0"], "--workers 0: must be at least 1"),
        (["--backend", "dask", "--workers", "two"], "--workers two: not a whole number"),
        (["--backend", "dask", "--scheduler", " "], "an empty address"),
        (["--backend", "dask", "--scheduler", "tcp://h:1", "--threads", "2"], "--nthreads"),
        (["--backend", "spark"], "invalid choice"),
    ],
)
def test_options_that_do_not_go_together_exit_2(
    tmp_path: Path, options: list[str], says: str
) -> None:
    out = tmp_path / "out"
    code, _, err = run("simulate", WEALTH, *TINY, "--out", str(out), *options)
    assert code == 2 and says in err, err
    assert "Traceback" not in err and not out.exists()


def test_an_unreachable_scheduler_exits_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simulator.engine import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    out = tmp_path / "out"
    argv = ["simulate", WEALTH, *TINY, "--out", str(out)]
    code, _, err = run(*argv, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2, err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "help: start the scheduler" in err and "Traceback" not in err
    assert not out.exists()


def test_without_dask_the_message_gives_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    code, _, err = run("simulate", WEALTH, *TINY, "--backend", "dask", "--workers", "2")
    assert code == 2, err
    assert "needs dask.distributed, which is not installed" in err
    assert "pip install 'stratmap[dask]'" in err and "Traceback" not in err


def test_a_snapshot_of_the_book_runs_on_the_local_backend_only(tmp_path: Path) -> None:
    """`--snapshot-at` writes customers' rows from this process: refused on a cluster, before
    any work (nothing written)."""
    out = tmp_path / "book"
    argv = ["simulate", WEALTH, *TINY, "--snapshot-at", "1", "--snapshot", str(out)]
    code, _, err = run(*argv, "--backend", "dask", "--workers", "2")
    assert code == 2, err
    assert "--from and --snapshot-at read or write customers' rows in this process" in err
    assert "help: run them on the local backend" in err and not out.exists()
