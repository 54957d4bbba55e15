"""Write a run's results directory: one Parquet file per table, ``summary.json`` and
``manifest.json``, atomically, and replace only a directory Stratmap itself wrote.

Everything is written into a hidden temporary sibling of the target
(``.NAME.<pid>-<hex>.tmp``, ``strategy_dsl.safe_write``: same parent, so no rename crosses a
file system), each file flushed to disk, the manifest last, and only then moved into place:

- an interrupted or failed write (an exception, Ctrl-C, SIGTERM, a full disk) removes its
  temporary directory and leaves ``NAME`` as it was (absent, or the previous results);
- an existing ``NAME`` is swapped with the new directory in one atomic step where the system
  can (Linux ``renameat2(RENAME_EXCHANGE)``), then the old one deleted: ``NAME`` holds the old
  results or the new ones at every instant. Elsewhere the old one is renamed aside
  (``.NAME.<pid>-<hex>.old``) and the new one renamed into place, SIGINT and SIGTERM held back
  between the two renames; a hard kill in that instant leaves ``NAME`` missing and the old
  results aside, and the next run that names ``NAME`` puts them back before anything else
  (``recover``);
- whatever a hard kill left (``.NAME.*.tmp``, ``.NAME.*.old`` of a dead process) is removed by
  the next run that names ``NAME``.

An existing ``NAME`` is replaced only when it is an empty directory or a results directory:
it holds ``manifest.json`` and nothing but the files that manifest lists (results written
before manifests existed are recognised by ``summary.json``'s ``files`` entry the same way).
Anything else in it, a file named ``summary.json`` included, is a user's, and a mistyped
``--out ~`` must not delete someone's home directory. ``check_replaceable`` lets the command
line refuse before it spends minutes simulating.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from strategy_dsl import safe_write
from strategy_dsl.userfile import read_user_file

__all__ = [
    "MANIFEST_FILE",
    "MANIFEST_SCHEMA",
    "SUMMARY_FILE",
    "NotAResultsDirectory",
    "check_replaceable",
    "read_results",
    "recover",
    "write_results",
]

SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "manifest.json"
MANIFEST_SCHEMA = "stratmap.results-manifest/1"
# A manifest or summary larger than this is not one Stratmap wrote (summaries are kilobytes).
_MAX_LISTING_BYTES = 64 * 1024 * 1024


class NotAResultsDirectory(Exception):
    """The output path exists and is not something ``write_results`` may replace."""


def recover(out_dir: Path) -> None:
    """Finish what a killed replace of ``out_dir`` left: put the previous results back when
    ``NAME`` is missing and they were moved aside, then remove the temporaries of dead runs
    (``safe_write.recover_directory``)."""
    safe_write.recover_directory(Path(out_dir))


def _listed_files(out_dir: Path) -> set[str] | None:
    """The files a results directory's manifest (or, before manifests, its summary) says
    Stratmap wrote there; None when it has neither, or they are not Stratmap's."""
    for name in (MANIFEST_FILE, SUMMARY_FILE):
        try:
            document = json.loads(read_user_file(out_dir / name, _MAX_LISTING_BYTES))
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(document, dict):
            continue
        if name == MANIFEST_FILE and document.get("schema") == MANIFEST_SCHEMA:
            files = document.get("files")
            if isinstance(files, list) and all(isinstance(f, str) for f in files):
                return {*files, MANIFEST_FILE}
        if name == SUMMARY_FILE and isinstance(document.get("files"), dict):
            entries = document["files"].values()
            if all(isinstance(e, dict) and isinstance(e.get("file"), str) for e in entries):
                return {*(e["file"] for e in entries), SUMMARY_FILE}
    return None


def check_replaceable(out_dir: Path) -> None:
    """Raise ``NotAResultsDirectory`` unless ``out_dir`` is absent, an empty directory, or a
    directory holding only the files Stratmap wrote there (see the module docstring). What an
    interrupted replace left is recovered first (``recover``)."""
    out_dir = Path(out_dir)
    recover(out_dir)
    if not os.path.lexists(out_dir):
        return
    if out_dir.is_symlink() or not out_dir.is_dir():
        raise NotAResultsDirectory(f"{out_dir} exists and is not a directory")
    present = os.listdir(out_dir)
    if not present:
        return
    listed = _listed_files(out_dir)
    if listed is None:
        raise NotAResultsDirectory(
            f"{out_dir} is a directory that Stratmap did not write (no {MANIFEST_FILE}); "
            "results replace only an empty directory or earlier results\n"
            "help: name a new directory with --out, or empty this one yourself"
        )
    foreign = sorted(
        entry
        for entry in present
        if entry not in listed or not stat.S_ISREG(os.lstat(out_dir / entry).st_mode)
    )
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise NotAResultsDirectory(
            f"{out_dir} holds earlier results and also {shown}, which Stratmap did not write "
            f"(not in its {MANIFEST_FILE}); replacing it would delete them\n"
            "help: move those elsewhere, or name a new directory with --out"
        )


def _fsync_directory(path: Path) -> None:
    # Makes the directory's entries (new files, a rename) durable; not every platform can
    # open a directory, and there durability of the entries is the OS's business.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_table(path: Path, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path)
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    _write_json(path, summary)


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    # allow_nan=False: JSON has no NaN; the summary builder turns missing numbers into null.
    text = json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_results(
    out_dir: Path,
    tables: Mapping[str, pd.DataFrame],
    summary: Mapping[str, Any],
    documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``NAME.parquet`` for every table and ``summary.json`` into ``out_dir``, atomically
    (see the module docstring). The summary is written with a ``files`` entry added: for each
    table its file name, row count and columns. ``documents`` are further JSON files by name
    (``map.json``, the strategy map the report draws), written in the same staging directory.
    Returns ``out_dir``."""
    out_dir = Path(out_dir)
    check_replaceable(out_dir)
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = safe_write.temporary_name(parent, out_dir.name)
    staging.mkdir()  # os.mkdir honours the umask; tempfile.mkdtemp would leave it 0700
    try:
        files = {}
        for name, frame in tables.items():
            file_name = f"{name}.parquet"
            _write_table(staging / file_name, frame)
            files[name] = {
                "file": file_name,
                "rows": len(frame),
                "columns": [str(column) for column in frame.columns],
            }
        for file_name, document in (documents or {}).items():
            if Path(file_name).name != file_name or file_name in (SUMMARY_FILE, MANIFEST_FILE):
                raise ValueError(f"not a document name: {file_name!r}")
            _write_summary(staging / file_name, document)
        _write_summary(staging / SUMMARY_FILE, {**summary, "files": files})
        # Last: a directory with a manifest is complete, and Stratmap's to replace.
        # The documents too: a directory holding a map.json is still Stratmap's to replace.
        written = [*(entry["file"] for entry in files.values()), *(documents or {}), SUMMARY_FILE]
        _write_json(staging / MANIFEST_FILE, {"schema": MANIFEST_SCHEMA, "files": written})
        _fsync_directory(staging)
        # No signal splits the renames; see the module docstring for what a hard kill leaves.
        safe_write.replace_directory(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_directory(parent)
    return out_dir


def read_results(out_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The tables and the summary of a results directory, as ``write_results`` wrote them
    (categorical columns come back categorical)."""
    out_dir = Path(out_dir)
    summary = json.loads(read_user_file(out_dir / SUMMARY_FILE, _MAX_LISTING_BYTES))
    tables = {
        name: pd.read_parquet(out_dir / entry["file"], engine="pyarrow")
        for name, entry in summary.get("files", {}).items()
    }
    return tables, summary
