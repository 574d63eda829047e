"""Numeric columns of a validated block, cut with numpy: no Python object per record.

A block that passed ``clean_block`` has exactly one separator (tab or newline) after
each field, so the separator positions, reshaped to one row per line, give every
field's start and end. A column is parsed eight digits at a time: the eight bytes
ending at each field's end are read as one 64-bit word (a strided view of the block,
so one gather a line), the bytes before the field are made ``0`` digits, and three
multiply-shift-mask steps combine the digits in every word at once (the "SWAR"
parse). Numbers of up to 8 digits take one word, up to 16 two, and 64-bit numbers
(20 digits at most) three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.patterns import Format

_TAB, _NEWLINE, _MINUS = 9, 10, 45
# Every byte '0': the padding of a short number, and what digits are measured from.
_ZEROS = np.uint64(0x3030303030303030)
_PAIRS, _QUADS, _OCTETS = (
    np.uint64(m) for m in (0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF, 0xFFFFFFFF)
)
_TEN, _HUNDRED, _TEN_THOUSAND = np.uint64(10), np.uint64(100), np.uint64(10_000)
# Shifts, in bits, to the next digit, pair of digits and four digits of a word.
_DIGIT, _PAIR, _QUAD = np.uint64(8), np.uint64(16), np.uint64(32)
_EIGHT_DIGITS = np.uint64(10**8)
_SIXTEEN_DIGITS = np.uint64(10**16)
# Times may be negative; every other number is unsigned and may use all 64 bits
# (a 19-digit inode can exceed 2**63, which int64 would silently wrap).
_SIGNED = frozenset({"atime", "mtime", "ctime"})

Column = npt.NDArray[np.integer[Any]]  # int64 for times, uint64 otherwise
Rows = npt.NDArray[np.bool_] | npt.NDArray[np.intp]  # a mask of lines, or their numbers


@dataclass(frozen=True)
class BlockColumns:
    """The fields of every line of a clean block, parsed on request.

    Cutting the block into fields (the separator positions) is done once; each column
    is parsed only when asked for, and only for the lines asked for: the report needs
    the inode and device of multi-link files only, about 1% of the lines.
    """

    data: npt.NDArray[np.uint8]
    separators: npt.NDArray[np.intp]  # lines x fields: the tab or newline ending each field
    fields: tuple[str, ...]

    @classmethod
    def of(cls, fmt: Format, block: bytes) -> BlockColumns:
        data = np.frombuffer(block, dtype=np.uint8)
        fields = fmt.field_names
        compiled = kernel.compiled()
        if compiled is not None:  # the same offsets, from one pass over each line
            cut = kernel.take_separators(block) or compiled.separators(block, fmt is Format.WRSTAT)
            return cls(data, np.frombuffer(cut, dtype=np.intp).reshape(-1, len(fields)), fields)
        if fmt is Format.BASE64:
            # A clean base64 line holds no byte below the tab but the newline: one comparison.
            is_separator = data <= _NEWLINE
        else:  # a quoted path may hold raw control bytes
            is_separator = (data == _TAB) | (data == _NEWLINE)
        separators = np.flatnonzero(is_separator).reshape(-1, len(fields))
        return cls(data, separators, fields)

    def __len__(self) -> int:
        return len(self.separators)

    def column(self, name: str, rows: Rows | None = None) -> Column:
        """Times as int64, other numbers as uint64, ``type`` as its byte's code
        (``ord("d")`` for a directory); for the lines selected by ``rows`` (a mask or
        line numbers within the block) when given."""
        index = self.fields.index(name)
        separators = self.separators if rows is None else self.separators[rows]
        if name == "type":  # one byte, right after the previous field's tab
            return self.data[separators[:, index - 1] + 1].astype(np.int64)
        if not len(separators):
            return np.zeros(0, dtype=np.int64 if name in _SIGNED else np.uint64)
        compiled = kernel.compiled()
        if compiled is not None:
            signed = name in _SIGNED
            numbers = compiled.column(
                self.data, np.ascontiguousarray(separators), len(self.fields), index, signed
            )
            return np.frombuffer(numbers, dtype=np.int64 if signed else np.uint64)
        return _parse(self.data, separators, index, signed=name in _SIGNED)

    def unsigned(self, name: str, rows: Rows | None = None) -> npt.NDArray[np.uint64]:
        """``column`` for a field that is not a time."""
        assert name not in _SIGNED and name != "type", name
        return cast(npt.NDArray[np.uint64], self.column(name, rows))

    def times(self, name: str, rows: Rows | None = None) -> npt.NDArray[np.int64]:
        """``column`` for a time field (atime, mtime, ctime)."""
        assert name in _SIGNED, name
        return cast(npt.NDArray[np.int64], self.column(name, rows))

    def line_starts(self) -> npt.NDArray[np.intp]:
        """Where each line (its path field) starts in the block."""
        starts = np.empty(len(self.separators), dtype=np.intp)
        starts[:1] = 0
        starts[1:] = self.separators[:-1, -1] + 1
        return starts

    def field_is(self, name: str, value: bytes) -> npt.NDArray[np.bool_]:
        """Lines whose ``name`` field is exactly ``value`` (compared as bytes, unparsed)."""
        index = self.fields.index(name)
        starts = self.separators[:, index - 1] + 1
        same = self.separators[:, index] - starts == len(value)
        for offset, byte in enumerate(value):
            same &= self.data[np.minimum(starts + offset, len(self.data) - 1)] == byte
        return same


def _parse(
    data: npt.NDArray[np.uint8], separators: npt.NDArray[np.intp], index: int, signed: bool
) -> Column:
    starts = separators[:, index - 1] + 1  # the path (field 0) is never numeric
    ends = separators[:, index]
    if signed:
        negative = data[starts] == _MINUS
        starts = starts + negative
    digits = ends - starts
    words = _words_at_every_byte(data)
    values = _digits_ending_at(words, ends, digits)
    longest = int(digits.max(initial=0))
    if longest > 8:
        values += _digits_ending_at(words, ends - 8, digits - 8) * _EIGHT_DIGITS
    if longest > 16:  # validation keeps the sum below 2**64: exact in uint64
        values += _digits_ending_at(words, ends - 16, digits - 16) * _SIXTEEN_DIGITS
    if not signed:
        return values
    # Validation keeps a time within int64 (at most 2**63 - 1 either side of 0): cast, negate.
    times = values.astype(np.int64)
    return np.where(negative, -times, times)


def _words_at_every_byte(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """``words[i]``: the 8 bytes from ``data[i]`` as a little-endian uint64 (a view)."""
    if len(data) < 8:  # no valid line is this short; an empty block has no columns
        data = np.concatenate([data, np.zeros(8 - len(data), dtype=np.uint8)])
    return np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, offset=0, strides=(1,)).astype(
        np.uint64, copy=False
    )


def _digits_ending_at(
    words: npt.NDArray[np.uint64], ends: npt.NDArray[np.intp], digits: npt.NDArray[np.intp]
) -> npt.NDArray[np.uint64]:
    """The number written in the ``digits`` bytes before each of ``ends``, 8 of them at
    most (0 where ``digits`` <= 0)."""
    at = ends - 8
    word = words[np.maximum(at, 0)]
    if at.min() < 0:  # fields ending within 8 bytes of the block's start
        # The field's last byte on top. A field with digits here ends at byte 1 or
        # later, so at most 7 bytes are missing; others are all padding anyway.
        word <<= (np.clip(-at, 0, 7) * 8).astype(np.uint64)
    # Bytes before the field become '0'; two shifts, as one of 64 bits does nothing.
    half = ((8 - np.clip(digits, 0, 8)) * 4).astype(np.uint64)
    kept = (~np.uint64(0) << half) << half
    word = (word & kept) | (_ZEROS & ~kept)
    word -= _ZEROS  # one digit a byte, the first (most significant) lowest
    word = (word * _TEN + (word >> _DIGIT)) & _PAIRS
    word = (word * _HUNDRED + (word >> _PAIR)) & _QUADS
    return (word * _TEN_THOUSAND + (word >> _QUAD)) & _OCTETS
