"""The report's accumulation in the compiled kernel (``PairSums``) and on the numpy path
give the same figures, and both those of a plain Python model: generated crawls in both
formats with more pairs than the kernel's table first holds, ids beyond 32 bits, sizes
up to 2**63 - 1 (pairs past 2**64 bytes), nlink 0, multi-link files and directories,
hard links across groups and users, future and negative mtimes; split over blocks and
over merged, pickled partials. Then PairSums itself: exact 128-bit sums, growth, the
link rows, and what it refuses."""

from __future__ import annotations

import importlib
import pickle
import random
from types import ModuleType

import numpy as np
import pytest

from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from humgen_storage.report.aggregate import GroupTotals, UsageAggregate, UserTotals
from humgen_storage.report.pairs import PairRows, merged
from humgen_storage.units import NO_MTIME

R = 1_800_000_000
MAX_SIZE = 2**63 - 1
FIRST_SLOTS = 1024  # _kernel_report.c's: at most half of them hold pairs
Figures = tuple[dict[int, GroupTotals], list[UserTotals]]


def generated_crawl(seed: int, count: int = 3000) -> list[Record]:
    rng = random.Random(seed)
    ids = [0, 1, 7, 1001, 2**32 - 1, 2**32, 2**40 + 7, 2**64 - 1]
    records: list[Record] = []
    for n in range(count):
        gid = rng.choice(ids) if rng.random() < 0.2 else rng.randrange(40)
        uid = rng.choice(ids) if rng.random() < 0.2 else rng.randrange(30)
        kind = rng.choice("fffffdl")
        size = rng.choice([0, 1, 4096, rng.randrange(10**13), MAX_SIZE, MAX_SIZE - 1])
        mtime = rng.choice(
            [R - rng.randrange(10**8), R, R + rng.randrange(1, 10**6), -rng.randrange(10**9)]
        )
        nlink = rng.choice([1, 1, 1, 0, 2, 3])
        inode, dev = n, rng.choice([1, 2])
        if nlink > 1 and records and rng.random() < 0.5:
            # Another name of an earlier inode, in this or another group or user.
            earlier = rng.choice(records)
            inode, dev, size = earlier.inode, earlier.dev, earlier.size
        records.append(
            Record(b"/v/%d" % n, size, uid, gid, mtime=mtime, type=kind, inode=inode,
                   nlink=nlink, dev=dev)
        )  # fmt: skip
    return records


def model(records: list[Record], reference: int) -> Figures:
    """The figures the report defines (report/aggregate.py's docstring), one record at a time."""
    pairs: dict[tuple[int, int], list[int]] = {}  # used, files, newest, inodes
    kept: dict[tuple[int, int], tuple[int, int, int]] = {}  # (dev, inode): its first name's
    for r in records:
        pair = pairs.setdefault((r.gid, r.uid), [0, 0, NO_MTIME, 0])
        linked = r.nlink > 1 and r.type != "d"
        if r.nlink > 0 and not linked:
            pair[0] += r.size
            pair[3] += 1
        pair[1] += r.type == "f"
        pair[2] = max(pair[2], min(r.mtime, reference))
        if linked:
            kept.setdefault((r.dev, r.inode), (r.gid, r.uid, r.size))
    for gid, uid, size in kept.values():
        pairs[gid, uid][0] += size
        pairs[gid, uid][3] += 1
    users = [UserTotals(g, u, f[0], f[1], f[2]) for (g, u), f in sorted(pairs.items())]
    groups: dict[int, GroupTotals] = {}
    for (gid, _), (used, _, newest, inodes) in sorted(pairs.items()):
        before = groups.get(gid, GroupTotals(gid, 0, NO_MTIME, 0))
        groups[gid] = GroupTotals(
            gid, before.used + used, max(before.newest_mtime, newest), before.inodes + inodes
        )
    return groups, users


