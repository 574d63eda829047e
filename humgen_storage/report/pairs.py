"""Per-(gid, uid) figures as columns: folded block by block without a Python object per
pair, and consolidated in bulk (issue 18).

Each block's pairs arrive as small arrays (one row per pair of the block) and wait in
a list; when the waiting rows outnumber the table's (and at the end) they are merged
into the table with one sort and reduceat, so the memory grows with the pairs, never
with lines, and no Python code runs per pair or per record. Bytes are exact: they are
kept as two columns, the low 32 bits and the rest (``high``), each summed exactly
(``sums.exact_sums``), and carried after each merge; ``high`` becomes a column of
Python ints (``object``) in the only case 64 bits could not hold it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.report.sums import column_sums, exact_column, pair_starts
from humgen_storage.units import NO_MTIME

_LOW_WORD, _WORD_BITS = np.uint64(0xFFFF_FFFF), np.uint64(32)
_FIRST_TABLE_ROWS = 1 << 16  # rows that may wait before the first merge


@dataclass(frozen=True)
class PairRows:
    """Pairs and their figures; unique and sorted by (gid, uid) in a merged table."""

    gid: npt.NDArray[np.uint64]
    uid: npt.NDArray[np.uint64]
    low: npt.NDArray[Any]  # bytes mod 2**32 (uint64; Python ints only beside such a high)
    high: npt.NDArray[Any]  # bytes // 2**32: uint64, or Python ints past 64 bits
    newest: npt.NDArray[np.int64]  # newest mtime (NO_MTIME: none yet)
    files: npt.NDArray[np.int64]
    inodes: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.gid)

    @classmethod
    def empty(cls) -> PairRows:
        u, i = np.zeros(0, np.uint64), np.zeros(0, np.int64)
        return cls(u, u, u, u, i, i, i)

    @classmethod
    def of_sums(
        cls,
        gid: npt.NDArray[np.uint64],
        uid: npt.NDArray[np.uint64],
        used: npt.NDArray[np.uint64] | list[int],
        newest: npt.NDArray[np.int64],
        files: npt.NDArray[np.int64],
        inodes: npt.NDArray[np.int64],
    ) -> PairRows:
        """Rows from each pair's bytes: a uint64 array, or Python ints from
        ``exact_sums`` (a block's sum is below 2**95: ``high`` fits 64 bits)."""
        if isinstance(used, list):
            low = np.array([u & 0xFFFF_FFFF for u in used], dtype=np.uint64)
            high = np.array([u >> 32 for u in used], dtype=np.uint64)
        else:
            low, high = used & _LOW_WORD, used >> _WORD_BITS
        return cls(gid, uid, low, high, newest, files, inodes)

    @classmethod
    def of_kernel(cls, columns: tuple[bytearray, ...]) -> PairRows:
        """Rows from the compiled kernel's ``PairSums.take()``: each pair's bytes come
        as the low and high 64 bits of an exact sum, split here into 32 bits and the
        rest (Python ints only when the rest passes 64 bits)."""
        words = [np.frombuffer(column, dtype=np.uint64) for column in columns]
        gid, uid, low64, high64 = words[:4]
        newest, files, inodes = (column.view(np.int64) for column in words[4:])
        high: npt.NDArray[Any] = low64 >> _WORD_BITS
        if high64.any():  # a pair past 2**64 bytes
            high = exact_column(
                [
                    (h << 32) | (lo >> 32)
                    for h, lo in zip(high64.tolist(), low64.tolist(), strict=True)
                ]
            )
        return cls(gid, uid, low64 & _LOW_WORD, high, newest, files, inodes)

    def used(self) -> list[int]:
        """Each pair's bytes, exact."""
        if self.high.dtype != object and (not len(self) or int(self.high.max()) < 2**32):
            return ((self.high << _WORD_BITS) | self.low).tolist()  # type: ignore[no-any-return]
        return [(int(h) << 32) + int(lo) for h, lo in zip(self.high, self.low, strict=True)]


def merged(parts: Sequence[PairRows]) -> PairRows:
    """One row per pair of ``parts``, sorted by (gid, uid): bytes, files and inodes
    summed, the newest mtime kept."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return PairRows.empty()
    gid = np.concatenate([p.gid for p in parts])
    uid = np.concatenate([p.uid for p in parts])
    order, starts = pair_starts(gid, uid)
    firsts = order[starts]

    def summed(column: str) -> npt.NDArray[Any]:
        return column_sums(np.concatenate([getattr(p, column) for p in parts])[order], starts)

    low, high = summed("low"), summed("high")
    # Carry the low words' overflow into the high ones, so low stays below 2**32 (for
    # fewer than 2**32 rows a pair, the low sums fit 64 bits).
    carry = low >> 32
    if high.dtype != object and int(high.max()) >= 2**63:
        high = high.astype(object)  # past 2**95 bytes: Python ints from here on
    high = high + (carry.astype(object) if high.dtype == object else carry)
    low = low & 0xFFFF_FFFF
    newest = np.maximum.reduceat(np.concatenate([p.newest for p in parts])[order], starts)
    files = np.add.reduceat(np.concatenate([p.files for p in parts])[order], starts)
    inodes = np.add.reduceat(np.concatenate([p.inodes for p in parts])[order], starts)
    return PairRows(gid[firsts], uid[firsts], low, high, newest, files, inodes)


@dataclass
class PairTable:
    """The merged table and the blocks' rows waiting to join it."""

    table: PairRows
    waiting: list[PairRows]
    waiting_rows: int = 0

    @classmethod
    def empty(cls) -> PairTable:
        return cls(PairRows.empty(), [])

    def add(self, rows: PairRows) -> None:
        self.waiting.append(rows)
        self.waiting_rows += len(rows)
        if self.waiting_rows > max(len(self.table), _FIRST_TABLE_ROWS):
            self.merge_waiting()

    def merge_waiting(self) -> PairRows:
        if self.waiting:
            self.table = merged([self.table, *self.waiting])
            self.waiting, self.waiting_rows = [], 0
        return self.table

    def with_extra(self, extra: PairRows) -> PairRows:
        """The merged table with ``extra`` added (this table unchanged)."""
        return merged([self.merge_waiting(), extra])


def no_mtimes(count: int) -> npt.NDArray[np.int64]:
    return np.full(count, NO_MTIME, dtype=np.int64)
