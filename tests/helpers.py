"""Helpers for writing test inputs."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from pathlib import Path

from humgen_storage.mpistat.reader import Format
from humgen_storage.mpistat.writer import Record


def write_mpistat(
    directory: Path,
    day: str,
    volume: str,
    records: Iterable[Record],
    fmt: Format = Format.BASE64,
    extra_lines: Iterable[bytes] = (),
    mtime: float | None = None,
) -> Path:
    """Write ``<directory>/<day>_<volume>.dat.gz``; ``mtime`` sets the file's mtime (the report's reference)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{day}_{volume}.dat.gz"
    with gzip.open(path, "wb") as handle:
        for record in records:
            handle.write(record.line(fmt))
        for line in extra_lines:
            handle.write(line)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path
