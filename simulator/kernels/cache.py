"""Disk caches of the kernels that follow every source a kernel is built from.

Numba keeps a compiled function beside its module (``__pycache__``) and reuses it while that
module's own file is unchanged. But a kernel here inlines helpers and freezes constants from
other modules (``kernels.BLOCK``, the ``R_*`` scratch rows, ``rng``'s mixing, the table layout
of ``strategy_dsl.compile``): after an edit of one of those alone, Numba would go on loading
the old machine code for every other module, silently wrong, or writing past the end of a
scratch array (a changed ``BLOCK`` did exactly that). So every kernel's cache is stamped with
one digest of all the kernel sources (``KERNEL_SOURCES``): an edit of any of them recompiles
them all. An installed release is unaffected (its files change together).

``install()`` (run by ``simulator/__init__.py``, before any kernel is defined) puts the
locators first in Numba's list: ``NUMBA_CACHE_DIR`` where it is set and writable, else the
checkout's ``__pycache__`` (never an installed distribution's: see ``_installed``), else the
user's cache directory, else a temporary one, all stamped with the digest. Numba's own
locators never handle a kernel: their entries, stamped per file, made the next ordinary run
find the installation's cache stale and compile everything again.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

from numba.core import caching, config, event

ROOT = Path(__file__).resolve().parents[2]
KERNEL_SOURCES = tuple(
    ROOT / name
    for name in (
        "simulator/kernels/common.py",
        "simulator/kernels/predicates.py",
        "simulator/kernels/baseline.py",
        "simulator/kernels/decide.py",
        "simulator/kernels/apply.py",
        "simulator/kernels/population.py",
        "simulator/kernels/rng.py",
        "simulator/kernels/rows.py",
        "simulator/kernels/statuses.py",
        "simulator/output.py",
        "strategy_dsl/compile.py",
    )
)


def sources_digest(paths: tuple[Path, ...]) -> bytes:
    """SHA-256 over the names and contents of ``paths``, in order (a file that cannot be read,
    in an unusual installation, counts by its name alone)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"(unreadable)")
    return digest.digest()


@functools.cache
def kernel_sources_digest() -> bytes:
    return sources_digest(KERNEL_SOURCES)


# Numba renamed its caching classes (``_InTreeCacheLocator`` → ``InTreeCacheLocator``, 0.61).
_IN_TREE = getattr(caching, "InTreeCacheLocator", None) or getattr(
    caching, "_InTreeCacheLocator", None
)
_USER_DIR = getattr(caching, "UserProvidedCacheLocator", None) or getattr(
    caching, "_UserProvidedCacheLocator", None
)
_USER_WIDE = getattr(caching, "UserWideCacheLocator", None) or getattr(
    caching, "_UserWideCacheLocator", None
)
_IMPL = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)

# What the first compile costs, for the line that says it is happening: the bundled example's
# first `simulate` on the 2-core development machine (bench/bench_first_run.py).
COMPILE_SECONDS = 40

_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        print(f"stratmap: warning: {message}", file=sys.stderr)


def _is_kernel_source(py_file: str) -> bool:
    return Path(py_file).resolve() in KERNEL_SOURCES


def _installed(py_file: str) -> bool:
    """Whether ``py_file`` lies in an installed distribution (site-packages, dist-packages).
    Its ``__pycache__`` is not the kernels' place there: `pip uninstall` removes only the files
    it installed, so the compiled kernels kept the package's folders alive, and a folder
    ``site-packages/simulator/kernels`` left so shadowed a later editable install of the same
    packages (the README's two quick-start commands, in order: `simulator.kernels` became an
    empty namespace package and nothing imported). The user's cache directory serves instead."""
    return any(part in ("site-packages", "dist-packages") for part in Path(py_file).parts)


