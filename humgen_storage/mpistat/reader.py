"""The one mpistat reader shared by every job.

A file is read as gzip in binary, in newline-aligned blocks of a few MiB. Each block
is validated by ``clean_block``: one capture-free ``fullmatch`` of a pattern that
checks every field of every line; only a block that fails is rescanned line by line
to find, count and log its malformed lines (the slow path runs on bad input only).
Jobs then take what they need from the valid lines: numpy columns
(``columns.py``), or ``record_pattern(...).findall`` rows (``MpistatReader.scan``).
A job that takes lines whole, by the value of one field (split), validates and cuts a
block in one pass instead: ``field_runs``, with the same fallback for bad blocks.
``parallel.py`` spreads the blocks over worker processes.

Nothing here keeps per-record objects: a block's rows are handed on and dropped.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import operator
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, cast

from humgen_storage.errors import InputError
from humgen_storage.logs import volume_logger
from humgen_storage.mpistat.paths import (
    BASE64_FIELD,
    QUOTED_FIELD,
    PathDecodeError,
    decode_base64_path,
    decode_quoted_path,
)

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

FIELDS = ("path", "size", "uid", "gid", "atime", "mtime", "ctime", "type", "inode", "nlink", "dev")
WRSTAT_EXTRA = "apparent_size"
FILE_TYPES = b"fdlsbcFX"

_NAME_RE = re.compile(r"^(?P<date>\d{8})_(?P<volume>[0-9A-Za-z_-]+)\.dat\.gz$")


def _at_most(limit: int) -> bytes:
    """A regex for the decimal numbers 0..``limit`` (digits only, as mpistat writes them).

    Every number field is a 64-bit quantity (off_t, ino_t, dev_t, time_t...): a wider
    number is corruption, and a malformed line like any other, rather than something
    to wrap or overflow later.
    """
    text = str(limit)
    branches = [rb"\d{1,%d}" % (len(text) - 1)]
    for i, char in enumerate(text):  # same leading digits, then a smaller one, then any
        if char != "0":
            rest = len(text) - i - 1
            branches.append(
                text[:i].encode() + b"[0-%s]" % str(int(char) - 1).encode() + rb"\d" * rest
            )
    branches.append(text.encode())
    return b"(?:" + b"|".join(branches) + b")"


UNSIGNED_FIELD = _at_most(2**64 - 1)
SIGNED_FIELD = b"-?" + _at_most(2**63 - 1)

# Field patterns: times may be negative (files dated before 1970 exist).
_FIELD_PATTERNS = {
    "size": UNSIGNED_FIELD,
    "uid": UNSIGNED_FIELD,
    "gid": UNSIGNED_FIELD,
    "atime": SIGNED_FIELD,
    "mtime": SIGNED_FIELD,
    "ctime": SIGNED_FIELD,
    "type": rb"[" + FILE_TYPES + rb"]",
    "inode": UNSIGNED_FIELD,
    "nlink": UNSIGNED_FIELD,
    "dev": UNSIGNED_FIELD,
    WRSTAT_EXTRA: UNSIGNED_FIELD,
}


def _short_number(limit: int) -> bytes:
    """Digits too few to exceed ``limit`` whatever they are: a subset of ``_at_most(limit)``
    that the regular expression engine checks without trying alternatives."""
    return rb"[0-9]{1,%d}+" % (len(str(limit)) - 1)


# The number fields as ``run_pattern(..., common=True)`` accepts them: every number real
# input holds (19 digits for unsigned fields, 18 for times), never one out of range.
_COMMON_FIELD_PATTERNS = {
    name: (
        _short_number(2**64 - 1)
        if pattern == UNSIGNED_FIELD
        else b"-?+" + _short_number(2**63 - 1)
        if pattern == SIGNED_FIELD
        else pattern
    )
    for name, pattern in _FIELD_PATTERNS.items()
}


class Format(enum.Enum):
    BASE64 = "base64"  # mpistat: 11 fields, base64 path
    WRSTAT = "wrstat"  # wrstat: 12 fields, Go-quoted path

    @property
    def field_names(self) -> tuple[str, ...]:
        return FIELDS + (WRSTAT_EXTRA,) if self is Format.WRSTAT else FIELDS

    def decode_path(self, field: bytes) -> bytes:
        if self is Format.WRSTAT:
            return decode_quoted_path(field)
        return decode_base64_path(field)


def detect_format(first_byte: bytes) -> Format:
    return Format.WRSTAT if first_byte == b'"' else Format.BASE64


@functools.lru_cache(maxsize=64)
def record_pattern(
    fmt: Format, fields: tuple[str, ...], whole_line: bool = False
) -> re.Pattern[bytes]:
    """A multi-line pattern that matches exactly the valid lines of ``fmt``.

    Groups are the requested ``fields`` in line order (whatever order they were asked
    in), preceded by the whole line when ``whole_line`` is set.
    """
    unknown = set(fields) - set(fmt.field_names)
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    parts = []
    for name in fmt.field_names:
        if name == "path":
            pattern = QUOTED_FIELD if fmt is Format.WRSTAT else BASE64_FIELD
        else:
            pattern = _FIELD_PATTERNS[name]
        parts.append(b"(" + pattern + b")" if name in fields else pattern)
    body = b"\t".join(parts)
    if whole_line:
        body = b"(" + body + b")"
    return re.compile(b"^" + body + b"$", re.M)


@functools.lru_cache(maxsize=4)
def block_pattern(fmt: Format, common: bool = False) -> re.Pattern[bytes]:
    """Matches a whole block of valid lines, capturing nothing (the fastest check).

    With ``common``, numbers must be short enough to be in range whatever their digits
    (as in every real input): possessive digit runs the engine checks ~30% faster than
    the exact 64-bit alternatives, which ``clean_block`` tries only when this fails.
    """
    if common:
        fields = [
            (QUOTED_FIELD if fmt is Format.WRSTAT else BASE64_FIELD)
            if name == "path"
            else _COMMON_FIELD_PATTERNS[name]
            for name in fmt.field_names
        ]
        line = b"\t".join(fields)
    else:
        line = record_pattern(fmt, ()).pattern[1:-1]  # without the ^ and $ anchors
    return re.compile(b"(?:" + line + b"\n)*+")


def explain_bad_line(fmt: Format, line: bytes) -> str:
    """Why a line does not match its format, for the log."""
    parts = line.split(b"\t")
    names = fmt.field_names
    if len(parts) != len(names):
        return f"expected {len(names)} tab-separated fields, found {len(parts)}"
    for name, value in zip(names, parts, strict=True):
        if name == "path":
            try:
                fmt.decode_path(value)
            except PathDecodeError as exc:
                return str(exc)
        elif not re.fullmatch(_FIELD_PATTERNS[name], value):
            return f"bad {name} field {value[:40]!r}"
    return "malformed line"


# Below this many bytes ``bytes.count`` is faster than numpy's few microseconds a call.
SMALL_COUNT = 4096


def count_lines(data: bytes) -> int:
    """The newlines in ``data``. numpy compares with vector instructions: several times
    faster than ``bytes.count``, which goes byte by byte (a tenth of a job's time)."""
    if len(data) < SMALL_COUNT:
        return data.count(b"\n")
    import numpy as np  # here: the cron helpers import this module and must start fast

    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == 10))


