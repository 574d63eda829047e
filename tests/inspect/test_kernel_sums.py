"""The compiled placer's own per-row sums (humgen_storage/_kernel_inspect.c, take_sums):
files, newest mtimes limited to the reference and bytes by class worked out by hand;
bytes past 2**63 and 2**64 in one cell; rows made across blocks; a block handed back
leaving the sums as they were; and partials carrying sums merged, pickled and
finished with the same rows as the numpy path's.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from humgen_storage.inspect.aggregate import ProjectInspector
from humgen_storage.inspect.classes import ENDS
from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from humgen_storage.units import NO_MTIME
from tests.helpers import on_kernel_path
from tests.inspect.volumes import BENCH_ROOTS, CLASSES, VOLUME, lines_of, volume

REF = 1_700_000_000
LITERALS = ((b".bam", 0, ENDS), (b".cram", 1, ENDS))
BIG = 2**63 - 1  # the largest size a line may hold


def summing_placer(reference: int = REF) -> Any:
    """A placer summing with the reference: each directory its own row, by first sight."""
    rows: dict[bytes, int] = {}

    def resolve(prefix: bytes, exact: bool) -> tuple[int, bool]:
        return (rows.setdefault(prefix, len(rows)) if exact else -2), False

    with on_kernel_path(kernel.COMPILED):
        compiled = kernel.compiled()
    assert compiled is not None
    return compiled.InspectPlacer(resolve, None, False, LITERALS, reference)


def sums(placer: Any) -> tuple[list[int], list[int], list[list[int]]]:
    """take_sums() as Python ints: files, newest, and each row's bytes by column."""
    files, newest, cells = placer.take_sums()
    rows = len(files) // 8
    halves = np.frombuffer(cells, dtype=np.uint64).reshape(rows, 3, 2).tolist()  # 2 classes
    return (
        np.frombuffer(files, dtype=np.uint64).tolist(),
        np.frombuffer(newest, dtype=np.int64).tolist(),
        [[low + (high << 64) for low, high in row] for row in halves],
    )


def block(records: Sequence[Record]) -> bytes:
    return lines_of(records, Format.BASE64)


def test_sums_by_row_worked_out_by_hand() -> None:
    made = summing_placer()
    placed = made.place_valid(
        block(
            [
                Record(path=b"/a", type="d", mtime=REF - 1),
                Record(path=b"/a/x.bam", size=10, mtime=REF - 5),
                Record(path=b"/a/y.cram", size=7, mtime=REF + 100),  # counts as REF
                Record(path=b"/a/z", size=3, nlink=0, mtime=REF - 50),  # a file, no bytes
                Record(path=b"/b", type="d", mtime=REF - 9),
                Record(path=b"/b/l.bam", size=99, nlink=2, inode=5, mtime=REF - 3),
                Record(path=b"/b/s.bam", size=4, type="l", mtime=REF),  # not a file
            ]
        )
    )
    files, directories, links, deferred, counted = placed
    assert (files, directories, deferred) == (b"", b"", b"")  # all summed; none their row's own
    assert np.frombuffer(links, dtype=np.intp).tolist() == [5, 1, 0, 99, REF - 3, 1, 5]
    assert counted == 6  # 4 files (a multi-link name too) and 2 directories
    # The multi-link name counts as a file in /b; its bytes wait for the link table.
    assert sums(made) == ([3, 1], [REF, REF - 3], [[17, 10, 7], [0, 0, 0]])
    assert sums(made) == ([], [], [])  # taken: they start again from nothing


def test_sums_past_2_to_the_63_and_64_bytes_are_exact() -> None:
    made = summing_placer()
    huge = [Record(path=b"/big/%d.bam" % i, size=BIG, mtime=REF - i) for i in range(5)]
    made.place_valid(block(huge[:2]))
    made.place_valid(block(huge[2:] + [Record(path=b"/big/c.cram", size=BIG)]))
    files, newest, cells = sums(made)
    assert (files, newest) == ([6], [REF])
    assert cells == [[6 * BIG, 5 * BIG, BIG]]
    assert 6 * BIG > 2**65


