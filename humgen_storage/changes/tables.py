"""The snapshots ``compare`` takes, read from the database for one night.

``usage_by_user`` and ``usage_quota`` are read when the database has them (a site
whose report predates them has only ``lustre_usage``): without them the user cells
are absent and the groups' files are not counted.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from humgen_storage.changes.compute import BYTES, FILES, VolumeNight, leaf_directories
from humgen_storage.changes.history import HistoryRow, night_rows
from humgen_storage.db import Database

TOTAL_DIRECTORY = "*TOTAL*"

_SQLITE_TABLE = "SELECT COUNT(*) FROM sqlite_master WHERE `type` = 'table' AND `name` = %s"
_MYSQL_TABLE = (
    "SELECT COUNT(*) FROM information_schema.`TABLES`"
    " WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` = %s"
)
_GROUPS = (
    "SELECT `Lustre Volume`, `Unix Group`, `Used (bytes)` FROM `lustre_usage` WHERE `date` = %s"
)
_GROUP_FILES = "SELECT `Lustre Volume`, `Unix Group`, `Files` FROM `usage_quota` WHERE `date` = %s"
_USERS = (
    "SELECT `Lustre Volume`, `Unix Group`, `User`, `Used (bytes)`, `Files`"
    " FROM `usage_by_user` WHERE `date` = %s"
)
_PREVIOUS = "SELECT MAX(`date`) FROM `lustre_usage` WHERE `date` < %s"
_LATEST = "SELECT MAX(`date`) FROM `lustre_usage`"


def has_table(database: Database, name: str) -> bool:
    statement = _SQLITE_TABLE if database.dialect == "sqlite" else _MYSQL_TABLE
    return bool(database.query(statement, (name,))[0][0])


def as_date(value: object) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def latest_night(database: Database) -> dt.date | None:
    return as_date(database.query(_LATEST)[0][0])


def previous_night(database: Database, day: dt.date) -> dt.date | None:
    return as_date(database.query(_PREVIOUS, (day.isoformat(),))[0][0])


def read_night(database: Database, day: dt.date) -> dict[str, VolumeNight]:
    """Every volume's cells on ``day`` (volume names as ``lustre_usage`` has them)."""
    nights: dict[str, VolumeNight] = defaultdict(VolumeNight)
    when = (day.isoformat(),)
    files: dict[tuple[str, str], int] = {}
    if has_table(database, "usage_quota"):
        files = {
            (str(v), str(g)): int(n)
            for v, g, n in database.query(_GROUP_FILES, when)
            if n is not None
        }
    for volume, group, used in database.query(_GROUPS, when):
        key = (str(volume), str(group))
        nights[key[0]].groups[(key[1],)] = (int(used), files.get(key))
    if has_table(database, "usage_by_user"):
        for volume, group, user, used, count in database.query(_USERS, when):
            nights[str(volume)].users[(str(group), str(user))] = (int(used), int(count))
    _add_directories(nights, night_rows(database, day))
    return dict(nights)


def report_volume(volume: str, report_names: set[str]) -> str:
    """The inspector's volume (``118``) by the report's name for it (``scratch118``),
    which is the mount's second component (mpistat/reader.py takes either)."""
    return f"scratch{volume}" if f"scratch{volume}" in report_names else volume


def _add_directories(nights: dict[str, VolumeNight], rows: list[HistoryRow]) -> None:
    """The inspector's rows as non-overlapping cells: a project's ``*TOTAL*`` is the
    path of the project (``projects/cohort``), a directory row the project's path and
    its own; the cells are the paths no other path lies below, and the whole is the sum
    of the outermost projects' totals (projects nest: ``projects`` holds
    ``projects/cohort``)."""
    names = set(nights)
    paths: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    projects: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for volume, project, directory, total_bytes, files, _ in rows:
        name = report_volume(volume, names)
        if directory == TOTAL_DIRECTORY:
            projects[name][project] = (total_bytes, files)
            paths[name][project] = (total_bytes, files)
        else:
            paths[name][f"{project}/{directory}"] = (total_bytes, files)
    for name, by_path in paths.items():
        night = nights[name]
        for path in leaf_directories(list(by_path)):
            night.directories[(path,)] = by_path[path]
        for project in outermost(projects[name]):
            night.directory_totals[BYTES] += projects[name][project][0]
            night.directory_totals[FILES] += projects[name][project][1]


def outermost(paths: dict[str, tuple[int, int]]) -> list[str]:
    """The paths that lie below no other path of ``paths``."""
    return [
        path
        for path in paths
        if not any("/".join(path.split("/")[:n]) in paths for n in range(1, path.count("/") + 1))
    ]
