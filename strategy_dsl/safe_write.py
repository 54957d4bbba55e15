"""Writing files without losing data: Stratmap's temporaries, atomic writes through links,
and the critical sections no signal may split.

Every file or directory Stratmap writes is first written under a *temporary name* beside its
target, ``.NAME.<pid>-<12 hex>.tmp`` (``.old`` for a directory moved aside). The name marks it as
Stratmap's own and says which process owns it, so that what a hard kill (SIGKILL, power loss)
left behind is removed by the next run (``sweep``): only entries whose names have exactly that
shape, whose owner process is gone, and that nobody touched for ``STALE_AFTER_S`` seconds. A
file a user made is never removed, whatever it is called.

``write_text`` replaces a file atomically and *through* symbolic and hard links, keeping the
file's mode and owner (``fmt``, the test cache, JUnit reports). ``signals_deferred`` holds back
SIGINT and SIGTERM while a few renames that must not be split run. ``exchange`` swaps two
directories in one step where the system can (Linux ``renameat2``).

This is the lowest layer both the simulator's results writer and the command line use, which is
why it lives in ``strategy_dsl``; it imports nothing of the DSL.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import re
import secrets
import shutil
import signal
import stat
import threading
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

__all__ = [
    "STALE_AFTER_S",
    "exchange",
    "is_temporary",
    "overlap",
    "owner_alive",
    "recover_directory",
    "replace_directory",
    "scratch_directory",
    "signals_deferred",
    "sweep",
    "temporary_name",
    "write_text",
]

# A temporary whose owner is gone is removed only once nobody touched it for this long: a pid
# seen from another PID namespace (a container sharing the folder) may look dead while alive.
STALE_AFTER_S = 60.0
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[1-9]\d*)-[0-9a-f]{12}\.(?P<kind>tmp|old)$")


# A file name's limit in bytes (NAME_MAX on Linux and macOS), and what a temporary adds to
# its target's name: ".", ".", a pid of up to 7 digits, "-", 12 hex digits, ".tmp".
NAME_MAX = 255
_TEMPORARY_EXTRA = 26


def _in_temporary(name: str) -> str:
    """``name`` as a temporary's name carries it: whole, or, where the temporary's name would
    pass NAME_MAX bytes (a target of 80 Chinese characters is 240), its first bytes and a hash
    of the whole, so that the temporary can still be told apart and found again."""
    budget = NAME_MAX - _TEMPORARY_EXTRA
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) <= budget:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:8]
    head = encoded[: budget - len(digest) - 1].decode("utf-8", "ignore")  # whole characters
    return f"{head}~{digest}"


def temporary_name(folder: Path, name: str, kind: str = "tmp") -> Path:
    """An unused path ``folder/.NAME.<pid>-<hex>.<kind>``, marked as this process's own (NAME
    shortened where the whole would pass the file system's limit: ``_in_temporary``)."""
    assert kind in ("tmp", "old")
    name = _in_temporary(name)
    while True:
        candidate = folder / f".{name}.{os.getpid()}-{secrets.token_hex(6)}.{kind}"
        if not os.path.lexists(candidate):
            return candidate


def is_temporary(entry: str, name: str | None = None) -> re.Match[str] | None:
    """The match when ``entry`` is a Stratmap temporary (of target ``name``, if given)."""
    found = _TEMPORARY.match(entry)
    if found is None or (name is not None and found["name"] != _in_temporary(name)):
        return None
    return found


def owner_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def sweep(
    folder: Path, name: str | None = None, *, kinds: tuple[str, ...] = ("tmp", "old")
) -> list[Path]:
    """Remove the temporaries in ``folder`` (of target ``name``, or of any target) that a
    killed run left: owner process gone and untouched for ``STALE_AFTER_S``. Returns what was
    removed; a folder that cannot be listed is left alone."""
    removed: list[Path] = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        found = is_temporary(entry, name)
        if found is None or found["kind"] not in kinds or owner_alive(int(found["pid"])):
            continue
        path = Path(folder) / entry
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if now - info.st_mtime < STALE_AFTER_S:
            continue
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
        removed.append(path)
    return removed


# ------------------------------------------------------------------------------ signals


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the duration; deliver them after, as they came.

    Signal handlers run in the main thread only, so elsewhere (or where the handlers cannot be
    changed) this does nothing. The handlers are swapped rather than the signal mask: the
    kernel would hand a masked signal to any of Numba's threads, whose C handler still sets
    Python's flag."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [signal.SIGINT, getattr(signal, "SIGTERM", signal.SIGINT)]
    received: list[int] = []
    previous: dict[int, object] = {}
    try:
        for number in dict.fromkeys(wanted):
            previous[number] = signal.signal(number, lambda n, _f: received.append(n))
    except (ValueError, OSError):  # not allowed here: restore what was changed
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        for number in dict.fromkeys(received):
            signal.raise_signal(number)


# ------------------------------------------------------------------------------ renames


