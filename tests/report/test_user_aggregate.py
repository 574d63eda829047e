"""UsageAggregate's per-(gid, uid) figures against hand-computed values: hard links split
across users and groups, nlink 0, future mtimes, ids beyond 32 bits, merged partials."""

from __future__ import annotations

import pickle

import pytest

from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from humgen_storage.report.aggregate import GroupTotals, UsageAggregate, UserTotals

# Each test runs on the compiled kernel (_kernel_report.c) and on the numpy path.
pytestmark = pytest.mark.usefixtures("kernel_path")

R = 1_800_000_000
D = 86400
BIG = 2**40 + 7  # a uid or gid beyond 32 bits: the lexsort path


def crawl(big_ids: bool = False) -> list[Record]:
    hgi, team = (BIG, 1002) if big_ids else (1001, 1002)
    alice = BIG if big_ids else 1
    return [
        Record(b"/v", 4096, 0, 0, mtime=R - 10 * D, type="d", inode=1, nlink=2),
        # alice in hgi: a file, a directory (its own inode, not a file), an nlink-0 file
        # (0 bytes, no inode, but a file and its mtime counts)
        Record(b"/v/a", 1000, alice, hgi, mtime=R - 2 * D, inode=10),
        Record(b"/v/d", 4096, alice, hgi, mtime=R - 4 * D, type="d", inode=11, nlink=3),
        Record(b"/v/gone", 999, alice, hgi, mtime=R - D // 2, inode=12, nlink=0),
        # inode 50, three names: first alice/hgi (the bytes and the inode go there),
        # then bob/team113 and bob/hgi (a file each, their mtimes count)
        Record(b"/v/l1", 500, alice, hgi, mtime=R - 3 * D, inode=50, nlink=3),
        Record(b"/v/l2", 500, 2, team, mtime=R - 1 * D, inode=50, nlink=3),
        Record(b"/v/l3", 500, 2, hgi, mtime=R - 3 * D, inode=50, nlink=3),
        # bob/team113: a file, and the first name of inode 80 (alice/hgi has its second)
        Record(b"/v/big", 3000, 2, team, mtime=R - 5 * D, inode=60),
        Record(b"/v/h1", 300, 2, team, mtime=R - 2 * D, inode=80, nlink=2),
        Record(b"/v/h2", 300, alice, hgi, mtime=R - 2 * D, inode=80, nlink=2),
        # an unknown uid with a future mtime (the reference: 0 days), and a symlink
        Record(b"/v/new", 7, 777, hgi, mtime=R + 100, inode=90),
        Record(b"/v/s", 42, 777, 4242, mtime=R - 6 * D, type="l", inode=91),
    ]


def expected(big_ids: bool = False) -> tuple[dict[int, GroupTotals], list[UserTotals]]:
    hgi = BIG if big_ids else 1001
    alice = BIG if big_ids else 1
    users = [
        UserTotals(0, 0, 4096, 0, R - 10 * D),
        # a 1000 + d 4096 + gone 0 + l1 500 + h2 0; files a, gone, l1, h2
        UserTotals(hgi, alice, 5596, 4, R - D // 2),
        UserTotals(hgi, 2, 0, 1, R - 3 * D),
        UserTotals(hgi, 777, 7, 1, R),
        # l2 0 + big 3000 + h1 300
        UserTotals(1002, 2, 3300, 3, R - 1 * D),
        UserTotals(4242, 777, 42, 0, R - 6 * D),
    ]
    users.sort(key=lambda t: (t.gid, t.uid))
    groups = {
        0: GroupTotals(0, 4096, R - 10 * D, 1),
        # inodes: a, d, new, and inode 50 (its kept row is alice/hgi's); newest: the
        # future mtime (uid 777), the reference
        hgi: GroupTotals(hgi, 5603, R, 4),
        # inodes: big, and inode 80 (kept row bob/team113); l2's inode went to hgi
        1002: GroupTotals(1002, 3300, R - 1 * D, 2),
        4242: GroupTotals(4242, 42, R - 6 * D, 1),
    }
    return groups, users


@pytest.mark.parametrize("big_ids", [False, True], ids=["32-bit-ids", "64-bit-ids"])
def test_users_hand_computed(big_ids: bool) -> None:
    aggregate = UsageAggregate(reference=R)
    aggregate.add_block(Format.BASE64, b"".join(r.line() for r in crawl(big_ids)))
    groups, users = expected(big_ids)
    assert aggregate.user_totals() == users
    assert aggregate.totals() == groups
    totals, columns = aggregate.results()
    assert (totals, columns.totals()) == (groups, users)


def test_a_groups_users_add_up_to_the_group() -> None:
    aggregate = UsageAggregate(reference=R)
    aggregate.add_block(Format.BASE64, b"".join(r.line() for r in crawl()))
    groups, users = aggregate.totals(), aggregate.user_totals()
    for gid, group in groups.items():
        assert sum(u.used for u in users if u.gid == gid) == group.used


@pytest.mark.parametrize("split", [1, 4, 7, 11])
def test_blocks_and_merged_partials_give_the_same_users(split: int) -> None:
    """Records split over two blocks, and over two partials merged (a pickled helper's),
    give the figures of one block: the first name of each inode is still the first."""
    lines = [r.line() for r in crawl()]
    one = UsageAggregate(reference=R)
    one.add_block(Format.BASE64, b"".join(lines[:split]))
    one.add_block(Format.BASE64, b"".join(lines[split:]))
    assert (one.totals(), one.user_totals()) == expected()

    first, second = UsageAggregate(reference=R), UsageAggregate(reference=R)
    first.add_block(Format.BASE64, b"".join(lines[:split]))
    second.add_block(Format.BASE64, b"".join(lines[split:]))
    first.merge(pickle.loads(pickle.dumps(second)))
    assert (first.totals(), first.user_totals()) == expected()
    assert first.gids == {0, 1001, 1002, 4242}


def test_users_table_grows_with_pairs_not_lines() -> None:
    """Many records of few (group, user) pairs keep one entry per pair."""
    aggregate = UsageAggregate(reference=R)
    records = [
        Record(b"/v/%d" % n, 10, n % 3, 7 + n % 2, mtime=R - n, inode=n) for n in range(3000)
    ]
    for start in range(0, len(records), 500):
        aggregate.add_block(Format.BASE64, b"".join(r.line() for r in records[start : start + 500]))
    assert aggregate.pair_count() == 6
    assert sum(t.files for t in aggregate.user_totals()) == 3000
    assert sum(t.used for t in aggregate.user_totals()) == 30000
