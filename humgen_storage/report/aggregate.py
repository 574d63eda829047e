"""Per-group usage of one volume (spec section 4): pure, records in, aggregates out.

Records arrive as validated blocks; their numeric columns are cut with numpy and
summed per gid with sort + reduceat, so no Python object is made per record. Sums are
exact: a block's per-gid sums come out as Python ints (in two 32-bit halves when 64
bits could overflow), and every total beyond the block is a Python int.

Hard links: an inode with nlink > 1 counts once per volume. Directories always have
nlink >= 2 but appear once in a crawl (they cannot be hard-linked), so they are
summed directly. Every other multi-link record is kept aside as one packed row
(dev, inode, gid, size: 32 bytes) in a table of its own memory mapping
(``mapped.py``), deduplicated by (dev, inode) in place whenever it fills, and grown
when that leaves it more than half full. Partial aggregates of one volume (from
parallel workers) merge exactly: the union of their rows still counts each inode
once. Memory grows with groups and multi-link inodes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.patterns import Format
from humgen_storage.run.mapped import mapped_zeros
from humgen_storage.units import NO_MTIME, TIB

_DIRECTORY = ord("d")
_FIRST_LINK_ROWS = 1 << 16  # link rows the table holds at first
_LOW_WORD, _WORD_BITS = np.uint64(0xFFFF_FFFF), np.uint64(32)

LinkRows = npt.NDArray[np.uint64]  # shape (n, 4): dev, inode, gid, size


def _no_links() -> LinkRows:
    return np.empty((0, 4), dtype=np.uint64)


def _group_starts(
    keys: npt.NDArray[np.integer[Any]],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(order sorting ``keys``, start of each run of equal keys in that order)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    return order, np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])


def _exact_sums(values: npt.NDArray[np.uint64], starts: npt.NDArray[np.intp]) -> list[int]:
    """The sum of each run of ``values`` (runs begin at ``starts``) as exact Python ints.

    Each value is below 2**64, but a run's sum may not be: when the largest value times
    the count could reach 2**64, the low and high 32 bits of every value are summed
    apart (each sum below 2**64 for fewer than 2**32 values) and joined in Python, one
    int per run, never per record. The usual block never needs it.
    """
    if not len(values):
        return []
    if int(values.max()) * len(values) < 2**64:  # Python ints: no overflow in the test
        return np.add.reduceat(values, starts).tolist()  # type: ignore[no-any-return]
    assert len(values) < 2**32, len(values)
    low = np.add.reduceat(values & _LOW_WORD, starts).tolist()
    high = np.add.reduceat(values >> _WORD_BITS, starts).tolist()
    return [(h << 32) + lo for h, lo in zip(high, low, strict=True)]


def _first_of_each_inode(rows: LinkRows) -> npt.NDArray[np.intp]:
    """Positions of the first row of each (dev, inode), in row order.

    A stable sort by (dev, inode) puts each inode's rows together in row order, so the
    first of each run is its earliest. (``np.unique(..., axis=0)`` does the same through
    a structured view: several times slower, and twice the temporary memory.)
    """
    dev, inode = rows[:, 0], rows[:, 1]
    order = np.lexsort((inode, dev))
    first = np.empty(len(order), dtype=bool)
    first[:1] = True
    dev_sorted = dev[order]
    np.not_equal(dev_sorted[1:], dev_sorted[:-1], out=first[1:])
    del dev_sorted
    inode_sorted = inode[order]
    first[1:] |= inode_sorted[1:] != inode_sorted[:-1]
    return np.sort(order[first])


@dataclass
class UsageAggregate:
    """Partial per-gid sums for one volume."""

    reference: int  # the input file's mtime, in whole seconds: newer mtimes count as this
    used: dict[int, int] = field(default_factory=dict)
    newest_mtime: dict[int, int] = field(default_factory=dict)
    records: int = 0
    # Multi-link rows: the first ``_link_count`` rows of ``_links`` are in use.
    _links: LinkRows = field(default_factory=_no_links)
    _link_count: int = 0
    _unique_rows: int = 0  # rows known to be one per inode (the last compaction's)

    def __getstate__(self) -> dict[str, Any]:
        # A helper's partial travels pickled: its rows in use, not the table's spare room.
        rows = self.link_rows()  # compacts first: the count below is the rows'
        state = dict(self.__dict__)
        state["_links"] = rows
        return state

    def link_rows(self) -> LinkRows:
        """One row (dev, inode, gid, size) per multi-link inode, in order of first name."""
        self._compact()
        return self._links[: self._link_count]

    def add_block(self, fmt: Format, block: bytes, first_line: int = 1) -> None:
        """Fold in a block of validated lines."""
        if not block:
            return
        columns = BlockColumns.of(fmt, block)
        gid, size, nlink, mtime = (
            columns.unsigned("gid"),
            columns.unsigned("size"),
            columns.unsigned("nlink"),
            columns.times("mtime"),
        )
        self.records += len(gid)
        # A file with other names waits in the link rows; directories have nlink >= 2
        # too, so the type is read for those lines only.
        linked = nlink > 1
        linked[linked] = columns.column("type", linked) != _DIRECTORY

        order, starts = _group_starts(gid)
        # nlink 0 (deleted mid-crawl) adds 0 bytes; a hard-linked file waits in the link rows.
        counted = np.where((nlink == 0) | linked, np.uint64(0), size)[order]
        sums = _exact_sums(counted, starts)
        # An mtime after the reference was being written as the crawler passed: it counts
        # as the reference (0 days), so every group has a newest mtime.
        newest = np.maximum.reduceat(np.minimum(mtime, self.reference)[order], starts)
        used, newest_mtime = self.used, self.newest_mtime
        for g, total, when in zip(gid[order][starts].tolist(), sums, newest.tolist(), strict=True):
            used[g] = used.get(g, 0) + total
            if when > newest_mtime.get(g, NO_MTIME):
                newest_mtime[g] = when

        if linked.any():
            rows = np.stack(
                [
                    columns.unsigned("dev", linked),
                    columns.unsigned("inode", linked),
                    gid[linked],
                    size[linked],
                ],
                axis=1,
            )
            self._add_links(rows)

    def _add_links(self, rows: LinkRows) -> None:
        if self._link_count + len(rows) > len(self._links):
            self._compact()
            needed = self._link_count + len(rows)
            if needed > len(self._links) // 2:  # room for as many again, at least
                bigger = mapped_zeros((max(2 * needed, _FIRST_LINK_ROWS), 4), np.uint64)
                bigger[: self._link_count] = self._links[: self._link_count]
                self._links = bigger
        self._links[self._link_count : self._link_count + len(rows)] = rows
        self._link_count += len(rows)

    def _compact(self) -> None:
        """Keep one row per (dev, inode); all names of an inode carry its gid and size."""
        if self._link_count == self._unique_rows:
            return  # nothing added since the last compaction
        rows = self._links[: self._link_count]
        kept = rows[_first_of_each_inode(rows)]
        self._links[: len(kept)] = kept
        self._link_count = self._unique_rows = len(kept)

    def merge(self, other: UsageAggregate) -> None:
        """Fold another partial aggregate of the same volume into this one, exactly."""
        for gid, size in other.used.items():
            self.used[gid] = self.used.get(gid, 0) + size
        for gid, when in other.newest_mtime.items():
            if when > self.newest_mtime.get(gid, NO_MTIME):
                self.newest_mtime[gid] = when
        # An inode seen by both keeps one row: the union counts it once.
        self._add_links(other.link_rows())
        self.records += other.records

    def totals(self) -> dict[int, GroupTotals]:
        """Final per-gid totals, hard links counted once."""
        used = dict(self.used)
        links = self.link_rows()
        if len(links):
            order, starts = _group_starts(links[:, 2])
            sums = _exact_sums(links[:, 3][order], starts)
            for gid, size in zip(links[:, 2][order][starts].tolist(), sums, strict=True):
                used[gid] = used.get(gid, 0) + size
        # Every gid with bytes had records, so it has a newest mtime (at most the reference).
        return {gid: GroupTotals(gid, total, self.newest_mtime[gid]) for gid, total in used.items()}

    def finish(self) -> dict[int, GroupTotals]:
        """The volume's result, as every partial aggregate gives it (run.job)."""
        return self.totals()


@dataclass(frozen=True)
class GroupTotals:
    gid: int
    used: int
    newest_mtime: int  # at most the reference: later mtimes count as the reference


def consumption(used: int, quota: int | None) -> str:
    """The Consumption column: used and quota in TiB, and the percentage, each round(x, 1)."""
    used_tib = round(used / TIB, 1)
    if quota is None:
        return f"{used_tib} TiB"
    if quota == 0:
        return f"{used_tib} TiB (Unlimited)"
    return f"{used_tib} TiB of {round(quota / TIB, 1)} TiB ({round(used / quota * 100, 1)}%)"
