"""Standard output and the terminal: its width, its encoding, and what to do when it fails.

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
from typing import TextIO

__all__ = ["columns", "output_failure", "prepare_streams", "reader_left"]

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
