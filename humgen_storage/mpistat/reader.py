"""The one mpistat reader shared by every job: a file's format, its root, its blocks.

A file is read as gzip in binary, in newline-aligned blocks of a few MiB, handed on
as they are: ``patterns.py`` validates and cuts them, and ``run/blocks.py`` spreads
them over worker processes. The first line is checked at once: it is the volume's
root, and its name must agree with the file's.

Nothing here keeps per-record objects: a block is handed on and dropped.
"""

from __future__ import annotations

import mmap
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, cast

from humgen_storage.errors import InputError
from humgen_storage.logs import volume_logger
from humgen_storage.mpistat.badlines import BadLineAccount
from humgen_storage.mpistat.files import InputFile, volume_name_of_root
from humgen_storage.mpistat.paths import PathDecodeError
from humgen_storage.mpistat.patterns import Format, clean_block, count_lines, detect_format

try:  # igzip is 2-3x faster than zlib; the stdlib is the fallback where isal is missing.
    from isal import igzip as _gzip
    from isal import isal_zlib as _isal_zlib

    _ZLIB_ERRORS: tuple[type[BaseException], ...] = (
        zlib.error,
        cast(type[BaseException], _isal_zlib.error),
    )
except ImportError:  # pragma: no cover - depends on the installation
    import gzip as _gzip  # type: ignore[no-redef]

    _ZLIB_ERRORS = (zlib.error,)

BLOCK_SIZE = 4 * 1024 * 1024
_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, *_ZLIB_ERRORS)


@dataclass(frozen=True)
class BlockParts:
    """A block as read: ``head``, the end of the line the previous chunk cut, then the
    chunk up to ``cut`` (just after its last newline). Joining them copies the whole
    block, which the reading process's own work, the one serial part of a volume,
    spares where the block goes to another process's shared memory anyway."""

    head: bytes
    chunk: bytes
    cut: int

    def __len__(self) -> int:
        return len(self.head) + self.cut

    def joined(self) -> bytes:
        if not self.head:
            return self.chunk if self.cut == len(self.chunk) else self.chunk[: self.cut]
        return b"".join((self.head, memoryview(self.chunk)[: self.cut]))

    def copy_into(self, memory: mmap.mmap) -> None:
        """Write the block at the start of ``memory`` (at least ``len(self)`` bytes)."""
        memory[: len(self.head)] = self.head
        with memoryview(self.chunk) as chunk, chunk[: self.cut] as lines:
            memory[len(self.head) : len(self)] = lines


class MpistatReader(BadLineAccount):
    """Reads one mpistat file: the format, the header check, then blocks of lines in
    file order. It is also the file's bad-line account (``badlines.py``).

    Use as a context manager, with ``run/aggregate.py`` (or ``run/blocks.py``) to parse the blocks::

        with MpistatReader(InputFile.from_path(p), max_bad_fraction=0.001) as reader:
            partial = aggregate_file(reader, make_partial, workers)
        # reader.lines, reader.bad_lines; InputError past max_bad_fraction
    """

    def __init__(
        self,
        source: InputFile,
        max_bad_fraction: float = 0.001,
        log_bad_lines: int = 5,
        block_size: int = BLOCK_SIZE,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(
            source.path, max_bad_fraction, log_bad_lines, volume_logger(__name__, source.volume)
        )
        self.source = source
        self.block_size = block_size
        self.on_progress = on_progress
        self._raw: IO[bytes] | None = None
        self._stream: IO[bytes] | None = None
        self._first: bytes = b""
        self._consumed = 0
        self.format = Format.BASE64
        self.root = b""
        self.volume_name = ""
        self.mtime = 0.0
        self.compressed_size = 0

    # -- opening and the header ------------------------------------------------------

    def _error(self, message: str) -> InputError:
        return InputError(f"{self.source.path}: {message}")

    def __enter__(self) -> MpistatReader:
        self.open()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()

    def open(self) -> None:
        path = self.source.path
        try:
            stat = os.stat(path)
            self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        except FileNotFoundError:
            raise self._error("file not found") from None
        except OSError as exc:
            raise self._error(f"cannot read: {exc.strerror or exc}") from None
        self.mtime = stat.st_mtime
        self.compressed_size = stat.st_size
        if stat.st_size == 0:
            self.close()
            raise self._error("empty file")
        self._stream = _gzip.GzipFile(fileobj=self._raw, mode="rb")  # type: ignore[assignment]
        self._first = self._read_chunk()
        if not self._first:
            self.close()
            raise self._error("no records (empty gzip stream)")
        self.format = detect_format(self._first[:1])
        self._check_root()

    def _check_root(self) -> None:
        end = self._first.find(b"\n")
        first_line = self._first if end < 0 else self._first[:end]
        valid, bad = clean_block(self.format, first_line + b"\n", 1)
        if not valid:
            raise self._error(
                f"line 1: the first record (the volume's root) is malformed: {bad[0][1]}"
            )
        path_field = valid.split(b"\t", 1)[0]  # a valid line: the path is its first field
        try:
            self.root = self.format.decode_path(path_field)
        except PathDecodeError as exc:
            raise self._error(f"line 1: the volume's root path: {exc}") from None
        name = volume_name_of_root(self.root)
        volume = self.source.volume
        if name not in (f"scratch{volume}", volume):
            shown = self.root.decode("utf-8", "backslashreplace")
            raise self._error(
                f"line 1: root {shown!r} is volume {name!r}, but the file name says volume {volume} "
                f"(expected scratch{volume} or {volume})"
            )
        self.volume_name = name
        self.log = volume_logger(__name__, name)

    def _read_chunk(self) -> bytes:
        assert self._stream is not None and self._raw is not None
        try:
            chunk = self._stream.read(self.block_size)
        except EOFError:
            raise self._error("truncated gzip stream (unexpected end of file)") from None
        except _READ_ERRORS as exc:
            raise self._error(f"corrupt gzip stream: {exc}") from None
        if self.on_progress is not None:
            position = self._raw.tell()
            self.on_progress(position - self._consumed)
            self._consumed = position
        return chunk

    def close(self) -> None:
        for handle in (self._stream, self._raw):
            if handle is not None:
                try:
                    handle.close()
                except Exception:  # noqa: BLE001 - closing a broken stream must not mask the real error
                    pass
        self._stream = self._raw = None

    # -- blocks --------------------------------------------------------------

    def blocks(self) -> Iterator[tuple[int, bytes]]:
        """(number of the block's first line, newline-terminated lines), in file order."""
        for first_line, parts in self.block_parts():
            yield first_line, parts.joined()

    def block_parts(self) -> Iterator[tuple[int, BlockParts]]:
        """``blocks()`` before their parts are joined: a process that hands a block on
        (into another process's shared memory) copies the parts there, once."""
        pending = b""  # the start of a line cut by the end of the previous chunk
        next_line = 1
        for chunk in self._chunks():
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:  # a single line longer than the block size: keep reading
                pending += chunk
                continue
            parts = BlockParts(pending, chunk, cut)
            pending = chunk[cut:]
            yield next_line, parts
            # The chunk holds every newline of the block: ``pending`` holds none.
            next_line += count_lines(chunk)
        if pending:
            if not pending.endswith(b"\n"):
                pending += b"\n"  # a last line without its newline still counts
            yield next_line, BlockParts(b"", pending, len(pending))

    def _chunks(self) -> Iterator[bytes]:
        """The decompressed data in chunks of the block size, the first one included."""
        first, self._first = self._first, b""
        if first:
            yield first
        while chunk := self._read_chunk():
            yield chunk
