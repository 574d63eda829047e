"""The inspector's compact state (issue #7): what it keeps per row and per multi-link
inode is exact, merges exactly, survives pickling, and does not grow with records.

The link table and the byte cells are checked against plain Python references on
random input, with a tiny pending buffer so that every path of the table's merge
(an inode already in the table, earlier or later; new inodes before, between and
after the old ones; growing) runs many times.
"""

from __future__ import annotations

import pickle
import random
import sys
import tracemalloc
from typing import Any

import numpy as np
import pytest

from humgen_storage.inspect import output_tree, results, row_keys, tables
from humgen_storage.inspect.aggregate import ProjectInspector
from humgen_storage.inspect.results import InspectorRows
from humgen_storage.inspect.row_keys import RowKeys
from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record

REF = 1_700_000_000
ROOTS = ("lustre/scratch115/projects",)
CLASSES = (("BAM", r"\.bam$"), ("CRAM", r"\.cram$"))
BIG = 2**64 - 1  # the largest size, inode and device there are

Name = tuple[int, int, int, int, int, int]  # dev, inode, order, size, row, kind


def random_names(rng: random.Random, count: int) -> list[Name]:
    """Names of few inodes (so that many repeat) on a few devices, in no order."""
    orders = rng.sample(range(1, 10 * count), count)  # one name a line: orders differ
    names = []
    for order in orders:
        dev = rng.choice((1, 7, BIG))
        inode = rng.choice((rng.randrange(count // 3), BIG, BIG - 1, 0))
        size = rng.choice((0, 5, BIG))
        row = rng.choice((-1, rng.randrange(50)))
        kind = rng.choice((-1, 0, 1))
        names.append((dev, inode, order, size, row, kind))
    return names


def columns(names: list[Name]) -> dict[str, Any]:
    return {
        field: np.array([name[i] for name in names], dtype=dtype)
        for i, (field, dtype) in enumerate(tables._LINK_FIELDS)
    }


def earliest(names: list[Name]) -> list[Name]:
    """The reference: each (dev, inode)'s name of the smallest order, by (dev, inode)."""
    best: dict[tuple[int, int], Name] = {}
    for name in names:
        key = name[:2]
        if key not in best or name[2] < best[key][2]:
            best[key] = name
    return [best[key] for key in sorted(best)]


def table_names(table: tables.LinkTable) -> list[Name]:
    compacted = table.compact()
    fields = [compacted[field].tolist() for field, _ in tables._LINK_FIELDS]
    return list(zip(*fields, strict=True))


@pytest.fixture
def small_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    """Merges of a few names at a time (the pending names grow with the table, from 7),
    moving the table up a few rows at a time."""
    monkeypatch.setattr(tables, "_PENDING_NAMES", 7)
    monkeypatch.setattr(tables, "_MOVED_AT_ONCE", 5)


def add_in_chunks(table: tables.LinkTable, names: list[Name], rng: random.Random) -> None:
    start = 0
    while start < len(names):
        size = rng.choice((1, 3, 7, 20))
        table.add(columns(names[start : start + size]))
        start += size


@pytest.mark.usefixtures("small_pending")
@pytest.mark.parametrize("seed", range(5))
def test_link_table_keeps_each_inodes_earliest_name(seed: int) -> None:
    rng = random.Random(seed)
    names = random_names(rng, 600)
    table = tables.LinkTable()
    add_in_chunks(table, names, rng)
    assert table_names(table) == earliest(names)
    add_in_chunks(table, names[:50], rng)  # names seen again change nothing
    assert table_names(table) == earliest(names)


@pytest.mark.usefixtures("small_pending")
@pytest.mark.parametrize("seed", range(3))
def test_link_tables_merge_exactly_and_survive_pickling(seed: int) -> None:
    rng = random.Random(seed)
    names = random_names(rng, 500)
    # Another partial numbers its rows its own way: row r there is mapping[r] here.
    mapping = np.array(rng.sample(range(100, 200), 50), dtype=np.intp)
    mine, theirs = tables.LinkTable(), tables.LinkTable()
    split = [rng.random() < 0.5 for _ in names]
    add_in_chunks(mine, [n for n, s in zip(names, split, strict=True) if s], rng)
    add_in_chunks(theirs, [n for n, s in zip(names, split, strict=True) if not s], rng)
    theirs_before = table_names(theirs)

    sent = pickle.loads(pickle.dumps(theirs))  # as a helper process sends it back
    assert table_names(sent) == theirs_before
    mine.merge(sent, mapping)

    def mapped(name: Name, moved: bool) -> Name:
        row = name[4]
        return (*name[:4], int(mapping[row]) if moved and row >= 0 else row, name[5])

    expected = earliest([mapped(n, not s) for n, s in zip(names, split, strict=True)])
    assert table_names(mine) == expected
    assert table_names(theirs) == theirs_before  # the other partial is left as it was


def cell_values(cells: tables.ByteCells, rows: int) -> list[list[int]]:
    return [
        [int(cells.cells[r, c]) + cells.spill.get((r, c), 0) for c in range(cells.cells.shape[1])]
        for r in range(rows)
    ]


@pytest.mark.parametrize("seed", range(4))
def test_byte_cells_are_exact_beyond_64_bits(seed: int) -> None:
    rng = random.Random(seed)
    rows, width = 6, 3
    cells = tables.ByteCells(width).resized(rows)
    expected = [[0] * width for _ in range(rows)]
    for _ in range(40):
        count = rng.randrange(1, 30)
        where = [rng.randrange(rows) for _ in range(count)]
        column = rng.randrange(width)
        # Mostly ordinary sizes, sometimes huge ones: the int64 cells overflow often.
        sizes = [rng.choice((rng.randrange(10**12), BIG, 2**63, 2**62)) for _ in range(count)]
        cells.add(np.array(where, dtype=np.intp), column, np.array(sizes, dtype=np.uint64))
        for row, size in zip(where, sizes, strict=True):
            expected[row][column] += size
        assert cells.bound <= tables._INT64_MAX
    assert cell_values(cells, rows) == expected
    assert any(value >= 2**64 for row in expected for value in row)

    # Merging another partial's cells (its rows in another order) stays exact too.
    merged = tables.ByteCells(width).resized(rows + 2)
    merged.add(np.array([0, 7]), np.array([1, 2]), np.array([BIG, BIG], dtype=np.uint64))
    mapping = np.array([7, 6, 5, 4, 3, 2], dtype=np.intp)
    merged.add_cells(mapping, cells)
    values = cell_values(merged, rows + 2)
    assert values[0] == [0, BIG, 0]
    assert values[7] == [a + b for a, b in zip(expected[0], [0, 0, BIG], strict=True)]
    for row in range(1, rows):
        assert values[int(mapping[row])] == expected[row]


@pytest.mark.parametrize("seed", range(3))
def test_row_keys_number_cuts_as_a_dict_would(seed: int) -> None:
    """Cuts seen again keep their ids, new ones take the next; pickled (as a helper
    sends its partial back), the keys carry on the same, growing as they must."""
    rng = random.Random(seed)
    keys, reference = RowKeys(), {}
    for step in range(20_000):
        cut = b"/".join(b"p%d" % rng.randrange(60) for _ in range(rng.randrange(1, 4)))
        cut = rng.choice((cut, b"", b"caf\xe9/\n", cut + b"\0"))
        assert keys.add(cut) == reference.setdefault(cut, len(reference))
        if step % 6000 == 0:
            keys = pickle.loads(pickle.dumps(keys))
    assert len(keys) == len(reference) > 1000
    assert list(keys) == list(reference)


def random_cuts(rng: random.Random, count: int) -> list[bytes]:
    cuts = []
    for _ in range(count):
        cut = b"/".join(b"p%d" % rng.randrange(40) for _ in range(rng.randrange(1, 4)))
        cuts.append(rng.choice((cut, b"", b"caf\xe9/\n", cut + b"\0", cut + b"x")))
    return cuts


@pytest.mark.parametrize(("seed", "colliding"), [(0, False), (1, False), (2, True)])
def test_row_keys_add_all_as_add_of_each(
    monkeypatch: pytest.MonkeyPatch, seed: int, colliding: bool
) -> None:
    """Another partial's cuts (pickled, as a helper sends them) get the ids ``add`` of
    each in turn gives, and then carry on the same; with every hash the same, the
    bytes alone tell the cuts apart (compared a few bytes at a time)."""
    rng = random.Random(seed)
    mine, theirs, reference = RowKeys(), RowKeys(), RowKeys()
    for cut in random_cuts(rng, 3000):
        mine.add(cut)
        reference.add(cut)
    for cut in random_cuts(rng, 3000):
        theirs.add(cut)
    theirs = pickle.loads(pickle.dumps(theirs))
    if colliding:
        for keys in (mine, theirs):
            keys._hashes[: len(keys)] = 12345
            keys._rehash(len(keys._slots))
        monkeypatch.setattr(row_keys, "_BYTES_AT_ONCE", 7)
    expected = [reference.add(cut) for cut in theirs]
    assert mine.add_all(theirs).tolist() == expected
    assert list(mine) == list(reference) and len(mine) > len(theirs) > 100
    if not colliding:  # add hashes a cut itself
        later = random_cuts(rng, 500)
        assert [mine.add(cut) for cut in later] == [reference.add(cut) for cut in later]
    assert mine.add_all(RowKeys()).tolist() == []
    assert RowKeys().add_all(mine).tolist() == list(range(len(mine)))


def tree_by_path(tree: results.Tree) -> tuple[dict[bytes, tuple[Any, bytes]], list[bytes]]:
    """An output tree as its paths' parents and projects, and each cut's output path."""
    paths, parent_of, output_of, project = tree
    assert len(set(paths)) == len(paths)
    shape = {
        path: (paths[parent_of[at]] if parent_of[at] >= 0 else None, paths[project[at]])
        for at, path in enumerate(paths)
    }
    return shape, [paths[at] for at in output_of]


@pytest.mark.parametrize("seed", range(3))
def test_output_tree_with_numpy_as_a_cut_at_a_time(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The same outputs, parents and projects, on cuts with empty components and
    cuts, NULs, and components of many lengths; a level too large for numpy's way
    goes a cut at a time."""
    rng = random.Random(seed)
    names = [b"", b"\0", b"a", b"a\0", b"ab" * 4, b"ab" * 4 + b"c", b"x" * 300, b"p%d" % seed]
    table = tables.RowTable(0)
    for _ in range(3000):
        table.row_of(b"/".join(rng.choice(names) for _ in range(rng.randrange(1, 6))))
    tree = output_tree.output_tree(table.keys)
    assert tree is not None
    expected = tree_by_path(results._output_tree_by_key(table))
    assert tree_by_path(tree) == expected
    monkeypatch.setattr(output_tree, "NUMBERS_AT_ONCE", 3000 * 3)
    assert output_tree.output_tree(table.keys) is None
    assert tree_by_path(results._output_tree(table)) == expected
    single = tables.RowTable(0)
    single.row_of(b"projects")  # one cut of one component
    shape = ({b"projects": (None, b"projects")}, [b"projects"])
    assert tree_by_path(output_tree.output_tree(single.keys)) == shape  # type: ignore[arg-type]


@pytest.mark.parametrize("crowded", ["end", "one slot", "two"])
def test_row_keys_table_reaches_every_cut(crowded: str) -> None:
    """A new table places each cut where probing from its hash finds it, with no free
    slot before it, also when many hash to the last slots and wrap around."""
    keys = RowKeys()
    for i in range(3000):
        keys.add(b"k%d" % i)
    size = len(keys._slots)
    hashes = {"end": size - 1, "one slot": 5, "two": np.arange(3000) % 2 * (size - 8) + 3}
    keys._hashes[:3000] = hashes[crowded]
    keys._rehash(size)
    slots = keys._slots
    assert np.count_nonzero(slots) == 3000
    for row in range(3000):
        at = int(keys._hashes[row]) & (size - 1)
        while slots[at] != row + 1:
            assert slots[at], f"cut {row} is past a free slot"
            at = (at + 1) & (size - 1)


def test_rows_keep_no_python_object_each() -> None:
    """A row is its cut's bytes and numpy cells: tens of thousands of rows leave the
    number of Python's allocated blocks where it was (a dict kept a bytes object and
    an int a row)."""

    def cut(i: int) -> bytes:
        return b"projects/p%d/d%d" % (i % 97, i)

    table = tables.RowTable(len(CLASSES))
    before = sys.getallocatedblocks()
    assert all(table.row_of(cut(i)) == i for i in range(40_000))
    assert sys.getallocatedblocks() - before < 1000
    assert all(table.row_of(cut(i)) == i for i in range(40_000))  # seen again
    assert list(table.keys) == [cut(i) for i in range(40_000)]


def file_line(path: bytes, size: int, inode: int, nlink: int = 1, mtime: int = REF - 5) -> bytes:
    return Record(path, size, 1, 1001, REF, mtime, REF, "f", inode, nlink, 1).line(Format.BASE64)


def test_state_does_not_grow_with_records() -> None:
    """Hundreds of thousands more records in the same directories, hard links among
    them (names of the same few inodes): not a byte more."""
    directories = [b"/lustre/scratch115/projects/p%d/d%d" % (i % 3, i) for i in range(20)]
    others = [b"/lustre/scratch115/elsewhere/d%d" % i for i in range(5)]
    lines = []
    for i in range(2000):
        where = directories[i % len(directories)] if i % 5 else others[i % len(others)]
        nlink = 2 if i % 50 == 0 else 1
        lines.append(file_line(where + b"/f%d.bam" % i, 100 + i, i % 100, nlink))
    block = b"".join(lines)  # read again and again: the same rows, the same inodes

    def traced_after(blocks: range) -> int:
        for number in blocks:
            aggregate.add_block(Format.BASE64, block, 1 + 2000 * number)
        return tracemalloc.get_traced_memory()[0]

    aggregate = ProjectInspector(ROOTS, CLASSES, REF, Format.BASE64)
    tracemalloc.start()
    try:
        warm = traced_after(range(0, 10))
        later = traced_after(range(10, 70))
    finally:
        tracemalloc.stop()
    assert aggregate.records == 70 * 1600
    assert later - warm < 16 * 1024
    assert len(aggregate._rows) == 16  # the directories files went to (ancestors: at the end)
    assert len(aggregate._links.compact()["inode"]) == 2  # inodes 0 and 50


def test_rows_are_a_compact_sequence_of_inspector_rows() -> None:
    aggregate = ProjectInspector(ROOTS, CLASSES, REF, Format.BASE64)
    lines = [
        file_line(b"/lustre/scratch115/projects/b/x/y/z.bam", 10, 1),
        file_line(b"/lustre/scratch115/projects/a/one.cram", 3, 2),
        file_line(b"/lustre/scratch115/projects/a-b/two.txt", BIG, 3),
        file_line(b"/lustre/scratch115/projects/a-b/three.txt", BIG, 4),
        file_line(b"/lustre/scratch115/projects/a/c/four.bam", 1, 5),
    ]
    aggregate.add_block(Format.BASE64, b"".join(lines), 1)
    rows = aggregate.finish()
    assert isinstance(rows, InspectorRows)
    listed = list(rows)
    # Project, then Directory: all of projects/a before projects/a-b, although the
    # path projects/a-b comes before projects/a/c as bytes.
    assert [b"/".join(row.short_path) for row in listed] == [
        b"projects",
        b"projects/a",
        b"projects/a/c",
        b"projects/a-b",
        b"projects/b",
        b"projects/b/x",
    ]
    assert len(rows) == 6
    assert rows == listed and listed == rows and rows != listed[1:]
    assert rows[-1] == listed[5] and rows[1:3] == listed[1:3]
    with pytest.raises(IndexError):
        rows[6]
    assert rows[0].total_bytes == 2 * BIG + 14  # beyond 64 bits, exact
    assert rows[3].project_total_bytes == 2 * BIG
    assert rows[2].project_total_bytes == 4
    assert rows[5].class_bytes == {"BAM": 10, "CRAM": 0}
    assert pickle.loads(pickle.dumps(rows)) == rows


@pytest.mark.usefixtures("small_pending")
def test_a_pickled_partial_carries_on_as_the_original() -> None:
    """Unpickled, the compact state has no spare room left: it must grow again as
    more blocks and another partial come in, and end with the original's rows."""
    rng = random.Random(3)
    lines = []
    for i in range(3000):
        directory = b"/lustre/scratch115/%s/p%d/d%d" % (
            rng.choice((b"projects", b"elsewhere")),
            rng.randrange(4),
            rng.randrange(300),
        )
        nlink = rng.choice((1, 1, 1, 2, 3))
        inode = rng.randrange(200) if nlink > 1 else 10_000 + i
        name = b"f%d%s" % (i, rng.choice((b".bam", b".cram", b".txt")))
        lines.append(file_line(directory + b"/" + name, rng.randrange(10**9), inode, nlink))
    blocks = [(1 + i, b"".join(lines[i : i + 100])) for i in range(0, len(lines), 100)]

    def partial(part: list[tuple[int, bytes]]) -> ProjectInspector:
        aggregate = ProjectInspector(ROOTS, CLASSES, REF, Format.BASE64)
        for first_line, block in part:
            aggregate.add_block(Format.BASE64, block, first_line)
        return aggregate

    original = partial(blocks[:10])
    copy = pickle.loads(pickle.dumps(original))
    for aggregate in (original, copy):
        for first_line, block in blocks[10:20]:
            aggregate.add_block(Format.BASE64, block, first_line)
        aggregate.merge(pickle.loads(pickle.dumps(partial(blocks[20:]))))
    expected = partial(blocks).finish()
    assert len(expected) > 300
    assert original.finish() == expected
    assert copy.finish() == expected


@pytest.mark.parametrize("with_nul", [False, True])
def test_table_order_is_project_then_directory_as_bytes(with_nul: bool) -> None:
    paths = [
        b"projects/a-b",
        b"projects/a/x",
        b"projects",
        b"projects/a",
        b"projects/a/x-y/z",
        b"projects/a/x/y",
        b"projects/a b",
        b"projects/a/ x",
        b"teams/a",
        b"projects/a//x",  # an empty component: an odd but possible name
        b"projects/a.b",
        b"projects/a.b/c",
        b"projects/b",
    ]
    if with_nul:
        paths += [b"projects/a\0b", b"projects/a/\0", b"projects/a\0b/c"]  # never seen

    def pair(path: bytes) -> tuple[bytes, bytes]:
        parts = path.split(b"/")
        return b"/".join(parts[:2]), b"/".join(parts[2:])

    expected = sorted(paths, key=pair)
    project = np.array([paths.index(pair(path)[0]) for path in paths], dtype=np.intp)
    assert [paths[at] for at in results._table_order(paths, project)] == expected
