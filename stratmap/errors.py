"""Exit codes and errors: the one home of what a command ends with and how it says why.

Exit codes (documented in docs/cli.md; tests pin them):
    0  clean / nothing to do
    1  findings: diagnostics at error level (or warnings with --strict), files that would be
       reformatted with `fmt --check`, files that do not parse, a strategy `simulate` or
       `trace` cannot run as written
    2  usage error: bad arguments, paths that do not exist, no strategy files found, sizes
       that make no sense or do not fit in memory, a bad COLUMNS; output that cannot be
       written (a read-only folder, a full disk, a directory Stratmap did not write)
    3  internal error: a bug in stratmap (reported without a traceback unless STRATMAP_DEBUG=1)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM); 141 stdout's reader left (`| head`)

Every error a command reports is a value: a ``CommandError`` with a message, an optional hint
and its exit code (``UsageError`` 2, ``CannotRun`` 1). Commands raise it; ``stratmap.cli``
catches it and ``render`` writes it, the one shape every command's errors share:

    stratmap simulate: error: <message>
    help: <hint>

The lower layers raise their own errors, each a ``strategy_dsl.errors.StratmapError`` (or, for
the compiler and the bank's tables, shaped as one) with a ``message`` and a ``hint``;
``cannot_run`` and ``usage`` turn one into the command's error without losing either.
"""

from __future__ import annotations

import signal
import sys

from strategy_dsl.errors import StratmapError

__all__ = [
    "EXIT_CLEAN",
    "EXIT_FINDINGS",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_READER_LEFT",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "CannotRun",
    "CommandError",
    "UsageError",
    "cannot_run",
    "render",
    "report",
    "usage",
]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_READER_LEFT = 141  # 128 + SIGPIPE: what a Unix tool's shell reports when `| head` left
EXIT_INTERRUPTED = 128 + int(signal.SIGINT)
EXIT_TERMINATED = 128 + int(getattr(signal, "SIGTERM", 15))


class CommandError(StratmapError):
    """An error a command reports and ends with: ``message``, an optional ``hint`` (how to fix
    it), and the ``exit_code``."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint or "")
        self.hint: str | None = hint or None  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\nhelp: {self.hint}"


class UsageError(CommandError):
    """A mistake in how the command was called (an option, a path, a size): exit 2."""

    exit_code = EXIT_USAGE


class CannotRun(CommandError):
    """A strategy the command cannot run as written (no population, a simulation the
    simulator refuses): a finding about the file, exit 1."""

    exit_code = EXIT_FINDINGS


def render(command: str | None, error: CommandError) -> str:
    """The lines an error is shown as, without the final newline."""
    where = f"stratmap {command}" if command else "stratmap"
    return f"{where}: error: {error}"


def report(command: str | None, error: CommandError) -> None:
    """Write ``error`` to stderr as ``render`` shows it."""
    print(render(command, error), file=sys.stderr)


def _parts(exc: BaseException) -> tuple[str, str | None]:
    return getattr(exc, "message", None) or str(exc), getattr(exc, "hint", None)


def cannot_run(exc: BaseException) -> CannotRun:
    """A lower layer's error (``SimulationError``, ``PlanningError`` …) as the command's
    finding, keeping its message and hint."""
    return CannotRun(*_parts(exc))


def usage(exc: BaseException, prefix: str = "") -> UsageError:
    """A lower layer's error caused by what the user asked (an option's value) as a usage
    error, its message after ``prefix`` (such as ``"--variant X: "``)."""
    message, hint = _parts(exc)
    return UsageError(prefix + message, hint)