def clean_block(fmt: Format, data: bytes, first_line: int) -> tuple[bytes, list[tuple[int, str]]]:
    """(the block's valid lines, its malformed lines). Pure.

    Lines are not counted here: the reading process numbers blocks by their first line
    anyway, and a count in every parsing process would be a pass over every byte again.
    """
    if (
        block_pattern(fmt, common=True).fullmatch(data) is not None
        or block_pattern(fmt).fullmatch(data) is not None
    ):
        return data, []
    good = []
    bad = []
    line_match = record_pattern(fmt, ()).fullmatch
    for offset, line in enumerate(data.split(b"\n")[:-1]):
        if line_match(line) is None:
            bad.append((first_line + offset, explain_bad_line(fmt, line)))
        else:
            good.append(line)
    return b"".join(line + b"\n" for line in good), bad


@functools.lru_cache(maxsize=16)
def run_pattern(fmt: Format, field: str, common: bool = False) -> re.Pattern[bytes]:
    """Matches a *run*: one or more consecutive valid lines of ``fmt`` (each with its
    newline) whose ``field`` holds the same bytes. Groups: the run, then that field.

    With ``common``, numbers are accepted only when they are short enough to be in
    range whatever their digits: every valid line of real input, but not every valid
    line (``field_runs`` falls back to the exact pattern when a block needs it). That
    pattern is the fastest check of whole lines the engine has.
    """
    names = fmt.field_names
    if field not in names:
        raise ValueError(f"unknown field: {field}")
    first, later = [], []
    for n, name in enumerate(names):
        end = b"\n" if n == len(names) - 1 else b"\t"
        if name == "path":
            # Atomic: when a run ends (the next line's field differs), nothing is retried.
            pattern = QUOTED_FIELD if fmt is Format.WRSTAT else BASE64_FIELD
            part = b"(?>" + pattern + b")" + end
        elif common:
            part = _COMMON_FIELD_PATTERNS[name] + end  # possessive: nothing to retry
        else:
            # Atomic with its separator: no field holds a tab or newline, so the only way
            # through is the whole field; the alternatives are never retried.
            part = b"(?>" + _FIELD_PATTERNS[name] + end + b")"
        if name == field:
            first.append(b"(" + (_COMMON_FIELD_PATTERNS if common else _FIELD_PATTERNS)[name])
            first.append(b")" + end)
            later.append(rb"\2" + end)
        else:
            first.append(part)
            later.append(part)
    return re.compile(b"(" + b"".join(first) + b"(?:" + b"".join(later) + b")*+)")


