"""Numeric columns of a validated block, cut with numpy: no Python object per record.

A block that passed ``clean_block`` has exactly one separator (tab or newline) after
each field, so the separator positions, reshaped to one row per line, give every
field's start and end. A column is parsed by gathering its digits right-aligned into
a (lines × width) matrix and multiplying by powers of ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from humgen_storage.mpistat.reader import Format

_TAB, _NEWLINE, _ZERO, _MINUS = 9, 10, 48, 45
_POWERS = 10 ** np.arange(19, -1, -1, dtype=np.uint64)  # up to 20 digits: all of uint64
# Up to 15 digits a number is below 2**53, exact as a float64: the digits are then
# weighted by a floating-point matrix product (BLAS), faster than numpy's integer one.
_FLOAT_POWERS = 10.0 ** np.arange(14, -1, -1)
_FLOAT_DIGITS = 15
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
    negative = data[starts] == _MINUS
    starts = starts + negative
    width = int((ends - starts).max(initial=1))
    positions = ends[:, None] - width + np.arange(width)
    digits = data[positions] - np.uint8(_ZERO)
    digits[positions < starts[:, None]] = 0  # left padding: bytes of earlier fields
    if width <= _FLOAT_DIGITS:
        values = (digits @ _FLOAT_POWERS[-width:]).astype(np.uint64)
    else:
        values = digits.astype(np.uint64) @ _POWERS[-width:]
    if not signed:
        return values
    # Validation keeps a time within int64 (at most 2**63 - 1 either side of 0): cast, negate.
    times = values.astype(np.int64)
    return np.where(negative, -times, times)
