"""Per-group and per-user usage of one volume (spec section 4, issue 18): pure,
records in, aggregates out.

Records arrive as validated blocks. With the compiled kernel (``_kernel_report.c``)
each line is added to its (gid, uid) pair's figures in a hash table kept for the whole
partial, in one pass and exact (128-bit byte sums); the table's figures join the
numpy table below when the partial is pickled, merged or finished. On the numpy path
a block's numeric columns are cut with numpy and summed per pair with one sort +
reduceat (gid and uid joined into one 64-bit key when both fit in 32 bits). Either
way no Python object is made per record, and a group's figures are the sums of its
pairs'. Sums are exact: a block's per-pair sums come out as Python ints (in two
32-bit halves when 64 bits could overflow), and every total beyond the block is a
Python int.

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

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.patterns import Format, Malformed, numbered_bad_lines
from humgen_storage.report.pairs import PairRows, PairTable, no_mtimes
from humgen_storage.report.sums import column_sums, pair_starts
from humgen_storage.run.mapped import mapped_zeros
from humgen_storage.units import TIB

_DIRECTORY, _REGULAR_FILE = ord("d"), ord("f")
_HALF, _LOW_HALF = np.uint64(32), np.uint64(0xFFFF_FFFF)
_FIRST_LINK_ROWS = 1 << 16  # link rows the table holds at first

LinkRows = npt.NDArray[np.uint64]  # shape (n, 5): dev, inode, gid, uid, size
_LINK_COLUMNS = 5
_GID, _UID, _SIZE = 2, 3, 4  # columns of a link row


def _no_links() -> LinkRows:
    return np.empty((0, _LINK_COLUMNS), dtype=np.uint64)


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
    pairs: PairTable = field(default_factory=PairTable.empty)
    gids: set[int] = field(default_factory=set)  # every gid seen (the quota look-ups')
    _told: set[int] = field(default_factory=set)  # the gids ``take_news`` has given
    records: int = 0
    # Multi-link rows: the first ``_link_count`` rows of ``_links`` are in use.
    _links: LinkRows = field(default_factory=_no_links)
    _link_count: int = 0
    _unique_rows: int = 0  # rows known to be one per inode (the last compaction's)
    # The compiled kernel's PairSums: the pairs of the blocks added since the last
    # ``_pair_table()``, which moves them into ``pairs``.
    _sums: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        # A helper's partial travels pickled: its rows in use, not the table's spare room.
        rows = self.link_rows()  # compacts first: the count below is the rows'
        self._pair_table().merge_waiting()
        state = dict(self.__dict__)
        state["_links"] = rows
        state["_sums"] = None  # emptied into the pairs just above
        return state

    def _pair_table(self) -> PairTable:
        """``pairs``, with the kernel's figures moved in."""
        if self._sums is not None and len(self._sums):
            self.pairs.add(PairRows.of_kernel(self._sums.take()))
        return self.pairs

    def link_rows(self) -> LinkRows:
        """One row (dev, inode, gid, uid, size) per multi-link inode, in order of first name."""
        self._compact()
        return self._links[: self._link_count]

    def add_block(self, fmt: Format, block: bytes, first_line: int = 1) -> None:
        """Fold in a block of validated lines."""
        if not block:
            return
        compiled = kernel.compiled()
        if compiled is not None:
            self._add_compiled(compiled, fmt, block)
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

        order, starts = pair_starts(gid, uid)
        firsts = order[starts]
        block_pairs = PairRows.of_sums(
            gid[firsts],
            uid[firsts],
            column_sums(np.where(own_inode, size, np.uint64(0))[order], starts),
            # An mtime after the reference was being written as the crawler passed: it
            # counts as the reference (0 days), so every group and user has a newest mtime.
            np.maximum.reduceat(np.minimum(mtime, self.reference)[order], starts),
            *_file_and_inode_counts(kind == _REGULAR_FILE, own_inode, order, starts),
        )
        pair_gids = block_pairs.gid  # sorted: each gid's first pair starts a run
        self.gids.update(pair_gids[np.r_[True, pair_gids[1:] != pair_gids[:-1]]].tolist())
        self.pairs.add(block_pairs)

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

    def add_raw_block(
        self, fmt: Format, block: bytes | memoryview, first_line: int
    ) -> Malformed | None:
        """Validate a raw block and fold in its valid lines in one pass of the compiled
        kernel (each line added while its bytes are in the cache), returning its
        malformed lines; None, with nothing added, without the kernel
        (``run.aggregate.fold_raw``). The valid lines count as ``add_block`` counts them
        after ``clean_block``: the malformed ones are left out."""
        compiled = kernel.compiled()
        if compiled is None or not block:
            return None
        if self._sums is None:
            self._sums = compiled.PairSums()
        added, bad_lines = self._sums.add_raw_block(block, fmt is Format.WRSTAT, self.reference)
        lines, links, new_gids = added
        self.records += lines - len(bad_lines)
        self._take_block_result(links, new_gids)
        return numbered_bad_lines(fmt, bytes(block), first_line, bad_lines) if bad_lines else []

    def _take_block_result(self, links: bytes, new_gids: list[int]) -> None:
        self.gids.update(new_gids)
        if links:
            self._add_links(np.frombuffer(links, dtype=np.uint64).reshape(-1, _LINK_COLUMNS))

    def _add_compiled(self, compiled: Any, fmt: Format, block: bytes) -> None:
        """``add_block`` by the compiled kernel: the same figures, from one pass."""
        wrstat = fmt is Format.WRSTAT
        separators = kernel.take_separators(block) or compiled.separators(block, wrstat)
        if self._sums is None:
            self._sums = compiled.PairSums()
        lines, links, new_gids = self._sums.add_block(block, separators, wrstat, self.reference)
        self.records += lines
        self._take_block_result(links, new_gids)

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

    def take_news(self) -> set[int]:
        """The gids met since the last call: the quota look-ups start on them while
        the file is still read (``run.aggregate.aggregate_file``)."""
        news = self.gids - self._told
        self._told |= news
        return news

    def merge(self, other: UsageAggregate) -> None:
        """Fold another partial aggregate of the same volume into this one, exactly."""
        self._pair_table().add(other._pair_table().merge_waiting())
        self.gids |= other.gids
        # An inode seen by both keeps one row: the union counts it once.
        self._add_links(other.link_rows())
        self.records += other.records

    def _final_pairs(self) -> PairRows:
        """Every pair's figures with the link rows added: each inode's bytes, once, to
        the pair of the row kept for it, and one inode to that pair."""
        links = self.link_rows()
        if not len(links):
            return self._pair_table().merge_waiting()
        order, starts = pair_starts(links[:, _GID], links[:, _UID])
        firsts = order[starts]
        inodes = np.diff(np.r_[starts, len(links)]).astype(np.int64)
        return self._pair_table().with_extra(
            PairRows.of_sums(
                links[firsts, _GID],
                links[firsts, _UID],
                column_sums(links[:, _SIZE][order], starts),
                no_mtimes(len(firsts)),
                np.zeros(len(firsts), dtype=np.int64),
                inodes,
            )
        )

    def totals(self) -> dict[int, GroupTotals]:
        """Final per-gid totals, hard links counted once."""
        return _group_totals(self._final_pairs())

    def user_totals(self) -> list[UserTotals]:
        """Final per-(gid, uid) totals, hard links counted once, by gid then uid."""
        return UserColumns.of(self._final_pairs()).totals()

    def results(self) -> tuple[dict[int, GroupTotals], UserColumns]:
        """``totals()``, and the users' as columns, the link rows summed once for both."""
        pairs = self._final_pairs()
        return _group_totals(pairs), UserColumns.of(pairs)

    def pair_count(self) -> int:
        """The (gid, uid) pairs seen so far (what the memory grows with)."""
        return len(self._pair_table().merge_waiting())

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


