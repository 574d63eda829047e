"""Tab-separated outputs, written atomically: a temporary file in the same directory,
fsynced, then renamed, so a reader (or a manager looking for a done-marker) never
sees half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

NULL = "-"


@contextmanager
def atomic_text_file(path: Path) -> Iterator[IO[str]]:
    """Write ``path`` all at once: it appears complete or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def tsv_line(values: Sequence[Any]) -> str:
    """One row; None is written as '-'. Values must not hold tabs or newlines (names are escaped upstream)."""
    return "\t".join(NULL if value is None else str(value) for value in values) + "\n"


def write_tsv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with atomic_text_file(path) as handle:
        handle.write(tsv_line(header))
        for row in rows:
            handle.write(tsv_line(row))
