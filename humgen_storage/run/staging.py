"""On-disk staging: plain SQLite files, written in full before a finaliser reads them.

The report's area, ``<report_dir>/.staging/<YYYYMMDD>/``, holds the directory (LDAP
groups and PIs, loaded once per run) and one SQLite file per staged volume; the
inspector stages each volume's rows in one SQLite file too (``save_inspection``).
Each file is written under a temporary name and renamed when complete, so its
presence means the volume was staged in full; no two processes ever write one
SQLite file. The finaliser reads them all; a leftover area from a
crashed run is discarded by the next full run.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from humgen_storage.directory import Group, GroupDirectory
from humgen_storage.inspect.results import InspectorRows
from humgen_storage.run.atomic import replaced_on_success

DIRECTORY_FILE = "directory.db"


@dataclass(frozen=True)
class UsageRow:
    """One row of lustre_usage, as staged and as loaded."""

    volume_name: str
    pi: str | None
    group: str
    used: int
    quota: int | None
    consumption: str
    last_modified: float | None
    archived: str | None
    date: str  # YYYY-MM-DD
    is_humgen: bool


@dataclass(frozen=True)
class StagedVolume:
    volume: str  # the number, e.g. "118"
    volume_name: str  # e.g. "scratch118"
    source: str  # the input file it came from
    lines: int
    bad_lines: int
    rows: tuple[UsageRow, ...]


@contextmanager
def _atomic_sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    """A new SQLite file that appears at ``path`` only once it is complete."""
    with replaced_on_success(path) as temporary:
        connection = sqlite3.connect(temporary)
        try:
            yield connection
            connection.commit()
        finally:
            connection.close()


class Staging:
    def __init__(self, staging_root: Path, day: dt.date) -> None:
        self.day = day
        self.directory = staging_root / day.strftime("%Y%m%d")

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def _volume_path(self, volume: str) -> Path:
        return self.directory / f"volume-{volume}.db"

    # -- the directory ------------------------------------------------------------------

    def save_directory(self, groups: GroupDirectory) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with _atomic_sqlite(self.directory / DIRECTORY_FILE) as db:
            db.execute(
                "CREATE TABLE groups (gid INTEGER PRIMARY KEY, name TEXT, is_humgen INTEGER, pi TEXT)"
            )
            db.executemany(
                "INSERT INTO groups VALUES (?, ?, ?, ?)",
                [(g.gid, g.name, int(g.is_humgen), g.pi) for g in groups.groups.values()],
            )

    def has_directory(self) -> bool:
        return (self.directory / DIRECTORY_FILE).is_file()

    def load_directory(self) -> GroupDirectory:
        with closing(sqlite3.connect(self.directory / DIRECTORY_FILE)) as db:
            rows = db.execute("SELECT gid, name, is_humgen, pi FROM groups").fetchall()
        return GroupDirectory(
            {gid: Group(gid, name, bool(humgen), pi) for gid, name, humgen, pi in rows}
        )

    # -- volumes ------------------------------------------------------------------------

    def save_volume(self, staged: StagedVolume) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with _atomic_sqlite(self._volume_path(staged.volume)) as db:
            db.execute(
                "CREATE TABLE volume (volume TEXT, volume_name TEXT, source TEXT, lines INTEGER, bad_lines INTEGER)"
            )
            db.execute(
                "INSERT INTO volume VALUES (?, ?, ?, ?, ?)",
                (staged.volume, staged.volume_name, staged.source, staged.lines, staged.bad_lines),
            )
            db.execute(
                "CREATE TABLE usage (volume_name TEXT, pi TEXT, grp TEXT, used INTEGER, quota INTEGER,"
                " consumption TEXT, last_modified REAL, archived TEXT, date TEXT, is_humgen INTEGER)"
            )
            db.executemany(
                "INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [astuple(r) for r in staged.rows],
            )

    def load_volume(self, volume: str) -> StagedVolume | None:
        path = self._volume_path(volume)
        if not path.is_file():
            return None
        with closing(sqlite3.connect(path)) as db:
            volume_row = db.execute(
                "SELECT volume, volume_name, source, lines, bad_lines FROM volume"
            ).fetchone()
            rows = db.execute(
                "SELECT volume_name, pi, grp, used, quota, consumption, last_modified, archived, date, is_humgen"
                " FROM usage"
            ).fetchall()
        number, volume_name, source, lines, bad_lines = volume_row
        return StagedVolume(
            volume=number,
            volume_name=volume_name,
            source=source,
            lines=lines,
            bad_lines=bad_lines,
            rows=tuple(_usage_row(row) for row in rows),
        )


def _usage_row(row: tuple[Any, ...]) -> UsageRow:
    volume_name, pi, group, used, quota, consumption, last_modified, archived, date, is_humgen = row
    return UsageRow(
        volume_name,
        pi,
        group,
        used,
        quota,
        consumption,
        last_modified,
        archived,
        date,
        bool(is_humgen),
    )


# -- the inspector's staged volumes ---------------------------------------------------


def save_inspection(path: Path, volume: str, rows: InspectorRows) -> None:
    """Stage one inspector volume's rows (``finish``'s columns) in a SQLite file that
    appears at ``path`` only once complete.

    Plain data, as the report stages: loading it runs no code from the file, and a
    staged volume does not depend on the version of the tool that wrote it. Sizes
    and gids are decimal text, exact however large (a sum may exceed 64 bits).
    """
    has_gid = rows.has_gid.tolist()
    with _atomic_sqlite(path) as db:
        db.execute("CREATE TABLE inspection (volume TEXT, reference REAL, class_names TEXT)")
        db.execute(
            "INSERT INTO inspection VALUES (?, ?, ?)",
            (volume, rows.reference, json.dumps(list(rows.class_names))),
        )
        db.execute(
            "CREATE TABLE rows (position INTEGER PRIMARY KEY, path BLOB, files INTEGER,"
            " newest INTEGER, gid TEXT, project INTEGER, sizes TEXT)"
        )
        db.executemany(
            "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)",
            zip(
                range(len(rows)),
                rows.paths,
                rows.files.tolist(),
                rows.newest.tolist(),
                [
                    str(gid) if named else None
                    for gid, named in zip(rows.gids.tolist(), has_gid, strict=True)
                ],
                rows.project.tolist(),
                [" ".join(map(str, sizes)) for sizes in rows.sizes.tolist()],
                strict=True,
            ),
        )


def load_inspection(path: Path) -> tuple[str, InspectorRows]:
    """(volume, rows) as ``save_inspection`` staged them."""
    with closing(sqlite3.connect(path)) as db:
        volume, reference, class_names = db.execute(
            "SELECT volume, reference, class_names FROM inspection"
        ).fetchone()
        table = db.execute(
            "SELECT path, files, newest, gid, project, sizes FROM rows ORDER BY position"
        ).fetchall()
    columns = list(zip(*table, strict=True)) if table else [()] * 6
    paths, files, newest, gids, project, sizes = columns
    names = tuple(json.loads(class_names))
    size_rows = [[int(size) for size in text.split()] for text in sizes]
    try:
        size_array = np.array(size_rows, dtype=np.int64).reshape(len(table), len(names) + 1)
    except OverflowError:  # a sum beyond 64 bits: Python ints, as ``finish`` keeps them
        size_array = np.array(size_rows, dtype=object).reshape(len(table), len(names) + 1)
    return volume, InspectorRows(
        names,
        reference,
        [bytes(p) for p in paths],
        np.array(files, dtype=np.int64),
        np.array(newest, dtype=np.int64),
        size_array,
        np.array([0 if gid is None else int(gid) for gid in gids], dtype=np.uint64),
        np.array([gid is not None for gid in gids], dtype=bool),
        np.array(project, dtype=np.intp),
    )