@dataclass(frozen=True)
class UserColumns:
    """Every (gid, uid) pair's figures as columns, by gid then uid: no object per pair."""

    gid: list[int]
    uid: list[int]
    used: list[int]
    files: list[int]
    newest_mtime: npt.NDArray[np.int64]

    @classmethod
    def of(cls, pairs: PairRows) -> UserColumns:
        return cls(
            pairs.gid.tolist(), pairs.uid.tolist(), pairs.used(), pairs.files.tolist(), pairs.newest
        )

    def __len__(self) -> int:
        return len(self.gid)

    def totals(self) -> list[UserTotals]:
        return [
            UserTotals(*figures)
            for figures in zip(
                self.gid, self.uid, self.used, self.files, self.newest_mtime.tolist(), strict=True
            )
        ]


def _file_and_inode_counts(
    is_file: npt.NDArray[np.bool_],
    own_inode: npt.NDArray[np.bool_],
    order: npt.NDArray[np.intp],
    starts: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each run's files and inodes from one gather and one reduceat: both counts in one
    word (a block's counts are far below 2**32, so the halves never carry)."""
    both = is_file.astype(np.uint64) | (own_inode.astype(np.uint64) << _HALF)
    sums = np.add.reduceat(both[order], starts)
    return (sums & _LOW_HALF).astype(np.int64), (sums >> _HALF).astype(np.int64)


def _group_totals(pairs: PairRows) -> dict[int, GroupTotals]:
    """A group's figures are its pairs' (the table is sorted by gid first)."""
    if not len(pairs):
        return {}
    starts = np.flatnonzero(np.r_[True, pairs.gid[1:] != pairs.gid[:-1]])
    low = column_sums(pairs.low, starts).tolist()
    high = column_sums(pairs.high, starts).tolist()
    newest = np.maximum.reduceat(pairs.newest, starts).tolist()
    inodes = np.add.reduceat(pairs.inodes, starts).tolist()
    return {
        gid: GroupTotals(gid, (int(h) << 32) + int(lo), when, count)
        for gid, lo, h, when, count in zip(
            pairs.gid[starts].tolist(), low, high, newest, inodes, strict=True
        )
    }


def consumption(used: int, quota: int | None) -> str:
    """The Consumption column: used and quota in TiB, and the percentage, each round(x, 1)."""
    used_tib = round(used / TIB, 1)
    if quota is None:
        return f"{used_tib} TiB"
    if quota == 0:
        return f"{used_tib} TiB (Unlimited)"
    return f"{used_tib} TiB of {round(quota / TIB, 1)} TiB ({round(used / quota * 100, 1)}%)"
