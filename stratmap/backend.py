"""Where `simulate`, `compare`, `size` and `test` run: ``--backend local`` (this process, the
default) or ``--backend dask`` (a Dask cluster: ``--scheduler ADDRESS`` for an existing one,
else a local one of ``--workers N`` processes on 127.0.0.1). The options are validated before
any work; a cluster that cannot be used is a usage error (exit 2) with what to do. See
docs/scale.md."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from stratmap.errors import UsageError

if TYPE_CHECKING:
    from simulator.engine.cluster import Cluster, ClusterSpec

MAX_WORKERS = 1024


def add_backend_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--backend",
        choices=["local", "dask"],
        default="local",
        help="where to simulate: this process (default) or a Dask cluster; the same numbers",
    )
    command.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --backend dask: an existing scheduler, e.g. tcp://10.0.0.5:8786",
    )
    command.add_argument(
        "--workers",
        metavar="N",
        help="with --backend dask: a local cluster of N worker processes (default: one per core)",
    )


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cluster_spec(args: argparse.Namespace) -> ClusterSpec | None:
    """The cluster the options ask for (``None`` for the local backend); ``UsageError`` for
    options that do not go together, and when Dask is not installed."""
    from stratmap.inputs import parse_count

    backend = getattr(args, "backend", "local")
    scheduler, workers = getattr(args, "scheduler", None), getattr(args, "workers", None)
    if backend != "dask":
        given = "--scheduler" if scheduler is not None else "--workers" if workers else None
        if given is not None:
            raise UsageError(
                f"{given} is for a Dask cluster", f"add --backend dask, or leave {given} out"
            )
        return None
    if scheduler is not None and workers is not None:
        raise UsageError(
            "--scheduler and --workers: give one (an existing cluster's scheduler, or the "
            "size of a local cluster)"
        )
    if scheduler is not None and not scheduler.strip():
        raise UsageError("--scheduler '': an empty address; e.g. --scheduler tcp://10.0.0.5:8786")
    count = None if workers is None else parse_count("--workers", workers, low=1, high=MAX_WORKERS)
    threads = getattr(args, "threads", None)
    if scheduler is not None and threads is not None:
        raise UsageError(
            "--threads with --scheduler: the workers' threads are set where they start",
            "dask worker ADDRESS --nthreads K; or leave --threads out",
        )
    from simulator.engine.cluster import ClusterError, ClusterSpec, require_dask

    try:
        require_dask()
    except ClusterError as exc:
        raise UsageError(exc.message, exc.hint) from None
    if scheduler is not None:
        return ClusterSpec(scheduler=scheduler.strip())
    count = count or _cores()
    per_worker = (
        parse_count("--threads", threads, low=1, high=1024)
        if threads is not None
        else max(1, _cores() // count)
    )
    return ClusterSpec(workers=count, threads_per_worker=per_worker)


@contextlib.contextmanager
def cluster_for(spec: ClusterSpec | None) -> Iterator[Cluster | None]:
    """The cluster to run on for the duration (``None``: the local backend); a cluster that
    cannot be reached, or that loses its workers, is a ``UsageError``."""
    if spec is None:
        yield None
        return
    from simulator.engine.cluster import ClusterError, open_cluster

    try:
        with open_cluster(spec) as cluster:
            yield cluster
    except ClusterError as exc:
        raise UsageError(exc.message, exc.hint) from None
