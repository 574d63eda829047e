"""The report's on-disk staging area: ``<report_dir>/.staging/<YYYYMMDD>/``.

It holds the directory (LDAP groups and PIs, loaded once per run) and one SQLite file
per staged volume. Each file is written under a temporary name and renamed when
complete, so its presence means the volume was staged in full; no two processes
ever write one SQLite file. The finaliser reads them all; a leftover area from a
crashed run is discarded by the next full run.
"""

from __future__ import annotations

import datetime as dt
import pickle
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, TypeVar

from humgen_storage.atomic import atomic_file, replaced_on_success
from humgen_storage.directory import Group, GroupDirectory

DIRECTORY_FILE = "directory.db"
T = TypeVar("T")


def save_staged(path: Path, value: object) -> None:
    """Stage a job's own aggregate: pickled (only this tool reads it), renamed into place."""
    with atomic_file(path, binary=True) as handle:
        pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)


def load_staged(path: Path, kind: type[T]) -> T:
    with open(path, "rb") as handle:
        value = pickle.load(handle)  # noqa: S301 - our own staging file, never foreign input
    if not isinstance(value, kind):
        raise TypeError(f"{path}: not a staged {kind.__name__}")
    return value


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