def field_runs(
    fmt: Format, field: str, data: bytes, first_line: int
) -> tuple[list[tuple[bytes, bytes]], list[tuple[int, str]]]:
    """(the valid lines of a block as runs: (lines, their ``field``) in order, the
    block's malformed lines). Pure.

    One pass both validates and splits: ``run_pattern(..., common=True)`` accepts only
    valid lines, so when its runs cover the whole block, every line was valid and the
    block is not scanned again (``clean_block``'s fullmatch would be a second pass).
    Otherwise ``clean_block`` finds the malformed lines and the exact pattern splits
    the rest. Runs keep a job's per-line work in the engine: lines of one directory
    mostly share their owner, so there are several lines per run.
    """
    runs = run_pattern(fmt, field, common=True).findall(data)
    if sum(map(len, map(_RUN, runs))) == len(data):  # the runs tile the block
        return runs, []
    valid, bad = clean_block(fmt, data, first_line)
    return run_pattern(fmt, field).findall(valid), bad


_RUN = operator.itemgetter(0)


@dataclass(frozen=True)
class InputFile:
    """One mpistat file: ``<dir>/<YYYYMMDD>_<volume>.dat.gz``."""

    path: Path
    date: date
    volume: str

    @classmethod
    def expected(cls, mpistat_dir: Path, day: dt.date, volume: str) -> InputFile:
        """The file the crawler delivers for ``volume`` on ``day`` (it may not exist)."""
        return cls(mpistat_dir / f"{day.strftime('%Y%m%d')}_{volume}.dat.gz", day, volume)

    @classmethod
    def from_path(cls, path: Path | str) -> InputFile:
        path = Path(path)
        match = _NAME_RE.match(path.name)
        if not match:
            raise InputError(f"{path}: name is not <YYYYMMDD>_<volume>.dat.gz")
        text = match.group("date")
        try:
            day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            raise InputError(f"{path}: {text} in the name is not a date") from None
        return cls(path, day, match.group("volume"))


