"""Files that appear complete or not at all: written beside their final name, renamed
over it when the writing succeeded, removed when it failed. A reader, or a manager
looking for a done-marker, never sees half a file.

The temporary is a new file (``O_EXCL``, ``O_NOFOLLOW``) made with the caller's mode,
which the kernel narrows by the umask: outputs follow the umask, staging databases
and manifests pass ``PRIVATE_FILE_MODE``. Given a ``base`` (``report_dir``, say), the
folders between it and the file are made and checked one at a time
(``run.safe_files``); a link at the final name is refused, never replaced.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from humgen_storage.run.safe_files import (
    PUBLIC_FILE_MODE,
    check_not_link,
    create_file,
    make_directories,
)


def _new_temporary(path: Path, mode: int) -> tuple[Path, int]:
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return temporary, create_file(temporary, mode)
        except FileExistsError:
            continue


@contextmanager
def _replaced(path: Path, mode: int, base: Path | None) -> Iterator[tuple[Path, int]]:
    """A new temporary beside ``path`` and its open descriptor (the caller closes it);
    renamed to ``path`` if the block succeeds, removed if not."""
    if base is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        make_directories(base, path.parent)
    check_not_link(path)
    temporary, fd = _new_temporary(path, mode)
    try:
        yield temporary, fd
        check_not_link(path)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def replaced_on_success(
    path: Path, mode: int = PUBLIC_FILE_MODE, base: Path | None = None
) -> Iterator[Path]:
    """A new temporary file beside ``path``, renamed to ``path`` if the block succeeds.

    ``base``: the configured folder ``path`` lies under; every folder below it is
    checked (without one, the parent is made as it is, for paths a person names)."""
    with _replaced(path, mode, base) as (temporary, fd):
        os.close(fd)
        yield temporary


@contextmanager
def atomic_file(
    path: Path, binary: bool = False, mode: int = PUBLIC_FILE_MODE, base: Path | None = None
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing (text: UTF-8, '\\n'); it appears, synced, when the block ends."""
    with _replaced(path, mode, base) as (_, fd):
        if binary:
            handle: IO[Any] = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
