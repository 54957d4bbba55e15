"""Write a run's results directory: one Parquet file per table and ``summary.json``, atomically.

Everything is written into a hidden temporary sibling of the target (``.NAME.XXXX.tmp`` in the
same parent, so the final rename never crosses a file system), each file flushed to disk, and
only then renamed into place. So:

- an interrupted or failed write (an exception, Ctrl-C, a full disk) removes its temporary
  directory and leaves no ``NAME`` at all, or the previous ``NAME`` untouched;
- an existing ``NAME`` is replaced only after the new one is complete: the old one is renamed
  aside (``.NAME.XXXX.old``), the new one renamed into place, then the old one deleted. A
  reader may find ``NAME`` missing for the instant between the two renames, but never finds
  a mixture of two runs or a half-written file. If the second rename fails the old directory is
  put back;
- only a hard kill (SIGKILL, power loss) can leave a hidden ``.NAME.*.tmp`` or ``.NAME.*.old``
  directory behind; ``NAME`` itself is never half-written.

An existing ``NAME`` is replaced only when it is empty or is itself a results directory (it
holds ``summary.json``): a mistyped ``--out ~`` must not delete someone's home directory.
``check_replaceable`` lets the command line refuse before it spends minutes simulating.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "SUMMARY_FILE",
    "NotAResultsDirectory",
    "check_replaceable",
    "read_results",
    "write_results",
]

SUMMARY_FILE = "summary.json"


class NotAResultsDirectory(Exception):
    """The output path exists and is not something ``write_results`` may replace."""


def check_replaceable(out_dir: Path) -> None:
    """Raise ``NotAResultsDirectory`` unless ``out_dir`` is absent, an empty directory, or a
    results directory written before (it holds ``summary.json``)."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if out_dir.is_symlink() or not out_dir.is_dir():
        raise NotAResultsDirectory(f"{out_dir} exists and is not a directory")
    if (out_dir / SUMMARY_FILE).is_file() or not any(out_dir.iterdir()):
        return
    raise NotAResultsDirectory(
        f"{out_dir} is a directory that holds other files (no {SUMMARY_FILE}); "
        "results replace only an empty directory or earlier results"
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
    # allow_nan=False: JSON has no NaN; the summary builder turns missing numbers into null.
    text = json.dumps(summary, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
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
    staging = _sibling(out_dir, "tmp")
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
            if Path(file_name).name != file_name or file_name == SUMMARY_FILE:
                raise ValueError(f"not a document name: {file_name!r}")
            _write_summary(staging / file_name, document)
        _write_summary(staging / SUMMARY_FILE, {**summary, "files": files})
        _fsync_directory(staging)
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_directory(parent)
    return out_dir


def _sibling(out_dir: Path, kind: str) -> Path:
    """A hidden, unused name beside ``out_dir``: ``.NAME.<random>.tmp`` (or ``.old``)."""
    while True:
        candidate = out_dir.parent / f".{out_dir.name}.{secrets.token_hex(6)}.{kind}"
        if not candidate.exists() and not candidate.is_symlink():
            return candidate


def _move_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    old = _sibling(out_dir, "old")
    os.rename(out_dir, old)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        os.rename(old, out_dir)  # put the previous results back
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_results(out_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The tables and the summary of a results directory, as ``write_results`` wrote them
    (categorical columns come back categorical)."""
    out_dir = Path(out_dir)
    summary = json.loads((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    tables = {
        name: pd.read_parquet(out_dir / entry["file"], engine="pyarrow")
        for name, entry in summary.get("files", {}).items()
    }
    return tables, summary
