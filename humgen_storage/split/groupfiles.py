"""Per-group gzip files for TreeServe, written with bounded memory and open files.

Each pool worker splits one volume into its own *part* files, one per group, under
``<build dir>/.parts/<volume>/``. Lines are buffered per group in memory and written
in large chunks: a group's buffer is written when it reaches ``group_flush_bytes``,
and when all buffers together fill ``buffer_bytes`` the largest are written until
half of that is free. Each write is one complete gzip member appended to the part (a
file of concatenated gzip members is one valid gzip file, RFC 1952 section 2.2), so
no compressor outlives a write, and at most ``max_open_files`` parts are open at
once (a least-recently-used cache). A worker's memory is thus bounded by the
configuration, not by the input: the buffers are one fixed pool (``GroupPartWriter``)
and the compressor state is one member's.

The parent then joins each group's parts in volume order into ``<G>.dat.gz`` by
concatenating their bytes: no recompression. Members carry no file name and mtime 0,
so the same input gives byte-identical output (and the S3 upload can skip it).

The whole output is built in a hidden directory next to the final one and renamed
into place only when complete: a failed or interrupted run never leaves a
complete-looking directory behind. A link where the output, a build or a replaced
output would be is refused, never followed or deleted through (``run.safe_files``).
"""

from __future__ import annotations

import mmap
import os
import secrets
import shutil
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from humgen_storage.errors import JobFailed
from humgen_storage.run.safe_files import check_not_link, remove_tree
from humgen_storage.split.select import GROUP_FILE_SUFFIX

try:  # isal is several times faster than zlib at its fastest levels.
    from isal import isal_zlib as _zlib

    MAX_COMPRESS_LEVEL = _zlib.ISAL_BEST_COMPRESSION
    MIN_COMPRESS_LEVEL = _zlib.ISAL_BEST_SPEED
except ImportError:  # pragma: no cover - depends on the installation
    import zlib as _zlib  # type: ignore[no-redef]

    MAX_COMPRESS_LEVEL = 9
    MIN_COMPRESS_LEVEL = 1

INDEX_FILE = "index.txt"
PARTS_DIR = ".parts"
COPY_CHUNK = 4 * 1024 * 1024
# The buffers' unit: a group's lines are held in chunks of this size (or smaller, for
# a small budget), so its last, partly used chunk wastes little.
CHUNK_BYTES = 64 * 1024
_GZIP_WBITS = 16 + 15  # a gzip header and trailer around the deflate stream


def effective_compress_level(configured: int) -> int:
    """The configured level clamped to what the gzip implementation supports
    (isal: 0-3, where 1 is already close to zlib's 6 in ratio)."""
    return max(MIN_COMPRESS_LEVEL, min(MAX_COMPRESS_LEVEL, configured))


class _PartFile:
    """One open part file, to which whole gzip members are appended."""

    def __init__(self, path: Path) -> None:
        self.raw: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed in close()

    def write_member(self, pieces: Iterable[bytes | memoryview], level: int) -> None:
        """Compress ``pieces``, in order, into one complete gzip member."""
        # A compressor per member, dropped once it is written: its state (~290 KiB with
        # isal) lives for one write, not for as long as the part stays open (a stream
        # per open part cost up to max_open_files of them). The header has no file
        # name and mtime 0: reproducible bytes.
        compressor = _zlib.compressobj(level, _zlib.DEFLATED, _GZIP_WBITS)
        write = self.raw.write
        for piece in pieces:
            write(compressor.compress(piece))
        write(compressor.flush())

    def close(self) -> None:
        self.raw.close()


def open_part_file(path: Path) -> _PartFile:
    """Open ``path`` for appending gzip members. Module level so tests can count opens."""
    return _PartFile(path)


@dataclass
class PartInfo:
    """One group's part file of one volume."""

    path: Path
    lines: int = 0
    dirs: int = 0


class _Pending:
    """One group's buffered lines: the pool chunks holding them, in order."""

    __slots__ = ("chunks", "fill", "size")

    def __init__(self) -> None:
        self.chunks: list[int] = []  # chunk numbers in the pool
        self.fill = 0  # bytes used in the last chunk
        self.size = 0  # bytes buffered


