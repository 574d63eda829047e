"""Numeric columns of a validated block, cut with numpy: no Python object per record.

A block that passed ``clean_block`` has exactly one separator (tab or newline) after
each field, so the separator positions, reshaped to one row per line, give every
field's start and end. A column is parsed by gathering its digits right-aligned into
a (lines × width) matrix and multiplying by powers of ten.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.mpistat.reader import Format

_TAB, _NEWLINE, _ZERO, _MINUS = 9, 10, 48, 45
_POWERS = 10 ** np.arange(18, -1, -1, dtype=np.uint64)
# Times may be negative; every other number is unsigned and may use all 64 bits
# (a 19-digit inode can exceed 2**63, which int64 would silently wrap).
_SIGNED = frozenset({"atime", "mtime", "ctime"})

Column = npt.NDArray[np.integer[Any]]  # int64 for times, uint64 otherwise


def numeric_columns(fmt: Format, block: bytes, names: tuple[str, ...]) -> dict[str, Column]:
    """The named fields of every line of a clean block: times as int64, other numbers
    as uint64, and ``type`` as its byte's code (``ord("d")`` for a directory)."""
    data = np.frombuffer(block, dtype=np.uint8)
    fields = fmt.field_names
    separators = np.flatnonzero((data == _TAB) | (data == _NEWLINE)).reshape(-1, len(fields))
    columns: dict[str, Column] = {}
    for name in names:
        index = fields.index(name)
        if name == "type":  # one byte, right after the previous field's tab
            columns[name] = data[separators[:, index - 1] + 1].astype(np.int64)
        else:
            columns[name] = _parse(data, separators, index, signed=name in _SIGNED)
    return columns


def _parse(
    data: npt.NDArray[np.uint8], separators: npt.NDArray[np.intp], index: int, signed: bool
) -> Column:
    starts = separators[:, index - 1] + 1  # the path (field 0) is never numeric
    ends = separators[:, index]
    negative = data[starts] == _MINUS
    starts = starts + negative
    width = int((ends - starts).max(initial=1))
    positions = ends[:, None] - width + np.arange(width)
    digits = (data[positions] - _ZERO).astype(np.uint64)
    digits[positions < starts[:, None]] = 0  # left padding: bytes of earlier fields
    values = digits @ _POWERS[-width:]
    if not signed:
        return values
    # A time has at most 19 digits, so it fits int64 unless it is absurd; view, then negate.
    times = values.astype(np.int64)
    return np.where(negative, -times, times)
