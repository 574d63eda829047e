"""UsageAggregate's hard-link table: deduplicated by (dev, inode) however often it compacts."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from humgen_storage.aggregate import usage
from humgen_storage.aggregate.usage import UsageAggregate
from humgen_storage.mpistat.reader import Format
from humgen_storage.mpistat.writer import Record


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
    assert aggregate.multi_link_inodes() == len(inodes)
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
    assert copy.multi_link_inodes() == 5
