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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from humgen_storage.db import Cursor, Database
from humgen_storage.directory import GroupDirectory
from humgen_storage.logs import volume_logger
from humgen_storage.report.aggregate import UserTotals
from humgen_storage.run.report_staging import UserRow
from humgen_storage.tsv import escaped, write_tsv, write_tsv_lines
from humgen_storage.units import days_since

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
    " `Last Modified (days)`, `date` FROM `usage_by_user` WHERE `date` = %s"
)


def user_rows(
    volume_name: str,
    day: dt.date,
    reference: float,
    directory: GroupDirectory,
    totals: Iterable[UserTotals],
) -> list[UserRow]:
    """The volume's usage_by_user rows. Two uids of a group that would show the same
    name (two uidNumbers of one uid, or a name that is another uid's number) are both
    shown by number, so the table's key holds."""
    totals = list(totals)
    groups = {gid: directory.lookup(gid).name or str(gid) for gid in {t.gid for t in totals}}
    users = _user_labels(volume_name, directory, totals, groups)
    return [
        UserRow(
            volume_name=volume_name,
            group=groups[t.gid],
            user=users[(t.gid, t.uid)],
            used=t.used,
            files=t.files,
            last_modified=days_since(reference, t.newest_mtime) or 0.0,
            date=day.isoformat(),
        )
        for t in totals
    ]


def _user_labels(
    volume_name: str,
    directory: GroupDirectory,
    totals: Sequence[UserTotals],
    groups: dict[int, str],
) -> dict[tuple[int, int], str]:
    labels = {(t.gid, t.uid): directory.user_name(t.uid) or str(t.uid) for t in totals}
    by_number: set[tuple[int, int]] = set()
    while True:
        holders: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for key, label in labels.items():
            holders.setdefault((groups[key[0]], label), []).append(key)
        clashes = [keys for keys in holders.values() if len(keys) > 1]
        if not clashes:
            return labels
        for keys in clashes:
            for key in keys:
                # A uid's own number is unique: each round takes names away, never adds.
                if key not in by_number:
                    by_number.add(key)
                    labels[key] = str(key[1])
                    volume_logger(__name__, volume_name).warning(
                        "uid %d in group %s shares its name with another uid; shown by number",
                        key[1],
                        groups[key[0]],
                    )


def load_user_rows(
    cursor: Cursor,
    day: dt.date,
    volume_names: Sequence[str],
    rows: Iterable[UserRow],
    replace: bool,
) -> int:
    """Insert the run's rows in the caller's transaction; with ``replace``, first delete
    that date's rows of the run's volumes (and only those)."""
    if replace:
        for name in volume_names:
            cursor.execute(
                "DELETE FROM `usage_by_user` WHERE `date` = %s AND `Lustre Volume` = %s",
                (day.isoformat(), name),
            )
    values = [
        (r.date, r.volume_name, r.group, r.user, r.used, r.files, r.last_modified) for r in rows
    ]
    cursor.executemany(INSERT_USER, values)
    return len(values)


def users_in(cursor: Cursor, day: dt.date) -> list[UserRow]:
    """The date's rows as the caller's transaction sees them, in the TSV's order."""
    cursor.execute(SELECT_USERS, (day.isoformat(),))
    return _ordered(cursor.fetchall())


def users_for(db: Database, day: dt.date) -> list[UserRow]:
    return _ordered(db.query(SELECT_USERS, (day.isoformat(),)))


def _ordered(result: Iterable[tuple[Any, ...]]) -> list[UserRow]:
    rows = [
        UserRow(
            volume_name=volume,
            group=group,
            user=user,
            used=int(used),
            files=int(files),
            # MySQL returns DECIMAL(12,1) as Decimal, SQLite as float: one type for both.
            last_modified=float(last_modified),
            date=str(date)[:10],
        )
        for volume, group, user, used, files, last_modified, date in result
    ]
    rows.sort(key=lambda r: (r.volume_name.encode(), r.group.encode(), r.user.encode()))
    return rows


def _tsv_values(row: UserRow) -> tuple[Any, ...]:
    return (
        row.volume_name,
        escaped(row.group),
        escaped(row.user),
        row.used,
        row.files,
        row.last_modified,
    )


def write_users_lines(handle: IO[str], rows: Iterable[UserRow]) -> None:
    """The TSV into an open file (a ``run.atomic.PreparedFile`` before the commit)."""
    write_tsv_lines(handle, USERS_TSV_HEADER, (_tsv_values(row) for row in rows))


def write_users_tsv(path: Path, rows: Iterable[UserRow]) -> None:
    write_tsv(path, USERS_TSV_HEADER, (_tsv_values(row) for row in rows))
