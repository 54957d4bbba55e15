"""How Stratmap's processes meet signals: SIGTERM is Ctrl-C, and workers die with their parent.

- ``sigterm_as_interrupt`` (``install``, for good) makes SIGTERM raise ``Terminated``, a
  ``KeyboardInterrupt``: every path that cleans up after Ctrl-C (temporary files and
  directories, the plan command's checkout, worker processes) cleans up after a ``kill`` too,
  and the command exits 143 (128 + SIGTERM) instead of 130 (128 + SIGINT).
- ``die_with_parent`` runs first in each `stratmap test` worker: on Linux the kernel kills the
  worker when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), even by SIGKILL; elsewhere
  (and as a second guard) a watchdog thread ends it once its parent is gone.

The critical sections no signal may split (a few renames) are held in
``strategy_dsl.safe_write.signals_deferred``, beside the writes they protect.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

__all__ = [
    "Terminated",
    "die_with_parent",
    "install",
    "sigterm_as_interrupt",
]

_PR_SET_PDEATHSIG = 1
WATCHDOG_PERIOD_S = 1.0


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as after Ctrl-C, cleaning up on the way out."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """For the duration, SIGTERM raises ``Terminated`` in the main thread; the previous handler
    is put back after (an in-process caller, a test runner, keeps its own)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def install() -> None:
    """SIGTERM raises ``Terminated`` from now on, in the main thread: for a process of its own
    (the command line uses ``sigterm_as_interrupt``)."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminate)


def _kernel_kills_orphans() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(name, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    return False


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when ``parent_pid`` (its parent) ends, however it ends."""
    _kernel_kills_orphans()
    if os.getppid() != parent_pid:  # the parent died before the guard was set
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_PERIOD_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="stratmap-parent-watchdog", daemon=True).start()
