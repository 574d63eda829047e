"""The printed table made a column at a time (inspect/printed.py): the same text as
the per-row code (``TableRow`` and ``tsv_line``), checked on hand-computed values for
the awkward cases of each column, and against the per-row functions on many values."""

from __future__ import annotations

import random
from itertools import chain

import numpy as np
import pytest

from humgen_storage.directory import Group, GroupDirectory
from humgen_storage.inspect import printed
from humgen_storage.inspect.aggregate import ProjectInspector
from humgen_storage.inspect.results import InspectorRows
from humgen_storage.inspect.rows import Table, VolumeInspection
from humgen_storage.mpistat.paths import display_name
from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from humgen_storage.units import NO_MTIME, TIB, days_since, human_size, tib

REF = 1_700_000_000
ROOTS = ("lustre/scratch115/projects",)
CLASSES = (("BAM", r"\.bam$"), ("VCF", r"\.vcf$"))  # no CRAM nor PEDBED: zero columns


def sizes(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0.0"),
        (1, "0.0"),  # tiny
        (2**29, "0.0"),  # 0.00048828125
        (2**30, "0.001"),  # 0.0009765625
        (2**36, "0.062"),  # 0.0625: half-way, to the even thousandth
        (3 * 2**36, "0.188"),  # 0.1875: half-way, to the even thousandth
        (5 * 2**38, "1.25"),
        (TIB, "1.0"),
        (2**63 - 1, "8388608.0"),  # as float(size) rounds it: 2**63
    ],
)
def test_tib_texts(size: int, shown: str) -> None:
    assert printed.tib_texts(sizes(size), "") == [shown] == [str(tib(size))]


def test_tib_texts_beyond_int64_and_suffix() -> None:
    column = np.array([2**64 + 3 * TIB, 0], dtype=object)  # sums beyond 64 bits
    assert printed.tib_texts(column, "\t") == ["16777219.0\t", "0.0\t"]


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0"),
        (1023, "1023"),
        (1024, "1.0 KiB"),
        (5248, "5.12 KiB"),  # 5.125: half-way, to the even hundredth
        (5504, "5.38 KiB"),  # 5.375: half-way, to the even hundredth
        (1024**2 - 1, "1.0 MiB"),  # 1023.999 KiB shows as 1024.0: the next unit
        (5 * 2**38, "1.25 TiB"),
        (2**63 - 1, "8192.0 PiB"),
    ],
)
def test_human_size_texts(size: int, shown: str) -> None:
    assert printed.human_size_texts(sizes(size), "") == [shown] == [human_size(size)]


@pytest.mark.parametrize(
    ("reference", "mtime", "shown"),
    [
        (float(REF), NO_MTIME, "-"),
        (float(REF), REF, "0.0"),
        (float(REF), REF - 3 * 86400, "3.0"),
        (float(REF), REF - 4320, "0.1"),  # 0.05 is a little more as a float: up
        (float(REF), REF - 12960, "0.1"),  # 0.15 is a little less as a float: down
        (REF + 0.75, REF - 4320, "0.1"),  # a fractional reference
        (REF, REF - 10 * 86400 - 8640, "10.1"),  # an integer reference
        (1000.0, 1000 + 8640, "-0.1"),  # an mtime after the reference
        (1000.0, 1000 + 4000, "-0.0"),
    ],
)
def test_days_texts(reference: float, mtime: int, shown: str) -> None:
    assert printed.days_texts(np.array([mtime], dtype=np.int64), reference, "") == [shown]


@pytest.mark.parametrize("reference", [float(REF), REF, 2**60, 2.0**62])
def test_days_far_from_the_reference_go_one_at_a_time(reference: float) -> None:
    mtimes = [-(2**63 - 1), 2**63 - 1, 0, REF - 1]
    texts = printed.days_texts(np.array(mtimes, dtype=np.int64), reference, "")
    assert texts == [str(days_since(reference, mtime)) for mtime in mtimes]


