"""Per-group usage of one volume (spec section 4): pure, rows in, aggregates out.

Rows are the reader's byte tuples ``(size, gid, mtime, inode, nlink, dev)``. Keys
stay as the gid's bytes on the hot path (no int conversion per record) and become
ints once, at the end.

Hard links: an inode with nlink > 1 counts once per volume. Its size is kept aside
under (dev, inode) instead of being added straight away, so partial aggregates of
one volume (from parallel workers) merge exactly: the union of their link tables
counts each inode once. Memory grows with groups and multi-link inodes only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

USAGE_FIELDS = ("size", "gid", "mtime", "inode", "nlink", "dev")


@dataclass
class UsageAggregate:
    """Partial per-gid sums for one volume."""

    reference: int  # the input file's mtime, in whole seconds: newer mtimes are ignored
    used: dict[bytes, int] = field(default_factory=dict)
    newest_mtime: dict[bytes, int] = field(default_factory=dict)
    # (dev, inode) -> (gid, size) of inodes with nlink > 1, counted once at the end
    links: dict[tuple[bytes, bytes], tuple[bytes, int]] = field(default_factory=dict)
    records: int = 0

    def add_rows(self, rows: Iterable[tuple[bytes, bytes, bytes, bytes, bytes, bytes]]) -> None:
        # Locals for speed: this loop runs once per record, up to 1e9 times a volume.
        used = self.used
        used_get = used.get
        newest = self.newest_mtime
        newest_get = newest.get
        links = self.links
        reference = self.reference
        count = 0
        for size, gid, mtime, inode, nlink, dev in rows:
            count += 1
            if nlink == b"1":
                used[gid] = used_get(gid, 0) + int(size)
            elif nlink == b"0":
                # Deleted mid-crawl: the group still shows, with 0 bytes from this record.
                if gid not in used:
                    used[gid] = 0
            else:
                if gid not in used:
                    used[gid] = 0
                links[(dev, inode)] = (gid, int(size))
            when = int(mtime)
            if when <= reference and when > newest_get(gid, -1 << 62):
                newest[gid] = when
        self.records += count

    def merge(self, other: UsageAggregate) -> None:
        """Fold another partial aggregate of the same volume into this one, exactly."""
        for gid, size in other.used.items():
            self.used[gid] = self.used.get(gid, 0) + size
        for gid, when in other.newest_mtime.items():
            if when > self.newest_mtime.get(gid, -1 << 62):
                self.newest_mtime[gid] = when
        # A multi-link inode seen by both keeps one entry: the union counts it once.
        self.links.update(other.links)
        self.records += other.records

    def totals(self) -> dict[int, GroupTotals]:
        """Final per-gid totals, hard links counted once."""
        used = dict(self.used)
        for gid, size in self.links.values():
            used[gid] = used.get(gid, 0) + size
        result: dict[int, GroupTotals] = {}
        for gid_bytes, total in used.items():
            gid = int(gid_bytes)
            newest = self.newest_mtime.get(gid_bytes)
            previous = result.get(gid)
            if previous is not None:  # the same gid written two ways (e.g. b"07"): fold
                total += previous.used
                if previous.newest_mtime is not None and (newest is None or previous.newest_mtime > newest):
                    newest = previous.newest_mtime
            result[gid] = GroupTotals(gid, total, newest)
        return result


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