def test_rows_made_in_later_blocks_and_sums_taken_between_blocks() -> None:
    made = summing_placer()
    made.place_valid(block([Record(path=b"/a/1.bam", size=1, mtime=REF - 10)]))
    assert sums(made) == ([1], [REF - 10], [[1, 1, 0]])
    many = [Record(path=b"/d%d/f" % i, size=i, mtime=REF - i) for i in range(1, 1000)]
    made.place_valid(block([Record(path=b"/a/2", size=2, mtime=REF - 20), *many]))
    files, newest, cells = sums(made)
    assert files == [1] * 1000
    assert newest == [REF - 20] + [REF - i for i in range(1, 1000)]
    assert cells == [[2, 0, 0]] + [[i, 0, 0] for i in range(1, 1000)]


def test_a_block_handed_back_leaves_the_sums_as_they_were() -> None:
    made = summing_placer()
    good = block([Record(path=b"/a/x.bam", size=10, mtime=REF - 1)])
    made.place_valid(good)
    # A new row and an old one summed, then a malformed line.
    bad = block([Record(path=b"/b/z", size=1), Record(path=b"/a/y.bam", size=5)])
    assert made.place_valid(bad + b"x\n") is None
    assert made.place_valid(bad[:-1]) is None  # no final newline
    assert sums(made) == ([1, 0], [REF - 1, NO_MTIME], [[10, 10, 0], [0, 0, 0]])


def test_a_placer_made_without_a_reference_sums_nothing() -> None:
    with on_kernel_path(kernel.COMPILED):
        compiled = kernel.compiled()
    assert compiled is not None
    made = compiled.InspectPlacer(lambda prefix, exact: (0, False), None, False, LITERALS)
    files, *_, counted = made.place_valid(block([Record(path=b"/a/x.bam", size=3)]))
    assert np.frombuffer(files, dtype=np.intp).tolist() == [0, 0, 0, 3, 0]
    assert counted == 0
    assert made.take_sums() == (bytearray(), bytearray(), bytearray())


def inspected(parts: Sequence[bytes], pickled: bool) -> tuple[Any, ...]:
    """One partial per part (each its own placer), merged into the first, finished."""
    partials = []
    first_line = 1
    for part in parts:
        partial = ProjectInspector(BENCH_ROOTS, CLASSES, REF, Format.BASE64)
        if partial.add_raw_block(Format.BASE64, part, first_line) is None:
            assert kernel.active() == kernel.NUMPY  # the compiled path takes every part
            partial.add_block(Format.BASE64, part, first_line)
        partials.append(pickle.loads(pickle.dumps(partial)) if pickled else partial)
        first_line += part.count(b"\n")
    whole, *others = partials
    for other in others:
        whole.merge(other)
    return list(whole.finish()), whole.records


def test_partials_with_sums_merge_as_the_numpy_path_adds_up() -> None:
    """Bytes past 2**64 in rows of several partials, rows each partial made in its own
    order, partials merged live and pickled (as a helper sends its own back)."""
    records = volume(seed=21, records=900)
    projects = VOLUME + b"/humgen/projects"
    records += [Record(path=projects + b"/p1/%d.bam" % i, size=BIG) for i in range(3)]
    records = records[-200:] + records[:-200]  # the huge files in the first part too
    lines = block(records).splitlines(keepends=True)
    parts = [b"".join(lines[at : at + 300]) for at in range(0, len(lines), 300)]
    with on_kernel_path(kernel.NUMPY):
        expected = inspected(parts, pickled=False)
    with on_kernel_path(kernel.COMPILED):
        assert inspected(parts, pickled=False) == expected
        assert inspected(parts, pickled=True) == expected
    files = {row.short_path: row for row in expected[0]}
    assert files[(b"projects", b"p1")].total_bytes > 2**64
