"""Files that appear complete or not at all: written beside their final name, renamed
over it when the writing succeeded, removed when it failed. A reader, or a manager
looking for a done-marker, never sees half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def replaced_on_success(path: Path) -> Iterator[Path]:
    """A temporary path in ``path``'s directory, renamed to ``path`` if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o644)  # mkstemp's 0600 is for the temporary, not the result
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """Open ``path`` for writing (text: UTF-8, '\\n'); it appears, synced, when the block ends."""
    with replaced_on_success(path) as temporary:
        if binary:
            handle: IO[Any] = open(temporary, "wb")  # noqa: SIM115 - closed below
        else:
            handle = open(temporary, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