if _IN_TREE is not None and _USER_DIR is not None and _USER_WIDE is not None:

    class KernelSourcesUserDirLocator(_USER_DIR):  # type: ignore[misc, valid-type]
        """The kernels' cache in ``NUMBA_CACHE_DIR``, stamped with the digest of all the
        kernel sources (not each module's own file, as Numba's locator does). Where that
        directory cannot be written, a warning (once) and the installation's own cache
        (``KernelSourcesLocator``): Numba's locators would go on to write entries stamped
        their own way into the installation's cache, which every later run then found stale
        and compiled again."""

        def get_source_stamp(self) -> bytes:
            return kernel_sources_digest()

        @classmethod
        def from_function(cls, py_func: object, py_file: str) -> object:
            if not config.CACHE_DIR or not _is_kernel_source(py_file):
                return None
            found = super().from_function(py_func, py_file)
            if found is None:
                _warn_once(
                    "cache-dir",
                    f"NUMBA_CACHE_DIR={config.CACHE_DIR} cannot be written; the simulation "
                    "kernels are cached beside the installation instead "
                    "(unset NUMBA_CACHE_DIR or make it writable)",
                )
            return found

    class KernelSourcesLocator(_IN_TREE):  # type: ignore[misc, valid-type]
        """Numba's in-tree cache (``__pycache__`` beside the module) of a checkout, stamped
        with the digest of all the kernel sources instead of the module's own file."""

        def get_source_stamp(self) -> bytes:
            return kernel_sources_digest()

        @classmethod
        def from_function(cls, py_func: object, py_file: str) -> object:
            if not _is_kernel_source(py_file) or _installed(py_file):
                return None
            return super().from_function(py_func, py_file)

    class KernelSourcesUserWideLocator(_USER_WIDE):  # type: ignore[misc, valid-type]
        """The user's cache directory (an installed distribution, or a checkout that cannot be
        written), stamped with the digest."""

        def get_source_stamp(self) -> bytes:
            return kernel_sources_digest()

        @classmethod
        def from_function(cls, py_func: object, py_file: str) -> object:
            if not _is_kernel_source(py_file):
                return None
            return super().from_function(py_func, py_file)

    class KernelSourcesTemporaryLocator(_USER_DIR):  # type: ignore[misc, valid-type]
        """Where no cache directory can be written at all: a temporary one, removed when the
        process ends (a warning says every run compiles the kernels again)."""

        def __init__(self, py_func: object, py_file: str) -> None:
            super().__init__(py_func, py_file)
            self._cache_path = str(_temporary_dir() / self.get_suitable_cache_subpath(py_file))

        def get_source_stamp(self) -> bytes:
            return kernel_sources_digest()

        @classmethod
        def from_function(cls, py_func: object, py_file: str) -> object:
            if not _is_kernel_source(py_file):
                return None
            found = super(_USER_DIR, cls).from_function(py_func, py_file)
            if found is not None:
                _warn_once(
                    "uncached",
                    "no cache directory can be written: every run compiles the simulation "
                    f"kernels again (about {COMPILE_SECONDS} s); set NUMBA_CACHE_DIR to a "
                    "writable directory",
                )
            return found

    LOCATORS = (
        KernelSourcesUserDirLocator,
        KernelSourcesLocator,
        KernelSourcesUserWideLocator,
        KernelSourcesTemporaryLocator,
    )


@functools.cache
def _temporary_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="stratmap-kernels-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def install() -> bool:
    """Put the ``LOCATORS`` first among Numba's cache locators (once), and have a compile of
    the kernels announced on stderr (``_CompileAnnouncer``). False where this Numba's
    caching classes are not the ones known here: Numba's own locators then apply unchanged."""
    if (
        _IN_TREE is None
        or _USER_DIR is None
        or _USER_WIDE is None
        or _IMPL is None
        or not isinstance(_IMPL._locator_classes, list)
    ):
        return False
    for position, locator in enumerate(LOCATORS):
        if locator not in _IMPL._locator_classes:
            _IMPL._locator_classes.insert(position, locator)
    if not _announcer:
        _announcer.append(_CompileAnnouncer())
        event.register("numba:compile", _announcer[0])
    return True


class _CompileAnnouncer(event.Listener):
    """Says on stderr, once per process, that the kernels are being compiled: only when Numba
    really compiles one (a cache miss), not when it loads them from the disk cache."""

    def on_start(self, ev: event.Event) -> None:
        if "compile" in _warned or not announcing:
            return
        py_func = getattr(ev.data.get("dispatcher"), "py_func", None)
        code = getattr(py_func, "__code__", None)
        if code is not None and _is_kernel_source(code.co_filename):
            _warned.add("compile")
            print(
                "stratmap: compiling the simulation kernels (once per installation, about "
                f"{COMPILE_SECONDS} s)…",
                file=sys.stderr,
                flush=True,
            )

    def on_end(self, ev: event.Event) -> None:
        pass


_announcer: list[_CompileAnnouncer] = []
announcing = True  # False: say nothing (tests that count compiles, quiet callers)