def aggregated(fmt: Format, records: list[Record], seed: int) -> UsageAggregate:
    """The records in blocks of random sizes, over two partials (the second pickled, as a
    helper's comes back) merged."""
    rng = random.Random(seed)
    lines = [r.line(fmt) for r in records]
    middle = rng.randrange(len(lines))
    first, second = UsageAggregate(reference=R), UsageAggregate(reference=R)
    for partial, part in ((first, lines[:middle]), (second, lines[middle:])):
        start = 0
        while start < len(part):
            stop = start + rng.choice([1, 7, 100, 1000])
            partial.add_block(fmt, b"".join(part[start:stop]), start + 1)
            start = stop
    first.merge(pickle.loads(pickle.dumps(second)))
    return first


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("seed", range(3))
def test_generated_crawls_on_both_paths_match_the_model(
    kernel_path: str, fmt: Format, seed: int
) -> None:
    records = generated_crawl(seed)
    groups, users = model(records, R)
    assert len(users) > FIRST_SLOTS // 2  # the kernel's table grows past its first size
    assert max(u.used for u in users) >= 2**64  # a pair's bytes past 64 bits
    assert any(u.newest_mtime == R for u in users) and any(u.newest_mtime < 0 for u in users)
    aggregate = aggregated(fmt, records, seed)
    assert aggregate.user_totals() == users
    assert aggregate.totals() == groups
    assert aggregate.records == len(records)
    assert aggregate.gids == {r.gid for r in records}


def compiled_kernel() -> ModuleType:
    """The compiled kernel itself: a test of it fails, never skips, when it is not built."""
    return importlib.import_module("humgen_storage._kernel")


def block_and_separators(records: list[Record]) -> tuple[bytes, bytearray]:
    block = b"".join(r.line() for r in records)
    bad, separators = compiled_kernel().validate(block, False, True)
    assert bad == []
    return block, separators


def test_one_pairs_bytes_past_64_bits_are_exact() -> None:
    sums = compiled_kernel().PairSums()
    records = [Record(b"/f", MAX_SIZE, 5, 6, inode=n, mtime=R + 1) for n in range(3)]
    lines, links, gids = sums.add_block(*block_and_separators(records), False, R)
    assert (lines, links, gids, len(sums)) == (3, b"", [6], 1)
    columns = sums.take()
    words = [np.frombuffer(column, dtype=np.uint64).tolist() for column in columns]
    assert words[:4] == [[6], [5], [(3 * MAX_SIZE) % 2**64], [1]]
    assert words[4:] == [[R], [3], [3]]  # the future mtime counts as the reference
    assert PairRows.of_kernel(columns).used() == [3 * MAX_SIZE]
    assert len(sums) == 0 and sums.take()[0] == bytearray()  # take() empties the table


def test_bytes_past_96_bits_become_python_ints() -> None:
    """No crawl could carry a pair past 2**96 bytes, but the columns take it exactly."""
    word = np.uint64
    columns = tuple(
        bytearray(np.array(values, dtype=word).tobytes())
        for values in ([1, 2], [3, 4], [5, 2**64 - 1], [2**40, 0], [R, R], [1, 1], [1, 1])
    )
    rows = PairRows.of_kernel(columns)
    assert rows.used() == [(2**40 << 64) + 5, 2**64 - 1]
    assert merged([rows, rows]).used() == [2 * ((2**40 << 64) + 5), 2 * (2**64 - 1)]


def test_the_table_grows_with_pairs_never_with_lines() -> None:
    sums = compiled_kernel().PairSums()
    assert sums.slots == 0
    pairs = [(gid, uid) for gid in range(40) for uid in range(20)]  # 800: past 512
    records = [Record(b"/p", 10, uid, gid, mtime=gid, inode=1) for gid, uid in pairs]
    block, separators = block_and_separators(records)
    assert sums.add_block(block, separators, False, R)[2] == [gid for gid, _ in pairs]
    grown = sums.slots
    assert grown > FIRST_SLOTS and len(sums) == len(pairs)
    for _ in range(5):  # the same pairs again: no new pair, no new slot
        assert sums.add_block(block, separators, False, R)[2] == []
    assert (sums.slots, len(sums)) == (grown, len(pairs))
    gid, uid, low, high, newest, files, inodes = (
        np.frombuffer(column, dtype=np.uint64).tolist() for column in sums.take()
    )
    assert list(zip(gid, uid, strict=True)) == pairs  # in order of first appearance
    assert set(low) == {60} and set(high) == {0} and set(files) == set(inodes) == {6}
    assert newest == gid


