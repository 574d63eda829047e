"""The lustre_usage rows of one volume: the aggregate's totals joined with what the
stage gathered (directory, quota limits, archive look-ups)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from humgen_storage.directory import GroupDirectory
from humgen_storage.logs import volume_logger
from humgen_storage.names import is_safe_file_name
from humgen_storage.quota import QuotaLookups
from humgen_storage.report.aggregate import UsageAggregate, consumption
from humgen_storage.report.table import check_used_fits
from humgen_storage.run.staging import UsageRow
from humgen_storage.units import days_since

if TYPE_CHECKING:
    from humgen_storage.report.job import StageTask


def usage_rows(
    task: StageTask,
    groups: GroupDirectory,
    aggregate: UsageAggregate,
    volume_name: str,
    reference: float,
    quotas: QuotaLookups,
) -> tuple[list[UsageRow], list[str]]:
    """The lustre_usage rows of one volume: totals joined with directory, quota and
    archive (``task``: the volume, the set's date, the archive settings); and the
    named groups whose quota look-up failed, in name order."""
    archive, volume, day = task.archive, task.source.volume, task.day
    vlog = volume_logger(__name__, volume_name)
    totals = aggregate.totals()
    named = {gid: groups.lookup(gid) for gid in totals}
    for gid, total in sorted(totals.items()):  # before waiting for quotas or staging
        check_used_fits(volume_name, named[gid].name or str(gid), gid, total.used)
    for gid, group in sorted(named.items()):
        if group.unsafe:
            vlog.warning(
                "gid %d has an unsafe name in the directory; reported as %r", gid, str(gid)
            )
        elif group.name is None:
            vlog.warning("gid %d has no posixGroup in the directory; reported as %r", gid, str(gid))
    limits = quotas.results(sorted({g.name for g in named.values() if g.name is not None}))
    failed = [name for name, limit in limits.items() if limit is None]
    archive_dirs = archive.dirs.get(volume, ())
    rows = []
    for gid, total in sorted(totals.items()):
        group = named[gid]
        quota = limits.get(group.name) if group.name is not None else None
        archived = None
        if group.name is not None and total.used < archive.threshold_bytes:
            archived = find_archived(archive_dirs, group.name)
        rows.append(
            UsageRow(
                volume_name=volume_name,
                pi=group.pi if group.is_humgen else None,
                group=group.name if group.name is not None else str(gid),
                used=total.used,
                quota=quota,
                consumption=consumption(total.used, quota),
                last_modified=days_since(reference, total.newest_mtime),
                archived=archived,
                date=day.isoformat(),
                is_humgen=group.is_humgen,
            )
        )
    return rows, failed


def find_archived(archive_dirs: tuple[str, ...], group: str) -> str | None:
    """The first ``<dir>/<group>`` holding an entry named ``.imirrored``."""
    # The group name becomes a path component: the directory keeps only names that
    # pass this check (humgen_storage.names); kept here for names from elsewhere.
    if not is_safe_file_name(group):
        return None
    for directory in archive_dirs:
        candidate = os.path.join(directory.rstrip("/"), group)
        if os.path.lexists(os.path.join(candidate, ".imirrored")):
            return candidate
    return None
