"""Per-group usage of one volume (spec section 4): pure, records in, aggregates out.

Records arrive as validated blocks; their numeric columns are cut with numpy and
summed per gid with sort + reduceat (exact int64 arithmetic), so no Python object
is made per record. Only multi-link inodes are handled one by one.

Hard links: an inode with nlink > 1 counts once per volume. Directories always have
nlink >= 2 but appear once in a crawl (they cannot be hard-linked), so they are
summed directly; only other multi-link inodes are kept aside under (dev, inode)
instead of being added straight away, so partial aggregates of
one volume (from parallel workers) merge exactly: the union of their link tables
counts each inode once. Memory grows with groups and multi-link inodes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from humgen_storage.mpistat.columns import numeric_columns
from humgen_storage.mpistat.reader import Format

USAGE_FIELDS = ("size", "gid", "mtime", "type", "inode", "nlink", "dev")
_DIRECTORY = ord("d")
_NO_MTIME = np.iinfo(np.int64).min


@dataclass
class UsageAggregate:
    """Partial per-gid sums for one volume."""

    reference: int  # the input file's mtime, in whole seconds: newer mtimes are ignored
    used: dict[int, int] = field(default_factory=dict)
    newest_mtime: dict[int, int] = field(default_factory=dict)
    # (dev, inode) -> (gid, size) of inodes with nlink > 1, counted once at the end
    links: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    records: int = 0

    def add_block(self, fmt: Format, block: bytes, first_line: int = 1) -> None:
        """Fold a block of validated lines in."""
        if not block:
            return
        columns = numeric_columns(fmt, block, USAGE_FIELDS)
        gid, size, nlink, mtime = (
            columns["gid"],
            columns["size"],
            columns["nlink"],
            columns["mtime"],
        )
        self.records += len(gid)
        linked = (nlink > 1) & (columns["type"] != _DIRECTORY)

        order = np.argsort(gid, kind="stable")
        sorted_gid = gid[order]
        starts = np.flatnonzero(np.r_[True, sorted_gid[1:] != sorted_gid[:-1]])
        # nlink 0 (deleted mid-crawl) adds 0 bytes; a hard-linked file waits in the link table.
        single = np.where((nlink == 0) | linked, 0, size)[order]
        sums = np.add.reduceat(single, starts)
        known = np.where(mtime <= self.reference, mtime, _NO_MTIME)[order]
        newest = np.maximum.reduceat(known, starts)

        used, newest_mtime = self.used, self.newest_mtime
        for g, total, when in zip(
            sorted_gid[starts].tolist(), sums.tolist(), newest.tolist(), strict=True
        ):
            used[g] = used.get(g, 0) + total
            if when != _NO_MTIME and when > newest_mtime.get(g, _NO_MTIME):
                newest_mtime[g] = when

        multi = np.flatnonzero(linked)
        if len(multi):
            keys = zip(
                columns["dev"][multi].tolist(), columns["inode"][multi].tolist(), strict=True
            )
            values = zip(gid[multi].tolist(), size[multi].tolist(), strict=True)
            self.links.update(zip(keys, values, strict=True))

    def merge(self, other: UsageAggregate) -> None:
        """Fold another partial aggregate of the same volume into this one, exactly."""
        for gid, size in other.used.items():
            self.used[gid] = self.used.get(gid, 0) + size
        for gid, when in other.newest_mtime.items():
            if when > self.newest_mtime.get(gid, _NO_MTIME):
                self.newest_mtime[gid] = when
        # A multi-link inode seen by both keeps one entry: the union counts it once.
        self.links.update(other.links)
        self.records += other.records

    def totals(self) -> dict[int, GroupTotals]:
        """Final per-gid totals, hard links counted once."""
        used = dict(self.used)
        for gid, size in self.links.values():
            used[gid] = used.get(gid, 0) + size
        return {
            gid: GroupTotals(gid, total, self.newest_mtime.get(gid)) for gid, total in used.items()
        }


@dataclass(frozen=True)
class GroupTotals:
    gid: int
    used: int
    newest_mtime: int | None  # None when every mtime was in the future


def days_since(reference: float, newest_mtime: int | None) -> float | None:
    """``round((reference - newest mtime) / 86400, 1)``, or None when nothing is left."""
    if newest_mtime is None:
        return None
    return round((reference - newest_mtime) / 86400, 1)


TIB = 2**40


def consumption(used: int, quota: int | None) -> str:
    """The Consumption column: used and quota in TiB, and the percentage, each round(x, 1)."""
    used_tib = round(used / TIB, 1)
    if quota is None:
        return f"{used_tib} TiB"
    if quota == 0:
        return f"{used_tib} TiB (Unlimited)"
    return f"{used_tib} TiB of {round(quota / TIB, 1)} TiB ({round(used / quota * 100, 1)}%)"
