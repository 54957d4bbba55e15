"""The result cache of `stratmap test`: one JSON record per strategy map, keyed by everything
that decides its numbers.

The key is a sha256 over the strategy's files (its text and every import, in order: the hash
`simulate` records), the seed, the sizes, the replications, the tool version and a digest of
the tool's own source code (so that a development install never serves a record computed by
different code under the same version number). An unchanged map is not simulated again.

Entries are written atomically (``strategy_dsl.safe_write``: a temporary file renamed into
place), so an interrupted run leaves no half-written entry, and the temporaries a killed run
left are removed when the cache is opened. An entry is read only if it is a regular file of at
most ``MAX_ENTRY_BYTES`` (``strategy_dsl.userfile``: a FIFO or a device cannot hang a run), and
trusted only if it parses, names the schema and the key it is stored under, and its payload's
checksum matches: anything else (a truncated file, an edited number, a different key, JSON
nested too deep to parse) is ignored, reported, and rebuilt. A cache directory that cannot be
created or written is reported once and the run goes on without a cache.

The key holds no path (moving or copying a map keeps its record), but a record points at
files: where each expectation was written. So an entry also stores the files the record was
made from, and a record served for the same content under other paths is moved onto the
files of the map being tested: a verdict is reported where the file is now.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from strategy_dsl import safe_write
from strategy_dsl.userfile import read_user_file
from stratmap import __version__

SCHEMA = "stratmap.test-cache/1"
DEFAULT_DIR = ".stratmap-cache"
ENV_DIR = "STRATMAP_CACHE_DIR"
# A record holds a few hundred numbers per map; an entry far beyond this is not one of ours.
MAX_ENTRY_BYTES = 64 * 1024 * 1024


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of the tool's Python sources and grammar (strategy_dsl, simulator, stratmap,
    grammar), in a fixed order."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in ("grammar", "strategy_dsl", "simulator", "stratmap"):
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".lark") and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def entry_key(strategy_hash: str, sizes: dict[str, Any]) -> str:
    """The key of one map's record: its files, sizes and seed, and the code that judges it."""
    material = json.dumps(
        {
            "strategy": strategy_hash,
            "sizes": sizes,
            "version": __version__,
            "code": code_digest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _checksum(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def relocate(value: Any, moved: Mapping[str, str]) -> Any:
    """``value`` (a record, or any part of it) with every ``file`` entry renamed by ``moved``."""
    if isinstance(value, dict):
        return {
            key: moved.get(item, item)
            if key == "file" and isinstance(item, str)
            else relocate(item, moved)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [relocate(item, moved) for item in value]
    return value


@dataclass
class Cache:
    """A directory of entries, or a disabled cache (``directory`` None). ``notes`` collects
    what the user should hear: entries ignored as corrupt, a directory that cannot be used."""

    directory: Path | None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, directory: Path | None) -> Cache:
        if directory is None:
            return cls(None)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return cls(None, [f"cache disabled: {directory} cannot be written ({reason})"])
        safe_write.sweep(directory)  # temporaries a killed run left
        return cls(directory)

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{key}.json"

    def get(self, key: str, files: Sequence[str]) -> dict[str, Any] | None:
        """The record stored under ``key``, or None when absent or not to be trusted, with its
        file paths moved onto ``files`` (the map's source files now, imports first: the same
        contents in the same order as those the record was made from, since the key holds
        their hash)."""
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            text = read_user_file(path, MAX_ENTRY_BYTES).decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.notes.append(f"ignored unreadable cache entry {path.name} ({reason}); rebuilt it")
            return None
        try:
            entry = json.loads(text)
            trusted = (
                isinstance(entry, dict)
                and entry.get("schema") == SCHEMA
                and entry.get("key") == key
                and isinstance(entry.get("record"), dict)
                and entry.get("checksum") == _checksum(entry["record"])
                and isinstance(entry.get("files"), list)
                and len(entry["files"]) == len(files)
                and all(isinstance(name, str) for name in entry["files"])
            )
        except (ValueError, RecursionError):  # any shape of corruption, however deep
            trusted = False
        if not trusted:
            self.notes.append(f"ignored corrupt cache entry {path.name}; rebuilt it")
            return None
        return relocate(entry["record"], dict(zip(entry["files"], files, strict=True)))

    def put(self, key: str, record: dict[str, Any], files: Sequence[str]) -> None:
        """Store ``record``, made from ``files`` (the map's source files, imports first),
        atomically; a failure to write disables the cache with a note."""
        if self.directory is None:
            return
        entry = {
            "schema": SCHEMA,
            "key": key,
            "files": list(files),
            "checksum": _checksum(record),
            "record": record,
        }
        text = json.dumps(entry, ensure_ascii=False, allow_nan=True, indent=1)
        try:
            path = self._path(key)
            if path.is_symlink() or (path.exists() and not path.is_file()):
                path.unlink()  # a FIFO or link in our place: replace the entry, not its target
            safe_write.write_text(path, text)
        except OSError as exc:
            self.notes.append(f"cache disabled: could not write {self.directory} ({exc})")
            self.directory = None
