"""Standard output and the terminal: the one home of how Stratmap meets it (its width, its
encoding, colour, the rich console tables are printed on, the progress bar, CJK widths) and of
what to do when it fails.

- ``make_console``: the rich console every table is printed on (colour only when asked, no
  80-column wrap when piped); ``color`` applies the project's NO_COLOR / FORCE_COLOR / terminal
  rule to a stream; ``cell_width`` is the width of text in terminal cells (a CJK character
  takes two), as rich measures table cells;
- ``Progress``: the progress bar of a simulation on stderr, only when stderr is a terminal
  (``stderr_is_terminal``);
- ``columns``: the width ``COLUMNS`` asks for, validated when the command starts (a bad value
  is a usage error before any work, not a crash after a simulation of minutes);
- ``prepare_streams``: a stdout or stderr whose encoding cannot show Chinese text
  (``PYTHONIOENCODING=ascii``, a C locale) shows it as ``\\uXXXX`` escapes, with one note that
  says so, instead of failing (in JSON output those escapes are valid JSON);
- ``output_failure``: the plain message for an ``OSError`` met while writing (a full disk, a
  read-only folder), and ``reader_left`` for a stdout whose reader went away (`| head`): the
  command then stops quietly, as a Unix tool does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "PIPE_WIDTH",
    "Progress",
    "cell_width",
    "color",
    "columns",
    "make_console",
    "output_failure",
    "prepare_streams",
    "reader_left",
    "stderr_is_terminal",
]

# Piped output (a file, CI log) is not wrapped at 80 columns: a table is as wide as it needs,
# up to this.
PIPE_WIDTH = 200

_SAMPLE = "策略图谱"
# Failures of the output, not of Stratmap: the message names the file and the reason.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def columns() -> int | None:
    """``COLUMNS`` as a width, None when unset or empty; ``ValueError`` (with the message to
    show) when it is not a positive whole number."""
    raw = os.environ.get("COLUMNS", "").strip()
    if not raw:
        return None
    try:
        width = int(raw)
    except ValueError:
        width = 0
    if width <= 0:
        raise ValueError(
            f"COLUMNS={os.environ['COLUMNS']!r} is not a width in characters; "
            "unset it or set a positive number such as COLUMNS=120"
        )
    return width


def _cannot_show(stream: TextIO) -> str | None:
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return None
    try:
        _SAMPLE.encode(encoding)
    except UnicodeEncodeError:
        return encoding
    except LookupError:
        return None
    return None


def prepare_streams() -> None:
    """Let stdout and stderr show what they cannot encode as escapes (see the module
    docstring), and say so once on stderr."""
    weak = []
    for stream in (sys.stdout, sys.stderr):
        encoding = _cannot_show(stream)
        if encoding is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
            weak.append(encoding)
    if weak:
        with contextlib.suppress(OSError, ValueError):
            print(
                f"note: the output's encoding ({weak[0]}) cannot show Chinese text; it appears "
                "as \\u escapes (set PYTHONIOENCODING=utf-8 or a UTF-8 locale to see it)",
                file=sys.stderr,
            )


def reader_left(exc: BaseException) -> bool:
    """True for the error of writing to a pipe whose reader has gone (`stratmap … | head`)."""
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno == errno.EPIPE
    )


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def output_failure(exc: BaseException) -> str | None:
    """The message for a failure to write output (full disk, read-only file system...), or
    None when ``exc`` is not one."""
    if not isinstance(exc, OSError) or exc.errno not in _OUTPUT_ERRNOS:
        return None
    where = exc.filename if exc.filename is not None else "standard output"
    return f"cannot write {where}: {exc.strerror or os.strerror(exc.errno)}"


# ------------------------------------------------------------------------------ rich


def make_console(stream: TextIO, *, color: bool) -> Console:
    """A console writing to ``stream``; colour only when ``color`` (the caller applies the
    project's NO_COLOR / FORCE_COLOR / terminal rule), and no 80-column wrap when piped."""
    try:
        terminal = bool(stream.isatty())
    except (AttributeError, ValueError):
        terminal = False
    width = None if terminal else columns() or PIPE_WIDTH  # validated by cli.main
    from rich.console import Console

    return Console(
        file=stream,
        width=width,
        color_system="auto" if color else None,
        force_terminal=color or None,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def color(stream: Any) -> bool:
    """Whether to colour ``stream``: NO_COLOR, FORCE_COLOR, then whether it is a terminal."""
    from strategy_dsl.render.text import should_color

    return should_color(stream)


class Progress:
    """A rich progress bar on stderr, only when stderr is a terminal; otherwise silent (CI logs
    and pipes get the one closing line instead). Safe to call from the simulator's threads:
    rich's ``Progress.update`` takes a lock."""

    def __init__(self, enabled: bool, description: str) -> None:
        self.progress = None
        self.task = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self.progress = Bar(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self.task = self.progress.add_task(description, total=None)

    def __enter__(self) -> Progress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, done: int, total: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=done, total=total)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (a progress bar would be seen there)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def cell_width(text: str) -> int:
    """Terminal cells ``text`` takes, a CJK character two, as rich measures table cells."""
    from rich.cells import cell_len

    return cell_len(text)
