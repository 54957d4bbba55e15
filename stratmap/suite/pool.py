"""Worker processes for `stratmap test`: each map runs in one, and no worker outlives the run.

A small pool written for two things ``concurrent.futures.ProcessPoolExecutor`` cannot do:

- **say which map a dead worker was running.** When a worker dies (the out-of-memory killer's
  SIGKILL, a crash), the executor breaks every job at once and cannot tell which one killed it.
  Here each worker runs one job at a time, so the job whose worker died is known: it gets a
  record of its own (``on_death``), a fresh worker takes the next job, and the other maps are
  reported as usual;
- **die with the parent.** Workers are started with ``stratmap.signals.die_with_parent``: killed
  by the kernel (Linux) or by their own watchdog when the parent dies, even by SIGKILL. When the
  parent stops for any other reason (an exception, Ctrl-C, SIGTERM, which
  ``stratmap.signals`` turns into ``KeyboardInterrupt``) it terminates them on the way out.

Workers are started with ``spawn`` (a fresh interpreter: no thread pool or lock inherited
mid-use) and ignore SIGINT: a Ctrl-C in the terminal reaches the whole process group, and it is
the parent's to handle.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from stratmap.signals import die_with_parent

__all__ = ["describe_death", "run_in_workers"]

Job = TypeVar("Job")
STOP_GRACE_S = 5.0


def _serve(connection: Connection, parent_pid: int, work: Callable[[Any], Any]) -> None:
    """A worker's life: take a job, send back its result, until told to stop."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            outcome: tuple[bool, Any] = (True, work(job))
        except Exception as exc:  # a bug in the work: re-raised in the parent, as a pool would
            outcome = (False, _Raised(f"{type(exc).__name__}: {exc}"))
        connection.send(outcome)


class _Raised(Exception):
    """An exception raised by ``work`` in a worker (carried as text: it may not pickle)."""


@dataclass
class _Worker(Generic[Job]):
    process: Any  # multiprocessing's SpawnProcess
    connection: Connection
    job: Job | None = None


def describe_death(exitcode: int | None) -> tuple[str, str]:
    """What to tell the user about a worker that ended with ``exitcode``, and a hint."""
    if exitcode == -int(signal.SIGKILL):
        return (
            "the worker process simulating it was killed (SIGKILL) and most likely ran out of "
            "memory: the out-of-memory killer ends a process that way",
            "simulate fewer maps at once (--jobs 1) or fewer customers (--customers)",
        )
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else "?"
        return (
            f"the worker process simulating it was killed by signal {-exitcode} ({name})",
            "run the map alone with `stratmap simulate` to see what happens",
        )
    return (
        f"the worker process simulating it stopped unexpectedly (exit status {exitcode})",
        "run the map alone with `stratmap simulate` to see what happens",
    )


def run_in_workers(
    jobs: Sequence[Job],
    work: Callable[[Job], Any],
    workers: int,
    on_result: Callable[[Job, Any], None],
    on_death: Callable[[Job, int | None], None],
) -> None:
    """Run ``work(job)`` for every job in at most ``workers`` processes, in the order given;
    ``on_result`` (or, for a job whose worker died, ``on_death`` with its exit code) is
    called in the parent as each finishes. ``work`` must be a module-level function; an
    exception it raises is raised here (and the workers stopped)."""
    context = multiprocessing.get_context("spawn")
    pending = deque(jobs)
    pool: list[_Worker[Job]] = []

    def start() -> _Worker[Job]:
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=_serve, args=(child_end, os.getpid(), work), name="stratmap-test-worker"
        )
        process.start()
        child_end.close()
        worker: _Worker[Job] = _Worker(process, parent_end)
        pool.append(worker)
        return worker

    def give(worker: _Worker[Job]) -> None:
        worker.job = pending.popleft() if pending else None
        if worker.job is not None:
            worker.connection.send(worker.job)

    try:
        for _ in range(max(1, min(workers, len(pending)))):
            give(start())
        while busy := [w for w in pool if w.job is not None]:
            handles = [w.connection for w in busy] + [w.process.sentinel for w in busy]
            ready = set(wait(handles))
            for worker in busy:
                job = worker.job
                assert job is not None
                if worker.connection in ready:
                    try:
                        finished, result = worker.connection.recv()
                    except (EOFError, OSError):
                        finished, result = False, _DIED
                    if isinstance(result, _Raised):
                        raise result
                    if finished:
                        on_result(job, result)
                        give(worker)
                        continue
                elif worker.process.sentinel not in ready:
                    continue
                worker.process.join()
                worker.job = None
                pool.remove(worker)
                worker.connection.close()
                on_death(job, worker.process.exitcode)
                if pending:
                    give(start())
    finally:
        _stop(pool)


_DIED = object()


def _stop(pool: list[_Worker[Any]]) -> None:
    """Tell idle workers to stop, terminate busy ones, and wait for all (never forever)."""
    for worker in pool:
        try:
            if worker.job is None:
                worker.connection.send(None)
            else:
                worker.process.terminate()
        except (OSError, ValueError):
            worker.process.terminate()
    for worker in pool:
        worker.process.join(STOP_GRACE_S)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.connection.close()
