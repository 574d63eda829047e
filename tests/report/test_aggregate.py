"""UsageAggregate: the hard-link table, deduplicated by (dev, inode) however often it compacts,
and future mtimes."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from humgen_storage.report import aggregate as usage
from humgen_storage.report.aggregate import UsageAggregate
from humgen_storage.units import days_since

# Each test runs on the compiled kernel (_kernel_report.c) and on the numpy path.
pytestmark = pytest.mark.usefixtures("kernel_path")


def test_links_count_once_across_many_compactions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage, "_FIRST_LINK_ROWS", 8)  # compact and grow every few blocks
    rng = random.Random(7)
    # 300 inodes on two devices (the same inode number on both), each named 2-3 times
    # at random places; every name carries the inode's gid and size.
    inodes = [
        (dev, ino, rng.randrange(1, 5), rng.randrange(1, 10**12))
        for dev in (1, 2)
        for ino in range(150)
    ]
    names = [inode for inode in inodes for _ in range(rng.choice((2, 3)))]
    rng.shuffle(names)
    records = [
        Record(b"/x/%d" % n, size=size, gid=gid, inode=ino, nlink=3, dev=dev, mtime=5)
        for n, (dev, ino, gid, size) in enumerate(names)
    ]
    aggregate = UsageAggregate(reference=10)
    for start in range(0, len(records), 17):
        aggregate.add_block(Format.BASE64, b"".join(r.line() for r in records[start : start + 17]))
    expected: dict[int, int] = {}
    for _, _, gid, size in inodes:
        expected[gid] = expected.get(gid, 0) + size
    assert {g: t.used for g, t in aggregate.totals().items()} == expected
    assert len(aggregate.link_rows()) == len(inodes)
    # One row per inode, and each is its first name's row, in input order.
    rows = aggregate.link_rows()
    first_seen = list(dict.fromkeys((dev, ino) for dev, ino, _, _ in names))
    assert [tuple(r) for r in rows[:, :2].tolist()] == first_seen


def test_first_of_each_inode_keeps_the_earliest_row() -> None:
    rows = np.array(
        [
            [1, 5, 0, 0],
            [2, 5, 0, 1],
            [1, 5, 0, 2],
            [1, 4, 0, 3],
            [2**64 - 1, 2**64 - 1, 0, 4],
            [2, 5, 0, 5],
        ],
        dtype=np.uint64,
    )
    assert usage._first_of_each_inode(rows).tolist() == [0, 1, 3, 4]
    assert usage._first_of_each_inode(rows[:0]).tolist() == []


def test_a_pickled_partial_carries_its_rows_not_its_spare_room() -> None:
    aggregate = UsageAggregate(reference=10)
    lines = [Record(b"/x/%d" % n, size=7, gid=3, inode=n % 5, nlink=2).line() for n in range(40)]
    aggregate.add_block(Format.BASE64, b"".join(lines))
    copy = pickle.loads(pickle.dumps(aggregate))
    assert len(copy._links) == copy._link_count == 5
    assert copy.totals() == aggregate.totals()
    copy.add_block(Format.BASE64, b"".join(lines))  # it grows again after unpickling
    assert len(copy.link_rows()) == 5


def test_future_mtimes_count_as_the_reference() -> None:
    reference = 1_800_000_000
    records = [
        # gid 7: only mtimes later than the reference (being written during the crawl)
        Record(b"/v/a", size=5, gid=7, mtime=reference + 1, inode=1),
        Record(b"/v/b", size=6, gid=7, mtime=reference + 10 * 86400, inode=2),
        # gid 8: one older mtime, one future: the future one wins as the reference
        Record(b"/v/c", size=1, gid=8, mtime=reference - 2 * 86400, inode=3),
        Record(b"/v/d", size=1, gid=8, mtime=reference + 5, inode=4),
        # gid 9: no future mtime: 1.5 days
        Record(b"/v/e", size=1, gid=9, mtime=reference - 129600, inode=5),
    ]
    aggregate = UsageAggregate(reference=reference)
    aggregate.add_block(Format.BASE64, b"".join(r.line() for r in records[:3]))
    other = UsageAggregate(reference=reference)  # a second worker's partial, merged
    other.add_block(Format.BASE64, b"".join(r.line() for r in records[3:]))
    aggregate.merge(other)
    totals = aggregate.totals()
    assert {gid: (t.used, t.newest_mtime) for gid, t in totals.items()} == {
        7: (11, reference),
        8: (2, reference),
        9: (1, reference - 129600),
    }
    # The report's reference is the file's mtime with its fraction: still 0.0 days.
    file_mtime = reference + 0.9
    assert [days_since(file_mtime, totals[gid].newest_mtime) for gid in (7, 8, 9)] == [
        0.0,
        0.0,
        1.5,
    ]


MAX_SIZE = 2**63 - 1  # the largest size a line may hold (off_t)


def test_sums_beyond_64_bits_are_exact() -> None:
    """Per-gid sums that a 64-bit accumulator would wrap, within a block, across blocks,
    in the hard-link rows and across merged partials, against hand-computed totals."""
    lines = [
        Record(b"/a", size=MAX_SIZE, gid=1, inode=1),
        Record(b"/b", size=MAX_SIZE, gid=1, inode=2),
        Record(b"/c", size=5, gid=1, inode=3),
        Record(b"/d", size=MAX_SIZE, gid=2, inode=4),
        Record(b"/e", size=1, gid=2, inode=5),
        # hard-linked: each inode counts once, whatever its names
        Record(b"/l1", size=MAX_SIZE, gid=3, inode=10, nlink=2),
        Record(b"/l2", size=MAX_SIZE, gid=3, inode=11, nlink=2),
        Record(b"/l1b", size=MAX_SIZE, gid=3, inode=10, nlink=2),
        Record(b"/l3", size=MAX_SIZE, gid=3, inode=12, nlink=2),
    ]
    block = b"".join(r.line() for r in lines)
    one = UsageAggregate(reference=10)
    one.add_block(Format.BASE64, block)
    one.add_block(Format.BASE64, b"".join(r.line() for r in lines[:3]))  # another block
    assert {g: t.used for g, t in one.totals().items()} == {
        1: 4 * MAX_SIZE + 10,  # 2**65 + 6
        2: MAX_SIZE + 1,  # 2**63: one more than bigint holds
        3: 3 * MAX_SIZE,
    }
    assert one.totals()[1].used == 36893488147419103238
    # Partials of the same records merge to the same totals.
    other = UsageAggregate(reference=10)
    other.add_block(Format.BASE64, block)
    other.merge(pickle.loads(pickle.dumps(other)))
    assert other.totals()[1].used == 4 * MAX_SIZE + 10
    assert other.totals()[3].used == 3 * MAX_SIZE


@pytest.mark.parametrize("count", [1, 2, 3, 1000])
def test_many_largest_sizes_of_one_gid(count: int) -> None:
    block = b"".join(Record(b"/f", size=MAX_SIZE, gid=7, inode=n).line() for n in range(count))
    aggregate = UsageAggregate(reference=10)
    aggregate.add_block(Format.BASE64, block)
    assert aggregate.totals()[7].used == count * MAX_SIZE