@lru_cache(maxsize=1)
def _renameat2():  # type: ignore[no-untyped-def]
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step; False where the system or the file system
    cannot (the caller then renames twice)."""
    function = _renameat2()
    if function is None:
        return False
    result = function(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(error, os.strerror(error), str(second))


def recover_directory(target: Path) -> None:
    """Finish what a hard kill in the middle of ``replace_directory`` left: when ``target`` is
    missing and a dead process moved the previous directory aside (``.NAME.<pid>-<hex>.old``),
    put the newest such back; then remove the temporaries of dead runs (``sweep``)."""
    parent = target.parent
    if not os.path.lexists(target):
        try:
            entries = os.listdir(parent)
        except OSError:
            entries = []
        aside = [
            parent / entry
            for entry in entries
            if (found := is_temporary(entry, target.name)) is not None
            and found["kind"] == "old"
            and not owner_alive(int(found["pid"]))
        ]
        if aside:
            newest = max(aside, key=lambda path: path.lstat().st_mtime)
            os.rename(newest, target)
    sweep(parent, target.name)


def replace_directory(staging: Path, target: Path) -> None:
    """Put the complete directory ``staging`` (a sibling of ``target``, named by
    ``temporary_name``) at ``target``; the previous ``target``, if any, is deleted.

    Swapped in one atomic step where the system can (``exchange``): ``target`` holds the old
    directory or the new one at every instant. Elsewhere the old one is renamed aside
    (``.NAME.<pid>-<hex>.old``) and the new one into place, SIGINT and SIGTERM held back in
    between; a hard kill in that instant leaves ``target`` missing and the old one aside (a
    caller's next run may put it back). If the second rename fails, what is on disk decides:
    the new directory stays if it reached ``target``, otherwise the old one goes back."""
    aside: Path | None = None
    try:
        with signals_deferred():
            aside = _swap(staging, target)
    finally:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


def _swap(staging: Path, target: Path) -> Path | None:
    """Put ``staging`` at ``target``; return where the previous one now is (to delete)."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return None
    if exchange(staging, target):
        return staging  # now holds the previous directory
    old = temporary_name(target.parent, target.name, "old")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        if not os.path.lexists(target):
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        raise
    return old


# ------------------------------------------------------------------------------ files


def overlap(output: Path | str, source: Path | str) -> str | None:
    """How an output path meets a path a command reads, resolved through links: ``"is"`` it,
    ``"is inside"`` it (a file written into an input directory), ``"holds"`` it (an output
    directory, replaced whole, that holds the input); None when they are apart. Writing an
    output that overlaps an input destroys the input."""
    target, read = os.path.realpath(output), os.path.realpath(source)
    if target == read:
        return "is"
    if target.startswith(read.rstrip(os.sep) + os.sep):
        return "is inside"
    if read.startswith(target.rstrip(os.sep) + os.sep):
        return "holds"
    return None


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: Path, text: str) -> None:
    """Replace the text of the file at ``path`` (or create it), atomically where it can be,
    writing *through* a symbolic link to its target and keeping the target's mode and owner.

    The new text is always written in full to a temporary beside the target first, so a full
    disk or a signal leaves the file as it was. Then:

    - a file with one link whose owner this process can keep is replaced by renaming the
      temporary over it: atomic, a reader sees the old text or the new;
    - a file with several hard links (renaming would detach this name from the others), or
      whose owner could not be given to the temporary (renaming would hand the file to us),
      is rewritten in place from the complete temporary, which is removed after. This keeps
      the inode, and so every link, the owner and the mode, at the price of atomicity: a
      crash in the middle of this copy (not a signal: they are deferred) can leave it short.

    Raises ``OSError`` (read-only folder, full disk, permission) with nothing changed."""
    target = Path(os.path.realpath(path))
    try:
        before: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        before = None
    data = text.encode("utf-8")
    temporary = temporary_name(target.parent, target.name)
    # A new file gets the umask's permissions (0o666 less the umask), an existing one its own.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if before else 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            in_place = False
            if before is not None:
                os.fchmod(fd, stat.S_IMODE(before.st_mode))
                if (before.st_uid, before.st_gid) != (os.getuid(), os.getgid()):
                    try:
                        os.fchown(fd, before.st_uid, before.st_gid)
                    except PermissionError:
                        in_place = True
                in_place = in_place or before.st_nlink > 1
        finally:
            os.close(fd)
        with signals_deferred():
            if in_place:
                _rewrite_in_place(target, data)
                os.unlink(temporary)
            else:
                os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if exc.filename is None:  # os.write names no file: say which one failed
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)


def _rewrite_in_place(target: Path, data: bytes) -> None:
    """Overwrite ``target``'s bytes with ``data``, keeping its inode; if that fails half way (a
    disk that fills as the file grows), its previous bytes are written back, which fit."""
    with open(target, "r+b") as handle:
        previous = handle.read()
        try:
            handle.seek(0)
            handle.write(data)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:
            handle.seek(0)
            handle.write(previous)
            handle.truncate()
            handle.flush()
            raise


@contextlib.contextmanager
def scratch_directory(folder: Path, name: str) -> Iterator[Path]:
    """A fresh temporary directory ``folder/.NAME.<pid>-<hex>.tmp``, removed on the way out
    (an exception, Ctrl-C, SIGTERM); one a hard kill left is swept by the next run."""
    sweep(folder, name)
    path = temporary_name(folder, name)
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
