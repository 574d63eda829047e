"""The usage_quota table (issue 18): per (volume, group) the distinct inodes of the
crawl beside the quota system's own figures, from the same ``lfs quota`` call that
gives lustre_usage its limit.

``Files`` counts what the report's Used counts: each inode once (a multi-link inode in
the group its bytes go to; nlink-0 records none), directories and symlinks included,
as the quota system counts inodes. ``Quota Used (bytes)`` is lfs's kbytes used x 1024,
``Quota Used (files)`` its files, ``Inode Quota`` its file hard limit (0: no limit);
each NULL when the look-up failed or the group has no name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from humgen_storage.db import Cursor
from humgen_storage.directory import GroupDirectory
from humgen_storage.quota import QuotaFigures
from humgen_storage.report.aggregate import GroupTotals
from humgen_storage.report.table import delete_volumes_of_date
from humgen_storage.run.report_staging import QuotaRow

INSERT_QUOTA = (
    "INSERT INTO `usage_quota` (`date`, `Lustre Volume`, `Unix Group`, `Files`,"
    " `Quota Used (bytes)`, `Quota Used (files)`, `Inode Quota`)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
SELECT_QUOTAS = (
    "SELECT `Lustre Volume`, `Unix Group`, `Files`, `Quota Used (bytes)`,"
    " `Quota Used (files)`, `Inode Quota`, `date` FROM `usage_quota` WHERE `date` = %s"
)


def quota_rows(
    volume_name: str,
    day: dt.date,
    directory: GroupDirectory,
    totals: Mapping[int, GroupTotals],
    figures: Mapping[str, QuotaFigures | None],
) -> list[QuotaRow]:
    """One row per group of the volume (as lustre_usage has), by gid."""
    rows = []
    for gid, total in sorted(totals.items()):
        name = directory.lookup(gid).name
        found = figures.get(name) if name is not None else None
        rows.append(
            QuotaRow(
                volume_name=volume_name,
                group=name if name is not None else str(gid),
                files=total.inodes,
                quota_used_bytes=None if found is None else found.used_bytes,
                quota_used_files=None if found is None else found.files,
                inode_quota=None if found is None else found.file_limit,
                date=day.isoformat(),
            )
        )
    return rows


def load_quota_rows(
    cursor: Cursor,
    day: dt.date,
    volume_names: Sequence[str],
    rows: Iterable[QuotaRow],
    replace: bool,
) -> int:
    """Insert the run's rows in the caller's transaction; with ``replace``, first delete
    that date's rows of the run's volumes (and only those)."""
    if replace:
        delete_volumes_of_date(cursor, "usage_quota", day, volume_names)
    values = [
        (
            r.date,
            r.volume_name,
            r.group,
            r.files,
            r.quota_used_bytes,
            r.quota_used_files,
            r.inode_quota,
        )
        for r in rows
    ]
    cursor.executemany(INSERT_QUOTA, values)
    return len(values)
