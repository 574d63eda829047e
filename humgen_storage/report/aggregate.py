"""Per-group and per-user usage of one volume (spec section 4, issue 18): pure,
records in, aggregates out.

Records arrive as validated blocks; their numeric columns are cut with numpy and
summed per (gid, uid) pair with one sort + reduceat (gid and uid joined into one
64-bit key when both fit in 32 bits), so no Python object is made per record; a
group's figures are the sums of its pairs'. Sums are exact: a block's per-pair sums
come out as Python ints (in two 32-bit halves when 64 bits could overflow), and every
total beyond the block is a Python int.

Hard links: an inode with nlink > 1 counts once per volume. Directories always have
nlink >= 2 but appear once in a crawl (they cannot be hard-linked), so they are
summed directly. Every other multi-link record is kept aside as one packed row
(dev, inode, gid, uid, size: 40 bytes) in a table of its own memory mapping
(``mapped.py``), deduplicated by (dev, inode) in place whenever it fills, and grown
when that leaves it more than half full. The row kept decides both the group and the
user the inode's bytes go to, so a group's users add up to the group. Partial
aggregates of one volume (from parallel workers) merge exactly: the union of their
rows still counts each inode once. Memory grows with (group, user) pairs and
multi-link inodes only.

Per pair, besides the bytes: ``files``, the records of type ``f`` (every name of a
hard-linked file, nlink 0 included, as spaceman's Files counts them), the newest
mtime (every record, a future one counting as the reference) and ``inodes``, the
distinct inodes the pair's bytes come from (nlink-0 records none, a multi-link inode
once, in its kept row's pair): a group's inodes are what ``usage_quota`` compares
with the quota system's file count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.patterns import Format
from humgen_storage.run.mapped import mapped_zeros
from humgen_storage.units import TIB

_DIRECTORY, _REGULAR_FILE = ord("d"), ord("f")
_FIRST_LINK_ROWS = 1 << 16  # link rows the table holds at first
_LOW_WORD, _WORD_BITS = np.uint64(0xFFFF_FFFF), np.uint64(32)

LinkRows = npt.NDArray[np.uint64]  # shape (n, 5): dev, inode, gid, uid, size
_LINK_COLUMNS = 5
_GID, _UID, _SIZE = 2, 3, 4  # columns of a link row
_KEY_BITS = np.uint64(32)

# Per (gid, uid): [used bytes, newest mtime, files, inodes]; lists, updated in place.
Pairs = dict[tuple[int, int], list[int]]
_USED, _NEWEST, _FILES, _INODES = range(4)


def _no_links() -> LinkRows:
    return np.empty((0, _LINK_COLUMNS), dtype=np.uint64)


def _group_starts(
    keys: npt.NDArray[np.integer[Any]],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(order sorting ``keys``, start of each run of equal keys in that order)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    return order, np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])


def _pair_starts(
    gid: npt.NDArray[np.uint64], uid: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(order sorting the records by (gid, uid), start of each pair's run in that order).

    Real ids fit in 32 bits: one key ``gid << 32 | uid`` is sorted as the gid alone was,
    so the user costs no second sort. Larger ids (the format allows 64 bits) take a
    lexsort of both columns.
    """
    if not len(gid) or max(int(gid.max()), int(uid.max())) < 2**32:
        return _group_starts((gid << _KEY_BITS) | uid)
    order = np.lexsort((uid, gid))
    gid_sorted, uid_sorted = gid[order], uid[order]
    changes = (gid_sorted[1:] != gid_sorted[:-1]) | (uid_sorted[1:] != uid_sorted[:-1])
    return order, np.flatnonzero(np.r_[True, changes])


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
    """Partial per-(gid, uid) sums for one volume."""

    reference: int  # the input file's mtime, in whole seconds: newer mtimes count as this
    pairs: Pairs = field(default_factory=dict)
    gids: set[int] = field(default_factory=set)  # every gid seen (the quota look-ups')
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
        """One row (dev, inode, gid, uid, size) per multi-link inode, in order of first name."""
        self._compact()
        return self._links[: self._link_count]

    def add_block(self, fmt: Format, block: bytes, first_line: int = 1) -> None:
        """Fold in a block of validated lines."""
        if not block:
            return
        columns = BlockColumns.of(fmt, block)
        gid, uid, size, nlink, mtime = (
            columns.unsigned("gid"),
            columns.unsigned("uid"),
            columns.unsigned("size"),
            columns.unsigned("nlink"),
            columns.times("mtime"),
        )
        kind = columns.column("type")
        self.records += len(gid)
        # A file with other names waits in the link rows (directories have nlink >= 2
        # too); nlink 0 (deleted mid-crawl) is no inode and adds 0 bytes.
        linked = (nlink > 1) & (kind != _DIRECTORY)
        own_inode = (nlink > 0) & ~linked

        order, starts = _pair_starts(gid, uid)
        sums = _exact_sums(np.where(own_inode, size, np.uint64(0))[order], starts)
        # An mtime after the reference was being written as the crawler passed: it counts
        # as the reference (0 days), so every group and user has a newest mtime.
        newest = np.maximum.reduceat(np.minimum(mtime, self.reference)[order], starts)
        files = np.add.reduceat((kind == _REGULAR_FILE)[order], starts, dtype=np.int64)
        inodes = np.add.reduceat(own_inode[order], starts, dtype=np.int64)
        firsts = order[starts]
        pair_gids = gid[firsts].tolist()
        self.gids.update(pair_gids)
        self._fold_pairs(
            zip(pair_gids, uid[firsts].tolist(), strict=True),
            zip(sums, newest.tolist(), files.tolist(), inodes.tolist(), strict=True),
        )

        if linked.any():
            rows = np.stack(
                [
                    columns.unsigned("dev", linked),
                    columns.unsigned("inode", linked),
                    gid[linked],
                    uid[linked],
                    size[linked],
                ],
                axis=1,
            )
            self._add_links(rows)

    def _fold_pairs(
        self, keys: Iterable[tuple[int, int]], figures: Iterable[Sequence[int]]
    ) -> None:
        """Add each pair's (used, newest mtime, files, inodes) to the running figures."""
        pairs = self.pairs
        for key, (used, newest, files, inodes) in zip(keys, figures, strict=True):
            known = pairs.get(key)
            if known is None:
                pairs[key] = [used, newest, files, inodes]
                continue
            known[_USED] += used
            if newest > known[_NEWEST]:
                known[_NEWEST] = newest
            known[_FILES] += files
            known[_INODES] += inodes

    def _add_links(self, rows: LinkRows) -> None:
        if self._link_count + len(rows) > len(self._links):
            self._compact()
            needed = self._link_count + len(rows)
            if needed > len(self._links) // 2:  # room for as many again, at least
                bigger = mapped_zeros((max(2 * needed, _FIRST_LINK_ROWS), _LINK_COLUMNS), np.uint64)
                bigger[: self._link_count] = self._links[: self._link_count]
                self._links = bigger
        self._links[self._link_count : self._link_count + len(rows)] = rows
        self._link_count += len(rows)

    def _compact(self) -> None:
        """Keep one row per (dev, inode); all names of an inode carry its ids and size."""
        if self._link_count == self._unique_rows:
            return  # nothing added since the last compaction
        rows = self._links[: self._link_count]
        kept = rows[_first_of_each_inode(rows)]
        self._links[: len(kept)] = kept
        self._link_count = self._unique_rows = len(kept)

    def merge(self, other: UsageAggregate) -> None:
        """Fold another partial aggregate of the same volume into this one, exactly."""
        self._fold_pairs(other.pairs.keys(), other.pairs.values())
        self.gids |= other.gids
        # An inode seen by both keeps one row: the union counts it once.
        self._add_links(other.link_rows())
        self.records += other.records

    def _final_pairs(self) -> Pairs:
        """Every pair's figures with the link rows added: each inode's bytes, once, to
        the pair of the row kept for it, and one inode to that pair."""
        pairs = {key: list(figures) for key, figures in self.pairs.items()}
        links = self.link_rows()
        if len(links):
            order, starts = _pair_starts(links[:, _GID], links[:, _UID])
            sums = _exact_sums(links[:, _SIZE][order], starts)
            counts = np.diff(np.r_[starts, len(links)]).tolist()
            firsts = order[starts]
            for gid, uid, size, count in zip(
                links[firsts, _GID].tolist(),
                links[firsts, _UID].tolist(),
                sums,
                counts,
                strict=True,
            ):
                # Every link row came from a record folded into its pair.
                figures = pairs[(gid, uid)]
                figures[_USED] += size
                figures[_INODES] += count
        return pairs

    def totals(self) -> dict[int, GroupTotals]:
        """Final per-gid totals, hard links counted once."""
        return _group_totals(self._final_pairs())

    def user_totals(self) -> list[UserTotals]:
        """Final per-(gid, uid) totals, hard links counted once, by gid then uid."""
        return _user_totals(self._final_pairs())

    def results(self) -> tuple[dict[int, GroupTotals], list[UserTotals]]:
        """``totals()`` and ``user_totals()``, the link rows summed once for both."""
        pairs = self._final_pairs()
        return _group_totals(pairs), _user_totals(pairs)

    def finish(self) -> dict[int, GroupTotals]:
        """The volume's result, as every partial aggregate gives it (run.job)."""
        return self.totals()