def volume_name_of_root(root: bytes) -> str | None:
    """The second component of the root path: ``/lustre/scratch118`` -> ``scratch118``."""
    parts = [part for part in root.split(b"/") if part]
    if len(parts) < 2:
        return None
    return parts[1].decode("utf-8", errors="replace")


class MpistatReader:
    """Reads one mpistat file: header checks, blocks, rows and bad-line accounting.

    Use as a context manager::

        with MpistatReader(InputFile.from_path(p), max_bad_fraction=0.001) as reader:
            for rows in reader.scan(("gid", "size")):
                ...
        reader.summary  # lines, bad lines; raises InputError past the threshold on exit
    """

    def __init__(
        self,
        source: InputFile,
        max_bad_fraction: float = 0.001,
        log_bad_lines: int = 5,
        block_size: int = BLOCK_SIZE,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.source = source
        self.max_bad_fraction = max_bad_fraction
        self.log_bad_lines = log_bad_lines
        self.block_size = block_size
        self.on_progress = on_progress
        self.log = volume_logger(__name__, source.volume)
        self.lines = 0
        self.bad_lines = 0
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

    # -- blocks and rows --------------------------------------------------------------

    def blocks(self) -> Iterator[tuple[int, bytes]]:
        """(number of the block's first line, newline-terminated lines), in file order."""
        pending = b""  # the start of a line cut by the end of the previous chunk
        next_line = 1
        for chunk in self._chunks():
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:  # a single line longer than the block size: keep reading
                pending += chunk
                continue
            # A block is copied at most once: chunks are a few MiB, the cut line is short.
            if pending:
                block = b"".join((pending, memoryview(chunk)[:cut]))
            else:
                block = chunk if cut == len(chunk) else chunk[:cut]
            pending = chunk[cut:]
            yield next_line, block
            next_line += count_lines(block)
        if pending:
            if not pending.endswith(b"\n"):
                pending += b"\n"  # a last line without its newline still counts
            yield next_line, pending

    def _chunks(self) -> Iterator[bytes]:
        """The decompressed data in chunks of the block size, the first one included."""
        first, self._first = self._first, b""
        if first:
            yield first
        while chunk := self._read_chunk():
            yield chunk

    def record_bad_lines(self, bad: list[tuple[int, str]], total: int | None = None) -> None:
        """Count ``total`` (default: all of ``bad``) malformed lines; log the first few."""
        logged_before = min(self.bad_lines, self.log_bad_lines)
        for line_no, reason in bad[: max(0, self.log_bad_lines - logged_before)]:
            self.log.warning(
                "%s line %d: malformed, skipped: %s", self.source.path, line_no, reason
            )
        before = self.bad_lines
        self.bad_lines += len(bad) if total is None else total
        if before <= self.log_bad_lines < self.bad_lines:
            self.log.warning("%s: more malformed lines; counting without logging", self.source.path)

    def scan(self, fields: tuple[str, ...], whole_line: bool = False) -> Iterator[list[Any]]:
        """Valid rows per block: tuples of the captured fields (as bytes) in line order."""
        pattern = record_pattern(self.format, fields, whole_line)
        for first_line, block in self.blocks():
            valid, bad = clean_block(self.format, block, first_line)
            self.lines += count_lines(block)
            if bad:
                self.record_bad_lines(bad)
            yield pattern.findall(valid)
        self.check_bad_fraction()

    def check_bad_fraction(self) -> None:
        if self.bad_lines and self.bad_lines > self.max_bad_fraction * self.lines:
            raise self._error(
                f"{self.bad_lines} of {self.lines} lines are malformed, more than "
                f"max_bad_fraction {self.max_bad_fraction}"
            )
        if self.bad_lines:
            self.log.warning(
                "%s: skipped %d malformed of %d lines", self.source.path, self.bad_lines, self.lines
            )
