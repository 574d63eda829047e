"""The mpistat line format as regular expressions, and the pure functions that check
and cut blocks of lines with them.

A block is validated by ``clean_block``: one capture-free ``fullmatch`` of a pattern
that checks every field of every line; only a block that fails is rescanned line by
line to find its malformed lines (the slow path runs on bad input only). A job that
takes lines whole, by the value of one field (split), validates and cuts a block in
one pass instead: ``field_runs``, with the same fallback for bad blocks. Jobs that want
fields take ``record_pattern(...).findall`` rows, or numpy columns (``columns.py``).
"""

from __future__ import annotations

import enum
import functools
import operator
import re
from types import ModuleType

from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.paths import (
    BASE64_FIELD,
    QUOTED_FIELD,
    PathDecodeError,
    base64_undecodable_lines,
    decode_base64_path,
    decode_quoted_path,
)

FIELDS = ("path", "size", "uid", "gid", "atime", "mtime", "ctime", "type", "inode", "nlink", "dev")
WRSTAT_EXTRA = "apparent_size"
FILE_TYPES = b"fdlsbcFX"


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
# A size is an off_t: signed 64-bit, and never negative in a crawl.
SIZE_FIELD = _at_most(2**63 - 1)

# Field patterns: times may be negative (files dated before 1970 exist).
_FIELD_PATTERNS = {
    "size": SIZE_FIELD,
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
        else _short_number(2**63 - 1)
        if pattern == SIZE_FIELD
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
            if name == "size" and re.fullmatch(UNSIGNED_FIELD, value):
                return f"size {value.decode()} is above 2**63 - 1 (off_t)"
            return f"bad {name} field {value[:40]!r}"
    return "malformed line"


def undecodable_lines(fmt: Format, data: bytes) -> list[int]:
    """The lines (numbered from 0) of whole lines that match ``fmt``'s record pattern
    whose path still does not decode: a base64 path of the wrong length or holding a
    NUL byte, both checked with numpy. (The pattern checks the rest: base64 alphabet
    and padding; every wrstat escape.)"""
    if fmt is Format.WRSTAT:
        return []
    return base64_undecodable_lines(data)


# Below this many bytes ``bytes.count`` is faster than numpy's few microseconds a call.
SMALL_COUNT = 4096


def count_lines(data: bytes | memoryview) -> int:
    """The newlines in ``data``: the reading process numbers every block with this,
    before any worker sees it. The kernel compares 16 bytes at a time without making a
    mask; numpy compares with vector instructions too, through a mask; both are several
    times faster than ``bytes.count``, which goes byte by byte."""
    if len(data) < SMALL_COUNT:
        return bytes(data).count(b"\n")  # a view is copied: it is small
    compiled = kernel.compiled()
    if compiled is not None:
        return int(compiled.count_lines(data))
    import numpy as np  # here: the cron helpers import this module and must start fast

    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == 10))


# A block's malformed lines: (line number, why), in line order.
Malformed = list[tuple[int, str]]


def clean_block(fmt: Format, data: bytes, first_line: int) -> tuple[bytes, Malformed]:
    """(the block's valid lines, its malformed lines). Pure.

    Valid lines match the record pattern and their paths decode (``undecodable_lines``),
    so every job that reads through here counts the same lines as malformed.

    Lines are not counted here: the reading process numbers blocks by their first line
    anyway, and a count in every parsing process would be a pass over every byte again.
    """
    compiled = kernel.compiled()
    if compiled is not None:
        return _clean_compiled(compiled, fmt, data, first_line, cut=True)
    if (
        block_pattern(fmt, common=True).fullmatch(data) is not None
        or block_pattern(fmt).fullmatch(data) is not None
    ):
        undecodable = undecodable_lines(fmt, data)
        if not undecodable:
            return data, []
        numbers = list(range(first_line, first_line + count_lines(data)))
        return _without_undecodable(fmt, data, numbers, undecodable)
    good = []
    numbers = []
    bad = []
    line_match = record_pattern(fmt, ()).fullmatch
    for offset, line in enumerate(data.split(b"\n")[:-1]):
        if line_match(line) is None:
            bad.append((first_line + offset, explain_bad_line(fmt, line)))
        else:
            good.append(line)
            numbers.append(first_line + offset)
    valid = b"".join(line + b"\n" for line in good)
    undecodable = undecodable_lines(fmt, valid)
    if not undecodable:
        return valid, bad
    valid, more_bad = _without_undecodable(fmt, valid, numbers, undecodable)
    return valid, sorted(bad + more_bad)


def _clean_compiled(
    compiled: ModuleType, fmt: Format, data: bytes, first_line: int, cut: bool = False
) -> tuple[bytes, Malformed]:
    """``clean_block`` by the compiled kernel: one pass over each line's bytes checks
    every rule the patterns and ``undecodable_lines`` check. With ``cut``, a clean
    block's field separators, made in that pass, are kept for ``BlockColumns.of``."""
    bad_lines: list[int]
    bad_lines, separators = compiled.validate(data, fmt is Format.WRSTAT, cut)
    if not bad_lines and data[-1:] in (b"\n", b""):
        if separators is not None:
            kernel.keep_separators(data, separators)
        return data, []
    lines = data.split(b"\n")[:-1]  # bytes after the last newline are no line, as above
    dropped = set(bad_lines)
    valid = b"".join(line + b"\n" for n, line in enumerate(lines) if n not in dropped)
    return valid, numbered_bad_lines(fmt, lines, first_line, bad_lines)


def numbered_bad_lines(
    fmt: Format, data: bytes | list[bytes], first_line: int, numbers: list[int]
) -> Malformed:
    """(line number, why) of the lines at ``numbers`` (from 0) of ``data`` (a block, or
    its lines): the malformed lines the compiled kernel found, explained for the log.
    Runs on bad input only."""
    if not numbers:
        return []
    lines = data.split(b"\n") if isinstance(data, bytes) else data
    return [(first_line + n, explain_bad_line(fmt, lines[n])) for n in numbers]


def _without_undecodable(
    fmt: Format, data: bytes, numbers: list[int], undecodable: list[int]
) -> tuple[bytes, Malformed]:
    """``data`` (lines numbered ``numbers``) without its lines at the positions
    ``undecodable``, and those lines as malformed. Runs on bad input only."""
    lines = data.split(b"\n")[:-1]
    dropped = set(undecodable)
    kept = b"".join(line + b"\n" for n, line in enumerate(lines) if n not in dropped)
    return kept, [(numbers[n], explain_bad_line(fmt, lines[n])) for n in undecodable]


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
    compiled = kernel.compiled()
    if compiled is not None:
        valid, bad = _clean_compiled(compiled, fmt, data, first_line)
        runs_: list[tuple[bytes, bytes]] = compiled.runs(
            valid, fmt is Format.WRSTAT, fmt.field_names.index(field)
        )
        return runs_, bad
    runs = run_pattern(fmt, field, common=True).findall(data)
    # The runs tile the block, and every path decodes (what the pattern cannot see).
    if sum(map(len, map(_RUN, runs))) == len(data) and not undecodable_lines(fmt, data):
        return runs, []
    valid, bad = clean_block(fmt, data, first_line)
    return run_pattern(fmt, field).findall(valid), bad


_RUN = operator.itemgetter(0)