def test_columns_match_the_per_row_functions_on_many_values() -> None:
    rng = random.Random(7)
    values = [rng.randrange(2 ** rng.randrange(64)) for _ in range(20000)]
    halfway = [j * TIB // 2000 + e for j in range(125, 20000, 250) for e in (-1, 0, 1)]
    column = sizes(*(v for v in chain(values, halfway) if v < 2**63))
    assert printed.tib_texts(column, "") == [str(tib(v)) for v in column.tolist()]
    assert printed.human_size_texts(column, "") == [human_size(v) for v in column.tolist()]
    mtimes = [REF - rng.randrange(2 ** rng.randrange(1, 48)) for _ in range(20000)]
    mtimes += [REF - 4320 * (2 * k + 1) for k in range(2000)]  # near half-way tenths
    for reference in (REF + 0.123456, REF):
        texts = printed.days_texts(np.array(mtimes, dtype=np.int64), reference, "")
        assert texts == [str(days_since(reference, mtime)) for mtime in mtimes]


PATHS = [
    b"projects",  # a root
    b"projects/a",  # a project
    b"projects/a/x",
    b"projects/a/x/deeper",
    b"projects/a/",  # an empty third component: no Directory
    b"projects/b\t\n\\\xff",  # escapes and undecodable bytes
    b"projects/b\t\n\\\xff/c\xe2/d",
    b"projects/caf\xc3\xa9",
    b"projects/caf\xc3\xa9/\xc3",
]


@pytest.mark.parametrize("paths", [PATHS, [*PATHS, b"projects/a/n\0ul"]])
def test_names(paths: list[bytes]) -> None:
    """Decoded all at once, and one at a time when a name holds a NUL."""
    shown = printed.project_and_directory(paths, "\n")
    assert shown[: len(PATHS)] == [
        "projects\t*TOTAL*\n",
        "projects/a\t*TOTAL*\n",
        "projects/a\tx\n",
        "projects/a\tx/deeper\n",
        "projects/a\t*TOTAL*\n",
        "projects/b\\t\\n\\\\\\xff\t*TOTAL*\n",
        "projects/b\\t\\n\\\\\\xff\tc\\xe2/d\n",
        "projects/café\t*TOTAL*\n",
        "projects/café\t\\xc3\n",
    ]
    assert shown[len(PATHS) :] == ["projects/a\tn\x00ul\n"][: len(paths) - len(PATHS)]
    assert printed.display_names(paths, "") == [display_name(path) for path in paths]


def test_group_names_are_looked_up_once_a_gid() -> None:
    directory = GroupDirectory({7: Group(7, "seven", True, "Pi"), 8: Group(8, None, False, None)})
    gids = np.array([7, 8, 9, 7, 0], dtype=np.uint64)
    named = np.array([True, True, True, True, False])
    assert printed.group_names(gids, named, directory) == [
        "Pi\tseven\t",
        "-\t-\t",  # no names
        "-\t-\t",  # not in the directory
        "Pi\tseven\t",
        "-\t-\t",  # no directory record
    ]
    assert printed.group_names(gids, named, None) == ["-\t-\t"] * 5


def line(path: bytes, kind: str, size: int = 0, gid: int = 7, mtime: int = REF - 5) -> bytes:
    return Record(path, size, 1, gid, REF, mtime, REF, kind, 7, 1, 1).line(Format.BASE64)


def inspected(lines: list[bytes]) -> InspectorRows:
    aggregate = ProjectInspector(ROOTS, CLASSES, REF + 0.5, Format.BASE64)
    aggregate.add_block(Format.BASE64, b"".join(lines), 1)
    rows = aggregate.finish()
    assert isinstance(rows, InspectorRows)
    return rows


@pytest.mark.parametrize(("big", "at_once"), [(2**40, 1 << 16), (2**63, 1 << 16), (2**40, 2)])
def test_volume_lines_match_table_rows(
    monkeypatch: pytest.MonkeyPatch, big: int, at_once: int
) -> None:
    """Sizes in int64 and beyond; printed in pieces of two rows too (a row's Project
    Total then comes from another piece)."""
    monkeypatch.setattr(printed, "ROWS_AT_ONCE", at_once)
    rows = inspected(
        [
            line(b"/lustre/scratch115/projects/a", "d", gid=7),
            line(b"/lustre/scratch115/projects/a/x.bam", "f", big, mtime=REF - 4320),
            line(b"/lustre/scratch115/projects/a/y.vcf", "f", big, mtime=REF + 99),
            line(b"/lustre/scratch115/projects/b\xff\\/d/e", "d", gid=8),
            line(b"/lustre/scratch115/projects/b\xff\\/z", "f", 3, mtime=REF - 10**6),
            line(b"/lustre/scratch115/projects/c/d/e/f", "f", 0),  # no directory record
        ]
    )
    directory = GroupDirectory({7: Group(7, "seven", True, "Pi")})
    whole = VolumeInspection("115", rows)
    selected = VolumeInspection("115", list(rows))  # as a PATH query gives them: per row
    for table in (Table([whole], directory), Table([whole], None)):
        for generic in (False, True):
            one_by_one = "".join(Table([selected], table.directory).lines(selected, generic))
            assert "".join(table.lines(whole, generic)) == one_by_one
    assert one_by_one.count("\n") == len(rows) > 5


def test_an_empty_volume_has_no_lines() -> None:
    rows = inspected([line(b"/lustre/scratch118/elsewhere/x", "f", 1)])
    assert len(rows) == 0
    assert list(printed.project_lines(rows, "118", None, ("BAM",))) == []
    assert list(printed.generic_lines(rows, ("BAM",))) == []