def test_link_rows_come_back_in_line_order() -> None:
    records = [
        Record(b"/a", 7, 1, 2, inode=10, nlink=2, dev=3),
        Record(b"/d", 4096, 1, 2, type="d", inode=11, nlink=5),  # a directory: its own
        Record(b"/b", MAX_SIZE, 4, 5, inode=2**64 - 1, nlink=3, dev=2**64 - 1),
        Record(b"/z", 9, 4, 5, inode=12, nlink=0),  # deleted: no inode, no bytes
    ]
    sums = compiled_kernel().PairSums()
    _, links, _ = sums.add_block(*block_and_separators(records), False, R)
    rows = np.frombuffer(links, dtype=np.uint64).reshape(-1, 5).tolist()
    assert rows == [[3, 10, 2, 1, 7], [2**64 - 1, 2**64 - 1, 5, 4, MAX_SIZE]]
    gid, uid, low, _, _, files, inodes = (
        np.frombuffer(column, dtype=np.uint64).tolist() for column in sums.take()
    )
    assert (gid, uid, low, files, inodes) == ([2, 5], [1, 4], [4096, 0], [1, 2], [1, 0])


def test_separators_that_do_not_cut_the_block_are_refused() -> None:
    block, separators = block_and_separators([Record(b"/a", 1, 2, 3)] * 2)
    sums = compiled_kernel().PairSums()
    with pytest.raises(ValueError, match="do not match the fields"):
        sums.add_block(block, separators[:-8], False, R)
    with pytest.raises(ValueError, match="do not match the fields"):
        sums.add_block(block, separators, True, R)  # 11 fields a line are not wrstat's 12
    with pytest.raises(ValueError, match="outside the block"):
        sums.add_block(block[:-5], separators, False, R)
    reversed_rows = np.frombuffer(separators, dtype=np.intp).reshape(2, 11)[::-1].tobytes()
    with pytest.raises(ValueError, match="out of order"):
        sums.add_block(block, reversed_rows, False, R)


def malformed(line: bytes, rng: random.Random) -> bytes:
    """``line`` (a valid record with its newline) made malformed in one of the ways
    SPEC §2.3 and §11 name."""
    fields = line[:-1].split(b"\t")
    how = rng.randrange(8)
    if how == 0:
        fields.pop(rng.randrange(len(fields)))  # a field too few
    elif how == 1:
        fields.append(b"1")  # a field too many
    elif how == 2:
        fields[1] = b"9223372036854775808"  # a size above 2**63 - 1
    elif how == 3:
        fields[3] = b"18446744073709551616"  # a gid above 2**64 - 1
    elif how == 4:
        fields[7] = b"q"  # no such type
    elif how == 5:
        fields[2] = b"12a"  # not a number
    elif how == 6:
        fields[0] = fields[0][:-1] + b"!"  # a path that does not decode
    else:
        fields[5] = b""  # an empty mtime
    return b"\t".join(fields) + b"\n"


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("seed", range(4))
def test_a_raw_block_is_validated_as_it_is_added(fmt: Format, seed: int) -> None:
    """``add_raw_block`` (one pass) gives what ``clean_block`` then ``add_block`` give:
    the same malformed lines, numbered and explained, and the same figures of the valid
    ones, on blocks with malformed lines of every kind among valid ones."""
    from humgen_storage.mpistat.patterns import clean_block
    from humgen_storage.run.aggregate import fold_raw, valid_runs

    rng = random.Random(seed)
    raw, validated = UsageAggregate(reference=R), UsageAggregate(reference=R)
    first_line = 1
    for part in range(5):
        lines = [r.line(fmt) for r in generated_crawl(seed * 10 + part, 300)]
        lines = [malformed(line, rng) if rng.random() < 0.1 else line for line in lines]
        block = b"".join(lines)
        bad = fold_raw(raw, fmt, block, first_line)
        valid, expected_bad = clean_block(fmt, block, first_line)
        assert bad == expected_bad and bad
        for run_first_line, run in valid_runs(valid, first_line, expected_bad):
            validated.add_block(fmt, run, run_first_line)
        first_line += len(lines)
    assert raw.records == validated.records
    assert raw.totals() == validated.totals()
    assert raw.user_totals() == validated.user_totals()
    assert raw.gids == validated.gids
