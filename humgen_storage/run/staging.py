"""On-disk staging: plain SQLite files, written in full before a finaliser reads them.

A run's area (``run.layout.staging_dir``) holds the group directory (loaded once
per run, read by every volume's task) and one SQLite file per staged volume,
``volume-<V>.db``, whatever the job. Each file is written under a temporary name
and renamed when complete, so its presence means the volume was staged in full; no
two processes ever write one SQLite file. The rows are plain data (loading them runs
no code from the file), and every integer that may be a sum is decimal text, exact
however large (beyond 64 bits). A leftover area from a crashed run is discarded by
the next full run. The report's volume files are ``run.report_staging``'s; the
inspector's are here.

The area lives at ``<report_dir>/.staging/<name>``: every folder below ``report_dir``
is made and checked without following a link (``run.safe_files``), a pre-placed link
is refused rather than written or deleted through, and the files are the owner's
alone (``PRIVATE_FILE_MODE``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.directory import Group, GroupDirectory
from humgen_storage.inspect.results import InspectorRows
from humgen_storage.run.atomic import replaced_on_success
from humgen_storage.run.safe_files import (
    PRIVATE_FILE_MODE,
    check_not_link,
    is_regular_file,
    make_directories,
    remove_tree,
)

DIRECTORY_FILE = "directory.db"


@contextmanager
def atomic_sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    """A new SQLite file that appears at ``path`` only once it is complete."""
    with replaced_on_success(path, PRIVATE_FILE_MODE) as temporary:
        connection = sqlite3.connect(temporary)
        try:
            yield connection
            connection.commit()
        finally:
            connection.close()


class StagingArea:
    """One run's staging folder: the directory and the volumes' files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # ``report_dir``: the configured folder, where the checked path begins.
        self.base = directory.parent.parent

    def discard(self) -> None:
        """Remove the area, and the staging root when nothing else is staged there."""
        remove_tree(self.base, self.directory)
        with suppress(OSError):
            self.directory.parent.rmdir()  # fails on a link: rmdir never follows one

    def make(self) -> None:
        """The area's folders, made or checked one at a time below ``report_dir``."""
        make_directories(self.base, self.directory)

    def volume_path(self, volume: str) -> Path:
        return self.directory / f"volume-{volume}.db"

    def missing(self, volumes: Sequence[str]) -> list[str]:
        """The volumes of ``volumes`` with no staged file."""
        return [volume for volume in volumes if not is_regular_file(self.volume_path(volume))]

    def new_volume_path(self, volume: str) -> Path:
        self.make()
        return self.volume_path(volume)

    # -- the directory ------------------------------------------------------------------

    def save_directory(self, groups: GroupDirectory) -> None:
        self.make()
        with atomic_sqlite(self.directory / DIRECTORY_FILE) as db:
            db.execute(
                "CREATE TABLE groups"
                " (gid INTEGER PRIMARY KEY, name TEXT, is_humgen INTEGER, pi TEXT, unsafe INTEGER)"
            )
            db.executemany(
                "INSERT INTO groups VALUES (?, ?, ?, ?, ?)",
                [
                    (g.gid, g.name, int(g.is_humgen), g.pi, int(g.unsafe))
                    for g in groups.groups.values()
                ],
            )
            # uids as decimal text: a uidNumber may be beyond SQLite's 64-bit integers.
            db.execute("CREATE TABLE users (uid TEXT PRIMARY KEY, name TEXT)")
            db.executemany(
                "INSERT INTO users VALUES (?, ?)",
                [(str(uid), name) for uid, name in groups.users.items()],
            )
            db.execute("CREATE TABLE users_problem (problem TEXT)")
            if groups.users_problem is not None:
                db.execute("INSERT INTO users_problem VALUES (?)", (groups.users_problem,))

    def has_directory(self) -> bool:
        return is_regular_file(self.directory / DIRECTORY_FILE)

    def load_directory(self) -> GroupDirectory:
        with closing(read_staged(self.directory / DIRECTORY_FILE)) as db:
            rows = db.execute("SELECT gid, name, is_humgen, pi, unsafe FROM groups").fetchall()
            users = db.execute("SELECT uid, name FROM users").fetchall()
            problem = db.execute("SELECT problem FROM users_problem").fetchone()
        return GroupDirectory(
            {
                gid: Group(gid, name, bool(humgen), pi, bool(unsafe))
                for gid, name, humgen, pi, unsafe in rows
            },
            users={int(uid): name for uid, name in users},
            users_problem=None if problem is None else problem[0],
        )


def read_staged(path: Path) -> sqlite3.Connection:
    """A staged file, opened read-only and never through a link."""
    check_not_link(path)
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)


def exact_text(number: int | None) -> str | None:
    """An integer as decimal text: exact whatever its size (SQLite's are 64 bits)."""
    return None if number is None else str(number)


