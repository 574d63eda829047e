"""Files that appear complete or not at all: written beside their final name, renamed
over it when the writing succeeded, removed when it failed. A reader, or a manager
looking for a done-marker, never sees half a file.

The temporary is a new file (``O_EXCL``, ``O_NOFOLLOW``) made with the caller's mode,
which the kernel narrows by the umask: outputs follow the umask, staging databases
and manifests pass ``PRIVATE_FILE_MODE``. Given a ``base`` (``report_dir``, say), the
folders between it and the file are made and checked one at a time
(``run.safe_files``); a link at the final name is refused, never replaced.

A failure to write (a full disk, a read-only or missing directory) becomes one
``OutputError`` line naming the final path, as the admin knows it, never the
temporary name or a traceback.

``prepared_text_file`` splits the writing in two for a publish beside a database:
the file is written in full and synced under its temporary name before the commit
(everything that can fail for lack of space), and only the rename is left after it.
"""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from humgen_storage.errors import OutputError
from humgen_storage.run.safe_files import (
    PUBLIC_FILE_MODE,
    check_not_link,
    create_file,
    make_directories,
)

# SQLite's result codes for a file it could not write (a staging database on a full disk).
_SQLITE_WRITE_FAILURES = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY")


def write_failure(path: Path, exc: OSError | sqlite3.Error) -> OutputError:
    """``exc`` as one line naming ``path``: ``cannot write P: No space left on device (ENOSPC)``."""
    if isinstance(exc, OSError):
        code = errno.errorcode.get(exc.errno or 0, "")
        reason = exc.strerror or str(exc)
    else:
        code = getattr(exc, "sqlite_errorname", "")
        reason = str(exc)
    return OutputError(f"cannot write {path}: {reason}{f' ({code})' if code else ''}")


def _concerns(exc: BaseException, *paths: Path) -> bool:
    """Whether ``exc`` is a failure to write one of ``paths``: an OSError naming one of
    them or no file at all (``write`` and ``fsync`` name none), or SQLite's write errors.
    An OSError naming another file (an input, say) passes through untouched."""
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "")
        return any(name.startswith(code) for code in _SQLITE_WRITE_FAILURES)
    if not isinstance(exc, OSError):
        return False
    return exc.filename is None or os.fspath(exc.filename) in {os.fspath(p) for p in paths}


def _new_temporary(path: Path, mode: int, base: Path | None) -> tuple[Path, int]:
    """A new file beside ``path`` (its folders made, and checked below ``base``), open."""
    try:
        if base is None:
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            make_directories(base, path.parent)
        check_not_link(path)
        while True:
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            try:
                return temporary, create_file(temporary, mode)
            except FileExistsError:
                continue
    except OSError as exc:
        if _concerns(exc, path, path.parent):
            raise write_failure(path, exc) from None
        raise


@contextmanager
def _replaced(path: Path, mode: int, base: Path | None) -> Iterator[tuple[Path, int]]:
    """A new temporary beside ``path`` and its open descriptor (the caller closes it);
    renamed to ``path`` if the block succeeds, removed if not."""
    temporary, fd = _new_temporary(path, mode, base)
    try:
        yield temporary, fd
        check_not_link(path)
        os.replace(temporary, path)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if _concerns(exc, temporary, path, path.parent):
            raise write_failure(path, exc) from None  # type: ignore[arg-type]
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


@dataclass
class PreparedFile:
    """A text file being written under a temporary name beside ``path``.

    Write to ``handle``; ``finish`` flushes, syncs and closes it (after which nothing
    is left that needs disk space); ``install`` renames it to ``path``.
    """

    path: Path
    temporary: Path
    handle: IO[str]
    installed: bool = False

    def finish(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()

    def install(self) -> None:
        if not self.handle.closed:
            self.finish()
        check_not_link(self.path)
        os.replace(self.temporary, self.path)
        self.installed = True

    def discard(self) -> None:
        if not self.handle.closed:
            try:
                self.handle.close()
            except OSError:
                pass  # the buffered rest cannot be written either: the file goes anyway
        self.temporary.unlink(missing_ok=True)


@contextmanager
def prepared_text_file(
    path: Path, mode: int = PUBLIC_FILE_MODE, base: Path | None = None
) -> Iterator[PreparedFile]:
    """A ``PreparedFile`` for ``path`` (UTF-8, '\\n'); removed unless the block installed it.

    A failure to write it, inside the block, is an ``OutputError`` naming ``path``.
    """
    temporary, fd = _new_temporary(path, mode, base)
    handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
    prepared = PreparedFile(path, temporary, handle)
    try:
        yield prepared
    except BaseException as exc:
        prepared.discard()
        if _concerns(exc, temporary, path):
            raise write_failure(path, exc) from None  # type: ignore[arg-type]
        raise
    if not prepared.installed:
        prepared.discard()
