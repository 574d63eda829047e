"""Files that appear complete or not at all: written beside their final name, renamed
over it when the writing succeeded, removed when it failed. A reader, or a manager
looking for a done-marker, never sees half a file.

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
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from humgen_storage.errors import OutputError

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


def _temporary_beside(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_failure(path, exc) from None
    os.close(fd)
    return Path(name)


@contextmanager
def replaced_on_success(path: Path) -> Iterator[Path]:
    """A temporary path in ``path``'s directory, renamed to ``path`` if the block succeeds."""
    temporary = _temporary_beside(path)
    try:
        yield temporary
        os.chmod(temporary, 0o644)  # mkstemp's 0600 is for the temporary, not the result
        os.replace(temporary, path)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if _concerns(exc, temporary, path, path.parent):
            raise write_failure(path, exc) from None  # type: ignore[arg-type]
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
        os.chmod(self.temporary, 0o644)  # as replaced_on_success
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
def prepared_text_file(path: Path) -> Iterator[PreparedFile]:
    """A ``PreparedFile`` for ``path`` (UTF-8, '\\n'); removed unless the block installed it.

    A failure to write it, inside the block, is an ``OutputError`` naming ``path``.
    """
    temporary = _temporary_beside(path)
    prepared = PreparedFile(path, temporary, open(temporary, "w", encoding="utf-8", newline="\n"))
    try:
        yield prepared
    except BaseException as exc:
        prepared.discard()
        if _concerns(exc, temporary, path):
            raise write_failure(path, exc) from None  # type: ignore[arg-type]
        raise
    if not prepared.installed:
        prepared.discard()