def integer_or_none(text: str | None) -> int | None:
    return None if text is None else int(text)


# -- the inspector's staged volumes ---------------------------------------------------


# Rows staged or loaded at a time: the Python objects of one piece exist at once, never
# a whole volume's (a volume has tens of thousands of rows, each a few objects).
_ROWS_AT_ONCE = 4096


def save_inspection(path: Path, volume: str, rows: InspectorRows) -> None:
    """Stage one inspector volume's rows (``finish``'s columns) in a file that appears
    only once complete; sizes and gids as decimal text."""
    with atomic_sqlite(path) as db:
        db.execute("CREATE TABLE inspection (volume TEXT, reference REAL, class_names TEXT)")
        db.execute(
            "INSERT INTO inspection VALUES (?, ?, ?)",
            (volume, rows.reference, json.dumps(list(rows.class_names))),
        )
        db.execute(
            "CREATE TABLE rows (position INTEGER PRIMARY KEY, path BLOB, files INTEGER,"
            " newest INTEGER, gid TEXT, project INTEGER, sizes TEXT)"
        )
        for start in range(0, len(rows), _ROWS_AT_ONCE):
            db.executemany(
                "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)",
                _staged_rows(rows, start, min(len(rows), start + _ROWS_AT_ONCE)),
            )


def _staged_rows(rows: InspectorRows, start: int, stop: int) -> Iterator[tuple[Any, ...]]:
    """Rows ``start`` to ``stop`` as the staged table's tuples."""
    piece = slice(start, stop)
    gids = [
        exact_text(gid) if named else None
        for gid, named in zip(rows.gids[piece].tolist(), rows.has_gid[piece].tolist(), strict=True)
    ]
    return zip(
        range(start, stop),
        rows.paths[piece],
        rows.files[piece].tolist(),
        rows.newest[piece].tolist(),
        gids,
        rows.project[piece].tolist(),
        [" ".join(map(str, sizes)) for sizes in rows.sizes[piece].tolist()],
        strict=True,
    )


def load_inspection(path: Path) -> tuple[str, InspectorRows]:
    """(volume, rows) as ``save_inspection`` staged them, read a piece at a time into
    the columns."""
    with closing(read_staged(path)) as db:
        volume, reference, class_names = db.execute(
            "SELECT volume, reference, class_names FROM inspection"
        ).fetchone()
        (count,) = db.execute("SELECT count(*) FROM rows").fetchone()
        names = tuple(json.loads(class_names))
        columns = _LoadedColumns(count, len(names) + 1)
        cursor = db.execute(
            "SELECT path, files, newest, gid, project, sizes FROM rows ORDER BY position"
        )
        while piece := cursor.fetchmany(_ROWS_AT_ONCE):
            columns.add(piece)
    if columns.filled != count:
        raise sqlite3.DatabaseError(f"{path}: {columns.filled} rows where {count} were counted")
    return volume, InspectorRows(
        names,
        reference,
        columns.paths,
        columns.files,
        columns.newest,
        columns.sizes,
        columns.gids,
        columns.has_gid,
        columns.project,
    )


class _LoadedColumns:
    """``InspectorRows``' columns, filled from the staged table a piece at a time."""

    def __init__(self, count: int, size_columns: int) -> None:
        self.paths: list[bytes] = []
        self.files = np.zeros(count, dtype=np.int64)
        self.newest = np.zeros(count, dtype=np.int64)
        # int64, or Python ints (dtype object) from the first sum beyond 64 bits on, as
        # ``finish`` keeps them.
        self.sizes: npt.NDArray[Any] = np.zeros((count, size_columns), dtype=np.int64)
        self.gids = np.zeros(count, dtype=np.uint64)
        self.has_gid = np.zeros(count, dtype=bool)
        self.project = np.zeros(count, dtype=np.intp)
        self.filled = 0

    def add(self, piece: list[tuple[Any, ...]]) -> None:
        start = self.filled
        stop = start + len(piece)
        paths, files, newest, gids, project, sizes = zip(*piece, strict=True)
        self.paths.extend(bytes(p) for p in paths)
        self.files[start:stop] = files
        self.newest[start:stop] = newest
        self.gids[start:stop] = np.array(
            [0 if gid is None else int(gid) for gid in gids], dtype=np.uint64
        )
        self.has_gid[start:stop] = [gid is not None for gid in gids]
        self.project[start:stop] = project
        size_rows = [[int(size) for size in text.split()] for text in sizes]
        try:
            self.sizes[start:stop] = size_rows
        except OverflowError:  # a sum beyond 64 bits: Python ints from here on
            self.sizes = self.sizes.astype(object)
            self.sizes[start:stop] = size_rows
        self.filled = stop
