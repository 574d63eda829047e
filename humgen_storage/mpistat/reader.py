"""The one mpistat reader shared by every job: a file's format, its root, its blocks.

A file is read as gzip in binary, in newline-aligned blocks of a few MiB, handed on
as they are: ``patterns.py`` validates and cuts them, and ``run/blocks.py`` spreads
them over worker processes. The first line is checked at once: it is the volume's
root, and its name must agree with the file's.

Nothing here keeps per-record objects: a block is handed on and dropped.
"""

from __future__ import annotations

import io
import mmap
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

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
    chunk up to ``cut`` (just after its last newline); ``lines`` lines. Joining them
    copies the whole block, which the reading process's own work, the one serial part
    of a volume, spares where the block goes to another process's shared memory anyway."""

    head: bytes
    chunk: bytes
    cut: int
    lines: int

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


@dataclass(frozen=True)
class BlockInPlace:
    """A block at the start of the memory it was read into (``BlocksInPlace``)."""

    length: int
    lines: int


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
        assert self._stream is not None
        return cast(bytes, self._decompressing(self._stream.read, self.block_size))

    def _read_chunk_into(self, memory: mmap.mmap, start: int) -> int:
        """Decompress the next chunk into ``memory`` from ``start`` (which leaves room
        for the block size); its length, 0 at the end of the stream."""
        assert self._stream is not None
        with memoryview(memory) as whole, whole[start : start + self.block_size] as room:
            return cast(int, self._decompressing(_readinto(self._stream), room))

    def _decompressing(self, read: Callable[[Any], object], argument: object) -> object:
        """``read(argument)`` on the stream, its errors as the file's; then the progress."""
        assert self._raw is not None
        try:
            result = read(argument)
        except EOFError:
            raise self._error("truncated gzip stream (unexpected end of file)") from None
        except _READ_ERRORS as exc:
            raise self._error(f"corrupt gzip stream: {exc}") from None
        if self.on_progress is not None:
            position = self._raw.tell()
            self.on_progress(position - self._consumed)
            self._consumed = position
        return result

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
            # The chunk holds every newline of the block: ``pending`` holds none.
            parts = BlockParts(pending, chunk, cut, count_lines(chunk))
            pending = chunk[cut:]
            yield next_line, parts
            next_line += parts.lines
        if pending:
            if not pending.endswith(b"\n"):
                pending += b"\n"  # a last line without its newline still counts
            yield next_line, BlockParts(b"", pending, len(pending), 1)

    def _chunks(self) -> Iterator[bytes]:
        """The decompressed data in chunks of the block size, the first one included."""
        if first := self._take_first():
            yield first
        while chunk := self._read_chunk():
            yield chunk

    def _take_first(self) -> bytes:
        """The first chunk, read by ``open`` to check the root; then nothing."""
        first, self._first = self._first, b""
        return first


def _readinto(stream: IO[bytes]) -> Callable[[memoryview], int]:
    """The stream's ``readinto`` that decompresses into the caller's buffer. A
    ``GzipFile``'s own is ``io.BufferedIOBase``'s, which reads a new bytes object and
    copies it; the buffered reader a ``GzipFile`` reads through hands a request larger
    than its buffer to the decompressor's ``readinto`` (igzip's writes into the buffer
    it is given), after the little it holds: nothing, read in blocks."""
    buffered = getattr(stream, "_buffer", None)
    if isinstance(buffered, io.BufferedReader):
        return buffered.readinto
    return cast(io.BufferedIOBase, stream).readinto


class BlocksInPlace:
    """``MpistatReader.block_parts()``' blocks, each decompressed straight into memory
    its caller chooses a block at a time (a helper's shared slot, or the reading
    process's own mapping: ``run/block_slots.py``). Only the end of the line the
    previous chunk cut is copied, to the start of the next block's memory: the reading
    process, the one serial part of a volume, neither copies a block nor allocates one
    (and faults it in) each chunk.

    The blocks, their first lines and the errors are ``block_parts()``', chunk for
    chunk. A chunk not decompressed in place (the first, read by ``open``, or one after
    a cut line too long to leave it room) is read as bytes and its block copied or,
    longer than the memory, handed back as its parts.
    """

    def __init__(self, reader: MpistatReader) -> None:
        self.reader = reader
        self.pending = b""  # the start of a line cut by the end of the previous chunk
        self.next_line = 1
        self.first = reader._take_first()

    def next_into(self, memory: mmap.mmap) -> tuple[int, BlockInPlace | BlockParts] | None:
        """(the number of its first line, the next block) once the block is at the
        start of ``memory``, or as parts if ``memory`` cannot hold it; None after the last."""
        while True:
            held = len(self.pending)
            if self.first or held + self.reader.block_size > len(memory):
                chunk, self.first = self.first or self.reader._read_chunk(), b""
                if not chunk:
                    return self._last(memory)
                block = self._from_bytes(chunk, memory)
            else:
                memory[:held] = self.pending
                end = held + self.reader._read_chunk_into(memory, held)
                if end == held:
                    return self._last(memory)
                block = self._in_place(memory, end)
            if block is not None:
                return block

    def _in_place(self, memory: mmap.mmap, end: int) -> tuple[int, BlockInPlace] | None:
        """The block of the chunk just decompressed after the cut line; None (the cut
        line now longer) when the chunk has no newline."""
        cut = memory.rfind(b"\n", 0, end) + 1  # the cut line holds none
        self.pending = memory[cut:end]
        if cut == 0:
            return None
        with memoryview(memory) as whole, whole[:cut] as lines:
            first_line = self._numbered(count_lines(lines))
        return first_line, BlockInPlace(cut, self.next_line - first_line)

    def _from_bytes(
        self, chunk: bytes, memory: mmap.mmap
    ) -> tuple[int, BlockInPlace | BlockParts] | None:
        """A chunk read as bytes, cut as ``block_parts`` cuts it."""
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:  # a single line longer than the block size: keep reading
            self.pending += chunk
            return None
        parts = BlockParts(self.pending, chunk, cut, count_lines(chunk))
        self.pending = chunk[cut:]
        return self._copied(parts, memory)

    def _last(self, memory: mmap.mmap) -> tuple[int, BlockInPlace | BlockParts] | None:
        """After the last chunk: the cut line, if any (a last line without its newline
        still counts)."""
        if not self.pending:
            return None
        line = self.pending if self.pending.endswith(b"\n") else self.pending + b"\n"
        self.pending = b""
        return self._copied(BlockParts(b"", line, len(line), 1), memory)

    def _copied(
        self, parts: BlockParts, memory: mmap.mmap
    ) -> tuple[int, BlockInPlace | BlockParts]:
        """The block copied into ``memory``, or its parts if it does not fit."""
        first_line = self._numbered(parts.lines)
        if len(parts) > len(memory):
            return first_line, parts
        parts.copy_into(memory)
        return first_line, BlockInPlace(len(parts), self.next_line - first_line)

    def _numbered(self, lines: int) -> int:
        """The first line of the next block, of ``lines`` lines."""
        first_line = self.next_line
        self.next_line += lines
        return first_line
