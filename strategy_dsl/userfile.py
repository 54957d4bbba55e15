"""Reading a file a user named: only a regular file, and never more than a bound.

Every file Stratmap reads because a user pointed at it (a strategy and its imports, a test
cache entry, a results directory's ``summary.json``) goes through ``read_user_file``, so that
no path can hang a command or exhaust its memory:

- a FIFO, a socket, a device or a directory is refused before it is read: the path is stat'ed
  first, and it is opened with ``O_NONBLOCK`` (opening a FIFO with no writer would otherwise
  block forever) and checked again on the open descriptor (the path may have changed between
  the two);
- the read itself is bounded: at most ``limit + 1`` bytes are read, whatever ``stat`` said (a
  file that grows while it is read, ``/proc`` files that report size 0), and a file longer than
  ``limit`` is refused.

This is the lowest layer every command shares, which is why it lives in ``strategy_dsl``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

__all__ = [
    "FileTooLarge",
    "NotARegularFile",
    "UserFileError",
    "read_user_file",
    "read_user_json",
]


class UserFileError(OSError):
    """A path that is not a file Stratmap may read; ``reason`` says why in plain words."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(reason)
        self.path = str(path)
        self.reason = reason
        self.strerror = reason  # read like any OSError by callers that report ``strerror``


class NotARegularFile(UserFileError):
    """A FIFO, socket, device or directory where a file was expected."""


class FileTooLarge(UserFileError):
    """More bytes than the caller's bound. ``size`` is the file's size when ``stat`` knew it,
    else None (a file that grew while it was read, or one whose size ``stat`` does not tell)."""

    def __init__(self, path: Path | str, limit: int, size: int | None = None) -> None:
        super().__init__(path, f"larger than {limit:,} bytes")
        self.limit = limit
        self.size = size


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _refuse(path: Path | str, mode: int) -> NotARegularFile:
    kind = _kind(mode)
    if kind == "not a regular file":
        return NotARegularFile(path, kind)
    return NotARegularFile(path, f"{kind}, not a regular file")


def read_user_file(path: Path | str, limit: int) -> bytes:
    """The bytes of the regular file at ``path`` (symbolic links followed), at most ``limit``.

    Raises ``NotARegularFile`` for anything else, ``FileTooLarge`` past ``limit``, and the
    ``OSError`` of the system otherwise (missing file, no permission)."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _refuse(path, mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced between the stat and the open
            raise _refuse(path, info.st_mode)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise FileTooLarge(path, limit, info.st_size if info.st_size > limit else None)
    return data


def read_user_json(path: Path | str, limit: int) -> Any:
    """The JSON document in the regular file at ``path`` (``read_user_file``'s rules). Raises
    ``ValueError`` for any text that is not one document of JSON — not UTF-8, not JSON, or
    nested so deep that the decoder gives up (``[[[…]]]`` 100,000 deep raises RecursionError
    inside ``json``) — and ``OSError`` as ``read_user_file`` does."""
    data = read_user_file(path, limit)
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deeply to be a document Stratmap wrote") from None
