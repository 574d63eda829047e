"""Per-group gzip files for TreeServe, written with bounded memory and open files.

Each pool worker splits one volume into its own *part* files, one per group, under
``<build dir>/.parts/<volume>/``. Lines are buffered per group in memory and written
in large chunks: a group's buffer is written when it reaches ``group_flush_bytes``,
and when all buffers together pass ``buffer_bytes`` the largest are written until
half of that is left; so a worker's memory is bounded by the configuration, not by
the input. Compressed streams are kept open in a least-recently-used cache of at
most ``max_open_files`` handles; a stream evicted from the cache is finished, and
reopening the part appends a new gzip member (a file of concatenated gzip members is
one valid gzip file, RFC 1952 section 2.2).

The parent then joins each group's parts in volume order into ``<G>.dat.gz`` by
concatenating their bytes: no recompression. Members carry no file name and mtime 0,
so the same input gives byte-identical output (and the S3 upload can skip it).

The whole output is built in a hidden directory next to the final one and renamed
into place only when complete: a failed or interrupted run never leaves a
complete-looking directory behind.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from humgen_storage.aggregate.selection import (
    GROUP_FILE_SUFFIX,
    INDEX_HEADER,
    IndexConstants,
    index_row,
    index_sort_key,
)
from humgen_storage.errors import JobFailed

try:  # igzip is several times faster than zlib at its fastest levels.
    from isal import igzip as _gzip
    from isal import isal_zlib as _isal_zlib

    MAX_COMPRESS_LEVEL = _isal_zlib.ISAL_BEST_COMPRESSION
    MIN_COMPRESS_LEVEL = _isal_zlib.ISAL_BEST_SPEED
except ImportError:  # pragma: no cover - depends on the installation
    import gzip as _gzip  # type: ignore[no-redef]

    MAX_COMPRESS_LEVEL = 9
    MIN_COMPRESS_LEVEL = 1

INDEX_FILE = "index.txt"
GROUP_DB_FILE = "groupfile"
PASSWD_DB_FILE = "passwdfile"
PARTS_DIR = ".parts"
COPY_CHUNK = 4 * 1024 * 1024


def effective_compress_level(configured: int) -> int:
    """The configured level clamped to what the gzip implementation supports
    (isal: 0-3, where 1 is already close to zlib's 6 in ratio)."""
    return max(MIN_COMPRESS_LEVEL, min(MAX_COMPRESS_LEVEL, configured))


class _MemberStream:
    """One open part file and the gzip member being written to it."""

    def __init__(self, path: Path, level: int) -> None:
        self.raw: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed in close()
        try:
            # No file name and mtime 0 in the header: reproducible bytes.
            self.gzip: Any = _gzip.GzipFile(
                filename="", mode="wb", fileobj=self.raw, compresslevel=level, mtime=0
            )
        except BaseException:
            self.raw.close()
            raise

    def write(self, data: bytes | bytearray) -> None:
        self.gzip.write(data)

    def close(self) -> None:
        try:
            self.gzip.close()  # writes the member's trailer (CRC, size)
        finally:
            self.raw.close()


def open_member_stream(path: Path, level: int) -> _MemberStream:
    """Open ``path`` for appending one gzip member. Module level so tests can count opens."""
    return _MemberStream(path, level)


@dataclass
class PartInfo:
    """One group's part file of one volume."""

    path: Path
    lines: int = 0
    dirs: int = 0


class GroupPartWriter:
    """Writes one volume's selected lines into one part file per group.

    Use ``slot(stem)`` once per group to get its number, then ``add_joined`` (or
    ``add_block``) with the lines of one input block grouped by slot, then ``close()``.
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
        self.buffer_bytes = buffer_bytes
        self.group_flush_bytes = group_flush_bytes
        self.parts: list[PartInfo] = []
        self.stems: list[str] = []
        self._slots: dict[str, int] = {}
        self._buffers: list[bytearray] = []
        self._buffered = 0
        self._open: OrderedDict[int, _MemberStream] = OrderedDict()
        directory.mkdir(parents=True, exist_ok=True)

    def slot(self, stem: str) -> int:
        """The number of the group's part, allocated on first use."""
        number = self._slots.get(stem)
        if number is None:
            number = len(self.parts)
            self._slots[stem] = number
            self.stems.append(stem)
            # Parts are named by number: the stem is only ever used for the final name.
            self.parts.append(PartInfo(self.directory / f"{number}.gz"))
            self._buffers.append(bytearray())
        return number

    def add_block(
        self, lines_by_slot: dict[int, list[bytes]], dirs_by_slot: dict[int, int]
    ) -> None:
        """Buffer one block's lines (without their newlines), grouped by slot."""
        self.add_joined(
            (number, b"\n".join(lines) + b"\n", len(lines), dirs_by_slot.get(number, 0))
            for number, lines in lines_by_slot.items()
            if lines
        )

    def add_joined(self, groups: Iterable[tuple[int, bytes, int, int]]) -> None:
        """Buffer one block's lines: per slot, its lines joined (each ending in a
        newline), how many lines and how many of them are directories."""
        flush_at = self.group_flush_bytes
        for number, data, lines, dirs in groups:
            part = self.parts[number]
            part.lines += lines
            part.dirs += dirs
            buffer = self._buffers[number]
            if not buffer and len(data) >= flush_at:
                self._stream(number).write(data)  # large enough already: no copy
                continue
            buffer += data
            self._buffered += len(data)
            if len(buffer) >= flush_at:
                self._flush(number)
        if self._buffered > self.buffer_bytes:
            self._relieve_pressure()

    def _relieve_pressure(self) -> None:
        # Many groups each below the flush size: write the largest until half the
        # budget is free, so that pressure is relieved in few, large writes.
        target = self.buffer_bytes // 2
        by_size = sorted(
            range(len(self._buffers)), key=lambda n: len(self._buffers[n]), reverse=True
        )
        for number in by_size:
            if self._buffered <= target or not self._buffers[number]:
                break
            self._flush(number)

    def _stream(self, number: int) -> _MemberStream:
        stream = self._open.get(number)
        if stream is not None:
            self._open.move_to_end(number)
            return stream
        while len(self._open) >= self.max_open_files:
            _, oldest = self._open.popitem(last=False)
            oldest.close()
        stream = open_member_stream(self.parts[number].path, self.compress_level)
        self._open[number] = stream
        return stream

    def _flush(self, number: int) -> None:
        buffer = self._buffers[number]
        if not buffer:
            return
        self._stream(number).write(buffer)
        self._buffered -= len(buffer)
        # A new buffer rather than clear(): the stream may still refer to the old one.
        self._buffers[number] = bytearray()

    def close(self) -> dict[str, PartInfo]:
        """Write every buffer, finish every stream; the parts by group stem."""
        try:
            for number in range(len(self._buffers)):
                self._flush(number)
        finally:
            self.abort()
        return dict(zip(self.stems, self.parts, strict=True))

    def abort(self) -> None:
        """Close every open stream (the parts are left for the caller to remove)."""
        while self._open:
            _, stream = self._open.popitem(last=False)
            stream.close()


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


# ------------------------------------------------------------ index and getent files


def write_index(
    build_dir: Path, totals: Iterable[GroupFileTotals], constants: IndexConstants, by_id: bool
) -> int:
    """``index.txt``: one row per group file, ordered by name; returns the row count."""
    rows = sorted(totals, key=lambda t: index_sort_key(t.stem, by_id))
    with open(
        build_dir / INDEX_FILE, "w", encoding="utf-8", errors="surrogateescape", newline="\n"
    ) as out:
        out.write("\t".join(INDEX_HEADER) + "\n")
        for total in rows:
            out.write(index_row(total.stem, total.lines, total.dirs, constants).line())
    return len(rows)


def _getent_line(fields: Sequence[object]) -> bytes:
    # Names are bytes on the system; Python decoded them with surrogateescape.
    return os.fsencode(":".join(str(f) for f in fields)) + b"\n"


def write_getent_files(build_dir: Path) -> None:
    """``groupfile`` and ``passwdfile``: the system's databases as ``getent`` prints them.

    The password field is always ``x``: these files are copied off the cluster and
    must never carry a hash, whatever the local files hold.
    """
    with open(build_dir / GROUP_DB_FILE, "wb") as out:
        for group in grp.getgrall():
            out.write(_getent_line((group.gr_name, "x", group.gr_gid, ",".join(group.gr_mem))))
    with open(build_dir / PASSWD_DB_FILE, "wb") as out:
        for user in pwd.getpwall():
            out.write(
                _getent_line(
                    (
                        user.pw_name,
                        "x",
                        user.pw_uid,
                        user.pw_gid,
                        user.pw_gecos,
                        user.pw_dir,
                        user.pw_shell,
                    )
                )
            )


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
        self.final.parent.mkdir(parents=True, exist_ok=True)
        for leftover in self.final.parent.glob(f".{self.final.name}.building-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.final.parent.glob(f".{self.final.name}.replaced-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        os.mkdir(self.temporary, 0o777)  # the umask decides, as for any directory

    def install(self) -> None:
        """Rename the complete build into place, replacing a previous split output."""
        check_replaceable(self.final)
        if self.final.exists():
            old = self.final.parent / f".{self.final.name}.replaced-{secrets.token_hex(4)}"
            os.rename(self.final, old)
            os.rename(self.temporary, self.final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(self.temporary, self.final)

    def discard(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)


def check_replaceable(final: Path) -> None:
    """A directory that exists may only be replaced when it is a split output (or empty):
    ``-o DIR`` must never wipe a directory of someone's other files."""
    if not final.exists():
        return
    if not final.is_dir():
        raise JobFailed(f"{final} exists and is not a directory")
    if (final / INDEX_FILE).is_file() or not any(final.iterdir()):
        return
    raise JobFailed(
        f"{final} exists and is not the output of a previous split (no {INDEX_FILE}); not replacing it"
    )