class GroupPartWriter:
    """Writes one volume's selected lines into one part file per group.

    Use ``slot(stem)`` once per group to get its number, then ``add_joined`` with the
    lines of one input block grouped by slot, then ``close()``.

    Lines are buffered in a pool of fixed-size chunks, one anonymous mapping of
    ``buffer_bytes`` made once: a group holds a list of chunks, and a flush gives them
    back for other groups to reuse. The buffers never go through malloc: a bytearray
    per group, grown and replaced at each flush (sizes varying up to the flush size),
    fragmented the heap, which kept growing with the input. Pages of the mapping are
    only touched when first used, and freed chunks are reused first, so a small input
    does not cost the whole budget.
    """

    def __init__(
        self,
        directory: Path,
        max_open_files: int,
        compress_level: int,
        buffer_bytes: int,
        group_flush_bytes: int,
    ) -> None:
        self.directory = directory
        self.max_open_files = max(1, max_open_files)
        self.compress_level = effective_compress_level(compress_level)
        self.group_flush_bytes = group_flush_bytes
        # Chunks of at most CHUNK_BYTES, and at least 16 of them: a group's last chunk
        # is partly used, so small chunks waste less of the budget with many groups.
        self.chunk_bytes = max(1024, min(CHUNK_BYTES, buffer_bytes // 16))
        chunks = max(2, buffer_bytes // self.chunk_bytes)
        self.buffer_bytes = chunks * self.chunk_bytes
        self.parts: list[PartInfo] = []
        self.stems: list[str] = []
        self._slots: dict[str, int] = {}
        self._pending: list[_Pending] = []
        # Private: the block workers, forked after this, neither share nor touch it.
        self._pool: mmap.mmap | None = mmap.mmap(-1, self.buffer_bytes, flags=mmap.MAP_PRIVATE)
        self._view = memoryview(self._pool)
        # Free chunks, the next to use last: the lowest numbers first, then the most
        # recently freed, so the pages touched are those of the most chunks ever in use.
        self._free = list(range(chunks - 1, -1, -1))
        self._open: OrderedDict[int, _PartFile] = OrderedDict()
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def buffered_bytes(self) -> int:
        """Memory the buffers hold: chunks in use, whole (never more than ``buffer_bytes``)."""
        return self.buffer_bytes - len(self._free) * self.chunk_bytes

    def slot(self, stem: str) -> int:
        """The number of the group's part, allocated on first use."""
        number = self._slots.get(stem)
        if number is None:
            number = len(self.parts)
            self._slots[stem] = number
            self.stems.append(stem)
            # Parts are named by number: the stem is only ever used for the final name.
            self.parts.append(PartInfo(self.directory / f"{number}.gz"))
            self._pending.append(_Pending())
        return number

    def add_joined(self, groups: Iterable[tuple[int, bytes | memoryview, int, int]]) -> None:
        """Buffer one block's lines: per slot, its lines joined (each ending in a
        newline), how many lines and how many of them are directories."""
        flush_at = self.group_flush_bytes
        for number, data, lines, dirs in groups:
            part = self.parts[number]
            part.lines += lines
            part.dirs += dirs
            pending = self._pending[number]
            if not pending.size and len(data) >= flush_at:
                self._write(number, (data,))  # large enough already: no copy
                continue
            self._buffer(pending, data)
            if pending.size >= flush_at:
                self._flush(number)

    def _buffer(self, pending: _Pending, data: bytes | memoryview) -> None:
        """Copy ``data`` to the end of a group's chunks, taking free chunks as needed."""
        chunk_bytes, view = self.chunk_bytes, self._view
        size = len(data)
        done = 0
        with memoryview(data) as source:
            while done < size:
                if not pending.chunks or pending.fill == chunk_bytes:
                    if not self._free:
                        # May write this very group's lines so far: order is kept.
                        self._relieve_pressure()
                    pending.chunks.append(self._free.pop())
                    pending.fill = 0
                take = min(chunk_bytes - pending.fill, size - done)
                start = pending.chunks[-1] * chunk_bytes + pending.fill
                view[start : start + take] = source[done : done + take]
                pending.fill += take
                pending.size += take
                done += take

    def _relieve_pressure(self) -> None:
        # Every chunk in use, most groups below the flush size: write the largest until
        # half the pool is free, so that pressure is relieved in few, large writes.
        target = max(1, (self.buffer_bytes // self.chunk_bytes) // 2)
        by_size = sorted(
            range(len(self._pending)), key=lambda n: self._pending[n].size, reverse=True
        )
        for number in by_size:
            if len(self._free) >= target or not self._pending[number].size:
                break
            self._flush(number)

    def _part_file(self, number: int) -> _PartFile:
        part_file = self._open.get(number)
        if part_file is not None:
            self._open.move_to_end(number)
            return part_file
        while len(self._open) >= self.max_open_files:
            _, oldest = self._open.popitem(last=False)
            oldest.close()
        part_file = open_part_file(self.parts[number].path)
        self._open[number] = part_file
        return part_file

    def _write(self, number: int, pieces: Iterable[bytes | memoryview]) -> None:
        self._part_file(number).write_member(pieces, self.compress_level)

    def _flush(self, number: int) -> None:
        """Write a group's buffered lines as one gzip member; its chunks are free again."""
        pending = self._pending[number]
        if not pending.size:
            return
        chunk_bytes, view, chunks = self.chunk_bytes, self._view, pending.chunks
        ends = [chunk_bytes] * (len(chunks) - 1) + [pending.fill]
        self._write(
            number,
            (
                view[c * chunk_bytes : c * chunk_bytes + end]
                for c, end in zip(chunks, ends, strict=True)
            ),
        )
        self._free.extend(reversed(chunks))
        chunks.clear()
        pending.fill = pending.size = 0

    def close(self) -> dict[str, PartInfo]:
        """Write every buffer, close every part file; the parts by group stem."""
        try:
            for number in range(len(self._pending)):
                self._flush(number)
        finally:
            self.abort()
        return dict(zip(self.stems, self.parts, strict=True))

    def abort(self) -> None:
        """Close every open part file and free the buffers (the parts are left for the
        caller to remove)."""
        while self._open:
            _, part_file = self._open.popitem(last=False)
            part_file.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                self._view.release()
                pool.close()
            except BufferError:  # a view still held (by a traceback): freed with it
                pass


# ----------------------------------------------------------------- joining parts


@dataclass
class GroupFileTotals:
    stem: str
    lines: int = 0
    dirs: int = 0
    compressed_bytes: int = 0


def join_parts(
    build_dir: Path, parts_per_volume: Sequence[dict[str, PartInfo]]
) -> dict[str, GroupFileTotals]:
    """Concatenate each group's parts, in volume order, into ``<stem>.dat.gz``.

    Parts are removed as they are joined, so the build needs little more space than
    its output.
    """
    stems = sorted({stem for parts in parts_per_volume for stem in parts})
    totals: dict[str, GroupFileTotals] = {}
    for stem in stems:
        target = build_dir / f"{stem}{GROUP_FILE_SUFFIX}"
        pieces = [parts[stem] for parts in parts_per_volume if stem in parts]
        total = GroupFileTotals(stem)
        for piece in pieces:
            total.lines += piece.lines
            total.dirs += piece.dirs
        if len(pieces) == 1:
            os.replace(pieces[0].path, target)  # one volume: nothing to concatenate
        else:
            with open(target, "wb") as out:
                for piece in pieces:
                    with open(piece.path, "rb") as part:
                        shutil.copyfileobj(part, out, COPY_CHUNK)
                    os.unlink(piece.path)
        total.compressed_bytes = target.stat().st_size
        totals[stem] = total
    shutil.rmtree(build_dir / PARTS_DIR, ignore_errors=True)
    return totals


# ------------------------------------------------------------ the build directory


@dataclass
class OutputBuild:
    """An output directory being built under a hidden name next to its final one."""

    final: Path
    temporary: Path = field(init=False)

    def __post_init__(self) -> None:
        self.temporary = self.final.parent / f".{self.final.name}.building-{secrets.token_hex(4)}"

    @property
    def parts_dir(self) -> Path:
        return self.temporary / PARTS_DIR

    def start(self) -> None:
        """Check the final directory can be replaced, clear leftovers, create the build dir.

        Call with the job lock held: any leftover of this name is a crashed run's.
        """
        check_replaceable(self.final)
        parent = self.final.parent
        parent.mkdir(parents=True, exist_ok=True)
        for leftover in parent.glob(f".{self.final.name}.building-*"):
            remove_tree(parent, leftover)
        for leftover in parent.glob(f".{self.final.name}.replaced-*"):
            remove_tree(parent, leftover)
        # The umask decides, as for any directory; a name already taken fails here.
        os.mkdir(self.temporary, 0o777)

    def install(self) -> None:
        """Rename the complete build into place, replacing a previous split output."""
        check_replaceable(self.final)
        if self.final.exists():
            old = self.final.parent / f".{self.final.name}.replaced-{secrets.token_hex(4)}"
            os.rename(self.final, old)
            os.rename(self.temporary, self.final)
            remove_tree(self.final.parent, old)
        else:
            os.rename(self.temporary, self.final)

    def discard(self) -> None:
        remove_tree(self.final.parent, self.temporary)


def check_replaceable(final: Path) -> None:
    """A directory that exists may only be replaced when it is a split output (or empty):
    ``-o DIR`` must never wipe a directory of someone's other files, nor a link be
    replaced as if it were the output."""
    check_not_link(final)
    if not final.exists():
        return
    if not final.is_dir():
        raise JobFailed(f"{final} exists and is not a directory")
    if (final / INDEX_FILE).is_file() or not any(final.iterdir()):
        return
    raise JobFailed(
        f"{final} exists and is not the output of a previous split (no {INDEX_FILE}); not replacing it"
    )
