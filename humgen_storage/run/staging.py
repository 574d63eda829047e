"""On-disk staging: plain SQLite files, written in full before a finaliser reads them.

A run's area (``run.layout.staging_dir``) holds the group directory (loaded once
per run, read by every volume's task) and one SQLite file per staged volume,
``volume-<V>.db``, whatever the job. Each file is written under a temporary name
and renamed when complete, so its presence means the volume was staged in full; no
two processes ever write one SQLite file. The rows are plain data (loading them runs
no code from the file), and every integer that may be a sum is exact however large
(beyond 64 bits): decimal text, or, for an inspector volume whose sums all fit,
int64 blobs of whole columns (its rows are read back a column at a time). A leftover area from a crashed run is discarded by
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
    """A new SQLite file that appears at ``path`` only once it is complete.

    Written in one transaction, tables and all (Python's sqlite3 would commit each
    CREATE TABLE apart, a sync each), with its rollback journal in memory: the file
    is synced once, at the commit, and is renamed into place only after it, so a
    crash before then leaves no file at ``path`` whatever state the temporary is in.
    """
    with replaced_on_success(path, PRIVATE_FILE_MODE) as temporary:
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = MEMORY")
            connection.execute("BEGIN")
            yield connection
            connection.execute("COMMIT")
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


# Rows staged or loaded at a time: one piece of each column is a blob (a volume has
# tens of thousands of rows; a piece keeps each blob, and each copy of one, small).
_ROWS_AT_ONCE = 1 << 12
# The numeric columns of ``InspectorRows``, stored as these fixed types (a piece's blob
# is read with the type named here, never with one taken from the file).
_NUMBERS = (
    ("files", np.int64),
    ("newest", np.int64),
    ("gids", np.uint64),
    ("has_gid", np.bool_),
    ("project", np.intp),
)
# How the sizes are stored: int64 cells, or decimal text when some sum does not fit.
_CELLS, _DECIMAL = "int64", "decimal"


def save_inspection(path: Path, volume: str, rows: InspectorRows) -> None:
    """Stage one inspector volume's rows (``finish``'s columns) in a file that appears
    only once complete: each column a blob a piece of rows, the paths as their lengths
    and bytes, and the sizes as int64 cells or, when some sum is beyond 64 bits,
    decimal text."""
    exact = rows.sizes.dtype == object
    with atomic_sqlite(path) as db:
        db.execute(
            "CREATE TABLE inspection (volume TEXT, reference REAL, class_names TEXT,"
            " rows INTEGER, sizes TEXT)"
        )
        db.execute(
            "INSERT INTO inspection VALUES (?, ?, ?, ?, ?)",
            (
                volume,
                rows.reference,
                json.dumps(list(rows.class_names)),
                len(rows),
                _DECIMAL if exact else _CELLS,
            ),
        )
        db.execute(
            "CREATE TABLE pieces (start INTEGER, rows INTEGER, name TEXT, data BLOB,"
            " PRIMARY KEY (start, name))"
        )
        for start in range(0, len(rows), _ROWS_AT_ONCE):
            stop = min(len(rows), start + _ROWS_AT_ONCE)
            db.executemany(
                "INSERT INTO pieces VALUES (?, ?, ?, ?)",
                [(start, stop - start, name, data) for name, data in _pieces(rows, start, stop)],
            )


def _pieces(rows: InspectorRows, start: int, stop: int) -> Iterator[tuple[str, bytes]]:
    """Rows ``start`` to ``stop`` of each column, as (name, blob)."""
    paths = rows.paths[start:stop]
    lengths = np.fromiter(map(len, paths), dtype=np.int64, count=len(paths))
    yield "paths", lengths.tobytes() + b"".join(paths)
    for name, dtype in _NUMBERS:
        yield name, np.ascontiguousarray(getattr(rows, name)[start:stop], dtype=dtype).tobytes()
    sizes = rows.sizes[start:stop]
    if sizes.dtype == object:
        yield "sizes", " ".join(map(str, sizes.reshape(-1).tolist())).encode()
    else:
        yield "sizes", np.ascontiguousarray(sizes, dtype=np.int64).tobytes()


def load_inspection(path: Path) -> tuple[str, InspectorRows]:
    """(volume, rows) as ``save_inspection`` staged them, read a piece at a time into
    the columns."""
    with closing(read_staged(path)) as db:
        volume, reference, class_names, count, sizes = db.execute(
            "SELECT volume, reference, class_names, rows, sizes FROM inspection"
        ).fetchone()
        names = tuple(json.loads(class_names))
        columns = _LoadedColumns(count, len(names) + 1, exact=sizes == _DECIMAL)
        cursor = db.execute("SELECT start, rows, name, data FROM pieces ORDER BY start, name")
        for start, piece_rows, name, data in cursor:
            columns.add(start, piece_rows, name, data)
    columns.check(path)
    return volume, InspectorRows(
        names,
        reference,
        columns.paths,
        columns.numbers["files"],
        columns.numbers["newest"],
        columns.sizes,
        columns.numbers["gids"],
        columns.numbers["has_gid"],
        columns.numbers["project"],
    )


class _LoadedColumns:
    """``InspectorRows``' columns, filled from the staged pieces in row order."""

    def __init__(self, count: int, size_columns: int, exact: bool) -> None:
        self.count = count
        self.paths: list[bytes] = []
        self.numbers: dict[str, npt.NDArray[Any]] = {
            name: np.zeros(count, dtype=dtype) for name, dtype in _NUMBERS
        }
        # int64, or Python ints (dtype object) when some sum does not fit, as ``finish``
        # keeps them.
        self.sizes: npt.NDArray[Any] = np.zeros(
            (count, size_columns), dtype=object if exact else np.int64
        )
        self.filled = {name: 0 for name in ("paths", "sizes", *self.numbers)}

    def add(self, start: int, rows: int, name: str, data: bytes) -> None:
        if self.filled.get(name) != start or start + rows > self.count:
            raise sqlite3.DatabaseError(f"a piece of {name} out of place: rows {start} + {rows}")
        stop = start + rows
        if name == "paths":
            lengths = np.frombuffer(data, dtype=np.int64, count=rows)
            ends = (8 * rows + np.cumsum(lengths)).tolist()
            self.paths.extend(map(data.__getitem__, map(slice, [8 * rows, *ends], ends)))
        elif name == "sizes":
            self._add_sizes(start, stop, data)
        else:
            self.numbers[name][start:stop] = np.frombuffer(data, dtype=self.numbers[name].dtype)
        self.filled[name] = stop

    def _add_sizes(self, start: int, stop: int, data: bytes) -> None:
        if self.sizes.dtype == object:
            cells = np.array([int(text) for text in data.split()], dtype=object)
        else:
            cells = np.frombuffer(data, dtype=np.int64)
        self.sizes[start:stop] = cells.reshape(stop - start, self.sizes.shape[1])

    def check(self, path: Path) -> None:
        short = {name: filled for name, filled in self.filled.items() if filled != self.count}
        if short:
            raise sqlite3.DatabaseError(f"{path}: {short} rows where {self.count} were staged")
