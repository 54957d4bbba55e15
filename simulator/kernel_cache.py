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
locator first in Numba's list. Where ``NUMBA_CACHE_DIR`` is set, Numba's own locators decide,
with their per-file stamps.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba.core import caching, config

ROOT = Path(__file__).resolve().parents[1]
KERNEL_SOURCES = tuple(
    ROOT / name
    for name in (
        "simulator/kernels.py",
        "simulator/kernel_predicates.py",
        "simulator/kernel_baseline.py",
        "simulator/kernel_decide.py",
        "simulator/kernel_apply.py",
        "simulator/population.py",
        "simulator/rng.py",
        "simulator/delta.py",
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
_IMPL = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)


if _IN_TREE is not None:

    class KernelSourcesLocator(_IN_TREE):  # type: ignore[misc, valid-type]
        """Numba's in-tree cache (``__pycache__`` beside the module), stamped with the digest
        of all the kernel sources instead of the module's own file."""

        def get_source_stamp(self) -> bytes:
            return kernel_sources_digest()

        @classmethod
        def from_function(cls, py_func: object, py_file: str) -> object:
            if config.CACHE_DIR or Path(py_file).resolve() not in KERNEL_SOURCES:
                return None
            return super().from_function(py_func, py_file)


def install() -> bool:
    """Put ``KernelSourcesLocator`` first among Numba's cache locators (once). False where
    this Numba's caching classes are not the ones known here: Numba's own locators then
    apply unchanged."""
    if _IN_TREE is None or _IMPL is None or not isinstance(_IMPL._locator_classes, list):
        return False
    if KernelSourcesLocator not in _IMPL._locator_classes:
        _IMPL._locator_classes.insert(0, KernelSourcesLocator)
    return True
