"""The usage_by_user table and users-YYYYMMDD.tsv (issue 18): one row per (volume,
group, user) with bytes, regular-file records and days since the newest mtime.

The rows come from the report's own pass (``UsageAggregate.user_totals``), are staged
with the volume's lustre_usage rows and loaded in the same transaction; the TSV is
written from that transaction's view of the date, before the commit, as the report's.
A group is named as in lustre_usage (its name, or the gid as text); a user by the
people entry's ``uid`` (``directory.people``), or the uid as text.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from humgen_storage.db import Cursor, Database
from humgen_storage.directory import GroupDirectory
from humgen_storage.logs import volume_logger
from humgen_storage.report.aggregate import UserColumns
from humgen_storage.report.table import delete_volumes_of_date
from humgen_storage.run.atomic import atomic_file
from humgen_storage.run.report_staging import UserRows
from humgen_storage.tsv import escaped, tsv_line

log = logging.getLogger(__name__)

USERS_TSV_HEADER = (
    "Lustre Volume",
    "Unix Group",
    "User",
    "Used (bytes)",
    "Files",
    "Last Modified (days)",
)
INSERT_USER = (
    "INSERT INTO `usage_by_user` (`date`, `Lustre Volume`, `Unix Group`, `User`,"
    " `Used (bytes)`, `Files`, `Last Modified (days)`) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
SELECT_USERS = (
    "SELECT `Lustre Volume`, `Unix Group`, `User`, `Used (bytes)`, `Files`,"
    " `Last Modified (days)` FROM `usage_by_user` WHERE `date` = %s"
)


def user_rows(
    volume_name: str, reference: float, directory: GroupDirectory, columns: UserColumns
) -> UserRows:
    """The volume's usage_by_user rows. Two uids of a group that would show the same
    name (two uidNumbers of one uid, or a name that is another uid's number) are both
    shown by number, so the table's key holds."""
    group_names = {gid: directory.lookup(gid).name or str(gid) for gid in set(columns.gid)}
    user_names = {uid: directory.user_name(uid) or str(uid) for uid in set(columns.uid)}
    groups = [group_names[gid] for gid in columns.gid]
    users = [user_names[uid] for uid in columns.uid]
    if len(set(zip(groups, users, strict=True))) < len(groups):
        users = _by_number_where_names_clash(volume_name, groups, users, columns.uid)
    # Each as days_since: round((reference - newest) / 86400, 1), in the same floats.
    days = ((reference - columns.newest_mtime) / 86400).tolist()
    return UserRows(groups, users, columns.used, columns.files, [round(d, 1) for d in days])


def _by_number_where_names_clash(
    volume_name: str, groups: list[str], users: list[str], uids: list[int]
) -> list[str]:
    users = list(users)
    while True:
        holders: dict[tuple[str, str], list[int]] = {}
        for row, key in enumerate(zip(groups, users, strict=True)):
            holders.setdefault(key, []).append(row)
        clashes = [row for rows in holders.values() if len(rows) > 1 for row in rows]
        if not clashes:
            return users
        for row in clashes:
            # A uid's own number is unique: each round takes names away, never adds.
            if users[row] != str(uids[row]):
                users[row] = str(uids[row])
                volume_logger(__name__, volume_name).warning(
                    "uid %d in group %s shares its name with another uid; shown by number",
                    uids[row],
                    groups[row],
                )


def load_user_rows(
    cursor: Cursor,
    day: dt.date,
    staged: Sequence[tuple[str, UserRows]],
    replace: bool,
) -> int:
    """Insert the run's rows ((volume name, rows) per volume) in the caller's
    transaction; with ``replace``, first delete that date's rows of the run's volumes
    (and only those)."""
    date = day.isoformat()
    if replace:
        delete_volumes_of_date(cursor, "usage_by_user", day, [name for name, _ in staged])
    values = [(date, name, *row) for name, rows in staged for row in rows.rows()]
    cursor.executemany(INSERT_USER, values)
    return len(values)


# (volume, group, user, used, files, last modified): one tuple a row, no object.
UserLine = tuple[str, str, str, int, int, float]


def users_in(
    cursor: Cursor, day: dt.date, inserted: Sequence[tuple[str, UserRows]]
) -> list[UserLine]:
    """The date's rows as the caller's transaction sees them, in the TSV's order.

    When the date holds exactly as many rows as the transaction inserted (``inserted``:
    (volume name, rows) per volume), they are those rows: they are taken as inserted
    rather than read back (a volume's pairs may be tens of thousands).
    """
    date = day.isoformat()
    cursor.execute("SELECT COUNT(*) FROM `usage_by_user` WHERE `date` = %s", (date,))
    if cursor.fetchall()[0][0] == sum(len(rows) for _, rows in inserted):
        lines = [(name, *row) for name, rows in inserted for row in rows.rows()]
        lines.sort()  # as _ordered: the key (volume, group, user) decides
        return lines
    cursor.execute(SELECT_USERS, (date,))
    return _ordered(cursor.fetchall())


def users_for(db: Database, day: dt.date) -> list[UserLine]:
    return _ordered(db.query(SELECT_USERS, (day.isoformat(),)))


def _ordered(result: Iterable[tuple[Any, ...]]) -> list[UserLine]:
    """By volume, group, user, comparing bytes: for text without surrogates (names are
    checked, ``names.unsafe_text``) code point order is UTF-8's byte order, so the
    strings sort as they are. MySQL's DECIMAL becomes a float, as SQLite gives it."""
    rows = [
        (volume, group, user, used, files, float(days))
        for volume, group, user, used, files, days in result
    ]
    rows.sort()  # the key (volume, group, user) is unique: the numbers never decide
    return rows


def _tsv_lines(rows: Iterable[UserLine]) -> Iterator[str]:
    shown: dict[str, str | None] = {}  # each name escaped once
    for volume, group, user, used, files, days in rows:
        if group not in shown:
            shown[group] = escaped(group)
        if user not in shown:
            shown[user] = escaped(user)
        yield f"{volume}\t{shown[group]}\t{shown[user]}\t{used}\t{files}\t{days}\n"


def write_users_lines(handle: IO[str], rows: Iterable[UserLine]) -> None:
    """The TSV into an open file (a ``run.atomic.PreparedFile`` before the commit)."""
    handle.write(tsv_line(USERS_TSV_HEADER))
    handle.writelines(_tsv_lines(rows))


def write_users_tsv(path: Path, rows: Iterable[UserLine]) -> None:
    with atomic_file(path, base=path.parent.parent) as handle:
        write_users_lines(handle, rows)
