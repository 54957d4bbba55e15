"""The hash that names a strategy map: its files' bytes, imports first.

Written in every results directory (`strategy.hash`), every contact list's manifest
(`map_hash`) and checked by `review`, so a list decided with one map is never reviewed against
another. One home for it, here below everything that records or compares it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["source_hash"]


def source_hash(source_files: Iterable[str | Path]) -> str:
    """sha256 (hex) of the files as bytes, in the order given (a checked model's
    ``source_files``: imports first); each file's length goes before it, so no two different
    sets of files hash alike. Paths are left out: moving the library does not change the hash,
    editing it does."""
    digest = hashlib.sha256()
    for shown in source_files:
        data = Path(shown).read_bytes()
        digest.update(f"{len(data)}\n".encode("ascii"))
        digest.update(data)
    return digest.hexdigest()
