"""Staged inspector volumes: plain SQLite that gives back exactly the rows staged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from humgen_storage.inspect.aggregate import ProjectInspector
from humgen_storage.inspect.results import InspectorRows
from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from humgen_storage.run import staging
from humgen_storage.run.staging import load_inspection, save_inspection

REF = 1_700_000_000
ROOTS = ("lustre/scratch115/projects",)
CLASSES = (("BAM", r"\.bam$"), ("CRAM", r"\.cram$"))
BIG = 2**64 - 1


def line(path: bytes, kind: str, size: int = 0, gid: int = 1001, mtime: int = REF - 5) -> bytes:
    return Record(path, size, 1, gid, REF, mtime, REF, kind, 7, 1, 1).line(Format.BASE64)


def inspected(lines: list[bytes]) -> InspectorRows:
    aggregate = ProjectInspector(ROOTS, CLASSES, REF, Format.BASE64)
    if lines:
        aggregate.add_block(Format.BASE64, b"".join(lines), 1)
    rows = aggregate.finish()
    assert isinstance(rows, InspectorRows)
    return rows


@pytest.mark.parametrize("at_once", [1, 2, 4096])
def test_awkward_rows_come_back_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at_once: int
) -> None:
    # Staged and loaded a piece at a time: a sum beyond 64 bits may come in any piece.
    monkeypatch.setattr(staging, "_ROWS_AT_ONCE", at_once)
    rows = inspected(
        [
            line(b"/lustre/scratch115/projects/a", "d", gid=2**64 - 2),  # a gid beyond int64
            line(b"/lustre/scratch115/projects/a/x.bam", "f", BIG),
            line(b"/lustre/scratch115/projects/a/y.cram", "f", BIG),  # sums beyond 64 bits
            line(b"/lustre/scratch115/projects/b\xff\n\t/z", "f", 3, mtime=REF + 99),
            line(b"/lustre/scratch115/projects/c/d/e/f", "f", 0),  # no directory record: no gid
        ]
    )
    assert rows.sizes.dtype == object and not rows.has_gid.all()
    path = tmp_path / "volume-115.db"
    save_inspection(path, "115", rows)

    volume, loaded = load_inspection(path)
    assert volume == "115"
    assert loaded == rows and list(loaded) == list(rows)
    assert loaded.class_names == rows.class_names and loaded.reference == rows.reference
    assert loaded.sizes.dtype == object
    for name in ("files", "newest", "gids", "has_gid", "project"):
        column, original = getattr(loaded, name), getattr(rows, name)
        assert column.dtype == original.dtype and np.array_equal(column, original), name


def test_ordinary_and_empty_volumes(tmp_path: Path) -> None:
    rows = inspected([line(b"/lustre/scratch115/projects/a/x.bam", "f", 10)])
    save_inspection(tmp_path / "one.db", "115", rows)
    _, loaded = load_inspection(tmp_path / "one.db")
    assert loaded == rows and loaded.sizes.dtype == np.int64

    save_inspection(tmp_path / "none.db", "118", inspected([]))
    volume, empty = load_inspection(tmp_path / "none.db")
    assert (volume, len(empty), empty.sizes.shape) == ("118", 0, (0, len(CLASSES) + 1))


def test_a_failed_staging_leaves_no_file(tmp_path: Path) -> None:
    rows = inspected([line(b"/lustre/scratch115/projects/a/x.bam", "f", 10)])
    rows.paths[0] = object()  # cannot be stored
    path = tmp_path / "volume-115.db"
    with pytest.raises(TypeError):
        save_inspection(path, "115", rows)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "damage",
    [
        "DELETE FROM pieces WHERE name = 'files' AND start = 2",  # a piece missing
        "UPDATE pieces SET start = 3 WHERE name = 'sizes' AND start = 2",  # out of place
        "UPDATE inspection SET rows = 2",  # fewer rows than the pieces hold
        "UPDATE inspection SET rows = 4",  # more
    ],
)
def test_damaged_pieces_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    monkeypatch.setattr(staging, "_ROWS_AT_ONCE", 2)
    rows = inspected([line(b"/lustre/scratch115/projects/a/b/x.bam", "f", 10)])
    assert len(rows) == 3  # the root, the project and its directory: pieces at 0 and 2
    path = tmp_path / "volume-115.db"
    save_inspection(path, "115", rows)
    with sqlite3.connect(path) as db:
        db.execute(damage)
    with pytest.raises(sqlite3.DatabaseError):
        load_inspection(path)
