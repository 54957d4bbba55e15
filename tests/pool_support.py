"""Work functions for the worker-pool tests (a spawned worker imports them by name)."""

from __future__ import annotations

import os
import signal
import time


def echo(job: str) -> str:
    return f"done {job}"


def die_on_oom(job: str) -> str:
    """Stands in for a map the out-of-memory killer ends: the worker dies by SIGKILL."""
    if job == "huge":
        os.kill(os.getpid(), signal.SIGKILL)
    return f"done {job}"


def hang(job: str) -> str:
    # The worker's pid, for the test to watch, in one write(2): two workers print at once, and
    # under PYTHONUNBUFFERED print() writes the number and its newline separately, so the
    # lines could interleave ("123456\n\n").
    os.write(1, f"{os.getpid()}\n".encode())
    time.sleep(600)
    return job


def fail(job: str) -> str:
    raise ValueError(f"a bug while running {job}")


def run_job_out_of_memory_on_bad(job):  # type: ignore[no-untyped-def]
    """`stratmap test`'s job, except that the worker running `bad.strat` is killed as the
    out-of-memory killer kills (SIGKILL)."""
    from stratmap.suite.runner import run_job

    if job.file.endswith("bad.strat"):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_job(job)


def hang_job(job):  # type: ignore[no-untyped-def]
    """`stratmap test`'s job, blocked forever (as a worker blocked on a full pipe would be)."""
    return hang(job.file)