@dataclass(frozen=True)
class GroupTotals:
    gid: int
    used: int
    newest_mtime: int  # at most the reference: later mtimes count as the reference
    inodes: int  # distinct inodes counted in ``used`` (nlink 0 none, hard links once)


@dataclass(frozen=True)
class UserTotals:
    """One user's figures within one group of a volume."""

    gid: int
    uid: int
    used: int  # bytes: a multi-link inode once, in its kept row's (gid, uid)
    files: int  # records of type f, every name
    newest_mtime: int  # at most the reference


def _group_totals(pairs: Pairs) -> dict[int, GroupTotals]:
    groups: dict[int, GroupTotals] = {}
    for (gid, _), (used, newest, _, inodes) in sorted(pairs.items()):
        known = groups.get(gid)
        if known is not None:
            used += known.used
            newest = max(newest, known.newest_mtime)
            inodes += known.inodes
        groups[gid] = GroupTotals(gid, used, newest, inodes)
    return groups


def _user_totals(pairs: Pairs) -> list[UserTotals]:
    return [
        UserTotals(gid, uid, used, files, newest)
        for (gid, uid), (used, newest, files, _) in sorted(pairs.items())
    ]


def consumption(used: int, quota: int | None) -> str:
    """The Consumption column: used and quota in TiB, and the percentage, each round(x, 1)."""
    used_tib = round(used / TIB, 1)
    if quota is None:
        return f"{used_tib} TiB"
    if quota == 0:
        return f"{used_tib} TiB (Unlimited)"
    return f"{used_tib} TiB of {round(quota / TIB, 1)} TiB ({round(used / quota * 100, 1)}%)"
